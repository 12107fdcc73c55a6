#!/usr/bin/env bash
# profile_rebuild.sh - where a rebuild's CPU goes, in the projector and in
# Redis, folded and with --no-fold, side by side (perf record -g).
#
#   tests/bench/projector/profile_rebuild.sh [EVENTS]     # default 100000
#
# Publishes EVENTS generated cart events (12 partitions) to a topic of its
# own, starts a private redis-server, rebuilds the cart-contents projection
# twice under `perf record` (the projector, and Redis by pid), and prints
# each one's summary line, Redis' time inside the apply script per event,
# sample counts and top symbols.  Needs perf
# (Debian: linux-perf) and the stack (deploy/stack.sh up); SF_BUILD_DIR as
# for the tests.  Opt-in, not run by ctest: perf needs
# kernel.perf_event_paranoid <= 1 or root.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${SF_SOURCE_DIR:-$(cd "$HERE/../../.." && pwd)}
B=${SF_BUILD_DIR:-$SRC/build}
command -v perf >/dev/null || { echo "profile_rebuild.sh: perf missing (apt-get install linux-perf)" >&2; exit 77; }
eval "$("$SRC/deploy/stack.sh" env)"
N=${1:-100000}
S=$SRC/schemas/domains E=$SRC/projector/examples
E2E=$B/tests/integration/projector/sf_e2e PROJ=$B/projector/sf-projector
W=$(mktemp -d /tmp/sf-profile.XXXXXX) T=sf-profile-$$
RP=$((23000 + RANDOM % 4000))
cleanup() {
  redis-cli -p "$RP" shutdown nosave >/dev/null 2>&1
  "$E2E" drop -t "$T" >/dev/null 2>&1
}
trap cleanup EXIT
redis-server --port "$RP" --bind 127.0.0.1 --dir "$W" --save "" --appendonly no \
  --daemonize yes >/dev/null || exit 1
"$E2E" publish --seed 7 --events "$N" --prefix "p$$" -t "$T" --schemas "$S" \
  --from 0 --to 0 --create 12 >/dev/null || exit 1
"$E2E" publish --seed 7 --events "$N" --prefix "p$$" -t "$T" --schemas "$S" >/dev/null || exit 1
cat >"$W/c.yaml" <<YAML
kafka:
  bootstrap.servers: "$SF_BROKERS"
redis: {host: "127.0.0.1", port: $RP}
schemas: "$S"
projections:
  - name: "prof$$"
    topics: ["$T"]
    rules: "$E/cart-contents.rules.yaml"
YAML
rpid=$(redis-cli -p "$RP" info server | awk -F: '/^process_id/ { print $2 }' | tr -d '\r')
top() { perf report -i "$1" --no-children --sort "$2" --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -"$3"; }
for mode in fold no-fold; do
  redis-cli -p "$RP" flushall >/dev/null
  redis-cli -p "$RP" config resetstat >/dev/null
  flag=(); [ $mode = no-fold ] && flag=(--no-fold)
  perf record -g -o "$W/redis-$mode.data" -p "$rpid" >/dev/null 2>&1 &
  pr=$!
  perf record -g -o "$W/proj-$mode.data" "$PROJ" rebuild "${flag[@]}" -c "$W/c.yaml" "prof$$" \
    2>"$W/rebuild-$mode.log" >/dev/null
  kill -INT "$pr"; wait "$pr"
  echo "== $mode: $(grep -h 'done:' "$W/rebuild-$mode.log")"
  # Redis' own time inside the apply script (the Lua frames perf cannot
  # name in a stripped redis-server; tests/bench/projector/lua_costs.py
  # prices its primitives)
  redis-cli -p "$RP" info commandstats | tr -d '\r' | awk -F'[:,=]' -v n="$N" \
    '/^cmdstat_evalsha:/ { printf "-- redis: apply script %.2f us per event (%d calls, INFO commandstats)\n", $5 / n, $3 }'

  for who in proj redis; do
    echo "-- $who: $(perf report -i "$W/$who-$mode.data" --stdio 2>/dev/null | grep -m1 '^# Samples')"
    top "$W/$who-$mode.data" dso 6
    top "$W/$who-$mode.data" dso,sym 15
  done
done
echo "perf data: $W"
