#!/bin/sh
# Issue 13: 64 TCP connections trickling a byte every few seconds used to
# lock `dig +tcp` out of the DNSBL (the idle timer ran on the wall clock
# and every byte reset it). Here 80 such connections from eight other
# addresses, reopened as soon as the server closes one, hold every slot
# of repnetd's DNSBL (feeds.dnsbl.tcp_max_conns = 64, the default), and
# `dig +tcp` from 127.0.0.1 still gets its answer, again and again, while
# the attack runs: a client holding fewer connections displaces the
# oldest connection of the client holding the most. The trickling
# connections never complete a query, so the query deadline
# (feeds.dnsbl.tcp_query_timeout, 5 s) closes them whatever they send.
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/integration/flood.sh"
command -v dig >/dev/null || skip "dig is not installed (dnsutils)"
command -v curl >/dev/null || skip "curl is not installed"

printf '{"prefix":"192.0.2.1/32","categories":["spam_source"]}\n' >"$T/list.json"
cat >"$T/r.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = "127.0.0.1:0"; roles = ["serve"]; };
feeds: {
  dnsbl: { list_file = "$T/list.json"; list_format = "json"; listen = ["127.0.0.1:0"];
           zones = ["bl.test"]; };
  policy: { listen = ""; };
};
CONF
start_daemon "$T/log" -c "$T/r.conf"
wait_for "$T/log" "repnetd .* running"
HP=$(http_port "$T/log")
P=$(sed -n 's/.*dnsbl: serving .* on port \([0-9]*\).*/\1/p' "$T/log")
[ -n "$P" ] && [ -n "$HP" ] || fail "ports not logged"
D="dig -p $P @127.0.0.1 +tcp +time=5 +tries=1 +short"
[ "$($D 1.2.0.192.bl.test A)" = 127.0.0.2 ] || fail "before the attack"

# A two-byte length of 64, then the query's bytes, one every 2 s.
O='repnet_connections_open{listener="dnsbl"}'
start_flood --port "$P" --conns 80 --sources 8 --trickle 2 \
	--payload "0040$(printf '61%.0s' $(seq 1 64))" --seconds 100
wait_metric "$HP" "$O" 64
for i in 1 2 3; do
	a=$($D 1.2.0.192.bl.test A) || fail "dig failed during the attack"
	[ "$a" = 127.0.0.2 ] || fail "during the attack: '$a'"
	[ -z "$($D 2.2.0.192.bl.test A)" ] || fail "unlisted during the attack"
done
# The trickling connections are closed at their deadline, not kept by their bytes.
wait_metric "$HP" 'repnet_connections_total{listener="dnsbl",outcome="deadline_closed"}' 64 60
[ "$(metric "$HP" 'repnet_connections_total{listener="dnsbl",outcome="idle_closed"}')" = 0 ] ||
	fail "trickling connections were seen as idle"
wait_metric "$HP" "$O" 64
[ "$($D 1.2.0.192.bl.test A)" = 127.0.0.2 ] || fail "after the deadlines"
E=$(metric "$HP" 'repnet_connections_total{listener="dnsbl",outcome="evicted_full"}')
echo "attack: evicted_full $E, deadline_closed $(metric "$HP" 'repnet_connections_total{listener="dnsbl",outcome="deadline_closed"}')"
[ "$E" -ge 7 ] || fail "the queries did not displace attack connections"
kill -0 "$DPID" || fail "daemon died"
kill "$FLOOD_PID"
kill -TERM "$DPID"
wait_exit "$DPID" 15
[ "$EXIT_STATUS" = 0 ] || fail "exit status $EXIT_STATUS"
echo PASS
