#!/bin/sh
# The mirror-port meter live: traffic.pcap's frames are written raw onto
# one end of a veth pair (network namespaces made and removed here); the
# collector captures the other end through TPACKET_V3 (from the privileged
# helper) and meters it. The detectors must find the SYN scan, the SSH
# brute force (verified handshakes) and the amplification victim, as they
# do offline. Needs root.
. "$REPNET_SRC/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, AF_PACKET)"
command -v ip >/dev/null || skip "iproute2 is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
D="$REPNET_TEST_DATA/netflow"
R="$REPNET_BUILD/repnet"
NA="rnma$$"; NB="rnmb$$"; VA="rnwa$$"; VB="rnwb$$"
netns_add "$NA" || skip "cannot create network namespaces here"
netns_add "$NB"
ip link add "$VA" netns "$NA" type veth peer name "$VB" netns "$NB"
ip -n "$NA" link set "$VA" up
ip -n "$NB" link set "$VB" up

for b in tpacket xdp; do
	ip netns exec "$NB" "$R" flows --live --detect --seconds 20 \
		-o collector.flow.netflow_listen= -o collector.flow.ipfix_listen= \
		-o collector.flow.sflow_listen= -o collector.flow.mirror_interface="$VB" \
		-o collector.flow.mirror_backend=$b -o "core.data_dir=$T/data-$b" \
		-o collector.flow.detect.pair_window=1s \
		>"$T/$b.out" 2>"$T/$b.err" &
	pid=$!
	DAEMON_PIDS="$DAEMON_PIDS $pid"
	wait_for "$T/$b.err" "receiving" 15
	ip netns exec "$NA" python3 - "$D/traffic.pcap" "$VA" <<'PY'
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[2], 0))
with open(sys.argv[1], 'rb') as f:
    f.read(24)
    i = 0
    while True:
        h = f.read(16)
        if len(h) < 16:
            break
        n = struct.unpack('<IIII', h)[2]
        s.send(f.read(n))
        i += 1
        if i % 32 == 0:
            time.sleep(0.001)  # a burst bigger than the rings would be dropped (and counted)
PY
	# Bounded: the detectors report as the frames arrive.
	i=0
	until grep -q '"kind":"amplification_victim"' "$T/$b.out"; do
		i=$((i + 1)); [ $i -le 150 ] || { cat "$T/$b.err" >&2; fail "$b: no findings"; }
		sleep 0.1
	done
	kill -TERM "$pid" 2>/dev/null || true
	wait_exit "$pid" 15
	[ "$EXIT_STATUS" = 0 ] || fail "$b: exit status $EXIT_STATUS"
	grep -q '"ip":"203.0.113.66","kind":"scan_vertical"' "$T/$b.out" || fail "$b: no scan"
	grep -q '"ip":"203.0.113.77","kind":"auth_bruteforce"' "$T/$b.out" || fail "$b: no brute force"
	grep -q '"ip":"198.51.100.10","kind":"amplification_victim"' "$T/$b.out" || fail "$b: no victim"
	if grep '"observation"' "$T/$b.out" | grep '"ip":"203.0.113.200"' | grep -vq 'udp_oneway'; then
		fail "$b: the one-way flood source got a listing kind"
	fi
	grep -q '"handshake":true' "$T/$b.out" || fail "$b: no verified handshake records"
done
echo PASS
