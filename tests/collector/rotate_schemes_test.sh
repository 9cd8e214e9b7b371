#!/bin/sh
# Rotated while stopped, by the real logrotate with each naming scheme:
# numbered with gzip, dateext, xz, zstd. For each: write N lines, stop the
# follower, write M more, rotate, write K more, start: every line's
# observation exactly once (the M lines come from the rotated copy,
# compressed or not, found by the saved inode or content fingerprint).
# Where the scheme can rotate twice in a row (all but a date-only name),
# it rotates again and J more lines are written before the start: the K
# lines are then only in the newer copy, read whole after the first.
. "$REPNET_SRC/tests/integration/lib.sh"
R="$REPNET_BUILD/repnet"
command -v logrotate >/dev/null || skip "logrotate is not installed"

line() { echo "Nov 29 02:25:30 mx postfix/smtpd[7]: connect from unknown[127.1.$(($1 / 256)).$(($1 % 256))]"; }
write() { # from to
	n=$1
	while [ "$n" -le "$2" ]; do line "$n"; n=$((n + 1)); done >>"$L"
}
start() {
	"$R" logs --no-detect --follow "$L" -o core.data_dir="$D/data" \
		-o collector.tail.start=beginning -o collector.tail.poll_interval=200ms \
		-o collector.tail.save_interval=200ms >>"$D/out.json" 2>>"$D/err" &
	RPID=$!
	DAEMON_PIDS="$DAEMON_PIDS $RPID"
}
stop() {
	kill -TERM "$RPID"
	wait_exit "$RPID" 10
	[ "$EXIT_STATUS" = 0 ] || fail "exit status $EXIT_STATUS"
}
seen() { wc -l <"$D/out.json"; }
seen_at_least() { [ "$(seen)" -ge "$1" ]; }
wait_seen() {
	wait_until 30 seen_at_least "$1" || { tail -n 3 "$D/err" >&2; fail "$scheme: saw $(seen) lines, want $1"; }
}
check_once() { # total
	sed -E 's/.*"ip":"127\.1\.([0-9]+)\.([0-9]+)".*/\1 \2/' "$D/out.json" |
		awk '{ print $1 * 256 + $2 }' | sort -n | uniq -c >"$D/counts"
	awk '$1 != 1 { print "line " $2 " read " $1 " times" }' "$D/counts" >"$D/dups"
	[ ! -s "$D/dups" ] || { head "$D/dups"; fail "$scheme: lines read more than once"; }
	[ "$(wc -l <"$D/counts")" = "$1" ] || fail "$scheme: $(wc -l <"$D/counts") distinct lines, want $1"
}

# Waits for the next second of the clock (dated names with %s differ by it).
next_second() {
	_s=$(date +%s)
	second_passed() { [ "$(date +%s)" != "$_s" ]; }
	wait_until 5 second_passed || fail "the clock did not move"
}

# run SCHEME NAME_REGEX TWICE LOGROTATE_OPTIONS...: NAME_REGEX is what the
# rotated copy must be called; TWICE=1 rotates again before the start.
run() {
	scheme=$1
	want=$2
	twice=$3
	shift 3
	D="$T/$scheme"
	mkdir -p "$D/log"
	L="$D/log/mail.log"
	: >"$L"
	: >"$D/out.json"
	{
		echo "$L {"
		echo "	rotate 5"
		echo "	create"
		for o in "$@"; do echo "	$o"; done
		echo "}"
	} >"$D/lr.conf"
	start
	write 1 300
	wait_seen 300
	stop
	write 301 500
	logrotate -f -s "$D/lr.state" "$D/lr.conf" || fail "$scheme: logrotate"
	write 501 600
	total=600
	if [ "$twice" = 1 ]; then
		next_second
		logrotate -f -s "$D/lr.state" "$D/lr.conf" || fail "$scheme: second logrotate"
		write 601 700
		total=700
	fi
	ls "$D/log" >"$D/names"
	start
	wait_seen $total
	stop
	check_once $total
	# Lines 301..500 were only in the rotated copy.
	grep -Eq "^mail\.log$want\$" "$D/names" ||
		fail "$scheme: no rotated copy named like mail.log$want: $(cat "$D/names")"
	echo "$scheme: ok ($(tr '\n' ' ' <"$D/names"))"
}

run numbered-gzip '\.1\.gz' 1 compress nodelaycompress
run dateext '-[0-9]{8}' 0 dateext nocompress
run dateext-gzip '\.[0-9]{8}-[0-9]+\.gz' 1 dateext 'dateformat .%Y%m%d-%s' compress
run xz '\.1\.xz' 1 compress 'compresscmd /usr/bin/xz' 'compressext .xz' 'uncompresscmd /usr/bin/unxz'
if command -v zstd >/dev/null; then
	run zstd '\.1\.zst' 1 compress 'compresscmd /usr/bin/zstd' 'compressext .zst' 'compressoptions -q' \
		'uncompresscmd /usr/bin/unzstd'
else
	echo "zstd: skipped (zstd is not installed)"
fi
echo PASS
