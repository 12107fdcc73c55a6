#!/usr/bin/env bash
# e2e_poison.sh - (e) poison events in the middle of a partition: one value
# that is not Avro single-object bytes at all, one with the right magic but
# a fingerprint no schema has.  Each must reach <topic>.dlq (per projection)
# with headers naming the reason, the projection, the source topic,
# partition and offset, and the payload unchanged; every good event after
# them on that partition must still be applied (views equal the reference).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/e2e_lib.sh"
need_bins
new_run poison "${SF_E2E_EVENTS:-10000}" 5
create_topic 12
P=3
half=$(( EVENTS / 2 ))
publish 0 "$half"
# the two poison records, with CloudEvents headers of a real cart event
printf 'this is not avro' >"$WORK/poison1.bin"
printf '\xc3\x01\xde\xad\xbe\xef\x00\x11\x22\x33\x02xy' >"$WORK/poison2.bin"
for i in 1 2; do
  kcat -P -b "$SF_BROKERS" -t "$TOPIC" -p $P -k "$PREFIX-poison$i" \
    -H ce_specversion=1.0 -H ce_id="00000000-0000-4000-8000-00000000000$i" \
    -H ce_source=e2e-poison -H ce_type=shop.cart.ItemAddedToCart \
    -H ce_subject="$PREFIX-poison$i" -H content-type=application/avro \
    -H ce_aggregatetype=cart -H ce_sequence=1 \
    "$WORK/poison$i.bin" || fail "kcat could not produce poison $i"
done
publish "$half" "$EVENTS"
kcat -C -b "$SF_BROKERS" -t "$TOPIC" -p $P -o beginning -e -q \
  -f '%o\t%k\n' >"$WORK/p$P.txt"
off1=$(awk -v k="$PREFIX-poison1" '$2 == k { print $1 }' "$WORK/p$P.txt")
off2=$(awk -v k="$PREFIX-poison2" '$2 == k { print $1 }' "$WORK/p$P.txt")
last=$(tail -n 1 "$WORK/p$P.txt" | cut -f1)
[ -n "$off1" ] && [ -n "$off2" ] || fail "poison records not found in partition $P"
log "poison at $TOPIC/$P offsets $off1 and $off2; partition end offset $last"
[ "$last" -gt "$off2" ] || fail "no good event after the poison on partition $P (test data too small)"

WPORT[1]=$(free_port)
write_config "$WORK/w1.yaml" "${WPORT[1]}"
start_worker 1 "$WORK/w1.yaml"
verify "${SF_E2E_WAIT:-180}" || fail "views differ: events after the poison were lost or doubled"

# both projections checkpointed past the end of partition P
for p in "$P_CART" "$P_AVAIL"; do
  ck=$(redis-cli -h "$SF_REDIS_HOST" -p "$SF_REDIS_PORT" GET "sf:$p:ckpt:$TOPIC:$P")
  log "$p checkpoint on partition $P: ${ck:-none}"
  [ -n "$ck" ] && [ "$ck" -ge "$last" ] || fail "$p: checkpoint ${ck:-none} of partition $P below its last offset $last"
done

# the dead letters: 2 poison records x 2 projections
n=0
for _ in $(seq 1 60); do
  kcat -C -b "$SF_BROKERS" -t "$TOPIC.dlq" -o beginning -e -q \
    -f '%p\t%o\t%k\t%S\t%h\n' >"$WORK/dlq.txt" 2>/dev/null || true
  n=$(wc -l <"$WORK/dlq.txt")
  [ "$n" -ge 4 ] && break
  sleep 0.5
done
log "$n dead letters in $TOPIC.dlq"
sed 's/^/    /' "$WORK/dlq.txt" | head -8 >&2
[ "$n" -ge 4 ] || fail "expected 4 dead letters (2 poisons x 2 projections), found $n"
for i in 1 2; do
  off=$([ $i = 1 ] && echo "$off1" || echo "$off2")
  size=$(stat -c %s "$WORK/poison$i.bin")
  for p in "$P_CART" "$P_AVAIL"; do
    line=$(awk -F'\t' -v k="$PREFIX-poison$i" -v p="$p" '$3 == k && index($5, p)' "$WORK/dlq.txt" | head -n 1)
    [ -n "$line" ] || fail "no dead letter for poison $i from projection $p"
    hdr=$(printf '%s' "$line" | cut -f5)
    [ "$(printf '%s' "$line" | cut -f4)" = "$size" ] || fail "poison $i ($p): payload size changed in the DLQ"
    printf '%s' "$hdr" | grep -q "$TOPIC" || fail "poison $i ($p): no source topic header: $hdr"
    printf '%s' "$hdr" | grep -Eq "(^|,)[^=,]*partition[^=,]*=$P(,|$)" || fail "poison $i ($p): no partition=$P header: $hdr"
    printf '%s' "$hdr" | grep -Eq "(^|,)[^=,]*offset[^=,]*=$off(,|$)" || fail "poison $i ($p): no offset=$off header: $hdr"
    printf '%s' "$hdr" | grep -Eiq "(^|,)[^=,]*(reason|error)[^=,]*=[^,]+" || fail "poison $i ($p): no reason header: $hdr"
  done
done
dl=$(metric 1 "streamfold_dead_lettered_total{projection=\"$P_CART\"}")
log "dead_lettered_total{$P_CART}=${dl:-?}"
[ "${dl:-0}" = 2 ] || fail "dead_lettered_total for $P_CART is '${dl:-}', want 2"
stop_worker 1 TERM; st=$ST
[ "$st" = 0 ] || fail "worker exited $st on SIGTERM"
log "PASS"
