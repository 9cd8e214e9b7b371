#!/bin/sh
# Issue 17, "failures an operator can see": each way a bus connection is
# refused shows a log line (with the peer and the reason), a counter and a
# line of `repnet status`, on the side that sees it.
#
# A scorer/publisher (pub1) listens for ingest, feed and resync over mutual
# TLS (verify_peer). Against it, with real repnetd processes:
#   - a collector with no client certificate;
#   - a collector whose certificate another CA signed;
#   - a collector that expects another server name (tls.server_name);
#   - a collector that trusts another CA than the scorer's;
#   - a plain-TCP client (nngcat, when installed);
#   - a good collector (the control: its link is up, nothing is counted for it);
#   - a serve-role member holding the wrong publisher key: it logs and counts
#     the refusal, its status says why it is not in sync, and its resyncs back
#     off: the publisher serves only a few snapshots in 7 s (it served 276
#     before the backoff).
# What each side can see is in feeds/bus/tls.c's design notes: a client
# refused for having no certificate sees only the connection closed, since
# mbed TLS sends no alert for it.
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/feed_lib.sh"
command -v openssl >/dev/null || skip "openssl is not installed"

# ---- certificates (P-256, valid for 2 days, in $P: feed_lib.sh) ----
ca ca "repnet test CA"
ca ca2 "untrusted CA"
# The scorer dials its own ingest listener too: its certificate serves both ways.
leaf server ca localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth"
leaf member ca member1 "extendedKeyUsage=clientAuth"
leaf rogue ca2 member1 "extendedKeyUsage=clientAuth"

# ---- the scorer and publisher: everything over mutual TLS ----
S_INGEST_LISTEN="tls+tcp://127.0.0.1:0" S_PUB_LISTEN="tls+tcp://127.0.0.1:0" \
	S_RESYNC_LISTEN="tls+tcp://127.0.0.1:0" S_COLLECTORS="col1 col2 col3 good"
start_scorer pub1 "tls: { cert = \"$P/server.crt\"; key = \"$P/server.key\"; ca = \"$P/ca.crt\";
                          verify_peer = true; server_name = \"localhost\"; };"
INGEST="tls+tcp://127.0.0.1:$S_INGEST"

# collector NAME TLS_GROUP: a collect-only repnetd sending to the scorer over TLS.
collector() {
	cat >"$T/$1.conf" <<CONF
core: { instance = "$1"; data_dir = "$T/$1.d"; http_listen = "127.0.0.1:0";
        roles = ["collect"]; log_level = "info"; };
collector: { syslog: { udp_listen = "127.0.0.1:0"; tcp_listen = ""; };
             flow: { netflow_listen = ""; ipfix_listen = ""; sflow_listen = ""; }; };
feeds: { bus: { ingest_url = "$INGEST"; ingest_flush = "50ms"; reconnect_min = "100ms";
                collector_key = "$T/$1-collector.key"; $2 }; };
CONF
	collector_key "$1" >/dev/null
	"$REPNET_BUILD/repnetd" -n -c "$T/$1.conf" >/dev/null || fail "$1 configuration"
	start_daemon "$T/$1.log" -c "$T/$1.conf"
	C_HTTP=$(http_port "$T/$1.log")
}
# tls_count PORT SIDE REASON: the counter, 0 when absent.
tls_count() {
	_v=$(metric "$1" "repnet_bus_tls_failures_total{side=\"$2\",reason=\"$3\"}")
	echo "${_v:-0}"
}
tls_seen() { [ "$(tls_count "$@")" -gt 0 ]; }
more_than() { [ "$(tls_count "$1" "$2" "$3")" -gt "$4" ]; } # PORT SIDE REASON N
# status_has PORT TEXT: `repnet status` of the daemon at PORT prints TEXT.
status_has() {
	"$REPNET_BUILD/repnet" status --http "127.0.0.1:$1" >"$T/status.out" 2>&1 &&
		grep -q -- "$2" "$T/status.out"
}
# expect NAME PORT SIDE REASON LOG_TEXT: the log line, the counter and the status line.
expect() {
	retry 20 "$1: counter $3/$4" tls_seen "$2" "$3" "$4"
	wait_for "$T/$1.log" "$5" 10
	retry 10 "$1: status shows $3 $4" status_has "$2" "as $3 *$4"
	echo "$1: $(grep -m1 -- "$5" "$T/$1.log" | sed 's/^.*bus: //')"
}

# No client certificate: the scorer sees it; the client only sees the close.
collector col1 "tls: { ca = \"$P/ca.crt\"; server_name = \"localhost\"; };"
C1=$C_HTTP
expect pub1 "$S_HTTP" listener no_certificate "TLS handshake from 127.0.0.1:[0-9]* failed: no_certificate"
expect col1 "$C1" dialer closed_by_peer "TLS handshake with 127.0.0.1:$S_INGEST failed: closed_by_peer"
retry 10 "col1: status shows the link down" status_has "$C1" "ingest link to $INGEST: NOT connected"

# A certificate from another CA: the scorer names it; the client gets the alert.
collector col2 "tls: { ca = \"$P/ca.crt\"; server_name = \"localhost\";
                       cert = \"$P/rogue.crt\"; key = \"$P/rogue.key\"; };"
C2=$C_HTTP
expect pub1 "$S_HTTP" listener untrusted_certificate "from 127.0.0.1:[0-9]* failed: untrusted_certificate"
expect col2 "$C2" dialer refused_by_peer "failed: refused_by_peer: .*alert 48 unknown_ca"

# Another server name: the client names it; the scorer gets the alert.
collector col3 "tls: { ca = \"$P/ca.crt\"; server_name = \"scorer.example\";
                       cert = \"$P/member.crt\"; key = \"$P/member.key\"; };"
C3=$C_HTTP C3_PID=$DPID
expect col3 "$C3" dialer name_mismatch "failed: name_mismatch: .*server_name = \"scorer.example\""
expect pub1 "$S_HTTP" listener refused_by_peer "from 127.0.0.1:[0-9]* failed: refused_by_peer: .*alert 42 bad_certificate"
# col3 retries for ever: stop it, so what follows is col4's.
kill -TERM "$C3_PID"
wait_exit "$C3_PID" 20
R3=$(tls_count "$S_HTTP" listener refused_by_peer)

# A server certificate from a CA the client does not trust: the client names it.
collector col4 "tls: { ca = \"$P/ca2.crt\"; server_name = \"localhost\";
                       cert = \"$P/member.crt\"; key = \"$P/member.key\"; };"
C4=$C_HTTP
expect col4 "$C4" dialer untrusted_certificate "failed: untrusted_certificate: the server's certificate does not chain"
# The scorer counts it as refused_by_peer again (its line for that reason was
# shown above, for col3, and may now be rate-limited).
retry 10 "pub1: refused_by_peer counted for col4" more_than "$S_HTTP" listener refused_by_peer "$R3"

# A plain-TCP client on a TLS listener (nngcat, when installed).
if command -v nngcat >/dev/null; then
	timeout 10 nngcat --req0 --dial "tcp://127.0.0.1:$S_RESYNC" --data x --recv-timeout 2 \
		>/dev/null 2>&1 || true
	expect pub1 "$S_HTTP" listener not_tls "from 127.0.0.1:[0-9]* failed: not_tls"
fi

# Control: a good collector's link comes up and its handshakes do not fail.
collector good "tls: { ca = \"$P/ca.crt\"; server_name = \"localhost\";
                       cert = \"$P/member.crt\"; key = \"$P/member.key\"; };"
G=$C_HTTP
retry 20 "good: status shows the link up" status_has "$G" "ingest link to $INGEST: connected"
for r in no_certificate untrusted_certificate name_mismatch refused_by_peer closed_by_peer other; do
	[ "$(tls_count "$G" dialer $r)" = 0 ] || fail "the good collector counted a $r failure"
done
grep -q "TLS handshake" "$T/good.log" && fail "the good collector logged a TLS failure: $(grep "TLS handshake" "$T/good.log")"

# ---- a member with the wrong publisher key ----
"$REPNET_BUILD/repnet" keygen -o "$T/other" >/dev/null || fail "keygen"
WRONG=$(cut -d' ' -f2 "$T/other.pub")
cat >"$T/mem.conf" <<CONF
core: { instance = "mem"; data_dir = "$T/mem.d"; http_listen = "127.0.0.1:0"; roles = ["serve"]; };
feeds: {
  bus: { serve = "pub1";
         tls: { ca = "$P/ca.crt"; server_name = "localhost"; cert = "$P/member.crt"; key = "$P/member.key"; };
         peers = ( { name = "pub1"; key = "$WRONG"; url = "tls+tcp://127.0.0.1:$S_PUB";
                     resync = "tls+tcp://127.0.0.1:$S_RESYNC"; own = true; } ); };
  dnsbl: { listen = ["127.0.0.1:0"]; };
  policy: { listen = ""; };
};
CONF
"$REPNET_BUILD/repnetd" -n -c "$T/mem.conf" >/dev/null || fail "member configuration"
served() {
	curl -sf "http://127.0.0.1:$S_HTTP/metrics" |
		awk '$1 ~ /^repnet_feed_resyncs_served_total/ { s += $2 } END { print s + 0 }'
}
BEFORE=$(served)
start_daemon "$T/mem.log" -c "$T/mem.conf"
M_HTTP=$(http_port "$T/mem.log")
T0=$(date +%s)
wait_for "$T/mem.log" "feed pub1: the resync from .* was signed with a key this member does not trust" 10
retry 10 "member: backoff counted" sh -c "[ \"\$(curl -sf http://127.0.0.1:$M_HTTP/metrics |
	awk '\$1 == \"repnet_feed_resync_backoffs_total{peer=\\\"pub1\\\"}\" { print \$2 }')\" -gt 0 ]"
retry 10 "member: status shows the rejections before any sync" status_has "$M_HTTP" "no state yet; rejected: *unknown_key"
status_has "$M_HTTP" "resyncs refused for their key or signature" || fail "member: status does not show the backoff"
echo "member: $(grep -m1 "member does not trust" "$T/mem.log" | sed 's/^.*feed /feed /')"
# 7 s of a refused member: 1 s, 2 s, 4 s apart, a handful of resyncs at most.
while [ $(($(date +%s) - T0)) -lt 7 ]; do sleep 0.5; done
N=$(($(served) - BEFORE))
echo "publisher served $N resyncs to the refused member in 7 s"
[ "$N" -ge 1 ] || fail "the member never asked (nothing was measured)"
[ "$N" -le 6 ] || fail "the publisher served $N resyncs in 7 s: the member does not back off"
echo PASS
