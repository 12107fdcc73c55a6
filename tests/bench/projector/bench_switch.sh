#!/usr/bin/env bash
# bench_switch.sh - the live-write pause of a blue/green switch for a view
# of SF_SWITCH_EVENTS (default 1M) keys.
#
# A private redis-server (SWAPDB switches whole databases), a projection
# that writes one key per event (bk:<event id>), a live worker that built
# the view in db 0, then `sf-projector rebuild` (blue/green, spare_db 1)
# with the worker running.  Prints the keys in the view and the pause the
# rebuild measured: total (pause request to resume acknowledgement) and
# the part between the last pause acknowledgement and the EXEC of the
# swap.  Label "bench" (opt-in).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../integration/projector/e2e_lib.sh"
need_bins
new_run switch "${SF_SWITCH_EVENTS:-1000000}" 5
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" \
  --save '' --appendonly no --daemonize no --logfile "$WORK/redis.log" &
REDIS_PID=$!
E2E_ON_EXIT='kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null'
for _ in $(seq 1 50); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1
done
SF_REDIS_PORT=$REDIS_PORT
export SF_REDIS_PORT

cat >"$WORK/c.yaml" <<YAML
kafka: {bootstrap.servers: "$SF_BROKERS"}
redis: {host: 127.0.0.1, port: $REDIS_PORT}
schemas: "$SCHEMAS"
projections:
  - name: "$P_CART"
    topics: ["$TOPIC"]
    db: 0
    spare_db: 1
    batch: {size: 5000, time_ms: 50}
    rules:
      keys: ["bk:*"]
      on:
        shop.cart.CartOpened: [[SET, "bk:{event_id}", "{offset}"]]
        shop.cart.ItemAddedToCart: [[SET, "bk:{event_id}", "{offset}"]]
        shop.cart.ItemRemovedFromCart: [[SET, "bk:{event_id}", "{offset}"]]
        shop.cart.CartCheckedOut: [[SET, "bk:{event_id}", "{offset}"]]
YAML
create_topic 12
publish 0 "$EVENTS"
start_worker 1 "$WORK/c.yaml"
for _ in $(seq 1 1200); do
  out=$("$PROJ_BIN" status -c "$WORK/c.yaml" "$P_CART" 2>&1 || true)
  grep -q "total lag 0$" <<<"$out" && break
  sleep 1
done
grep -q "total lag 0$" <<<"$out" || fail "the live worker did not catch up"
keys=$(redis-cli -p "$REDIS_PORT" -n 0 dbsize)
log "live view: $keys keys in db 0"
"$PROJ_BIN" rebuild -c "$WORK/c.yaml" "$P_CART" >"$WORK/rebuild.log" 2>&1 \
  || fail "rebuild: $(tail -3 "$WORK/rebuild.log")"
line=$(grep "switched: the new generation serves;" "$WORK/rebuild.log" | tail -1)
[ -n "$line" ] || fail "no switch: $(tail -3 "$WORK/rebuild.log")"
log "$(grep "done:" "$WORK/rebuild.log" | tail -1)"
log "view of $keys keys: $line"
stop_worker 1 TERM
