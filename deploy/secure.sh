# secure.sh - the secure variant of the local stack, sourced by stack.sh
# for `up --secure`: Kafka with a SASL_SSL listener (SCRAM-SHA-512) and
# Redis with TLS only and an ACL user.  Everything it makes lives under
# $STATE/secure/ (files 0600, folder 0700):
#
#   ca.pem, ca.key                throwaway CA (openssl, 30 days)
#   kafka.p12, kafka.p12.password broker key + certificate (PKCS#12)
#   redis.pem, redis.key          Redis server certificate (SAN 127.0.0.1,
#                                 localhost)
#   client.pem, client.key        client certificate for Redis (Redis asks
#                                 for one: tls-auth-clients yes)
#   kafka-admin.password          broker-to-broker SCRAM user "admin"
#   kafka.password                client SCRAM user "streamfold"
#   redis.password                Redis ACL user "streamfold"
#   kafka-client.properties       librdkafka properties (sf-publish -F,
#                                 kcat -F): SASL_SSL, SCRAM, CA, user and
#                                 password
#   kafka-java.properties         the same for Java tools (--command-config)
#
# Passwords are random, made once, and only ever written to these files
# (and, for the broker's own SCRAM users, given once to the storage tool
# at format time, which has no other way to take them; KIP-900).
# The controller listener stays PLAINTEXT on loopback: only the broker
# listener clients use is secured.

SEC_KAFKA_USER=streamfold
SEC_REDIS_USER=streamfold

# The key patterns of the example projections (projector/examples/
# *.rules.yaml keys:) plus the projector's own bookkeeping (sf:*).
SEC_REDIS_KEYS="~cart:* ~product:* ~route:* ~location:* ~machine:* ~city:* ~venue:* ~fight:* ~fighter:* ~fights:* ~sf:*"

# What the worker, rebuild, status, pause/resume/skip and journey send
# (README "Security" explains each group); everything else is denied.
SEC_REDIS_CMDS="-@all +ping +hello +select +client|setname \
+evalsha +script|load +get +set +incr +del +unlink +mget +type \
+watch +unwatch +multi +exec +discard +scan \
+setnx +setex +psetex +getset +mset +append +decr +incrby +decrby \
+incrbyfloat +hset +hsetnx +hmset +hdel +hincrby +hincrbyfloat +sadd +srem \
+smove +zadd +zrem +zincrby +zremrangebyscore +zremrangebyrank +rpush \
+lpush +lrem +lset +ltrim +expire +pexpire +expireat +pexpireat +persist \
+pfadd +setbit +geoadd +xadd \
+hgetall +sort +zrange +lrange +hget +hmget +sismember +smembers +time +exists \
+swapdb +copy +flushdb +dbsize"

sec_dir() { echo "$STATE/secure"; }

# Folder of the librdkafka deploy/deps/build.sh made (kcat needs it for
# SCRAM against Kafka 4.x, see stack.sh kcat_).
sec_rdkafka_libdir() { echo "${SF_DEPS_PREFIX:-$CACHE/deps/prefix}/lib"; }

sec_password() { # file: a random password, made once
  [ -s "$1" ] || (umask 077; openssl rand -hex 24 >"$1")
}

sec_cert() { # name cn: key + certificate signed by the CA, for 127.0.0.1
  local d name=$1 cn=$2
  d=$(sec_dir)
  [ -s "$d/$name.pem" ] && return 0
  (umask 077
   openssl req -newkey rsa:2048 -nodes -keyout "$d/$name.key" \
     -subj "/CN=$cn" -out "$d/$name.csr" 2>/dev/null
   printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' \
     >"$d/$name.ext"
   openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
     -CAcreateserial -days 30 -sha256 -extfile "$d/$name.ext" \
     -out "$d/$name.pem" 2>/dev/null) \
    || die "secure: could not make the $name certificate with openssl"
  rm -f "$d/$name.csr" "$d/$name.ext"
}

sec_init() {
  local d
  d=$(sec_dir)
  command -v openssl >/dev/null || die "openssl not found: run deploy/install-deps.sh"
  # Debian 12's redis-server is built with TLS (linked to libssl)
  # (the output is read whole: grep -q closing the pipe early would make
  # ldd die of SIGPIPE, and pipefail report that as a missing libssl)
  local libs
  libs=$(ldd "$(command -v redis-server)" 2>/dev/null || true)
  grep -q libssl <<<"$libs" || die "secure: this redis-server was built without TLS"
  mkdir -p "$d"
  chmod 700 "$d"
  if [ ! -s "$d/ca.pem" ]; then
    (umask 077
     openssl req -x509 -newkey rsa:2048 -nodes -days 30 -sha256 \
       -subj "/CN=streamfold throwaway CA" -keyout "$d/ca.key" \
       -out "$d/ca.pem" 2>/dev/null) || die "secure: openssl could not make the CA"
    log "secure: made a throwaway CA in $d"
  fi
  sec_cert kafka kafka-broker
  sec_cert redis redis-server
  sec_cert client streamfold-client
  sec_password "$d/kafka-admin.password"
  sec_password "$d/kafka.password"
  sec_password "$d/redis.password"
  sec_password "$d/kafka.p12.password"
  if [ ! -s "$d/kafka.p12" ]; then
    (umask 077
     openssl pkcs12 -export -in "$d/kafka.pem" -inkey "$d/kafka.key" \
       -certfile "$d/ca.pem" -name kafka -out "$d/kafka.p12" \
       -passout "file:$d/kafka.p12.password") \
      || die "secure: openssl could not write the broker keystore"
  fi
  (umask 077
   cat >"$d/kafka-client.properties" <<EOF
# librdkafka properties for the secure stack (sf-publish -F, kcat -F).
bootstrap.servers=$(bootstrap)
security.protocol=SASL_SSL
sasl.mechanisms=SCRAM-SHA-512
sasl.username=$SEC_KAFKA_USER
sasl.password=$(cat "$d/kafka.password")
ssl.ca.location=$d/ca.pem
EOF
   cat >"$d/kafka-java.properties" <<EOF
# Java client properties for the secure stack (--command-config).
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$SEC_KAFKA_USER" password="$(cat "$d/kafka.password")";
ssl.truststore.type=PEM
ssl.truststore.location=$d/ca.pem
EOF
  )
}

# Lines appended to a node's server.properties (after the plain ones,
# which they override: the last occurrence of a key wins).
sec_server_properties() { # node-id
  local d port cport
  d=$(sec_dir)
  port=$((KAFKA_PORT + $1 - 1))
  cport=$((CONTROLLER_PORT + $1 - 1))
  cat <<EOF
# --secure: clients and brokers talk SASL_SSL (SCRAM-SHA-512) only.
listeners=SASL_SSL://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=SASL_SSL://127.0.0.1:$port
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(cat "$d/kafka-admin.password")";
ssl.keystore.type=PKCS12
ssl.keystore.location=$d/kafka.p12
ssl.keystore.password=$(cat "$d/kafka.p12.password")
ssl.truststore.type=PEM
ssl.truststore.location=$d/ca.pem
ssl.client.auth=none
EOF
}

# StorageTool format arguments that add the SCRAM users (KIP-900), into
# the array SEC_FORMAT_ARGS.
sec_format_args() {
  local d
  d=$(sec_dir)
  SEC_FORMAT_ARGS=(
    --add-scram "SCRAM-SHA-512=[name=admin,password=$(cat "$d/kafka-admin.password")]"
    --add-scram "SCRAM-SHA-512=[name=$SEC_KAFKA_USER,password=$(cat "$d/kafka.password")]")
}

# redis.conf for the secure Redis: TLS only (port 0), client certificates
# required, the default user off, one ACL user whose password is stored
# as its SHA-256 (never in clear in the file).
sec_redis_conf() { # dir
  local d hash
  d=$(sec_dir)
  hash=$(tr -d '\n' <"$d/redis.password" | sha256sum | cut -d' ' -f1)
  (umask 077
   cat >"$1/redis.conf" <<EOF
# Generated by deploy/stack.sh up --secure; overwritten by the next up.
bind 127.0.0.1
port 0
tls-port $REDIS_PORT
tls-cert-file $d/redis.pem
tls-key-file $d/redis.key
tls-ca-cert-file $d/ca.pem
tls-auth-clients yes
dir $1
appendonly yes
appendfsync everysec
save ""
daemonize yes
pidfile $1/pid
logfile $1/redis.log
user default off
user $SEC_REDIS_USER on #$hash resetkeys $SEC_REDIS_KEYS resetchannels $SEC_REDIS_CMDS
EOF
  )
}

# redis-cli against the secure Redis; the password goes through the
# environment (REDISCLI_AUTH), never argv.
sec_redis_cli() {
  local d
  d=$(sec_dir)
  REDISCLI_AUTH=$(cat "$d/redis.password") redis-cli --tls \
    --cacert "$d/ca.pem" --cert "$d/client.pem" --key "$d/client.key" \
    -h 127.0.0.1 -p "$REDIS_PORT" --user "$SEC_REDIS_USER" --no-auth-warning "$@"
}

sec_env() {
  local d
  d=$(sec_dir)
  echo "export SF_SECURE=1"
  echo "export SF_TLS_CA=$d/ca.pem"
  echo "export SF_KAFKA_PROPERTIES=$d/kafka-client.properties"
  echo "export SF_KAFKA_COMMAND_CONFIG=$d/kafka-java.properties"
  echo "export SF_KAFKA_USER=$SEC_KAFKA_USER"
  echo "export SF_KAFKA_PASSWORD_FILE=$d/kafka.password"
  echo "export SF_REDIS_USER=$SEC_REDIS_USER"
  echo "export SF_REDIS_PASSWORD_FILE=$d/redis.password"
  echo "export SF_REDIS_TLS_CERT=$d/client.pem"
  echo "export SF_REDIS_TLS_KEY=$d/client.key"
}
