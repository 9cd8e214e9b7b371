#!/bin/bash
# flow_ingest.sh: the live collector against nfcapd on the same generated
# stream, loopback only. For each version and offered rate, repnetd (collect
# role, one worker, pinned to CPU0) receives nfgen's stream (pinned to CPU1)
# for SECONDS; the records it decoded (repnet_flow_records_total), its
# socket drops and its CPU time are read back. Then nfcapd is run through
# the peer harness (run_nfcapd.sh) on the same rates. Loss is
# (sent - decoded) / sent; det_skipped counts decoded records that the
# detectors skipped because their queue was full. Not a test: it prints a
# table.
#
# usage: tests/bench/flow_ingest.sh [VERSIONS] [RATES_PPS] [SECONDS] [DETECT=on|off]
#   e.g. tests/bench/flow_ingest.sh "5 9 10" "50000 100000 150000 0" 10 on
# env: REPNET_BUILD (default ./build), PEER_BIN (default /tmp/repnet-peer-bin),
#      EXTRA (more repnetd options, e.g. "-o collector.flow.rcvbuf=64M"),
#      SHARED_BENCH (default ../shared/bench), NFCAPD=0 skips the peer.
set -u
VERS=${1:-"5 9 10"}; RATES=${2:-"50000 100000 150000 0"}; SECS=${3:-10}; DETECT=${4:-on}
B=${REPNET_BUILD:-$PWD/build}
SB=${SHARED_BENCH:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/bench}
PB=${PEER_BIN:-/tmp/repnet-peer-bin}
PORT=${PORT:-19995}; HPORT=${HPORT:-19477}
[ -x "$PB/nfgen" ] || "$SB/build.sh" "$PB" >/dev/null || { echo "cannot build nfgen"; exit 1; }
W=$(mktemp -d /tmp/flow-ingest.XXXXXX)
trap 'rm -rf "$W"' EXIT
clk=$(getconf CLK_TCK)
metric() { curl -sf "http://127.0.0.1:$HPORT/metrics" | awk -v k="$1" '$1 == k { print $NF }'; }
sum_metric() { curl -sf "http://127.0.0.1:$HPORT/metrics" | awk -v k="$1" 'index($0, k) == 1 { s += $NF } END { print s + 0 }'; }

echo "# $(date -u +%FT%TZ) $(uname -r), load: $(uptime | sed 's/.*load average: //')"
echo "# repnetd: 1 worker on CPU0, detectors $DETECT; nfgen on CPU1; ${SECS}s per run"
printf '%-8s %-4s %-8s %-9s %-11s %-11s %-8s %-8s %-8s %-10s %s\n' peer ver tgt_pps sent_pps sent_rec decoded lost_% drops cpu_s rec/cpu_s det_skipped
for v in $VERS; do for r in $RATES; do
	d="$W/v$v-r$r"; mkdir -p "$d"
	taskset -c 0 "$B/repnetd" -f -o core.roles=collect -o "core.data_dir=$d" \
		-o core.http_listen=127.0.0.1:$HPORT -o collector.flow.netflow_listen=127.0.0.1:$PORT \
		-o collector.flow.ipfix_listen= -o collector.flow.sflow_listen= \
		-o collector.flow.detect.enabled=$([ "$DETECT" = on ] && echo true || echo false) ${EXTRA:-} \
		>"$d.log" 2>&1 &
	pid=$!
	for i in $(seq 50); do grep -q "listening on udp" "$d.log" 2>/dev/null && break; sleep 0.1; done
	c0=$(awk '{print $14+$15}' /proc/$pid/stat)
	out=$(taskset -c 1 "$PB/nfgen" -v "$v" -p $PORT -r "$r" -n 100000000 -T "$SECS")
	# Let it drain, bounded: until the count stops moving.
	prev=-1; for i in $(seq 50); do
		cur=$(sum_metric 'repnet_flow_records_total{exporter="127.0.0.1"}')
		[ "$cur" = "$prev" ] && break; prev=$cur; sleep 0.2
	done
	c1=$(awk '{print $14+$15}' /proc/$pid/stat)
	drops=$(sum_metric repnet_flow_socket_drops_total)
	skipped=$(sum_metric repnet_flow_detect_dropped_total)
	kill -TERM $pid; wait $pid 2>/dev/null
	sent=$(echo "$out" | sed -n 's/.*records=\([0-9]*\).*/\1/p')
	spps=$(echo "$out" | sed -n 's/.* pps=\([0-9]*\).*/\1/p')
	cpu=$(echo "scale=2; ($c1-$c0)/$clk" | bc)
	lost=$(echo "scale=3; 100*($sent-$cur)/$sent" | bc)
	rps=$(echo "scale=0; $cur/($cpu+0.001)" | bc)
	printf '%-8s %-4s %-8s %-9s %-11s %-11s %-8s %-8s %-8s %-10s %s\n' repnet "$v" "$r" "$spps" "$sent" "$cur" "$lost" "$drops" "$cpu" "$rps" "$skipped"
done; done
if [ "${NFCAPD:-1}" != 0 ] && command -v nfcapd >/dev/null; then
	echo "# nfcapd 1.7.1 through the peer harness (4 MiB buffer), same rates"
	PORT=$PORT "$SB/run_nfcapd.sh" "$PB/nfgen" "$W/nfcapd" "$VERS" "$RATES" "$SECS" 4194304 |
		sed 's/^/nfcapd   /'
fi
