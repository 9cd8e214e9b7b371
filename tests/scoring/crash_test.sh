#!/bin/sh
# Kills the scorer with SIGKILL at random points of its journal appends
# and snapshot writes, ITER times (200 by default; tests/bench/crash_bench.sh
# runs more), and checks that every restart recovers and that every batch
# acknowledged before any kill is present exactly once. Half the kills come
# from inside (a crash point reached), half from outside (a random delay).
# SIGKILL stops the process, not the machine: this tests the ordering of
# writes, syncs and renames, and recovery from torn files; it cannot test
# that the disk honours fsync.
. "$(dirname "$0")/../integration/lib.sh"
H="$REPNET_BUILD/tests/scoring_crash_helper"
[ -x "$H" ] || fail "no $H"
ITER=${ITER:-200}
D="$T/state"
: >"$T/acks"
: >"$T/tried"
seed=${SEED:-$$}
rand() { # rand N: a number in [0, N), from an LCG on $seed
	seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
	echo $(( seed % $1 ))
}
inside=0; outside=0; clean=0; in_recovery=0
i=0
while [ $i -lt "$ITER" ]; do
	i=$((i + 1))
	if [ $((i % 4)) = 0 ]; then
		at=$(( 1 + $(rand 60) )); inside=$((inside + 1))
	elif [ $((i % 4)) = 2 ]; then
		at=$(( 1 + $(rand 6) )); inside=$((inside + 1)) # early: journal appends
	else
		at=0; outside=$((outside + 1))
	fi
	"$H" "$D" "$T/acks" "$T/tried" "$at" 30 >"$T/out" 2>"$T/err" &
	pid=$!
	if [ "$at" = 0 ]; then
		# Up to ~0.3 s: long enough to be in the middle of appends and snapshots.
		sleep "0.$(printf %03d "$(rand 300)")"
		kill -KILL $pid 2>/dev/null || true
	fi
	set +e
	wait $pid
	st=$?
	set -e
	sed -n 's/^KILL //p' "$T/err" >>"$T/points"
	case $st in
	0) clean=$((clean + 1)) ;;
	137) ;;
	*) cat "$T/err" >&2; fail "iteration $i: helper exited $st" ;;
	esac
	if ! grep -q '^VERIFIED' "$T/out"; then
		# Killed while it was still recovering: the next run must cope with that too.
		[ $st = 137 ] || { cat "$T/err" >&2; fail "iteration $i: no recovery"; }
		in_recovery=$((in_recovery + 1))
	fi
	sed -n 's/^ACK //p' "$T/out" >>"$T/acks"
	last_try=$(sed -n 's/^TRY //p' "$T/out" | tail -n 1)
	last_ack=$(sed -n 's/^ACK //p' "$T/out" | tail -n 1)
	if [ -n "$last_try" ] && [ "$last_try" != "$last_ack" ]; then
		echo "$last_try" >"$T/tried"
	else
		: >"$T/tried"
	fi
done
echo "kills by crash point:"
sort "$T/points" 2>/dev/null | uniq -c
# A last, uninterrupted run verifies everything acknowledged.
"$H" "$D" "$T/acks" "$T/tried" 0 1 >"$T/out" 2>"$T/err" || { cat "$T/err" >&2; fail "final verification"; }
n=$(sed -n 's/^VERIFIED //p' "$T/out")
acks=$(sort -un "$T/acks" | wc -l)
[ "$n" -ge "$acks" ] || fail "verified $n of $acks"
echo "PASS: $ITER runs: $inside killed at crash points, $outside from outside ($in_recovery of all kills landed during recovery, $clean runs finished first); $n acknowledged batches all present exactly once"
