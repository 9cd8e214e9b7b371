#!/bin/sh
# Rotation by Postfix itself (issue 16): `postfix logrotate` renames its
# maillog_file with a date suffix and gzips it. A follower (repnet logs
# --follow) reads N sessions' lines, is stopped, M more sessions are
# logged, Postfix rotates, K more are logged, the follower starts again:
# every session's observations exactly once, as a one-shot `repnet logs`
# of the rotated copy and the new file gives them.
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/postfix_lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces, Postfix)"
command -v postfix >/dev/null || skip "postfix is not installed (scripts/bootstrap.sh)"
command -v swaks >/dev/null || skip "swaks is not installed"
command -v unshare >/dev/null || skip "unshare is not installed (util-linux)"
R="$REPNET_BUILD/repnet"
NS="rnlr$$"
netns_add "$NS" || skip "cannot create a network namespace"
ip -n "$NS" link set lo up
chmod 755 "$T"
postfix_instance

start() {
	"$R" logs --no-detect --follow "$T/maillog" -o core.data_dir="$T/data" \
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
# sessions FROM TO: one SMTP session (connect, EHLO, quit) from 127.0.2.i each.
cat >"$T/sessions.sh" <<'SH'
sessions() {
	i=$1
	while [ "$i" -le "$2" ]; do
		swaks --server 127.0.0.1:25 --local-interface "127.0.2.$i" --quit-after EHLO \
			--timeout 15 >/dev/null 2>&1 || echo "swaks $i failed"
		i=$((i + 1))
	done
}
# logged FILE N: FILE holds N "disconnect from" lines (Postfix writes them a little later).
logged() {
	j=0
	while :; do
		n=$(grep -c "disconnect from" "$1" 2>/dev/null || true)
		[ "$n" -ge "$2" ] && return 0
		j=$((j + 1))
		[ $j -lt 100 ] || { echo "only $n disconnects logged, want $2"; return 1; }
		sleep 0.1
	done
}
SH

: >"$T/out.json"
start
cat >"$T/body1.sh" <<BODY
. "$T/sessions.sh"
sessions 1 20
logged "$T/maillog" 20
BODY
postfix_run "$T/body1.sh"
seen() { grep -c '"smtp_connect"' "$T/out.json" || true; }
seen_at_least() { [ "$(seen)" -ge "$1" ]; }
wait_until 30 seen_at_least 20 || fail "the follower saw $(seen) connects, want 20"
stop

cat >"$T/body2.sh" <<BODY
. "$T/sessions.sh"
sessions 21 40
logged "$T/maillog" 40
postfix logrotate
sessions 41 50
logged "$T/maillog" 10
BODY
postfix_run "$T/body2.sh"
ls "$T" | grep -E '^maillog\.[0-9]{8}-[0-9]{6}\.gz$' >"$T/rotated" || fail "postfix logrotate made no maillog.DATE.gz: $(ls "$T")"
[ "$(wc -l <"$T/rotated")" = 1 ] || fail "more than one rotated copy"
start
wait_until 30 seen_at_least 50 || fail "the follower saw $(seen) connects, want 50"
stop

# Exactly once, against a one-shot read of the rotated copy and the new file.
{ gzip -dc "$T/$(cat "$T/rotated")"; cat "$T/maillog"; } | "$R" logs --no-detect - >"$T/oneshot.json" 2>/dev/null ||
	fail "repnet logs (one-shot)"
key() { sed -E 's/.*"ip":"([^"]*)".*"kind":"([^"]*)".*/\1 \2/' "$1" | sort; }
key "$T/oneshot.json" >"$T/want"
key "$T/out.json" >"$T/got"
diff "$T/want" "$T/got" >&2 || fail "the follower's observations differ from the one-shot read"
# (postfix_run's own readiness probes come from 127.0.1.1.)
[ "$(grep -c '^127\.0\.2\.[0-9]* smtp_connect$' "$T/got")" = 50 ] ||
	fail "$(grep -c '^127\.0\.2\.' "$T/got") observations of the sessions, not 50 connects"
uniq -d "$T/got" | grep '^127\.0\.2\.' && fail "a session read twice"
echo "PASS: $(wc -l <"$T/got") observations of 50 sessions across postfix logrotate, each once"
