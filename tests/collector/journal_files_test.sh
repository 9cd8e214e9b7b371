#!/bin/sh
# The journal source on real journal files, written by systemd-journal-remote
# from journal export format of the real Postfix log (tests/data/mail):
#   (a) repnet logs --journal FILE and --journal DIR give the same
#       observations as repnet logs on the plain file, also when the entries
#       come from a multi-instance Postfix (postfix-out/smtpd) among other
#       programs' entries;
#   (b) a live repnetd following a journal directory picks up entries that
#       journal-remote appends to the same file later, and after a restart
#       resumes from its saved cursor without reading an entry twice.
. "$REPNET_SRC/tests/integration/lib.sh"
R="$REPNET_BUILD/repnet"
JR=/lib/systemd/systemd-journal-remote
PLAIN="$REPNET_TEST_DATA/mail/postfix-maillog_file.log"
REF=2026-11-30T00:00:00Z
[ -x "$JR" ] || skip "systemd-journal-remote is not installed"
command -v python3 >/dev/null || skip "python3 is not installed"
export TZ=UTC

# export FIRST LAST PREFIX FOREIGN: lines FIRST..LAST of the plain log as
# journal export format, time from the line (TZ=UTC, year of REF), the
# identifier's "postfix" replaced by PREFIX; FOREIGN adds an sshd entry and
# a "postfixadmin" entry after every 50th line, which must not be parsed.
export_fmt() {
	python3 - "$PLAIN" "$1" "$2" "$3" "$4" <<'PY'
import calendar, re, sys, time
path, first, last, prefix, foreign = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
mon = {m: i + 1 for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}
rx = re.compile(r"^(\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\S+) ([^\[:]+)(?:\[(\d+)\])?: (.*)$")
out = sys.stdout
def entry(us, ident, pid, msg):
    out.write("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n" % (us, us - 1790000000000000))
    out.write("_BOOT_ID=0123456789abcdef0123456789abcdef\n_HOSTNAME=mx\nSYSLOG_FACILITY=2\nPRIORITY=6\n")
    out.write("SYSLOG_IDENTIFIER=%s\n" % ident)
    if pid:
        out.write("SYSLOG_PID=%s\n" % pid)
    out.write("MESSAGE=%s\n\n" % msg)
prev, k = None, 0
with open(path, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
        if n < first or n > last:
            continue
        m = rx.match(line.rstrip("\n"))
        if not m:
            sys.exit("unparsed line %d" % n)
        mo, d, hh, mi, ss, host, tag, pid, msg = m.groups()
        t = calendar.timegm((2026, mon[mo], int(d), int(hh), int(mi), int(ss)))
        k = k + 1 if t == prev else 0
        prev = t
        us = t * 1000000 + k  # increasing, in the line's millisecond
        entry(us, prefix + tag[len("postfix"):], pid, msg)
        if foreign and n % 50 == 0:
            entry(us, "sshd", "7", "Accepted publickey for root from 192.0.2.77 port 1 ssh2")
            entry(us, "postfixadmin", "8", "connect from unknown[192.0.2.78]")
PY
}
# metric_ge PORT NAME VALUE: the sample NAME is at least VALUE.
metric_ge() { v=$(metric "$1" "$2"); [ "${v:-0}" -ge "$3" ]; }
N=$(wc -l <"$PLAIN")
[ "$N" -gt 3000 ] || fail "the plain log has $N lines"

timeout 60 "$R" logs --ref-time $REF "$PLAIN" | sort >"$T/plain.json"
[ "$(wc -l <"$T/plain.json")" -gt 1000 ] || fail "too few observations from the plain log"

# (a) Offline: a journal file, and a directory, give the same observations.
mkdir -p "$T/ja" "$T/jb"
export_fmt 1 "$N" postfix 0 >"$T/a.export"
export_fmt 1 "$N" postfix-out 1 >"$T/b.export"
"$JR" --split-mode=none --output="$T/ja/a.journal" "$T/a.export" 2>"$T/jr.err" || { cat "$T/jr.err"; fail "journal-remote a"; }
"$JR" --split-mode=none --output="$T/jb/b.journal" "$T/b.export" 2>"$T/jr.err" || { cat "$T/jr.err"; fail "journal-remote b"; }
timeout 60 "$R" logs --journal "$T/ja/a.journal" | sort >"$T/a.json"
diff "$T/plain.json" "$T/a.json" >"$T/diff" || { head -n 20 "$T/diff"; fail "--journal FILE differs from the plain log"; }
timeout 60 "$R" logs --journal "$T/jb" | sort >"$T/b.json"
diff "$T/plain.json" "$T/b.json" >"$T/diff" || { head -n 20 "$T/diff"; fail "--journal DIR (postfix-out, foreign entries) differs"; }
timeout 60 "$R" logs --summary --journal "$T/jb" >"$T/b.sum"
F=$((N / 50 * 2))
grep -q "^lines $((N + F))\$" "$T/b.sum" || fail "summary lines: $(grep '^lines' "$T/b.sum"), want $((N + F))"
grep -q "^foreign $F\$" "$T/b.sum" || fail "summary foreign: $(grep '^foreign' "$T/b.sum"), want $F"
# A path that is no journal is an error with the path, not an empty result.
if timeout 30 "$R" logs --journal "$T/missing" >/dev/null 2>"$T/err"; then fail "--journal of a missing path succeeded"; fi
grep -q "$T/missing" "$T/err" || fail "the error does not name the path: $(cat "$T/err")"

# (b) Live: repnetd follows a directory that journal-remote appends to.
H1=1000; H2=2200
mkdir -p "$T/jl"
export_fmt 1 $H1 postfix 0 >"$T/l1.export"
export_fmt $((H1 + 1)) $H2 postfix 0 >"$T/l2.export"
export_fmt $((H2 + 1)) "$N" postfix 0 >"$T/l3.export"
# The expected events of each part: the plain lines of each range.
events_of() { sed -n "$1,$2p" "$PLAIN" >"$T/part"; timeout 60 "$R" logs --summary --ref-time $REF "$T/part" | sed -n 's/^events //p'; }
E1=$(events_of 1 $H1); E12=$(events_of 1 $H2); E3=$(events_of $((H2 + 1)) "$N")
[ "$E1" -gt 0 ] && [ "$E12" -gt "$E1" ] && [ "$E3" -gt 0 ] || fail "parts: $E1 $E12 $E3"
"$JR" --split-mode=none --output="$T/jl/live.journal" "$T/l1.export" 2>"$T/jr.err" || fail "journal-remote l1"
cat >"$T/r.conf" <<CONF
core: { instance = "j1"; data_dir = "$T/data"; http_listen = "127.0.0.1:0"; roles = ["collect"]; };
collector: {
  syslog: { udp_listen = ""; tcp_listen = ""; };
  detect: { enable = false; };
  journal: { paths = ["$T/jl"]; start = "beginning"; save_interval = "200ms"; };
  tail: { poll_interval = "200ms"; };
};
# Batches go to a port nothing listens on (not the default, where a
# scorer of a test running beside this one may answer); with a scorer in
# the process (below), to the port it binds.
feeds: { bus: { ingest_url = "tcp://127.0.0.1:1"; ingest_listen = "tcp://127.0.0.1:0"; }; };
CONF
"$REPNET_BUILD/repnetd" -n -c "$T/r.conf" >/dev/null || fail "configuration"
start_daemon "$T/d1.log" -v -c "$T/r.conf"
PORT=$(http_port "$T/d1.log")
grep -q "reading Postfix and Exim from the journal at $T/jl" "$T/d1.log" || fail "no journal source in the log"
EV='repnet_smtp_events_total{source="journal"}'
LN='repnet_smtp_lines_total{source="journal"}'
wait_until 60 metric_ge "$PORT" "$EV" "$E1" || fail "first part: $(metric "$PORT" "$EV") events, want $E1"
[ "$(metric "$PORT" "$EV")" = "$E1" ] || fail "first part: $(metric "$PORT" "$EV") events, want $E1"
"$JR" --split-mode=none --output="$T/jl/live.journal" "$T/l2.export" 2>"$T/jr.err" || fail "journal-remote l2"
wait_until 60 metric_ge "$PORT" "$EV" "$E12" || fail "appended part: $(metric "$PORT" "$EV") events, want $E12"
[ "$(metric "$PORT" "$EV")" = "$E12" ] || fail "appended part: $(metric "$PORT" "$EV") events, want $E12"
[ "$(metric "$PORT" "$LN")" = $H2 ] || fail "lines $(metric "$PORT" "$LN"), want $H2"
[ "$(metric "$PORT" 'repnet_journal_open')" = 1 ] || fail "repnet_journal_open"
kill -TERM "$DPID"
wait_exit "$DPID" 30
[ "$EXIT_STATUS" = 0 ] || fail "repnetd exited with $EXIT_STATUS"
# No scorer answers this collect-only node: the cursor is not written to
# its file (that waits for the acknowledgement of the entries before it)
# but kept in the spill with the batches, and the restart resumes from it.
! ls "$T"/data/journal-*.cursor >/dev/null 2>&1 || fail "a cursor written before its entries were acknowledged"
grep -aq "journal-[0-9a-f]*\.cursorv1 " "$T/data/collector.spill" || fail "no journal cursor kept in the spill"

# Appended while repnetd was down: read after the restart, and only that.
"$JR" --split-mode=none --output="$T/jl/live.journal" "$T/l3.export" 2>"$T/jr.err" || fail "journal-remote l3"
start_daemon "$T/d2.log" -v -c "$T/r.conf"
PORT=$(http_port "$T/d2.log")
wait_until 60 metric_ge "$PORT" "$EV" "$E3" || fail "after restart: $(metric "$PORT" "$EV") events, want $E3"
[ "$(metric "$PORT" "$EV")" = "$E3" ] || fail "after restart: $(metric "$PORT" "$EV") events, want $E3 (duplicates?)"
[ "$(metric "$PORT" "$LN")" = $((N - H2)) ] || fail "after restart: lines $(metric "$PORT" "$LN"), want $((N - H2)) (duplicates?)"
kill -TERM "$DPID"
wait_exit "$DPID" 30

# With a scorer in the same repnetd (the one-process default), the cursor
# file is written once the scorer has journaled the entries before it.
sed -e 's/roles = \["collect"\]/roles = ["collect", "score"]/' -e "s#$T/data#$T/data4#" \
	"$T/r.conf" >"$T/s.conf"
start_daemon "$T/d4.log" -v -c "$T/s.conf"
PORT=$(http_port "$T/d4.log")
EA=$(events_of 1 "$N")
wait_until 60 metric_ge "$PORT" "$EV" "$EA" || fail "with a scorer: $(metric "$PORT" "$EV") events, want $EA"
cursor_written() { ls "$T"/data4/journal-*.cursor >/dev/null 2>&1; }
wait_until 30 cursor_written || fail "with a scorer: no cursor file once acknowledged"
kill -TERM "$DPID"
wait_exit "$DPID" 30

# A journal that cannot be opened: a log line with the path, a counter.
cat >"$T/m.conf" <<CONF
core: { instance = "j2"; data_dir = "$T/data2"; http_listen = "127.0.0.1:0"; roles = ["collect"]; };
collector: { syslog: { udp_listen = ""; tcp_listen = ""; };
  journal: { paths = ["$T/nothere.journal"]; }; tail: { poll_interval = "200ms"; }; };
CONF
start_daemon "$T/d3.log" -v -c "$T/m.conf"
PORT=$(http_port "$T/d3.log")
wait_for "$T/d3.log" "journal $T/nothere.journal: cannot open"
OE='repnet_journal_events_total{event="open_error"}'
wait_until 30 metric_ge "$PORT" "$OE" 2 || fail "open_error counter: $(metric "$PORT" "$OE")"
kill -TERM "$DPID"
wait_exit "$DPID" 30
echo "PASS"
