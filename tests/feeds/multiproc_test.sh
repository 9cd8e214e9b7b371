#!/bin/sh
# Issue 6, "multi-process test on loopback": five separate processes.
#   two collectors (repnetd, collect role) -> one scorer and publisher
#   (repnetd, score + publish) -> two subscribers: `repnet sub` (verifying,
#   printing JSON lines) and a repnetd serve-role replica (feeds.bus.peers
#   with own = true).
# The real Postfix log is fed in three steps, half of each step through each
# collector's syslog TCP receiver. After each step: both collectors' queues
# are acknowledged, the scorer took exactly what they sent, the publisher's
# sequence settles, and each subscriber's state digest and sequence equal
# the publisher's.
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/feed_lib.sh"

start_scorer pub1 ""
INGEST="tcp://127.0.0.1:$S_INGEST"
start_collector col1 "$INGEST"
C1_HTTP=$C_HTTP C1_TCP=$C_TCP
start_collector col2 "$INGEST"
C2_HTTP=$C_HTTP C2_TCP=$C_TCP

# Subscriber 1: repnet sub.
"$REPNET_BUILD/repnet" sub "tcp://127.0.0.1:$S_PUB" --resync "tcp://127.0.0.1:$S_RESYNC" \
	--name pub1 --key "$S_KEY" --timeout 600 >"$T/sub1.out" 2>"$T/sub1.err" &
SUB1=$!
DAEMON_PIDS="$DAEMON_PIDS $SUB1"

# Subscriber 2: a replica in its own repnetd, serving a DNSBL from it.
cat >"$T/rep.conf" <<CONF
core: { instance = "rep"; data_dir = "$T/rep.d"; http_listen = "127.0.0.1:0"; roles = ["serve"]; };
scoring: { default_never_block = false; };
feeds: {
  bus: { serve = "pub1";
         peers = ( { name = "pub1"; key = "$S_KEY"; url = "tcp://127.0.0.1:$S_PUB";
                     resync = "tcp://127.0.0.1:$S_RESYNC"; own = true; } ); };
  dnsbl: { listen = ["127.0.0.1:0"]; };
  policy: { listen = ""; };
};
CONF
"$REPNET_BUILD/repnetd" -n -c "$T/rep.conf" >/dev/null || fail "replica configuration"
start_daemon "$T/rep.log" -c "$T/rep.conf"
R_HTTP=$(http_port "$T/rep.log")

# Both subscribers hold the publisher's state (bounded: 20 s).
in_step() {
	python3 "$CHECK" same "$S_HTTP" --sub "$T/sub1.out" --replica "$R_HTTP" --timeout 20
}

# Before any data: the empty state, already the same everywhere.
in_step || fail "the subscribers did not reach the initial state"

TOTAL=$(wc -l <"$MAILLOG")
STEP=$(((TOTAL + 2) / 3))
first=1
digests=""
for step in 1 2 3; do
	last=$((first + STEP - 1))
	[ $last -le "$TOTAL" ] || last=$TOTAL
	mid=$(((first + last) / 2))
	python3 "$REPLAY" 127.0.0.1 "$C1_TCP" "$MAILLOG" "$first" "$mid" >"$T/r1" &
	r1=$!
	python3 "$REPLAY" 127.0.0.1 "$C2_TCP" "$MAILLOG" $((mid + 1)) "$last" >"$T/r2" &
	r2=$!
	wait $r1 || fail "replay to col1, step $step"
	wait $r2 || fail "replay to col2, step $step"
	retry 30 "col1 drained after step $step" collector_drained "$C1_HTTP"
	retry 30 "col2 drained after step $step" collector_drained "$C2_HTTP"
	# The scorer took exactly what the two collectors sent, nothing more.
	made=$(($(metric "$C1_HTTP" 'repnet_collector_observations_total{origin="smtp"}') +
		$(metric "$C2_HTTP" 'repnet_collector_observations_total{origin="smtp"}')))
	[ "$(metric "$S_HTTP" repnet_ingest_observations_total)" = "$made" ] ||
		fail "step $step: the scorer ingested $(metric "$S_HTTP" repnet_ingest_observations_total), the collectors sent $made"
	pub_settled "$S_HTTP"
	in_step || fail "the subscribers differ from the publisher after step $step"
	d=$(status_get "$S_HTTP" publisher digest)
	echo "step $step: lines $first-$last, $made observations, seq $(status_get "$S_HTTP" publisher seq)," \
		"$(status_get "$S_HTTP" publisher listed) listed, digest $d: both subscribers equal"
	digests="$digests $d"
	first=$((last + 1))
done

# The run exercised real changes: something is listed, and the state moved.
[ "$(status_get "$S_HTTP" publisher listed)" -gt 0 ] || fail "nothing listed"
[ "$(echo "$digests" | tr ' ' '\n' | sort -u | grep -c .)" -ge 2 ] || fail "the state never changed between steps"
[ "$(metric "$S_HTTP" 'repnet_feed_published_total{kind="delta"}')" -ge 2 ] || fail "fewer than two deltas"
# Nothing was refused on the way (but the benign races of joining a live feed).
grep -q '"result":"applied"' "$T/sub1.out" || fail "repnet sub applied nothing"
python3 "$CHECK" clean --sub "$T/sub1.out" --replica "$R_HTTP" || fail "a subscriber refused messages"
[ "$(metric "$S_HTTP" 'repnet_ingest_batches_total{result="refused"}')" = 0 ] || fail "refused batches"

# repnet feed status says the same of both ends.
D16=$(status_get "$S_HTTP" publisher digest | cut -c1-16)
SEQ=$(status_get "$S_HTTP" publisher seq)
"$REPNET_BUILD/repnet" feed status --http "127.0.0.1:$S_HTTP" >"$T/fs_pub" || fail "repnet feed status (publisher)"
"$REPNET_BUILD/repnet" feed status --http "127.0.0.1:$R_HTTP" >"$T/fs_rep" || fail "repnet feed status (replica)"
grep -q "publishing pub1 .* seq $SEQ digest $D16.*, in sync" "$T/fs_pub" || { cat "$T/fs_pub" >&2; fail "feed status, publisher"; }
grep -q "serving *pub1 .* seq $SEQ digest $D16.*, in sync" "$T/fs_rep" || { cat "$T/fs_rep" >&2; fail "feed status, replica"; }

# Clean stops, subscribers first.
kill -TERM "$SUB1"
wait_exit "$SUB1" 15
[ "$EXIT_STATUS" = 0 ] || fail "repnet sub exit status $EXIT_STATUS"
for p in $DAEMON_PIDS; do
	[ "$p" = "$SUB1" ] && continue
	kill -TERM "$p" 2>/dev/null || continue
	wait_exit "$p" 20
	[ "$EXIT_STATUS" = 0 ] || fail "a repnetd exited with $EXIT_STATUS"
done
echo PASS
