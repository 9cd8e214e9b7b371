#!/bin/sh
# reject_rbl_client through the system resolver, as docs/postfix.md sets
# it up: Postfix asks the resolver in /etc/resolv.conf on port 53, where a
# local forwarder sends the repnet zone to repnetd's DNSBL on
# 127.0.0.1:5300. Everything runs in a network namespace this test
# creates, with a private /etc/resolv.conf, so port 53 and the resolver
# are the test's own. First unbound (stub-zone), then dnsmasq
# (--server=/zone/127.0.0.1#5300): each time swaks from the listed
# 127.0.3.5 is rejected with repnet's TXT and the unlisted 127.0.1.5's
# mail is accepted.
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/postfix_lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces, Postfix)"
command -v postfix >/dev/null || skip "postfix is not installed (scripts/bootstrap.sh)"
command -v swaks >/dev/null || skip "swaks is not installed"
command -v unshare >/dev/null || skip "unshare is not installed (util-linux)"
command -v unbound >/dev/null || skip "unbound is not installed"
command -v dnsmasq >/dev/null || skip "dnsmasq is not installed (dnsmasq-base)"
command -v dig >/dev/null || skip "dig is not installed (dnsutils)"
NS="rnpw$$"
netns_add "$NS" || skip "cannot create a network namespace"
ip -n "$NS" link set lo up
chmod 755 "$T"
X="ip netns exec $NS"

printf '{"prefix":"127.0.3.5/32","categories":["spam_source"]}\n' >"$T/list.json"
cat >"$T/r.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = ""; roles = ["serve"]; };
feeds: { dnsbl: { list_file = "$T/list.json"; listen = ["127.0.0.1:5300"]; zones = ["bl.test"]; };
         policy: { listen = ""; }; };
CONF
$X "$REPNET_BUILD/repnetd" -f -c "$T/r.conf" >"$T/repnetd.log" 2>&1 &
DAEMON_PIDS="$DAEMON_PIDS $!"
wait_for "$T/repnetd.log" "repnetd .* running"

# The recipe's unbound.conf, with the test's own paths.
cat >"$T/unbound.conf" <<CONF
server:
    interface: 127.0.0.1
    port: 53
    access-control: 127.0.0.0/8 allow
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$T"
    pidfile: "$T/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    module-config: "iterator"
    do-not-query-localhost: no
    qname-minimisation: no
    # bl.test is under test., which unbound answers itself by default.
    local-zone: "test." nodefault
    domain-insecure: "bl.test."
stub-zone:
    name: "bl.test."
    stub-addr: 127.0.0.1@5300
CONF
postfix_instance

cat >"$T/body.sh" <<BODY
send() { # source
	swaks --server 127.0.0.1:25 --local-interface "\$1" --helo client.example \
		--from sender@example.org --to bob@test.example --timeout 15 2>&1 || true
}
send 127.0.3.5 >"$T/swaks.listed.\$FWD"
send 127.0.1.5 >"$T/swaks.clean.\$FWD"
BODY

# check FORWARDER: the forwarder answers on port 53, then Postfix's verdicts.
check() {
	i=0
	until $X dig -p 53 @127.0.0.1 +time=1 +tries=1 5.3.0.127.bl.test A 2>/dev/null | grep -q 'status: NOERROR'; do
		i=$((i + 1)); [ $i -lt 100 ] || fail "$1 does not answer for bl.test"
		sleep 0.1
	done
	FWD=$1 && export FWD
	postfix_run "$T/body.sh"
	grep -q "554 5.7.1 Service unavailable; Client host \[127.0.3.5\] blocked using bl.test; Listed by repnet: spam_source" "$T/swaks.listed.$1" ||
		{ cat "$T/swaks.listed.$1"; fail "listed client not rejected through $1"; }
	grep -q "250 2.0.0 Ok: queued" "$T/swaks.clean.$1" || { cat "$T/swaks.clean.$1"; fail "unlisted client not accepted through $1"; }
	echo "  $1: 127.0.3.5 rejected, 127.0.1.5 accepted"
}

unbound-checkconf "$T/unbound.conf" >/dev/null || fail "unbound-checkconf"
$X unbound -d -c "$T/unbound.conf" >"$T/unbound.log" 2>&1 &
UPID=$!
DAEMON_PIDS="$DAEMON_PIDS $UPID"
check unbound
kill "$UPID"
wait_exit "$UPID" 10

$X dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll --conf-file=/dev/null \
	--listen-address=127.0.0.1 --bind-interfaces --port=53 --user=root \
	--pid-file="$T/dnsmasq.pid" --server=/bl.test/127.0.0.1#5300 >"$T/dnsmasq.log" 2>&1 &
MPID=$!
DAEMON_PIDS="$DAEMON_PIDS $MPID"
check dnsmasq
kill "$MPID"
wait_exit "$MPID" 10
wait_for "$T/maillog" "reject: RCPT from .*\[127.0.3.5\]: 554 5.7.1 Service unavailable; Client host \[127.0.3.5\] blocked using bl.test" 30
echo "PASS: reject_rbl_client through unbound and dnsmasq forwarding bl.test to repnetd"
