# e2e_lib.sh - shared shell helpers of the projector's end-to-end tests.
# Sourced by the e2e_*.sh drivers; not a test itself.
#
# Every run gets its own topic (t-projector-<name>-<random>), projection
# names, consumer groups and id prefix, so runs never meet each other on the
# shared stack; a trap stops the workers this run started (by pid), deletes
# the run's Redis keys, topics and groups.
#
# Environment (from ctest / tests/run.sh): SF_BUILD_DIR, SF_SOURCE_DIR,
# SF_BROKERS, SF_REDIS_HOST, SF_REDIS_PORT.  SF_LONG=1: full-size runs.
# SF_E2E_KEEP=1 keeps the work folder (configs, worker logs) for debugging.

set -euo pipefail

: "${SF_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
: "${SF_BUILD_DIR:=$SF_SOURCE_DIR/build}"
: "${SF_BROKERS:=127.0.0.1:9092}"
: "${SF_REDIS_HOST:=127.0.0.1}"
: "${SF_REDIS_PORT:=6379}"
export SF_BROKERS SF_REDIS_HOST SF_REDIS_PORT

E2E_BIN=$SF_BUILD_DIR/tests/integration/projector/sf_e2e
PROJ_BIN=${SF_PROJECTOR_BIN:-$SF_BUILD_DIR/projector/sf-projector}
EXAMPLES=$SF_SOURCE_DIR/projector/examples
SCHEMAS=$SF_SOURCE_DIR/schemas/domains
SKIP=77

T0=$(date +%s)
log() { printf '[%s +%3ss] %s\n' "${TEST_NAME:-e2e}" "$(( $(date +%s) - T0 ))" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

need_bins() {
  [ -x "$E2E_BIN" ] || { log "SKIP: $E2E_BIN not built (needs libsfproducer)"; exit $SKIP; }
  [ -x "$PROJ_BIN" ] || { log "SKIP: $PROJ_BIN not built yet (projector-core)"; exit $SKIP; }
  for f in cart-contents product-availability; do
    [ -f "$EXAMPLES/$f.rules.yaml" ] || { log "SKIP: $EXAMPLES/$f.rules.yaml missing"; exit $SKIP; }
  done
  redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" ping >/dev/null 2>&1 \
    || fail "Redis not reachable at $SF_REDIS_HOST:$SF_REDIS_PORT (deploy/stack.sh up)"
}

# new_run NAME EVENTS SEED: sets RUN TOPIC PREFIX WORK EVENTS SEED PROJS
new_run() {
  TEST_NAME=$1
  EVENTS=$2
  SEED=$3
  RUN="$1-$$-$RANDOM"
  TOPIC="t-projector-$RUN"
  PREFIX="e2e${RANDOM}x$$"
  WORK=$(mktemp -d "/tmp/sf-e2e-$1.XXXXXX")
  P_CART="cc-$RUN"
  P_AVAIL="pa-$RUN"
  PROJS=("$P_CART" "$P_AVAIL")
  trap e2e_cleanup EXIT
  log "run $RUN: topic $TOPIC, prefix $PREFIX, $EVENTS events, seed $SEED, work $WORK"
}

e2e_cleanup() {
  local rc=$?
  set +e
  # only workers this shell started and has not reaped yet (a reaped pid
  # may already belong to someone else)
  for pid in "${!RUNNING[@]}"; do
    kill -CONT "$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ $rc -ne 0 ] && [ -d "$WORK" ]; then
    for f in "$WORK"/worker*.log; do
      [ -f "$f" ] || continue
      log "--- $f: $(grep -c . "$f") lines; last ones without per-partition assignment noise:"
      grep -v 'msg="assigned, resuming' "$f" | tail -n 20 >&2
    done
    for p in "$P_CART" "$P_AVAIL"; do
      log "--- checkpoints of $p (partition=offset):"
      for k in $(redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" --scan --pattern "sf:$p:ckpt:*" | sort); do
        printf '%s=%s ' "${k##*:}" "$(redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" GET "$k")"
      done >&2
      echo >&2
    done
    log "--- end offsets: $(kcat -Q -b "$SF_BROKERS" $(for i in $(seq 0 11); do printf -- '-t %s:%d:-1 ' "$TOPIC" "$i"; done) 2>/dev/null | awk '{ printf "%s=%s ", $2, $4 }')"
  fi
  "$E2E_BIN" cleanup --prefix "$PREFIX" --events 1 \
      --redis "$SF_REDIS_HOST:$SF_REDIS_PORT" \
      --pattern "sf:$P_CART:*" --pattern "sf:$P_AVAIL:*" >/dev/null 2>&1
  "$E2E_BIN" drop -t "$TOPIC" -t "$TOPIC.dlq" \
      --group "sf-$P_CART" --group "sf-$P_AVAIL" >/dev/null 2>&1
  if [ -n "${E2E_ON_EXIT:-}" ]; then eval "$E2E_ON_EXIT"; fi
  if [ "${SF_E2E_KEEP:-0}" = 1 ]; then
    log "work folder kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}

# free_port: a TCP port in 19000-29999 nobody listens on.
free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(( 19000 + RANDOM % 11000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"; return 0
    fi
  done
  fail "no free port found"
}

# write_config FILE METRICS_PORT [extra kafka props as "k: v" lines...]
write_config() {
  local file=$1 port=$2
  shift 2
  {
    echo "kafka:"
    echo "  bootstrap.servers: \"$SF_BROKERS\""
    for kv in "$@"; do echo "  $kv"; done
    echo "redis: {host: \"$SF_REDIS_HOST\", port: $SF_REDIS_PORT}"
    echo "schemas: \"$SCHEMAS\""
    echo "metrics: {listen: \"127.0.0.1:$port\"}"
    echo "projections:"
    echo "  - name: \"$P_CART\""
    echo "    topics: [\"$TOPIC\"]"
    echo "    rules: \"$EXAMPLES/cart-contents.rules.yaml\""
    echo "  - name: \"$P_AVAIL\""
    echo "    topics: [\"$TOPIC\"]"
    echo "    rules: \"$EXAMPLES/product-availability.rules.yaml\""
  } >"$file"
}

# start_worker N CONFIG: starts worker N in the background; sets WPID[N].
declare -A WPID=()
declare -A RUNNING=()
declare -A WPORT=()
start_worker() {
  local n=$1 cfg=$2
  "$PROJ_BIN" run -c "$cfg" >>"$WORK/worker$n.log" 2>&1 &
  WPID[$n]=$!
  RUNNING[$!]=1
  log "worker $n started (pid ${WPID[$n]})"
}

# stop_worker N SIGNAL: sends SIGNAL, waits for the process (at most 60 s,
# then SIGKILL) and sets ST to its exit status (not in a subshell: only the
# shell that started the worker can wait for it).
stop_worker() {
  local n=$1 sig=$2
  local pid=${WPID[$n]} t=0
  ST=0
  # stderr of the whole block goes to /dev/null: bash would otherwise print
  # a "Killed" job notice for every SIGKILLed worker
  {
    kill -"$sig" "$pid" || true
    while kill -0 "$pid" && [ $t -lt 600 ]; do
      # a zombie child still answers kill -0: stop polling once it is one
      [ "$(ps -o stat= -p "$pid" | cut -c1)" = Z ] && break
      sleep 0.1; t=$((t + 1))
    done
    if [ $t -ge 600 ]; then
      kill -KILL "$pid" || true
    fi
    wait "$pid" || ST=$?
  } 2>/dev/null
  [ $t -lt 600 ] || log "worker $n (pid $pid) still ran 60 s after SIG$sig: SIGKILLed"
  unset "RUNNING[$pid]"
}

# bg_publish FROM TO RATE: publishes in the background (sets PUB);
# wait_publish waits for it and fails the test if it failed.
bg_publish() {
  publish "$@" &
  PUB=$!
  RUNNING[$PUB]=1
}
wait_publish() {
  local st=0
  wait "$PUB" || st=$?
  unset "RUNNING[$PUB]"
  [ $st = 0 ] || fail "publisher failed ($st)"
}

publish() { # publish FROM TO [RATE]
  local args=(publish --seed "$SEED" --events "$EVENTS" --prefix "$PREFIX"
              -t "$TOPIC" --schemas "$SCHEMAS" --from "$1" --to "$2")
  [ -n "${3:-}" ] && args+=(--rate "$3")
  "$E2E_BIN" "${args[@]}"
}

create_topic() { # create_topic PARTITIONS (publishes nothing)
  "$E2E_BIN" publish --seed "$SEED" --events "$EVENTS" --prefix "$PREFIX" \
      -t "$TOPIC" --schemas "$SCHEMAS" --from 0 --to 0 --create "$1"
}

verify() { # verify WAIT_SECONDS [UPTO]
  local args=(verify --seed "$SEED" --events "$EVENTS" --prefix "$PREFIX"
              --redis "$SF_REDIS_HOST:$SF_REDIS_PORT" --wait "$1")
  [ -n "${2:-}" ] && args+=(--upto "$2")
  "$E2E_BIN" "${args[@]}"
}

# metric N NAME{labels}: value of one series from worker N's /metrics ("" if
# absent or unreachable).
metric() {
  { curl -s --max-time 5 "http://127.0.0.1:${WPORT[$1]}/metrics" 2>/dev/null || true; } \
    | awk -v s="$2" 'index($0, s " ") == 1 { print $2 }'
}

# rand_between LO HI (deciseconds) -> seconds with one decimal
rand_sleep() {
  local ds=$(( $1 + RANDOM % ($2 - $1 + 1) ))
  sleep "$(( ds / 10 )).$(( ds % 10 ))"
}
