#!/usr/bin/env bash
# A checkpoint outside its partition's offsets (the topic was deleted and
# recreated) must stop the worker with a clear error instead of resuming
# past events it never applied.
TEST=core_recreated
. "$(dirname "$0")/core_lib.sh"
need

t=$(new_topic recr 1)
name="recr$ID"
NAMES+=("$name")
config "$WORK/c.yaml" <<CFG
  - name: $name
    topics: [$t]
    rules: "$EXAMPLES/cart-contents.rules.yaml"
CFG
"$SF_SOURCE_DIR/deploy/quickstart/history.sh" cart 6 \
  | sed "s/cart-\([0-9]*\)/$ID-cart-\1/g" >"$WORK/h.jsonl"
publish "$t" <"$WORK/h.jsonl"
start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$name" 60
stop w TERM
expect_eq "first run exit status" "$RC" 0

# Recreate the topic with fewer events than the checkpoint covers.
"$E2E" drop -t "$t" >/dev/null 2>&1 || fail "cannot delete $t"
for _ in $(seq 1 30); do
  "$SF_SOURCE_DIR/deploy/topics.sh" create -b "$SF_BROKERS" -p 1 "$t" >"$WORK/re.log" 2>&1 && break
  sleep 1
done
grep -q created "$WORK/re.log" || fail "cannot recreate $t: $(cat "$WORK/re.log")"
head -n 2 "$WORK/h.jsonl" | publish "$t"

start w2 "$WORK/c.yaml"
for _ in $(seq 1 60); do
  kill -0 "$PID_w2" 2>/dev/null || break
  sleep 0.5
done
stop w2 KILL
[ "$RC" -ne 0 ] || fail "the worker resumed past a checkpoint beyond the end of $t"
# the topic-id check (core_identity.sh) or, for views recorded before
# topic ids were, the offset range check
grep -qE "is outside the partition's offsets|is not the log its checkpoints belong to" "$WORK/w2.log" \
  || fail "no clear error in the worker log: $(tail -n 5 "$WORK/w2.log")"
log "ok: worker stopped: $(grep -oE "checkpoint [0-9]* is outside[^;]*|is not the log[^;]*" "$WORK/w2.log" | head -n 1)"
echo "1 passed, 0 failed"
