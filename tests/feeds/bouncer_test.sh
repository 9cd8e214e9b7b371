#!/bin/sh
# The real crowdsec-firewall-bouncer (Debian's package), pointed at
# repnetd's decision stream, puts repnet's listed addresses into its
# nftables sets inside a network namespace this test creates, and takes
# them out again when the list changes.
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/bouncer_lib.sh"
bouncer_ns rncb

cat >"$T/list.json" <<'LIST'
{"prefix":"192.0.2.1/32","categories":["spam_source"]}
{"prefix":"198.51.100.7/32","categories":["scanner"]}
{"prefix":"2001:db8::1/128","categories":["drop"]}
LIST
bouncer_repnetd "bouncer-key-$$"
bouncer_conf nftables "bouncer-key-$$" "$T" >"$T/bouncer.yaml"
ip netns exec "$NS" "$REPNET_BUILD/repnetd" -f -c "$T/r.conf" >"$T/log" 2>&1 &
DAEMON_PIDS="$DAEMON_PIDS $!"
wait_for "$T/log" "repnetd .* running"
ip netns exec "$NS" crowdsec-firewall-bouncer -c "$T/bouncer.yaml" >"$T/bouncer.log" 2>&1 &
DAEMON_PIDS="$DAEMON_PIDS $!"

# until_set CHECK: polls the bouncer's sets (into $T/sets) for up to 15 s.
sets() {
	ip netns exec "$NS" nft list set ip crowdsec crowdsec-blacklists 2>/dev/null || true
	ip netns exec "$NS" nft list set ip6 crowdsec6 crowdsec6-blacklists 2>/dev/null || true
}
until_set() {
	i=0
	while [ $i -lt 75 ]; do
		sets >"$T/sets"
		if eval "$1"; then return 0; fi
		i=$((i + 1)); sleep 0.2
	done
	cat "$T/sets" "$T/bouncer.log" >&2
	fail "bouncer sets never satisfied: $1"
}
has() { grep -q "$1 timeout" "$T/sets"; }
until_set 'has 192.0.2.1 && has 198.51.100.7 && has 2001:db8::1'
echo "initial: $(grep -o '[0-9a-f:.]* timeout [0-9a-z]*' "$T/sets" | tr '\n' ' ')"

# The list changes: 192.0.2.1 goes, 192.0.2.9 comes; the bouncer follows.
cat >"$T/list.new" <<'LIST'
{"prefix":"192.0.2.9/32","categories":["harvester"]}
{"prefix":"198.51.100.7/32","categories":["scanner"]}
{"prefix":"2001:db8::1/128","categories":["drop"]}
LIST
mv "$T/list.new" "$T/list.json"
until_set 'has 192.0.2.9 && ! has 192.0.2.1 && has 198.51.100.7'
echo "after the change: $(grep -o '[0-9a-f:.]* timeout [0-9a-z]*' "$T/sets" | tr '\n' ' ')"
curl -sf "http://127.0.0.1:$HP/metrics" >/dev/null 2>&1 && fail "metrics reachable outside the namespace"
ip netns exec "$NS" curl -sf "http://127.0.0.1:$HP/metrics" | grep -q 'repnet_decisions_polls_total{kind="delta"} [1-9]' ||
	fail "no delta polls counted"
echo PASS
