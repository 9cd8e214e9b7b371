#!/bin/sh
# Issue 17, "failures an operator can see" (the parts without TLS; those
# are tls_fail_test):
#   - `repnetd -n` refuses a port out of range, a missing or non-regular
#     file the roles read, roles that do not fit together, and a misspelt
#     key (with "did you mean"); each message names the key; a followed
#     log file that is absent is a warning only;
#   - a certificate that is not PEM stops the start with an error naming
#     the keys and the file; a listener on a port in use names its key;
#   - a collector following a file that does not exist logs it at start,
#     counts it in repnet_tail_files_missing, and reads it once it appears;
#   - the collector's `repnet status` shows its ingest link (connected, last
#     ack, queue); the scorer's shows the observations it journaled as
#     acked, not its own idle ingest client's 0.
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/feed_lib.sh"

# check WANT_EXIT TEXT ARGS...: repnetd -n ARGS exits WANT_EXIT and says TEXT.
check() {
	_want=$1 _text=$2
	shift 2
	_rc=0
	"$REPNET_BUILD/repnetd" -n -o "core.data_dir=$T/n.d" "$@" >"$T/n.out" 2>&1 || _rc=$?
	[ "$_rc" = "$_want" ] || { cat "$T/n.out" >&2; fail "repnetd -n $*: exit $_rc, want $_want"; }
	grep -q -- "$_text" "$T/n.out" || { cat "$T/n.out" >&2; fail "repnetd -n $*: does not say '$_text'"; }
	echo "repnetd -n $*: $(grep -m1 -- "$_text" "$T/n.out")"
}
check 0 "configuration OK"
check 1 'feeds.bus.pub_listen = "tcp://127.0.0.1:74011": port 74011 is out of range' \
	-o core.roles=score,publish -o feeds.bus.pub_listen=tcp://127.0.0.1:74011
check 1 'feeds.bus.ingest_url = "tls+tcp://127.0.0.1:99999": port 99999 is out of range' \
	-o core.roles=collect -o feeds.bus.ingest_url=tls+tcp://127.0.0.1:99999
check 1 "feeds.bus.tls.cert = \"$T/none.crt\": No such file or directory" \
	-o core.roles=collect -o feeds.bus.ingest_url=tls+tcp://127.0.0.1:7400 \
	-o "feeds.bus.tls.cert=$T/none.crt"
mkdir -p "$T/adir"
check 1 "feeds.dnsbl.list_file = \"$T/adir\": not a regular file" \
	-o core.roles=serve -o "feeds.dnsbl.list_file=$T/adir"
check 1 "feeds.bus.tls.verify_peer needs feeds.bus.tls.ca" \
	-o core.roles=score -o feeds.bus.ingest_listen=tls+tcp://127.0.0.1:0
check 1 "publish needs score" -o core.roles=publish
check 1 "serve has no feed and no list" -o core.roles=serve
check 1 "collect without score needs feeds.bus.ingest_url" -o core.roles=collect -o feeds.bus.ingest_url=
check 1 'unknown key (did you mean "feeds.bus.tls.server_name"?)' -o feeds.bus.tls.sever_name=x
check 0 "warning: collector.tail.paths = \"$T/mail.log\": No such file or directory" \
	-o "collector.tail.paths=$T/mail.log"

# A TLS file that exists but is not PEM: -n passes (it opens), the start
# fails, and the error names the key and the file.
printf 'not a certificate\n' >"$T/bad.pem"
_rc=0
timeout 30 "$REPNET_BUILD/repnetd" -f -o core.roles=score -o "core.data_dir=$T/bad.d" \
	-o core.http_listen=127.0.0.1:0 -o feeds.bus.ingest_listen=tls+tcp://127.0.0.1:0 \
	-o "feeds.bus.tls.cert=$T/bad.pem" -o "feeds.bus.tls.key=$T/bad.pem" -o "feeds.bus.tls.ca=$T/bad.pem" >"$T/bad.log" 2>&1 || _rc=$?
[ "$_rc" != 0 ] && [ "$_rc" != 124 ] || { cat "$T/bad.log" >&2; fail "a scorer with a bad certificate: exit $_rc"; }
grep -q "feeds.bus.tls.cert = \"$T/bad.pem\" with feeds.bus.tls.key = \"$T/bad.pem\"" "$T/bad.log" ||
	{ cat "$T/bad.log" >&2; fail "the TLS error does not name the keys and the file"; }
echo "bad certificate: $(grep -m1 "feeds.bus.tls.cert = " "$T/bad.log" | sed 's/^.*bus: /bus: /')"

# ---- a scorer, and a collector following a file that is not there yet ----
start_scorer pub1 ""
# A listener on a port in use (the scorer's ingest port): the error names the key.
_rc=0
timeout 30 "$REPNET_BUILD/repnetd" -f -o core.roles=collect -o "core.data_dir=$T/busy.d" \
	-o core.http_listen=127.0.0.1:0 -o "collector.syslog.tcp_listen=127.0.0.1:$S_INGEST" \
	-o collector.syslog.udp_listen= -o collector.flow.netflow_listen= \
	-o collector.flow.ipfix_listen= -o collector.flow.sflow_listen= >"$T/busy.log" 2>&1 || _rc=$?
[ "$_rc" != 0 ] && [ "$_rc" != 124 ] || { cat "$T/busy.log" >&2; fail "a listener on a busy port: exit $_rc"; }
grep -q "collector.syslog.tcp_listen = \"127.0.0.1:$S_INGEST\": Address already in use" "$T/busy.log" ||
	{ cat "$T/busy.log" >&2; fail "the listener's error does not name the key"; }
echo "busy port: $(grep -m1 "collector.syslog.tcp_listen = " "$T/busy.log" | sed 's/^.*syslog: /syslog: /')"

cat >"$T/col1.conf" <<CONF
core: { instance = "col1"; data_dir = "$T/col1.d"; http_listen = "127.0.0.1:0";
        roles = ["collect"]; log_level = "info"; };
collector: { tail: { paths = ["$T/mail.log"]; start = "beginning"; poll_interval = "200ms"; };
             syslog: { udp_listen = ""; tcp_listen = ""; };
             flow: { netflow_listen = ""; ipfix_listen = ""; sflow_listen = ""; }; };
feeds: { bus: { ingest_url = "tcp://127.0.0.1:$S_INGEST"; ingest_flush = "50ms";
                collector_key = "$T/col1-collector.key"; }; };
CONF
collector_key col1 >/dev/null
start_daemon "$T/col1.log" -c "$T/col1.conf"
C_HTTP=$(http_port "$T/col1.log")
wait_for "$T/col1.log" "tail $T/mail.log: No such file or directory; following it once it can be opened" 10
metric_is "$C_HTTP" repnet_tail_files_missing 1 || fail "the missing file is not counted"
echo "missing: $(grep -m1 "tail $T/mail.log" "$T/col1.log" | sed 's/^.*tail /tail /')"
status_has() { # PORT TEXT
	"$REPNET_BUILD/repnet" status --http "127.0.0.1:$1" >"$T/status.out" 2>&1 &&
		grep -q -- "$2" "$T/status.out"
}
retry 10 "the collector's link is up" status_has "$C_HTTP" "ingest link to tcp://127.0.0.1:$S_INGEST: connected, no ack yet, queue 0"

# The file appears: it is read from its start, and the scorer acknowledges it.
head -n 400 "$MAILLOG" >"$T/mail.log"
wait_for "$T/col1.log" "tail $T/mail.log: opened; reading it from its start" 10
retry 10 "the file is no longer missing" metric_is "$C_HTTP" repnet_tail_files_missing 0
retry 30 "collector drained" sh -c "[ -n \"\$(curl -sf http://127.0.0.1:$C_HTTP/metrics |
	awk '\$1 == \"repnet_collector_observations_acked_total\" && \$2 > 0')\" ]"
retry 10 "the collector's status shows an ack" status_has "$C_HTTP" "connected, last ack [0-9]* s ago, queue"
grep "ingest link" "$T/status.out"
J=$(metric "$S_HTTP" repnet_ingest_observations_total)
[ "${J:-0}" -gt 0 ] || fail "the scorer journaled nothing"
retry 10 "the scorer's status shows what it journaled" \
	status_has "$S_HTTP" "observations acked by the scorer *$J (journaled here)"
grep "observations acked by the scorer" "$T/status.out"
echo PASS
