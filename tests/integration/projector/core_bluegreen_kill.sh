#!/usr/bin/env bash
# core_bluegreen_kill.sh - a blue/green rebuild killed with SIGKILL while it
# holds the live workers paused for its switch: the pause it set is a lease
# (docs/generations.md), so the workers resume by themselves and the live
# view catches up; nothing is lost or applied twice.  Before the lease, the
# projection stayed paused for good.  A private Redis (SWAPDB).
TEST=core_bluegreen_kill
. "$(dirname "$0")/core_lib.sh"
need
private_redis_init
redis_up
SF_REDIS_PORT=$RP
T=$(new_topic bgkill 2)
P="bk-$ID"
NAMES+=("$P")
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$EXAMPLES/cart-contents.rules.yaml", db: 0, spare_db: 1, batch: {size: 200, time_ms: 20}}
YAML
adds() { # adds FROM TO: one item per event, carts k0..k29
  for i in $(seq "$1" "$2"); do
    c="k$((i % 30))"
    echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$c\",\"data\":{\"cart_id\":\"$c\",\"sku\":\"s$((i % 7))\",\"quantity\":1,\"unit_price_cents\":5,\"added_at\":2,\"currency\":\"EUR\"}}"
  done
}
total() { # the sum of every item quantity in the view
  local s=0 k
  for k in $(rcli --scan --pattern 'cart:*:items'); do
    s=$(( s + $(rcli hvals "$k" | awk '{t += $1} END {print t + 0}') ))
  done
  echo "$s"
}
adds 1 3000 | publish "$T"
start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 120
"$PROJ" rebuild -c "$WORK/c.yaml" "$P" >"$WORK/rb.out" 2>"$WORK/rb.log" &
RB=$!; PIDS[$RB]=1
for _ in $(seq 1 600); do grep -q "pausing live writes for the switch" "$WORK/rb.log" && break; sleep 0.05; done
grep -q "pausing live writes for the switch" "$WORK/rb.log" || fail "the rebuild never reached its switch: $(tail -3 "$WORK/rb.log")"
sleep 0.3
kill -KILL "$RB"; wait "$RB" 2>/dev/null || true; unset "PIDS[$RB]"
log "rebuild killed during its switch; paused flag: $(rcli exists "sf:$P:paused")"
adds 3001 3200 | publish "$T"
wait_lag0 "$WORK/c.yaml" "$P" 150
expect_eq "paused flag after the lease" "$(rcli exists "sf:$P:paused")" 0
expect_eq "items in the view (one per event)" "$(total)" 3200
stop w TERM; expect_eq "worker exit" "$RC" 0
redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1 || true
log "PASS"
