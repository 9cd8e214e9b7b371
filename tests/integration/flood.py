#!/usr/bin/env python3
"""flood.py: the connection attacks of issue 13, for the attack tests.

Holds --conns TCP connections to 127.0.0.1:--port from the sources
127.0.0.10, .11, ... (--sources of them, round robin), either idle or
trickling one byte of --payload every --trickle seconds on each, and
reconnects every connection the server closes, as a patient attacker
would. Writes "ready" to --ready once every connection has been opened
once. Bounded: exits after --seconds, or when its parent's test kills it.
"""
import argparse
import select
import socket
import time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--conns", type=int, required=True)
p.add_argument("--sources", type=int, default=8)
p.add_argument("--trickle", type=float, default=0, help="seconds between bytes; 0: idle")
p.add_argument("--payload", default="61", help="hex bytes trickled, in a cycle")
p.add_argument("--seconds", type=float, default=100)
p.add_argument("--ready", required=True)
a = p.parse_args()
payload = bytes.fromhex(a.payload)


def connect(i):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.%d" % (10 + i % a.sources), 0))
        s.settimeout(2)
        s.connect(("127.0.0.1", a.port))
        s.setblocking(False)
        return s
    except OSError:
        s.close()
        return None


conns = [None] * a.conns
sent = [0] * a.conns
due = [0.0] * a.conns
retry = [0.0] * a.conns
opened = 0
ready = False
poller = select.poll()
by_fd = {}
end = time.monotonic() + a.seconds
while time.monotonic() < end:
    now = time.monotonic()
    for i in range(a.conns):
        if conns[i] is None and now >= retry[i]:
            retry[i] = now + 0.2  # at most five connections a second per slot
            s = connect(i)
            if s is None:
                continue
            conns[i] = s
            by_fd[s.fileno()] = i
            poller.register(s, select.POLLIN)
            opened += 1
            # Staggered, so that some byte arrives all the time.
            due[i] = now + a.trickle * (i % 16) / 16
    if not ready and opened >= a.conns:
        with open(a.ready, "w") as f:
            f.write("ready\n")
        ready = True
    # Connections the server closed are opened again.
    for fd, _ in poller.poll(100):
        i = by_fd.pop(fd)
        try:
            data = conns[i].recv(4096)
        except BlockingIOError:
            by_fd[fd] = i
            continue
        except OSError:
            data = b""
        if data:
            by_fd[fd] = i
            continue
        poller.unregister(fd)
        conns[i].close()
        conns[i] = None
        sent[i] = 0
    if a.trickle > 0:
        for i, s in enumerate(conns):
            if s is not None and now >= due[i]:
                try:
                    s.send(payload[sent[i] % len(payload):][:1])
                except OSError:
                    pass
                sent[i] += 1
                due[i] = now + a.trickle
