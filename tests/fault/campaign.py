#!/usr/bin/env python3
"""campaign.py - the seeded, randomized fault campaign of the projector.

For each seed: draw a schedule (events to publish, faults, delays) from the
seed alone, run it against a PRIVATE Kafka + Redis stack (started by
campaign.sh) with two or three `sf-projector run` workers, wait until every
projection has caught up, then compare every view key with a reference fold
of the same events read back from Kafka (read_committed) and folded here, in
code that shares nothing with the projector.  Exit 1 on the first seed that
differs (or on every seed with --keep-going), printing the seed and the first
differing key.

Only the schedule, the inputs and the order of the faults replay exactly
from a seed; when a real process is at a given moment (mid-batch, mid-
rebalance) cannot be replayed, so a seed that failed once may pass on replay.

Test code only: stdlib + confluent-kafka + fastavro.
"""
import argparse
import glob
import io
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

ALL_FAULTS = [
    "kill9",          # SIGKILL a worker, restart it after a random delay
    "sigstop",        # SIGSTOP a worker past session.timeout.ms, then SIGCONT
    "sigterm",        # SIGTERM a worker (must exit 0), restart it
    "rebalance",      # a worker joins or leaves (SIGTERM)
    "redis-restart",  # Redis SHUTDOWN (AOF fsynced) and start again
    "redis-kill9",    # Redis SIGKILL and start again (AOF in page cache: no loss)
    "redis-rollback", # Redis SIGKILL and restart with the writes after a mark lost
    "broker-restart", # the Kafka broker stopped (SIGTERM) and started again
    "rebuild",        # `rebuild --force` of a projection while workers run
    "rebuild-join",   # workers stopped, `rebuild`, a worker joins while it clears
    "pause",          # `pause` a projection, publish, `resume`
    "skip",           # tally projection with on_error: stop; operator `skip`s poison
    "poison",         # undecodable bytes and a command that fails in Redis
    "txn-abort",      # a transaction of events aborted (must never show)
    "topic-recreate", # the topic deleted and recreated under its name, then published to
    "add-partitions", # partitions added to the topic (kafka-topics --alter)
]
# Faults that take many seconds; each seed features one fault kind (round
# robin over the allowed kinds), so a short run of 20 seeds meets them all.
# What the reason of a HALF event (cart-tally.rules.yaml) must say, in the
# worker's stop line and in the dead letter's sf_dlq_reason header.
HALF_REASON = "command 4 of 5 failed after commands 1..3 of the event were applied"
SESSION_TIMEOUT_MS = 6000  # the broker's group.min.session.timeout.ms
CARTS = ["c%d" % i for i in range(6)]
SKUS = ["A", "B", "C", "D"]
PARTITIONS = 4
TOPIC_CONFIG = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}
BASE_MS = 1798761600000  # 2027-01-01T00:00:00Z: deterministic event times

T0 = time.monotonic()


class _Quiet:
    """librdkafka's log lines of the campaign's own clients (connection
    refused while the broker restarts) would drown the report."""
    def log(self, *a, **k):
        pass
    debug = info = warning = error = critical = exception = log


QUIET = _Quiet()


def log(msg):
    print("[campaign +%5.1fs] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# A minimal RESP client (no redis-py on the box; test code only).

class Redis:
    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None

    def _line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise ConnectionError("redis closed the connection")
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            d = self.sock.recv(65536)
            if not d:
                raise ConnectionError("redis closed the connection")
            self.buf += d
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError("redis: " + rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError("redis: bad reply %r" % line)

    def cmd(self, *args):
        for attempt in range(2):
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                    self.buf = b""
                out = b"*%d\r\n" % len(args)
                for a in args:
                    a = str(a).encode()
                    out += b"$%d\r\n%s\r\n" % (len(a), a)
                self.sock.sendall(out)
                return self._reply()
            except (OSError, ConnectionError):
                self.close()
                if attempt:
                    raise

    def scan(self, pattern):
        cur, keys = "0", []
        while True:
            cur, part = self.cmd("SCAN", cur, "MATCH", pattern, "COUNT", 1000)
            keys += part
            if cur == "0":
                return keys

    def value(self, key):
        t = self.cmd("TYPE", key)
        if t == "string":
            return self.cmd("GET", key)
        if t == "hash":
            r = self.cmd("HGETALL", key)
            return dict(zip(r[0::2], r[1::2]))
        return "<%s>" % t


# --------------------------------------------------------------------------
# The schedule: everything drawn from the seed, before anything runs.

def ev(rng, seq, typ, cart, data, schema_version=None):
    seq["n"] += 1
    seq[cart] = seq.get(cart, 0) + 1
    e = {"type": typ, "aggregate_id": cart, "version": seq[cart],
         "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
         "occurred_at": BASE_MS + seq["n"] * 1000, "data": data}
    if schema_version:
        e["schema_version"] = schema_version
    return e


def gen_chunk(rng, seq, opened, n, poison_cmd):
    """n cart events over the small key space; maybe one poison add: sku
    POISON (its first tally command fails) or HALF (its fourth fails,
    after three applied).  seq["carts"]: the aggregates in use (new ones
    after partitions were added)."""
    out = []
    carts = seq.get("carts", CARTS)
    for _ in range(n):
        cart = rng.choice(carts)
        ts = BASE_MS + seq["n"] * 1000
        r = rng.random()
        if cart not in opened or r < 0.08:
            opened.add(cart)
            out.append(ev(rng, seq, "shop.cart.CartOpened", cart,
                          {"cart_id": cart, "customer_id": "u-" + cart, "opened_at": ts}))
        elif r < 0.70:
            d = {"cart_id": cart, "sku": rng.choice(SKUS), "quantity": rng.randint(1, 5),
                 "unit_price_cents": rng.randint(100, 999), "added_at": ts}
            if rng.random() < 0.3:
                out.append(ev(rng, seq, "shop.cart.ItemAddedToCart", cart, d, 1))
            else:
                d["currency"] = rng.choice(["EUR", "USD"])
                out.append(ev(rng, seq, "shop.cart.ItemAddedToCart", cart, d))
        elif r < 0.93:
            out.append(ev(rng, seq, "shop.cart.ItemRemovedFromCart", cart,
                          {"cart_id": cart, "sku": rng.choice(SKUS),
                           "quantity": rng.randint(1, 3), "removed_at": ts}))
        else:
            out.append(ev(rng, seq, "shop.cart.CartCheckedOut", cart,
                          {"cart_id": cart, "checked_out_at": ts}))
    if poison_cmd:
        live = sorted(c for c in opened if c in carts)
        cart = rng.choice(live) if live else carts[0]
        sku = rng.choice(["POISON", "HALF"])
        out.insert(rng.randint(0, len(out)), ev(
            rng, seq, "shop.cart.ItemAddedToCart", cart,
            {"cart_id": cart, "sku": sku, "quantity": rng.randint(1, 5),
             "unit_price_cents": 1, "added_at": BASE_MS, "currency": "EUR"}))
    return out


def make_schedule(seed, faults, steps):
    """A list of actions drawn from the seed and the allowed fault kinds."""
    rng = random.Random(seed)
    seq, opened = {"n": 0}, set()
    allowed = [f for f in ALL_FAULTS if f in faults]
    on_error_stop = "skip" in allowed and rng.random() < 0.5
    sched = {"seed": seed, "workers": rng.choice([2, 3]),
             "tally_on_error": "stop" if on_error_stop else "dlq",
             "batch": rng.choice([5, 20, 100]), "actions": []}
    acts = sched["actions"]

    def publish(n=None, poison_ok=True):
        n = n or rng.randint(10, 40)
        pc = "poison" in allowed and rng.random() < 0.3 and poison_ok
        acts.append({"do": "publish", "txn": rng.random() < 0.3,
                     "events": gen_chunk(rng, seq, opened, n, pc)})

    publish(rng.randint(20, 40))
    # each seed features one kind (round robin), the others are drawn
    kinds = [f for f in allowed if f != "skip"] or ["none"]
    featured = kinds[seed % len(kinds)]
    plan = [featured] + [rng.choice(kinds) for _ in range(max(0, steps - 1))]
    sched["featured"] = featured
    if "topic-recreate" in plan or "add-partitions" in plan:
        # the operator's rebuild after these faults meets every poison
        # event of the topic; with on_error: stop it would stop on each one
        # not skipped yet (README, Limits): these seeds dead-letter
        sched["tally_on_error"] = "dlq"
    mark = False
    nparts, gen = PARTITIONS, 0
    for f in plan:
        if f == "kill9":
            acts.append({"do": "kill9", "worker": rng.randint(0, 2),
                         "after": rng.uniform(0, 1.5), "restart_after": rng.uniform(0, 2)})
        elif f == "sigstop":
            acts.append({"do": "sigstop", "worker": rng.randint(0, 2),
                         "after": rng.uniform(0, 1)})
        elif f == "sigterm":
            acts.append({"do": "sigterm", "worker": rng.randint(0, 2),
                         "restart_after": rng.uniform(0, 2)})
        elif f == "rebalance":
            acts.append({"do": rng.choice(["join", "leave"]), "worker": rng.randint(0, 2)})
        elif f == "redis-restart":
            acts.append({"do": "redis-restart", "down": rng.uniform(0, 2)})
        elif f == "redis-kill9":
            acts.append({"do": "redis-kill9", "down": rng.uniform(0, 2)})
        elif f == "redis-rollback":
            if not mark:
                acts.append({"do": "redis-mark"})
                mark = True
                publish()
                acts.append({"do": "sleep", "s": rng.uniform(0.5, 2)})
            acts.append({"do": "redis-rollback", "down": rng.uniform(0, 1)})
            mark = False
        elif f == "broker-restart":
            acts.append({"do": "broker-restart", "down": rng.uniform(0, 2)})
        elif f == "rebuild":
            acts.append({"do": "rebuild", "proj": rng.choice(
                ["cart", "avail"] + (["tally"] if sched["tally_on_error"] == "dlq" else [])),
                         "after": rng.uniform(0, 1)})
        elif f == "rebuild-join":
            acts.append({"do": "rebuild-join", "proj": rng.choice(["cart", "avail"]),
                         "join_after": rng.uniform(0, 0.3)})
        elif f == "pause":
            acts.append({"do": "pause", "proj": rng.choice(["cart", "avail", "tally"])})
            publish()
            acts.append({"do": "resume", "proj": acts[-2]["proj"], "after": rng.uniform(0, 1)})
        elif f == "poison":
            # the aggregates in use: after add-partitions an old key would
            # land in another partition than its earlier events
            acts.append({"do": "poison-bytes", "key": rng.choice(seq.get("carts", CARTS)),
                         "bytes": rng.choice(["garbage", "unknown-fingerprint", "truncated"])})
        elif f == "txn-abort":
            acts.append({"do": "txn-abort", "events": [
                ev(rng, {"n": 0}, "shop.cart.ItemAddedToCart", c,
                   {"cart_id": c, "sku": rng.choice(SKUS), "quantity": 1000,
                    "unit_price_cents": 1, "added_at": BASE_MS, "currency": "EUR"})
                for c in rng.sample(seq.get("carts", CARTS), 3)]})
        elif f == "topic-recreate":
            # delete, recreate (same name, same partition count), publish to
            # the new topic (no poison: see above), then the operator's part
            acts.append({"do": "topic-recreate", "partitions": nparts})
            publish(poison_ok=False)
            acts.append({"do": "log-changed", "what": "recreated"})
        elif f == "add-partitions":
            nparts += rng.randint(1, 2)
            acts.append({"do": "add-partitions", "partitions": nparts})
            # what the documented remedy (--accept-partitions) requires: no
            # aggregate with events in two partitions, so from now on only
            # new aggregates get events
            gen += 1
            seq["carts"] = ["n%d%s" % (gen, c) for c in CARTS]
            publish(poison_ok=False)
            acts.append({"do": "log-changed", "what": "partitions", "journey": rng.choice(CARTS)})
        publish()
    return sched


def count_faults(sched):
    counts = {}
    for a in sched["actions"]:
        k = a["do"]
        if k == "publish":
            k = "publish-txn" if a["txn"] else "publish"
            if any(e["data"].get("sku") == "POISON" for e in a["events"]):
                counts["poison-cmd"] = counts.get("poison-cmd", 0) + 1
            if any(e["data"].get("sku") == "HALF" for e in a["events"]):
                counts["poison-half"] = counts.get("poison-half", 0) + 1
        if k in ("sleep", "redis-mark", "log-changed"):
            continue
        counts[k] = counts.get(k, 0) + 1
    return counts


# --------------------------------------------------------------------------
# The reference fold: read the topic back (read_committed), decode with
# fastavro, fold the example projections' key layout.

class Catalog:
    def __init__(self, schema_dir):
        self.by_fp, self.newest = {}, {}
        for f in sorted(glob.glob(os.path.join(schema_dir, "*", "*.avsc"))):
            s = fastavro.parse_schema(json.load(open(f)))
            fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(s), "CRC-64-AVRO"))
            self.by_fp[fp] = s
            ver = int(re.search(r"\.v(\d+)\.avsc$", f).group(1))
            name = s["name"]
            if name not in self.newest or ver > self.newest[name][0]:
                self.newest[name] = (ver, s)

    def decode(self, value):
        """(type, record) or None when the bytes are not a known event."""
        if value is None or len(value) < 10 or value[:2] != b"\xc3\x01":
            return None
        w = self.by_fp.get(value[2:10])
        if w is None:
            return None
        try:
            rec = fastavro.schemaless_reader(io.BytesIO(value[10:]), w,
                                             self.newest[w["name"]][1])
        except Exception:
            return None
        return w["name"], rec


def read_topic(brokers, topic, committed=True, with_headers=False):
    """Every record of topic (read_committed), per partition in order."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": "fc-ref-" + secrets.token_hex(4),
                  "logger": QUIET,
                  "enable.auto.commit": False,
                  "isolation.level": "read_committed" if committed else "read_uncommitted",
                  "enable.partition.eof": True})
    try:
        # right after a broker restart the metadata and the watermarks may
        # answer "not leader" for a while: retry for up to a minute
        deadline = time.monotonic() + 60
        while True:
            try:
                md = c.list_topics(topic, timeout=20).topics[topic]
                if md.error and md.error.code() in (3, -188):  # unknown topic
                    return {}
                if md.error:
                    raise KafkaException(md.error)
                parts = sorted(md.partitions)
                ends = {}
                for p in parts:
                    lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=20)
                    ends[p] = hi
                break
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        c.assign([TopicPartition(topic, p, 0) for p in parts])
        recs = {p: [] for p in parts}
        done = {p for p in parts if ends[p] == 0}
        # 150 s: a transaction left open by a publisher that died with the
        # broker holds the end until the broker aborts it (60 s timeout)
        deadline = time.monotonic() + 150
        while len(done) < len(parts):
            if time.monotonic() > deadline:
                raise RuntimeError("reading %s back did not reach the end in 150 s" % topic)
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == -191:  # _PARTITION_EOF
                    # read_committed: the end may be only the last stable
                    # offset, before a committed transaction's markers are
                    # written (more so after a broker restart); done only
                    # once the position reached the high watermark
                    pos = c.position([TopicPartition(topic, m.partition())])[0].offset
                    if pos >= ends[m.partition()]:
                        done.add(m.partition())
                    else:
                        time.sleep(0.2)
                    continue
                raise RuntimeError("reading %s: %s" % (topic, m.error()))
            h = dict((k, v.decode(errors="replace") if v else "") for k, v in (m.headers() or []))
            recs[m.partition()].append((m.offset(), m.key(), m.value(), h))
        return recs
    finally:
        c.close()


def fold(recs, cat, skipped, half=None):
    """Expected views per projection, the poison offsets per projection and
    the last data offset of each partition.

    The tally projection's poison events (cart-tally.rules.yaml), as the
    documented apply path leaves them (docs/exactly-once.md, invariants 4-6):
    sku POISON fails on its first command, so nothing of it is applied;
    sku HALF fails on its fourth command (PFADD on a plain string, which no
    pre-check foresees), so its first three commands stay applied, once,
    whether it is then dead-lettered or skipped by the operator, and its
    fifth never runs.  `half`, when given, collects the HALF offsets."""
    exp = {"cart": {}, "avail": {}, "tally": {}}
    poison = {"cart": set(), "avail": set(), "tally": set()}
    last = {}
    half = half if half is not None else set()

    def hincr(view, key, field, n):
        h = view.setdefault(key, {})
        h[field] = str(int(h.get(field, "0")) + n)

    def incr(view, key, n):
        view[key] = str(int(view.get(key, "0")) + n)

    # The projector's duplicate rule (docs/duplicates.md), per projection:
    # an event whose ce_sequence is not above the last one applied for its
    # aggregate in its partition is not applied.  A version counts once its
    # event is applied, refused before Redis (undecodable) or dead-lettered
    # after it failed in Redis (the tally poison, on_error: dlq); one the
    # operator skipped (on_error: stop) does not.
    ver = {"cart": {}, "avail": {}, "tally": {}}

    def new_version(view, agg, seq):
        """False for a duplicate; else True (unversioned events too)."""
        return seq is None or seq > ver[view].get((p, agg), 0)

    for p, rows in recs.items():
        for off, key, value, hdr in rows:
            last[p] = off
            d = cat.decode(value)
            agg = hdr.get("ce_subject") or (key or b"").decode()
            seq = hdr.get("ce_sequence")
            seq = int(seq) if seq and seq.isdigit() and int(seq) > 0 else None
            if d is None:
                # refused before Redis: dead-lettered, duplicate or not
                for view, v in poison.items():
                    v.add((p, off))
                    if new_version(view, agg, seq) and seq is not None:
                        ver[view][(p, agg)] = seq
                continue
            typ, data = d
            cart, avail, tally = {}, {}, {}
            dup = {v for v in ver if not new_version(v, agg, seq)}
            for view in ("cart", "avail"):
                if seq is not None and view not in dup:
                    ver[view][(p, agg)] = seq
            if "cart" not in dup:
                cart = exp["cart"]
            if "avail" not in dup:
                avail = exp["avail"]
            if "tally" not in dup:
                tally = exp["tally"]
            tally_ok = (p, off) not in skipped.get("tally", set())
            if seq is not None and "tally" not in dup and tally_ok:
                # a poison event dead-lettered is done with: recorded too
                ver["tally"][(p, agg)] = seq
            if typ == "shop.cart.CartOpened":
                cart.setdefault("cart:%s" % agg, {})["status"] = "open"
                if tally_ok:
                    incr(tally, "tally:opened", 1)
            elif typ == "shop.cart.CartCheckedOut":
                cart.setdefault("cart:%s" % agg, {})["status"] = "checked_out"
            elif typ in ("shop.cart.ItemAddedToCart", "shop.cart.ItemRemovedFromCart"):
                q = data["quantity"] if typ == "shop.cart.ItemAddedToCart" else -data["quantity"]
                hincr(cart, "cart:%s:items" % agg, data["sku"], q)
                hincr(avail, "product:%s" % data["sku"], "in_carts", q)
                if data["sku"] == "POISON" and q > 0:
                    if "tally" not in dup:
                        poison["tally"].add((p, off))
                elif data["sku"] == "HALF" and q > 0:
                    # commands 1..3 applied (skipped or not: the operator
                    # skips it after the worker stopped on command 4)
                    if "tally" not in dup:
                        poison["tally"].add((p, off))
                        half.add((p, off))
                    hincr(tally, "tally:%s" % agg, "adds", 1)
                    incr(tally, "tally:units", q)
                    tally["tally:half:%s" % agg] = "plain"
                elif tally_ok:
                    hincr(tally, "tally:%s" % agg, "adds" if q > 0 else "removes", 1)
                    incr(tally, "tally:units", q)
    return exp, poison, last


# --------------------------------------------------------------------------
# One seed.

class Failure(Exception):
    pass


class SkipLater(Exception):
    """`sf-projector skip` failed (Redis unreachable): try again later."""


class Seed:
    def __init__(self, args, sched):
        self.a, self.s = args, sched
        self.seed = sched["seed"]
        nonce = secrets.token_hex(3)
        self.topic = "fc-%d-%s-cart-events" % (self.seed, nonce)
        self.proj = {"cart": "cc%d%s" % (self.seed, nonce), "avail": "pa%d%s" % (self.seed, nonce),
                     "tally": "ta%d%s" % (self.seed, nonce)}
        self.work = os.path.join(args.work, "seed-%d" % self.seed)
        os.makedirs(self.work, exist_ok=True)
        self.cfg = os.path.join(self.work, "workers.yaml")
        self.redis = Redis(args.redis_port)
        self.workers = {}     # slot -> dict(proc, log, state)
        self.problems = []    # failures other than a view difference
        self.skipped = {}     # projection short name -> {(partition, offset)}
        self.skip_t = {}      # (projection, partition, offset) -> when skipped
        self.mark = None
        self.counts = {}
        self.dlq_floor = {}   # DLQ partition -> first offset of this topic's dead letters
        self.hold = False     # the log changed: exits are the action's to judge
        self.nparts = PARTITIONS

    # --- helpers ---------------------------------------------------------
    def note(self, kind):
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def write_config(self):
        ex = os.path.join(self.a.source, "projector", "examples")
        here = os.path.dirname(os.path.abspath(__file__))
        rules = {"cart": os.path.join(ex, "cart-contents.rules.yaml"),
                 "avail": os.path.join(ex, "product-availability.rules.yaml"),
                 "tally": os.path.join(here, "cart-tally.rules.yaml")}
        with open(self.cfg, "w") as f:
            f.write("kafka:\n  bootstrap.servers: \"%s\"\n" % self.a.brokers)
            f.write("  session.timeout.ms: %d\n  heartbeat.interval.ms: 1000\n" % SESSION_TIMEOUT_MS)
            f.write("  max.poll.interval.ms: 20000\n")
            f.write("redis: {host: \"127.0.0.1\", port: %d}\n" % self.a.redis_port)
            f.write("schemas: \"%s\"\n" % os.path.join(self.a.source, "schemas", "domains"))
            f.write("projections:\n")
            for k in ("cart", "avail", "tally"):
                f.write("  - name: \"%s\"\n    topics: [\"%s\"]\n    rules: \"%s\"\n"
                        % (self.proj[k], self.topic, rules[k]))
                f.write("    batch: {size: %d, time_ms: 20}\n" % self.s["batch"])
                if k == "tally":
                    f.write("    on_error: %s\n" % self.s["tally_on_error"])

    def run(self, argv, timeout=120, check=True, stdin=None):
        try:
            r = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s did not finish in %d s" % (" ".join(argv[:3]), timeout))
        if check and r.returncode != 0:
            raise Failure("%s exited %d: %s" % (" ".join(argv[:3]), r.returncode,
                                                 (r.stderr.strip().splitlines() or [""])[-1]))
        return r

    def projector(self, *args, timeout=120, check=True):
        return self.run([self.a.projector_bin] + list(args), timeout=timeout, check=check)

    # --- workers ---------------------------------------------------------
    def start_worker(self, slot):
        w = self.workers.get(slot)
        if w and w["state"] in ("running", "stopped", "await-skip"):
            return
        logf = open(os.path.join(self.work, "worker%d.log" % slot), "a")
        log_start = logf.tell()
        proc = subprocess.Popen([self.a.projector_bin, "run", "-c", self.cfg]
                                + (["-v"] if os.environ.get("SF_FAULT_VERBOSE") == "1" else []),
                                stdout=logf, stderr=subprocess.STDOUT)
        self.workers[slot] = {"proc": proc, "log": logf, "state": "running",
                              "t0": time.monotonic(), "log_start": log_start}
        log("seed %d: worker %d started (pid %d)" % (self.seed, slot, proc.pid))

    def live(self):
        return sorted(s for s, w in self.workers.items() if w["state"] in ("running", "stopped"))

    def pick(self, slot):
        """The live worker the schedule's slot number lands on."""
        live = self.live()
        return live[slot % len(live)] if live else None

    def signal_worker(self, slot, sig, wait=True, expect=None):
        w = self.workers[slot]
        if w["state"] == "stopped" and sig != signal.SIGCONT:
            w["proc"].send_signal(signal.SIGCONT)
        w["proc"].send_signal(sig)
        if not wait:
            return None
        try:
            rc = w["proc"].wait(timeout=60)
        except subprocess.TimeoutExpired:
            w["proc"].kill()
            rc = w["proc"].wait()
            self.problems.append("worker %d did not exit within 60 s of %s" % (slot, sig.name))
        w["state"] = "dead"
        w["log"].close()
        if rc == 3 and self.s["tally_on_error"] == "stop":
            # it met a poison event before the signal landed: the operator's
            # job (or, if Redis is down now, the job of whoever starts it again)
            try:
                self.operator_skip(slot)
            except SkipLater:
                pass
        elif (expect is not None and rc == -sig and sig == signal.SIGTERM
              and 'msg="started"' not in open(w["log"].name, errors="replace").read()
              [w.get("log_start", 0):]):
            # signalled within its first moments, before it had set up its
            # handlers (no "started" line): it had done nothing yet
            self.note("sigterm-before-start")
        elif expect is not None and rc not in expect:
            self.problems.append("worker %d exited %d after %s (want %s)" % (slot, rc, sig.name, expect))
        return rc

    def supervise(self):
        """Handle workers that exited on their own (the operator's job)."""
        for slot, w in list(self.workers.items()):
            if w["state"] == "await-skip":
                try:
                    self.operator_skip(slot)
                except SkipLater:
                    continue
                w["state"] = "dead"
                self.start_worker(slot)
                continue
            if w["state"] != "running":
                continue
            rc = w["proc"].poll()
            if rc is None:
                continue
            if self.hold:
                # a worker stopping on the changed log: log_changed() judges it
                w["state"], w["rc"] = "exited", rc
                w["log"].close()
                continue
            w["state"] = "dead"
            w["log"].close()
            lines = open(w["log"].name, errors="replace").read().splitlines()
            with open(w["log"].name, errors="replace") as f:
                f.seek(w.get("log_start", 0))
                mine = f.read().splitlines()  # this incarnation's lines
            # before the on_error: stop handling: a worker of a seed with
            # on_error: stop may exit 3 for this reason too
            if rc == 3 and any(re.search(r"fenced for \d+ s by another owner", l)
                               for l in mine[-50:]):
                # documented (docs/lifecycle.md, FENCED): a worker fenced for
                # 60 s while the group still assigns it the partition exits
                # for its supervisor, which starts it again
                self.note("fenced-exit")
                log("seed %d: worker %d exited 3 after 60 s fenced; restarting it" % (self.seed, slot))
                self.start_worker(slot)
                continue
            if rc == 3 and self.s["tally_on_error"] == "stop":
                try:
                    self.operator_skip(slot)
                except SkipLater as e:
                    log("seed %d: skip failed (%s); again later" % (self.seed, e))
                    w["state"] = "await-skip"
                    continue
                self.start_worker(slot)
                continue
            tail = [l for l in lines if "Sanitizer" in l or "runtime error:" in l][:1] + lines[-3:]
            how = ("was killed by %s" % signal.Signals(-rc).name) if rc < 0 else "exited %d" % rc
            self.problems.append("worker %d %s unexpectedly: %s" % (slot, how, " | ".join(tail)))
            log("seed %d: worker %d exited %d unexpectedly; restarting it" % (self.seed, slot, rc))
            self.start_worker(slot)

    def operator_skip(self, slot):
        """on_error: stop: read the offset from the worker's last line, make
        sure the event really is poison, `skip` it, restart the worker."""
        text = open(self.workers[slot]["log"].name, errors="replace").read()
        m = None
        for m in re.finditer(r"projection (\S+): (\S+)/(\d+)/(\d+): ", text):
            pass
        if not m:
            raise Failure("worker %d exited 3 without naming topic/partition/offset" % slot)
        proj, topic, p, off = m.group(1), m.group(2), int(m.group(3)), int(m.group(4))
        short = [k for k, v in self.proj.items() if v == proj]
        rec = self.read_one(topic, p, off)
        d = self.cat.decode(rec) if rec is not None else None
        sku = d[1].get("sku") if d and d[0] == "shop.cart.ItemAddedToCart" else None
        is_poison = d is None or (short == ["tally"] and sku in ("POISON", "HALF"))
        if not is_poison:
            raise Failure("worker %d stopped on %s/%d/%d in %s, which is not a poison event (%s)"
                          % (slot, topic, p, off, proj, d[0] if d else "?"))
        # the stop line must say what of the event was applied
        why = text[m.end():].split("\n", 1)[0]
        want = {"POISON": "nothing of the event was applied",
                "HALF": HALF_REASON}.get(sku) if short == ["tally"] else None
        if want and want not in why:
            self.problems.append("worker %d stopped on %s/%d/%d without saying %r: %s"
                                 % (slot, topic, p, off, want, why[:300]))
        if (short[0], p, off) in self.skip_t:
            # Skipped already: fine for a worker that was running before the
            # skip (the partition moved to it while the operator reacted to
            # the first stop), a failure for one started after it.
            if self.workers[slot]["t0"] > self.skip_t[(short[0], p, off)]:
                raise Failure("worker %d, started after the operator's skip of %s/%d/%d, "
                              "stopped on it again" % (slot, topic, p, off))
            return
        r = self.projector("skip", "-c", self.cfg, proj, "-t", topic, "-p", str(p), "-o", str(off),
                           check=False)
        if r.returncode != 0:
            try:
                c = self.redis.cmd("GET", "sf:%s:ckpt:%s:%d" % (proj, topic, p))
            except Exception:
                c = None
            if c is None or int(c) < off:
                # Redis may be down at this moment (a fault in progress):
                # the operator tries again on the next round
                raise SkipLater((r.stderr.strip().splitlines() or [""])[-1])
            # refused as "already at or past": an earlier skip did survive
        self.skipped.setdefault(short[0], set()).add((p, off))
        self.skip_t[(short[0], p, off)] = time.monotonic()
        self.note("skip")
        log("seed %d: worker %d stopped on poison %d/%d of %s: skipped" % (self.seed, slot, p, off, proj))

    def read_one(self, topic, p, off):
        c = Consumer({"bootstrap.servers": self.a.brokers, "group.id": "fc-one-" + secrets.token_hex(4),
                      "logger": QUIET,
                      "enable.auto.commit": False, "isolation.level": "read_committed"})
        try:
            c.assign([TopicPartition(topic, p, off)])
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                m = c.poll(1.0)
                if m is not None and not m.error() and m.offset() == off:
                    return m.value()
            return None
        finally:
            c.close()

    def sleep(self, s):
        end = time.monotonic() + s
        while True:
            self.supervise()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(0.2, left))

    # --- inputs ----------------------------------------------------------
    def publish(self, a):
        lines = "".join(json.dumps(e) + "\n" for e in a["events"])
        argv = [self.a.publish_bin, "-b", self.a.brokers, "-t", self.topic, "-s",
                os.path.join(self.a.source, "schemas", "domains"), "--aggregate-type", "cart",
                "-X", "partitioner=murmur2_random"]
        if a["txn"]:
            argv += ["--transactional"]
        for attempt in range(3):
            r = self.run(argv, stdin=lines, timeout=120, check=False)
            if r.returncode == 0:
                return
            if a["txn"]:
                # all or nothing: a failed transaction can be sent again
                log("seed %d: transactional publish failed (%s); again"
                    % (self.seed, r.stderr.strip().splitlines()[-1:]))
                self.sleep(2)
                continue
            # plain publish: some events may be in the log already; sending
            # again would duplicate them.  The fold reads what is there, so
            # it stays correct; just say so.
            log("seed %d: publish failed part-way (%s); the fold uses what reached the log"
                % (self.seed, r.stderr.strip().splitlines()[-1:]))
            return
        raise Failure("transactional publish failed 3 times")

    def producer(self, extra=None):
        conf = {"bootstrap.servers": self.a.brokers, "enable.idempotence": True,
                "logger": QUIET,
                "acks": "all", "partitioner": "murmur2_random"}
        conf.update(extra or {})
        return Producer(conf)

    def encode(self, e):
        name = e["type"].rsplit(".", 1)[1]
        f = sorted(glob.glob(os.path.join(self.a.source, "schemas", "domains", "cart", name + ".v*.avsc")))[-1]
        s = fastavro.parse_schema(json.load(open(f)))
        fp = bytes.fromhex(fingerprint(to_parsing_canonical_form(s), "CRC-64-AVRO"))
        b = io.BytesIO()
        fastavro.schemaless_writer(b, s, e["data"])
        return b"\xc3\x01" + fp + b.getvalue()

    def headers(self, e):
        return [("ce_specversion", b"1.0"), ("ce_id", e["event_id"].encode()),
                ("ce_source", b"fault-campaign"), ("ce_type", e["type"].encode()),
                ("ce_time", b"2027-01-01T00:00:00Z"), ("ce_subject", e["aggregate_id"].encode()),
                ("content-type", b"application/avro"), ("ce_aggregatetype", b"cart"),
                ("ce_sequence", b"1")]

    def poison_bytes(self, a):
        value = {"garbage": b"not avro at all \x00\xff",
                 "unknown-fingerprint": b"\xc3\x01" + b"\x13" * 8 + b"\x02",
                 "truncated": None}[a["bytes"]]
        if value is None:
            e = {"type": "shop.cart.ItemAddedToCart", "aggregate_id": a["key"], "event_id": str(uuid.UUID(int=1)),
                 "data": {"cart_id": a["key"], "sku": "A", "quantity": 1, "unit_price_cents": 1,
                          "added_at": BASE_MS, "currency": "EUR"}}
            value = self.encode(e)[:12]
        p = self.producer()
        errs = []
        p.produce(self.topic, value=value, key=a["key"].encode(),
                  on_delivery=lambda err, m: err and errs.append(err))
        if p.flush(30) or errs:
            raise Failure("could not publish the poison record: %s" % errs)

    def txn_abort(self, a):
        p = self.producer({"transactional.id": "fc-abort-" + secrets.token_hex(4)})
        p.init_transactions(30)
        p.begin_transaction()
        for e in a["events"]:
            p.produce(self.topic, value=self.encode(e), key=e["aggregate_id"].encode(),
                      headers=self.headers(e))
        p.flush(30)
        p.abort_transaction(30)

    # --- Redis and Kafka faults -----------------------------------------
    def stack_up(self):
        """Start what is down.  On a loaded box a broker may need more than
        stack.sh's 90 s to answer after a restart: the operator tries
        again (twice) before the seed fails; each retry is counted."""
        env = dict(os.environ, SF_STATE_DIR=self.a.state)
        for attempt in range(3):
            r = subprocess.run([os.path.join(self.a.source, "deploy", "stack.sh"), "up"],
                               env=env, capture_output=True, text=True, timeout=300)
            if r.returncode == 0:
                break
            log("seed %d: stack.sh up failed (%s)%s" % (
                self.seed, r.stderr.strip().splitlines()[-1:], "; again" if attempt < 2 else ""))
            self.note("stack-up-retry")
        else:
            raise Failure("stack.sh up failed 3 times: %s" % r.stderr.strip().splitlines()[-1:])
        self.redis.close()

    def stack_alive(self):
        try:
            os.kill(int(open(os.path.join(self.a.state, "kafka-1", "pid")).read()), 0)
            return self.redis.cmd("PING") == "PONG"
        except (OSError, ValueError, RuntimeError, ConnectionError):
            return False

    def redis_pid(self):
        return int(open(os.path.join(self.a.state, "redis", "pid")).read())

    def aof_incr(self):
        d = os.path.join(self.a.state, "redis", "appendonlydir")
        man = [f for f in os.listdir(d) if f.endswith(".manifest")][0]
        for line in open(os.path.join(d, man)):
            if "type i" in line:
                return os.path.join(d, line.split()[1])
        raise Failure("no incremental AOF file in the manifest")

    def kill_redis(self, sig):
        pid = self.redis_pid()
        os.kill(pid, sig)
        for _ in range(300):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise Failure("redis (pid %d) did not exit" % pid)

    def forget_skips_after(self, t0):
        """Skips that Redis may have lost: a worker may stop on those events
        again, and the operator skips them again (they stay in `skipped`,
        the record of what the operator excluded)."""
        for key, t in list(self.skip_t.items()):
            if t > t0:
                del self.skip_t[key]

    def redis_mark(self):
        # Everything Redis accepted so far is in the AOF file (written before
        # the reply; fsync only decides what a HOST crash keeps).  The mark is
        # the file and its size now: rollback truncates back to it.
        f = self.aof_incr()
        self.mark = (f, os.path.getsize(f), time.monotonic())

    def redis_rollback(self, a):
        if not self.mark:
            return
        f, size, t_mark = self.mark
        self.kill_redis(signal.SIGKILL)
        # the operator's skips after the mark were Redis writes too: lost;
        # a worker may stop on those events again and is skipped again
        self.forget_skips_after(t_mark)
        if self.aof_incr() != f:
            self.problems.append("campaign: AOF was rewritten between mark and rollback; "
                                 "rolled back nothing")
        else:
            lost = os.path.getsize(f) - size
            os.truncate(f, size)
            log("seed %d: redis rolled back: %d bytes of AOF (the writes after the mark) lost"
                % (self.seed, lost))
            self.note("redis-rollback-bytes-lost>0" if lost > 0 else "redis-rollback-nothing-lost")
        self.mark = None
        try:
            self.sleep(a["down"])
        finally:
            self.stack_up()

    # --- the log changes under the workers ------------------------------
    def log_marks(self):
        """Wait until every projection has recorded the topic's identity and
        applied something (a worker that first meets the topic after the
        change rightly takes the changed log as its own), then note where
        each worker's log ends now: its lines from here on are the ones
        about the change."""
        deadline = time.monotonic() + 60
        while True:
            rec = {}
            for k, proj in self.proj.items():
                try:
                    rec[k] = (self.redis.cmd("HGET", "sf:%s:topic:%s" % (proj, self.topic), "id"),
                              self.redis.scan("sf:%s:ckpt:%s:*" % (proj, self.topic)))
                except Exception:
                    rec[k] = (None, [])
            if all(i and c for i, c in rec.values()):
                break
            if time.monotonic() > deadline:
                raise Failure("before changing the log: not every projection recorded the "
                              "topic's identity and a checkpoint within 60 s: %s" % rec)
            self.sleep(0.3)
        self.hold = True
        self.log_pos = {slot: os.path.getsize(w["log"].name) for slot, w in self.workers.items()}

    def topic_recreate(self, a):
        """Delete the topic and create it again under the same name (a new
        topic id) while the workers run; the next action publishes to it."""
        self.log_marks()
        admin = AdminClient({"bootstrap.servers": self.a.brokers, "logger": QUIET})
        admin.delete_topics([self.topic], operation_timeout=30)[self.topic].result(60)
        deadline = time.monotonic() + 60
        while self.topic in admin.list_topics(timeout=10).topics:
            if time.monotonic() > deadline:
                raise Failure("topic %s still listed 60 s after its deletion" % self.topic)
            self.sleep(0.3)
        while True:
            # the broker may still be removing the old one's partitions
            try:
                admin.create_topics([NewTopic(self.topic, a["partitions"], 1, config=TOPIC_CONFIG)]
                                    )[self.topic].result(60)
                break
            except KafkaException as e:
                if time.monotonic() > deadline:
                    raise Failure("could not create %s again: %s" % (self.topic, e))
                self.sleep(0.5)
        log("seed %d: topic %s deleted and created again" % (self.seed, self.topic))

    def add_partitions(self, a):
        """CreatePartitions (what kafka-topics --alter --partitions sends)."""
        self.log_marks()
        admin = AdminClient({"bootstrap.servers": self.a.brokers, "logger": QUIET})
        admin.create_partitions([NewPartitions(self.topic, a["partitions"])],
                                operation_timeout=30)[self.topic].result(60)
        # the next publish must hash with the new count (its aggregates are
        # new, so none spans two partitions): wait until the broker says so
        deadline = time.monotonic() + 60
        while len(admin.list_topics(self.topic, timeout=10).topics[self.topic].partitions) \
                != a["partitions"]:
            if time.monotonic() > deadline:
                raise Failure("the broker does not show %d partitions 60 s after adding them"
                              % a["partitions"])
            self.sleep(0.2)
        log("seed %d: topic %s now has %d partitions" % (self.seed, self.topic, a["partitions"]))
        self.nparts = a["partitions"]

    def dlq_ends(self):
        """The high watermark of each partition of the dead-letter topic."""
        c = Consumer({"bootstrap.servers": self.a.brokers, "group.id": "fc-dlq-" + secrets.token_hex(4),
                      "logger": QUIET, "enable.auto.commit": False})
        try:
            md = c.list_topics(self.topic + ".dlq", timeout=20).topics[self.topic + ".dlq"]
            if md.error:
                return {}
            return {p: c.get_watermark_offsets(TopicPartition(self.topic + ".dlq", p),
                                               timeout=20)[1] for p in md.partitions}
        finally:
            c.close()

    def log_changed(self, a):
        """The documented outcome of a recreated topic or of partitions
        added (docs/running-log.md, docs/lifecycle.md): every worker stops
        (exit status 3) with one line naming the change and the remedy;
        with added partitions `rebuild` and `journey` refuse as well.  Then
        the operator's remedy: rebuild every projection from the topic as
        it is now (--accept-partitions: from here on only new aggregates
        get events), start the workers again.  The seed's final comparison
        checks the views against the fold of the log as it is now."""
        what = a["what"]
        # a recreated topic is named by its identity record, or, when the
        # worker's metadata still showed the old topic id as the partition
        # came to it, by the checkpoint lying past the new log's end
        lines = {"recreated": ["is not the log its checkpoints belong to",
                               "outside the partition's offsets"],
                 "partitions": ["partitions when the projection first read it and has %d now"
                                % self.nparts]}[what]
        deadline = time.monotonic() + 90
        while True:
            self.supervise()
            running = [s for s, w in self.workers.items() if w["state"] in ("running", "stopped")]
            if not running:
                break
            if time.monotonic() > deadline:
                self.problems.append(
                    "worker(s) %s still running 90 s after the topic was %s: the log "
                    "changed under them and they did not stop" % (running, what))
                for slot in running:
                    self.signal_worker(slot, signal.SIGTERM)
                break
            time.sleep(0.3)
        for slot, w in sorted(self.workers.items()):
            if w["state"] != "exited":
                continue
            text = open(w["log"].name, errors="replace").read()[self.log_pos.get(slot, 0):]
            if w["rc"] != 3 or not any(line in text for line in lines):
                self.problems.append("worker %d exited %d after the topic was %s, want 3 and a "
                                     "line with %s; its last line: %s" % (
                                         slot, w["rc"], what, " or ".join(map(repr, lines)),
                                         (text.strip().splitlines() or [""])[-1][:300]))
            w["state"] = "dead"
        for k in ("cart", "avail", "tally"):
            self.wait_group_empty("sf-" + self.proj[k])
        if what == "partitions":
            r = self.projector("rebuild", "-c", self.cfg, self.proj["cart"], check=False)
            if r.returncode == 0 or "--accept-partitions" not in r.stderr:
                self.problems.append("rebuild after partitions were added: exit %d, want a "
                                     "refusal naming --accept-partitions: %s" % (
                                         r.returncode, r.stderr.strip()[-300:]))
            r = self.projector("journey", "-c", self.cfg, "-t", self.topic, a["journey"],
                               check=False)
            if r.returncode == 0 or "partitions" not in r.stderr:
                self.problems.append("journey after partitions were added: exit %d, want a "
                                     "refusal naming the partition count: %s" % (
                                         r.returncode, r.stderr.strip()[-300:]))
        else:
            # the old topic's dead letters and skips are not this log's
            self.dlq_floor = self.dlq_ends()
            self.skipped, self.skip_t = {}, {}
        for k in ("cart", "avail", "tally"):
            argv = ["rebuild", "-c", self.cfg, self.proj[k]]
            if what == "partitions":
                argv.append("--accept-partitions")
            r = self.projector(*argv, timeout=180, check=False)
            with open(os.path.join(self.work, "rebuild.log"), "a") as f:
                f.write("--- %s\n%s" % (" ".join(argv), r.stderr))
            if r.returncode != 0:
                raise Failure("the operator's %s exited %d: %s" % (
                    " ".join(argv[:1] + argv[3:]), r.returncode,
                    (r.stderr.strip().splitlines() or [""])[-1]))
        self.hold = False
        for slot in range(self.s["workers"]):
            self.start_worker(slot)

    def broker_restart(self, a):
        pidf = os.path.join(self.a.state, "kafka-1", "pid")
        pid = int(open(pidf).read())
        os.kill(pid, signal.SIGTERM)
        for _ in range(600):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            self.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        try:
            self.sleep(a["down"])
        finally:
            self.stack_up()

    # --- the schedule ----------------------------------------------------
    def act(self, a):
        do = a["do"]
        if do != "publish":
            log("seed %d: %s" % (self.seed, json.dumps({k: v for k, v in a.items() if k != "events"})))
        if do == "publish":
            self.publish(a)
        elif do == "poison-bytes":
            self.poison_bytes(a)
        elif do == "txn-abort":
            self.txn_abort(a)
        elif do == "sleep":
            self.sleep(a["s"])
        elif do in ("kill9", "sigstop", "sigterm", "leave"):
            slot = self.pick(a["worker"])
            if slot is None or (do == "leave" and len(self.live()) < 2):
                self.start_worker(len(self.workers))
                return
            self.sleep(a.get("after", 0))
            if self.workers[slot]["state"] not in ("running", "stopped"):
                return
            if do == "kill9":
                self.signal_worker(slot, signal.SIGKILL)
                self.sleep(a["restart_after"])
                self.start_worker(slot)
            elif do == "sigterm":
                self.signal_worker(slot, signal.SIGTERM, expect=(0,))
                self.sleep(a["restart_after"])
                self.start_worker(slot)
            elif do == "leave":
                self.signal_worker(slot, signal.SIGTERM, expect=(0,))
            else:
                w = self.workers[slot]
                w["proc"].send_signal(signal.SIGSTOP)
                w["state"] = "stopped"
                self.sleep(SESSION_TIMEOUT_MS / 1000.0 + 2)
                w["proc"].send_signal(signal.SIGCONT)
                w["state"] = "running"
        elif do == "join":
            if len(self.live()) >= 3:
                slot = self.pick(a["worker"])
                self.signal_worker(slot, signal.SIGTERM, expect=(0,))
            else:
                self.start_worker(len(self.workers))
        elif do == "redis-restart":
            try:
                self.redis.cmd("SHUTDOWN")
            except Exception:
                pass
            self.redis.close()
            try:
                self.sleep(a["down"])
            finally:
                self.stack_up()
        elif do == "redis-kill9":
            self.kill_redis(signal.SIGKILL)
            # everysec may have postponed the last write() (up to 2 s while
            # a background fsync runs) after replying: a skip of the last
            # seconds may be gone; the operator will skip again
            self.forget_skips_after(time.monotonic() - 5)
            try:
                self.sleep(a["down"])
            finally:
                self.stack_up()
        elif do == "redis-mark":
            self.redis_mark()
        elif do == "redis-rollback":
            self.redis_rollback(a)
        elif do == "broker-restart":
            self.broker_restart(a)
        elif do == "rebuild":
            self.sleep(a["after"])
            r = self.projector("rebuild", "--in-place", "-c", self.cfg, self.proj[a["proj"]], "--force",
                               timeout=180, check=False)
            if r.returncode != 0:
                self.problems.append("rebuild --force of %s exited %d: %s" % (
                    a["proj"], r.returncode, (r.stderr.strip().splitlines() or [""])[-1]))
        elif do == "rebuild-join":
            for slot in self.live():
                self.signal_worker(slot, signal.SIGTERM, expect=(0,))
            self.wait_group_empty("sf-" + self.proj[a["proj"]])
            rlog = os.path.join(self.work, "rebuild.log")
            with open(rlog, "a") as f:
                f.write("--- rebuild-join\n")
            proc = subprocess.Popen([self.a.projector_bin, "rebuild", "-v", "-c", self.cfg,
                                     self.proj[a["proj"]]], stdout=subprocess.DEVNULL,
                                    stderr=open(rlog, "a"))
            # Join in the window that matters: after the rebuild's check
            # that the group is empty (its debug line "rebuild: N
            # partitions" follows that check), while it fences and clears.
            # Without that line within 30 s, join anyway.
            t = time.monotonic()
            while time.monotonic() - t < 30 and proc.poll() is None:
                if re.search(r"rebuild: \d+ partitions", open(rlog, errors="replace").read()
                             .rsplit("--- rebuild-join", 1)[-1]):
                    break
                time.sleep(0.02)
            self.sleep(a["join_after"])
            self.start_worker(0)
            try:
                rc = proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise Failure("rebuild did not finish in 180 s")
            if rc != 0:
                # refused (a member still in the group) is not the product's
                # fault; say it, the run goes on
                log("seed %d: rebuild exited %d: %s" % (self.seed, rc, open(
                    os.path.join(self.work, "rebuild.log")).read().strip().splitlines()[-1:]))
                self.note("rebuild-refused")
            for slot in range(1, self.s["workers"]):
                self.start_worker(slot)
        elif do == "topic-recreate":
            self.topic_recreate(a)
        elif do == "add-partitions":
            self.add_partitions(a)
        elif do == "log-changed":
            self.log_changed(a)
        elif do == "pause":
            self.projector("pause", "-c", self.cfg, self.proj[a["proj"]])
        elif do == "resume":
            self.sleep(a["after"])
            self.projector("resume", "-c", self.cfg, self.proj[a["proj"]])
        else:
            raise Failure("unknown action %s" % do)

    def wait_group_empty(self, group, timeout=30):
        """Workers stopped with SIGTERM leave their groups, but a member
        whose join was still pending (or one restored by a restarted
        coordinator) stays until its session times out: wait for that, so
        the rebuild does not just refuse."""
        admin = AdminClient({"bootstrap.servers": self.a.brokers, "logger": QUIET})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                d = admin.describe_consumer_groups([group])[group].result(10)
                if not d.members:
                    return
            except Exception:
                pass
            time.sleep(0.5)

    def wait_caught_up(self, last, poison):
        """Every partition's checkpoint at its last data offset, in all three
        projections.  Returns the seconds it took."""
        t = time.monotonic()
        deadline = t + self.a.catchup_timeout
        while True:
            self.supervise()
            behind = []
            for k, proj in self.proj.items():
                for p, off in last.items():
                    try:
                        c = self.redis.cmd("GET", "sf:%s:ckpt:%s:%d" % (proj, self.topic, p))
                    except Exception:
                        c = None
                    if c is None or int(c) < off:
                        behind.append("%s/%d at %s of %d" % (k, p, c, off))
            if not behind:
                return time.monotonic() - t
            if time.monotonic() > deadline:
                hints = []
                for slot, w in sorted(self.workers.items()):
                    bad = [l for l in open(w["log"].name, errors="replace")
                           if ("level=warn" in l or "level=error" in l)
                           and "component=kafka" not in l]
                    # the Redis outage's retries say little; the last other one
                    other = [l for l in bad if "redis apply failed" not in l] or bad
                    if bad:
                        hints.append("worker %d (%d warn/error lines), last: %s"
                                     % (slot, len(bad), other[-1].strip()[:300]))
                raise Failure("not caught up after %d s: %s%s" % (
                    self.a.catchup_timeout, ", ".join(behind[:6]),
                    "".join("\n    " + h for h in hints)))
            time.sleep(0.3)

    def execute(self):
        self.cat = Catalog(os.path.join(self.a.source, "schemas", "domains"))
        if not self.stack_alive():
            log("seed %d: the private stack is not all up (a failed seed?): starting it" % self.seed)
            self.stack_up()
        self.redis.cmd("FLUSHALL")
        admin = AdminClient({"bootstrap.servers": self.a.brokers, "logger": QUIET})
        admin.create_topics([NewTopic(self.topic, PARTITIONS, 1, config=TOPIC_CONFIG)]
                            )[self.topic].result(60)
        self.write_config()
        for slot in range(self.s["workers"]):
            self.start_worker(slot)
        for a in self.s["actions"]:
            self.supervise()
            self.act(a)
        # the end: every worker back, nothing paused, all caught up
        for slot, w in self.workers.items():
            if w["state"] == "stopped":
                w["proc"].send_signal(signal.SIGCONT)
                w["state"] = "running"
        if not self.live():
            self.start_worker(0)
        recs = read_topic(self.a.brokers, self.topic)
        _, poison, last = fold(recs, self.cat, {})
        took = self.wait_caught_up(last, poison)
        log("seed %d: caught up %.1f s after the schedule ended" % (self.seed, took))
        self.compare(recs)
        self.sanitizer_reports()

    def sanitizer_reports(self):
        """A worker built with ASan/UBSan (SF_PROJECTOR_BIN) reports memory
        and undefined-behaviour errors in its log; UBSan goes on running."""
        for slot, w in sorted(self.workers.items()):
            for line in open(w["log"].name, errors="replace"):
                if "ERROR: AddressSanitizer" in line or "runtime error:" in line \
                        or "ERROR: LeakSanitizer" in line:
                    self.problems.append("worker %d: %s" % (slot, line.strip()[:300]))
                    break

    def compare(self, recs):
        half = set()
        exp, poison, _ = fold(recs, self.cat, self.skipped, half)
        pats = {"cart": "cart:*", "avail": "product:*", "tally": "tally:*"}
        diffs = []
        for k in ("cart", "avail", "tally"):
            got = {key: self.redis.value(key) for key in self.redis.scan(pats[k])}
            for key in sorted(set(got) | set(exp[k])):
                if got.get(key) != exp[k].get(key):
                    diffs.append("%s: key %s: expected %s, got %s" % (
                        k, key, json.dumps(exp[k].get(key), sort_keys=True),
                        json.dumps(got.get(key), sort_keys=True)))
        # poison: dead-lettered (dlq projections) or skipped by the operator
        dlq = read_topic(self.a.brokers, self.topic + ".dlq")
        seen = {}
        for dp, rows in dlq.items():
            for doff, _, _, h in rows:
                if doff < self.dlq_floor.get(dp, 0):
                    continue  # a dead letter of the topic before it was recreated
                try:
                    po = (int(h["sf_dlq_partition"]), int(h["sf_dlq_offset"]))
                except (KeyError, ValueError):
                    diffs.append("dlq: a dead letter without sf_dlq_partition/offset: %s" % h)
                    continue
                seen.setdefault(h.get("sf_dlq_projection"), set()).add(po)
                if h.get("sf_dlq_projection") != self.proj["tally"] or po not in poison["tally"]:
                    continue
                # the reason says what of the event was applied
                why = h.get("sf_dlq_reason", "")
                want = HALF_REASON if po in half else (
                    "nothing of the event was applied" if po not in poison["cart"] else None)
                if want and want not in why:
                    diffs.append("tally: dead letter of %d/%d: reason without %r: %s"
                                 % (po[0], po[1], want, why[:300]))
        for k, proj in self.proj.items():
            if k == "tally" and self.s["tally_on_error"] == "stop":
                miss = poison[k] - self.skipped.get(k, set())
                extra = seen.get(proj, set())
            else:
                miss = poison[k] - seen.get(proj, set())
                extra = seen.get(proj, set()) - poison[k]
            for p, off in sorted(miss):
                diffs.append("%s: poison event %d/%d neither dead-lettered nor skipped" % (k, p, off))
            for p, off in sorted(extra):
                diffs.append("%s: event %d/%d dead-lettered but it is not poison" % (k, p, off))
        # the fold (like every per-partition fold) is exact only while each
        # aggregate's events sit in one partition; say so if the schedule
        # broke that (it must not: after partitions are added only new
        # aggregates get events)
        where = {}
        for p, rows in recs.items():
            for _, key, _, _ in rows:
                if key:
                    where.setdefault(key.decode(errors="replace"), set()).add(p)
        split = sorted((k, sorted(v)) for k, v in where.items() if len(v) > 1)
        if split:
            diffs.insert(0, "campaign: aggregates with events in several partitions "
                         "(per-key order lost, the fold cannot be exact): %s" % split[:5])
        n = sum(len(r) for r in recs.values())
        npois = len(poison["cart"]) + len(poison["tally"] - poison["cart"])
        log("seed %d: %d records read back (read_committed), %d poison, %d view keys compared"
            % (self.seed, n, npois, sum(len(v) for v in exp.values())))
        if diffs:
            raise Failure("%d difference(s); first: %s%s" % (
                len(diffs), diffs[0], "".join("\n    " + d for d in diffs[1:8])))

    def cleanup(self, ok):
        for slot, w in self.workers.items():
            if w["state"] in ("running", "stopped"):
                try:
                    self.signal_worker(slot, signal.SIGTERM, expect=(0,) if ok else None)
                except Failure as e:
                    self.problems.append(str(e))
        self.redis.close()
        try:
            admin = AdminClient({"bootstrap.servers": self.a.brokers, "logger": QUIET})
            for f in admin.delete_topics([self.topic, self.topic + ".dlq"],
                                         operation_timeout=10).values():
                try:
                    f.result(20)
                except Exception:
                    pass
        except Exception:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", required=True, help="e.g. 1-20 or 7,12,40")
    ap.add_argument("--faults", default=",".join(ALL_FAULTS))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--redis-port", type=int, required=True)
    ap.add_argument("--state", required=True, help="SF_STATE_DIR of the private stack")
    ap.add_argument("--source", required=True)
    ap.add_argument("--projector-bin", required=True)
    ap.add_argument("--publish-bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--catchup-timeout", type=int, default=90)
    ap.add_argument("--keep-going", action="store_true")
    ap.add_argument("--print-schedule", action="store_true")
    a = ap.parse_args()
    seeds = []
    try:
        for part in a.seeds.split(","):
            lo, _, hi = part.partition("-")
            seeds += list(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        print("campaign: bad seed list '%s' (want e.g. 1-20 or 7,12,40)" % a.seeds, file=sys.stderr)
        return 2
    faults = [f.strip() for f in a.faults.split(",") if f.strip()]
    bad = [f for f in faults if f not in ALL_FAULTS]
    if bad:
        print("campaign: unknown fault kind(s) %s; known: %s" % (",".join(bad), ",".join(ALL_FAULTS)),
              file=sys.stderr)
        return 2
    if a.print_schedule:
        for s in seeds:
            print(json.dumps(make_schedule(s, faults, a.steps), indent=1))
        return 0
    # SIGTERM (an operator stopping a long run) unwinds like ^C, so that
    # the seed's cleanup stops its workers: left running against the
    # stack the shell script takes down, they were orphans spinning in
    # librdkafka's reconnects
    def _interrupted(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, _interrupted)
    totals, failed, t_all = {}, [], time.monotonic()
    for s in seeds:
        sched = make_schedule(s, faults, a.steps)
        run = Seed(a, sched)
        t = time.monotonic()
        ok = False
        try:
            run.execute()
            if run.problems:
                raise Failure("; ".join(run.problems))
            ok = True
        except Exception as e:
            if not isinstance(e, Failure):
                # the campaign itself broke (or the stack): still a failed seed
                import traceback
                traceback.print_exc()
                e = Failure("%s: %s" % (type(e).__name__, e))
            failed.append((s, str(e)))
            print("campaign: seed %d FAILED: %s\n  replay: tests/fault/campaign.sh --seed %d%s%s"
                  % (s, e, s, "" if a.faults == ",".join(ALL_FAULTS) else " --faults " + a.faults,
                     " --steps %d" % a.steps),
                  file=sys.stderr, flush=True)
        finally:
            run.cleanup(ok)
        for k, v in count_faults(sched).items():
            totals[k] = totals.get(k, 0) + v
        for k, v in run.counts.items():
            totals[k] = totals.get(k, 0) + v
        c = dict(count_faults(sched))
        c.update(run.counts)
        print("seed %d (%s): %s in %.1f s; %s" % (s, sched["featured"], "ok" if ok else "FAILED",
                                                  time.monotonic() - t,
                                              " ".join("%s=%d" % kv for kv in sorted(c.items()))),
              flush=True)
        if not ok and not a.keep_going:
            break
    print("campaign: %d seed(s) run (%s), %d failed, %.0f s" % (
        len(seeds) if a.keep_going or not failed else seeds.index(failed[0][0]) + 1,
        a.seeds, len(failed), time.monotonic() - t_all))
    print("campaign: faults injected: " + " ".join("%s=%d" % kv for kv in sorted(totals.items())))
    for s, e in failed:
        print("campaign: FAILED seed %d: %s" % (s, e.splitlines()[0]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
