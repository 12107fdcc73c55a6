#!/usr/bin/env bash
# core_asof_view.sh - a past view beside the live one
# (docs/offsets-and-asof.md): `rebuild --as-of TIME --db N` while the
# worker keeps serving and events keep coming; the as-of view equals the
# reference fold of exactly the events with time <= TIME (an event stamped
# years ahead left out, the later ones of its partition kept), the live
# view equals the reference fold of everything; both coexist; the database
# rules (not the live one, empty or our own as-of view) hold; `drop`
# removes it; in place (no --db) over a skewed history the rebuild marker
# stays (a worker could not resume it) until rebuild --force.  The
# references are incremental workers over topics holding only those events.
TEST=core_asof_view
. "$(dirname "$0")/core_lib.sh"
need
T=$(new_topic asof 3); TA=$(new_topic asofall 3); TE=$(new_topic asofref 3)
P="av-$ID"; PA="ava-$ID"; PE="ave-$ID"
NAMES+=("$P" "$PA" "$PE")
mk() { sed "s/\"cart:/\"$1:cart:/g; s/\[\"cart:\*\"\]/[\"$1:cart:*\"]/" "$EXAMPLES/cart-contents.rules.yaml" >"$2"; }
mk "$ID-v" "$WORK/v.yaml"; mk "$ID-a" "$WORK/a.yaml"; mk "$ID-e" "$WORK/e.yaml"
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$WORK/v.yaml", batch: {size: 100, time_ms: 20}}
  - {name: "$PA", topics: ["$TA"], rules: "$WORK/a.yaml", batch: {size: 100, time_ms: 20}}
  - {name: "$PE", topics: ["$TE"], rules: "$WORK/e.yaml", batch: {size: 100, time_ms: 20}}
YAML
AS=2026-06-01T00:00:00Z
# gen SEED N: carts with occurred_at mostly before AS, every 7th after it,
# every 50th stamped by a clock years ahead (2031)
gen() {
  awk -v seed="$1" -v n="$2" 'BEGIN { srand(seed)
    for (i = 0; i < n; i++) {
      c = "k" int(rand() * 40); s = "sku" int(rand() * 15)
      d = (i % 50 == 7) ? "2031-01-01T00:00:00Z" : (i % 7 == 3) ? "2026-09-01T00:00:00Z" : "2026-0" (1 + int(rand() * 4)) "-15T12:00:00Z"
      if (!(c in o)) { o[c] = 1; t = "CartOpened"; x = "{\"cart_id\":\"" c "\",\"customer_id\":\"u\",\"opened_at\":1}" }
      else { t = "ItemAddedToCart"; x = "{\"cart_id\":\"" c "\",\"sku\":\"" s "\",\"quantity\":" (1 + int(rand() * 4)) ",\"unit_price_cents\":5,\"added_at\":2,\"currency\":\"EUR\"}" }
      printf "{\"type\":\"shop.cart.%s\",\"aggregate_id\":\"%s\",\"occurred_at\":\"%s\",\"data\":%s}\n", t, c, d, x } }'
}
gen 3 1500 >"$WORK/h1.jsonl"
# the events of the as-of view: time <= AS (RFC 3339 in UTC sorts as text)
past() { awk -v as="$AS" '{ match($0, /"occurred_at":"[^"]*"/); t = substr($0, RSTART + 15, RLENGTH - 16); if (t <= as) print }'; }
publish "$T" <"$WORK/h1.jsonl"; publish "$TA" <"$WORK/h1.jsonl"; past <"$WORK/h1.jsonl" | publish "$TE"
fut=$(grep -c '2031-' "$WORK/h1.jsonl")
log "published 1500 events ($fut stamped in 2031, $(past <"$WORK/h1.jsonl" | wc -l) at or before $AS)"

start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 120; wait_lag0 "$WORK/c.yaml" "$PE" 120

D=""; D2=""
for d in $(shuf -i 2-15); do
  [ "$(redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" -n "$d" dbsize)" = 0 ] || continue
  if [ -z "$D" ]; then D=$d; elif [ -z "$D2" ]; then D2=$d; break; fi
done
[ -n "$D2" ] || { log "SKIP: no two empty Redis databases"; exit $SKIP; }
rn() { redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" -n "$@"; }
asof_cleanup() { # whatever this test left in the two databases
  local d
  for d in "$D" "$D2"; do
    { rn "$d" --scan --pattern "*$ID*"; rn "$d" --scan --pattern "sf:$P:*"; } 2>/dev/null \
      | xargs -r -n 500 redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" -n "$d" unlink >/dev/null 2>&1
  done
}
trap 'rc=$?; asof_cleanup; (exit $rc); cleanup' EXIT
dumpn() { # dumpn DB PATTERN: like dump (core_lib.sh), in database DB
  rn "$1" --scan --pattern "$2" | sort | while read -r k; do
    case $(rn "$1" type "$k") in
      string) echo "$k string $(rn "$1" get "$k")";;
      hash) echo "$k hash $(rn "$1" hgetall "$k" | paste - - | sort | paste -sd' ')";;
      set) echo "$k set $(rn "$1" smembers "$k" | sort | paste -sd' ')";;
      zset) echo "$k zset $(rn "$1" zrange "$k" 0 -1 withscores | paste -sd' ')";;
      list) echo "$k list $(rn "$1" lrange "$k" 0 -1 | paste -sd' ')";;
    esac
  done
}

# the as-of rebuild while the worker serves and new events arrive (all
# stamped after AS: whether the rebuild saw them or not, they are not in
# the as-of view)
gen 4 600 | sed 's/"occurred_at":"[^"]*"/"occurred_at":"2026-10-01T00:00:00Z"/' >"$WORK/h2.jsonl"
( publish "$T" <"$WORK/h2.jsonl"; publish "$TA" <"$WORK/h2.jsonl" ) &
pubpid=$!
"$PROJ" rebuild -c "$WORK/c.yaml" "$P" --as-of "$AS" --db "$D" >"$WORK/rb.log" 2>&1 || fail "rebuild --as-of --db: $(tail -3 "$WORK/rb.log")"
wait $pubpid || fail "publishing during the rebuild failed"
kill -0 "$PID_w" 2>/dev/null || fail "the worker stopped during the as-of rebuild"
wait_lag0 "$WORK/c.yaml" "$P" 120; wait_lag0 "$WORK/c.yaml" "$PA" 120
stop w TERM; expect_eq "worker exit" "$RC" 0

dumpn "$D" "$ID-v:*" | sed "s/^$ID-v:/X:/" >"$WORK/asof.txt"
dump "$ID-e:*" | sed "s/^$ID-e:/X:/" >"$WORK/ref-e.txt"
dump "$ID-v:*" | sed "s/^$ID-v:/X:/" >"$WORK/live.txt"
dump "$ID-a:*" | sed "s/^$ID-a:/X:/" >"$WORK/ref-a.txt"
[ "$(wc -l <"$WORK/ref-e.txt")" -gt 20 ] || fail "as-of reference suspiciously small"
diff "$WORK/live.txt" "$WORK/ref-a.txt" >"$WORK/d-live.txt" || fail "live view differs from its reference: $(head -5 "$WORK/d-live.txt")"
log "live view (worker ran on during the as-of rebuild, 2100 events) = reference fold"
diff "$WORK/asof.txt" "$WORK/ref-e.txt" >"$WORK/d-asof.txt" || fail "as-of view differs from its reference: $(head -5 "$WORK/d-asof.txt")"
cmp -s "$WORK/asof.txt" "$WORK/live.txt" && fail "as-of view equals the live view: the test shows nothing"
expect_eq "as-of view recorded in db $D" "$(rn "$D" get "sf:$P:asof")" "${AS%Z}.000Z"
expect_eq "registry in the live db" "$(rcli hget "sf:$P:asof-views" "$D")" "${AS%Z}.000Z"
log "as-of view in db $D = reference fold of the events <= $AS ($fut from a clock in 2031 left out, the later ones kept)"

# the database rules
RC=0; "$PROJ" rebuild -c "$WORK/c.yaml" "$P" --as-of "$AS" --db 0 >"$WORK/rb0.log" 2>&1 || RC=$?
expect_eq "as-of into the live db: exit" "$RC" 2
grep -q "is the live database" "$WORK/rb0.log" || fail "no reason given: $(cat "$WORK/rb0.log")"
rn "$D2" set "$ID-foreign" 1 >/dev/null
RC=0; "$PROJ" rebuild -c "$WORK/c.yaml" "$P" --as-of "$AS" --db "$D2" >"$WORK/rb2.log" 2>&1 || RC=$?
rn "$D2" del "$ID-foreign" >/dev/null
expect_eq "as-of into a db holding other keys: exit" "$RC" 2
grep -q "holds 1 key(s) and no as-of view of $P" "$WORK/rb2.log" || fail "no reason given: $(cat "$WORK/rb2.log")"
# replacing its own as-of view is allowed (another time)
"$PROJ" rebuild -c "$WORK/c.yaml" "$P" --as-of 2026-02-01T00:00:00Z --db "$D" >"$WORK/rb3.log" 2>&1 || fail "replacing the as-of view: $(tail -3 "$WORK/rb3.log")"
expect_eq "as-of view replaced" "$(rn "$D" get "sf:$P:asof")" "2026-02-01T00:00:00.000Z"
[ "$(dumpn "$D" "$ID-v:*" | wc -l)" -lt "$(wc -l <"$WORK/asof.txt")" ] || fail "an earlier as-of view should be smaller"
dump "$ID-v:*" | sed "s/^$ID-v:/X:/" | cmp -s - "$WORK/live.txt" || fail "the live view changed during the as-of rebuilds"
log "as-of refused into the live db and a foreign db; replaced in its own; live view untouched"

"$PROJ" drop -c "$WORK/c.yaml" "$P" --db "$D" >"$WORK/drop.log" 2>&1 || fail "drop: $(cat "$WORK/drop.log")"
expect_eq "db $D after drop" "$(rn "$D" dbsize)" 0
expect_eq "registry after drop" "$(rcli hexists "sf:$P:asof-views" "$D")" 0
RC=0; "$PROJ" drop -c "$WORK/c.yaml" "$P" --db "$D" >"$WORK/drop2.log" 2>&1 || RC=$?
expect_eq "drop of nothing: exit" "$RC" 1
RC=0; "$PROJ" drop -c "$WORK/c.yaml" "$P" --db 0 >"$WORK/drop3.log" 2>&1 || RC=$?
expect_eq "drop of the live db: exit" "$RC" 2
[ "$(dump "$ID-v:*" | wc -l)" -gt 20 ] || fail "live view gone after drop"
log "drop removed the as-of view; refused for nothing and for the live db"

# in place (no --db), the skewed history cannot be resumed by a worker:
# the view is the as-of fold, the rebuild marker stays, workers wait;
# rebuild --force returns to the live view
"$PROJ" rebuild -c "$WORK/c.yaml" "$P" --as-of "$AS" >"$WORK/rbi.log" 2>&1 || fail "in-place as-of: $(tail -3 "$WORK/rbi.log")"
grep -q "as-of view in the live database: an event later than the as-of time lies before events applied" "$WORK/rbi.log" || fail "in-place as-of does not say why workers wait: $(tail -3 "$WORK/rbi.log")"
[ -n "$(rcli get "sf:$P:rebuild")" ] || fail "in-place as-of over a skewed history left no rebuild marker"
dump "$ID-v:*" | sed "s/^$ID-v:/X:/" | cmp -s - "$WORK/ref-e.txt" || fail "in-place as-of view differs from its reference"
start w "$WORK/c.yaml" "$P"
wait_log() { local i; for i in $(seq 1 $(( $3 * 5 ))); do grep -q -- "$2" "$WORK/$1.log" 2>/dev/null && return 0; sleep 0.2; done; fail "$1 never logged '$2'"; }
wait_log w "a rebuild runs" 60
sleep 2
dump "$ID-v:*" | sed "s/^$ID-v:/X:/" | cmp -s - "$WORK/ref-e.txt" || fail "a worker changed the frozen in-place as-of view"
"$PROJ" rebuild -c "$WORK/c.yaml" "$P" --force >"$WORK/rbf.log" 2>&1 || fail "rebuild --force: $(tail -3 "$WORK/rbf.log")"
wait_lag0 "$WORK/c.yaml" "$P" 120
stop w TERM
dump "$ID-v:*" | sed "s/^$ID-v:/X:/" | cmp -s - "$WORK/ref-a.txt" || fail "rebuild --force did not return to the live view"
log "in place over a skewed history: as-of fold, marker kept, worker waited; rebuild --force back to live"
log "PASS"
