#!/bin/bash
# smtp_bench.sh: lines per second per core of repnet's SMTP pipeline on the
# real Postfix log repeated to at least 1M lines, beside fail2ban-regex
# (Debian's fail2ban, postfix filter) on the same file, in the same run.
# Each program is pinned to one CPU (taskset -c ${CPU:-0}) and measured in
# CPU seconds (user + system), so the figure is per core whatever else the
# shared machine runs; wall time is printed too. Not a CTest: a benchmark.
#
#   tests/bench/smtp_bench.sh [BUILD_DIR] [REPEAT]
#
# Needs: fail2ban (scripts/bootstrap.sh --bench). Bounded: one pass each.
set -eu
SRC=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$SRC/build}
REPEAT=${2:-311}                       # 311 x 3,220 = 1,001,420 lines
CPU=${CPU:-0}
LOG=$SRC/tests/data/mail/postfix-maillog_file.log
W=$(mktemp -d "${TMPDIR:-/tmp}/repnet-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
F=$W/postfix-1M.log
for _ in $(seq "$REPEAT"); do cat "$LOG"; done >"$F"
LINES=$(wc -l <"$F")
echo "input: $LINES lines, $(($(stat -c %s "$F") / 1048576)) MiB ($REPEAT x $(basename "$LOG"))"
echo "machine: $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# measure NAME CMD...: CPU seconds of CMD (and its children), pinned.
measure() {
	local name=$1; shift
	local t0 t1 w0 w1
	t0=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
	w0=$(date +%s.%N)
	( taskset -c "$CPU" "$@" >"$W/$name.out" 2>"$W/$name.err" ) || { echo "$name failed:"; tail -n 5 "$W/$name.err"; return 1; }
	w1=$(date +%s.%N)
	t1=$(awk '{print $14 + $15 + $16 + $17}' /proc/$$/stat)
	local cpu
	cpu=$(echo "($t1 - $t0) / $(getconf CLK_TCK)" | bc -l)
	printf '%-34s cpu %7.2f s  wall %7.2f s  %10.0f lines/s per core\n' "$name" "$cpu" \
		"$(echo "$w1 - $w0" | bc -l)" "$(echo "$LINES / $cpu" | bc -l)"
	eval "CPU_$name=$cpu"
}

measure repnet_detect "$B/repnet" logs --summary "$F"
measure repnet_nodetect "$B/repnet" logs --summary --no-detect "$F"
measure repnet_json "$B/repnet" logs "$F"
grep -E '^(lines|events|signals) ' "$W/repnet_detect.out" | tr '\n' ' '; echo

if command -v fail2ban-regex >/dev/null; then
	measure fail2ban_regex fail2ban-regex "$F" /etc/fail2ban/filter.d/postfix.conf
	grep -E '^Lines:' "$W/fail2ban_regex.out" || true
	printf 'ratio repnet (parsers + detectors) / fail2ban-regex: %.1fx\n' \
		"$(echo "$CPU_fail2ban_regex / $CPU_repnet_detect" | bc -l)"
	printf 'ratio repnet (JSON out) / fail2ban-regex:            %.1fx\n' \
		"$(echo "$CPU_fail2ban_regex / $CPU_repnet_json" | bc -l)"
else
	echo "fail2ban-regex: not installed (scripts/bootstrap.sh --bench)"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
