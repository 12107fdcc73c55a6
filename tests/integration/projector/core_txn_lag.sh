#!/usr/bin/env bash
# Events written in Kafka transactions leave commit markers behind the last
# event of each partition.  A worker that applied everything must report lag
# 0 in status, and the group's Kafka offsets must reach the end offsets
# (standard lag tools see no lag), without committing past anything it did
# not apply.
TEST=core_txn_lag
. "$(dirname "$0")/core_lib.sh"
need

t=$(new_topic txn 3)
name="txn$ID"
NAMES+=("$name")
# keys under this run's own prefix: a rebuild of any other projection
# made from the example rules (keys: ["cart:*"], the quickstart's, another
# test's on the shared stack) would otherwise clear this run's carts too
sed "s/\"cart:/\"$ID:cart:/g; s/\[\"cart:\*\"\]/[\"$ID:cart:*\"]/" \
  "$EXAMPLES/cart-contents.rules.yaml" >"$WORK/r.yaml"
config "$WORK/c.yaml" <<CFG
  - name: $name
    topics: [$t]
    rules: "$WORK/r.yaml"
CFG
"$SF_SOURCE_DIR/deploy/quickstart/history.sh" cart 12 \
  | sed "s/cart-\([0-9]*\)/$ID-cart-\1/g" >"$WORK/h.jsonl"
"$PUB" -b "$SF_BROKERS" -t "$t" -s "$SCHEMAS" --transactional <"$WORK/h.jsonl" \
  >>"$WORK/publish.log" 2>&1 || fail "sf-publish --transactional failed"
events=$(wc -l <"$WORK/h.jsonl")

start w "$WORK/c.yaml"
# sf-publish returns once the transaction is committed at the coordinator;
# the commit markers reach the partitions a moment later, and until then a
# read_committed reader (status included) sees the end of each partition
# at its last stable offset, before these events: "lag 0" with nothing
# applied.  So first wait until the end offsets cover every event (each
# partition that holds events also holds a marker), then for lag 0.
for _ in $(seq 1 120); do
  ends=$(status_of "$name" | awk -v t="$t" '$1 == t {s += $4} END {print s + 0}')
  [ "$ends" -gt "$events" ] && break
  sleep 0.5
done
[ "$ends" -gt "$events" ] || fail "end offsets sum to $ends after 60 s, want more than $events"
wait_lag0 "$WORK/c.yaml" "$name" 60
out=$(status_of "$name")
# Every partition that holds events: the checkpoint (last applied event)
# is behind the end offset by the commit marker, yet the lag is 0.
rows=$(printf '%s\n' "$out" | awk -v t="$t" '$1 == t')
[ "$(wc -l <<<"$rows")" = 3 ] || fail "status rows: $out"
while read -r _ part ckpt end lag _; do
  [ "$ckpt" = - ] && continue
  [ "$lag" = 0 ] || fail "partition $part: lag $lag: $out"
  [ $((end - ckpt)) -ge 2 ] || fail "partition $part: no marker after checkpoint $ckpt (end $end): $out"
done <<<"$rows"
carts=$(rcli --scan --pattern "$ID:cart:$ID-cart-*" | grep -vc ':items$' || true)
expect_eq "carts in the view" "$carts" "$(grep -c CartOpened "$WORK/h.jsonl")"
stop w TERM
expect_eq "worker exit status" "$RC" 0
# The group's committed offsets equal the end offsets.
jars=$("$SF_SOURCE_DIR/deploy/stack.sh" jars-dir)
lagcol=$(java -cp "$jars/*" -Dlog4j.configuration=file:/dev/null \
  org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
  --bootstrap-server "$SF_BROKERS" --describe --group "sf-$name" 2>/dev/null \
  | awk -v t="$t" '$2 == t {print $6}' | sort -u | paste -sd' ')
expect_eq "kafka-consumer-groups LAG column" "$lagcol" 0
log "ok: $events transactional events, lag 0 in status and in the group"
echo "1 passed, 0 failed"
