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
  syslog: { udp_listen = "127.0.0.1:0"; tcp_listen = "127.0.0.1:0"; };
  tail: { paths = ["$L"]; poll_interval = "200ms"; };
};
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
[ "$(metric "$PORT" repnet_collector_observations_total)" = 4 ] || fail "observations_total"
[ "$(metric "$PORT" 'repnet_smtp_lines_total{source="syslog_udp"}')" = 1 ] || fail "udp lines"
[ "$(metric "$PORT" 'repnet_smtp_lines_total{source="tail"}')" = 1 ] || fail "tail lines"
[ "$(metric "$PORT" 'repnet_syslog_connections_total{result="accepted"}')" -ge 1 ] || fail "tcp accepted"
[ "$(metric "$PORT" 'repnet_smtp_detector_signals_total{detector="protocol_bot"}')" = 1 ] || fail "detector metric"
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
ls "$T/data"/tail-*.pos >/dev/null 2>&1 || fail "no saved tail position"
[ -f "$T/data/collector-sasl.key" ] || fail "no SASL key"
[ "$(stat -c %a "$T/data/collector-sasl.key")" = 600 ] || fail "SASL key mode"
echo PASS
