#!/usr/bin/env bash
# core_keys.sh - event data and patterns stay inside their projection
# (projector/README.md, "Keys"), against the running stack:
#  - an id holding ':' is escaped inside keys (rules and the handler
#    helper), so "c42:items" writes its own cart, never cart c42's items;
#  - an event with neither record key nor ce_subject, and one whose key
#    holds a NUL byte, are dead-lettered, never folded under "" or a cut id;
#  - a handler that writes another projection's bookkeeping and ignores
#    the refusal still has its whole event dead-lettered, the key named;
#  - keys: patterns that reach sf:, or another projection's keys, and
#    rules naming an unknown type or field, are refused before running
#    (exit 2, naming the pattern or file:line:col).
TEST=core_keys
. "$(dirname "$0")/core_lib.sh"
need
HANDLER=$SF_BUILD_DIR/tests/unit/projector/libsf_keys_handler.so
[ -f "$HANDLER" ] || { log "SKIP: $HANDLER not built"; exit $SKIP; }
python3 -c 'import confluent_kafka' 2>/dev/null || { log "SKIP: python3 confluent_kafka missing"; exit $SKIP; }
SFS=$SF_BUILD_DIR/schemas/sf-schema
T=$(new_topic keys 1)
PR="kr-$ID"; PH="kh-$ID"
NAMES+=("$PR" "$PH")
sed "s/\"cart:/\"$ID:cart:/g; s/\[\"cart:\*\"\]/[\"$ID:cart:*\"]/" \
  "$EXAMPLES/cart-contents.rules.yaml" >"$WORK/cart.rules.yaml"
config "$WORK/c.yaml" <<YAML
  - {name: "$PR", topics: ["$T"], rules: "$WORK/cart.rules.yaml"}
  - name: "$PH"
    topics: ["$T"]
    handler: "$HANDLER"
    rules: {keys: ["$ID:h:*"], on: {}}
YAML
opened() { echo "{\"type\":\"shop.cart.CartOpened\",\"aggregate_id\":\"$1\",\"data\":{\"cart_id\":\"$1\",\"customer_id\":\"u\",\"opened_at\":1}}"; }
added() { echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$1\",\"data\":{\"cart_id\":\"$1\",\"sku\":\"$2\",\"quantity\":$3,\"unit_price_cents\":1,\"added_at\":1,\"currency\":\"EUR\"}}"; }
# raw TYPE DATA KEY: a record with ce_type only (no ce_subject); KEY
# "none" = no record key, "nul" = the key "c42\0x"
raw() {
  echo "$2" | "$SFS" encode -s "$SCHEMAS" -t "$1" >"$WORK/raw.bin" || fail "encode"
  python3 - "$SF_BROKERS" "$T" "$1" "$3" "$WORK/raw.bin" <<'PY' || fail "raw produce"
import sys
from confluent_kafka import Producer
brokers, topic, typ, key, path = sys.argv[1:]
p = Producer({"bootstrap.servers": brokers})
k = None if key == "none" else b"c42\x00x"
p.produce(topic, open(path, "rb").read(), key=k, partition=0,
          headers=[("ce_type", typ.encode())])
assert p.flush(10) == 0
PY
}
{ opened c42; added c42 MOUSE 1; opened "c42:items"; } | publish "$T"        # 0 1 2
raw shop.cart.CartOpened '{"cart_id":"x","customer_id":"u","opened_at":1}' none   # 3
raw shop.cart.ItemAddedToCart '{"cart_id":"c42","sku":"NUL","quantity":5,"unit_price_cents":1,"added_at":1,"currency":"EUR"}' nul  # 4
{ added c7 evil 1; added "a:b" esc 1; } | publish "$T"                       # 5 6
SF_KEYS_PREFIX=$ID start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$PR" 60
wait_lag0 "$WORK/c.yaml" "$PH" 60
stop w TERM

expect() { [ "$2" = "$3" ] || fail "$1: got \"$2\", want \"$3\""; }
expect "cart c42 items" "$(rcli hgetall "$ID:cart:c42:items" | paste -sd' ')" "MOUSE 1"
expect "cart c42" "$(rcli hgetall "$ID:cart:c42" | paste -sd' ')" "status open"
expect "cart c42:items (escaped)" "$(rcli hgetall "$ID:cart:c42%3Aitems" | paste -sd' ')" "status open"
expect "no cart without an id" "$(rcli exists "$ID:cart:")" 0
expect "handler: c42" "$(rcli get "$ID:h:c42")" 1
expect "handler: escaped a:b" "$(rcli get "$ID:h:a%3Ab")" 1
expect "handler: nothing of the refused event" "$(rcli exists "$ID:h:after-evil")" 0
expect "handler: no bookkeeping written" "$(rcli exists sf:victim:epoch:t:0)" 0
log "ids with ':' escaped, for rules and handlers; nothing outside the patterns"

kcat -C -b "$SF_BROKERS" -t "$T.dlq" -e -q -f '%h\n' >"$WORK/dlq.txt" 2>/dev/null || fail "cannot read $T.dlq"
dl() { grep -a "sf_dlq_projection=$1" "$WORK/dlq.txt" | grep -a "sf_dlq_offset=$2\(,\|$\)" || true; }
[ -n "$(dl "$PR" 3)" ] || fail "rules: event without an id not dead-lettered"
dl "$PR" 3 | grep -q "aggregate_id: empty in a key" || fail "rules: reason for offset 3: $(dl "$PR" 3)"
dl "$PR" 4 | grep -q "NUL byte" || fail "rules: key with NUL not dead-lettered: $(dl "$PR" 4)"
dl "$PH" 4 | grep -q "NUL byte" || fail "handler: key with NUL not dead-lettered"
dl "$PH" 3 >/dev/null # (CartOpened: the handler projection has no rule for it)
dl "$PH" 5 | grep -q "sf:victim:epoch:t:0" || fail "handler: refused key not named: $(dl "$PH" 5)"
expect "dead letters" "$(wc -l <"$WORK/dlq.txt")" 4
log "no id, NUL in the id, a handler writing bookkeeping: dead-lettered with the reason"

# --- refused before running -------------------------------------------
refused() { # refused WHAT NEEDLE CMD...: exit 2 and NEEDLE on stderr
  local what=$1 needle=$2 rc=0; shift 2
  "$@" >"$WORK/r.out" 2>&1 || rc=$?
  [ $rc -eq 2 ] || fail "$what: exit $rc, want 2: $(cat "$WORK/r.out")"
  grep -qF -- "$needle" "$WORK/r.out" || fail "$what: want \"$needle\" in: $(cat "$WORK/r.out")"
}
config "$WORK/bad.yaml" <<YAML
  - {name: "kb1-$ID", topics: ["$T"], rules: {keys: ["*:*"], on: {shop.cart.CartOpened: [[SET, "t1:{aggregate_id}", x]]}}}
  - {name: "kb2-$ID", topics: ["$T"], rules: {keys: ["$ID:x:*"], on: {}}}
  - {name: "kb3-$ID", topics: ["$T"], rules: {keys: ["$ID:*:y"], on: {}}}
  - {name: "kb4-$ID", topics: ["$T"], rules: "$WORK/typo.rules.yaml"}
  - {name: "kb5-$ID", topics: ["$T"], rules: "$WORK/field.rules.yaml"}
YAML
printf 'keys: ["%s-t:*"]\non:\n  shop.cart.CartOpend:\n    - [SET, "%s-t:{aggregate_id}", x]\n' "$ID" "$ID" >"$WORK/typo.rules.yaml"
printf 'keys: ["%s-f:*"]\non:\n  shop.cart.CartOpened:\n    - [SET, "%s-f:{aggregate_id}", "{data.customerid}"]\n' "$ID" "$ID" >"$WORK/field.rules.yaml"
refused "pattern reaching sf:" 'key pattern "*:*" can match keys under the reserved prefix sf:' "$PROJ" run -c "$WORK/bad.yaml" "kb1-$ID"
refused "rebuild with such a pattern" 'reserved prefix' "$PROJ" rebuild -c "$WORK/bad.yaml" "kb1-$ID"
refused "overlapping projections" "pattern \"$ID:*:y\" of projection kb3-$ID" "$PROJ" run -c "$WORK/bad.yaml" "kb2-$ID"
refused "unknown event type" "$WORK/typo.rules.yaml:3:3: unknown event type \"shop.cart.CartOpend\"" "$PROJ" run -c "$WORK/bad.yaml" "kb4-$ID"
col=$(awk 'NR == 4 { print index($0, "{data.customerid}") + 1 }' "$WORK/field.rules.yaml")
refused "unknown field" "$WORK/field.rules.yaml:4:$col: data.customerid: no field \"customerid\" in shop.cart.CartOpened" "$PROJ" run -c "$WORK/bad.yaml" "kb5-$ID"
log "patterns reaching sf: or another projection, unknown types and fields: refused before running"
echo PASS
