#!/usr/bin/env bash
# The example command service (producer/examples/cart_service.c) turns
# commands into events with per-cart versions; the peer reads them back.
. "$(dirname "$0")/lib.sh"

EX=$BUILD/producer/cart_service
[ -x "$EX" ] || fail "cart_service not built"
t=$(new_topic example)
"$PUB" -b "$BROKERS" -t "$t" -s "$SCHEMAS" --create-topic --partitions 3 </dev/null 2>/dev/null
set +e
TP=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01
TRACEPARENT=$TP "$EX" -b "$BROKERS" -s "$SCHEMAS" -t "$t" -T tenant-9 >"$WORK/ex.out" <<'CMDS'
open c-a alice sku-1 2 499 sku-2 1 100
open c-b bob
add c-a sku-3 1 1999
remove c-a sku-1 1
add c-x sku 1 1
checkout c-a
add c-a sku-4 1 1
add c-b sku-9 3 10
CMDS
rc=$?
set -e
[ $rc -eq 1 ] || fail "exit $rc, want 1 (two commands refused)"
[ "$(grep -c '^REFUSED' "$WORK/ex.out")" -eq 2 ] || fail "$(cat "$WORK/ex.out")"
grep -q '^OK checkout c-a (version 6)' "$WORK/ex.out" || fail "$(cat "$WORK/ex.out")"
peer "$t" >"$WORK/out.jsonl"
got=$(jq -r '"\(.key) \(.offset) \(.headers.ce_sequence) \(.type)"' "$WORK/out.jsonl" \
      | sort -k1,1 -k2,2n | awk '{print $1, $3, $4}' | paste -sd,)
want="c-a 1 shop.cart.CartOpened,c-a 2 shop.cart.ItemAddedToCart,c-a 3 shop.cart.ItemAddedToCart,c-a 4 shop.cart.ItemAddedToCart,c-a 5 shop.cart.ItemRemovedFromCart,c-a 6 shop.cart.CartCheckedOut,c-b 1 shop.cart.CartOpened,c-b 2 shop.cart.ItemAddedToCart"
[ "$got" = "$want" ] || fail "events: $got"
[ "$(jq -r 'select(.headers.ce_sequence=="3") | .value.sku' "$WORK/out.jsonl" | head -1)" = sku-2 ] \
  || fail "payload of c-a version 3"
# every event carries the service's extra headers
n=$(jq -r --arg tp "$TP" 'select(.headers.tenant == "tenant-9" and .headers.traceparent == $tp) | .key' \
    "$WORK/out.jsonl" | wc -l)
[ "$n" -eq 8 ] || fail "$n of 8 events carry the tenant and traceparent headers"
# a malformed trace context is refused, nothing published for it
TRACEPARENT=not-a-trace "$EX" -b "$BROKERS" -s "$SCHEMAS" -t "$t" >"$WORK/bad.out" <<<'open c-z zed' || true
grep -q '^FAILED open: .*traceparent' "$WORK/bad.out" || fail "bad traceparent: $(cat "$WORK/bad.out")"
[ "$(peer "$t" | wc -l)" -eq 8 ] || fail "an event with a bad traceparent was published"
log "cart_service: 8 events, per-cart versions 1..n, refused commands publish nothing"
echo "PASS"
