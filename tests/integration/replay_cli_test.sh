#!/bin/sh
# repnet replay: a syslog file to a syslog listener, over TCP (octet-counted
# and newline framing) and UDP, with --now moving the stamps so that the
# last line is now and the gaps stay, --rate pacing, malformed lines
# counted and not sent; then into repnetd's own syslog listener.
. "$(dirname "$0")/lib.sh"
R="$REPNET_BUILD/repnet"
command -v python3 >/dev/null || skip "python3 is not installed"

cat >"$T/in.log" <<'LOG'
Mar  1 10:00:00 mx1 postfix/smtpd[101]: connect from unknown[192.0.2.10]
Mar  1 10:00:07 mx1 postfix/smtpd[101]: lost connection after AUTH from unknown[192.0.2.10]
this line is not syslog
Mar  1 10:01:00 mx1 postfix/anvil: statistics: max connection rate 1/60s
Mar  1 10:05:00 mx1 postfix/smtpd[102]: disconnect from unknown[192.0.2.10]
LOG

# recv.py PROTO FRAMING OUT: listens on 127.0.0.1:0, writes the port to
# OUT.port, then every message received (one a line) to OUT, until the
# sender closes (TCP) or 4 datagrams arrived (UDP); 30 s at most.
cat >"$T/recv.py" <<'PY'
import socket, sys
proto, framing, out = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(30)
if proto == "tcp":
    s.listen(1)
open(out + ".port", "w").write(str(s.getsockname()[1]))
msgs = []
if proto == "udp":
    while len(msgs) < 4:
        msgs.append(s.recv(65536).decode())
else:
    c, _ = s.accept()
    c.settimeout(30)
    buf = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        buf += d
    if framing == "newline":
        msgs = buf.decode().split("\n")[:-1]
    else:
        while buf:
            sp = buf.index(b" ")
            n = int(buf[:sp])
            msgs.append(buf[sp + 1:sp + 1 + n].decode())
            assert len(buf) >= sp + 1 + n, "short frame"
            buf = buf[sp + 1 + n:]
open(out, "w").write("".join(m + "\n" for m in msgs))
PY
# listen PROTO FRAMING NAME: starts recv.py; sets RPID and RPORT.
listen() {
	python3 "$T/recv.py" "$1" "$2" "$T/$3" &
	RPID=$!
	wait_until 20 test -s "$T/$3.port" || fail "receiver did not start"
	RPORT=$(cat "$T/$3.port")
}
# stamps FILE: the RFC 5424 stamps of FILE's messages, in epoch seconds.
stamps() {
	python3 -c '
import sys, datetime
for l in open(sys.argv[1]):
    ts = l.split(" ")[1]
    print(int(datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc).timestamp()))
' "$1"
}

# TCP, octet counting, RFC 5424, --now.
listen tcp octet octet
"$R" replay "$T/in.log" --to "tcp://127.0.0.1:$RPORT" --now >"$T/out" || fail "replay tcp"
wait "$RPID" || fail "receiver (octet)"
grep -q "^sent 4 messages to tcp://127.0.0.1:$RPORT; 1 lines skipped" "$T/out" || { cat "$T/out"; fail "summary"; }
[ "$(wc -l <"$T/octet")" -eq 4 ] || fail "octet: $(wc -l <"$T/octet") messages"
head -n 1 "$T/octet" | grep -q '^<22>1 [0-9-]*T[0-9:]*Z mx1 postfix/smtpd 101 - - connect from unknown\[192.0.2.10\]$' ||
	{ head -n 1 "$T/octet"; fail "RFC 5424 form"; }
sed -n 3p "$T/octet" | grep -q ' mx1 postfix/anvil - - - statistics: ' || fail "no pid: -"
stamps "$T/octet" >"$T/st"
now=$(date +%s)
last=$(tail -n 1 "$T/st"); first=$(head -n 1 "$T/st")
[ $((now - last)) -ge 0 ] && [ $((now - last)) -le 30 ] || fail "--now: last stamp $last, now $now"
[ $((last - first)) -eq 300 ] || fail "--now: gaps not kept ($((last - first)) s, want 300)"
[ $(($(sed -n 2p "$T/st") - first)) -eq 7 ] || fail "--now: the 7 s gap"

# TCP, newline framing, RFC 3164, original stamps, paced at 10 a second.
listen tcp newline nl
t0=$(date +%s%N)
"$R" replay "$T/in.log" --to "tcp://127.0.0.1:$RPORT" --framing newline --rfc3164 --rate 10 >/dev/null ||
	fail "replay newline"
t1=$(date +%s%N)
wait "$RPID" || fail "receiver (newline)"
[ "$(wc -l <"$T/nl")" -eq 4 ] || fail "newline: $(wc -l <"$T/nl") messages"
head -n 1 "$T/nl" | grep -qx '<22>Mar  1 10:00:00 mx1 postfix/smtpd\[101\]: connect from unknown\[192.0.2.10\]' ||
	{ head -n 1 "$T/nl"; fail "RFC 3164 form with the original stamp"; }
# 4 messages at 10 a second: the last is due 0.3 s after the first (a floor).
[ $(((t1 - t0) / 1000000)) -ge 300 ] || fail "--rate 10: 4 lines in $(((t1 - t0) / 1000000)) ms"

# UDP (syslog://): one datagram per message.
listen udp - udp
"$R" replay "$T/in.log" --to "syslog://127.0.0.1:$RPORT" --rate 200 >/dev/null || fail "replay udp"
wait "$RPID" || fail "receiver (udp)"
[ "$(wc -l <"$T/udp")" -eq 4 ] || fail "udp: $(wc -l <"$T/udp") messages"

# Refusals: a bad URL, a bad rate, a missing file, a file with no syslog line.
if "$R" replay "$T/in.log" --to "http://127.0.0.1:1" 2>"$T/err"; then fail "http:// accepted"; fi
grep -q "not syslog://, udp:// or tcp://" "$T/err" || fail "bad URL message"
if "$R" replay "$T/in.log" --to "udp://127.0.0.1:9" --rate 0 2>/dev/null; then fail "--rate 0 accepted"; fi
if "$R" replay "$T/none.log" --to "udp://127.0.0.1:9" 2>/dev/null; then fail "missing file accepted"; fi
echo "no syslog here" >"$T/junk.log"
if "$R" replay "$T/junk.log" --to "udp://127.0.0.1:9" --now 2>"$T/err"; then fail "junk accepted"; fi
grep -q "no syslog lines" "$T/err" || fail "junk message"

# Into repnetd: the real Postfix log, every line counted by its syslog listener.
start_daemon "$T/d.log" -o core.http_listen=127.0.0.1:0 -o "core.data_dir=$T/data" \
	-o core.roles=collect -o collector.syslog.tcp_listen=127.0.0.1:0 \
	-o collector.syslog.udp_listen= -o collector.flow.netflow_listen= \
	-o collector.flow.ipfix_listen= -o collector.flow.sflow_listen= -o core.log_level=info
HP=$(http_port "$T/d.log")
TCP=$(sed -n 's/.*syslog on udp port [0-9-]*, tcp port \([0-9]*\).*/\1/p' "$T/d.log" | head -n 1)
[ -n "$TCP" ] || { grep syslog "$T/d.log"; fail "no syslog TCP port"; }
LOG="$REPNET_TEST_DATA/mail/postfix-maillog_file.log"
"$R" replay "$LOG" --to "tcp://127.0.0.1:$TCP" --now >"$T/out" || fail "replay into repnetd"
n=$(sed -n 's/^sent \([0-9]*\) messages.*/\1/p' "$T/out")
[ "${n:-0}" -gt 1000 ] || { cat "$T/out"; fail "sent $n"; }
wait_until 60 sh -c "curl -sf http://127.0.0.1:$HP/metrics | awk '/^repnet_smtp_lines_total{source=\"syslog_tcp\"}/ { s += \$2 } END { exit !(s >= $n) }'" ||
	{ curl -sf "http://127.0.0.1:$HP/metrics" | grep '^repnet_smtp_lines' >&2; fail "repnetd did not count $n messages"; }
kill -TERM "$DPID"
wait_exit "$DPID" 30
echo "PASS"
