#!/bin/sh
# Issue 13: 64 idle TCP connections used to lock every sender out of the
# syslog receiver. Here 80 idle connections from eight other addresses,
# reopened as soon as the server closes one, hold every slot of repnetd's
# syslog TCP receiver (collector.syslog.max_connections = 64, the
# default), and a line that logger sends from 127.0.0.1 still becomes an
# observation, for each of three senders, while the attack runs: a sender
# holding fewer connections displaces the oldest connection of the sender
# holding the most (proto/connsrv.c).
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/integration/flood.sh"
command -v logger >/dev/null || skip "logger (bsdutils) is not installed"
command -v curl >/dev/null || skip "curl is not installed"

cat >"$T/r.conf" <<CONF
core: { instance = "c1"; data_dir = "$T/data"; http_listen = "127.0.0.1:0"; roles = ["collect"]; };
collector: { syslog: { udp_listen = ""; tcp_listen = "127.0.0.1:0"; }; };
CONF
attack_daemon
wait_for "$T/log" "collector: syslog on udp port"
TCP=$(sed -n 's/.*syslog on udp port \([0-9]*\), tcp port \([0-9]*\).*/\2/p' "$T/log")
[ -n "$TCP" ] || fail "no syslog port"

O='repnet_connections_open{listener="syslog"}'
start_flood --port "$TCP" --conns 80 --sources 8 --seconds 100
for i in 1 2 3; do
	wait_metric "$HP" "$O" 64 # the attack holds every slot again
	echo "connect from unknown[192.0.2.$i]" |
		timeout 20 logger --server 127.0.0.1 --port "$TCP" --tcp -t postfix/smtpd --id=$i ||
		fail "logger $i"
	wait_for "$T/log" "observation .* 192.0.2.$i smtp_connect" 20
done
E=$(outcome syslog evicted_full)
echo "attack: evicted_full $E"
[ "$E" -ge 3 ] || fail "the senders did not displace attack connections"
attack_end
