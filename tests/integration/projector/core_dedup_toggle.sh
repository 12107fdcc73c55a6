#!/usr/bin/env bash
# core_dedup_toggle.sh - turning the duplicate rule on changes what the
# view must hold (the fold of the log under the rule), so it is a changed
# definition: a worker started with it builds the new view blue/green and
# switches it in.  Before, `dedup:` was not part of the version digest: the
# flip went unnoticed, a duplicate applied while the rule was off stayed
# in the view for good and nothing said so.  A private Redis (SWAPDB).
TEST=core_dedup_toggle
. "$(dirname "$0")/core_lib.sh"
need
private_redis_init
redis_up
SF_REDIS_PORT=$RP
T=$(new_topic toggle 2)
P="dt-$ID"
NAMES+=("$P")
cfg() { # cfg on|off
  config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$EXAMPLES/cart-contents.rules.yaml", db: 0, spare_db: 1, dedup: $1}
YAML
}
c="$ID-c"
add() {
  echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$c\",\"version\":$1,\"event_id\":\"$ID-e$1\",\"data\":{\"cart_id\":\"$c\",\"sku\":\"s\",\"quantity\":$2,\"unit_price_cents\":5,\"added_at\":2,\"currency\":\"EUR\"}}"
}
cfg off
{ add 1 1; add 1 1; add 2 10; } | publish "$T" # version 1 twice: a retried publish
start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 60
expect_eq "rule off: every record applied" "$(rcli hget "cart:$c:items" s)" 12
stop w TERM
expect_eq "worker exit" "$RC" 0

cfg on
add 3 100 | publish "$T"
start w2 "$WORK/c.yaml"
got=
for _ in $(seq 1 240); do
  got=$(rcli hget "cart:$c:items" s)
  [ "$got" = 111 ] && break
  sleep 0.5
done
expect_eq "rule on: the view is the deduplicated fold of the log" "$got" 111
wait_lag0 "$WORK/c.yaml" "$P" 60
expect_eq "after catching up" "$(rcli hget "cart:$c:items" s)" 111
stop w2 TERM
expect_eq "worker exit" "$RC" 0
redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1 || true
log "PASS"
