#!/usr/bin/env python3
"""realdata_check.py DATASET EXPECT BLOCKLIST.jsonl

Checks a blocklist (repnet score's JSON lines) against the expectation
file for one dataset: every "listed" address must be covered by an entry,
no "never" address may be. "listed:CAT" also wants category CAT among the
categories of the entries covering each address. Prints one line per
expectation; exits 1 if any fails."""
import ipaddress
import json
import sys


def addresses(spec):
    if "/" in spec:
        return list(ipaddress.ip_network(spec, strict=True))
    if "-" in spec:
        base, hi = spec.rsplit("-", 1)
        head, lo = base.rsplit(".", 1)
        return [ipaddress.ip_address(f"{head}.{i}") for i in range(int(lo), int(hi) + 1)]
    return [ipaddress.ip_address(spec)]


def main():
    dataset, expect, blocklist = sys.argv[1:4]
    nets = []
    cats = []
    with open(blocklist) as f:
        for line in f:
            e = json.loads(line)
            key = e.get("ip") or e.get("prefix")
            nets.append(ipaddress.ip_network(key, strict=True))
            cats.append(set(e.get("categories", [])))
    bad = 0
    with open(expect) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            ds, verdict, spec, *what = line.split(None, 3)
            if ds != dataset:
                continue
            addrs = addresses(spec)
            covered = [a for a in addrs if any(a in n for n in nets)]
            verdict, _, want = verdict.partition(":")
            if verdict == "listed":
                ok = len(covered) == len(addrs)
                detail = f"{len(covered)}/{len(addrs)} listed"
                if want:
                    wrong = [a for a in covered
                             if want not in set().union(*(c for n, c in zip(nets, cats) if a in n))]
                    ok = ok and not wrong
                    detail += f" as {want}" if not wrong else f", {len(wrong)} not as {want} ({wrong[0]})"
            elif verdict == "never":
                if "/" in spec:
                    net = ipaddress.ip_network(spec)
                    covered = [n for n in nets if n.overlaps(net)]
                ok = not covered
                detail = "none listed" if ok else f"listed: {', '.join(map(str, covered[:5]))}"
            else:
                sys.exit(f"bad verdict {verdict}")
            print(f"{'ok  ' if ok else 'FAIL'} {dataset} {verdict:6} {spec:16} {detail}  ({' '.join(what)})")
            bad += not ok
    sys.exit(1 if bad else 0)


main()
