# flood.sh: for the attack tests, after lib.sh: the attacker (flood.py),
# killed at exit with the daemons, and a wait on a metric.

# start_flood ARGS...: runs flood.py ARGS in the background and waits
# until it has opened every connection once.
start_flood() {
	command -v python3 >/dev/null || skip "python3 is not installed"
	rm -f "$T/flood.ready"
	python3 "$REPNET_SRC/tests/integration/flood.py" --ready "$T/flood.ready" "$@" &
	FLOOD_PID=$!
	DAEMON_PIDS="$DAEMON_PIDS $FLOOD_PID"
	wait_for "$T/flood.ready" ready 60
}

# wait_metric HTTP_PORT SAMPLE MIN [SECONDS]: until the sample is at least MIN.
wait_metric() {
	wm_i=0; wm_lim=$(( ${4:-30} * 10 ))
	while wm_v=$(metric "$1" "$2"); [ -z "$wm_v" ] || [ "$wm_v" -lt "$3" ]; do
		wm_i=$((wm_i + 1))
		[ $wm_i -le $wm_lim ] || fail "timeout waiting for $2 >= $3 (it is ${wm_v:-absent})"
		sleep 0.1
	done
}
