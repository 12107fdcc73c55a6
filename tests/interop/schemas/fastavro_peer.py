#!/usr/bin/env python3
"""fastavro as an independent peer of sf-schema (tests/interop only).

  fastavro_peer.py canon FILE.avsc          -> "<canonical form>\\t<wire fp hex>"
  fastavro_peer.py read DOMAINS EXAMPLES    stdin: hex lines from `sf-schema encode --hex`
                                            checks header + decodes each with fastavro,
                                            compares with the example's data
  fastavro_peer.py write DOMAINS EXAMPLES   stdout: hex single-object lines written by fastavro
  fastavro_peer.py expect EXAMPLES          stdout: the envelopes `sf-schema decode --envelope`
                                            must print for `write`'s output (compact JSON)

logicalType annotations are dropped before handing schemas to fastavro: they
do not change the bytes, and fastavro would otherwise turn timestamp-millis
into datetime objects that cannot hold our extreme test values.
"""
import glob
import io
import json
import os
import re
import sys

import fastavro
import fastavro.schema


def strip_logical(node):
    if isinstance(node, dict):
        return {k: strip_logical(v) for k, v in node.items() if k != "logicalType"}
    if isinstance(node, list):
        return [strip_logical(v) for v in node]
    return node


def load_domains(root):
    """{(fullname, version): (parsed schema, canonical, wire fp bytes)}"""
    out = {}
    for path in sorted(glob.glob(os.path.join(root, "**", "*.avsc"), recursive=True)):
        m = re.search(r"\.v(\d+)\.avsc$", path)
        version = int(m.group(1)) if m else 1
        with open(path) as fh:
            raw = json.load(fh)
        canon = fastavro.schema.to_parsing_canonical_form(raw)
        fp = bytes.fromhex(fastavro.schema.fingerprint(canon, "CRC-64-AVRO"))
        name = json.loads(canon)["name"]
        out[(name, version)] = (fastavro.parse_schema(strip_logical(raw)), canon, fp)
    return out


def load_examples(path):
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def fix_promoted(schema, value):
    """fastavro's resolver returns the writer's Python type for the
    string<->bytes promotions (str where the reader wants bytes and back);
    the Avro spec makes them the same bytes, so convert for the JSON writer.
    Handles the shapes the interop schemas use (records, arrays, maps,
    unions of those)."""
    if isinstance(schema, dict):
        t = schema.get("type")
        if t == "record":
            return {f["name"]: fix_promoted(f["type"], value[f["name"]])
                    for f in schema["fields"]}
        if t == "array":
            return [fix_promoted(schema["items"], v) for v in value]
        if t == "map":
            return {k: fix_promoted(schema["values"], v) for k, v in value.items()}
        return fix_promoted(t, value) if isinstance(t, str) else value
    if schema == "bytes" and isinstance(value, str):
        return value.encode("utf-8")
    if schema == "string" and isinstance(value, bytes):
        return value.decode("utf-8")
    return value


def to_avro_json(schema, record):
    record = fix_promoted(schema, record)
    buf = io.StringIO()
    fastavro.json_writer(buf, schema, [record])
    return json.loads(buf.getvalue().splitlines()[0])


def from_avro_json(schema, data):
    return next(iter(fastavro.json_reader(io.StringIO(json.dumps(data)), schema)))


def fail(msg):
    print("fastavro peer: " + msg, file=sys.stderr)
    sys.exit(1)


def cmd_canon(path):
    with open(path) as fh:
        raw = json.load(fh)
    canon = fastavro.schema.to_parsing_canonical_form(raw)
    print(canon + "\t" + fastavro.schema.fingerprint(canon, "CRC-64-AVRO"))


def cmd_read(domains, examples):
    doms = load_domains(domains)
    exs = load_examples(examples)
    lines = [l.strip() for l in sys.stdin if l.strip()]
    if len(lines) != len(exs):
        fail("got %d encoded events for %d examples" % (len(lines), len(exs)))
    resolved = 0
    for i, (hexline, ex) in enumerate(zip(lines, exs), 1):
        data = bytes.fromhex(hexline)
        schema, _, fp = doms[(ex["type"], ex["version"])]
        if data[:2] != b"\xc3\x01":
            fail("event %d: magic %s, want c301" % (i, data[:2].hex()))
        if data[2:10] != fp:
            fail("event %d: fingerprint %s, fastavro says %s" % (i, data[2:10].hex(), fp.hex()))
        bio = io.BytesIO(data[10:])
        rec = fastavro.schemaless_reader(bio, schema)
        if bio.tell() != len(data) - 10:
            fail("event %d: %d trailing bytes" % (i, len(data) - 10 - bio.tell()))
        got = to_avro_json(schema, rec)
        if got != ex["data"]:
            fail("event %d (%s): fastavro read %s, want %s" % (i, ex["type"], got, ex["data"]))
        # fastavro's own schema resolution to the newest version must give
        # what our decoder gives (the example's "expect").
        newest = max(v for (n, v) in doms if n == ex["type"])
        if newest != ex["version"]:
            reader = doms[(ex["type"], newest)][0]
            rec = fastavro.schemaless_reader(io.BytesIO(data[10:]), schema, reader)
            got = to_avro_json(reader, rec)
            if "expect" in ex and got != ex["expect"]:
                fail("event %d: fastavro resolved v%d->v%d to %s, want %s"
                     % (i, ex["version"], newest, got, ex.get("expect")))
            resolved += 1
    if resolved == 0:
        fail("no example needed resolution")
    print("fastavro decoded %d events (%d resolved to a newer version)" % (len(lines), resolved))


def cmd_write(domains, examples):
    doms = load_domains(domains)
    for ex in load_examples(examples):
        schema, _, fp = doms[(ex["type"], ex["version"])]
        rec = from_avro_json(schema, ex["data"])
        bio = io.BytesIO()
        fastavro.schemaless_writer(bio, schema, rec)
        print((b"\xc3\x01" + fp + bio.getvalue()).hex())


def cmd_expect(domains, examples):
    """Without an "expect" in the example, fastavro's own resolution from
    the writer version to the newest one is the expectation."""
    doms = load_domains(domains)
    latest = {}
    for name, version in doms:
        latest[name] = max(latest.get(name, 0), version)
    for ex in load_examples(examples):
        newest = latest[ex["type"]]
        want = ex.get("expect")
        if want is None and newest != ex["version"]:
            writer = doms[(ex["type"], ex["version"])][0]
            reader = doms[(ex["type"], newest)][0]
            bio = io.BytesIO()
            fastavro.schemaless_writer(bio, writer, from_avro_json(writer, ex["data"]))
            bio.seek(0)
            want = to_avro_json(reader, fastavro.schemaless_reader(bio, writer, reader))
        print(json.dumps({"type": ex["type"], "writer_version": ex["version"],
                          "version": newest, "data": want or ex["data"]},
                         sort_keys=True, separators=(",", ":")))


def main():
    a = sys.argv[1:]
    if a[:1] == ["canon"] and len(a) == 2:
        cmd_canon(a[1])
    elif a[:1] == ["read"] and len(a) == 3:
        cmd_read(a[1], a[2])
    elif a[:1] == ["write"] and len(a) == 3:
        cmd_write(a[1], a[2])
    elif a[:1] == ["expect"] and len(a) == 3:
        cmd_expect(a[1], a[2])
    else:
        fail("usage: fastavro_peer.py canon FILE | read|write|expect DOMAINS EXAMPLES")


if __name__ == "__main__":
    main()
