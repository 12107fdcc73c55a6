#!/usr/bin/env python3
"""Publish -> visible latency of a projector, on one clock.

The publisher sends CartOpened events for fresh carts (one event per cart,
so the first change of key cart:<id> in Redis is that event's effect) at a
fixed rate, noting CLOCK_MONOTONIC just before each produce().  A listener
process subscribed to Redis keyspace notifications for those keys notes
CLOCK_MONOTONIC when each key first changes.  Both read the same system-wide
monotonic clock, so latency = seen - published needs no clock sync.  The
listener is a separate process so that the publisher's work never delays
its reads (and the other way round).

The Redis server must have notify-keyspace-events including K and h (the
benchmark's private server is started with "Kh").

Prints "latency events=N seen=M p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.."
and, with --samples FILE, writes the latencies (ms, one a line) for a CDF.
"""
import argparse
import io
import json
import multiprocessing
import os
import struct
import sys
import time
import uuid

import fastavro
import fastavro.schema
import redis
from confluent_kafka import Producer


def listen(host, port, pattern, n, ready, out_q, deadline_s):
    r = redis.Redis(host=host, port=port)
    ps = r.pubsub(ignore_subscribe_messages=True)
    ps.psubscribe("__keyspace@0__:" + pattern)
    ready.set()
    seen = {}
    end = time.monotonic() + deadline_s
    skip = len("__keyspace@0__:cart:")
    while len(seen) < n and time.monotonic() < end:
        m = ps.get_message(timeout=0.5)
        if m is None:
            continue
        t = time.monotonic_ns()
        key = m["channel"][skip:].decode()
        if key not in seen:
            seen[key] = t
    out_q.put(seen)


def cart_opened(schema, fp, cart):
    """A CartOpened event's value: the single-object encoding's marker and
    fingerprint, then the Avro binary body."""
    buf = io.BytesIO()
    buf.write(b"\xc3\x01" + fp)
    fastavro.schemaless_writer(buf, schema, {
        "cart_id": cart, "customer_id": "u",
        "opened_at": int(time.time() * 1000)})
    return buf.getvalue()


def ce_headers(cart):
    return [("ce_specversion", b"1.0"),
            ("ce_id", str(uuid.uuid4()).encode()),
            ("ce_source", b"/bench/latency"),
            ("ce_type", b"shop.cart.CartOpened"),
            ("ce_time", time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                      time.gmtime()).encode()),
            ("ce_subject", cart.encode()),
            ("content-type", b"application/avro"),
            ("ce_aggregatetype", b"cart"),
            ("ce_sequence", b"1")]


def percentile(xs, q):
    if not xs:
        return float("nan")
    i = min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))
    return xs[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--redis", default="127.0.0.1:6379")
    ap.add_argument("--prefix", required=True, help="cart id prefix")
    ap.add_argument("--rate", type=float, default=5000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--samples")
    args = ap.parse_args()
    host, port = args.redis.rsplit(":", 1)
    port = int(port)

    path = os.path.join(args.schemas, "cart", "CartOpened.v1.avsc")
    with open(path) as f:
        schema = fastavro.parse_schema(json.load(f))
    fp = bytes.fromhex(fastavro.schema.fingerprint(
        fastavro.schema.to_parsing_canonical_form(schema), "CRC-64-AVRO"))
    n = int(args.rate * args.seconds)

    ready = multiprocessing.Event()
    q = multiprocessing.Queue()
    lp = multiprocessing.Process(
        target=listen, args=(host, port, "cart:" + args.prefix + "-*", n, ready, q,
                             args.seconds + 60))
    lp.start()
    ready.wait(10)

    p = Producer({"bootstrap.servers": args.brokers,
                  "enable.idempotence": True, "acks": "all",
                  "linger.ms": 1})
    # The producer's start (metadata, its producer id, a connection per
    # broker) is not the projector's latency: one valid event to every
    # partition, for a cart no listener pattern matches, delivered before
    # the clock starts.
    parts = p.list_topics(args.topic, timeout=30).topics[args.topic].partitions
    for part in parts:
        cart = "warm~%s-%d" % (args.prefix, part)
        p.produce(args.topic, key=cart.encode(), partition=part,
                  value=cart_opened(schema, fp, cart),
                  headers=ce_headers(cart))
    if p.flush(30):
        print("latency: the producer's warm-up events were not delivered",
              file=sys.stderr)
        return 1
    # Every record built before the clock starts, so that the publisher's
    # own CPU per event (Python, on the same cores as the projector) is a
    # produce() call and little else.
    msgs = []
    for i in range(n):
        cart = "%s-%d" % (args.prefix, i)
        msgs.append((cart, cart.encode(), cart_opened(schema, fp, cart),
                     ce_headers(cart)))
    sent = {}
    t_start = time.monotonic()
    for i, (cart, key, value, hdrs) in enumerate(msgs):
        due = t_start + i / args.rate
        while True:
            now = time.monotonic()
            if now >= due:
                break
            time.sleep(min(due - now, 0.001))
        sent[cart] = time.monotonic_ns()
        p.produce(args.topic, key=key, value=value, headers=hdrs)
        p.poll(0)
    p.flush(30)
    seen = q.get()
    lp.join()
    lat = sorted((seen[k] - sent[k]) / 1e6 for k in seen if k in sent)
    if args.samples:
        with open(args.samples, "w") as f:
            f.write("\n".join("%.3f" % x for x in lat) + "\n")
    print("latency events=%d seen=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f "
          "max_ms=%.2f" % (n, len(lat), percentile(lat, 0.5),
                           percentile(lat, 0.9), percentile(lat, 0.99),
                           lat[-1] if lat else float("nan")))
    return 0 if len(lat) == n else 1


if __name__ == "__main__":
    sys.exit(main())
