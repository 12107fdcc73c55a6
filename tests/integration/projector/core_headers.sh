#!/usr/bin/env bash
# core_headers.sh - extra record headers (W3C traceparent, a tenant id)
# pass from sf-publish through the projector: a rule writes
# {header.tenant} and {header.traceparent} into a view (a tenant with ':'
# escaped in a key position, an absent header rendered empty and tested
# with a condition), and `journey` lists each event's extra headers (not
# the ce_* ones), every value of a repeated name, non-UTF-8 bytes as hex.
TEST=core_headers
. "$(dirname "$0")/core_lib.sh"
need
command -v jq >/dev/null || { log "SKIP: jq missing"; exit $SKIP; }

TC=$(new_topic cart 2)
PH="hdrs-$ID"
NAMES+=("$PH")
cat >"$WORK/headers.rules.yaml" <<'YAML'
description: tenant and trace of each cart, from record headers
keys: ["hcart:*", "htenant:*"]
on:
  shop.cart.CartOpened:
    - [HSET, "hcart:{aggregate_id}", tenant, "{header.tenant}",
       trace, "{header.traceparent}", customer, "{data.customer_id}"]
    - cmd: [SADD, "htenant:{header.tenant}", "{aggregate_id}"]
      unless: {header.tenant: null}
YAML
config "$WORK/c.yaml" <<YAML
  - {name: "$PH", topics: ["$TC"], rules: "$WORK/headers.rules.yaml"}
YAML

TP=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
c1="$ID-c1" c2="$ID-c2" c3="$ID-c3"
opened() { echo "{\"type\":\"shop.cart.CartOpened\",\"aggregate_id\":\"$1\",\"data\":{\"cart_id\":\"$1\",\"customer_id\":\"u-$1\",\"opened_at\":1}${2:-}}"; }
# c1: headers from the command line; c2: a line's own tenant wins
opened "$c1" | "$PUB" -b "$SF_BROKERS" -t "$TC" -s "$SCHEMAS" \
  -H "traceparent=$TP" -H "tenant=t1-$ID" >>"$WORK/publish.log" 2>&1 || fail "sf-publish (c1) failed"
opened "$c2" ",\"headers\":{\"tenant\":\"t:$ID\"}" | "$PUB" -b "$SF_BROKERS" -t "$TC" -s "$SCHEMAS" \
  -H "traceparent=$TP" -H "tenant=t1-$ID" >>"$WORK/publish.log" 2>&1 || fail "sf-publish (c2) failed"
# c3: no extra headers at all
opened "$c3" | publish "$TC"

start w "$WORK/c.yaml"
wait_lag0 "$WORK/c.yaml" "$PH" 60
stop w TERM
expect_eq "worker exit code" "$RC" 0

h() { rcli hget "$1" "$2"; }
expect_eq "c1 tenant" "$(h "hcart:$c1" tenant)" "t1-$ID"
expect_eq "c1 trace" "$(h "hcart:$c1" trace)" "$TP"
expect_eq "c1 customer" "$(h "hcart:$c1" customer)" "u-$c1"
expect_eq "c2 tenant (the line's header wins)" "$(h "hcart:$c2" tenant)" "t:$ID"
expect_eq "c3 tenant (absent header renders empty)" "$(h "hcart:$c3" tenant)" ""
# (a dead-lettered c3 would have no hash: its SADD key would be empty)
expect_eq "c3 has its hash" "$(h "hcart:$c3" customer)" "u-$c3"
expect_eq "tenant t1 members" "$(rcli smembers "htenant:t1-$ID" | sort | paste -sd,)" "$c1"
expect_eq "tenant t:ID (':' escaped in the key)" "$(rcli smembers "htenant:t%3A$ID" | paste -sd,)" "$c2"
expect_eq "tenant sets" "$(rcli --scan --pattern "htenant:*$ID" | LC_ALL=C sort | paste -sd,)" \
  "htenant:t%3A$ID,htenant:t1-$ID"

# journey: the extra headers of each event, and nothing of the envelope
j() { "$PROJ" journey -c "$WORK/c.yaml" -t "$TC" "$1" 2>"$WORK/journey.log" || fail "journey $1: $(cat "$WORK/journey.log")"; }
out=$(j "$c1")
expect_eq "journey c1 lines" "$(wc -l <<<"$out")" 1
expect_eq "journey c1 headers" "$(jq -c '.headers' <<<"$out")" \
  "{\"traceparent\":\"$TP\",\"tenant\":\"t1-$ID\"}"
expect_eq "journey c3 has no headers" "$(j "$c3" | jq -c '.headers')" null

# a repeated name and a non-UTF-8 value, written by kcat (the journey
# lists the undecodable value with an error, and its headers all the same)
printf 'x' | kcat -P -b "$SF_BROKERS" -t "$TC" -k "$ID-c4" -X partitioner=murmur2_random \
  -H tenant=a -H tenant=b -H "raw=$(printf '\xff\xfe')" -H ce_id=e4 2>>"$WORK/kcat.log" \
  || fail "kcat could not produce"
out=$(j "$ID-c4")
expect_eq "journey c4 headers" "$(jq -c '.headers' <<<"$out")" \
  '{"tenant":["a","b"],"raw":{"hex":"fffe"}}'
log "PASS"
