#!/usr/bin/env bash
# core_journey_keys.sh - `journey --fold --state` with aggregate ids (and so
# Redis keys) of 1,000 and 100,000 bytes: every event of the aggregate is
# listed, the folded state names the full keys with the right values, and
# no scratch key stays in Redis afterwards.  A record of the aggregate that
# cannot be decoded is listed with its error, never skipped.
TEST=core_journey_keys
. "$(dirname "$0")/core_lib.sh"
need
command -v jq >/dev/null || { log "SKIP: jq missing"; exit $SKIP; }

TC=$(new_topic cart 3)
PC="carts-$ID"
NAMES+=("$PC")
config "$WORK/c.yaml" <<YAML
  - {name: "$PC", topics: ["$TC"], rules: "$EXAMPLES/cart-contents.rules.yaml"}
YAML

# long_id N: "$ID-" followed by N-${#ID}-1 letters (N bytes in all)
long_id() { printf '%s-' "$ID"; head -c $(( $1 - ${#ID} - 1 )) /dev/zero | tr '\0' k; }
cart() { echo "{\"type\":\"shop.cart.$1\",\"aggregate_id\":\"$2\",\"data\":$3}"; }

for n in 1000 100000; do
  id=$(long_id $n)
  expect_eq "aggregate id length" "${#id}" "$n"
  {
    cart CartOpened "$id" "{\"cart_id\":\"$id\",\"customer_id\":\"u1\",\"opened_at\":1}"
    cart ItemAddedToCart "$id" "{\"cart_id\":\"$id\",\"sku\":\"s1\",\"quantity\":2,\"unit_price_cents\":250,\"added_at\":2,\"currency\":\"EUR\"}"
    cart ItemAddedToCart "$id" "{\"cart_id\":\"$id\",\"sku\":\"s2\",\"quantity\":3,\"unit_price_cents\":100,\"added_at\":2,\"currency\":\"EUR\"}"
    cart ItemRemovedFromCart "$id" "{\"cart_id\":\"$id\",\"sku\":\"s1\",\"quantity\":1,\"removed_at\":3}"
  } | publish "$TC"
  # A record with the same key that is not Avro: listed with an error.
  # (murmur2_random: the partition the producer and journey use.)
  printf 'not avro' | kcat -P -b "$SF_BROKERS" -t "$TC" -k "$id" \
    -X partitioner=murmur2_random 2>>"$WORK/kcat.log" \
    || fail "kcat could not produce the poison record"

  out=$WORK/journey-$n.jsonl
  "$PROJ" journey -c "$WORK/c.yaml" -t "$TC" "$id" --fold "$PC" --state >"$out" 2>"$WORK/journey-$n.log" \
    || fail "journey ($n-byte id) failed: $(cat "$WORK/journey-$n.log")"
  expect_eq "journey lines ($n-byte id: 5 records + state)" "$(wc -l <"$out")" 6
  expect_eq "event types ($n-byte id)" \
    "$(head -n 5 "$out" | jq -r 'if (.type // "") == "" then "?" else .type end' | sed 's/.*\.//' | paste -sd,)" \
    "CartOpened,ItemAddedToCart,ItemAddedToCart,ItemRemovedFromCart,?"
  expect_eq "aggregate ids ($n-byte id)" \
    "$(head -n 4 "$out" | jq -r --arg id "$id" '.aggregate_id == $id' | paste -sd,)" "true,true,true,true"
  head -n 5 "$out" | tail -n 1 | jq -e 'has("error")' >/dev/null \
    || fail "the undecodable record of the $n-byte id is not listed with its error"
  state=$(tail -n 1 "$out")
  expect_eq "state: status ($n-byte id)" \
    "$(jq -r --arg k "cart:$id" '.state[$k].status' <<<"$state")" open
  expect_eq "state: items ($n-byte id)" \
    "$(jq -r --arg k "cart:$id:items" '.state[$k] | "\(.s1),\(.s2)"' <<<"$state")" "1,3"
  expect_eq "state: keys ($n-byte id)" "$(jq -r '.state | keys | length' <<<"$state")" 2
  left=$(rcli --scan --pattern "sf:journey:*$ID*" | wc -l)
  expect_eq "scratch keys left in Redis after the $n-byte journey" "$left" 0
  log "ok: $n-byte aggregate id"
done
log "PASS"
