#!/usr/bin/env bash
# core_rebuild_dlq.sh - a rebuild that is the first to meet an event failing
# inside Redis dead-letters it, as the live worker would (on_error: dlq),
# and says what of it was applied.  Found by the fault campaign
# (tests/fault: add-partitions, then `rebuild --accept-partitions` passed a
# poison event the stopped workers had not reached, with no dead letter:
# the checkpoint went past a record that was neither applied, nor
# dead-lettered, nor skipped).
#
# No live worker ever runs here, so every dead letter is the rebuild's.
#   offset 0  ItemAdded c1     INCR adds; SET plain; PFADD on it fails
#                              (after 2 of 4 commands); INCR after never runs
#   offset 1  ItemRemoved c1   INCR removes
#   offset 2  ItemAdded c2     as offset 0
#   offset 3  ItemRemoved c2   INCR removes
TEST=core_rebuild_dlq
. "$(dirname "$0")/core_lib.sh"
need

T=$(new_topic rbdlq 1)
P="rbdlq$ID"
NAMES+=("$P")
cat >"$WORK/r.yaml" <<RULES
keys: ["$ID:*"]
on:
  shop.cart.ItemAddedToCart:
    - [INCR, "$ID:adds"]
    - [SET, "$ID:hll:{aggregate_id}", plain]
    - [PFADD, "$ID:hll:{aggregate_id}", "{data.sku}"]
    - [INCR, "$ID:after"]
  shop.cart.ItemRemovedFromCart:
    - [INCR, "$ID:removes"]
RULES
config "$WORK/c.yaml" <<CFG
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", on_error: dlq}
CFG
ev() { # ev added|removed CART
  case $1 in
    added) echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$2\",\"data\":{\"cart_id\":\"$2\",\"sku\":\"A\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}";;
    removed) echo "{\"type\":\"shop.cart.ItemRemovedFromCart\",\"aggregate_id\":\"$2\",\"data\":{\"cart_id\":\"$2\",\"sku\":\"A\",\"quantity\":1,\"removed_at\":1}}";;
  esac
}
{ ev added c1; ev removed c1; ev added c2; ev removed c2; } | publish "$T"
g() { rcli get "$1"; }
view() { echo "adds=$(g "$ID:adds") after=$(g "$ID:after") removes=$(g "$ID:removes") hll_c1=$(g "$ID:hll:c1")"; }
WANT="adds=2 after= removes=2 hll_c1=plain"
rebuild() {
  "$PROJ" rebuild -c "$WORK/c.yaml" "$P" >"$WORK/rebuild$1.out" 2>"$WORK/rebuild$1.log" \
    || fail "rebuild $1: $(tail -2 "$WORK/rebuild$1.log")"
}
rebuild 1
expect_eq "rebuild 1: view" "$(view)" "$WANT"
expect_eq "rebuild 1: checkpoint" "$(g "sf:$P:ckpt:$T:0")" 3
kcat -C -b "$SF_BROKERS" -t "$T.dlq" -e -q -f '%h\n' >"$WORK/dlq1.txt" 2>/dev/null || true
grep "sf_dlq_projection=$P" "$WORK/dlq1.txt" >"$WORK/dlq1_p.txt" || true
expect_eq "rebuild 1: dead letters" "$(grep -c . "$WORK/dlq1_p.txt")" 2
for off in 0 2; do
  grep -E "sf_dlq_offset=$off(,|$)" "$WORK/dlq1_p.txt" \
    | grep -q "command 3 of 4 failed after commands 1..2 of the event were applied" \
    || fail "no dead letter of offset $off saying what was applied: $(cat "$WORK/dlq1_p.txt")"
done
log "rebuild 1: both half-applied events dead-lettered, reasons say what was applied"

# a second rebuild finds them recorded: no dead letter twice, same view
rebuild 2
expect_eq "rebuild 2: view" "$(view)" "$WANT"
kcat -C -b "$SF_BROKERS" -t "$T.dlq" -e -q -f '%h\n' 2>/dev/null | grep -c "sf_dlq_projection=$P" >"$WORK/n2.txt" || true
expect_eq "rebuild 2: dead letters (none twice)" "$(cat "$WORK/n2.txt")" 2
log "rebuild 2: nothing dead-lettered twice"
echo "1 passed, 0 failed"
