#!/usr/bin/env python3
"""fail2ban's write-to-ban latency, the peer of repnet's latency benchmark.

Runs Debian's fail2ban-server (its own configuration directory, socket and
database under WORKDIR, nothing of the system's) with the stock postfix
filter on a log file that this script appends to. Each trial writes K
Postfix lines for a new client address, stamped now, and waits for the
ban: the jail's action appends the address and the time to a file, so the
figure is from the write to the start of the ban action (it leaves out
the firewall call, which favours fail2ban). maxretry is K, so fail2ban
bans on the same line that the lines are meant to list on in repnet.

  f2b_latency.py WORKDIR [--trials N] [--lines K] [--kind relay|sasl|pregreet]
                 [--backend auto|pyinotify|polling]

Prints one line per trial to WORKDIR/f2b.trials and a summary:
  fail2ban: N trials, p50 X ms, p99 Y ms, max Z ms, missed M
Every wait is bounded (10 s a trial); the server is stopped on exit.
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

LINES = {
    # relay matches the stock filter's default mode ("more"), sasl its
    # "auth" mode, pregreet its "aggressive" one (which holds "ddos").
    "relay": ("{ts} mx postfix/smtpd[{pid}]: NOQUEUE: reject: RCPT from unknown[{ip}]: "
              "554 5.7.1 <victim{i}@example.net>: Relay access denied; "
              "from=<spam@example.org> to=<victim{i}@example.net> proto=ESMTP helo=<x>"),
    # What latency_bench.sh writes: one PREGREET lists alone in repnet.
    "pregreet": "{ts} mx postfix/postscreen[{pid}]: PREGREET 11 after 0.1 from [{ip}]:4242: EHLO x",
    "sasl": ("{ts} mx postfix/smtpd[{pid}]: warning: unknown[{ip}]: SASL LOGIN "
             "authentication failed: UGFzc3dvcmQ6, sasl_username=u{i}"),
}


def conf(work, logpath, k, backend, bans, mode):
    d = os.path.join(work, "f2b")
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(os.path.join(d, "action.d"))
    shutil.copytree("/etc/fail2ban/filter.d", os.path.join(d, "filter.d"))
    with open(os.path.join(d, "fail2ban.conf"), "w") as f:
        f.write("[Definition]\nloglevel = INFO\nlogtarget = %s\n"
                "socket = %s\npidfile = %s\ndbfile = :memory:\n"
                % (os.path.join(work, "f2b.log"), os.path.join(work, "f2b.sock"),
                   os.path.join(work, "f2b.pid")))
    with open(os.path.join(d, "action.d", "stamp.conf"), "w") as f:
        # The time of the ban, as the action starts.
        f.write("[Definition]\nactionstart =\nactionstop =\nactioncheck =\n"
                "actionban = echo \"<ip> $(date +%%%%s.%%%%N)\" >> %s\nactionunban =\n" % bans)
    with open(os.path.join(d, "jail.conf"), "w") as f:
        f.write("[DEFAULT]\nbantime = 1h\nfindtime = 1h\n\n"
                "[postfix]\nenabled = true\nfilter = postfix[mode=%s]\n"
                "logpath = %s\nbackend = %s\nmaxretry = %d\naction = stamp\n"
                % (mode, logpath, backend, k))
    return d


def pct(v, p):
    if not v:
        return float("nan")
    s = sorted(v)
    i = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("work")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--lines", type=int, default=1)
    ap.add_argument("--kind", choices=sorted(LINES), default="relay")
    ap.add_argument("--backend", default="auto")
    a = ap.parse_args()
    if shutil.which("fail2ban-server") is None:
        print("fail2ban: not installed (scripts/bootstrap.sh --bench)", file=sys.stderr)
        return 77
    a.trials = max(1, min(a.trials, 1000))
    a.lines = max(1, min(a.lines, 50))
    os.makedirs(a.work, exist_ok=True)
    logpath = os.path.join(a.work, "mail.log")
    bans = os.path.join(a.work, "bans")
    for p in (logpath, bans):
        open(p, "w").close()
    # The stock filter's mode for the kind: "more" (the default) holds the
    # rejections, "auth" the SASL failures, "aggressive" postscreen's too.
    mode = {"sasl": "auth", "pregreet": "aggressive"}.get(a.kind, "more")
    d = conf(a.work, logpath, a.lines, a.backend, bans, mode)
    sock = os.path.join(a.work, "f2b.sock")
    srv = subprocess.Popen(["fail2ban-server", "-f", "-x", "-c", d, "-s", sock,
                            "-p", os.path.join(a.work, "f2b.pid")],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(a.work, "f2b.err"), "w"))
    lat, missed = [], 0
    try:
        # Ready when the jail runs (bounded: 30 s).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and srv.poll() is None:
            r = subprocess.run(["fail2ban-client", "-s", sock, "status", "postfix"],
                               capture_output=True, text=True)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        else:
            print("fail2ban: the jail did not start; see %s" % os.path.join(a.work, "f2b.log"),
                  file=sys.stderr)
            return 1
        # The backend must have the file open before the first trial: a warm-up line.
        time.sleep(1.0)
        out = open(os.path.join(a.work, "f2b.trials"), "w")
        with open(logpath, "a") as log:
            for t in range(a.trials):
                ip = "198.18.%d.%d" % (t // 250, 1 + t % 250)
                ts = time.strftime("%b %e %H:%M:%S")
                text = "".join(LINES[a.kind].format(ts=ts, pid=1000 + t, ip=ip, i=i) + "\n"
                               for i in range(a.lines))
                t0 = time.time()
                log.write(text)
                log.flush()
                got = None
                end = time.monotonic() + 10
                while time.monotonic() < end and got is None:
                    with open(bans) as b:
                        for line in b:
                            f = line.split()
                            if len(f) == 2 and f[0] == ip:
                                got = float(f[1])
                    if got is None:
                        time.sleep(0.002)
                if got is None:
                    missed += 1
                    out.write("%s missed\n" % ip)
                else:
                    ms = (got - t0) * 1000.0
                    lat.append(ms)
                    out.write("%s %.1f\n" % (ip, ms))
        out.close()
    finally:
        subprocess.run(["fail2ban-client", "-s", sock, "stop"], capture_output=True, timeout=30)
        try:
            srv.wait(timeout=15)
        except subprocess.TimeoutExpired:
            srv.send_signal(signal.SIGKILL)
            srv.wait()
    print("fail2ban %s (backend %s, %s x%d): %d trials, p50 %.1f ms, p99 %.1f ms, max %.1f ms, missed %d"
          % (subprocess.run(["fail2ban-server", "-V"], capture_output=True, text=True).stdout.strip(),
             a.backend, a.kind, a.lines, len(lat), pct(lat, 50), pct(lat, 99),
             max(lat) if lat else float("nan"), missed))
    return 0 if missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
