#!/bin/sh
# The man pages: each renders without a groff warning, repnet.conf(5) lists
# every key `repnet config` prints and its KEYS section is what
# docs/man/gen-conf-keys.sh makes of this build, repnet(1) has a section for
# every command of `repnet --help`, repnetd(8) documents every option, and
# repnet-nfsync(8) every option of its usage.
. "$REPNET_SRC/tests/integration/lib.sh"

command -v groff >/dev/null 2>&1 || skip "groff is missing (package groff-base)"
M="$REPNET_SRC/docs/man"

for p in repnet.1 repnet.conf.5 repnetd.8 repnet-nfsync.8; do
	[ -f "$M/$p" ] || fail "no $p"
	LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$M/$p" >"$T/groff.out" 2>&1 || fail "groff $p"
	if grep -q . "$T/groff.out"; then
		cat "$T/groff.out" >&2
		fail "groff warns on $p"
	fi
	# What man(1) shows: the page renders to text with its NAME section.
	LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$M/$p" 2>"$T/man.err" | col -b >"$T/$p.txt"
	grep -q "^NAME" "$T/$p.txt" || fail "man -l $p: no NAME section"
	! grep -q . "$T/man.err" || { cat "$T/man.err" >&2; fail "man -l $p warns"; }
done

# Every key, and the generated section exactly as this build generates it.
"$REPNET_BUILD/repnet" config | awk -F'|' 'NR > 2 { k = $2; gsub(/[ `]/, "", k); print k }' \
	>"$T/keys"
[ "$(wc -l <"$T/keys")" -gt 100 ] || fail "repnet config printed too few keys"
missing=0
while read -r k; do
	grep -qx "\.B $k" "$M/repnet.conf.5" || { echo "repnet.conf.5 lacks $k" >&2; missing=1; }
done <"$T/keys"
[ $missing -eq 0 ] || fail "keys missing from repnet.conf.5: run docs/man/gen-conf-keys.sh build/repnet --update docs/man/repnet.conf.5"
cp "$M/repnet.conf.5" "$T/regen.5"
"$M/gen-conf-keys.sh" "$REPNET_BUILD/repnet" --update "$T/regen.5"
diff -u "$M/repnet.conf.5" "$T/regen.5" ||
	fail "repnet.conf.5 is stale: run docs/man/gen-conf-keys.sh build/repnet --update docs/man/repnet.conf.5"
# The rendered page shows the keys too (not lost in a roff comment).
grep -q "feeds.sync.applier" "$T/repnet.conf.5.txt" || fail "rendered repnet.conf.5 lacks the keys"

# repnet(1): a section per command.
"$REPNET_BUILD/repnet" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }' \
	>"$T/cmds"
[ "$(wc -l <"$T/cmds")" -gt 10 ] || fail "repnet --help listed too few commands"
while read -r c; do
	grep -qx "\.SS $c" "$M/repnet.1" || fail "repnet.1 has no section for command $c"
done <"$T/cmds"

# repnetd(8): every option letter of repnetd's usage.
"$REPNET_BUILD/repnetd" -h | sed -n 's/^  -\([a-zA-Z]\)[ ,].*/\1/p' >"$T/opts"
[ "$(wc -l <"$T/opts")" -ge 6 ] || fail "repnetd -h listed too few options"
while read -r o; do
	grep -q "^\.BI\? \\\\-$o\( \|$\)" "$M/repnetd.8" || fail "repnetd.8 does not document -$o"
done <"$T/opts"
# repnet-nfsync(8): every long option of its usage.
"$REPNET_BUILD/repnet-nfsync" --help 2>&1 | grep -o -- '--[a-z-]*' | sort -u >"$T/nopts"
[ "$(wc -l <"$T/nopts")" -ge 5 ] || fail "repnet-nfsync --help listed too few options"
while read -r o; do
	esc=$(printf '%s' "$o" | sed 's/-/\\\\-/g')
	grep -q "^\.BI\? $esc\( \|$\)" "$M/repnet-nfsync.8" || fail "repnet-nfsync.8 does not document $o"
done <"$T/nopts"
echo "man pages: $(wc -l <"$T/keys") keys, $(wc -l <"$T/cmds") commands, $(wc -l <"$T/opts") options"
