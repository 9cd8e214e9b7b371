#!/usr/bin/env python3
"""Writes the seed corpora of the flow harnesses (nf5, nf9, ipfix, sflow,
flowseq, pktmeter) from the real exports and capture in
tests/data/netflow/ and the regression vectors. Run from the repository
root; the output is committed."""
import os, struct, sys

D = 'tests/data/netflow'
C = 'tests/fuzz/corpus'

def frames(path):
    with open(path, 'rb') as f:
        hdr = f.read(24)
        while True:
            ph = f.read(16)
            if len(ph) < 16:
                return
            _, _, incl, _ = struct.unpack('<IIII', ph)
            yield f.read(incl)

def payloads(path):
    for fr in frames(path):
        off = 14
        if fr[12:14] == b'\x08\x00' and fr[off + 9] == 17:
            ihl = (fr[off] & 15) * 4
            yield fr[off + ihl + 8:]

def seqfile(path):
    out = []
    b = open(path, 'rb').read()
    i = 0
    while i + 2 <= len(b):
        n = struct.unpack('!H', b[i:i + 2])[0]
        out.append(b[i + 2:i + 2 + n])
        i += 2 + n
    return out

def write(h, name, data):
    os.makedirs(os.path.join(C, h), exist_ok=True)
    with open(os.path.join(C, h, name), 'wb') as f:
        f.write(data)

regress = {n: seqfile(os.path.join(D, 'regress', n)) for n in os.listdir(os.path.join(D, 'regress')) if n.endswith('.seq')}

for name, h in (('v5', 'nf5'), ('v9', 'nf9'), ('ipfix', 'ipfix')):
    ps = list(payloads(os.path.join(D, 'export-softflowd-%s.pcap' % name)))
    for i in (0, 1, 2, len(ps) // 2, len(ps) - 1):
        write(h, 'softflowd-%d' % i, ps[i])
    prefix = {'nf5': 'nf5-', 'nf9': 'nf9-', 'ipfix': 'ipfix-'}[h]
    for n, ds in regress.items():
        if n.startswith(prefix):
            for j, d in enumerate(ds):
                write(h, 'regress-%s-%d' % (n[:-4], j), d)
    # flowseq: the first datagrams of each export, as one sequence.
    seq = b''.join(struct.pack('!BH', 2, len(p)) + p for p in ps[:6])
    write('flowseq', 'softflowd-%s' % name, seq)

for n, ds in regress.items():
    write('flowseq', 'regress-%s' % n[:-4], b''.join(struct.pack('!BH', 0, len(d)) + d for d in ds))
    if n.startswith('sflow-'):
        for j, d in enumerate(ds):
            write('sflow', 'regress-%s-%d' % (n[:-4], j), d)

# sFlow v5: a flow sample with a raw header of a real frame, and a counter sample.
fr = list(frames(os.path.join(D, 'traffic.pcap')))
for k, idx in enumerate((0, 100, 2000)):
    f = fr[idx][:128]
    pad = (4 - len(f) % 4) % 4
    rec = struct.pack('!IIII', 1, len(fr[idx]), 4, len(f)) + f + bytes(pad)
    fs = struct.pack('!IIIIIIII', k, 3, 512, 5120, 0, 1, 2, 1) + struct.pack('!II', 1, len(rec)) + rec
    cs = struct.pack('!III', 1, 3, 1) + struct.pack('!II', 1, 8) + bytes(8)
    dg = struct.pack('!IIIIIII', 5, 1, 0xc0000201, 0, k, 1000, 2)
    dg += struct.pack('!II', 1, len(fs)) + fs + struct.pack('!II', 2, len(cs)) + cs
    write('sflow', 'sample-%d' % k, dg)

# pktmeter: runs of real frames with their time steps.
for start in (0, 30, 1500, 3000, 5000, 6900):
    b = b''
    for f in fr[start:start + 24]:
        b += struct.pack('!BH', 5, len(f)) + f
    write('pktmeter', 'traffic-%d' % start, b)
print('corpora written')
