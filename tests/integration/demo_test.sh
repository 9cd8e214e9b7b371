#!/bin/sh
# repnet demo, as a newcomer runs it from a build tree, output to a file:
# with --keep-running the summary is in the file while the daemon still
# runs; "and N more" agrees with what was printed; the suggested commands
# run as printed (the build's repnet by its absolute path, explain with
# the demo's configuration) and explain agrees with the dig above it;
# --resume brings the last run's state back without a replay. In a
# network namespace of its own: the demo uses the default ports.
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "needs root (a network namespace for the default ports)"
command -v dig >/dev/null 2>&1 || skip "dig is not installed (dnsutils)"
NS="rndemo$$"
netns_add "$NS" || fail "ip netns add"
ip netns exec "$NS" ip link set lo up
X="ip netns exec $NS"
R="$REPNET_BUILD/repnet"
# The build tree is not on PATH, as for a newcomer.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH

$X "$R" demo --speed 0 --keep-running -o core.data_dir="$T/data" >"$T/demo.out" 2>"$T/demo.err" &
DEMO=$!
DAEMON_PIDS="$DAEMON_PIDS $DEMO"
wait_for "$T/demo.out" "keeps running (--keep-running)" 120
kill -0 "$DEMO" || fail "the demo ended"
grep -q "^=== summary ===" "$T/demo.out" || fail "no summary while the demo runs"

# "... and N more listed (M in all": M is every listing, N those not printed.
shown=$(grep -c "^  listed  " "$T/demo.out")
more=$(sed -n 's/.*\.\.\. and \([0-9]*\) more listed (\([0-9]*\) in all.*/\1 \2/p' "$T/demo.out")
if [ -n "$more" ]; then
	set -- $more
	[ "$shown" -eq 40 ] || fail "$shown listings printed before the 'more' line, want 40"
	[ $((shown + $1)) -eq "$2" ] || fail "printed $shown + $1 more != $2 in all"
	[ "$2" -ge 40 ] || fail "more line with $2 in all"
else
	[ "$shown" -le 40 ] || fail "$shown listings printed, no 'more' line"
fi

# The dig above: the address it asked about is listed.
q=$(sed -n 's/^\$ dig @[^ ]* -p [0-9]* \([0-9.]*\)\.[a-z.]* ANY.*/\1/p' "$T/demo.out")
[ -n "$q" ] || fail "no dig line"
ip=$(echo "$q" | awk -F. '{ print $4 "." $3 "." $2 "." $1 }')
grep -A2 '^\$ dig' "$T/demo.out" | grep -q "IN[[:space:]]*A[[:space:]]*127\.0\.0\." || fail "dig: not listed"

# The suggested commands, as printed.
ex=$(grep "^  .*repnet explain " "$T/demo.out" | sed 's/^  //')
st=$(grep "^  .*repnet status " "$T/demo.out" | sed 's/^  //')
case "$ex" in "$R explain -c "*) ;; *) fail "explain line: $ex (want the build's repnet by path, and -c)" ;; esac
echo "$ex" | grep -q " $ip\$" || fail "explain does not name the address dig asked about ($ip): $ex"
$X sh -c "$ex" >"$T/explain" 2>&1 || { cat "$T/explain"; fail "the suggested explain failed"; }
head -n 1 "$T/explain" | grep -q "^$ip: LISTED" || { cat "$T/explain"; fail "explain disagrees with dig"; }
$X sh -c "$st" >"$T/status" 2>&1 || { cat "$T/status"; fail "the suggested status failed"; }
grep -q "roles collect score publish serve" "$T/status" || fail "status: $(head -n 1 "$T/status")"

kill -INT "$DEMO"
wait_exit "$DEMO" 60
[ "$EXIT_STATUS" -eq 0 ] || fail "demo exit status $EXIT_STATUS"
grep -q "repnetd stopped (exit status 0)" "$T/demo.out" || fail "repnetd did not stop cleanly"
entries=$(sed -n 's/^  entries  *\([0-9]*\)$/\1/p' "$T/demo.out")

# --resume: the same state, nothing replayed.
$X "$R" demo --resume -o core.data_dir="$T/data" >"$T/resume.out" 2>&1 || { cat "$T/resume.out"; fail "--resume"; }
grep -q "nothing is replayed" "$T/resume.out" || fail "--resume replayed"
! grep -q "^\[replay\]" "$T/resume.out" || fail "--resume sent traffic"
r_entries=$(sed -n 's/^  entries  *\([0-9]*\)$/\1/p' "$T/resume.out")
[ "${r_entries:-0}" -ge "${entries:-1}" ] && [ "${r_entries:-0}" -gt 0 ] ||
	fail "--resume: $r_entries entries, the run before had $entries"
if $X "$R" demo --resume -o core.data_dir="$T/none" >/dev/null 2>"$T/err"; then fail "--resume with nothing to resume"; fi
grep -q "no earlier demo" "$T/err" || fail "--resume error: $(cat "$T/err")"
echo "PASS ($shown listings printed, $entries entries; resumed with $r_entries)"
