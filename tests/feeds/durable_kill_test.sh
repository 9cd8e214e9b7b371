#!/bin/sh
# Durable collectors (issue 16): a split collector + scorer, the real
# Postfix log (tests/data/mail) written into a followed file in chunks,
# the collector killed with SIGKILL 20 times at random points and started
# again each time. At the end the scorer holds every observation exactly
# once: by batch ids (the scorer's accepted observations equal what a
# one-shot `repnet logs` makes of the same file, with the replayed
# duplicates refused as duplicates), and by the listing (the addresses it
# lists are those `repnet logs | repnet score` lists).
. "$REPNET_SRC/tests/integration/lib.sh"
. "$REPNET_SRC/tests/feeds/feed_lib.sh"
R="$REPNET_BUILD/repnet"
KILLS=${KILLS:-20}

# The log, restamped so that its last line is now (the live scorer then
# takes it as fresh), in its original order and spacing.
python3 - "$MAILLOG" "$T/all.log" <<'PY'
import datetime, re, sys
LINE = re.compile(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d)( .*)$")
now = datetime.datetime.now().replace(microsecond=0)
rows = []
for raw in open(sys.argv[1], encoding="utf-8", errors="replace"):
    m = LINE.match(raw.rstrip("\n"))
    if m:
        t = datetime.datetime.strptime(str(now.year) + " " + m.group(1), "%Y %b %d %H:%M:%S")
        rows.append((t, m.group(2)))
shift = now - max(t for t, _ in rows)
with open(sys.argv[2], "w") as out:
    for t, rest in rows:
        out.write((t + shift).strftime("%b %e %H:%M:%S") + rest + "\n")
PY
total=$(wc -l <"$T/all.log")
"$R" logs --no-detect "$T/all.log" >"$T/oneshot.obs" 2>/dev/null || fail "repnet logs"
want=$(wc -l <"$T/oneshot.obs")
[ "$want" -gt 100 ] || fail "one-shot: only $want observations"

S_COLLECTORS="col1" start_scorer s1 ""
L="$T/log/mail.log"
mkdir -p "$T/log"
: >"$L"
followed_collector col1 "$L" 'ingest_batch = 64;'
start_col() {
	start_daemon "$T/col1.$1.log" -c "$T/col1.conf"
	C_PID=$DPID
	C_HTTP=$(http_port "$T/col1.$1.log")
}

# Random points: after a chunk of the log, kill at once or after up to
# 0.3 s (while it reads, seals, spills, sends or saves).
i=1
at=0
chunk=$((total / KILLS + 1))
start_col 0
while [ $i -le "$KILLS" ]; do
	sed -n "$((at + 1)),$((at + chunk))p" "$T/all.log" >>"$L"
	at=$((at + chunk))
	ms=$(od -An -N2 -tu2 /dev/urandom | awk '{ print $1 % 300 }')
	[ "$ms" -lt 20 ] || sleep "0.$(printf '%03d' "$ms")"
	kill -KILL "$C_PID"
	wait_exit "$C_PID" 10
	start_col "$i"
	i=$((i + 1))
done
[ "$(wc -l <"$L")" = "$total" ] || fail "the followed file has $(wc -l <"$L") lines, want $total"

# Everything arrives: the scorer's count stops at what the one-shot run made.
accepted() { metric "$S_HTTP" repnet_ingest_observations_total; }
arrived() { [ "$(accepted)" -ge "$want" ] && [ "$(metric "$C_HTTP" repnet_collector_queue_depth)" = 0 ]; }
wait_until 60 arrived || fail "the scorer accepted $(accepted) observations, want $want"
got=$(accepted)
dup=$(metric "$S_HTTP" 'repnet_ingest_batches_total{result="duplicate"}')
replayed=0
for f in "$T"/col1.*.log; do
	r=$(sed -n 's/.*spill .*: \([0-9]*\) batch(es) of .* to resend.*/\1/p' "$f" | head -n 1)
	replayed=$((replayed + ${r:-0}))
done
echo "observations: one-shot $want, scorer $got; duplicate batches refused $dup; batches left in the spill by a kill $replayed"
[ "$got" = "$want" ] || fail "the scorer accepted $got observations, want exactly $want"

# The same kinds for the same addresses, counted exactly: the scorer's
# per-kind totals against the one-shot run's.
python3 - "$T/oneshot.obs" >"$T/want.kinds" <<'PY'
import collections, json, sys
c = collections.Counter(json.loads(l)["kind"] for l in open(sys.argv[1]))
for k in sorted(c): print(k, c[k])
PY
curl -sf "http://127.0.0.1:$S_HTTP/metrics" |
	sed -n 's/^repnet_ingest_observations_by_kind_total{kind="\([^"]*\)"} \([0-9]*\)$/\1 \2/p' |
	sort >"$T/got.kinds"
diff "$T/want.kinds" "$T/got.kinds" >&2 || fail "observations by kind differ from the one-shot run"

# The listing: the scorer's against repnet score of the one-shot observations.
pub_settled "$S_HTTP"
"$R" score --no-default-never-block --obs - <"$T/oneshot.obs" >"$T/oneshot.list" 2>"$T/score.err" ||
	{ cat "$T/score.err"; fail "repnet score"; }
python3 -c 'import json,sys
for l in open(sys.argv[1]): e = json.loads(l); print(e.get("ip") or e["prefix"])' "$T/oneshot.list" |
	sed 's,/32$,,' | sort >"$T/want.list"
"$R" list -c "$T/s1.conf" --source scorer --all >"$T/live.list" 2>"$T/list.err" ||
	{ cat "$T/list.err"; fail "repnet list"; }
awk '{ print $1 }' "$T/live.list" | sed 's,/32$,,' | sort >"$T/got.list"
[ -s "$T/want.list" ] || fail "the one-shot run lists nothing: the comparison cannot fail"
diff "$T/want.list" "$T/got.list" >&2 || fail "the scorer's listing differs from repnet logs | repnet score"
echo "PASS: $KILLS kills; $got observations exactly once; $(wc -l <"$T/got.list") listed, as one-shot"
