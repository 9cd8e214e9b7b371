#!/bin/sh
# The firewall exports are accepted by the real tools: `nft -f` and
# `ipset restore`, each inside a network namespace this test creates and
# removes. Both are run twice (the files must be re-runnable), and after
# a change of the list the sets hold exactly the new addresses.
. "$REPNET_SRC/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, nftables, ipset)"
command -v ip >/dev/null || skip "iproute2 is not installed"
NS="rnexp$$"
netns_add "$NS" || skip "cannot create a network namespace"
R="$REPNET_BUILD/repnet"

cat >"$T/list.json" <<'LIST'
{"prefix":"192.0.2.1/32","categories":["spam_source"]}
{"prefix":"198.51.100.0/24","categories":["scanner"]}
{"prefix":"198.51.100.7/32","categories":["drop"]}
{"prefix":"203.0.113.0/28","categories":["drop"]}
{"prefix":"2001:db8::1/128","categories":["sasl_bruteforce"]}
{"prefix":"2001:db8:1::/48","categories":["drop"]}
LIST

if command -v nft >/dev/null; then
	"$R" export --format nft --from "$T/list.json" --output "$T/bl.nft" || fail "nft export"
	ip netns exec "$NS" nft -f "$T/bl.nft" || fail "nft -f refused the export"
	ip netns exec "$NS" nft -f "$T/bl.nft" || fail "nft -f refused the export the second time"
	ip netns exec "$NS" nft list set inet repnet blocklist4 >"$T/set4"
	ip netns exec "$NS" nft list set inet repnet blocklist6 >"$T/set6"
	for a in 192.0.2.1 198.51.100.0/24 203.0.113.0/28; do
		grep -q "$a" "$T/set4" || { cat "$T/set4"; fail "$a not in the nft set"; }
	done
	grep -q "198.51.100.7" "$T/set4" && fail "a covered host was added to the interval set"
	grep -q "2001:db8::1" "$T/set6" && grep -q "2001:db8:1::/48" "$T/set6" || { cat "$T/set6"; fail "nft IPv6 set"; }
	# A chain of the operator's in the same table survives a reload.
	ip netns exec "$NS" nft add chain inet repnet input '{ type filter hook input priority 0; }'
	ip netns exec "$NS" nft add rule inet repnet input ip saddr @blocklist4 drop
	printf '{"prefix":"192.0.2.99/32","categories":["drop"]}\n' >"$T/list2.json"
	"$R" export --format nft --from "$T/list2.json" --output "$T/bl.nft" || fail "nft export 2"
	ip netns exec "$NS" nft -f "$T/bl.nft" || fail "nft -f refused the second list"
	ip netns exec "$NS" nft list set inet repnet blocklist4 >"$T/set4"
	grep -q "192.0.2.99" "$T/set4" || fail "new element missing"
	grep -q "192.0.2.1[^0-9]" "$T/set4" && fail "old element still there"
	ip netns exec "$NS" nft list chain inet repnet input | grep -q "@blocklist4" || fail "operator's rule lost"
	echo "nft: ok"
else
	echo "nft not installed: nft part skipped"
fi

if command -v ipset >/dev/null && ip netns exec "$NS" ipset list >/dev/null 2>&1; then
	"$R" export --format ipset --from "$T/list.json" --output "$T/bl.ipset" || fail "ipset export"
	ip netns exec "$NS" ipset restore <"$T/bl.ipset" || fail "ipset restore refused the export"
	ip netns exec "$NS" ipset restore <"$T/bl.ipset" || fail "ipset restore refused it the second time"
	ip netns exec "$NS" ipset list repnet4 >"$T/ip4"
	ip netns exec "$NS" ipset list repnet6 >"$T/ip6"
	for a in 192.0.2.1 198.51.100.0/24 203.0.113.0/28; do
		grep -q "^$a" "$T/ip4" || { cat "$T/ip4"; fail "$a not in the ipset"; }
	done
	grep -q "^2001:db8:1::/48" "$T/ip6" || { cat "$T/ip6"; fail "ipset IPv6"; }
	ip netns exec "$NS" ipset test repnet4 198.51.100.7 2>/dev/null || fail "covered host not matched"
	"$R" export --format ipset --from "$T/list2.json" --output "$T/bl.ipset" || fail "ipset export 2"
	ip netns exec "$NS" ipset restore <"$T/bl.ipset" || fail "ipset restore of the second list"
	ip netns exec "$NS" ipset test repnet4 192.0.2.99 2>/dev/null || fail "new ipset element"
	ip netns exec "$NS" ipset test repnet4 192.0.2.1 2>/dev/null && fail "old ipset element kept"
	ip netns exec "$NS" ipset list -n | grep -q -- "-new" && fail "temporary set left behind"
	echo "ipset: ok"
else
	echo "ipset not usable here: ipset part skipped"
fi
echo PASS
