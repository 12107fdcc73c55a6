#!/usr/bin/env bash
# core_rebuild.sh - a rebuild from offset zero gives exactly the view the
# incremental worker built; progress is shown; --as-of gives the view of
# the history up to that time (compared with an incremental worker over a
# topic holding only that part of the history).
TEST=core_rebuild
. "$(dirname "$0")/core_lib.sh"
need
N=${CORE_REBUILD_EVENTS:-3000}
T=$(new_topic rb 4); TE=$(new_topic rbearly 4)
P="rb-$ID"; PE="rbe-$ID"; PW="rbw-$ID"
NAMES+=("$P" "$PE" "$PW")
mk() { # mk PREFIX OUT: the example cart-contents rules with keys under PREFIX
  sed "s/\"cart:/\"$1:cart:/g; s/\[\"cart:\*\"\]/[\"$1:cart:*\"]/" \
    "$EXAMPLES/cart-contents.rules.yaml" >"$2"
}
mk "$ID-a" "$WORK/a.rules.yaml"; mk "$ID-e" "$WORK/e.rules.yaml"
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$WORK/a.rules.yaml", batch: {size: 200, time_ms: 20}}
  - {name: "$PE", topics: ["$TE"], rules: "$WORK/e.rules.yaml"}
  # rules that contradict themselves: every add hits a string (WRONGTYPE)
  - name: "$PW"
    topics: ["$T"]
    rules:
      keys: ["$ID-w:*"]
      on:
        shop.cart.CartOpened: [[SET, "$ID-w:{aggregate_id}", x]]
        shop.cart.ItemAddedToCart: [[HINCRBY, "$ID-w:{aggregate_id}", n, 1]]
        shop.cart.CartCheckedOut: [[INCR, "$ID-w:checkouts"]]
YAML

# gen SEED N DATE: a deterministic cart history, occurred_at = DATE
gen() {
  awk -v seed="$1" -v n="$2" -v date="$3" 'BEGIN {
    srand(seed)
    for (i = 0; i < n; i++) {
      c = "k" int(rand() * 60); s = "sku" int(rand() * 25); q = 1 + int(rand() * 5)
      if (!(c in open)) { t = "CartOpened"; d = "{\"cart_id\":\"" c "\",\"customer_id\":\"u\",\"opened_at\":1}"; open[c] = 1 }
      else if (rand() < 0.6) { t = "ItemAddedToCart"; d = "{\"cart_id\":\"" c "\",\"sku\":\"" s "\",\"quantity\":" q ",\"unit_price_cents\":5,\"added_at\":2,\"currency\":\"EUR\"}" }
      else if (rand() < 0.85) { t = "ItemRemovedFromCart"; d = "{\"cart_id\":\"" c "\",\"sku\":\"" s "\",\"quantity\":" q ",\"removed_at\":3}" }
      else { t = "CartCheckedOut"; d = "{\"cart_id\":\"" c "\",\"checked_out_at\":4}" }
      printf "{\"type\":\"shop.cart.%s\",\"aggregate_id\":\"%s\",\"occurred_at\":\"%s\",\"data\":%s}\n", t, c, date, d
    } }'
}
gen 7 $((N / 2)) 2026-01-01T00:00:00Z >"$WORK/early.jsonl"
gen 8 $((N / 2)) 2026-06-01T00:00:00Z >"$WORK/late.jsonl"
publish "$T" <"$WORK/early.jsonl"; publish "$T" <"$WORK/late.jsonl"
publish "$TE" <"$WORK/early.jsonl"
log "published $N events"

start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 120; wait_lag0 "$WORK/c.yaml" "$PE" 120
stop w TERM
expect_eq "worker exit" "$RC" 0
dump "$ID-a:*" >"$WORK/incremental.txt"
dump "$ID-e:*" | sed "s/^$ID-e:/$ID-a:/" >"$WORK/early.txt"
[ "$(wc -l <"$WORK/incremental.txt")" -gt 50 ] || fail "incremental view suspiciously small"

"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" 2>"$WORK/rebuild.log" || fail "rebuild failed: $(tail -3 "$WORK/rebuild.log")"
grep -q "done: $N events ($N applied, 0 poison)" "$WORK/rebuild.log" || fail "rebuild summary wrong: $(tail -2 "$WORK/rebuild.log")"
dump "$ID-a:*" >"$WORK/rebuilt.txt"
diff "$WORK/incremental.txt" "$WORK/rebuilt.txt" >"$WORK/diff.txt" || fail "rebuild differs from incremental: $(head -5 "$WORK/diff.txt")"
status_of $P | grep >/dev/null "total lag 0$" || fail "lag after rebuild"
log "rebuild equals incremental ($(wc -l <"$WORK/rebuilt.txt") keys); $(tail -1 "$WORK/rebuild.log")"

"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" --as-of 2026-03-01T00:00:00Z 2>"$WORK/asof.log" || fail "rebuild --as-of failed"
dump "$ID-a:*" >"$WORK/asof.txt"
diff "$WORK/early.txt" "$WORK/asof.txt" >"$WORK/diff2.txt" || fail "--as-of view differs from the early history's: $(head -5 "$WORK/diff2.txt")"
status_of $P | grep >/dev/null "total lag $((N / 2))$" || fail "as-of checkpoints should leave the late half as lag"
log "--as-of equals the fold of the history up to that time"

# a command failing inside Redis during a rebuild: that event is counted as
# poison, every other event is applied, the rebuild completes
adds=$(cat "$WORK/early.jsonl" "$WORK/late.jsonl" | grep -c ItemAddedToCart)
outs=$(cat "$WORK/early.jsonl" "$WORK/late.jsonl" | grep -c CartCheckedOut)
"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$PW" 2>"$WORK/w.rebuild.log" || fail "rebuild with failing commands failed: $(tail -2 "$WORK/w.rebuild.log")"
grep -q "done: $N events ($N applied, $adds poison)" "$WORK/w.rebuild.log" \
  || fail "want $adds poison events: $(tail -1 "$WORK/w.rebuild.log")"
expect_eq "events around the failures applied" "$(rcli get "$ID-w:checkouts")" "$outs"
log "rebuild with $adds failing commands: counted as poison, the rest applied"

# a worker started afterwards catches up from the as-of checkpoints
start w "$WORK/c.yaml" "$P"
wait_lag0 "$WORK/c.yaml" "$P" 120
stop w TERM
dump "$ID-a:*" >"$WORK/caught-up.txt"
diff "$WORK/incremental.txt" "$WORK/caught-up.txt" >/dev/null || fail "catch-up after --as-of differs"
log "PASS"
