#!/usr/bin/env python3
"""Writes a random blocklist (repnet JSON lines) and a query file for dig -f.

usage: gen_list.py OUTDIR [SEED]

list.json: 3000 random IPv4 hosts, 60 IPv4 prefixes (/12 to /31), 300
IPv6 hosts and prefixes in 2001:db8::/32, each with one to three random
categories. queries.txt: 10,000 queries, half for listed addresses (a
host, or an address inside a listed prefix), half random (80% IPv4);
90% A and 10% TXT. Deterministic for a given seed.
"""
import random, sys, json, ipaddress
rnd = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
out = sys.argv[1]
cats = ["spam_source","sasl_bruteforce","scanner","protocol_bot","harvester","peer_listed","relay_probe","bruteforce","reflector","drop"]
def ok4(x):
    a = x >> 24
    return a not in (0, 10, 127) and a < 224
entries = {}
while len(entries) < 3000:
    x = rnd.getrandbits(32)
    if ok4(x): entries[(4, x, 32)] = None
for _ in range(60):
    l = rnd.randrange(12, 32); x = rnd.getrandbits(32) & ~((1 << (32 - l)) - 1) & 0xffffffff
    if ok4(x): entries[(4, x, l)] = None
for _ in range(300):
    l = rnd.choice([128, 128, 128, 64, 48, 32])
    x = (0x20010db8 << 96) | (rnd.getrandbits(96) & ((1 << 96) - 1))
    x &= ~((1 << (128 - l)) - 1)
    entries[(6, x, l)] = None
with open(out + "/list.json", "w") as f:
    for (fam, x, l) in entries:
        a = ipaddress.ip_address(x) if fam == 4 else ipaddress.IPv6Address(x)
        c = rnd.sample(cats, rnd.choice([1, 1, 1, 2, 3]))
        f.write(json.dumps({"prefix": "%s/%d" % (a, l), "categories": c}, separators=(",", ":")) + "\n")
keys = list(entries)
def rev4(x): return "%d.%d.%d.%d" % (x & 255, (x >> 8) & 255, (x >> 16) & 255, x >> 24)
def rev6(x): return ".".join(reversed("%032x" % x))
with open(out + "/queries.txt", "w") as f:
    for i in range(10000):
        if rnd.random() < 0.5:
            fam, x, l = rnd.choice(keys)
            bits = 32 if fam == 4 else 128
            x |= rnd.getrandbits(bits - l) if l < bits else 0
        else:
            fam = 4 if rnd.random() < 0.8 else 6
            x = rnd.getrandbits(32) if fam == 4 else (0x20010db8 << 96) | rnd.getrandbits(96)
        name = (rev4(x) if fam == 4 else rev6(x)) + ".bl.test"
        f.write("%s %s\n" % (name, "A" if rnd.random() < 0.9 else "TXT"))
