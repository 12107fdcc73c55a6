#!/bin/sh
# sf-schema command line: exit codes, one stderr line per failure, outputs.
# usage: test_cli.sh SF_SCHEMA DOMAINS_DIR
set -u
SF=$1 DOM=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fails=0
no() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

# expect RC CMD... : runs CMD, stdout -> $TMP/out, stderr -> $TMP/err
expect() {
    _rc_want=$1; shift
    "$@" > "$TMP/out" 2> "$TMP/err"
    rc=$?
    [ "$rc" = "$_rc_want" ] || no "$* exited $rc, want $_rc_want ($(head -c 300 "$TMP/err"))"
}
errlines() { wc -l < "$TMP/err" | tr -d ' '; }

for c in fingerprint canonical check encode decode list; do
    expect 0 "$SF" $c --help
    grep -q "usage: sf-schema $c" "$TMP/out" || no "$c --help prints no usage"
done
expect 0 "$SF" --help
expect 2 "$SF" frobnicate
[ "$(errlines)" = 1 ] || no "unknown command: $(errlines) stderr lines"
expect 2 "$SF" fingerprint

# Spec vector 019: {"name":"foo","type":"record","fields":[]}
printf '%s' '{"fields":[], "type":"record", "name":"foo", "doc":"x"}' > "$TMP/foo.avsc"
want=$(python3 -c 'print("%016x" % (-4824392279771201922 & 0xffffffffffffffff))')
wire=$(python3 -c 'print((-4824392279771201922 & 0xffffffffffffffff).to_bytes(8, "little").hex())')
expect 0 "$SF" fingerprint "$TMP/foo.avsc"
[ "$(cat "$TMP/out")" = "$want" ] || no "fingerprint $(cat "$TMP/out"), want $want"
expect 0 "$SF" fingerprint --wire "$TMP/foo.avsc"
[ "$(cat "$TMP/out")" = "$wire" ] || no "fingerprint --wire $(cat "$TMP/out"), want $wire"
expect 0 "$SF" canonical "$TMP/foo.avsc"
[ "$(cat "$TMP/out")" = '{"name":"foo","type":"record","fields":[]}' ] || no "canonical $(cat "$TMP/out")"
expect 0 "$SF" fingerprint --canonical "$TMP/foo.avsc"
[ "$(cat "$TMP/out")" = '{"name":"foo","type":"record","fields":[]}' ] || no "fingerprint --canonical"
expect 1 "$SF" fingerprint "$TMP/missing.avsc"
grep -q "missing.avsc" "$TMP/err" || no "missing file not named"
printf '{"type":"record","name":"x","fields":[{"name":"a","type":"nope"}]}' > "$TMP/bad.avsc"
expect 1 "$SF" canonical "$TMP/bad.avsc"
grep -q 'bad.avsc: schema: fields\[0\].type: unknown type "nope"' "$TMP/err" || no "bad schema error: $(cat "$TMP/err")"

# check: the domains are compatible in every mode; a broken chain is not.
for m in BACKWARD FORWARD FULL; do
    expect 0 "$SF" check "$DOM" --mode $m
done
mkdir "$TMP/broken"
printf '{"type":"record","name":"t.E","fields":[{"name":"a","type":"int"}]}' > "$TMP/broken/E.v1.avsc"
printf '{"type":"record","name":"t.E","fields":[{"name":"a","type":"string"},{"name":"b","type":"long"}]}' > "$TMP/broken/E.v2.avsc"
expect 1 "$SF" check "$TMP/broken"
[ "$(wc -l < "$TMP/out" | tr -d ' ')" = 2 ] || no "check: want 2 problem lines, got $(cat "$TMP/out")"
grep -q '^t.E: v2 cannot read v1: a: writer type int cannot be read as string$' "$TMP/out" || no "check line a: $(cat "$TMP/out")"
grep -q '^t.E: v2 cannot read v1: b: reader field "b" is missing' "$TMP/out" || no "check line b"
[ "$(errlines)" = 1 ] || no "check: $(errlines) stderr lines"
expect 1 "$SF" check "$TMP/broken" --mode FORWARD
[ "$(wc -l < "$TMP/out" | tr -d ' ')" = 1 ] || no "check FORWARD: $(cat "$TMP/out")"
expect 2 "$SF" check "$DOM" --mode SIDEWAYS

# encode / decode: a bad line fails alone, with the field path.
cat > "$TMP/in.jsonl" <<'J'
{"cart_id":"c","sku":"s","quantity":1,"unit_price_cents":5,"added_at":1}
{"cart_id":"c","sku":"s","quantity":"one","unit_price_cents":5,"added_at":1}
{"cart_id":"c","sku":"s","quantity":2,"unit_price_cents":5,"added_at":1,"currency":"USD"}
J
expect 1 "$SF" encode -s "$DOM" -t shop.cart.ItemAddedToCart --hex < "$TMP/in.jsonl"
[ "$(wc -l < "$TMP/out" | tr -d ' ')" = 2 ] || no "encode: want 2 events"
[ "$(errlines)" = 1 ] || no "encode: $(errlines) stderr lines"
grep -q 'stdin:2: data.quantity: expected int, got string' "$TMP/err" || no "encode error: $(cat "$TMP/err")"
cp "$TMP/out" "$TMP/ev.hex"
expect 0 "$SF" decode -s "$DOM" --hex < "$TMP/ev.hex"
[ "$(sed -n 1p "$TMP/out")" = '{"cart_id":"c","sku":"s","quantity":1,"unit_price_cents":5,"added_at":1,"currency":"EUR"}' ] || no "decode 1: $(sed -n 1p "$TMP/out")"
[ "$(sed -n 2p "$TMP/out")" = '{"cart_id":"c","sku":"s","quantity":2,"unit_price_cents":5,"added_at":1,"currency":"USD"}' ] || no "decode 2: $(sed -n 2p "$TMP/out")"
# v1 explicitly, raw bytes through a pipe, envelope shows the versions.
head -1 "$TMP/in.jsonl" | "$SF" encode -s "$DOM" -t shop.cart.ItemAddedToCart -V 1 > "$TMP/ev.bin" || no "raw encode"
[ "$(head -c 2 "$TMP/ev.bin" | od -An -tx1 | tr -d ' \n')" = c301 ] || no "raw encode magic"
expect 0 "$SF" decode -s "$DOM" --envelope < "$TMP/ev.bin"
grep -q '"writer_version":1,"version":2' "$TMP/out" || no "envelope: $(cat "$TMP/out")"
printf 'c302\nzz\nc301000000000000000000\n' > "$TMP/badhex"
expect 1 "$SF" decode -s "$DOM" --hex < "$TMP/badhex"
[ "$(errlines)" = 3 ] || no "decode: want 3 stderr lines, got $(cat "$TMP/err")"
grep -q 'stdin:1: SF_ERR_BAD_MAGIC' "$TMP/err" || no "bad magic line"
grep -q 'stdin:2: not a hex string' "$TMP/err" || no "bad hex line"
grep -q 'stdin:3: SF_ERR_UNKNOWN_FINGERPRINT' "$TMP/err" || no "unknown fp line"
echo '{"type":"shop.cart.Nope","data":{}}' > "$TMP/env.jsonl"
expect 1 "$SF" encode -s "$DOM" --hex < "$TMP/env.jsonl"
grep -q 'no schema for shop.cart.Nope' "$TMP/err" || no "unknown type"
expect 1 "$SF" list -s "$TMP/nowhere"
expect 0 "$SF" list -s "$DOM"
[ "$(wc -l < "$TMP/out" | tr -d ' ')" -ge 10 ] || no "list"

[ $fails = 0 ] || { echo "test_cli: $fails failures" >&2; exit 1; }
echo "test_cli: ok"
