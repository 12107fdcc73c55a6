#!/usr/bin/env bash
# e2e_rebalance.sh - (c) two workers in the same groups; one after the other
# is stopped (SIGTERM, must exit 0) and started again while the history is
# published, so partitions move back and forth (cooperative-sticky).  The
# final views must equal the reference fold.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/e2e_lib.sh"
need_bins
size=20000; cycles=${SF_E2E_CYCLES:-3}
[ "${SF_LONG:-0}" = 1 ] && size=100000 && cycles=${SF_E2E_CYCLES:-6}
new_run rebal "${SF_E2E_EVENTS:-$size}" 11
create_topic 12
# SF_E2E_GROUP_PROTOCOL=consumer runs the same moves under KIP-848's consumer
# group protocol (broker-side assignment; session and heartbeat are broker
# settings there, so they are not given).
if [ "${SF_E2E_GROUP_PROTOCOL:-classic}" = consumer ]; then
  gprops=("group.protocol: consumer" "max.poll.interval.ms: 20000")
else
  gprops=("session.timeout.ms: 6000" "heartbeat.interval.ms: 1000"
          "max.poll.interval.ms: 20000")
fi
for n in 1 2; do
  WPORT[$n]=$(free_port)
  write_config "$WORK/w$n.yaml" "${WPORT[$n]}" "${gprops[@]}"
done
bg_publish 0 "$EVENTS" $(( EVENTS / (cycles * 14 + 5) + 1 ))
# assigned N: number of partitions worker N holds for the cart projection
assigned() {
  curl -s --max-time 5 "http://127.0.0.1:${WPORT[$1]}/metrics" 2>/dev/null \
    | grep -c "^streamfold_partition_assigned{projection=\"$P_CART\"" || true
}
wait_assigned() { # wait_assigned N MIN: until worker N holds >= MIN partitions
  for _ in $(seq 1 60); do
    [ "$(assigned "$1")" -ge "$2" ] && return 0
    sleep 0.5
  done
  log "worker $1 holds $(assigned "$1") partitions after 30 s (wanted >= $2)"
  return 1
}
start_worker 1 "$WORK/w1.yaml"
wait_assigned 1 12 || fail "worker 1 never got all 12 partitions"
moves=0
for c in $(seq 1 "$cycles"); do
  start_worker 2 "$WORK/w2.yaml"
  wait_assigned 2 1 || fail "cycle $c: worker 2 got no partition"
  log "cycle $c: worker 1 holds $(assigned 1), worker 2 holds $(assigned 2)"
  sleep 2
  stop_worker 1 TERM; st=$ST; [ "$st" = 0 ] || fail "cycle $c: worker 1 exited $st on SIGTERM"
  wait_assigned 2 12 || fail "cycle $c: worker 2 did not take over"
  start_worker 1 "$WORK/w1.yaml"
  wait_assigned 1 1 || fail "cycle $c: worker 1 got no partition back"
  sleep 2
  stop_worker 2 TERM; st=$ST; [ "$st" = 0 ] || fail "cycle $c: worker 2 exited $st on SIGTERM"
  wait_assigned 1 12 || fail "cycle $c: worker 1 did not take over"
  moves=$((moves + 4))
done
wait_publish
start_worker 2 "$WORK/w2.yaml"
verify "${SF_E2E_WAIT:-240}" || fail "views differ after $moves partition moves"
for n in 1 2; do
  stop_worker $n TERM; st=$ST; [ "$st" = 0 ] || fail "worker $n exited $st on SIGTERM"
done
log "PASS ($moves rebalances, group.protocol ${SF_E2E_GROUP_PROTOCOL:-classic})"
