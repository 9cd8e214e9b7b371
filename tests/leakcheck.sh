#!/bin/sh
# leakcheck.sh COMMAND [ARGS...]: runs one test, then fails it when a
# process it started outlives it. CTest runs every test through this.
#
# Every process the test starts inherits REPNET_TEST_TAG, a value unique to
# this run (so tests running in parallel do not see each other's). Once the
# test has exited, a process whose initial environment still carries the
# tag (/proc/PID/environ) is a leak: the check waits up to 10 s for such
# processes to finish dying, then lists what is left, kills it, and fails
# the test whatever its own result. A skipped test (77) that leaks fails
# too. Zombies do not count: their parent has exited and init reaps them.
# As root, a netfilter table the test left in the host's own network
# namespace (tests work in namespaces of their own) fails it the same way.
tables() {
	[ "$(id -u)" = 0 ] && command -v nft >/dev/null 2>&1 && nft list tables 2>/dev/null | sort
}
tables_before=$(mktemp)
tables >"$tables_before"
tag="repnet-$$-$(od -An -N8 -tx8 /dev/urandom | tr -d ' \n')"
REPNET_TEST_TAG=$tag "$@"
rc=$?

survivors() {
	# One grep over every process's environment, NUL-separated.
	for f in $(grep -lzx "REPNET_TEST_TAG=$tag" /proc/[0-9]*/environ 2>/dev/null); do
		pid=${f#/proc/}
		pid=${pid%/environ}
		st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)
		[ -n "$st" ] && [ "$st" != Z ] && echo "$pid"
	done
}

i=0
left=$(survivors)
while [ -n "$left" ] && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
	left=$(survivors)
done
new_tables=$(tables | comm -13 "$tables_before" -)
rm -f "$tables_before"
if [ -n "$new_tables" ]; then
	echo "LEAK: the test left netfilter tables in the host's namespace:" >&2
	echo "$new_tables" | sed 's/^/  /' >&2
	rc=1
fi
if [ -n "$left" ]; then
	echo "LEAK: processes started by this test outlived it:" >&2
	for pid in $left; do
		printf '  %s %s\n' "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" >&2
	done
	# shellcheck disable=SC2086
	kill -KILL $left 2>/dev/null
	exit 1
fi
exit $rc
