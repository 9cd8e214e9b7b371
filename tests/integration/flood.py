#!/usr/bin/env python3
"""flood.py: the connection attacks of issues 13 and 14, for the attack tests.

Holds --conns TCP connections to 127.0.0.1:--port from the sources
127.0.0.10, .11, ... (--sources of them, round robin), each sending
--prefix once when it connects (an SP header, an HTTP request line), then
either idle or trickling one byte of --payload every --trickle seconds,
and reconnects every connection the server closes, as a patient attacker
would. Connects do not block (a server that drops SYNs delays only the
connections it drops). Writes "ready" to --ready once every connection
has been tried once (opened, or refused or dropped: not connected within
two seconds). Bounded: exits after --seconds, or when its parent's
test kills it.
"""
import argparse
import errno
import select
import socket
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--conns", type=int, required=True)
p.add_argument("--sources", type=int, default=8)
p.add_argument("--trickle", type=float, default=0, help="seconds between bytes; 0: idle")
p.add_argument("--payload", default="61", help="hex bytes trickled, in a cycle")
p.add_argument("--prefix", default="", help="hex bytes sent once on connecting")
p.add_argument("--seconds", type=float, default=100)
p.add_argument("--ready", required=True)
a = p.parse_args()
payload = bytes.fromhex(a.payload)
prefix = bytes.fromhex(a.prefix)

CONNECT_TIMEOUT = 2.0


start_failed = {}  # errno name: connects that failed before the SYN
last_report = [0.0, 0]


def report_failures(now, force=False):
    """Says on stderr (at most every ten seconds) why connects could not start."""
    n = sum(start_failed.values())
    if n != last_report[1] and (force or now - last_report[0] >= 10):
        last_report[0], last_report[1] = now, n
        print("flood.py port %d: %d connects failed to start: %s" %
              (a.port, n, ", ".join("%s %d" % kv for kv in sorted(start_failed.items()))),
              file=sys.stderr, flush=True)


def start(i):
    """A non-blocking connect from slot i's source, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        # Keepalive probes find a connection the server never accepted (a
        # SYN cookie's handshake completed while its accept queue was
        # full): the probe is answered with a reset, and the slot reconnects.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 2)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 1)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 2)
        s.bind(("127.0.0.%d" % (10 + i % a.sources), 0))
        s.setblocking(False)
        rc = s.connect_ex(("127.0.0.1", a.port))
        if rc not in (0, errno.EINPROGRESS):
            raise OSError(rc, "connect")
        return s
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        start_failed[name] = start_failed.get(name, 0) + 1
        s.close()
        return None


conns = [None] * a.conns
connected = [False] * a.conns
tried = [False] * a.conns
sent = [0] * a.conns
due = [0.0] * a.conns
retry = [0.0] * a.conns
ntried = 0
ready = False
poller = select.poll()
by_fd = {}
end = time.monotonic() + a.seconds


def mark(i):
    global ntried
    if not tried[i]:
        tried[i] = True
        ntried += 1


def drop(i):
    mark(i)
    fd = conns[i].fileno()
    by_fd.pop(fd, None)
    poller.unregister(fd)
    conns[i].close()
    conns[i] = None
    connected[i] = False
    sent[i] = 0


while time.monotonic() < end:
    now = time.monotonic()
    report_failures(now)
    for i in range(a.conns):
        if conns[i] is None and now >= retry[i]:
            retry[i] = now + 0.2  # at most five connections a second per slot
            s = start(i)
            if s is None:
                continue
            conns[i] = s
            due[i] = now + CONNECT_TIMEOUT  # the connect's deadline, until it completes
            by_fd[s.fileno()] = i
            poller.register(s, select.POLLOUT)
        elif conns[i] is not None and not connected[i] and now >= due[i]:
            drop(i)  # the server dropped the SYN: try again
    if not ready and ntried >= a.conns:
        with open(a.ready, "w") as f:
            f.write("ready\n")
        ready = True
    for fd, ev in poller.poll(100):
        i = by_fd.get(fd)
        if i is None:
            continue
        s = conns[i]
        if not connected[i]:
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                drop(i)
                continue
            connected[i] = True
            mark(i)
            try:
                if prefix:
                    s.send(prefix)
            except OSError:
                drop(i)
                continue
            poller.modify(s, select.POLLIN)
            # Staggered, so that some byte arrives all the time.
            due[i] = now + a.trickle * (i % 16) / 16
            continue
        # Connections the server closed are opened again.
        try:
            data = s.recv(4096)
        except BlockingIOError:
            continue
        except OSError:
            data = b""
        if not data:
            drop(i)
    if a.trickle > 0:
        for i, s in enumerate(conns):
            if s is not None and connected[i] and now >= due[i]:
                try:
                    s.send(payload[sent[i] % len(payload):][:1])
                except OSError:
                    pass
                sent[i] += 1
                due[i] = now + a.trickle
