#!/usr/bin/env bash
# core_redis_outage.sh - Redis goes away under a running worker (a private
# redis-server, killed with SIGKILL, AOF fsync always) while events keep
# arriving: the worker pauses, retries with backoff, resumes when Redis is
# back; the view then equals the expected fold (nothing skipped, nothing
# doubled) and the worker still stops cleanly on SIGTERM.  A worker started
# while a long script keeps Redis busy waits for it instead of exiting.
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

# A worker that starts while another client's script keeps Redis busy (BUSY
# replies past the busy-reply threshold) waits as for an outage: it must not
# exit on that answer.
log "a long script holds redis while a worker starts"
redis-cli -p "$RP" config set lua-time-limit 100 >/dev/null
redis-cli -p "$RP" eval "local s=redis.call('TIME') local t0=s[1]*1000000+s[2] \
  while true do local n=redis.call('TIME') \
  if n[1]*1000000+n[2]-t0 > 4000000 then break end end return 1" 0 >/dev/null &
BUSYPID=$!
sleep 0.5
redis-cli -p "$RP" ping 2>&1 | grep -q BUSY || fail "redis was not busy: the test proves nothing"
start w "$WORK/c.yaml"
wait "$BUSYPID"
grep -q BUSY "$WORK/w.log" || fail "the worker never met the busy redis"
burst 4
wait_lag0 "$WORK/c.yaml" "$P" 90
for s in a b c d; do
  expect_eq "product $s (50 x (1+2+3+4))" "$(redis-cli -p "$RP" hget "product:$s" in_carts)" 500
done
stop w TERM
expect_eq "worker exit after the busy start" "$RC" 0
redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1 || true
log "PASS"
