#!/bin/sh
# /metrics of a repnetd with every role passes `promtool check metrics`
# (Debian's prometheus package) without a single remark, and carries the
# standard process_* metrics.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/allroles_lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespace, sync role)"
command -v promtool >/dev/null 2>&1 || skip "promtool not installed (Debian package prometheus)"

allroles_start rnprom
# The flow detectors and the feed register their metrics once running;
# wait for a sample of each so that the scrape holds every family.
wait_until 30 sh -c "ip netns exec $NS curl -sf http://127.0.0.1:$HP/metrics | grep -q '^repnet_flow_detect_records_total'" ||
	fail "flow detector metrics missing"
allroles_scrape "$T/metrics"

# promtool prints one line per problem, and exits non-zero on any.
promtool check metrics <"$T/metrics" >"$T/promtool.out" 2>&1 || true
if [ -s "$T/promtool.out" ]; then
	cat "$T/promtool.out" >&2
	fail "promtool check metrics found problems"
fi
# The check itself works: a metric it must refuse is refused.
printf '# HELP bad_total_x x\n# TYPE bad_total_x counter\nbad_total_x 1\n' >"$T/bad"
promtool check metrics <"$T/bad" >"$T/bad.out" 2>&1 || true
[ -s "$T/bad.out" ] || fail "promtool accepted a counter without the _total suffix"

# The standard process metrics, with values that make sense.
for m in process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes \
	process_open_fds process_max_fds process_start_time_seconds; do
	grep -q "^# TYPE $m " "$T/metrics" || fail "no $m"
done
v() { awk -v k="$1" '$1 == k { print $2 }' "$T/metrics"; }
awk -v r="$(v process_resident_memory_bytes)" -v vs="$(v process_virtual_memory_bytes)" \
	'BEGIN { exit !(r > 1000000 && vs >= r) }' || fail "memory: rss $(v process_resident_memory_bytes) vsz $(v process_virtual_memory_bytes)"
fds=$(ls /proc/$DPID/fd | wc -l)
awk -v a="$(v process_open_fds)" -v b="$fds" 'BEGIN { d = a - b; exit !(a > 10 && d < 8 && d > -8) }' ||
	fail "open fds $(v process_open_fds), /proc/PID/fd holds $fds"
[ "$(v process_max_fds)" = "$(awk '/Max open files/ { print $4 }' /proc/$DPID/limits)" ] ||
	fail "max fds $(v process_max_fds), /proc says $(awk '/Max open files/ { print $4 }' /proc/$DPID/limits)"
now=$(date +%s)
awk -v s="$(v process_start_time_seconds)" -v n="$now" 'BEGIN { exit !(s > n - 120 && s <= n + 1) }' ||
	fail "start time $(v process_start_time_seconds), now $now"
kill -TERM "$DPID"
wait_exit "$DPID" 30
[ "$EXIT_STATUS" -eq 0 ] || fail "exit status $EXIT_STATUS"
echo "PASS"
