#!/usr/bin/env bash
# core_dedup_dead_letter.sh - a retried copy of an event that failed part
# way inside Redis and was dead-lettered.  Its first command stays applied
# (no rollback in Redis); the copy carries the same ce_sequence and ce_id,
# so the duplicate rule must drop it.  Before the fix the failed event's
# version was never recorded: the copy ran the first command again (adds
# 4 instead of 3) and went to the dead-letter topic a second time.  Live,
# rebuild and journey --fold must agree.
TEST=core_dedup_dead_letter
. "$(dirname "$0")/core_lib.sh"
need
command -v jq >/dev/null || { log "SKIP: jq missing"; exit $SKIP; }

TC=$(new_topic cart 1)
PC="dddl-$ID"
NAMES+=("$PC")
# HALF: command 2 writes a plain string, command 3 (PFADD on it) fails
# inside Redis, after commands 1 and 2 were applied
cat >"$WORK/half.rules.yaml" <<YAML
keys: ["$PC:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$PC:{aggregate_id}", adds, 1]
    - cmd: [SET, "$PC:half:{aggregate_id}", plain]
      when: {data.sku: HALF}
    - cmd: [PFADD, "$PC:half:{aggregate_id}", "{data.sku}"]
      when: {data.sku: HALF}
YAML
config "$WORK/c.yaml" <<YAML
  - {name: "$PC", topics: ["$TC"], rules: "$WORK/half.rules.yaml"}
YAML
c="$ID-c"
add() {
  echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$c\",\"version\":$1,\"event_id\":\"$ID-e$1\",\"data\":{\"cart_id\":\"$c\",\"sku\":\"$2\",\"quantity\":1,\"unit_price_cents\":100,\"added_at\":2,\"currency\":\"EUR\"}}"
}
{ add 1 a; add 2 HALF; add 2 HALF; add 3 b; } | publish "$TC"
log "published versions 1, 2 (fails part way), 2 again (a retried publish), 3"

start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$PC" 60
expect_eq "live: adds of $c (version 2's first command once)" "$(rcli hget "$PC:$c" adds)" 3
st=$(status_of "$PC")
printf '%s\n' "$st" | grep -q "1 duplicates dropped (0 with another ce_id), 0 gaps, 0 unversioned events" \
  || fail "status counts: $st"
ndlq=$(kcat -C -b "$SF_BROKERS" -t "$TC.dlq" -e -q -f '%o\n' 2>/dev/null | wc -l)
expect_eq "dead letters (the event once, not its copy)" "$ndlq" 1

stop w TERM
expect_eq "worker exit on SIGTERM" "$RC" 0
before=$(dump "$PC:*"; dump "sf:$PC:ver:*")
"$PROJ" rebuild -c "$WORK/c.yaml" "$PC" >"$WORK/rebuild.out" 2>"$WORK/rebuild.log" \
  || fail "rebuild failed: $(tail -3 "$WORK/rebuild.log")"
after=$(dump "$PC:*"; dump "sf:$PC:ver:*")
[ "$before" = "$after" ] \
  || fail "the rebuild gave another view: $(diff <(echo "$before") <(echo "$after"))"
grep -q "1 duplicates dropped, 0 gaps, 0 unversioned" "$WORK/rebuild.log" \
  || fail "rebuild summary: $(tail -2 "$WORK/rebuild.log")"

"$PROJ" journey -c "$WORK/c.yaml" -t "$TC" "$c" --fold "$PC" --state >"$WORK/j.jsonl" 2>"$WORK/j.log" \
  || fail "journey failed: $(cat "$WORK/j.log")"
expect_eq "journey verdicts" "$(jq -r 'select(.offset != null) | .dedup' "$WORK/j.jsonl" | paste -sd,)" \
  "next,next,duplicate,next"
expect_eq "journey state: adds" \
  "$(jq -r --arg k "$PC:$c" 'select(.state) | .state[$k].adds' "$WORK/j.jsonl")" 3
log "PASS"
