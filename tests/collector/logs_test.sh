#!/bin/sh
# repnet logs on the real Postfix and Exim logs:
#   - every wrapper of the same lines gives the same (ip, kind) multiset;
#   - the two real Postfix runs give the same multiset, except the one
#     timing-dependent burst (127.0.1.30), whose counts are checked
#     against the raw lines of each file;
#   - malformed, binary and overlong input is counted, never crashes or
#     hangs; unknown lines are counted per program.
. "$REPNET_SRC/tests/integration/lib.sh"
R="$REPNET_BUILD/repnet"
D="$REPNET_TEST_DATA/mail"
REF=2026-11-30T00:00:00Z

# ip kind count, sorted.
ik() { sed -E 's/.*"ip":"([^"]*)","kind":"([^"]*)".*/\1 \2/' | sort | uniq -c | awk '{print $2, $3, $1}'; }

# The multiset with detectors on, and the JSON keys the issue asks for.
timeout 60 "$R" logs --ref-time $REF "$D/postfix-maillog_file.log" >"$T/mf.json"
head -n 1 "$T/mf.json" | grep -q '^{"ts":"2026-11-29T02:25:31Z","ip":"127.0.1.2","kind":"smtp_connect","source":"postfix","program":"postfix/postscreen","evidence":"postscreen","count":1}$' ||
	fail "first observation: $(head -n 1 "$T/mf.json")"
ik <"$T/mf.json" >"$T/mf"

# Re-wrap the maillog_file lines in every syslog wrapper; same multiset.
awk 'BEGIN { split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", m, " "); for (i in m) mon[m[i]] = sprintf("%02d", i) }
{
	ts = sprintf("2026-%s-%02dT%s", mon[$1], $2, $3)
	tag = $5; sub(/:$/, "", tag); prog = tag; pid = tag; sub(/\[.*/, "", prog); sub(/.*\[/, "", pid); sub(/\]/, "", pid)
	msg = $0; sub(/^[^:]*:[^:]*:[^:]*: /, "", msg)
	print ts ".000000+00:00 vm " tag ": " msg > "'"$T"'/w3339"
	print "<22>" $0 > "'"$T"'/w3164"
	print "<22>1 " ts "Z vm " prog " " pid " - [meta seq=\"1\" x=\"a\\]b\"] \357\273\277" msg > "'"$T"'/w5424"
	print "<22>1 " ts ".5+00:00 vm postfix " pid " ID47 - " msg > "'"$T"'/w5424app"
}' "$D/postfix-maillog_file.log"
for w in w3339 w3164 w5424 w5424app; do
	timeout 60 "$R" logs --ref-time $REF "$T/$w" | ik >"$T/$w.ik"
	diff "$T/mf" "$T/$w.ik" >"$T/diff" || { cat "$T/diff"; fail "wrapper $w changes the observations"; }
done

# The real rsyslog run: the same, except the 127.0.1.30 burst.
timeout 60 "$R" logs "$D/postfix-rsyslog-rfc3339.log" | ik >"$T/rs"
grep -v '^127\.0\.1\.30 ' "$T/mf" >"$T/mf.rest"
grep -v '^127\.0\.1\.30 ' "$T/rs" >"$T/rs.rest"
[ "$(wc -l <"$T/mf.rest")" -gt 50 ] || fail "too few (ip, kind) pairs"
diff "$T/mf.rest" "$T/rs.rest" >"$T/diff" || { cat "$T/diff"; fail "maillog_file and rsyslog runs differ"; }
# 127.0.1.30 in each file: counts from the raw lines, independent of the parser.
for f in mf:postfix-maillog_file rs:postfix-rsyslog-rfc3339; do
	n=${f%%:*}; file="$D/${f#*:}.log"
	want_rate=$(grep -c 'Connection rate limit exceeded: [0-9]* from [^ ]*\[127\.0\.1\.30\]' "$file" || true)
	want_conn=$(grep -cE 'CONNECT from \[127\.0\.1\.30\]|: connect from [^ ]*\[127\.0\.1\.30\]' "$file" || true)
	want_lost=$(grep -c 'lost connection after [A-Z]* from [^ ]*\[127\.0\.1\.30\]' "$file" || true)
	got() { awk -v k="$1" '$1 == "127.0.1.30" && $2 == k { print $3 }' "$T/$n"; }
	[ "$(got rate_limited)" = "$want_rate" ] || fail "$n: rate_limited $(got rate_limited), raw lines $want_rate"
	[ "$(got smtp_connect)" = "$want_conn" ] || fail "$n: smtp_connect $(got smtp_connect), raw lines $want_conn"
	[ "$(got lost_connection)" = "${want_lost}" ] || [ "$want_lost" = 0 ] || fail "$n: lost_connection $(got lost_connection), raw $want_lost"
done

# Spamtraps: a trap recipient makes every message to it (linked from the
# delivery back to the client through the queue id) and every rejected
# attempt a spamtrap hit. The oracle joins the raw lines with awk.
TRAP=carol@test.example
want=$(awk -v trap="<$TRAP>" '
	/postfix\/smtpd\[[0-9]+\]: [0-9A-F]+: client=/ { q = $6; sub(/:$/, "", q); client[q] = 1 }
	/postfix\/(virtual|local)\[[0-9]+\]: [0-9A-F]+: to=/ {
		q = $6; sub(/:$/, "", q); t = $7; sub(/^to=/, "", t); sub(/,$/, "", t)
		if (t == trap && (q in client) && !(q in done)) { done[q] = 1; n++ }
	}
	/: (NOQUEUE|[0-9A-F]+): reject: RCPT from / && index($0, "to=" trap) { n++ }
	END { print n + 0 }' "$D/postfix-maillog_file.log")
got=$(timeout 60 "$R" logs -o collector.detect.spamtrap.recipients=$TRAP "$D/postfix-maillog_file.log" | grep -c '"kind":"spamtrap"' || true)
[ "$want" -gt 50 ] || fail "spamtrap oracle found only $want"
[ "$got" = "$want" ] || fail "spamtrap hits: $got, raw lines say $want"
want=$(grep -E ' <= .* H=.* for (.* )?'"$TRAP"'( |$)| rejected RCPT <'"$TRAP"'>' "$D/exim-mainlog.log" | wc -l)
got=$(timeout 60 "$R" logs -o collector.detect.spamtrap.recipients=@test.example,nobody@x "$D/exim-mainlog.log" | grep -c '"kind":"spamtrap"' || true)
got1=$(timeout 60 "$R" logs -o collector.detect.spamtrap.recipients=$TRAP "$D/exim-mainlog.log" | grep -c '"kind":"spamtrap"' || true)
[ "$got1" = "$want" ] || fail "exim spamtrap hits: $got1, raw lines say $want"
[ "$got" -gt "$got1" ] || fail "a trap domain matches more than one trap address"

# --summary: counts per kind and unparsed lines per program; none unparsed here.
timeout 60 "$R" logs --summary "$D/postfix-maillog_file.log" >"$T/sum"
grep -q '^lines 3220$' "$T/sum" || fail "summary lines"
grep -q '^unparsed postfix/smtpd 0$' "$T/sum" || fail "summary unparsed"
grep -q '^kind sasl_fail 30$' "$T/sum" || { cat "$T/sum"; fail "summary kinds"; }
[ "$(awk '$1 == "unparsed" { s += $3 } END { print s }' "$T/sum")" = 0 ] || fail "unparsed lines in the Postfix log"
timeout 60 "$R" logs --summary "$D/exim-mainlog.log" >"$T/esum"
grep -q '^lines 1418$' "$T/esum" || fail "exim summary lines"
[ "$(awk '$1 == "unparsed" { s += $3 } END { print s }' "$T/esum")" = 0 ] || fail "unparsed lines in the Exim log"

# Exim through syslog (its stamp kept in the message) reads the same.
timeout 60 "$R" logs "$D/exim-mainlog.log" | ik >"$T/ex"
sed 's/^/<22>Nov 29 02:31:40 vm exim[99]: /' "$D/exim-mainlog.log" >"$T/exsys"
timeout 60 "$R" logs --ref-time $REF "$T/exsys" | ik >"$T/exsys.ik"
# Detector windows see other times here, so compare line events only.
timeout 60 "$R" logs --no-detect "$D/exim-mainlog.log" | ik >"$T/ex.nd"
timeout 60 "$R" logs --no-detect --ref-time $REF "$T/exsys" | ik >"$T/exsys.nd"
diff "$T/ex.nd" "$T/exsys.nd" >"$T/diff" || { cat "$T/diff"; fail "Exim through syslog differs"; }

# Unknown lines are counted per program, never guessed at.
{
	echo "Nov 29 02:25:30 mx postfix/smtpd[1]: frobnicated from unknown[127.0.0.5]"
	echo "Nov 29 02:25:30 mx postfix/postscreen[1]: SOMETHING NEW [127.0.0.5]:25"
	echo "Nov 29 02:25:30 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[127.0.0.5]: 550 5.9.9 <a@b>: Strange reason; from=<x@y> to=<a@b> proto=ESMTP helo=<h>"
	echo "2026-11-29 02:31:40 something Exim never wrote from [127.0.0.5]"
	echo "Nov 29 02:25:30 mx sshd[1]: Failed password for root from 127.0.0.5"
} >"$T/unknown.log"
timeout 20 "$R" logs --summary --show-unparsed "$T/unknown.log" >"$T/usum" 2>"$T/uerr"
grep -q '^unparsed postfix/smtpd 2$' "$T/usum" || { cat "$T/usum"; fail "unknown smtpd lines"; }
grep -q '^unparsed postfix/postscreen 1$' "$T/usum" || fail "unknown postscreen lines"
grep -q '^unparsed exim 1$' "$T/usum" || fail "unknown exim lines"
grep -q '^foreign 1$' "$T/usum" || fail "foreign lines"
grep -q '^events 0$' "$T/usum" || fail "an unknown line became an observation"
[ "$(grep -c '^unparsed ' "$T/uerr")" = 4 ] || fail "--show-unparsed"

# Malformed, binary and overlong input: counted, no crash, no hang.
{
	head -c 20000 /dev/urandom
	printf '\n'
	printf 'Nov 29 02:25:30 mx postfix/smtpd[1]: connect from unknown[127.0.0.77]\n'
	head -c 100000 /dev/zero | tr '\0' 'A'
	printf '\n<999>garbage\n\0\0\0\n'
	printf 'Nov 29 02:25:30 mx postfix/smtpd[1]: connect from unknown['
	head -c 50000 /dev/zero | tr '\0' '1'
	printf ']\nNov 29 02:25:31 mx postfix/smtpd[1]: connect from unknown[127.0.0.78]'
} >"$T/bad.log"
timeout 20 "$R" logs --summary "$T/bad.log" >"$T/bsum" || fail "repnet logs failed on bad input"
grep -q '^overlong [1-9]' "$T/bsum" || { cat "$T/bsum"; fail "overlong not counted"; }
grep -q '^malformed [1-9]' "$T/bsum" || fail "malformed not counted"
grep -q '^kind smtp_connect 2$' "$T/bsum" || { cat "$T/bsum"; fail "good lines around bad ones"; }
head -c 3000000 /dev/urandom >"$T/rand.bin"
timeout 60 "$R" logs --summary "$T/rand.bin" >"$T/rsum" || fail "random bytes"
grep -q '^events 0$' "$T/rsum" || fail "random bytes became observations"
echo PASS
