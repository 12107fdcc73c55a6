#!/usr/bin/env bash
# core_dlq.sh - failure policy: an undecodable event and an event whose
# Redis command fails (WRONGTYPE) go to <topic>.dlq with their reason and
# coordinates, and the partition keeps moving; with on_error: stop the
# worker exits 3 with nothing past the poison checkpointed, and `skip`
# moves the checkpoint past it.
TEST=core_dlq
. "$(dirname "$0")/core_lib.sh"
need
T=$(new_topic dlq 1)
PD="dlq-$ID"; PS="stop-$ID"
NAMES+=("$PD" "$PS")
rules() { # cart-contents with a per-projection key prefix
  sed "s/\"cart:/\"$1:cart:/g; s/\[\"cart:\*\"\]/[\"$1:cart:*\"]/" "$EXAMPLES/cart-contents.rules.yaml"
}
rules "$ID-d" >"$WORK/d.rules.yaml"; rules "$ID-s" >"$WORK/s.rules.yaml"
config "$WORK/c.yaml" <<YAML
  - {name: "$PD", topics: ["$T"], rules: "$WORK/d.rules.yaml", on_error: dlq}
  - {name: "$PS", topics: ["$T"], rules: "$WORK/s.rules.yaml", on_error: stop}
YAML
c="$ID-c"
add() { echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$1\",\"data\":{\"cart_id\":\"$1\",\"sku\":\"s\",\"quantity\":$2,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"; }
echo "{\"type\":\"shop.cart.CartOpened\",\"aggregate_id\":\"$c\",\"data\":{\"cart_id\":\"$c\",\"customer_id\":\"u\",\"opened_at\":1}}" | publish "$T"  # offset 0
printf 'not avro at all' | kcat -P -b "$SF_BROKERS" -t "$T" -p 0 -k "$c" \
  -H ce_type=shop.cart.ItemAddedToCart -H ce_subject="$c" || fail "kcat produce"  # offset 1
add "$c" 3 | publish "$T"                                                       # offset 2
# a key of the wrong type makes the Redis command itself fail (WRONGTYPE)
rcli set "$ID-d:cart:$ID-x:items" oops >/dev/null
rcli set "$ID-s:cart:$ID-x:items" oops >/dev/null
add "$ID-x" 1 | publish "$T"                                                    # offset 3
add "$c" 4 | publish "$T"                                                       # offset 4

# --- on_error: dlq ------------------------------------------------------
start d "$WORK/c.yaml" "$PD"
wait_lag0 "$WORK/c.yaml" "$PD" 60
stop d TERM
expect_eq "dlq worker exit" "$RC" 0
expect_eq "events after the poison applied" "$(rcli hget "$ID-d:cart:$c:items" s)" 7
expect_eq "checkpoint passed the poison" "$(rcli get "sf:$PD:ckpt:$T:0")" 4
kcat -C -b "$SF_BROKERS" -t "$T.dlq" -e -q -f '%o|%k|%s|%h\n' >"$WORK/dlq.txt" 2>/dev/null || fail "cannot read $T.dlq"
expect_eq "dead letters" "$(wc -l <"$WORK/dlq.txt")" 2
# the DLQ topic may have several partitions: find each record by content
l1=$(grep -a "sf_dlq_offset=1\(,\|$\)" "$WORK/dlq.txt" || true); l2=$(grep -a "sf_dlq_offset=3\(,\|$\)" "$WORK/dlq.txt" || true)
case "$l1" in *"|$c|not avro at all|"*) ;; *) fail "first dead letter lost key/value: $l1";; esac
for h in "sf_dlq_projection=$PD" "sf_dlq_topic=$T" "sf_dlq_partition=0" "sf_dlq_offset=1" "ce_type=shop.cart.ItemAddedToCart" "sf_dlq_reason=decode"; do
  case "$l1" in *"$h"*) ;; *) fail "first dead letter lacks header $h: $l1";; esac
done
for h in "sf_dlq_offset=3" "WRONGTYPE"; do
  case "$l2" in *"$h"*) ;; *) fail "second dead letter lacks $h: $l2";; esac
done
grep -q "offset=1 dlq=$T.dlq" "$WORK/d.log" || fail "dead letter not logged"
# The worker created the DLQ topic itself, keeping dead letters forever
# (topic-level settings, not the broker's default retention).
jars=$("$SF_SOURCE_DIR/deploy/stack.sh" jars-dir)
# ConfigCommand moved from kafka.admin (3.x) to org.apache.kafka.tools (4.x).
config_cmd=kafka.admin.ConfigCommand
ls "$jars"/kafka_2.13-4.* >/dev/null 2>&1 && config_cmd=org.apache.kafka.tools.ConfigCommand
dcfg=$(java -cp "$jars/*" -Dlog4j.configuration=file:/dev/null $config_cmd \
  --bootstrap-server "$SF_BROKERS" --entity-type topics --entity-name "$T.dlq" \
  --describe 2>/dev/null)
for setting in cleanup.policy=delete retention.ms=-1 retention.bytes=-1; do
  grep -q "$setting" <<<"$dcfg" || fail "$T.dlq lacks topic-level $setting: $dcfg"
done
grep -q "dead-letter topic created" "$WORK/d.log" || fail "DLQ creation not logged"
log "dlq: both poison events parked with reasons, partition moved on"

# --- on_error: stop -----------------------------------------------------
start s "$WORK/c.yaml" "$PS"
stop s 0 2>/dev/null || true   # just wait for it to exit by itself
expect_eq "stop worker exit status" "$RC" 3
grep -q "$T/0/1: decode" "$WORK/s.log" || fail "no clear message naming the poison"
expect_eq "checkpoint stops before the poison" "$(rcli get "sf:$PS:ckpt:$T:0")" 0
expect_eq "nothing past the poison applied" "$(rcli exists "$ID-s:cart:$c:items")" 0
"$PROJ" skip -c "$WORK/c.yaml" "$PS" -t "$T" -p 0 -o 1 2>"$WORK/skip.log" || fail "skip failed"
grep -q "previous_checkpoint=0" "$WORK/skip.log" || fail "skip not logged"
start s "$WORK/c.yaml" "$PS"
stop s 0 2>/dev/null || true
expect_eq "stops at the WRONGTYPE event" "$RC" 3
expect_eq "checkpoint just below it" "$(rcli get "sf:$PS:ckpt:$T:0")" 2
status_of $PS | grep >/dev/null "halted@3" || fail "status does not show the halted partition"
expect_eq "event between applied once" "$(rcli hget "$ID-s:cart:$c:items" s)" 3
"$PROJ" skip -c "$WORK/c.yaml" "$PS" -t "$T" -p 0 -o 3 2>>"$WORK/skip.log" || fail "second skip failed"
status_of $PS | grep >/dev/null "halted@" && fail "skip did not clear the halt"
if "$PROJ" skip -c "$WORK/c.yaml" "$PS" -t "$T" -p 0 -o 2 2>>"$WORK/skip.log"; then
  fail "skip backwards accepted"
fi
start s "$WORK/c.yaml" "$PS"
wait_lag0 "$WORK/c.yaml" "$PS" 60
stop s TERM
expect_eq "stop worker final exit" "$RC" 0
expect_eq "stop projection final" "$(rcli hget "$ID-s:cart:$c:items" s)" 7
log "PASS"
