#!/usr/bin/env python3
"""Independent peer: reads a whole Streamfold topic with confluent-kafka
(the Python client) and decodes every value with fastavro, using fastavro's
own Parsing Canonical Form and CRC-64-AVRO fingerprints of the .avsc files.
Nothing of Streamfold's C code is involved.

Prints one JSON object per record on stdout:
  {"partition", "offset", "key", "headers": {name: value}, "type",
   "fingerprint", "value": {...decoded record...},
   "dataschema_type": full name of the schema ce_dataschema names (or null),
   "source_ok": whether ce_source is a URI-reference (RFC 3986)}

ce_dataschema is resolved the way any reader can, from the header alone:
"urn:avro:fingerprint:crc-64-avro:<16 hex>" is the CRC-64-AVRO fingerprint
as an integer; its 8 little-endian bytes are the key fastavro's
fingerprint() gives for the .avsc files at hand.
Exits 1 (naming topic/partition/offset) on a record it cannot decode:
bad magic, unknown fingerprint, or bytes left after the body.
"""
import argparse
import glob
import io
import json
import os
import re
import struct
import sys

import fastavro
import fastavro.schema
from confluent_kafka import Consumer, TopicPartition


def load_schemas(root):
    by_fp = {}
    for path in glob.glob(os.path.join(root, "**", "*.avsc"), recursive=True):
        with open(path) as f:
            parsed = fastavro.parse_schema(json.load(f))
        fp = fastavro.schema.fingerprint(
            fastavro.schema.to_parsing_canonical_form(parsed), "CRC-64-AVRO")
        # fastavro (like Java's SchemaNormalization.parsingFingerprint)
        # gives the fingerprint's bytes in little-endian order, exactly the
        # 8 bytes after C3 01 in single-object encoding.
        by_fp[bytes.fromhex(fp)] = parsed
    return by_fp


DATASCHEMA_PREFIX = "urn:avro:fingerprint:crc-64-avro:"
# RFC 3986 characters of a URI-reference, percent-encodings well formed.
URI_REFERENCE = re.compile(
    r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})+")


def resolve_dataschema(value, by_fp):
    """Full name of the schema ce_dataschema names, or None."""
    if not value or not value.startswith(DATASCHEMA_PREFIX):
        return None
    digits = value[len(DATASCHEMA_PREFIX):]
    if not re.fullmatch(r"[0-9a-f]{16}", digits):
        return None
    schema = by_fp.get(struct.pack("<Q", int(digits, 16)))
    return schema["name"] if schema else None


def plain(o):
    """JSON for what fastavro returns beyond JSON: timestamp-millis comes
    back as a datetime; give the epoch milliseconds that were encoded."""
    import datetime
    if isinstance(o, datetime.datetime):
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        d = o - epoch
        return (d.days * 86400 + d.seconds) * 1000 + d.microseconds // 1000
    if isinstance(o, bytes):
        return o.decode("latin-1")
    return str(o)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--schemas", required=True)
    ap.add_argument("--isolation", default="read_committed")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    by_fp = load_schemas(args.schemas)
    c = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": "peer-read-%d" % os.getpid(),
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "isolation.level": args.isolation,
    })
    md = c.list_topics(args.topic, timeout=30)
    parts = sorted(md.topics[args.topic].partitions)
    if not parts:
        sys.exit("peer: topic %s has no partitions" % args.topic)
    c.assign([TopicPartition(args.topic, p, 0) for p in parts])  # offset 0
    at_eof = set()
    import time
    deadline = time.time() + args.timeout
    out = sys.stdout
    while len(at_eof) < len(parts):
        if time.time() > deadline:
            sys.exit("peer: timed out reading %s (eof on %d of %d partitions)"
                     % (args.topic, len(at_eof), len(parts)))
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == -191:  # _PARTITION_EOF
                at_eof.add(m.partition())
                continue
            sys.exit("peer: %s" % m.error())
        at_eof.discard(m.partition())
        where = "%s [%d] offset %d" % (m.topic(), m.partition(), m.offset())
        v = m.value()
        if v is None or len(v) < 10 or v[0] != 0xC3 or v[1] != 0x01:
            sys.exit("peer: %s: not Avro single-object bytes" % where)
        fp = bytes(v[2:10])
        schema = by_fp.get(fp)
        if schema is None:
            sys.exit("peer: %s: unknown fingerprint bytes %s"
                     % (where, fp.hex()))
        body = io.BytesIO(v[10:])
        rec = fastavro.schemaless_reader(body, schema)
        if body.tell() != len(v) - 10:
            sys.exit("peer: %s: %d trailing bytes" %
                     (where, len(v) - 10 - body.tell()))
        hdrs = {}
        for k, hv in (m.headers() or []):
            hdrs[k] = hv.decode("utf-8") if hv is not None else None
        out.write(json.dumps({
            "partition": m.partition(), "offset": m.offset(),
            "key": m.key().decode("utf-8") if m.key() is not None else None,
            "headers": hdrs, "type": schema["name"],
            "dataschema_type": resolve_dataschema(hdrs.get("ce_dataschema"),
                                                  by_fp),
            "source_ok": bool(URI_REFERENCE.fullmatch(
                hdrs.get("ce_source") or "")),
            "fingerprint": "%016x" % struct.unpack("<Q", fp)[0], "value": rec,
        }, default=plain, sort_keys=True) + "\n")
    c.close()


if __name__ == "__main__":
    main()
