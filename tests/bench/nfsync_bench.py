#!/usr/bin/env python3
"""nfsync_bench.py [BUILD] [WORKDIR]: netfilter sync against its peers,
side by side in one run, inside a network namespace made for it.

Peers: `nft -f` and `ipset restore`, fed by the project's peer generator
(tests/bench/nfsync/gen_nft_ipset.py, copied from the shared bench
harness, same seed, same files), timed the way run_nft_ipset.sh times
them. repnet is fed the same addresses.

  1. initial load of 1M IPv4: repnet (nft backend, then ipset backend)
     against nft -f into a hash set, and against ipset restore;
  2. a 10k add and a 10k delete into the 1M-entry set, with 1,000
     prefixes present in repnet's interval set: against nft -f on a hash
     set and on an interval set (bounded by CMD_TIMEOUT, default 180 s);
  3. single-element updates, 1,000 transactions: against nft -i;
  4. RSS of every process, and kernel memory per element (unreclaimable
     slab + vmalloc, as run_nft_ipset.sh measures it).

Root only. Every command is bounded in time; figures are printed with the
machine load. Set NFSYNC_BENCH_INTERVAL=0 to skip the nft interval-set
peer (it takes minutes).
"""
import os
import random
import re
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
WORK = sys.argv[2] if len(sys.argv) > 2 else "/dev/shm/repnet-nfsync-bench"
N = int(os.environ.get("NFSYNC_BENCH_N", "1000000"))
CT = int(os.environ.get("CMD_TIMEOUT", "180"))
NS = "rn8bench%d" % os.getpid()
X = ["ip", "netns", "exec", NS]
REPNET = os.path.join(BUILD, "repnet")


def sh(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, **kw)


def kmem():
    """Kernel unreclaimable slab + vmalloc, kB (run_nft_ipset.sh's measure)."""
    v = {}
    for line in open("/proc/meminfo"):
        k, rest = line.split(":", 1)
        v[k] = int(rest.split()[0])
    return v["SUnreclaim"] + v["VmallocUsed"]


def timed(label, args, n, stdin=None):
    """Runs args under /usr/bin/time; returns (seconds, peak RSS kB, stdout)."""
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", "/tmp/.nfb.%d" % os.getpid(),
                        "timeout", str(CT)] + args, capture_output=True, text=True,
                       stdin=stdin)
    dt = time.monotonic() - t0
    rss = int(open("/tmp/.nfb.%d" % os.getpid()).read().split()[-1])
    note = "" if p.returncode == 0 else "  !! rc=%d %s" % (p.returncode, (
        "TIMEOUT after %d s" % CT) if p.returncode == 124 else p.stderr.strip()[:200])
    print("%-58s n=%-8d %8.3f s %10.0f elem/s  peakRSS=%7d kB%s" % (
        label, n, dt, n / dt if dt > 0 else 0, rss, note))
    return dt, rss, p.stdout, p.returncode


def flush():
    sh(X + ["nft", "flush", "ruleset"])
    sh(X + ["ipset", "destroy"])


class Shell:
    def __init__(self, overrides=()):
        a = [REPNET, "nfsync"]
        for o in overrides:
            a += ["-o", o]
        self.p = subprocess.Popen(X + a + ["shell"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        r = self.p.stdout.readline().strip()
        if not r.startswith("ok"):
            raise SystemExit("repnet shell: %s: %s" % (line, r))
        return dict(f.split("=", 1) for f in r.split()[1:] if "=" in f)

    def send(self, line):
        self.p.stdin.write(line + "\n")

    def close(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.close()
        self.p.wait(timeout=60)


def main():
    if os.getuid() != 0:
        raise SystemExit("nfsync_bench: needs root")
    os.makedirs(WORK, exist_ok=True)
    print("# uptime:", sh(["uptime"]).stdout.strip())
    print("# kernel %s, %s, %s" % (os.uname().release,
                                   sh(["nft", "--version"]).stdout.strip(),
                                   sh(["ipset", "--version"]).stdout.strip()))
    if not os.path.exists(os.path.join(WORK, "nft-%d-hash.nft" % N)):
        subprocess.run(["python3", os.path.join(HERE, "nfsync", "gen_nft_ipset.py"), WORK,
                        str(N)], check=True, stdout=subprocess.DEVNULL)
    # The same addresses for repnet: one per line.
    v4 = os.path.join(WORK, "repnet-%d.txt" % N)
    if not os.path.exists(v4):
        with open(os.path.join(WORK, "nft-%d-hash.nft" % N)) as f, open(v4, "w") as o:
            for line in f:
                if line.startswith("add element"):
                    o.write(line[line.index("{") + 1:line.rindex("}")].replace(", ",
                                                                           "\n").strip())
                    o.write("\n")
    inc = [l.strip() for l in open(os.path.join(WORK, "inc10k.txt"))]
    # 1,000 prefixes for repnet's interval set, disjoint from nothing in particular.
    rnd = random.Random(11)
    pfx = os.path.join(WORK, "prefixes-1k.txt")
    with open(pfx, "w") as f:
        for _ in range(1000):
            a = rnd.getrandbits(32) & 0xffffff00
            f.write("%d.%d.%d.%d/24\n" % (a >> 24 & 255 or 1, a >> 16 & 255, a >> 8 & 255, 0))
    both = os.path.join(WORK, "repnet-%d-and-prefixes.txt" % N)
    with open(both, "w") as o:
        o.write(open(v4).read())
        o.write(open(pfx).read())

    subprocess.run(["ip", "netns", "add", NS], check=True)
    try:
        figures = {}
        print("\n## initial load of %d IPv4 addresses" % N)
        for label, args, key in (
                ("nft -f, hash set (no size)", ["nft", "-f", "nft-%d-hash.nft" % N], "nft_hash"),
                ("ipset restore hash:ip", ["ipset", "restore", "-f",
                                           "ipset-%d-hash_ip.restore" % N], "ipset"),
                ("repnet nfsync load (nft backend)", [REPNET, "nfsync", "load", v4], "repnet"),
                ("repnet nfsync load (ipset backend)",
                 [REPNET, "nfsync", "-o", "feeds.sync.backend=ipset", "load", v4],
                 "repnet_ipset")):
            flush()
            m0 = kmem()
            a = [os.path.join(WORK, x) if x.endswith((".nft", ".restore")) else x for x in args]
            dt, rss, out, rc = timed(label, X + a, N)
            m1 = kmem()
            extra = ""
            if out:
                mm = re.search(r"applier=(\d+)", out)
                tx = re.search(r"txn_us=(\d+)", out)
                pm = re.search(r"parse_ms=(\d+)", out)
                if mm:
                    extra = " (applier peak RSS %s kB; transaction %.3f s; text parsing %s ms)" % (
                        mm.group(1), int(tx.group(1)) / 1e6, pm.group(1))
                    figures[key + "_applier_rss"] = int(mm.group(1))
            print("    kernel memory: %d kB = %.1f B/element%s" % (
                m1 - m0, (m1 - m0) * 1024.0 / N, extra))
            figures[key] = (dt, rss)
        r, n = figures["repnet"], figures["nft_hash"]
        print("    => repnet loads %.1fx faster than nft -f, with %.1f%% of its RSS "
              "(%d + %d kB vs %d kB); %.1fx faster than ipset restore" % (
                  n[0] / r[0], 100.0 * (r[1] + figures["repnet_applier_rss"]) / n[1], r[1],
                  figures["repnet_applier_rss"], n[1], figures["ipset"][0] / r[0]))

        print("\n## a 10k delta into the %d-entry set" % N)
        for kind in ("hash", "interval") if os.environ.get(
                "NFSYNC_BENCH_INTERVAL", "1") != "0" else ("hash",):
            flush()
            timed("nft -f load (%s), setup" % kind, X + ["nft", "-f", os.path.join(
                WORK, "nft-%d-%s.nft" % (N, kind))], N)
            timed("nft -f add 10k, one transaction (%s)" % kind,
                  X + ["nft", "-f", os.path.join(WORK, "nft-inc-add-batch.nft")], 10000)
            timed("nft -f delete 10k, one transaction (%s)" % kind,
                  X + ["nft", "-f", os.path.join(WORK, "nft-inc-del-batch.nft")], 10000)
        flush()
        s = Shell()
        r = s.cmd("load " + both)
        print("repnet setup: %d addresses and 1,000 /24 prefixes loaded in %.3f s" % (
            N, int(r["total_us"]) / 1e6))
        for verb in ("add", "del"):
            for a in inc:
                s.send("%s %s" % (verb, a))
            s.send("add 100.64.%d.0/24 scanner" % (0 if verb == "add" else 1))
            t0 = time.monotonic()
            r = s.cmd("commit")
            dt = time.monotonic() - t0
            print("%-58s n=%-8d %8.3f s  (transaction %.1f ms, engine %.1f ms)" % (
                "repnet %s 10k + 1 prefix, one transaction" % verb, 10000, dt,
                int(r["txn_us"]) / 1e3, int(r["total_us"]) / 1e3))

        print("\n## single-element updates, 1,000 transactions, into the same sets")
        for verb in ("add", "del"):
            t0 = time.monotonic()
            tot = 0
            for a in inc[:1000]:
                s.send("%s %s" % (verb, a))
                r = s.cmd("commit")
                tot += int(r["total_us"])
            dt = time.monotonic() - t0
            print("%-58s n=%-8d %8.3f s  => %.3f ms per transaction (engine %.3f ms)" % (
                "repnet, %s one element per transaction" % verb, 1000, dt, dt * 1e3 / 1000,
                tot / 1e3 / 1000))
        s.close()
        flush()
        timed("nft -f load (hash), setup", X + ["nft", "-f", os.path.join(
            WORK, "nft-%d-hash.nft" % N)], N)
        for verb in ("add", "del"):
            lines = "".join("%s element inet perf s { %s }\n" % (
                "add" if verb == "add" else "delete", a) for a in inc[:1000])
            with open("/tmp/.nfb-single.%d" % os.getpid(), "w") as f:
                f.write(lines)
            with open("/tmp/.nfb-single.%d" % os.getpid()) as f:
                dt, _, _, _ = timed("nft -i, %s one element per transaction" % verb,
                                    X + ["nft", "-i"], 1000, stdin=f)
            print("    => %.3f ms per transaction" % (dt * 1e3 / 1000))
        os.unlink("/tmp/.nfb-single.%d" % os.getpid())
    finally:
        flush()
        subprocess.run(["ip", "netns", "del", NS])
        try:
            os.unlink("/tmp/.nfb.%d" % os.getpid())
        except FileNotFoundError:
            pass
    print("# uptime:", sh(["uptime"]).stdout.strip())


if __name__ == "__main__":
    main()
