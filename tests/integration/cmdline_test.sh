#!/bin/sh
# repnetd's command line: --help and --version exit 0 on standard output,
# every short option has a long form, and a wrong option still exits 2.
. "$(dirname "$0")/lib.sh"
D="$REPNET_BUILD/repnetd"

for o in --help -h; do
	"$D" $o >"$T/out" 2>"$T/err" || fail "$o exits $?"
	grep -q "^usage: repnetd" "$T/out" || fail "$o: no usage on standard output"
	[ ! -s "$T/err" ] || fail "$o wrote to standard error: $(cat "$T/err")"
	grep -q -- "--config" "$T/out" || fail "$o does not name the long options"
done
for o in --version -V; do
	[ "$("$D" $o)" = "repnetd 0.1.0" ] || fail "$o: $("$D" $o 2>&1)"
done
# Long forms of -n, -c and -o.
printf 'core: { instance = "lo1"; };\n' >"$T/a.conf"
[ "$("$D" --check --config "$T/a.conf" --set core.log_level=debug)" = "configuration OK" ] ||
	fail "--check --config --set"
[ "$("$D" --check --config="$T/a.conf" --set=core.log_level=debug)" = "configuration OK" ] ||
	fail "--config=FILE --set=K=V"
if "$D" --check --set core.log_level=loud 2>"$T/err"; then fail "--set with a bad value accepted"; fi
grep -q "core.log_level" "$T/err" || fail "--set error does not name the key"
# A wrong option: usage on standard error, exit 2.
set +e
"$D" --no-such-option >"$T/out" 2>"$T/err"
st=$?
set -e
[ "$st" -eq 2 ] || fail "unknown option exits $st"
grep -q "^usage: repnetd" "$T/err" || fail "unknown option: no usage on standard error"
# The man page names the long options.
for o in config set foreground check verbose version help; do
	grep -q -- "\\\\-\\\\-$o" "$REPNET_SRC/docs/man/repnetd.8" || fail "repnetd.8 does not name --$o"
done
echo "PASS"
