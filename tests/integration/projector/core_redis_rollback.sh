#!/usr/bin/env bash
# core_redis_rollback.sh - continuity after Redis loses writes
# (docs/exactly-once.md).  A private Redis (RDB snapshots only, no AOF) is
# rolled back under a running worker twice:
#  1. to a snapshot taken after the first events: the checkpoint is older
#     than the one the worker saw, its epoch is the same.  The next batch
#     meets a checkpoint mismatch; the worker re-reads from Redis'
#     checkpoint + 1, and says so in its log and in
#     streamfold_checkpoint_mismatch_total;
#  2. to an empty Redis (a snapshot older than the worker's own epoch): the
#     epoch is older than the worker's token, i.e. Redis lost writes (not
#     another owner); the worker takes a fresh token and replays from the
#     start of the partition;
#  3. to a snapshot that holds a rebuild marker (taken while a rebuild ran,
#     which finished afterwards): the worker's token is above the restored
#     epoch, and its recovery must go through the path of a new assignment,
#     so it waits while the restored marker is there instead of resuming
#     onto a view the rebuild was clearing.
# Each time the view must end equal to the fold of every event, once.
TEST=core_redis_rollback
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
RP=$(free_port); MP=$(free_port)
mkdir -p "$WORK/redis"
redis_up() {
  redis-server --port "$RP" --bind 127.0.0.1 --dir "$WORK/redis" --dbfilename snap.rdb \
    --save '' --appendonly no --daemonize no >>"$WORK/redis.log" 2>&1 &
  RPID=$!; PIDS[$RPID]=1
  for _ in $(seq 1 100); do redis-cli -p "$RP" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "private redis did not start"
}
redis_crash() { kill -KILL "$RPID"; wait "$RPID" 2>/dev/null || true; unset "PIDS[$RPID]"; }
r() { redis-cli -p "$RP" "$@"; }
redis_up

T=$(new_topic rollback 1)
P="rb$ID"
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
metrics: {listen: "127.0.0.1:$MP"}
projections:
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", batch: {size: 10, time_ms: 10}}
CFG
add() { for _ in $(seq 1 "$2"); do echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"c\",\"data\":{\"cart_id\":\"c\",\"sku\":\"$1\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"; done; }
wait_ckpt() { # wait_ckpt OFFSET
  for _ in $(seq 1 240); do [ "$(r get "sf:$P:ckpt:$T:0" 2>/dev/null)" = "$1" ] && return 0; sleep 0.25; done
  fail "checkpoint did not reach $1 (is $(r get "sf:$P:ckpt:$T:0"))"
}
view() { echo "A=$(r hget "$ID:items" A) B=$(r hget "$ID:items" B) C=$(r hget "$ID:items" C) D=$(r hget "$ID:items" D) events=$(r get "$ID:events")"; }
mismatches() { curl -s "http://127.0.0.1:$MP/metrics" | awk -v p="$P" '$1 == "streamfold_checkpoint_mismatch_total{projection=\"" p "\"}" {print $2}'; }

start w "$WORK/c.yaml"
add A 5 | publish "$T"; wait_ckpt 4
r save >/dev/null                         # the state Redis will come back with
add B 5 | publish "$T"; wait_ckpt 9
expect_eq "before the rollback" "$(view)" "A=5 B=5 C= D= events=10"

# --- 1. back to the snapshot: same epoch, older checkpoint ---------------
redis_crash; redis_up
expect_eq "redis came back older" "$(r get "sf:$P:ckpt:$T:0")" 4
add C 5 | publish "$T"; wait_ckpt 14
expect_eq "after the rollback (B re-applied, nothing twice)" "$(view)" "A=5 B=5 C=5 D= events=15"
grep -q 'expected=9 checkpoint=4 msg="checkpoint mismatch' "$WORK/w.log" || fail "the worker did not log the mismatch"
m=$(mismatches); [ "${m:-0}" -ge 1 ] || fail "streamfold_checkpoint_mismatch_total is '${m:-absent}'"
log "rollback to an older checkpoint: resumed from it (mismatches: $m)"

# --- 2. back to nothing: the epoch is older than the worker's token ------
rm -f "$WORK/redis/snap.rdb"
redis_crash; redis_up
expect_eq "redis came back empty" "$(r dbsize)" 0
add D 2 | publish "$T"; wait_ckpt 16
expect_eq "after losing everything (replayed from offset 0)" "$(view)" "A=5 B=5 C=5 D=2 events=17"
grep -q "redis lost writes (its epoch is older than this worker's token), taking the partition again" "$WORK/w.log" \
  || fail "the worker did not log the lost epoch"
tok=$(r get "sf:$P:epoch:$T:0")
[ "${tok:-0}" -ge 2 ] || fail "the re-acquired token is not above the lost one (epoch ${tok:-absent})"

# --- 3. back to a snapshot taken while a rebuild ran ---------------------
r set "sf:$P:rebuild" "test-rebuild pid 1" >/dev/null
r save >/dev/null                         # marker, epoch $tok, checkpoint 16
r del "sf:$P:rebuild" >/dev/null
# the rebuild ends: generation and epoch move on, the worker is fenced and
# takes the partition again with a token above the snapshot's epoch
r incr "sf:$P:generation" >/dev/null; r incr "sf:$P:epoch:$T:0" >/dev/null
add E 3 | publish "$T"; wait_ckpt 19
redis_crash; redis_up
expect_eq "redis came back with the rebuild marker" "$(r exists "sf:$P:rebuild")" 1
add F 4 | publish "$T"
for _ in $(seq 1 60); do grep -q "redis lost writes" <(sed -n '/re-taken after a rebuild/,$p' "$WORK/w.log") && break; sleep 0.25; done
sleep 5
expect_eq "checkpoint while the restored marker is there" "$(r get "sf:$P:ckpt:$T:0")" 16
expect_eq "view while the restored marker is there" "$(view)" "A=5 B=5 C=5 D=2 events=17"
grep -q 'msg="a rebuild runs (test-rebuild pid 1): partition paused' "$WORK/w.log" \
  || fail "the worker did not say it waits for the restored rebuild marker"
st=$(status_of "$P")
printf '%s\n' "$st" | grep -q "waiting-rebuild" || fail "status does not show the partition waiting: $st"
r del "sf:$P:rebuild" >/dev/null         # the operator ends the (dead) rebuild
wait_ckpt 23
expect_eq "after the marker is gone" "$(view) E=$(r hget "$ID:items" E) F=$(r hget "$ID:items" F)" \
  "A=5 B=5 C=5 D=2 events=24 E=3 F=4"
log "restored rebuild marker: the worker waited for it, then resumed from the restored checkpoint"

# a restart finds nothing left to do
stop w TERM
expect_eq "worker exit" "$RC" 0
start w2 "$WORK/c.yaml"; sleep 5; stop w2 TERM
expect_eq "after a restart" "$(view)" "A=5 B=5 C=5 D=2 events=24"
log "ok: the three rollbacks were noticed and repaired"
echo "1 passed, 0 failed"
