#!/usr/bin/env python3
"""replay.py: real telemetry into a live repnetd, shifted to the present.

  replay.py syslog HOST PORT LOGFILE
      Sends a Postfix log (traditional "Mmm dd hh:mm:ss host tag[pid]: msg"
      lines, as Postfix's maillog_file or a syslogd writes them) over TCP
      syslog with newline framing, as rsyslog's omfwd does: RFC 3164 with a
      priority, every timestamp shifted by one offset so that the last line
      is stamped now and the gaps between lines stay as they were.
  replay.py netflow HOST PORT FILE.pcap
      Sends the NetFlow v9 datagrams of a softflowd capture over UDP, their
      export time (unix_secs) shifted so that the last datagram is now.

Only the standard library; prints what it sent."""
import datetime
import os
import socket
import struct
import sys
import time

# The pcap reader of the data's own replay tool (tests/data/netflow).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "netflow"))
from pcap_udp_replay import payloads  # noqa: E402

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def syslog(host, port, path):
    lines = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if len(line) < 16 or line[3] != " " or line[:3] not in MONTHS:
                continue
            mon, day, hms = line[:3], int(line[4:6]), line[7:15]
            h, m, s = (int(x) for x in hms.split(":"))
            t = ((MONTHS.index(mon) * 31 + day) * 24 + h) * 3600 + m * 60 + s
            lines.append((t, line[16:]))
    if not lines:
        sys.exit(f"{path}: no log lines")
    shift = time.time() - lines[-1][0]
    sock = socket.create_connection((host, port), timeout=10)
    out = bytearray()
    for t, rest in lines:
        ts = datetime.datetime.fromtimestamp(t + shift, datetime.timezone.utc)
        stamp = f"{MONTHS[ts.month - 1]} {ts.day:2d} {ts:%H:%M:%S}"
        out += f"<22>{stamp} {rest}\n".encode()
    sock.sendall(out)
    sock.shutdown(socket.SHUT_WR)
    sock.settimeout(10)
    try:
        while sock.recv(4096):
            pass
    except OSError:
        pass
    sock.close()
    print(f"sent {len(lines)} syslog lines to {host}:{port}")


def netflow(host, port, path):
    dgrams = [bytearray(p) for p in payloads(path)]
    v9 = [d for d in dgrams if len(d) >= 20 and struct.unpack("!H", d[:2])[0] == 9]
    if not v9:
        sys.exit(f"{path}: no NetFlow v9 datagrams")
    shift = int(time.time()) - struct.unpack("!I", v9[-1][8:12])[0]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for d in v9:
        struct.pack_into("!I", d, 8, struct.unpack("!I", d[8:12])[0] + shift)
        sock.sendto(d, (host, port))
        time.sleep(0.002)  # a paced exporter: loopback never drops
    print(f"sent {len(v9)} NetFlow v9 datagrams to {host}:{port}")


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("syslog", "netflow"):
        sys.exit(__doc__)
    fn = syslog if sys.argv[1] == "syslog" else netflow
    fn(sys.argv[2], int(sys.argv[3]), sys.argv[4])


main()
