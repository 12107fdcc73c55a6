#!/usr/bin/env bash
# Opt-in (ctest label "compat"): starts a PRIVATE stack with another Kafka
# version (default 3.9.2, the last 3.x line; the default broker is 4.4.0) on
# other ports, runs the Kafka feature check and the round trip through it
# with the linked librdkafka, and wipes the stack again.  The answer is
# recorded in README.md ("Versions").
#   SF_COMPAT_KAFKA_VERSION (default 3.9.2)
set -euo pipefail
src=${SF_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
bin=${SF_BUILD_DIR:-$src/build}/tests/integration/foundation
version=${SF_COMPAT_KAFKA_VERSION:-3.9.2}
export SF_STATE_DIR
SF_STATE_DIR=$(mktemp -d /tmp/sf-kafka-compat.XXXXXX)
trap '"$src/deploy/stack.sh" down --wipe >/dev/null 2>&1 || true' EXIT
"$src/deploy/stack.sh" up --kafka-version "$version" \
  --kafka-port 29092 --controller-port 29192 --redis-port 26379
# KIP-848's consumer protocol is GA from Kafka 4.0 on.
case "$version" in 3.*) export SF_FEATURES_NO_KIP848=1;; esac
"$bin/sf_kafka_features" 127.0.0.1:29092
"$bin/sf_roundtrip" 127.0.0.1:29092 127.0.0.1 26379
