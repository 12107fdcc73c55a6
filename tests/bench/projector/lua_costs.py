#!/usr/bin/env python3
"""What the primitives of the apply script cost inside Redis' Lua.

Debian's redis-server is stripped, so `perf` shows the apply script's time
as addresses inside the binary; this measures the pieces instead, each as
Redis' own per-call time of EVALSHA (INFO commandstats, usec_per_call)
minus that of an empty script with the same arguments, best of 3 runs of
N calls:

  per argument passed   converting one ARGV element to a Lua string
  tonumber              one tonumber() of a decimal offset (strtod)
  string.match          one string.match(v, '^%-?%d+$') (the int check)
  string.format         one string.format('%d', x)
  closure               creating one local function
  table                 creating one small table {a = 1, b = 2}
  pcall GET / SET / HSET   one redis.pcall of each, existing key

Usage: lua_costs.py [--port P]   (default: a redis-server of its own on a
free port, started and shut down here).  Prints one line per primitive:
"<name> <us per operation>".
"""
import argparse
import socket
import subprocess
import sys
import tempfile
import time

import redis

OPS = 200  # operations per script call


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def per_call(r, src, args, n=200):
    sha = r.script_load(src)
    r.evalsha(sha, 0, *args)
    best = None
    for _ in range(3):
        r.config_resetstat()
        for _ in range(n):
            r.evalsha(sha, 0, *args)
        u = r.info("commandstats")["cmdstat_evalsha"]["usec_per_call"]
        best = u if best is None else min(best, u)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int)
    a = ap.parse_args()
    proc = None
    port = a.port
    if not port:
        port = free_port()
        d = tempfile.mkdtemp(prefix="sf-luacosts.")
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind",
                                 "127.0.0.1", "--save", "", "--appendonly",
                                 "no", "--dir", d], stdout=subprocess.DEVNULL)
    r = redis.Redis(port=port)
    for _ in range(100):
        try:
            r.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        r.set("sf-luacosts:k", "1")
        r.hset("sf-luacosts:h", "f", "1")
        nums = [str(1000000 + i) for i in range(OPS)]
        empty0 = per_call(r, "return 0", [])
        emptyn = per_call(r, "return 0", nums)
        print("per argument passed %.3f" % ((emptyn - empty0) / OPS))
        loop = "for i = 1, %d do %%s end return 0" % OPS
        cases = [
            ("tonumber", "local x = tonumber(ARGV[i])", nums),
            ("string.match", "local x = string.match(ARGV[i], '^%-?%d+$')",
             nums),
            ("string.format", "local x = string.format('%d', i)", []),
            ("closure", "local f = function() return i end", []),
            ("table", "local t = {a = i, b = 2}", []),
            ("pcall GET", "redis.pcall('GET', 'sf-luacosts:k')", []),
            ("pcall SET", "redis.pcall('SET', 'sf-luacosts:k', '1')", []),
            ("pcall HSET", "redis.pcall('HSET', 'sf-luacosts:h', 'f', '1')",
             []),
        ]
        for name, body, args in cases:
            loop_only = per_call(r, loop % "local x = i", args)
            u = per_call(r, loop % body, args)
            print("%s %.3f" % (name, (u - loop_only) / OPS))
        r.delete("sf-luacosts:k", "sf-luacosts:h")
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
