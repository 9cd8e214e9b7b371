#!/bin/sh
# The fast paths in a network namespace: a veth pair between two
# namespaces made (and removed) here; softflowd's v9 export is sent from
# one side to the other, and the collector on the far side receives it
# through recvmmsg, TPACKET_V3 and AF_XDP (generic mode, copy). The three
# must decode the same records. AF_XDP must steer only the flow port: UDP
# to another port still reaches the kernel while it runs. Needs root.
. "$REPNET_SRC/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, AF_PACKET, AF_XDP)"
command -v ip >/dev/null || skip "iproute2 is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
D="$REPNET_TEST_DATA/netflow"
R="$REPNET_BUILD/repnet"
NA="rnfa$$"; NB="rnfb$$"; VA="rnva$$"; VB="rnvb$$"
netns_add "$NA" || skip "cannot create network namespaces here"
netns_add "$NB"
ip link add "$VA" netns "$NA" type veth peer name "$VB" netns "$NB"
ip -n "$NA" addr add 192.0.2.1/24 dev "$VA"
ip -n "$NB" addr add 192.0.2.2/24 dev "$VB"
for n in "$NA" "$NB"; do ip -n "$n" link set lo up; done
ip -n "$NA" link set "$VA" up
ip -n "$NB" link set "$VB" up
# Static neighbours: traffic flows even while XDP takes frames on B.
MB=$(ip -n "$NB" -br link show "$VB" | awk '{print $3}')
MA=$(ip -n "$NA" -br link show "$VA" | awk '{print $3}')
ip -n "$NA" neigh replace 192.0.2.2 lladdr "$MB" dev "$VA" nud permanent
ip -n "$NB" neigh replace 192.0.2.1 lladdr "$MA" dev "$VB" nud permanent

WANT=3467
run_path() { # backend workers
	b=$1
	listen=192.0.2.2:2055
	ip netns exec "$NB" "$R" flows --live --count $WANT --seconds 30 \
		-o collector.flow.backend="$b" -o collector.flow.interface="$VB" \
		-o collector.flow.workers="$2" -o collector.flow.exporters=192.0.2.1/32 \
		-o collector.flow.netflow_listen=$listen -o collector.flow.ipfix_listen= \
		-o collector.flow.sflow_listen= -o "core.data_dir=$T/data-$b" \
		>"$T/$b.out" 2>"$T/$b.err" &
	pid=$!
	DAEMON_PIDS="$DAEMON_PIDS $pid"
	wait_for "$T/$b.err" "receiving" 15
	if [ "$b" = xdp ]; then
		ip netns exec "$NB" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("192.0.2.2", 9999)); s.settimeout(10)
print(s.recv(100).decode())' >"$T/other-port" 2>&1 &
		op=$!
		bound() { [ -n "$(ip netns exec "$NB" ss -Hlun "( sport = :9999 )")" ]; }
		wait_until 30 bound || fail "the receiver on port 9999 did not bind"
		ip netns exec "$NA" python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(20):
    s.sendto(b"not-flow", ("192.0.2.2", 9999)); time.sleep(0.05)'
		wait "$op" || true
		grep -q not-flow "$T/other-port" || fail "XDP took UDP to another port"
	fi
	ip netns exec "$NA" python3 "$D/pcap_udp_replay.py" "$D/export-softflowd-v9.pcap" \
		192.0.2.2 2055 1 >/dev/null
	wait_exit "$pid" 30
	[ "$EXIT_STATUS" = 0 ] || { cat "$T/$b.err" >&2; fail "$b: exit status $EXIT_STATUS"; }
	n=$(wc -l <"$T/$b.out")
	[ "$n" = $WANT ] || { cat "$T/$b.err" >&2; fail "$b: $n records, want $WANT"; }
	# The exporter's port differs between runs; everything else must not.
	sed 's/"exporter":"\([0-9.]*\):[0-9]*"/"exporter":"\1"/' "$T/$b.out" | sort >"$T/$b.sorted"
}

run_path udp 2
run_path tpacket 2
cmp -s "$T/udp.sorted" "$T/tpacket.sorted" || fail "TPACKET_V3 records differ from recvmmsg's"
run_path xdp 1
cmp -s "$T/udp.sorted" "$T/xdp.sorted" || fail "AF_XDP records differ from recvmmsg's"
grep -q '"exporter":"192.0.2.1"' "$T/xdp.sorted" || fail "exporter address"
# The helper detached the XDP program when the collector stopped.
ip -n "$NB" link show "$VB" | grep -q xdp && fail "XDP program left attached"
echo PASS
