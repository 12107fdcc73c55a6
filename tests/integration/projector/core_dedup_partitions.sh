#!/usr/bin/env bash
# core_dedup_partitions.sh - the duplicate rule when one aggregate's events
# sit in two partitions.  Kafka orders records only within a partition; a
# producer that keys records by something other than the aggregate id
# (or not at all), or partitions added to a topic, spread an aggregate
# over partitions with no order between them.  The rule must then judge
# each partition on its own: a version seen in one partition must not
# make the other partition's earlier versions look like duplicates,
# otherwise the view depends on which partition a worker happened to read
# first and a rebuild of the same log gives another view.
#
# Cart C: version 3 (+10) on partition 1 under another record key, read
# by the live worker first; then versions 1 (open) and 2 (+1) and a
# re-sent copy of 2 on partition 0 under key C; then version 4 (+100) on
# partition 1 with a null key.  The fold of the log is status=open and
# 111 units: only the re-sent copy is a duplicate.
TEST=core_dedup_partitions
. "$(dirname "$0")/core_lib.sh"
need

TS=$(new_topic stage 1)
TC=$(new_topic cart 2)
PC="ddp-$ID"
NAMES+=("$PC")
# keys of this test's own: the rebuild below clears the projection's keys:
# patterns, and the examples' cart:* is shared by other tests on this Redis
cat >"$WORK/r.yaml" <<YAML
keys: ["$PC:*"]
on:
  shop.cart.CartOpened:
    - [HSET, "$PC:{aggregate_id}", status, open]
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$PC:{aggregate_id}:items", "{data.sku}", "{data.quantity}"]
YAML
config "$WORK/c.yaml" <<YAML
  - {name: "$PC", topics: ["$TC"], rules: "$WORK/r.yaml"}
YAML
c="$ID-c"
add() {
  echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$c\",\"version\":$1,\"event_id\":\"$ID-e$1\",\"data\":{\"cart_id\":\"$c\",\"sku\":\"s\",\"quantity\":$2,\"unit_price_cents\":100,\"added_at\":2,\"currency\":\"EUR\"}}"
}
# sf-publish writes the events (Avro, CloudEvents headers) to a staging
# topic; kcat copies each to the partition and record key of the scenario
{
  echo "{\"type\":\"shop.cart.CartOpened\",\"aggregate_id\":\"$c\",\"version\":1,\"event_id\":\"$ID-e1\",\"data\":{\"cart_id\":\"$c\",\"customer_id\":\"u\",\"opened_at\":1}}"
  add 2 1
  add 3 10
  add 4 100
} | publish "$TS"
# copy STAGE_OFFSET PARTITION [KEY]: no KEY = a null record key
copy() {
  local o=$1 p=$2 hs args=() hh=()
  kcat -C -b "$SF_BROKERS" -t "$TS" -p 0 -o "$o" -c 1 -e -q -f '%s' >"$WORK/m$o" \
    || fail "cannot read staged offset $o"
  hs=$(kcat -C -b "$SF_BROKERS" -t "$TS" -p 0 -o "$o" -c 1 -e -q -f '%h')
  IFS=, read -ra hh <<<"$hs"
  for h in "${hh[@]}"; do args+=(-H "$h"); done
  [ $# -ge 3 ] && args+=(-k "$3")
  kcat -P -b "$SF_BROKERS" -t "$TC" -p "$p" "${args[@]}" "$WORK/m$o" \
    || fail "cannot copy staged offset $o to $TC/$p"
}

copy 2 1 "$ID-other-key" # version 3 first, in partition 1
start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$PC" 60
copy 0 0 "$c"            # version 1
copy 1 0 "$c"            # version 2
copy 1 0 "$c"            # version 2 again: a retried publish
copy 3 1                 # version 4, null key
wait_lag0 "$WORK/c.yaml" "$PC" 60

expect_eq "live: units of $c" "$(rcli hget "$PC:$c:items" s)" 111
expect_eq "live: status of $c (version 1 applied)" "$(rcli hget "$PC:$c" status)" open
expect_eq "version keys, one per partition" \
  "$(rcli --scan --pattern "sf:$PC:ver:$TC:*" | sort | paste -sd' ')" \
  "sf:$PC:ver:$TC:0:{$c} sf:$PC:ver:$TC:1:{$c}"
st=$(status_of "$PC")
printf '%s\n' "$st" | grep -q "1 duplicates dropped (0 with another ce_id), 1 gaps, 0 unversioned events" \
  || fail "status counts: $st"

stop w TERM
expect_eq "worker exit on SIGTERM" "$RC" 0
before=$(dump "$PC:*"; dump "sf:$PC:ver:*")
"$PROJ" rebuild -c "$WORK/c.yaml" "$PC" >"$WORK/rebuild.out" 2>"$WORK/rebuild.log" \
  || fail "rebuild failed: $(tail -3 "$WORK/rebuild.log")"
after=$(dump "$PC:*"; dump "sf:$PC:ver:*")
[ "$before" = "$after" ] \
  || fail "the rebuild of the same log gave another view: $(diff <(echo "$before") <(echo "$after"))"
grep -q "1 duplicates dropped, 1 gaps, 0 unversioned" "$WORK/rebuild.log" \
  || fail "rebuild summary: $(tail -2 "$WORK/rebuild.log")"
log "PASS"
