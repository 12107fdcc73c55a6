#!/usr/bin/env bash
# campaign.sh - the seeded, randomized fault campaign (README.md here).
#
#   tests/fault/campaign.sh                      # the short campaign: seeds 1-20
#   SF_LONG=1 tests/fault/campaign.sh            # the long one: seeds 1-200, --steps 3
#   tests/fault/campaign.sh --seed 1234 --steps 2   # replay one seed (as printed)
#   tests/fault/campaign.sh --seeds 1-50 --faults kill9,redis-rollback
#   tests/fault/campaign.sh --seed 7 --print-schedule   # the schedule only
#
# Starts ONE private Kafka + Redis stack (deploy/stack.sh, own state folder,
# free ports below 32768) for all seeds and takes it down at the end; never
# touches the shared stack.  Other options go to campaign.py (--steps N,
# --keep-going, --catchup-timeout S).
#
# Binaries under test: SF_PROJECTOR_BIN, SF_PUBLISH_BIN, else
# SF_BUILD_DIR/{projector/sf-projector,producer/sf-publish}, so the same
# campaign can be pointed at another branch's build.  SF_FAULT_KEEP=1 keeps
# the work folder (worker logs, configs, the stack's logs).  SF_FAULT_STACK=DIR
# keeps the private stack in DIR running between runs (development).
# Exit: 0 all seeds passed, 1 a seed failed, 2 usage, 77 skipped (not built).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
: "${SF_SOURCE_DIR:=$(cd "$HERE/../.." && pwd)}"
: "${SF_BUILD_DIR:=$SF_SOURCE_DIR/build}"
PROJ_BIN=${SF_PROJECTOR_BIN:-$SF_BUILD_DIR/projector/sf-projector}
PUB_BIN=${SF_PUBLISH_BIN:-$SF_BUILD_DIR/producer/sf-publish}
log() { printf '[campaign] %s\n' "$*" >&2; }

# short: 20 seeds of 2 faults each; long: 200 seeds of 3 faults each
seeds=1-20 steps=2
[ "${SF_LONG:-0}" = 1 ] && seeds=1-200 steps=3
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --seed|--seeds) seeds=${2:?$1 needs a value}; shift 2;;
    --steps) steps=${2:?$1 needs a value}; shift 2;;
    --print-schedule)
      exec python3 "$HERE/campaign.py" --seeds "$seeds" --steps "$steps" --print-schedule "${args[@]}" \
        --brokers - --redis-port 0 --state - --source "$SF_SOURCE_DIR" \
        --projector-bin - --publish-bin - --work -;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0;;
    *) args+=("$1"); shift;;
  esac
done

# usage errors (an unknown fault kind, a bad seed list) before any stack
python3 "$HERE/campaign.py" --seeds "$seeds" --steps "$steps" --print-schedule "${args[@]}" \
  --brokers - --redis-port 0 --state - --source "$SF_SOURCE_DIR" \
  --projector-bin - --publish-bin - --work - >/dev/null || exit 2
for b in "$PROJ_BIN" "$PUB_BIN"; do
  [ -x "$b" ] || { log "SKIP: $b not built"; exit 77; }
done
python3 -c 'import confluent_kafka, fastavro' 2>/dev/null \
  || { log "SKIP: python3 confluent-kafka and fastavro needed (deploy/install-deps.sh)"; exit 77; }

# free_port: a port in 20000-31999 nobody listens on (nor on port+100,
# the controller port of the broker).
taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 12000 ))
    case $p in 9092|9192|6379) continue;; esac
    taken "$p" || taken $((p + 100)) || { echo "$p"; return 0; }
  done
  log "no free port found"; exit 1
}
WORK=$(mktemp -d /tmp/sf-fault.XXXXXX)
if [ -n "${SF_FAULT_STACK:-}" ]; then
  # a private stack kept between runs (development): its ports are
  # remembered in its state folder; it is left running
  export SF_STATE_DIR=$SF_FAULT_STACK
  if [ -f "$SF_STATE_DIR/stack.env" ]; then
    eval "$("$SF_SOURCE_DIR/deploy/stack.sh" env)"
    KPORT=${SF_BROKERS##*:} RPORT=$SF_REDIS_PORT
  fi
fi
if [ -z "${KPORT:-}" ]; then
  KPORT=$(free_port)
  RPORT=$(free_port)
  [ "$RPORT" != "$KPORT" ] && [ "$RPORT" != $((KPORT + 100)) ] || RPORT=$(free_port)
fi
# never the caller's SF_STATE_DIR: that is the stack the other tests share,
# which the campaign would flush, kill and restart
[ -n "${SF_FAULT_STACK:-}" ] || SF_STATE_DIR=$WORK/stack
export SF_STATE_DIR
# two campaigns on one stack would FLUSHALL each other's Redis
mkdir -p "$SF_STATE_DIR"
exec 9>"$SF_STATE_DIR/campaign.lock"
flock -n 9 || { log "another campaign runs on $SF_STATE_DIR"; exit 1; }
cleanup() {
  local rc=$?
  set +e
  [ -n "${SF_FAULT_STACK:-}" ] || "$SF_SOURCE_DIR/deploy/stack.sh" down >/dev/null 2>&1
  if [ "${SF_FAULT_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then
    log "work folder kept: $WORK (worker logs per seed, stack logs)"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log "private stack: kafka 127.0.0.1:$KPORT, redis 127.0.0.1:$RPORT, state $SF_STATE_DIR"
log "under test: $PROJ_BIN, $PUB_BIN"
# 9>&-: the broker and Redis outlive this script and must not hold the lock
"$SF_SOURCE_DIR/deploy/stack.sh" up --kafka-port "$KPORT" --redis-port "$RPORT" >"$WORK/stack-up.log" 2>&1 9>&- \
  || { tail -5 "$WORK/stack-up.log" >&2; log "private stack did not come up"; exit 1; }
# in the background and waited for, so that a SIGTERM (Ctrl-C, a timeout)
# reaches the trap at once: it stops the driver, whose workers get SIGTERM
# from its own cleanup, and takes the stack down
python3 "$HERE/campaign.py" --seeds "$seeds" --steps "$steps" "${args[@]}" \
  --brokers "127.0.0.1:$KPORT" --redis-port "$RPORT" --state "$SF_STATE_DIR" \
  --source "$SF_SOURCE_DIR" --projector-bin "$PROJ_BIN" --publish-bin "$PUB_BIN" \
  --work "$WORK" &
DRIVER=$!
trap 'kill -INT "$DRIVER" 2>/dev/null; wait "$DRIVER" 2>/dev/null; exit 130' INT TERM
wait "$DRIVER"
