#!/usr/bin/env bash
# deploy/stack.sh lifecycle on a PRIVATE state folder and ports:
#   up, up again (harmless), down, up (data kept), down --wipe;
#   up with the Kafka port already taken fails within 60 s, naming the port.
set -euo pipefail
src=${SF_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
stack="$src/deploy/stack.sh"
export SF_STATE_DIR
SF_STATE_DIR=$(mktemp -d /tmp/sf-stacktest.XXXXXX)
KP=${SF_TEST_KAFKA_PORT:-21092} CP=${SF_TEST_CONTROLLER_PORT:-21192} RP=${SF_TEST_REDIS_PORT:-21379}
blocker=""
cleanup() {
  "$stack" down --wipe >/dev/null 2>&1 || true
  [ -n "$blocker" ] && redis-cli -p "$KP" shutdown nosave >/dev/null 2>&1 || true
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }
ports=(--kafka-port "$KP" --controller-port "$CP" --redis-port "$RP")

"$stack" up "${ports[@]}" || fail "first up"
"$stack" status >/dev/null || fail "status after up"
echo hello | kcat -P -b 127.0.0.1:$KP -t keepme -k k || fail "produce"
ok "up"
out=$("$stack" up "${ports[@]}" 2>&1) || fail "second up: $out"
grep -q "already running" <<<"$out" || fail "second up did not notice the running stack: $out"
ok "up twice is harmless"
"$stack" down || fail "down"
"$stack" status >/dev/null && fail "status says running after down"
[ -d "$SF_STATE_DIR/kafka-1/data" ] || fail "down removed the data"
ok "down keeps data"
"$stack" up || fail "up after down (settings from the state folder)"
got=$(kcat -C -b 127.0.0.1:$KP -t keepme -o beginning -e -q -f '%k=%s\n' 2>/dev/null)
[ "$got" = "k=hello" ] || fail "record lost across down/up: '$got'"
ok "up again, data still there"
"$stack" down --wipe || fail "down --wipe"
[ -e "$SF_STATE_DIR" ] && fail "state folder not wiped"
ok "down --wipe"

# Something else holds the Kafka port.
redis-server --port "$KP" --bind 127.0.0.1 --daemonize yes --save "" \
  --appendonly no --dir /tmp >/dev/null
blocker=1
start=$SECONDS
if out=$("$stack" up "${ports[@]}" 2>&1); then
  fail "up succeeded with port $KP taken"
fi
[ $((SECONDS - start)) -le 60 ] || fail "took $((SECONDS - start))s to fail"
grep -q "port $KP is already in use" <<<"$out" || fail "unclear error: $out"
ok "taken port fails in $((SECONDS - start))s: $(tail -1 <<<"$out")"
echo "$passed passed, 0 failed"
