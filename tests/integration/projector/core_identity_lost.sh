#!/usr/bin/env bash
# core_identity_lost.sh - Redis loses a projection's topic identity record
# (an AOF cut, a failover to a lagging replica) while a worker holds the
# topic's partitions.  The worker must record the topic again (and say
# so), so that a recreation of the topic afterwards is still caught: it
# stops with the identity line and applies none of the new topic's events.
TEST=core_identity_lost
. "$(dirname "$0")/core_lib.sh"
need

cat >"$WORK/r.yaml" <<RULES
keys: ["$ID:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$ID:items", "{data.sku}", "{data.quantity}"]
RULES
add() { for _ in $(seq 1 "$2"); do echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"c\",\"data\":{\"cart_id\":\"c\",\"sku\":\"$1\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"; done; }
T=$(new_topic idlost 1); P="idlost$ID"; NAMES+=("$P")
config "$WORK/c.yaml" <<CFG
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", batch: {size: 10, time_ms: 10}}
CFG
start w "$WORK/c.yaml"
add A 10 | publish "$T"
for _ in $(seq 1 240); do [ "$(rcli get "sf:$P:ckpt:$T:0")" = 9 ] && break; sleep 0.25; done
expect_eq "checkpoint" "$(rcli get "sf:$P:ckpt:$T:0")" 9
K="sf:$P:topic:$T"
[ "$(rcli exists "$K")" = 1 ] || fail "no identity record $K"

rcli del "$K" >/dev/null # what Redis coming back older looks like
for _ in $(seq 1 60); do [ "$(rcli exists "$K")" = 1 ] && break; sleep 0.5; done
[ "$(rcli exists "$K")" = 1 ] || fail "the worker did not record the topic's identity again within 30 s"
grep -q "topic identity record missing in redis" "$WORK/w.log" || fail "the worker did not say so"
log "lost identity record: recorded again"

"$E2E" drop -t "$T" >/dev/null 2>&1 || fail "cannot delete $T"
for _ in $(seq 1 30); do
  "$SF_SOURCE_DIR/deploy/topics.sh" create -b "$SF_BROKERS" -p 1 "$T" >"$WORK/re.log" 2>&1 && break
  sleep 1
done
grep -q created "$WORK/re.log" || fail "cannot recreate $T: $(cat "$WORK/re.log")"
add B 30 | publish "$T" # offsets 0..29: 10..29 lie past the old checkpoint
for _ in $(seq 1 180); do kill -0 "$PID_w" 2>/dev/null || break; sleep 0.5; done
kill -0 "$PID_w" 2>/dev/null && fail "the worker still runs on a recreated topic: B=$(rcli hget "$ID:items" B)"
stop w KILL
grep -q "is not the log its checkpoints belong to" "$WORK/w.log" \
  || fail "the worker did not name the recreation: $(tail -n 3 "$WORK/w.log")"
expect_eq "new topic's events applied" "$(rcli hget "$ID:items" B)" ""
log "PASS"
