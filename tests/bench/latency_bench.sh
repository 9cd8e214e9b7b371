#!/bin/sh
# latency_bench.sh: from a Postfix log line to the block, as an operator
# meets it (not a test: figures only; run it on a quiet machine).
#
#   tests/bench/latency_bench.sh [TRIALS=200] [BUILD=build]
#
# One repnetd with every role on its defaults (but for escalation, off so
# that every trial's address is decided alone, and the test ranges allowed
# to list), in a network namespace of its own so that the nftables sets
# are its own. Each trial writes one PREGREET line (5 points: lists alone)
# for a fresh address, alternately appended to a followed file and sent
# over syslog (UDP), and measures from the write to:
#   - the DNSBL answer (A queries on 127.0.0.1:5300, one every 0.5 ms);
#   - the nftables element (nft get element, one every 5 ms: its own
#     process start, a few ms, is the resolution).
# It prints p50, p99 and the worst over the trials, per source and in all.
# Then, in the same run, the peer: Debian's fail2ban with its stock postfix
# filter (mode aggressive, which holds postscreen's PREGREET; maxretry 1)
# on the same lines, from the write to its ban action
# (tests/bench/f2b_latency.py), when fail2ban is installed
# (scripts/bootstrap.sh --bench).
# Needs root, ip, nft and python3.
set -eu
TRIALS=${1:-200}
B=$(cd "${2:-build}" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "latency_bench: needs root (a network namespace and nftables)" >&2; exit 77; }
for c in ip nft python3; do command -v $c >/dev/null || { echo "latency_bench: $c is missing" >&2; exit 77; }; done
T=$(mktemp -d /tmp/repnet-latency.XXXXXX)
NS="rnlat$$"
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	[ -n "${KEEP:-}" ] && cp "$T/log" "$KEEP"
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
ip netns add "$NS"
ip -n "$NS" link set lo up
chmod 0755 "$T"
: >"$T/mail.log"
chmod 0644 "$T/mail.log"
ip netns exec "$NS" "$B/repnetd" -f -o core.data_dir="$T/data" \
	-o scoring.default_never_block=false -o scoring.escalate.ipv4=0 \
	-o collector.tail.paths="$T/mail.log" >"$T/log" 2>&1 &
PID=$!
i=0
until grep -q "repnetd .* running" "$T/log"; do
	i=$((i + 1))
	[ $i -lt 200 ] || { cat "$T/log" >&2; echo "latency_bench: repnetd did not start" >&2; exit 1; }
	sleep 0.1
done
TABLE=$("$B/repnet" config | sed -n 's/^| `feeds.sync.table` | [^|]* | `\([^`]*\)`.*/\1/p')
ip netns exec "$NS" python3 - "$TRIALS" "$T/mail.log" "${TABLE:-inet repnet}" <<'PY'
import re, socket, struct, subprocess, sys, threading, time

trials, logpath, table = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ZONE = "bl.repnet.localhost"


def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def dns_wait(ip, t0, out):
    """Polls the DNSBL until it answers with a record; the time of that answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.05)
    rev = ".".join(reversed(ip.split("."))) + "." + ZONE
    qid = 0
    while time.monotonic() - t0 < 20:
        qid = (qid + 1) & 0xFFFF
        s.sendto(query(rev, qid), ("127.0.0.1", 5300))
        try:
            r = s.recv(512)
        except socket.timeout:
            continue
        if len(r) >= 12 and struct.unpack(">H", r[:2])[0] == qid and (r[3] & 0x0F) == 0 \
                and struct.unpack(">H", r[6:8])[0] > 0:
            out["dns"] = time.monotonic() - t0
            return
        time.sleep(0.0005)


def nft_sets():
    """The table's IPv4 address sets (hosts and prefixes), listed anew each trial."""
    txt = subprocess.run(["nft", "list", "table"] + table.split(), capture_output=True,
                         text=True).stdout
    return re.findall(r"set (\S+) \{\s*type ipv4_addr", txt)


def nft_wait(ip, t0, sets, out):
    while time.monotonic() - t0 < 20:
        for st in sets:
            r = subprocess.run(["nft", "get", "element"] + table.split() + [st, "{ %s }" % ip],
                               capture_output=True)
            if r.returncode == 0:
                out["nft"] = time.monotonic() - t0
                return
        time.sleep(0.005)


def line(ip):
    ts = time.strftime("%b %e %H:%M:%S")
    return "%s mx postfix/postscreen[3]: PREGREET 11 after 0.1 from [%s]:4242: EHLO x" % (ts, ip)


us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
# Wait for the sets to exist (the sync role creates them at its first load).
deadline = time.monotonic() + 30
sets = []
while not sets and time.monotonic() < deadline:
    sets = nft_sets()
    time.sleep(0.2)
if not sets:
    sys.exit("latency_bench: no nftables set in table %s" % table)
res = {"file": {"dns": [], "nft": []}, "syslog": {"dns": [], "nft": []}}
missed = 0
for i in range(trials):
    ip = "198.18.%d.%d" % (i // 250, i % 250 + 1)
    src = "file" if i % 2 == 0 else "syslog"
    out = {}
    sets = nft_sets() or sets
    t0 = time.monotonic()
    if src == "file":
        with open(logpath, "a") as f:
            f.write(line(ip) + "\n")
    else:
        us.sendto(("<22>" + line(ip)).encode(), ("127.0.0.1", 5514))
    th = [threading.Thread(target=dns_wait, args=(ip, t0, out)),
          threading.Thread(target=nft_wait, args=(ip, t0, sets, out))]
    for t in th:
        t.start()
    for t in th:
        t.join()
    for k in ("dns", "nft"):
        if k in out:
            res[src][k].append(out[k])
        else:
            missed += 1
    time.sleep(0.05)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] * 1000


print("# latency_bench: %d trials, from the log line to the block (ms)" % trials)
for k, name in (("dns", "DNSBL answer"), ("nft", "nftables element")):
    for src in ("file", "syslog", "all"):
        v = res["file"][k] + res["syslog"][k] if src == "all" else res[src][k]
        if v:
            print("%-17s %-7s n=%4d  p50 %7.1f  p99 %7.1f  max %7.1f" %
                  (name, src, len(v), pct(v, 50), pct(v, 99), max(v) * 1000))
if missed:
    print("missed (no answer within 20 s): %d" % missed)
PY
kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
PID=
if command -v fail2ban-server >/dev/null; then
	python3 "$SRC/tests/bench/f2b_latency.py" "$T/f2b" --trials "$TRIALS" --kind pregreet ||
		echo "latency_bench: the fail2ban run failed" >&2
else
	echo "# fail2ban is not installed (scripts/bootstrap.sh --bench): no peer figure"
fi
