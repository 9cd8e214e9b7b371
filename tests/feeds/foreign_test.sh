#!/bin/sh
# Issue 6, "foreign clients": nngcat (nng-utils, not our code) subscribes to
# a live publisher's PUB socket and receives the envelopes; protoc decodes
# every Envelope and the SignedPayload inside it, OpenSSL verifies every
# ed25519 signature, and the decoded fields are asserted: the publisher's
# name, one epoch, sequences that only grow, deltas whose base_seq is the
# previous sequence, snapshots, deltas and heartbeats all present, and a
# settled feed's heartbeat digest equal to the publisher's /status.
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/feed_lib.sh"
command -v nngcat >/dev/null || skip "nngcat (nng-utils) is not installed"
command -v protoc >/dev/null || skip "protoc (protobuf-compiler) is not installed"
command -v openssl >/dev/null || skip "openssl is not installed"
openssl pkeyutl -help 2>&1 | grep -q -- -rawin || skip "this openssl cannot verify raw ed25519 input"

# A scorer and publisher with frequent snapshots and heartbeats, and one
# collector feeding it.
S_HEARTBEAT=200ms
start_scorer pub1 'snapshot_interval = "2s";'
start_collector col1 "tcp://127.0.0.1:$S_INGEST"
FEED="tcp://127.0.0.1:$S_PUB"

# nngcat subscribes to everything while the log goes in. The count and the
# receive timeout bound it.
timeout 60 nngcat --sub --connect "$FEED" --subscribe "" --msgpack --count 60 \
	--recv-timeout 20 --recv-maxsz 67108864 >"$T/cap1" 2>"$T/nngcat1.err" &
NC=$!
# nngcat is connected once the publisher's port has an established peer.
nngcat_connected() { [ -n "$(ss -Htn state established "( dport = :$S_PUB )")" ]; }
retry 30 "nngcat connected to the feed" nngcat_connected
seq0=$(status_get "$S_HTTP" publisher seq)
python3 "$REPLAY" 127.0.0.1 "$C_TCP" "$MAILLOG" 1 1600 >/dev/null || fail "replay 1"
# The second half goes in once the first made a delta of its own.
seq_moved() { [ "$(status_get "$S_HTTP" publisher seq)" -gt "$seq0" ]; }
retry 30 "a delta from the first half" seq_moved
python3 "$REPLAY" 127.0.0.1 "$C_TCP" "$MAILLOG" 1601 3220 >/dev/null || fail "replay 2"
wait $NC || { cat "$T/nngcat1.err" >&2; fail "nngcat did not receive 60 messages"; }
python3 "$REPNET_SRC/tests/feeds/envelope_check.py" "$REPNET_SRC" "$T/cap1" "$T/pub1.pub" pub1 "$T" \
	>"$T/dec1" || fail "the captured envelopes do not check out"
for k in snapshot delta heartbeat; do
	grep -q "^$k " "$T/dec1" || { cat "$T/dec1" >&2; fail "nngcat received no $k"; }
done
[ "$(cut -d' ' -f2 "$T/dec1" | sort -u)" = "$(status_get "$S_HTTP" publisher epoch)" ] ||
	fail "epoch differs from the publisher's"

# Once the feed settles, what nngcat receives carries the publisher's state.
pub_settled "$S_HTTP"
timeout 30 nngcat --sub --connect "$FEED" --subscribe "" --msgpack --count 3 \
	--recv-timeout 10 >"$T/cap2" 2>"$T/nngcat2.err" || { cat "$T/nngcat2.err" >&2; fail "nngcat, second capture"; }
python3 "$REPNET_SRC/tests/feeds/envelope_check.py" "$REPNET_SRC" "$T/cap2" "$T/pub1.pub" pub1 "$T" \
	>"$T/dec2" || fail "the second capture does not check out"
WANT="$(status_get "$S_HTTP" publisher seq) $(status_get "$S_HTTP" publisher digest)"
[ "$(status_get "$S_HTTP" publisher listed)" -gt 0 ] || fail "nothing listed"
[ "$(tail -n 1 "$T/dec2" | cut -d' ' -f3,4)" = "$WANT" ] ||
	{ cat "$T/dec2" >&2; fail "nngcat's last message is not at the publisher's seq and digest ($WANT)"; }

echo "decoded with protoc: $(grep -c . "$T/dec1") + 3 envelopes; last at seq/digest $WANT"
echo PASS
