#!/bin/sh
# Issue 14, template flood: one UDP sender announcing 10,000 NetFlow v9
# template IDs used to fill the template table, so that a new exporter's
# valid templates were refused as bad_template, and the saved table kept
# it so across restarts. Here 127.0.0.2 floods 10,000 template IDs, 500
# under each of 20 source IDs (so both the per-exporter and the per-worker
# caps are hit), and goes on flooding while 127.0.0.3 sends softflowd's
# real v9 and IPFIX exports:
#   - the exports decode exactly as they do offline without any flood
#     (repnet flows --live against repnet flows FILE: the same records);
#   - in repnetd's metrics the flood is refused and evicted under its own
#     counters (template_limit, evicted), and 127.0.0.3 has no defect, no
#     template_limit, nothing evicted;
#   - the saved file is bounded by the table; after a restart the second
#     exporter's data decodes with its saved templates; a restart whose
#     exporters list leaves out the flooder prunes the flood from the file;
#   - with a short template lifetime, templates not sent again expire, the
#     data that meets them waits, and a fresh template releases it.
. "$REPNET_SRC/tests/integration/lib.sh"
command -v python3 >/dev/null || skip "python3 is not installed"
command -v curl >/dev/null || skip "curl is not installed"
R="$REPNET_BUILD/repnet"
F="$REPNET_SRC/tests/flow/forge.py"
D="$REPNET_TEST_DATA/netflow"
V9="$D/export-softflowd-v9.pcap"
IX="$D/export-softflowd-ipfix.pcap"
WANT=$((3467 + 3467))

# ---- exact: the exports decode as without the flood --------------------------
"$R" flows --live --count $WANT --seconds 120 -o "core.data_dir=$T/live" \
	-o collector.flow.netflow_listen=127.0.0.1:0 -o collector.flow.ipfix_listen=127.0.0.1:0 \
	-o collector.flow.sflow_listen= >"$T/live.out" 2>"$T/live.err" &
pid=$!
DAEMON_PIDS="$DAEMON_PIDS $pid"
wait_for "$T/live.err" "receiving"
NF=$(sed -n 's/.*netflow port \([0-9]*\), ipfix port \([0-9]*\).*/\1/p' "$T/live.err")
IP=$(sed -n 's/.*netflow port \([0-9]*\), ipfix port \([0-9]*\).*/\2/p' "$T/live.err")
python3 "$F" flood 127.0.0.2 127.0.0.1 "$NF" 10000 500 0 >/dev/null
python3 "$F" replay 127.0.0.3 0 127.0.0.1 "$NF" "$V9" none 127.0.0.2 10000 500 100 >/dev/null
python3 "$F" replay 127.0.0.3 0 127.0.0.1 "$IP" "$IX" none 127.0.0.2 10000 500 200 >/dev/null
wait_exit "$pid" 120
[ "$EXIT_STATUS" = 0 ] || { cat "$T/live.err" >&2; fail "repnet flows --live: exit status $EXIT_STATUS"; }
norm() { sed 's/"exporter":"[^"]*",//' | sort; }
norm <"$T/live.out" >"$T/live.sorted"
{ "$R" flows "$V9" && "$R" flows "$IX"; } | norm >"$T/want.sorted"
[ "$(wc -l <"$T/want.sorted")" = $WANT ] || fail "offline decode: $(wc -l <"$T/want.sorted") records"
cmp -s "$T/want.sorted" "$T/live.sorted" || {
	diff "$T/want.sorted" "$T/live.sorted" | head -n 5 >&2
	fail "under the flood, $(wc -l <"$T/live.sorted") records decoded, not the $WANT of the exports"
}
grep -q '"exporter":"127.0.0.2' "$T/live.out" && fail "records from the flood"
echo "ok: both exports decode exactly under a 30,000-template flood"

# ---- repnetd: counters, the file, restarts -------------------------------------
run() { # LOG ARGS...: the collect role on loopback listeners
	log=$1; shift
	start_daemon "$log" -o core.roles=collect -o "core.data_dir=$T/data" \
		-o core.http_listen=127.0.0.1:0 -o core.shutdown_grace=0s -o core.log_level=info \
		-o collector.flow.netflow_listen=127.0.0.1:0 -o collector.flow.ipfix_listen=127.0.0.1:0 \
		-o collector.flow.sflow_listen= -o collector.syslog.udp_listen= \
		-o collector.syslog.tcp_listen= "$@"
	HP=$(http_port "$log")
	wait_for "$log" "listening on udp 127.0.0.1:0 (port"
	NF=$(sed -n 's/.*listening on udp 127.0.0.1:0 (port \([0-9]*\).*/\1/p' "$log" | sed -n 1p)
	IP=$(sed -n 's/.*listening on udp 127.0.0.1:0 (port \([0-9]*\).*/\1/p' "$log" | sed -n 2p)
	[ -n "$NF" ] && [ -n "$IP" ] || fail "no listener ports in $log"
}
stop() {
	kill -TERM "$DPID"
	wait_exit "$DPID" 30
	[ "$EXIT_STATUS" = 0 ] || fail "exit status $EXIT_STATUS"
}
e() { echo "{exporter=\"127.0.0.$1\"${2:-}}"; }
is() { metric_is "$HP" "$1" "$2"; }
clean() { # HOST: no defect of any kind, nothing refused or evicted
	for r in unknown_template truncated bad_length bad_template bad_version template_limit; do
		v=$(metric "$HP" "repnet_flow_errors_total$(e "$1" ",reason=\"$r\"")")
		[ "${v:-0}" = 0 ] || fail "127.0.0.$1: $r = $v"
	done
	v=$(metric "$HP" "repnet_flow_templates_total$(e "$1" ',event="evicted"')")
	[ "${v:-0}" = 0 ] || fail "127.0.0.$1: $v templates evicted"
}
# Entries of the template file, in all and by address (127.0.0.N: its last byte).
entries() {
	python3 - "$1" "${2:-}" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
magic, ver, count = struct.unpack('>III', b[:12])
off, n = 12, {}
for _ in range(count):
    blen = struct.unpack('>I', b[off:off + 4])[0]
    body = b[off + 8:off + 8 + blen]
    n[body[4]] = n.get(body[4], 0) + 1  # family, then the address: its 4th byte
    off += 8 + blen
assert off == len(b)
print(count if sys.argv[2] == '' else n.get(int(sys.argv[2]), 0))
PY
}

run "$T/log1"
python3 "$F" flood 127.0.0.2 127.0.0.1 "$NF" 10000 500 0 >/dev/null
# 20 source IDs hold 256 each (the rest refused as template_limit); the
# worker holds 4096, so 1024 were evicted to make room.
wait_until 60 is "repnet_flow_templates_total$(e 2 ',event="stored"')" 5120 ||
	fail "flood stored $(metric "$HP" "repnet_flow_templates_total$(e 2 ',event="stored"')")"
is "repnet_flow_errors_total$(e 2 ',reason="template_limit"')" 4880 ||
	fail "template_limit $(metric "$HP" "repnet_flow_errors_total$(e 2 ',reason="template_limit"')")"
is "repnet_flow_errors_total$(e 2 ',reason="bad_template"')" 0 || fail "the flood counted as bad_template"
is "repnet_flow_templates_total$(e 2 ',event="evicted"')" 1024 ||
	fail "evicted $(metric "$HP" "repnet_flow_templates_total$(e 2 ',event="evicted"')")"
python3 "$F" replay 127.0.0.3 47001 127.0.0.1 "$NF" "$V9" none 127.0.0.2 10000 500 100 >/dev/null
python3 "$F" replay 127.0.0.3 47002 127.0.0.1 "$IP" "$IX" none 127.0.0.2 10000 500 200 >/dev/null
wait_until 60 is "repnet_flow_records_total$(e 3)" $WANT ||
	fail "127.0.0.3: $(metric "$HP" "repnet_flow_records_total$(e 3)") records, want $WANT"
clean 3
drops=$(curl -sf "http://127.0.0.1:$HP/metrics" | awk '/^repnet_flow_socket_drops_total/ { s += $NF } END { print s + 0 }')
[ "$drops" = 0 ] || fail "socket drops: $drops"
stop
n=$(entries "$T/data/flow-templates.0")
n3=$(entries "$T/data/flow-templates.0" 3)
echo "saved: $n templates, $n3 of 127.0.0.3"
[ "$n" -le 4096 ] || fail "the saved file holds $n templates, more than the table"
[ "$n3" -gt 0 ] || fail "the second exporter's templates were not saved"

# Restart: the flood comes back from the file (at most a table of it), and
# 127.0.0.3's data, sent without any template, decodes with the saved ones.
run "$T/log2"
wait_for "$T/log2" "templates from"
python3 "$F" replay 127.0.0.3 47001 127.0.0.1 "$NF" "$V9" templates >/dev/null
python3 "$F" replay 127.0.0.3 47002 127.0.0.1 "$IP" "$IX" templates >/dev/null
wait_until 60 is "repnet_flow_datagrams_total$(e 3)" $((112 - 7 + 130 - 9)) ||
	fail "datagrams after the restart: $(metric "$HP" "repnet_flow_datagrams_total$(e 3)")"
clean 3
r=$(metric "$HP" "repnet_flow_records_total$(e 3)")
[ "${r:-0}" -gt 6000 ] || fail "records after the restart: $r"
stop

# Restart with a list that leaves the flooder out: its entries are pruned.
n=$(entries "$T/data/flow-templates.0")
n3=$(entries "$T/data/flow-templates.0" 3)
run "$T/log3" -o collector.flow.exporters=127.0.0.3/32
wait_for "$T/log3" "templates from"
grep -q "flow: $n3 templates from .* (0 refused, $((n - n3)) pruned" "$T/log3" ||
	{ grep "templates from" "$T/log3" >&2; fail "want $n3 loaded and $((n - n3)) pruned"; }
python3 "$F" replay 127.0.0.3 47001 127.0.0.1 "$NF" "$V9" templates >/dev/null
wait_until 60 is "repnet_flow_datagrams_total$(e 3)" $((112 - 7)) ||
	fail "datagrams after the pruning restart: $(metric "$HP" "repnet_flow_datagrams_total$(e 3)")"
clean 3
stop
echo "ok: flood refused and evicted under its own counters; file bounded ($n), pruned at load"

# ---- lifetime: templates not sent again expire --------------------------------
rm -rf "$T/data"
run "$T/log4" -o collector.flow.template_lifetime=2s
# The first datagram of the v9 export: its templates and data.
python3 - "$D" "$NF" <<'PY'
import socket, sys
sys.path.insert(0, sys.argv[1])
from pcap_udp_replay import payloads
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.3', 47001))
s.sendto(next(iter(payloads(sys.argv[1] + '/export-softflowd-v9.pcap'))), ('127.0.0.1', int(sys.argv[2])))
PY
wait_until 30 is "repnet_flow_datagrams_total$(e 3)" 1 || fail "the template datagram did not arrive"
stored=$(metric "$HP" "repnet_flow_templates_total$(e 3 ',event="stored"')")
rec1=$(metric "$HP" "repnet_flow_records_total$(e 3)")
[ "${stored:-0}" -gt 0 ] && [ "${rec1:-0}" -gt 0 ] || fail "no templates ($stored) or records ($rec1)"
wait_until 30 is "repnet_flow_templates_total$(e 3 ',event="expired"')" "$stored" ||
	fail "expired: $(metric "$HP" "repnet_flow_templates_total$(e 3 ',event="expired"')"), want $stored"
# Datagrams 1-15 carry data only: it meets no template and waits; datagram
# 16 sends the templates again, and what waited decodes.
python3 - "$D" "$NF" <<'PY'
import socket, sys
sys.path.insert(0, sys.argv[1])
from pcap_udp_replay import payloads
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('127.0.0.3', 47001))
for i, p in enumerate(payloads(sys.argv[1] + '/export-softflowd-v9.pcap')):
    if 1 <= i <= 16:
        s.sendto(p, ('127.0.0.1', int(sys.argv[2])))
PY
wait_until 30 is "repnet_flow_datagrams_total$(e 3)" 17 || fail "the datagrams did not arrive"
u=$(metric "$HP" "repnet_flow_errors_total$(e 3 ',reason="unknown_template"')")
[ "${u:-0}" -ge 15 ] || fail "unknown_template $u, want at least 15: data met unexpired templates"
p=$(metric "$HP" "repnet_flow_pending_total$(e 3 ',result="decoded"')")
[ "${p:-0}" -ge 15 ] || fail "held data decoded after the refresh: $p"
stop
echo "ok: $stored templates expired after 2 s; the data waited for the refresh"
echo PASS
