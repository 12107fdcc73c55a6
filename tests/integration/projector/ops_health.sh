#!/usr/bin/env bash
# ops_health.sh - /readyz and the lag series tell the truth:
#  - lag_events / lag_seconds exist from assignment on (paused projection,
#    nothing applied yet), and a pause is not "stuck";
#  - a parked poison record leaves the partition moving and /readyz 200
#    (stuck and dead-letter-failing readiness: unit test
#    test_projector_metrics, which drives the clock);
#  - a fenced partition makes /readyz 503 naming it;
#  - two workers with `listen: ":0"` on one host both serve, on loopback,
#    on the ports their logs report.
TEST=ops_health
. "$(dirname "$0")/core_lib.sh"
need
command -v curl >/dev/null || { log "SKIP: curl missing"; exit $SKIP; }
T=$(new_topic h 1)
P="health-$ID"; NAMES+=("$P")
cat >"$WORK/r.yaml" <<YAML
keys: ["$ID:*"]
on:
  shop.cart.ItemAddedToCart:
    - [HINCRBY, "$ID:{aggregate_id}", "{data.sku}", "{data.quantity}"]
YAML
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", batch: {size: 10, time_ms: 20}}
YAML
printf 'metrics: {listen: ":0", stuck_after: 5}\n' >>"$WORK/c.yaml"
good() { echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$1\",\"data\":{\"cart_id\":\"$1\",\"sku\":\"$2\",\"quantity\":1,\"unit_price_cents\":1,\"added_at\":1}}"; }
port_of() { # port_of NAME: the metrics port the worker logged
  local i p
  for i in $(seq 1 100); do
    p=$(grep -o 'metrics_port=[0-9]*' "$WORK/$1.log" 2>/dev/null | head -1 | cut -d= -f2)
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.2
  done
  fail "$1 logged no metrics port"
}
get() { curl -s -m 5 -w ' %{http_code}' "http://127.0.0.1:$1$2" | tr -d '\n'; }
wait_body() { # wait_body PORT PATH PATTERN SECONDS
  local i out
  for i in $(seq 1 $(( $4 * 2 ))); do
    out=$(get "$1" "$2"); grep -Eq "$3" <<<"$out" && return 0; sleep 0.5
  done
  fail "$2 never matched '$3' within $4 s; last: $out"
}

# --- lag from assignment, paused is not stuck --------------------------
"$PROJ" pause -c "$WORK/c.yaml" "$P" --timeout 5 2>>"$WORK/pause.log" || fail "pause: $(cat "$WORK/pause.log")"
for i in 1 2 3; do good c A; done | publish "$T"
start w "$WORK/c.yaml"; start w2 "$WORK/c.yaml"
pw=$(port_of w); pw2=$(port_of w2)
[ "$pw" != "$pw2" ] || fail "two workers on one port $pw"
L="{projection=\"$P\",topic=\"$T\",partition=\"0\"}"
holder=""
for i in $(seq 1 60); do  # whichever worker got the partition
  for p in "$pw" "$pw2"; do
    mt=$(curl -s "http://127.0.0.1:$p/metrics")  # captured: grep -q would cut the pipe
    grep -q "^streamfold_lag_events$L 3$" <<<"$mt" && holder=$p
  done
  [ -n "$holder" ] && break; sleep 0.5
done
[ -n "$holder" ] || fail "no lag_events series of 3 while paused: $(curl -s "http://127.0.0.1:$pw/metrics" | grep lag_)"
mt=$(curl -s "http://127.0.0.1:$holder/metrics")
grep -q "^streamfold_lag_seconds$L [0-9]" <<<"$mt" || fail "no lag_seconds series from assignment on: $(grep lag_ <<<"$mt")"
for p in "$pw" "$pw2"; do
  lt=$(ss -ltn)
  grep -q " 127.0.0.1:$p " <<<"$lt" || fail "port $p not bound to loopback: $(ss -ltn | grep ":$p ")"
  expect_eq "healthz on $p" "$(get "$p" /healthz)" "ok 200"
done
sleep 7  # past stuck_after: a paused partition with lag is not stuck
expect_eq "readyz while paused" "$(get "$holder" /readyz)" "ready 200"
stop w2 TERM
"$PROJ" resume -c "$WORK/c.yaml" "$P" --timeout 30 2>>"$WORK/pause.log" || fail "resume: $(tail -1 "$WORK/pause.log")"
wait_lag0 "$WORK/c.yaml" "$P" 60
log "lag from assignment, pause, two workers on port 0: ok"

# --- a poison record is parked and the partition keeps moving ---------
printf 'poison' | kcat -P -b "$SF_BROKERS" -t "$T" -p 0 -k c || fail "kcat"
good c B | publish "$T"
wait_lag0 "$WORK/c.yaml" "$P" 60
expect_eq "event behind the poison applied" "$(rcli hget "$ID:c" B)" 1
expect_eq "readyz after a dead letter" "$(get "$pw" /readyz)" "ready 200"

# --- fenced ---------------------------------------------------------------
rcli incr "sf:$P:epoch:$T:0" >/dev/null   # as if another owner took it
# ... and holds it: it refreshes its state report as a worker does (an
# epoch nobody reports is taken back after 10 s: core_fenced_stale_epoch)
other_owner_start "$P" "$T" 0
good c C | publish "$T"
wait_body "$pw" /readyz "$T/0 fenced.* 503$" 30
other_owner_stop
stop w TERM
log "PASS"
