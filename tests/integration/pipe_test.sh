#!/bin/sh
# One shape: every command's output is accepted by every command that reads
# that kind of data, and the right content comes out the other end.
#   observations: repnet logs, repnet flows --obs (and --detect's
#                 "observation" objects), repnet import
#                 -> repnet score, repnet explain
#   blocklists:   repnet score, repnet sub --list, repnet export --format
#                 json|plain -> repnet export --from, repnet import
# and repnet status / repnet feed status read a live repnetd's /status.
. "$(dirname "$0")/lib.sh"
. "$REPNET_SRC/tests/feeds/feed_lib.sh"
R="$REPNET_BUILD/repnet"
D="$REPNET_TEST_DATA"
LAB="--no-default-never-block"

# keys FILE: the sorted "ip" or "prefix" of every blocklist line.
keys() { python3 -c 'import json,sys
for l in open(sys.argv[1]): e = json.loads(l); print(e.get("ip") or e["prefix"])' "$1" | sort; }
# taken ERR N: repnet score read all N observations (taken, protected, of
# unscored kinds or stale) and refused none.
taken() {
	_sum=$(sed -n 's/^repnet: \([0-9]*\) observations taken ([0-9]* late), \([0-9]*\) protected, \([0-9]*\) of unscored kinds, \([0-9]*\) stale, 0 bad;.*/\1 + \2 + \3 + \4/p' "$1")
	[ -n "$_sum" ] && [ $(($_sum)) -eq "$2" ] || { cat "$1" >&2; fail "$1: not $2 observations read"; }
}

# ---- observations ----------------------------------------------------------

# repnet logs -> repnet score: every line read, and the listing is the one
# realdata_test expects of this log (a brute-forcing client).
"$R" logs "$D/mail/postfix-maillog_file.log" >"$T/logs.obs" || fail "repnet logs"
n=$(wc -l <"$T/logs.obs")
[ "$n" -gt 100 ] || fail "repnet logs: $n observations"
"$R" score $LAB --obs - <"$T/logs.obs" >"$T/logs.list" 2>"$T/err" || { cat "$T/err"; fail "logs | score"; }
taken "$T/err" "$n"
python3 "$REPNET_SRC/tests/scoring/realdata_check.py" postfix "$D/scoring/realdata-expect.txt" \
	"$T/logs.list" >/dev/null || fail "logs | score: not the expected listings"
# -> repnet explain: the first listed address, from the kinds of its lines.
ip=$(head -n 1 "$T/logs.list" | sed -n 's/^{"ip":"\([^"]*\)".*/\1/p')
[ -n "$ip" ] || { cat "$T/logs.list"; fail "logs | score: no host listed"; }
"$R" explain $LAB --obs - "$ip" <"$T/logs.obs" | grep -q "^$ip: LISTED" || fail "logs | explain: $ip"
"$R" explain $LAB --json --obs - "$ip" <"$T/logs.obs" >"$T/x.json" || fail "logs | explain --json"
python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
kinds = {o["kind"] for o in map(json.loads, open(sys.argv[2])) if o["ip"] == sys.argv[3]}
got = {c["kind"] for c in d["contributions"]}
assert d["listed"] and got and got <= kinds, (got, kinds)' "$T/x.json" "$T/logs.obs" "$ip" ||
	fail "logs | explain: contributions"

# repnet flows --obs -> repnet score and explain.
PCAP="$D/netflow/export-softflowd-ipfix.pcap"
"$R" flows --obs "$PCAP" >"$T/flows.obs" || fail "repnet flows --obs"
n=$(wc -l <"$T/flows.obs")
"$R" score $LAB --obs "$T/flows.obs" >"$T/flows.list" 2>"$T/err" || { cat "$T/err"; fail "flows | score"; }
taken "$T/err" "$n"
python3 "$REPNET_SRC/tests/scoring/realdata_check.py" flows "$D/scoring/realdata-expect.txt" \
	"$T/flows.list" >/dev/null || fail "flows | score: not the expected listings"
"$R" explain $LAB --json --obs - 203.0.113.66 <"$T/flows.obs" >"$T/x.json" || fail "flows | explain"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
assert d["listed"] and "scanner" in d["categories"], d
assert [c for c in d["contributions"] if c["kind"] == "scan_vertical"], d' "$T/x.json" ||
	fail "flows | explain: 203.0.113.66"
# --detect prints the same objects beside the flow records.
"$R" flows --detect "$PCAP" | sed -n 's/^{"observation":\(.*\)}$/\1/p' >"$T/detect.obs"
cmp -s "$T/detect.obs" "$T/flows.obs" || fail "flows --detect: not the --obs objects"

# repnet import -> repnet score and explain: a prefix and a host, with their SBL ids.
printf '%s\n' '{"cidr":"203.0.113.0/24","sblid":"SBL1234","rir":"ripencc"}' \
	'{"cidr":"198.51.100.7/32","sblid":"SBL99"}' '{"type":"metadata","timestamp":1700000000,"size":2}' \
	>"$T/drop.json"
"$R" import --format drop-json "$T/drop.json" >"$T/import.obs" 2>/dev/null || fail "repnet import"
grep -q '"ip":"203.0.113.0","prefix_len":24,"kind":"imported","source":"import",.*"evidence":"SBL1234"' \
	"$T/import.obs" || { cat "$T/import.obs"; fail "import: the prefix's line"; }
if grep -q '"addr"' "$T/import.obs"; then fail "import prints addr"; fi
"$R" score $LAB --obs "$T/import.obs" >"$T/import.list" 2>"$T/err" || { cat "$T/err"; fail "import | score"; }
taken "$T/err" 2
[ "$(keys "$T/import.list" | tr '\n' ' ')" = "198.51.100.7 203.0.113.0/24 " ] ||
	{ cat "$T/import.list"; fail "import | score: listings"; }
grep -q '"prefix":"203.0.113.0/24",.*"categories":\["drop"\]' "$T/import.list" || fail "import | score: category"
"$R" explain $LAB --json --obs - 203.0.113.77 <"$T/import.obs" >"$T/x.json" || fail "import | explain"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
assert d["key"] == "203.0.113.77/32" and d["covered_by"] == "203.0.113.0/24", d' \
	"$T/x.json" || fail "import | explain: covered by the prefix"
"$R" explain $LAB --json --obs - 198.51.100.7 <"$T/import.obs" | grep -q '"evidence":\["SBL99"\]' ||
	fail "import | explain: SBL id as evidence"

# ---- blocklists ------------------------------------------------------------

# repnet score's list: the sample's four listings.
"$R" score $LAB --obs "$D/scoring/obs-sample.jsonl" >"$T/score.list" 2>/dev/null || fail "score"
WANT="192.0.2.1/32 198.51.100.7/32 2001:db8::/64 203.0.113.0/24 "
prefixes() { python3 -c 'import ipaddress,sys; print(" ".join(sorted(str(ipaddress.ip_network(l.split()[0])) for l in sys.stdin if l.strip())) + " ")'; }
# -> repnet export --from: the same entries, categories and expiry. The
# sample's listings expire in event time (November 2026): exported as of
# then, and as of now (expired: an empty export, said on standard error).
AT=2026-11-29T12:00:00Z
"$R" export --format plain --from - <"$T/score.list" >"$T/now.plain" 2>"$T/now.err" || fail "export now"
[ ! -s "$T/now.plain" ] && grep -q "4 expired entries left out" "$T/now.err" ||
	fail "export now: expired entries not left out: $(cat "$T/now.err")"
"$R" export --format json --at "$AT" --from - <"$T/score.list" >"$T/export.json" || fail "score | export json"
python3 -c 'import json,sys
s = {e.get("ip") or e["prefix"]: e for e in map(json.loads, open(sys.argv[1]))}
x = [json.loads(l) for l in open(sys.argv[2])]
assert len(x) == len(s) == 4, (s, x)
for e in x:
    p = e["prefix"][:-3] if e["prefix"].endswith("/32") else e["prefix"]
    assert e["categories"] == s[p]["categories"] and e["expires"] == s[p]["expires"], (e, s[p])' \
	"$T/score.list" "$T/export.json" || fail "score | export json: content"
[ "$("$R" export --format plain --at "$AT" --from - <"$T/score.list" | prefixes)" = "$WANT" ] || fail "score | export plain"
# -> repnet import: one observation per entry, which scores back to the same keys.
"$R" import --format json - <"$T/score.list" >"$T/relist.obs" 2>/dev/null || fail "score | import"
[ "$(wc -l <"$T/relist.obs")" -eq 4 ] || fail "score | import: four observations"
"$R" score $LAB --obs "$T/relist.obs" >"$T/relist" 2>/dev/null || fail "score | import | score"
[ "$(keys "$T/relist")" = "$(keys "$T/score.list")" ] || { cat "$T/relist"; fail "score | import | score: keys"; }

# repnet export --format json -> repnet export --from and repnet import.
[ "$("$R" export --format plain --at "$AT" --from - <"$T/export.json" | prefixes)" = "$WANT" ] || fail "export json | export"
"$R" import --format json - <"$T/export.json" 2>/dev/null | "$R" score $LAB --obs - >"$T/relist2" 2>/dev/null ||
	fail "export json | import | score"
[ "$(keys "$T/relist2")" = "$(keys "$T/score.list")" ] || fail "export json | import | score: keys"
# and its plain list, as plain and as CIDR.
"$R" export --format plain --at "$AT" --from "$T/export.json" >"$T/export.plain" || fail "export plain"
for f in plain cidr; do
	"$R" import --format $f "$T/export.plain" 2>/dev/null | "$R" score $LAB --obs - >"$T/relist3" 2>/dev/null ||
		fail "export plain | import --format $f | score"
	[ "$(keys "$T/relist3")" = "$(keys "$T/score.list")" ] || fail "export plain | import --format $f: keys"
done

# repnet sub --list, from a live publisher fed by repnet import --to.
start_scorer pub1 ""
"$R" import --format drop-json "$T/drop.json" --to "tcp://127.0.0.1:$S_INGEST" \
	--key "$T/import-collector.key" 2>"$T/err" ||
	{ cat "$T/err"; fail "import --to"; }
retry 30 "the scorer lists the import" sh -c "[ \"\$(python3 '$CHECK' get $S_HTTP publisher listed)\" = 2 ]"
"$R" sub "tcp://127.0.0.1:$S_PUB" --resync "tcp://127.0.0.1:$S_RESYNC" --name pub1 --key "$S_KEY" \
	--count 2 --timeout 30 --list - >"$T/sub.list" 2>"$T/err" || { cat "$T/err"; fail "repnet sub --list"; }
[ "$(keys "$T/sub.list" | tr '\n' ' ')" = "198.51.100.7 203.0.113.0/24 " ] || { cat "$T/sub.list"; fail "sub --list: keys"; }
[ "$("$R" export --format plain --from - <"$T/sub.list" | prefixes)" = "198.51.100.7/32 203.0.113.0/24 " ] ||
	fail "sub --list | export"
"$R" import --format json - <"$T/sub.list" 2>/dev/null | "$R" score $LAB --obs - >"$T/relist4" 2>/dev/null ||
	fail "sub --list | import | score"
[ "$(keys "$T/relist4")" = "$(keys "$T/sub.list")" ] || fail "sub --list | import | score: keys"

# ---- status ----------------------------------------------------------------

"$R" status --http "127.0.0.1:$S_HTTP" >"$T/status" || fail "repnet status"
grep -qx "repnetd 0.1.0, instance pub1, roles score publish" "$T/status" || { cat "$T/status"; fail "status: header"; }
grep -qx "scorer: 2 entries listed" "$T/status" || { cat "$T/status"; fail "status: scorer"; }
grep -q "^  collector  import  *1 batches, 2 observations" "$T/status" ||
	{ cat "$T/status"; fail "status: the import's collector"; }
grep -q "^  publishing pub1  *epoch [0-9]* seq [0-9]* digest [0-9a-f]\{16\}… listed 2, in sync$" "$T/status" ||
	{ cat "$T/status"; fail "status: publisher line"; }
python3 "$CHECK" settled "$S_HTTP" || fail "the publisher did not settle"
seq=$(python3 "$CHECK" get "$S_HTTP" publisher seq)
d16=$(python3 "$CHECK" get "$S_HTTP" publisher digest | cut -c1-16)
"$R" feed status --http "127.0.0.1:$S_HTTP" >"$T/feed" || fail "repnet feed status"
grep -q "^  publishing pub1  *epoch [0-9]* seq $seq digest $d16… listed 2, in sync$" "$T/feed" ||
	{ cat "$T/feed"; fail "feed status: seq $seq digest $d16"; }
"$R" status --json --http "127.0.0.1:$S_HTTP" | python3 -c 'import json,sys; d=json.load(sys.stdin)
assert d["instance"] == "pub1" and d["scorer"]["listed"] == 2, d' || fail "status --json"
kill -TERM "$S_PID"
wait_exit "$S_PID" 20
[ "$EXIT_STATUS" = 0 ] || fail "repnetd exit $EXIT_STATUS"
echo PASS
