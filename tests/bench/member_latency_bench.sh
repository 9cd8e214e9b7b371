#!/bin/sh
# member_latency_bench.sh: from a Postfix log line at one node to the
# block at a member node, across the bus over mutual TLS (not a test:
# figures only; run it on a quiet machine).
#
#   tests/bench/member_latency_bench.sh [TRIALS=200] [BUILD=build]
#
# Two network namespaces joined by a veth pair, as two hosts would be:
#   edge   10.99.0.1: one repnetd with the collect, score and publish roles
#          (the followed file, syslog on 10.99.0.1:5514 from the member's
#          address only), publishing the signed feed on tls+tcp with
#          verify_peer;
#   member 10.99.0.2: one repnetd with the serve and sync roles, subscribed
#          over tls+tcp with its client certificate, checking the
#          publisher's signature; its DNSBL on 127.0.0.1:5300 and its
#          nftables table in its own namespace.
# Certificates come from a CA made here with openssl. Each trial writes one
# PREGREET line for a fresh address, alternately to the edge's followed file
# and over syslog from the member's side of the link, and
# tests/bench/latency_probe.py, run in the member's namespace, times the
# member's DNSBL answer and nftables element; then delists the address at
# the edge with `repnet delist` and times its removal at the member. Needs root, ip, nft, openssl
# and python3.
set -eu
TRIALS=${1:-200}
B=$(cd "${2:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "member_latency_bench: needs root (network namespaces, nftables)" >&2; exit 77; }
for c in ip nft python3 openssl curl; do
	command -v $c >/dev/null || { echo "member_latency_bench: $c is missing" >&2; exit 77; }
done
T=$(mktemp -d /tmp/repnet-mlat.XXXXXX)
NA="rnmla$$"
NB="rnmlb$$"
EPID=
MPID=
cleanup() {
	for p in $MPID $EPID; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
	ip netns del "$NA" 2>/dev/null || true
	ip netns del "$NB" 2>/dev/null || true
	[ -n "${KEEP:-}" ] && cp "$T/edge.log" "$T/member.log" "$KEEP" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap "exit 1" INT TERM HUP PIPE

ip netns add "$NA"
ip netns add "$NB"
ip link add "va$$" netns "$NA" type veth peer name "vb$$" netns "$NB"
ip -n "$NA" addr add 10.99.0.1/24 dev "va$$"
ip -n "$NB" addr add 10.99.0.2/24 dev "vb$$"
for n in "$NA" "$NB"; do
	ip -n "$n" link set lo up
done
ip -n "$NA" link set "va$$" up
ip -n "$NB" link set "vb$$" up

# ---- a CA, the edge's server certificate, the member's client one -------
cd "$T"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
key ca
openssl req -x509 -new -key ca.key -days 2 -subj "/CN=repnet bench CA" -out ca.crt 2>/dev/null
cert() {
	key "$1"
	openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
	printf '%b' "$3" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
		-extfile "$1.ext" -out "$1.crt" 2>/dev/null
}
cert edge edge.example.net 'subjectAltName=DNS:edge.example.net,IP:10.99.0.1\nextendedKeyUsage=serverAuth,clientAuth\n'
cert member member.example.net 'extendedKeyUsage=clientAuth\n'
"$B/repnet" keygen -o "$T/publisher" >/dev/null
PUBKEY=$(cut -d' ' -f2 "$T/publisher.pub")
: >"$T/mail.log"
chmod 0755 "$T"
chmod 0644 "$T/mail.log"

cat >"$T/edge.conf" <<EOF
core: { instance = "edge"; data_dir = "$T/edge-data"; roles = ["collect", "score", "publish"];
        http_listen = "127.0.0.1:0"; };
collector: { tail: { paths = ["$T/mail.log"]; };
             syslog: { udp_listen = "10.99.0.1:5514"; tcp_listen = ""; senders = ["10.99.0.2"]; }; };
scoring: { default_never_block = false; escalate: { ipv4 = 0; }; };
feeds: { bus: { pub_listen = "tls+tcp://10.99.0.1:7401"; resync_listen = "tls+tcp://10.99.0.1:7402";
                publisher = "edge"; signing_key = "$T/publisher.key";
                tls: { cert = "$T/edge.crt"; key = "$T/edge.key"; ca = "$T/ca.crt";
                       verify_peer = true; }; }; };
EOF
cat >"$T/member.conf" <<EOF
core: { instance = "member"; data_dir = "$T/member-data"; roles = ["serve", "sync"];
        http_listen = "127.0.0.1:0"; };
scoring: { default_never_block = false; };
feeds: { bus: { peers = ( { name = "edge"; key = "$PUBKEY"; url = "tls+tcp://10.99.0.1:7401";
                            resync = "tls+tcp://10.99.0.1:7402"; own = true; } );
                serve = "edge";
                tls: { cert = "$T/member.crt"; key = "$T/member.key"; ca = "$T/ca.crt";
                       server_name = "edge.example.net"; }; }; };
EOF
"$B/repnetd" -n -c "$T/edge.conf" >/dev/null
"$B/repnetd" -n -c "$T/member.conf" >/dev/null

ip netns exec "$NA" "$B/repnetd" -f -c "$T/edge.conf" >"$T/edge.log" 2>&1 &
EPID=$!
ip netns exec "$NB" "$B/repnetd" -f -c "$T/member.conf" >"$T/member.log" 2>&1 &
MPID=$!
i=0
until grep -q "repnetd .* running" "$T/edge.log" && grep -q "repnetd .* running" "$T/member.log"; do
	i=$((i + 1))
	[ $i -lt 300 ] || {
		tail -20 "$T/edge.log" "$T/member.log" >&2
		echo "member_latency_bench: the daemons did not start" >&2
		exit 1
	}
	sleep 0.1
done
EP=$(sed -n 's/.*serving \/metrics on .*(port \([0-9]*\)).*/\1/p' "$T/edge.log" | head -1)
MP=$(sed -n 's/.*serving \/metrics on .*(port \([0-9]*\)).*/\1/p' "$T/member.log" | head -1)
# The member has its first snapshot: from here on, every change is a delta.
i=0
until ip netns exec "$NB" curl -s "http://127.0.0.1:$MP/metrics" |
	grep -q '^repnet_feed_applied_total{peer="edge",kind="snapshot"} [1-9]'; do
	i=$((i + 1))
	[ $i -lt 300 ] || {
		tail -20 "$T/member.log" >&2
		echo "member_latency_bench: the member never applied the edge's snapshot" >&2
		exit 1
	}
	sleep 0.1
done
TABLE=$("$B/repnet" config | sed -n 's/^| `feeds.sync.table` | [^|]* | `\([^`]*\)`.*/\1/p')
DELIST_PREFIX="ip netns exec $NA" ip netns exec "$NB" python3 "$SRC/tests/bench/latency_probe.py" \
	"$TRIALS" "$T/mail.log" "${TABLE:-inet repnet}" 10.99.0.1:5514 \
	"member across the bus (mutual TLS, two namespaces)" --delist "$B/repnet" "$T/edge-data"
if grep -qi "refused\|verify\|handshake" "$T/member.log"; then
	echo "# member log mentions refusals or TLS errors:"
	grep -i "refused\|verify\|handshake" "$T/member.log" | head -5
fi
if [ -n "${DEBUG:-}" ]; then
	ip netns exec "$NA" curl -s "http://127.0.0.1:$EP/metrics" | grep -E "^repnet_(smtp|scoring_(obs|list)|feed|bus|ingest|collector)" | grep -v " 0$" | head -40
	echo ---- member
	ip netns exec "$NB" curl -s "http://127.0.0.1:$MP/metrics" | grep -E "^repnet_(feed|bus|replica|sub|sync|view)" | grep -v " 0$" | head -40
fi
