#!/usr/bin/env bash
# core_fencing.sh - a worker whose partition was taken over (its epoch
# bumped by a newer owner) gets its batch refused: nothing applied, no
# checkpoint moved; the next owner resumes from the checkpoint and applies
# the event exactly once.  Also: rebuild refuses while the group is active.
TEST=core_fencing
. "$(dirname "$0")/core_lib.sh"
need
T=$(new_topic fence 1)
P="fence-$ID"
NAMES+=("$P")
sed "s/\"product:/\"$ID:product:/g; s/\[\"product:\*\"\]/[\"$ID:product:*\"]/" \
  "$EXAMPLES/product-availability.rules.yaml" >"$WORK/r.yaml"
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", batch: {size: 10, time_ms: 5}}
YAML
add() { echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"c\",\"data\":{\"cart_id\":\"c\",\"sku\":\"s\",\"quantity\":$1,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"; }
KEY="$ID:product:s"; EPOCH="sf:$P:epoch:$T:0"; CKPT="sf:$P:ckpt:$T:0"

add 1 | publish "$T"
start a "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 60
expect_eq "applied by A" "$(rcli hget "$KEY" in_carts)" 1
tokA=$(rcli get "$EPOCH")
[ "$tokA" -ge 1 ] || fail "no epoch after assignment"

# rebuild must refuse while A is a member of the group
if "$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" 2>"$WORK/rebuild.log"; then
  fail "rebuild ran while a worker was active"
fi
grep -q "active member" "$WORK/rebuild.log" || fail "rebuild refusal unclear: $(cat "$WORK/rebuild.log")"

# another owner takes the partition: its INCR fences A
tokB=$(rcli incr "$EPOCH")
add 10 | publish "$T"
for _ in $(seq 1 40); do grep -q "fenced" "$WORK/a.log" && break; sleep 0.25; done
grep -q "fenced" "$WORK/a.log" || fail "A's stale batch was not refused"
sleep 1
expect_eq "stale write refused" "$(rcli hget "$KEY" in_carts)" 1
expect_eq "checkpoint not moved by the stale worker" "$(rcli get "$CKPT")" 0
expect_eq "epoch still the new owner's" "$(rcli get "$EPOCH")" "$tokB"
stop a TERM
expect_eq "fenced worker still exits 0 on SIGTERM" "$RC" 0
expect_eq "nothing applied at shutdown either" "$(rcli hget "$KEY" in_carts)" 1

# the next owner resumes from the Redis checkpoint: applied exactly once
start b "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 60
expect_eq "applied once by B" "$(rcli hget "$KEY" in_carts)" 11
tokC=$(rcli get "$EPOCH")
[ "$tokC" -gt "$tokB" ] || fail "B did not take a newer token ($tokC <= $tokB)"
# rebuild --force while B runs: the rebuild fences B; B's stale batch is
# refused, then B re-takes the partition by itself once the rebuild is
# done (docs/lifecycle.md) and applies the event exactly once; a worker
# started afterwards applies nothing twice
"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" --force 2>"$WORK/force.log" || fail "rebuild --force failed: $(tail -2 "$WORK/force.log")"
expect_eq "view after forced rebuild" "$(rcli hget "$KEY" in_carts)" 11
add 5 | publish "$T"
for _ in $(seq 1 40); do [ "$(grep -c fenced "$WORK/b.log")" -ge 1 ] && break; sleep 0.25; done
grep -q "fenced" "$WORK/b.log" || fail "B was not fenced by the forced rebuild"
for _ in $(seq 1 120); do [ "$(rcli hget "$KEY" in_carts)" = 16 ] && break; sleep 0.5; done
expect_eq "applied once by B after it re-took the partition" "$(rcli hget "$KEY" in_carts)" 16
# B hears of the rebuild either from its refused batch (fenced, then
# "re-taken after a rebuild") or first from its once-a-second look at the
# generation counter (waiting, then "taken after the rebuild")
grep -qE "re-taken after a rebuild|taken after the rebuild" "$WORK/b.log" || fail "B did not say it re-took the partition"
stop b TERM
expect_eq "B exit" "$RC" 0
start c "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 60
sleep 1
expect_eq "nothing applied twice after restart" "$(rcli hget "$KEY" in_carts)" 16
stop c TERM
log "PASS"
