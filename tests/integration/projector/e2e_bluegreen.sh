#!/usr/bin/env bash
# e2e_bluegreen.sh - a blue/green rebuild as readers and operators see it.
#
# A private Redis (SWAPDB switches whole databases: never on the shared
# one); the cart-contents projection lives in db 0 with spare_db 1.
#  1. A history H1 (>= 100k events, prefix P1) is projected by a live
#     worker and checked against the reference fold (sf_e2e verify).
#  2. A reader polls a set of P1's view keys continuously, each read one
#     MULTI/EXEC, on its own connection.  The definition changes (the
#     rules also SET bgmark:<cart> on CartOpened) and a second worker is
#     started with it: it builds the new version blue/green (the same code
#     as `rebuild`) and switches it in while the old worker keeps applying
#     a second history H2 (other carts) to the serving view; the old
#     worker then stops applying (another version serves).  Every read
#     must equal the complete old snapshot (verified against the reference
#     fold) or the complete new one (old + bgmark): never empty, partial
#     or mixed.
#  3. After the switch P1 and H2 equal the reference fold (nothing of H2
#     lost or applied twice across the switch), bgmark is there; status
#     shows both generations and versions.
#  4. `rollback` (with the old definition back) brings the old generation
#     back (the reader sees new->old, bgmark gone), and it catches up.
#  5. A rebuild SIGKILLed mid-replay leaves the live view byte-equal to
#     what it was; rollback is refused while the spare is incomplete.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/e2e_lib.sh"
need_bins
command -v redis-server >/dev/null || { log "SKIP: redis-server missing"; exit $SKIP; }
python3 -c 'import redis' 2>/dev/null || { log "SKIP: python3 redis module missing"; exit $SKIP; }
new_run bluegreen "${SF_BG_EVENTS:-100000}" 71
P1=$PREFIX; N1=$EVENTS
P2="${PREFIX}f"; N2=${SF_BG_FLOW_EVENTS:-20000}

# the private Redis
RP=$(free_port)
mkdir -p "$WORK/rd"
redis-server --port "$RP" --bind 127.0.0.1 --dir "$WORK/rd" --save '' \
  --appendonly no --daemonize no --logfile "$WORK/redis.log" &
RPID=$!; RUNNING[$RPID]=1
for _ in $(seq 1 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
export SF_REDIS_PORT=$RP SF_REDIS_HOST=127.0.0.1
R() { redis-cli -p "$RP" "$@"; }
R ping >/dev/null || fail "private redis did not start"

cp "$EXAMPLES/cart-contents.rules.yaml" "$WORK/rules.yaml"
cat >"$WORK/c.yaml" <<YAML
kafka:
  bootstrap.servers: "$SF_BROKERS"
  session.timeout.ms: 6000
redis: {host: 127.0.0.1, port: $RP}
schemas: "$SCHEMAS"
projections:
  - name: "$P_CART"
    topics: ["$TOPIC"]
    rules: "$WORK/rules.yaml"
    db: 0
    spare_db: 1
    batch: {size: 2000, time_ms: 20}
YAML
PROJS=("$P_CART")

# 1. H1, projected live and checked
create_topic 12
publish 0 "$N1"
start_worker 1 "$WORK/c.yaml"
"$E2E_BIN" verify --seed "$SEED" --events "$N1" --prefix "$P1" --only cart \
  --redis "127.0.0.1:$RP" --wait 240 || fail "live view of H1 differs from the reference fold"
log "H1 ($N1 events) projected and equal to the reference fold"

# "$PROJ_BIN" rebuild refuses without spare_db / with a shared database
{ cat "$WORK/c.yaml"
  echo "  - {name: \"x-$RUN\", topics: [\"$TOPIC\"], rules: \"$WORK/rules.yaml\", db: 1}"
} >"$WORK/shared.yaml"
if "$PROJ_BIN" rebuild -c "$WORK/shared.yaml" "$P_CART" 2>"$WORK/shared.err"; then
  fail "rebuild ran with spare_db shared with another projection"
fi
grep -q "shares database 1 with projection x-$RUN" "$WORK/shared.err" \
  || fail "shared-db refusal unclear: $(cat "$WORK/shared.err")"

# 2. the reader; the definition changes and is deployed by starting a
# worker with it (it builds the new version blue/green and switches)
# while the old worker keeps applying the flowing history H2
n=$(python3 "$HERE/bg_reader.py" snapshot 127.0.0.1 "$RP" 0 "$P1" 40 bgmark "$WORK/expect.json")
[ "$n" -ge 20 ] || fail "only $n carts of H1 in the view"
python3 "$HERE/bg_reader.py" 127.0.0.1 "$RP" 0 "$WORK/expect.json" "$WORK/stop" "$WORK/reads.json" &
READER=$!; RUNNING[$READER]=1
cp "$WORK/rules.yaml" "$WORK/rules.v1.yaml"
sed -i 's/^keys: \["cart:\*"\]/keys: ["cart:*", "bgmark:*"]/; s/^    - \[HSET, "cart:{aggregate_id}", status, open\]/&\n    - [SET, "bgmark:{aggregate_id}", "2"]/' "$WORK/rules.yaml"
grep -q 'bgmark:{aggregate_id}' "$WORK/rules.yaml" || fail "rules edit did not apply"
"$E2E_BIN" publish --seed 72 --events "$N2" --prefix "$P2" -t "$TOPIC" \
  --schemas "$SCHEMAS" --rate 2000 >"$WORK/flow.log" 2>&1 &
FLOW=$!; RUNNING[$FLOW]=1
sleep 1
start_worker 2 "$WORK/c.yaml"
for _ in $(seq 1 300); do grep -q 'switched: the new generation serves' "$WORK/worker2.log" && break; sleep 0.5; done
grep -q 'switched: the new generation serves' "$WORK/worker2.log" || fail "the new version was not switched in: $(grep -v assigned "$WORK/worker2.log" | tail -3)"
pause=$(sed -n 's/.*msg="switched: .* pause_ms=\([0-9]*\).*/\1/p' "$WORK/worker2.log" | tail -1)
log "worker 2 built and switched in the new version; live writes paused ${pause:-?} ms"
# the old worker never applies its definition to the new version
for _ in $(seq 1 60); do grep -q 'partition paused until' "$WORK/worker1.log" && break; sleep 0.5; done
grep -q 'partition paused until' "$WORK/worker1.log" || fail "the old worker did not stop applying to the new version"
stop_worker 1 TERM
[ "$ST" = 0 ] || fail "worker 1 exited $ST"
wait "$FLOW" || fail "flow publisher failed: $(tail -2 "$WORK/flow.log")"; unset "RUNNING[$FLOW]"

# 3. the new generation: both histories equal the reference fold
"$E2E_BIN" verify --seed "$SEED" --events "$N1" --prefix "$P1" --only cart \
  --redis "127.0.0.1:$RP" --wait 60 || fail "after the switch H1 differs from the reference fold"
"$E2E_BIN" verify --seed 72 --events "$N2" --prefix "$P2" --only cart \
  --redis "127.0.0.1:$RP" --wait 120 || fail "after the switch the flowing history H2 differs from the reference fold (lost or applied twice)"
marks=$(R -n 0 --scan --pattern "bgmark:$P1-*" | wc -l)
[ "$marks" -gt 0 ] || fail "the new definition's keys are not in the serving view"
"$PROJ_BIN" status -c "$WORK/c.yaml" "$P_CART" >"$WORK/status1.txt" 2>&1 || fail "status: $(cat "$WORK/status1.txt")"
grep -q "generation serving  db 0: serving, .* (configured)" "$WORK/status1.txt" || fail "status does not show the serving generation: $(cat "$WORK/status1.txt")"
grep -q "generation spare    db 1: previous, .*(not the configured" "$WORK/status1.txt" || fail "status does not show the previous version: $(cat "$WORK/status1.txt")"
log "after the switch: H1 and H2 equal the reference fold, $marks bgmark keys"

# 4. rollback (with the old definition back): the old generation serves
# again and catches up
cp "$WORK/rules.v1.yaml" "$WORK/rules.yaml"
"$PROJ_BIN" rollback -c "$WORK/c.yaml" "$P_CART" 2>"$WORK/rollback.err" || fail "rollback: $(cat "$WORK/rollback.err")"
[ "$(R -n 0 --scan --pattern "bgmark:*" | wc -l)" = 0 ] || fail "bgmark keys still served after rollback"
stop_worker 2 TERM
start_worker 3 "$WORK/c.yaml"
"$E2E_BIN" verify --seed 72 --events "$N2" --prefix "$P2" --only cart \
  --redis "127.0.0.1:$RP" --wait 120 || fail "after rollback the old generation did not catch up with H2"
"$E2E_BIN" verify --seed "$SEED" --events "$N1" --prefix "$P1" --only cart \
  --redis "127.0.0.1:$RP" --wait 30 || fail "after rollback H1 differs from the reference fold"
log "rollback: $(tail -1 "$WORK/rollback.err")"
# drop: the spare held the rolled-back-from generation
"$PROJ_BIN" drop -c "$WORK/c.yaml" "$P_CART" 2>"$WORK/drop.err" || fail "drop: $(cat "$WORK/drop.err")"
grep -q "spare_db 1 emptied" "$WORK/drop.err" || fail "drop said: $(cat "$WORK/drop.err")"
for _ in $(seq 1 50); do [ "$(R -n 1 dbsize)" = 0 ] && break; sleep 0.1; done
[ "$(R -n 1 dbsize)" = 0 ] || fail "spare_db not empty after drop"
# a database that is not a generation of this projection is never emptied
R -n 1 set "someone-else:key" 1 >/dev/null
if "$PROJ_BIN" drop -c "$WORK/c.yaml" "$P_CART" 2>"$WORK/drop2.err"; then fail "drop emptied a foreign database"; fi
grep -q "no generation of $P_CART" "$WORK/drop2.err" || fail "drop refusal unclear: $(cat "$WORK/drop2.err")"
if "$PROJ_BIN" rebuild -c "$WORK/c.yaml" "$P_CART" 2>"$WORK/rb-foreign.err"; then fail "rebuild emptied a foreign database"; fi
[ "$(R -n 1 get "someone-else:key")" = 1 ] || fail "the foreign key is gone"
R -n 1 del "someone-else:key" >/dev/null
log "drop emptied the spare; a foreign key in it stops drop and rebuild"

# 5. an interrupted rebuild leaves the live view byte-equal
python3 "$HERE/bg_reader.py" dump 127.0.0.1 "$RP" 0 "cart:*" >"$WORK/before.txt"
"$PROJ_BIN" rebuild -c "$WORK/c.yaml" "$P_CART" >"$WORK/rebuild2.out" 2>&1 &
RB=$!; RUNNING[$RB]=1
# killed as soon as the replay has applied its first batches to the spare
# (the spare held the generation rolled back from until the rebuild
# emptied it and marked it building)
CKPTS=(); for i in $(seq 0 11); do CKPTS+=("sf:$P_CART:ckpt:$TOPIC:$i"); done
replaying() {
  [ "$(R -n 1 hget "sf:$P_CART:gen" state)" = building ] &&
    [ "$(R -n 1 exists "${CKPTS[@]}")" -gt 0 ]
}
for _ in $(seq 1 1200); do replaying && break; sleep 0.05; done
kill -KILL "$RB"; wait "$RB" 2>/dev/null || true; unset "RUNNING[$RB]"
replaying || fail "second rebuild never replayed: $(tail -3 "$WORK/rebuild2.out")"
grep -q "switched" "$WORK/rebuild2.out" && fail "second rebuild finished before it could be killed"
python3 "$HERE/bg_reader.py" dump 127.0.0.1 "$RP" 0 "cart:*" >"$WORK/after.txt"
cmp -s "$WORK/before.txt" "$WORK/after.txt" || fail "the live view changed under a killed rebuild ($(diff "$WORK/before.txt" "$WORK/after.txt" | head -3))"
if "$PROJ_BIN" rollback -c "$WORK/c.yaml" "$P_CART" 2>"$WORK/rollback2.err"; then
  fail "rollback ran onto an incomplete generation"
fi
grep -q "being built" "$WORK/rollback2.err" || fail "rollback refusal unclear: $(cat "$WORK/rollback2.err")"
log "killed rebuild: live view byte-equal ($(wc -l <"$WORK/before.txt") keys), rollback refused"

# the reader's verdict
touch "$WORK/stop"
wait "$READER" || fail "reader failed"; unset "RUNNING[$READER]"
log "reader: $(tr -d '\n' <"$WORK/reads.json" | cut -c1-300)"
python3 - "$WORK/reads.json" <<'PY' || fail "reader saw an incomplete view"
import json, sys
r = json.load(open(sys.argv[1]))
c = r["counts"]
assert c["violation"] == 0, r["violations"]
assert c["old"] > 0 and c["new"] > 0, c
assert r["switches"][:2] == ["old->new", "new->old"], r["switches"]
PY
stop_worker 3 TERM
[ "$ST" = 0 ] || fail "worker 3 exited $ST"
kill "$RPID"; wait "$RPID" 2>/dev/null || true; unset "RUNNING[$RPID]"
log "PASS"
