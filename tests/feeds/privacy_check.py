#!/usr/bin/env python3
"""Checks a packet capture of repnet's bus for personal data (issue 6,
"Privacy"). Standard library only: it reads the pcap itself, reassembles
the TCP streams, and decodes the feed's envelopes and roaring bitmaps
without repnet's code.

usage: privacy_check.py PCAP MAILLOG INGEST_PORT PUB_PORT RESYNC_PORT SEQ LISTED

Fails (exit 1) when
  - any mail address, SASL user name or host name found in MAILLOG (HELO
    names, reverse names of clients) appears in any captured bus stream;
  - the capture is not of the real thing: no ingest stream carrying
    observations, no feed stream, or no snapshot at SEQ whose entries
    number LISTED;
  - a listed address is not also visible on the wire as an observation's
    raw address in the ingest streams, or is not a client in MAILLOG.
"""
import ipaddress
import re
import struct
import sys


def fail(msg):
    print(f"privacy_check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


# ---- pcap and TCP ---------------------------------------------------------

def pcap_packets(path):
    data = open(path, "rb").read()
    if len(data) < 24:
        fail("empty capture")
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        fail("not a pcap file")
    linktype = struct.unpack(e + "I", data[20:24])[0]
    i = 24
    while i + 16 <= len(data):
        _, _, incl, orig = struct.unpack(e + "IIII", data[i:i + 16])
        if incl != orig:
            fail("a packet was truncated by the capture's snap length")
        yield linktype, data[i + 16:i + 16 + incl]
        i += 16 + incl


def tcp_streams(path):
    """{(src, sport, dst, dport): bytes}, each direction reassembled by seq."""
    segs = {}
    for linktype, p in pcap_packets(path):
        if linktype == 1:  # Ethernet (Linux loopback)
            if len(p) < 14:
                continue
            et = struct.unpack(">H", p[12:14])[0]
            ip = p[14:]
        elif linktype == 113:  # Linux cooked
            et = struct.unpack(">H", p[14:16])[0]
            ip = p[16:]
        else:
            fail(f"link type {linktype}")
        if et == 0x0800 and len(ip) >= 20 and ip[9] == 6:
            ihl = (ip[0] & 15) * 4
            tot = struct.unpack(">H", ip[2:4])[0]
            src, dst, tcp = ip[12:16], ip[16:20], ip[ihl:tot]
        elif et == 0x86DD and len(ip) >= 40 and ip[6] == 6:
            plen = struct.unpack(">H", ip[4:6])[0]
            src, dst, tcp = ip[8:24], ip[24:40], ip[40:40 + plen]
        else:
            continue
        if len(tcp) < 20:
            continue
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        off = (tcp[12] >> 4) * 4
        flags = tcp[13]
        key = (bytes(src), sport, bytes(dst), dport)
        s = segs.setdefault(key, {"isn": None, "segs": []})
        if flags & 0x02:  # SYN: data starts at seq + 1
            s["isn"] = (seq + 1) & 0xFFFFFFFF
        if len(tcp) > off:
            s["segs"].append((seq, tcp[off:]))
    streams = {}
    for key, s in segs.items():
        if not s["segs"]:
            continue
        base = s["isn"] if s["isn"] is not None else min(q for q, _ in s["segs"])
        buf = bytearray()
        for q, d in sorted(s["segs"], key=lambda x: (x[0] - base) & 0xFFFFFFFF):
            o = (q - base) & 0xFFFFFFFF
            if o > len(buf):
                fail(f"a hole in a TCP stream {key[1]}->{key[3]}: the capture lost packets")
            buf[o:o + len(d)] = d
        streams[key] = bytes(buf)
    return streams


# ---- protobuf and roaring -------------------------------------------------

def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, i


def fields(b):
    f, i = {}, 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type")
        f.setdefault(num, []).append(v)
    return f


def roaring(b):
    """The 32-bit values of a roaring bitmap in the portable format."""
    cookie = struct.unpack("<I", b[:4])[0]
    i = 4
    runs = None
    if cookie & 0xFFFF == 12347:
        n = (cookie >> 16) + 1
        runs = b[i:i + (n + 7) // 8]
        i += (n + 7) // 8
    elif cookie == 12346:
        n = struct.unpack("<I", b[i:i + 4])[0]
        i += 4
    else:
        raise ValueError("roaring cookie")
    hdr = [struct.unpack("<HH", b[i + 4 * k:i + 4 * k + 4]) for k in range(n)]
    i += 4 * n
    if runs is None or n >= 4:
        i += 4 * n  # offsets
    vals = []
    for k, (key, card1) in enumerate(hdr):
        hi = key << 16
        if runs is not None and runs[k // 8] & (1 << (k % 8)):
            nr = struct.unpack("<H", b[i:i + 2])[0]
            i += 2
            for r in range(nr):
                st, ln = struct.unpack("<HH", b[i + 4 * r:i + 4 * r + 4])
                vals.extend(hi | v for v in range(st, st + ln + 1))
            i += 4 * nr
        elif card1 + 1 <= 4096:
            vals.extend(hi | v for v in struct.unpack(f"<{card1 + 1}H", b[i:i + 2 * (card1 + 1)]))
            i += 2 * (card1 + 1)
        else:
            bits = b[i:i + 8192]
            i += 8192
            for w in range(1024):
                word = struct.unpack("<Q", bits[8 * w:8 * w + 8])[0]
                while word:
                    t = word & -word
                    vals.append(hi | (w * 64 + t.bit_length() - 1))
                    word ^= t
    return vals


def snapshot_entries(snap):
    """{(prefix text)} of a Snapshot message's bytes."""
    out = set()
    for cs in fields(snap).get(1, []):
        for s in fields(cs).get(3, []):
            a = fields(s)
            fam, plen = a.get(1, [0])[0], a.get(2, [0])[0]
            if fam == 4:
                for v in roaring(a.get(3, [b""])[0]) if 3 in a else []:
                    out.add(f"{ipaddress.IPv4Address(v)}/{plen}")
            else:
                for g in a.get(4, []):
                    gf = fields(g)
                    hi = struct.unpack("<I", gf[1][0])[0]
                    for lo in roaring(gf.get(2, [b""])[0]):
                        out.add(f"{ipaddress.IPv6Address((hi << 96) | (lo << 64))}/{plen}")
    return out


def sp_messages(stream):
    """The messages of one direction of an nng SP-over-TCP stream."""
    if stream[:2] != b"\x00S" or len(stream) < 8:
        return []
    out, i = [], 8
    while i + 8 <= len(stream):
        n = struct.unpack(">Q", stream[i:i + 8])[0]
        out.append(stream[i + 8:i + 8 + n])
        i += 8 + n
    return out


# ---- what must not cross ----------------------------------------------------

def personal_data(path):
    text = open(path, encoding="utf-8", errors="replace").read()
    mails = set(re.findall(r"[^\s<>=\[\],;:]+@[^\s<>\],;]+", text))
    users = set(re.findall(r"sasl_username=([^\s,]+)", text))
    users |= {u.split("@")[0] for u in users if len(u.split("@")[0]) >= 5}
    helos = set(re.findall(r"helo=<([^>]+)>", text))
    rdns = set(re.findall(r"(?:from|client=|to) ([A-Za-z0-9][A-Za-z0-9.-]*)\[[0-9a-fA-F.:]+\]", text))
    rdns |= set(re.findall(r"(?:from|client=) ([A-Za-z0-9][A-Za-z0-9.-]*)\[", text))
    hosts = {h for h in helos | rdns if h != "unknown"}
    clients = set(re.findall(r"\[(\d+\.\d+\.\d+\.\d+)\]", text))
    return mails, users, hosts, clients


def main():
    pcap, log = sys.argv[1], sys.argv[2]
    ingest, pub, resync, seq, listed = (int(x) for x in sys.argv[3:8])
    streams = tcp_streams(pcap)
    mails, users, hosts, clients = personal_data(log)
    if not mails or not users or not hosts:
        fail("found no personal data in the log to look for")
    print(f"privacy_check: looking for {len(mails)} mail addresses, {len(users)} user names, "
          f"{len(hosts)} host names in {len(streams)} TCP streams "
          f"({sum(len(s) for s in streams.values())} bytes)")
    leaks = []
    for (_, sp, _, dp), data in streams.items():
        low = data.lower()
        for what, items in (("mail address", mails), ("user name", users), ("host name", hosts)):
            for s in items:
                k = low.find(s.lower().encode())
                if k >= 0:
                    leaks.append(f"{what} {s!r} in stream {sp}->{dp} at byte {k}: "
                                 f"{data[max(0, k - 24):k + len(s) + 24]!r}")
    if leaks:
        for what in ("mail address", "user name", "host name"):
            for line in [x for x in leaks if x.startswith(what + " ")][:5]:
                print(line, file=sys.stderr)
        fail(f"{len(leaks)} leaks")

    # The capture holds the real traffic: observations on the ingest bus ...
    ing = b"".join(d for (_, sp, _, dp), d in streams.items() if ingest in (sp, dp))
    if not ing:
        fail("no ingest traffic captured")
    # ... and the feed: the last snapshot is the publisher's state at SEQ.
    last = None
    for (_, sp, _, dp), d in streams.items():
        if sp != pub:
            continue
        for m in sp_messages(d):
            pl = fields(fields(m)[3][0])
            if 10 in pl and pl[3][0] == seq:
                last = snapshot_entries(pl[10][0])
    if last is None:
        fail(f"no snapshot at seq {seq} in the captured feed")
    if len(last) != listed:
        fail(f"the captured snapshot at seq {seq} lists {len(last)}, the publisher {listed}")
    if not any(resync in (sp, dp) for (_, sp, _, dp) in streams):
        print("privacy_check: note: no resync traffic captured", file=sys.stderr)
    # Every listed address crossed the wire as data, and is a client from the log.
    for e in sorted(last):
        a, plen = e.split("/")
        ip = ipaddress.ip_address(a)
        if ip.version == 4 and plen == "32":
            if b"\x0a\x04" + ip.packed not in ing:
                fail(f"listed {a} never appears in the ingest traffic")
            if a not in clients:
                fail(f"listed {a} is not a client in the log")
    print(f"privacy_check: no personal data; the feed's snapshot at seq {seq} lists "
          f"{len(last)} entries, every one seen on the ingest bus: {' '.join(sorted(last)[:8])}"
          f"{' ...' if len(last) > 8 else ''}")


if __name__ == "__main__":
    main()
