#!/bin/sh
# Issue 14, syslog senders: only collector.syslog.senders may send. A sender
# outside the list (127.0.0.3) is refused over UDP (per datagram) and over
# TCP (at accept: the connection is closed before any line is read), each
# counted and logged with the sender; one inside (127.0.0.2) is accepted
# over both, and its lines become observations. A syslog listener bound off
# loopback with no list refuses to start (repnetd -n too), naming the key.
. "$REPNET_SRC/tests/integration/lib.sh"
command -v python3 >/dev/null || skip "python3 is not installed"
command -v curl >/dev/null || skip "curl is not installed"
D="$REPNET_BUILD/repnetd"

# ---- off loopback with no list: refused, naming the key ---------------------
for o in "collector.syslog.udp_listen=0.0.0.0:0" "collector.syslog.tcp_listen=[::]:0"; do
	if "$D" -n -o core.roles=collect -o "$o" >"$T/n.out" 2>&1; then
		fail "repnetd -n passed $o with no senders"
	fi
	grep -q "collector.syslog.senders" "$T/n.out" || { cat "$T/n.out" >&2; fail "-n does not name the key"; }
	start_daemon "$T/nolist.log" -o core.roles=collect -o "core.data_dir=$T/data0" \
		-o core.http_listen=127.0.0.1:0 -o feeds.bus.ingest_url=tcp://127.0.0.1:1 \
		-o collector.flow.netflow_listen= \
		-o collector.flow.ipfix_listen= -o collector.flow.sflow_listen= -o "$o"
	wait_exit "$DPID" 30
	[ "$EXIT_STATUS" != 0 ] || fail "repnetd started with $o and no senders"
	grep -q "collector.syslog.senders" "$T/nolist.log" || { cat "$T/nolist.log" >&2; fail "the refusal does not name the key"; }
done
# With a list it is accepted.
"$D" -n -o core.roles=collect -o collector.syslog.udp_listen=0.0.0.0:0 \
	-o collector.syslog.senders=192.0.2.0/24 >/dev/null || fail "-n refused a listed listener"

# ---- a list: who is in may send, who is out is refused ----------------------
cat >"$T/r.conf" <<CONF
core: { instance = "c1"; data_dir = "$T/data"; http_listen = "127.0.0.1:0"; roles = ["collect"];
        shutdown_grace = "0s"; };  # no scorer here: nothing will acknowledge
collector: {
  syslog: { udp_listen = "127.0.0.1:0"; tcp_listen = "127.0.0.1:0"; senders = ["127.0.0.2/32"]; };
  flow: { netflow_listen = ""; ipfix_listen = ""; sflow_listen = ""; };
};
# Batches to a port nothing listens on, not the default (a scorer of a test running beside this one).
feeds: { bus: { ingest_url = "tcp://127.0.0.1:1"; }; };
CONF
start_daemon "$T/log" -v -c "$T/r.conf"
PORT=$(http_port "$T/log")
wait_for "$T/log" "collector: syslog on udp port"
UDP=$(sed -n 's/.*syslog on udp port \([0-9]*\), tcp port \([0-9]*\).*/\1/p' "$T/log")
TCP=$(sed -n 's/.*syslog on udp port \([0-9]*\), tcp port \([0-9]*\).*/\2/p' "$T/log")
[ -n "$UDP" ] && [ -n "$TCP" ] || fail "no syslog ports"

# send SRC udp|tcp PORT CLIENT: one Postfix line naming CLIENT, from SRC.
# Over TCP it prints "closed" when the server closed the connection unread.
send() {
	python3 - "$@" <<'PY'
import socket, sys
src, proto, port, client = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
line = b"<22>Nov 29 02:25:30 mx postfix/smtpd[7]: connect from unknown[%s]\n" % client.encode()
if proto == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.sendto(line, ("127.0.0.1", port))
    sys.exit(0)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((src, 0))
s.settimeout(20)
s.connect(("127.0.0.1", port))
try:
    s.sendall(line)
    s.shutdown(socket.SHUT_WR)
    # The server closes a refused connection at once, an accepted one
    # after it read our line and our end (or at its idle timeout).
    print("closed" if s.recv(1) == b"" else "data")
except OSError:  # reset, or not connected any more: closed by the server
    print("closed")
PY
}

# Refused first, then accepted, on the same socket: when the accepted
# line's observation shows, the refused one has been dealt with.
send 127.0.0.3 udp "$UDP" 192.0.2.31 || fail "udp send"
send 127.0.0.2 udp "$UDP" 192.0.2.32 || fail "udp send"
wait_for "$T/log" "observation .* 192.0.2.32 smtp_connect"
metric_is "$PORT" 'repnet_syslog_refused_total{transport="udp"}' 1 ||
	fail "udp refused: $(metric "$PORT" 'repnet_syslog_refused_total{transport="udp"}')"
grep -q "refused a UDP datagram from 127.0.0.3 port [0-9]*: not in collector.syslog.senders" "$T/log" ||
	fail "the UDP refusal is not logged with the sender"

[ "$(send 127.0.0.3 tcp "$TCP" 192.0.2.33)" = closed ] || fail "a refused TCP sender was not closed"
send 127.0.0.2 tcp "$TCP" 192.0.2.34 >/dev/null || fail "tcp send"
wait_for "$T/log" "observation .* 192.0.2.34 smtp_connect"
metric_is "$PORT" 'repnet_syslog_refused_total{transport="tcp"}' 1 ||
	fail "tcp refused: $(metric "$PORT" 'repnet_syslog_refused_total{transport="tcp"}')"
metric_is "$PORT" 'repnet_connections_total{listener="syslog",outcome="denied"}' 1 ||
	fail "denied: $(metric "$PORT" 'repnet_connections_total{listener="syslog",outcome="denied"}')"
grep -q "refused a TCP connection from 127.0.0.3 port [0-9]*: not in collector.syslog.senders" "$T/log" ||
	fail "the TCP refusal is not logged with the sender"

# Only the accepted senders' lines were read.
metric_is "$PORT" 'repnet_collector_observations_total{origin="smtp"}' 2 ||
	fail "observations: $(metric "$PORT" 'repnet_collector_observations_total{origin="smtp"}'), want 2"
! grep -q "192.0.2.3[13] " "$T/log" || fail "a refused sender's line was read"
kill -TERM "$DPID"
wait_exit "$DPID" 15
[ "$EXIT_STATUS" = 0 ] || fail "exit status $EXIT_STATUS"
echo PASS
