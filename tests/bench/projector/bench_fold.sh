#!/usr/bin/env bash
# bench_fold.sh - what folding (docs/fold.md) saves Redis in a rebuild.
# One generated cart history rebuilt into a private redis-server, folded
# and with --no-fold, alternating, ROUNDS times each, for the two example
# projections (cart-contents: HSET and HINCRBY per cart; product-
# availability: HINCRBY per product).  Per rebuild: the Redis CPU it took
# from an empty database, per event (INFO cpu: the server's own CPU time,
# so use a private, otherwise idle server: this script starts one), the
# Redis commands sent per event (the rebuild's own "fold:" log line) and
# the projector's own CPU time per event (user + sys, /usr/bin/time: on a
# loaded box far steadier than the wall time, which is also given).  Every
# rebuilt view is compared with the reference fold.  SF_BENCH_BASELINE=BIN
# adds another sf-projector (e.g. the main branch's build) as mode "base".
# Label "bench": ctest -L bench.  SF_BENCH_EVENTS (default 50000),
# SF_BENCH_ROUNDS (default 2).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../integration/projector/e2e_lib.sh"
need_bins
ROUNDS=${SF_BENCH_ROUNDS:-2}
new_run foldbench "${SF_BENCH_EVENTS:-50000}" 7
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
R() { redis-cli -p "$REDIS_PORT" "$@"; }
redis_cpu_usec() {
  R info cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%d", s * 1e6 }'
}

create_topic 12
publish 0 "$EVENTS"
write_config "$WORK/c.yaml" "$(free_port)"
now() { date +%s.%N; }

MODES=(fold nofold)
[ -n "${SF_BENCH_BASELINE:-}" ] && MODES+=(base)
declare -A CPU=() WALL=() PCPU=()
for round in $(seq 1 "$ROUNDS"); do
  for proj in cart avail; do
    pn=$P_CART; [ $proj = avail ] && pn=$P_AVAIL
    for mode in "${MODES[@]}"; do
      bin=$PROJ_BIN extra=()
      [ $mode = nofold ] && extra=(--no-fold)
      [ $mode = base ] && bin=$SF_BENCH_BASELINE
      R flushdb >/dev/null
      c0=$(redis_cpu_usec); t0=$(now)
      /usr/bin/time -f '%U %S' -o "$WORK/time.txt" \
        "$bin" rebuild -c "$WORK/c.yaml" "$pn" --in-place "${extra[@]}" \
        >"$WORK/rebuild.log" 2>&1 \
        || { tail -5 "$WORK/rebuild.log" >&2; fail "rebuild ($proj, $mode) failed"; }
      t1=$(now); usec=$(( $(redis_cpu_usec) - c0 ))
      pusec=$(awk '{ printf "%d", ($1 + $2) * 1e6 }' "$WORK/time.txt")
      "$E2E_BIN" verify --seed "$SEED" --events "$EVENTS" --prefix "$PREFIX" \
        --redis "127.0.0.1:$REDIS_PORT" --only "$proj" >"$WORK/verify.log" 2>&1 \
        || fail "view differs from the reference fold ($proj, $mode): $(tail -3 "$WORK/verify.log")"
      line=$(grep -o 'fold: [^"]*' "$WORK/rebuild.log" || true)
      if [ $mode = fold ]; then
        [ -n "$line" ] || fail "the folded rebuild logged no fold line"
        sent=$(sed -n 's/.* sent as \([0-9]*\) redis commands.*/\1/p' <<<"$line")
        cmds=$(sed -n 's/.* with \([0-9]*\) commands sent.*/\1/p' <<<"$line")
        log "round $round $proj: $(awk -v c="$cmds" -v s="$sent" -v n="$EVENTS" 'BEGIN { printf "%.3f commands per event built, %.3f sent", c / n, s / n }')"
      elif [ $mode = nofold ]; then
        [ -z "$line" ] || fail "--no-fold folded: $line"
      fi
      PCPU[$proj.$mode]=$(awk -v a="${PCPU[$proj.$mode]:-0}" -v b="$pusec" 'BEGIN { print a + b }')
      CPU[$proj.$mode]=$(awk -v a="${CPU[$proj.$mode]:-0}" -v b="$usec" 'BEGIN { print a + b }')
      WALL[$proj.$mode]=$(awk -v a="${WALL[$proj.$mode]:-0}" -v b="$t0" -v c="$t1" 'BEGIN { print a + c - b }')
      log "round $round $proj $mode: $(awk -v u="$usec" -v p="$pusec" -v n="$EVENTS" -v a="$t0" -v b="$t1" 'BEGIN { printf "Redis CPU %.3f us/event, projector CPU %.3f us/event, %.2f s", u / n, p / n, b - a }')"
    done
  done
done
for proj in cart avail; do
  for mode in "${MODES[@]}"; do
    log "$proj $mode (mean of $ROUNDS): $(awk -v u="${CPU[$proj.$mode]}" -v p="${PCPU[$proj.$mode]}" -v w="${WALL[$proj.$mode]}" -v n="$EVENTS" -v r="$ROUNDS" 'BEGIN { printf "Redis CPU %.3f us/event, projector CPU %.3f us/event, wall %.2f s", u / n / r, p / n / r, w / r }')"
  done
  log "$proj (mean of $ROUNDS): $(awk -v f="${CPU[$proj.fold]}" -v u="${CPU[$proj.nofold]}" -v wf="${WALL[$proj.fold]}" -v wu="${WALL[$proj.nofold]}" -v n="$EVENTS" -v r="$ROUNDS" 'BEGIN { printf "Redis CPU per event folded %.3f us, unfolded %.3f us (x%.2f); wall %.2f s vs %.2f s", f / n / r, u / n / r, f / u, wf / r, wu / r }')"
done
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
log "PASS"
