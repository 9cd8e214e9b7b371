#!/bin/sh
# The real Postfix and Exim logs sent through util-linux logger to the
# syslog receiver (repnet logs --udp/--tcp), over UDP and TCP, RFC 3164
# and RFC 5424, newline framing and RFC 6587 octet counting, give the same
# line observations, (ip, kind) with counts, as reading the files.
. "$REPNET_SRC/tests/integration/lib.sh"
R="$REPNET_BUILD/repnet"
D="$REPNET_TEST_DATA/mail"
command -v logger >/dev/null || skip "logger (bsdutils) is not installed"
logger --help 2>&1 | grep -q -- '--octet-count' || skip "this logger has no --octet-count"

ik() { sed -E 's/.*"ip":"([^"]*)","kind":"([^"]*)".*/\1 \2/' | sort | uniq -c | awk '{print $2, $3, $1}'; }
{
	timeout 60 "$R" logs --no-detect "$D/postfix-maillog_file.log"
	timeout 60 "$R" logs --no-detect "$D/exim-mainlog.log"
} | ik >"$T/want"
want_n=$(awk '{ s += $3 } END { print s }' "$T/want")

# Split the Postfix log by tag ("postfix/smtpd[4547]"), keeping order per
# tag: one logger per tag, with the tag's program and pid.
mkdir "$T/tags"
awk -v dir="$T/tags" '{
	tag = $5; sub(/:$/, "", tag)
	msg = $0; sub(/^[^:]*:[^:]*:[^:]*: /, "", msg)
	if (!(tag in id)) { id[tag] = ++n; print tag > (dir "/index") }
	print msg > (dir "/" id[tag])
}' "$D/postfix-maillog_file.log"

# send MODE PORT...: every Postfix tag, then the Exim log, through logger.
send() {
	mode=$1; port=$2; shift 2
	i=0
	while read -r tag; do
		i=$((i + 1))
		prog=${tag%%\[*}; pid=${tag#*\[}; pid=${pid%\]}
		[ "$mode" = app ] && prog=postfix
		timeout 20 logger --server 127.0.0.1 --port "$port" "$@" -t "$prog" --id="$pid" \
			-f "$T/tags/$i" || fail "logger $*"
	done <"$T/tags/index"
	timeout 20 logger --server 127.0.0.1 --port "$port" "$@" -t exim --id=1 \
		-f "$D/exim-mainlog.log" || fail "logger exim $*"
}

run() { # name proto mode logger-args...
	name=$1; proto=$2; mode=$3; shift 3
	"$R" logs --no-detect -o core.data_dir="$T/data" --udp 127.0.0.1:0 --tcp 127.0.0.1:0 \
		>"$T/$name.json" 2>"$T/$name.err" &
	spid=$!
	DAEMON_PIDS="$DAEMON_PIDS $spid"
	wait_for "$T/$name.err" "listening udp"
	port=$(sed -n "s/.*listening udp \([0-9]*\) tcp \([0-9]*\).*/\\$([ "$proto" = udp ] && echo 1 || echo 2)/p" "$T/$name.err")
	[ -n "$port" ] || fail "$name: no port"
	send "$mode" "$port" "--$proto" "$@"
	# Wait (bounded) for every observation, then stop with SIGTERM.
	i=0
	while [ "$(wc -l <"$T/$name.json")" -lt "$want_n" ] && [ $i -lt 200 ]; do
		sleep 0.1; i=$((i + 1))
	done
	kill -TERM "$spid"
	wait_exit "$spid" 10
	[ "$EXIT_STATUS" = 0 ] || fail "$name: exit status $EXIT_STATUS"
	grep -q "stopped after" "$T/$name.err" || fail "$name: no clean stop"
	ik <"$T/$name.json" >"$T/$name.got"
	diff "$T/want" "$T/$name.got" >"$T/$name.diff" || { head -n 20 "$T/$name.diff"; fail "$name: observations differ from the file run"; }
	echo "ok $name: $(wc -l <"$T/$name.json") observations"
}

run tcp3164 tcp tag --rfc3164
run udp3164 udp tag --rfc3164
run tcp5424 tcp tag --rfc5424
run tcp5424oc tcp app --rfc5424 --octet-count
run udp5424app udp app --rfc5424
echo PASS
