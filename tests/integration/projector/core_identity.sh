#!/usr/bin/env bash
# core_identity.sh - a topic deleted and recreated under the same name,
# holding MORE events than the checkpoint covers (so the checkpoint still
# lies inside the new partition and no offset check can notice), must
# stop the worker with one line naming the topic, the recorded and the
# current topic id, before it applies anything; status shows the
# mismatch; a rebuild makes the view from the new topic, and the worker
# then runs on it.
TEST=core_identity
. "$(dirname "$0")/core_lib.sh"
need
t=$(new_topic ident 1)
P="ident$ID"
NAMES+=("$P")
sed "s/\"cart:/\"$ID:cart:/g; s/\[\"cart:\*\"\]/[\"$ID:cart:*\"]/" \
  "$EXAMPLES/cart-contents.rules.yaml" >"$WORK/r.yaml"
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$t"], rules: "$WORK/r.yaml"}
YAML
added() { # added CART SKU QTY
  printf '{"type":"shop.cart.ItemAddedToCart","aggregate_id":"%s","data":{"cart_id":"%s","sku":"%s","quantity":%s,"unit_price_cents":1,"added_at":1,"currency":"EUR"}}\n' "$1" "$1" "$2" "$3"
}
for i in 1 2 3 4 5 6; do added old A 1; done | publish "$t"
start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 90
stop w TERM
expect_eq "first run exit status" "$RC" 0
expect_eq "old cart" "$(rcli hget "$ID:cart:old:items" A)" 6
old_id=$(rcli hget "sf:$P:topic:$t" id)
[ -n "$old_id" ] || fail "no topic id recorded beside the checkpoint (sf:$P:topic:$t)"
ckpt=$(rcli get "sf:$P:ckpt:$t:0")
expect_eq "checkpoint after 6 events" "$ckpt" 5

"$E2E" drop -t "$t" >/dev/null 2>&1 || fail "cannot delete $t"
for _ in $(seq 1 30); do
  "$SF_SOURCE_DIR/deploy/topics.sh" create -b "$SF_BROKERS" -p 1 "$t" >"$WORK/re.log" 2>&1 && break
  sleep 1
done
grep -q created "$WORK/re.log" || fail "cannot recreate $t: $(cat "$WORK/re.log")"
# ten events: the old checkpoint (5) lies inside the new partition
for i in $(seq 1 10); do added new B 1; done | publish "$t"

st=$(status_of "$P")
new_id=$(printf '%s\n' "$st" | sed -n "s/.*now topic id \([^ ]*\) in cluster.*/\1/p" | head -n 1)
[ -n "$new_id" ] || fail "status does not show the identity mismatch: $st"
[ "$new_id" != "$old_id" ] || fail "the recreated topic has the old id $old_id?"

start w2 "$WORK/c.yaml"
for _ in $(seq 1 120); do kill -0 "$PID_w2" 2>/dev/null || break; sleep 0.5; done
kill -0 "$PID_w2" 2>/dev/null && fail "the worker kept running on a recreated topic"
stop w2 KILL
[ "$RC" -ne 0 ] || fail "the worker exited 0 on a recreated topic"
line=$(grep "is not the log its checkpoints belong to" "$WORK/w2.log" | head -n 1)
[ -n "$line" ] || fail "no identity error in the worker log: $(tail -n 5 "$WORK/w2.log")"
for want in "$t" "$old_id" "$new_id"; do
  case $line in *"$want"*) ;; *) fail "the error line does not name $want: $line";; esac
done
expect_eq "events of the new topic applied before the check" "$(rcli hget "$ID:cart:new:items" B)" ""
expect_eq "checkpoint after the refused start" "$(rcli get "sf:$P:ckpt:$t:0")" 5

"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" >"$WORK/rb.out" 2>"$WORK/rb.log" \
  || fail "rebuild after the recreation: $(tail -n 2 "$WORK/rb.log")"
expect_eq "recorded topic id after the rebuild" "$(rcli hget "sf:$P:topic:$t" id)" "$new_id"
added new B 1 | publish "$t"
start w3 "$WORK/c.yaml"
for _ in $(seq 1 120); do [ "$(rcli hget "$ID:cart:new:items" B)" = 11 ] && break; sleep 0.5; done
expect_eq "new cart after the rebuild and one more event" "$(rcli hget "$ID:cart:new:items" B)" 11
expect_eq "old cart after the rebuild" "$(rcli exists "$ID:cart:old:items")" 0
status_of "$P" | grep -q "identity $t: topic id $new_id .*(as recorded)" \
  || fail "status after the rebuild: $(status_of "$P")"
stop w3 TERM
expect_eq "worker exit status" "$RC" 0
log "ok: stopped with: ${line#*msg=}"
echo "1 passed, 0 failed"
