#!/bin/sh
# More of scoring.crash_test: SIGKILL the scorer ITER times (default 2000)
# at journal and snapshot crash points and from outside, then check that
# every acknowledged batch is there exactly once. Bounded by ITER; run it
# under nice on a shared machine.
#
#   tests/bench/crash_bench.sh [ITER] [BUILD]
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
export ITER=${1:-2000}
export REPNET_BUILD=${2:-$here/build}
export REPNET_SRC=$here
export REPNET_TEST_DATA=$here/tests/data
start=$(date +%s)
"$here/tests/scoring/crash_test.sh" 2>&1 | grep -v '^Killed$' | grep -v 'Killed  *"'
echo "$ITER runs in $(( $(date +%s) - start )) s"
