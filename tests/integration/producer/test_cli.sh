#!/usr/bin/env bash
# sf-publish end to end: help, setup errors (exit 2), bad lines named by
# line number and field path (exit 1), a clean run (exit 0), an unreachable
# broker (bounded retries, exit 1), and --create-topic: creates with
# history-keeping settings, refuses (and never changes) a compacted topic.
. "$(dirname "$0")/lib.sh"

expect_rc() { # want cmd...
  local want=$1 rc; shift
  set +e; "$@"; rc=$?; set -e
  [ $rc -eq "$want" ] || fail "exit $rc, want $want: $*"
}

expect_rc 0 "$PUB" --help >"$WORK/help"
grep -q 'Usage: sf-publish -b BROKERS -t TOPIC' "$WORK/help" || fail "--help text"
expect_rc 0 "$PUB" -X list >"$WORK/xlist"
grep -q 'sf.schema.dir' "$WORK/xlist" || fail "-X list"
expect_rc 2 "$PUB" -t x </dev/null 2>"$WORK/e"
grep -q 'required' "$WORK/e" || fail "missing -b not explained"
expect_rc 2 "$PUB" -b "$BROKERS" -t x -X no.such.prop=1 </dev/null 2>"$WORK/e"
grep -q 'no.such.prop' "$WORK/e" || fail "unknown -X not named"
expect_rc 2 "$PUB" -b "$BROKERS" -t x -X sf.bogus=1 </dev/null 2>"$WORK/e"
grep -q 'sf.bogus' "$WORK/e" || fail "unknown sf.* not named"
expect_rc 2 "$PUB" -b "$BROKERS" -t x -s /nonexistent </dev/null 2>"$WORK/e"
grep -q '/nonexistent' "$WORK/e" || fail "bad schema dir not named"

# Bad lines: each reported with its number and field, the good ones sent.
t=$(new_topic cli)
cat >"$WORK/mixed.jsonl" <<'JSON'
{"type":"shop.cart.CartOpened","aggregate_id":"c-1","version":1,"data":{"cart_id":"c-1","customer_id":"a","opened_at":1}}

{"type":"shop.cart.ItemAddedToCart","aggregate_id":"c-1","version":2,"data":{"cart_id":"c-1","sku":"s","quantity":"2","unit_price_cents":5,"added_at":1}}
{"type":"shop.cart.NoSuchEvent","aggregate_id":"c-1","data":{}}
{"type":"shop.cart.CartCheckedOut","data":{"cart_id":"c-1","checked_out_at":1}}
not json
{"type":"shop.cart.CartCheckedOut","aggregate_id":"c-1","version":"3","data":{"cart_id":"c-1","checked_out_at":1}}
{"type":"shop.cart.CartCheckedOut","aggregate_id":"c-1","occurred_at":"yesterday","data":{"cart_id":"c-1","checked_out_at":1}}
{"type":"shop.cart.CartCheckedOut","aggregate_id":"c-1","version":3,"occurred_at":"2026-01-01T00:00:00Z","data":{"cart_id":"c-1","checked_out_at":1}}
{"type":"shop.cart.CartCheckedOut","aggregate_id":"c-1","headers":{"ce_id":"forged"},"data":{"cart_id":"c-1","checked_out_at":1}}
{"type":"shop.cart.CartCheckedOut","aggregate_id":"c-1","headers":{"tenant":7},"data":{"cart_id":"c-1","checked_out_at":1}}
JSON
expect_rc 1 "$PUB" -b "$BROKERS" -t "$t" -s "$SCHEMAS" --create-topic \
  <"$WORK/mixed.jsonl" 2>"$WORK/mixed.err"
for want in 'line 3: data.quantity: expected int, got string' \
            'line 4: type: unknown event type "shop.cart.NoSuchEvent"' \
            'line 5: aggregate_id: missing aggregate id' \
            'line 6: invalid JSON' \
            'line 7: version: expected integer >= 1, got string' \
            'line 8: occurred_at: ' \
            'line 10: headers: header "ce_id" is written by the library' \
            'line 11: headers.tenant: expected string, got integer' \
            'sf-publish: delivered 2, failed 8 (8 bad lines)'; do
  grep -qF "$want" "$WORK/mixed.err" || fail "missing \"$want\" in: $(cat "$WORK/mixed.err")"
done
grep -q '^line 1:\|^line 2:\|^line 9:' "$WORK/mixed.err" && fail "good line reported as bad"
peer "$t" >"$WORK/mixed.out"
[ "$(wc -l <"$WORK/mixed.out")" -eq 2 ] || fail "expected the 2 good events on the topic"
[ "$(jq -r '.headers.ce_sequence' "$WORK/mixed.out" | paste -sd,)" = "1,3" ] \
  || fail "good events not in order"
log "bad lines named with line and field; good lines delivered; exit 1"

# All good: exit 0.
for i in $(seq 1 50); do
  printf '{"type":"shop.cart.CartCheckedOut","aggregate_id":"c-%d","data":{"cart_id":"c-%d","checked_out_at":%d}}\n' $i $i $i
done >"$WORK/good.jsonl"
expect_rc 0 "$PUB" -b "$BROKERS" -t "$t" -s "$SCHEMAS" <"$WORK/good.jsonl" 2>"$WORK/good.err"
grep -qF 'sf-publish: delivered 50, failed 0' "$WORK/good.err" || fail "summary: $(cat "$WORK/good.err")"
[ "$(peer "$t" | wc -l)" -eq 52 ] || fail "expected 52 events on the topic"
log "clean input: delivered 50, exit 0"

# No broker: bounded retries (message.timeout.ms), then failed, exit 1.
start=$(date +%s)
expect_rc 1 "$PUB" -b 127.0.0.1:1 -t "$t" -s "$SCHEMAS" -X message.timeout.ms=2000 \
  -X log_level=0 <<<"$(head -2 "$WORK/good.jsonl")" 2>"$WORK/down.err"
took=$(( $(date +%s) - start ))
grep -qF 'sf-publish: delivered 0, failed 2' "$WORK/down.err" || fail "summary: $(cat "$WORK/down.err")"
grep -q 'delivery failed' "$WORK/down.err" || fail "no per-event failure line"
# The bound only tells the -X value (2 s) from the 120 s default, with room
# for a loaded machine; it is not a timing assertion.
[ $took -lt 60 ] || fail "took ${took}s with message.timeout.ms=2000 (default 120 s not overridden?)"
log "unreachable broker: failed after ${took}s, exit 1"

# --create-topic: the topic it made keeps history.
t2=$(new_topic create)
expect_rc 0 "$PUB" -b "$BROKERS" -t "$t2" -s "$SCHEMAS" --create-topic --partitions 5 </dev/null
topic_tool --describe --topic "$t2" >"$WORK/desc"
grep -q 'PartitionCount: 5' "$WORK/desc" || fail "partitions: $(cat "$WORK/desc")"
for kv in cleanup.policy=delete retention.ms=-1 retention.bytes=-1; do
  grep -q "$kv" "$WORK/desc" || fail "$kv missing: $(head -1 "$WORK/desc")"
done
expect_rc 0 "$PUB" -b "$BROKERS" -t "$t2" -s "$SCHEMAS" --create-topic </dev/null

# ...and refuses an existing topic that would delete history, unchanged.
t3=$(new_topic compact)
topic_tool --create --topic "$t3" --partitions 1 --config cleanup.policy=compact >/dev/null
expect_rc 2 "$PUB" -b "$BROKERS" -t "$t3" -s "$SCHEMAS" --create-topic </dev/null 2>"$WORK/c.err"
grep -q 'cleanup.policy=compact' "$WORK/c.err" || fail "refusal not explained: $(cat "$WORK/c.err")"
t4=$(new_topic retention)
topic_tool --create --topic "$t4" --partitions 1 --config retention.ms=86400000 >/dev/null
expect_rc 2 "$PUB" -b "$BROKERS" -t "$t4" -s "$SCHEMAS" --create-topic </dev/null 2>"$WORK/r.err"
grep -q 'retention.ms=86400000' "$WORK/r.err" || fail "refusal not explained: $(cat "$WORK/r.err")"
topic_tool --describe --topic "$t3" | grep -q 'cleanup.policy=compact' || fail "compacted topic was changed"
topic_tool --describe --topic "$t4" | grep -q 'retention.ms=86400000' || fail "retention was changed"
log "--create-topic: creates history-keeping topics, refuses and keeps others"
echo "PASS"
