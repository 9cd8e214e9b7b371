#!/bin/sh
# A list file whose entries have expired: the serve role drops them at the
# read (its log and repnet_rbl_list_expired_total say how many), so the
# DNSBL and the policy service answer "not listed"; `repnet export` of the
# same file leaves them out too, so rbldnsd fed the export agrees. Then a
# file with live and expired entries: only the live ones are served and
# exported.
. "$REPNET_SRC/tests/integration/lib.sh"
command -v dig >/dev/null || skip "dig is not installed (dnsutils)"
command -v curl >/dev/null || skip "curl is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"

# 69 entries, every one expired a day ago.
python3 - "$T/list.json" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(69):
        f.write('{"prefix":"192.0.2.%d/32","categories":["spam_source"],'
                '"expires":"2001-01-01T00:00:00Z"}\n' % (i + 1))
PY
cat >"$T/rbl.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = "127.0.0.1:0"; roles = ["serve"]; };
feeds: {
  dnsbl: { list_file = "$T/list.json"; list_format = "json"; list_poll = "200ms";
           listen = ["127.0.0.1:0"]; zones = ["bl.test"]; };
  policy: { listen = "127.0.0.1:0"; };
};
CONF
start_daemon "$T/d.log" -c "$T/rbl.conf"
HP=$(http_port "$T/d.log")
P=$(sed -n 's/.*dnsbl: serving .* on port \([0-9]*\).*/\1/p' "$T/d.log")
PP=$(sed -n 's/.*policy: serving on port \([0-9]*\).*/\1/p' "$T/d.log")
[ -n "$P" ] && [ -n "$PP" ] && [ -n "$HP" ] || fail "ports not logged"
status() { dig -p "$P" @127.0.0.1 +time=2 +tries=2 "$1" A | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }

grep -q "list.json: 0 entries (69 lines, 0 malformed, 69 expired and dropped)" "$T/d.log" ||
	fail "the load's log line does not count the expired entries"
grep -q "69 of its entries had expired and are not served (the list served is empty)" \
	"$T/d.log" || fail "no warning about the expired list"
metric_is "$HP" repnet_rbl_list_expired_total 69 || fail "expired metric: $(metric "$HP" repnet_rbl_list_expired_total)"
metric_is "$HP" repnet_rbl_list_entries 0 || fail "entries gauge: $(metric "$HP" repnet_rbl_list_entries)"
[ "$(status 5.2.0.192.bl.test)" = NXDOMAIN ] || fail "an expired entry is answered listed"
a=$(policy_ask "$PP" 192.0.2.5)
[ "$a" = "action=DUNNO" ] || fail "policy answered '$a' for an expired entry"

"$REPNET_BUILD/repnet" export --format rbldnsd --from "$T/list.json" -o feeds.dnsbl.zones=bl.test \
	--output "$T/zone.rbl" 2>"$T/export.err" || fail "export"
grep -q "69 expired entries left out (the export is empty)" "$T/export.err" ||
	fail "export does not say it left expired entries out: $(cat "$T/export.err")"
! grep -q '^192\.0\.2\.' "$T/zone.rbl" || fail "the rbldnsd export still lists expired entries"
grep -q '^127.0.0.2/32' "$T/zone.rbl" || fail "the export lost its test point"

# Two live entries and one expired, in place: served and exported alike.
cat >"$T/list.json.new" <<'LIST'
{"prefix":"192.0.2.1/32","categories":["spam_source"],"expires":"2001-01-01T00:00:00Z"}
{"prefix":"192.0.2.2/32","categories":["spam_source"],"expires":"2999-01-01T00:00:00Z"}
{"prefix":"192.0.2.3/32","categories":["spam_source"]}
LIST
mv "$T/list.json.new" "$T/list.json"
wait_until 20 metric_is "$HP" repnet_rbl_list_entries 2 || fail "the new list was not loaded"
metric_is "$HP" repnet_rbl_list_expired_total 70 || fail "expired metric after reload: $(metric "$HP" repnet_rbl_list_expired_total)"
[ "$(status 1.2.0.192.bl.test)" = NXDOMAIN ] || fail "expired 192.0.2.1 answered listed"
[ "$(status 2.2.0.192.bl.test)" = NOERROR ] || fail "live 192.0.2.2 not listed"
[ "$(status 3.2.0.192.bl.test)" = NOERROR ] || fail "live 192.0.2.3 not listed"
"$REPNET_BUILD/repnet" export --format plain --from "$T/list.json" >"$T/plain" 2>"$T/export.err" ||
	fail "plain export"
[ "$(cat "$T/plain" | tr '\n' ' ')" = "192.0.2.2 192.0.2.3 " ] || fail "plain export: $(cat "$T/plain")"
grep -q "1 expired entries left out" "$T/export.err" || fail "export stderr: $(cat "$T/export.err")"
echo "PASS: expired entries dropped alike by the serve role and the export, logged and counted"
