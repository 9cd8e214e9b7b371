#!/bin/sh
# repnetd's collect role: syslog over UDP and TCP and a followed file reach
# the counting sink (repnet_collector_observations_total), the SMTP metrics
# are exported, and SIGTERM drains and stops cleanly.
. "$REPNET_SRC/tests/integration/lib.sh"
D="$REPNET_BUILD/repnetd"
command -v logger >/dev/null || skip "logger (bsdutils) is not installed"
L="$T/mail.log"
: >"$L"
cat >"$T/r.conf" <<CONF
core: {
  instance = "c1";
  data_dir = "$T/data";
  http_listen = "127.0.0.1:0";
  roles = ["collect"];
};
collector: {
  syslog: { udp_listen = "127.0.0.1:0"; tcp_listen = "127.0.0.1:0";
            max_connections = 2; idle_timeout = "2s"; };
  smtp: { max_line = "1k"; };
  tail: { paths = ["$L"]; poll_interval = "200ms"; };
};
# Batches to a port nothing listens on, not the default (a scorer of a test running beside this one).
feeds: { bus: { ingest_url = "tcp://127.0.0.1:1"; }; };
CONF
"$D" -n -c "$T/r.conf" >/dev/null || fail "configuration"
start_daemon "$T/log" -v -c "$T/r.conf"
PORT=$(http_port "$T/log")
wait_for "$T/log" "collector: syslog on udp port"
UDP=$(sed -n 's/.*syslog on udp port \([0-9]*\), tcp port \([0-9]*\).*/\1/p' "$T/log")
TCP=$(sed -n 's/.*syslog on udp port \([0-9]*\), tcp port \([0-9]*\).*/\2/p' "$T/log")
[ -n "$UDP" ] && [ -n "$TCP" ] || fail "no syslog ports"

echo "connect from unknown[192.0.2.1]" | logger --server 127.0.0.1 --port "$UDP" --udp -t postfix/smtpd --id=1
echo "warning: unknown[192.0.2.2]: SASL LOGIN authentication failed: x, sasl_username=u" |
	logger --server 127.0.0.1 --port "$TCP" --tcp --octet-count --rfc5424 -t postfix --id=2
echo "Nov 29 02:25:30 mx postfix/postscreen[3]: PREGREET 11 after 0 from [192.0.2.3]:1: EHLO x" >>"$L"
wait_for "$T/log" "observation .* 192.0.2.3 pregreet"
wait_for "$T/log" "observation .* 192.0.2.3 protocol_bot"
wait_for "$T/log" "observation .* 192.0.2.1 smtp_connect"
wait_for "$T/log" "observation .* 192.0.2.2 sasl_fail"
[ "$(metric "$PORT" 'repnet_collector_observations_total{origin="smtp"}')" = 4 ] || fail "observations_total"
[ "$(metric "$PORT" 'repnet_connections_open{listener="syslog"}')" -le 2 ] || fail "connections gauge"
[ "$(metric "$PORT" 'repnet_smtp_lines_total{source="syslog_udp"}')" = 1 ] || fail "udp lines"
[ "$(metric "$PORT" 'repnet_smtp_lines_total{source="tail"}')" = 1 ] || fail "tail lines"
[ "$(metric "$PORT" 'repnet_connections_total{listener="syslog",outcome="accepted"}')" -ge 1 ] || fail "tcp accepted"
[ "$(metric "$PORT" 'repnet_smtp_detector_signals_total{detector="protocol_bot"}')" = 1 ] || fail "detector metric"
# Bounded connections, idle timeout, overlong frames and framing errors.
if command -v python3 >/dev/null; then
	python3 - "$TCP" <<'PY' || fail "connection limits"
import socket, sys, time
port = int(sys.argv[1])
a = socket.create_connection(("127.0.0.1", port))
b = socket.create_connection(("127.0.0.1", port))
time.sleep(0.3)
c = socket.create_connection(("127.0.0.1", port))
c.settimeout(5)
assert c.recv(1) == b"", "third connection not refused"
# An overlong octet-counted frame is skipped; the next frame still counts.
body = b"<13>Nov 29 02:25:30 mx postfix/smtpd[1]: connect from unknown[192.0.2.9]"
a.sendall(b"2000 " + b"x" * 2000 + str(len(body)).encode() + b" " + body)
# A malformed count closes that connection.
b.sendall(b"12x\n")
b.settimeout(5)
assert b.recv(1) == b"", "framing error did not close"
# The idle one is closed after idle_timeout (2s).
a.settimeout(10)
t = time.time()
assert a.recv(1) == b"", "idle connection not closed"
assert time.time() - t < 9
PY
	wait_for "$T/log" "observation .* 192.0.2.9 smtp_connect"
	[ "$(metric "$PORT" 'repnet_connections_total{listener="syslog",outcome="refused"}')" = 1 ] || fail "refused"
	[ "$(metric "$PORT" 'repnet_connections_total{listener="syslog",outcome="idle_closed"}')" -ge 1 ] || fail "idle_closed"
	[ "$(metric "$PORT" 'repnet_syslog_errors_total{error="framing"}')" = 1 ] || fail "framing errors"
	[ "$(metric "$PORT" 'repnet_smtp_lines_overlong_total{source="syslog_tcp"}')" = 1 ] || fail "overlong"
fi
# Every metric is documented.
curl -sf "http://127.0.0.1:$PORT/metrics" | sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' >"$T/names"
while read -r m; do
	grep -q "\`$m\`" "$REPNET_SRC/README.md" || fail "README does not document metric $m"
done <"$T/names"
# A reload with the same file keeps running.
kill -HUP "$DPID"
wait_for "$T/log" "configuration reloaded"
echo "connect from unknown[192.0.2.4]" | logger --server 127.0.0.1 --port "$UDP" --udp -t postfix/smtpd --id=1
wait_for "$T/log" "observation .* 192.0.2.4 smtp_connect"
kill -TERM "$DPID"
wait_exit "$DPID" 15
[ "$EXIT_STATUS" = 0 ] || fail "exit status $EXIT_STATUS"
grep -q "stopped" "$T/log" || fail "no clean stop"
# No scorer answers here: the position waits in the spill file with the
# batches that carry its lines, and is saved to tail-*.pos once they are
# acknowledged.
grep -q "^v1 " "$T/data/collector.spill" 2>/dev/null || grep -aq "tail-.*\.posv1 " "$T/data/collector.spill" ||
	fail "no tail position kept in the spill"
[ -f "$T/data/collector-sasl.key" ] || fail "no SASL key"
[ "$(stat -c %a "$T/data/collector-sasl.key")" = 600 ] || fail "SASL key mode"
echo PASS
