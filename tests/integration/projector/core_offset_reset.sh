#!/usr/bin/env bash
# core_offset_reset.sh - the group's offsets reset with Kafka's own
# ConsumerGroupCommand while no worker runs (docs/offsets-and-asof.md):
#  - our commits carry our metadata and, once caught up, equal the
#    checkpoint + 1 on every partition: LAG 0 in --describe;
#  - --to-earliest on every partition: the next `run` rebuilds the view
#    (a tampered view comes out equal to the reference fold), says so in
#    the log, `status` and the metrics, and then runs on;
#  - --shift-by -500: refused with one line naming topic, partition, the
#    reset offset and the checkpoint; /readyz and status say so; the view
#    is untouched; `offsets --commit-checkpoints` lets the waiting worker
#    start;
#  - --to-datetime: refused the same way; `rebuild` resolves it;
#  - after `skip` of the last event (on_error: stop), the restarted worker
#    commits the checkpoint + 1: LAG 0 with no new event.
TEST=core_offset_reset
. "$(dirname "$0")/core_lib.sh"
need
command -v java >/dev/null || { log "SKIP: java missing"; exit $SKIP; }
jars=${SF_KAFKA_JARS:-$("$SF_SOURCE_DIR/deploy/stack.sh" jars-dir)}
cgc() { java -cp "$jars/*" -Dlog4j.configuration=file:/dev/null -Duser.timezone=UTC \
  org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$SF_BROKERS" "$@"; }
N=${CORE_RESET_EVENTS:-2400}
T=$(new_topic reset 2)
P="rs-$ID"; G="sf-$P"
NAMES+=("$P")
sed "s/\"cart:/\"$ID:cart:/g; s/\[\"cart:\*\"\]/[\"$ID:cart:*\"]/" \
  "$EXAMPLES/cart-contents.rules.yaml" >"$WORK/r.yaml"
config "$WORK/c.yaml" <<YAML
  - {name: "$P", topics: ["$T"], rules: "$WORK/r.yaml", batch: {size: 200, time_ms: 20}}
YAML
printf 'metrics: {listen: ":0"}\n' >>"$WORK/c.yaml"

gen() { # gen SEED N: a deterministic cart history
  awk -v seed="$1" -v n="$2" 'BEGIN {
    srand(seed)
    for (i = 0; i < n; i++) {
      c = "k" int(rand() * 40); s = "sku" int(rand() * 20); q = 1 + int(rand() * 5)
      if (!(c in open)) { t = "CartOpened"; d = "{\"cart_id\":\"" c "\",\"customer_id\":\"u\",\"opened_at\":1}"; open[c] = 1 }
      else if (rand() < 0.7) { t = "ItemAddedToCart"; d = "{\"cart_id\":\"" c "\",\"sku\":\"" s "\",\"quantity\":" q ",\"unit_price_cents\":5,\"added_at\":2,\"currency\":\"EUR\"}" }
      else { t = "ItemRemovedFromCart"; d = "{\"cart_id\":\"" c "\",\"sku\":\"" s "\",\"quantity\":" q ",\"removed_at\":3}" }
      printf "{\"type\":\"shop.cart.%s\",\"aggregate_id\":\"%s\",\"data\":%s}\n", t, c, d
    } }'
}
gen 11 "$N" >"$WORK/all.jsonl"
head -n $((N / 2)) "$WORK/all.jsonl" | publish "$T"
sleep 2; MID=$(date -u +%Y-%m-%dT%H:%M:%S.000); sleep 2
tail -n +$((N / 2 + 1)) "$WORK/all.jsonl" | publish "$T"
log "published $N events on 2 partitions (the second half after $MID UTC)"

# describe_ok: every partition's CURRENT-OFFSET = checkpoint + 1 and LAG 0
describe_ok() {
  local out p cur lag ck
  out=$(cgc --describe --group "$G" 2>/dev/null) || fail "describe failed"
  for p in 0 1; do
    cur=$(awk -v t="$T" -v p=$p '$2 == t && $3 == p {print $4}' <<<"$out")
    lag=$(awk -v t="$T" -v p=$p '$2 == t && $3 == p {print $6}' <<<"$out")
    ck=$(rcli get "sf:$P:ckpt:$T:$p")
    expect_eq "$1: partition $p LAG" "$lag" 0
    expect_eq "$1: partition $p committed offset vs checkpoint+1" "$cur" "$((ck + 1))"
  done
}
port_of() {
  local i p
  for i in $(seq 1 100); do
    p=$(grep -o 'metrics_port=[0-9]*' "$WORK/$1.log" 2>/dev/null | tail -1 | cut -d= -f2)
    [ -n "$p" ] && { echo "$p"; return; }
    sleep 0.2
  done
  fail "$1 logged no metrics port"
}
wait_log() { # wait_log NAME PATTERN SECONDS
  local i
  for i in $(seq 1 $(( $3 * 5 ))); do grep -q -- "$2" "$WORK/$1.log" 2>/dev/null && return 0; sleep 0.2; done
  fail "$1 never logged '$2' within $3 s"
}

# --- steady state: our commits, no false lag ---------------------------
start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$P" 120
sleep 1  # the last async commit
describe_ok "steady state"
stop w TERM; expect_eq "worker exit" "$RC" 0
describe_ok "after a clean stop"
dump "$ID:*" >"$WORK/ref.txt"
[ "$(wc -l <"$WORK/ref.txt")" -gt 30 ] || fail "reference view suspiciously small"
"$PROJ" offsets -c "$WORK/c.yaml" "$P" >"$WORK/offsets0.txt" 2>&1 || fail "offsets: $(cat "$WORK/offsets0.txt")"
grep -q "agree with the view" "$WORK/offsets0.txt" || fail "offsets: $(cat "$WORK/offsets0.txt")"
[ "$(grep -c " projector " "$WORK/offsets0.txt")" = 2 ] || fail "our commits not marked as ours: $(cat "$WORK/offsets0.txt")"
log "steady state: committed = checkpoint + 1, LAG 0, commits marked as the projector's"

# --- --to-earliest: a rebuild ------------------------------------------
cgc --reset-offsets --to-earliest --execute --group "$G" --topic "$T" >"$WORK/cgc1.log" 2>&1 || fail "reset --to-earliest: $(cat "$WORK/cgc1.log")"
# tamper with the view: the rebuild must throw this away
rcli set "$ID:cart:zz:items" bogus >/dev/null
k=$(rcli --scan --pattern "$ID:cart:*:items" | grep -v zz | head -1)
rcli hset "$k" tampered 99 >/dev/null
start w "$WORK/c.yaml"
wait_log w "reset to the earliest on every partition outside sf-projector: rebuilding" 60
wait_log w "rebuild after the offset reset done" 120
wait_lag0 "$WORK/c.yaml" "$P" 120
pm=$(port_of w)
mt=$(curl -s "http://127.0.0.1:$pm/metrics")
grep -q "^streamfold_offset_reset_rebuilds_total{projection=\"$P\"} 1$" <<<"$mt" || fail "metric: $(grep offset_reset <<<"$mt")"
st=$(status_of "$P")
grep -q "offsets: rebuilt .* after a reset to the earliest offsets" <<<"$st" || fail "status: $st"
sleep 1
describe_ok "after the reset rebuild"
stop w TERM; expect_eq "worker exit" "$RC" 0
dump "$ID:*" >"$WORK/rebuilt.txt"
diff "$WORK/ref.txt" "$WORK/rebuilt.txt" >"$WORK/d1.txt" || fail "rebuilt view differs from the reference: $(head -5 "$WORK/d1.txt")"
log "--to-earliest: rebuilt (log, status, metric), view = reference, LAG 0"

# --- --shift-by -500: refused ------------------------------------------
cgc --reset-offsets --shift-by -500 --execute --group "$G" --topic "$T" >"$WORK/cgc2.log" 2>&1 || fail "reset --shift-by: $(cat "$WORK/cgc2.log")"
ck0=$(rcli get "sf:$P:ckpt:$T:0")
start w "$WORK/c.yaml"
wait_log w "not started: topic $T partition 0: the group's offset was reset outside sf-projector to $((ck0 + 1 - 500)) but the view's checkpoint is $ck0" 60
wait_log w "sf-projector offsets -c $WORK/c.yaml $P --commit-checkpoints; or rebuild it: sf-projector rebuild -c $WORK/c.yaml $P" 10
[ "$(grep -c 'not started: topic' "$WORK/w.log")" = 1 ] || fail "the refusal is not one line"
alive() { kill -0 "$PID_w" 2>/dev/null; }
alive || fail "a refused projection stops the process"
pm=$(port_of w)
rz=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$pm/readyz" | tr -d '\n')
grep -q "not started: topic $T partition 0.* 503$" <<<"$rz" || fail "readyz: $rz"
st=$(status_of "$P")
grep -q "offsets: projection $P not started: topic $T partition 0" <<<"$st" || fail "status: $st"
dump "$ID:*" >"$WORK/after-shift.txt"
diff "$WORK/ref.txt" "$WORK/after-shift.txt" >/dev/null || fail "refused reset changed the view"
log "--shift-by -500: refused (log line, readyz 503, status), view untouched"
"$PROJ" offsets -c "$WORK/c.yaml" "$P" --commit-checkpoints >"$WORK/fix.log" 2>&1 || fail "offsets --commit-checkpoints: $(cat "$WORK/fix.log")"
wait_log w "offsets agree with the view again: starting" 30
wait_lag0 "$WORK/c.yaml" "$P" 60
sleep 1
describe_ok "after --commit-checkpoints"
rz=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$pm/readyz" | tr -d '\n')
grep -q " 200$" <<<"$rz" || fail "readyz after the fix: $rz"
stop w TERM; expect_eq "worker exit" "$RC" 0
dump "$ID:*" >"$WORK/after-fix.txt"
diff "$WORK/ref.txt" "$WORK/after-fix.txt" >/dev/null || fail "view changed after --commit-checkpoints"
log "offsets --commit-checkpoints: the waiting worker started, LAG 0, view unchanged"

# --- --to-datetime: refused; rebuild resolves it -----------------------
cgc --reset-offsets --to-datetime "$MID" --execute --group "$G" --topic "$T" >"$WORK/cgc3.log" 2>&1 || fail "reset --to-datetime: $(cat "$WORK/cgc3.log")"
start w "$WORK/c.yaml"
wait_log w "not started: topic $T partition" 60
dump "$ID:*" >"$WORK/after-dt.txt"
diff "$WORK/ref.txt" "$WORK/after-dt.txt" >/dev/null || fail "refused --to-datetime changed the view"
"$PROJ" rebuild -c "$WORK/c.yaml" "$P" >"$WORK/rb.log" 2>&1 || fail "rebuild: $(tail -3 "$WORK/rb.log")"
wait_log w "offsets agree with the view again: starting" 30
wait_lag0 "$WORK/c.yaml" "$P" 60
sleep 1
describe_ok "after --to-datetime and rebuild"
stop w TERM; expect_eq "worker exit" "$RC" 0
dump "$ID:*" >"$WORK/after-rb.txt"
diff "$WORK/ref.txt" "$WORK/after-rb.txt" >"$WORK/d3.txt" || fail "view after rebuild differs: $(head -5 "$WORK/d3.txt")"
log "--to-datetime: refused, view untouched; rebuild resolved it, LAG 0"

# --- skip: no false lag ------------------------------------------------
TS=$(new_topic skip 1); PS="rss-$ID"; NAMES+=("$PS")
config "$WORK/s.yaml" <<YAML
  - {name: "$PS", topics: ["$TS"], rules: "$WORK/r.yaml", on_error: stop}
YAML
head -n 2 "$WORK/all.jsonl" | publish "$TS"
printf 'not avro' | kcat -P -b "$SF_BROKERS" -t "$TS" -p 0 2>"$WORK/kcat.log" || fail "kcat: $(cat "$WORK/kcat.log")"
start s "$WORK/s.yaml"
for i in $(seq 1 150); do kill -0 "$PID_s" 2>/dev/null || break; sleep 0.2; done
stop s KILL
expect_eq "checkpoint before the poison" "$(rcli get "sf:$PS:ckpt:$TS:0")" 1
"$PROJ" skip -c "$WORK/s.yaml" "$PS" -t "$TS" -p 0 -o 2 >"$WORK/skip.log" 2>&1 || fail "skip: $(cat "$WORK/skip.log")"
start s "$WORK/s.yaml"
wait_lag0 "$WORK/s.yaml" "$PS" 60
lag=""
for i in $(seq 1 30); do
  out=$(cgc --describe --group "sf-$PS" 2>/dev/null || true)
  cur=$(awk -v t="$TS" '$2 == t && $3 == 0 {print $4}' <<<"$out")
  lag=$(awk -v t="$TS" '$2 == t && $3 == 0 {print $6}' <<<"$out")
  [ "$cur" = 3 ] && [ "$lag" = 0 ] && break; sleep 0.5
done
expect_eq "after skip: committed offset" "$cur" 3
expect_eq "after skip: LAG" "$lag" 0
stop s TERM
log "after skip of the last event: committed = checkpoint + 1 = 3, LAG 0"
log "PASS"
