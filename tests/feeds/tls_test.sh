#!/bin/sh
# Issue 6, "TLS test": with mutual TLS on (feeds.bus.tls.verify_peer), a
# client without a valid certificate cannot subscribe.
# Certificates are made here with openssl, as the README shows: a CA, the
# publisher's server certificate, a member's client certificate, and a
# client certificate from a second, untrusted CA. The publisher listens on
# tls+tcp:// for its feed and its resync service.
#   - repnet sub with the member's certificate follows the feed to the
#     publisher's digest (a collector feeds real log lines meanwhile);
#   - nngcat with that certificate receives envelopes, even without
#     checking the server (-k), which isolates the server's check;
#   - with no certificate, or the untrusted one, neither repnet sub nor
#     nngcat receives anything within a bounded time;
#   - a subscriber that trusts another CA refuses the publisher;
#   - control: the same publisher setup with verify_peer = false does let
#     the certificate-less nngcat in, so the refusals above are the peer
#     check and nothing else.
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/feed_lib.sh"
command -v openssl >/dev/null || skip "openssl is not installed"
command -v nngcat >/dev/null || skip "nngcat (nng-utils) is not installed"

# ---- certificates (P-256, valid for 2 days, in $P: feed_lib.sh) ----
ca ca "repnet test CA"
ca ca2 "untrusted CA"
leaf server ca localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
leaf member ca member1 "extendedKeyUsage=clientAuth"
leaf rogue ca2 member1 "extendedKeyUsage=clientAuth"
openssl verify -CAfile "$P/ca.crt" "$P/server.crt" "$P/member.crt" >/dev/null || fail "certificates do not chain"
if openssl verify -CAfile "$P/ca.crt" "$P/rogue.crt" >/dev/null 2>&1; then fail "the rogue certificate chains"; fi

# ---- the publisher: feed and resync over mutual TLS; ingest stays plain on loopback ----
TLS_SERVER="tls: { cert = \"$P/server.crt\"; key = \"$P/server.key\"; ca = \"$P/ca.crt\"; verify_peer = true; };"
S_PUB_LISTEN="tls+tcp://127.0.0.1:0" S_RESYNC_LISTEN="tls+tcp://127.0.0.1:0"
start_scorer pub1 "$TLS_SERVER"
FEED="tls+tcp://127.0.0.1:$S_PUB"
RESYNC="tls+tcp://127.0.0.1:$S_RESYNC"
start_collector col1 "tcp://127.0.0.1:$S_INGEST"

# The dialer's TLS settings, as -o overrides of feeds.bus.tls.*.
CLIENT_CA="-o feeds.bus.tls.ca=$P/ca.crt -o feeds.bus.tls.server_name=localhost"
sub() { # OUT EXTRA_ARGS...: repnet sub on the TLS feed
	_o=$1
	shift
	"$REPNET_BUILD/repnet" sub "$FEED" --resync "$RESYNC" --name pub1 --key "$S_KEY" "$@" \
		>"$T/$_o.out" 2>"$T/$_o.err"
}

# A member with a valid certificate follows the feed while log lines arrive.
# shellcheck disable=SC2086
"$REPNET_BUILD/repnet" sub "$FEED" --resync "$RESYNC" --name pub1 --key "$S_KEY" $CLIENT_CA \
	-o "feeds.bus.tls.cert=$P/member.crt" -o "feeds.bus.tls.key=$P/member.key" \
	--timeout 120 >"$T/good.out" 2>"$T/good.err" &
GOOD=$!
DAEMON_PIDS="$DAEMON_PIDS $GOOD"
python3 "$REPLAY" 127.0.0.1 "$C_TCP" "$MAILLOG" 1 3220 >/dev/null || fail "replay"
retry 30 "collector drained" collector_drained "$C_HTTP"
pub_settled "$S_HTTP"
python3 "$CHECK" same "$S_HTTP" --sub "$T/good.out" --timeout 20 ||
	{ cat "$T/good.err" >&2; fail "the member with a valid certificate did not follow the feed"; }
[ "$(status_get "$S_HTTP" publisher listed)" -gt 0 ] || fail "nothing listed"
echo "valid certificate: repnet sub at the publisher's seq $(status_get "$S_HTTP" publisher seq), digest $(status_get "$S_HTTP" publisher digest)"

# nngcat with the member's certificate, not checking the server (-k).
timeout 30 nngcat --sub --connect "$FEED" --subscribe "" --msgpack --count 2 --recv-timeout 10 \
	-k --cert "$P/member.crt" --key "$P/member.key" >"$T/nc_good" 2>"$T/nc_good.err" ||
	{ cat "$T/nc_good.err" >&2; fail "nngcat with a valid certificate received nothing"; }
[ -s "$T/nc_good" ] || fail "nngcat with a valid certificate: empty"

# Refused: no certificate, and a certificate from another CA (5 s each).
# shellcheck disable=SC2086
if sub nocert $CLIENT_CA --count 1 --timeout 5; then fail "repnet sub without a certificate subscribed"; fi
[ ! -s "$T/nocert.out" ] || fail "repnet sub without a certificate received: $(head -c 300 "$T/nocert.out")"
# shellcheck disable=SC2086
if sub rogue $CLIENT_CA -o "feeds.bus.tls.cert=$P/rogue.crt" -o "feeds.bus.tls.key=$P/rogue.key" \
	--count 1 --timeout 5; then fail "repnet sub with an untrusted certificate subscribed"; fi
[ ! -s "$T/rogue.out" ] || fail "repnet sub with an untrusted certificate received"
timeout 30 nngcat --sub --connect "$FEED" --subscribe "" --msgpack --count 1 --recv-timeout 5 -k \
	>"$T/nc_none" 2>/dev/null || true
[ ! -s "$T/nc_none" ] || fail "nngcat without a certificate received"
timeout 30 nngcat --sub --connect "$FEED" --subscribe "" --msgpack --count 1 --recv-timeout 5 -k \
	--cert "$P/rogue.crt" --key "$P/rogue.key" >"$T/nc_rogue" 2>/dev/null || true
[ ! -s "$T/nc_rogue" ] || fail "nngcat with an untrusted certificate received"
# A member that trusts another CA refuses this publisher (server authentication).
if sub wrongca -o "feeds.bus.tls.ca=$P/ca2.crt" -o feeds.bus.tls.server_name=localhost \
	-o "feeds.bus.tls.cert=$P/member.crt" -o "feeds.bus.tls.key=$P/member.key" --count 1 --timeout 5; then
	fail "repnet sub accepted a publisher its CA did not sign"
fi
[ ! -s "$T/wrongca.out" ] || fail "repnet sub received from an untrusted publisher"
# The valid member is still in sync: the refusals did not disturb the feed.
python3 "$CHECK" same "$S_HTTP" --sub "$T/good.out" --timeout 10 || fail "the valid member fell out of sync"
echo "no certificate, untrusted certificate, untrusted server: nothing received"

# Control: verify_peer = false lets a client without a certificate in.
S_PUB_LISTEN="tls+tcp://127.0.0.1:0" S_RESYNC_LISTEN="tls+tcp://127.0.0.1:0"
start_scorer pub2 "tls: { cert = \"$P/server.crt\"; key = \"$P/server.key\"; verify_peer = false; };"
timeout 30 nngcat --sub --connect "tls+tcp://127.0.0.1:$S_PUB" --subscribe "" --msgpack --count 1 \
	--recv-timeout 10 -k >"$T/nc_open" 2>"$T/nc_open.err" || { cat "$T/nc_open.err" >&2; fail "control: nngcat without a certificate"; }
[ -s "$T/nc_open" ] || fail "control: nothing received with verify_peer = false"
echo PASS
