#!/usr/bin/env python3
"""scale_owners.py - how long each partition had no owner, from the workers'
own logs (helper of scale_cluster.sh).

  scale_owners.py PROJECTION EVENTS_FILE WORKER_LOG...

A worker log (worker<N>.log, the structured lines of sf-projector) says
when the worker took a partition ("assigned, resuming from the redis
checkpoint") and when it let it go ("revoked", "assignment lost").  The
"revoked" line is written once the revoke callback has flushed and
committed; its callback_s= field says how long that took, and the
partition counts as released when the callback began (from then on the
worker reads nothing more of it), not when the line was written.  A
worker killed with SIGKILL says nothing: EVENTS_FILE has a line
"<unix seconds> kill <N>" per kill, and every partition worker N held is
released at that time.  A partition is unowned from the moment its last
holder let it go until the next one took it; its first assignment only
starts the clock.  Prints one line per partition whose longest gap is
above 0.5 s, then a summary line:

  max_unowned=<s> partition=<p> lost=<assignment lost lines> \
  rebalance_moves=<assign lines>

Exit 0 always (the driver decides); 2 on bad usage.
"""
import datetime
import os
import re
import sys

TS = re.compile(r'^ts=(\S+)Z ')
PART = re.compile(r' partition=(\d+)')
CALLBACK = re.compile(r' callback_s=([0-9.]+)')


def when(line):
    m = TS.match(line)
    if not m:
        return None
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    proj, events_file, logs = argv[1], argv[2], argv[3:]
    ev = []  # (time, worker, partition or None, +1 take / -1 release)
    lost = moves = 0
    for path in logs:
        w = re.sub(r'.*worker(\d+)\.log$', r'\1', path)
        with open(path, errors='replace') as f:
            for line in f:
                if f'projection={proj} ' not in line:
                    continue
                t = when(line)
                p = PART.search(line)
                if t is None or not p:
                    continue
                if 'resuming from the redis checkpoint' in line and \
                        'msg="assigned' in line:
                    ev.append((t, w, int(p.group(1)), 1))
                    moves += 1
                elif 'msg="revoked"' in line:
                    c = CALLBACK.search(line)
                    ev.append((t - (float(c.group(1)) if c else 0.0), w,
                               int(p.group(1)), -1))
                elif 'msg="assignment lost' in line:
                    ev.append((t, w, int(p.group(1)), -1))
                    lost += 1
    try:
        with open(events_file) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[1] == 'kill':
                    ev.append((float(parts[0]), parts[2], None, -1))
    except FileNotFoundError:
        pass
    ev.sort(key=lambda e: (e[0], -e[3]))
    # SCALE_OWNERS_FROM=<unix time>: count unowned time only from then on
    # (after an outage that no group could rebalance through)
    start = float(os.environ.get('SCALE_OWNERS_FROM') or 0)
    holders = {}   # partition -> set of workers
    free_since = {}  # partition -> time it became unowned
    worst = {}
    for t, w, p, d in ev:
        targets = [p] if p is not None else \
            [q for q, hs in holders.items() if w in hs]
        for q in targets:
            hs = holders.setdefault(q, set())
            if d > 0:
                if not hs and q in free_since:
                    gap = t - max(free_since.pop(q), start)
                    worst[q] = max(worst.get(q, 0.0), gap)
                hs.add(w)
            else:
                hs.discard(w)
                if not hs:
                    free_since[q] = t
    # still unowned at the end of the logs: count until the last event
    end = ev[-1][0] if ev else 0
    for q, t0 in free_since.items():
        worst[q] = max(worst.get(q, 0.0), end - max(t0, start))
    mx, mp = 0.0, -1
    for q in sorted(worst):
        if worst[q] > 0.5:
            print(f"partition={q} longest_unowned={worst[q]:.1f}s")
        if worst[q] > mx:
            mx, mp = worst[q], q
    print(f"max_unowned={mx:.1f} partition={mp} lost={lost} "
          f"rebalance_moves={moves}")
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
