#!/usr/bin/env bash
# Per-aggregate order holds with several threads publishing at once:
# 4 threads x 10 aggregates x 50 versions through one producer; the peer
# reads the topic and every aggregate's ce_sequence must run 1..50 in
# offset order on a single partition.
. "$(dirname "$0")/lib.sh"

t=$(new_topic order)
"$PUB" -b "$BROKERS" -t "$t" -s "$SCHEMAS" --create-topic --partitions 6 \
  </dev/null 2>"$WORK/pub.err" || { cat "$WORK/pub.err" >&2; fail "create topic"; }
"$TOOL" mt "$BROKERS" "$t" "$SCHEMAS" 4 10 50 >"$WORK/tool.out" \
  || fail "sfp_tool mt: $(cat "$WORK/tool.out")"
peer "$t" >"$WORK/out.jsonl"
n=$(wc -l <"$WORK/out.jsonl")
[ "$n" -eq 2000 ] || fail "expected 2000 records, read $n"
jq -r '"\(.key) \(.partition) \(.offset) \(.headers.ce_sequence)"' "$WORK/out.jsonl" \
  | sort -k1,1 -k3,3n >"$WORK/seq"
awk '
  $1 != key { if (key != "" && prev != 50) bad = bad "\n" key " ended at " prev;
              key = $1; prev = 0; part = $2; nkeys++ }
  $2 != part { bad = bad "\n" key " on two partitions" }
  $4 != prev + 1 { bad = bad "\n" key ": sequence " $4 " after " prev }
  { prev = $4 }
  END { if (prev != 50) bad = bad "\n" key " ended at " prev;
        if (nkeys != 40) bad = bad "\n" nkeys " aggregates, expected 40";
        if (bad != "") { print substr(bad, 2) > "/dev/stderr"; exit 1 } }
' "$WORK/seq" || fail "per-aggregate order broken"
log "2000 events from 4 threads: 40 aggregates, each 1..50 in offset order"
echo "PASS"
