#!/bin/sh
# Runs fuzz_decode for a bounded time over a seed corpus of real events
# (every example event, encoded by sf-schema; plus bodies prefixed with the
# schema-selector byte the target uses).
# usage: run_fuzz.sh FUZZ_DECODE SF_SCHEMA DOMAINS EXAMPLES [SECONDS]
set -eu
FUZZ=$1 SF=$2 DOM=$3 EX=$4 SECS=${5:-${SF_FUZZ_SECONDS:-60}}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir "$TMP/corpus"
"$SF" encode -s "$DOM" --hex < "$EX" > "$TMP/seeds.hex"
python3 - "$TMP/seeds.hex" "$TMP/corpus" <<'PY'
import sys
for i, line in enumerate(open(sys.argv[1])):
    b = bytes.fromhex(line.strip())
    open("%s/seed%02d" % (sys.argv[2], i), "wb").write(b)
    for sel in range(16):  # body behind the selector byte of the target
        open("%s/body%02d_%02d" % (sys.argv[2], i, sel), "wb").write(bytes([sel]) + b[10:])
PY
[ "$(ls "$TMP/corpus" | wc -l)" -ge 12 ] || { echo "run_fuzz: no seeds" >&2; exit 1; }
# -detect_leaks=0: avro-c packs map/array elements without alignment
# padding, so LeakSanitizer's mid-run scans miss misaligned pointers and
# report false leaks.  The target frees everything at exit, where ASan's
# final leak check still runs and catches real leaks.
"$FUZZ" -max_total_time="$SECS" -rss_limit_mb=1024 -max_len=4096 \
        -detect_leaks=0 -print_final_stats=1 "$TMP/corpus"
