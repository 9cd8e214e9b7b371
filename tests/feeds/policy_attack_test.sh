#!/bin/sh
# Issue 13: 256 idle connections used to lock Postfix out of the policy
# service. Here 300 idle connections from ten other addresses, reopened
# as soon as the server closes one, fill repnetd's policy service
# (policy.max_conns = 256, the default), and a real policy request from
# 127.0.0.1 is still answered, again and again, while the attack runs:
# a client holding fewer connections displaces the oldest connection of
# the client holding the most (proto/connsrv.c).
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/integration/flood.sh"
command -v curl >/dev/null || skip "curl is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge 1024 ] || skip "needs 1024 descriptors"

attack_serve

# A request as Postfix's smtpd sends it, from 127.0.0.1.
policy() { policy_ask "$PP" "$1"; }
[ "$(policy 192.0.2.1)" = "action=REJECT Listed by repnet: spam_source" ] || fail "before the attack"

O='repnet_connections_open{listener="policy"}'
start_flood --port "$PP" --conns 300 --sources 10 --seconds 100
for i in 1 2 3; do
	wait_metric "$HP" "$O" 256 # the attack holds every slot again
	a=$(policy 192.0.2.1) || fail "no answer during the attack"
	[ "$a" = "action=REJECT Listed by repnet: spam_source" ] || fail "during the attack: $a"
	[ "$(policy 192.0.2.9)" = "action=DUNNO" ] || fail "unlisted during the attack"
done
E=$(outcome policy evicted_full)
echo "attack: evicted_full $E, refused $(outcome policy refused)"
[ "$E" -ge 6 ] || fail "the answers did not displace attack connections"
attack_end
