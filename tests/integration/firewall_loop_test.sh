#!/bin/sh
# Loop safety for flows: an address this node's firewall drops sends SYNs
# that go unanswered because of repnet. One repnetd with every role (as in
# e2e_test.sh) in a network namespace of its own: a SASL attack over syslog
# lists 192.0.2.66 and the nftables sets hold it; then NetFlow v5 reports
# one-way SYNs from it, from 192.0.2.77 (not listed) and from 192.0.2.88
# (listed too, but inside feeds.sync.allow, which the nft rules accept
# before the drop). 192.0.2.77's and 192.0.2.88's become syn_only
# observations; 192.0.2.66's are counted in
# repnet_collector_enforced_total{origin="flow",by="firewall"} and never
# observed. repnet lookup, run as root, finds 192.0.2.66 in the kernel's
# set and 192.0.2.77 in none.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root: the nftables sets live in a network namespace"
for c in ip nft python3 curl logger; do command -v $c >/dev/null || skip "$c is not installed"; done
NS="rnfw$$"
ip netns add "$NS" || skip "cannot create a network namespace"
trap 'for p in $DAEMON_PIDS; do kill -KILL "$p" 2>/dev/null || true; done; ip netns del "$NS" 2>/dev/null; rm -rf "$T"' EXIT
ip -n "$NS" link set lo up
X="ip netns exec $NS"
chmod 0755 "$T"
$X "$REPNET_BUILD/repnetd" -f -v -o core.data_dir="$T/data" -o scoring.default_never_block=false \
	-o scoring.tick=1s -o scoring.lateness=0 -o collector.flow.detect.pair_window=0 \
	-o core.http_listen=127.0.0.1:9477 -o feeds.sync.allow=192.0.2.88/32 >"$T/log" 2>&1 &
DPID=$!
DAEMON_PIDS="$DAEMON_PIDS $DPID"
wait_for "$T/log" "repnetd .* running" 20
metric() { # NAME_AND_LABELS
	v=$($X curl -sf "http://127.0.0.1:9477/metrics" | awk -v k="$1" '$1 == k { print $2 }')
	echo "${v:-0}"
}
FW='repnet_collector_enforced_total{origin="flow",by="firewall"}'
[ "$(metric "$FW")" = 0 ] || fail "enforced before any flow"

# The attack that lists 192.0.2.66 and 192.0.2.88.
for a in 66 88; do
	for i in 1 2 3 4 5 6 7 8; do
		echo "warning: unknown[192.0.2.$a]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=bob" |
			$X logger --server 127.0.0.1 --port 5514 --tcp --octet-count --rfc5424 -t postfix/smtpd --id=$i
	done
done
held() { $X nft list table inet repnet 2>/dev/null | grep -q "192.0.2.$1"; }
wait_until 60 held 66 || { $X nft list ruleset >&2; fail "the nftables sets do not hold 192.0.2.66"; }
wait_until 60 held 88 || { $X nft list ruleset >&2; fail "the nftables sets do not hold 192.0.2.88"; }

# repnet lookup, as root, asks the kernel too: the set holding the address.
$X "$REPNET_BUILD/repnet" lookup -o core.data_dir="$T/data" 192.0.2.66 >"$T/lookup" 2>&1 ||
	{ cat "$T/lookup" >&2; fail "lookup 192.0.2.66"; }
cat "$T/lookup"
grep -q "kernel:  IN nft inet repnet set v4" "$T/lookup" || fail "lookup: the kernel set does not hold 192.0.2.66"
$X "$REPNET_BUILD/repnet" lookup -o core.data_dir="$T/data" 192.0.2.77 >"$T/lookup2" 2>&1 ||
	{ cat "$T/lookup2" >&2; fail "lookup 192.0.2.77"; }
grep -q "kernel:  in no set of nft inet repnet" "$T/lookup2" || { cat "$T/lookup2" >&2; fail "lookup: 192.0.2.77 in a kernel set"; }

# NetFlow v5: ten one-way SYNs (to port 25 of ten hosts) from each address.
netflow() {
	$X python3 - <<'PY'
import socket, struct, time
now = time.time()
up = 100000
recs = b""
n = 0
for src in ("192.0.2.66", "192.0.2.77", "192.0.2.88"):
    for i in range(10):
        recs += struct.pack("!4s4s4sHHIIIIHHBBBBHHBBH",
                            socket.inet_aton(src), socket.inet_aton("198.51.100.%d" % (i + 1)),
                            bytes(4), 0, 0, 1, 60, up - 1000, up - 1000, 40000 + i, 25,
                            0, 0x02, 6, 0, 0, 0, 0, 0, 0)
        n += 1
hdr = struct.pack("!HHIIIIBBH", 5, n, up, int(now), int((now % 1) * 1e9), 0, 0, 0, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(hdr + recs, ("127.0.0.1", 2055))
PY
}
netflow
wait_for "$T/log" "observation .* 192.0.2.77 syn_only" 30
wait_for "$T/log" "observation .* 192.0.2.88 syn_only" 30
counted() { [ "$(metric "$FW")" -ge 1 ]; }
wait_until 10 counted || fail "no one-way flow of the dropped address was counted as enforcement ($FW $(metric "$FW"))"
fw=$(metric "$FW")
! grep -q "observation .* 192.0.2.66 syn_only" "$T/log" || fail "the firewall's own drops were observed"
echo "firewall: $fw one-way flow observation(s) of 192.0.2.66 counted as enforcement; 192.0.2.77 and 192.0.2.88 (allowed) observed"
kill -TERM "$DPID"
wait "$DPID" || true
DAEMON_PIDS=""
