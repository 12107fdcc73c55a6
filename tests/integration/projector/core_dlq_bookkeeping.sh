#!/usr/bin/env bash
# core_dlq_bookkeeping.sh - the checkpoint never passes a record that was
# neither applied nor dead-lettered (nor skipped by the operator).
#  1. A poison record that arrives on a partition which sat idle through
#     earlier flushes (other partitions had batches) is still dead-lettered:
#     the "dead letters done" state belongs to a batch, not to a partition.
#  2. Two projections in one `run` process, one with on_error: stop: when
#     it stops the process on a poison record, the other projection (which
#     dead-letters) must not move its checkpoint past the same record
#     without its dead letter; after a restart the dead letter exists.
TEST=core_dlq_bookkeeping
. "$(dirname "$0")/core_lib.sh"
need
rules() { # cart-contents with a per-projection key prefix
  sed "s/\"cart:/\"$1:cart:/g; s/\[\"cart:\*\"\]/[\"$1:cart:*\"]/" "$EXAMPLES/cart-contents.rules.yaml"
}
add() { echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$1\",\"data\":{\"cart_id\":\"$1\",\"sku\":\"s\",\"quantity\":$2,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"; }
poison() { # poison TOPIC PARTITION KEY: an undecodable record
  printf 'truncated' | kcat -P -b "$SF_BROKERS" -t "$1" -p "$2" -k "$3" \
    -H ce_type=shop.cart.ItemAddedToCart -H ce_subject="$3" || fail "kcat produce"
}
# dead_letters TOPIC PROJECTION PARTITION OFFSET: how many dead letters of
# that record the projection wrote
dead_letters() {
  kcat -C -b "$SF_BROKERS" -t "$1.dlq" -e -q -f '%h\n' 2>/dev/null |
    grep -a "sf_dlq_projection=$2\(,\|$\)" | grep -a "sf_dlq_partition=$3\(,\|$\)" |
    grep -ac "sf_dlq_offset=$4\(,\|$\)" || true
}

# --- 1. poison on a partition that was idle in earlier flushes -----------
T=$(new_topic dlqbk 2)
PD="dlqbk-$ID"
NAMES+=("$PD")
rules "$ID-d" >"$WORK/d.rules.yaml"
config "$WORK/c1.yaml" <<YAML
  - {name: "$PD", topics: ["$T"], rules: "$WORK/d.rules.yaml", on_error: dlq, batch: {size: 20, time_ms: 20}}
YAML
start d "$WORK/c1.yaml" "$PD"
c="$ID-c"
add "$c" 2 | publish "$T"
wait_lag0 "$WORK/c1.yaml" "$PD" 60
# the partition the good event went to had a batch; the other one sat idle
# (assigned, no records) through that flush
good=""
for p in 0 1; do [ -n "$(rcli get "sf:$PD:ckpt:$T:$p")" ] && good=$p; done
[ -n "$good" ] || fail "no checkpoint written for the good event"
idle=$(( 1 - good ))
add "$c" 3 | publish "$T"   # more flushes on the busy partition
wait_lag0 "$WORK/c1.yaml" "$PD" 60
poison "$T" "$idle" "$ID-p"
wait_lag0 "$WORK/c1.yaml" "$PD" 60
stop d TERM
expect_eq "dlq worker exit" "$RC" 0
expect_eq "checkpoint of the idle partition passed the poison" \
  "$(rcli get "sf:$PD:ckpt:$T:$idle")" 0
expect_eq "dead letters of $T/$idle/0" "$(dead_letters "$T" "$PD" "$idle" 0)" 1
grep -q "partition=$idle offset=0 dlq=$T.dlq" "$WORK/d.log" || fail "dead letter not logged"
expect_eq "good events applied" "$(rcli hget "$ID-d:cart:$c:items" s)" 5
log "1: poison on a formerly idle partition dead-lettered"

# --- 2. a projection stopping the process, another dead-lettering --------
T2=$(new_topic dlqbk2 1)
PS="dlqbs-$ID"; PD2="dlqbd-$ID"
NAMES+=("$PS" "$PD2")
rules "$ID-s" >"$WORK/s.rules.yaml"; rules "$ID-e" >"$WORK/e.rules.yaml"
config "$WORK/c2.yaml" <<YAML
  - {name: "$PS", topics: ["$T2"], rules: "$WORK/s.rules.yaml", on_error: stop, batch: {size: 20, time_ms: 20}}
  - {name: "$PD2", topics: ["$T2"], rules: "$WORK/e.rules.yaml", on_error: dlq, batch: {size: 20, time_ms: 20}}
YAML
c2="$ID-c2"
add "$c2" 1 | publish "$T2"            # offset 0
poison "$T2" 0 "$c2"                   # offset 1
add "$c2" 4 | publish "$T2"            # offset 2
start both "$WORK/c2.yaml"
stop both 0 2>/dev/null || true        # wait: the stop projection ends it
expect_eq "run exits as on_error: stop asks" "$RC" 3
ck=$(rcli get "sf:$PD2:ckpt:$T2:0")
dl=$(dead_letters "$T2" "$PD2" 0 1)
if [ -n "$ck" ] && [ "$ck" -ge 1 ] && [ "$dl" -lt 1 ]; then
  fail "$PD2 checkpointed $ck past the poison at offset 1 without its dead letter"
fi
log "2: after the stop: $PD2 checkpoint='${ck}' dead letters=$dl"
start d2 "$WORK/c2.yaml" "$PD2"
wait_lag0 "$WORK/c2.yaml" "$PD2" 60
stop d2 TERM
expect_eq "dlq worker exit" "$RC" 0
expect_eq "$PD2 checkpoint" "$(rcli get "sf:$PD2:ckpt:$T2:0")" 2
expect_eq "$PD2 events around the poison applied" "$(rcli hget "$ID-e:cart:$c2:items" s)" 5
dl=$(dead_letters "$T2" "$PD2" 0 1)
[ "$dl" -ge 1 ] || fail "$PD2 never dead-lettered $T2/0/1"
log "PASS"
