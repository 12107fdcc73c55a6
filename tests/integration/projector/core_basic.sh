#!/usr/bin/env bash
# core_basic.sh - the four example projections over a small, hand-checked
# history: views equal the expected fold; SIGTERM exits 0; a restart
# resumes from the Redis checkpoint (counters not doubled); pause/resume;
# journey lists an aggregate's events.
TEST=core_basic
. "$(dirname "$0")/core_lib.sh"
need
HANDLER=$SF_BUILD_DIR/projector/examples/libsf_fight_handler.so
[ -f "$HANDLER" ] || { log "SKIP: $HANDLER not built"; exit $SKIP; }

TC=$(new_topic cart 3); TR=$(new_topic route 2); TF=$(new_topic fight 1)
PC="carts-$ID"; PA="avail-$ID"; PR="routes-$ID"; PF="fights-$ID"
NAMES+=("$PC" "$PA" "$PR" "$PF")
config "$WORK/c.yaml" <<YAML
  - {name: "$PC", topics: ["$TC"], rules: "$EXAMPLES/cart-contents.rules.yaml", batch: {size: 2, time_ms: 5}}
  - {name: "$PA", topics: ["$TC"], rules: "$EXAMPLES/product-availability.rules.yaml"}
  - {name: "$PR", topics: ["$TR"], rules: "$EXAMPLES/route-machines.rules.yaml"}
  - {name: "$PF", topics: ["$TF"], rules: "$EXAMPLES/fight-results.rules.yaml", handler: "$HANDLER"}
YAML

c1="$ID-c1" c2="$ID-c2" s1="$ID-s1" s2="$ID-s2"
cart() { echo "{\"type\":\"shop.cart.$1\",\"aggregate_id\":\"$2\",\"data\":$3}"; }
{
  cart CartOpened "$c1" "{\"cart_id\":\"$c1\",\"customer_id\":\"u1\",\"opened_at\":1}"
  cart CartOpened "$c2" "{\"cart_id\":\"$c2\",\"customer_id\":\"u2\",\"opened_at\":1}"
  cart ItemAddedToCart "$c1" "{\"cart_id\":\"$c1\",\"sku\":\"$s1\",\"quantity\":2,\"unit_price_cents\":250,\"added_at\":2,\"currency\":\"EUR\"}"
  cart ItemAddedToCart "$c1" "{\"cart_id\":\"$c1\",\"sku\":\"$s2\",\"quantity\":1,\"unit_price_cents\":100,\"added_at\":2,\"currency\":\"EUR\"}"
  cart ItemRemovedFromCart "$c1" "{\"cart_id\":\"$c1\",\"sku\":\"$s1\",\"quantity\":1,\"removed_at\":3}"
  cart ItemAddedToCart "$c2" "{\"cart_id\":\"$c2\",\"sku\":\"$s1\",\"quantity\":5,\"unit_price_cents\":250,\"added_at\":2,\"currency\":\"EUR\"}"
  cart CartCheckedOut "$c1" "{\"cart_id\":\"$c1\",\"checked_out_at\":4}"
} | publish "$TC"

r1="$ID-r1" l1="$ID-l1" l2="$ID-l2"
route() { echo "{\"type\":\"ops.route.$1\",\"aggregate_id\":\"$r1\",\"data\":$2}"; }
addr() { echo "{\"street\":\"Main 1\",\"city\":\"$1\",\"postal_code\":\"1000\"}"; }
{
  route RouteCreated "{\"route_id\":\"$r1\",\"name\":\"North loop\",\"created_at\":1}"
  route LocationAddedToRoute "{\"route_id\":\"$r1\",\"location_id\":\"$l1\",\"name\":\"Station\",\"address\":$(addr "$ID Den Haag"),\"added_at\":2}"
  route LocationAddedToRoute "{\"route_id\":\"$r1\",\"location_id\":\"$l2\",\"name\":\"Dom\",\"address\":$(addr "$ID Köln"),\"added_at\":2}"
  for m in m1:$l1 m2:$l1 m3:$l2; do
    route VendingMachineInstalled "{\"route_id\":\"$r1\",\"location_id\":\"${m#*:}\",\"machine_id\":\"$ID-${m%%:*}\",\"model\":\"V1\",\"installed_at\":3}"
  done
  route VendingMachineRemoved "{\"route_id\":\"$r1\",\"location_id\":\"$l1\",\"machine_id\":\"$ID-m2\",\"reason\":{\"string\":\"broken\"},\"removed_at\":4}"
  route VendingMachineRemoved "{\"route_id\":\"$r1\",\"location_id\":\"$l2\",\"machine_id\":\"$ID-m3\",\"reason\":null,\"removed_at\":4}"
} | publish "$TR"

fighter() { echo "{\"fighter_id\":\"$ID-$1\",\"name\":\"$2\"}"; }
{
  echo "{\"type\":\"sports.fight.FightResultRecorded\",\"aggregate_id\":\"$ID-f1\",\"data\":{\"fight_id\":\"$ID-f1\",\"fighters\":[$(fighter a Ali),$(fighter b Frazier)],\"winner_id\":{\"string\":\"$ID-a\"},\"method\":\"KO\",\"rounds\":3,\"duration_seconds\":500,\"venue\":\"$ID-Arena\",\"fight_date\":1000,\"recorded_at\":1}}"
  echo "{\"type\":\"sports.fight.FightResultRecorded\",\"aggregate_id\":\"$ID-f2\",\"data\":{\"fight_id\":\"$ID-f2\",\"fighters\":[$(fighter a Ali),$(fighter c Foreman),$(fighter d Norton)],\"winner_id\":null,\"method\":\"DRAW\",\"rounds\":12,\"duration_seconds\":2160,\"venue\":\"$ID-Arena\",\"fight_date\":500,\"recorded_at\":2}}"
} | publish "$TF"
log "published 7 cart, 8 route, 2 fight events"

start w "$WORK/c.yaml"
for p in "$PC" "$PA" "$PR" "$PF"; do wait_lag0 "$WORK/c.yaml" "$p" 60; done

h() { rcli hget "$1" "$2"; }
expect_eq "cart c1 status" "$(h "cart:$c1" status)" checked_out
expect_eq "cart c2 status" "$(h "cart:$c2" status)" open
expect_eq "cart c1 s1" "$(h "cart:$c1:items" "$s1")" 1
expect_eq "cart c1 s2" "$(h "cart:$c1:items" "$s2")" 1
expect_eq "cart c2 s1" "$(h "cart:$c2:items" "$s1")" 5
expect_eq "product s1" "$(h "product:$s1" in_carts)" 6
expect_eq "product s2" "$(h "product:$s2" in_carts)" 1
expect_eq "route name" "$(h "route:$r1" name)" "North loop"
expect_eq "route locations" "$(rcli smembers "route:$r1:locations" | sort | paste -sd,)" "$l1,$l2"
expect_eq "l1 city" "$(h "location:$l1" city)" "$ID Den Haag"
expect_eq "l2 city (utf-8)" "$(h "location:$l2" city)" "$ID Köln"
expect_eq "l1 machines" "$(rcli smembers "location:$l1:machines" | paste -sd,)" "$ID-m1"
expect_eq "l2 machines" "$(rcli exists "location:$l2:machines")" 0
expect_eq "city set" "$(rcli smembers "city:$ID Den Haag:locations")" "$l1"
expect_eq "m2 status" "$(h "machine:$ID-m2" status)" removed
expect_eq "m2 reason" "$(h "machine:$ID-m2" removal_reason)" broken
expect_eq "m3 reason (null: no field)" "$(rcli hexists "machine:$ID-m3" removal_reason)" 0
expect_eq "venue fights by date" "$(rcli zrange "venue:$ID-Arena:fights" 0 -1 withscores | paste -sd' ')" "$ID-f2 500 $ID-f1 1000"
expect_eq "f1 hash" "$(h "fight:$ID-f1" red)/$(h "fight:$ID-f1" blue)/$(h "fight:$ID-f1" method)/$(h "fight:$ID-f1" winner)" "Ali/Frazier/KO/$ID-a"
expect_eq "f2 winner (draw)" "$(h "fight:$ID-f2" winner)" ""
expect_eq "a wins" "$(h "fighter:$ID-a" wins)" 1
expect_eq "c wins (none)" "$(rcli hexists "fighter:$ID-c" wins)" 0
expect_eq "handler: 3rd fighter counted" "$(rcli get "fights:count:$ID-d")" 1
expect_eq "handler: a fought twice" "$(rcli get "fights:count:$ID-a")" 2
expect_eq "handler: a's fights" "$(rcli zrange "fighter:$ID-a:fights" 0 -1 | paste -sd,)" "$ID-f2,$ID-f1"
expect_eq "handler: name" "$(h "fighter:$ID-d" name)" Norton
log "views of all four projections as expected"

stop w TERM
expect_eq "exit status after SIGTERM" "$RC" 0
grep -q 'msg="stopped cleanly"' "$WORK/w.log" || fail "no clean stop logged"

# restart: resumes from the checkpoint, new events applied exactly once
start w "$WORK/c.yaml"
cart ItemAddedToCart "$c2" "{\"cart_id\":\"$c2\",\"sku\":\"$s2\",\"quantity\":4,\"unit_price_cents\":100,\"added_at\":5,\"currency\":\"EUR\"}" | publish "$TC"
wait_lag0 "$WORK/c.yaml" "$PC" 60; wait_lag0 "$WORK/c.yaml" "$PA" 60
expect_eq "product s1 after restart (not doubled)" "$(h "product:$s1" in_carts)" 6
expect_eq "product s2 after restart" "$(h "product:$s2" in_carts)" 5
expect_eq "cart c2 s2" "$(h "cart:$c2:items" "$s2")" 4

# pause / resume
"$PROJ" pause -c "$WORK/c.yaml" "$PA" 2>/dev/null
status_of $PA | grep >/dev/null PAUSED || fail "status does not show PAUSED"
sleep 2
cart ItemRemovedFromCart "$c2" "{\"cart_id\":\"$c2\",\"sku\":\"$s2\",\"quantity\":4,\"removed_at\":6}" | publish "$TC"
wait_lag0 "$WORK/c.yaml" "$PC" 60
sleep 2
expect_eq "paused projection unchanged" "$(h "product:$s2" in_carts)" 5
"$PROJ" resume -c "$WORK/c.yaml" "$PA" 2>/dev/null
wait_lag0 "$WORK/c.yaml" "$PA" 60
expect_eq "applied after resume" "$(h "product:$s2" in_carts)" 1
stop w TERM
expect_eq "exit status after second SIGTERM" "$RC" 0

# journey: c1's events in order, decoded
"$PROJ" journey -c "$WORK/c.yaml" -t "$TC" "$c1" --fold "$PC" >"$WORK/journey.jsonl" 2>"$WORK/journey.log" \
  || fail "journey failed: $(cat "$WORK/journey.log")"
expect_eq "journey events of c1" "$(wc -l <"$WORK/journey.jsonl")" 5
expect_eq "journey order" "$(grep -o '"type":"[^"]*"' "$WORK/journey.jsonl" | cut -d. -f3 | tr -d '"' | paste -sd,)" \
  "CartOpened,ItemAddedToCart,ItemAddedToCart,ItemRemovedFromCart,CartCheckedOut"
grep -q "\"commands\":\[\[\"HINCRBY\",\"cart:$c1:items\",\"$s1\",\"-1\"\]\]" "$WORK/journey.jsonl" \
  || fail "journey --fold does not show the removal's command"
# --state: the keys c1's events fold to, computed apart from the live view
"$PROJ" journey -c "$WORK/c.yaml" -t "$TC" "$c1" --fold "$PC" --state >"$WORK/state.jsonl" 2>>"$WORK/journey.log" \
  || fail "journey --state failed: $(cat "$WORK/journey.log")"
expect_eq "journey --state lines" "$(wc -l <"$WORK/state.jsonl")" 6
expect_eq "folded state of c1" "$(tail -1 "$WORK/state.jsonl")" \
  "{\"state\":{\"cart:$c1\":{\"status\":\"checked_out\"},\"cart:$c1:items\":{\"$s1\":\"1\",\"$s2\":\"1\"}}}"
[ -z "$(rcli --scan --pattern 'sf:journey:*' | head -1)" ] || fail "journey left scratch keys behind"
# a custom worker binary with a handler linked in (sf_projector_register_init
# + sf_projector_main): its handler runs beside the shared object's
CUSTOM=$SF_BUILD_DIR/projector/examples/sf-fight-worker
if [ -x "$CUSTOM" ]; then
  # The rebuild clears the rules' key patterns: never the example's global
  # ones on the shared Redis; only this run's keys.
  sed "s/^keys: .*/keys: [\"venue:$ID-*\", \"fight:$ID-*\", \"fighter:$ID-*\", \"fights:count:$ID-*\", \"fight-audit:$ID-*\"]/" \
    "$EXAMPLES/fight-results.rules.yaml" >"$WORK/fights.rules.yaml"
  grep -q "^keys: \[\"venue:$ID-" "$WORK/fights.rules.yaml" || fail "could not narrow the key patterns"
  sed -e "s/name: \"$PF\"/name: \"$PF-custom\"/" \
      -e "s|rules: \"$EXAMPLES/fight-results.rules.yaml\"|rules: \"$WORK/fights.rules.yaml\"|" \
      "$WORK/c.yaml" >"$WORK/custom.yaml"
  grep -q "$WORK/fights.rules.yaml" "$WORK/custom.yaml" || fail "custom config still uses the global patterns"
  NAMES+=("$PF-custom")   # bookkeeping removed by the cleanup
  SF_FIGHT_PROJECTION="$PF-custom" "$CUSTOM" rebuild --in-place -c "$WORK/custom.yaml" "$PF-custom" 2>"$WORK/custom.log" \
    || fail "custom worker rebuild: $(tail -2 "$WORK/custom.log")"
  rbid=$(h "fight-audit:$ID-f1" recorded_by)
  [ -n "$rbid" ] || fail "linked-in handler did not run"
  expect_eq "shared-object handler still ran" "$(rcli get "fights:count:$ID-a")" 2
  log "custom worker: linked-in handler and shared object both applied"
fi
log "PASS"
