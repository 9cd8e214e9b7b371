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

attack_serve
D="dig -p $DP @127.0.0.1 +tcp +time=5 +tries=1 +short"
[ "$($D 1.2.0.192.bl.test A)" = 127.0.0.2 ] || fail "before the attack"

# A two-byte length of 64, then the query's bytes, one every 2 s.
O='repnet_connections_open{listener="dnsbl"}'
start_flood --port "$DP" --conns 80 --sources 8 --trickle 2 \
	--payload "0040$(printf '61%.0s' $(seq 1 64))" --seconds 100
for i in 1 2 3; do
	wait_metric "$HP" "$O" 64 # the attack holds every slot again
	a=$($D 1.2.0.192.bl.test A) || fail "dig failed during the attack"
	[ "$a" = 127.0.0.2 ] || fail "during the attack: '$a'"
	[ -z "$($D 2.2.0.192.bl.test A)" ] || fail "unlisted during the attack"
done
# The trickling connections are closed at their deadline, not kept by their bytes.
wait_metric "$HP" 'repnet_connections_total{listener="dnsbl",outcome="deadline_closed"}' 64 60
[ "$(outcome dnsbl idle_closed)" = 0 ] || fail "trickling connections were seen as idle"
wait_metric "$HP" "$O" 64
[ "$($D 1.2.0.192.bl.test A)" = 127.0.0.2 ] || fail "after the deadlines"
E=$(outcome dnsbl evicted_full)
echo "attack: evicted_full $E, deadline_closed $(outcome dnsbl deadline_closed)"
[ "$E" -ge 7 ] || fail "the queries did not displace attack connections"
attack_end
