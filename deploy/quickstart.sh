#!/usr/bin/env bash
# quickstart.sh - the whole Streamfold job on a fresh machine, told as it
# happens:
#   1. install dependencies and build
#   2. start the local stack (Kafka + Redis) and provision the event topics
#   3. publish a realistic cart, route and fight history with sf-publish
#   4. run the projector workers until every view has caught up
#   5. print the read models straight from Redis (what readers query)
#   6. rebuild one projection from offset zero, with progress, and show that
#      the rebuilt view equals the incremental one
#   7. walk one aggregate's history, and build a view as of a past moment
#
# Safe to run again: the history is published only into empty topics.  The
# stack stays up afterwards; `deploy/stack.sh down` stops it, `down --wipe`
# forgets everything.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
BUILD=${SF_BUILD_DIR:-$REPO/build}
CONFIG=projector/examples/streamfold.yaml
STATE=${SF_STATE_DIR:-$REPO/.state}
WORKER_LOG="$STATE/quickstart-projector.log"
worker=""

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
die() { echo "quickstart: $*" >&2; exit 1; }
stop_worker() {
  if [ -n "$worker" ] && kill -0 "$worker" 2>/dev/null; then
    kill -TERM "$worker"
    wait "$worker" || true
  fi
  worker=""
}
trap stop_worker EXIT

say "1. dependencies and build"
deploy/install-deps.sh
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "${SF_JOBS:-2}" | tail -n 1
PUBLISH="$BUILD/producer/sf-publish"
PROJ="$BUILD/projector/sf-projector"

say "2. local stack and topics"
deploy/stack.sh up
eval "$(deploy/stack.sh env)"
redis() { redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" "$@"; }
deploy/topics.sh create -b "$SF_BROKERS" cart-events route-events fight-events

say "3. publish the history (sf-publish, JSON lines in, Avro single-object records out)"
for agg in cart route fight; do
  topic=$agg-events
  have=$(kcat -b "$SF_BROKERS" -C -t "$topic" -o beginning -e -q -f '.' 2>/dev/null | wc -c)
  if [ "$have" -gt 0 ]; then
    echo "$topic already holds $have events; not publishing again"
    continue
  fi
  deploy/quickstart/history.sh "$agg" >"$STATE/quickstart-$agg.jsonl"
  echo "$topic: publishing $(wc -l <"$STATE/quickstart-$agg.jsonl") events, e.g."
  head -n 1 "$STATE/quickstart-$agg.jsonl" | cut -c1-160
  "$PUBLISH" -b "$SF_BROKERS" -t "$topic" -s schemas/domains \
    --source quickstart <"$STATE/quickstart-$agg.jsonl"
done
echo "one record as it sits in Kafka (key, CloudEvents headers):"
kcat -b "$SF_BROKERS" -C -t cart-events -o beginning -c 1 -e -q \
  -f '  key=%k partition=%p offset=%o\n  headers=%h\n' 2>/dev/null

say "4. run the projector (all projections of $CONFIG) until it caught up"
"$PROJ" run -c "$CONFIG" >"$WORKER_LOG" 2>&1 &
worker=$!
caught_up=0
for _ in $(seq 1 120); do
  sleep 1
  kill -0 "$worker" 2>/dev/null || die "the worker exited; see $WORKER_LOG"
  # status prints one "projection NAME ... total lag N" line per
  # projection; the worker has caught up when every one says 0.
  if st=$("$PROJ" status -c "$CONFIG" 2>/dev/null) &&
     grep -q '^projection ' <<<"$st" &&
     ! grep '^projection ' <<<"$st" | grep -vq 'total lag 0$'; then
    caught_up=1
    break
  fi
done
[ $caught_up = 1 ] || die "the projector did not catch up in 120 s; see $WORKER_LOG"
"$PROJ" status -c "$CONFIG" carts | head -n 5
echo "  ..."
echo "metrics (http://127.0.0.1:9464/metrics):"
curl -fsS http://127.0.0.1:9464/metrics 2>/dev/null | grep -E '^streamfold_events_applied_total' | head -n 4 || true

say "5. the read models in Redis"
echo "cart:cart-001 ->            $(redis HGETALL cart:cart-001 | paste -sd' ')"
echo "cart:cart-001:items ->      $(redis HGETALL cart:cart-001:items | paste -sd' ')"
for sku in MONITOR-27 KEYBOARD-01 DOCK-TB4; do
  echo "product:$sku in carts -> $(redis -n 2 HGET "product:$sku" in_carts)"  # availability: db 2
done
echo "route:route-1 ->            $(redis -n 4 HGETALL route:route-1 | paste -sd' ')"  # routes: db 4
for loc in $(redis -n 4 SMEMBERS route:route-1:locations | sort); do
  echo "  location $loc: $(redis -n 4 HGET "location:$loc" name), $(redis -n 4 HGET "location:$loc" city); machines: $(redis -n 4 SMEMBERS "location:$loc:machines" | sort | paste -sd' ')"
done

say "6. rebuild 'carts' from offset zero, blue/green: built in db 1, switched into db 0"
stop_worker
before=$(for k in $(redis --scan --pattern 'cart:cart-*' | sort); do echo "$k $(redis HGETALL "$k" | paste -sd' ')"; done)
"$PROJ" rebuild -c "$CONFIG" carts
after=$(for k in $(redis --scan --pattern 'cart:cart-*' | sort); do echo "$k $(redis HGETALL "$k" | paste -sd' ')"; done)
if [ "$before" = "$after" ]; then
  echo "rebuilt view equals the incremental one ($(wc -l <<<"$after") cart keys)"
else
  diff <(echo "$before") <(echo "$after") | head -n 20
  die "the rebuilt view differs from the incremental one"
fi

say "7. one aggregate's journey, and the view as of a past moment"
"$PROJ" journey -c "$CONFIG" -t cart-events cart-001 | cut -c1-200
echo "cart-001 now, folded by the carts rules:"
"$PROJ" journey -c "$CONFIG" -t cart-events cart-001 --fold carts --state | tail -n 1
at=$(head -n 2 "$STATE/quickstart-cart.jsonl" 2>/dev/null | tail -n 1 | sed -n 's/.*"occurred_at":"\([^"]*\)".*/\1/p')
if [ -n "$at" ]; then
  echo "cart-001 as of $at (after its first item):"
  "$PROJ" journey -c "$CONFIG" -t cart-events cart-001 --as-of "$at" --fold carts --state | tail -n 1
fi

say "done"
cat <<EOF
The stack is still running:  deploy/stack.sh status | down | down --wipe
Run the worker yourself:     $PROJ run -c $CONFIG
Query a view:                redis-cli -p $SF_REDIS_PORT HGETALL cart:cart-007:items
Publish more:                echo '{"type":"shop.cart.CartOpened","aggregate_id":"cart-900","data":{"cart_id":"cart-900","customer_id":"me","opened_at":0}}' | $PUBLISH -b $SF_BROKERS -t cart-events -s schemas/domains
EOF
