# postfix_lib.sh: a private Debian Postfix for the tests that run a real
# one against repnet (postfix_test.sh, postfix_loop_test.sh). Source it
# after tests/integration/lib.sh, with NS the test's network namespace.
#
# postfix_instance: its own configuration, spool and data under $T
# (mounted over the system's in a private mount namespace, so the
# system's Postfix is never touched); it logs to $T/maillog, asks the
# DNSBL bl.test on port 25 and the policy service on 127.0.0.1:10040 on
# port 2525.
postfix_instance() {
	mkdir -p "$T/etc" "$T/spool" "$T/lib"
	cp -a /etc/postfix/. "$T/etc/"
	rm -f "$T/etc/main.cf"
	chown postfix:postfix "$T/lib"
	echo "nameserver 127.0.0.1" >"$T/resolv.conf"
	[ -e "$T/maillog" ] || : >"$T/maillog" # a test may follow it already
	cat >"$T/etc/main.cf" <<CONF
compatibility_level = 3.6
queue_directory = /var/spool/postfix
data_directory = /var/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.test.example
mydomain = test.example
mydestination = test.example
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
maillog_file_prefixes = /var, /dev/stdout, $T
maillog_file = $T/maillog
local_transport = discard:
local_recipient_maps =
alias_maps =
alias_database =
biff = no
smtpd_helo_required = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = reject_rbl_client bl.test, reject_unauth_destination
policy_restrictions = check_policy_service inet:127.0.0.1:10040, reject_unauth_destination
CONF
	postconf -c "$T/etc" -F '*/*/chroot = n'
	postconf -c "$T/etc" -M '2525/inet=2525 inet n - n - - smtpd -o smtpd_recipient_restrictions=$policy_restrictions'
}

# postfix_run BODY: in the namespace NS and a private mount namespace,
# starts the instance, waits (bounded) until it answers a connection from
# 127.0.1.1, runs the shell file BODY, and stops it, waiting (bounded) for
# its master to go. Fails the test, with the mail log, when any of it fails.
postfix_run() {
	cat >"$T/inner.sh" <<INNER
set -eu
mount --bind "$T/etc" /etc/postfix
mount --bind "$T/spool" /var/spool/postfix
mount --bind "$T/lib" /var/lib/postfix
mount --bind "$T/resolv.conf" /etc/resolv.conf
postfix check
postfix start
i=0
until swaks --server 127.0.0.1:25 --local-interface 127.0.1.1 --quit-after CONNECT >/dev/null 2>&1; do
	i=\$((i + 1)); [ \$i -lt 100 ] || { echo "postfix did not start"; exit 1; }
	sleep 0.1
done
. "$1"
postfix stop
i=0
while [ -f /var/spool/postfix/pid/master.pid ] && kill -0 "\$(cat /var/spool/postfix/pid/master.pid)" 2>/dev/null; do
	i=\$((i + 1)); [ \$i -lt 100 ] || break
	sleep 0.1
done
INNER
	ip netns exec "$NS" unshare -m --propagation private sh "$T/inner.sh" ||
		{ cat "$T/maillog"; fail "postfix run"; }
}
