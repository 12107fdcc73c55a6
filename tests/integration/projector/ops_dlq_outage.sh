#!/usr/bin/env bash
# ops_dlq_outage.sh - dead letters cannot be written for a while (a private
# Kafka, SIGSTOPped after the worker consumed a poison record and before
# its batch is flushed): the worker keeps backing off instead of giving up,
# /readyz turns 503 saying "dead-lettering failing since ..." and, after
# metrics.stuck_after, naming the stuck partition; once Kafka answers
# again the poison is parked, the good event behind it applied, /readyz
# is 200 and the worker still stops cleanly.
TEST=ops_dlq_outage
. "$(dirname "$0")/core_lib.sh"
need
command -v curl >/dev/null || { log "SKIP: curl missing"; exit $SKIP; }
free() { ! ss -ltn | grep -q ":$1 "; }
for _ in $(seq 1 20); do
  KP=$(( 21000 + RANDOM % 8000 )); RP=$(( KP + 1 ))
  free "$KP" && free "$(( KP + 100 ))" && free "$RP" && break
done
STACK="$WORK/stack"
stack() { SF_STATE_DIR="$STACK" "$SF_SOURCE_DIR/deploy/stack.sh" "$@"; }
KPID=
stack_down() {
  [ -n "$KPID" ] && kill -CONT "$KPID" 2>/dev/null
  stack down >>"$WORK/stack.log" 2>&1 || true
}
trap 'r=$?; stack_down; (exit $r); cleanup' EXIT
stack up --kafka-port "$KP" --redis-port "$RP" --timeout 240 >>"$WORK/stack.log" 2>&1 \
  || fail "private stack did not start: $(tail -3 "$WORK/stack.log")"
KPID=$(cat "$STACK/kafka-1/pid")
SF_BROKERS=127.0.0.1:$KP; SF_REDIS_PORT=$RP   # everything below is private
T=$(new_topic out 1)
P="dlqout-$ID"; NAMES+=("$P")
cat >"$WORK/r.yaml" <<YAML
keys: ["$ID:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$ID:{aggregate_id}", "{data.sku}", "{data.quantity}"]
YAML
port=$(( KP + 2 ))
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", batch: {size: 1000, time_ms: 5000, idle_ms: 0}}
YAML
# idle_ms 0: the batch waits out its 5 s window, so the poison is still
# in it when the broker is frozen.
# the worker must keep its partition while the broker is frozen: a lost
# assignment drops the batch, and a worker without partitions is ready
sed -i 's/session.timeout.ms: 6000/session.timeout.ms: 120000/' "$WORK/c.yaml"
printf 'metrics: {listen: "127.0.0.1:%s", stuck_after: 4}\n' "$port" >>"$WORK/c.yaml"
good() { echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$1\",\"data\":{\"cart_id\":\"$1\",\"sku\":\"$2\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1}}"; }
good c before | publish "$T"
printf 'poison' | kcat -P -b "$SF_BROKERS" -t "$T" -p 0 -k c || fail "kcat"
good c after | publish "$T"
sleep 12   # the records are older than the worker's assignment by >= 12 s
get() { curl -s -m 5 -w ' %{http_code}' "http://127.0.0.1:$port$1" | tr -d '\n'; }
wait_body() { # wait_body PATH PATTERN SECONDS
  local i out
  for i in $(seq 1 $(( $3 * 2 ))); do
    out=$(get "$1"); grep -Eq "$2" <<<"$out" && return 0; sleep 0.5
  done
  fail "$1 never matched '$2' within $3 s; last: $out"
}
start w "$WORK/c.yaml"
# consumed, not flushed yet: lag_seconds is then the age of the records
L="{projection=\"$P\",topic=\"$T\",partition=\"0\"}"
ok=
for _ in $(seq 1 60); do
  mt=$(curl -s "http://127.0.0.1:$port/metrics" || true)
  s=$(sed -n "s/^streamfold_lag_seconds$L \([0-9]*\).*/\1/p" <<<"$mt")
  [ -n "$s" ] && [ "$s" -ge 10 ] && { ok=1; break; }
  sleep 0.2
done
[ -n "$ok" ] || fail "the worker did not consume the records: $(grep lag_ <<<"$mt")"
kill -STOP "$KPID"
log "kafka stopped (SIGSTOP) with the poison in the worker's batch"
wait_body /readyz "dead-lettering failing since .* 503$" 90
wait_body /readyz "$T/0 stuck: no progress .* 503$" 60
expect_eq "nothing applied meanwhile" "$(rcli hget "$ID:c" after)" ""
kill -CONT "$KPID"
log "kafka resumed"
wait_body /readyz "^ready 200$" 180
for _ in $(seq 1 60); do [ "$(rcli hget "$ID:c" after)" = 1 ] && break; sleep 0.5; done
expect_eq "events around the poison" "$(rcli hget "$ID:c" before) $(rcli hget "$ID:c" after)" "1 1"
grep -q "dead-letter failed, retrying" "$WORK/w.log" || fail "no back-off logged"
n=$(kcat -C -b "$SF_BROKERS" -t "$T.dlq" -e -q -f '%h\n' 2>/dev/null | grep -c "sf_dlq_offset=1" || true)
[ "$n" -ge 1 ] || fail "the poison never reached $T.dlq"
stop w TERM
expect_eq "worker exit" "$RC" 0
log "PASS"
