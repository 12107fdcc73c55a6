#!/usr/bin/env bash
# Opt-in (SF_LONG=1): on a PRIVATE three-node cluster, --create-topic picks
# replication factor min(3, brokers) = 3, and keyed records still land on
# the Java partitioner's partition and are read back whole by the peer.
. "$(dirname "$0")/lib.sh"

if [ "${SF_LONG:-0}" != 1 ]; then
  echo "skipped: set SF_LONG=1 (starts a private 3-broker cluster)"
  exit 77
fi
free_port() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 50); do
  P1=$((19000 + (RANDOM % 1400) * 7)); P2=$((P1 + 3)); P3=$((P1 + 6))
  ok=1
  for p in $P1 $((P1 + 1)) $((P1 + 2)) $P2 $((P2 + 1)) $((P2 + 2)) $P3; do
    free_port $p || ok=0
  done
  [ $ok = 1 ] && break
done
STATE=$(mktemp -d "${TMPDIR:-/tmp}/sf-producer-stack3.XXXXXX")
stack() {
  SF_STATE_DIR=$STATE "$SRC/deploy/stack.sh" "$1" --brokers 3 \
    --kafka-port $P1 --controller-port $P2 --redis-port $P3 "${@:2}"
}
trap 'rc=$?; stack down --wipe >/dev/null 2>&1; rm -rf "$STATE"; cleanup $rc' EXIT
BROKERS=127.0.0.1:$P1,127.0.0.1:$((P1 + 1)),127.0.0.1:$((P1 + 2))

stack up --timeout 180 >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; fail "3-node stack up"; }
t="t-producer-c3-$$"
for i in $(seq 1 200); do
  printf '{"type":"shop.cart.CartCheckedOut","aggregate_id":"k-%d","version":1,"data":{"cart_id":"k-%d","checked_out_at":%d}}\n' $i $i $i
done >"$WORK/in.jsonl"
"$PUB" -b "$BROKERS" -t "$t" -s "$SCHEMAS" --create-topic --partitions 6 \
  <"$WORK/in.jsonl" 2>"$WORK/pub.err" || { cat "$WORK/pub.err" >&2; fail "sf-publish"; }
java -cp "$(kafka_libs)/*" org.apache.kafka.tools.TopicCommand \
  --bootstrap-server "$BROKERS" --describe --topic "$t" 2>/dev/null >"$WORK/desc"
grep -q 'ReplicationFactor: 3' "$WORK/desc" || fail "replication factor: $(head -1 "$WORK/desc")"
peer "$t" >"$WORK/out.jsonl"
[ "$(wc -l <"$WORK/out.jsonl")" -eq 200 ] || fail "expected 200 records"
jq -r '"\(.key)\t\(.partition)"' "$WORK/out.jsonl" | sort >"$WORK/actual"
jq -r .aggregate_id "$WORK/in.jsonl" \
  | java -cp "$(kafka_libs)/*" "$SRC/tests/interop/producer/Murmur.java" 6 | sort >"$WORK/expected"
diff "$WORK/expected" "$WORK/actual" >&2 || fail "partitions differ from kafka-clients"
log "3 brokers: topic created with RF 3; 200 records on the Java partitioner's partitions"
echo "PASS"
