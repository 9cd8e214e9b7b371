#!/bin/sh
# Issue 14, "collectors sign what they send" and "transport", with real
# processes on loopback: a scorer (score, publish, serve: the DNSBL and
# the policy service answer from its own feed) trusts collector edge1,
# knows collector gone as revoked, and knows nothing of stranger.
#   1. An unsigned batch, one with a bad signature, one by an unknown key
#      and one by a revoked key (the last two sent by `repnet import --to`,
#      the issue's attack: 1.0.0.0/8 and 8.8.8.8) are refused: each counted
#      by reason in the metrics and in `repnet status`, 0 observations
#      taken, nothing listed (checked once a trusted sentinel is listed,
#      which the refused batches preceded), the DNSBL and the policy
#      service do not answer for them.
#   2. A 70 MB request (over bus.recv_max) is dropped by nng and counted.
#   3. The same attack list signed by edge1 is listed (so 1 can fail): the
#      DNSBL answers for it, the policy service rejects it.
#   4. A collector daemon whose key the scorer does not know yet (fed the
#      real Postfix log) keeps its observations; once a reload trusts it,
#      every one is acknowledged and taken; after a SIGKILL of the scorer,
#      every acknowledged observation is replayed from the journal, and
#      explain names the collector behind the evidence.
#   5. A feed snapshot over a replica's bus.recv_max is dropped by nng and
#      counted by the replica (and taken with the default limit).
#   6. Plain tcp:// on 0.0.0.0 refuses to start, naming the key; with
#      feeds.bus.allow_plaintext it starts (in a namespace of its own).
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/feed_lib.sh"
command -v dig >/dev/null || skip "dig is not installed"
R="$REPNET_BUILD/repnet"
SEND="$REPNET_SRC/tests/feeds/ingest_send.py"

for k in edge1 edge2 gone stranger; do "$R" keygen -o "$T/$k" >/dev/null || fail "keygen $k"; done
pub() { cut -d' ' -f2 "$T/$1.pub"; }

# The scorer: edge1 trusted, gone revoked; edge2 comes with a reload (4).
scorer_conf() { # EXTRA_COLLECTORS
	cat >"$T/s.conf" <<CONF
core: { instance = "s1"; data_dir = "$T/s.d"; http_listen = "127.0.0.1:0";
        roles = ["score", "publish", "serve"]; log_level = "info"; };
scoring: { tick = "1s"; lateness = "500ms"; default_never_block = false;
           snapshot_interval = "1d"; };
feeds: {
  bus: { ingest_listen = "tcp://127.0.0.1:0"; pub_listen = "tcp://127.0.0.1:0";
         resync_listen = "tcp://127.0.0.1:0"; heartbeat = "500ms";
         collectors = ( { name = "edge1"; key = "$(pub edge1)"; },
                        { name = "gone"; key = "$(pub gone)"; revoked = true; } $1 ); };
  dnsbl: { listen = ["127.0.0.1:0"]; };
  policy: { listen = "127.0.0.1:0"; };
};
CONF
}
start_scorer_here() {
	"$REPNET_BUILD/repnetd" -n -c "$T/s.conf" >/dev/null || fail "scorer configuration"
	start_daemon "$T/s.log" -c "$T/s.conf"
	S_PID=$DPID
	S_HTTP=$(http_port "$T/s.log")
	wait_for "$T/s.log" "policy: serving on port" 20
	S_PORT=$(sed -n 's/.*score: accepting observations on .*(port \([0-9]*\)).*/\1/p' "$T/s.log" | tail -n 1)
	DNS=$(sed -n 's/.*dnsbl: serving .* on port \([0-9]*\) .*/\1/p' "$T/s.log" | tail -n 1)
	POLICY=$(sed -n 's/.*policy: serving on port \([0-9]*\).*/\1/p' "$T/s.log" | tail -n 1)
	[ -n "$S_PORT" ] && [ -n "$DNS" ] && [ -n "$POLICY" ] || fail "scorer ports"
}
scorer_conf ""
start_scorer_here
URL="tcp://127.0.0.1:$S_PORT"
printf '1.0.0.0/8\n8.8.8.8\n' >"$T/attack.cidr"

# listed IP: the DNSBL answers A for IP (a 127.0.0.x code).
listed() {
	rev=$(echo "$1" | awk -F. '{ print $4 "." $3 "." $2 "." $1 }')
	dig -p "$DNS" @127.0.0.1 +time=2 +tries=2 +short "$rev.bl.repnet.localhost" A | grep -q '^127\.0\.0\.'
}
# policy IP: the policy service's action for IP at RCPT.
policy() { policy_ask "$POLICY" "$1"; }
refused() { metric "$S_HTTP" "repnet_ingest_refused_total{reason=\"$1\"}"; }

# ---- 1. refusals -----------------------------------------------------------
[ "$(python3 "$SEND" "$S_PORT" unsigned 1.0.0.0/8 8.8.8.8)" = 3 ] || fail "unsigned: not answered unauthenticated"
[ "$(python3 "$SEND" "$S_PORT" badsig "$T/edge1.pub" 1.0.0.0/8 8.8.8.8)" = 3 ] || fail "bad signature: not answered unauthenticated"
for k in stranger gone; do
	if "$R" import --format cidr "$T/attack.cidr" --to "$URL" --key "$T/$k.key" \
		-o feeds.bus.ingest_timeout=500ms >"$T/import-$k.out" 2>&1; then
		cat "$T/import-$k.out" >&2
		fail "the scorer acknowledged the import signed by $k"
	fi
	grep -q "2 of 2 observations not acknowledged: the scorer does not trust this collector key" \
		"$T/import-$k.out" || { cat "$T/import-$k.out" >&2; fail "import by $k: message"; }
done
[ "$(refused unsigned)" = 1 ] || fail "unsigned refusals: $(refused unsigned)"
[ "$(refused bad_signature)" = 1 ] || fail "bad_signature refusals: $(refused bad_signature)"
[ "$(refused unknown_key)" -ge 1 ] || fail "no unknown_key refusal"
[ "$(refused revoked_key)" -ge 1 ] || fail "no revoked_key refusal"
metric_is "$S_HTTP" repnet_ingest_observations_total 0 || fail "observations taken from refused batches"
# The import retried, backing off: a handful of attempts in its second of grace.
[ "$(refused unknown_key)" -le 10 ] || fail "$(refused unknown_key) attempts by one import: no backoff"
grep -q "ingest: refused a batch from 127.0.0.1:[0-9]*: key [0-9a-f]\{16\} is not in feeds.bus.collectors" "$T/s.log" ||
	fail "no log line naming the peer and the key id"
grep -q "ingest: refused a batch from 127.0.0.1:[0-9]*: key [0-9a-f]\{16\} is revoked" "$T/s.log" ||
	fail "no log line for the revoked key"
"$R" status --http "127.0.0.1:$S_HTTP" >"$T/status" || fail "repnet status"
grep -Eq "^  refused  .*unsigned :1" "$T/status" || { cat "$T/status"; fail "status: refusals"; }
for r in unknown_key revoked_key bad_signature; do
	grep -Eq "^  refused  .*$r :[0-9]+" "$T/status" || { cat "$T/status"; fail "status: $r"; }
done
grep -Eq "^  last refused: revoked_key from 127\.0\.0\.1:[0-9]+, key [0-9a-f]{16}, [0-9]+ s ago$" "$T/status" ||
	{ cat "$T/status"; fail "status: last refusal"; }
grep -q "^ingest: 0 batches, 0 observations taken$" "$T/status" || { cat "$T/status"; fail "status: taken"; }

# ---- 2. an oversized request -----------------------------------------------
[ "$(python3 "$SEND" "$S_PORT" big 70000000)" = closed ] || fail "a 70 MB request was answered"
wait_until 10 sh -c "[ \"\$(curl -sf http://127.0.0.1:$S_HTTP/metrics |
	awk '\$1 == \"repnet_bus_pipes_closed_before_message_total{socket=\\\"ingest\\\"}\" { print \$2 }')\" -ge 1 ]" ||
	fail "the oversized request was not counted"
grep -q "bus: ingest: a connection from 127.0.0.1:[0-9]* closed before delivering a message" "$T/s.log" ||
	fail "the oversized request was not logged"

# A sentinel, signed by edge1, sent after all of the above: once it is
# listed, whatever the scorer had taken before would be listed too.
printf '9.9.9.9\n' >"$T/sentinel.cidr"
"$R" import --format cidr "$T/sentinel.cidr" --to "$URL" --key "$T/edge1.key" >"$T/sentinel.out" 2>&1 ||
	{ cat "$T/sentinel.out" >&2; fail "trusted sentinel import"; }
wait_until 30 listed 9.9.9.9 || fail "the sentinel was not listed"
for ip in 8.8.8.8 1.2.3.4; do
	! listed $ip || fail "$ip is listed from a refused batch"
	[ "$(policy $ip)" = "action=DUNNO" ] || fail "policy for $ip: $(policy $ip)"
done
[ "$(status_get "$S_HTTP" scorer listed)" = 1 ] || fail "the scorer lists $(status_get "$S_HTTP" scorer listed), not the sentinel alone"

# ---- 3. the same list, signed by a trusted key ------------------------------
"$R" import --format cidr "$T/attack.cidr" --to "$URL" --key "$T/edge1.key" >"$T/trusted.out" 2>&1 ||
	{ cat "$T/trusted.out" >&2; fail "trusted import"; }
grep -q "2 observations acknowledged" "$T/trusted.out" || fail "trusted import: acks"
wait_until 30 listed 8.8.8.8 || fail "8.8.8.8 was not listed from a trusted batch"
listed 1.2.3.4 || fail "1.0.0.0/8 was not listed from a trusted batch"
policy 8.8.8.8 | grep -q "^action=REJECT " || fail "policy for 8.8.8.8: $(policy 8.8.8.8)"

# ---- 4. nothing acknowledged is lost -----------------------------------------
# start_collector signs with $T/NAME-collector.key: edge2's.
cp -p "$T/edge2.key" "$T/edge2-collector.key"
cp -p "$T/edge2.pub" "$T/edge2-collector.pub"
start_collector edge2 "$URL"
E_PID=$C_PID E_HTTP=$C_HTTP E_TCP=$C_TCP
python3 "$REPLAY" 127.0.0.1 "$E_TCP" "$MAILLOG" 1 "$(wc -l <"$MAILLOG")" >/dev/null || fail "replay"
wait_until 30 sh -c "[ \"\$(curl -sf http://127.0.0.1:$E_HTTP/metrics |
	awk '\$1 == \"repnet_collector_batches_total{result=\\\"unauthenticated\\\"}\" { print \$2 }')\" -ge 2 ]" ||
	fail "edge2's batches were not refused"
metric_is "$E_HTTP" repnet_collector_observations_acked_total 0 || fail "edge2 acknowledged before it was trusted"
# Trusted by a reload: what it kept is delivered.
scorer_conf ", { name = \"edge2\"; key = \"$(pub edge2)\"; }"
kill -HUP "$S_PID"
wait_for "$T/s.log" "reload: 3 collector(s) configured" 20
wait_until 60 collector_drained "$E_HTTP" || fail "edge2 did not drain after the reload"
made=$(metric "$E_HTTP" 'repnet_collector_observations_total{origin="smtp"}')
[ "$(metric "$S_HTTP" 'repnet_ingest_collector_observations_total{collector="edge2"}')" = "$made" ] ||
	fail "the scorer took $(metric "$S_HTTP" 'repnet_ingest_collector_observations_total{collector="edge2"}') of edge2's $made"
kill -TERM "$E_PID"
wait_exit "$E_PID" 20
# A crash: every acknowledged observation comes back from the journal.
taken=$(metric "$S_HTTP" repnet_ingest_observations_total)
kill -KILL "$S_PID"
wait_exit "$S_PID" 5
start_scorer_here
URL="tcp://127.0.0.1:$S_PORT"
# Every observation replayed from the journal is counted once, by result
# (held, late and overflow are parts of accepted).
v=0
for r in accepted protected ignored stale future bad; do
	v=$((v + $(metric "$S_HTTP" "repnet_scoring_observations_total{result=\"$r\"}")))
done
[ "$v" -eq "$taken" ] || fail "after the crash the scorer replayed $v of the $taken observations it acknowledged"
listed 8.8.8.8 || wait_until 30 listed 8.8.8.8 || fail "8.8.8.8 not listed after the crash"
"$R" explain -c "$T/s.conf" 8.8.8.8 >"$T/explain" || fail "explain"
grep -q "evidence cidr from edge1" "$T/explain" || { cat "$T/explain"; fail "explain does not name edge1"; }
ip=$("$R" logs "$MAILLOG" 2>/dev/null | sed -n 's/.*"ip":"\([0-9.]*\)","kind":"rbl_listed".*/\1/p' | head -n 1)
[ -n "$ip" ] || fail "no rbl_listed observation in the log"
"$R" explain -c "$T/s.conf" "$ip" >"$T/explain2" || fail "explain $ip"
grep -q "rbl_listed .* from edge2" "$T/explain2" || { cat "$T/explain2"; fail "explain $ip does not name edge2"; }

# ---- 5. an oversized feed message ----------------------------------------------
# 60000 scattered addresses make a snapshot of more than 64 KiB. A replica
# whose bus.recv_max is 64 KiB cannot take it: nng drops every resync reply
# and closes the connection, which the replica counts (and the same
# replica with the default limit takes it: the count is the limit's doing).
python3 -c 'import random
r = random.Random(14)
print("\n".join("11.%d.%d.%d" % (r.randrange(256), r.randrange(256), r.randrange(256))
                for _ in range(60000)))' | sort -u >"$T/many.cidr"
n=$(wc -l <"$T/many.cidr")
"$R" import --format cidr "$T/many.cidr" --to "$URL" --key "$T/edge1.key" >"$T/many.out" 2>&1 ||
	{ cat "$T/many.out" >&2; fail "import of $n addresses"; }
many_listed() { [ "$(status_get "$S_HTTP" publisher listed)" -ge "$n" ]; }
wait_until 60 many_listed || fail "the $n addresses were not listed"
FEED=$(sed -n 's/.*publish: feed s1 on port \([0-9]*\), resync on port \([0-9]*\).*/\1 \2/p' "$T/s.log")
replica() { # RECV_MAX
	cat >"$T/rep.conf" <<CONF
core: { instance = "rep"; data_dir = "$T/rep.d"; http_listen = "127.0.0.1:0"; roles = ["serve"]; };
scoring: { default_never_block = false; };
feeds: {
  bus: { recv_max = "$1"; serve = "s1";
         peers = ( { name = "s1"; key = "$(cut -d' ' -f2 "$T/s.d/keys/publisher.pub")";
                     url = "tcp://127.0.0.1:${FEED% *}"; resync = "tcp://127.0.0.1:${FEED#* }";
                     own = true; } ); };
  dnsbl: { listen = ["127.0.0.1:0"]; };
  policy: { listen = ""; };
};
CONF
	start_daemon "$T/rep.log" -c "$T/rep.conf"
	P_PID=$DPID
	P_HTTP=$(http_port "$T/rep.log")
}
replica 64k
dropped() {
	v=$(metric "$P_HTTP" 'repnet_bus_pipes_closed_before_message_total{socket="feed_resync:s1"}')
	[ "${v:-0}" -ge 1 ]
}
wait_until 60 dropped || { cat "$T/rep.log" >&2; fail "the replica did not count the oversized resync reply"; }
[ "$(status_get "$P_HTTP" serving listed)" = 0 ] || fail "the replica took a snapshot over its limit"
grep -q "bus: feed_resync:s1: a connection from 127.0.0.1:${FEED#* } closed before delivering a message" "$T/rep.log" ||
	fail "the oversized resync reply was not logged"
kill -TERM "$P_PID"
wait_exit "$P_PID" 20
rm -rf "$T/rep.d"
replica 64M
replica_has() { [ "$(status_get "$P_HTTP" serving listed)" -ge "$n" ]; }
wait_until 60 replica_has || fail "the replica with the default limit did not take the snapshot"
metric_is "$P_HTTP" 'repnet_bus_pipes_closed_before_message_total{socket="feed_resync:s1"}' 0 ||
	fail "the replica with the default limit counted a dropped message"
kill -TERM "$P_PID"
wait_exit "$P_PID" 20
kill -TERM "$S_PID"
wait_exit "$S_PID" 20
[ "$EXIT_STATUS" -eq 0 ] || fail "scorer exit status $EXIT_STATUS"

# ---- 6. plaintext off loopback ----------------------------------------------
D="$REPNET_BUILD/repnetd"
for key in ingest_listen pub_listen resync_listen; do
	if "$D" -f -c "$T/s.conf" -o core.roles=score,publish -o core.http_listen= \
		-o "feeds.bus.$key=tcp://0.0.0.0:0" >"$T/plain.log" 2>&1; then
		fail "a plain tcp:// $key on 0.0.0.0 started"
	fi
	grep -q "tcp://0.0.0.0:0 would take plain TCP from the network: .*feeds.bus.allow_plaintext" "$T/plain.log" ||
		{ cat "$T/plain.log" >&2; fail "$key: the error does not name feeds.bus.allow_plaintext"; }
done
[ "$(id -u)" = 0 ] || { echo "PASS (allow_plaintext's listener not started: needs root for a namespace)"; exit 0; }
NS="rn-trust-$$"
netns_add "$NS" || fail "ip netns add"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" "$D" -f -c "$T/s.conf" -o core.roles=score -o core.http_listen= \
	-o core.data_dir="$T/ns.d" -o feeds.bus.ingest_listen=tcp://0.0.0.0:0 \
	-o feeds.bus.allow_plaintext=true >"$T/ns.log" 2>&1 &
NPID=$!
DAEMON_PIDS="$DAEMON_PIDS $NPID"
wait_for "$T/ns.log" "score: accepting observations on tcp://0.0.0.0:0" 20
kill -TERM "$NPID"
wait_exit "$NPID" 20
[ "$EXIT_STATUS" -eq 0 ] || fail "the allowed plaintext scorer exited $EXIT_STATUS"
echo PASS
