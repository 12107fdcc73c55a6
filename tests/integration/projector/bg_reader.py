#!/usr/bin/env python3
"""bg_reader.py - a reader of plain view keys during blue/green switches.

    bg_reader.py HOST PORT DB EXPECT.json STOPFILE OUT.json
    bg_reader.py snapshot HOST PORT DB PREFIX N MARK EXPECT.json
    bg_reader.py dump HOST PORT DB PATTERN

snapshot: the first N carts of PREFIX (cart:<id> and cart:<id>:items as
they are now, verified against the reference fold by the caller) are the
old snapshot; the new one is the same plus MARK:<id> = "2", the key the
changed definition adds.

EXPECT.json holds {"old": {key: value}, "new": {key: value}}: two complete
snapshots of the same set of keys (value: a hash as a dict, a string, or
null for a missing key).  The reader reads the whole set in one MULTI/EXEC
(as one client would see it at one instant) on its own connection, over
and over until STOPFILE exists, and classifies every read: equal to the
complete old snapshot, to the complete new one, or neither (a violation:
empty, partial or mixed).  OUT.json gets the counts, the sequence of
switches seen (old->new, new->old) and the first violations with the keys
that differed.  Connection errors count as violations too: a reader of a
blue/green switch must never see one.
"""
import json
import os
import sys
import time

import redis


def read_all(r, keys):
    p = r.pipeline(transaction=True)
    for k, v in keys:
        if isinstance(v, dict):
            p.hgetall(k)
        else:
            p.get(k)
    out = {}
    for (k, v), got in zip(keys, p.execute()):
        if isinstance(v, dict):
            out[k] = {a.decode(): b.decode() for a, b in got.items()} if got else None
        else:
            out[k] = got.decode() if got is not None else None
    return out


def snapshot(host, port, db, prefix, n, mark, out):
    r = redis.Redis(host=host, port=int(port), db=int(db))
    ids = sorted({k.decode().split(":")[1]
                  for k in r.scan_iter(match="cart:%s-*" % prefix, count=1000)})
    ids = [i for i in ids if r.exists("cart:" + i)][:int(n)]
    keys = [("cart:" + i, {}) for i in ids] + [("cart:%s:items" % i, {}) for i in ids]
    old = read_all(r, keys)
    new = dict(old)
    for i in ids:
        old["%s:%s" % (mark, i)] = None
        new["%s:%s" % (mark, i)] = "2"
    json.dump({"old": old, "new": new}, open(out, "w"), sort_keys=True)
    print(len(ids))


def dump(host, port, db, pattern):
    """Every key matching pattern with its DUMP serialization, hex, sorted:
    equal outputs mean byte-equal views."""
    r = redis.Redis(host=host, port=int(port), db=int(db))
    keys = sorted(r.scan_iter(match=pattern, count=1000))
    for i in range(0, len(keys), 1000):
        p = r.pipeline(transaction=False)
        for k in keys[i:i + 1000]:
            p.dump(k)
        for k, v in zip(keys[i:i + 1000], p.execute()):
            print(k.decode(), v.hex() if v is not None else "-")


def main():
    if sys.argv[1] == "snapshot":
        return snapshot(*sys.argv[2:9])
    if sys.argv[1] == "dump":
        return dump(*sys.argv[2:6])
    host, port, db, expect, stop, out = sys.argv[1:7]
    exp = json.load(open(expect))
    old, new = exp["old"], exp["new"]
    # the key set: every key of either snapshot, typed by whichever has it
    keys = sorted({k: (old.get(k) if old.get(k) is not None else new.get(k))
                   for k in set(old) | set(new)}.items())
    r = redis.Redis(host=host, port=int(port), db=int(db), socket_timeout=10)
    counts = {"old": 0, "new": 0, "violation": 0}
    switches, violations, last = [], [], None
    t0 = time.monotonic()
    while not os.path.exists(stop):
        try:
            got = read_all(r, keys)
        except redis.RedisError as e:
            counts["violation"] += 1
            if len(violations) < 5:
                violations.append({"t": time.monotonic() - t0, "error": str(e)})
            continue
        cls = "old" if got == old else "new" if got == new else "violation"
        counts[cls] += 1
        if cls == "violation":
            if len(violations) < 5:
                diff = {k: {"got": got[k], "old": old.get(k), "new": new.get(k)}
                        for k in got if got[k] != old.get(k) and got[k] != new.get(k)}
                violations.append({"t": time.monotonic() - t0,
                                   "keys_differing_from_both": len(diff),
                                   "first": dict(list(diff.items())[:3])})
        elif cls != last:
            if last is not None:
                switches.append("%s->%s" % (last, cls))
            last = cls
    json.dump({"counts": counts, "switches": switches,
               "violations": violations, "keys": len(keys),
               "seconds": time.monotonic() - t0}, open(out, "w"), indent=1)


if __name__ == "__main__":
    main()
