#!/usr/bin/env bash
# core_running_log.sh - the log changes under a RUNNING worker
# (docs/running-log.md).  The identity and offset-range checks of an
# assignment must also hold while the worker runs:
#  1. the topic is deleted and recreated (same name, same partition count)
#     and the new topic gets more events than the old checkpoint covers:
#     the worker must stop with the identity line, apply none of the new
#     topic's events (librdkafka must not reset the offset to an end), and
#     `status` must call the partition "mismatch";
#  2. the checkpoint is moved past the partition's end by hand (as when
#     Redis is restored next to another log): the worker must stop with the
#     offset-range line instead of seeking past the end, and `status` must
#     flag the checkpoint beyond the end;
#  3. another owner takes the epoch while the generation stays (what a
#     zombie's re-take after a Redis rollback does to the rightful owner):
#     the worker is fenced, does not re-take by itself, applies nothing,
#     and exits non-zero within about a minute so its supervisor restarts
#     it; the restart applies the held events once.
TEST=core_running_log
. "$(dirname "$0")/core_lib.sh"
need

rules() {
  cat >"$WORK/$1.rules.yaml" <<RULES
keys: ["$ID:$1:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$ID:$1:items", "{data.sku}", "{data.quantity}"]
RULES
}
add() { for _ in $(seq 1 "$2"); do echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"c\",\"data\":{\"cart_id\":\"c\",\"sku\":\"$1\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"; done; }
wait_ckpt() { # wait_ckpt PROJECTION TOPIC OFFSET
  for _ in $(seq 1 240); do [ "$(rcli get "sf:$1:ckpt:$2:0" 2>/dev/null)" = "$3" ] && return 0; sleep 0.25; done
  fail "checkpoint of $1 did not reach $3 (is $(rcli get "sf:$1:ckpt:$2:0"))"
}
wait_exit() { # wait_exit NAME SECONDS
  local pid
  eval "pid=\$PID_$1"
  for _ in $(seq 1 $(( $2 * 2 ))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  return 1
}

t1=$(new_topic rlrec 1); p1="rlrec$ID"; NAMES+=("$p1"); rules a
t2=$(new_topic rlend 1); p2="rlend$ID"; NAMES+=("$p2"); rules b
t3=$(new_topic rlfen 1); p3="rlfen$ID"; NAMES+=("$p3"); rules c
config "$WORK/c.yaml" <<CFG
  - {name: "$p1", topics: ["$t1"], rules: "$WORK/a.rules.yaml", batch: {size: 10, time_ms: 10}}
  - {name: "$p2", topics: ["$t2"], rules: "$WORK/b.rules.yaml", batch: {size: 10, time_ms: 10}}
  - {name: "$p3", topics: ["$t3"], rules: "$WORK/c.rules.yaml", batch: {size: 10, time_ms: 10}}
CFG
start w1 "$WORK/c.yaml" "$p1"
start w2 "$WORK/c.yaml" "$p2"
start w3 "$WORK/c.yaml" "$p3"
add A 20 | publish "$t1"
add A 10 | publish "$t2"
add A 5 | publish "$t3"
wait_ckpt "$p1" "$t1" 19
wait_ckpt "$p2" "$t2" 9
wait_ckpt "$p3" "$t3" 4

# --- 3. (runs meanwhile) fenced by an owner outside the group -----------
ep=$(rcli incr "sf:$p3:epoch:$t3:0")
# the outside owner is alive: it refreshes its state report as a worker
# does (an epoch nobody reports is taken back after 10 s:
# core_fenced_stale_epoch.sh)
other_owner_start "$p3" "$t3" 0
add B 3 | publish "$t3"

# --- 1. topic recreated under the running worker ------------------------
"$E2E" drop -t "$t1" >/dev/null 2>&1 || fail "cannot delete $t1"
for _ in $(seq 1 30); do
  "$SF_SOURCE_DIR/deploy/topics.sh" create -b "$SF_BROKERS" -p 1 "$t1" >"$WORK/re.log" 2>&1 && break
  sleep 1
done
grep -q created "$WORK/re.log" || fail "cannot recreate $t1: $(cat "$WORK/re.log")"
add B 30 | publish "$t1"      # offsets 0..29: 20..29 lie past the old checkpoint

# --- 2. checkpoint moved past the end under the running worker ----------
rcli set "sf:$p2:ckpt:$t2:0" 40 >/dev/null
add B 20 | publish "$t2"      # end offset 30: checkpoint 40 lies past it

wait_exit w1 90 || fail "worker 1 still runs on a recreated topic: view B=$(rcli hget "$ID:a:items" B)"
stop w1 KILL
[ "$RC" -ne 0 ] || fail "worker 1 exited 0 on a recreated topic"
grep -q "is not the log its checkpoints belong to" "$WORK/w1.log" \
  || fail "worker 1 did not say why: $(tail -n 3 "$WORK/w1.log")"
expect_eq "new topic's events applied by worker 1" "$(rcli hget "$ID:a:items" B)" ""
expect_eq "old topic's view" "$(rcli hget "$ID:a:items" A)" 20
grep -q "offset reset" "$WORK/w1.log" && fail "librdkafka reset an offset by itself: $(grep "offset reset" "$WORK/w1.log" | head -n 1)"
s1=$(status_of "$p1")
printf '%s\n' "$s1" | grep -E "^  $t1 +0 .* mismatch$" >/dev/null \
  || fail "status does not show the recreated partition as mismatch: $s1"
log "recreated topic: worker stopped, nothing of the new topic applied, status says mismatch"

wait_exit w2 90 || fail "worker 2 still runs past a checkpoint beyond the end: view B=$(rcli hget "$ID:b:items" B)"
stop w2 KILL
[ "$RC" -ne 0 ] || fail "worker 2 exited 0 with a checkpoint past the end"
grep -q "checkpoint 40 is outside the partition's offsets" "$WORK/w2.log" \
  || fail "worker 2 did not say why: $(tail -n 3 "$WORK/w2.log")"
expect_eq "events applied past the bogus checkpoint" "$(rcli hget "$ID:b:items" B)" ""
s2=$(status_of "$p2")
printf '%s\n' "$s2" | grep -E "^  $t2 +0 +40 +30 .* ckpt-beyond-end$" >/dev/null \
  || fail "status does not flag the checkpoint beyond the end: $s2"
log "checkpoint past the end: worker stopped with the range line, status says ckpt-beyond-end"

grep -q 'msg="fenced: another worker owns the partition' "$WORK/w3.log" \
  || fail "worker 3 was not fenced: $(tail -n 3 "$WORK/w3.log")"
expect_eq "epoch while fenced (no re-take by the fenced worker)" "$(rcli get "sf:$p3:epoch:$t3:0")" "$ep"
expect_eq "events applied while fenced" "$(rcli hget "$ID:c:items" B)" ""
wait_exit w3 150 || fail "worker 3 idles fenced for good"
other_owner_stop
stop w3 KILL
[ "$RC" -ne 0 ] || fail "worker 3 exited 0 while fenced"
grep -q "by another owner of its epoch while the group still assigns it" "$WORK/w3.log" \
  || fail "worker 3 did not say why it stopped: $(tail -n 3 "$WORK/w3.log")"
expect_eq "checkpoint after the fenced worker stopped" "$(rcli get "sf:$p3:ckpt:$t3:0")" 4
start w3b "$WORK/c.yaml" "$p3"     # what the supervisor does
wait_ckpt "$p3" "$t3" 7
expect_eq "view after the restart" "A=$(rcli hget "$ID:c:items" A) B=$(rcli hget "$ID:c:items" B)" "A=5 B=3"
stop w3b TERM
log "fenced with the generation unchanged: no re-take, exit, the restart applied the held events once"
echo "3 passed, 0 failed"
