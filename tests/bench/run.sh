#!/usr/bin/env bash
# run.sh - the projector benchmark, every contender side by side in one run.
#
#   tests/bench/run.sh [--events N] [--rounds R] [--mem-sizes "A B"]
#                      [--rate EV_PER_S] [--latency-seconds S]
#                      [--latency-rounds R] [--baseline SF_PROJECTOR]
#                      [--out DIR] [--update-readme]
#
# On one cart topic of N events (12 partitions, the end-to-end tests'
# generator), R rounds, the contenders in a rotating order each round:
#   rebuild   sf-projector rebuild of the cart-contents projection
#   catchup   sf-projector run catching up the topic as a backlog
#   consume   a bare librdkafka consumer (fetch.wait.max.ms=10), discarding
#   kcat      kcat -C -e with fetch.wait.max.ms=10, discarding
#   redis     the same Redis commands applied pipelined (no Kafka at all)
#   python    tests/bench/py_projector.py (confluent-kafka + fastavro +
#             redis-py, MULTI/EXEC per batch with its checkpoint)
# --baseline adds rebuild and catch-up of another sf-projector binary
# (e.g. the main branch's) as contenders "rebuild@base" and "catchup@base",
# in the same rounds and in the memory curve: before/after in one run.
# Rates are events/s over each process's whole life; the table gives the
# median per contender.  The rebuilt and the Python-built views are checked
# against the reference fold in the first round.
# Memory: RSS against events applied (tests/bench/rss_probe.py) for rebuild
# and for a run catching up a backlog, at each --mem-sizes size.
# Live path: bench_latency (tests/bench/projector/bench_latency.c, C, so
# that the harness leaves the cores to the contenders) publishes --rate
# events/s for
# --latency-seconds to a live sf-projector run (the default batch settings)
# and to the live Python projector, and measures publish -> visible on one
# clock (Redis keyspace notifications), with CPU per event of the projector
# and of Redis.
# Output in --out (default build/bench-<date>): results.md, *.png, raw
# files.  --update-readme replaces the README's generated Benchmarks block.
#
# Uses its own redis-server on a free port (keyspace notifications on), so
# the shared Redis is never flushed or reconfigured; the topics and groups
# it made are deleted at exit.  The run time depends on the box's load far
# more than on the sizes (60k events took 26 minutes at load ~45 on 2
# cores); SF_BROKERS etc. as for the end-to-end tests.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../integration/projector/e2e_lib.sh"

N=500000 ROUNDS=5 MEM_SIZES="500000 2000000" RATE=5000 LAT_S=10 LAT_ROUNDS=2
OUT="" UPDATE_README=0 BASE_BIN=""
while [ $# -gt 0 ]; do
  case $1 in
    --events) N=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --mem-sizes) MEM_SIZES=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --latency-seconds) LAT_S=$2; shift 2 ;;
    --latency-rounds) LAT_ROUNDS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --baseline) BASE_BIN=$(readlink -f "$2"); shift 2 ;;
    --update-readme) UPDATE_README=1; shift ;;
    -h|--help) sed -n '2,37p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$ROUNDS" -ge 1 ] || { echo "run.sh: --rounds must be >= 1" >&2; exit 2; }
python3 -c 'import confluent_kafka, fastavro, redis, matplotlib' 2>/dev/null \
  || { echo "run.sh: needs the Python bench packages: SF_BENCH=1 deploy/install-deps.sh" >&2; exit 77; }
command -v kcat >/dev/null || { echo "run.sh: kcat missing (deploy/install-deps.sh)" >&2; exit 77; }

need_bins
BENCH_BIN=$SF_BUILD_DIR/tests/bench/projector
for b in bench_consume bench_latency; do
  [ -x "$BENCH_BIN/$b" ] || fail "$BENCH_BIN/$b not built"
done
OUT=${OUT:-$SF_BUILD_DIR/bench-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
new_run bench "$N" 7

# ---- private Redis -------------------------------------------------------
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" \
  --save '' --appendonly yes --appendfsync everysec --daemonize no \
  --notify-keyspace-events Kh --logfile "$WORK/redis.log" &
REDIS_PID=$!
EXTRA_TOPICS=()
EXTRA_GROUPS=()
bench_cleanup() {
  for pid in "${!RUNNING[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  kill "$REDIS_PID" 2>/dev/null; wait "$REDIS_PID" 2>/dev/null
  local args=()
  for t in "${EXTRA_TOPICS[@]}"; do args+=(-t "$t"); done
  for g in "${EXTRA_GROUPS[@]}"; do args+=(--group "$g"); done
  [ ${#args[@]} -gt 0 ] && "$E2E_BIN" drop "${args[@]}" >/dev/null 2>&1
  true
}
E2E_ON_EXIT=bench_cleanup
for _ in $(seq 1 50); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1
done
R="127.0.0.1:$REDIS_PORT"
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
SF_REDIS_PORT=$REDIS_PORT   # write_config and verify use the private one
export SF_REDIS_PORT

# config with the cart-contents projection only: NAME TOPIC FILE
bench_config() {
  cat >"$3" <<EOF
kafka:
  bootstrap.servers: "$SF_BROKERS"
redis: {host: "127.0.0.1", port: $REDIS_PORT}
schemas: "$SCHEMAS"
metrics: {listen: "127.0.0.1:$(free_port)"}
projections:
  - name: "$1"
    topics: ["$2"]
    rules: "$EXAMPLES/cart-contents.rules.yaml"
EOF
  EXTRA_GROUPS+=("sf-$1")
}

now() { date +%s.%N; }
rate_of() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%d", n / (b - a) }'; }

create_topic 12
t0=$(now)
publish 0 "$N"
log "published $N events in $(awk -v a="$t0" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}') s"
bench_config "$P_CART" "$TOPIC" "$WORK/cart.yaml"
PY_NAME="py-$RUN"

: >"$OUT/rounds.tsv"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$OUT/rounds.tsv"; log "round $1 $2: $3 events/s ${4:-}"; }

c_rebuild() { # ROUND [BIN NAME]
  local bin=${2:-$PROJ_BIN} name=${3:-rebuild}
  rcli flushdb >/dev/null
  local a b; a=$(now)
  "$bin" rebuild -c "$WORK/cart.yaml" "$P_CART" >"$WORK/rebuild.log" 2>&1 \
    || { tail -5 "$WORK/rebuild.log" >&2; fail "sf-projector rebuild failed"; }
  b=$(now)
  # every round: a rebuild that drops records is not a fast rebuild.  The
  # --baseline binary's failure is recorded, not fatal (it is measured, not
  # tested, here).
  local note=""
  if ! "$E2E_BIN" verify --seed "$SEED" --events "$N" --prefix "$PREFIX" \
      --redis "$R" --only cart --wait 5 >"$WORK/verify.log" 2>&1; then
    [ "$name" = rebuild ] && { tail -3 "$WORK/verify.log" >&2; fail "rebuilt view differs from the reference fold"; }
    note="verify=1"
  fi
  record "$1" "$name" "$(rate_of "$N" "$a" "$b")" "$note"
}
c_rebuild@base() { c_rebuild "$1" "$BASE_BIN" rebuild@base; }
c_catchup() { # ROUND [BIN NAME]
  local bin=${2:-$PROJ_BIN} name=${3:-catchup}
  rcli flushdb >/dev/null
  local out
  out=$(python3 "$HERE/rss_probe.py" --redis "$R" --every 0.1 \
          --ckpt-pattern "sf:$P_CART:ckpt:*" --target "$N" \
          --out "$OUT/rss-catchup-$N-r$1.txt" --log "$WORK/catchup.log" \
          -- "$bin" run -c "$WORK/cart.yaml") \
    || { tail -5 "$WORK/catchup.log" >&2; fail "sf-projector run catch-up: $out"; }
  record "$1" "$name" "$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$out")" \
    "peak_rss_kb=$(sed -n 's/.*peak_rss_kb=\([0-9]*\).*/\1/p' <<<"$out")"
}
c_catchup@base() { c_catchup "$1" "$BASE_BIN" catchup@base; }
c_consume() {
  local out
  out=$("$BENCH_BIN/bench_consume" -b "$SF_BROKERS" -t "$TOPIC" -X fetch.wait.max.ms=10)
  record "$1" consume "$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$out")"
}
c_kcat() {
  local a b n
  a=$(now)
  n=$(kcat -C -b "$SF_BROKERS" -t "$TOPIC" -o beginning -e -q \
        -X fetch.wait.max.ms=10 -X isolation.level=read_committed -f '\n' | wc -l)
  b=$(now)
  [ "$n" -eq "$N" ] || fail "kcat read $n records, expected $N"
  record "$1" kcat "$(rate_of "$N" "$a" "$b")"
}
c_redis() {
  rcli flushdb >/dev/null
  local out
  out=$("$BENCH_BIN/bench_redis" --seed "$SEED" --events "$N" --prefix "$PREFIX" --redis "$R")
  record "$1" redis "$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$out")"
}
c_python() {
  rcli flushdb >/dev/null
  local out
  out=$(python3 "$HERE/py_projector.py" --brokers "$SF_BROKERS" --topic "$TOPIC" \
          --schemas "$SCHEMAS" --redis "$R" --name "$PY_NAME-$1" --until-end)
  if [ "$1" = 1 ]; then
    "$E2E_BIN" verify --seed "$SEED" --events "$N" --prefix "$PREFIX" \
      --redis "$R" --only cart --wait 5 >/dev/null \
      || fail "the Python projector's view differs from the reference fold"
  fi
  record "$1" python "$(sed -n 's/.* rate=\([0-9]*\).*/\1/p' <<<"$out")"
}

CONTENDERS=(rebuild catchup consume kcat redis python)
[ -n "$BASE_BIN" ] && CONTENDERS+=(rebuild@base catchup@base)
nc=${#CONTENDERS[@]}
for r in $(seq 1 "$ROUNDS"); do
  for i in $(seq 0 $((nc - 1))); do
    "c_${CONTENDERS[$(( (i + r - 1) % nc ))]}" "$r"
  done
done

# ---- memory curve: rebuild and catch-up at each size ----------------------
: >"$OUT/memory.tsv"
for size in $MEM_SIZES; do
  topic=$TOPIC
  if [ "$size" != "$N" ]; then
    topic="$TOPIC-m$size"
    EXTRA_TOPICS+=("$topic")
    "$E2E_BIN" publish --seed "$SEED" --events "$size" --prefix "$PREFIX" \
      -t "$topic" --schemas "$SCHEMAS" --from 0 --to 0 --create 12
    "$E2E_BIN" publish --seed "$SEED" --events "$size" --prefix "$PREFIX" \
      -t "$topic" --schemas "$SCHEMAS"
  fi
  for who in sf ${BASE_BIN:+base}; do
    bin=$PROJ_BIN sfx=""
    [ "$who" = base ] && bin=$BASE_BIN sfx="@base"
    pn="m$size$who-$RUN"
    bench_config "$pn" "$topic" "$WORK/$pn.yaml"
    rcli flushdb >/dev/null
    out=$(python3 "$HERE/rss_probe.py" --redis "$R" --every 0.2 \
            --ckpt-pattern "sf:$pn:ckpt:*" --out "$OUT/rss-rebuild$sfx-$size.txt" \
            --log "$WORK/mrebuild.log" \
            -- "$bin" rebuild -c "$WORK/$pn.yaml" "$pn") \
      || { tail -5 "$WORK/mrebuild.log" >&2; fail "rebuild of $size events: $out"; }
    printf 'rebuild%s\t%s\t%s\n' "$sfx" "$size" "$out" >>"$OUT/memory.tsv"; log "memory rebuild$sfx $size: $out"
    rcli flushdb >/dev/null
    out=$(python3 "$HERE/rss_probe.py" --redis "$R" --every 0.2 \
            --ckpt-pattern "sf:$pn:ckpt:*" --target "$size" \
            --out "$OUT/rss-catchup$sfx-$size.txt" --log "$WORK/mcatchup.log" \
            -- "$bin" run -c "$WORK/$pn.yaml") \
      || { tail -5 "$WORK/mcatchup.log" >&2; fail "catch-up of $size events: $out"; }
    printf 'catchup%s\t%s\t%s\n' "$sfx" "$size" "$out" >>"$OUT/memory.tsv"; log "memory catchup$sfx $size: $out"
  done
done

# ---- live path: publish -> visible at RATE -------------------------------
: >"$OUT/latency.tsv"
clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
redis_cpu() { rcli info cpu | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.6f", s }'; }
live_round() { # WHO ROUND
  local who=$1 r=$2 lt="$TOPIC-lat-$1-$2" pid
  EXTRA_TOPICS+=("$lt")
  "$E2E_BIN" publish --seed 1 --events 1 --prefix x -t "$lt" --schemas "$SCHEMAS" \
    --from 0 --to 0 --create 12 >/dev/null
  if [ "$who" = sf ]; then
    bench_config "lat-$r-$RUN" "$lt" "$WORK/lat.yaml"
    "$PROJ_BIN" run -c "$WORK/lat.yaml" >"$WORK/lat-$who-$r.log" 2>&1 &
  else
    EXTRA_GROUPS+=("pyproj-lat-$r-$RUN")
    python3 "$HERE/py_projector.py" --brokers "$SF_BROKERS" --topic "$lt" \
      --schemas "$SCHEMAS" --redis "$R" --name "lat-$r-$RUN" \
      >"$WORK/lat-$who-$r.log" 2>&1 &
  fi
  pid=$!
  RUNNING[$pid]=1
  # warm-up (group join, connections), not measured
  "$BENCH_BIN/bench_latency" --brokers "$SF_BROKERS" --topic "$lt" --schemas "$SCHEMAS" \
    --redis "$R" --prefix "w$r$who$$" --rate 200 --seconds 2 >/dev/null \
    || { tail -5 "$WORK/lat-$who-$r.log" >&2; fail "$who did not apply the warm-up events"; }
  local c0 rc0 out c1 rc1 n
  c0=$(cpu_ticks "$pid"); rc0=$(redis_cpu)
  out=$("$BENCH_BIN/bench_latency" --brokers "$SF_BROKERS" --topic "$lt" --schemas "$SCHEMAS" \
          --redis "$R" --prefix "l$r$who$$" --rate "$RATE" --seconds "$LAT_S" \
          --samples "$OUT/latency-$who-$r.txt") || fail "$who: $out"
  c1=$(cpu_ticks "$pid"); rc1=$(redis_cpu)
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; unset "RUNNING[$pid]"
  n=$(sed -n 's/.* events=\([0-9]*\).*/\1/p' <<<"$out")
  printf '%s\t%s\t%s cpu_us_per_event=%.1f redis_cpu_us_per_event=%.2f\n' "$who" "$r" "$out" \
    "$(awk -v a="$c0" -v b="$c1" -v n="$n" -v k="$clk" 'BEGIN { print (b - a) / k / n * 1e6 }')" \
    "$(awk -v a="$rc0" -v b="$rc1" -v n="$n" 'BEGIN { print (b - a) / n * 1e6 }')" >>"$OUT/latency.tsv"
  log "latency $who round $r: $(tail -1 "$OUT/latency.tsv")"
}
for r in $(seq 1 "$LAT_ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then live_round sf "$r"; live_round python "$r"
  else live_round python "$r"; live_round sf "$r"; fi
done

# ---- report --------------------------------------------------------------
machine="$(nproc) cores, $(awk -F: '/model name/ { sub(/^ */, "", $2); print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
args=(--dir "$OUT" --events "$N" --rounds "$ROUNDS" --rate "$RATE"
      --machine "$machine" --commit "$(git -C "$SF_SOURCE_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)")
[ "$UPDATE_README" = 1 ] && args+=(--readme "$SF_SOURCE_DIR/README.md")
python3 "$HERE/report.py" "${args[@]}"
log "results: $OUT/results.md"
cat "$OUT/results.md"
