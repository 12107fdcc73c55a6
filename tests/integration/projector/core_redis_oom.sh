#!/usr/bin/env bash
# core_redis_oom.sh - a Redis that refuses writes for now (OOM under
# maxmemory with noeviction) is an outage, not poison: the worker applies
# nothing, dead-letters nothing, keeps retrying with back-off, and applies
# every event once when memory is available again (docs/exactly-once.md,
# invariants 3 and 7).  Private Redis: maxmemory is never touched on the
# shared one.
TEST=core_redis_oom
. "$(dirname "$0")/core_lib.sh"
need
command -v redis-server >/dev/null || { log "SKIP: redis-server missing"; exit $SKIP; }
RP=""
for _ in $(seq 1 50); do
  p=$(( 20000 + RANDOM % 12000 ))
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { RP=$p; break; }
done
[ -n "$RP" ] || fail "no free port"
redis-server --port "$RP" --bind 127.0.0.1 --dir "$WORK" --save '' --appendonly no \
  --maxmemory-policy noeviction --daemonize no >"$WORK/redis.log" 2>&1 &
PIDS[$!]=1
r() { redis-cli -p "$RP" "$@"; }
for _ in $(seq 1 100); do r ping >/dev/null 2>&1 && break; sleep 0.1; done

T=$(new_topic oom 1)
P="oom$ID"
NAMES+=("$P")
cat >"$WORK/r.yaml" <<RULES
keys: ["$ID:*"]
on:
  shop.cart.ItemAddedToCart:
    - [INCR, "$ID:events"]
    - [HINCRBY, "$ID:items", "{data.sku}", "{data.quantity}"]
RULES
cat >"$WORK/c.yaml" <<CFG
kafka:
  bootstrap.servers: "$SF_BROKERS"
  session.timeout.ms: 6000
redis: {host: "127.0.0.1", port: $RP}
schemas: "$SCHEMAS"
projections:
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", batch: {size: 5, time_ms: 10}}
CFG
add() { for _ in $(seq 1 "$2"); do echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"c\",\"data\":{\"cart_id\":\"c\",\"sku\":\"$1\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"; done; }

start w "$WORK/c.yaml"
add A 3 | publish "$T"
for _ in $(seq 1 120); do [ "$(r get "sf:$P:ckpt:$T:0")" = 2 ] && break; sleep 0.25; done
expect_eq "applied before the memory limit" "$(r get "$ID:events")" 3

# fill Redis past a limit: every write is refused with OOM from now on
head -c 3000000 /dev/zero | tr '\0' x | r -x set "$ID:ballast" >/dev/null
r config set maxmemory 1mb >/dev/null
r set "$ID:probe" 1 2>&1 | grep -q OOM || fail "redis does not refuse writes (OOM) as set up"
add B 4 | publish "$T"
for _ in $(seq 1 60); do grep -q 'redis apply failed.*OOM' "$WORK/w.log" && break; sleep 0.25; done
grep -q 'redis apply failed.*OOM' "$WORK/w.log" || fail "the worker did not report the OOM refusal as a retriable failure"
sleep 3
kill -0 "$PID_w" 2>/dev/null || fail "the worker stopped on a retriable refusal"
expect_eq "nothing applied while OOM" "$(r get "$ID:events")" 3
expect_eq "checkpoint unchanged while OOM" "$(r get "sf:$P:ckpt:$T:0")" 2
dl=$(kcat -C -b "$SF_BROKERS" -t "$T.dlq" -e -q -f '%o\n' 2>/dev/null | grep -c . || true)
expect_eq "nothing dead-lettered for OOM" "$dl" 0

# memory back: every event applied, once
r config set maxmemory 0 >/dev/null
for _ in $(seq 1 120); do [ "$(r get "sf:$P:ckpt:$T:0")" = 6 ] && break; sleep 0.25; done
expect_eq "checkpoint after the refusal ended" "$(r get "sf:$P:ckpt:$T:0")" 6
expect_eq "events applied once" "$(r get "$ID:events")" 7
expect_eq "items" "$(r hget "$ID:items" A) $(r hget "$ID:items" B)" "3 4"
stop w TERM
expect_eq "worker exit" "$RC" 0
log "ok: OOM was retried as an outage, nothing applied twice or lost"
echo "1 passed, 0 failed"
