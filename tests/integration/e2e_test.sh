#!/bin/sh
# End to end, as an operator meets it: one repnetd on the built-in
# defaults (every role, every default port) plus one never-block override,
# in a network namespace of its own. The real Postfix log goes in through
# TCP syslog and the real softflowd NetFlow v9 export through UDP, both
# shifted to the present. Then:
#   - the expected addresses are listed with the right categories, and
#     no good sender is (tests/data/scoring/realdata-expect.txt);
#   - dig gets the DNSBL answer for them;
#   - a subscriber on the bus reaches the publisher's sequence and digest;
#   - the nftables sets in the namespace hold them;
#   - SIGTERM stops everything cleanly, and a restart continues from the
#     persisted state: the same listings, not listed twice, none lost.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root: the default ports and the nftables sets live in a network namespace"
for c in ip nft dig python3 curl; do command -v $c >/dev/null || skip "$c is not installed"; done
R="$REPNET_BUILD/repnet"
D="$REPNET_TEST_DATA"
NS="rne2e$$"
ip netns add "$NS" || skip "cannot create a network namespace"
trap 'for p in $DAEMON_PIDS; do kill -KILL "$p" 2>/dev/null || true; done; ip netns del "$NS" 2>/dev/null; rm -rf "$T"' EXIT
ip -n "$NS" link set lo up
X="ip netns exec $NS"

# The defaults, with the test ranges (loopback, documentation) allowed to list.
OV="-o core.data_dir=$T/data -o scoring.default_never_block=false"
# Started as root, repnetd becomes core.user (repnet) where that user
# exists: it must reach its data directory then.
chmod 0755 "$T"
start() {
	$X "$REPNET_BUILD/repnetd" -f $OV >>"$T/log" 2>&1 &
	DPID=$!
	DAEMON_PIDS="$DAEMON_PIDS $DPID"
	wait_for "$T/log" "repnetd .* running" 20
	# Dropped or not (the user may not exist), the log says which; dropped,
	# no thread holds a capability.
	if grep -q "running as .* with no capability" "$T/log"; then
		for st in /proc/"$DPID"/task/*/status; do
			grep -q '^CapEff:[[:space:]]*0000000000000000$' "$st" || fail "$st: $(grep CapEff "$st")"
		done
	else
		grep -q "staying root with every capability" "$T/log" || fail "neither dropped nor said why"
	fi
}
start
HTTP=127.0.0.1:9477
# As rsyslog's omfwd relays: newline framing, RFC 3164, stamps moved to now.
$X "$R" replay "$D/mail/postfix-maillog_file.log" --to tcp://127.0.0.1:5514 --now \
	--framing newline --rfc3164
$X python3 "$REPNET_SRC/tests/integration/replay.py" netflow 127.0.0.1 2055 "$D/netflow/export-softflowd-v9.pcap"

# subscribe OUT: a subscriber on the bus, until it has the snapshot and a
# heartbeat; its final state line goes to OUT.err and its entries to OUT.
subscribe() {
	$X "$R" sub tcp://127.0.0.1:7401 --name repnet --key "$(cat "$T/data/keys/publisher.pub")" \
		--count 2 --timeout 30 --list "$1" >/dev/null 2>"$1.err" || { cat "$1.err" >&2; return 1; }
}
check() { # OUT
	for ds in postfix flows; do
		python3 "$REPNET_SRC/tests/scoring/realdata_check.py" $ds "$D/scoring/realdata-expect.txt" "$1" || return 1
	done
}
# Listings follow the 30 s tick (the default) plus the lateness: bounded wait.
i=0
: >"$T/check"
until subscribe "$T/sub" && check "$T/sub" >"$T/check" 2>&1; do
	i=$((i + 1))
	[ $i -lt 30 ] || { cat "$T/check" "$T/log" >&2; fail "the expected listings did not appear"; }
	sleep 3
done
cat "$T/check"

# The subscriber's state is the publisher's.
pub_state() {
	$X curl -sf "http://$HTTP/status" | python3 -c '
import json, sys
p = json.load(sys.stdin)["publisher"]
print(p["epoch"], p["seq"], p["digest"])'
}
sub_state() { sed -n 's/.* at epoch \([0-9]*\) seq \([0-9]*\) digest \([0-9a-f]*\),.*/\1 \2 \3/p' "$1.err"; }
agree=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	P=$(pub_state)
	subscribe "$T/sub2" || fail "subscriber"
	S=$(sub_state "$T/sub2")
	# A tick may land between the reads: compare when the publisher held still.
	if [ -n "$P" ] && [ "$P" = "$(pub_state)" ]; then
		[ "$S" = "$P" ] || fail "subscriber at '$S', publisher at '$P'"
		agree=1
		break
	fi
done
[ $agree = 1 ] || fail "the publisher never held still for a comparison"
echo "subscriber and publisher agree: $S"

# Exports for the tools operators already run, from the live feed: the
# subscriber's list straight into repnet export (rbldnsd and plain).
$X "$R" sub tcp://127.0.0.1:7401 --name repnet --key "$(cat "$T/data/keys/publisher.pub")" \
	--count 2 --timeout 30 --list - 2>/dev/null |
	"$R" export --format rbldnsd --from - --from-format json >"$T/zone" || fail "export to rbldnsd"
grep -q '^127\.0\.6\.3/32 :127\.0\.0\.[0-9]*:' "$T/zone" || fail "the rbldnsd export lacks 127.0.6.3"
"$R" export --format plain --from "$T/sub2" --from-format json >"$T/plain" || fail "export to plain"
[ "$(wc -l <"$T/plain")" = "$(wc -l <"$T/sub2")" ] || fail "the plain export has $(wc -l <"$T/plain") of $(wc -l <"$T/sub2") entries"
echo "exports: $(wc -l <"$T/plain") entries"

# dig: the DNSBL on its default port answers for listed addresses, with
# the category's code and TXT, and NXDOMAIN for a good sender.
dnsbl() { $X dig -p 5300 @127.0.0.1 +time=2 +tries=2 +short "$@"; }
zone=$("$R" config | sed -n 's/^| `feeds.dnsbl.zones` | [^|]* | `\([^`,:]*\).*/\1/p')
[ -n "$zone" ] || fail "no DNSBL zone"
for a in 127.0.2.5 127.0.6.3 203.0.113.66; do
	rev=$(echo "$a" | awk -F. '{print $4"."$3"."$2"."$1}')
	ans=$(dnsbl "$rev.$zone" A)
	case "$ans" in 127.0.0.*) ;; *) fail "dig $rev.$zone: '$ans'" ;; esac
	dnsbl "$rev.$zone" TXT | grep -q . || fail "no TXT for $a"
done
[ -z "$(dnsbl 10.1.0.127.$zone A)" ] || fail "the good sender 127.0.1.10 is listed in the DNSBL"
echo "dig answers for listed addresses in $zone"

# The kernel: the namespace's nftables sets hold the listed addresses.
nset=0
for i in $(seq 1 100); do
	$X nft list table inet repnet >"$T/nft" 2>/dev/null || true
	if grep -q '127.0.6.3' "$T/nft" && grep -q '203.0.113.66' "$T/nft"; then nset=1; break; fi
	sleep 0.2
done
[ $nset = 1 ] || { cat "$T/nft" >&2; fail "the nftables sets do not hold the listings"; }
python3 - "$T/sub" "$T/nft" <<'PY' || fail "nftables sets differ from the feed"
import ipaddress, json, re, sys
want = set()
for line in open(sys.argv[1]):
    e = json.loads(line)
    want.add(ipaddress.ip_network(e.get("ip") or e.get("prefix")))
text = open(sys.argv[2]).read()
have = set()
for m in re.finditer(r"elements = \{([^}]*)\}", text):
    for tok in m.group(1).replace("\n", " ").split(","):
        tok = tok.strip()
        if tok:
            have.add(ipaddress.ip_network(tok.split()[0], strict=False))
missing = [str(n) for n in want if n not in have]
if missing:
    sys.exit(f"not in the kernel: {missing[:5]} ({len(missing)} of {len(want)})")
print(f"nftables holds all {len(want)} listings")
PY

# SIGTERM: a clean stop, within a bound.
before=$(wc -l <"$T/sub2")
kill -TERM "$DPID"
wait_exit "$DPID" 30
[ "$EXIT_STATUS" = 0 ] || fail "repnetd exited $EXIT_STATUS after SIGTERM"
grep -q "notice: stopped" "$T/log" || fail "no clean stop in the log"

# A restart continues from the persisted state: the same listings at once
# (no new observation comes), each once; the first tick after the restart
# adds and removes nothing.
: >"$T/log"
start
i=0
until subscribe "$T/sub3" && check "$T/sub3" >"$T/check3" 2>&1; do
	i=$((i + 1))
	[ $i -lt 20 ] || { cat "$T/check3" >&2; fail "listings lost across the restart"; }
	sleep 1
done
after=$(wc -l <"$T/sub3")
[ "$before" = "$after" ] || fail "listed before the restart: $before, after: $after"
dups=$(python3 -c '
import json, sys
seen = [json.loads(l).get("ip") or json.loads(l).get("prefix") for l in open(sys.argv[1])]
print(len(seen) - len(set(seen)))' "$T/sub3")
[ "$dups" = 0 ] || fail "$dups entries listed twice after the restart"
m() { $X curl -sf "http://$HTTP/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
i=0
until [ "$(m repnet_scoring_ticks_total)" -ge 1 ] 2>/dev/null; do
	i=$((i + 1)); [ $i -lt 450 ] || fail "no tick after the restart"; sleep 0.2
done
added=$(m 'repnet_scoring_delta_listings_total{op="added"}')
removed=$(m 'repnet_scoring_delta_listings_total{op="removed"}')
[ "${added:-0}" = 0 ] && [ "${removed:-0}" = 0 ] ||
	fail "the first tick after the restart added $added and removed $removed"
[ "$(m 'repnet_scoring_listed{family="ipv4"}')" = "$after" ] || fail "scorer's count differs from the feed's"
echo "PASS: $after listed, the same across a clean stop and a restart"
