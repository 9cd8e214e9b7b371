#!/bin/sh
# repnet: every subcommand has --help; config prints every key.
. "$(dirname "$0")/lib.sh"
R="$REPNET_BUILD/repnet"

"$R" --help | grep -q "^commands:" || fail "repnet --help"
for c in $("$R" --help | awk '/^commands:/ {on=1; next} on && /^  [a-z]/ {print $1}'); do
	"$R" "$c" --help >"$T/h" || fail "repnet $c --help exits non-zero"
	grep -q "^usage: repnet $c" "$T/h" || fail "repnet $c --help has no usage"
done
if "$R" frobnicate 2>/dev/null; then fail "unknown command accepted"; fi
"$R" version | grep -q "^repnet " || fail "version"

# The key table lists every key, and the README lists every key.
"$R" config >"$T/keys.md"
grep -q '^| `core.data_dir` |' "$T/keys.md" || fail "config table"
for k in $(sed -n 's/^| `\([a-z_.]*\)` |.*/\1/p' "$T/keys.md"); do
	grep -q "\`$k\`" "$REPNET_SRC/README.md" || fail "README does not document $k"
done
# The effective configuration loads back.
"$R" config --dump -o core.instance=dumped >"$T/dump.conf"
"$REPNET_BUILD/repnetd" -n -c "$T/dump.conf" >/dev/null || fail "dump does not load"
grep -q 'instance = "dumped"' "$T/dump.conf" || fail "override not in dump"
echo PASS
