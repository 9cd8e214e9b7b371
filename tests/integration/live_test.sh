#!/bin/sh
# Live state (issue 15): repnet explain and repnet lookup ask the running
# repnetd through its operator API, and agree with the DNSBL at once.
#   - the API needs the token of the data directory: without it, or with
#     another, 401 and a counter; with it, the answer;
#   - an address imported and listed: lookup says LISTED for the scorer
#     and the served list with the same expiry, and the DNSBL's own answer
#     (asked by lookup, and by dig when it is installed) is the listing;
#     explain says LISTED live, with the same expiry;
#   - an address not listed: every part says so;
#   - explain --offline reads the files and says as of when;
#   - delist: refused without a reason and on GET; the address leaves the
#     scorer, the served list and the DNSBL; the delisting is in the file;
#     one for 3 s expires and the address comes back;
#   - stopped, repnetd removes api.endpoint; explain falls back to the
#     files and says why; lookup fails with the reason;
#   - restarted, the delisting holds while the rest is listed again.
. "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || skip "curl is not installed"
R="$REPNET_BUILD/repnet"
cat >"$T/r.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = "127.0.0.1:0"; roles = ["score", "publish", "serve"];
        user = ""; log_level = "info"; };
scoring: { tick = "1s"; lateness = "0"; default_never_block = false; };
feeds: { bus: { ingest_listen = "tcp://127.0.0.1:0"; pub_listen = "tcp://127.0.0.1:0";
                resync_listen = "tcp://127.0.0.1:0"; };
         dnsbl: { listen = ["127.0.0.1:0"]; zones = ["bl.test"]; }; policy: { listen = ""; }; };
CONF
start_daemon "$T/r.log" -c "$T/r.conf"
HP=$(http_port "$T/r.log")
wait_for "$T/r.log" "repnetd .* running" 30
SI=$(sed -n 's/.*score: accepting observations on .*(port \([0-9]*\)).*/\1/p' "$T/r.log")
[ "$(cat "$T/data/api.endpoint")" = "127.0.0.1:$HP" ] || fail "api.endpoint: $(cat "$T/data/api.endpoint")"
[ "$(stat -c %a "$T/data/api.token")" = 600 ] || fail "api.token mode $(stat -c %a "$T/data/api.token")"
TOKEN=$(cat "$T/data/api.token")

# Authentication.
api() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
[ "$(api "http://127.0.0.1:$HP/v1/lookup?ip=192.0.2.1")" = 401 ] || fail "no token: not 401"
[ "$(api -H "Authorization: Bearer x$TOKEN" "http://127.0.0.1:$HP/v1/lookup?ip=192.0.2.1")" = 401 ] ||
	fail "a wrong token: not 401"
[ "$(api -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HP/v1/explain?ip=1.2.3")" = 400 ] ||
	fail "a bad address: not 400"
[ "$(api -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HP/v1/lookup?ip=192.0.2.1")" = 200 ] ||
	fail "the token: not 200"
metric_is "$HP" 'repnet_api_requests_total{endpoint="lookup",result="unauthorized"}' 2 ||
	fail "unauthorized requests not counted"
metric_is "$HP" 'repnet_api_requests_total{endpoint="explain",result="bad_request"}' 1 ||
	fail "bad requests not counted"

# An address imported: listed at the next tick.
printf '198.51.100.77\n' >"$T/list"
"$R" import -c "$T/r.conf" --format plain "$T/list" --to "tcp://127.0.0.1:$SI" 2>"$T/import.err" ||
	{ cat "$T/import.err" >&2; fail "import"; }
listed() { "$R" lookup -c "$T/r.conf" 198.51.100.77 >"$T/lookup" && grep -q "served:  LISTED" "$T/lookup"; }
wait_until 60 listed || { cat "$T/lookup" >&2; fail "198.51.100.77 not listed"; }
cat "$T/lookup"
grep -q "scorer:  LISTED as 198.51.100.77/32, drop, until" "$T/lookup" || fail "lookup: the scorer"
until_s=$(sed -n 's/.*scorer:  LISTED.* until \(.*\)/\1/p' "$T/lookup")
until_v=$(sed -n 's/.*served:  LISTED.* until \(.*\)/\1/p' "$T/lookup")
[ -n "$until_s" ] && [ "$until_s" = "$until_v" ] || fail "lookup: expiries differ: $until_s / $until_v"
grep -q "dnsbl:   77.100.51.198.bl.test A: 127.0.0" "$T/lookup" || fail "lookup: the DNSBL's answer"
if command -v dig >/dev/null; then
	DP=$(sed -n 's/.*(asked 127.0.0.1:\([0-9]*\)).*/\1/p' "$T/lookup")
	dig +short +time=2 +tries=2 -p "$DP" @127.0.0.1 77.100.51.198.bl.test A | grep -q "^127\.0\.0\." ||
		fail "dig does not see the listing"
fi
"$R" explain -c "$T/r.conf" 198.51.100.77 >"$T/explain" || fail "explain"
cat "$T/explain"
grep -q "^198.51.100.77: LISTED" "$T/explain" || fail "explain: not LISTED"
grep -q "state: live, from repnetd at 127.0.0.1:$HP" "$T/explain" || fail "explain: not live"
grep -q "expires $until_s" "$T/explain" || fail "explain: another expiry than lookup's"
"$R" explain -c "$T/r.conf" --json 198.51.100.77 | grep -q '"state":"live' || fail "explain --json: not live"

# list: the listing, filtered and paged, from the scorer and from the served view.
printf '198.51.100.80\n198.51.100.81\n203.0.113.0/24\n' >"$T/list2"
"$R" import -c "$T/r.conf" --format cidr "$T/list2" --to "tcp://127.0.0.1:$SI" 2>"$T/import.err" ||
	{ cat "$T/import.err" >&2; fail "import 2"; }
four() { [ "$("$R" list -c "$T/r.conf" --source served 2>/dev/null | wc -l)" = 4 ]; }
wait_until 60 four || fail "list --source served: not 4 listings"
"$R" list -c "$T/r.conf" >"$T/ls" 2>"$T/ls.err" || fail "list"
[ "$(wc -l <"$T/ls")" = 4 ] || { cat "$T/ls" "$T/ls.err" >&2; fail "list: not 4 listings"; }
grep -q "^198.51.100.77/32	drop	$until_s$" "$T/ls" || { cat "$T/ls" >&2; fail "list: 198.51.100.77"; }
grep -q "4 of 4 matching listed (scorer)" "$T/ls.err" || { cat "$T/ls.err" >&2; fail "list: the count"; }
"$R" list -c "$T/r.conf" --within 203.0.113.0/24 2>/dev/null | grep -qx "203.0.113.0/24	drop	.*" ||
	fail "list --within"
[ "$("$R" list -c "$T/r.conf" --within 198.51.100.80/31 2>/dev/null | wc -l)" = 2 ] || fail "list --within /31"
[ "$("$R" list -c "$T/r.conf" --category sasl_bruteforce 2>/dev/null | wc -l)" = 0 ] || fail "list --category"
# Pages of one: four pages, in order, each naming the next.
"$R" list -c "$T/r.conf" --limit 1 >"$T/p1" 2>"$T/p1.err" || fail "list --limit 1"
nxt=$(sed -n 's/.*the next page: --after \(.*\)/\1/p' "$T/p1.err")
[ -n "$nxt" ] && [ "$(cut -f1 "$T/p1")" = "$nxt" ] || { cat "$T/p1.err" >&2; fail "list: no next page"; }
"$R" list -c "$T/r.conf" --limit 1 --after "$nxt" >"$T/p2" 2>/dev/null || fail "list --after"
[ "$(cut -f1 "$T/p2")" != "$nxt" ] && [ -s "$T/p2" ] || fail "list --after: the same page again"
"$R" list -c "$T/r.conf" --limit 3 --all >"$T/pall" 2>/dev/null || fail "list --all"
cmp -s "$T/ls" "$T/pall" || fail "list --all pages differ from one page"
[ "$(api -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HP/v1/list?limit=0")" = 400 ] || fail "list limit=0: not 400"

# delist: off the list now, everywhere; an expiring one comes back.
if "$R" delist -c "$T/r.conf" 198.51.100.80 2>/dev/null; then fail "delist without --reason"; fi
[ "$(api -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$HP/v1/delist?prefix=198.51.100.80&reason=x")" = 405 ] ||
	fail "GET /v1/delist: not 405"
"$R" delist -c "$T/r.conf" --reason "ticket 42: a customer's relay" --for 1h 198.51.100.80 >"$T/dl" ||
	fail "delist"
grep -q '"delisted":"198.51.100.80/32"' "$T/dl" || { cat "$T/dl" >&2; fail "delist: the answer"; }
"$R" delist -c "$T/r.conf" --reason "short" --for 3s 198.51.100.81 >/dev/null || fail "delist --for 3s"
gone() {
	"$R" lookup -c "$T/r.conf" "$1" >"$T/lk" &&
		grep -q "scorer:  not listed" "$T/lk" && grep -q "served:  not listed" "$T/lk" &&
		grep -q "A: NXDOMAIN" "$T/lk"
}
wait_until 30 gone 198.51.100.80 || { cat "$T/lk" >&2; fail "delisted 198.51.100.80 still listed"; }
grep -q "^198.51.100.80/32 [0-9]* ticket 42: a customer's relay$" "$T/data/scoring/delist" ||
	{ cat "$T/data/scoring/delist" >&2; fail "the delisting is not saved"; }
# The replica may still serve 198.51.100.81 from before its delisting (its
# removal can trail that of .80), so wait for the expiry first, then the return.
expired() { ! grep -q "^198.51.100.81/" "$T/data/scoring/delist"; }
wait_until 60 expired || fail "an expired delisting stays in the file"
back() { "$R" lookup -c "$T/r.conf" 198.51.100.81 | grep -q "served:  LISTED"; }
wait_until 60 back || fail "198.51.100.81 did not come back after its delisting expired"
"$R" status --http "127.0.0.1:$HP" 2>/dev/null | grep -q "delistings in force: 1 " ||
	fail "repnet status does not show the delisting in force"

# Not listed: every part says so.
"$R" lookup -c "$T/r.conf" 198.51.100.78 >"$T/lookup2" || fail "lookup 2"
grep -q "scorer:  not listed" "$T/lookup2" && grep -q "served:  not listed" "$T/lookup2" &&
	grep -q "A: NXDOMAIN (not listed)" "$T/lookup2" || { cat "$T/lookup2" >&2; fail "lookup of an unlisted address"; }
"$R" explain -c "$T/r.conf" 198.51.100.78 | grep -q "^198.51.100.78: not listed" || fail "explain 2"

# Offline: the files, as of when.
"$R" explain -c "$T/r.conf" --offline 198.51.100.77 >"$T/off" || fail "explain --offline"
grep -q "state: the files in $T/data/scoring, as of " "$T/off" || { cat "$T/off" >&2; fail "explain --offline: state"; }

# Stopped: the endpoint file goes; explain falls back and says why; lookup fails.
kill -TERM "$DPID"
wait "$DPID" || true
[ ! -e "$T/data/api.endpoint" ] || fail "api.endpoint left after the stop"
"$R" explain -c "$T/r.conf" 198.51.100.77 >"$T/after" || fail "explain after the stop"
grep -q "state: the files in $T/data/scoring, as of .*not running" "$T/after" ||
	{ cat "$T/after" >&2; fail "explain after the stop: state"; }
grep -q "^198.51.100.77: LISTED" "$T/after" || fail "explain after the stop: the listing is in the files"
if "$R" lookup -c "$T/r.conf" 198.51.100.77 2>"$T/lerr"; then fail "lookup without a daemon"; fi
grep -q "no repnetd answers" "$T/lerr" || fail "lookup without a daemon: no reason"

# Restarted: the delisting holds; the rest is listed again from the state.
start_daemon "$T/r2.log" -c "$T/r.conf"
wait_for "$T/r2.log" "repnetd .* running" 30
again() { "$R" lookup -c "$T/r.conf" 198.51.100.77 >"$T/lk2" && grep -q "served:  LISTED" "$T/lk2"; }
wait_until 60 again || { cat "$T/lk2" >&2; fail "198.51.100.77 not listed after the restart"; }
gone 198.51.100.80 || { cat "$T/lk" >&2; fail "the delisting did not survive the restart"; }
echo PASS
