#!/usr/bin/env bash
# core_fenced_stale_epoch.sh - the epoch of a partition is taken by a
# member that then never writes (a worker SIGSTOPped through a rebalance
# runs its stale assign callback on SIGCONT, takes the epoch, then learns
# its assignment is lost: seed 44 of the long fault campaign).  The worker
# the group assigns the partition to is fenced by that epoch.  It must:
#   - not take the partition back while another member reports it live
#     (a second holder refreshing its state report every few seconds);
#   - take it back by itself, with a new epoch, once no member has
#     reported it for 10 s, and apply what waited: no stall until the
#     60 s stop, no restart, nothing applied twice.
TEST=core_fenced_stale_epoch
. "$(dirname "$0")/core_lib.sh"
need

cat >"$WORK/r.yaml" <<RULES
keys: ["$ID:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$ID:items", "{data.sku}", "{data.quantity}"]
RULES
add() { for _ in $(seq 1 "$2"); do echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"c\",\"data\":{\"cart_id\":\"c\",\"sku\":\"$1\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"; done; }
T=$(new_topic fstale 1); P="fstale$ID"; NAMES+=("$P")
config "$WORK/c.yaml" <<CFG
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", batch: {size: 10, time_ms: 10}}
CFG
start w "$WORK/c.yaml"
add A 10 | publish "$T"
wait_ckpt() { # wait_ckpt N SECONDS
  for _ in $(seq 1 $(($2 * 4))); do [ "$(rcli get "sf:$P:ckpt:$T:0")" = "$1" ] && return 0; sleep 0.25; done
  return 1
}
wait_ckpt 9 60 || fail "checkpoint $(rcli get "sf:$P:ckpt:$T:0"), want 9"
E="sf:$P:epoch:$T:0"
e0=$(rcli get "$E")

# 1. a stale member takes the epoch and keeps reporting the partition as
#    its own: the worker stays fenced and applies nothing
rcli incr "$E" >/dev/null
other_owner_report "$P" "$T" 0
add B 5 | publish "$T"
for _ in $(seq 1 20); do other_owner_report "$P" "$T" 0; sleep 1; done
expect_eq "B applied while another member reports the partition" "$(rcli hget "$ID:items" B)" ""
grep -q 'fenced: another worker owns the partition' "$WORK/w.log" || fail "the worker was never fenced"
grep -q 'taken again' "$WORK/w.log" && fail "the worker took the partition from a member that reports it"
log "fenced by a member that reports the partition: waits"

# 2. the member stops reporting: within 10 s (+ a report's 7 s of life)
#    the worker takes the partition again and applies B, once
wait_ckpt 14 40 || fail "not taken again 40 s after the other member went quiet: checkpoint $(rcli get "sf:$P:ckpt:$T:0") ($(tail -n 3 "$WORK/w.log"))"
grep -q 'taken again' "$WORK/w.log" || fail "the worker did not say it took the partition again"
kill -0 "$PID_w" 2>/dev/null || fail "the worker stopped: $(tail -n 2 "$WORK/w.log")"
expect_eq "A" "$(rcli hget "$ID:items" A)" 10
expect_eq "B" "$(rcli hget "$ID:items" B)" 5
e1=$(rcli get "$E")
[ "$e1" -gt $((e0 + 1)) ] || fail "epoch $e1: not above the stale member's $((e0 + 1))"
add C 3 | publish "$T"
wait_ckpt 17 30 || fail "C not applied after the re-take"
expect_eq "C" "$(rcli hget "$ID:items" C)" 3
stop w TERM
log "PASS"
