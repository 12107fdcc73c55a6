#!/usr/bin/env bash
# bench_dedup.sh - what the duplicate rule (docs/duplicates.md) costs Redis.
# First the apply script alone (bench_apply_dedup: Redis CPU per event, rule
# on vs off).  Then the same generated cart history (every event carries its aggregate
# version) rebuilt into a private redis-server with the rule on and off,
# alternating, ROUNDS times each.  Per rebuild: the Redis CPU it took,
# from an empty database, per event; then the memory of the
# version keys (MEMORY USAGE, averaged over a sample, and used_memory with
# and without them).  Redis CPU is the server's own (INFO cpu), so use a
# private, otherwise idle server (this script starts one).  Prints one line per rebuild and a summary; checks the
# views equal the reference fold each time.
# Label "bench": ctest -L bench, or SF_BENCH=1 tests/run.sh.
# SF_BENCH_EVENTS (default 50000), SF_BENCH_ROUNDS (default 2).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../integration/projector/e2e_lib.sh"
need_bins
ROUNDS=${SF_BENCH_ROUNDS:-2}
new_run dedupbench "${SF_BENCH_EVENTS:-50000}" 7
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

# the apply script alone, no Kafka: 500-event batches over 100 and over
# 1000 aggregates (bench_apply_dedup.c)
BENCH_DIR=$SF_BUILD_DIR/tests/bench/projector
for aggs in 100 1000; do
  out=$("$BENCH_DIR/bench_apply_dedup" --redis "127.0.0.1:$REDIS_PORT" \
          --rounds 5 --batches 40 --aggregates "$aggs") || fail "bench_apply_dedup failed"
  log "apply script alone: $(tail -n 1 <<<"$out")"
done
log "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

create_topic 12
publish 0 "$EVENTS"
write_config "$WORK/on.yaml" "$(free_port)"
sed 's|^\(    rules: .*cart-contents.*\)$|\1\n    dedup: off|' "$WORK/on.yaml" >"$WORK/off.yaml"
grep -q "dedup: off" "$WORK/off.yaml" || fail "could not write the dedup: off config"

# the server's CPU time (INFO cpu, getrusage), in us: commandstats' usec
# is elapsed time, which on a loaded box counts waiting for a core
redis_cpu_usec() {
  R info cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%d", s * 1e6 }'
}

declare -A SUM=([on]=0 [off]=0)
for round in $(seq 1 "$ROUNDS"); do
  for mode in on off; do
    R flushdb >/dev/null
    c0=$(redis_cpu_usec)
    "$PROJ_BIN" rebuild -c "$WORK/$mode.yaml" "$P_CART" >"$WORK/rebuild-$mode.log" 2>&1 \
      || { tail -5 "$WORK/rebuild-$mode.log" >&2; fail "rebuild ($mode) failed"; }
    usec=$(( $(redis_cpu_usec) - c0 ))
    "$E2E_BIN" verify --seed "$SEED" --events "$EVENTS" --prefix "$PREFIX" \
      --redis "127.0.0.1:$REDIS_PORT" --only cart >"$WORK/verify.log" 2>&1 \
      || fail "view differs from the reference fold (dedup $mode): $(tail -3 "$WORK/verify.log"); rebuild: $(tr '\r' '\n' <"$WORK/rebuild-$mode.log" | grep -v '^$' | tail -4)"
    per=$(awk -v u="$usec" -v n="$EVENTS" 'BEGIN { printf "%.3f", u / n }')
    SUM[$mode]=$(awk -v a="${SUM[$mode]}" -v b="$usec" 'BEGIN { print a + b }')
    log "round $round dedup $mode: rebuild took $usec us of Redis CPU for $EVENTS events = $per us/event"
  done
done
on=$(awk -v u="${SUM[on]}" -v n="$EVENTS" -v r="$ROUNDS" 'BEGIN { printf "%.3f", u / n / r }')
off=$(awk -v u="${SUM[off]}" -v n="$EVENTS" -v r="$ROUNDS" 'BEGIN { printf "%.3f", u / n / r }')
log "Redis CPU per event (whole rebuild, mean of $ROUNDS): dedup on $on us, off $off us, rule $(awk -v a="$on" -v b="$off" 'BEGIN { printf "%+.3f", a - b }') us"

# memory: the last rebuild ran with the rule off; rebuild with it on
R flushdb >/dev/null
"$PROJ_BIN" rebuild -c "$WORK/on.yaml" "$P_CART" >"$WORK/rebuild-on.log" 2>&1 \
  || fail "rebuild (on) failed"
nver=$(R --scan --pattern "sf:$P_CART:ver:*" | wc -l)
carts=$(R --scan --pattern "cart:$PREFIX-*" | grep -vc ':items$' || true)
[ "$nver" -gt 0 ] && [ "$nver" = "$carts" ] || fail "$nver version keys for $carts carts"
R --scan --pattern "sf:$P_CART:ver:*" >"$WORK/verkeys.txt"
sample=$(sed -n '1,200p' "$WORK/verkeys.txt")
total=0 n=0
while read -r k; do
  total=$(( total + $(R memory usage "$k" samples 0) )); n=$(( n + 1 ))
done <<<"$sample"
first=$(sed -n 1p "$WORK/verkeys.txt")
klen=${#first}
firstval=$(R get "$first")
used_with=$(R info memory | tr -d '\r' | sed -n 's/^used_memory:\([0-9]*\)/\1/p')
xargs -r -n 500 redis-cli -p "$REDIS_PORT" unlink <"$WORK/verkeys.txt" >/dev/null
used_without=$(R info memory | tr -d '\r' | sed -n 's/^used_memory:\([0-9]*\)/\1/p')
log "version keys: $nver (one per cart), e.g. $first ($klen bytes) = $firstval"
log "MEMORY USAGE per version key: $(( total / n )) bytes (mean of $n); used_memory $used_with with, $used_without without: $(( (used_with - used_without) / nver )) bytes per aggregate"
log "PASS"
