#!/bin/sh
# Debian's Postfix against repnet, inside a network namespace this test
# creates (and a private mount namespace, so the host's /etc/postfix and
# spool are never touched). repnetd serves the DNSBL on 127.0.0.1:53 and
# the policy service on 127.0.0.1:10040 inside the namespace. Port 25
# uses `reject_rbl_client bl.test`, port 2525 `check_policy_service
# inet:127.0.0.1:10040`. swaks, from a listed client address, is rejected
# on both with repnet's text in Postfix's log; from an unlisted address
# its mail is accepted.
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/postfix_lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces, Postfix)"
command -v postfix >/dev/null || skip "postfix is not installed (scripts/bootstrap.sh)"
command -v swaks >/dev/null || skip "swaks is not installed"
command -v unshare >/dev/null || skip "unshare is not installed (util-linux)"
NS="rnpf$$"
netns_add "$NS" || skip "cannot create a network namespace"
ip -n "$NS" link set lo up
chmod 755 "$T"

# The list: 127.0.3.5 is listed (spam_source), 127.0.1.5 is not.
printf '{"prefix":"127.0.3.5/32","categories":["spam_source"]}\n' >"$T/list.json"
cat >"$T/r.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = ""; roles = ["serve"]; };
feeds: { dnsbl: { list_file = "$T/list.json"; listen = ["127.0.0.1:53"]; zones = ["bl.test"]; };
         policy: { listen = "127.0.0.1:10040"; }; };
CONF
ip netns exec "$NS" "$REPNET_BUILD/repnetd" -f -c "$T/r.conf" >"$T/log" 2>&1 &
DAEMON_PIDS="$DAEMON_PIDS $!"
wait_for "$T/log" "repnetd .* running"

# A private Postfix instance: its own configuration, spool and data.
postfix_instance

cat >"$T/body.sh" <<BODY
send() { # port source
	swaks --server "127.0.0.1:\$1" --local-interface "\$2" --helo client.example \
		--from sender@example.org --to bob@test.example --timeout 15 2>&1 || true
}
send 25 127.0.3.5 >"$T/swaks.rbl.listed"
send 25 127.0.1.5 >"$T/swaks.rbl.clean"
send 2525 127.0.3.5 >"$T/swaks.policy.listed"
send 2525 127.0.1.5 >"$T/swaks.policy.clean"
BODY
postfix_run "$T/body.sh"
# postlogd writes the log on its own time: wait for the two rejects it must hold.
wait_for "$T/maillog" "reject: RCPT from .*\[127.0.3.5\]: 554 5.7.1 Service unavailable" 30
wait_for "$T/maillog" "reject: RCPT from .*\[127.0.3.5\]: 554 5.7.1 <bob@test.example>: Recipient address rejected" 30

grep -q "554 5.7.1 Service unavailable; Client host \[127.0.3.5\] blocked using bl.test; Listed by repnet: spam_source" "$T/swaks.rbl.listed" ||
	{ cat "$T/swaks.rbl.listed"; fail "listed client not rejected by reject_rbl_client"; }
grep -q "reject: RCPT from .*\[127.0.3.5\]: 554 5.7.1 Service unavailable; Client host \[127.0.3.5\] blocked using bl.test; Listed by repnet: spam_source" "$T/maillog" ||
	{ cat "$T/maillog"; fail "no RBL reject with repnet's text in Postfix's log"; }
grep -q "250 2.0.0 Ok: queued" "$T/swaks.rbl.clean" || { cat "$T/swaks.rbl.clean"; fail "unlisted client not accepted (rbl)"; }
grep -q "554 5.7.1 <bob@test.example>: Recipient address rejected: Listed by repnet: spam_source" "$T/swaks.policy.listed" ||
	{ cat "$T/swaks.policy.listed"; fail "listed client not rejected by the policy service"; }
grep -q "reject: RCPT from .*\[127.0.3.5\]: 554 5.7.1 <bob@test.example>: Recipient address rejected: Listed by repnet: spam_source" "$T/maillog" ||
	{ cat "$T/maillog"; fail "no policy reject with repnet's text in Postfix's log"; }
grep -q "250 2.0.0 Ok: queued" "$T/swaks.policy.clean" || { cat "$T/swaks.policy.clean"; fail "unlisted client not accepted (policy)"; }
grep "127.0.3.5" "$T/maillog" | grep reject | sed 's/^/  /'
echo PASS
