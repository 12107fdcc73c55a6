#!/usr/bin/env bash
# core_misconfig.sh - misconfigured projections stop `run` at start (exit
# 2, one line on stderr naming the projection), before anything is
# consumed; and a handler-only projection declaring keys: in the config
# runs and writes its handler's keys.
TEST=core_misconfig
. "$(dirname "$0")/core_lib.sh"
need
HANDLER=$SF_BUILD_DIR/projector/examples/libsf_fight_handler.so
CUSTOM=$SF_BUILD_DIR/projector/examples/sf-fight-worker
[ -f "$HANDLER" ] && [ -x "$CUSTOM" ] || { log "SKIP: examples not built"; exit $SKIP; }
TF=$(new_topic fight 1)
P="hf-$ID"
NAMES+=("$P")

# expect_start_error LOG WANT CMD...: exit 2, exactly one line, WANT in it
expect_start_error() {
  local logf=$1 want=$2 rc=0
  shift 2
  timeout 60 "$@" >"$logf" 2>&1 || rc=$?
  [ $rc -eq 2 ] || fail "$*: rc $rc, want 2 ($(cat "$logf"))"
  [ "$(wc -l <"$logf")" -eq 1 ] || fail "$*: not one line: $(cat "$logf")"
  grep -qF -- "$want" "$logf" || fail "$*: want \"$want\" in: $(cat "$logf")"
}

# 1. neither rules nor a handler
config "$WORK/none.yaml" <<YAML
  - {name: "$P", topics: ["$TF"]}
YAML
expect_start_error "$WORK/none.log" "projection $P has neither rules nor a handler" \
  "$PROJ" run -c "$WORK/none.yaml"

# 2. keys: only, and nothing registers handlers for it
config "$WORK/keys.yaml" <<YAML
  - {name: "$P", topics: ["$TF"], keys: ["fighter:$ID-*", "fights:count:$ID-*"]}
YAML
expect_start_error "$WORK/keys.log" "projection $P has no rules for any event type and no C handler" \
  "$PROJ" run -c "$WORK/keys.yaml"

# 3. a custom worker whose init names a projection the config lacks
expect_start_error "$WORK/reg.log" "projection nosuch-$ID: an init is registered for it" \
  env SF_FIGHT_PROJECTION="nosuch-$ID" "$CUSTOM" run -c "$WORK/keys.yaml" "$P"

# nothing of the above consumed or wrote anything
[ -z "$(rcli --scan --pattern "sf:$P:*" | head -1)" ] || fail "bookkeeping written by a projection that must not have started"

# 4. handler-only, keys: in the config: runs and writes every fighter
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$TF"], handler: "$HANDLER", keys: ["fighter:$ID-*", "fights:count:$ID-*"]}
YAML
fighter() { echo "{\"fighter_id\":\"$ID-$1\",\"name\":\"$2\"}"; }
echo "{\"type\":\"sports.fight.FightResultRecorded\",\"aggregate_id\":\"$ID-f1\",\"data\":{\"fight_id\":\"$ID-f1\",\"fighters\":[$(fighter a Ali),$(fighter b Frazier),$(fighter 'c:x' Norton)],\"winner_id\":null,\"method\":\"DRAW\",\"rounds\":3,\"duration_seconds\":500,\"venue\":\"$ID-Arena\",\"fight_date\":1000,\"recorded_at\":1}}" \
  | publish "$TF"
start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 90
expect_eq "third fighter (id escaped in the key)" "$(rcli hget "fighter:$ID-c%3Ax" name)" Norton
expect_eq "fights of a" "$(rcli zrange "fighter:$ID-a:fights" 0 -1 withscores | paste -sd' ')" "$ID-f1 1000"
expect_eq "count of b" "$(rcli get "fights:count:$ID-b")" 1
stop w TERM; expect_eq "exit on SIGTERM" "$RC" 0

# 5. the same projection embedded in a program of its own
#    (sf_projector_new/run; SIGTERM -> sf_projector_stop from the handler)
EMB=$SF_BUILD_DIR/projector/examples/sf-embedded-projector
if [ -x "$EMB" ]; then
  "$EMB" "$WORK/c.yaml" "$P" >"$WORK/emb.log" 2>&1 &
  PIDS[$!]=1; PID_emb=$!
  for _ in $(seq 1 120); do grep -q 'msg="started"' "$WORK/emb.log" && break; sleep 0.5; done
  grep -q 'msg="started"' "$WORK/emb.log" || fail "embedded projector did not start"
  echo "{\"type\":\"sports.fight.FightResultRecorded\",\"aggregate_id\":\"$ID-f2\",\"data\":{\"fight_id\":\"$ID-f2\",\"fighters\":[$(fighter a Ali),$(fighter d Foreman)],\"winner_id\":null,\"method\":\"DRAW\",\"rounds\":3,\"duration_seconds\":500,\"venue\":\"$ID-Arena\",\"fight_date\":2000,\"recorded_at\":2}}" \
    | publish "$TF"
  wait_lag0 "$WORK/c.yaml" "$P" 90
  expect_eq "embedded: new fighter" "$(rcli hget "fighter:$ID-d" name)" Foreman
  expect_eq "embedded: a fought twice" "$(rcli get "fights:count:$ID-a")" 2
  stop emb TERM; expect_eq "embedded projector exit after sf_projector_stop" "$RC" 0
  grep -q "closing consumer" "$WORK/emb.log" || fail "embedded projector did not close its consumer"
fi
log "PASS"
