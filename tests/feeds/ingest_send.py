#!/usr/bin/env python3
"""Sends one crafted request to a scorer's ingest listener (nng REQ over
plain TCP, spoken by hand) and prints what came back: the BatchAck's status
as a number, or "closed" when the scorer dropped the connection without an
answer.

usage: ingest_send.py PORT unsigned CIDR...
           a bare ObservationBatch (no envelope) of "imported" observations
       ingest_send.py PORT badsig PUBFILE CIDR...
           the same batch in an Envelope naming PUBFILE's key (a trusted
           one), with a signature that is not its
       ingest_send.py PORT big BYTES
           a request of BYTES bytes, over the scorer's bus.recv_max

The SP/TCP framing (nng's sp-tcp mapping): both sides send "\\0SP\\0", their
16-bit protocol id (REQ 0x30, REP 0x31) and two zero bytes; then every
message is a 64-bit big-endian length and the bytes, which for REQ begin
with a 32-bit request id with the top bit set. Standard library only; the
protobuf reader is envelope_check.py's.
"""
import base64
import hashlib
import ipaddress
import os
import socket
import struct
import sys
import time

from envelope_check import fields


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, wt, payload):
    if wt == 0:
        return varint(num << 3) + varint(payload)
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def batch(cidrs):
    """repnet.v1.ObservationBatch: collector_id, batch_seq 1, observations."""
    out = field(1, 2, os.urandom(16)) + field(2, 0, 1) + field(3, 0, int(time.time() * 1000))
    for c in cidrs:
        net = ipaddress.ip_network(c, strict=False)
        obs = field(1, 2, net.network_address.packed)
        if net.prefixlen != net.max_prefixlen:
            obs += field(2, 0, net.prefixlen)
        obs += field(3, 0, 193)  # KIND_IMPORTED
        obs += field(4, 0, int(time.time() * 1000))
        obs += field(5, 0, 1)
        obs += field(6, 2, b"forged")
        obs += field(7, 0, 9)  # SOURCE_IMPORT
        out += field(4, 2, obs)
    return out


def envelope(pubfile, payload):
    """repnet.v1.Envelope naming the key in pubfile, signed by nobody."""
    with open(pubfile, encoding="ascii") as f:
        pk = base64.b64decode(f.read().split()[1])
    kid = hashlib.blake2b(pk, digest_size=8).digest()
    return field(1, 0, 1) + field(2, 2, kid) + field(3, 2, payload) + field(4, 2, bytes(64))


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def status_of(ack):
    """BatchAck.status (field 3); 0 when absent, as protobuf says."""
    return fields(ack).get(3, [0])[0]


def main():
    port, mode = int(sys.argv[1]), sys.argv[2]
    if mode == "unsigned":
        body = batch(sys.argv[3:])
    elif mode == "badsig":
        body = envelope(sys.argv[3], batch(sys.argv[4:]))
    elif mode == "big":
        body = bytes(int(sys.argv[3]))
    else:
        sys.exit(__doc__)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"\x00SP\x00" + struct.pack(">H", 0x30) + b"\x00\x00")
        peer = recv_exact(s, 8)
        if peer[:4] != b"\x00SP\x00" or struct.unpack(">H", peer[4:6])[0] != 0x31:
            sys.exit("not an nng REP socket")
        msg = struct.pack(">I", 0x80000001) + body
        try:
            s.sendall(struct.pack(">Q", len(msg)) + msg)
            n = struct.unpack(">Q", recv_exact(s, 8))[0]
            reply = recv_exact(s, n)
        except (ConnectionError, OSError):
            print("closed")
            return
    print(status_of(reply[4:]))


if __name__ == "__main__":
    main()
