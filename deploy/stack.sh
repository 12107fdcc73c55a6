#!/usr/bin/env bash
# stack.sh - the local Streamfold stack: real Apache Kafka (KRaft mode, run
# from the Maven Central jars) and a real redis-server, both on loopback, all
# data under one state folder.
#
# Usage: deploy/stack.sh up|down|status|logs|env|jars-dir [options]
#   up        start what is not running; waits until the broker(s) answer a
#             metadata request and Redis answers PING (or fails naming which
#             part failed and where its log is)
#   down      stop what `up` started (by pid); keeps data unless --wipe
#   status    one line per part: running/stopped, pid, address
#   logs      print the logs (`logs kafka`, `logs redis`, `-f` to follow)
#   env       print shell exports for the running stack (SF_BROKERS, ...)
#   jars-dir  fetch the Kafka jars if needed and print their folder
#
# Options:
#   --brokers N           1 (default) or 3: a three-node KRaft cluster, every
#                         node broker+controller, RF 3, min.insync.replicas 2
#   --kafka-version V     Kafka version from Maven Central (default 4.4.0; 3.9.2 is tested too)
#   --kafka-port P        first broker's port (default 9092; node i: P+i-1)
#   --controller-port P   first controller port (default kafka port + 100)
#   --redis-port P        Redis port (default 6379)
#   --heap SIZE           broker JVM heap (default 512m)
#   --timeout S           how long `up` waits (default 90)
#   --wipe                with down: delete the state folder too
#   --secure              the secure variant (deploy/secure.sh): Kafka
#                         only on a SASL_SSL listener (SCRAM-SHA-512), Redis
#                         only on TLS with an ACL user; a throwaway CA,
#                         certificates and random passwords are made under
#                         <state>/secure/.  Own state folder (.state-secure)
#                         and ports (Kafka 9094, Redis 6380) by default, so
#                         it runs beside the plain stack; give --secure to
#                         every command (up, down, status, env, logs).
#
# Environment: SF_STATE_DIR (default <repo>/.state), SF_CACHE_DIR (Maven
# jar cache, default ~/.cache/streamfold; later runs reuse it).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
STATE=${SF_STATE_DIR:-$REPO/.state}
CACHE=${SF_CACHE_DIR:-$HOME/.cache/streamfold}
DEFAULT_KAFKA_VERSION=4.4.0

die() { echo "stack: $*" >&2; exit 1; }
log() { echo "stack: $*" >&2; }

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

cmd=${1:-}
[ -n "$cmd" ] || { usage >&2; exit 2; }
case "$cmd" in -h|--help|help) usage; exit 0;; esac
shift

brokers="" kversion="" kport="" cport="" rport="" heap="" timeout=90 wipe=0
follow=0 which="" secure=0
while [ $# -gt 0 ]; do
  case "$1" in
    --brokers) brokers=${2:?--brokers needs a value}; shift 2;;
    --kafka-version) kversion=${2:?--kafka-version needs a value}; shift 2;;
    --kafka-port) kport=${2:?--kafka-port needs a value}; shift 2;;
    --controller-port) cport=${2:?--controller-port needs a value}; shift 2;;
    --redis-port) rport=${2:?--redis-port needs a value}; shift 2;;
    --heap) heap=${2:?--heap needs a value}; shift 2;;
    --timeout) timeout=${2:?--timeout needs a value}; shift 2;;
    --wipe) wipe=1; shift;;
    --secure) secure=1; shift;;
    -f|--follow) follow=1; shift;;
    -h|--help) usage; exit 0;;
    kafka|redis) which=$1; shift;;
    *) die "unknown option '$1' (see --help)";;
  esac
done

[ $secure = 1 ] && STATE=${SF_STATE_DIR:-$REPO/.state-secure}

# The settings of a running stack are kept in $STATE/stack.env so that
# down/status/env need no flags; flags given to `up` override them.
if [ -f "$STATE/stack.env" ]; then
  # shellcheck disable=SC1091
  . "$STATE/stack.env"
fi
BROKERS_N=${brokers:-${BROKERS_N:-1}}
KAFKA_VERSION=${kversion:-${KAFKA_VERSION:-$DEFAULT_KAFKA_VERSION}}
# --secure, or a state folder whose stack was started with it
[ $secure = 1 ] && SECURE=1
SECURE=${SECURE:-0}
# shellcheck source=deploy/secure.sh
[ "$SECURE" = 1 ] && . "$HERE/secure.sh"
KAFKA_PORT=${kport:-${KAFKA_PORT:-$([ "$SECURE" = 1 ] && echo 9094 || echo 9092)}}
CONTROLLER_PORT=${cport:-${CONTROLLER_PORT:-$((KAFKA_PORT + 100))}}
REDIS_PORT=${rport:-${REDIS_PORT:-$([ "$SECURE" = 1 ] && echo 6380 || echo 6379)}}
HEAP=${heap:-${HEAP:-512m}}
case "$BROKERS_N" in 1|3) ;; *) die "--brokers must be 1 or 3, got '$BROKERS_N'";; esac
[ "$SECURE" = 1 ] && [ "$BROKERS_N" != 1 ] && die "--secure runs one broker (--brokers 1)"

JARS="$CACHE/kafka-$KAFKA_VERSION/libs"

bootstrap() {
  local i list=""
  for ((i = 0; i < BROKERS_N; i++)); do
    list+="${list:+,}127.0.0.1:$((KAFKA_PORT + i))"
  done
  echo "$list"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

port_in_use() { ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

fetch_jars() {
  [ -f "$JARS/.complete" ] && return 0
  command -v mvn >/dev/null || die "maven not found: run deploy/install-deps.sh"
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $JARS"
  mkdir -p "$JARS"
  local profile=kafka3
  case "$KAFKA_VERSION" in 4.*) profile=kafka4;; esac
  if ! mvn -q -B -f "$HERE/kafka/pom.xml" -P"$profile" \
      dependency:copy-dependencies -Dkafka.version="$KAFKA_VERSION" \
      -DincludeScope=runtime -DoutputDirectory="$JARS" \
      >"$CACHE/maven-$KAFKA_VERSION.log" 2>&1; then
    die "could not fetch Kafka $KAFKA_VERSION with Maven; see $CACHE/maven-$KAFKA_VERSION.log"
  fi
  touch "$JARS/.complete"
}

kafka_java() {
  java -Xmx256m -cp "$JARS/*" \
    -Dlog4j.configuration="file:$STATE/tools-log4j.properties" \
    -Dlog4j2.configurationFile="$STATE/tools-log4j2.properties" "$@"
}

write_log_configs() {
  # Kafka 3.x logs through reload4j (log4j 1 API), 4.x through log4j2;
  # both configurations go to stdout, which up redirects to the node's log.
  cat >"$STATE/kafka-log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
EOF
  cat >"$STATE/kafka-log4j2.properties" <<'EOF'
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
EOF
  printf 'log4j.rootLogger=WARN, stderr\nlog4j.appender.stderr=org.apache.log4j.ConsoleAppender\nlog4j.appender.stderr.Target=System.err\nlog4j.appender.stderr.layout=org.apache.log4j.PatternLayout\nlog4j.appender.stderr.layout.ConversionPattern=%%p %%m%%n\n' \
    >"$STATE/tools-log4j.properties"
  printf 'status = warn\nappender.err.type = Console\nappender.err.name = err\nappender.err.target = SYSTEM_ERR\nappender.err.layout.type = PatternLayout\nappender.err.layout.pattern = %%p %%m%%n\nrootLogger.level = warn\nrootLogger.appenderRef.err.ref = err\n' \
    >"$STATE/tools-log4j2.properties"
}

write_node_config() {
  local id=$1 dir="$STATE/kafka-$1" voters="" i rf isr
  for ((i = 1; i <= BROKERS_N; i++)); do
    voters+="${voters:+,}$i@127.0.0.1:$((CONTROLLER_PORT + i - 1))"
  done
  rf=$BROKERS_N
  isr=1
  [ "$BROKERS_N" -ge 3 ] && isr=2
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<EOF
# Generated by deploy/stack.sh; edits are overwritten by the next up.
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$((KAFKA_PORT + id - 1)),CONTROLLER://127.0.0.1:$((CONTROLLER_PORT + id - 1))
advertised.listeners=PLAINTEXT://127.0.0.1:$((KAFKA_PORT + id - 1))
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$dir/data
num.partitions=12
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=12
group.initial.rebalance.delay.ms=0
# KIP-848 groups (group.protocol=consumer): the broker hands a moved
# partition to its new owner at that member's next heartbeat, so the
# interval bounds how long the partition waits; 5 s by default, 2 s keeps
# a move well inside the projector's 5 s target (docs/scale-out.md).  The
# minimum lets one group go lower with its consumer.heartbeat.interval.ms.
group.consumer.heartbeat.interval.ms=2000
group.consumer.min.heartbeat.interval.ms=1000
# History is never deleted by default (docs/design.md): event topics are
# provisioned with retention.ms=-1 by deploy/topics.sh as well.
log.retention.ms=-1
log.retention.bytes=-1
unclean.leader.election.enable=false
auto.create.topics.enable=true
EOF
  [ "$SECURE" = 1 ] && sec_server_properties "$id" >>"$dir/server.properties"
  chmod 600 "$dir/server.properties"
}

start_kafka_node() {
  local id=$1 dir="$STATE/kafka-$1" port=$((KAFKA_PORT + $1 - 1))
  local cp=$((CONTROLLER_PORT + $1 - 1))
  if alive "$dir/pid"; then
    log "kafka node $id already running (pid $(cat "$dir/pid"))"
    return 0
  fi
  port_in_use "$port" && die "kafka node $id: port $port is already in use by another process (choose --kafka-port)"
  port_in_use "$cp" && die "kafka node $id: controller port $cp is already in use by another process (choose --controller-port)"
  write_node_config "$id"
  if [ ! -f "$dir/data/meta.properties" ]; then
    SEC_FORMAT_ARGS=()
    [ "$SECURE" = 1 ] && sec_format_args
    kafka_java kafka.tools.StorageTool format --ignore-formatted \
      -t "$(cat "$STATE/cluster-id")" -c "$dir/server.properties" \
      "${SEC_FORMAT_ARGS[@]}" \
      >"$dir/format.log" 2>&1 \
      || die "kafka node $id: storage format failed; see $dir/format.log"
  fi
  # setsid: the broker must outlive this script and its terminal.
  setsid nohup java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC \
    -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$STATE/kafka-log4j.properties" \
    -Dlog4j2.configurationFile="$STATE/kafka-log4j2.properties" \
    -Dkafka.logs.dir="$dir" -cp "$JARS/*" kafka.Kafka "$dir/server.properties" \
    >>"$dir/kafka.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  log "kafka node $id starting on 127.0.0.1:$port (pid $!, log $dir/kafka.log)"
}

start_redis() {
  local dir="$STATE/redis"
  mkdir -p "$dir"
  if alive "$dir/pid"; then
    log "redis already running (pid $(cat "$dir/pid"))"
    return 0
  fi
  port_in_use "$REDIS_PORT" && die "redis: port $REDIS_PORT is already in use by another process (choose --redis-port)"
  command -v redis-server >/dev/null || die "redis-server not found: run deploy/install-deps.sh"
  if [ "$SECURE" = 1 ]; then
    sec_redis_conf "$dir"
    redis-server "$dir/redis.conf" >/dev/null \
      || die "redis: redis-server failed to start; see $dir/redis.log"
    log "redis starting with TLS on 127.0.0.1:$REDIS_PORT (log $dir/redis.log)"
    return 0
  fi
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" \
    --appendonly yes --appendfsync everysec --daemonize yes \
    --pidfile "$dir/pid" --logfile "$dir/redis.log" \
    --save "" >/dev/null \
    || die "redis: redis-server failed to start; see $dir/redis.log"
  log "redis starting on 127.0.0.1:$REDIS_PORT (log $dir/redis.log)"
}

# kcat and redis-cli, with the secure stack's credentials when it is one
kcat_() {
  if [ "$SECURE" = 1 ]; then
    # Debian's kcat runs on Debian's librdkafka 2.0.2, whose SCRAM login
    # Kafka 4.4 refuses; the librdkafka deploy/deps built is used instead.
    LD_LIBRARY_PATH="$(sec_rdkafka_libdir)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
      kcat -F "$(sec_dir)/kafka-client.properties" -b "$(bootstrap)" "$@"
  else
    kcat -b "$(bootstrap)" "$@"
  fi
}
redis_ping() {
  if [ "$SECURE" = 1 ]; then
    sec_redis_cli ping 2>/dev/null
  else
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null
  fi
}

wait_ready() {
  local deadline=$((SECONDS + timeout)) i ok
  while :; do
    ok=1
    for ((i = 1; i <= BROKERS_N; i++)); do
      alive "$STATE/kafka-$i/pid" \
        || die "kafka node $i exited during startup; see $STATE/kafka-$i/kafka.log"
    done
    # A metadata request must list every broker of the cluster.
    if ! [ "$(kcat_ -L -m 3 2>/dev/null | grep -c '^  broker ')" -ge "$BROKERS_N" ]; then
      ok=0
    fi
    [ "$(redis_ping)" = PONG ] || ok=0
    [ $ok = 1 ] && break
    if [ $SECONDS -ge $deadline ]; then
      if [ "$(redis_ping)" != PONG ]; then
        die "redis did not answer PING within ${timeout}s; see $STATE/redis/redis.log"
      fi
      die "kafka did not answer a metadata request within ${timeout}s; see $STATE/kafka-1/kafka.log"
    fi
    sleep 1
  done
}

stop_pid() { # name pidfile
  local name=$1 pidf=$2 pid i
  alive "$pidf" || { rm -f "$pidf"; return 0; }
  pid=$(cat "$pidf")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name (pid $pid) did not stop in 30s; killing"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidf"
  log "$name stopped"
}

case "$cmd" in
  up)
    for tool in java kcat redis-cli ss; do
      command -v $tool >/dev/null || die "$tool not found: run deploy/install-deps.sh"
    done
    start=$SECONDS
    mkdir -p "$STATE"
    if [ -f "$STATE/stack.env" ] && [ -n "$brokers" ] && [ -f "$STATE/kafka-1/data/meta.properties" ]; then
      # shellcheck disable=SC1091
      old=$(. "$STATE/stack.env"; echo "$BROKERS_N")
      [ "$old" = "$BROKERS_N" ] || die "state folder $STATE holds a $old-node cluster; use down --wipe first"
    fi
    cat >"$STATE/stack.env" <<EOF
BROKERS_N=$BROKERS_N
KAFKA_VERSION=$KAFKA_VERSION
KAFKA_PORT=$KAFKA_PORT
CONTROLLER_PORT=$CONTROLLER_PORT
REDIS_PORT=$REDIS_PORT
HEAP=$HEAP
SECURE=$SECURE
EOF
    # Refuse before starting anything: a half-started stack is worse than
    # none.
    alive "$STATE/redis/pid" || ! port_in_use "$REDIS_PORT" \
      || die "redis: port $REDIS_PORT is already in use by another process (choose --redis-port)"
    for ((n = 1; n <= BROKERS_N; n++)); do
      alive "$STATE/kafka-$n/pid" && continue
      ! port_in_use $((KAFKA_PORT + n - 1)) \
        || die "kafka node $n: port $((KAFKA_PORT + n - 1)) is already in use by another process (choose --kafka-port)"
      ! port_in_use $((CONTROLLER_PORT + n - 1)) \
        || die "kafka node $n: controller port $((CONTROLLER_PORT + n - 1)) is already in use by another process (choose --controller-port)"
    done
    fetch_jars
    write_log_configs
    [ -f "$STATE/cluster-id" ] || kafka_java kafka.tools.StorageTool random-uuid >"$STATE/cluster-id"
    [ "$SECURE" = 1 ] && sec_init
    start_redis
    for ((n = 1; n <= BROKERS_N; n++)); do start_kafka_node $n; done
    wait_ready
    log "up in $((SECONDS - start))s: kafka $KAFKA_VERSION at $(bootstrap), redis at 127.0.0.1:$REDIS_PORT"
    ;;
  down)
    for d in "$STATE"/kafka-*; do
      [ -d "$d" ] && stop_pid "kafka node ${d##*-}" "$d/pid"
    done
    stop_pid redis "$STATE/redis/pid"
    if [ $wipe = 1 ]; then
      rm -rf "$STATE"
      log "wiped $STATE"
    fi
    ;;
  status)
    rc=0
    for ((n = 1; n <= BROKERS_N; n++)); do
      if alive "$STATE/kafka-$n/pid"; then
        echo "kafka-$n running pid=$(cat "$STATE/kafka-$n/pid") addr=127.0.0.1:$((KAFKA_PORT + n - 1)) version=$KAFKA_VERSION"
      else
        echo "kafka-$n stopped"; rc=1
      fi
    done
    if alive "$STATE/redis/pid"; then
      echo "redis running pid=$(cat "$STATE/redis/pid") addr=127.0.0.1:$REDIS_PORT"
    else
      echo "redis stopped"; rc=1
    fi
    exit $rc
    ;;
  logs)
    files=()
    if [ "$which" != redis ]; then
      for d in "$STATE"/kafka-*; do [ -f "$d/kafka.log" ] && files+=("$d/kafka.log"); done
    fi
    [ "$which" != kafka ] && [ -f "$STATE/redis/redis.log" ] && files+=("$STATE/redis/redis.log")
    [ ${#files[@]} -gt 0 ] || die "no logs under $STATE"
    if [ $follow = 1 ]; then exec tail -F "${files[@]}"; else tail -n 200 "${files[@]}"; fi
    ;;
  env)
    echo "export SF_BROKERS=$(bootstrap)"
    echo "export SF_REDIS_HOST=127.0.0.1"
    echo "export SF_REDIS_PORT=$REDIS_PORT"
    echo "export SF_KAFKA_JARS=$JARS"
    if [ "$SECURE" = 1 ]; then sec_env; fi
    ;;
  jars-dir)
    fetch_jars
    echo "$JARS"
    ;;
  *)
    die "unknown command '$cmd' (up|down|status|logs|env|jars-dir)"
    ;;
esac
