#!/usr/bin/env bash
# sanitized.sh DRIVER [ARGS...] - runs one end-to-end / fault test driver
# with the sf-projector built with AddressSanitizer + UndefinedBehavior-
# Sanitizer (SF_ASAN_BUILD_DIR, default $SF_BUILD_DIR-asan), and fails when
# any worker wrote a sanitizer report, even if the driver itself passed
# (a worker killed by the test, or one whose report did not change what
# the test checks, must still fail the run).
# Exit 77 (skip) when the sanitizer build has no sf-projector.
set -uo pipefail
: "${SF_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
: "${SF_BUILD_DIR:=$SF_SOURCE_DIR/build}"
ASAN_DIR=${SF_ASAN_BUILD_DIR:-$SF_BUILD_DIR-asan}
bin=$ASAN_DIR/projector/sf-projector
[ $# -ge 1 ] || { echo "usage: sanitized.sh DRIVER [ARGS...]" >&2; exit 2; }
[ -x "$bin" ] || { echo "SKIP: $bin not built (CC=clang cmake -B $ASAN_DIR -DSF_SANITIZE=ON)" >&2; exit 77; }
reports=$(mktemp -d /tmp/sf-sanitized.XXXXXX)
# Leaks are the unit tests' business (they run under LeakSanitizer); here
# workers are killed on purpose.  Any memory or UB error stops the worker.
export SF_PROJECTOR_BIN=$bin
# The Release build runs the drivers at full count; this pass looks for
# memory and UB errors on the same paths (kill -9 mid-batch, revoke during
# a retry, ...), which a few repetitions reach as well as ten.  Keeps the
# default CI run near its 30-minute budget; SF_LONG=1 runs the full count.
if [ "${SF_LONG:-0}" != 1 ]; then
  export SF_E2E_KILLS=${SF_E2E_KILLS:-5} SF_E2E_CYCLES=${SF_E2E_CYCLES:-2}
fi
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
rc=0
"$@" || rc=$?
if compgen -G "$reports/*" >/dev/null; then
  for f in "$reports"/*; do
    echo "--- sanitizer report $f:" >&2
    head -n 40 "$f" >&2
  done
  echo "FAIL: the sanitizer-built worker reported errors (driver exit $rc)" >&2
  rm -rf "$reports"
  exit 1
fi
rm -rf "$reports"
exit $rc
