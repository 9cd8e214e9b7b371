#!/usr/bin/env python3
"""Replays lines of a traditional-format Postfix log to a syslog TCP
listener as RFC 5424 messages with octet counting (RFC 6587), stamped with
the current time, the way a relaying rsyslog would deliver them.

usage: syslog_replay.py HOST PORT FILE FIRST LAST
Sends lines FIRST..LAST (1-based, inclusive) and prints how many frames it
sent. Lines that do not look like "Mon DD HH:MM:SS host tag[pid]: msg" are
skipped. Standard library only.
"""
import datetime
import re
import socket
import sys

LINE = re.compile(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d (\S+) ([^\[:\s]+)(?:\[(\d+)\])?: (.*)$")


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    first, last = int(sys.argv[4]), int(sys.argv[5])
    sent = 0
    with socket.create_connection((host, port), timeout=10) as s, \
            open(path, encoding="utf-8", errors="replace") as f:
        for no, raw in enumerate(f, 1):
            if no < first:
                continue
            if no > last:
                break
            m = LINE.match(raw.rstrip("\n"))
            if m is None:
                continue
            hostname, app, pid, msg = m.group(1), m.group(2), m.group(3) or "-", m.group(4)
            ts = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
            ts = ts.replace("+00:00", "Z")
            body = f"<22>1 {ts} {hostname} {app} {pid} - - {msg}".encode()
            s.sendall(str(len(body)).encode() + b" " + body)
            sent += 1
        s.shutdown(socket.SHUT_WR)
        # Wait for the receiver to close or go quiet, so every frame is read.
        s.settimeout(2)
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
    print(sent)


if __name__ == "__main__":
    main()
