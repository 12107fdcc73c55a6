#!/usr/bin/env bash
# core_lifecycle.sh - rebuild against live workers (docs/lifecycle.md):
#  1. a worker that joins while a rebuild owns the projection (its marker
#     is set) takes nothing: it neither bumps the epoch nor resumes from
#     the old checkpoint; when the rebuild is done it resumes by itself
#     from the rebuilt checkpoint;
#  2. a worker joining during a real rebuild's clear (a view big enough
#     for the clear to take a while) never resumes onto the emptied view;
#  3. after `rebuild --force` under a running worker, the worker is not
#     left fenced: it re-takes its partitions and applies new events.
# Every step ends with the view compared to the fold of all events.
TEST=core_lifecycle
. "$(dirname "$0")/core_lib.sh"
need
T=$(new_topic life 2)
P="life-$ID"
NAMES+=("$P")
sed "s/\"cart:/\"$ID:cart:/g; s/\[\"cart:\*\"\]/[\"$ID:cart:*\"]/" \
  "$EXAMPLES/cart-contents.rules.yaml" >"$WORK/r.yaml"
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", batch: {size: 10, time_ms: 10}}
YAML
added() { # added CART SKU QTY
  printf '{"type":"shop.cart.ItemAddedToCart","aggregate_id":"%s","data":{"cart_id":"%s","sku":"%s","quantity":%s,"unit_price_cents":1,"added_at":1,"currency":"EUR"}}\n' "$1" "$1" "$2" "$3"
}
SENT=0
send() { # send N: N more events, one per cart k0..k7 in turn, each +1 of sku A
  local i
  for i in $(seq 1 "$1"); do added "k$(( (SENT + i) % 8 ))" A 1; done | publish "$T"
  SENT=$((SENT + $1))
}
# view_total: sum of every cart's A (the fold of all events is SENT)
view_total() {
  local s=0 k v
  for k in $(rcli --scan --pattern "$ID:cart:*:items"); do
    v=$(rcli hget "$k" A); s=$((s + ${v:-0}))
  done
  echo "$s"
}
wait_total() { # wait_total WANT SECONDS
  local i got
  for i in $(seq 1 $(( $2 * 2 ))); do
    got=$(view_total); [ "$got" = "$1" ] && return 0
    sleep 0.5
  done
  fail "view total $got, want $1 (the fold of every event) after $2 s"
}
epoch() { rcli get "sf:$P:epoch:$T:$1"; }

send 40
start w1 "$WORK/c.yaml"
wait_total 40 90
stop w1 TERM
expect_eq "first worker exit status" "$RC" 0

log "1. a worker joins while a rebuild holds the projection"
e0=$(epoch 0); e1=$(epoch 1)
rcli set "sf:$P:rebuild" "test pid 1 since now" >/dev/null
# a second rebuild is refused while the marker is there, naming it
rc=0; "$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" >"$WORK/rb0.out" 2>"$WORK/rb0.log" || rc=$?
[ $rc -ne 0 ] || fail "a rebuild ran over another rebuild's marker"
grep -q "already running or was interrupted.*test pid 1 since now.*--force" "$WORK/rb0.log" \
  || fail "refusal does not name the marker and the remedy: $(cat "$WORK/rb0.log")"
expect_eq "view after the refused rebuild" "$(view_total)" 40
send 8
start w2 "$WORK/c.yaml"
for _ in $(seq 1 60); do grep -q 'a rebuild runs' "$WORK/w2.log" && break; sleep 0.5; done
grep -q 'a rebuild runs' "$WORK/w2.log" || fail "the joining worker did not say it waits for the rebuild"
sleep 3
expect_eq "epoch of partition 0 while the rebuild holds it" "$(epoch 0)" "$e0"
expect_eq "epoch of partition 1 while the rebuild holds it" "$(epoch 1)" "$e1"
expect_eq "events applied while the rebuild holds the projection" "$(view_total)" 40
# the marker's owner "died": a forced rebuild takes over, replays, and
# deletes the marker; the waiting worker then resumes by itself
"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" --force >"$WORK/rb1.out" 2>"$WORK/rb1.log" \
  || fail "rebuild --force over a stale marker: $(tail -n 2 "$WORK/rb1.log")"
expect_eq "marker after the rebuild" "$(rcli exists "sf:$P:rebuild")" 0
send 8
wait_total "$SENT" 60
stop w2 TERM
expect_eq "waiting worker exit status" "$RC" 0

log "2. a worker joins during a real rebuild's clear"
# in chunks: one long script would block the shared Redis for everyone
for c in $(seq 0 $(( ${CORE_LIFE_BIG:-150000} / 10000 - 1 ))); do
  rcli eval "for i=$((c * 10000 + 1)),$((c * 10000 + 10000)) do redis.call('HSET','$ID:cart:old'..i,'status','open') end return 1" 0 >/dev/null
done
"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" >"$WORK/rb2.out" 2>"$WORK/rb2.log" &
RB=$!; PIDS[$RB]=1
for _ in $(seq 1 200); do [ "$(rcli exists "sf:$P:rebuild")" = 1 ] && break; sleep 0.05; done
start w3 "$WORK/c.yaml"
RBRC=0; wait "$RB" || RBRC=$?; unset "PIDS[$RB]"
expect_eq "rebuild exit status (the joining worker must not fence it)" "$RBRC" 0
send 8
wait_total "$SENT" 60
expect_eq "old view keys left by the clear" "$(rcli --scan --pattern "$ID:cart:old*" | wc -l)" 0

log "3. rebuild --force under the running worker"
"$PROJ" rebuild --in-place -c "$WORK/c.yaml" "$P" --force >"$WORK/rb3.out" 2>"$WORK/rb3.log" \
  || fail "rebuild --force: $(tail -n 2 "$WORK/rb3.log")"
send 16
wait_total "$SENT" 60
kill -0 "$PID_w3" 2>/dev/null || fail "the worker exited after rebuild --force"
st=$(status_of "$P")
printf '%s\n' "$st" | grep -q "total lag 0$" || fail "lag after the rebuild: $st"
stop w3 TERM
expect_eq "worker exit status" "$RC" 0
log "ok: $SENT events, view = fold after a join during rebuild, a stale marker and rebuild --force"
echo "1 passed, 0 failed"
