#!/bin/sh
# Interop of sf-schema with Python fastavro as an independent Avro peer.
# For the domain schemas (with their examples) and for an interop-only
# evolution pair exercising every resolution rule (evolve/):
#   1. canonical form and fingerprint of every schema agree;
#   2. fastavro decodes every example event sf-schema encodes (and resolves
#      older versions to the newest one itself);
#   3. sf-schema decodes every event fastavro encodes, resolving to the
#      newest version; the result must equal the example's "expect", or
#      else fastavro's own resolution of the same bytes.  For the domains
#      this includes ItemAddedToCart v1 read as v2 (currency "EUR").
# usage: test_fastavro.sh SF_SCHEMA DOMAINS_DIR EXAMPLES.jsonl
set -eu
SF=$1 DOM=$2 EX=$3
HERE=$(cd "$(dirname "$0")" && pwd)
PEER="python3 $HERE/fastavro_peer.py"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

die() { echo "test_fastavro: $*" >&2; exit 1; }

python3 -c 'import fastavro' 2>/dev/null || die "python3 fastavro is not installed"

run_set() { # NAME DIR EXAMPLES MIN_SCHEMAS
    name=$1 dir=$2 ex=$3 min=$4
    n=0
    for f in $(find "$dir" -name '*.avsc' | sort); do
        want=$($PEER canon "$f")
        got="$("$SF" canonical "$f")	$("$SF" fingerprint --wire "$f")"
        [ "$got" = "$want" ] || die "$f: sf-schema '$got' vs fastavro '$want'"
        # The integer form is the wire bytes reversed.
        int=$("$SF" fingerprint "$f")
        rev=$(printf '%s' "${want#*	}" | sed 's/../& /g' |
              awk '{for (i = NF; i > 0; i--) printf "%s", $i}')
        [ "$int" = "$rev" ] || die "$f: integer fingerprint $int, reversed wire bytes $rev"
        n=$((n + 1))
    done
    [ "$n" -ge "$min" ] || die "$name: only $n schemas found in $dir"
    echo "$name: canonical form and fingerprint agree for $n schemas"

    "$SF" encode -s "$dir" --hex < "$ex" > "$TMP/ours.hex"
    $PEER read "$dir" "$ex" < "$TMP/ours.hex"

    $PEER write "$dir" "$ex" > "$TMP/theirs.hex"
    $PEER expect "$dir" "$ex" > "$TMP/expect.jsonl"
    for src in theirs ours; do
        "$SF" decode -s "$dir" --hex --envelope < "$TMP/$src.hex" > "$TMP/decoded.jsonl"
        python3 - "$TMP/decoded.jsonl" "$TMP/expect.jsonl" "$name" "$src" <<'PY'
import json, sys
got = [json.loads(l) for l in open(sys.argv[1])]
want = [json.loads(l) for l in open(sys.argv[2])]
name, src = sys.argv[3], sys.argv[4]
if len(got) != len(want):
    sys.exit("test_fastavro: %s: decoded %d events, want %d" % (name, len(got), len(want)))
for i, (g, w) in enumerate(zip(got, want), 1):
    if g != w:
        sys.exit("test_fastavro: %s: %s event %d: sf-schema decoded %s, want %s"
                 % (name, src, i, g, w))
resolved = [g for g in got if g["writer_version"] != g["version"]]
if not resolved:
    sys.exit("test_fastavro: %s: no event was resolved to a newer version" % name)
if name == "domains":
    v1 = [g for g in resolved if g["type"] == "shop.cart.ItemAddedToCart"]
    if not v1 or any(g["data"]["currency"] != "EUR" for g in v1):
        sys.exit("test_fastavro: no ItemAddedToCart v1 event read as v2 with EUR")
print("%s: sf-schema decoded %d events written by %s (%d resolved)"
      % (name, len(got), "fastavro" if src == "theirs" else "sf-schema", len(resolved)))
PY
    done
}

run_set domains "$DOM" "$EX" 10
run_set evolve "$HERE/evolve" "$HERE/evolve/examples.jsonl" 2
