#!/bin/sh
# Loop safety against Debian's Postfix: a listed client that retries for
# hours neither renews, raises nor re-categorises its own listing.
#
# The setup is postfix_test.sh's (a network and a private mount namespace;
# repnetd serves bl.test on 127.0.0.1:53 and the policy service on
# 127.0.0.1:10040; Postfix's port 25 uses `reject_rbl_client bl.test`, port
# 2525 `check_policy_service`). The listed client comes back with swaks,
# and with a raw client that hangs up after the reject as bots do. The same
# repnetd also collects: it follows Postfix's log, and its enforcement
# counters rise with every reject and every hangup after one, while no
# observation of the client but its connects leaves the collector.
#
# Then hours of retries: the client's real sessions (connect, reject,
# disconnect or lost connection, as Postfix logged them) are repeated every 5 minutes for 6
# hours with shifted timestamps, after a SASL attack that listed it, and
# replayed offline (repnet logs, repnet score, repnet explain) with the
# node's own configuration and no collector key. Its score, categories,
# expiry and offences must equal those of the attack alone, judged at the
# same time. As a control, the same retries against another operator's
# zone and text must move the listing (so the comparison can fail).
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/postfix_lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (network and mount namespaces, Postfix)"
command -v postfix >/dev/null || skip "postfix is not installed (scripts/bootstrap.sh)"
command -v swaks >/dev/null || skip "swaks is not installed"
command -v unshare >/dev/null || skip "unshare is not installed (util-linux)"
command -v curl >/dev/null || skip "curl is not installed"
NS="rnpl$$"
netns_add "$NS" || skip "cannot create a network namespace"
ip -n "$NS" link set lo up
chmod 755 "$T"
R="$REPNET_BUILD/repnet"

# 127.0.3.5 is listed; the node serves bl.test and collects Postfix's log.
printf '{"prefix":"127.0.3.5/32","categories":["sasl_bruteforce"]}\n' >"$T/list.json"
: >"$T/maillog"
chmod 644 "$T/maillog"
cat >"$T/r.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = "127.0.0.1:0"; roles = ["serve", "collect"]; };
collector: { tail: { paths = ["$T/maillog"]; start = "beginning"; poll_interval = "200ms"; }; };
feeds: { dnsbl: { list_file = "$T/list.json"; listen = ["127.0.0.1:53"]; zones = ["bl.test"]; };
         policy: { listen = "127.0.0.1:10040"; }; };
CONF
ip netns exec "$NS" "$REPNET_BUILD/repnetd" -f -v -c "$T/r.conf" >"$T/log" 2>&1 &
DAEMON_PIDS="$DAEMON_PIDS $!"
wait_for "$T/log" "repnetd .* running"
PORT=$(http_port "$T/log")
nsmetric() { # NAME_AND_LABELS
	ip netns exec "$NS" curl -sf "http://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}
enforced() { # by
	v=$(nsmetric "repnet_smtp_enforced_total{source=\"tail\",by=\"$1\"}")
	echo "${v:-0}"
}
[ "$(enforced dnsbl)" = 0 ] && [ "$(enforced policy)" = 0 ] || fail "enforced before any reject"

# A private Postfix instance, as in postfix_test.sh.
postfix_instance

# A client that hangs up after the reject, as bots do, instead of QUIT.
cat >"$T/hangup.py" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15,
                             source_address=("127.0.3.5", 0))
f = s.makefile("rb")
def reply():
    while True:
        line = f.readline()
        if not line or line[3:4] != b"-":
            return line
reply()
for cmd in (b"EHLO client.example", b"MAIL FROM:<sender@example.org>", b"RCPT TO:<bob@test.example>"):
    s.sendall(cmd + b"\r\n")
    last = reply()
sys.stdout.write(last.decode(errors="replace"))
s.close()
PY

# The listed client tries three times on each port, then once more on
# each and hangs up after the reject.
cat >"$T/body.sh" <<BODY
for n in 1 2 3; do
	for port in 25 2525; do
		swaks --server "127.0.0.1:\$port" --local-interface 127.0.3.5 --helo client.example \
			--from sender@example.org --to bob@test.example --timeout 15 >>"$T/swaks.out" 2>&1 || true
		python3 "$T/hangup.py" "\$port" >>"$T/hangup.out" 2>&1 || true
	done
done
BODY
postfix_run "$T/body.sh"
[ "$(grep -c "554 5.7.1 Service unavailable; Client host \[127.0.3.5\] blocked using bl.test; Listed by repnet" "$T/swaks.out")" = 3 ] ||
	{ cat "$T/swaks.out"; fail "the client was not rejected three times by reject_rbl_client"; }
[ "$(grep -c "Recipient address rejected: Listed by repnet" "$T/swaks.out")" = 3 ] ||
	{ cat "$T/swaks.out"; fail "the client was not rejected three times by the policy service"; }

[ "$(grep -c "^554 " "$T/hangup.out")" = 6 ] || { cat "$T/hangup.out"; fail "the hanging-up client was not rejected"; }

# Live: the collector counts the twelve rejects and the six hangups after
# them as enforcement, and observes none of them.
rbl_re="reject: RCPT from .*\[127.0.3.5\]: 554 5.7.1 Service unavailable; Client host \[127.0.3.5\] blocked using bl.test"
pol_re="reject: RCPT from .*\[127.0.3.5\]: 554 5.7.1 <bob@test.example>: Recipient address rejected: Listed by repnet"
lost_re="lost connection after RCPT from .*\[127.0.3.5\]"
all_logged() {
	[ "$(grep -c "$rbl_re" "$T/maillog")" = 6 ] && [ "$(grep -c "$pol_re" "$T/maillog")" = 6 ] &&
		[ "$(grep -c "$lost_re" "$T/maillog")" = 6 ]
}
wait_until 30 all_logged || { cat "$T/maillog"; fail "postlogd did not write the rejects and hangups"; }
live_counted() { [ "$(enforced dnsbl)" = 9 ] && [ "$(enforced policy)" = 9 ]; }
wait_until 30 live_counted ||
	fail "live enforcement counters: dnsbl $(enforced dnsbl), policy $(enforced policy) (want 9, 9)"
grep -q "observation .* 127.0.3.5 \(rbl_listed\|client_reject\|rbl_confirmed\|lost_connection\)" "$T/log" &&
	{ grep "observation .* 127.0.3.5" "$T/log"; fail "the collector observed repnet's own rejects"; }
grep -q "observation .* 127.0.3.5 smtp_connect" "$T/log" || fail "the collector did not observe the client's connects"

# Hours of retries from the real sessions, and the attack that listed the client.
grep "\[127.0.3.5\]" "$T/maillog" | grep "postfix[^ ]*/smtpd\[" >"$T/session.log"
python3 - "$T" <<'PY' || fail "could not build the shifted logs"
import datetime, re, sys
t = sys.argv[1]
iso = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d:\d\d|Z) ")
bsd = re.compile(r"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) ")
lines = open(t + "/session.log").read().splitlines()
assert lines, "no session lines"
def stamp(line):
    m = iso.match(line)
    if m:
        return datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"), m.end()
    m = bsd.match(line)
    if m:
        year = datetime.datetime.utcnow().year
        return datetime.datetime.strptime("%d %s" % (year, m.group(1)), "%Y %b %d %H:%M:%S"), m.end()
    raise SystemExit("unknown time stamp: " + line)
def fmt(d):
    return d.strftime("%Y-%m-%dT%H:%M:%S.000000+00:00 ")
first = stamp(lines[0])[0]
session = [(stamp(l)[0] - first, l[stamp(l)[1]:]) for l in lines]
t0 = first - datetime.timedelta(minutes=30)
host = "mx.test.example postfix/smtpd[4242]: "
attack = [fmt(t0 + datetime.timedelta(seconds=10 * i)) + host +
          "warning: unknown[127.0.3.5]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, "
          "sasl_username=bob@test.example" for i in range(8)]
retries = []
for k in range(1, 73):  # every 5 minutes for 6 hours
    base = t0 + datetime.timedelta(minutes=5 * k)
    retries += [fmt(base + off) + rest for off, rest in session]
end = [fmt(t0 + datetime.timedelta(hours=6, minutes=10)) + host + "connect from unknown[127.0.9.9]"]
def write(name, body):
    open(t + "/" + name, "w").write("\n".join(body) + "\n")
write("base.log", attack + end)
write("full.log", attack + retries + end)
other = [l.replace("bl.test", "other.test").replace("Listed by repnet", "Blocked by them")
         for l in retries]
write("control.log", attack + other + end)
print(len(retries), "retry lines over 6 h")
PY
rejects=$(grep -c "reject: RCPT" "$T/session.log")
hangups=$(grep -c "lost connection after RCPT" "$T/session.log")
[ "$rejects" = 12 ] && [ "$hangups" = 6 ] || fail "the session has $rejects rejects and $hangups hangups (want 12, 6)"
retries=$((rejects * 72))
REF=$(date -u -d "+1 day" +%Y-%m-%dT%H:%M:%SZ)
for x in base full control; do
	"$R" logs -c "$T/r.conf" --ref-time "$REF" "$T/$x.log" >"$T/$x.obs" || fail "repnet logs $x"
	"$R" logs -c "$T/r.conf" --ref-time "$REF" --summary "$T/$x.log" >"$T/$x.sum" || fail "repnet logs --summary $x"
	"$R" score -c "$T/r.conf" --no-default-never-block --obs "$T/$x.obs" 2>"$T/$x.score.err" |
		grep '"ip":"127.0.3.5"' >"$T/$x.score" || true
	"$R" explain -c "$T/r.conf" --no-default-never-block --obs "$T/$x.obs" --json 127.0.3.5 >"$T/$x.explain" ||
		fail "repnet explain $x"
done
grep -q '"categories":\["sasl_bruteforce"\]' "$T/base.score" || { cat "$T/base.score"; fail "the attack did not list the client"; }
# The offline path knows the node's zone and text from its configuration alone.
per=$(((rejects + hangups) * 72 / 2))
grep -qx "enforced dnsbl $per" "$T/full.sum" && grep -qx "enforced policy $per" "$T/full.sum" ||
	{ cat "$T/full.sum"; fail "repnet logs did not count the retries and hangups as enforcement ($per each)"; }
grep -qx "enforced dnsbl 0" "$T/control.sum" || fail "the control's foreign zone was taken for ours"
# No observation of the client in the retries but its connects.
if grep '"ip":"127.0.3.5"' "$T/full.obs" | grep -v '"kind":"smtp_connect"' | grep -vq '"kind":"sasl_'; then
	grep '"ip":"127.0.3.5"' "$T/full.obs" | grep -v smtp_connect | sort | uniq -c | head
	fail "a retry became evidence"
fi
# The listing, judged at the same time: score, categories, expiry and offences do not move.
fields() { # FILE: what must not move
	python3 -c 'import json, sys
r = json.loads(open(sys.argv[1]).read())
print(r["score"], r["categories"], r["expires"], r["offences"])' "$1"
}
b=$(fields "$T/base.score") && f=$(fields "$T/full.score") || fail "no listing to compare"
echo "after the attack alone:        $b"
echo "after 6 h of retries on top:   $f"
[ "$b" = "$f" ] || fail "the retries moved the listing"
eb=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["listed"], r["score"], r.get("categories"), r.get("expires"))' "$T/base.explain")
ef=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["listed"], r["score"], r.get("categories"), r.get("expires"))' "$T/full.explain")
[ "$eb" = "$ef" ] || { echo "explain: $eb / $ef"; fail "repnet explain differs after the retries"; }
# The control: the same retries against another operator's list are evidence.
c=$(fields "$T/control.score") || fail "no listing in the control"
echo "control (another zone/text):   $c"
[ "$b" != "$c" ] || fail "the control's retries did not move the listing: the comparison cannot fail"
echo "PASS: $retries retries counted as enforcement; the listing did not move"
