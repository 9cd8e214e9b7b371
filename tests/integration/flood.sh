# flood.sh: for the attack tests, after lib.sh: the attacker (flood.py),
# killed at exit with the daemons, and a wait on a metric.

# start_flood ARGS...: runs flood.py ARGS in the background and waits
# until it has tried every connection once.
start_flood() {
	start_flood_named flood "$@"
	wait_for "$T/flood.ready" ready 60
}

# start_flood_named NAME ARGS...: runs flood.py ARGS in the background
# (several may run at once); it writes $T/NAME.ready once it has tried
# every connection. Sets FLOOD_PID and adds it to FLOOD_PIDS.
start_flood_named() {
	command -v python3 >/dev/null || skip "python3 is not installed"
	sfn=$1; shift
	rm -f "$T/$sfn.ready"
	python3 "$REPNET_SRC/tests/integration/flood.py" --ready "$T/$sfn.ready" "$@" &
	FLOOD_PID=$!
	FLOOD_PIDS="${FLOOD_PIDS:-} $FLOOD_PID"
	DAEMON_PIDS="$DAEMON_PIDS $FLOOD_PID"
}

# policy_ask PORT ADDRESS: a policy request as Postfix's smtpd sends it,
# from 127.0.0.1, for a client ADDRESS; prints the answer.
policy_ask() {
	python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10,
                             source_address=("127.0.0.1", 0))
s.sendall(("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
           "client_address=%s\nclient_name=unknown\nreverse_client_name=unknown\n"
           "helo_name=x\nsender=a@example.org\nrecipient=b@example.net\n"
           "recipient_count=0\nqueue_id=\nsize=0\ninstance=1.2.3\n\n" % sys.argv[2]).encode())
a = b""
while not a.endswith(b"\n\n"):
    d = s.recv(512)
    if not d:
        break
    a += d
print(a.decode().strip())
PY
}

# wait_metric HTTP_PORT SAMPLE MIN [SECONDS]: until the sample is at least MIN.
# WM_DIAG, when set, names a command run before a timeout fails the test.
wait_metric() {
	wm_i=0; wm_lim=$(( ${4:-30} * 10 ))
	while wm_v=$(metric "$1" "$2"); [ -z "$wm_v" ] || [ "$wm_v" -lt "$3" ]; do
		wm_i=$((wm_i + 1))
		[ $wm_i -le $wm_lim ] || { ${WM_DIAG:-:}; fail "timeout waiting for $2 >= $3 (it is ${wm_v:-absent})"; }
		sleep 0.1
	done
}

# attack_daemon: starts repnetd -v on $T/r.conf and waits until it runs;
# sets HP, the port of its HTTP listener.
attack_daemon() {
	start_daemon "$T/log" -v -c "$T/r.conf"
	wait_for "$T/log" "repnetd .* running"
	HP=$(http_port "$T/log")
	[ -n "$HP" ] || fail "no HTTP port"
}

# outcome LISTENER OUTCOME: the value of repnet_connections_total.
outcome() {
	metric "$HP" "repnet_connections_total{listener=\"$1\",outcome=\"$2\"}"
}

# attack_end: the daemon survived; the attacker stops; the daemon stops cleanly.
attack_end() {
	kill -0 "$DPID" || fail "daemon died"
	kill "$FLOOD_PID"
	kill -TERM "$DPID"
	wait_exit "$DPID" 15
	[ "$EXIT_STATUS" = 0 ] || fail "exit status $EXIT_STATUS"
	echo PASS
}

# attack_serve: repnetd's serve role, 192.0.2.1 listed as spam_source,
# the DNSBL (zone bl.test) and the policy service on ports of their own
# choice, read from the log into DP and PP.
attack_serve() {
	printf '{"prefix":"192.0.2.1/32","categories":["spam_source"]}\n' >"$T/list.json"
	cat >"$T/r.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = "127.0.0.1:0"; roles = ["serve"]; };
feeds: {
  dnsbl: { list_file = "$T/list.json"; list_format = "json"; listen = ["127.0.0.1:0"];
           zones = ["bl.test"]; };
  policy: { listen = "127.0.0.1:0"; };
};
CONF
	attack_daemon
	DP=$(sed -n 's/.*dnsbl: serving .* on port \([0-9]*\).*/\1/p' "$T/log")
	PP=$(sed -n 's/.*policy: serving on port \([0-9]*\).*/\1/p' "$T/log")
	[ -n "$DP" ] && [ -n "$PP" ] || fail "ports not logged"
}
