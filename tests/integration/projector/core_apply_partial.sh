#!/usr/bin/env bash
# core_apply_partial.sh - no command runs twice, no event is applied half
# without saying so (docs/exactly-once.md).  One topic, two projections:
#   offset 0  CartOpened c1      plain string where a HyperLogLog goes,
#                                and a hash field holding text
#   offset 1  ItemAdded c1 A     INCR adds; PFADD (fails at run time: no
#                                pre-check can see it); INCR after
#   offset 2  ItemAdded c2 B     all three apply
#   offset 3  ItemRemoved c1     INCR removes; HINCRBY on the text field
#                                (foreseen: refused before its first write)
#   offset 4  ItemRemoved c2     both apply
# on_error: stop -- every restart stops on the same event and runs none of
# its commands again; once the cause is fixed, the rest of it runs, once.
# on_error: dlq  -- the events are dead-lettered with reasons saying what
# was applied; a restart changes nothing; the rebuild gives the same view.
TEST=core_apply_partial
. "$(dirname "$0")/core_lib.sh"
need

T=$(new_topic partial 1)
PS="pstop$ID"; PD="pdlq$ID"
NAMES+=("$PS" "$PD")
rules() { # rules PREFIX
  cat <<RULES
keys: ["$1:*"]
on:
  shop.cart.CartOpened:
    - [SET, "$1:hll:{aggregate_id}", plain]
    - [HSET, "$1:cart:{aggregate_id}", status, open]
  shop.cart.ItemAddedToCart:
    - [INCR, "$1:adds"]
    - [PFADD, "$1:hll:{aggregate_id}", "{data.sku}"]
    - [INCR, "$1:after"]
  shop.cart.ItemRemovedFromCart:
    - [INCR, "$1:removes"]
    - [HINCRBY, "$1:cart:{aggregate_id}", "{data.sku}", "-{data.quantity}"]
RULES
}
rules "$ID:s" >"$WORK/s.rules.yaml"
rules "$ID:d" >"$WORK/d.rules.yaml"
config "$WORK/c.yaml" <<CFG
  - {name: "$PS", topics: ["$T"], rules: "$WORK/s.rules.yaml", on_error: stop}
  - {name: "$PD", topics: ["$T"], rules: "$WORK/d.rules.yaml", on_error: dlq}
CFG
ev() { # ev TYPE CART SKU
  case $1 in
    opened) echo "{\"type\":\"shop.cart.CartOpened\",\"aggregate_id\":\"$2\",\"data\":{\"cart_id\":\"$2\",\"customer_id\":\"u\",\"opened_at\":1}}";;
    added) echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$2\",\"data\":{\"cart_id\":\"$2\",\"sku\":\"$3\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}";;
    removed) echo "{\"type\":\"shop.cart.ItemRemovedFromCart\",\"aggregate_id\":\"$2\",\"data\":{\"cart_id\":\"$2\",\"sku\":\"$3\",\"quantity\":1,\"removed_at\":1}}";;
  esac
}
{ ev opened c1; ev added c1 A; ev added c2 B; ev removed c1 status; ev removed c2 x; } | publish "$T"
g() { rcli get "$1"; }

# --- on_error: stop ------------------------------------------------------
run_until_stopped() { # run_until_stopped N: starts worker N, waits for it to stop
  start "s$1" "$WORK/c.yaml" "$PS"
  local pid; eval "pid=\$PID_s$1"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && fail "worker s$1 did not stop on the failed event"
  stop "s$1" TERM
  [ "$RC" != 0 ] || fail "worker s$1 stopped with status 0 on a failed event"
}
for n in 1 2 3; do
  run_until_stopped $n
  expect_eq "start $n: adds (the failed event's first command, once)" "$(g "$ID:s:adds")" 1
  expect_eq "start $n: after" "$(g "$ID:s:after")" ""
  expect_eq "start $n: progress record (offset, commands applied)" "$(g "sf:$PS:halt:$T:0")" "1 1 3"
  expect_eq "start $n: checkpoint" "$(g "sf:$PS:ckpt:$T:0")" 0
done
grep -q "command 2 of 3 failed after commands 1..1 of the event were applied" "$WORK/s1.log" \
  || fail "the stop message does not say what was applied: $(grep -o 'projection [^"]*' "$WORK/s1.log" | tail -1)"
log "on_error: stop: 3 starts, the failed event's first command ran once"

# the operator fixes the cause: the rest of event 1 runs, not its start
rcli del "$ID:s:hll:c1" >/dev/null
run_until_stopped 4
expect_eq "after the fix: adds" "$(g "$ID:s:adds")" 2
expect_eq "after the fix: after" "$(g "$ID:s:after")" 2
expect_eq "after the fix: removes (offset 3 refused whole)" "$(g "$ID:s:removes")" ""
expect_eq "after the fix: record of offset 3, nothing applied" "$(g "sf:$PS:halt:$T:0")" "3 0 2"
grep -q "nothing of the event was applied" "$WORK/s4.log" || fail "the refusal does not say nothing was applied"
run_until_stopped 5
expect_eq "restart on a refused event: removes" "$(g "$ID:s:removes")" ""
expect_eq "restart on a refused event: adds" "$(g "$ID:s:adds")" 2
log "on_error: stop: resumed after the applied commands; the refused event stays unapplied"

# --- on_error: dlq -------------------------------------------------------
view_d() { echo "adds=$(g "$ID:d:adds") after=$(g "$ID:d:after") removes=$(g "$ID:d:removes") c2x=$(rcli hget "$ID:d:cart:c2" x) c1status=$(rcli hget "$ID:d:cart:c1" status) hll_c2=$(rcli pfcount "$ID:d:hll:c2")"; }
WANT="adds=2 after=1 removes=1 c2x=-1 c1status=open hll_c2=1"
start d1 "$WORK/c.yaml" "$PD"
for _ in $(seq 1 120); do [ "$(g "sf:$PD:ckpt:$T:0")" = 4 ] && break; sleep 0.5; done
expect_eq "dlq: checkpoint" "$(g "sf:$PD:ckpt:$T:0")" 4
stop d1 TERM
expect_eq "dlq: worker exit" "$RC" 0
expect_eq "dlq: live view" "$(view_d)" "$WANT"
expect_eq "dlq: no progress record left" "$(g "sf:$PD:halt:$T:0")" ""
kcat -C -b "$SF_BROKERS" -t "$T.dlq" -e -q -f '%h\n' >"$WORK/dlq.txt" 2>/dev/null || true
grep "sf_dlq_projection=$PD" "$WORK/dlq.txt" >"$WORK/dlq_d.txt" || true
expect_eq "dlq: dead letters" "$(grep -c . "$WORK/dlq_d.txt")" 2
grep "sf_dlq_offset=1" "$WORK/dlq_d.txt" | grep -q "after commands 1..1 of the event were applied" \
  || fail "dead letter of offset 1 does not say what was applied: $(cat "$WORK/dlq_d.txt")"
grep "sf_dlq_offset=3" "$WORK/dlq_d.txt" | grep -q "nothing of the event was applied" \
  || fail "dead letter of offset 3 does not say nothing was applied: $(cat "$WORK/dlq_d.txt")"
start d2 "$WORK/c.yaml" "$PD"; sleep 4; stop d2 TERM
expect_eq "dlq: a restart changes nothing" "$(view_d)" "$WANT"
"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$PD" >"$WORK/rebuild.out" 2>"$WORK/rebuild.log" || fail "rebuild: $(tail -2 "$WORK/rebuild.log")"
expect_eq "dlq: rebuilt view equals the live one" "$(view_d)" "$WANT"
log "on_error: dlq: reasons say what was applied; restart and rebuild agree"
echo "1 passed, 0 failed"
