#!/usr/bin/env bash
# topics.sh - provisions Streamfold event topics so history is never deleted:
# cleanup.policy=delete, retention.ms=-1, retention.bytes=-1 (docs/design.md).
#
# Usage:
#   deploy/topics.sh create [-b BROKERS] [--command-config FILE] [-p PARTITIONS] [-r RF] TOPIC...
#   deploy/topics.sh check  [-b BROKERS] [--command-config FILE] TOPIC...
#
#   create  creates each missing topic (default 12 partitions, replication
#           factor min(3, number of brokers)); an existing topic is checked
#           instead, never changed.
#   check   verifies that each topic exists and keeps its history forever.
#
# Exit status: 0 when every topic is (now) fine; 1 when a topic's settings
# would delete history (reported with the offending setting, never silently
# changed), does not exist (check), or a Kafka call failed.
#
# BROKERS defaults to $SF_BROKERS, then 127.0.0.1:9092.  Uses the Kafka
# command-line tools from the jars deploy/stack.sh fetched.
#
# --command-config FILE: Java client properties for a secured cluster
# (security.protocol, sasl.mechanism, sasl.jaas.config, truststore...),
# handed to every Kafka tool this script runs, as Kafka's own scripts take
# it; default $SF_KAFKA_COMMAND_CONFIG (deploy/stack.sh env --secure sets
# it).  The file holds the password, so no secret is on a command line.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { echo "topics: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

cmd=${1:-}
case "$cmd" in
  -h|--help|help) usage; exit 0;;
  create|check) shift;;
  *) usage >&2; exit 2;;
esac

brokers=${SF_BROKERS:-127.0.0.1:9092} partitions=12 rf="" topics=()
cc=${SF_KAFKA_COMMAND_CONFIG:-}
while [ $# -gt 0 ]; do
  case "$1" in
    -b|--bootstrap-server) brokers=${2:?-b needs a value}; shift 2;;
    -p|--partitions) partitions=${2:?-p needs a value}; shift 2;;
    -r|--replication-factor) rf=${2:?-r needs a value}; shift 2;;
    --command-config) cc=${2:?--command-config needs a file}; shift 2;;
    -h|--help) usage; exit 0;;
    -*) die "unknown option '$1' (see --help)";;
    *) topics+=("$1"); shift;;
  esac
done
[ ${#topics[@]} -gt 0 ] || die "no topic named (see --help)"
[[ "$partitions" =~ ^[1-9][0-9]*$ ]] || die "partitions must be a positive number, got '$partitions'"
[ -z "$cc" ] || [ -r "$cc" ] || die "--command-config $cc: cannot read it"
ccargs=()
[ -n "$cc" ] && ccargs=(--command-config "$cc")

JARS=$("$HERE/stack.sh" jars-dir)
LOG4J=$(mktemp)
trap 'rm -f "$LOG4J"' EXIT
printf 'log4j.rootLogger=ERROR, e\nlog4j.appender.e=org.apache.log4j.ConsoleAppender\nlog4j.appender.e.Target=System.err\nlog4j.appender.e.layout=org.apache.log4j.PatternLayout\nlog4j.appender.e.layout.ConversionPattern=%%m%%n\n' >"$LOG4J"
kt() {
  java -Xmx256m -Dlog4j.configuration="file:$LOG4J" -cp "$JARS/*" "$@"
}
# ConfigCommand moved from core (Scala) to tools in Kafka 4.0.
config_cmd=kafka.admin.ConfigCommand
bav_cmd=kafka.admin.BrokerApiVersionsCommand
if [ -f "$(ls "$JARS"/kafka_2.13-4.* 2>/dev/null | head -1)" ]; then
  config_cmd=org.apache.kafka.tools.ConfigCommand
  bav_cmd=org.apache.kafka.tools.BrokerApiVersionsCommand
fi

# Number of brokers, from a metadata request.  On a secured cluster the
# Java tools speak for us (kcat would need the same secrets in another
# format).
if [ -n "$cc" ]; then
  # a broker that has just started may not answer the first admin call
  for attempt in 1 2 3; do
    out=$(kt $bav_cmd --bootstrap-server "$brokers" "${ccargs[@]}" 2>&1 || true)
    # one line per broker node id; the bootstrap address may add an id -1
    nbrokers=$({ grep -oE ' \(id: [0-9]+ ' <<<"$out" || true; } | sort -u | wc -l)
    [ "$nbrokers" -ge 1 ] && break
    sleep 2
  done
  [ "$nbrokers" -ge 1 ] || die "no broker answered at $brokers: $(grep -m1 -iE 'error|exception' <<<"$out" || tail -1 <<<"$out")"
  listing=$(kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$brokers" "${ccargs[@]}" --list 2>/dev/null || true)
else
  nbrokers=$(kcat -b "$brokers" -L -m 10 2>/dev/null | grep -c '^  broker ' || true)
fi
[ "$nbrokers" -ge 1 ] || die "no broker answered at $brokers"
[ -n "$rf" ] || rf=$((nbrokers < 3 ? nbrokers : 3))

# A metadata request naming a topic would auto-create it on brokers that
# allow that, so ask for all topics and look for it.
exists() {
  if [ -n "$cc" ]; then
    grep -qxF "$1" <<<"$listing"
  else
    # read whole: with pipefail, grep -q leaving early would fail kcat
    grep -qF "  topic \"$1\" with " <<<"$(kcat -b "$brokers" -L -m 10 2>/dev/null)"
  fi
}

# Reports each setting of an existing topic that would delete history.
check_topic() {
  local t=$1 out bad=0 policy ms bytes
  out=$(kt $config_cmd --bootstrap-server "$brokers" "${ccargs[@]}" --entity-type topics \
        --entity-name "$t" --describe --all 2>&1) \
    || { echo "topics: $t: cannot read its configuration: ${out##*$'\n'}" >&2; return 1; }
  policy=$(sed -n 's/^ *cleanup\.policy=\([^ ]*\) .*/\1/p' <<<"$out")
  ms=$(sed -n 's/^ *retention\.ms=\([^ ]*\) .*/\1/p' <<<"$out")
  bytes=$(sed -n 's/^ *retention\.bytes=\([^ ]*\) .*/\1/p' <<<"$out")
  if [ "$policy" != delete ]; then
    echo "topics: $t: cleanup.policy=$policy would delete history (want delete)" >&2; bad=1
  fi
  if [ "$ms" != -1 ]; then
    echo "topics: $t: retention.ms=$ms would delete history (want -1)" >&2; bad=1
  fi
  if [ "$bytes" != -1 ]; then
    echo "topics: $t: retention.bytes=$bytes would delete history (want -1)" >&2; bad=1
  fi
  [ $bad = 0 ] && echo "topics: $t: ok (cleanup.policy=delete retention.ms=-1 retention.bytes=-1)" >&2
  return $bad
}

rc=0
for t in "${topics[@]}"; do
  if exists "$t"; then
    check_topic "$t" || rc=1
  elif [ "$cmd" = check ]; then
    echo "topics: $t: does not exist" >&2; rc=1
  else
    if out=$(kt org.apache.kafka.tools.TopicCommand --bootstrap-server "$brokers" "${ccargs[@]}" \
          --create --if-not-exists --topic "$t" --partitions "$partitions" \
          --replication-factor "$rf" --config cleanup.policy=delete \
          --config retention.ms=-1 --config retention.bytes=-1 2>&1); then
      echo "topics: $t: created ($partitions partitions, replication factor $rf)" >&2
    else
      echo "topics: $t: create failed: ${out##*$'\n'}" >&2; rc=1
    fi
  fi
done
exit $rc
