#!/bin/sh
# repnet score and repnet explain end to end, and the score role in repnetd.
. "$(dirname "$0")/../integration/lib.sh"
R="$REPNET_BUILD/repnet"
OBS="$REPNET_TEST_DATA/scoring/obs-sample.jsonl"
LAB="--no-default-never-block"

# The documentation ranges are never listed by default...
"$R" score --obs "$OBS" >"$T/out" 2>"$T/err" || fail "score"
[ ! -s "$T/out" ] || fail "listed never-block ranges by default"
grep -q "8 protected" "$T/err" || { cat "$T/err"; fail "protected count"; }
# ...and are, in a lab.
"$R" score $LAB --obs "$OBS" >"$T/out" 2>"$T/err" || fail "score (lab)"
want='{"ip":"192.0.2.1","score":5,"categories":["sasl_bruteforce"],"first_seen":"2026-11-29T02:26:49Z","last_seen":"2026-11-29T02:26:51Z","expires":"2026-11-30T12:00:00Z","offences":1}'
grep -qxF "$want" "$T/out" || { cat "$T/out"; fail "192.0.2.1 line"; }
grep -q '"prefix":"203.0.113.0/24",.*"categories":\["drop"\]' "$T/out" || fail "imported /24"
grep -q '"prefix":"2001:db8::/64",.*"categories":\["spam_source","relay_probe"\]' "$T/out" || fail "IPv6 /64"
grep -q '"ip":"198.51.100.7",.*"protocol_bot"' "$T/out" || fail "pregreet"
if grep -q '192.0.2.2"\|192.0.2.9"\|192.0.2.10"' "$T/out"; then fail "listed below the threshold"; fi
[ "$(wc -l <"$T/out")" -eq 4 ] || fail "four entries"
# From standard input, and never-block given on the command line.
"$R" score $LAB --never-block 192.0.2.0/24,2001:db8::/32 --obs - <"$OBS" >"$T/out2" 2>/dev/null || fail "stdin"
[ "$(wc -l <"$T/out2")" -eq 2 ] || { cat "$T/out2"; fail "never-block list"; }
# Dry run: marked.
"$R" score $LAB --dry-run --obs "$OBS" 2>/dev/null | grep -q '"dry_run":true' || fail "dry run not marked"
# A malformed line: refused with its line number, or skipped with --lenient.
{ cat "$OBS"; echo '{"ts":"2026-11-29T02:30:00Z","ip":"192.0.2.300","kind":"pregreet"}'; } >"$T/bad.jsonl"
if "$R" score $LAB --obs "$T/bad.jsonl" >/dev/null 2>"$T/err"; then fail "accepted a bad address"; fi
grep -q "bad.jsonl:10: offset .*ip: expected an IPv4 or IPv6 address" "$T/err" || { cat "$T/err"; fail "error text"; }
"$R" score $LAB --lenient --obs "$T/bad.jsonl" >/dev/null 2>"$T/err" || fail "lenient"
# Configuration applies: a higher threshold lists less.
"$R" score $LAB -o scoring.threshold=6 --obs "$OBS" >"$T/out3" 2>/dev/null || fail "-o"
[ "$(wc -l <"$T/out3")" -eq 1 ] && grep -q '"prefix":"2001:db8::/64","score":10,' "$T/out3" ||
	{ cat "$T/out3"; fail "threshold override"; }
if "$R" score --obs /nonexistent/x 2>/dev/null; then fail "missing file"; fi
if "$R" score 2>/dev/null; then fail "no --obs accepted"; fi

# explain from observations.
"$R" explain $LAB --obs "$OBS" 192.0.2.1 >"$T/x" || fail "explain"
grep -q "^192.0.2.1: LISTED" "$T/x" || { cat "$T/x"; fail "explain verdict"; }
grep -q "sasl_fail .* x4 .*evidence auth:LOGIN,auth:PLAIN" "$T/x" || { cat "$T/x"; fail "explain contribution"; }
"$R" explain $LAB --obs "$OBS" 192.0.2.9 >"$T/x" || fail "explain 2"
grep -q "not listed" "$T/x" && grep -q "may not list alone" "$T/x" || { cat "$T/x"; fail "explain alone"; }
"$R" explain --obs "$OBS" 192.0.2.1 | grep -q "protected" || fail "explain protected"
"$R" explain $LAB --json --obs "$OBS" 2001:db8::99 >"$T/x.json" || fail "explain json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["key"]=="2001:db8::/64" and d["listed"], d' "$T/x.json" || fail "explain json content"
if "$R" explain $LAB --obs "$OBS" 300.1.1.1 2>/dev/null; then fail "bad address"; fi

# The score role in repnetd: journal and snapshot in data_dir/scoring, metrics.
cat >"$T/d.conf" <<CONF
core: { data_dir = "$T/data"; http_listen = "127.0.0.1:0"; roles = ["score"]; };
scoring: { tick = "1s"; };
# Not the default port, which a test running beside this one may hold.
feeds: { bus: { ingest_listen = "tcp://127.0.0.1:0"; }; };
CONF
start_daemon "$T/log" -c "$T/d.conf"
PORT=$(http_port "$T/log")
# The listener comes up before the roles: wait for them.
wait_for "$T/log" "repnetd .* running" 30
for m in repnet_scoring_ticks_total 'repnet_scoring_listed{family="ipv4"}' repnet_scoring_journal_bytes; do
	[ -n "$(metric "$PORT" "$m")" ] || fail "metric $m"
done
ls "$T/data/scoring" | grep -q '^journal\.' || fail "no journal"
kill -TERM "$DPID"
wait_exit "$DPID" 20
[ "$EXIT_STATUS" = 0 ] || fail "repnetd exit $EXIT_STATUS"
ls "$T/data/scoring" | grep -q '^snapshot\.' || fail "no snapshot on stop"
# explain reads that state offline, read-only.
before=$(ls -l "$T/data/scoring" | md5sum)
"$R" explain --data-dir "$T/data" 192.0.2.1 >"$T/x" || fail "explain --data-dir"
grep -q "no observations" "$T/x" || { cat "$T/x"; fail "explain of an empty state"; }
[ "$(ls -l "$T/data/scoring" | md5sum)" = "$before" ] || fail "explain wrote to the data directory"
echo PASS
