#!/usr/bin/env bash
# core_redis_rollback_idle.sh - Redis loses writes while a partition has
# nothing new to apply (docs/exactly-once.md, "an idle partition").
# No batch meets the apply script's compare-and-set then, so the worker
# must notice by itself that Redis went back; otherwise the events past
# the restored checkpoint stay unapplied for good with lag 0 (found by the
# fault campaign, seed 14: an AOF cut under a partition that received no
# event afterwards).  A private Redis (RDB snapshots only) is rolled back
# under a running worker, with no event published after the rollback:
#  1. to a snapshot with the same epoch and an older checkpoint;
#  2. to an empty Redis (an epoch older than the worker's token).
# Each time the view must come back to the fold of every event, once.
TEST=core_redis_rollback_idle
. "$(dirname "$0")/core_lib.sh"
need
command -v redis-server >/dev/null || { log "SKIP: redis-server missing"; exit $SKIP; }

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 20000 + RANDOM % 12000 ))
    [ "$p" = 9192 ] && continue
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  fail "no free port"
}
RP=$(free_port)
mkdir -p "$WORK/redis"
redis_start() {
  redis-server --port "$RP" --bind 127.0.0.1 --dir "$WORK/redis" --dbfilename snap.rdb \
    --save '' --appendonly no --daemonize no >>"$WORK/redis.log" 2>&1 &
  RPID=$!; PIDS[$RPID]=1
  for _ in $(seq 1 100); do redis-cli -p "$RP" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "private redis did not start"
}
redis_kill() { kill -KILL "$RPID"; wait "$RPID" 2>/dev/null || true; unset "PIDS[$RPID]"; }
# rollback: Redis crashes and comes back from the snapshot while the worker
# is stopped (SIGSTOP, well inside its session timeout), so that what Redis
# came back with can be checked before the worker repairs it
rollback() {
  kill -STOP "$PID_w"
  redis_kill; redis_start
  GOT="$(r get "sf:$P:ckpt:$T:0")/$(view)"
  kill -CONT "$PID_w"
}
r() { redis-cli -p "$RP" "$@"; }
redis_start

T=$(new_topic idle 1)
P="ri$ID"
NAMES+=("$P")
cat >"$WORK/r.yaml" <<RULES
keys: ["$ID:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$ID:items", "{data.sku}", "{data.quantity}"]
    - [INCR, "$ID:events"]
RULES
cat >"$WORK/c.yaml" <<CFG
kafka:
  bootstrap.servers: "$SF_BROKERS"
  session.timeout.ms: 6000
redis: {host: "127.0.0.1", port: $RP}
schemas: "$SCHEMAS"
projections:
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", batch: {size: 10, time_ms: 10}}
CFG
add() { for _ in $(seq 1 "$2"); do echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"c\",\"data\":{\"cart_id\":\"c\",\"sku\":\"$1\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"; done; }
wait_ckpt() { # wait_ckpt OFFSET WHAT
  for _ in $(seq 1 240); do [ "$(r get "sf:$P:ckpt:$T:0" 2>/dev/null)" = "$1" ] && return 0; sleep 0.25; done
  fail "$2: checkpoint did not reach $1 within 60 s (is '$(r get "sf:$P:ckpt:$T:0")')"
}
view() { echo "A=$(r hget "$ID:items" A) B=$(r hget "$ID:items" B) events=$(r get "$ID:events")"; }

start w "$WORK/c.yaml"
add A 5 | publish "$T"; wait_ckpt 4 "first events"
r save >/dev/null                         # the state Redis will come back with
add B 5 | publish "$T"; wait_ckpt 9 "second events"
expect_eq "before the rollback" "$(view)" "A=5 B=5 events=10"

# --- 1. same epoch, older checkpoint; nothing published afterwards ------
rollback
expect_eq "redis came back older" "$GOT" "4/A=5 B= events=5"
wait_ckpt 9 "after a rollback under an idle partition"
expect_eq "after the rollback (B re-applied once)" "$(view)" "A=5 B=5 events=10"
grep -q 'expected=9 checkpoint=4 msg="checkpoint mismatch (redis holds an older checkpoint, found while the partition was idle)' \
  "$WORK/w.log" || fail "the worker did not log the mismatch it found"
log "rollback to an older checkpoint under an idle partition: re-applied from it"

# --- 2. back to nothing: the epoch is older than the worker's token ------
tok=$(r get "sf:$P:epoch:$T:0")
rm -f "$WORK/redis/snap.rdb"
rollback
expect_eq "redis came back empty" "$GOT" "/A= B= events="
wait_ckpt 9 "after losing everything under an idle partition"
expect_eq "after losing everything (replayed from offset 0, once)" "$(view)" "A=5 B=5 events=10"
grep -q "redis lost writes (its epoch is older than this worker's token), taking the partition again" \
  "$WORK/w.log" || fail "the worker did not log the lost epoch"
tok2=$(r get "sf:$P:epoch:$T:0")
[ "${tok2:-0}" -gt "${tok:-0}" ] || fail "the re-acquired token ${tok2:-absent} is not above the lost one ${tok:-absent}"

# the worker is still consuming, and a restart finds nothing left to do
add A 1 | publish "$T"; wait_ckpt 10 "an event after the recoveries"
stop w TERM
expect_eq "worker exit" "$RC" 0
start w2 "$WORK/c.yaml"; sleep 5; stop w2 TERM
expect_eq "after a restart" "$(view)" "A=6 B=5 events=11"
log "ok: both rollbacks under an idle partition were noticed and repaired"
echo "1 passed, 0 failed"
