#!/bin/sh
# Interop of sf-schema with Python fastavro as an independent Avro peer:
#   1. canonical form and fingerprint of every domain schema agree;
#   2. fastavro decodes every example event sf-schema encodes;
#   3. sf-schema decodes every event fastavro encodes, including
#      ItemAddedToCart v1 read as v2 (currency takes its default "EUR").
# usage: test_fastavro.sh SF_SCHEMA DOMAINS_DIR EXAMPLES.jsonl
set -eu
SF=$1 DOM=$2 EX=$3
HERE=$(cd "$(dirname "$0")" && pwd)
PEER="python3 $HERE/fastavro_peer.py"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

die() { echo "test_fastavro: $*" >&2; exit 1; }

python3 -c 'import fastavro' 2>/dev/null || die "python3 fastavro is not installed"

# 1. canonical form + fingerprint, per file.
n=0
for f in $(find "$DOM" -name '*.avsc' | sort); do
    want=$($PEER canon "$f")
    got="$("$SF" canonical "$f")	$("$SF" fingerprint --wire "$f")"
    [ "$got" = "$want" ] || die "$f: sf-schema '$got' vs fastavro '$want'"
    # The integer form is the wire bytes reversed.
    int=$("$SF" fingerprint "$f")
    rev=$(printf '%s' "${want#*	}" | sed 's/../& /g' | awk '{for(i=NF;i>0;i--) printf "%s", $i}')
    [ "$int" = "$rev" ] || die "$f: integer fingerprint $int, reversed wire bytes $rev"
    n=$((n + 1))
done
[ "$n" -ge 10 ] || die "only $n schemas found in $DOM"
echo "canonical form and fingerprint agree for $n schemas"

# 2. we encode, fastavro decodes.
"$SF" encode -s "$DOM" --hex < "$EX" > "$TMP/ours.hex"
$PEER read "$DOM" "$EX" < "$TMP/ours.hex"

# 3. fastavro encodes, we decode (resolving to the newest version).
$PEER write "$DOM" "$EX" > "$TMP/theirs.hex"
"$SF" decode -s "$DOM" --hex --envelope < "$TMP/theirs.hex" > "$TMP/decoded.jsonl"
$PEER expect "$DOM" "$EX" > "$TMP/expect.jsonl"
python3 - "$TMP/decoded.jsonl" "$TMP/expect.jsonl" <<'PY'
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
want = [json.loads(l) for l in open(sys.argv[2])]
if len(got) != len(want):
    sys.exit("test_fastavro: decoded %d events, want %d" % (len(got), len(want)))
for i, (g, w) in enumerate(zip(got, want), 1):
    if g != w:
        sys.exit("test_fastavro: event %d: sf-schema decoded %s, want %s" % (i, g, w))
v1 = [g for g in got if g["type"] == "shop.cart.ItemAddedToCart" and g["writer_version"] == 1]
if not v1 or any(g["version"] != 2 or g["data"]["currency"] != "EUR" for g in v1):
    sys.exit("test_fastavro: no ItemAddedToCart v1 event read as v2 with currency EUR")
print("sf-schema decoded %d fastavro events (%d v1->v2)" % (len(got), len(v1)))
PY
