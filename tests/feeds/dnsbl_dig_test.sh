#!/bin/sh
# The DNSBL as resolvers see it: repnetd's serve role answering the real
# dig over UDP and TCP (listed and unlisted IPv4 and IPv6, the RFC 5782
# test points, TXT with the address substituted, SOA and NS at the apex,
# NXDOMAIN with the SOA and its TTL, REFUSED outside the zone, EDNS0 and
# truncation with the retry over TCP), then a change of the list applied
# in place with no restart, seen by dig, the policy service and the
# CrowdSec-compatible decision stream.
. "$REPNET_SRC/tests/integration/lib.sh"
command -v dig >/dev/null || skip "dig is not installed (dnsutils)"
command -v curl >/dev/null || skip "curl is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"

# As root, everything runs in a network namespace of its own (see
# rbldnsd_compare_test.sh: another root process could join a loopback port
# with SO_REUSEPORT).
X=""
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && netns_add "rndig$$" 2>/dev/null; then
	ip -n "rndig$$" link set lo up
	X="ip netns exec rndig$$"
fi
# In the namespace, port 53: dig's random source ports never collide with it.
if [ -n "$X" ]; then LISTEN=127.0.0.1:53; else LISTEN=127.0.0.1:0; fi

cat >"$T/list.json" <<'LIST'
{"prefix":"192.0.2.1/32","categories":["spam_source"]}
{"prefix":"198.51.100.0/24","categories":["scanner","drop"]}
{"prefix":"2001:db8::1/128","categories":["sasl_bruteforce"]}
LIST
# Long NS names, so that ANY at the apex does not fit 512 bytes.
L=$(printf 'n%.0s' $(seq 1 60))
cat >"$T/rbl.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = "127.0.0.1:0"; roles = ["serve"]; };
feeds: {
  dnsbl: {
    list_file = "$T/list.json"; list_format = "json"; list_poll = "200ms";
    listen = ["$LISTEN"]; zones = ["bl.test"]; ttl = "10m"; negative_ttl = "90s";
    ns = ["$L.$L.a.bl.test", "$L.$L.b.bl.test", "$L.$L.c.bl.test", "$L.$L.d.bl.test"];
    soa_rname = "hostmaster.bl.test";
    lookup_url = "https://bl.test/lookup?ip=\$";
  };
  policy: { listen = "127.0.0.1:0"; };
  decisions: { api_keys_file = "$T/keys"; };
};
CONF
printf '# bouncers\nsekrit-key-1\n\n' >"$T/keys"
chmod 600 "$T/keys"
$X "$REPNET_BUILD/repnetd" -f -c "$T/rbl.conf" >"$T/log" 2>&1 &
DPID=$!
DAEMON_PIDS="$DAEMON_PIDS $DPID"
wait_for "$T/log" "repnetd .* running"
P=$(sed -n 's/.*dnsbl: serving .* on port \([0-9]*\).*/\1/p' "$T/log")
PP=$(sed -n 's/.*policy: serving on port \([0-9]*\).*/\1/p' "$T/log")
HP=$(http_port "$T/log")
[ -n "$P" ] && [ -n "$PP" ] && [ -n "$HP" ] || fail "ports not logged"
D="$X dig -p $P @127.0.0.1 +time=2 +tries=1"

# field NAME TYPE: the answer lines, "TTL TYPE DATA".
ans() { $D "$@" +noall +answer | awk '{ $1 = ""; $3 = ""; print }' | sed 's/^ *//; s/  */ /g'; }
status() { $D "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }

# Listed IPv4, with A, TXT (the address substituted) and the configured TTL.
[ "$(ans 1.2.0.192.bl.test A)" = "600 A 127.0.0.2" ] || fail "listed A: $(ans 1.2.0.192.bl.test A)"
[ "$(ans 1.2.0.192.bl.test TXT)" = '600 TXT "Listed by repnet: spam_source; https://bl.test/lookup?ip=192.0.2.1"' ] ||
	fail "TXT: $(ans 1.2.0.192.bl.test TXT)"
# A prefix listing, two categories: the higher-priority code (scanner .5).
[ "$(ans 77.100.51.198.bl.test A)" = "600 A 127.0.0.5" ] || fail "prefix listing"
# Unlisted IPv4: NXDOMAIN, the SOA in the authority section with the negative TTL.
[ "$(status 2.2.0.192.bl.test A)" = NXDOMAIN ] || fail "unlisted IPv4"
$D 2.2.0.192.bl.test A +noall +authority | grep -q "^bl.test.[[:space:]]*90[[:space:]]*IN[[:space:]]*SOA" ||
	fail "no SOA with the negative TTL in NXDOMAIN"
# IPv6: 32 nibbles.
V6L=1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test
V6U=2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test
[ "$(ans $V6L A)" = "600 A 127.0.0.3" ] || fail "listed IPv6: $(ans $V6L A)"
$D $V6L TXT +short | grep -q "ip=2001:db8::1\"" || fail "IPv6 TXT substitution"
[ "$(status $V6U A)" = NXDOMAIN ] || fail "unlisted IPv6"
# RFC 5782 test points: 127.0.0.2 listed, 127.0.0.1 not; ::FFFF:7F00:2 listed, ::FFFF:7F00:1 not.
[ "$(ans 2.0.0.127.bl.test A)" = "600 A 127.0.0.2" ] || fail "test point 127.0.0.2"
$D 2.0.0.127.bl.test TXT +short | grep -q . || fail "test point TXT"
[ "$(status 1.0.0.127.bl.test A)" = NXDOMAIN ] || fail "127.0.0.1 listed"
TP=0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0
[ "$(ans 2.0.0.0.$TP.bl.test A | sed 's/^600 //')" = "A 127.0.0.2" ] || fail "IPv6 test point ::FFFF:7F00:2"
[ "$(status 1.0.0.0.$TP.bl.test A)" = NXDOMAIN ] || fail "::FFFF:7F00:1 listed"
# The apex: SOA and NS.
$D bl.test SOA +short | grep -q "^$L.$L.a.bl.test. hostmaster.bl.test. [0-9]* 3600 600 604800 90$" ||
	fail "SOA: $($D bl.test SOA +short)"
[ "$($D bl.test NS +short | wc -l)" = 4 ] || fail "NS"
# Out of zone: REFUSED.
[ "$(status example.com A)" = REFUSED ] || fail "out of zone not refused"
[ "$(status 1.2.0.192.bl.test.example A)" = REFUSED ] || fail "suffix zone not refused"
# TCP.
[ "$($D +tcp 1.2.0.192.bl.test A +short)" = 127.0.0.2 ] || fail "TCP"
# EDNS0: the OPT comes back with our payload size; version 1 is BADVERS.
$D 1.2.0.192.bl.test | grep -q "EDNS: version: 0, flags:; udp: 1232" || fail "no OPT echo"
$D +edns=1 +noednsneg 1.2.0.192.bl.test | grep -q "status: BADVERS" || fail "no BADVERS"
# Too big for 512 bytes: TC, and dig retries over TCP and gets it all.
$D +noedns bl.test NS >"$T/any" 2>&1
grep -q "Truncated, retrying in TCP mode" "$T/any" || { cat "$T/any"; fail "no truncation over UDP"; }
grep -q "ANSWER: 4," "$T/any" || { cat "$T/any"; fail "TCP retry incomplete"; }
# Malformed: a compression pointer in the question is FORMERR.
$X python3 - "$P" <<'PY' || fail "pointer query not FORMERR"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(bytes([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, ord('1'), 0xc0, 12, 0, 1, 0, 1]),
         ("127.0.0.1", int(sys.argv[1])))
d = s.recv(512)
sys.exit(0 if d[:2] == b"\xab\xcd" and d[3] & 15 == 1 else 1)
PY

# The policy service and the stream before the change.
policy() {
	$X python3 - "$PP" "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=%s\n\n" % sys.argv[2]).encode())
a = b""
while not a.endswith(b"\n\n"):
    a += s.recv(512)
print(a.decode().strip())
PY
}
[ "$(policy 192.0.2.1)" = "action=REJECT Listed by repnet: spam_source" ] || fail "policy: $(policy 192.0.2.1)"
[ "$(policy 192.0.2.9)" = "action=DUNNO" ] || fail "policy unlisted"
S="http://127.0.0.1:$HP/v1/decisions/stream"
[ "$($X curl -s -o /dev/null -w '%{http_code}' "$S?startup=true")" = 403 ] || fail "no key not 403"
[ "$($X curl -s -o /dev/null -w '%{http_code}' -H 'X-Api-Key: wrong' "$S?startup=true")" = 403 ] || fail "bad key not 403"
$X curl -sf -H 'X-Api-Key: sekrit-key-1' "$S?startup=true" >"$T/s1" || fail "stream"
python3 - "$T/s1" <<'PY' || fail "startup stream content: $(cat "$T/s1")"
import json, sys
d = json.load(open(sys.argv[1]))
new = {(x["scope"], x["value"], x["scenario"]) for x in d["new"]}
assert new == {("Ip", "192.0.2.1", "spam_source"), ("Range", "198.51.100.0/24", "scanner,drop"),
               ("Ip", "2001:db8::1", "sasl_bruteforce")}, new
assert d["deleted"] == []
for x in d["new"]:
    assert x["type"] == "ban" and x["origin"] == "repnet" and x["duration"] == "4h0m0s", x
PY
# The exact bytes CrowdSec's bouncers have always been sent (walk order, ids from 1).
D1='{"id":1,"origin":"repnet","type":"ban","scope":"Ip","value":"192.0.2.1","duration":"4h0m0s","scenario":"spam_source","simulated":false}'
D2='{"id":2,"origin":"repnet","type":"ban","scope":"Range","value":"198.51.100.0/24","duration":"4h0m0s","scenario":"scanner,drop","simulated":false}'
D3='{"id":3,"origin":"repnet","type":"ban","scope":"Ip","value":"2001:db8::1","duration":"4h0m0s","scenario":"sasl_bruteforce","simulated":false}'
[ "$(cat "$T/s1")" = "{\"new\":[$D1,$D2,$D3],\"deleted\":[]}" ] || fail "startup stream bytes: $(cat "$T/s1")"

# An update in place: 192.0.2.1 goes, 192.0.2.9 comes, with no restart.
cat >"$T/list.new" <<'LIST'
{"prefix":"192.0.2.9/32","categories":["harvester"]}
{"prefix":"198.51.100.0/24","categories":["scanner","drop"]}
{"prefix":"2001:db8::1/128","categories":["sasl_bruteforce"]}
LIST
mv "$T/list.new" "$T/list.json"
wait_for "$T/log" "version 2"
[ "$(ans 9.2.0.192.bl.test A)" = "600 A 127.0.0.7" ] || fail "new listing not served"
[ "$(status 1.2.0.192.bl.test A)" = NXDOMAIN ] || fail "removed listing still served"
[ "$(policy 192.0.2.9)" = "action=REJECT Listed by repnet: harvester" ] || fail "policy after update"
$X curl -sf -H 'X-Api-Key: sekrit-key-1' "$S?startup=false" >"$T/s2" || fail "stream delta"
python3 - "$T/s2" <<'PY' || fail "delta stream content: $(cat "$T/s2")"
import json, sys
d = json.load(open(sys.argv[1]))
assert [(x["value"], x["scenario"]) for x in d["new"]] == [("192.0.2.9", "harvester")], d
assert [x["value"] for x in d["deleted"]] == ["192.0.2.1"], d
PY
D4='{"id":4,"origin":"repnet","type":"ban","scope":"Ip","value":"192.0.2.9","duration":"4h0m0s","scenario":"harvester","simulated":false}'
D5='{"id":5,"origin":"repnet","type":"ban","scope":"Ip","value":"192.0.2.1","duration":"0s","scenario":"spam_source","simulated":false}'
[ "$(cat "$T/s2")" = "{\"new\":[$D4],\"deleted\":[$D5]}" ] || fail "delta stream bytes: $(cat "$T/s2")"
# Nothing changed since: an empty delta.
[ "$($X curl -sf -H 'X-Api-Key: sekrit-key-1' "$S?startup=false")" = '{"new":[],"deleted":[]}' ] || fail "empty delta"
kill -0 "$DPID" || fail "daemon died"

# Every metric is documented.
$X curl -sf "http://127.0.0.1:$HP/metrics" | sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' >"$T/names"
while read -r m; do
	grep -q "\`$m\`" "$REPNET_SRC/README.md" || fail "README does not document metric $m"
done <"$T/names"
$X curl -sf "http://127.0.0.1:$HP/metrics" >"$T/metrics"
awk '$1 == "repnet_dnsbl_answers_total{rcode=\"refused\"}" && $2 >= 2 {ok=1} END {exit !ok}' "$T/metrics" || fail "refused counter"
grep -q '^repnet_dnsbl_bad_names_total 1$' "$T/metrics" || fail "bad name counter"
kill -TERM "$DPID"
wait_exit "$DPID" 15
[ "$EXIT_STATUS" = 0 ] || fail "exit status $EXIT_STATUS"

# A key file others can read is refused at start, with the reason.
chmod 644 "$T/keys"
if $X "$REPNET_BUILD/repnetd" -f -c "$T/rbl.conf" >"$T/log2" 2>&1; then fail "started with a world-readable key file"; fi
grep -q "keys is readable by group or others" "$T/log2" || { cat "$T/log2"; fail "key file message"; }
echo PASS
