# lib.sh: helpers for the shell tests. Source it; it sets up $T, a
# temporary directory removed on exit, and kills what start_daemon started.
set -eu
: "${REPNET_BUILD:?}" "${REPNET_SRC:?}"
T=$(mktemp -d /tmp/repnet-test.XXXXXX)
DAEMON_PIDS=""
NETNS=""
cleanup() {
	for p in $DAEMON_PIDS; do kill -KILL "$p" 2>/dev/null || true; done
	for n in $NETNS; do
		# Whatever still runs inside goes with the namespace.
		pids=$(ip netns pids "$n" 2>/dev/null || true)
		# shellcheck disable=SC2086
		[ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
		ip netns del "$n" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

# fail MESSAGE: ends the test; the last lines of every daemon log under $T
# go to stderr with it, so a failure in CI says what the daemons said.
fail() {
	for _l in "$T"/*.log; do
		[ -f "$_l" ] || continue
		echo "--- last lines of $_l" >&2
		tail -n 15 "$_l" >&2 || true
	done
	echo "FAIL: $*" >&2
	exit 1
}

# netns_add NAME: creates a network namespace that cleanup deletes, after
# killing every process left inside it. Fails as `ip netns add` does.
netns_add() {
	ip netns add "$1" || return 1
	NETNS="$NETNS $1"
}
skip() { echo "SKIP: $*"; exit 77; }

# wait_for FILE PATTERN [SECONDS]: until grep finds PATTERN in FILE (at
# most SECONDS, 60 by default: a bound for a stuck test, not a deadline a
# loaded machine must meet).
wait_for() {
	i=0; lim=$(( ${3:-60} * 10 ))
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1)); [ $i -le $lim ] || { cat "$1" >&2 || true; fail "timeout waiting for '$2' in $1"; }
		sleep 0.1
	done
}

# wait_until SECONDS COMMAND...: until COMMAND succeeds; returns 1 when it
# still fails after SECONDS.
wait_until() {
	lim=$(( $1 * 10 )); shift
	i=0
	until "$@"; do
		i=$((i + 1)); [ $i -le $lim ] || return 1
		sleep 0.1
	done
}

# metric_is PORT NAME VALUE: the sample NAME equals VALUE (missing is 0).
metric_is() {
	v=$(metric "$1" "$2")
	[ "${v:-0}" = "$3" ]
}

# start_daemon LOG ARGS...: runs repnetd -f in the background; sets DPID.
start_daemon() {
	log=$1; shift
	"$REPNET_BUILD/repnetd" -f "$@" >"$log" 2>&1 &
	DPID=$!
	DAEMON_PIDS="$DAEMON_PIDS $DPID"
}

# http_port LOG: the port the daemon's HTTP listener bound, once its roles run.
http_port() {
	wait_for "$1" "serving /metrics"
	# The listener comes up before the roles; a test asks what they serve.
	wait_for "$1" "repnetd .* running"
	sed -n 's/.*serving \/metrics on .*(port \([0-9]*\)).*/\1/p' "$1" | head -n 1
}

# metric PORT NAME_AND_LABELS: prints the value of one sample.
metric() {
	curl -sf "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k { print $2 }'
}

# policy_ask PORT IP: the first line of the Postfix policy service's answer
# on 127.0.0.1:PORT for a client at IP, at the RCPT stage.
policy_ask() {
	python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n\n"
           % sys.argv[2]).encode())
a = b""
while not a.endswith(b"\n\n"):
    d = s.recv(4096)
    if not d:
        break
    a += d
print(a.decode().split("\n")[0])
PY
}

# wait_exit PID SECONDS: waits for our child PID to exit, killing it after
# SECONDS; sets EXIT_STATUS (137 when it had to be killed).
wait_exit() {
	( i=0
	  while [ $i -lt $(($2 * 10)) ]; do
		kill -0 "$1" 2>/dev/null || exit 0
		sleep 0.1; i=$((i + 1))
	  done
	  kill -KILL "$1" ) >/dev/null 2>&1 &
	wd=$!
	set +e
	wait "$1"
	EXIT_STATUS=$?
	set -e
	kill "$wd" 2>/dev/null || true
	wait "$wd" 2>/dev/null || true
}
