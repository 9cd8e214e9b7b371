#!/usr/bin/env python3
"""nfsync_test.py MODE [BACKEND]: the netfilter sync against the real
kernel, inside network namespaces this script creates and removes.

Modes:
  load     100k IPv4 + 10k IPv6 + 200 prefixes; the kernel (nft -j list,
           or ipset save) and repnet's own dump hold exactly those; again
           with one group of sets per category; reload is a no-op.
  delta    1,000 random deltas; after each, repnet's dump and the real
           tool's view equal the model.
  enforce  a peer namespace over veth: listed sources are dropped (the
           rule counters count them, the receiver sees nothing), unlisted
           and allowlisted ones pass; deltas take effect at once.
  drift    elements and rules changed by hand with nft are restored by the
           next periodic reconcile and counted in the drift metrics; a delta
           planned against a generation someone else moved on from is
           refused (ERESTART) and replanned; without CAP_NET_ADMIN the
           kernel's EPERM is reported and counted, never ignored.
  crash    the applier is SIGKILLed at a random point of 200 transactions;
           the kernel always holds the old or the new state, never a mix.

The model of what the kernel must hold is computed here with Python's
ipaddress module, independently of repnet's code.
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nfsync_lib import (BUILD, CATS, Netns, Nft, Shell, blocklist, entry_text, expected,  # noqa: E402
                        fail, ipset_state, nft_counters, nft_state, rand_prefix, rand_v4,
                        rand_v6, report, run, same, write_blocklist)

import ipaddress  # noqa: E402

REPNET = os.path.join(BUILD, "repnet")


def kernel(ns, backend, nft=None):
    return ipset_state(ns) if backend == "ipset" else nft_state(ns, nft=nft)


def cli(ns, overrides, *args):
    a = [REPNET, "nfsync"]
    for o in overrides:
        a += ["-o", o]
    return run(ns.cmd(*(a + list(args))), timeout=300)


def cli_dump(ns, overrides):
    sets = {}
    from nfsync_lib import addr_range
    for l in cli(ns, overrides, "dump").splitlines():
        name, el = l.split(" ", 1)
        sets.setdefault(name, set()).add(addr_range(el))
    return sets


# ---- load ----------------------------------------------------------------------

def mode_load(backend, tmp):
    ns = Netns("load")
    try:
        rnd = random.Random(8)
        entries = blocklist(rnd, 100000, 10000, 200, ncat=4)
        path = os.path.join(tmp, "blocklist.txt")
        write_blocklist(path, entries)
        for per_cat in (False, True):
            ov = ["feeds.sync.backend=" + backend,
                  "feeds.sync.per_category=" + ("true" if per_cat else "false")]
            want = expected(entries, per_cat, backend)
            n = sum(len(v) for v in want.values())
            out = cli(ns, ov, "load", path)
            r = report(out.splitlines()[0])
            if r["added"] != n or r["removed"] != 0 or r["refused"] != 0:
                fail("load reported %s, want added=%d" % (out.splitlines()[0], n))
            same(want, kernel(ns, backend), "%s after load (per_category=%s)" % (
                "ipset save" if backend == "ipset" else "nft -j list", per_cat))
            same(want, cli_dump(ns, ov), "repnet nfsync dump after load")
            # Loading the same blocklist again changes nothing.
            r = report(cli(ns, ov, "load", path).splitlines()[0])
            if r["added"] or r["removed"] or r["swaps"] or r["created"]:
                fail("second load changed something: %r" % r)
            cli(ns, ov, "destroy")
            left = kernel(ns, backend) if backend == "ipset" else None
            if backend == "ipset" and left:
                fail("destroy left %s" % sorted(left))
            if backend == "nft":
                p = subprocess.run(ns.cmd("nft", "list", "table", "inet", "repnet"),
                                   capture_output=True)
                if p.returncode == 0:
                    fail("destroy left the table")
            print("load ok: %d elements, per_category=%s" % (n, per_cat))
    finally:
        ns.close()


# ---- delta ---------------------------------------------------------------------

def mode_delta(backend, tmp, rounds=int(os.environ.get("NFSYNC_ROUNDS", "1000"))):
    ns = Netns("delta")
    sh = None
    try:
        rnd = random.Random(1000)
        model = set(blocklist(rnd, 1000, 150, 40, ncat=3))
        path = os.path.join(tmp, "base.txt")
        write_blocklist(path, model)
        # Small headroom: sets outgrow their size and are swapped in bigger.
        ov = ["feeds.sync.backend=" + backend, "feeds.sync.size_min=1024",
              "feeds.sync.headroom=10"]
        sh = Shell(ns, ov)
        sh.ok("load " + path)
        nft = Nft(ns) if backend == "nft" else None
        swaps = 0
        for i in range(rounds):
            adds, dels = set(), set()
            # Set order is deterministic here: networks hash as integers.
            lst = list(model)
            for _ in range(rnd.randint(1, 12)):
                x = rnd.random()
                if x < 0.30:
                    adds.add((rand_v4(rnd), rnd.randrange(3)))
                elif x < 0.40:
                    adds.add((rand_v6(rnd), rnd.randrange(3)))
                elif x < 0.55:
                    adds.add((rand_prefix(rnd, v6=rnd.random() < 0.3), rnd.randrange(3)))
                elif x < 0.80 and lst:
                    dels.add(rnd.choice(lst))
                elif x < 0.90:
                    dels.add((rand_v4(rnd), 0))  # not listed: a no-op
                elif lst:
                    # The same address or prefix under another category.
                    net, cat = rnd.choice(lst)
                    adds.add((net, (cat + 1) % 3))
            for net, cat in dels:
                sh.send("del " + entry_text(net, cat))
            for net, cat in adds:
                sh.send("add " + entry_text(net, cat))
            r = sh.ok("commit")
            swaps += r["swaps"]
            # The engine removes first, then adds.
            model = (model - dels) | adds
            want = expected(model, False, backend)
            same(want, sh.dump(), "repnet dump after delta %d" % i)
            same(want, kernel(ns, backend, nft), "%s after delta %d" % (
                "ipset save" if backend == "ipset" else "nft -j list", i))
        m = sh.metrics()
        if m.get('repnet_nfsync_transactions_total{result="failed"}', 1) != 0:
            fail("failed transactions: %r" % m)
        if swaps == 0:
            fail("no delta outgrew its set; the resize path was not exercised")
        if nft:
            nft.close()
        print("delta ok: %d deltas, %d swaps, %d entries at the end" % (rounds, swaps,
                                                                          len(model)))
    finally:
        if sh:
            sh.close()
        ns.close()


# ---- enforce -------------------------------------------------------------------

RECEIVER = r"""
import json, select, socket, sys, time
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s4.bind(("0.0.0.0", 9999))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); s6.bind(("::", 9999))
print("ready", flush=True)
got, end = {}, time.time() + float(sys.argv[1])
while time.time() < end:
    r, _, _ = select.select([s4, s6], [], [], 0.1)
    for s in r:
        d, a = s.recvfrom(100)
        if d == b"stop":
            end = 0
        else:
            got[a[0]] = got.get(a[0], 0) + 1
print(json.dumps(got), flush=True)
"""

SENDER = r"""
import socket, sys, time
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in src else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((src, 0))
for i in range(n):
    s.sendto(b"x" * 40, (dst, 9999)); time.sleep(0.002)
"""


def exchange(a, b, sources, n=20):
    """Sends n datagrams from each source in b to a; returns what a got."""
    import json
    rx = subprocess.Popen(a.cmd("python3", "-c", RECEIVER, "20"), stdout=subprocess.PIPE,
                          text=True)
    if rx.stdout.readline().strip() != "ready":
        fail("receiver did not start")
    for src in sources:
        dst = "2001:db8:ff08::1" if ":" in src else "198.51.100.1"
        run(b.cmd("python3", "-c", SENDER, src, dst, str(n)))
    time.sleep(0.3)
    # The receiver stops on a 'stop' from an address that is never listed.
    run(b.cmd("python3", "-c", "import socket; u=socket.socket(socket.AF_INET, "
              "socket.SOCK_DGRAM); u.bind(('198.51.100.9', 0)); "
              "u.sendto(b'stop', ('198.51.100.1', 9999))"))
    out, _ = rx.communicate(timeout=30)
    return json.loads(out.strip().splitlines()[-1])


def mode_enforce(tmp):
    a, b = Netns("enfa"), Netns("enfb")
    sh = None
    try:
        run(["ip", "link", "add", "va8", "netns", a.name, "type", "veth", "peer", "name",
             "vb8", "netns", b.name])
        run(["ip", "-n", a.name, "addr", "add", "198.51.100.1/24", "dev", "va8"])
        run(["ip", "-n", a.name, "addr", "add", "2001:db8:ff08::1/64", "dev", "va8", "nodad"])
        for x in ("2", "3", "5", "9", "66"):
            run(["ip", "-n", b.name, "addr", "add", "198.51.100.%s/24" % x, "dev", "vb8"])
        for x in ("2", "3"):
            run(["ip", "-n", b.name, "addr", "add", "2001:db8:ff08::%s/64" % x, "dev", "vb8",
                 "nodad"])
        run(["ip", "-n", a.name, "link", "set", "va8", "up"])
        run(["ip", "-n", b.name, "link", "set", "vb8", "up"])
        # Static neighbours: a listed IPv6 source cannot do neighbour
        # discovery with a host that drops it, and must not spoil the
        # entry its unlisted neighbour shares.
        import json
        mac = {n: json.loads(run(["ip", "-j", "-n", ns.name, "link", "show", dev]))[0]["address"]
               for n, ns, dev in (("a", a, "va8"), ("b", b, "vb8"))}
        run(["ip", "-n", b.name, "neigh", "replace", "2001:db8:ff08::1", "lladdr", mac["a"],
             "dev", "vb8", "nud", "permanent"])
        for x in ("2", "3"):
            run(["ip", "-n", a.name, "neigh", "replace", "2001:db8:ff08::%s" % x, "lladdr",
                 mac["b"], "dev", "va8", "nud", "permanent"])
        rnd = random.Random(3)
        entries = set(blocklist(rnd, 500, 50, 10))
        entries |= {(ipaddress.ip_network("198.51.100.2/32"), 1),
                    (ipaddress.ip_network("198.51.100.5/32"), 1),
                    (ipaddress.ip_network("198.51.100.64/26"), 10),
                    (ipaddress.ip_network("2001:db8:ff08::2/128"), 3)}
        path = os.path.join(tmp, "enforce.txt")
        write_blocklist(path, entries)
        # 198.51.100.5 is listed but allowlisted: accepted before the drops.
        sh = Shell(a, ["feeds.sync.hooks=input", "feeds.sync.allow=198.51.100.5/32"])
        sh.ok("load " + path)
        before = nft_counters(a)
        for k in ("v4", "v6", "net4", "net6", "allow4"):
            if k not in before:
                fail("no counted rule for set %s: %r" % (k, before))
        srcs = ["198.51.100.2", "198.51.100.3", "198.51.100.5", "198.51.100.66",
                "2001:db8:ff08::2", "2001:db8:ff08::3"]
        got = exchange(a, b, srcs)
        after = nft_counters(a)
        d = {k: after[k][0] - before[k][0] for k in after}
        print("received %s; counted drops %s" % (got, d))
        for s in ("198.51.100.2", "198.51.100.66", "2001:db8:ff08::2"):
            if got.get(s, 0) != 0:
                fail("listed source %s got through" % s)
        for s in ("198.51.100.3", "198.51.100.5", "2001:db8:ff08::3"):
            if got.get(s, 0) != 20:
                fail("unlisted or allowed source %s: %d of 20 arrived" % (s, got.get(s, 0)))
        if d["v4"] != 20 or d["net4"] != 20 or d["v6"] != 20 or d["allow4"] != 20:
            fail("rule counters: %r, want 20 drops on v4, net4, v6, 20 accepts on allow4" % d)
        # A delta takes effect at once: .3 is listed, .2 no longer is.
        sh.send("add 198.51.100.3 scanner")
        sh.send("del 198.51.100.2 spam_source")
        sh.ok("commit")
        got = exchange(a, b, ["198.51.100.2", "198.51.100.3"])
        if got.get("198.51.100.3", 0) != 0 or got.get("198.51.100.2", 0) != 20:
            fail("after the delta: %r" % got)
        print("enforce ok")
    finally:
        if sh:
            sh.close()
        a.close()
        b.close()


# ---- drift ---------------------------------------------------------------------

def mode_drift(tmp):
    ns = Netns("drift")
    sh = None
    try:
        rnd = random.Random(5)
        entries = set(blocklist(rnd, 1000, 100, 30))
        path = os.path.join(tmp, "drift.txt")
        write_blocklist(path, entries)
        sh = Shell(ns, ["feeds.sync.reconcile_interval=1s"])
        sh.ok("load " + path)
        want = expected(entries)
        same(want, nft_state(ns), "nft after load")
        m0 = sh.metrics()
        # Idle: reconciles run and find nothing (waited for, at most 30 s).
        rec = 'repnet_nfsync_reconciles_total{result="ok"}'
        deadline = time.time() + 30
        while True:
            m1 = sh.metrics()
            if m1[rec] > m0[rec]:
                break
            if time.time() > deadline:
                fail("no periodic reconcile ran")
            time.sleep(0.2)
        # By hand: one address added, two removed, a range removed, the
        # chain emptied.
        v4 = sorted(want["v4"])
        net4 = sorted(want["net4"])
        from nfsync_lib import fmt
        nft = lambda *a: run(ns.cmd("nft", *a))  # noqa: E731
        nft("add", "element", "inet", "repnet", "v4", "{ 9.9.9.9 }")
        nft("add", "element", "inet", "repnet", "v6", "{ 2001:db8:dead::1 }")
        nft("delete", "element", "inet", "repnet", "v4", "{ %s, %s }" % (fmt(v4[0]), fmt(v4[1])))
        nft("delete", "element", "inet", "repnet", "net4", "{ %s }" % fmt(net4[0]))
        nft("flush", "chain", "inet", "repnet", "blocklist")
        deadline = time.time() + 20
        key_m = 'repnet_nfsync_drift_elements_total{kind="missing"}'
        key_e = 'repnet_nfsync_drift_elements_total{kind="extra"}'
        key_c = "repnet_nfsync_drift_chains_total"
        while True:
            m2 = sh.metrics()
            if m2[key_m] - m1[key_m] >= 3 and m2[key_e] - m1[key_e] >= 2 and \
                    m2[key_c] - m1[key_c] >= 1:
                break
            if time.time() > deadline:
                fail("drift not reported: %r" % {k: m2[k] for k in (key_m, key_e, key_c)})
            time.sleep(0.5)
        if m2[key_m] - m1[key_m] != 3 or m2[key_e] - m1[key_e] != 2:
            fail("drift miscounted: missing %d extra %d, want 3 and 2" % (
                m2[key_m] - m1[key_m], m2[key_e] - m1[key_e]))
        same(want, nft_state(ns), "nft after the repair")
        c = nft_counters(ns)
        if sorted(c) != ["net4", "net6", "v4", "v6"]:
            fail("chain not rebuilt: %r" % c)
        print("drift ok: repaired 3 missing, 2 extra, 1 chain")
        sh.close()
        sh = None

        # A delta planned against a generation someone else has moved on
        # from is refused by the kernel (ERESTART), planned again and
        # applied; the outside change is repaired by the next reconcile.
        sh = Shell(ns, ["feeds.sync.reconcile_interval=1h"])
        sh.ok("load " + path)
        m0 = sh.metrics()
        nft("add", "element", "inet", "repnet", "v6", "{ 2001:db8:beef::1 }")
        sh.send("add 192.0.2.77 scanner")
        sh.ok("commit")
        m1 = sh.metrics()
        conf = "repnet_nfsync_generation_conflicts_total"
        if m1[conf] - m0[conf] != 1:
            fail("the stale delta was not refused and replanned: %r" % m1[conf])
        want2 = expected(entries | {(ipaddress.ip_network("192.0.2.77/32"), 3)})
        got = nft_state(ns)
        if (int(ipaddress.ip_address("2001:db8:beef::1")),) * 2 not in got["v6"]:
            fail("the outside element vanished before the reconcile")
        r = sh.ok("reconcile")
        if r["extra"] != 1 or r["missing"] != 0:
            fail("reconcile after the conflict: %r" % r)
        same(want2, nft_state(ns), "nft after the conflict and the reconcile")
        print("conflict ok: a stale delta was replanned; the outside change repaired")
        sh.close()
        sh = None

        # Without CAP_NET_ADMIN the kernel answers EPERM: the load fails,
        # the error is counted, and the engine knows it is not in sync.
        import shutil
        if shutil.which("setpriv"):
            p = subprocess.run(ns.cmd("setpriv", "--bounding-set", "-net_admin", "--inh-caps",
                                      "-net_admin", REPNET, "nfsync", "shell"),
                               input="load %s\ninsync\nmetrics\nquit\n" % path,
                               capture_output=True, text=True, timeout=60)
            lines = p.stdout.splitlines()
            if not lines or not lines[0].startswith("err") or lines[1] != "ok 0" or \
                    'repnet_nfsync_errors_total{reason="eperm"} 1' not in lines:
                fail("without CAP_NET_ADMIN: %r" % lines[:3])
            print("eperm ok: refused, counted, not in sync")
        else:
            print("eperm skipped: setpriv is not installed")
    finally:
        if sh:
            sh.close()
        ns.close()


# ---- crash ---------------------------------------------------------------------

def wait_dead(pid, limit=10.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            with open("/proc/%d/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.001)
    fail("the applier (pid %d) did not die within %.0f s of SIGKILL" % (pid, limit))


def mode_crash(tmp, rounds=200):
    ns = Netns("crash")
    sh = None
    try:
        rnd = random.Random(200)
        a = set(blocklist(rnd, 6000, 600, 60))
        b = set(a)
        lst = sorted(a, key=str)
        for x in rnd.sample(lst, 2000):
            b.discard(x)
        b |= set(blocklist(rnd, 4000, 200, 20))
        pa, pb = os.path.join(tmp, "a.txt"), os.path.join(tmp, "b.txt")
        write_blocklist(pa, a)
        write_blocklist(pb, b)
        wa, wb = expected(a), expected(b)
        dels_ab, adds_ab = a - b, b - a
        sh = Shell(ns, [])
        sh.ok("load " + pa)
        nft = Nft(ns)
        cur = "a"

        def op(target, delta):
            """Starts the change to target; returns when only its transaction
            (and, for a load, the dumps before it) remains to be done."""
            if not delta:
                sh.send("load " + (pb if target == "b" else pa))
                sh.p.stdin.flush()
                return
            d, ad = (dels_ab, adds_ab) if target == "b" else (adds_ab, dels_ab)
            for net, cat in d:
                sh.send("del " + entry_text(net, cat))
            for net, cat in ad:
                sh.send("add " + entry_text(net, cat))
            sh.ok("insync")  # the delta is parsed; the commit comes next
            sh.send("commit")
            sh.p.stdin.flush()

        # How long each kind of change takes, to aim the kills inside it.
        span = {}
        for delta in (False, True):
            t = []
            for target in ("b", "a"):
                op(target, delta)
                t0 = time.monotonic()
                r = sh.reply()
                if not r.startswith("ok"):
                    fail("calibration: %s" % r)
                t.append(time.monotonic() - t0)
            span[delta] = max(t)
        print("a change takes up to %.1f ms (load), %.1f ms (delta)" % (
            span[False] * 1e3, span[True] * 1e3))
        outcome = {"old": 0, "new": 0}
        for i in range(rounds):
            delta = i % 2 == 1
            target = "b" if cur == "a" else "a"
            pid = sh.pid()
            delay = rnd.uniform(0, span[delta] * 1.2)
            op(target, delta)
            time.sleep(delay)
            # Freeze the engine first, so that it cannot start a recovery
            # before the kernel is looked at: what nft shows is the state
            # the kill left.
            os.kill(sh.p.pid, signal.SIGSTOP)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            # SIGKILL is asynchronous: the applier may still be inside the
            # kernel, aborting or committing its batch. Look only once it
            # is a zombie, when the kernel state can no longer change.
            wait_dead(pid)
            got = nft_state(ns, nft=nft)
            os.kill(sh.p.pid, signal.SIGCONT)
            r = sh.reply()
            old, new = (wa, wb) if target == "b" else (wb, wa)
            is_old = all(got.get(k, set()) == v for k, v in old.items())
            is_new = all(got.get(k, set()) == v for k, v in new.items())
            if not (is_old or is_new):
                for k in sorted(set(old) | set(new)):
                    o, n_, g_ = old.get(k, set()), new.get(k, set()), got.get(k, set())
                    print("set %s: old %d new %d got %d; got-old %d old-got %d got-new %d "
                          "new-got %d" % (k, len(o), len(n_), len(g_), len(g_ - o), len(o - g_),
                                          len(g_ - n_), len(n_ - g_)))
                same(new, got, "round %d (%s, killed after %.1f ms, reply %s): neither old "
                     "nor new" % (i, "delta" if delta else "load", delay * 1e3, r))
            outcome["new" if is_new else "old"] += 1
            # The next call respawns the applier and resynchronises.
            rr = sh.ok("reconcile")
            same(new, nft_state(ns, nft=nft), "round %d: after the resync" % i)
            if r.startswith("err") and delta and is_new:
                # The kill came after the commit but before the answer.
                pass
            cur = target
            del rr
        m = sh.metrics()
        restarts = m["repnet_nfsync_applier_restarts_total"]
        print("crash ok: %d kills: %d left the old state, %d the new; %d applier restarts" % (
            rounds, outcome["old"], outcome["new"], restarts))
        if outcome["old"] == 0 or outcome["new"] == 0:
            fail("the kills did not land on both sides of the commit: %r" % outcome)
    finally:
        if sh:
            sh.close()
        ns.close()


def main():
    if len(sys.argv) < 2:
        fail("usage: nfsync_test.py load|delta|enforce|drift|crash [nft|ipset]")
    mode = sys.argv[1]
    backend = sys.argv[2] if len(sys.argv) > 2 else "nft"
    with tempfile.TemporaryDirectory(prefix="repnet-nfsync-") as tmp:
        t0 = time.monotonic()
        if mode == "load":
            mode_load(backend, tmp)
        elif mode == "delta":
            mode_delta(backend, tmp)
        elif mode == "enforce":
            mode_enforce(tmp)
        elif mode == "drift":
            mode_drift(tmp)
        elif mode == "crash":
            mode_crash(tmp)
        else:
            fail("unknown mode " + mode)
        print("PASS (%.1f s)" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
