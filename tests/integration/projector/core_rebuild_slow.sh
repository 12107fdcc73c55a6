#!/usr/bin/env bash
# core_rebuild_slow.sh - a rebuild whose Redis keeps stalling still replays
# every record to the end of every partition.
#
# The replay takes records from librdkafka a thousand at a time and, once a
# second, asks librdkafka for each partition's position to notice ends that
# transaction markers hide.  A position counts records handed over, not
# records applied: while Redis stalls a flush, the records waiting in the
# replay's own buffer are already past the position check, and a partition
# must not be declared done before they are applied.  Redis is made to
# stall with CLIENT PAUSE (its own server, never the shared one) while the
# rebuild runs with small batches; the view must equal the reference fold
# and the rebuild must report every event.
set -euo pipefail
. "$(dirname "$0")/e2e_lib.sh"
need_bins
new_run rebuild_slow "${SF_REBUILD_SLOW_EVENTS:-30000}" 31

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" --save '' \
  --appendonly no --daemonize no --logfile "$WORK/redis.log" &
REDIS_PID=$!
PAUSER_PID=""
E2E_ON_EXIT='[ -n "$PAUSER_PID" ] && kill "$PAUSER_PID" 2>/dev/null; kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null'
for _ in $(seq 1 50); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1
done
SF_REDIS_PORT=$REDIS_PORT
export SF_REDIS_PORT

create_topic 12
publish 0 "$EVENTS" >/dev/null
WPORT[1]=$(free_port)
write_config "$WORK/w.yaml" "${WPORT[1]}"

# stall Redis for 1.1 s out of every 1.2 s while the rebuild runs
( while :; do redis-cli -p "$REDIS_PORT" client pause 1100 >/dev/null 2>&1; sleep 1.2; done ) &
PAUSER_PID=$!
"$PROJ_BIN" rebuild -c "$WORK/w.yaml" "$P_CART" --batch "${SF_REBUILD_SLOW_BATCH:-100}" >"$WORK/rebuild.log" 2>&1 \
  || fail "rebuild failed: $(tail -3 "$WORK/rebuild.log")"
kill "$PAUSER_PID" 2>/dev/null; wait "$PAUSER_PID" 2>/dev/null || true; PAUSER_PID=""
log "$(grep 'done:' "$WORK/rebuild.log")"
grep -q "done: $EVENTS events ($EVENTS applied, 0 poison)" "$WORK/rebuild.log" \
  || fail "rebuild did not replay every event: $(grep 'done:' "$WORK/rebuild.log")"
"$E2E_BIN" verify --seed "$SEED" --events "$EVENTS" --prefix "$PREFIX" \
  --redis "127.0.0.1:$REDIS_PORT" --only cart --wait 5 \
  || fail "rebuilt view differs from the reference fold"
log PASS
