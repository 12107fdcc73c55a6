#!/usr/bin/env bash
# scale_unowned.sh - a partition that the consumer group assigns to no
# worker while its events wait is noticed and reported (ownership.h): a
# member that is not a worker ("squat", scale_check.c) joins the cart
# projection's group and sits on what it is given.  The worker must name
# those partitions in a log line, count them in streamfold_partitions_unowned,
# `status` must show them "unowned", and the worker asks the group to
# rebalance (rejoin).  Once the squatter leaves, the worker takes the
# partitions, says they are owned again, the gauge returns to 0 and the
# views equal the reference fold.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/e2e_lib.sh"
need_bins
CHECK_BIN=$SF_BUILD_DIR/tests/integration/projector/scale_check
[ -x "$CHECK_BIN" ] || { log "SKIP: $CHECK_BIN not built"; exit $SKIP; }
new_run unowned 4000 21
create_topic 4
WPORT[1]=$(free_port)
write_config "$WORK/w1.yaml" "${WPORT[1]}" "session.timeout.ms: 6000" \
  "heartbeat.interval.ms: 1000"
start_worker 1 "$WORK/w1.yaml"
publish 0 2000 >/dev/null 2>&1 || fail "publish failed"
verify 120 2000 >/dev/null 2>&1 || fail "views wrong before the squatter came"

"$CHECK_BIN" squat -t "$TOPIC" -b "$SF_BROKERS" --prefix "sf-$P_CART" \
  --wait 300 2>"$WORK/squat.log" &
SQ=$!
RUNNING[$SQ]=1
for _ in $(seq 1 120); do grep -q "squat holds" "$WORK/squat.log" && break; sleep 0.5; done
grep -q "squat holds" "$WORK/squat.log" || fail "the squatter got no partition"
held=$(sed -n 's|.*squat holds .*/\([0-9]*\)$|\1|p' "$WORK/squat.log" | sort -n | tr '\n' ' ')
log "the squatter holds partition(s) $held"
publish 2000 4000 >/dev/null 2>&1 || fail "publish failed"

# reported: log line naming each held partition, gauge, status
for _ in $(seq 1 120); do
  [ "$(metric 1 "streamfold_partitions_unowned{projection=\"$P_CART\"}")" -ge 1 ] 2>/dev/null && break
  sleep 0.5
done
g=$(metric 1 "streamfold_partitions_unowned{projection=\"$P_CART\"}")
[ "${g:-0}" -ge 1 ] || fail "partitions_unowned gauge stayed ${g:-absent}"
for p in $held; do
  for _ in $(seq 1 60); do
    grep -q "projection=$P_CART .*partition=$p lag=[0-9-]* msg=\"partition held by no member" "$WORK/worker1.log" && break
    sleep 0.5
  done
  grep -q "projection=$P_CART .*partition=$p lag=[0-9-]* msg=\"partition held by no member" "$WORK/worker1.log" \
    || fail "no log line names unowned partition $p"
done
st=$("$PROJ_BIN" status -c "$WORK/w1.yaml" "$P_CART" 2>&1 || true)
grep -q "unowned" <<<"$st" || { echo "$st" >&2; fail "status does not show the unowned partitions"; }
grep -q "msg=\"rejoining the group" "$WORK/worker1.log" || fail "the worker did not ask for a rebalance"
log "reported: gauge $g, log lines, status, rejoin"

# the squatter leaves: every partition is the worker's again
kill -TERM "$SQ"; wait "$SQ" || true; unset "RUNNING[$SQ]"
verify 120 >/dev/null 2>&1 || fail "views differ after the squatter left"
for _ in $(seq 1 60); do
  [ "$(metric 1 "streamfold_partitions_unowned{projection=\"$P_CART\"}")" = 0 ] && break
  sleep 0.5
done
[ "$(metric 1 "streamfold_partitions_unowned{projection=\"$P_CART\"}")" = 0 ] \
  || fail "partitions_unowned did not return to 0"
for _ in $(seq 1 60); do
  grep -q "msg=\"partition owned again" "$WORK/worker1.log" && break; sleep 0.5
done
grep -q "msg=\"partition owned again" "$WORK/worker1.log" || fail "no 'owned again' line"
stop_worker 1 TERM; [ "$ST" = 0 ] || fail "worker exited $ST"
log "PASS"
