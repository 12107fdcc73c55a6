#!/usr/bin/env bash
# core_ryw.sh - read your own writes against the shared stack:
#  1. ryw_cycles: 1,000 x (publish -> wait for its position -> read), every
#     read shows its own write (HINCRBY counts exact), with the projector
#     embedded in the test process and stopped by a call;
#  2. `sf-projector wait`: exit 0 for an applied token, 4 on timeout for
#     one not applied yet, 2 for a malformed token or a topic the
#     projection does not read;
#  3. the check a reader in any language makes (GET the checkpoint key,
#     compare with the offset) agrees with the library.
TEST=core_ryw
. "$(dirname "$0")/core_lib.sh"
need
RYW=$SF_BUILD_DIR/tests/unit/projector/ryw_cycles
[ -x "$RYW" ] || { log "SKIP: $RYW not built"; exit $SKIP; }
N=${SF_RYW_CYCLES:-1000}

T=$(new_topic ryw 3)
P="ryw-$ID"
NAMES+=("$P")
config "$WORK/c.yaml" <<YAML
  - name: "$P"
    topics: ["$T"]
    batch: {size: 100, time_ms: 5}
    rules:
      keys: ["$ID:*"]
      on:
        shop.cart.ItemAddedToCart:
          - [HINCRBY, "$ID:{aggregate_id}", x, "{data.quantity}"]
YAML

log "$N publish -> wait -> read cycles"
token=$("$RYW" "$WORK/c.yaml" "$P" "$T" "$SCHEMAS" "$N" "$ID" 2>"$WORK/ryw.log") \
  || fail "ryw_cycles: $(tail -5 "$WORK/ryw.log")"
log "$(tail -1 "$WORK/ryw.log")"
case $token in "$T":[0-9]*:[0-9]*) ;; *) fail "token \"$token\" is not $T:<partition>:<offset>" ;; esac
total=0
for a in 0 1 2 3 4; do total=$(( total + $(rcli hget "$ID:$ID-a$a" x) )); done
[ "$total" -eq "$N" ] || fail "views hold $total increments, want $N"

# 2. the command line (the projector is stopped now: nothing moves)
"$PROJ" wait -c "$WORK/c.yaml" "$P" "$token" --timeout 5000 2>"$WORK/wait.log" \
  || fail "wait for an applied token: rc $? ($(cat "$WORK/wait.log"))"
part=${token#"$T":}; part=${part%%:*}; off=${token##*:}
future="$T:$part:$(( off + 1 ))"
set +e
"$PROJ" wait -c "$WORK/c.yaml" "$P" "$future" --timeout 300 2>"$WORK/wait.log"; rc=$?
set -e
[ $rc -eq 4 ] || fail "wait for a future position: rc $rc, want 4 ($(cat "$WORK/wait.log"))"
grep -q "has not applied $future after 300 ms" "$WORK/wait.log" || fail "timeout message: $(cat "$WORK/wait.log")"
for bad in "$T:$part" "$T:-1:5" "$T:$part:01" "a b:0:1"; do
  set +e; "$PROJ" wait -c "$WORK/c.yaml" "$P" "$bad" --timeout 100 2>"$WORK/wait.log"; rc=$?; set -e
  [ $rc -eq 2 ] || fail "malformed token \"$bad\": rc $rc, want 2"
  [ "$(wc -l <"$WORK/wait.log")" -eq 1 ] || fail "malformed token \"$bad\": not one line"
done
set +e; "$PROJ" wait -c "$WORK/c.yaml" "$P" "other-topic:0:1" --timeout 100 2>"$WORK/wait.log"; rc=$?; set -e
[ $rc -eq 2 ] && grep -q "does not read topic other-topic" "$WORK/wait.log" \
  || fail "topic not read: rc $rc ($(cat "$WORK/wait.log"))"

# 3. a reader without the library: GET the checkpoint, compare
ck=$(rcli get "sf:$P:ckpt:$T:$part")
[ -n "$ck" ] && [ "$ck" -ge "$off" ] || fail "checkpoint $ck of $T/$part below the applied offset $off"
[ "$ck" -lt "$(( off + 1 ))" ] || fail "checkpoint $ck past the last offset: the timeout case proved nothing"
log "PASS"
