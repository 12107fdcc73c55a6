#!/usr/bin/env bash
# scale_cluster.sh - the projector on a real three-broker cluster (private:
# deploy/stack.sh up --brokers 3, topics with replication factor 3 and
# min.insync.replicas 2) while workers come and go and brokers die.
#
# Scenarios (each on its own topic and projections, under load):
#   scale     3 workers; a 4th joins (scale-out), one of the first three
#             leaves with SIGTERM (scale-in 4 -> 3); commits/s measured
#             with three workers
#   broker    one broker killed with SIGKILL, restarted 20 s later
#   controller  the active KRaft controller killed with SIGKILL, restarted
#   two-down  two brokers down past the producer's delivery timeout
#             (the publisher runs with message.timeout.ms 20 s here) and
#             publishes through transactions (scale_check --mode txn): a
#             transaction that did not commit is aborted and published
#             again; the log a read_committed reader sees must hold no
#             event twice
#   two-down-kip848  two-down with the workers under KIP-848
#             (group.protocol: consumer), whatever SF_SCALE_GROUP_PROTOCOL
#   two-down-retry  the same outage under an idempotent, not
#             transactional publisher that retries every failed event with
#             the same ce_id and ce_sequence (--mode retry): the log may
#             hold copies, the projector's version rule must drop every
#             one (its count equals the fold's) and the views must equal
#             the deduplicated fold
# CI (default) runs one combined short scenario, "short": 3 workers, a 4th
# joins, one broker is killed and restarted, a worker leaves.  SF_LONG=1
# runs the four above at ~3,000 events/s (SF_SCALE_RATE overrides);
# SF_SCALE_SCENARIOS="scale broker" picks some.  SF_SCALE_GROUP_PROTOCOL=
# consumer runs the workers under KIP-848.
#
# Every scenario ends with, and fails unless:
#   - the views equal a fold of what the log really holds, read back
#     from offset 0 (scale_check check) with the projector's duplicate
#     rule (docs/duplicates.md), and the projector dropped exactly the
#     copies that rule drops;
#   - no event is in the log twice (same ce_id), except in two-down-retry;
#   - no partition of the cart projection was without an owner for more
#     than 5 s (scale_owners.py, from the workers' own logs).  Except
#     two-down under the classic protocol: an outage of the group
#     coordinator longer than session.timeout.ms ends every member's
#     session, as a kill -9 of every worker would, and costs one session
#     timeout after it (docs/scale-out.md); the limit there is 30 s (the
#     workers' session.timeout.ms) + 5 s.
# and prints one "RESULT" line: stall (longest unowned partition), lost
# assignments, offset commits/s and failed commits, duplicates.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/e2e_lib.sh"
need_bins
CHECK_BIN=$SF_BUILD_DIR/tests/integration/projector/scale_check
[ -x "$CHECK_BIN" ] || { log "SKIP: $CHECK_BIN not built"; exit $SKIP; }
command -v python3 >/dev/null || { log "SKIP: python3 missing"; exit $SKIP; }
command -v java >/dev/null || { log "SKIP: java missing"; exit $SKIP; }
MAX_UNOWNED=${SF_SCALE_MAX_UNOWNED:-5}

if [ "${SF_LONG:-0}" = 1 ]; then
  SCENARIOS=${SF_SCALE_SCENARIOS:-scale broker controller two-down two-down-kip848 two-down-retry}
  RATE=${SF_SCALE_RATE:-3000}
else
  SCENARIOS=${SF_SCALE_SCENARIOS:-short}
  RATE=${SF_SCALE_RATE:-600}
fi

# ---- a private three-node cluster, below the ephemeral port range -------
portfree() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
KP= RP=
for _ in $(seq 1 40); do
  k=$(( 20000 + RANDOM % 11000 ))
  ok=1
  for p in $k $((k + 1)) $((k + 2)) $((k + 100)) $((k + 101)) $((k + 102)) $((k + 200)); do
    portfree "$p" || ok=0
  done
  [ $ok = 1 ] && { KP=$k; RP=$((k + 200)); break; }
done
[ -n "$KP" ] || fail "no free ports for the private cluster"
STACK_DIR=$(mktemp -d /tmp/sf-scale-stack.XXXXXX)
stack() { SF_STATE_DIR="$STACK_DIR" "$SF_SOURCE_DIR/deploy/stack.sh" "$@"; }
stack_down() {
  for n in 1 2 3; do # stopped nodes: make sure none stays SIGSTOPped
    [ -f "$STACK_DIR/kafka-$n/pid" ] && kill -CONT "$(cat "$STACK_DIR/kafka-$n/pid")" 2>/dev/null
  done
  stack down --wipe >/dev/null 2>&1 || true
  rm -rf "$STACK_DIR"
}
if [ -n "${SF_SCALE_STACK_DIR:-}" ]; then
  # development: a three-node stack already up under this state folder
  # (deploy/stack.sh up --brokers 3); it is left running
  rmdir "$STACK_DIR"; STACK_DIR=$SF_SCALE_STACK_DIR
  . "$STACK_DIR/stack.env"; KP=$KAFKA_PORT; RP=$REDIS_PORT
  stack_down() { :; }
fi
trap 'stack_down' EXIT
if [ -z "${SF_SCALE_STACK_DIR:-}" ]; then
  log "private cluster: kafka 127.0.0.1:$KP-$((KP + 2)), redis $RP, state $STACK_DIR"
  stack up --brokers 3 --kafka-port "$KP" --controller-port $((KP + 100)) \
    --redis-port "$RP" --heap "${SF_SCALE_HEAP:-256m}" --timeout 300 \
    >"$STACK_DIR.up.log" 2>&1 || { tail -5 "$STACK_DIR.up.log" >&2; rm -f "$STACK_DIR.up.log"; fail "private cluster did not start"; }
  rm -f "$STACK_DIR.up.log"
fi
SF_BROKERS=127.0.0.1:$KP,127.0.0.1:$((KP + 1)),127.0.0.1:$((KP + 2))
SF_REDIS_HOST=127.0.0.1 SF_REDIS_PORT=$RP
export SF_BROKERS SF_REDIS_HOST SF_REDIS_PORT
E2E_ON_EXIT=stack_down  # e2e_cleanup (set by new_run) takes it down too

node_pid() { cat "$STACK_DIR/kafka-$1/pid"; }
kill_node() { # kill_node N: SIGKILL, waits until it is gone
  local pid; pid=$(node_pid "$1")
  kill -KILL "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  log "kafka node $1 (pid $pid) killed"
}
restart_nodes() { # starts what is down (stack.sh up starts only that)
  stack up --timeout 300 >>"$WORK/stack.log" 2>&1 \
    || fail "kafka did not come back: $(tail -3 "$WORK/stack.log")"
  # stack.sh is satisfied when the cluster answers; a node that recovers
  # its logs after a SIGKILL may take minutes more: wait for every node
  local n
  for n in 0 1 2; do
    for _ in $(seq 1 300); do
      kcat -b "127.0.0.1:$((KP + n))" -L -m 5 2>/dev/null | grep -q "broker $((n + 1)) at 127.0.0.1:$((KP + n))" && break
      sleep 1
    done
  done
  local answered; answered=$(date +%s.%N)
  log "cluster complete again (every node answers)"
  # A group can rebalance only once its coordinator can write the group's
  # state: every __consumer_offsets partition led, with min.insync.replicas
  # (2) replicas in sync.  A node that answers metadata may still be
  # catching up; until then no worker can get a partition, whatever it does.
  for _ in $(seq 1 300); do
    kcat -b "$SF_BROKERS" -L -t __consumer_offsets -m 5 2>/dev/null | awk '
      /^ +partition [0-9]+, leader/ {
        n++; split($0, a, "isrs: "); k = split(a[2], b, ",")
        if ($4 != "-1," && k >= 2) ok++ }
      END { exit !(n > 0 && ok == n) }' && break
    sleep 1
  done
  BACK=$(date +%s.%N)
  COORD_WAIT=$(awk -v a="$answered" -v b="$BACK" 'BEGIN { printf "%.1f", b - a }')
  log "group coordinators can write again ($COORD_WAIT s after every node answered)"
}
active_controller() {
  java -Xmx128m -cp "$(stack jars-dir)/*" \
    -Dlog4j2.configurationFile="$STACK_DIR/tools-log4j2.properties" \
    org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$SF_BROKERS" \
    describe --status 2>/dev/null | awk '/^LeaderId:/ { print $2 }'
}

# ---- workers ------------------------------------------------------------
set_protocol() { # classic | consumer: the workers started from now on
  PROTO=$1
  if [ "$PROTO" = consumer ]; then
    GPROPS=("group.protocol: consumer")
  else
    GPROPS=() # the worker's own defaults (session.timeout.ms 30 s, ...)
  fi
}
set_protocol "${SF_SCALE_GROUP_PROTOCOL:-classic}"
# SF_SCALE_VERBOSE=1: debug logs, whose "batch committed" lines (one per
# partition per flush) count the commits a commit-per-flush worker makes
VFLAG=(); [ "${SF_SCALE_VERBOSE:-0}" = 1 ] && VFLAG=(-v)
start_worker() { # as e2e_lib's, with VFLAG
  "$PROJ_BIN" run -c "$2" "${VFLAG[@]}" >>"$WORK/worker$1.log" 2>&1 &
  WPID[$1]=$!
  RUNNING[$!]=1
  log "worker $1 started (pid ${WPID[$1]})"
}
worker_up() { # worker_up N
  WPORT[$1]=$(free_port)
  write_config "$WORK/w$1.yaml" "${WPORT[$1]}" "${GPROPS[@]}"
  start_worker "$1" "$WORK/w$1.yaml"
}
assigned() { # partitions of the cart projection worker N holds
  { curl -s --max-time 5 "http://127.0.0.1:${WPORT[$1]}/metrics" 2>/dev/null || true; } \
    | grep -c "^streamfold_partition_assigned{projection=\"$P_CART\"" || true
}
total_assigned() { local t=0 n; for n in "$@"; do t=$((t + $(assigned "$n"))); done; echo $t; }
wait_holds() { # wait_holds N SECONDS: until worker N holds a partition
  for _ in $(seq 1 $(($2 * 2))); do
    [ "$(assigned "$1")" -ge 1 ] && return 0
    sleep 0.5
  done
  return 1
}
wait_all_owned() { # wait_all_owned SECONDS WORKER...
  local s=$1; shift
  for _ in $(seq 1 $((s * 2))); do
    [ "$(total_assigned "$@")" -ge 12 ] && return 0
    sleep 0.5
  done
  return 1
}
sum_metric() { # sum_metric NAME WORKER...: the series summed over workers
  local name=$1 t=0 n v; shift
  for n in "$@"; do
    v=$({ curl -s --max-time 5 "http://127.0.0.1:${WPORT[$n]}/metrics" 2>/dev/null || true; } \
      | awk -v s="streamfold_$name{" 'index($0, s) == 1 { t += $2 } END { print t + 0 }')
    t=$((t + v))
  done
  echo $t
}

# ---- one scenario ---------------------------------------------------------
scenario_begin() { # NAME EVENTS
  new_run "scale-$1" "$2" 14
  E2E_ON_EXIT=stack_down
  : >"$WORK/events"
  "$CHECK_BIN" publish --seed "$SEED" --events "$EVENTS" --prefix "$PREFIX" \
    -t "$TOPIC" -b "$SF_BROKERS" --schemas "$SCHEMAS" --from 0 --to 0 \
    --create 12 --rf 3 >/dev/null || fail "topic $TOPIC not created"
  for n in 1 2 3; do worker_up $n; done
  wait_all_owned 90 1 2 3 || fail "$1: the three workers never owned all 12 partitions"
}
bg_load() { # bg_load [--timeout-ms MS]: publishes the whole history at RATE
  "$CHECK_BIN" publish --seed "$SEED" --events "$EVENTS" --prefix "$PREFIX" \
    -t "$TOPIC" -b "$SF_BROKERS" --schemas "$SCHEMAS" --rate "$RATE" "$@" \
    >"$WORK/publish.out" 2>"$WORK/publish.log" &
  PUB=$!
  RUNNING[$PUB]=1
}
load_done() {
  local st=0
  wait "$PUB" || st=$?
  unset "RUNNING[$PUB]"
  [ $st = 0 ] || fail "publisher failed ($st): $(tail -3 "$WORK/publish.log")"
  log "publisher: $(tail -1 "$WORK/publish.log")"
}
flushed() { cat "$WORK"/worker*.log | grep -c 'msg="batch committed"' || true; }
commits_of() { # commits_of N: "<unix time> <commit requests>" of worker N
  local v
  v=$({ curl -s --max-time 5 "http://127.0.0.1:${WPORT[$1]}/metrics" 2>/dev/null || true; } \
    | awk '/^streamfold_offset_commit(s|_failures)_total\{/ { t += $2 } END { print t + 0 }')
  echo "$(date +%s.%N) $v"
}
commit_rate() { # commit_rate SECONDS WORKER...: offset commit requests/s
  # (each worker's own sampling window, summed over the workers)
  local s=$1 n fa fb t0 t1; shift
  declare -A A=()
  fa=$(flushed); t0=$(date +%s.%N)
  for n in "$@"; do A[$n]=$(commits_of "$n"); done
  sleep "$s"
  local rate=0 b
  for n in "$@"; do
    b=$(commits_of "$n")
    rate=$(awk -v a="${A[$n]}" -v b="$b" -v r="$rate" 'BEGIN {
      split(a, x, " "); split(b, y, " "); printf "%.3f", r + (y[2] - x[2]) / (y[1] - x[1]) }')
  done
  fb=$(flushed); t1=$(date +%s.%N)
  awk -v r="$rate" -v fa="$fa" -v fb="$fb" -v t0="$t0" -v t1="$t1" -v v="${#VFLAG[@]}" \
    'BEGIN { printf "%.1f", r; if (v) printf " per_flush_partition_commits_per_s=%.1f", (fb - fa) / (t1 - t0) }'
}
scenario_end() { # NAME WORKERS_ALIVE...  (CHECK_ARGS: more check options)
  local name=$1; shift
  load_done
  local out st=0
  out=$("$CHECK_BIN" check --seed "$SEED" --events "$EVENTS" --prefix "$PREFIX" \
    -t "$TOPIC" -b "$SF_BROKERS" --redis "$SF_REDIS_HOST:$SF_REDIS_PORT" \
    --dedup-sequence --projection "$P_CART" ${CHECK_ARGS:-} \
    --wait 240 2>"$WORK/check.log") || st=$?
  cat "$WORK/check.log" >&2
  local owners
  # two brokers down: no group can rebalance while its coordinator cannot
  # write; unowned time counts from when it can again (restart_nodes)
  owners=$(SCALE_OWNERS_FROM=${OWNERS_FROM:-0} python3 "$HERE/scale_owners.py" "$P_CART" "$WORK/events" "$WORK"/worker*.log)
  printf '%s\n' "$owners" | sed 's/^/  /' >&2
  local maxu lost failed
  maxu=$(sed -n 's/^max_unowned=\([0-9.]*\) .*/\1/p' <<<"$owners")
  lost=$(sed -n 's/.* lost=\([0-9]*\) .*/\1/p' <<<"$owners")
  failed=$(sum_metric offset_commit_failures_total "$@")
  echo "RESULT scenario=$name protocol=$PROTO rate=$RATE" \
    "stall_max_unowned_s=$maxu lost_assignments=$lost commits_per_s=${CRATE:-n/a}" \
    "coordinator_wait_s=${COORD_WAIT:-n/a}" \
    "failed_commits_alive_workers=$failed $out $(cat "$WORK/publish.out" 2>/dev/null)" | tee -a "$RESULTS" >&2
  # a failed check fails the run at its end, after the other scenarios:
  # one slow rebalance must not hide what the rest measure
  local bad=
  [ $st = 0 ] || bad="the views differ from the fold of the log, the projector's duplicate count from the fold's, or the log holds a duplicate event"
  awk -v m="$maxu" -v lim="$LIMIT" 'BEGIN { exit !(m <= lim) }' \
    || bad="${bad:+$bad; }a partition had no owner for ${maxu} s (limit ${LIMIT} s)"
  for n in "$@"; do
    stop_worker "$n" TERM
    [ "$ST" = 0 ] || bad="${bad:+$bad; }worker $n exited $ST on SIGTERM"
  done
  if [ -n "$bad" ]; then
    FAILED+=("$name: $bad")
    log "$name: FAIL: $bad (work folder $WORK kept)"
    return 0
  fi
  [ "${SF_E2E_KEEP:-0}" = 1 ] || rm -rf "$WORK"
  log "$name: PASS"
}
FAILED=()

RESULTS=$(mktemp /tmp/sf-scale-results.XXXXXX)
secs() { echo $(( $1 * RATE )); }

for sc in $SCENARIOS; do
  CRATE= OWNERS_FROM= CHECK_ARGS= COORD_WAIT= LIMIT=$MAX_UNOWNED
  set_protocol "${SF_SCALE_GROUP_PROTOCOL:-classic}"
  case "$sc" in
    short)
      scenario_begin short "$(secs 75)"
      bg_load
      sleep 10
      CRATE=$(commit_rate 10 1 2 3)
      worker_up 4
      wait_holds 4 90 || fail "$sc: worker 4 never got a partition"
      wait_all_owned 60 1 2 3 4 || fail "short: partitions unowned after worker 4 joined"
      sleep 5
      stop_worker 1 TERM; [ "$ST" = 0 ] || fail "short: worker 1 exited $ST"
      sleep 5
      kill_node 2
      sleep 20
      restart_nodes
      scenario_end short 2 3 4
      ;;
    scale)
      scenario_begin scale "$(secs 90)"
      bg_load
      sleep 15
      CRATE=$(commit_rate 20 1 2 3)
      worker_up 4
      wait_holds 4 90 || fail "$sc: worker 4 never got a partition"
      wait_all_owned 60 1 2 3 4 || fail "scale: partitions unowned after worker 4 joined"
      sleep 20
      stop_worker 1 TERM; [ "$ST" = 0 ] || fail "scale: worker 1 exited $ST"
      scenario_end scale 2 3 4
      ;;
    broker)
      scenario_begin broker "$(secs 90)"
      bg_load
      sleep 10
      CRATE=$(commit_rate 10 1 2 3)
      kill_node 3
      sleep 20
      restart_nodes
      scenario_end broker 1 2 3
      ;;
    controller)
      scenario_begin controller "$(secs 90)"
      bg_load
      sleep 10
      c=$(active_controller)
      [ -n "$c" ] || fail "controller: no active controller found"
      log "active controller: node $c"
      CRATE=$(commit_rate 5 1 2 3)
      kill_node "$c"
      sleep 15
      restart_nodes
      scenario_end controller 1 2 3
      ;;
    two-down|two-down-kip848|two-down-retry)
      [ "$sc" = two-down-kip848 ] && set_protocol consumer
      if [ "$PROTO" = classic ]; then
        # every session ends in the outage; the coordinator, loading the
        # group again, holds the old members until theirs time out
        LIMIT=$(awk -v m="$MAX_UNOWNED" 'BEGIN { print 30 + m }')
        log "$sc, classic protocol: unowned limit ${LIMIT} s (one session timeout + ${MAX_UNOWNED} s)"
      fi
      scenario_begin "$sc" "$(secs 100)"
      if [ "$sc" != two-down-retry ]; then
        bg_load --timeout-ms 20000 --mode txn
      else
        bg_load --timeout-ms 20000 --mode retry
        CHECK_ARGS=--log-dups-ok
      fi
      sleep 10
      CRATE=$(commit_rate 5 1 2 3)
      kill_node 2
      kill_node 3
      sleep 35 # past the publisher's 20 s delivery timeout
      restart_nodes
      OWNERS_FROM=$BACK
      scenario_end "$sc" 1 2 3
      ;;
    *) fail "unknown scenario '$sc' (short, scale, broker, controller, two-down, two-down-kip848, two-down-retry)";;
  esac
done
log "results:"
cat "$RESULTS" >&2
rm -f "$RESULTS"
if [ ${#FAILED[@]} -gt 0 ]; then
  for f in "${FAILED[@]}"; do log "FAILED: $f"; done
  fail "${#FAILED[@]} of the scenarios ($SCENARIOS) failed"
fi
log "PASS ($SCENARIOS)"
