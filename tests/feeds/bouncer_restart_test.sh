#!/bin/sh
# A listing removed while repnetd is down leaves the bouncer at its first
# poll after the restart: the real crowdsec-firewall-bouncer (nftables
# mode, in a network namespace this test creates) holds 192.0.2.1 and
# 192.0.2.2; repnetd stops; 192.0.2.1 is delisted; repnetd starts again
# with its saved per-key positions, and the bouncer, which kept running
# and polls with startup=false, takes 192.0.2.1 out of its set. Before,
# the ban stayed until the bouncer's own timeout (decisions.duration).
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/bouncer_lib.sh"
bouncer_ns rncr

cat >"$T/list.json" <<'LIST'
{"prefix":"192.0.2.1/32","categories":["spam_source"]}
{"prefix":"192.0.2.2/32","categories":["scanner"]}
LIST
bouncer_repnetd "bouncer-key-$$"
bouncer_conf nftables "bouncer-key-$$" "$T" >"$T/bouncer.yaml"
ip netns exec "$NS" "$REPNET_BUILD/repnetd" -f -c "$T/r.conf" >"$T/first.log" 2>&1 &
RPID=$!
DAEMON_PIDS="$DAEMON_PIDS $RPID"
wait_for "$T/first.log" "repnetd .* running"
ip netns exec "$NS" crowdsec-firewall-bouncer -c "$T/bouncer.yaml" >"$T/bouncer.log" 2>&1 &
DAEMON_PIDS="$DAEMON_PIDS $!"

sets() { ip netns exec "$NS" nft list set ip crowdsec crowdsec-blacklists 2>/dev/null || true; }
until_set() {
	i=0
	while [ $i -lt 100 ]; do
		sets >"$T/sets"
		if eval "$1"; then return 0; fi
		i=$((i + 1)); sleep 0.2
	done
	cat "$T/sets" "$T/bouncer.log" >&2
	fail "bouncer set never satisfied: $1"
}
has() { grep -q "$1 timeout" "$T/sets"; }
until_set 'has 192.0.2.1 && has 192.0.2.2'
# The position is saved once the bouncer has been answered.
wait_until 20 test -n "$(ls "$T/data/decisions/" 2>/dev/null)" || fail "no position saved"

kill -TERM "$RPID"
wait_exit "$RPID" 30
[ "$EXIT_STATUS" = 0 ] || fail "repnetd exited with $EXIT_STATUS"
# Delisted while repnetd is down; the bouncer keeps polling in vain.
printf '{"prefix":"192.0.2.2/32","categories":["scanner"]}\n' >"$T/list.json"
n=$(grep -c . "$T/bouncer.log")
wait_until 20 sh -c "[ \$(grep -c . '$T/bouncer.log') -gt $n ]" || true
sets >"$T/sets"
has 192.0.2.1 || fail "the ban went before the restart: the test proves nothing"

ip netns exec "$NS" "$REPNET_BUILD/repnetd" -f -c "$T/r.conf" >"$T/second.log" 2>&1 &
DAEMON_PIDS="$DAEMON_PIDS $!"
wait_for "$T/second.log" "repnetd .* running"
grep -q "decisions: a bouncer's position restored (2 values held)" "$T/second.log" ||
	fail "the position was not restored"
until_set '! has 192.0.2.1 && has 192.0.2.2'
pgrep -f "crowdsec-firewall-bouncer -c $T/bouncer.yaml" >/dev/null || fail "the bouncer exited"
echo "PASS: after the restart: $(grep -o '[0-9a-f:.]* timeout [0-9a-z]*' "$T/sets" | tr '\n' ' ')"
