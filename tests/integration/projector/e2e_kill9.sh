#!/usr/bin/env bash
# e2e_kill9.sh - (b) a worker is killed with SIGKILL at random moments while
# it consumes (>= 10 times) and restarted each time, while the history is
# being published; the final views must equal the reference fold: nothing
# applied twice, nothing skipped.  20k events by default, 100k with SF_LONG=1.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/e2e_lib.sh"
need_bins
size=20000; kills=${SF_E2E_KILLS:-10}
[ "${SF_LONG:-0}" = 1 ] && size=100000 && kills=${SF_E2E_KILLS:-20}
new_run kill9 "${SF_E2E_EVENTS:-$size}" 7
create_topic 12
WPORT[1]=$(free_port)
# A low session timeout so the killed member leaves the group quickly, and
# a low max.poll.interval.ms because it is also the rebalance timeout: a
# member killed while its JoinGroup is pending at the coordinator is not
# expired by the session timeout but only when the rebalance times out
# (300 s by default), and the next incarnation waits that long.
write_config "$WORK/w1.yaml" "${WPORT[1]}" \
  "session.timeout.ms: 6000" "heartbeat.interval.ms: 1000" \
    "max.poll.interval.ms: 20000"
# Publish over roughly the time the kill loop takes (each restart waits
# about one session timeout for the killed member to leave the group).
bg_publish 0 "$EVENTS" $(( EVENTS / (kills * 9 + 5) + 1 ))
RANDOM=$SEED
done_kills=0
for i in $(seq 1 "$kills"); do
  start_worker 1 "$WORK/w1.yaml"
  # wait until this incarnation applies something in both projections,
  # then kill at a random moment 0-2.5 s later
  t=0
  while [ $t -lt 40 ]; do
    a=$(metric 1 "streamfold_events_applied_total{projection=\"$P_CART\"}")
    b=$(metric 1 "streamfold_events_applied_total{projection=\"$P_AVAIL\"}")
    [ -n "$a" ] && [ "$a" -gt 0 ] && [ -n "$b" ] && [ "$b" -gt 0 ] && break
    sleep 0.5; t=$((t + 1))
  done
  [ $t -lt 40 ] || log "kill $i: worker applied nothing within 20 s, killing anyway"
  rand_sleep 0 25
  stop_worker 1 KILL; st=$ST
  [ "$st" = 137 ] || fail "kill $i: worker had already exited with $st"
  done_kills=$((done_kills + 1))
  log "kill $i: SIGKILL after applying ${a:-?} events"
done
wait_publish
start_worker 1 "$WORK/w1.yaml"
verify "${SF_E2E_WAIT:-240}" || fail "views differ after $done_kills kills"
stop_worker 1 TERM; st=$ST
[ "$st" = 0 ] || fail "final worker exited $st on SIGTERM"
log "PASS ($done_kills kills)"
