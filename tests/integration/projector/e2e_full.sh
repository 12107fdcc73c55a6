#!/usr/bin/env bash
# e2e_full.sh - (a) a generated history of >= 100k cart events over a
# 12-partition topic: 60% published before the worker starts (replay), the
# rest while it runs (tailing).  The worker runs the cart-contents and
# product-availability example projections; every Redis view key must equal
# the reference fold sf_e2e computes from the same events.  Also checks the
# worker's /metrics, /healthz, /readyz and that SIGTERM exits 0.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/e2e_lib.sh"
need_bins
new_run full "${SF_E2E_EVENTS:-100000}" 42
create_topic 12
split=$(( EVENTS * 6 / 10 ))
publish 0 "$split"
WPORT[1]=$(free_port)
write_config "$WORK/w1.yaml" "${WPORT[1]}"
start_worker 1 "$WORK/w1.yaml"
publish "$split" "$EVENTS"
verify "${SF_E2E_WAIT:-300}" || fail "views differ from the reference fold"

# The observability contract, on the live worker that did the work.
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${WPORT[1]}/healthz")
[ "$code" = 200 ] || fail "/healthz answered $code"
code=$(curl -s -o "$WORK/readyz" -w '%{http_code}' "http://127.0.0.1:${WPORT[1]}/readyz")
[ "$code" = 200 ] || fail "/readyz answered $code: $(cat "$WORK/readyz")"
curl -s "http://127.0.0.1:${WPORT[1]}/metrics" >"$WORK/metrics.txt"
# an independent parser (the Prometheus Python client) must accept the text
peer=$(python3 "$HERE/prom_peer.py" "$WORK/metrics.txt" "$P_CART") \
  || fail "the Prometheus client parser rejects /metrics"
[ "$peer" = "events_applied=$EVENTS" ] || fail "prom_peer read '$peer', want events_applied=$EVENTS"
for p in "$P_CART" "$P_AVAIL"; do
  applied=$(metric 1 "streamfold_events_applied_total{projection=\"$p\"}")
  log "$p: events_applied_total=$applied (history $EVENTS)"
  # one fresh worker saw every event exactly once
  [ "$applied" = "$EVENTS" ] \
    || fail "events_applied_total{projection=$p} is '$applied', want $EVENTS"
  lagsum=$(awk -v p="projection=\"$p\"" 'index($0, "streamfold_lag_events{") == 1 && index($0, p) { s += $2; n++ } END { print n + 0, s + 0 }' "$WORK/metrics.txt")
  [ "${lagsum%% *}" = 12 ] || fail "$p: expected lag_events for 12 partitions, got ${lagsum%% *}"
  [ "${lagsum##* }" = 0 ] || fail "$p: lag_events sum ${lagsum##* } after catching up"
done

stop_worker 1 TERM; st=$ST
[ "$st" = 0 ] || fail "worker exited $st on SIGTERM (want 0)"
# After a clean stop the checkpoints cover the whole history: status agrees.
if "$PROJ_BIN" status -c "$WORK/w1.yaml" >"$WORK/status.txt" 2>&1; then
  log "status: $(wc -l <"$WORK/status.txt") lines"
else
  fail "sf-projector status failed: $(head -3 "$WORK/status.txt")"
fi
log "PASS"
