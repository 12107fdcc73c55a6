#!/usr/bin/env bash
# core_diff.sh - `sf-projector diff` (docs/offsets-and-asof.md): the live
# view against a fresh fold into an empty scratch database.  Equal views
# exit 0; one key changed, missing or extra exits 1 and the output names
# it (and the field); bad usage exits 2; the scratch database is emptied
# again and the live database's bookkeeping is not written.
TEST=core_diff
. "$(dirname "$0")/core_lib.sh"
need
T=$(new_topic diff 3)
P="df-$ID"
NAMES+=("$P")
sed "s/\"cart:/\"$ID:cart:/g; s/\[\"cart:\*\"\]/[\"$ID:cart:*\"]/" \
  "$EXAMPLES/cart-contents.rules.yaml" >"$WORK/r.yaml"
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", batch: {size: 100, time_ms: 20}}
YAML
awk 'BEGIN { srand(5); for (i = 0; i < 400; i++) { c = "k" int(rand() * 30); s = "sku" int(rand() * 10)
  if (!(c in o)) { o[c] = 1; printf "{\"type\":\"shop.cart.CartOpened\",\"aggregate_id\":\"%s\",\"data\":{\"cart_id\":\"%s\",\"customer_id\":\"u\",\"opened_at\":1}}\n", c, c }
  else printf "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"%s\",\"data\":{\"cart_id\":\"%s\",\"sku\":\"%s\",\"quantity\":%d,\"unit_price_cents\":5,\"added_at\":2,\"currency\":\"EUR\"}}\n", c, c, s, 1 + int(rand() * 4) } }' \
  | publish "$T"
start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 120
stop w TERM; expect_eq "worker exit" "$RC" 0

# an empty scratch database (the shared Redis has 16)
S=""
for d in $(shuf -i 2-15); do
  [ "$(redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" -n "$d" dbsize)" = 0 ] && { S=$d; break; }
done
[ -n "$S" ] || { log "SKIP: no empty Redis database for the scratch fold"; exit $SKIP; }
gen0=$(rcli get "sf:$P:generation"); ep0=$(rcli get "sf:$P:epoch:$T:0")
diffrun() { # diffrun NAME [args]: RC and $WORK/NAME.out
  local n=$1; shift
  RC=0; "$PROJ" diff -c "$WORK/c.yaml" "$P" "$@" >"$WORK/$n.out" 2>"$WORK/$n.err" || RC=$?
}

diffrun equal --db "$S"
expect_eq "diff of equal views: exit" "$RC" 0
grep -q "0 missing, 0 extra, 0 different, [1-9][0-9]* equal: equal" "$WORK/equal.out" || fail "diff summary: $(cat "$WORK/equal.out")"
expect_eq "scratch database emptied" "$(redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" -n "$S" dbsize)" 0
expect_eq "live generation untouched" "$(rcli get "sf:$P:generation")" "$gen0"
expect_eq "live epoch untouched" "$(rcli get "sf:$P:epoch:$T:0")" "$ep0"
log "equal views: exit 0; scratch emptied; live bookkeeping untouched"

k=$(rcli --scan --pattern "$ID:cart:*:items" | sort | head -1)
f=$(rcli hkeys "$k" | sort | head -1); v=$(rcli hget "$k" "$f")
rcli hset "$k" "$f" 999 >/dev/null
diffrun changed --db "$S"
expect_eq "one field changed: exit" "$RC" 1
grep -qF "different  $k: field $f: live \"999\", fold \"$v\"" "$WORK/changed.out" || fail "changed key not named: $(cat "$WORK/changed.out")"
grep -q "0 missing, 0 extra, 1 different" "$WORK/changed.out" || fail "summary: $(tail -1 "$WORK/changed.out")"
rcli hset "$k" "$f" "$v" >/dev/null

rcli rename "$k" "$ID-aside" >/dev/null
diffrun missing --db "$S"
expect_eq "one key missing: exit" "$RC" 1
grep -qF "missing    $k (only in the fold)" "$WORK/missing.out" || fail "missing key not named: $(cat "$WORK/missing.out")"
rcli rename "$ID-aside" "$k" >/dev/null

rcli set "$ID:cart:zz:items" bogus >/dev/null
diffrun extra --db "$S"
expect_eq "one key extra: exit" "$RC" 1
grep -qF "extra      $ID:cart:zz:items (not in the fold)" "$WORK/extra.out" || fail "extra key not named: $(cat "$WORK/extra.out")"
rcli del "$ID:cart:zz:items" >/dev/null
log "one key changed / missing / extra: exit 1, each named (with the field)"

# bounded output
for i in 1 2 3 4 5; do rcli set "$ID:cart:x$i:items" bogus >/dev/null; done
diffrun many --db "$S" --max 2
expect_eq "five differences: exit" "$RC" 1
expect_eq "lines shown with --max 2" "$(grep -c '^extra ' "$WORK/many.out")" 2
grep -q "3 more difference(s) not shown" "$WORK/many.out" || fail "no truncation note: $(cat "$WORK/many.out")"
for i in 1 2 3 4 5; do rcli del "$ID:cart:x$i:items" >/dev/null; done
diffrun again --db "$S"
expect_eq "equal again: exit" "$RC" 0

diffrun nodb
expect_eq "fold without a scratch db: exit" "$RC" 2
diffrun bogus --against bogus --db "$S"
expect_eq "--against bogus: exit" "$RC" 2
diffrun live --db 0
expect_eq "the live db as scratch: exit" "$RC" 2
redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" -n "$S" set "$ID-foreign" 1 >/dev/null
diffrun busy --db "$S"
redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" -n "$S" del "$ID-foreign" >/dev/null
expect_eq "a scratch db that is not empty: exit" "$RC" 2
log "usage errors exit 2"
log "PASS"
