#!/usr/bin/env python3
"""prom_peer.py - independent peer check of the projector's /metrics text:
parses it with the Prometheus Python client's own parser (text format
0.0.4) and checks families, types and histogram consistency.

Usage: prom_peer.py METRICS_FILE PROJECTION
Prints "events_applied=N" for PROJECTION; exit 1 on any problem.
"""
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    proj = sys.argv[2]
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    want = {
        "streamfold_events_applied": "counter",
        "streamfold_batches_committed": "counter",
        "streamfold_errors": "counter",
        "streamfold_dead_lettered": "counter",
        "streamfold_fenced_batches": "counter",
        "streamfold_batch_latency_seconds": "histogram",
        "streamfold_checkpoint_offset": "gauge",
        "streamfold_high_watermark": "gauge",
        "streamfold_lag_events": "gauge",
        "streamfold_lag_seconds": "gauge",
        "streamfold_partition_assigned": "gauge",
        "streamfold_redis_up": "gauge",
    }
    bad = []
    for name, typ in want.items():
        if name not in fams:
            bad.append("missing family %s" % name)
        elif fams[name].type != typ:
            bad.append("%s has type %s, want %s" % (name, fams[name].type, typ))
    applied = None
    for s in fams.get("streamfold_events_applied", []).samples if "streamfold_events_applied" in fams else []:
        if s.labels.get("projection") == proj and s.name.endswith("_total"):
            applied = s.value
    if applied is None:
        bad.append("no events_applied_total sample for projection %s" % proj)
    h = fams.get("streamfold_batch_latency_seconds")
    if h is not None:
        buckets, count = [], None
        for s in h.samples:
            if s.labels.get("projection") != proj:
                continue
            if s.name.endswith("_bucket"):
                buckets.append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                count = s.value
        buckets.sort()
        if not buckets or buckets[-1][0] != float("inf"):
            bad.append("histogram of %s has no +Inf bucket" % proj)
        elif buckets[-1][1] != count:
            bad.append("+Inf bucket %s != _count %s" % (buckets[-1][1], count))
        if any(b[1] > c[1] for b, c in zip(buckets, buckets[1:])):
            bad.append("histogram buckets of %s are not cumulative" % proj)
    for b in bad:
        print("prom_peer: " + b, file=sys.stderr)
    if applied is not None:
        print("events_applied=%d" % applied)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
