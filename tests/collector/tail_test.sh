#!/bin/sh
# repnet logs --follow: a file rotated by the real logrotate, first by
# rename + create (the writer keeps its old descriptor for a while, as a
# daemon does until it is told to reopen), then by copytruncate, then
# stopped and restarted (with a rotation while it was down). Every line
# must be read exactly once.
. "$REPNET_SRC/tests/integration/lib.sh"
R="$REPNET_BUILD/repnet"
command -v logrotate >/dev/null || skip "logrotate is not installed"
L="$T/mail.log"
: >"$L"

# Line n is a connect from a distinct address, so the observations say
# which lines were read.
line() { echo "Nov 29 02:25:30 mx postfix/smtpd[7]: connect from unknown[127.1.$(($1 / 256)).$(($1 % 256))]"; }
write() { # from to: through descriptor 3
	n=$1
	while [ "$n" -le "$2" ]; do line "$n" >&3; n=$((n + 1)); done
}
start() {
	"$R" logs --no-detect --follow "$L" -o core.data_dir="$T/data" \
		-o collector.tail.start=beginning -o collector.tail.poll_interval=200ms \
		-o collector.tail.save_interval=200ms >>"$T/out.json" 2>>"$T/err" &
	RPID=$!
	DAEMON_PIDS="$DAEMON_PIDS $RPID"
}
stop() {
	kill -TERM "$RPID"
	wait_exit "$RPID" 10
	[ "$EXIT_STATUS" = 0 ] || fail "exit status $EXIT_STATUS"
}
seen() { wc -l <"$T/out.json"; }
seen_at_least() { [ "$(seen)" -ge "$1" ]; }
wait_seen() { # count
	wait_until 60 seen_at_least "$1" || { tail -n 3 "$T/err" >&2; fail "saw $(seen) lines, want $1"; }
}
cat >"$T/rename.conf" <<CONF
$L {
	rotate 5
	create
	missingok
	nocompress
}
CONF
cat >"$T/copy.conf" <<CONF
$L {
	rotate 5
	copytruncate
	missingok
	nocompress
}
CONF

: >"$T/out.json"
exec 3>>"$L"
start
write 1 500
wait_seen 500
# Rename + create; the writer goes on writing to the renamed file, then reopens.
logrotate -f -s "$T/lr.state" "$T/rename.conf" || fail "logrotate (create)"
[ -f "$L.1" ] || fail "logrotate did not rotate"
write 501 600
# The reader follows the renamed file while the writer still uses it.
wait_seen 600
exec 3>>"$L"
write 601 1000
wait_seen 1000
# copytruncate while the reader may lag: lines before the copy are read
# from mail.log.1 if they were not yet read.
write 1001 1500
logrotate -f -s "$T/lr.state" "$T/copy.conf" || fail "logrotate (copytruncate)"
write 1501 2000
wait_seen 2000
# Stop, write, restart: the position survives.
stop
write 2001 2500
start
wait_seen 2500
# Rotated while stopped: the rest of the old file is read from mail.log.1.
stop
write 2501 2600
logrotate -f -s "$T/lr.state" "$T/rename.conf" || fail "logrotate (while stopped)"
exec 3>>"$L"
write 2601 2700
start
wait_seen 2700
stop
exec 3>&-

# Exactly once: every address 1..2700 once, and nothing else.
sed -E 's/.*"ip":"127\.1\.([0-9]+)\.([0-9]+)".*/\1 \2/' "$T/out.json" |
	awk '{ print $1 * 256 + $2 }' | sort -n | uniq -c >"$T/counts"
awk '$1 != 1 { print "line " $2 " read " $1 " times" }' "$T/counts" >"$T/dups"
[ ! -s "$T/dups" ] || { head "$T/dups"; fail "lines read more than once"; }
[ "$(wc -l <"$T/counts")" = 2700 ] || fail "$(wc -l <"$T/counts") distinct lines, want 2700"
[ "$(head -n 1 "$T/counts" | awk '{print $2}')" = 1 ] && [ "$(tail -n 1 "$T/counts" | awk '{print $2}')" = 2700 ] ||
	fail "lines outside 1..2700"
echo PASS
