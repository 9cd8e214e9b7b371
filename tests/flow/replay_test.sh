#!/bin/sh
# No loss on the real burst: repnetd's collect role on loopback listeners
# (ephemeral ports), and softflowd's v5, v9 and IPFIX exports replayed as
# fast as the sender goes (no gap, as softflowd sends them). Every record
# must arrive and decode, with no socket drops and no defects; SIGTERM
# must then drain and stop cleanly, saving the templates.
. "$REPNET_SRC/tests/integration/lib.sh"
D="$REPNET_TEST_DATA/netflow"
command -v python3 >/dev/null || skip "python3 is not installed"

start_daemon "$T/log" -o core.http_listen=127.0.0.1:0 -o "core.data_dir=$T/data" \
	-o core.roles=collect -o collector.flow.netflow_listen=127.0.0.1:0 \
	-o collector.flow.ipfix_listen=127.0.0.1:0 -o collector.flow.sflow_listen=127.0.0.1:0 \
	-o collector.flow.workers=2 -o core.log_level=info
PORT=$(http_port "$T/log")
wait_for "$T/log" "listening on udp 127.0.0.1:0 (port"
NF=$(sed -n 's/.*listening on udp 127.0.0.1:0 (port \([0-9]*\).*/\1/p' "$T/log" | sed -n 1p)
IX=$(sed -n 's/.*listening on udp 127.0.0.1:0 (port \([0-9]*\).*/\1/p' "$T/log" | sed -n 2p)
[ -n "$NF" ] && [ -n "$IX" ] || fail "no listener ports in the log"

python3 "$D/pcap_udp_replay.py" "$D/export-softflowd-v5.pcap" 127.0.0.1 "$NF" 0 >/dev/null
python3 "$D/pcap_udp_replay.py" "$D/export-softflowd-v9.pcap" 127.0.0.1 "$NF" 0 >/dev/null
python3 "$D/pcap_udp_replay.py" "$D/export-softflowd-ipfix.pcap" 127.0.0.1 "$IX" 0 >/dev/null
want=$((3345 + 3467 + 3467))

# Wait (bounded) until every record is counted.
wait_until 60 metric_is "$PORT" 'repnet_flow_records_total{exporter="127.0.0.1"}' "$want" ||
	fail "records: got $(metric "$PORT" 'repnet_flow_records_total{exporter="127.0.0.1"}'), want $want"
curl -sf "http://127.0.0.1:$PORT/metrics" >"$T/metrics"
drops=$(awk '/^repnet_flow_socket_drops_total/ { s += $NF } END { print s + 0 }' "$T/metrics")
[ "$drops" = 0 ] || { grep repnet_flow_ "$T/metrics" >&2; fail "socket drops: $drops"; }
for r in unknown_template truncated bad_length bad_template bad_version; do
	v=$(metric "$PORT" "repnet_flow_errors_total{exporter=\"127.0.0.1\",reason=\"$r\"}")
	[ "$v" = 0 ] || fail "$r = $v"
done
[ "$(metric "$PORT" 'repnet_flow_datagrams_total{exporter="127.0.0.1"}')" = $((113 + 112 + 130)) ] ||
	fail "datagram count"
# The detectors ran on what arrived.
obs=$(metric "$PORT" 'repnet_collector_observations_total{origin="flow"}')
[ "${obs:-0}" -gt 0 ] || fail "no observations"

kill -TERM "$DPID"
wait_exit "$DPID" 60
[ "$EXIT_STATUS" = 0 ] || fail "SIGTERM exit status $EXIT_STATUS"
grep -q "stopped" "$T/log" || fail "no clean stop"
# Two SO_REUSEPORT workers: each saved the templates of the exporters it saw.
ls "$T"/data/flow-templates.* >/dev/null 2>&1 || fail "templates not saved"
[ "$(cat "$T"/data/flow-templates.* | wc -c)" -gt 100 ] || fail "templates empty"

# The saved templates come back: after a restart, the v9 export without its
# first datagram (the one that carries the templates) decodes with no
# unknown template.
start_daemon "$T/log2" -o core.http_listen=127.0.0.1:0 -o "core.data_dir=$T/data" \
	-o core.roles=collect -o collector.flow.netflow_listen=127.0.0.1:0 \
	-o collector.flow.ipfix_listen= -o collector.flow.sflow_listen= -o core.log_level=info
PORT=$(http_port "$T/log2")
wait_for "$T/log2" "templates from"
# Back to one worker: the second worker's file was loaded, then removed.
[ ! -e "$T/data/flow-templates.1" ] || fail "stale template file of worker 1 kept"
wait_for "$T/log2" "listening on udp 127.0.0.1:0 (port"
NF=$(sed -n 's/.*listening on udp 127.0.0.1:0 (port \([0-9]*\).*/\1/p' "$T/log2" | sed -n 1p)
python3 - "$D" "$NF" <<'PY'
import socket, sys, time
sys.path.insert(0, sys.argv[1])
from pcap_udp_replay import payloads
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i, p in enumerate(payloads(sys.argv[1] + '/export-softflowd-v9.pcap')):
    if i > 0:
        s.sendto(p, ('127.0.0.1', int(sys.argv[2])))
PY
wait_until 60 metric_is "$PORT" 'repnet_flow_datagrams_total{exporter="127.0.0.1"}' 111 ||
	fail "datagrams after restart: $(metric "$PORT" 'repnet_flow_datagrams_total{exporter="127.0.0.1"}')"
[ "$(metric "$PORT" 'repnet_flow_errors_total{exporter="127.0.0.1",reason="unknown_template"}')" = 0 ] ||
	fail "persisted templates were not used"
rec=$(metric "$PORT" 'repnet_flow_records_total{exporter="127.0.0.1"}')
[ "${rec:-0}" -gt 3000 ] || fail "records after restart: $rec"
kill -TERM "$DPID"
wait_exit "$DPID" 60
[ "$EXIT_STATUS" = 0 ] || fail "second SIGTERM exit status $EXIT_STATUS"

# An exporter allowlist refuses (and counts) everything from elsewhere.
start_daemon "$T/log3" -o core.http_listen=127.0.0.1:0 -o "core.data_dir=$T/data3" \
	-o core.roles=collect -o collector.flow.netflow_listen=127.0.0.1:0 \
	-o collector.flow.ipfix_listen= -o collector.flow.sflow_listen= -o core.log_level=info \
	-o collector.flow.exporters=192.0.2.0/24,2001:db8::/32
PORT=$(http_port "$T/log3")
wait_for "$T/log3" "listening on udp 127.0.0.1:0 (port"
NF=$(sed -n 's/.*listening on udp 127.0.0.1:0 (port \([0-9]*\).*/\1/p' "$T/log3" | sed -n 1p)
python3 "$D/pcap_udp_replay.py" "$D/export-softflowd-v5.pcap" 127.0.0.1 "$NF" 0 >/dev/null
wait_until 60 metric_is "$PORT" 'repnet_flow_refused_total{worker="0"}' 113 ||
	fail "refused: $(metric "$PORT" 'repnet_flow_refused_total{worker="0"}')"
[ -z "$(metric "$PORT" 'repnet_flow_records_total{exporter="127.0.0.1"}')" ] ||
	fail "records decoded from a refused exporter"
kill -TERM "$DPID"
wait_exit "$DPID" 60
echo PASS
