#!/usr/bin/env bash
# deploy/topics.sh against the running stack: creates a topic with the
# history-keeping settings, accepts it on a second run, and refuses (exit 1,
# naming the setting) a topic whose retention would delete history.
set -euo pipefail
src=${SF_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
b=${SF_BROKERS:-127.0.0.1:9092}
t="t-topics-$$-$RANDOM"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$src/deploy/topics.sh" create -b "$b" -p 4 "$t" 2>out.$$ || fail "create: $(cat out.$$)"
grep -q "created (4 partitions" out.$$ || fail "create did not report: $(cat out.$$)"
[ "$(kcat -b "$b" -L 2>/dev/null | grep -c "topic \"$t\" with 4 partitions")" = 1 ] \
  || fail "topic $t not visible with 4 partitions"
"$src/deploy/topics.sh" create -b "$b" "$t" 2>out.$$ || fail "second create: $(cat out.$$)"
grep -q "$t: ok" out.$$ || fail "second create did not check: $(cat out.$$)"

jars=$("$src/deploy/stack.sh" jars-dir)
java -cp "$jars/*" -Dlog4j.configuration=file:/dev/null org.apache.kafka.tools.TopicCommand \
  --bootstrap-server "$b" --create --topic "$t-short" --partitions 1 \
  --config retention.ms=60000 >/dev/null 2>&1 || fail "could not create $t-short"
if "$src/deploy/topics.sh" create -b "$b" "$t-short" 2>out.$$; then
  fail "topics.sh accepted a topic with retention.ms=60000"
fi
grep -q "retention.ms=60000 would delete history" out.$$ || fail "no clear error: $(cat out.$$)"
"$src/deploy/topics.sh" check -b "$b" "$t-missing-$$" 2>out.$$ && fail "check accepted a missing topic"
grep -q "does not exist" out.$$ || fail "no clear error for missing topic: $(cat out.$$)"
rm -f out.$$
java -cp "$jars/*" -Dlog4j.configuration=file:/dev/null org.apache.kafka.tools.TopicCommand \
  --bootstrap-server "$b" --delete --topic "$t-short" >/dev/null 2>&1 || true
java -cp "$jars/*" -Dlog4j.configuration=file:/dev/null org.apache.kafka.tools.TopicCommand \
  --bootstrap-server "$b" --delete --topic "$t" >/dev/null 2>&1 || true
echo "1 passed, 0 failed"
