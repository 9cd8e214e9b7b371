#!/bin/bash
# DNSBL benchmark: repnet's DNSBL against rbldnsd (ip4set and ip4tset)
# side by side in one run, with the same 1M listed addresses and the same
# query file (half listed, 90% A, 10% TXT), as the shared peer harness
# measures rbldnsd. Each server is pinned to CPU0 and dnsperf to CPU1;
# dnsperf is the bottleneck on 2 cores, so the figure that matters is the
# server's CPU time per answered query (from /proc/PID/stat), with RSS,
# latency and qps beside it.
#
# usage: tests/bench/dnsbl_bench.sh [WORKDIR] [DURATION_S] [N]
#   WORKDIR defaults to /dev/shm/repnet-dnsbl-bench (data is generated there
#   once with tests/bench/gen_zone.py N WORKDIR bl.test 200000 0.5 42).
# Needs: rbldnsd, dnsperf, dig, taskset, bc (scripts/bootstrap.sh --bench),
# and a built build/repnetd (REPNET_BUILD to point elsewhere).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
BUILD=${REPNET_BUILD:-$SRC/build}
D=${1:-/dev/shm/repnet-dnsbl-bench}
DUR=${2:-20}
N=${3:-1000000}
PORT=${PORT:-5353}
DPOPTS=${DNSPERF_OPTS:--T 1 -c 1 -q 100}
for t in rbldnsd dnsperf dig taskset bc; do
	command -v $t >/dev/null || { echo "missing $t (scripts/bootstrap.sh --bench)"; exit 1; }
done
mkdir -p "$D"
[ -s "$D/queries.txt" ] || python3 "$HERE/gen_zone.py" "$N" "$D" bl.test 200000 0.5 42
chmod 755 "$D"; chmod 644 "$D"/*.txt
clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
cat >"$D/repnet.conf" <<CONF
core: { data_dir = "$D/data"; http_listen = ""; roles = ["serve"]; };
feeds: {
  dnsbl: { list_file = "$D/ip4tset.txt"; list_format = "ip4set"; listen = ["127.0.0.1:$PORT"];
           zones = ["bl.test"]; workers = 1; codes = ["drop=127.0.0.2"]; reason = "Listed by test"; };
  policy: { listen = ""; };
};
CONF
echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# $N listed IPv4 addresses, $(wc -l <"$D/queries.txt") queries (half listed), $DUR s per server, dnsperf $DPOPTS"
printf '%-12s %9s %9s %9s %10s %10s %10s %9s\n' server load_s rss_kB hwm_kB qps lat_ms cpu_us/q answered
for spec in "rbldnsd-ip4set:ip4set:ip4set.txt" "rbldnsd-ip4tset:ip4tset:ip4tset.txt" "repnet:repnet:"; do
	name=${spec%%:*}; rest=${spec#*:}; ds=${rest%%:*}; file=${rest#*:}
	t0=$(date +%s.%N)
	if [ "$name" = repnet ]; then
		timeout $((DUR + 120)) taskset -c 0 "$BUILD/repnetd" -f -c "$D/repnet.conf" >"$D/$name.log" 2>&1 &
	else
		U=""; [ "$(id -u)" = 0 ] && U="-u rbldns"
		# shellcheck disable=SC2086
		timeout $((DUR + 120)) taskset -c 0 rbldnsd $U -n -c 0 -b "127.0.0.1/$PORT" -w "$D" "bl.test:$ds:$file" >"$D/$name.log" 2>&1 &
	fi
	tpid=$!
	# Ready when it answers at all (rbldnsd has no built-in test point).
	for _ in $(seq 1 1500); do
		dig +time=1 +tries=1 -p "$PORT" @127.0.0.1 2.0.0.127.bl.test A 2>/dev/null | grep -q "status:" && break
		kill -0 "$tpid" 2>/dev/null || break
		sleep 0.05
	done
	t1=$(date +%s.%N)
	pid=$(pgrep -P "$tpid" | head -n 1)
	[ -n "$pid" ] || { echo "$name did not start"; cat "$D/$name.log"; continue; }
	c0=$(cpu_ticks "$pid")
	taskset -c 1 dnsperf -s 127.0.0.1 -p "$PORT" -d "$D/queries.txt" -l "$DUR" $DPOPTS >"$D/dnsperf-$name.txt" 2>&1
	c1=$(cpu_ticks "$pid")
	rss=$(kb "$pid" VmRSS); hwm=$(kb "$pid" VmHWM)
	done_q=$(awk '/Queries completed:/ {print $3}' "$D/dnsperf-$name.txt")
	qps=$(awk '/Queries per second:/ {print $4}' "$D/dnsperf-$name.txt")
	lat=$(awk '/Average Latency/ {print $4}' "$D/dnsperf-$name.txt")
	cpu=$(echo "scale=3; ($c1 - $c0) * 1000000 / $clk / $done_q" | bc)
	printf '%-12s %9.2f %9s %9s %10.0f %10.3f %10s %9s\n' "$name" "$(echo "$t1 - $t0" | bc)" "$rss" "$hwm" \
		"$qps" "$(echo "$lat * 1000" | bc)" "$cpu" "$done_q"
	grep -E 'Response codes' "$D/dnsperf-$name.txt" | sed "s/^ */#   $name: /"
	kill "$pid" 2>/dev/null; wait "$tpid" 2>/dev/null
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
