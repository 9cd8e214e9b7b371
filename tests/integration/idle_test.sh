#!/bin/sh
# An idle repnetd with every role enabled hardly wakes up: the context
# switches of all its threads (voluntary and not, from
# /proc/PID/task/*/status) over an idle window stay below IDLE_MAX a
# second. A count, not a timing: a loaded machine delays wake-ups, it does
# not add them. (Issue 17: the flow detector thread alone woke 1,000 times
# a second.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/allroles_lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace, sync role)"
IDLE_MAX=20
WINDOW=5

# switches PID: the sum over the process's threads.
switches() {
	cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ { s += $2 } END { print s + 0 }'
}
# uptime_cs: the kernel's monotonic clock, in hundredths of a second.
uptime_cs() { awk '{ split($1, a, "."); print a[1] * 100 + a[2] }' /proc/uptime; }

allroles_start rnidle
# Some work first, so that the measured quiet follows activity: a syslog
# line and a flow datagram (ignored: not a flow export) reach the collector.
udp=$(sed -n 's/.*syslog on udp port \([0-9]*\).*/\1/p' "$T/$NS.log" | head -n 1)
[ -n "$udp" ] || fail "no syslog port"
ip netns exec "$NS" python3 - "$udp" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"<22>Dec  5 10:00:00 mx postfix/smtpd[1]: connect from unknown[192.0.2.7]",
         ("127.0.0.1", int(sys.argv[1])))
s.sendto(b"\x00\x05junk", ("127.0.0.1", 2055))
PY
wait_until 30 sh -c "ip netns exec $NS curl -sf http://127.0.0.1:$HP/metrics | grep -q '^repnet_syslog_datagrams_total.* [1-9]'" ||
	fail "the syslog datagram was not counted"

# Up to three windows: the first may still hold start-up work (the first
# snapshot, the first feed heartbeat). The best one counts.
best=""
for i in 1 2 3; do
	c0=$(switches "$DPID"); t0=$(uptime_cs)
	sleep "$WINDOW"
	c1=$(switches "$DPID"); t1=$(uptime_cs)
	rate=$(awk -v c="$((c1 - c0))" -v t="$((t1 - t0))" 'BEGIN { printf "%.1f", c * 100 / t }')
	echo "window $i: $((c1 - c0)) context switches in $((t1 - t0))0 ms: $rate/s"
	best=$(awk -v a="$rate" -v b="${best:-1e9}" 'BEGIN { print (a < b ? a : b) }')
	awk -v r="$rate" -v m="$IDLE_MAX" 'BEGIN { exit !(r < m) }' && break
done
if ! awk -v r="$best" -v m="$IDLE_MAX" 'BEGIN { exit !(r < m) }'; then
	for t in /proc/"$DPID"/task/*; do
		echo "$(cat "$t/comm") $(awk '/ctxt_switches/ { s += $2 } END { print s }' "$t/status")" >&2
	done
	fail "idle repnetd wakes $best times a second (at most $IDLE_MAX)"
fi
kill -TERM "$DPID"
wait_exit "$DPID" 30
[ "$EXIT_STATUS" -eq 0 ] || fail "exit status $EXIT_STATUS"
echo "PASS: idle at $best wake-ups a second"
