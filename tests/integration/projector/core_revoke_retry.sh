#!/usr/bin/env bash
# core_revoke_retry.sh - a rebalance while the worker waits inside a flush
# must not free records the flush still uses (partstate.h: a revoke inside a
# flush only marks the partition; its records are freed after the flush).
# The flush is made to wait by a Redis outage (a private redis-server,
# SIGKILLed with a batch in flight: the worker retries with back-off and
# polls the consumer meanwhile); the worker is then stopped past its
# session timeout, so the group takes the partition away while it retries,
# and continued.  It must neither crash nor report a sanitizer error (run
# it through sanitized.sh), must take the partition again once Redis is
# back, and the view must equal the fold: nothing lost, nothing twice.
# (Dead letters the topic refuses are no longer retried but cut or stopped
# on, docs/operations.md, so the outage is the wait that remains.)
TEST=core_revoke_retry
. "$(dirname "$0")/core_lib.sh"
need
private_redis_init
redis_up
SF_REDIS_PORT=$RP   # the config below points at the private server
t=$(new_topic revoke 1)
P="revoke$ID"
NAMES+=("$P")
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$t"], rules: "$EXAMPLES/product-availability.rules.yaml", batch: {size: 50, time_ms: 10}}
YAML
add() { # add SKU QTY
  echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"c$1\",\"data\":{\"cart_id\":\"c$1\",\"sku\":\"$1\",\"quantity\":$2,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"
}
burst() { for i in $(seq 1 20); do add a "$1"; done | publish "$t"; }
start w "$WORK/c.yaml"
burst 1
wait_lag0 "$WORK/c.yaml" "$P" 60
log "first burst applied; killing redis with the next batch in flight"
redis_down
burst 2
for _ in $(seq 1 60); do grep -q "redis apply failed" "$WORK/w.log" && break; sleep 0.5; done
grep -q "redis apply failed" "$WORK/w.log" || fail "the worker did not retry inside the flush"
kill -0 "$PID_w" 2>/dev/null || fail "the worker exited during the outage"
log "worker retries the flush; stopping it past the session timeout"
kill -STOP "$PID_w"; sleep 10; kill -CONT "$PID_w"
for _ in $(seq 1 60); do grep -qE "partition lost|msg=\"revoked" "$WORK/w.log" && break; sleep 0.5; done
grep -qE "partition lost|msg=\"revoked" "$WORK/w.log" || fail "no rebalance reached the worker"
kill -0 "$PID_w" 2>/dev/null || fail "the worker died after the rebalance"
grep -E "partition lost|msg=\"revoked" "$WORK/w.log" | head -2 >&2
log "rebalance during the retry survived; redis back"
redis_up
burst 3
for _ in $(seq 1 120); do [ "$(grep -c 'msg="assigned' "$WORK/w.log")" -ge 2 ] && break; sleep 0.5; done
[ "$(grep -c 'msg="assigned' "$WORK/w.log")" -ge 2 ] || fail "the worker did not take the partition again"
wait_lag0 "$WORK/c.yaml" "$P" 90
expect_eq "product a (20 x (1+2+3))" "$(redis-cli -p "$RP" hget "product:a" in_carts)" 120
stop w TERM
expect_eq "worker exit status after SIGTERM" "$RC" 0
redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1 || true
log "ok: rebalance during a flush retry, worker alive, partition re-taken, view exact"
echo "1 passed, 0 failed"
