#!/usr/bin/env bash
# A transactional batch aborted halfway is invisible to a read_committed
# consumer (the Python peer), while a read_uncommitted one proves those
# records really reached the broker before the abort.
#  1. library: begin, 100 events acknowledged by the broker, abort; then a
#     committed batch of 100.
#  2. sf-publish --transactional with a bad line 151 of 300: exit 1, the 150
#     good lines before it were sent and are never visible; a clean input
#     commits all of its events.
. "$(dirname "$0")/lib.sh"

t=$(new_topic txn)
"$PUB" -b "$BROKERS" -t "$t" -s "$SCHEMAS" --create-topic --partitions 3 \
  </dev/null 2>"$WORK/pub.err" || { cat "$WORK/pub.err" >&2; fail "create topic"; }
"$TOOL" txn-abort "$BROKERS" "$t" "$SCHEMAS" 100 >"$WORK/tool.out" \
  || fail "sfp_tool txn-abort failed"
peer "$t" read_committed >"$WORK/committed.jsonl"
peer "$t" read_uncommitted >"$WORK/uncommitted.jsonl"
ids() { jq -r '.headers.ce_id' "$1" | sort; }
c_ab=$(ids "$WORK/committed.jsonl" | grep -c '^aborted-' || true)
c_ok=$(ids "$WORK/committed.jsonl" | grep -c '^committed-' || true)
u_ab=$(ids "$WORK/uncommitted.jsonl" | grep -c '^aborted-' || true)
[ "$c_ab" -eq 0 ] || fail "read_committed sees $c_ab aborted events"
[ "$c_ok" -eq 100 ] || fail "read_committed sees $c_ok of 100 committed events"
[ "$u_ab" -eq 100 ] || fail "read_uncommitted sees $u_ab of 100 aborted events (not on broker?)"
[ "$(ids "$WORK/committed.jsonl" | uniq -d | wc -l)" -eq 0 ] || fail "duplicates"
log "library: aborted batch invisible to read_committed, committed batch complete"

t2=$(new_topic txncli)
"$PUB" -b "$BROKERS" -t "$t2" -s "$SCHEMAS" --create-topic --partitions 3 \
  </dev/null 2>"$WORK/pub.err" || fail "create topic"
gen() { # first last [bad_line]
  for i in $(seq "$1" "$2"); do
    if [ "$i" = "${3:-}" ]; then
      echo '{"type":"shop.cart.CartCheckedOut","aggregate_id":"x","data":{"cart_id":"x","checked_out_at":"soon"}}'
    else
      printf '{"event_id":"cli-%d","type":"shop.cart.CartCheckedOut","aggregate_id":"c-%d","data":{"cart_id":"c-%d","checked_out_at":%d}}\n' \
        "$i" "$((i % 17))" "$((i % 17))" "$i"
    fi
  done
}
set +e
# The pause lets the first 150 records reach the broker inside the open
# transaction before the bad line arrives.
{ gen 1 150; sleep 3; gen 151 300 151; } \
  | "$PUB" -b "$BROKERS" -t "$t2" -s "$SCHEMAS" --transactional 2>"$WORK/cli.err"
rc=$?
set -e
[ $rc -eq 1 ] || fail "sf-publish --transactional with a bad line exited $rc, want 1"
grep -q '^line 151: data.checked_out_at' "$WORK/cli.err" || fail "no error for line 151: $(cat "$WORK/cli.err")"
grep -q 'delivered 0, failed 300' "$WORK/cli.err" || fail "summary: $(tail -1 "$WORK/cli.err")"
peer "$t2" read_committed >"$WORK/c2.jsonl"
peer "$t2" read_uncommitted >"$WORK/u2.jsonl"
[ ! -s "$WORK/c2.jsonl" ] || fail "read_committed sees $(wc -l <"$WORK/c2.jsonl") events of an aborted sf-publish run"
[ "$(wc -l <"$WORK/u2.jsonl")" -eq 150 ] \
  || fail "read_uncommitted sees $(wc -l <"$WORK/u2.jsonl") of the 150 records sent before the bad line"
log "sf-publish: bad line 151 aborted the transaction; the 150 records sent before it stay invisible"

gen 1 300 | "$PUB" -b "$BROKERS" -t "$t2" -s "$SCHEMAS" --transactional \
  2>"$WORK/cli2.err" || fail "clean transactional run failed: $(cat "$WORK/cli2.err")"
grep -q 'delivered 300, failed 0' "$WORK/cli2.err" || fail "summary: $(cat "$WORK/cli2.err")"
peer "$t2" read_committed >"$WORK/c3.jsonl"
[ "$(jq -r .headers.ce_id "$WORK/c3.jsonl" | sort -u | wc -l)" -eq 300 ] \
  || fail "committed run: expected 300 distinct events"
[ "$(wc -l <"$WORK/c3.jsonl")" -eq 300 ] || fail "committed run: duplicates"
log "sf-publish: clean transactional run committed all 300"

# A zombie (same transactional.id, older epoch) is fenced: its commit is a
# fatal error and nothing it wrote becomes visible.
t3=$(new_topic fence)
"$PUB" -b "$BROKERS" -t "$t3" -s "$SCHEMAS" --create-topic --partitions 3 \
  </dev/null 2>/dev/null || fail "create topic"
"$TOOL" fence "$BROKERS" "$t3" "$SCHEMAS" >"$WORK/fence.out" 2>"$WORK/fence.err" \
  || fail "fencing: $(cat "$WORK/fence.out" "$WORK/fence.err")"
peer "$t3" read_committed >"$WORK/c4.jsonl"
[ "$(jq -r .headers.ce_id "$WORK/c4.jsonl" | grep -c '^zombie' || true)" -eq 0 ] \
  || fail "a fenced producer's events are visible"
[ "$(jq -r .headers.ce_id "$WORK/c4.jsonl" | grep -c '^fresh-')" -eq 5 ] \
  || fail "the new producer's 5 events are not all visible"
log "fenced zombie: commit fatal ($(head -1 "$WORK/fence.out" | cut -c1-60)...), nothing of it visible"
echo "PASS"
