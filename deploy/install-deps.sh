#!/usr/bin/env bash
# install-deps.sh - installs everything Streamfold needs to build, run and
# test, from Debian (apt-get) and PyPI (test peers only).  Idempotent: a
# second run installs nothing new and takes a few seconds.
#
#   deploy/install-deps.sh            # build + run + test dependencies
#   SF_SKIP_PIP=1 deploy/install-deps.sh   # no Python test peers
#   SF_BENCH=1 deploy/install-deps.sh      # + the benchmark's extras (tests/bench/run.sh)
set -euo pipefail

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  libavro-dev libcmocka-dev libjansson-dev
  libyaml-dev libmicrohttpd-dev uuid-dev
  dpkg-dev libssl-dev libsasl2-dev libzstd-dev zlib1g-dev openssl
  redis-server redis-tools
  openjdk-17-jre-headless maven kcat
  python3 python3-pip python3-venv
  procps iproute2 time curl jq
  systemd clang-format          # systemd-analyze (unit checks), the C style check
)
# Python peers used by the interop tests as clients no one here wrote.
PIP_PACKAGES=(fastavro==1.13.1 confluent-kafka==2.16.1 prometheus-client==0.26.0)
# Benchmark extras, only with SF_BENCH=1 (the default CI does not run the
# benchmark): redis-py for the Python projector it measures against,
# matplotlib for its plots.  kcat, also a contender, is in APT_PACKAGES.
BENCH_PIP_PACKAGES=(redis==5.2.1 matplotlib==3.11.2)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

# librdkafka and hiredis: Debian 12's are too old (no Redis TLS; librdkafka
# 2.0.2 predates KIP-848 and the Kafka 4 protocol floor), so the versions
# pinned in deploy/deps/sources.lock are built from Debian's own newer source
# packages into ~/.cache/streamfold/deps/prefix, once; CMake finds them there.
"$(dirname "${BASH_SOURCE[0]}")/deps/build.sh" \
  || { echo "install-deps: building librdkafka/hiredis failed" >&2; exit 1; }

if [ "${SF_SKIP_PIP:-0}" != 1 ]; then
  py=python3
  if ! $py -c 'import fastavro, confluent_kafka, prometheus_client' 2>/dev/null; then
    echo "install-deps: installing Python test peers ${PIP_PACKAGES[*]}" >&2
    # Debian's python3 is "externally managed"; the test peers are
    # deliberately isolated from the system in that case.
    $py -m pip install -q "${PIP_PACKAGES[@]}" 2>/dev/null \
      || $py -m pip install -q --break-system-packages "${PIP_PACKAGES[@]}"
  fi
  if [ "${SF_BENCH:-0}" = 1 ] && ! $py -c 'import redis, matplotlib' 2>/dev/null; then
    echo "install-deps: installing benchmark extras ${BENCH_PIP_PACKAGES[*]}" >&2
    $py -m pip install -q "${BENCH_PIP_PACKAGES[@]}" 2>/dev/null \
      || $py -m pip install -q --break-system-packages "${BENCH_PIP_PACKAGES[@]}"
  fi
fi
echo "install-deps: ok" >&2
