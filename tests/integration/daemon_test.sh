#!/bin/sh
# repnetd: configuration checking, /metrics, SIGHUP reload, clean stop.
# The built-in defaults include the sync role, which as root installs its
# netfilter table; so as root the test runs in a network namespace of its
# own, and the table goes with it.
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" = 0 ] && [ "${REPNET_IN_NETNS:-}" != 1 ] && command -v ip >/dev/null; then
	netns_add "rndaemon$$" || fail "ip netns add"
	ip netns exec "rndaemon$$" ip link set lo up || fail "lo up"
	rc=0
	REPNET_IN_NETNS=1 ip netns exec "rndaemon$$" sh "$0" "$@" || rc=$?
	exit $rc
fi
D="$REPNET_BUILD/repnetd"

# -n on the built-in defaults.
[ "$("$D" -n)" = "configuration OK" ] || fail "-n on defaults"

# -n names the key and the line of an out-of-range value.
cat >"$T/bad.conf" <<'CONF'
core: {
  instance = "edge1";

  shutdown_grace = "20m";
};
CONF
if "$D" -n -c "$T/bad.conf" 2>"$T/err"; then fail "-n accepted an out-of-range value"; fi
grep -q "bad.conf:4: core.shutdown_grace: 20m is out of range" "$T/err" || { cat "$T/err"; fail "error does not name key and line"; }
# An unknown key is an error too, not silently ignored.
printf 'core: { instanse = "x"; };\n' >"$T/typo.conf"
if "$D" -n -c "$T/typo.conf" 2>"$T/err"; then fail "-n accepted an unknown key"; fi
grep -q "typo.conf:1: core.instanse: unknown key" "$T/err" || fail "unknown key message"

# Run, scrape, reload, stop.
cat >"$T/good.conf" <<CONF
core: {
  instance = "t1";
  data_dir = "$T/data";
  http_listen = "127.0.0.1:0";
  log_level = "notice";
};
collector: { syslog: { udp_listen = "127.0.0.1:0"; tcp_listen = "127.0.0.1:0"; }; };
CONF
start_daemon "$T/log" -c "$T/good.conf"
PORT=$(http_port "$T/log")
[ -n "$PORT" ] || fail "no port"
[ "$(metric "$PORT" 'repnet_build_info{version="0.1.0"}')" = 1 ] || fail "build_info"
[ -d "$T/data" ] || fail "data_dir not created"
# Every metric the daemon exports is documented in the README.
curl -sf "http://127.0.0.1:$PORT/metrics" | sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' >"$T/names"
[ -s "$T/names" ] || fail "no metrics"
while read -r m; do
	grep -q "\`$m\`" "$REPNET_SRC/README.md" || fail "README does not document metric $m"
done <"$T/names"

# A broken file on SIGHUP: the old configuration stays and the daemon runs on.
cp "$T/good.conf" "$T/good.conf.orig"
printf 'core: { log_level = "loud"; };\n' >"$T/good.conf"
kill -HUP "$DPID"
wait_for "$T/log" "reload failed, keeping the running configuration"
grep -q 'good.conf:1: core.log_level: "loud" is not one of' "$T/log" || fail "reload error text"
[ "$(metric "$PORT" 'repnet_config_reloads_total{result="failed"}')" = 1 ] || fail "failed counter"

# A key that needs a restart: refused, and said so.
sed 's/127.0.0.1:0/127.0.0.1:1/' "$T/good.conf.orig" >"$T/good.conf"
kill -HUP "$DPID"
wait_for "$T/log" "core.http_listen changed, and it needs a restart"

# A reloadable change is applied.
sed 's/notice/info/' "$T/good.conf.orig" >"$T/good.conf"
kill -HUP "$DPID"
wait_for "$T/log" "configuration reloaded"
[ "$(metric "$PORT" 'repnet_config_reloads_total{result="ok"}')" = 1 ] || fail "ok counter"
kill -0 "$DPID" || fail "daemon died during reloads"

# SIGINT (Ctrl-C) stops it with status 0.
kill -INT "$DPID"
wait_exit "$DPID" 15
[ "$EXIT_STATUS" = 0 ] || fail "SIGINT exit status $EXIT_STATUS"
grep -q "stopped" "$T/log" || fail "no clean stop"

# SIGTERM too, on the built-in defaults plus overrides.
start_daemon "$T/log2" -o core.http_listen=127.0.0.1:0 -o "core.data_dir=$T/data2"
PORT=$(http_port "$T/log2")
curl -sf "http://127.0.0.1:$PORT/metrics" >/dev/null || fail "metrics on defaults"
kill -TERM "$DPID"
wait_exit "$DPID" 15
[ "$EXIT_STATUS" = 0 ] || fail "SIGTERM exit status $EXIT_STATUS"

# A port in use is a clear startup error, not a hang.
start_daemon "$T/log3" -o core.http_listen=127.0.0.1:0 -o "core.data_dir=$T/data3"
PORT=$(http_port "$T/log3")
if "$D" -f -o "core.http_listen=127.0.0.1:$PORT" -o "core.data_dir=$T/data4" >"$T/log4" 2>&1; then
	fail "second daemon on the same port started"
fi
grep -q "http listener 127.0.0.1:$PORT" "$T/log4" || { cat "$T/log4"; fail "port-in-use message"; }
kill -TERM "$DPID"
wait_exit "$DPID" 15
echo PASS
