#!/usr/bin/env bash
# No view holds half an event: an event whose second command would fail
# with WRONGTYPE is refused before its first command runs, dead-lettered,
# and the events around it are applied once.
TEST=core_atomic
. "$(dirname "$0")/core_lib.sh"
need

t=$(new_topic atomic 1)
name="atomic$ID"
NAMES+=("$name")
cat >"$WORK/r.yaml" <<RULES
keys: ["$ID:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$ID:totals", units, "{data.quantity}"]
    - [SADD, "$ID:cart:{aggregate_id}:skus", "{data.sku}"]
RULES
config "$WORK/c.yaml" <<CFG
  - name: $name
    topics: [$t]
    rules: "$WORK/r.yaml"
CFG
add() { echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$1\",\"data\":{\"cart_id\":\"$1\",\"sku\":\"$3\",\"quantity\":$2,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"; }
# the second command of the middle event meets a string
rcli set "$ID:cart:bad:skus" "not a set" >/dev/null
{ add good 2 a; add bad 5 b; add good 3 c; } | publish "$t"

start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$name" 60
stop w TERM
expect_eq "worker exit status" "$RC" 0
expect_eq "units of the applied events only" "$(rcli hget "$ID:totals" units)" 5
expect_eq "skus of the good cart" "$(rcli smembers "$ID:cart:good:skus" | sort | paste -sd' ')" "a c"
expect_eq "the wrong-typed key untouched" "$(rcli get "$ID:cart:bad:skus")" "not a set"
dl=$(kcat -C -b "$SF_BROKERS" -t "$t.dlq" -e -q -f '%h\n' 2>/dev/null | grep -c "sf_dlq_offset=1" || true)
expect_eq "dead letters for the refused event" "$dl" 1
kcat -C -b "$SF_BROKERS" -t "$t.dlq" -e -q -f '%h\n' 2>/dev/null | grep -q "WRONGTYPE SADD needs a set" \
  || fail "dead letter reason does not name the type clash"
log "ok: the clashing event was refused whole and dead-lettered"
echo "1 passed, 0 failed"
