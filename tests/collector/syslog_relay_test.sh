#!/bin/sh
# The real Postfix log (tests/data/mail) relayed by real syslog daemons gives
# the same observations as the plain file, through every wrapper they write:
#   - rsyslog (a private rsyslogd: imtcp on a loopback port, no imuxsock)
#     writing files with RSYSLOG_SyslogProtocol23Format (RFC 5424: MSG with
#     a leading space, APP-NAME a bare "postfix"), RSYSLOG_ForwardFormat
#     (plus the newline a file needs) and RSYSLOG_TraditionalFileFormat, and
#     forwarding RFC 5424 (octet-counted) and RSYSLOG_ForwardFormat over TCP
#     to repnet's syslog listener;
#   - syslog-ng (run from the extracted syslog-ng-core package, which
#     conflicts with rsyslog) writing RFC 5424 (flags(syslog-protocol)) and
#     BSD files, and forwarding with syslog() (RFC 5424) and network() (BSD).
# Same count and same set of observations, compared as repnet logs prints
# them. The lines keep their times of day on yesterday's date (a syslog
# daemon puts a yearless stamp in its own year).
. "$REPNET_SRC/tests/integration/lib.sh"
R="$REPNET_BUILD/repnet"
PLAIN="$REPNET_TEST_DATA/mail/postfix-maillog_file.log"
command -v rsyslogd >/dev/null || skip "rsyslog is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
export TZ=UTC
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
DAY=$(date -u -d yesterday '+%b %e')

# The plain log on yesterday's date: what every path must reproduce.
awk -v day="$DAY" '{ sub(/^[A-Z][a-z][a-z] [ 0-9][0-9]/, day); print }' "$PLAIN" >"$T/in.log"
N=$(wc -l <"$T/in.log")
timeout 60 "$R" logs --ref-time "$NOW" "$T/in.log" | sort >"$T/want.json"
W=$(wc -l <"$T/want.json")
[ "$W" -gt 1000 ] || fail "only $W observations from the plain log"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# send PORT: the lines as a syslog client sends them (RFC 3164 with PRI mail.info), over TCP.
send() {
	python3 - "$1" "$T/in.log" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
with open(sys.argv[2], "rb") as f:
    for line in f:
        s.sendall(b"<22>" + line)
s.close()
PY
}

# listen NAME: a repnet logs --tcp listener printing observations; sets LPORT.
LPIDS=""
listen() {
	"$R" logs --ref-time "$NOW" --tcp 127.0.0.1:0 >"$T/$1.json" 2>"$T/$1.err" &
	LPIDS="$LPIDS $!"
	DAEMON_PIDS="$DAEMON_PIDS $!"
	wait_for "$T/$1.err" "listening udp"
	LPORT=$(sed -n 's/.*listening udp [0-9]* tcp \([0-9]*\).*/\1/p' "$T/$1.err")
	[ -n "$LPORT" ] || fail "$1: no port"
}
lines_are() { [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ]; }

# same NAME: NAME.json holds the wanted observations.
same() {
	sort "$T/$1.json" >"$T/$1.sorted"
	diff "$T/want.json" "$T/$1.sorted" >"$T/$1.diff" || {
		head -n 10 "$T/$1.diff"
		fail "$1: $(wc -l <"$T/$1.sorted") observations, want $W; they differ"
	}
}

# file NAME FILE: the file a daemon wrote, through repnet logs.
file_same() {
	wait_until 60 lines_are "$2" "$N" || fail "$1: $(wc -l <"$2") lines written, want $N"
	timeout 60 "$R" logs --ref-time "$NOW" --show-unparsed "$2" >"$T/$1.json" 2>"$T/$1.unparsed"
	same "$1"
}

# ---- rsyslog ----------------------------------------------------------------
listen rs5424; P5424=$LPORT
listen rsfwd; PFWD=$LPORT
mkdir -p "$T/rs"
cat >"$T/rsyslog.conf" <<CONF
global(workDirectory="$T/rs")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="0" listenPortFileName="$T/rs.port" ruleset="relay")
template(name="ForwardFormatLF" type="string"
         string="<%PRI%>%TIMESTAMP:::date-rfc3339% %HOSTNAME% %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%\n")
ruleset(name="relay") {
  action(type="omfile" file="$T/rs-5424.txt" template="RSYSLOG_SyslogProtocol23Format")
  action(type="omfile" file="$T/rs-fwd.txt" template="ForwardFormatLF")
  action(type="omfile" file="$T/rs-trad.txt" template="RSYSLOG_TraditionalFileFormat")
  action(type="omfwd" target="127.0.0.1" port="$P5424" protocol="tcp"
         tcp_framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
  action(type="omfwd" target="127.0.0.1" port="$PFWD" protocol="tcp"
         template="RSYSLOG_ForwardFormat")
}
CONF
rsyslogd -N1 -f "$T/rsyslog.conf" >"$T/rsN.log" 2>&1 || { cat "$T/rsN.log"; fail "rsyslog configuration"; }
rsyslogd -n -f "$T/rsyslog.conf" -i "$T/rs.pid" >"$T/rsyslogd.log" 2>&1 &
RSPID=$!
DAEMON_PIDS="$DAEMON_PIDS $RSPID"
wait_until 30 test -s "$T/rs.port" || fail "rsyslogd did not listen"
send "$(cat "$T/rs.port")"
file_same rs-5424 "$T/rs-5424.txt"
grep -q '^<22>1 [^ ]* mx postfix [0-9]* - -  ' "$T/rs-5424.txt" ||
	fail "rsyslog's RFC 5424 file is not the wrapper this test is about: $(head -n 1 "$T/rs-5424.txt")"
file_same rs-fwd "$T/rs-fwd.txt"
file_same rs-trad "$T/rs-trad.txt"
wait_until 60 lines_are "$T/rs5424.json" "$W" || true
same rs5424
wait_until 60 lines_are "$T/rsfwd.json" "$W" || true
same rsfwd
kill -TERM "$RSPID"
wait_exit "$RSPID" 30

# ---- syslog-ng --------------------------------------------------------------
DEB=""
for d in /var/cache/repnet-test; do
	for f in "$d"/syslog-ng-core_*.deb; do [ -f "$f" ] && DEB=$f; done
done
if [ -z "$DEB" ]; then
	for p in $LPIDS; do kill -TERM "$p" 2>/dev/null || true; wait_exit "$p" 30; done
	echo "rsyslog paths passed"
	skip "no syslog-ng-core .deb in /var/cache/repnet-test (scripts/bootstrap.sh fetches it)"
fi
mkdir -p "$T/sng"
dpkg-deb -x "$DEB" "$T/sng"
SNG="$T/sng/usr/sbin/syslog-ng"
export LD_LIBRARY_PATH="$T/sng/usr/lib/syslog-ng"
listen sng5424; S5424=$LPORT
listen sngbsd; SBSD=$LPORT
SPORT=$(free_port)
cat >"$T/syslog-ng.conf" <<CONF
@version: 3.38
options { keep-hostname(yes); keep-timestamp(yes); chain-hostnames(no); stats-freq(0); };
source s_in { network(ip("127.0.0.1") port($SPORT) transport("tcp")); };
destination d_5424 { file("$T/sng-5424.txt" flags(syslog-protocol)); };
destination d_bsd { file("$T/sng-bsd.txt"); };
destination d_fw5424 { syslog("127.0.0.1" port($S5424) transport("tcp")); };
destination d_fwbsd { network("127.0.0.1" port($SBSD) transport("tcp")); };
log { source(s_in); destination(d_5424); destination(d_bsd); destination(d_fw5424); destination(d_fwbsd); };
CONF
"$SNG" -s --module-path="$T/sng/usr/lib/syslog-ng/3.38" -f "$T/syslog-ng.conf" >"$T/sngs.log" 2>&1 || { cat "$T/sngs.log"; fail "syslog-ng configuration"; }
"$SNG" -F -e -f "$T/syslog-ng.conf" --no-caps -R "$T/sng.persist" -p "$T/sng.pid" -c "$T/sng.ctl" \
	--module-path="$T/sng/usr/lib/syslog-ng/3.38" >"$T/syslog-ng.log" 2>&1 &
SNGPID=$!
DAEMON_PIDS="$DAEMON_PIDS $SNGPID"
wait_for "$T/syslog-ng.log" "syslog-ng starting up" 30
send "$SPORT"
file_same sng-5424 "$T/sng-5424.txt"
file_same sng-bsd "$T/sng-bsd.txt"
wait_until 60 lines_are "$T/sng5424.json" "$W" || true
same sng5424
wait_until 60 lines_are "$T/sngbsd.json" "$W" || true
same sngbsd
kill -TERM "$SNGPID"
wait_exit "$SNGPID" 30
for p in $LPIDS; do
	kill -TERM "$p"
	wait_exit "$p" 30
	[ "$EXIT_STATUS" = 0 ] || fail "repnet logs --tcp exited with $EXIT_STATUS"
done
echo "PASS"
