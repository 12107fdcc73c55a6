#!/usr/bin/env bash
# Opt-in (ctest label "compat"): starts a PRIVATE Kafka 4.x stack on other
# ports, runs the Kafka feature check and the round trip through it with the
# system librdkafka, and wipes the stack again.  The answer is recorded in
# README.md ("Which Kafka").
#   SF_KAFKA4_VERSION (default 4.1.1)
set -euo pipefail
src=${SF_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
bin=${SF_BUILD_DIR:-$src/build}/tests/integration/foundation
export SF_STATE_DIR
SF_STATE_DIR=$(mktemp -d /tmp/sf-kafka4.XXXXXX)
trap '"$src/deploy/stack.sh" down --wipe >/dev/null 2>&1 || true' EXIT
"$src/deploy/stack.sh" up --kafka-version "${SF_KAFKA4_VERSION:-4.1.1}" \
  --kafka-port 29092 --controller-port 29192 --redis-port 26379
"$bin/sf_kafka_features" 127.0.0.1:29092
"$bin/sf_roundtrip" 127.0.0.1:29092 127.0.0.1 26379
