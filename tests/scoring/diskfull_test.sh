#!/bin/sh
# The scorer's disk fills and empties again, and it recovers by itself:
# its data directory is a small tmpfs in a mount namespace of this test's
# own. A collector (another repnetd) follows a log and sends every line's
# observation to it.
#   - before: every observation is acknowledged;
#   - the tmpfs is filled: journal writes fail and the batches are refused
#     (the collector retries them), snapshots fail and are retried with
#     back-off; both show in the metrics and in repnet status;
#   - the space is freed: without a restart, the refused batches are
#     acknowledged, snapshots succeed again, the states clear;
#   - after a restart every observation acknowledged is in the state
#     exactly once.
# Needs root (a mount namespace and a tmpfs).
if [ "${REPNET_IN_MNTNS:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (a tmpfs in a private mount namespace)"; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP: unshare (util-linux) is not installed"; exit 77; }
	unshare -m --propagation private true 2>/dev/null ||
		{ echo "SKIP: cannot make a mount namespace here"; exit 77; }
	REPNET_IN_MNTNS=1 exec unshare -m --propagation private "$0" "$@"
fi
. "$(dirname "$0")/../integration/lib.sh"
for c in curl python3 dd; do command -v $c >/dev/null || skip "$c is not installed"; done
R="$REPNET_BUILD/repnet"
M="$T/mnt"
# The collector signs its batches; the scorer trusts its key.
"$R" keygen -o "$T/col" >/dev/null || fail "keygen"
CKEY=$(cut -d' ' -f2 "$T/col.pub")
mkdir -p "$M"
mount -t tmpfs -o size=1m,mode=0755 repnet-diskfull "$M" || skip "cannot mount a tmpfs"
trap 'for p in $DAEMON_PIDS; do kill -KILL "$p" 2>/dev/null || true; done; umount "$M" 2>/dev/null; rm -rf "$T"' EXIT

cat >"$T/s.conf" <<CONF
core: { instance = "s"; data_dir = "$M/data"; http_listen = "127.0.0.1:0"; roles = ["score"];
        log_level = "info"; user = ""; };
scoring: { tick = "1s"; lateness = "500ms"; default_never_block = false; snapshot_interval = "1s"; };
feeds: { bus: { ingest_listen = "tcp://127.0.0.1:0";
                collectors = ( { name = "c"; key = "$CKEY"; } ); }; };
CONF
start_scorer() {
	start_daemon "$T/s.log" -c "$T/s.conf"
	SPID=$DPID
	SP=$(http_port "$T/s.log")
	wait_for "$T/s.log" "score: accepting observations on" 20
	SI=$(sed -n 's/.*score: accepting observations on .*(port \([0-9]*\)).*/\1/p' "$T/s.log" | tail -n 1)
}
start_scorer
L="$T/mail.log"
: >"$L"
cat >"$T/c.conf" <<CONF
core: { instance = "c"; data_dir = "$T/cdata"; http_listen = "127.0.0.1:0"; roles = ["collect"];
        user = ""; };
collector: { syslog: { udp_listen = ""; tcp_listen = ""; };
             flow: { netflow_listen = ""; ipfix_listen = ""; sflow_listen = ""; };
             tail: { paths = ["$L"]; poll_interval = "100ms"; }; };
feeds: { bus: { ingest_url = "tcp://127.0.0.1:$SI"; ingest_batch = 10; ingest_flush = "50ms";
                collector_key = "$T/col.key"; }; };
CONF
start_daemon "$T/c.log" -c "$T/c.conf"
CPID=$DPID
CP=$(http_port "$T/c.log")
wait_for "$T/c.log" "repnetd .* running" 20

# lines FROM TO: SASL failures from 10.9.x.y, one per address, stamped now.
lines() {
	now=$(date '+%b %e %H:%M:%S')
	i=$1
	while [ "$i" -le "$2" ]; do
		echo "$now mx postfix/smtpd[7]: warning: unknown[10.9.$((i / 256)).$((i % 256))]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=u$i"
		i=$((i + 1))
	done >>"$L"
}
sent() { metric "$CP" 'repnet_collector_observations_total{origin="smtp"}'; }
acked() { metric "$CP" repnet_collector_observations_acked_total; }
all_acked() { s=$(sent); [ "${s:-0}" -ge "$1" ] && [ "$(acked)" = "$s" ]; }
metric_ge() { v=$(metric "$1" "$2"); [ "${v:-0}" -ge "$3" ]; }
metric_eq() { v=$(metric "$1" "$2"); [ "${v:-0}" = "$3" ]; }

# Before: every observation acknowledged, snapshots written.
lines 1 100
wait_until 60 all_acked 100 || fail "before: $(acked) of $(sent) acknowledged"
wait_until 30 metric_ge "$SP" 'repnet_scoring_snapshots_total{result="ok"}' 1 || fail "no snapshot"

# The disk fills up.
dd if=/dev/zero of="$M/fill" bs=4k >/dev/null 2>&1 || true
[ "$(df --output=avail "$M" | tail -n 1 | tr -d ' ')" = 0 ] || fail "the tmpfs is not full"
lines 101 300
wait_until 60 metric_eq "$SP" repnet_scoring_journal_state 1 || fail "the journal did not refuse"
wait_until 60 metric_ge "$SP" repnet_scoring_snapshot_failures 2 || fail "no snapshot failures"
wait_until 60 metric_ge "$CP" repnet_collector_batch_retries_total 1 || fail "the collector did not retry"
[ "$(acked)" -lt 300 ] || fail "every observation acknowledged on a full disk"
"$R" status --http "127.0.0.1:$SP" >"$T/status" || fail "repnet status"
grep -q "journal REFUSING until a write succeeds (No space left on device)" "$T/status" ||
	{ cat "$T/status" >&2; fail "status: journal"; }
grep -q "snapshots FAILING: [0-9]* in a row (No space left on device)" "$T/status" ||
	{ cat "$T/status" >&2; fail "status: snapshots"; }
grep -q "journal write failed: No space left on device; refusing batches" "$T/s.log" ||
	fail "no log line for the refused write"
grep -q "snapshot failed: No space left on device; retrying with back-off" "$T/s.log" ||
	fail "no log line for the failed snapshot"
echo "full: $(acked) of $(sent) acknowledged, $(metric "$SP" repnet_scoring_snapshot_failures) snapshots failed in a row"

# Space again: the same scorer takes everything and snapshots again.
ok_before=$(metric "$SP" 'repnet_scoring_snapshots_total{result="ok"}')
rm -f "$M/fill"
wait_until 120 all_acked 300 || fail "after: $(acked) of $(sent) acknowledged"
wait_until 120 metric_eq "$SP" repnet_scoring_snapshot_failures 0 || fail "snapshots still fail"
metric_eq "$SP" repnet_scoring_journal_state 0 || fail "the journal still refuses"
[ "$(metric "$SP" 'repnet_scoring_snapshots_total{result="ok"}')" -gt "$ok_before" ] ||
	fail "no snapshot after the space came back"
kill -0 "$SPID" || fail "the scorer is gone"
grep -q "scoring: journal writes work again" "$T/s.log" || fail "no log line for the recovery"
"$R" status --http "127.0.0.1:$SP" >"$T/status" || fail "repnet status"
grep -q "REFUSING\|FAILING" "$T/status" && { cat "$T/status" >&2; fail "status still shows a failure"; }
echo "recovered: $(acked) of $(sent) acknowledged, no restart"

# Stop both; the restarted scorer holds every observation exactly once.
kill -TERM "$CPID"
wait_exit "$CPID" 30
[ "$EXIT_STATUS" = 0 ] || fail "collector exit status $EXIT_STATUS"
kill -TERM "$SPID"
wait_exit "$SPID" 30
[ "$EXIT_STATUS" = 0 ] || fail "scorer exit status $EXIT_STATUS"
python3 - "$R" "$T/s.conf" "$M/data" <<'PY' || fail "an acknowledged observation is missing or counted twice"
import json, subprocess, sys
repnet, conf, data = sys.argv[1:4]
bad = []
for i in range(1, 301):
    ip = "10.9.%d.%d" % (i // 256, i % 256)
    out = subprocess.run([repnet, "explain", "-c", conf, "--data-dir", data, "--json", ip],
                         check=True, capture_output=True, text=True).stdout
    x = json.loads(out)
    n = x.get("held", 0) + sum(c["count"] for c in x.get("contributions", [])
                               if c.get("kind") == "sasl_fail")
    if n != 1:
        bad.append("%s: %d" % (ip, n))
if bad:
    print("\n".join(bad[:20]), file=sys.stderr)
    sys.exit(1)
print("restart: 300 of 300 observations present, once each")
PY
echo PASS
