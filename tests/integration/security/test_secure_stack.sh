#!/usr/bin/env bash
# The whole pipeline over a secured stack (deploy/stack.sh up --secure, on a
# PRIVATE state folder and free ports): Kafka only via SASL_SSL with
# SCRAM-SHA-512, Redis only via TLS with client certificates and an ACL
# user.  Secrets come from files and the environment only.
#
#   1. topics.sh --command-config, sf-publish -F FILE and KAFKA_* variables
#   2. run -> status -> rebuild -> journey --fold --state: the views equal
#      the fold computed here from the published events
#   3. wrong Kafka password, wrong Redis password, wrong Redis user, a Redis
#      certificate that does not verify (other CA, other name): each fails
#      with one clear last line; no output ever holds a secret
#   4. an event whose key the Redis ACL user may not write is dead-lettered
#      with a reason naming the key, and the partition moves on; that
#      projection's Kafka credentials sit in its own kafka: map only, so the
#      dead-letter producer shows it uses the projection's settings
set -euo pipefail
src=${SF_SOURCE_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
build=${SF_BUILD_DIR:-$src/build}
stack="$src/deploy/stack.sh"
P="$build/projector/sf-projector"
PUB="$build/producer/sf-publish"
[ -x "$P" ] && [ -x "$PUB" ] || { echo "skip: build sf-projector and sf-publish first"; exit 77; }

fail() { echo "FAIL: $*" >&2; exit 1; }
passed=0
ok() { echo "ok: $*"; passed=$((passed + 1)); }

# Free ports below 32768 (never the shared stack's 9092/9192/6379).
free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }
pick() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((22000 + RANDOM % 9000))
    free "$p" && free $((p + 100)) && { echo "$p"; return; }
  done
  fail "no free port"
}
KP=$(pick)
RP=$(pick)
[ "$RP" != "$KP" ] && [ "$RP" != $((KP + 100)) ] || RP=$((KP + 7))

export SF_STATE_DIR
SF_STATE_DIR=$(mktemp -d /tmp/sf-secure.XXXXXX)
work=$(mktemp -d /tmp/sf-secure-work.XXXXXX)
worker=""
cleanup() {
  [ -n "$worker" ] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null
  "$stack" down --wipe >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"$stack" up --secure --kafka-port "$KP" --controller-port $((KP + 100)) \
  --redis-port "$RP" --timeout 180 >"$work/up.log" 2>&1 \
  || { cat "$work/up.log" >&2; fail "stack.sh up --secure"; }
eval "$("$stack" env)"
[ "${SF_SECURE:-}" = 1 ] || fail "env does not say the stack is secure"
KPW=$(cat "$SF_KAFKA_PASSWORD_FILE")
RPW=$(cat "$SF_REDIS_PASSWORD_FILE")
[ ${#KPW} -ge 16 ] && [ ${#RPW} -ge 16 ] || fail "passwords too short"
"$stack" env | grep -qF -e "$KPW" -e "$RPW" && fail "stack.sh env prints a password"
ok "secure stack up on kafka $KP, redis $RP"

# Nothing but SASL_SSL answers: a plaintext client gets no metadata.
if LD_LIBRARY_PATH="${SF_DEPS_PREFIX:-$HOME/.cache/streamfold/deps/prefix}/lib" \
    timeout 20 kcat -b "$SF_BROKERS" -L -m 5 >/dev/null 2>&1; then
  fail "a plaintext Kafka client was answered"
fi
if redis-cli -p "$RP" ping 2>/dev/null | grep -q PONG; then
  fail "Redis answered without TLS"
fi
ok "no plaintext access"

rcli() { # redis-cli as the ACL user; password through the environment
  REDISCLI_AUTH=$RPW redis-cli --tls --cacert "$SF_TLS_CA" \
    --cert "$SF_REDIS_TLS_CERT" --key "$SF_REDIS_TLS_KEY" -p "$RP" \
    --user "$SF_REDIS_USER" --no-auth-warning "$@"
}

# ---- 1. provisioning and publishing -------------------------------------
"$src/deploy/topics.sh" create -b "$SF_BROKERS" -p 3 cart-events \
  >"$work/topics.log" 2>&1 || { cat "$work/topics.log" >&2; fail "topics.sh create"; }
grep -q "cart-events: created" "$work/topics.log" || fail "topic not created: $(cat "$work/topics.log")"
ok "topics.sh create over SASL_SSL (--command-config from SF_KAFKA_COMMAND_CONFIG)"

declare -A status items
ncarts=24
: >"$work/a.jsonl"
: >"$work/b.jsonl"
for ((i = 1; i <= ncarts; i++)); do
  c=sc-$i
  f="$work/a.jsonl"
  [ $((i % 3)) = 0 ] && f="$work/b.jsonl"   # a third goes the env route
  echo "{\"type\":\"shop.cart.CartOpened\",\"aggregate_id\":\"$c\",\"data\":{\"cart_id\":\"$c\",\"customer_id\":\"u$i\",\"opened_at\":1000}}" >>"$f"
  status[$c]=open
  for j in 1 2 3; do
    q=$(( (i + j) % 5 + 1 ))
    echo "{\"type\":\"shop.cart.ItemAddedToCart\",\"aggregate_id\":\"$c\",\"data\":{\"cart_id\":\"$c\",\"sku\":\"S$j\",\"quantity\":$q,\"unit_price_cents\":100,\"added_at\":2000,\"currency\":\"EUR\"}}" >>"$f"
    items[$c:S$j]=$q
  done
  if [ $((i % 2)) = 0 ]; then
    echo "{\"type\":\"shop.cart.ItemRemovedFromCart\",\"aggregate_id\":\"$c\",\"data\":{\"cart_id\":\"$c\",\"sku\":\"S1\",\"quantity\":1,\"removed_at\":3000}}" >>"$f"
    items[$c:S1]=$(( ${items[$c:S1]} - 1 ))
    echo "{\"type\":\"shop.cart.CartCheckedOut\",\"aggregate_id\":\"$c\",\"data\":{\"cart_id\":\"$c\",\"checked_out_at\":4000}}" >>"$f"
    status[$c]=checked_out
  fi
done
"$PUB" -F "$SF_KAFKA_PROPERTIES" -t cart-events -s "$src/schemas/domains" \
  <"$work/a.jsonl" >"$work/pub-a.log" 2>&1 || { cat "$work/pub-a.log" >&2; fail "sf-publish -F"; }
# kcat's convention: KAFKA_<NAME> sets <name>; no -F, no -X, no -b
(unset SF_KAFKA_PROPERTIES
 export KAFKA_BOOTSTRAP_SERVERS=$SF_BROKERS KAFKA_SECURITY_PROTOCOL=SASL_SSL \
   KAFKA_SASL_MECHANISMS=SCRAM-SHA-512 KAFKA_SASL_USERNAME=$SF_KAFKA_USER \
   KAFKA_SASL_PASSWORD=$KPW KAFKA_SSL_CA_LOCATION=$SF_TLS_CA
 "$PUB" -t cart-events -s "$src/schemas/domains" <"$work/b.jsonl") \
  >"$work/pub-b.log" 2>&1 || { cat "$work/pub-b.log" >&2; fail "sf-publish with KAFKA_* variables"; }
na=$(wc -l <"$work/a.jsonl") nb=$(wc -l <"$work/b.jsonl")
grep -q "delivered $na, failed 0" "$work/pub-a.log" || fail "publish -F: $(tail -1 "$work/pub-a.log")"
grep -q "delivered $nb, failed 0" "$work/pub-b.log" || fail "publish env: $(tail -1 "$work/pub-b.log")"
ok "published $na events with -F FILE and $nb with KAFKA_* variables"

# ---- 2. run -> status -> rebuild -> journey -------------------------------
# Secrets only through files: ${file:...} for Kafka, password_file for Redis.
cat >"$work/secure.yaml" <<EOF
kafka:
  bootstrap.servers: "\${SF_BROKERS}"
  security.protocol: SASL_SSL
  sasl.mechanisms: SCRAM-SHA-512
  sasl.username: "\${SF_KAFKA_USER}"
  sasl.password: "\${file:\${SF_KAFKA_PASSWORD_FILE}}"
  ssl.ca.location: "\${SF_TLS_CA}"
  session.timeout.ms: 10000
redis:
  host: 127.0.0.1
  port: "\${SF_REDIS_PORT}"
  username: "\${SF_REDIS_USER}"
  password_file: "\${SF_REDIS_PASSWORD_FILE}"
  tls:
    ca: "\${SF_TLS_CA}"
    cert: "\${SF_REDIS_TLS_CERT}"
    key: "\${SF_REDIS_TLS_KEY}"
    server_name: "\${SF_TEST_SERVER_NAME:-127.0.0.1}"
schemas: $src/schemas/domains
projections:
  - name: carts
    topics: [cart-events]
    rules: $src/projector/examples/cart-contents.rules.yaml
    batch: {size: 50, time_ms: 20}
    db: 0
    spare_db: 1
EOF
C="$work/secure.yaml"
total=$((na + nb))

lag_of() { # projection: total lag from status, or empty
  "$P" status -c "$C" "$1" 2>>"$work/status.err" | sed -n 's/.*total lag \([0-9]*\).*/\1/p'
}
"$P" run -c "$C" carts >"$work/run.log" 2>&1 &
worker=$!
deadline=$((SECONDS + 180))
until [ "$(lag_of carts)" = 0 ]; do
  kill -0 "$worker" 2>/dev/null || { tail -5 "$work/run.log" >&2; fail "worker exited"; }
  [ $SECONDS -lt $deadline ] || { tail -5 "$work/run.log" >&2; fail "lag did not reach 0 in 180 s"; }
  sleep 2
done
kill -TERM "$worker"
wait "$worker" || fail "worker did not stop cleanly: $(tail -3 "$work/run.log")"
worker=""
ok "run applied $total events over SASL_SSL + TLS (status: total lag 0)"

# The projector's ACL user reads with HGETALL only (journey --state needs
# it; HGET is not granted), so the views are read the same way.
hval() { # key field
  rcli HGETALL "$1" | awk -v f="$2" 'NR % 2 == 1 { k = $0; next } k == f { print; exit }'
}
check_views() { # what
  local c s bad=0
  for ((i = 1; i <= ncarts; i++)); do
    c=sc-$i
    s=$(hval "cart:$c" status)
    [ "$s" = "${status[$c]}" ] || { echo "cart:$c status '$s', want '${status[$c]}'" >&2; bad=1; }
    for j in 1 2 3; do
      s=$(hval "cart:$c:items" "S$j")
      [ "$s" = "${items[$c:S$j]}" ] || { echo "cart:$c:items S$j '$s', want '${items[$c:S$j]}'" >&2; bad=1; }
    done
  done
  [ "$(rcli --scan --pattern 'cart:*' | wc -l)" = $((2 * ncarts)) ] || { echo "unexpected keys" >&2; bad=1; }
  [ $bad = 0 ] || fail "views after $1 differ from the fold"
}
check_views run
ok "views equal the fold ($ncarts carts, $((2 * ncarts)) keys)"

"$P" status -c "$C" carts >"$work/status.out" 2>&1 || fail "status: $(tail -1 "$work/status.out")"
[ "$(grep -c '^  cart-events' "$work/status.out")" = 3 ] || fail "status rows: $(cat "$work/status.out")"
ok "status lists 3 partitions"

rcli HSET cart:sc-1 status tampered >/dev/null
"$P" rebuild -c "$C" carts >"$work/rebuild.log" 2>&1 || fail "rebuild: $(tail -1 "$work/rebuild.log")"
grep -q "done: $total events" "$work/rebuild.log" || fail "rebuild summary: $(tail -1 "$work/rebuild.log")"
check_views rebuild
grep -q "switched: the new generation serves" "$work/rebuild.log" || fail "rebuild was not blue/green: $(tail -2 "$work/rebuild.log")"
ok "blue/green rebuild (SELECT, COPY, SWAPDB, FLUSHDB under the ACL user) replayed $total events and restored the views"

"$P" journey -c "$C" -t cart-events sc-2 --fold carts --state >"$work/journey.out" 2>"$work/journey.err" \
  || fail "journey: $(tail -1 "$work/journey.err")"
want=$(jq -cn --arg s "${status[sc-2]}" --arg a "${items[sc-2:S1]}" --arg b "${items[sc-2:S2]}" --arg c "${items[sc-2:S3]}" \
  '{"cart:sc-2": {status: $s}, "cart:sc-2:items": {S1: $a, S2: $b, S3: $c}}')
got=$(tail -1 "$work/journey.out" | jq -cS '.state')
[ "$got" = "$(jq -cS . <<<"$want")" ] || fail "journey --state: $got, want $want"
[ "$(grep -c '"commands"' "$work/journey.out")" = 6 ] || fail "journey lines: $(wc -l <"$work/journey.out")"
ok "journey --fold --state of sc-2 equals its fold"

# ---- 3. refused credentials: one clear line, no secret -------------------
expect_refused() { # what needle cmd...
  local what=$1 needle=$2 out rc=0 last
  shift 2
  out=$(timeout 120 "$@" 2>&1) || rc=$?
  [ $rc != 0 ] || fail "$what: succeeded"
  [ $rc != 124 ] || fail "$what: still running after 120 s (retrying for ever?)"
  last=$(tail -1 <<<"$out")
  grep -q -- "$needle" <<<"$last" || fail "$what: last line '$last' lacks '$needle'"
  if grep -qF -- "$KPW" <<<"$out" || grep -qF -- "$RPW" <<<"$out" \
      || grep -qF -- "wrong-$$-secret" <<<"$out"; then
    fail "$what: output holds a secret"
  fi
  ok "$what: exit $rc: $last"
}
echo "wrong-$$-secret" >"$work/wrong.password"
sed "s#\${file:\${SF_KAFKA_PASSWORD_FILE}}#\${file:$work/wrong.password}#" "$C" >"$work/bad-kafka.yaml"
expect_refused "wrong Kafka password (status)" "SASL authentication" "$P" status -c "$work/bad-kafka.yaml" carts
expect_refused "wrong Kafka password (run)" "SASL authentication" "$P" run -c "$work/bad-kafka.yaml" carts
sed "s#password_file: .*#password_file: $work/wrong.password#" "$C" >"$work/bad-redis-pw.yaml"
expect_refused "wrong Redis password" 'AUTH as user "streamfold" refused: WRONGPASS' "$P" status -c "$work/bad-redis-pw.yaml" carts
sed 's#  username: "${SF_REDIS_USER}"#  username: intruder#' "$C" >"$work/bad-redis-user.yaml"
grep -q "username: intruder" "$work/bad-redis-user.yaml" || fail "test setup: user not replaced"
expect_refused "wrong Redis user" 'AUTH as user "intruder" refused' "$P" rebuild -c "$work/bad-redis-user.yaml" carts
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=not the stack CA" \
  -keyout "$work/other.key" -out "$work/other.pem" 2>/dev/null
sed "s#    ca: \"\${SF_TLS_CA}\"#    ca: $work/other.pem#" "$C" >"$work/bad-redis-ca.yaml"
expect_refused "Redis certificate from another CA" "server certificate does not verify" \
  "$P" journey -c "$work/bad-redis-ca.yaml" -t cart-events sc-1 --fold carts --state
expect_refused "Redis certificate for another name" "does not verify: hostname mismatch" \
  env SF_TEST_SERVER_NAME=redis.example.org "$P" run -c "$C" carts
# a password containing ${ is never printed back
printf 'redis: {password: "Pa55${word-%s"}\nprojections: [{name: a, topics: [t], handler: h.so}]\n' $$ >"$work/dollar.yaml"
expect_refused "password with \${ in the config" "unterminated" "$P" status -c "$work/dollar.yaml" a
grep -qF "Pa55" <<<"$("$P" status -c "$work/dollar.yaml" a 2>&1)" && fail "config error repeats the password"

# ---- 4. a key the ACL user may not write: dead-lettered, naming it --------
head -2 "$work/a.jsonl" | sed 's/"sc-1"/"acl-1"/g' >"$work/acl.jsonl"
"$PUB" -F "$SF_KAFKA_PROPERTIES" -t acl-events -s "$src/schemas/domains" --create-topic \
  --partitions 1 <"$work/acl.jsonl" >"$work/pub-acl.log" 2>&1 || fail "publish acl events"
# This projection carries the Kafka credentials in its own kafka: map only
# (the top-level map has just the address), so its consumer, status and
# the dead-letter producer must all take the projection's map.
{
  printf 'kafka:\n  bootstrap.servers: "${SF_BROKERS}"\n'
  sed -n '/^redis:/,/^projections:/p' "$C"
  cat <<EOF
  - name: aclp
    topics: [acl-events]
    kafka:
      security.protocol: SASL_SSL
      sasl.mechanisms: SCRAM-SHA-512
      sasl.username: "\${SF_KAFKA_USER}"
      sasl.password: "\${file:\${SF_KAFKA_PASSWORD_FILE}}"
      ssl.ca.location: "\${SF_TLS_CA}"
    rules:
      keys: ["cart:*", "forbidden:*"]
      on:
        shop.cart.CartOpened:
          - [HSET, "cart:{aggregate_id}", status, open]
        shop.cart.ItemAddedToCart:
          - [HSET, "forbidden:{aggregate_id}", sku, "{data.sku}"]
EOF
} >"$work/acl.yaml"
C="$work/acl.yaml"
"$P" run -c "$C" aclp >"$work/acl-run.log" 2>&1 &
worker=$!
deadline=$((SECONDS + 120))
until [ "$(lag_of aclp)" = 0 ]; do
  kill -0 "$worker" 2>/dev/null || { tail -5 "$work/acl-run.log" >&2; fail "acl worker exited"; }
  if [ $SECONDS -ge $deadline ]; then
    tail -3 "$work/acl-run.log" >&2
    fail "an event the ACL user may not write is retried for ever (lag never 0)"
  fi
  sleep 2
done
kill -TERM "$worker"; wait "$worker" || true; worker=""
dlq=$(LD_LIBRARY_PATH="${SF_DEPS_PREFIX:-$HOME/.cache/streamfold/deps/prefix}/lib" \
  timeout 60 kcat -F "$SF_KAFKA_PROPERTIES" -C -t acl-events.dlq -o beginning -e -q \
  -f '%h\n' 2>/dev/null) || fail "cannot read acl-events.dlq"
grep -q "sf_dlq_reason=.*(HSET forbidden:acl-1)" <<<"$dlq" || fail "dead letter without the key: $dlq"
[ "$(hval cart:acl-1 status)" = open ] || fail "the allowed event was not applied"
[ "$(grep -c 'redis apply failed' "$work/acl-run.log" || true)" -le 1 ] || fail "the batch was retried"
ok "ACL-denied key dead-lettered: $(grep -o 'sf_dlq_reason=[^,]*' <<<"$dlq" | head -1)"

# no log of this test holds a secret
if grep -rlF -e "$KPW" -e "$RPW" "$work"/*.log "$work"/*.out "$work"/*.err 2>/dev/null | grep -q .; then
  fail "a secret appears in: $(grep -rlF -e "$KPW" -e "$RPW" "$work"/*.log "$work"/*.out "$work"/*.err)"
fi
ok "no secret in any output"
echo "$passed passed, 0 failed"
