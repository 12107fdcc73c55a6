#!/usr/bin/env bash
# Byte 0x00 in the Avro JSON form of bytes and fixed ("\u0000"): a schema
# whose bytes/fixed defaults start with a zero byte loads everywhere
# (sf-schema check, sf-publish's catalog), sf-publish delivers data values
# with zero bytes, and what arrives decodes to the same bytes; U+0000 in
# an envelope field (aggregate_id) is refused with the field named.
. "$(dirname "$0")/lib.sh"
SFS=$BUILD/schemas/sf-schema
D=$WORK/schemas; mkdir -p "$D"
cat >"$D/Fee.v1.avsc" <<'S'
{"type":"record","name":"Fee","namespace":"t.nul","fields":[{"name":"id","type":"int"}]}
S
cat >"$D/Fee.v2.avsc" <<'S'
{"type":"record","name":"Fee","namespace":"t.nul","fields":[{"name":"id","type":"int"},
 {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":9,"scale":2},"default":"\u0000\u0064"},
 {"name":"code","type":{"type":"fixed","name":"Code","size":3},"default":"\u0000\u0000\u0001"}]}
S
"$SFS" check "$D" >"$WORK/check.out" 2>&1 || fail "check refused zero-byte defaults: $(cat "$WORK/check.out")"
log "sf-schema check loads bytes/fixed defaults with zero bytes"

t=$(new_topic nul)
"$PUB" -b "$BROKERS" -t "$t" -s "$D" --create-topic --partitions 1 >"$WORK/pub.out" 2>&1 <<'J' || fail "sf-publish: $(cat "$WORK/pub.out")"
{"type":"t.nul.Fee","aggregate_id":"f1","data":{"id":1,"amount":"\u0000\u00c8","code":"\u0000\u0005\u0000"}}
{"type":"t.nul.Fee","aggregate_id":"f2","version":1,"schema_version":1,"data":{"id":2}}
J
got=$(kcat -b "$BROKERS" -C -t "$t" -o beginning -c 2 -e -q -f '%o %s\n' 2>/dev/null | wc -l)
[ "$got" -ge 2 ] || fail "expected 2 records on $t"
# decode each record (raw bytes) with the catalog: newest version
for o in 0 1; do
  kcat -b "$BROKERS" -C -t "$t" -o "$o" -c 1 -e -q -f '%s' 2>/dev/null >"$WORK/rec$o.bin"
  "$SFS" decode -s "$D" <"$WORK/rec$o.bin" >"$WORK/rec$o.json" 2>"$WORK/dec$o.err" \
    || fail "decode of offset $o: $(cat "$WORK/dec$o.err")"
done
grep -qF '"amount":"\u0000È"' "$WORK/rec0.json" || fail "offset 0 amount: $(cat "$WORK/rec0.json")"
grep -qF '"code":"\u0000\u0005\u0000"' "$WORK/rec0.json" || fail "offset 0 code: $(cat "$WORK/rec0.json")"
grep -qF '"amount":"\u0000d"' "$WORK/rec1.json" || fail "offset 1 (v1 data, v2 default) amount: $(cat "$WORK/rec1.json")"
grep -qF '"code":"\u0000\u0000\u0001"' "$WORK/rec1.json" || fail "offset 1 code: $(cat "$WORK/rec1.json")"
log "sf-publish delivers zero bytes; v1 data decodes with the zero-byte defaults"

set +e
echo '{"type":"t.nul.Fee","aggregate_id":"f\u00003","data":{"id":3}}' \
  | "$PUB" -b "$BROKERS" -t "$t" -s "$D" >"$WORK/bad.out" 2>&1; rc=$?
set -e
[ $rc -eq 1 ] || fail "U+0000 in aggregate_id: exit $rc, want 1"
grep -q 'line 1: aggregate_id: U+0000' "$WORK/bad.out" || fail "refusal not named: $(cat "$WORK/bad.out")"
log "U+0000 in an envelope field is refused, naming the field"
echo PASS
