#!/bin/sh
# The multi-host layout's bus on loopback, with the example files as they
# are (only addresses, ports and file paths overridden): certificates from a
# CA made here with openssl; the scorer runs scorer.conf (mutual TLS on
# ingest, feed and resync); an edge client with edge-collector.conf's TLS
# settings and collector key delivers observations and gets them
# acknowledged, and one signing with a key scorer.conf does not list is
# refused; a member with
# member.conf's TLS settings receives the signed feed and verifies it; and
# a client without a certificate is refused by both listeners.
. "$REPNET_SRC/tests/integration/lib.sh"

command -v openssl >/dev/null 2>&1 || skip "openssl is missing"
E="$REPNET_SRC/docs/examples"
R="$REPNET_BUILD/repnet"

# ---- a CA, the scorer's server certificate, two client certificates -----
cd "$T"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null; }
key ca
openssl req -x509 -new -key ca.key -days 2 -subj "/CN=repnet test CA" -out ca.crt 2>/dev/null ||
	fail "openssl: CA"
cert() { # name cn extensions
	key "$1"
	openssl req -new -key "$1.key" -subj "/CN=$2" -out "$1.csr" 2>/dev/null
	printf '%b' "$3" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
		-extfile "$1.ext" -out "$1.crt" 2>/dev/null || fail "openssl: $1"
}
cert scorer scorer.example.net 'subjectAltName=DNS:scorer.example.net\nextendedKeyUsage=serverAuth,clientAuth\n'
cert edge1 edge1.example.net 'extendedKeyUsage=clientAuth\n'
cert member1 member1.example.net 'extendedKeyUsage=clientAuth\n'
"$R" keygen -o "$T/publisher" >/dev/null || fail "keygen"
PUBKEY=$(cut -d' ' -f2 "$T/publisher.pub")
"$R" keygen -o "$T/collector" >/dev/null || fail "keygen collector"
COLLKEY=$(cut -d' ' -f2 "$T/collector.pub")

# The example files with this test's paths for /etc/repnet and /var/lib.
localize() { sed -e "s#/etc/repnet/tls/#$T/#g" -e "s#/etc/repnet/keys/#$T/#g" \
	-e "s#/var/lib/repnet/#$T/var-#g" -e "s#/var/log/mail.log#$T/mail.log#" "$E/$1"; }
localize scorer.conf | sed 's#\({ name = "edge1"; key = "\)[^"]*"#\1'"$COLLKEY"'"#' >"$T/scorer.conf"
grep -q "$COLLKEY" "$T/scorer.conf" || fail "scorer.conf lists no edge1 collector key"
localize edge-collector.conf >"$T/edge.conf"
localize member.conf >"$T/member.conf"

# ---- the scorer, on free loopback ports ----------------------------------
P=$((20000 + $$ % 20000))
start_daemon "$T/scorer.log" -c "$T/scorer.conf" -o core.http_listen=127.0.0.1:0 \
	-o feeds.bus.ingest_listen="tls+tcp://127.0.0.1:$P" \
	-o feeds.bus.pub_listen="tls+tcp://127.0.0.1:$((P + 1))" \
	-o feeds.bus.resync_listen="tls+tcp://127.0.0.1:$((P + 2))" \
	-o feeds.bus.heartbeat=200ms -o scoring.default_never_block=false
SPID=$DPID
wait_for "$T/scorer.log" "publish: feed" 15
grep -q "publish: feed example-scorer" "$T/scorer.log" || { cat "$T/scorer.log" >&2; fail "publisher name"; }
HP=$(http_port "$T/scorer.log")

# ---- an edge delivers observations over mutual TLS -----------------------
printf '198.51.100.0/24\n203.0.113.7/32\n' >"$T/list.cidr"
sed -i "s#tls+tcp://scorer.example.net:7400#tls+tcp://127.0.0.1:$P#" "$T/edge.conf"
"$R" import --format cidr "$T/list.cidr" --to "tls+tcp://127.0.0.1:$P" -c "$T/edge.conf" \
	>"$T/import.out" 2>&1 || { cat "$T/import.out" "$T/scorer.log" >&2; fail "edge import over TLS"; }
grep -q "2 observations acknowledged" "$T/import.out" || { cat "$T/import.out" >&2; fail "acks"; }

# The same edge, signing with a key the scorer does not list: refused.
"$R" keygen -o "$T/stranger" >/dev/null || fail "keygen stranger"
if "$R" import --format cidr "$T/list.cidr" --to "tls+tcp://127.0.0.1:$P" -c "$T/edge.conf" \
	--key "$T/stranger.key" -o feeds.bus.ingest_timeout=500ms >"$T/stranger.out" 2>&1; then
	cat "$T/stranger.out" >&2
	fail "the scorer acknowledged a batch signed by a key it does not list"
fi
grep -q "does not trust this collector key" "$T/stranger.out" || { cat "$T/stranger.out" >&2; fail "stranger: unexpected failure"; }

# Without a client certificate the scorer refuses the connection: nothing
# is acknowledged (the client gives up after its bounded wait).
sed -e '/^ *cert = /d' -e '/^ *key = /d' "$T/edge.conf" >"$T/nocert.conf"
if "$R" import --format cidr "$T/list.cidr" --to "tls+tcp://127.0.0.1:$P" -c "$T/nocert.conf" \
	-o feeds.bus.ingest_timeout=500ms >"$T/nocert.out" 2>&1; then
	cat "$T/nocert.out" >&2
	fail "the scorer acknowledged a client without a certificate"
fi
grep -q "not acknowledged" "$T/nocert.out" || { cat "$T/nocert.out" >&2; fail "no-certificate import: unexpected failure"; }

# ---- a member receives and verifies the signed feed over TLS -------------
sed -i -e "s#tls+tcp://scorer.example.net:7401#tls+tcp://127.0.0.1:$((P + 1))#" \
	-e "s#tls+tcp://scorer.example.net:7402#tls+tcp://127.0.0.1:$((P + 2))#" \
	-e "s#key = \"[A-Za-z0-9+/=]*\";#key = \"$PUBKEY\";#" "$T/member.conf"
"$REPNET_BUILD/repnetd" -n -c "$T/member.conf" >/dev/null || fail "member.conf, localized"
"$R" sub "tls+tcp://127.0.0.1:$((P + 1))" --resync "tls+tcp://127.0.0.1:$((P + 2))" \
	--name example-scorer --key "$PUBKEY" --count 3 --timeout 20 --config "$T/member.conf" \
	>"$T/sub.out" 2>"$T/sub.err" || { cat "$T/sub.err" >&2; fail "member subscription over TLS"; }
[ "$(wc -l <"$T/sub.out")" -ge 3 ] || { cat "$T/sub.out" "$T/sub.err" >&2; fail "fewer than 3 verified messages"; }
grep -q '"publisher":"example-scorer"' "$T/sub.out" || { head -3 "$T/sub.out" >&2; fail "not the scorer's feed"; }

# Without a client certificate the feed gives nothing.
sed -e '/^ *cert = /d' -e '/^ *key = "\//d' "$T/member.conf" >"$T/member-nocert.conf"
"$R" sub "tls+tcp://127.0.0.1:$((P + 1))" --resync "tls+tcp://127.0.0.1:$((P + 2))" \
	--name example-scorer --key "$PUBKEY" --count 1 --timeout 3 \
	--config "$T/member-nocert.conf" >"$T/sub2.out" 2>&1 || true
if grep -q '"publisher"' "$T/sub2.out"; then
	fail "the scorer's feed reached a member without a certificate"
fi

# The scorer saw the edge's observations.
v=$(metric "$HP" 'repnet_scoring_observations_total{result="accepted"}')
[ "${v:-0}" = 2 ] || fail "the scorer accepted ${v:-none} observations, not the edge's 2"
kill -TERM "$SPID"
wait_exit "$SPID" 20
[ "$EXIT_STATUS" -eq 0 ] || { cat "$T/scorer.log" >&2; fail "scorer exit status $EXIT_STATUS"; }
echo "layout over TLS: edge acknowledged, member verified $(wc -l <"$T/sub.out") messages, no-certificate clients refused"
