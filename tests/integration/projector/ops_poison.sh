#!/usr/bin/env bash
# ops_poison.sh - a poison record whose dead-letter copy cannot be produced
# whole never stalls its partition: the copy is cut to fit the producer's
# message.max.bytes, or (when the broker refuses even that, here a DLQ
# topic with a small max.message.bytes) written with value and headers
# left out; the good events of the same batch are applied, /readyz stays
# ready and the dead letters are counted.  Then a rebuild meets the same
# poison and does not dead-letter it a second time, while a rebuild of a
# projection that never saw it does.
TEST=ops_poison
. "$(dirname "$0")/core_lib.sh"
need
command -v curl >/dev/null || { log "SKIP: curl missing"; exit $SKIP; }
A=$(new_topic big 1); B=$(new_topic small 1)
P="poison-$ID"; NAMES+=("$P")
jars=${SF_KAFKA_JARS:-$("$SF_SOURCE_DIR/deploy/stack.sh" jars-dir)}
# B's dead-letter topic refuses records over 20 kB
java -cp "$jars/*" -Dlog4j.configuration=file:/dev/null org.apache.kafka.tools.TopicCommand \
  --bootstrap-server "$SF_BROKERS" --create --topic "$B.dlq" --partitions 1 \
  --config max.message.bytes=20000 --config retention.ms=-1 >"$WORK/topic.log" 2>&1 \
  || fail "cannot create $B.dlq: $(tail -3 "$WORK/topic.log")"
TOPICS+=("$B.dlq")
cat >"$WORK/r.yaml" <<YAML
keys: ["$ID:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$ID:{aggregate_id}", "{data.sku}", "{data.quantity}"]
YAML
port=$(( 20000 + RANDOM % 10000 ))
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$A", "$B"], rules: "$WORK/r.yaml", batch: {size: 50, time_ms: 200}}
YAML
printf 'metrics: {listen: "127.0.0.1:%s", stuck_after: 30}\n' "$port" >>"$WORK/c.yaml"
good() { echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$1\",\"data\":{\"cart_id\":\"$1\",\"sku\":\"$2\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1}}"; }
# good, poison (999,990 bytes, no Avro), good: all three in one batch
python3 -c "import sys; sys.stdout.buffer.write(b'\xc3\x01'+bytes(range(1,9))+b'Z'*999980)" >"$WORK/poison.bin"
for t in "$A" "$B"; do
  good c1 before | publish "$t"
  kcat -P -b "$SF_BROKERS" -t "$t" -p 0 -k c1 -X message.max.bytes=1048576 "$WORK/poison.bin" || fail "kcat produce"
  good c1 after | publish "$t"
done
start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 90
expect_eq "good events around the poison" "$(rcli hget "$ID:c1" before) $(rcli hget "$ID:c1" after)" "2 2"
expect_eq "checkpoint of $A" "$(rcli get "sf:$P:ckpt:$A:0")" 2
expect_eq "checkpoint of $B" "$(rcli get "sf:$P:ckpt:$B:0")" 2
kcat -C -b "$SF_BROKERS" -t "$A.dlq" -e -q -f '%S|%h\n' >"$WORK/a.dlq" 2>/dev/null || fail "read $A.dlq"
kcat -C -b "$SF_BROKERS" -t "$B.dlq" -e -q -f '%S|%h\n' >"$WORK/b.dlq" 2>/dev/null || fail "read $B.dlq"
expect_eq "dead letters in $A.dlq" "$(wc -l <"$WORK/a.dlq")" 1
expect_eq "dead letters in $B.dlq" "$(wc -l <"$WORK/b.dlq")" 1
la=$(cat "$WORK/a.dlq"); lb=$(cat "$WORK/b.dlq")
size=${la%%|*}
[ "$size" -gt 900000 ] && [ "$size" -lt 999990 ] || fail "$A.dlq value not cut to fit: $size bytes"
for h in sf_dlq_truncated=value, sf_dlq_original_size=999990 sf_dlq_offset=1 "sf_dlq_reason=decode"; do
  case "$la" in *"$h"*) ;; *) fail "$A.dlq record lacks $h: ${la:0:300}";; esac
done
expect_eq "$B.dlq value left out (null)" "${lb%%|*}" -1
for h in sf_dlq_truncated=value,headers sf_dlq_original_size=999990 sf_dlq_offset=1; do
  case "$lb" in *"$h"*) ;; *) fail "$B.dlq record lacks $h: $lb";; esac
done
grep -q 'dead-letter failed' "$WORK/w.log" && fail "a permanent refusal was retried"
ready=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$port/readyz" | tr -d '\n')
expect_eq "readyz" "$ready" "ready 200"
curl -s "http://127.0.0.1:$port/metrics" >"$WORK/metrics.txt"
grep -q "^streamfold_dead_lettered_total{projection=\"$P\"} 2$" "$WORK/metrics.txt" \
  || fail "dead letters not counted: $(grep dead_lettered "$WORK/metrics.txt")"
expect_eq "dead-lettered offsets recorded" "$(rcli smembers "sf:$P:dlq:$A:0")" 1
stop w TERM
expect_eq "worker exit" "$RC" 0
log "live worker: both poison records parked (cut / left out), good events applied"

# rebuild: the poison was parked by the worker, so not again ...
"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" >"$WORK/rebuild1.log" 2>&1 || fail "rebuild: $(tail -3 "$WORK/rebuild1.log")"
expect_eq "view after rebuild" "$(rcli hget "$ID:c1" before) $(rcli hget "$ID:c1" after)" "2 2"
n=$(kcat -C -b "$SF_BROKERS" -t "$A.dlq" -e -q -f '%o\n' 2>/dev/null | wc -l)
expect_eq "dead letters after rebuild" "$n" 1
grep -q "already dead-lettered" "$WORK/rebuild1.log" || fail "rebuild did not say the poison was parked already"
# ... but a projection that never ran dead-letters what its rebuild meets
P2="poison2-$ID"; NAMES+=("$P2")
cat >"$WORK/r2.yaml" <<YAML
keys: ["$ID-2:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$ID-2:{aggregate_id}", "{data.sku}", "{data.quantity}"]
YAML
sed -i "s|^projections:|projections:\n  - {name: \"$P2\", topics: [\"$A\"], rules: \"$WORK/r2.yaml\"}|" "$WORK/c.yaml"
"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P2" >"$WORK/rebuild2.log" 2>&1 || fail "rebuild 2: $(tail -3 "$WORK/rebuild2.log")"
kcat -C -b "$SF_BROKERS" -t "$A.dlq" -e -q -f '%h\n' >"$WORK/a2.dlq" 2>/dev/null
grep -q "sf_dlq_projection=$P2" "$WORK/a2.dlq" || fail "rebuild of $P2 did not dead-letter the poison: $(cut -c1-200 "$WORK/a2.dlq")"
expect_eq "dead-lettered offsets recorded by rebuild" "$(rcli smembers "sf:$P2:dlq:$A:0")" 1
log "PASS"
