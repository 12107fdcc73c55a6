#!/usr/bin/env bash
# Each record lands on the partition the Java client's default partitioner
# picks for its key: toPositive(murmur2(key)) % partitions, computed by
# kafka-clients' own Utils (tests/interop/producer/Murmur.java) from the
# broker's jars; where the records really are is read back by the Python
# peer.  Two partition counts, 300 keys incl. non-ASCII UTF-8 ones.
. "$(dirname "$0")/lib.sh"

for parts in 7 12; do
  t=$(new_topic part$parts)
  : >"$WORK/in.jsonl"
  for i in $(seq 0 299); do
    case $((i % 3)) in
      0) k="cart-$i";; 1) k="ключ-$i-ö";; 2) k="$i";;
    esac
    printf '{"type":"shop.cart.CartCheckedOut","aggregate_id":"%s","data":{"cart_id":"%s","checked_out_at":%d}}\n' \
      "$k" "$k" "$i" >>"$WORK/in.jsonl"
  done
  "$PUB" -b "$BROKERS" -t "$t" -s "$SCHEMAS" --create-topic \
    --partitions $parts <"$WORK/in.jsonl" 2>"$WORK/pub.err" \
    || { cat "$WORK/pub.err" >&2; fail "sf-publish failed"; }
  peer "$t" >"$WORK/out.jsonl"
  [ "$(wc -l <"$WORK/out.jsonl")" -eq 300 ] || fail "expected 300 records"
  jq -r '"\(.key)\t\(.partition)"' "$WORK/out.jsonl" | sort >"$WORK/actual"
  jq -r '.aggregate_id' "$WORK/in.jsonl" \
    | java -cp "$(kafka_libs)/*" "$SRC/tests/interop/producer/Murmur.java" $parts \
    | sort >"$WORK/expected"
  [ "$(wc -l <"$WORK/expected")" -eq 300 ] || fail "Murmur.java gave no answer"
  diff "$WORK/expected" "$WORK/actual" >&2 \
    || fail "$parts partitions: records not on the Java default partitioner's partition"
  used=$(cut -f2 "$WORK/actual" | sort -u | wc -l)
  [ "$used" -eq $parts ] || fail "only $used of $parts partitions used"
  log "$parts partitions: 300 keys on the partitions kafka-clients murmur2 picks"
done
echo "PASS"
