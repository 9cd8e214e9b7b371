# allroles_lib.sh: one repnetd with every role (collect with syslog and
# flow listeners, score, publish, serve with DNSBL and policy, sync) in a
# network namespace of the test's own, so that the sync role's netfilter
# sets and the default ports stay inside it. Source after lib.sh. Root only
# (the namespace and the sync role): the caller skips otherwise.

# allroles_start NAME: starts the daemon in namespace NAME (its log is
# $T/NAME.log); sets NS, DPID and HP (the HTTP port).
allroles_start() {
	NS=$1
	netns_add "$NS" || fail "ip netns add $NS"
	ip netns exec "$NS" ip link set lo up || fail "lo up in $NS"
	"$REPNET_BUILD/repnet" keygen -o "$T/$NS-pub" >/dev/null || fail "keygen"
	cat >"$T/$NS.conf" <<CONF
core: { instance = "$NS"; data_dir = "$T/$NS-data"; http_listen = "127.0.0.1:0";
        roles = ["collect", "score", "publish", "serve", "sync"]; log_level = "info"; };
collector: { syslog: { udp_listen = "127.0.0.1:0"; tcp_listen = "127.0.0.1:0"; };
  flow: { netflow_listen = "127.0.0.1:0"; ipfix_listen = "127.0.0.1:0"; sflow_listen = "127.0.0.1:0"; }; };
feeds: { bus: { publisher = "$NS-pub"; signing_key = "$T/$NS-pub.key";
                pub_listen = "tcp://127.0.0.1:0"; resync_listen = "tcp://127.0.0.1:0"; };
  dnsbl: { listen = "127.0.0.1:0"; }; policy: { listen = "127.0.0.1:0"; }; };
CONF
	"$REPNET_BUILD/repnetd" -n -c "$T/$NS.conf" >/dev/null || fail "-n on the all-roles configuration"
	ip netns exec "$NS" "$REPNET_BUILD/repnetd" -f -c "$T/$NS.conf" >"$T/$NS.log" 2>&1 &
	DPID=$!
	DAEMON_PIDS="$DAEMON_PIDS $DPID"
	HP=$(http_port "$T/$NS.log")
	[ -n "$HP" ] || fail "no HTTP port"
	for r in collect score publish serve sync; do
		grep -q "roles .*$r" "$T/$NS.log" || fail "role $r not running"
	done
}

# allroles_scrape FILE: /metrics of the daemon, from inside its namespace.
allroles_scrape() {
	ip netns exec "$NS" curl -sf "http://127.0.0.1:$HP/metrics" >"$1" || fail "scrape"
}
