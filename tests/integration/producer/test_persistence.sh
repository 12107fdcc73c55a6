#!/usr/bin/env bash
# Delivery reports tell the truth about the log when the broker stops.
# On a PRIVATE stack (never the shared one):
#   1. broker up: every event is reported "persisted";
#   2. broker frozen (SIGSTOP) after the producer connected: requests are
#      sent but never answered; every event fails, none "persisted", some
#      "possibly persisted";
#   3. broker dead (SIGKILL), a new producer: nothing can be sent; every
#      event fails "not persisted".
# Then, broker back: the topic holds every "persisted" event exactly once
# and no "not persisted" one; "possibly persisted" ones may or may not be
# there (counted and printed: that is why a retry needs the same ce_id).
. "$(dirname "$0")/lib.sh"

free_port() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in $(seq 1 50); do
  P1=$((19000 + (RANDOM % 3600) * 3)); P2=$((P1 + 1)); P3=$((P1 + 2))
  free_port $P1 && free_port $P2 && free_port $P3 && break
done
STATE=$(mktemp -d "${TMPDIR:-/tmp}/sf-producer-persist.XXXXXX")
stack() {
  SF_STATE_DIR=$STATE "$SRC/deploy/stack.sh" "$1" --kafka-port $P1 \
    --controller-port $P2 --redis-port $P3 "${@:2}"
}
TOOLPID=
kpid=
finish() {
  if [ -n "$kpid" ]; then kill -CONT "$kpid" 2>/dev/null || true; fi
  if [ -n "$TOOLPID" ]; then kill "$TOOLPID" 2>/dev/null || true; fi
  stack down --wipe >/dev/null 2>&1 || true
  rm -rf "$STATE"
}
trap 'rc=$?; finish; cleanup $rc' EXIT
BROKERS=127.0.0.1:$P1
N=20

log "private stack on ports $P1/$P2/$P3"
stack up >"$WORK/up1.log" 2>&1 || { cat "$WORK/up1.log" >&2; fail "private stack up"; }
t="t-producer-persist-$$"
"$PUB" -b "$BROKERS" -t "$t" -s "$SCHEMAS" --create-topic --partitions 1 \
  </dev/null 2>"$WORK/pub.err" || { cat "$WORK/pub.err" >&2; fail "create topic"; }

# 1. broker up
"$TOOL" status "$BROKERS" "$t" "$SCHEMAS" $N up 20000 >"$WORK/up.out" 2>"$WORK/up.err" \
  || fail "phase up: $(tail -3 "$WORK/up.err")"
[ "$(grep -c '^[^ ]* persisted$' "$WORK/up.out")" -eq $N ] \
  || fail "broker up: want $N 'persisted' reports, got: $(sort "$WORK/up.out" | uniq -c -f1)"

# 2. broker frozen after the producer is connected
kpid=$(cat "$STATE/kafka-1/pid")
"$TOOL" status "$BROKERS" "$t" "$SCHEMAS" $N frozen 4000 "$WORK/go" \
  >"$WORK/frozen.out" 2>"$WORK/frozen.err" &
TOOLPID=$!
for _ in $(seq 1 300); do grep -q '^ready$' "$WORK/frozen.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready$' "$WORK/frozen.out" || fail "phase frozen: producer never ready: $(tail -3 "$WORK/frozen.err")"
log "freezing broker pid $kpid (SIGSTOP)"
kill -STOP "$kpid"
touch "$WORK/go"
set +e
wait "$TOOLPID"; rc=$?
set -e
TOOLPID=
kill -CONT "$kpid"
[ $rc -eq 0 ] || fail "phase frozen: tool exit $rc: $(tail -3 "$WORK/frozen.err")"
grep -v '^ready$' "$WORK/frozen.out" >"$WORK/frozen.st"
[ "$(wc -l <"$WORK/frozen.st")" -eq $N ] || fail "phase frozen: $(wc -l <"$WORK/frozen.st") reports for $N events"
! grep -q '^[^ ]* persisted$' "$WORK/frozen.st" || fail "broker frozen, yet an event was reported persisted"
possibly=$(grep -c '^[^ ]* possibly persisted$' "$WORK/frozen.st" || true)
[ "$possibly" -gt 0 ] || fail "broker frozen with requests in flight, yet no 'possibly persisted' report"

# 3. broker dead, a fresh producer
log "killing broker pid $kpid (SIGKILL)"
kill -KILL "$kpid"
for _ in $(seq 1 100); do kill -0 "$kpid" 2>/dev/null || break; sleep 0.1; done
kpid=
"$TOOL" status "$BROKERS" "$t" "$SCHEMAS" $N dead 3000 >"$WORK/dead.out" 2>"$WORK/dead.err" \
  || fail "phase dead: $(tail -3 "$WORK/dead.err")"
[ "$(grep -c '^[^ ]* not persisted$' "$WORK/dead.out")" -eq $N ] \
  || fail "broker dead: want $N 'not persisted' reports, got: $(sort -k2 "$WORK/dead.out" | uniq -c -f1)"

# What the log really holds.
stack up >"$WORK/up2.log" 2>&1 || { cat "$WORK/up2.log" >&2; fail "broker restart"; }
peer "$t" >"$WORK/out.jsonl"
jq -r '.headers.ce_id' "$WORK/out.jsonl" | sort >"$WORK/ids"
in_log() { grep -qx -- "$1" "$WORK/ids"; }
dups=$(uniq -d "$WORK/ids" | wc -l)
[ "$dups" -eq 0 ] || fail "$dups event ids twice in the log"
while read -r id _; do in_log "$id" || fail "$id reported persisted but not in the log"; done <"$WORK/up.out"
while read -r id _; do ! in_log "$id" || fail "$id reported not persisted but in the log"; done <"$WORK/dead.out"
landed=0
while read -r id st; do
  [ "$st" = "possibly persisted" ] && in_log "$id" && landed=$((landed + 1))
done <"$WORK/frozen.st"
log "persisted $N/$N in the log; not persisted 0/$N in the log; possibly persisted: $landed of $possibly in the log anyway"
echo "PASS"
