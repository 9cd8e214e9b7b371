#!/usr/bin/env python3
"""Reads repnetd's GET /status and repnet sub's JSON lines for the
multi-process feed tests, in one process per check instead of a curl and a
parser per field. Standard library only; every wait is bounded.

  feed_check.py get PORT KEY...          prints one field of /status
  feed_check.py settled PORT             waits until the publisher's seq has
                                         not moved for 3 s (at most 60 s)
  feed_check.py same PUBPORT [--sub FILE]... [--replica PORT]... [--timeout S]
      waits until every subscriber's applied state (digest, seq) equals the
      publisher's, and every replica holds as many entries as the publisher
      lists; exit 1 with the last states when it does not happen in time.
  feed_check.py clean [--sub FILE]... [--replica PORT]...
      exit 1 if a subscriber refused anything for a reason other than the
      benign races of joining a live feed (a message already covered by a
      resync: "replay"; a gap that triggered a resync).
"""
import json
import sys
import time
import urllib.request

BENIGN = {"replay", "gap", "needs_resync"}


def status(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
        return json.load(r)


def sub_state(path):
    """(digest, seq) of the last message repnet sub applied, or None."""
    last = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if m.get("result") == "applied":
                last = (m["digest"], m["seq"])
    return last


def sub_refused(path):
    bad = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                m = json.loads(line)
            except ValueError:
                continue
            if m.get("result") not in (None, "applied") and m["result"] not in BENIGN:
                bad.append(line.strip())
    return bad


def parse(argv):
    subs, reps, timeout = [], [], 20.0
    i = 0
    while i < len(argv):
        if argv[i] == "--sub":
            subs.append(argv[i + 1])
        elif argv[i] == "--replica":
            reps.append(int(argv[i + 1]))
        elif argv[i] == "--timeout":
            timeout = float(argv[i + 1])
        else:
            raise SystemExit(f"feed_check: unknown argument {argv[i]}")
        i += 2
    return subs, reps, timeout


def same(pub, argv):
    subs, reps, timeout = parse(argv)
    deadline = time.monotonic() + timeout
    while True:
        p = status(pub)["publisher"]
        want = (p["digest"], p["seq"])
        states = {}
        ok = True
        for s in subs:
            states[s] = sub_state(s)
            ok = ok and states[s] == want
        for r in reps:
            st = status(r)
            sv = st["serving"]
            states[f"replica:{r}"] = ((sv["digest"], sv["seq"]), sv["in_sync"],
                                      st["replica_entries"])
            ok = ok and (sv["digest"], sv["seq"]) == want and sv["in_sync"] \
                and st["replica_entries"] == p["listed"]
        if ok:
            return 0
        if time.monotonic() > deadline:
            print(f"publisher: {want}, listed {p['listed']}", file=sys.stderr)
            for k, v in states.items():
                print(f"{k}: {v}", file=sys.stderr)
            return 1
        time.sleep(0.2)


def clean(argv):
    subs, reps, _ = parse(argv)
    code = 0
    for s in subs:
        for line in sub_refused(s):
            print(f"{s}: {line}", file=sys.stderr)
            code = 1
    for r in reps:
        rej = status(r)["serving"]["rejected"]
        bad = {k: v for k, v in rej.items() if k not in BENIGN}
        if bad:
            print(f"replica {r} rejected: {bad}", file=sys.stderr)
            code = 1
    return code


def settled(port):
    deadline = time.monotonic() + 60
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        seq = status(port)["publisher"]["seq"]
        now = time.monotonic()
        if seq != last:
            last, since = seq, now
        elif now - since >= 3:
            return 0
        time.sleep(0.25)
    print("feed_check: the publisher's sequence did not settle in 60 s", file=sys.stderr)
    return 1


def main():
    cmd = sys.argv[1]
    if cmd == "get":
        d = status(int(sys.argv[2]))
        for k in sys.argv[3:]:
            d = d[k]
        print(str(d).lower() if isinstance(d, bool) else d)
        return 0
    if cmd == "settled":
        return settled(int(sys.argv[2]))
    if cmd == "same":
        return same(int(sys.argv[2]), sys.argv[3:])
    if cmd == "clean":
        return clean(sys.argv[2:])
    raise SystemExit(f"feed_check: unknown command {cmd}")


if __name__ == "__main__":
    sys.exit(main())
