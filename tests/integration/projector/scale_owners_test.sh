#!/usr/bin/env bash
# scale_owners_test.sh - scale_owners.py against worker logs written by
# hand, where the answer is known: the unowned time of a partition runs
# from the start of its holder's revoke (the "revoked" line minus its
# callback_s) or from a kill, to the next holder's "assigned" line; time
# while two hold it, or before its first assignment, is not unowned.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/sf-owners-test.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "scale_owners_test: FAIL: $*" >&2; exit 1; }
line() { # line SECONDS PARTITION MSG [more fields]
  printf 'ts=2026-11-30T10:00:%06.3fZ level=info projection=cc partition=%s msg="%s"%s\n' "$1" "$2" "$3" "${4:-}"
}
assigned() { line "$1" "$2" "assigned, resuming from the redis checkpoint"; }
{
  assigned 1.000 0        # first assignment: starts nothing
  assigned 1.000 1
  assigned 1.000 2
  line 10.000 0 revoked " callback_s=1.500"   # released at 8.5
  line 12.000 2 "assignment lost: fenced out of the group"
} >"$W/worker1.log"
{
  assigned 11.000 0       # 0: unowned 8.5 -> 11.0 = 2.5 s
  assigned 12.500 2       # 2: unowned 12.0 -> 12.5 = 0.5 s (not listed)
  assigned 20.000 1       # 1: worker 1 killed at 14.0 -> 6.0 s
} >"$W/worker2.log"
{
  assigned 2.000 3        # 3: held by worker 3, then also by 2 (overlap)
  line 30.000 3 revoked   # without callback_s: the line's own time
} >"$W/worker3.log"
assigned 30.000 3 >>"$W/worker2.log"  # same instant as the revoke: no gap
base=$(python3 -c 'import datetime; print(datetime.datetime(2026,11,30,10,0,0,tzinfo=datetime.timezone.utc).timestamp())')
echo "$(python3 -c "print($base + 14.0)") kill 1" >"$W/events"
out=$(python3 "$HERE/scale_owners.py" cc "$W/events" "$W"/worker1.log "$W"/worker2.log "$W"/worker3.log)
echo "$out"
grep -qx 'partition=0 longest_unowned=2.5s' <<<"$out" || fail "partition 0 should be unowned 2.5 s"
grep -qx 'partition=1 longest_unowned=6.0s' <<<"$out" || fail "partition 1 should be unowned 6.0 s (kill at 14.0)"
grep -q '^partition=2 ' <<<"$out" && fail "partition 2 (0.5 s) should not be listed"
grep -q '^partition=3 ' <<<"$out" && fail "partition 3 was never unowned"
grep -qx 'max_unowned=6.0 partition=1 lost=1 rebalance_moves=8' <<<"$out" || fail "summary line"
# SCALE_OWNERS_FROM: only time after it counts
out=$(SCALE_OWNERS_FROM=$(python3 -c "print($base + 17.0)") python3 "$HERE/scale_owners.py" cc "$W/events" "$W"/worker*.log)
grep -q '^max_unowned=3.0 partition=1 ' <<<"$out" || fail "SCALE_OWNERS_FROM: partition 1 should count 3.0 s, got: $out"
echo "scale_owners_test: PASS"
