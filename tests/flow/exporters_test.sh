#!/bin/sh
# Issue 14, forged flows: two NetFlow v5 datagrams of 25 completed-looking
# TCP conversations to port 25 used to get any address listed as
# spam_source. Here they come from a non-loopback address in a network
# namespace made (and removed) here, to repnetd's collect and score roles
# listening on the far side of a veth pair, whose collector.flow.exporters
# does not hold that address: nothing is decoded, observed or listed, and
# the datagrams are counted as refused and logged with their source. The
# same export from an address in the list is observed and listed, so the
# test can fail. The check holds on every capture path: TPACKET_V3 and
# AF_XDP (the source is the frame's) refuse and accept the same way. A
# flow listener bound off loopback with no list refuses to start, naming
# the key. Needs root, except the first check: repnet flows FILE decodes a
# capture whole unless a list is given, and then applies it.
. "$REPNET_SRC/tests/integration/lib.sh"

# ---- offline (no root needed): a capture is decoded whole unless a list is given
V5="$REPNET_TEST_DATA/netflow/export-softflowd-v5.pcap"
summary() { "$REPNET_BUILD/repnet" flows --summary "$@" "$V5"; }
summary | grep -q '"flows":3345,.*"refused":0,' || fail "offline, no list: $(summary)"
summary -o collector.flow.exporters=192.0.2.0/24 | grep -q '"datagrams":0,"flows":0,.*"refused":113,' ||
	fail "offline, a list without the exporter: $(summary -o collector.flow.exporters=192.0.2.0/24)"
summary -o collector.flow.exporters=127.0.0.0/8 | grep -q '"flows":3345,.*"refused":0,' ||
	fail "offline, a list with the exporter"

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, AF_PACKET, AF_XDP)"
for c in ip python3 curl; do command -v $c >/dev/null || skip "$c is not installed"; done
F="$REPNET_SRC/tests/flow/forge.py"
NA="rnxa$$"; NB="rnxb$$"; VA="rnya$$"; VB="rnyb$$"
netns_add "$NA" || skip "cannot create network namespaces here"
netns_add "$NB"
ip link add "$VA" netns "$NA" type veth peer name "$VB" netns "$NB"
ip -n "$NA" addr add 192.0.2.1/24 dev "$VA"   # the forger
ip -n "$NA" addr add 192.0.2.3/24 dev "$VA"   # the exporter in the list
ip -n "$NB" addr add 192.0.2.2/24 dev "$VB"   # the collector
for n in "$NA" "$NB"; do ip -n "$n" link set lo up; done
ip -n "$NA" link set "$VA" up
ip -n "$NB" link set "$VB" up
# Static neighbours: traffic flows even while XDP takes frames on B.
MB=$(ip -n "$NB" -br link show "$VB" | awk '{print $3}')
MA=$(ip -n "$NA" -br link show "$VA" | awk '{print $3}')
ip -n "$NA" neigh replace 192.0.2.2 lladdr "$MB" dev "$VA" nud permanent
ip -n "$NB" neigh replace 192.0.2.1 lladdr "$MA" dev "$VB" nud permanent
ip -n "$NB" neigh replace 192.0.2.3 lladdr "$MA" dev "$VB" nud permanent
A="ip netns exec $NA"
B="ip netns exec $NB"

# m NAME: a sample of the daemon's metrics (its HTTP listener is in B).
m() { $B curl -sf "http://127.0.0.1:$HP/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
m_is() { v=$(m "$1"); [ "${v:-0}" = "$2" ]; }
m_ge() { v=$(m "$1"); [ "${v:-0}" -ge "$2" ]; }

start() { # NAME ARGS...: repnetd in B
	name=$1; shift
	$B "$REPNET_BUILD/repnetd" -f -o "core.data_dir=$T/data-$name" -o core.http_listen=127.0.0.1:0 \
		-o collector.flow.ipfix_listen= -o collector.flow.sflow_listen= \
		-o collector.syslog.udp_listen= -o collector.syslog.tcp_listen= -o core.log_level=info "$@" \
		>"$T/$name.log" 2>&1 &
	DPID=$!
	DAEMON_PIDS="$DAEMON_PIDS $DPID"
}
stop() {
	kill -TERM "$DPID"
	wait_exit "$DPID" 30
	[ "$EXIT_STATUS" = 0 ] || { cat "$T/$1.log" >&2; fail "$1: exit status $EXIT_STATUS"; }
}

# ---- a listener off loopback with no list refuses to start -------------------
if "$REPNET_BUILD/repnetd" -n -o collector.flow.netflow_listen=192.0.2.2:2055 >"$T/n.out" 2>&1; then
	fail "repnetd -n passed a flow listener off loopback with no exporters"
fi
grep -q "collector.flow.exporters" "$T/n.out" || { cat "$T/n.out" >&2; fail "-n does not name the key"; }
start nolist -o core.roles=collect -o collector.flow.netflow_listen=192.0.2.2:2055
wait_exit "$DPID" 30
[ "$EXIT_STATUS" != 0 ] || fail "repnetd started a flow listener off loopback with no exporters"
grep -q "collector.flow.exporters" "$T/nolist.log" || { cat "$T/nolist.log" >&2; fail "the refusal does not name the key"; }
! $B ss -Hlun | grep -q ':2055 ' || fail "the refused listener was bound"

# ---- UDP, with the scorer: forged export refused, listed export listed -------
start udp -o core.roles=collect,score -o collector.flow.netflow_listen=192.0.2.2:2055 \
	-o collector.flow.exporters=192.0.2.3/32 -o scoring.default_never_block=false \
	-o scoring.tick=1s -o scoring.lateness=0
HP=$(http_port "$T/udp.log")
wait_for "$T/udp.log" "listening on udp 192.0.2.2:2055"
$A python3 "$F" spray 192.0.2.1 192.0.2.2 2055 198.51.100.7 >/dev/null
wait_until 30 m_is 'repnet_flow_refused_total{worker="0"}' 2 ||
	fail "refused: $(m 'repnet_flow_refused_total{worker="0"}'), want 2"
# Two ticks after the refusal: whatever the forgery could do is done.
t0=$(m repnet_scoring_ticks_total)
wait_until 30 m_ge repnet_scoring_ticks_total $((t0 + 2)) || fail "the scorer does not tick"
m_is 'repnet_collector_observations_total{origin="flow"}' 0 || fail "the forged export made observations"
m_is 'repnet_scoring_listed{family="ipv4"}' 0 || fail "the forged export listed $(m 'repnet_scoring_listed{family="ipv4"}')"
[ -z "$(m 'repnet_flow_records_total{exporter="192.0.2.1"}')" ] || fail "records decoded from the forger"
grep -q "dropped a datagram from 192.0.2.1 port [0-9]*: not in collector.flow.exporters" "$T/udp.log" ||
	fail "the refusal is not logged with its source"
# The same export from the listed exporter: observed, and listed.
$A python3 "$F" spray 192.0.2.3 192.0.2.2 2055 198.51.100.7 >/dev/null
wait_until 30 m_is 'repnet_flow_records_total{exporter="192.0.2.3"}' 50 ||
	fail "records from the exporter: $(m 'repnet_flow_records_total{exporter="192.0.2.3"}')"
wait_until 30 m_is 'repnet_flow_observations_total{kind="smtp_spray"}' 1 || fail "no smtp_spray observation"
wait_until 60 m_is 'repnet_scoring_listed{family="ipv4"}' 1 || fail "the exporter's export was not listed"
m_is 'repnet_flow_refused_total{worker="0"}' 2 || fail "refused changed"
stop udp
echo "ok udp: forged export refused (2 datagrams), listed exporter's export listed"

# ---- TPACKET_V3 and AF_XDP: the frame's source is checked -------------------
for b in tpacket xdp; do
	start "$b" -o core.roles=collect -o collector.flow.backend=$b -o collector.flow.interface="$VB" \
		-o collector.flow.netflow_listen=192.0.2.2:2055 -o collector.flow.exporters=192.0.2.3/32
	HP=$(http_port "$T/$b.log")
	wait_for "$T/$b.log" "capture on $VB"
	$A python3 "$F" spray 192.0.2.1 192.0.2.2 2055 198.51.100.7 >/dev/null
	wait_until 30 m_is 'repnet_flow_refused_total{worker="0"}' 2 ||
		fail "$b: refused $(m 'repnet_flow_refused_total{worker="0"}'), want 2"
	$A python3 "$F" spray 192.0.2.3 192.0.2.2 2055 198.51.100.7 >/dev/null
	wait_until 30 m_is 'repnet_flow_records_total{exporter="192.0.2.3"}' 50 ||
		fail "$b: records $(m 'repnet_flow_records_total{exporter="192.0.2.3"}'), want 50"
	[ -z "$(m 'repnet_flow_records_total{exporter="192.0.2.1"}')" ] || fail "$b: records from the forger"
	stop "$b"
	echo "ok $b"
done
echo PASS
