#!/bin/sh
# repnet's rbldnsd export served by the real rbldnsd answers exactly as
# repnet's own DNSBL does: 10,000 queries (half listed, IPv4 and IPv6,
# hosts and prefixes, A and TXT) asked of both with dig; the rcodes in
# order and every answer record (name, TTL, type, data) must match.
. "$REPNET_SRC/tests/integration/lib.sh"
command -v dig >/dev/null || skip "dig is not installed (dnsutils)"
command -v rbldnsd >/dev/null || skip "rbldnsd is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"

# As root, everything runs in a network namespace of its own, on ports
# below the ephemeral range: a port on the shared loopback can be joined by
# other root processes (SO_REUSEPORT), and dig's own random source port
# must never be a server's port.
X=""
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && netns_add "rncmp$$" 2>/dev/null; then
	ip -n "rncmp$$" link set lo up
	X="ip netns exec rncmp$$"
fi
freeport() {
	$X python3 -c 'import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
python3 "$REPNET_SRC/tests/data/feeds/gen_list.py" "$T" 7 || fail "generator"
chmod 755 "$T"
"$REPNET_BUILD/repnet" export --format rbldnsd --from "$T/list.json" \
	-o feeds.dnsbl.zones=bl.test -o 'feeds.dnsbl.lookup_url=https://bl.test/?$' \
	--output "$T/zone.rbl" || fail "export"
chmod 644 "$T/zone.rbl"

if [ -n "$X" ]; then RP=5353; else RP=$(freeport); fi
if [ -n "$X" ]; then LISTEN=127.0.0.1:53; else LISTEN=127.0.0.1:0; fi
if [ "$(id -u)" = 0 ]; then U="-u rbldns"; else U=""; fi
# shellcheck disable=SC2086
$X rbldnsd $U -n -b "127.0.0.1/$RP" -w "$T" bl.test:combined:zone.rbl >"$T/rbldnsd.log" 2>&1 &
RBPID=$!
DAEMON_PIDS="$DAEMON_PIDS $RBPID"
wait_for "$T/rbldnsd.log" "started"

cat >"$T/r.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = ""; roles = ["serve"]; };
feeds: { dnsbl: { list_file = "$T/list.json"; listen = ["$LISTEN"]; zones = ["bl.test"];
                  lookup_url = "https://bl.test/?\$"; };
         policy: { listen = ""; }; };
CONF
$X "$REPNET_BUILD/repnetd" -f -c "$T/r.conf" >"$T/log" 2>&1 &
DAEMON_PIDS="$DAEMON_PIDS $!"
wait_for "$T/log" "repnetd .* running"
P=$(sed -n 's/.*dnsbl: serving .* on port \([0-9]*\).*/\1/p' "$T/log")

$X dig -p "$RP" @127.0.0.1 +time=2 +tries=2 +noall +answer +comments -f "$T/queries.txt" >"$T/out.rbldnsd" 2>&1
$X dig -p "$P" @127.0.0.1 +time=2 +tries=2 +noall +answer +comments -f "$T/queries.txt" >"$T/out.repnet" 2>&1
for f in rbldnsd repnet; do
	grep -o 'status: [A-Z]*' "$T/out.$f" >"$T/rc.$f"
	grep -v '^;' "$T/out.$f" | grep . | sort >"$T/ans.$f"
done
[ "$(wc -l <"$T/rc.repnet")" = 10000 ] || fail "repnet answered $(wc -l <"$T/rc.repnet") of 10000"
[ "$(wc -l <"$T/rc.rbldnsd")" = 10000 ] || fail "rbldnsd answered $(wc -l <"$T/rc.rbldnsd") of 10000"
cmp -s "$T/rc.rbldnsd" "$T/rc.repnet" || { diff "$T/rc.rbldnsd" "$T/rc.repnet" | head; fail "rcodes differ"; }
cmp -s "$T/ans.rbldnsd" "$T/ans.repnet" || { diff "$T/ans.rbldnsd" "$T/ans.repnet" | head; fail "answers differ"; }
listed=$(grep -c NOERROR "$T/rc.repnet")
[ "$listed" -gt 4000 ] || fail "only $listed listed answers: the comparison proves little"
grep -q 'TXT' "$T/ans.repnet" || fail "no TXT answers compared"
grep -q 'b.d.0.1.0.0.2.bl.test.*IN.A' "$T/ans.repnet" || fail "no IPv6 answers compared"
echo "PASS: $listed listed, $(grep -c NXDOMAIN "$T/rc.repnet") not, $(wc -l <"$T/ans.repnet") records identical"
