#!/usr/bin/env bash
# core_partitions.sh - partitions added to a topic a projection reads:
# per-key order held only within a partition, and an aggregate's later
# events now hash elsewhere, so live, rebuild and journey must refuse
# with an explanation (topic, old and new count, what to do) instead of
# folding in a different order each.  rebuild --accept-partitions records
# the new count when the operator knows no aggregate spans two partitions.
TEST=core_partitions
. "$(dirname "$0")/core_lib.sh"
need
t=$(new_topic parts 2)
P="parts$ID"
NAMES+=("$P")
sed "s/\"cart:/\"$ID:cart:/g; s/\[\"cart:\*\"\]/[\"$ID:cart:*\"]/" \
  "$EXAMPLES/cart-contents.rules.yaml" >"$WORK/r.yaml"
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$t"], rules: "$WORK/r.yaml"}
YAML
added() { # added CART SKU QTY
  printf '{"type":"shop.cart.ItemAddedToCart","aggregate_id":"%s","data":{"cart_id":"%s","sku":"%s","quantity":%s,"unit_price_cents":1,"added_at":1,"currency":"EUR"}}\n' "$1" "$1" "$2" "$3"
}
for i in 1 2 3 4 5 6 7 8; do added "k$i" A 1; done | publish "$t"
start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 90
stop w TERM
expect_eq "first run exit status" "$RC" 0
expect_eq "recorded partition count" "$(rcli hget "sf:$P:topic:$t" partitions)" 2

jars=$("$SF_SOURCE_DIR/deploy/stack.sh" jars-dir)
java -cp "$jars/*" -Dlog4j.configuration=file:/dev/null org.apache.kafka.tools.TopicCommand \
  --bootstrap-server "$SF_BROKERS" --alter --topic "$t" --partitions 3 >"$WORK/alter.log" 2>&1 \
  || fail "cannot add a partition to $t: $(tail -n 3 "$WORK/alter.log")"
for _ in $(seq 1 60); do
  status_of "$P" | grep -q "had 2 partitions" && break; sleep 0.5
done
for i in 1 2 3 4 5 6 7 8; do added "k$i" A 1; done | publish "$t"

# each refusal: one line naming the topic, both counts and the remedy
check_line() { # check_line WHAT FILE
  local line
  line=$(grep -m1 "had 2 partitions" "$2" || true)
  [ -n "$line" ] || fail "$1: no partition-count error: $(tail -n 3 "$2")"
  case $line in *"$t"*"has 3 now"*"--accept-partitions"*) ;; *) fail "$1: unclear error: $line";; esac
}
start w2 "$WORK/c.yaml"
for _ in $(seq 1 120); do kill -0 "$PID_w2" 2>/dev/null || break; sleep 0.5; done
kill -0 "$PID_w2" 2>/dev/null && fail "the worker kept running after partitions were added"
stop w2 KILL
[ "$RC" -ne 0 ] || fail "the worker exited 0 after partitions were added"
check_line worker "$WORK/w2.log"
total=0
for i in 1 2 3 4 5 6 7 8; do v=$(rcli hget "$ID:cart:k$i:items" A); total=$((total + ${v:-0})); done
expect_eq "events applied after the partition count changed" "$total" 8

rc=0; "$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" >"$WORK/rb.out" 2>"$WORK/rb.log" || rc=$?
[ $rc -ne 0 ] || fail "rebuild accepted the changed partition count"
check_line rebuild "$WORK/rb.log"
expect_eq "view after the refused rebuild (untouched)" "$(rcli hget "$ID:cart:k1:items" A)" 1

rc=0; "$PROJ" journey -c "$WORK/c.yaml" -t "$t" k1 >"$WORK/j.out" 2>"$WORK/j.log" || rc=$?
[ $rc -ne 0 ] || fail "journey read by the new partition count without a word"
check_line journey "$WORK/j.log"

"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" --accept-partitions >"$WORK/rb2.out" 2>"$WORK/rb2.log" \
  || fail "rebuild --accept-partitions: $(tail -n 2 "$WORK/rb2.log")"
expect_eq "recorded partition count after --accept-partitions" "$(rcli hget "sf:$P:topic:$t" partitions)" 3
total=0
for i in 1 2 3 4 5 6 7 8; do v=$(rcli hget "$ID:cart:k$i:items" A); total=$((total + ${v:-0})); done
expect_eq "events in the rebuilt view" "$total" 16
"$PROJ" journey -c "$WORK/c.yaml" -t "$t" k1 >"$WORK/j2.out" 2>"$WORK/j2.log" \
  || fail "journey after the count was accepted: $(tail -n 2 "$WORK/j2.log")"
log "ok: worker, rebuild and journey refused; --accept-partitions recorded 3"
echo "1 passed, 0 failed"
