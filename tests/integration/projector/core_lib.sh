# core_lib.sh - helpers of projector-core's integration tests (core_*.sh).
# Sourced, not run.  Each test gets unique topics, projection names and
# Redis key prefixes; a trap stops the workers it started (by pid) and
# removes its keys, topics and groups.
set -euo pipefail

: "${SF_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
: "${SF_BUILD_DIR:=$SF_SOURCE_DIR/build}"
: "${SF_BROKERS:=127.0.0.1:9092}"
: "${SF_REDIS_HOST:=127.0.0.1}"
: "${SF_REDIS_PORT:=6379}"
PROJ=${SF_PROJECTOR_BIN:-$SF_BUILD_DIR/projector/sf-projector}
PUB=${SF_PUBLISH_BIN:-$SF_BUILD_DIR/producer/sf-publish}
E2E=$SF_BUILD_DIR/tests/integration/projector/sf_e2e
SCHEMAS=$SF_SOURCE_DIR/schemas/domains
EXAMPLES=$SF_SOURCE_DIR/projector/examples
SKIP=77
T0=$(date +%s)
ID="c$RANDOM$$"
WORK=$(mktemp -d "/tmp/sf-core.XXXXXX")
declare -A PIDS=()
TOPICS=()
NAMES=()

log() { printf '[%s +%ss] %s\n' "${TEST:-core}" "$(( $(date +%s) - T0 ))" "$*" >&2; }
fail() { log "FAIL: $*"; for f in "$WORK"/*.log; do [ -f "$f" ] && { log "--- $f"; tail -n 30 "$f" >&2; }; done; exit 1; }
rcli() { redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" "$@"; }

need() {
  [ -x "$PROJ" ] || { log "SKIP: $PROJ not built"; exit $SKIP; }
  [ -x "$PUB" ] || { log "SKIP: $PUB not built"; exit $SKIP; }
  command -v kcat >/dev/null || { log "SKIP: kcat missing"; exit $SKIP; }
  rcli ping >/dev/null 2>&1 || fail "Redis not reachable at $SF_REDIS_HOST:$SF_REDIS_PORT"
}

cleanup() {
  local rc=$?
  set +e
  for pid in "${!PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  for n in "${NAMES[@]}"; do
    rcli --scan --pattern "sf:$n:*" 2>/dev/null | xargs -r -n 500 redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" unlink >/dev/null
  done
  rcli --scan --pattern "*$ID*" 2>/dev/null | xargs -r -n 500 redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" unlink >/dev/null
  if [ -x "$E2E" ] && [ ${#TOPICS[@]} -gt 0 ]; then
    args=()
    for t in "${TOPICS[@]}"; do args+=(-t "$t" -t "$t.dlq"); done
    for n in "${NAMES[@]}"; do args+=(--group "sf-$n"); done
    "$E2E" drop "${args[@]}" >/dev/null 2>&1
  fi
  [ $rc -eq 0 ] && rm -rf "$WORK" || log "work folder kept: $WORK"
  exit $rc
}
trap cleanup EXIT

# other_owner_start PROJECTION TOPIC PARTITION: another group member that
# holds the partition and says so, as a live worker does, refreshing its
# state report (control.h) every 2 s until other_owner_stop.  A worker
# fenced by an epoch nobody reports takes it back after 10 s (worker.c,
# SF_FENCED_RETAKE_S); this keeps it fenced.
other_owner_report() {
  rcli hset "sf:$1:parts" "$2:$3" "ok $(($(date +%s%N) / 1000000)) other-owner-0001" >/dev/null
}
other_owner_start() {
  ( while :; do other_owner_report "$@"; sleep 2; done ) &
  OTHER_OWNER=$!; PIDS[$OTHER_OWNER]=1
}
other_owner_stop() {
  kill "$OTHER_OWNER" 2>/dev/null; wait "$OTHER_OWNER" 2>/dev/null || true
  unset "PIDS[$OTHER_OWNER]"
}

# topic NAME PARTITIONS: creates a unique topic, prints its name
new_topic() {
  local t="t-core-$1-$ID"
  "$SF_SOURCE_DIR/deploy/topics.sh" create -b "$SF_BROKERS" -p "$2" "$t" >"$WORK/topics.log" 2>&1 \
    || fail "cannot create topic $t: $(cat "$WORK/topics.log")"
  TOPICS+=("$t")
  echo "$t"
}

publish() { # publish TOPIC < jsonl
  "$PUB" -b "$SF_BROKERS" -t "$1" -s "$SCHEMAS" >>"$WORK/publish.log" 2>&1 || fail "sf-publish failed"
}

# config FILE then projection blocks on stdin (already indented)
config() {
  local f=$1
  {
    echo "kafka:"
    echo "  bootstrap.servers: \"$SF_BROKERS\""
    echo "  session.timeout.ms: 6000"
    echo "redis: {host: \"$SF_REDIS_HOST\", port: $SF_REDIS_PORT}"
    echo "schemas: \"$SCHEMAS\""
    echo "projections:"
    cat
  } >"$f"
}

start() { # start NAME CONFIG [PROJECTION...] -> PID_<NAME>
  local n=$1 cfg=$2
  shift 2
  "$PROJ" run -c "$cfg" "$@" >>"$WORK/$n.log" 2>&1 &
  PIDS[$!]=1
  eval "PID_$n=$!"
}

stop() { # stop NAME SIGNAL -> RC
  local pid
  eval "pid=\$PID_$1"
  kill -"$2" "$pid" 2>/dev/null || true
  RC=0
  wait "$pid" || RC=$?
  unset "PIDS[$pid]"
}

# wait_lag0 CONFIG PROJECTION SECONDS: until status shows total lag 0
wait_lag0() {
  local i=0
  while [ $i -lt $(( $3 * 2 )) ]; do
    local out st=0
    out=$("$PROJ" status -c "$1" "$2" 2>&1) || st=$?
    [ $st -eq 2 ] && fail "status: $out"
    if printf '%s\n' "$out" | grep -q "total lag 0$"; then return 0; fi
    sleep 0.5; i=$((i + 1))
  done
  "$PROJ" status -c "$1" "$2" >&2 || true
  fail "projection $2 did not catch up within $3 s"
}

# dump PATTERN: every key's type and content, sorted (for comparisons)
dump() {
  rcli --scan --pattern "$1" | sort | while read -r k; do
    case $(rcli type "$k") in
      string) echo "$k string $(rcli get "$k")";;
      hash) echo "$k hash $(rcli hgetall "$k" | paste - - | sort | paste -sd' ')";;
      set) echo "$k set $(rcli smembers "$k" | sort | paste -sd' ')";;
      zset) echo "$k zset $(rcli zrange "$k" 0 -1 withscores | paste -sd' ')";;
      list) echo "$k list $(rcli lrange "$k" 0 -1 | paste -sd' ')";;
    esac
  done
}

expect_eq() { # expect_eq WHAT GOT WANT
  [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# status_of PROJECTION: status output, captured first (a `status | grep -q`
# pipeline can fail under pipefail when grep exits before status is done)
status_of() {
  local out
  out=$("$PROJ" status -c "$WORK/c.yaml" "$1" 2>&1) || fail "status $1: $out"
  printf '%s\n' "$out"
}

# A private redis-server for tests that kill or restart Redis (never the
# shared one): private_redis_init picks a port and folder, redis_up starts
# it (AOF fsync always, so what it acknowledged survives a SIGKILL),
# redis_down SIGKILLs it.  The config of the test then points at $RP.
private_redis_init() {
  command -v redis-server >/dev/null || { log "SKIP: redis-server missing"; exit $SKIP; }
  RP=$(( 19000 + RANDOM % 11000 ))
  mkdir -p "$WORK/rd"
}
redis_up() {
  redis-server --port "$RP" --bind 127.0.0.1 --dir "$WORK/rd" --save '' \
    --appendonly yes --appendfsync always --daemonize no --logfile "$WORK/redis.log" &
  RPID=$!
  PIDS[$RPID]=1
  for _ in $(seq 1 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "private redis did not start"
}
redis_down() { kill -KILL "$RPID"; wait "$RPID" 2>/dev/null || true; unset "PIDS[$RPID]"; }
