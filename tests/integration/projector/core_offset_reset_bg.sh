#!/usr/bin/env bash
# core_offset_reset_bg.sh - the group reset --to-earliest (Kafka's own
# ConsumerGroupCommand) of a projection that has a spare database: the next
# `run` rebuilds the view blue/green exactly once, commits the rebuilt
# checkpoints as its own and starts; Kafka's --describe then shows LAG 0.
# (A blue/green rebuild leaves the group's offsets to the workers: without
# that commit the reset was judged again and rebuilt in a loop.)  A private
# Redis, since SWAPDB switches whole databases.
TEST=core_offset_reset_bg
. "$(dirname "$0")/core_lib.sh"
need
command -v java >/dev/null || { log "SKIP: java missing"; exit $SKIP; }
jars=${SF_KAFKA_JARS:-$("$SF_SOURCE_DIR/deploy/stack.sh" jars-dir)}
cgc() { java -cp "$jars/*" -Dlog4j.configuration=file:/dev/null \
  org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$SF_BROKERS" "$@"; }
wait_log() { # wait_log NAME PATTERN SECONDS
  local i
  for i in $(seq 1 $(( $3 * 5 ))); do grep -q -- "$2" "$WORK/$1.log" 2>/dev/null && return 0; sleep 0.2; done
  fail "$1 never logged '$2'"
}
private_redis_init
redis_up
SF_REDIS_PORT=$RP
T=$(new_topic resetbg 2)
P="rb-$ID"; G="sf-$P"
NAMES+=("$P")
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$EXAMPLES/cart-contents.rules.yaml", db: 0, spare_db: 1, batch: {size: 200, time_ms: 20}}
YAML
for i in $(seq 1 300); do
  c="k$((i % 30))"
  echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$c\",\"data\":{\"cart_id\":\"$c\",\"sku\":\"s$((i % 7))\",\"quantity\":1,\"unit_price_cents\":5,\"added_at\":2,\"currency\":\"EUR\"}}"
done | publish "$T"
start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 120
stop w TERM; expect_eq "worker exit" "$RC" 0
dump "cart:*" >"$WORK/before.txt"
[ -s "$WORK/before.txt" ] || fail "nothing projected"

cgc --reset-offsets --to-earliest --execute --group "$G" --topic "$T" >"$WORK/cgc.log" 2>&1 \
  || fail "reset --to-earliest: $(cat "$WORK/cgc.log")"
start w "$WORK/c.yaml"
wait_log w "rebuild after the offset reset done" 120
wait_lag0 "$WORK/c.yaml" "$P" 60
sleep 5   # a loop would have started its next rebuild by now
n=$(grep -c "reset to the earliest on every partition outside sf-projector: rebuilding" "$WORK/w.log" || true)
expect_eq "rebuilds after one reset to the earliest" "$n" 1
grep -q "switched: the new generation serves" "$WORK/w.log" || fail "the rebuild was not blue/green"
out=$(cgc --describe --group "$G" 2>/dev/null) || fail "describe failed"
for p in 0 1; do
  lag=$(awk -v t="$T" -v p=$p '$2 == t && $3 == p {print $6}' <<<"$out")
  cur=$(awk -v t="$T" -v p=$p '$2 == t && $3 == p {print $4}' <<<"$out")
  ck=$(rcli get "sf:$P:ckpt:$T:$p")
  expect_eq "partition $p LAG" "$lag" 0
  expect_eq "partition $p committed vs checkpoint+1" "$cur" "$((ck + 1))"
done
dump "cart:*" >"$WORK/after.txt"
diff "$WORK/before.txt" "$WORK/after.txt" >"$WORK/d.txt" || fail "rebuilt view differs: $(head -5 "$WORK/d.txt")"
stop w TERM; expect_eq "worker exit" "$RC" 0
redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1 || true
log "PASS"
