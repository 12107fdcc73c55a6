#!/usr/bin/env bash
# bench_rebuild.sh - rebuild-from-zero throughput of `sf-projector rebuild`
# over a 100k+ event cart topic (12 partitions), beside two baselines run
# once each on the same data:
#   (a) bench_consume: a bare librdkafka consumer reading the topic from
#       offset zero and discarding every record;
#   (b) bench_redis: the commands the cart-contents projection issues for
#       those events, applied to Redis pipelined.
# Prints each rate, the projector's ratio to the slower baseline (goal
# >= 0.8) and the projector's peak RSS (GNU time).  Uses a private
# redis-server (AOF everysec, like deploy/stack.sh) on a free port so the
# rebuild's clearing of the view never touches the shared Redis.
# Label "bench": run with SF_BENCH=1 tests/run.sh or ctest -L bench.
# SF_BENCH_EVENTS (default 200000: at 100k the baselines are still
# dominated by start-up - group join, connection - and flatter the ratio).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../integration/projector/e2e_lib.sh"
need_bins
BENCH_DIR=$SF_BUILD_DIR/tests/bench/projector
new_run bench "${SF_BENCH_EVENTS:-200000}" 99
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" \
  --save '' --appendonly yes --appendfsync everysec --daemonize no \
  --logfile "$WORK/redis.log" &
REDIS_PID=$!
E2E_ON_EXIT='kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null'
for _ in $(seq 1 50); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1
done
SF_REDIS_PORT=$REDIS_PORT
export SF_REDIS_PORT

create_topic 12
publish 0 "$EVENTS"

# (a) bare consumer
out_a=$("$BENCH_DIR/bench_consume" -b "$SF_BROKERS" -t "$TOPIC")
log "$out_a"
rate_a=$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$out_a")

# (b) the same commands, pipelined, into the private Redis
out_b=$("$BENCH_DIR/bench_redis" --seed "$SEED" --events "$EVENTS" \
          --prefix "$PREFIX" --redis "127.0.0.1:$REDIS_PORT")
log "$out_b"
rate_b=$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$out_b")
redis-cli -p "$REDIS_PORT" flushdb >/dev/null   # private server: ours

# the projector: rebuild from zero (clears view + checkpoints, replays)
WPORT[1]=$(free_port)
write_config "$WORK/w1.yaml" "${WPORT[1]}"
t0=$(date +%s.%N)
/usr/bin/time -v -o "$WORK/time.txt" \
  "$PROJ_BIN" rebuild --in-place -c "$WORK/w1.yaml" "$P_CART" >"$WORK/rebuild.log" 2>&1 \
  || { tail -20 "$WORK/rebuild.log" >&2; fail "sf-projector rebuild failed"; }
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
rss_kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt")
rate_p=$(awk -v n="$EVENTS" -v s="$secs" 'BEGIN { printf "%d", n / s }')
log "rebuild: $EVENTS events in $(printf '%.2f' "$secs") s; last progress: $(tr '\r' '\n' <"$WORK/rebuild.log" | grep -v '^$' | tail -1)"
# correctness of what was measured
"$E2E_BIN" verify --seed "$SEED" --events "$EVENTS" --prefix "$PREFIX" \
  --redis "127.0.0.1:$REDIS_PORT" --only cart --wait 5 \
  || fail "rebuilt view differs from the reference fold"

slower=$(( rate_a < rate_b ? rate_a : rate_b ))
ratio=$(awk -v p="$rate_p" -v s="$slower" 'BEGIN { printf "%.2f", p / s }')
printf 'bench projector rebuild: events=%d\n' "$EVENTS"
printf '  (a) bare librdkafka consumer : %8d events/s\n' "$rate_a"
printf '  (b) redis pipelined commands : %8d events/s\n' "$rate_b"
printf '  sf-projector rebuild         : %8d events/s  (%.2fx the slower baseline, goal >= 0.8)\n' "$rate_p" "$ratio"
printf '  sf-projector peak RSS        : %8d KiB\n' "$rss_kb"
if [ "${SF_BENCH_ENFORCE:-0}" = 1 ] && [ "$(awk -v r="$ratio" 'BEGIN { print (r < 0.8) }')" = 1 ]; then
  fail "rebuild at $(printf '%.2f' "$ratio")x the slower baseline, goal 0.8x"
fi
log "PASS (measured; SF_BENCH_ENFORCE=1 turns the 0.8x goal into a failure)"
