#!/usr/bin/env bash
# core_rebuild_faults.sh - the rebuild under faults (docs/lifecycle.md,
# docs/exactly-once.md), against a private Redis (RDB snapshots, no AOF) that
# is crashed and brought back older while `rebuild` replays:
#  1. Redis comes back with a snapshot taken during the replay (after the
#     clear): the rebuild notices that its checkpoint is below the batches it
#     still holds and replays again from Redis' checkpoint; the view ends
#     equal to the fold, exit 0, marker gone.
#  1b. Redis resets the rebuild's connections (CLIENT KILL) twice: replies
#     of applied batches are lost; the rebuild goes on, view = fold.
#  2. Redis comes back with a snapshot from before the rebuild (the old view
#     and its old checkpoint): the rebuild fails with one error line (no
#     abort), and the rebuild marker is there again so workers wait.
#  3. Two rebuilds at once: A is stopped (SIGSTOP) after it set its marker,
#     B (--force) runs to the end, then A resumes: A must stop without
#     touching B's view, checkpoint or marker.
#  4. on_error: stop, an event fails in Redis half way (its 2nd command); the
#     operator skips it; a rebuild must pass it as the worker did and
#     reproduce the live view exactly.
# Rebuilds are paused with SIGSTOP/SIGCONT at conditions read from Redis
# (never after a bare sleep).
TEST=core_rebuild_faults
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

add() { # add SKU N [CART]
  for _ in $(seq 1 "$2"); do echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"${3:-c}\",\"data\":{\"cart_id\":\"${3:-c}\",\"sku\":\"$1\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"; done
}
cfg() { # cfg FILE PROJECTION TOPIC RULES [EXTRA]
  cat >"$1" <<CFG
kafka:
  bootstrap.servers: "$SF_BROKERS"
  session.timeout.ms: 6000
redis: {host: "127.0.0.1", port: $RP}
schemas: "$SCHEMAS"
projections:
  - {name: "$2", topics: ["$3"], rules: "$4", batch: {size: 10, time_ms: 10}${5:-}}
CFG
}
ckpt() { r get "sf:$P:ckpt:$T:0" 2>/dev/null || true; }
# until_ckpt MIN PID: until the checkpoint is >= MIN (fails if PID ended)
until_ckpt() {
  for _ in $(seq 1 3000); do
    local c; c=$(ckpt); [ -n "$c" ] && [ "$c" -ge "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || fail "the rebuild ended before checkpoint $1 (at '$c')"
    sleep 0.01
  done
  fail "checkpoint did not reach $1"
}
rebuild_bg() { # rebuild_bg NAME CONFIG PROJECTION [ARGS] -> RBPID
  local n=$1 c=$2 p=$3; shift 3
  "$PROJ" rebuild --in-place -c "$c" "$p" "$@" >"$WORK/$n.log" 2>&1 &
  RBPID=$!; PIDS[$RBPID]=1
}
rebuild_wait() { RBRC=0; wait "$RBPID" || RBRC=$?; unset "PIDS[$RBPID]"; }

N=30000
T=$(new_topic rbfault 1)
P="rbf$ID"; NAMES+=("$P")
cat >"$WORK/r.yaml" <<RULES
keys: ["$ID:*"]
on:
  shop.cart.ItemAddedToCart:
    - [INCR, "$ID:events"]
RULES
cfg "$WORK/c.yaml" "$P" "$T" "$WORK/r.yaml"
add A "$N" | publish "$T"

# --- 1. Redis loses replayed writes after the clear ----------------------
rebuild_bg rb1 "$WORK/c.yaml" "$P" --batch 10
until_ckpt 3000 "$RBPID"
kill -STOP "$RBPID"; r save >/dev/null; saved=$(ckpt); kill -CONT "$RBPID"
until_ckpt $(( saved + 3000 )) "$RBPID"
kill -STOP "$RBPID"
redis_crash; redis_up
log "redis back at checkpoint $(ckpt) (the rebuild had passed $(( saved + 3000 )))"
[ "$(ckpt)" = "$saved" ] || fail "redis did not come back with the snapshot"
kill -CONT "$RBPID"; rebuild_wait
expect_eq "rebuild exit after redis lost replayed writes" "$RBRC" 0
grep -q "replaying again from redis' checkpoints" "$WORK/rb1.log" \
  || fail "the rebuild did not say it replayed again"
expect_eq "view after the lost writes" "$(r get "$ID:events") $(ckpt) $(r exists "sf:$P:rebuild")" "$N $(( N - 1 )) 0"

# --- 1b. connections reset, nothing lost ----------------------------------
# replies of applied batches are lost with the connection: the rebuild must
# skip what Redis' checkpoint covers, not re-send it below the checkpoint
rebuild_bg rb1b "$WORK/c.yaml" "$P" --batch 10
for _ in $(seq 1 3000); do c=$(ckpt); [ "$c" != $(( N - 1 )) ] && break; sleep 0.01; done
until_ckpt 3000 "$RBPID"
kill -STOP "$RBPID"; r client kill type normal >/dev/null; kill -CONT "$RBPID"
until_ckpt 9000 "$RBPID"
kill -STOP "$RBPID"; r client kill type normal >/dev/null; kill -CONT "$RBPID"
rebuild_wait
grep -q "invariant" "$WORK/rb1b.log" && fail "the rebuild hit an assertion: $(grep invariant "$WORK/rb1b.log")"
expect_eq "rebuild exit after connection resets" "$RBRC" 0
grep -q "connection lost" "$WORK/rb1b.log" || fail "the connection resets were not seen (test did not exercise them)"
expect_eq "view after connection resets" "$(r get "$ID:events") $(ckpt) $(r exists "sf:$P:rebuild")" "$N $(( N - 1 )) 0"

# --- 2. Redis goes back to before the rebuild ----------------------------
r save >/dev/null                                  # old view, old checkpoint
rebuild_bg rb2 "$WORK/c.yaml" "$P" --batch 10
for _ in $(seq 1 3000); do c=$(ckpt); [ "$c" != $(( N - 1 )) ] && break; sleep 0.01; done
[ "$(ckpt)" != $(( N - 1 )) ] || fail "the second rebuild did not clear the checkpoint"
until_ckpt 3000 "$RBPID"
kill -STOP "$RBPID"
redis_crash; redis_up
kill -CONT "$RBPID"; rebuild_wait
[ "$RBRC" -ne 0 ] && [ "$RBRC" -lt 128 ] || fail "rebuild exit $RBRC: want a plain failure, not success or a signal"
grep -q "invariant" "$WORK/rb2.log" && fail "the rebuild hit an assertion: $(grep invariant "$WORK/rb2.log")"
grep -q "^sf-projector rebuild: .*checkpoint is $(( N - 1 ))" "$WORK/rb2.log" \
  || fail "no clear error line naming the checkpoint"
expect_eq "marker kept after the failed rebuild" "$(r exists "sf:$P:rebuild")" 1
"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" --force >"$WORK/rb2b.log" 2>&1 || fail "rebuild --force after the failure"
expect_eq "view after the forced rebuild" "$(r get "$ID:events") $(ckpt) $(r exists "sf:$P:rebuild")" "$N $(( N - 1 )) 0"

# --- 3. two rebuilds at once ---------------------------------------------
# on_error: stop makes A read the whole history (its check before the
# clear) after it set its marker: it is stopped there.
P3="rbs$ID"; NAMES+=("$P3")
cfg "$WORK/c3.yaml" "$P3" "$T" "$WORK/r.yaml" ", on_error: stop"
rebuild_bg rbA "$WORK/c3.yaml" "$P3"
A=$RBPID
for _ in $(seq 1 3000); do [ "$(r exists "sf:$P3:rebuild")" = 1 ] && break; sleep 0.005; done
kill -STOP "$A"
[ "$(r exists "sf:$P3:ckpt:$T:0")" = 0 ] || fail "A passed its check before it was stopped (test too slow?)"
"$PROJ" rebuild --in-place -c "$WORK/c3.yaml" "$P3" --force >"$WORK/rbB.log" 2>&1 || fail "rebuild B --force"
B=$(r get "$ID:events") BCK=$(r get "sf:$P3:ckpt:$T:0")
kill -CONT "$A"; RBPID=$A; rebuild_wait
[ "$RBRC" -ne 0 ] && [ "$RBRC" -lt 128 ] || fail "rebuild A exit $RBRC after B took over: want a plain failure"
grep -q "another rebuild took over" "$WORK/rbA.log" || fail "A did not say another rebuild took over"
expect_eq "B's view after A resumed" "$(r get "$ID:events") $(r get "sf:$P3:ckpt:$T:0") $(r exists "sf:$P3:rebuild")" "$B $BCK 0"
expect_eq "B's view is the fold" "$B $BCK" "$N $(( N - 1 ))"

# --- 4. on_error: stop, skipped Redis failure, then rebuild --------------
T4=$(new_topic rbskip 1)
P4="rbk$ID"; NAMES+=("$P4")
cat >"$WORK/r4.yaml" <<RULES
keys: ["$ID:k:*"]
on:
  shop.cart.ItemAddedToCart:
    - [SET, "$ID:k:last", "{data.sku}"]
    - [HINCRBY, "$ID:k:{data.cart_id}", "{data.sku}", "{data.quantity}"]
    - [INCR, "$ID:k:events"]
RULES
cfg "$WORK/c4.yaml" "$P4" "$T4" "$WORK/r4.yaml" ", on_error: stop"
# the 3rd event's cart is "last": its HINCRBY meets the string its own SET
# just wrote (only Redis can tell), so it fails after its first command
{ add X 2 u; add Y 1 last; add Z 2 u; } | publish "$T4"
"$PROJ" run -c "$WORK/c4.yaml" >"$WORK/w4.log" 2>&1 & W=$!; PIDS[$W]=1
for _ in $(seq 1 240); do [ -n "$(r get "sf:$P4:halt:$T4:0")" ] && break; sleep 0.25; done
kill -TERM "$W" 2>/dev/null || true; wait "$W" 2>/dev/null || true; unset "PIDS[$W]"
[ -n "$(r get "sf:$P4:halt:$T4:0")" ] || fail "the worker did not halt at the failing event"
"$PROJ" skip -c "$WORK/c4.yaml" "$P4" -t "$T4" -p 0 -o 2 >"$WORK/skip4.log" 2>&1 || fail "skip: $(cat "$WORK/skip4.log")"
"$PROJ" run -c "$WORK/c4.yaml" >>"$WORK/w4.log" 2>&1 & W=$!; PIDS[$W]=1
for _ in $(seq 1 240); do [ "$(r get "sf:$P4:ckpt:$T4:0")" = 4 ] && break; sleep 0.25; done
kill -TERM "$W" 2>/dev/null || true; wait "$W" 2>/dev/null || true; unset "PIDS[$W]"
view4() { echo "last=$(r get "$ID:k:last") u=$(r hgetall "$ID:k:u" | paste -sd,) events=$(r get "$ID:k:events") ckpt=$(r get "sf:$P4:ckpt:$T4:0")"; }
live=$(view4)
expect_eq "live view with the skipped event" "$live" "last=Z u=X,2,Z,2 events=4 ckpt=4"
RBRC=0; "$PROJ" rebuild --in-place -c "$WORK/c4.yaml" "$P4" >"$WORK/rb4.log" 2>&1 || RBRC=$?
expect_eq "rebuild of the stop projection with a skipped redis failure" "$RBRC" 0
expect_eq "rebuilt view equals the live one" "$(view4) $(r exists "sf:$P4:rebuild")" "$live 0"
log "PASS"
