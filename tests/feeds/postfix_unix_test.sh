#!/bin/sh
# Debian's Postfix asking repnet's policy service over its unix socket,
# as docs/postfix.md sets it up: repnetd started as root under the unit's
# UMask (0027) drops to core.user (nobody, which is not in group postfix)
# and makes the socket in a directory of the Postfix spool; the socket
# must come out 0660, group postfix, or smtpd (user postfix) gets
# "Permission denied". Port 2526 uses `check_policy_service
# unix:repnet/policy` with smtpd_policy_service_default_action = DUNNO;
# a listed client is rejected with repnet's text, an unlisted one's mail
# is accepted. A refusal here is only the policy service's answer: with
# the socket unreachable the default action would let the listed client
# through, and the test would fail.
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/postfix_lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces, Postfix, the user switch)"
command -v postfix >/dev/null || skip "postfix is not installed (scripts/bootstrap.sh)"
command -v swaks >/dev/null || skip "swaks is not installed"
command -v unshare >/dev/null || skip "unshare is not installed (util-linux)"
getent group postfix >/dev/null || skip "there is no group postfix"
USER_=nobody
id "$USER_" >/dev/null 2>&1 || skip "there is no user $USER_"
id -nG "$USER_" | grep -qw postfix && skip "$USER_ is in group postfix already: the test would prove nothing"
NS="rnpu$$"
netns_add "$NS" || skip "cannot create a network namespace"
ip -n "$NS" link set lo up
chmod 755 "$T"

# A private Postfix instance; its spool is $T/spool, seen by Postfix as
# /var/spool/postfix. The socket's directory, as the docs make it.
postfix_instance
postconf -c "$T/etc" -e 'unix_policy_restrictions = check_policy_service unix:repnet/policy, reject_unauth_destination' \
	'smtpd_policy_service_default_action = DUNNO'
postconf -c "$T/etc" -M '2526/inet=2526 inet n - n - - smtpd -o smtpd_recipient_restrictions=$unix_policy_restrictions'
install -d -o "$USER_" -g postfix -m 0750 "$T/spool/repnet"

# The list: 127.0.3.5 is listed (spam_source), 127.0.1.5 is not.
printf '{"prefix":"127.0.3.5/32","categories":["spam_source"]}\n' >"$T/list.json"
cat >"$T/r.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = ""; roles = ["serve"]; user = "$USER_"; };
feeds: { dnsbl: { list_file = "$T/list.json"; listen = ["127.0.0.1:53"]; zones = ["bl.test"]; };
         policy: { listen = ""; unix = "$T/spool/repnet/policy"; }; };
CONF
(umask 0027 && exec ip netns exec "$NS" "$REPNET_BUILD/repnetd" -f -c "$T/r.conf") >"$T/log" 2>&1 &
DAEMON_PIDS="$DAEMON_PIDS $!"
wait_for "$T/log" "repnetd .* running"
grep -q "running as $USER_" "$T/log" || fail "repnetd did not drop to $USER_"
grep -q "policy: unix socket $T/spool/repnet/policy: mode 0660, group postfix" "$T/log" ||
	fail "the log does not say the socket's mode and group"
[ "$(stat -c '%a %U %G' "$T/spool/repnet/policy")" = "660 $USER_ postfix" ] ||
	fail "socket is $(stat -c '%a %U %G' "$T/spool/repnet/policy")"

cat >"$T/body.sh" <<BODY
send() { # source
	swaks --server 127.0.0.1:2526 --local-interface "\$1" --helo client.example \
		--from sender@example.org --to bob@test.example --timeout 15 2>&1 || true
}
send 127.0.3.5 >"$T/swaks.listed"
send 127.0.1.5 >"$T/swaks.clean"
BODY
postfix_run "$T/body.sh"
wait_for "$T/maillog" "reject: RCPT from .*\[127.0.3.5\]: 554 5.7.1 <bob@test.example>: Recipient address rejected" 30

! grep -q "Permission denied" "$T/maillog" || { grep "Permission denied" "$T/maillog"; fail "Postfix could not use the socket"; }
grep -q "554 5.7.1 <bob@test.example>: Recipient address rejected: Listed by repnet: spam_source" "$T/swaks.listed" ||
	{ cat "$T/swaks.listed"; fail "listed client not rejected through the unix socket"; }
grep -q "250 2.0.0 Ok: queued" "$T/swaks.clean" || { cat "$T/swaks.clean"; fail "unlisted client not accepted"; }
grep "127.0.3.5" "$T/maillog" | grep reject | sed 's/^/  /'
echo "PASS: Postfix (user postfix) through the 0660 postfix-group socket of repnetd running as $USER_"
