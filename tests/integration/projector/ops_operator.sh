#!/usr/bin/env bash
# ops_operator.sh - operator commands are safe and synchronous:
#  - skip passes exactly the event blocking a partition; a topic the
#    projection does not read, a partition that does not exist (exit 2),
#    an offset past the end, already applied or behind other unapplied
#    events (exit 1) are refused with nothing changed; --force passes a
#    range; every skip is logged and counted (status SKIPS);
#  - a rebuild of an on_error: stop projection with unskipped poison in its
#    history fails before clearing the view; once skipped, it passes;
#  - pause/resume return once every worker acknowledged: events published
#    after pause returned are not applied; a worker that cannot answer
#    (SIGSTOP) is named after --timeout;
#  - status counts lag from the Redis checkpoint even when the group's
#    committed offset is ahead, and shows states and workers;
#  - usage and configuration errors exit 2 (bad -X, unknown projection).
TEST=ops_operator
. "$(dirname "$0")/core_lib.sh"
need
T=$(new_topic op 1); U=$(new_topic other 2)
P="op-$ID"; Q="opq-$ID"; NAMES+=("$P" "$Q")
cat >"$WORK/r.yaml" <<YAML
keys: ["$ID:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$ID:{aggregate_id}", "{data.sku}", "{data.quantity}"]
YAML
sed "s/$ID:/$ID-q:/g" "$WORK/r.yaml" >"$WORK/q.yaml"
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", on_error: stop, batch: {size: 10, time_ms: 20}}
  - {name: "$Q", topics: ["$U"], rules: "$WORK/q.yaml", batch: {size: 10, time_ms: 20}}
YAML
good() { echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$1\",\"data\":{\"cart_id\":\"$1\",\"sku\":\"$2\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1}}"; }
skip() { "$PROJ" skip -c "$WORK/c.yaml" "$@" 2>>"$WORK/skip.log"; }
refused() { # refused WANT_RC WHAT ARGS...: refused with that exit, nothing changed
  local want=$1 what=$2 rc=0 before; shift 2
  before=$(rcli get "sf:$P:ckpt:$T:0")
  skip "$@" || rc=$?
  expect_eq "skip $what: exit" "$rc" "$want"
  expect_eq "skip $what: checkpoint unchanged" "$(rcli get "sf:$P:ckpt:$T:0")" "$before"
}

# --- on_error: stop with poison at offsets 2 and 3 ----------------------
for i in 1 2; do good c A | publish "$T"; done                # 0 1
printf 'poison-1' | kcat -P -b "$SF_BROKERS" -t "$T" -p 0 -k c  # 2
printf 'poison-2' | kcat -P -b "$SF_BROKERS" -t "$T" -p 0 -k c  # 3
for i in 1 2; do good c B | publish "$T"; done                # 4 5
start w "$WORK/c.yaml" "$P"
stop w 0 2>/dev/null || true
expect_eq "worker stops on the poison" "$RC" 3
expect_eq "checkpoint before the poison" "$(rcli get "sf:$P:ckpt:$T:0")" 1
status_of "$P" >"$WORK/st1.txt"
grep -q "no worker running" "$WORK/st1.txt" || fail "status claims a worker runs: $(cat "$WORK/st1.txt")"
grep -Eq " 4  .*halted@2" "$WORK/st1.txt" || fail "status does not show the halted partition with lag 4: $(cat "$WORK/st1.txt")"

refused 2 "of a topic the projection does not read" "$P" -t "$U" -p 0 -o 2
refused 2 "of a partition that does not exist" "$P" -t "$T" -p 7 -o 2
refused 1 "past the end" "$P" -t "$T" -p 0 -o 6
refused 1 "far past the end" "$P" -t "$T" -p 0 -o 1000000
refused 1 "of an applied offset" "$P" -t "$T" -p 0 -o 1
refused 1 "past other unapplied events" "$P" -t "$T" -p 0 -o 4
grep -q "not the event blocking the partition (2" "$WORK/skip.log" || fail "refusal does not name the blocking offset: $(tail -1 "$WORK/skip.log")"

# a rebuild would stop at offset 2 with the view half built: refused first
"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" >"$WORK/rb1.log" 2>&1 && fail "rebuild over unskipped poison succeeded"
grep -q "$T/0/2: .*nothing was cleared" "$WORK/rb1.log" || fail "rebuild refusal unclear: $(tail -2 "$WORK/rb1.log")"
expect_eq "view kept by the refused rebuild" "$(rcli hget "$ID:c" A)" 2

skip "$P" -t "$T" -p 0 -o 2 || fail "skip of the blocking offset refused: $(tail -1 "$WORK/skip.log")"
grep -q "offset=2 previous_checkpoint=1 skipped=1 forced=0 skips=1" "$WORK/skip.log" || fail "skip not logged: $(tail -1 "$WORK/skip.log")"
refused 1 "of the next poison's successor" "$P" -t "$T" -p 0 -o 5
skip "$P" -t "$T" -p 0 -o 3 --force || fail "forced skip refused"
status_of "$P" >"$WORK/st2.txt"
grep -Eq " 2 +[0-9]+ +2  stuck$" "$WORK/st2.txt" || fail "status does not count 2 skips / lag 2: $(cat "$WORK/st2.txt")"
start w "$WORK/c.yaml" "$P"
wait_lag0 "$WORK/c.yaml" "$P" 60
expect_eq "events after the skipped poison" "$(rcli hget "$ID:c" B)" 2
stop w TERM
"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" >"$WORK/rb2.log" 2>&1 || fail "rebuild after skips: $(tail -2 "$WORK/rb2.log")"
expect_eq "rebuilt view" "$(rcli hget "$ID:c" A) $(rcli hget "$ID:c" B)" "2 2"
# nothing blocks the partition: a skip would pass a healthy event
good c B | publish "$T"                                       # 6
refused 1 "of a healthy event (nothing blocks the partition)" "$P" -t "$T" -p 0 -o 6
grep -q "nothing blocks the partition" "$WORK/skip.log" || fail "refusal unclear: $(tail -1 "$WORK/skip.log")"
log "skip and rebuild of on_error: stop: ok"

# --- status: a committed offset ahead of the checkpoint hides nothing ---
rcli set "sf:$P:ckpt:$T:0" 3 >/dev/null     # Redis lost the last two applied (4, 5); 6 waits
out=$(status_of "$P")
grep -q "total lag 3$" <<<"$out" || fail "lag hidden by the committed offset: $out"

# --- pause / resume ------------------------------------------------------
good u A | publish "$U"
start a "$WORK/c.yaml" "$Q"; start b "$WORK/c.yaml" "$Q"
wait_lag0 "$WORK/c.yaml" "$Q" 60
for i in $(seq 1 30); do  # both workers in the group
  out=$(status_of "$Q"); grep -q "workers 2 " <<<"$out" && break; sleep 1
done
grep -q "workers 2 " <<<"$out" || fail "status does not see 2 workers: $out"
"$PROJ" pause -c "$WORK/c.yaml" "$Q" 2>"$WORK/pause.log" || fail "pause: $(cat "$WORK/pause.log")"
grep -q "acknowledged by 2 worker(s)" "$WORK/pause.log" || fail "pause did not wait for both: $(cat "$WORK/pause.log")"
for i in 1 2 3 4 5 6; do good "u$i" P | publish "$U"; done
sleep 4
for i in 1 2 3 4 5 6; do
  expect_eq "event published after pause returned" "$(rcli hget "$ID-q:u$i" P)" ""
done
grep -q "PAUSED" <<<"$(status_of "$Q")" || fail "status does not show PAUSED"
"$PROJ" resume -c "$WORK/c.yaml" "$Q" 2>>"$WORK/pause.log" || fail "resume: $(tail -1 "$WORK/pause.log")"
wait_lag0 "$WORK/c.yaml" "$Q" 60
for i in 1 2 3 4 5 6; do expect_eq "applied after resume" "$(rcli hget "$ID-q:u$i" P)" 1; done
eval "pid=\$PID_b"; kill -STOP "$pid"
rc=0; "$PROJ" pause -c "$WORK/c.yaml" "$Q" --timeout 3 2>"$WORK/pause2.log" || rc=$?
kill -CONT "$pid"
expect_eq "pause with an unresponsive worker: exit" "$rc" 1
grep -q "1 of 2 worker(s) did not acknowledge within 3 s: rdkafka-" "$WORK/pause2.log" || fail "pause timeout does not name the worker: $(cat "$WORK/pause2.log")"
"$PROJ" resume -c "$WORK/c.yaml" "$Q" --timeout 60 2>>"$WORK/pause.log" || fail "resume after SIGCONT"
stop a TERM; stop b TERM
log "pause/resume: ok"

# --- usage and configuration errors: exit 2 ------------------------------
for args in "status -c $WORK/c.yaml -X no.such.property=1" "status -c $WORK/c.yaml -X fetch.wait.max.ms=abc" \
            "status -c $WORK/c.yaml nope-$ID" "pause -c $WORK/c.yaml" "skip -c $WORK/c.yaml $P -t $T -p 0" \
            "resume -c $WORK/c.yaml $Q --timeout x" "rebuild -c $WORK/c.yaml" "status" "bogus"; do
  rc=0; "$PROJ" $args >/dev/null 2>"$WORK/usage.log" || rc=$?
  expect_eq "sf-projector $args: exit" "$rc" 2
  expect_eq "sf-projector $args: one line" "$(wc -l <"$WORK/usage.log")" 1
done
log "PASS"
