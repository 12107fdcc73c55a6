#!/usr/bin/env bash
# core_redis_outage.sh - Redis goes away under a running worker (a private
# redis-server, killed with SIGKILL, AOF fsync always) while events keep
# arriving: the worker pauses, retries with backoff, resumes when Redis is
# back; the view then equals the expected fold (nothing skipped, nothing
# doubled) and the worker still stops cleanly on SIGTERM.
TEST=core_redis_outage
. "$(dirname "$0")/core_lib.sh"
need
private_redis_init
redis_up
SF_REDIS_PORT=$RP   # the config below points at the private server
T=$(new_topic outage 3)
P="outage-$ID"
NAMES+=("$P")
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$EXAMPLES/product-availability.rules.yaml", batch: {size: 20, time_ms: 10}}
YAML
add() { # add SKU QTY
  echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"c$1\",\"data\":{\"cart_id\":\"c$1\",\"sku\":\"$1\",\"quantity\":$2,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"
}
burst() { for i in $(seq 1 50); do for s in a b c d; do add "$s" "$1"; done; done | publish "$T"; }

start w "$WORK/c.yaml"
burst 1
wait_lag0 "$WORK/c.yaml" "$P" 60
log "first burst applied; killing redis"
redis_down
burst 2
sleep 3
grep -q "redis apply failed, pausing" "$WORK/w.log" || fail "worker did not report the outage"
kill -0 "$PID_w" || fail "worker died during the outage"
log "restarting redis"
redis_up
burst 3
wait_lag0 "$WORK/c.yaml" "$P" 90
for s in a b c d; do
  expect_eq "product $s (50 x (1+2+3))" "$(redis-cli -p "$RP" hget "product:$s" in_carts)" 300
done
grep -q 'msg="resumed consumption"' "$WORK/w.log" || fail "no resume logged"
stop w TERM
expect_eq "worker exit after the outage" "$RC" 0
redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1 || true
log "PASS"
