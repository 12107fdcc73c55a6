#!/usr/bin/env bash
# An independent Avro/Kafka peer (Python: confluent-kafka + fastavro, with
# fastavro's own canonical form and CRC-64-AVRO) reads the headers and
# decodes the values of what sf-publish/libsfproducer published: every
# domain type (nested record, array of records, enum, nullable union,
# timestamp-millis), an old schema version, and every optional field.
# It also resolves each record's writer schema from ce_dataschema alone,
# checks ce_source is a URI-reference, sees the application headers
# (-H and a line's "headers"), and sf-publish refuses a source that is not
# a URI-reference before anything is sent.
. "$(dirname "$0")/lib.sh"

t=$(new_topic peer)
cat >"$WORK/in.jsonl" <<'JSON'
{"event_id":"e-1","type":"shop.cart.CartOpened","aggregate_id":"cart-1","version":1,"occurred_at":"2026-01-02T03:04:05.678+01:00","correlation_id":"req-1","causation_id":"cmd-1","data":{"cart_id":"cart-1","customer_id":"alice","opened_at":1767319445678}}
{"event_id":"e-2","type":"shop.cart.ItemAddedToCart","aggregate_id":"cart-1","version":2,"occurred_at":1767319446000,"correlation_id":"req-1","data":{"cart_id":"cart-1","sku":"sku-ä","quantity":3,"unit_price_cents":1999,"added_at":1767319446000,"currency":"SEK"}}
{"event_id":"e-3","type":"shop.cart.ItemAddedToCart","schema_version":1,"aggregate_id":"cart-1","version":3,"occurred_at":"2026-01-02T02:04:07Z","data":{"cart_id":"cart-1","sku":"sku-2","quantity":1,"unit_price_cents":-5,"added_at":1767319447000}}
{"event_id":"e-4","type":"ops.route.LocationAddedToRoute","aggregate_id":"route-9","version":7,"occurred_at":"2026-01-02T02:04:08.001Z","data":{"route_id":"route-9","location_id":"loc-1","name":"Station","address":{"street":"Main St 1","city":"Zürich","postal_code":"8001"},"added_at":1767319448001}}
{"event_id":"e-5","type":"ops.route.VendingMachineRemoved","aggregate_id":"route-9","version":8,"occurred_at":"2026-01-02T02:04:09Z","data":{"route_id":"route-9","location_id":"loc-1","machine_id":"m-1","reason":{"string":"broken glass"},"removed_at":1767319449000}}
{"event_id":"e-6","type":"ops.route.VendingMachineRemoved","aggregate_id":"route-9","version":9,"occurred_at":"2026-01-02T02:04:10Z","data":{"route_id":"route-9","location_id":"loc-2","machine_id":"m-2","reason":null,"removed_at":1767319450000}}
{"event_id":"e-7","type":"sports.fight.FightResultRecorded","aggregate_id":"fight-3","version":1,"occurred_at":"2026-01-02T02:04:11Z","causation_id":"cmd-7","headers":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tenant":"t-7"},"data":{"fight_id":"fight-3","fighters":[{"fighter_id":"f-1","name":"Ann"},{"fighter_id":"f-2","name":"Bea"}],"winner_id":{"string":"f-2"},"method":"SUBMISSION","rounds":3,"duration_seconds":754,"venue":"Hall","fight_date":1767225600000,"recorded_at":1767319451000}}
{"event_id":"e-8","type":"sports.fight.FightResultRecorded","aggregate_id":"fight-4","version":1,"occurred_at":"2026-01-02T02:04:12Z","data":{"fight_id":"fight-4","fighters":[],"winner_id":null,"method":"DRAW","rounds":5,"duration_seconds":1500,"venue":"","fight_date":1767225600000,"recorded_at":1767319452000}}
JSON
# ce_time the peer must see (RFC 3339, UTC, milliseconds) per event id.
cat >"$WORK/times.json" <<'JSON'
{"e-1":"2026-01-02T02:04:05.678Z","e-2":"2026-01-02T02:04:06.000Z",
 "e-3":"2026-01-02T02:04:07.000Z","e-4":"2026-01-02T02:04:08.001Z",
 "e-5":"2026-01-02T02:04:09.000Z","e-6":"2026-01-02T02:04:10.000Z",
 "e-7":"2026-01-02T02:04:11.000Z","e-8":"2026-01-02T02:04:12.000Z"}
JSON

# A source that is not a URI-reference (CloudEvents 1.0): refused at
# start, exit 2, one line naming the option and the offending character.
set +e
"$PUB" -b "$BROKERS" -t "$t" -s "$SCHEMAS" --create-topic --source "cart service" \
  <"$WORK/in.jsonl" 2>"$WORK/badsrc.err"
rc=$?
set -e
[ $rc -eq 2 ] || fail "--source 'cart service': exit $rc, want 2"
[ "$(wc -l <"$WORK/badsrc.err")" -eq 1 ] && grep -q -- '--source: .*URI-reference.*space at offset 4' "$WORK/badsrc.err" \
  || fail "--source 'cart service': unclear error: $(cat "$WORK/badsrc.err")"

"$PUB" -b "$BROKERS" -t "$t" -s "$SCHEMAS" --create-topic --partitions 3 \
  --source urn:streamfold:peer-test --aggregate-type mixed -H tenant=t-0 \
  <"$WORK/in.jsonl" 2>"$WORK/pub.err" \
  || { cat "$WORK/pub.err" >&2; fail "sf-publish failed"; }
peer "$t" >"$WORK/out.jsonl" || fail "the peer could not read/decode the topic"
[ "$(wc -l <"$WORK/out.jsonl")" -eq 8 ] || fail "expected 8 records"

# What a generic Avro reader returns: unions without their {"type": ...}
# wrapper; the v1 event has no currency field (read with its writer schema).
jq -c --slurpfile times "$WORK/times.json" '
  def plain: walk(if type == "object" and length == 1 and has("string")
                  then .string else . end);
  {key: .aggregate_id, type: .type, value: (.data | plain),
   headers: ({ce_specversion: "1.0", ce_id: .event_id,
              ce_source: "urn:streamfold:peer-test",
              ce_type: .type, ce_time: $times[0][.event_id],
              ce_subject: .aggregate_id, "content-type": "application/avro",
              ce_aggregatetype: "mixed", ce_sequence: (.version | tostring)}
             + {ce_correlationid: (.correlation_id // .event_id),
                ce_causationid: (.causation_id // .event_id)}
             + {tenant: "t-0"} + (.headers // {}))}
' "$WORK/in.jsonl" | jq -sc 'sort_by(.headers.ce_id)[]' >"$WORK/expected"
# ce_dataschema names the writer schema, resolvable without the value.
bad=$(jq -r 'select(.dataschema_type != .type or .dataschema_type != .headers.ce_type
                    or .headers.ce_dataschema != "urn:avro:fingerprint:crc-64-avro:\(.fingerprint)"
                    or .source_ok != true) | .headers.ce_id' "$WORK/out.jsonl")
[ -z "$bad" ] || fail "ce_dataschema or ce_source wrong on: $bad"
jq -c '{key, type: (.headers.ce_type), value, headers: (.headers | del(.ce_dataschema))}' "$WORK/out.jsonl" \
  | jq -sc 'sort_by(.headers.ce_id)[]' >"$WORK/actual"
diff <(jq -S . "$WORK/expected") <(jq -S . "$WORK/actual") >&2 \
  || fail "peer saw different headers or values"

# The writer schema of e-3 is ItemAddedToCart v1, of e-2 v2 (fingerprints
# computed by fastavro from the .avsc files).
fp_v1=$(jq -r 'select(.headers.ce_id=="e-3") | .fingerprint' "$WORK/out.jsonl")
fp_v2=$(jq -r 'select(.headers.ce_id=="e-2") | .fingerprint' "$WORK/out.jsonl")
[ "$fp_v1" != "$fp_v2" ] || fail "v1 and v2 events carry the same fingerprint"
# Same aggregate -> same partition, in publish order.
jq -r 'select(.key=="cart-1") | "\(.partition) \(.offset) \(.headers.ce_sequence)"' \
  "$WORK/out.jsonl" | sort -k2n | awk '
  NR == 1 { p = $1 } $1 != p || $3 != NR { exit 1 }' || fail "cart-1 out of order"
log "peer decoded 8 events of 3 domains, headers and values as published"
echo "PASS"
