#!/usr/bin/env python3
"""The cart-contents projection written the way a competent Python user
would write it, as the benchmark's yardstick for sf-projector.

confluent-kafka consumes (assign from the checkpoint, read_committed),
fastavro decodes the Avro single-object value (writer schema looked up by
its CRC-64-AVRO fingerprint), redis-py applies each batch of view writes
together with the per-partition checkpoints in one MULTI/EXEC, so a crash
never applies an event twice or skips one: the same guarantee the C
projector gives, without its fencing, dead-letter queue or metrics.

The view is projector/examples/cart-contents.rules.yaml:
  CartOpened / CartCheckedOut  -> HSET cart:<id> status open|checked_out
  ItemAddedToCart / Removed    -> HINCRBY cart:<id>:items <sku> +-quantity

Modes:
  --until-end   stop when every partition reached the high watermark it
                had at start (a rebuild from zero, or a backlog catch-up);
                prints "pyproj events=N seconds=S rate=R"
  (default)     run until SIGTERM/SIGINT (the live path)
"""
import argparse
import glob
import io
import json
import os
import signal
import sys
import time

import fastavro
import fastavro.schema
import redis
from confluent_kafka import Consumer, TopicPartition


def load_schemas(root):
    by_fp = {}
    for path in glob.glob(os.path.join(root, "**", "*.avsc"), recursive=True):
        with open(path) as f:
            parsed = fastavro.parse_schema(json.load(f))
        fp = fastavro.schema.fingerprint(
            fastavro.schema.to_parsing_canonical_form(parsed), "CRC-64-AVRO")
        by_fp[bytes.fromhex(fp)] = parsed
    return by_fp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--redis", default="127.0.0.1:6379")
    ap.add_argument("--name", required=True, help="projection name "
                    "(checkpoint key pyproj:<name>:ckpt)")
    ap.add_argument("--until-end", action="store_true")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--window-ms", type=float, default=5.0,
                    help="how long a poll waits for a batch to fill")
    args = ap.parse_args()

    host, port = args.redis.rsplit(":", 1)
    r = redis.Redis(host=host, port=int(port))
    by_fp = load_schemas(args.schemas)
    ckpt_key = "pyproj:%s:ckpt" % args.name

    t0 = time.monotonic()
    c = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": "pyproj-" + args.name,
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 10,
    })
    md = c.list_topics(args.topic, timeout=30)
    parts = sorted(md.topics[args.topic].partitions)
    saved = r.hgetall(ckpt_key)
    start = {p: int(saved.get(str(p).encode(), 0)) for p in parts}
    c.assign([TopicPartition(args.topic, p, start[p]) for p in parts])
    end = {}
    if args.until_end:
        for p in parts:
            end[p] = c.get_watermark_offsets(TopicPartition(args.topic, p),
                                             timeout=10)[1]
    pending = {p for p in parts if end.get(p, 1) > start[p]} \
        if args.until_end else set(parts)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    reader = fastavro.schemaless_reader
    events = 0
    timeout = args.window_ms / 1000.0
    while pending and not stop:
        msgs = c.consume(args.batch, timeout)
        if not msgs:
            continue
        pipe = r.pipeline(transaction=True)
        ckpt = {}
        for m in msgs:
            if m.error():
                continue
            p = m.partition()
            if args.until_end and m.offset() >= end[p]:
                continue
            h = dict(m.headers() or ())
            ce_type = h.get("ce_type", b"").decode()
            agg = h.get("ce_subject", b"").decode()
            v = m.value()
            data = reader(io.BytesIO(v[10:]), by_fp[v[2:10]])
            if ce_type == "shop.cart.CartOpened":
                pipe.hset("cart:" + agg, "status", "open")
            elif ce_type == "shop.cart.CartCheckedOut":
                pipe.hset("cart:" + agg, "status", "checked_out")
            elif ce_type == "shop.cart.ItemAddedToCart":
                pipe.hincrby("cart:%s:items" % agg, data["sku"],
                             data["quantity"])
            elif ce_type == "shop.cart.ItemRemovedFromCart":
                pipe.hincrby("cart:%s:items" % agg, data["sku"],
                             -data["quantity"])
            ckpt[p] = m.offset() + 1
            events += 1
            if args.until_end and m.offset() + 1 >= end[p]:
                pending.discard(p)
        if ckpt:
            pipe.hset(ckpt_key, mapping=ckpt)
            pipe.execute()
    secs = time.monotonic() - t0
    c.close()
    if args.until_end:
        print("pyproj events=%d seconds=%.3f rate=%.0f"
              % (events, secs, events / secs if secs > 0 else 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
