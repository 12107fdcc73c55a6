#!/usr/bin/env bash
# core_revoke_retry.sh - a rebalance while the worker waits inside a flush
# (here: retrying the dead letter of an event whose command failed in
# Redis, the dead-letter topic refusing the record) must not free records
# the flush still uses (partstate.h: a revoke inside a flush only marks).
# The worker is stopped past its session timeout, so the group takes the
# partition away while it retries, and continued.  It must neither crash
# nor report a sanitizer error (run it through sanitized.sh), and must
# take the partition again.
TEST=core_revoke_retry
. "$(dirname "$0")/core_lib.sh"
need
t=$(new_topic revoke 1)
P="revoke$ID"
NAMES+=("$P")
sed "s/\"cart:/\"$ID:cart:/g; s/\[\"cart:\*\"\]/[\"$ID:cart:*\"]/" \
  "$EXAMPLES/cart-contents.rules.yaml" >"$WORK/r.yaml"
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$t"], rules: "$WORK/r.yaml"}
YAML
# the dead-letter topic exists already and takes no record of this size
jars=$("$SF_SOURCE_DIR/deploy/stack.sh" jars-dir)
java -cp "$jars/*" -Dlog4j.configuration=file:/dev/null org.apache.kafka.tools.TopicCommand \
  --bootstrap-server "$SF_BROKERS" --create --topic "$t.dlq" --partitions 1 \
  --config max.message.bytes=64 --config retention.ms=-1 >"$WORK/dlq.log" 2>&1 \
  || fail "cannot create $t.dlq: $(tail -n 3 "$WORK/dlq.log")"
# the item's quantity field holds text: HINCRBY fails inside Redis
rcli hset "$ID:cart:k:items" A abc >/dev/null
printf '{"type":"shop.cart.ItemAddedToCart","aggregate_id":"k","data":{"cart_id":"k","sku":"A","quantity":1,"unit_price_cents":1,"added_at":1,"currency":"EUR"}}\n' | publish "$t"
start w "$WORK/c.yaml"
# the failed event is recorded in its halt key (redis_sink.h) or the
# dead-letter failure in the log
failing() { [ -n "$(rcli get "sf:$P:halt:$t:0")" ] || grep -q "dead-letter failed" "$WORK/w.log"; }
for _ in $(seq 1 120); do failing && break; sleep 0.5; done
failing || fail "the event did not fail in Redis: $(tail -n 3 "$WORK/w.log")"
kill -0 "$PID_w" 2>/dev/null || fail "the worker exited before the rebalance (exit: $(wait "$PID_w"; echo $?))"
sleep 2
log "worker retries the dead letter; stopping it past the session timeout"
kill -STOP "$PID_w"; sleep 10; kill -CONT "$PID_w"
for _ in $(seq 1 60); do grep -qE "partition lost|revoked" "$WORK/w.log" && break; sleep 0.5; done
grep -qE "partition lost|revoked" "$WORK/w.log" || fail "no rebalance reached the worker"
for _ in $(seq 1 60); do [ "$(grep -c 'msg="assigned' "$WORK/w.log")" -ge 2 ] && break; sleep 0.5; done
sleep 3
kill -0 "$PID_w" 2>/dev/null || { stop w TERM; fail "the worker died after the rebalance (exit $RC)"; }
[ "$(grep -c 'msg="assigned' "$WORK/w.log")" -ge 2 ] || fail "the worker did not take the partition again"
stop w TERM
expect_eq "worker exit status after SIGTERM" "$RC" 0
log "ok: rebalance during the dead-letter retry, worker alive, partition re-taken (exit $RC)"
echo "1 passed, 0 failed"
