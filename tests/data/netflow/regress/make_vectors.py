#!/usr/bin/env python3
"""Writes the flow decoder's regression vectors: one datagram (or, for
stateful cases, several, each prefixed by a 2-byte big-endian length) per
file. tests/collector/flow_regress_test.c names the counter each must
raise. Run from this directory; the output is committed."""
import struct

def ipfix(sets, seq=0, dom=1, t=1768471200):
    body = b''.join(sets)
    return struct.pack('!HHIII', 10, 16 + len(body), t, seq, dom) + body

def iset(sid, body):
    return struct.pack('!HH', sid, 4 + len(body)) + body

def tmpl(tid, fields):
    b = struct.pack('!HH', tid, len(fields))
    for f in fields:
        if len(f) == 3:
            b += struct.pack('!HHI', f[0] | 0x8000, f[1], f[2])
        else:
            b += struct.pack('!HH', *f)
    return b

def nf9(flowsets, seq=0, src=0, up=100000, t=1768471200):
    body = b''.join(flowsets)
    return struct.pack('!HHIIII', 9, len(flowsets), up, t, seq, src) + body

def v4(a):
    return bytes(int(x) for x in a.split('.'))

def seq_file(name, dgrams):
    with open(name, 'wb') as f:
        for d in dgrams:
            f.write(struct.pack('!H', len(d)) + d)

# 1. A field longer than its information element (sourceIPv4Address, 8 bytes).
seq_file('ipfix-field-longer-than-ie.seq', [
    ipfix([iset(2, tmpl(256, [(8, 8), (12, 4)])),
           iset(256, v4('192.0.2.1') + bytes(4) + v4('192.0.2.2'))])])
# 1b. The same in v9: protocolIdentifier (1 byte) sent as 4.
seq_file('nf9-field-longer-than-ie.seq', [
    nf9([iset(0, tmpl(256, [(8, 4), (12, 4), (4, 4)]))])])
# 2. A template with no fields (v9; in IPFIX a count of 0 is a withdrawal).
seq_file('nf9-template-no-fields.seq', [nf9([iset(0, struct.pack('!HH', 256, 0))])])
# 3. A zero-length record: every field of length 0.
seq_file('ipfix-zero-length-record.seq', [
    ipfix([iset(2, tmpl(256, [(210, 0)])), iset(256, bytes(8))])])
# 4. A zero-size subTemplateMultiList element (header length 0 < 4).
stml = b'\xff' + struct.pack('!HH', 257, 0)
rec = v4('192.0.2.1') + bytes([len(stml)]) + stml
seq_file('ipfix-stml-zero-size.seq', [
    ipfix([iset(2, tmpl(256, [(8, 4), (293, 0xffff)])), iset(256, rec + bytes((4 - len(rec) % 4) % 4))])])
# 5. Template replacement mid-stream: 256 is IPv4 with 4-byte counters,
#    then, in the next message, IPv6 with 8-byte counters, data after each.
a = ipfix([iset(2, tmpl(256, [(8, 4), (12, 4), (2, 4), (1, 4), (4, 1)])),
           iset(256, v4('192.0.2.1') + v4('192.0.2.2') + struct.pack('!IIB', 3, 300, 17) + bytes(3))],
          seq=0)
b6 = bytes.fromhex('20010db8000000000000000000000001')
b7 = bytes.fromhex('20010db8000000000000000000000002')
b = ipfix([iset(2, tmpl(256, [(27, 16), (28, 16), (2, 8), (1, 8), (4, 1)])),
           iset(256, b6 + b7 + struct.pack('!QQB', 5, 5000, 6) + bytes(3))], seq=1)
seq_file('ipfix-template-replaced.seq', [a, b])
# 6. Lengths that wrap: a set length of 3 (length - 4 wraps in 16 bits),
#    a message length below the header, a v9 flowset length of 0, and a
#    v5 count of 65535.
seq_file('ipfix-set-length-wraps.seq', [ipfix([struct.pack('!HH', 256, 3) + bytes(8)])])
m = bytearray(ipfix([iset(2, tmpl(256, [(8, 4)]))]))
m[2:4] = struct.pack('!H', 5)
seq_file('ipfix-message-length-wraps.seq', [bytes(m)])
seq_file('nf9-flowset-length-zero.seq', [nf9([struct.pack('!HH', 256, 0) + bytes(16)])])
v5 = struct.pack('!HHIIIIBBH', 5, 65535, 100000, 1768471200, 0, 0, 0, 0, 0) + bytes(48)
seq_file('nf5-count-wraps.seq', [v5])
# A variable-length field whose 3-byte length runs past the set.
seq_file('ipfix-varlen-past-end.seq', [
    ipfix([iset(2, tmpl(256, [(8, 4), (82, 0xffff)])),
           iset(256, v4('192.0.2.1') + b'\xff\xff\xf0' + bytes(1))])])
# sFlow: a sample whose length runs past the datagram.
sf = struct.pack('!IIIIIII', 5, 1, 0xc0000201, 0, 1, 1000, 1) + struct.pack('!II', 1, 0xfffffff0)
seq_file('sflow-sample-length-wraps.seq', [sf])
print('written')
