#!/usr/bin/env bash
# e2e_stall.sh - (d) two workers share the partitions; worker 1 is
# SIGSTOPped past the session timeout (6 s) while events keep coming, worker
# 2 takes its partitions over, then worker 1 gets SIGCONT.  Whatever worker 1
# had in flight must be refused (fenced): the views still equal the
# reference fold, and worker 1 shows the refusal (fenced_batches_total or a
# "fenced" log line) unless it provably had nothing in flight.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/e2e_lib.sh"
need_bins
size=20000
[ "${SF_LONG:-0}" = 1 ] && size=100000
new_run stall "${SF_E2E_EVENTS:-$size}" 13
create_topic 12
for n in 1 2; do
  WPORT[$n]=$(free_port)
  write_config "$WORK/w$n.yaml" "${WPORT[$n]}" \
    "session.timeout.ms: 6000" "heartbeat.interval.ms: 1000" \
    "max.poll.interval.ms: 20000"
done
assigned() {
  curl -s --max-time 5 "http://127.0.0.1:${WPORT[$1]}/metrics" 2>/dev/null \
    | grep -c "^streamfold_partition_assigned{projection=\"$P_CART\"" || true
}
bg_publish 0 "$EVENTS" $(( EVENTS / 40 + 1 ))
start_worker 1 "$WORK/w1.yaml"
start_worker 2 "$WORK/w2.yaml"
for _ in $(seq 1 60); do
  a1=$(assigned 1); a2=$(assigned 2)
  [ "$a1" -ge 1 ] && [ "$a2" -ge 1 ] && [ $((a1 + a2)) -eq 12 ] && break
  sleep 0.5
done
log "before stall: worker 1 holds $a1, worker 2 holds $a2 partitions"
[ "$a1" -ge 1 ] || fail "worker 1 never got partitions"
sleep 3
before=$(metric 1 "streamfold_events_applied_total{projection=\"$P_CART\"}")
kill -STOP "${WPID[1]}"
log "worker 1 stopped (applied ${before:-?})"
took=0
for _ in $(seq 1 40); do
  sleep 0.5
  [ "$(assigned 2)" -eq 12 ] && { took=1; break; }
done
[ $took = 1 ] || fail "worker 2 did not take over worker 1's partitions within 20 s"
log "worker 2 holds all 12 partitions; resuming worker 1"
sleep 2
kill -CONT "${WPID[1]}"
sleep 6
wait_publish
verify "${SF_E2E_WAIT:-240}" || fail "views differ: a stale write got through"
fenced=$(metric 1 "streamfold_fenced_batches_total{projection=\"$P_CART\"}")
fenced2=$(metric 1 "streamfold_fenced_batches_total{projection=\"$P_AVAIL\"}")
flog=$(grep -ci 'fenc' "$WORK/worker1.log" || true)
log "worker 1 after SIGCONT: fenced_batches_total cart=${fenced:-?} avail=${fenced2:-?}, $flog log lines mention fencing"
if [ "${fenced:-0}" -eq 0 ] && [ "${fenced2:-0}" -eq 0 ] && [ "$flog" -eq 0 ]; then
  # acceptable only when worker 1 had applied nothing more after resuming
  # than before the stall, i.e. it had nothing in flight
  after=$(metric 1 "streamfold_events_applied_total{projection=\"$P_CART\"}")
  log "no refusal seen; worker 1 applied ${before:-?} before, ${after:-?} after"
  [ "${SF_E2E_REQUIRE_FENCE:-1}" = 1 ] && fail "worker 1 shows no fencing refusal after SIGCONT"
fi
for n in 1 2; do
  stop_worker $n TERM; st=$ST; [ "$st" = 0 ] || fail "worker $n exited $st on SIGTERM"
done
log "PASS"
