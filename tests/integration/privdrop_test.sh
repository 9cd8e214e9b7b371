#!/bin/sh
# Started as root with core.user = nobody, repnetd runs every role with no
# capability left, and what needs privilege still works through the
# launcher:
#   - every thread of repnetd: uid and gid nobody's, CapInh, CapPrm, CapEff,
#     CapAmb and CapBnd 0, NoNewPrivs 1; the data directory is nobody's;
#   - repnet-launch runs as nobody with exactly CAP_NET_ADMIN, CAP_NET_RAW
#     and CAP_BPF, and started repnet-nfsync (CAP_NET_ADMIN only) and
#     repnet-capture (the three) as its children;
#   - the sync role syncs an imported list into the nftables set of a
#     network namespace made here;
#   - the applier is killed and an element deleted behind repnet's back:
#     the next change starts a new applier through the launcher, and the
#     kernel set is resynchronised, the deleted element back;
#   - a TPACKET_V3 capture path on a veth pair receives NetFlow export;
#   - SIGTERM stops repnetd, the launcher and every helper.
# Needs root (network namespaces, nftables, AF_PACKET, the user switch).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root: the privilege drop, network namespaces, nftables"
for c in ip nft python3 curl ps; do command -v $c >/dev/null || skip "$c is not installed"; done
USER_=nobody
id "$USER_" >/dev/null 2>&1 || skip "there is no user $USER_"
UID_=$(id -u "$USER_")
GID_=$(id -g "$USER_")
R="$REPNET_BUILD/repnet"
D="$REPNET_TEST_DATA/netflow"
# nobody must reach the data directory under $T.
chmod 0755 "$T"

NA="rnpa$$"; NB="rnpb$$"; VA="rnpva$$"; VB="rnpvb$$"
netns_add "$NA" || skip "cannot create network namespaces here"
netns_add "$NB"
ip link add "$VA" netns "$NA" type veth peer name "$VB" netns "$NB"
ip -n "$NA" addr add 192.0.2.1/24 dev "$VA"
ip -n "$NB" addr add 192.0.2.2/24 dev "$VB"
for n in "$NA" "$NB"; do ip -n "$n" link set lo up; done
ip -n "$NA" link set "$VA" up
ip -n "$NB" link set "$VB" up
X="ip netns exec $NB"

# Refusals first, each before anything is started. A core.user that does
# not exist is an error.
"$REPNET_BUILD/repnetd" -f -o core.user=no-such-user-$$ -o core.roles=score \
	-o core.data_dir="$T/x" -o core.http_listen= >"$T/nouser.log" 2>&1 &&
	fail "repnetd started with a core.user that does not exist"
grep -q "core.user: there is no user no-such-user-$$" "$T/nouser.log" || fail "no reason given"
# A data directory the user cannot reach (its parent is 0700 root's).
mkdir -m 0700 "$T/private"
"$REPNET_BUILD/repnetd" -f -o core.user="$USER_" -o core.roles=score \
	-o core.data_dir="$T/private/data" -o core.http_listen= >"$T/private.log" 2>&1 &&
	fail "repnetd started with a data directory $USER_ cannot reach"
grep -q "data_dir $T/private/data is not usable by $USER_" "$T/private.log" ||
	{ cat "$T/private.log" >&2; fail "no reason given for the data directory"; }

# What the data directory holds is given to the user, but never through a
# link: a second name of a file elsewhere stays its owner's, and a symbolic
# link is changed itself, not its target.
mkdir -p "$T/data"
echo outside >"$T/outside"
ln "$T/outside" "$T/data/hardlink"
echo target >"$T/target"
ln -s "$T/target" "$T/data/symlink"
echo mine >"$T/data/old-root-file"

cat >"$T/r.conf" <<CONF
core: { data_dir = "$T/data"; user = "$USER_"; log_level = "info"; };
scoring: { tick = "1s"; lateness = "500ms"; default_never_block = false; };
collector: { flow: { backend = "tpacket"; interface = "$VB"; workers = 1;
                     netflow_listen = "192.0.2.2:2055"; ipfix_listen = ""; sflow_listen = "";
                     exporters = ["192.0.2.1/32"]; }; };
feeds: { sync: { reconcile_interval = "1h"; }; };
CONF
"$REPNET_BUILD/repnetd" -n -c "$T/r.conf" >/dev/null || fail "configuration"
$X "$REPNET_BUILD/repnetd" -f -c "$T/r.conf" >"$T/log" 2>&1 &
DPID=$!
DAEMON_PIDS="$DAEMON_PIDS $DPID"
wait_for "$T/log" "repnetd .* running" 30
grep -q "running as $USER_ (uid $UID_, gid $GID_) with no capability" "$T/log" ||
	{ cat "$T/log" >&2; fail "no drop to $USER_"; }
metric_ns() { $X curl -sf "http://127.0.0.1:9477/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }

# field FILE NAME: the value of "NAME:" in a /proc status file.
field() { sed -n "s/^$2:[[:space:]]*//p" "$1"; }

# Every thread of repnetd.
n=0
for st in /proc/"$DPID"/task/*/status; do
	for k in CapInh CapPrm CapEff CapAmb CapBnd; do
		[ "$(field "$st" $k)" = 0000000000000000 ] || fail "$st: $k is $(field "$st" $k)"
	done
	[ "$(field "$st" NoNewPrivs)" = 1 ] || fail "$st: NoNewPrivs is $(field "$st" NoNewPrivs)"
	[ "$(field "$st" Uid)" = "$(printf '%s\t%s\t%s\t%s' "$UID_" "$UID_" "$UID_" "$UID_")" ] ||
		fail "$st: Uid is $(field "$st" Uid)"
	[ "$(field "$st" Gid)" = "$(printf '%s\t%s\t%s\t%s' "$GID_" "$GID_" "$GID_" "$GID_")" ] ||
		fail "$st: Gid is $(field "$st" Gid)"
	n=$((n + 1))
done
[ "$n" -gt 5 ] || fail "only $n threads checked"
echo "repnetd: $n threads, none with a capability, all as $USER_"
[ "$(metric_ns repnet_privileges_dropped)" = 1 ] || fail "repnet_privileges_dropped"
[ "$(stat -c %u:%g "$T/data")" = "$UID_:$GID_" ] || fail "the data directory is not $USER_'s"
[ -z "$(find "$T/data" ! -user "$USER_" ! -name hardlink)" ] ||
	fail "files in the data directory not $USER_'s: $(find "$T/data" ! -user "$USER_")"
[ "$(stat -c %u "$T/outside")" = 0 ] || fail "a file outside was given away through a hard link"
[ "$(stat -c %u "$T/target")" = 0 ] || fail "a file outside was given away through a symbolic link"
[ "$(stat -c %u "$T/data/symlink")" = "$UID_" ] || fail "the symbolic link itself is not $USER_'s"
grep -q "data directory: $T/data/hardlink has 2 names; left to its owner" "$T/log" ||
	fail "no warning for the hard link"

# The launcher and its helpers.
LPID=$(sed -n 's/.*privileged helpers through .*, pid \([0-9]*\).*/\1/p' "$T/log")
[ -n "$LPID" ] || fail "no launcher pid in the log"
[ "$(ps -o ppid= -p "$LPID" | tr -d ' ')" = "$DPID" ] || fail "the launcher is not repnetd's child"
child() { ps -o pid=,comm= --ppid "$LPID" | awk -v c="$1" '$2 == c { print $1 }'; }
caps_of() { # PID WANT-CapEff: uid nobody, exactly these capabilities, no_new_privs
	s=/proc/$1/status
	[ "$(field "$s" Uid | cut -f1-3)" = "$(printf '%s\t%s\t%s' "$UID_" "$UID_" "$UID_")" ] ||
		fail "pid $1 ($(cat /proc/"$1"/comm)): Uid $(field "$s" Uid)"
	for k in CapPrm CapEff; do
		[ "$(field "$s" $k)" = "$2" ] || fail "pid $1 ($(cat /proc/"$1"/comm)): $k $(field "$s" $k), want $2"
	done
	[ "$(field "$s" NoNewPrivs)" = 1 ] || fail "pid $1: NoNewPrivs"
}
# CAP_NET_ADMIN 12, CAP_NET_RAW 13, CAP_BPF 39.
caps_of "$LPID" 0000008000003000
[ "$(field /proc/"$LPID"/status CapAmb)" = 0000008000003000 ] || fail "launcher: ambient set"
APID=$(child repnet-nfsync)
[ -n "$APID" ] || fail "no applier under the launcher"
caps_of "$APID" 0000000000001000
CPID=$(child repnet-capture)
[ -n "$CPID" ] || fail "no capture helper under the launcher"
caps_of "$CPID" 0000008000003000

# The sync role: an imported list reaches the kernel set.
printf '198.51.100.1\n198.51.100.2\n203.0.113.7\n' >"$T/list"
$X "$R" import -c "$T/r.conf" --format plain "$T/list" --to tcp://127.0.0.1:7400 >/dev/null 2>"$T/import.err" ||
	{ cat "$T/import.err" >&2; fail "import"; }
in_set() { # ADDR...
	$X nft list set inet repnet v4 >"$T/set" 2>/dev/null || return 1
	for a in "$@"; do grep -q "$a" "$T/set" || return 1; done
}
wait_until 60 in_set 198.51.100.1 198.51.100.2 203.0.113.7 ||
	{ cat "$T/set" "$T/log" >&2; fail "the list did not reach the nftables set"; }
echo "sync: the list is in inet repnet v4"

# The applier dies, and the kernel drifts meanwhile.
kill -KILL "$APID"
$X nft delete element inet repnet v4 '{ 198.51.100.1 }'
in_set 198.51.100.1 && fail "the element was not deleted"
# The next change finds the applier gone: a new one, through the launcher, resyncs.
printf '198.51.100.9\n' >"$T/list2"
$X "$R" import -c "$T/r.conf" --format plain "$T/list2" --to tcp://127.0.0.1:7400 >/dev/null 2>"$T/import.err" ||
	{ cat "$T/import.err" >&2; fail "second import"; }
respawned() {
	a=$(child repnet-nfsync)
	[ -n "$a" ] && [ "$a" != "$APID" ] && in_set 198.51.100.1 198.51.100.9
}
wait_until 60 respawned || { cat "$T/set" "$T/log" >&2; fail "no resync after the applier died"; }
A2=$(child repnet-nfsync)
caps_of "$A2" 0000000000001000
[ "$(metric_ns 'repnet_launcher_spawns_total{helper="nfsync",result="ok"}')" = 2 ] ||
	fail "the launcher did not start the second applier"
[ "$(metric_ns repnet_nfsync_applier_restarts_total)" = 1 ] || fail "applier restarts"
grep -q "applier restarted (pid $A2)" "$T/log" || fail "no log line for the restart"
echo "sync: applier $APID killed, $A2 started through the launcher, the set resynchronised"

# TPACKET_V3: NetFlow export over the veth reaches the decoder.
ip netns exec "$NA" python3 "$D/pcap_udp_replay.py" "$D/export-softflowd-v9.pcap" \
	192.0.2.2 2055 1 >/dev/null
records() { $X curl -sf "http://127.0.0.1:9477/metrics" |
	awk '$1 ~ /^repnet_flow_records_total/ { n += $2 } END { print n + 0 }'; }
got_records() { [ "$(records)" -gt 0 ]; }
wait_until 30 got_records || fail "no flow record through the TPACKET capture"
grep -q "TPACKET_V3 capture on $VB" "$T/log" || fail "no TPACKET capture logged"
echo "capture: $(records) flow records through TPACKET_V3"

# repnet status shows the state.
$X "$R" status --http 127.0.0.1:9477 >"$T/status" || fail "repnet status"
grep -q "privileges: running as $USER_ (uid $UID_, gid $GID_), no capability" "$T/status" ||
	{ cat "$T/status" >&2; fail "status: privileges"; }
grep -q "launcher pid $LPID, up; 3 helpers started, 0 failed" "$T/status" ||
	{ cat "$T/status" >&2; fail "status: launcher"; }

# SIGTERM: repnetd stops its helpers and the launcher, then exits 0.
kill -TERM "$DPID"
wait_exit "$DPID" 30
[ "$EXIT_STATUS" = 0 ] || { cat "$T/log" >&2; fail "repnetd exit status $EXIT_STATUS"; }
for p in "$LPID" "$A2" "$CPID"; do
	gone() { ! kill -0 "$p" 2>/dev/null; }
	wait_until 10 gone || fail "pid $p outlived repnetd"
done
echo PASS
