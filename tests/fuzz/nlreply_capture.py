#!/usr/bin/env python3
"""nlreply_capture.py OUTDIR: records real kernel answers on
NETLINK_NETFILTER as seeds for fuzz_nlreply: dumps of a table, its sets,
elements, chains and rules, the generation, ipset headers and members, and
error answers with extended ACK attributes. Run as root inside a network
namespace holding repnet's sets (`repnet nfsync load` and the ipset backend
first); each received datagram becomes one file."""
import os
import socket
import struct
import sys

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES, NFNL_SUBSYS_IPSET = 10, 6
F_REQUEST, F_ACK, F_DUMP = 1, 4, 0x300
out = sys.argv[1]
n = 0


def attr(t, data):
    l = 4 + len(data)
    return struct.pack("=HH", l, t) + data + b"\0" * ((4 - l % 4) % 4)


def msg(mtype, flags, seq, family, payload, res_id=0):
    body = struct.pack("!BBH", family, 0, res_id) + payload
    return struct.pack("=IHHII", 16 + len(body), mtype, flags, seq, 0) + body


def talk(req, label):
    global n
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    s.setsockopt(270, 10, 1)  # NETLINK_CAP_ACK
    s.setsockopt(270, 11, 1)  # NETLINK_EXT_ACK
    s.bind((0, 0))
    s.settimeout(2)
    s.send(req)
    for _ in range(64):
        try:
            d = s.recv(1 << 16)
        except socket.timeout:
            break
        with open(os.path.join(out, "%s-%02d" % (label, n)), "wb") as f:
            f.write(d)
        n += 1
        if len(d) >= 16 and struct.unpack_from("=H", d, 4)[0] in (2, 3):  # ERROR, DONE
            break
    s.close()


nft = lambda t: (NFNL_SUBSYS_NFTABLES << 8) | t  # noqa: E731
table = attr(1, b"repnet\0")
talk(msg(nft(16), F_REQUEST, 1, 0, b""), "getgen")
talk(msg(nft(1), F_REQUEST | F_ACK, 2, 1, table), "gettable")
talk(msg(nft(10), F_REQUEST | F_DUMP, 3, 1, table), "getset")
talk(msg(nft(4), F_REQUEST | F_DUMP, 4, 1, table), "getchain")
talk(msg(nft(7), F_REQUEST | F_DUMP, 5, 1, table), "getrule")
for name in (b"v4", b"v6", b"net4", b"net6"):
    talk(msg(nft(13), F_REQUEST | F_DUMP, 6, 1, table + attr(2, name + b"\0")),
         "getelem-" + name.decode())
talk(msg(nft(10), F_REQUEST | F_DUMP, 7, 1, attr(1, b"nosuchtable\0")), "enoent")
# A batch that fails: an element added twice with NLM_F_EXCL.
elem = attr(0x8001, attr(0x8001, attr(1, b"\xc0\x00\x02\x01")))
begin = msg(0x10, F_REQUEST, 8, 0, b"", NFNL_SUBSYS_NFTABLES)
add = msg(nft(12), F_REQUEST | F_ACK | 0x400 | 0x200, 9, 1,
          table + attr(2, b"v4\0") + attr(0x8003, elem + elem))
end = msg(0x11, F_REQUEST, 10, 0, b"", NFNL_SUBSYS_NFTABLES)
talk(begin + add + end, "exist")
ip = lambda t: (NFNL_SUBSYS_IPSET << 8) | t  # noqa: E731
talk(msg(ip(7), F_REQUEST | F_DUMP, 11, 2, attr(1, b"\x07") + attr(6 | 0x4000, b"\0\0\0\x04")),
     "ipset-headers")
for name in (b"repnet_v4", b"repnet_v6", b"repnet_net4", b"repnet_net6"):
    talk(msg(ip(7), F_REQUEST | F_DUMP, 12, 2, attr(1, b"\x07") + attr(2, name + b"\0")),
         "ipset-" + name.decode())
talk(msg(ip(13), F_REQUEST, 13, 2, attr(1, b"\x07") + attr(3, b"hash:net\0") + attr(5, b"\x02")),
     "ipset-type")
print("captured %d datagrams into %s" % (n, out))
