#!/usr/bin/env bash
# core_foreign_member.sh - a member that is not a worker joins the
# projection's consumer group, reads and commits (kcat -G with auto-commit,
# as someone debugging with the group's id would).  The partitions it
# holds get no event applied: the worker must report them unowned (log
# line, streamfold_partitions_unowned) for as long as events wait, and once
# that member leaves, the view must hold every event.  Before the fix the
# worker judged "events wait" by the group's committed offset, which the
# foreign member moves along: the gauge stayed 0 and nothing was logged
# while the view missed every event of those partitions.
TEST=core_foreign_member
. "$(dirname "$0")/core_lib.sh"
need
command -v curl >/dev/null || { log "SKIP: curl missing"; exit $SKIP; }
MPORT=
for _ in $(seq 1 50); do
  p=$(( 19000 + RANDOM % 11000 ))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then MPORT=$p; break; fi
done
[ -n "$MPORT" ] || fail "no free port for the metrics endpoint"
T=$(new_topic foreign 4)
P="fm-$ID"
NAMES+=("$P")
# keys of this test's own (a rebuild elsewhere on the shared Redis clears
# the example projections' cart:* keys)
cat >"$WORK/r.yaml" <<YAML
keys: ["$P:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$P:{aggregate_id}", units, "{data.quantity}"]
YAML
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml"}
YAML
echo "metrics: {listen: \"127.0.0.1:$MPORT\"}" >>"$WORK/c.yaml"
adds() {
  for i in $(seq "$1" "$2"); do
    c="$ID-k$((i % 20))"
    echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$c\",\"data\":{\"cart_id\":\"$c\",\"sku\":\"s\",\"quantity\":1,\"unit_price_cents\":5,\"added_at\":2,\"currency\":\"EUR\"}}"
  done
}
total() {
  local s=0 k
  for k in $(rcli --scan --pattern "$P:*"); do s=$(( s + $(rcli hget "$k" units) )); done
  echo "$s"
}
gauge() {
  curl -fsS "http://127.0.0.1:$MPORT/metrics" 2>/dev/null \
    | awk -v k="streamfold_partitions_unowned{projection=\"$P\"}" '$1 == k { print $2 }'
}

adds 1 200 | publish "$T"
start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 60
expect_eq "view before the foreign member" "$(total)" 200

kcat -b "$SF_BROKERS" -G "sf-$P" -X partition.assignment.strategy=cooperative-sticky \
  -X enable.auto.commit=true -X auto.commit.interval.ms=100 -u -f '%p %o\n' "$T" \
  >"$WORK/kcat.out" 2>"$WORK/kcat.err" &
KC=$!
PIDS[$KC]=1
for _ in $(seq 1 120); do grep -Eq "assign(ed: |ment of [1-9])" "$WORK/kcat.err" && break; sleep 0.5; done
grep -Eq "assign(ed: |ment of [1-9])" "$WORK/kcat.err" || fail "the foreign member got no partition: $(tail -3 "$WORK/kcat.err")"
log "foreign member: $(grep -E "assign(ed: |ment of)" "$WORK/kcat.err" | tail -1 | cut -c1-160)"
adds 201 400 | publish "$T"
for _ in $(seq 1 60); do [ -s "$WORK/kcat.out" ] && break; sleep 0.5; done
[ -s "$WORK/kcat.out" ] || fail "the foreign member read nothing"
held=$(awk '{print $1}' "$WORK/kcat.out" | sort -un | tr '\n' ' ')
log "the foreign member read partition(s) $held and commits them"

g=
for _ in $(seq 1 120); do
  g=$(gauge)
  [ "${g:-0}" -ge 1 ] 2>/dev/null && break
  sleep 0.5
done
[ "${g:-0}" -ge 1 ] || fail "partitions_unowned stayed ${g:-absent} while the view misses $(( 400 - $(total) )) events"
for p in $held; do
  for _ in $(seq 1 60); do
    grep -q "partition=$p lag=[0-9]* msg=\"partition held by no member" "$WORK/w.log" && break
    sleep 0.5
  done
  grep -q "partition=$p lag=[0-9]* msg=\"partition held by no member" "$WORK/w.log" \
    || fail "no log line names partition $p"
done
log "reported: gauge $g, a log line per partition; view $(total) of 400"

kill -TERM "$KC"; wait "$KC" 2>/dev/null || true; unset "PIDS[$KC]"
wait_lag0 "$WORK/c.yaml" "$P" 120
expect_eq "view after the foreign member left" "$(total)" 400
stop w TERM
expect_eq "worker exit" "$RC" 0
log "PASS"
