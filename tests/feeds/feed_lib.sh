# feed_lib.sh: helpers for the multi-process feed tests (separate repnetd
# processes talking over the bus). Source it after tests/integration/lib.sh.
# Every wait is bounded; every port is picked by the kernel (":0") and read
# back from the daemon's log.
command -v python3 >/dev/null || skip "python3 is not installed"
command -v curl >/dev/null || skip "curl is not installed"
REPLAY="$REPNET_SRC/tests/feeds/syslog_replay.py"
MAILLOG="$REPNET_TEST_DATA/mail/postfix-maillog_file.log"
[ -f "$MAILLOG" ] || fail "missing test data $MAILLOG"

CHECK="$REPNET_SRC/tests/feeds/feed_check.py"
# NSX: a prefix that runs a command where the daemons live, e.g.
# "ip netns exec NAME" for a test in its own network namespace; empty: here.
NSX=${NSX:-}

# start_daemon and metric as in lib.sh, but run through $NSX.
start_daemon() {
	log=$1
	shift
	$NSX "$REPNET_BUILD/repnetd" -f "$@" >"$log" 2>&1 &
	DPID=$!
	DAEMON_PIDS="$DAEMON_PIDS $DPID"
}
metric() {
	$NSX curl -sf "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k { print $2 }'
}

# status_get PORT KEY...: one field of a daemon's GET /status.
status_get() { $NSX python3 "$CHECK" get "$@"; }

# retry SECONDS WHAT CMD...: runs CMD every 0.2 s until it succeeds; fails
# the test after SECONDS.
retry() {
	_lim=$(($1 * 5))
	_what=$2
	shift 2
	_i=0
	until "$@"; do
		_i=$((_i + 1))
		[ $_i -le $_lim ] || fail "timeout: $_what"
		sleep 0.2
	done
}

# collector_key NAME: makes $T/NAME-collector.key (once) and prints its
# public half, base64.
collector_key() {
	[ -f "$T/$1-collector.key" ] ||
		"$REPNET_BUILD/repnet" keygen -o "$T/$1-collector" >/dev/null || fail "keygen $1"
	cut -d' ' -f2 "$T/$1-collector.pub"
}

# start_scorer NAME EXTRA_FEEDS_BUS: a repnetd with roles score and publish,
# signing with $T/NAME.key (made here), every listener on a free port,
# short ticks and heartbeats, and the RFC 6890 ranges listable (the data's
# clients are 127.0.x.x). It trusts the collector keys of the names in
# $S_COLLECTORS (default: col1 col2 import; collector_key makes them).
# Sets S_PID, S_HTTP, S_INGEST, S_PUB, S_RESYNC and S_KEY (the public key,
# base64). EXTRA_FEEDS_BUS is added to feeds.bus.
start_scorer() {
	"$REPNET_BUILD/repnet" keygen -o "$T/$1" >/dev/null || fail "keygen"
	S_KEY=$(cut -d' ' -f2 "$T/$1.pub")
	_trust=""
	for _c in ${S_COLLECTORS:-col1 col2 import}; do
		_trust="$_trust${_trust:+, }{ name = \"$_c\"; key = \"$(collector_key "$_c")\"; }"
	done
	cat >"$T/$1.conf" <<CONF
core: { instance = "$1"; data_dir = "$T/$1.d"; http_listen = "127.0.0.1:0";
        roles = ["score", "publish"]; log_level = "info"; };
scoring: { tick = "1s"; lateness = "500ms"; default_never_block = false; };
feeds: { bus: { publisher = "$1"; signing_key = "$T/$1.key";
                ingest_listen = "${S_INGEST_LISTEN:-tcp://127.0.0.1:0}";
                pub_listen = "${S_PUB_LISTEN:-tcp://127.0.0.1:0}";
                resync_listen = "${S_RESYNC_LISTEN:-tcp://127.0.0.1:0}";
                heartbeat = "${S_HEARTBEAT:-500ms}";
                collectors = ( $_trust ); $2 }; };
CONF
	"$REPNET_BUILD/repnetd" -n -c "$T/$1.conf" >/dev/null || fail "scorer configuration"
	start_daemon "$T/$1.log" -c "$T/$1.conf"
	S_PID=$DPID
	S_HTTP=$(http_port "$T/$1.log")
	wait_for "$T/$1.log" "publish: feed $1 on port" 20
	S_INGEST=$(sed -n 's/.*score: accepting observations on .*(port \([0-9]*\)).*/\1/p' "$T/$1.log")
	S_PUB=$(sed -n "s/.*publish: feed $1 on port \([0-9]*\), resync on port \([0-9]*\).*/\1/p" "$T/$1.log")
	S_RESYNC=$(sed -n "s/.*publish: feed $1 on port \([0-9]*\), resync on port \([0-9]*\).*/\2/p" "$T/$1.log")
	[ -n "$S_INGEST" ] && [ -n "$S_PUB" ] && [ -n "$S_RESYNC" ] || fail "scorer ports"
}

# start_collector NAME INGEST_URL: a repnetd with the collect role only: a
# syslog TCP/UDP receiver on free ports, no flow listeners, observations to
# INGEST_URL signed with $T/NAME-collector.key (collector_key). Sets C_PID,
# C_HTTP and C_TCP (the syslog TCP port).
start_collector() {
	cat >"$T/$1.conf" <<CONF
core: { instance = "$1"; data_dir = "$T/$1.d"; http_listen = "127.0.0.1:0";
        roles = ["collect"]; log_level = "info"; };
collector: { syslog: { udp_listen = "127.0.0.1:0"; tcp_listen = "127.0.0.1:0"; };
             flow: { netflow_listen = ""; ipfix_listen = ""; sflow_listen = ""; }; };
feeds: { bus: { ingest_url = "$2"; ingest_flush = "50ms";
                collector_key = "$T/$1-collector.key"; }; };
CONF
	collector_key "$1" >/dev/null
	"$REPNET_BUILD/repnetd" -n -c "$T/$1.conf" >/dev/null || fail "collector configuration"
	start_daemon "$T/$1.log" -c "$T/$1.conf"
	C_PID=$DPID
	C_HTTP=$(http_port "$T/$1.log")
	wait_for "$T/$1.log" "collector: syslog on udp port" 20
	C_TCP=$(sed -n 's/.*syslog on udp port [0-9]*, tcp port \([0-9]*\).*/\1/p' "$T/$1.log")
	[ -n "$C_TCP" ] || fail "collector $1 syslog port"
}

# collector_drained HTTP_PORT: every observation the collector made is
# acknowledged by the scorer (and there was at least one).
collector_drained() {
	_made=$(metric "$1" 'repnet_collector_observations_total{origin="smtp"}')
	_acked=$(metric "$1" 'repnet_collector_observations_acked_total')
	[ -n "$_made" ] && [ "$_made" -gt 0 ] && [ "$_made" = "$_acked" ]
}

# pub_settled HTTP_PORT: the publisher's seq has not moved for 3 s (a tick
# is 1 s and lateness 0.5 s). Bounded at 60 s.
pub_settled() { $NSX python3 "$CHECK" settled "$1" || fail "the publisher did not settle"; }

# ---- certificates: pki_* in $P ($T/pki), P-256, valid for 2 days --------
P="$T/pki"
# ca NAME CN: a self-signed CA, $P/NAME.crt and .key.
ca() {
	mkdir -p "$P"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$2" -keyout "$P/$1.key" -out "$P/$1.crt" 2>"$P/err" || { cat "$P/err"; fail "openssl: CA $1"; }
}
# leaf NAME CA CN EXTENSIONS: a certificate signed by CA, with the
# extensions (openssl x509 -extfile lines).
leaf() {
	mkdir -p "$P"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$3" \
		-keyout "$P/$1.key" -out "$P/$1.csr" 2>"$P/err" || { cat "$P/err"; fail "openssl: key $1"; }
	printf '%s\n' "$4" >"$P/$1.ext"
	openssl x509 -req -in "$P/$1.csr" -CA "$P/$2.crt" -CAkey "$P/$2.key" -CAcreateserial \
		-days 2 -extfile "$P/$1.ext" -out "$P/$1.crt" 2>"$P/err" || { cat "$P/err"; fail "openssl: sign $1"; }
}

# followed_collector NAME LOG BUS_KEYS: $T/NAME.conf, a collect-only repnetd
# following LOG from its beginning (detectors off, no syslog or flow
# listener: two such tests side by side never meet on a port), sending to
# the scorer start_scorer made ($S_INGEST) signed with $T/NAME-collector.key;
# BUS_KEYS are more feeds.bus keys ('ingest_batch = 64;' ...). Its data
# directory is $T/NAME.d.
followed_collector() {
	collector_key "$1" >/dev/null
	cat >"$T/$1.conf" <<CONF
core: { instance = "$1"; data_dir = "$T/$1.d"; http_listen = "127.0.0.1:0";
        roles = ["collect"]; log_level = "info"; };
collector: { tail: { paths = ["$2"]; start = "beginning"; poll_interval = "100ms";
                     save_interval = "100ms"; };
             detect: { enable = false; };
             flow: { netflow_listen = ""; ipfix_listen = ""; sflow_listen = ""; };
             syslog: { udp_listen = ""; tcp_listen = ""; }; };
feeds: { bus: { ingest_url = "tcp://127.0.0.1:$S_INGEST"; ingest_flush = "20ms";
                collector_key = "$T/$1-collector.key"; $3 }; };
CONF
	"$REPNET_BUILD/repnetd" -n -c "$T/$1.conf" >/dev/null || fail "collector $1 configuration"
}
