#!/bin/sh
# Durable collectors (issue 16): the scorer is down for a while, and the
# collector is restarted meanwhile. Its batches wait in the spill file
# (here capped small, so that it fills and the source stops reading: none
# is dropped), are replayed in order after the restart once the scorer is
# back, and the scorer then holds exactly the observations a one-shot
# `repnet logs` makes of the followed file.
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/feed_lib.sh"
R="$REPNET_BUILD/repnet"

grep -E '^\w{3} [ 0-9][0-9] ' "$MAILLOG" >"$T/all.log"
total=$(wc -l <"$T/all.log")
"$R" logs --no-detect "$T/all.log" >"$T/oneshot.obs" 2>/dev/null || fail "repnet logs"
want=$(wc -l <"$T/oneshot.obs")
[ "$want" -gt 100 ] || fail "one-shot: only $want observations"
third=$((total / 3 + 1))

S_COLLECTORS="col1" start_scorer s1 ""
L="$T/log/mail.log"
mkdir -p "$T/log"
: >"$L"
followed_collector col1 "$L" 'ingest_batch = 32; ingest_timeout = "500ms"; reconnect_max = "500ms";
                ingest_spill = "4K"; ingest_queue = 1024;'
start_col() {
	start_daemon "$T/col1.$1.log" -c "$T/col1.conf"
	C_PID=$DPID
	C_HTTP=$(http_port "$T/col1.$1.log")
}
stop_pid() {
	kill -TERM "$1"
	wait_exit "$1" 20
	[ "$EXIT_STATUS" = 0 ] || fail "exit status $EXIT_STATUS"
}
accepted() { metric "$S_HTTP" repnet_ingest_observations_total; }

# A third with the scorer up.
start_col 1
sed -n "1,${third}p" "$T/all.log" >>"$L"
first=$(sed -n "1,${third}p" "$T/all.log" | "$R" logs --no-detect - 2>/dev/null | wc -l)
has_first() { [ "$(accepted)" = "$first" ] && [ "$(metric "$C_HTTP" repnet_collector_queue_depth)" = 0 ]; }
wait_until 30 has_first || fail "the scorer has $(accepted) observations, want $first"

# The scorer goes away; a third more is read and spilled until the file is full.
stop_pid "$S_PID"
sed -n "$((third + 1)),$((2 * third))p" "$T/all.log" >>"$L"
full() { [ "$(metric "$C_HTTP" repnet_collector_spill_full_total)" -ge 1 ]; }
# What the collector did, for a failure's message.
state() {
	for m in 'repnet_smtp_lines_total{source="tail"}' repnet_collector_queue_depth \
		repnet_collector_spill_bytes 'repnet_collector_spill_batches_total{event="spilled"}' \
		repnet_collector_spill_full_total; do
		printf '%s=%s ' "$m" "$(metric "$C_HTTP" "$m")"
	done
}
wait_until 30 full || fail "the spill file did not fill: $(state)"
[ "$(metric "$C_HTTP" 'repnet_collector_queue_total{result="dropped"}')" = 0 ] ||
	fail "observations were dropped"
# The collector restarts with the scorer still away, and the rest is written.
stop_pid "$C_PID"
grep -q "stay in the spill file for the next start" "$T/col1.1.log" || fail "nothing was left in the spill"
sed -n "$((2 * third + 1)),${total}p" "$T/all.log" >>"$L"
start_col 2
grep -q "spill .*to resend" "$T/col1.2.log" || fail "the spill was not loaded"
# The scorer comes back on its port (its counters start again at 0):
# everything arrives, once.
sed -i "s|ingest_listen = \"tcp://127.0.0.1:0\"|ingest_listen = \"tcp://127.0.0.1:$S_INGEST\"|" "$T/s1.conf"
start_daemon "$T/s1.b.log" -c "$T/s1.conf"
S_PID=$DPID
S_HTTP=$(http_port "$T/s1.b.log")
rest=$((want - first))
arrived() { [ "$(accepted)" -ge "$rest" ] && [ "$(metric "$C_HTTP" repnet_collector_queue_depth)" = 0 ]; }
wait_until 60 arrived || fail "the scorer accepted $(accepted) observations, want $rest"
replayed=$(metric "$C_HTTP" 'repnet_collector_spill_batches_total{event="replayed"}')
stop_pid "$C_PID"
got=$(accepted)
echo "observations: one-shot $want; scorer $first before its stop, $got after; $replayed batch(es) replayed from the spill after the restart"
[ "$got" = "$rest" ] || fail "the scorer accepted $got observations after its restart, want exactly $rest"
[ "$replayed" -gt 0 ] || fail "no batch was replayed from the spill"
[ "$(metric "$S_HTTP" 'repnet_scoring_batches_total{result="duplicate"}')" = 0 ] ||
	fail "the scorer saw duplicates"
echo PASS
