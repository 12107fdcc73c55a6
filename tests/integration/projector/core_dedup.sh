#!/usr/bin/env bash
# core_dedup.sh - the duplicate rule (docs/duplicates.md) end to end: one
# cart's history holds an event published twice (same ce_sequence and
# ce_id, two offsets), a second writer's event with an already used
# version (another ce_id), a jump in versions (gap) and a late, older
# version; a second cart has no versions at all.  The view applies each
# version once and the unversioned events per offset; the counts show in
# the metrics, in `status` and in the log; `dedup: off` applies every
# record; a rebuild gives the same view and version keys; journey --fold
# agrees with the live view.
TEST=core_dedup
. "$(dirname "$0")/core_lib.sh"
need
command -v jq >/dev/null || { log "SKIP: jq missing"; exit $SKIP; }
command -v curl >/dev/null || { log "SKIP: curl missing"; exit $SKIP; }

TC=$(new_topic cart 2)
PC="dd-$ID"; PA="dda-$ID"; PO="ddoff-$ID"
NAMES+=("$PC" "$PA" "$PO")
MPORT=
for _ in $(seq 1 50); do
  p=$(( 19000 + RANDOM % 11000 ))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then MPORT=$p; break; fi
done
[ -n "$MPORT" ] || fail "no free port for the metrics endpoint"
# the same fold under keys of its own (two projections may not share keys)
cat >"$WORK/off.rules.yaml" <<'YAML'
keys: ["cartoff:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "cartoff:{aggregate_id}:items", "{data.sku}", "{data.quantity}"]
  shop.cart.ItemRemovedFromCart:
    - [HINCRBY, "cartoff:{aggregate_id}:items", "{data.sku}", "{data.quantity|neg}"]
YAML
config "$WORK/c.yaml" <<YAML
  - {name: "$PC", topics: ["$TC"], rules: "$EXAMPLES/cart-contents.rules.yaml", batch: {size: 3, time_ms: 5}}
  - {name: "$PA", topics: ["$TC"], rules: "$EXAMPLES/product-availability.rules.yaml"}
  - {name: "$PO", topics: ["$TC"], rules: "$WORK/off.rules.yaml", dedup: off}
YAML
echo "metrics: {listen: \"127.0.0.1:$MPORT\"}" >>"$WORK/c.yaml"

c1="$ID-c1" c2="$ID-c2" s1="$ID-s1" s2="$ID-s2"
# ev TYPE CART VERSION EVENT_ID DATA (VERSION/EVENT_ID "-": left out)
ev() {
  local v="" i=""
  [ "$3" != - ] && v=",\"version\":$3"
  [ "$4" != - ] && i=",\"event_id\":\"$4\""
  echo "{\"type\":\"shop.cart.$1\",\"aggregate_id\":\"$2\"$v$i,\"data\":$5}"
}
add() { echo "{\"cart_id\":\"$1\",\"sku\":\"$2\",\"quantity\":$3,\"unit_price_cents\":100,\"added_at\":2,\"currency\":\"EUR\"}"; }
rem() { echo "{\"cart_id\":\"$1\",\"sku\":\"$2\",\"quantity\":$3,\"removed_at\":3}"; }
{
  ev CartOpened "$c1" 1 "$ID-e1" "{\"cart_id\":\"$c1\",\"customer_id\":\"u1\",\"opened_at\":1}"
  ev ItemAddedToCart "$c1" 2 "$ID-e2" "$(add "$c1" "$s1" 2)"
  ev ItemAddedToCart "$c1" 2 "$ID-e2" "$(add "$c1" "$s1" 2)"      # the same event again
  ev ItemAddedToCart "$c1" 2 "$ID-e2x" "$(add "$c1" "$s1" 7)"     # another writer, same version
  ev ItemAddedToCart "$c1" 3 "$ID-e3" "$(add "$c1" "$s2" 1)"
  ev ItemAddedToCart "$c1" 6 "$ID-e6" "$(add "$c1" "$s2" 4)"      # gap: 4 and 5 missing
  ev ItemRemovedFromCart "$c1" 5 "$ID-e5" "$(rem "$c1" "$s2" 1)"  # late, older: duplicate
  ev CartOpened "$c2" - - "{\"cart_id\":\"$c2\",\"customer_id\":\"u2\",\"opened_at\":1}"
  ev ItemAddedToCart "$c2" - - "$(add "$c2" "$s1" 3)"
  ev ItemAddedToCart "$c2" - - "$(add "$c2" "$s1" 3)"
} | publish "$TC"
log "published 7 versioned events of $c1 (2 duplicates by version, 1 late, 1 gap) and 3 unversioned of $c2"

start w "$WORK/c.yaml"
for p in "$PC" "$PA" "$PO"; do wait_lag0 "$WORK/c.yaml" "$p" 60; done

h() { rcli hget "$1" "$2"; }
# the version keys of projection $1 for cart $2 (one per partition it is in)
vkeys() { rcli --scan --pattern "sf:$1:ver:$TC:*:{$2}" | paste -sd' '; }
vk1=$(vkeys "$PC" "$c1")
case $vk1 in "sf:$PC:ver:$TC:"[01]":{$c1}") ;; *) fail "version key of $c1: got '$vk1'";; esac
expect_eq "$PC: $c1 $s1 (version 2 applied once)" "$(h "cart:$c1:items" "$s1")" 2
expect_eq "$PC: $c1 $s2 (3 and the gap's 6 applied, late 5 dropped)" "$(h "cart:$c1:items" "$s2")" 5
expect_eq "$PC: $c2 $s1 (unversioned: per offset)" "$(h "cart:$c2:items" "$s1")" 6
expect_eq "$PC: version key of $c1" "$(rcli get "$vk1")" \
  "6:$(printf '%s' "$ID-e6" | python3 -c 'import sys
h=2166136261
for b in sys.stdin.buffer.read(): h=((h^b)*16777619)&0xffffffff
print("%08x"%h)')"
expect_eq "$PC: no version key for the unversioned $c2" "$(vkeys "$PC" "$c2")" ""
expect_eq "$PA: product $s1 in carts" "$(h "product:$s1" in_carts)" 8
expect_eq "$PA: product $s2 in carts" "$(h "product:$s2" in_carts)" 5
# dedup: off applies every record
expect_eq "$PO (dedup: off): $c1 $s1" "$(h "cartoff:$c1:items" "$s1")" 11
expect_eq "$PO (dedup: off): $c1 $s2" "$(h "cartoff:$c1:items" "$s2")" 4
[ -z "$(vkeys "$PO" "$c1")" ] || fail "$PO (dedup: off) wrote a version key"

metric() { curl -fsS "http://127.0.0.1:$MPORT/metrics" | awk -v k="$1" '$1 == k { print $2 }'; }
m() { metric "streamfold_dedup_events_total{projection=\"$1\",kind=\"$2\"}"; }
expect_eq "metric duplicates $PC" "$(m "$PC" duplicate)" 3
expect_eq "metric conflicts $PC" "$(m "$PC" conflict)" 1
expect_eq "metric gaps $PC" "$(m "$PC" gap)" 1
expect_eq "metric unversioned $PC" "$(m "$PC" unversioned)" 3
expect_eq "metric duplicates $PA (types it ignores count for versions)" "$(m "$PA" duplicate)" 3
expect_eq "metric gaps $PA" "$(m "$PA" gap)" 1
expect_eq "metric duplicates $PO (off)" "$(m "$PO" duplicate)" 0
expect_eq "metric unversioned $PO (off: not counted)" "$(m "$PO" unversioned)" 0

st=$(status_of "$PC")
printf '%s\n' "$st" | grep -q "3 duplicates dropped (1 with another ce_id), 1 gaps, 3 unversioned events" \
  || fail "status does not show the counts: $st"
printf '%s\n' "$st" | grep -q "last duplicate: offset=" || fail "status shows no last duplicate: $st"
printf '%s\n' "$st" | grep -q "last gap: offset=.* version=6 last=3 key=$vk1" \
  || fail "status shows no last gap: $st"
st=$(status_of "$PO")
printf '%s\n' "$st" | grep -q "duplicate rule: off" || fail "status of $PO does not say the rule is off: $st"
grep -q "projection=$PC .*duplicates=" "$WORK/w.log" || fail "no duplicate log line"
grep -q "projection=$PC .*gaps=1" "$WORK/w.log" || fail "no gap log line"

# a rebuild from offset zero gives the same view and version keys
stop w TERM
expect_eq "worker exit on SIGTERM" "$RC" 0
before=$(dump "cart:$ID*"; dump "sf:$PC:ver:*"; dump "sf:$PC:dedup:*")
"$PROJ" rebuild -c "$WORK/c.yaml" "$PC" >"$WORK/rebuild.out" 2>"$WORK/rebuild.log" \
  || fail "rebuild failed: $(tail -3 "$WORK/rebuild.log")"
grep -q "3 duplicates dropped, 1 gaps, 3 unversioned" "$WORK/rebuild.log" \
  || fail "rebuild summary lacks the counts: $(tail -2 "$WORK/rebuild.log")"
after=$(dump "cart:$ID*"; dump "sf:$PC:ver:*"; dump "sf:$PC:dedup:*")
[ "$before" = "$after" ] || fail "rebuild changed the view: $(diff <(echo "$before") <(echo "$after"))"
st=$(status_of "$PC")
printf '%s\n' "$st" | grep -q "3 duplicates dropped (1 with another ce_id), 1 gaps, 3 unversioned events" \
  || fail "status after the rebuild: $st"

# journey --fold applies the same rule: its state equals the live view
"$PROJ" journey -c "$WORK/c.yaml" -t "$TC" "$c1" --fold "$PC" --state >"$WORK/j.jsonl" 2>"$WORK/j.log" \
  || fail "journey failed: $(cat "$WORK/j.log")"
expect_eq "journey verdicts" "$(jq -r 'select(.offset != null) | .dedup' "$WORK/j.jsonl" | paste -sd,)" \
  "next,next,duplicate,conflict,next,gap,duplicate"
expect_eq "journey state $s1" "$(jq -r --arg k "cart:$c1:items" 'select(.state) | .state[$k]["'"$s1"'"]' "$WORK/j.jsonl")" 2
expect_eq "journey state $s2" "$(jq -r --arg k "cart:$c1:items" 'select(.state) | .state[$k]["'"$s2"'"]' "$WORK/j.jsonl")" 5
"$PROJ" journey -c "$WORK/c.yaml" -t "$TC" "$c1" --fold "$PO" --state >"$WORK/joff.jsonl" 2>"$WORK/j.log" \
  || fail "journey (off) failed: $(cat "$WORK/j.log")"
expect_eq "journey state $s1, dedup: off" "$(jq -r --arg k "cartoff:$c1:items" 'select(.state) | .state[$k]["'"$s1"'"]' "$WORK/joff.jsonl")" 11
log "PASS"
