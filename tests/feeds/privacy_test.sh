#!/bin/sh
# Issue 6, "Privacy": a test captures bus traffic and checks that no mail
# address, user name or host name crosses it.
# In a network namespace of its own (root; otherwise skipped), a collector
# repnetd sends observation batches over tcp:// to a scorer+publisher
# repnetd, whose feed (PUB) and resync (REP) go over tcp:// to a repnet sub
# subscriber. tcpdump captures every byte on those three bus ports while
# the real Postfix log goes in through the collector's syslog receiver.
# privacy_check.py then reassembles the TCP streams and
#   - finds none of the log's mail addresses, SASL user names, HELO names
#     or client reverse names in them (case-insensitive);
#   - finds, so the test can fail, the feed's final snapshot (decoded from
#     the captured envelopes, roaring bitmaps and all) listing exactly what
#     the publisher lists, every listed address on the ingest bus as an
#     observation's raw address, and every one a client in the log.
. "$REPNET_SRC/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root for a network namespace and tcpdump"
command -v tcpdump >/dev/null || skip "tcpdump is not installed"
command -v ip >/dev/null || skip "ip (iproute2) is not installed"
NS="repnet-priv-$$"
netns_add "$NS" || skip "cannot create a network namespace"
NSX="ip netns exec $NS"
TCPDUMP=""
TCPDUMP2=""
$NSX ip link set lo up
. "$REPNET_SRC/tests/feeds/feed_lib.sh"

# The scorer+publisher first: its ports make the capture filter. A
# snapshot every 2 s puts the final state on the wire.
start_scorer pub1 'snapshot_interval = "2s";'
$NSX tcpdump -i lo -n -U -s 0 -w "$T/bus.pcap" \
	"tcp port $S_INGEST or tcp port $S_PUB or tcp port $S_RESYNC" 2>"$T/tcpdump.err" &
TCPDUMP=$!
# tcpdump reports "listening on lo" once the capture runs.
wait_for "$T/tcpdump.err" "listening on" 10

start_collector col1 "tcp://127.0.0.1:$S_INGEST"
# The control: the syslog traffic into the collector, which does carry the
# personal data, captured apart.
$NSX tcpdump -i lo -n -U -s 0 -w "$T/syslog.pcap" "tcp port $C_TCP" 2>"$T/tcpdump2.err" &
TCPDUMP2=$!
wait_for "$T/tcpdump2.err" "listening on" 10
$NSX "$REPNET_BUILD/repnet" sub "tcp://127.0.0.1:$S_PUB" --resync "tcp://127.0.0.1:$S_RESYNC" \
	--name pub1 --key "$S_KEY" --timeout 300 >"$T/sub.out" 2>"$T/sub.err" &
DAEMON_PIDS="$DAEMON_PIDS $!"

$NSX python3 "$REPLAY" 127.0.0.1 "$C_TCP" "$MAILLOG" 1 100000 >"$T/sent" || fail "replay"
echo "replayed $(cat "$T/sent") log lines through syslog"
retry 30 "collector drained" collector_drained "$C_HTTP"
pub_settled "$S_HTTP"
$NSX python3 "$CHECK" same "$S_HTTP" --sub "$T/sub.out" --timeout 20 || fail "the subscriber is not in sync"
SEQ=$(status_get "$S_HTTP" publisher seq)
LISTED=$(status_get "$S_HTTP" publisher listed)
[ "$LISTED" -gt 0 ] || fail "nothing listed"
# Wait for a snapshot at the final seq to be published (every 2 s).
snapshots() { metric "$S_HTTP" 'repnet_feed_published_total{kind="snapshot"}'; }
base=$(snapshots)
snapshot_after() { [ "$(snapshots)" -gt "$base" ]; }
retry 20 "a snapshot after settling" snapshot_after
# tcpdump writes each packet as it comes (-U): stop it once the capture
# holds the final state, not after a guessed time.
captured() {
	python3 "$REPNET_SRC/tests/feeds/privacy_check.py" "$T/bus.pcap" "$MAILLOG" \
		"$S_INGEST" "$S_PUB" "$S_RESYNC" "$SEQ" "$LISTED" >/dev/null 2>&1
}
retry 30 "the capture holds the final snapshot" captured
kill -INT "$TCPDUMP" "$TCPDUMP2"
wait "$TCPDUMP" || true
wait "$TCPDUMP2" || true
TCPDUMP="" TCPDUMP2=""
grep -q "^0 packets dropped by kernel" "$T/tcpdump.err" || { cat "$T/tcpdump.err" >&2; fail "tcpdump dropped packets"; }
[ "$(status_get "$S_HTTP" publisher seq)" = "$SEQ" ] || fail "the feed moved during the capture's end"
# The check sees personal data where there is some (the syslog input) ...
if python3 "$REPNET_SRC/tests/feeds/privacy_check.py" "$T/syslog.pcap" "$MAILLOG" \
	"$S_INGEST" "$S_PUB" "$S_RESYNC" "$SEQ" "$LISTED" >/dev/null 2>"$T/control.err"; then
	fail "control: privacy_check found nothing in the syslog traffic"
fi
for w in "mail address" "user name" "host name"; do
	grep -q "^$w " "$T/control.err" || { cat "$T/control.err" >&2; fail "control: no $w found in the syslog traffic"; }
done
# ... and finds none on the bus.
python3 "$REPNET_SRC/tests/feeds/privacy_check.py" "$T/bus.pcap" "$MAILLOG" \
	"$S_INGEST" "$S_PUB" "$S_RESYNC" "$SEQ" "$LISTED" || fail "privacy check"
echo PASS
