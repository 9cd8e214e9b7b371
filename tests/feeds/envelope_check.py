#!/usr/bin/env python3
"""Checks feed messages captured by a foreign client (nngcat --msgpack)
with foreign tools only: protoc decodes each repnet.v1.Envelope and the
SignedPayload inside it, OpenSSL verifies each ed25519 signature, and
Python's hashlib recomputes the key id. Standard library only, besides
protoc and openssl.

usage: envelope_check.py SRCDIR CAPTURE PUBFILE PUBLISHER WORKDIR

CAPTURE is nngcat's --msgpack output (one msgpack bin object per message);
PUBFILE is the publisher's "repnet-ed25519-public-v1 BASE64" file. Prints
one line per message ("kind epoch seq digest") and a summary; exits 1 on
the first check that fails.
"""
import base64
import hashlib
import os
import re
import subprocess
import sys

# DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410), before the 32 key bytes.
SPKI_ED25519 = bytes.fromhex("302a300506032b6570032100")


def fail(msg):
    print(f"envelope_check: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def msgpack_bins(data):
    """The bin objects nngcat writes with --msgpack (bin 8/16/32)."""
    out, i = [], 0
    while i < len(data):
        t = data[i]
        if t == 0xC4:
            n, h = data[i + 1], 2
        elif t == 0xC5:
            n, h = int.from_bytes(data[i + 1:i + 3], "big"), 3
        elif t == 0xC6:
            n, h = int.from_bytes(data[i + 1:i + 5], "big"), 5
        else:
            fail(f"capture byte {i}: not a msgpack bin (0x{t:02x})")
        if i + h + n > len(data):
            fail("capture ends inside a message")
        out.append(data[i + h:i + h + n])
        i += h + n
    return out


def varint(b, i):
    v = s = 0
    while True:
        if i >= len(b) or s > 63:
            fail("truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, i


def fields(b):
    """Top-level protobuf fields: {number: [value, ...]} (bytes or int)."""
    f, i = {}, 0
    while i < len(b):
        key, i = varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            if i + n > len(b):
                fail("length past the end")
            v, i = b[i:i + n], i + n
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            fail(f"wire type {wt}")
        f.setdefault(num, []).append(v)
    return f


def protoc(src, msg, data):
    r = subprocess.run(["protoc", f"--proto_path={src}", f"--decode=repnet.v1.{msg}",
                        "proto/repnet/v1/repnet.proto"], input=data, cwd=src,
                       capture_output=True, check=False)
    if r.returncode != 0:
        fail(f"protoc --decode repnet.v1.{msg}: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode()


def top(text, key):
    """A top-level scalar of protoc's text output (no indentation)."""
    m = re.search(rf"^{key}: (.*)$", text, re.M)
    return m.group(1) if m else None


def verify(workdir, pem, payload, sig, n):
    pf, sf = os.path.join(workdir, f"p{n}"), os.path.join(workdir, f"s{n}")
    with open(pf, "wb") as f:
        f.write(payload)
    with open(sf, "wb") as f:
        f.write(sig)
    r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin",
                        "-in", pf, "-sigfile", sf], capture_output=True, check=False)
    return r.returncode == 0


def main():
    src, capture, pubfile, publisher, workdir = sys.argv[1:6]
    tag, b64 = open(pubfile, encoding="ascii").read().split()
    if tag != "repnet-ed25519-public-v1":
        fail(f"{pubfile}: unexpected key file")
    pk = base64.b64decode(b64)
    pem = os.path.join(workdir, "pub.pem")
    with open(pem, "w", encoding="ascii") as f:
        f.write("-----BEGIN PUBLIC KEY-----\n")
        f.write(base64.b64encode(SPKI_ED25519 + pk).decode() + "\n")
        f.write("-----END PUBLIC KEY-----\n")
    key_id = hashlib.blake2b(pk, digest_size=8).digest()

    msgs = msgpack_bins(open(capture, "rb").read())
    if not msgs:
        fail("nngcat received nothing")
    kinds = {"snapshot": 0, "delta": 0, "heartbeat": 0}
    epoch0, prev_seq = None, 0
    for n, m in enumerate(msgs):
        # protoc reads the envelope ...
        et = protoc(src, "Envelope", m)
        if top(et, "version") != "1":
            fail(f"message {n}: version {top(et, 'version')}")
        for k in ("key_id", "payload", "signature"):
            if top(et, k) is None:
                fail(f"message {n}: protoc shows no {k}")
        # ... and agrees with an independent walk of the wire format.
        ef = fields(m)
        if ef.get(2, [b""])[0] != key_id:
            fail(f"message {n}: key id is not BLAKE2b-64 of the publisher's key")
        payload, sig = ef[3][0], ef[4][0]
        if len(sig) != 64:
            fail(f"message {n}: signature of {len(sig)} bytes")
        # OpenSSL verifies the signature over the exact payload bytes ...
        if not verify(workdir, pem, payload, sig, n):
            fail(f"message {n}: openssl does not verify the signature")
        # ... and refuses it once one bit of the payload changes.
        if n == 0 and verify(workdir, pem, payload[:-1] + bytes([payload[-1] ^ 1]), sig, "x"):
            fail("openssl verified a modified payload: the check proves nothing")
        pt = protoc(src, "SignedPayload", payload)
        if top(pt, "publisher") != f'"{publisher}"':
            fail(f"message {n}: publisher {top(pt, 'publisher')}")
        epoch, seq = int(top(pt, "epoch") or 0), int(top(pt, "seq") or 0)
        t, e = int(top(pt, "time_ms") or 0), int(top(pt, "expires_ms") or 0)
        if epoch < 1 or seq < 1 or not 0 < t < e:
            fail(f"message {n}: epoch {epoch} seq {seq} time {t} expires {e}")
        if epoch0 is None:
            epoch0 = epoch
        if epoch != epoch0:
            fail(f"message {n}: epoch changed from {epoch0} to {epoch}")
        body = [k for k in kinds if re.search(rf"^{k} {{$", pt, re.M)]
        pf = fields(payload)
        wire = [k for k, num in (("snapshot", 10), ("delta", 11), ("heartbeat", 12)) if num in pf]
        if len(body) != 1 or body != wire:
            fail(f"message {n}: protoc shows body {body}, the wire has {wire}")
        kind = body[0]
        kinds[kind] += 1
        if seq < prev_seq:
            fail(f"message {n}: seq went back from {prev_seq} to {seq}")
        if kind == "delta":
            if seq != prev_seq + 1 and prev_seq != 0:
                fail(f"message {n}: delta seq {seq} after {prev_seq}")
            base = re.search(r"^  base_seq: (\d+)$", pt, re.M)
            if base is None or int(base.group(1)) != seq - 1:
                fail(f"message {n}: delta {seq} has base_seq {base and base.group(1)}")
        prev_seq = seq
        digest = pf[6][0].hex()
        if len(pf[6][0]) != 32:
            fail(f"message {n}: digest of {len(pf[6][0])} bytes")
        print(f"{kind} {epoch} {seq} {digest}")
    print(f"envelope_check: {len(msgs)} envelopes verified and decoded: "
          f"{kinds['snapshot']} snapshots, {kinds['delta']} deltas, "
          f"{kinds['heartbeat']} heartbeats", file=sys.stderr)


if __name__ == "__main__":
    main()
