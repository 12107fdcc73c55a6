#!/usr/bin/env bash
# Restarting the broker while publishing loses nothing and duplicates
# nothing.  On a PRIVATE stack (never the shared one): sfp_tool publishes
# 4000 events with known ids at ~200/s; meanwhile the broker is killed
# (SIGKILL) and started again.  Then the peer consumes the whole topic:
# every id exactly once, every aggregate's versions 1..200 in order.
. "$(dirname "$0")/lib.sh"

N=${SF_RESTART_EVENTS:-4000}
RATE=${SF_RESTART_RATE:-200}
free_port() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 50); do
  P1=$((19000 + (RANDOM % 3600) * 3)); P2=$((P1 + 1)); P3=$((P1 + 2))
  free_port $P1 && free_port $P2 && free_port $P3 && break
done
STATE=$(mktemp -d "${TMPDIR:-/tmp}/sf-producer-stack.XXXXXX")
stack() {
  SF_STATE_DIR=$STATE "$SRC/deploy/stack.sh" "$1" --kafka-port $P1 \
    --controller-port $P2 --redis-port $P3 "${@:2}"
}
LOADPID=
finish() {
  if [ -n "$LOADPID" ]; then kill "$LOADPID" 2>/dev/null || true; fi
  stack down --wipe >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap 'rc=$?; finish; cleanup $rc' EXIT
BROKERS=127.0.0.1:$P1

log "private stack on ports $P1/$P2/$P3"
stack up >"$WORK/up1.log" 2>&1 || { cat "$WORK/up1.log" >&2; fail "private stack up"; }
t="t-producer-restart-$$"
"$PUB" -b "$BROKERS" -t "$t" -s "$SCHEMAS" --create-topic --partitions 4 \
  </dev/null 2>"$WORK/pub.err" || { cat "$WORK/pub.err" >&2; fail "create topic"; }

"$TOOL" load "$BROKERS" "$t" "$SCHEMAS" "$N" "$RATE" >"$WORK/load.out" 2>"$WORK/load.err" &
LOADPID=$!
sleep 5
kpid=$(cat "$STATE/kafka-1/pid")
log "killing broker pid $kpid (SIGKILL) while publishing"
kill -KILL "$kpid"
# a JVM killed on a loaded box can take seconds to go; `stack up` would
# see its pid alive, call the node running and not start it again
for _ in $(seq 1 120); do kill -0 "$kpid" 2>/dev/null || break; sleep 0.25; done
kill -0 "$kpid" 2>/dev/null && fail "broker pid $kpid still alive 30 s after SIGKILL"
sleep 3
stack up >"$WORK/up2.log" 2>&1 || { cat "$WORK/up2.log" >&2; fail "broker restart"; }
log "broker back up"
set +e
wait "$LOADPID"; rc=$?
set -e
LOADPID=
[ $rc -eq 0 ] || fail "publisher: $(cat "$WORK/load.out") $(tail -5 "$WORK/load.err")"
grep -q "delivered $N failed 0" "$WORK/load.out" || fail "publisher: $(cat "$WORK/load.out")"

peer "$t" >"$WORK/out.jsonl"
total=$(wc -l <"$WORK/out.jsonl")
jq -r '.headers.ce_id' "$WORK/out.jsonl" | sort >"$WORK/ids"
dups=$(uniq -d "$WORK/ids" | wc -l)
seq 0 $((N - 1)) | sed 's/^/load-/' | sort >"$WORK/want"
missing=$(comm -23 "$WORK/want" "$WORK/ids" | wc -l)
[ "$dups" -eq 0 ] || fail "$dups duplicated event ids after the restart"
[ "$missing" -eq 0 ] || fail "$missing events lost"
[ "$total" -eq "$N" ] || fail "$total records for $N events"
per=$((N / 20))
jq -r '"\(.key) \(.offset) \(.headers.ce_sequence)"' "$WORK/out.jsonl" \
  | sort -k1,1 -k2,2n | awk -v per=$per '
  $1 != k { if (k != "" && p != per) exit 1; k = $1; p = 0 }
  $3 != p + 1 { exit 1 } { p = $3 } END { if (p != per) exit 1 }' \
  || fail "per-aggregate order broken after restart"
log "$N events published across a broker kill/restart: none lost, none duplicated, order kept"
echo "PASS"
