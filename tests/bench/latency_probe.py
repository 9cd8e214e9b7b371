#!/usr/bin/env python3
"""latency_probe.py: times log lines to blocks (used by latency_bench.sh and
member_latency_bench.sh; not a test: figures only).

  latency_probe.py TRIALS LOGFILE "FAMILY TABLE" SYSLOG_HOST:PORT [LABEL]
                   [--delist REPNET DATA_DIR]

Run inside the namespace of the node that answers: each trial writes one
PREGREET line (5 points: lists alone) for a fresh address, alternately
appended to LOGFILE (followed by the collector) and sent over syslog (UDP)
to SYSLOG_HOST:PORT, and measures from the write to the DNSBL's answer on
127.0.0.1:5300 (one query every 0.5 ms) and to the element in the
nftables table (nft get element every 5 ms). Prints p50, p99 and the worst.
With --delist, each listed address is then delisted as an operator does,
`REPNET delist IP --reason ... -o core.data_dir=DATA_DIR` (the command's own
start included; DELIST_PREFIX in the environment, e.g. "ip netns exec NS",
runs it where that daemon is), and the time from its start to the DNSBL's
NXDOMAIN and to the element's removal is measured too.
"""
import os, re, socket, struct, subprocess, sys, threading, time

args = sys.argv[1:]
delist = None
if "--delist" in args:
    i = args.index("--delist")
    delist = (args[i + 1], args[i + 2])
    del args[i:i + 3]
trials, logpath, table = int(args[0]), args[1], args[2]
shost, sport = args[3].rsplit(":", 1)
label = args[4] if len(args) > 4 else "same host"
ZONE = "bl.repnet.localhost"


def query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def dns_wait(ip, t0, out, key="dns", listed=True):
    """Polls the DNSBL until it answers with a record (listed) or NXDOMAIN (not);
    the time of that answer."""
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
        if len(r) < 12 or struct.unpack(">H", r[:2])[0] != qid:
            continue
        rcode, an = r[3] & 0x0F, struct.unpack(">H", r[6:8])[0]
        if (listed and rcode == 0 and an > 0) or (not listed and rcode == 3):
            out[key] = time.monotonic() - t0
            return
        time.sleep(0.0005)


def nft_sets():
    """The table's IPv4 address sets (hosts and prefixes), listed anew each trial."""
    txt = subprocess.run(["nft", "list", "table"] + table.split(), capture_output=True,
                         text=True).stdout
    return re.findall(r"set (\S+) \{\s*type ipv4_addr", txt)


def nft_wait(ip, t0, sets, out, key="nft", listed=True):
    """Polls the sets until one holds ip (listed) or none does (not)."""
    while time.monotonic() - t0 < 20:
        held = False
        for st in sets:
            r = subprocess.run(["nft", "get", "element"] + table.split() + [st, "{ %s }" % ip],
                               capture_output=True)
            if r.returncode == 0:
                held = True
                break
        if held == listed:
            out[key] = time.monotonic() - t0
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
dres = {"dns": [], "nft": []}
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
        us.sendto(("<22>" + line(ip)).encode(), (shost, int(sport)))
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
    if delist is not None and "dns" in out:
        out = {}
        t0 = time.monotonic()
        r = subprocess.run(os.environ.get("DELIST_PREFIX", "").split() + [delist[0], "delist", ip, "--reason", "latency bench",
                            "-o", "core.data_dir=" + delist[1]], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("latency_probe: repnet delist %s failed: %s" % (ip, r.stderr))
        th = [threading.Thread(target=dns_wait, args=(ip, t0, out, "dns", False)),
              threading.Thread(target=nft_wait, args=(ip, t0, sets, out, "nft", False))]
        for t in th:
            t.start()
        for t in th:
            t.join()
        for k in ("dns", "nft"):
            if k in out:
                dres[k].append(out[k])
            else:
                missed += 1
    time.sleep(0.05)


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] * 1000


print("# latency: %s, %d trials, from the log line to the block (ms)" % (label, trials))
for k, name in (("dns", "DNSBL answer"), ("nft", "nftables element")):
    for src in ("file", "syslog", "all"):
        v = res["file"][k] + res["syslog"][k] if src == "all" else res[src][k]
        if v:
            print("%-17s %-7s n=%4d  p50 %7.1f  p99 %7.1f  max %7.1f" %
                  (name, src, len(v), pct(v, 50), pct(v, 99), max(v) * 1000))
if delist is not None:
    print("# delist: from the start of `repnet delist` to the block's removal (ms)")
    for k, name in (("dns", "DNSBL NXDOMAIN"), ("nft", "nftables removed")):
        v = dres[k]
        if v:
            print("%-17s %-7s n=%4d  p50 %7.1f  p99 %7.1f  max %7.1f" %
                  (name, "delist", len(v), pct(v, 50), pct(v, 99), max(v) * 1000))
if missed:
    print("missed (no answer within 20 s): %d" % missed)
