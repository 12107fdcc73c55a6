# lib.sh - shared helpers of the producer integration tests (sourced).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${SF_SOURCE_DIR:-$(cd "$HERE/../../.." && pwd)}
BUILD=${SF_BUILD_DIR:-$SRC/build}
BROKERS=${SF_BROKERS:-127.0.0.1:9092}
SCHEMAS=$SRC/schemas/domains
PUB=$BUILD/producer/sf-publish
TOOL=$BUILD/tests/integration/producer/sfp_tool
PEER="python3 $SRC/tests/interop/producer/peer_read.py"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sf-producer-test.XXXXXX")

fail() { echo "FAIL: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

# Folder of the Kafka jars (kafka-clients for murmur2, the topic tools).
kafka_libs() {
  if [ -n "${SF_KAFKA_LIBS:-}" ]; then echo "$SF_KAFKA_LIBS"; return; fi
  local d
  d=$("$SRC/deploy/stack.sh" jars-dir 2>/dev/null | tail -1) || true
  if [ -n "$d" ] && [ -d "$d" ]; then echo "$d"; return; fi
  [ -d /tmp/kjars ] && { echo /tmp/kjars; return; }
  fail "no Kafka jars (deploy/stack.sh jars-dir failed)"
}

# A fresh topic name, deleted again when the test exits (recorded in a
# file because callers run this in a $(...) subshell).
new_topic() {
  local t="t-producer-$1-$$-$RANDOM"
  echo "$t" >>"$WORK/topics"
  echo "$t"
}

topic_tool() { # args for org.apache.kafka.tools.TopicCommand
  java -cp "$(kafka_libs)/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$BROKERS" "$@" 2>/dev/null
}

cleanup() {
  local rc=${1:-$?}
  if [ -s "$WORK/topics" ]; then
    topic_tool --delete --topic "$(paste -sd'|' "$WORK/topics")" \
      >/dev/null 2>&1 || true
  fi
  if [ $rc -eq 0 ]; then rm -rf "$WORK"; else echo "(work files kept in $WORK)" >&2; fi
}
trap cleanup EXIT

[ -x "$PUB" ] || fail "sf-publish not built at $PUB"
[ -x "$TOOL" ] || fail "sfp_tool not built at $TOOL"

# peer TOPIC [ISOLATION] > out.jsonl : the whole topic, decoded by the peer.
peer() {
  $PEER --brokers "$BROKERS" --topic "$1" --schemas "$SCHEMAS" \
        --isolation "${2:-read_committed}"
}
