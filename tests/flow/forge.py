#!/usr/bin/python3
"""Forged and flooding flow export for the exporter tests (issue 14).

  forge.py spray SRC DST PORT VICTIM
      Two NetFlow v5 datagrams from SRC (bound) to DST:PORT holding 25
      completed-looking TCP conversations from VICTIM to port 25 of 25
      destinations (both directions, SYN and ACK, several packets each),
      timed a few seconds ago: what the flow detectors call an SMTP spray.
  forge.py flood SRC DST PORT N PER [FIRST_SOURCE_ID]
      NetFlow v9 template flowsets from SRC announcing N template IDs, PER
      under each source ID (from FIRST_SOURCE_ID, default 0), 50 templates
      a datagram.
  forge.py replay SRC SPORT DST PORT FILE.pcap [SKIP] [FLOOD_SRC N PER FIRST]
      The UDP payloads of a pcap from SRC:SPORT (bound, so that an IPFIX
      exporter keeps its transport session across runs). SKIP: "templates"
      leaves out the datagrams that carry a template, "first" the first
      datagram, "none" nothing. With FLOOD_*, a flood (as above) from
      FLOOD_SRC is interleaved: its datagrams are spread evenly between the
      export's.
Prints what it sent on stdout.
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'netflow'))
from pcap_udp_replay import payloads  # noqa: E402


def sock(src, port=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, port))
    return s


def ip4(a):
    return struct.unpack('!I', socket.inet_aton(a))[0]


def v5(records, seq, now):
    uptime = 3600000
    hdr = struct.pack('!HHIIIIBBH', 5, len(records), uptime, int(now), 0, seq, 0, 0, 0)
    body = b''
    for (src, dst, sport, dport, pkts, octets, flags) in records:
        # first 20 s, last 10 s before the export
        body += struct.pack('!IIIHHIIIIHHBBBBHHBBH', ip4(src), ip4(dst), 0, 1, 2, pkts, octets,
                            uptime - 20000, uptime - 10000, sport, dport, 0, flags, 6, 0,
                            0, 0, 24, 24, 0)
    return hdr + body


def spray(src, dst, port, victim):
    recs = []
    for i in range(25):
        peer = '203.0.113.%d' % (10 + i)
        sport = 40000 + i
        recs.append((victim, peer, sport, 25, 12, 2400, 0x1b))  # SYN ACK PSH FIN
        recs.append((peer, victim, 25, sport, 10, 3100, 0x1b))
    s = sock(src)
    now = time.time()
    s.sendto(v5(recs[:26], 0, now), (dst, port))
    s.sendto(v5(recs[26:], 26, now), (dst, port))
    print('sent 2 datagrams, 25 conversations of %s to port 25, from %s' % (victim, src))


def flood_datagrams(n, per, first_id):
    """NetFlow v9 datagrams of template flowsets: n templates, per per source ID."""
    out = []
    seq = 0
    i = 0
    while i < n:
        sid = first_id + i // per
        k = min(50, n - i, per - i % per)
        fs = b''
        for j in range(k):
            tid = 256 + (i + j) % per
            fs += struct.pack('!HHHHHHHH', tid, 3, 8, 4, 12, 4, 2, 4)
        flowset = struct.pack('!HH', 0, 4 + len(fs)) + fs
        hdr = struct.pack('!HHIIII', 9, k, 1000, int(time.time()), seq, sid)
        out.append(hdr + flowset)
        seq += 1
        i += k
    return out


def flood(src, dst, port, n, per, first_id):
    s = sock(src)
    d = flood_datagrams(n, per, first_id)
    for p in d:
        s.sendto(p, (dst, port))
    print('sent %d datagrams, %d templates, %d per source ID, from %s' % (len(d), n, per, src))


def has_template(p):
    """True when a v9 or IPFIX datagram carries a template set."""
    ver = struct.unpack('!H', p[:2])[0]
    off = 20 if ver == 9 else 16
    while off + 4 <= len(p):
        sid, slen = struct.unpack('!HH', p[off:off + 4])
        if (ver == 9 and sid in (0, 1)) or (ver == 10 and sid in (2, 3)):
            return True
        if slen < 4:
            break
        off += slen
    return False


def replay(args):
    src, sport, dst, port, path = args[0], int(args[1]), args[2], int(args[3]), args[4]
    skip = args[5] if len(args) > 5 else 'none'
    ps = list(payloads(path))
    if skip == 'templates':
        ps = [p for p in ps if not has_template(p)]
    elif skip == 'first':
        ps = ps[1:]
    fl = []
    if len(args) > 6:
        fsrc = args[6]
        fl = flood_datagrams(int(args[7]), int(args[8]), int(args[9]))
        fs = sock(fsrc)
    s = sock(src, sport)
    j = 0
    for i, p in enumerate(ps):
        s.sendto(p, (dst, port))
        # Spread the flood evenly between the export's datagrams.
        until = (i + 1) * len(fl) // len(ps)
        while j < until:
            fs.sendto(fl[j], (dst, port))
            j += 1
        time.sleep(0.0005)
    print('sent %d datagrams of %s from %s:%d, and %d flood datagrams' % (len(ps), path, src, sport, j))


def main():
    a = sys.argv[1:]
    if a[:1] == ['spray'] and len(a) == 5:
        spray(a[1], a[2], int(a[3]), a[4])
    elif a[:1] == ['flood'] and len(a) in (6, 7):
        flood(a[1], a[2], int(a[3]), int(a[4]), int(a[5]), int(a[6]) if len(a) == 7 else 0)
    elif a[:1] == ['replay'] and len(a) in (6, 7, 11):
        replay(a[1:])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main()
