#!/usr/bin/env bash
# Opt-in (label "compat"): a PRIVATE three-node KRaft cluster comes up, every
# Kafka feature check passes against it, and topics.sh gives replication
# factor 3.
set -euo pipefail
src=${SF_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
bin=${SF_BUILD_DIR:-$src/build}/tests/integration/foundation
export SF_STATE_DIR
SF_STATE_DIR=$(mktemp -d /tmp/sf-cluster3.XXXXXX)
trap '"$src/deploy/stack.sh" down --wipe >/dev/null 2>&1 || true' EXIT
"$src/deploy/stack.sh" up --brokers 3 --kafka-port 23092 --controller-port 23192 --redis-port 23379
b=127.0.0.1:23092,127.0.0.1:23093,127.0.0.1:23094
"$bin/sf_kafka_features" "$b"
"$src/deploy/topics.sh" create -b "$b" -p 3 t-cluster3 2>&1 | tee /dev/stderr \
  | grep -q "replication factor 3" || { echo "FAIL: not RF 3" >&2; exit 1; }
[ "$(kcat -b "$b" -L -t t-cluster3 | grep -c 'replicas: [0-9],[0-9],[0-9]')" = 3 ] \
  || { echo "FAIL: partitions do not have 3 replicas" >&2; exit 1; }
echo "1 passed, 0 failed"
