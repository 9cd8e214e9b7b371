#!/usr/bin/env python3
"""replay.py: real telemetry into a live repnetd, shifted to the present.

  (Logs: `repnet replay FILE --to tcp://HOST:PORT --now`, the command
  this script's syslog mode became.)
  replay.py netflow HOST PORT FILE.pcap
      Sends the NetFlow v9 datagrams of a softflowd capture over UDP, their
      export time (unix_secs) shifted so that the last datagram is now.

Only the standard library; prints what it sent."""
import os
import socket
import struct
import sys
import time

# The pcap reader of the data's own replay tool (tests/data/netflow).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "netflow"))
from pcap_udp_replay import payloads  # noqa: E402



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
    if len(sys.argv) != 5 or sys.argv[1] != "netflow":
        sys.exit(__doc__)
    netflow(sys.argv[2], int(sys.argv[3]), sys.argv[4])


main()
