/*
 * roundtrip - proof that the real parts are wired: produce one keyed record
 * to Kafka with librdkafka (partitioner murmur2_random, idempotent, acks=all),
 * consume it back with read_committed, then write and read a Redis hash with
 * hiredis.  Prints what it did; exits non-zero naming the step that failed.
 *
 *   roundtrip [BROKERS [REDIS_HOST [REDIS_PORT]]]
 * Defaults come from SF_BROKERS, SF_REDIS_HOST, SF_REDIS_PORT.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

static const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static int fail(const char *step, const char *why) {
    fprintf(stderr, "roundtrip: %s: %s\n", step, why);
    return 1;
}

static int set(rd_kafka_conf_t *conf, const char *k, const char *v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "roundtrip: config %s=%s: %s\n", k, v, err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *brokers =
        argc > 1 ? argv[1] : env_or("SF_BROKERS", "127.0.0.1:9092");
    const char *rhost =
        argc > 2 ? argv[2] : env_or("SF_REDIS_HOST", "127.0.0.1");
    int rport = atoi(argc > 3 ? argv[3] : env_or("SF_REDIS_PORT", "6379"));
    char topic[64], key[64], value[128], errstr[512];
    rd_kafka_conf_t *conf;
    rd_kafka_t *p, *c;
    int32_t partition = -1;
    int64_t offset = -1;
    rd_kafka_message_t *m;
    int found = 0;

    snprintf(topic, sizeof(topic), "sf-roundtrip-%ld-%d", (long)time(NULL),
             (int)getpid());
    snprintf(key, sizeof(key), "cart-%d", (int)getpid());
    snprintf(value, sizeof(value), "hello from pid %d", (int)getpid());

    /* Produce one keyed record and wait for its delivery report. */
    conf = rd_kafka_conf_new();
    if (set(conf, "bootstrap.servers", brokers) ||
        set(conf, "enable.idempotence", "true") || set(conf, "acks", "all") ||
        set(conf, "partitioner", "murmur2_random"))
        return 1;
    if (!(p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr))))
        return fail("producer", errstr);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
        RD_KAFKA_V_VALUE(value, strlen(value)),
        RD_KAFKA_V_HEADER("ce_specversion", "1.0", 3),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err)
        return fail("produce", rd_kafka_err2str(err));
    if ((err = rd_kafka_flush(p, 30000)))
        return fail("flush", rd_kafka_err2str(err));
    rd_kafka_destroy(p);
    printf("kafka: produced key=%s to topic %s\n", key, topic);

    /* Consume it back from the beginning, read_committed. */
    conf = rd_kafka_conf_new();
    char group[96];
    snprintf(group, sizeof(group), "%s-g", topic);
    if (set(conf, "bootstrap.servers", brokers) ||
        set(conf, "group.id", group) ||
        set(conf, "auto.offset.reset", "earliest") ||
        set(conf, "isolation.level", "read_committed") ||
        set(conf, "enable.auto.commit", "false"))
        return 1;
    if (!(c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr))))
        return fail("consumer", errstr);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    if ((err = rd_kafka_subscribe(c, sub)))
        return fail("subscribe", rd_kafka_err2str(err));
    rd_kafka_topic_partition_list_destroy(sub);
    for (int i = 0; i < 60 && !found; i++) {
        if (!(m = rd_kafka_consumer_poll(c, 1000)))
            continue;
        if (!m->err && m->key_len == strlen(key) &&
            !memcmp(m->key, key, m->key_len) && m->len == strlen(value) &&
            !memcmp(m->payload, value, m->len)) {
            partition = m->partition;
            offset = m->offset;
            found = 1;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    if (!found)
        return fail("consume", "record not read back within 60 s");
    printf("kafka: consumed it back from partition %" PRId32 " offset %" PRId64
           "\n",
           partition, offset);

    /* Redis: write a hash and read it back. */
    redisContext *r = redisConnect(rhost, rport);
    if (!r || r->err)
        return fail("redis connect", r ? r->errstr : "out of memory");
    char rkey[96], poff[32];
    snprintf(rkey, sizeof(rkey), "sf-roundtrip:%s", key);
    snprintf(poff, sizeof(poff), "%" PRId32 ":%" PRId64, partition, offset);
    redisReply *rep =
        redisCommand(r, "HSET %s value %s position %s", rkey, value, poff);
    if (!rep || rep->type == REDIS_REPLY_ERROR)
        return fail("redis HSET", rep ? rep->str : r->errstr);
    freeReplyObject(rep);
    rep = redisCommand(r, "HGET %s value", rkey);
    if (!rep || rep->type != REDIS_REPLY_STRING || strcmp(rep->str, value))
        return fail("redis HGET", "value read back differs");
    printf("redis: HSET/HGET %s value=\"%s\" position=%s\n", rkey, rep->str,
           poff);
    freeReplyObject(rep);
    freeReplyObject(redisCommand(r, "DEL %s", rkey));
    redisFree(r);

    /* Clean up the test topic (best effort). */
    conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", brokers);
    if ((p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr)))) {
        rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
        rd_kafka_queue_t *q = rd_kafka_queue_new(p);
        rd_kafka_DeleteTopics(p, &dt, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_DeleteTopic_destroy(dt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(p);
    }
    printf("roundtrip: ok\n");
    return 0;
}
