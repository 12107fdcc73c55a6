#!/usr/bin/env bash
# tests/run.sh - the one test command (README.md, .ci/run): installs the
# dependencies, builds, brings the local stack up, runs every test that is
# not opt-in, and takes the stack down again even when something fails.
#
#   tests/run.sh                 # everything but benchmarks and long soaks
#   tests/run.sh -L unit         # extra arguments go to ctest
#   SF_SANITIZE=0 tests/run.sh   # skip the ASan/UBSan pass over unit tests
#                                # (and so the projector_asan_* fault tests,
#                                # which run the worker built here)
#   SF_BENCH=1 tests/run.sh      # also the benchmarks (label "bench")
#   SF_COMPAT=1 tests/run.sh     # also Kafka 4.x compatibility (label "compat")
#   SF_LONG=1 tests/run.sh       # full-size fault tests (slow)
#
# A stack that is already running (deploy/stack.sh status) is used as it is
# and left running; one this script started is stopped at the end.
# Exit status: 0 only if every test passed.
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
BUILD=${SF_BUILD_DIR:-$REPO/build}
JOBS=${SF_JOBS:-2}
started_stack=0

stop_stack() {
  if [ $started_stack = 1 ]; then
    [ -n "${stack_pid:-}" ] && wait "$stack_pid" 2>/dev/null
    deploy/stack.sh down || echo "run.sh: stack down failed" >&2
  fi
}
trap stop_stack EXIT

step() { echo "== $* ($(date -u +%H:%M:%S))"; }

step "dependencies"
deploy/install-deps.sh || { echo "run.sh: dependency install failed" >&2; exit 1; }

# The stack (a JVM starting Kafka, ~45 s) comes up while the code builds.
stack_pid="" stack_log=$(mktemp "${TMPDIR:-/tmp}/sf-run-stack.XXXXXX")
if ! deploy/stack.sh status >/dev/null 2>&1; then
  started_stack=1
  deploy/stack.sh up >"$stack_log" 2>&1 &
  stack_pid=$!
fi

# The main build is Release, the build type users install, so the optimiser's
# extra warnings (-Wformat-truncation, FORTIFY) are checked in CI at no added
# build time; the sanitizer build below covers Debug.
step "build ($BUILD, Release)"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null \
  || { echo "run.sh: cmake configure failed" >&2; exit 1; }
cmake --build "$BUILD" -j "$JOBS" || { echo "run.sh: build failed" >&2; exit 1; }

rc=0
if [ "${SF_SANITIZE:-1}" = 1 ]; then
  step "unit and fuzz tests under ASan+UBSan, clang ($BUILD-asan)"
  CC=clang cmake -S . -B "$BUILD-asan" -G Ninja -DSF_SANITIZE=ON -DSF_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=Debug >/dev/null \
    && cmake --build "$BUILD-asan" -j "$JOBS" \
    && (cd "$BUILD-asan" && ASAN_OPTIONS=detect_leaks=1 \
        UBSAN_OPTIONS=print_stacktrace=1 ctest -L "unit|fuzz" --output-on-failure) \
    || { echo "run.sh: sanitizer unit tests failed" >&2; rc=1; }
fi

step "stack"
if [ -n "$stack_pid" ]; then
  wait "$stack_pid" || { cat "$stack_log" >&2; echo "run.sh: stack up failed" >&2; exit 1; }
  cat "$stack_log"
else
  echo "run.sh: using the running stack"
fi
eval "$(deploy/stack.sh env)"
export SF_BROKERS SF_REDIS_HOST SF_REDIS_PORT SF_KAFKA_JARS

step "tests"
# Opt-in labels: bench (benchmarks), compat (a private Kafka 4.x broker).
optin=()
[ "${SF_BENCH:-0}" = 1 ] || optin+=(bench)
[ "${SF_COMPAT:-0}" = 1 ] || optin+=(compat)
exclude=$(IFS='|'; echo "${optin[*]:-^\$}")
(cd "$BUILD" && ctest --output-on-failure -LE "$exclude" --timeout 900 "$@") || rc=1

step "done: $([ $rc = 0 ] && echo PASSED || echo FAILED)"
exit $rc
