#!/bin/sh
# latency_bench.sh: from a Postfix log line to the block, as an operator
# meets it (not a test: figures only; run it on a quiet machine).
#
#   tests/bench/latency_bench.sh [TRIALS=200] [BUILD=build]
#
# One repnetd with every role on its defaults (but for escalation, off so
# that every trial's address is decided alone, and the test ranges allowed
# to list), in a network namespace of its own so that the nftables sets
# are its own. Each trial writes one PREGREET line (5 points: lists alone)
# for a fresh address, alternately appended to a followed file and sent
# over syslog (UDP), and measures from the write to:
#   - the DNSBL answer (A queries on 127.0.0.1:5300, one every 0.5 ms);
#   - the nftables element (nft get element, one every 5 ms: its own
#     process start, a few ms, is the resolution).
# It prints p50, p99 and the worst over the trials, per source and in all.
# Each listed address is then delisted with `repnet delist` (the command's
# own start included), timed to the DNSBL's NXDOMAIN and the element's
# removal.
# Then, in the same run, the peer: Debian's fail2ban with its stock postfix
# filter (mode aggressive, which holds postscreen's PREGREET; maxretry 1)
# on the same lines, from the write to its ban action
# (tests/bench/f2b_latency.py), when fail2ban is installed
# (scripts/bootstrap.sh --bench).
# Needs root, ip, nft and python3.
set -eu
TRIALS=${1:-200}
B=$(cd "${2:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "latency_bench: needs root (a network namespace and nftables)" >&2; exit 77; }
for c in ip nft python3; do command -v $c >/dev/null || { echo "latency_bench: $c is missing" >&2; exit 77; }; done
T=$(mktemp -d /tmp/repnet-latency.XXXXXX)
NS="rnlat$$"
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	[ -n "${KEEP:-}" ] && cp "$T/log" "$KEEP"
	rm -rf "$T"
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP PIPE
ip netns add "$NS"
ip -n "$NS" link set lo up
chmod 0755 "$T"
: >"$T/mail.log"
chmod 0644 "$T/mail.log"
ip netns exec "$NS" "$B/repnetd" -f -o core.data_dir="$T/data" \
	-o scoring.default_never_block=false -o scoring.escalate.ipv4=0 \
	-o collector.tail.paths="$T/mail.log" >"$T/log" 2>&1 &
PID=$!
i=0
until grep -q "repnetd .* running" "$T/log"; do
	i=$((i + 1))
	[ $i -lt 200 ] || { cat "$T/log" >&2; echo "latency_bench: repnetd did not start" >&2; exit 1; }
	sleep 0.1
done
TABLE=$("$B/repnet" config | sed -n 's/^| `feeds.sync.table` | [^|]* | `\([^`]*\)`.*/\1/p')
ip netns exec "$NS" python3 "$SRC/tests/bench/latency_probe.py" "$TRIALS" "$T/mail.log" \
	"${TABLE:-inet repnet}" 127.0.0.1:5514 "same host" --delist "$B/repnet" "$T/data"
kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
PID=
if command -v fail2ban-server >/dev/null; then
	python3 "$SRC/tests/bench/f2b_latency.py" "$T/f2b" --trials "$TRIALS" --kind pregreet ||
		echo "latency_bench: the fail2ban run failed" >&2
else
	echo "# fail2ban is not installed (scripts/bootstrap.sh --bench): no peer figure"
fi
