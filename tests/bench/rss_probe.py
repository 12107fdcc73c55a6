#!/usr/bin/env python3
"""Runs a command and samples its resident set size against the events it
has applied, for the benchmark's memory curve.

Events applied are read from Redis: the sum over the checkpoints under
--ckpt-pattern (each the last offset applied on its partition, so +1), polled with the RSS every --every s.
With --target N the command is stopped (SIGTERM, then waited for) once the
checkpoints reach N events: the way to end `sf-projector run` after it
caught up a backlog.  Without it the probe waits for the command to exit
(a rebuild).

Writes "seconds events rss_kb" lines to --out and prints
"probe events=N seconds=S rate=R peak_rss_kb=K exit=X", the peak from the
kernel's own high-water mark (getrusage of the child).
"""
import argparse
import resource
import signal
import subprocess
import sys
import time

import redis


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def applied(r, pattern):
    keys = list(r.scan_iter(match=pattern, count=1000))
    if not keys:
        return 0
    return sum(int(v) + 1 for v in r.mget(keys) if v is not None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--redis", required=True)
    ap.add_argument("--ckpt-pattern", required=True)
    ap.add_argument("--target", type=int, default=0)
    ap.add_argument("--every", type=float, default=0.2)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--out", required=True)
    ap.add_argument("--log", default="/dev/null")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    host, port = a.redis.rsplit(":", 1)
    r = redis.Redis(host=host, port=int(port))
    log = open(a.log, "wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    samples = []
    events = 0
    t_done = None
    while True:
        rc = proc.poll()
        now = time.monotonic() - t0
        kb = rss_kb(proc.pid) if rc is None else None
        events = applied(r, a.ckpt_pattern)
        if kb is not None:
            samples.append((now, events, kb))
        if rc is not None:
            t_done = t_done or now
            break
        if a.target and events >= a.target and t_done is None:
            t_done = now
            proc.send_signal(signal.SIGTERM)
        if now > a.timeout:
            proc.kill()
            proc.wait()
            sys.exit("probe: %s did not finish in %.0f s" % (cmd[0],
                                                            a.timeout))
        time.sleep(a.every)
    rc = proc.wait()
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(a.out, "w") as f:
        for s in samples:
            f.write("%.2f %d %d\n" % s)
    print("probe events=%d seconds=%.3f rate=%.0f peak_rss_kb=%d exit=%d"
          % (events, t_done, events / t_done if t_done else 0, peak, rc))
    return 0 if rc == 0 and (not a.target or events >= a.target) else 1


if __name__ == "__main__":
    sys.exit(main())
