"""nfsync_lib.py: helpers for the netfilter sync tests.

An independent model of what the kernel must hold (Python's ipaddress
module does the prefix arithmetic, not repnet's code), readers of the
real tools' views (nft -j, ipset save), a driver for `repnet nfsync
shell`, and a network namespace that is always removed.
"""
import ipaddress
import json
import os
import random
import socket
import subprocess
import sys
import time

CATS = ["unspecified", "spam_source", "sasl_bruteforce", "scanner", "protocol_bot",
        "harvester", "peer_listed", "relay_probe", "bruteforce", "reflector", "drop"]
BUILD = os.environ.get("REPNET_BUILD", "build")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(args, check=True, timeout=120):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        fail("%s: exit %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()[:500]))
    return p.stdout


class Netns:
    """A network namespace named after the test and our pid."""

    def __init__(self, tag):
        self.name = "rn8-%s-%d" % (tag, os.getpid())
        run(["ip", "netns", "add", self.name])
        run(["ip", "-n", self.name, "link", "set", "lo", "up"])

    def cmd(self, *args):
        return ["ip", "netns", "exec", self.name] + list(args)

    def close(self):
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


# ---- the model -------------------------------------------------------------

def merge(nets):
    """Normalised ranges of a list of networks: sorted, not touching."""
    out = []
    for n in sorted(nets, key=lambda n: (int(n.network_address), n.prefixlen)):
        lo, hi = int(n.network_address), int(n.broadcast_address)
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return {(a, b) for a, b in out}


def cidrs(nets):
    """The minimal prefixes covering the networks, as ranges (ipset)."""
    res = set()
    for v in (4, 6):
        same = [n for n in nets if n.version == v]
        for c in ipaddress.collapse_addresses(same):
            res.add((int(c.network_address), int(c.broadcast_address)))
    return res


def expected(entries, per_category=False, backend="nft", prefix="repnet"):
    """Set name -> set of (lo, hi) the kernel must hold for these entries.

    entries: iterable of (ipaddress network, category index)."""
    groups = {}
    for net, cat in entries:
        g = CATS[cat] + "_" if per_category else ""
        full = net.prefixlen == net.max_prefixlen
        kind = ("v4" if net.version == 4 else "v6") if full else (
            "net4" if net.version == 4 else "net6")
        groups.setdefault(g + kind, []).append(net)
    want = {}
    for name, nets in groups.items():
        if name.endswith("v4") or name.endswith("v6"):
            s = {(int(n.network_address), int(n.network_address)) for n in nets}
        else:
            s = cidrs(nets) if backend == "ipset" else merge(nets)
        want[(prefix + "_" if backend == "ipset" else "") + name] = s
    return want


def same(want, got, what):
    """Compares set by set; a missing set counts as empty."""
    for name in sorted(set(want) | set(got)):
        w, g = want.get(name, set()), got.get(name, set())
        if w != g:
            miss = sorted(w - g)[:5]
            extra = sorted(g - w)[:5]
            fail("%s: set %s differs: %d wanted, %d there; missing %s; extra %s" % (
                what, name, len(w), len(g), [fmt(r) for r in miss], [fmt(r) for r in extra]))


def fmt(r):
    a, b = r
    v = 4 if b < 2 ** 32 else 6
    f = ipaddress.IPv4Address if v == 4 else ipaddress.IPv6Address
    return str(f(a)) if a == b else "%s-%s" % (f(a), f(b))


def ip_int(s):
    """An address as an integer (inet_pton: strict, and fast)."""
    if ":" in s:
        return int.from_bytes(socket.inet_pton(socket.AF_INET6, s), "big")
    return int.from_bytes(socket.inet_pton(socket.AF_INET, s), "big")


def addr_range(s):
    """'1.2.3.4', '10.0.0.0/8' or 'a-b' as (lo, hi)."""
    if "-" in s:
        a, b = s.split("-")
        return ip_int(a), ip_int(b)
    if "/" in s:
        a, n = s.split("/")
        lo, bits = ip_int(a), (128 if ":" in a else 32)
        host = (1 << (bits - int(n))) - 1
        if lo & host:
            fail("%s has host bits set" % s)
        return lo, lo | host
    x = ip_int(s)
    return x, x


# ---- the kernel, as the real tools see it ----------------------------------

def nft_elem(e):
    if isinstance(e, str):
        return addr_range(e)
    if "prefix" in e:
        return addr_range("%s/%d" % (e["prefix"]["addr"], e["prefix"]["len"]))
    if "range" in e:
        return addr_range("%s-%s" % tuple(e["range"]))
    if "elem" in e:
        return nft_elem(e["elem"]["val"])
    fail("nft -j: element %r not understood" % (e,))


class Nft:
    """One `nft -j -i` kept running, so that a listing costs a few
    milliseconds instead of nft's start-up. nft refreshes its cache from
    the kernel before each command, so every listing is current."""

    def __init__(self, ns):
        self.p = subprocess.Popen(ns.cmd("nft", "-j", "-i"), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def list(self, what):
        import select
        self.p.stdin.write("list %s\n" % what)
        self.p.stdin.flush()
        r, _, _ = select.select([self.p.stdout], [], [], 60)
        if not r:
            fail("nft -j -i: no answer to 'list %s'" % what)
        return self.p.stdout.readline()

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


def nft_state(ns, table="repnet", family="inet", nft=None):
    """Set name -> elements, from `nft -j list table` (the real nft)."""
    if nft is not None:
        out = nft.list("table %s %s" % (family, table))
    else:
        out = run(ns.cmd("nft", "-j", "list", "table", family, table))
    sets = {}
    for obj in json.loads(out)["nftables"]:
        if "set" in obj:
            s = obj["set"]
            sets[s["name"]] = {nft_elem(e) for e in s.get("elem", [])}
    return sets


def nft_set_info(ns, name, table="repnet", family="inet"):
    out = run(ns.cmd("nft", "-j", "list", "set", family, table, name))
    for obj in json.loads(out)["nftables"]:
        if "set" in obj:
            return obj["set"]
    return None


def nft_counters(ns, chain="blocklist", table="repnet", family="inet"):
    """Set name -> (packets, bytes) of the rule that looks it up."""
    out = run(ns.cmd("nft", "-j", "list", "chain", family, table, chain))
    res = {}
    for obj in json.loads(out)["nftables"]:
        if "rule" not in obj:
            continue
        name, pk, by = None, 0, 0
        for ex in obj["rule"]["expr"]:
            if "match" in ex and isinstance(ex["match"].get("right"), str) and \
                    ex["match"]["right"].startswith("@"):
                name = ex["match"]["right"][1:]
            if "counter" in ex:
                pk, by = ex["counter"]["packets"], ex["counter"]["bytes"]
        if name:
            res[name] = (pk, by)
    return res


def ipset_state(ns, prefix="repnet"):
    """Set name -> elements, from `ipset save` (the real ipset)."""
    out = run(ns.cmd("ipset", "save"))
    sets = {}
    for line in out.splitlines():
        f = line.split()
        if f[0] == "create" and f[1].startswith(prefix + "_"):
            sets.setdefault(f[1], set())
        elif f[0] == "add" and f[1].startswith(prefix + "_"):
            sets.setdefault(f[1], set()).add(addr_range(f[2]))
    return sets


# ---- repnet nfsync shell -----------------------------------------------------

class Shell:
    def __init__(self, ns, overrides=(), verbose=False):
        args = [os.path.join(BUILD, "repnet"), "nfsync"]
        for o in overrides:
            args += ["-o", o]
        args.append("shell")
        self.p = subprocess.Popen(ns.cmd(*args), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def send(self, line):
        self.p.stdin.write(line + "\n")

    def reply(self, timeout=120):
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            fail("repnet nfsync shell exited (status %s)" % self.p.poll())
        return line.rstrip("\n")

    def ok(self, line):
        self.send(line)
        r = self.reply()
        if not r.startswith("ok"):
            fail("%s: %s" % (line, r))
        return report(r)

    def lines(self, line):
        """A command that prints lines, then 'end' and 'ok'."""
        self.send(line)
        self.p.stdin.flush()
        out = []
        while True:
            l = self.p.stdout.readline()
            if not l:
                fail("shell exited during %s" % line)
            l = l.rstrip("\n")
            if l == "end":
                break
            out.append(l)
        r = self.reply()
        if not r.startswith("ok"):
            fail("%s: %s" % (line, r))
        return out

    def dump(self):
        sets = {}
        for l in self.lines("dump"):
            name, el = l.split(" ", 1)
            sets.setdefault(name, set()).add(addr_range(el))
        return sets

    def metrics(self):
        m = {}
        for l in self.lines("metrics"):
            if l and not l.startswith("#"):
                k, v = l.rsplit(" ", 1)
                m[k] = float(v)
        return m

    def pid(self):
        return int(self.ok("pid")["_"][0])

    def close(self):
        try:
            self.send("quit")
            self.p.stdin.flush()
            self.p.wait(timeout=30)
        except Exception:
            self.p.kill()


def report(line):
    """'ok added=1 removed=2 ...' as a dict; bare words under '_'."""
    r = {"_": []}
    for f in line.split()[1:]:
        if "=" in f:
            k, v = f.split("=", 1)
            r[k] = int(v)
        else:
            r["_"].append(f)
    return r


# ---- blocklists ---------------------------------------------------------------

def rand_v4(rnd):
    while True:
        a = rnd.getrandbits(32)
        if (a >> 24) not in (0, 10, 127) and (a >> 24) < 224:
            return ipaddress.IPv4Network((a, 32))


def rand_v6(rnd):
    return ipaddress.IPv6Network(((0x2001 << 112) | rnd.getrandbits(112), 128))


def rand_prefix(rnd, v6=False):
    """Prefixes that often overlap or touch: a few /8s (or /32s) only."""
    if v6:
        base = (0x2001 << 112) | (0x0db8 << 96) | (rnd.randrange(4) << 80)
        plen = rnd.randrange(40, 64)
        return ipaddress.IPv6Network((base | rnd.getrandbits(80), plen), strict=False)
    base = rnd.choice([23, 45, 77, 185, 203]) << 24
    plen = rnd.randrange(16, 31)
    return ipaddress.IPv4Network((base | rnd.getrandbits(24), plen), strict=False)


def write_blocklist(path, entries):
    with open(path, "w") as f:
        f.write("# generated by nfsync_lib.py\n")
        for net, cat in entries:
            if net.prefixlen == net.max_prefixlen:
                f.write("%s %s\n" % (net.network_address, CATS[cat]))
            else:
                f.write("%s %s\n" % (net, CATS[cat]))


def entry_text(net, cat):
    if net.prefixlen == net.max_prefixlen:
        return "%s %s" % (net.network_address, CATS[cat])
    return "%s %s" % (net, CATS[cat])


def blocklist(rnd, n4, n6, npfx, ncat=1):
    """n4 IPv4 and n6 IPv6 addresses and npfx prefixes, as (net, cat) pairs."""
    a4, a6, p = {}, {}, set()
    while len(a4) < n4:
        a4[rand_v4(rnd)] = rnd.randrange(ncat)
    while len(a6) < n6:
        a6[rand_v6(rnd)] = rnd.randrange(ncat)
    while len(p) < npfx:
        p.add((rand_prefix(rnd, v6=rnd.random() < 0.3), rnd.randrange(ncat)))
    return set(a4.items()) | set(a6.items()) | p
