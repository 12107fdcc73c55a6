/*
 * kafka_features - checks, one by one, the Kafka features Streamfold relies
 * on, as seen through the system's librdkafka against a given broker:
 *
 *   headers      a record's headers come back byte for byte
 *   idempotence  an idempotent producer (acks=all) gets a producer id and
 *                delivers
 *   transactions a committed transaction is visible and an aborted one is
 *                not, to a read_committed consumer
 *   groups       a consumer group subscribes, is assigned, commits an
 *                offset and reads it back (rd_kafka_committed)
 *   admin        CreateTopics with configs, DescribeConfigs, DeleteTopics
 *
 * Prints "feature: ok" or "feature: FAILED: why" per feature and exits
 * non-zero if any failed.  Used by the integration suite against the
 * default broker and to answer, for the README, which features work with
 * Debian's librdkafka 2.0.2 against a Kafka 4.x broker.
 *
 *   kafka_features [BROKERS]      (default $SF_BROKERS or 127.0.0.1:9092)
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

static const char *brokers;
static char topic[96];
static char why[512];

static int failf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    return -1;
}

static rd_kafka_conf_t *conf_new(const char *const *kv) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err));
    for (; kv && kv[0]; kv += 2)
        if (rd_kafka_conf_set(conf, kv[0], kv[1], err, sizeof(err)) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "kafka_features: %s=%s: %s\n", kv[0], kv[1], err);
            exit(2);
        }
    return conf;
}

static rd_kafka_t *client(rd_kafka_type_t type, const char *const *kv) {
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf_new(kv), err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "kafka_features: rd_kafka_new: %s\n", err);
        exit(2);
    }
    return rk;
}

/* Reads every record of the topic with the given isolation level and
 * counts those whose value starts with prefix. */
static int count_values(const char *isolation, const char *prefix,
                        int *headers_ok) {
    char group[128];
    snprintf(group, sizeof(group), "%s-%s-%ld", topic, isolation,
             (long)random());
    const char *kv[] = {"group.id",
                        group,
                        "auto.offset.reset",
                        "earliest",
                        "isolation.level",
                        isolation,
                        "enable.partition.eof",
                        "true",
                        NULL};
    rd_kafka_t *c = client(RD_KAFKA_CONSUMER, kv);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0);
    rd_kafka_assign(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    int n = 0, eof = 0;
    for (int i = 0; i < 900 && !eof; i++) { /* up to 90 s: a loaded box */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            eof = 1;
        else if (!m->err && m->len >= strlen(prefix) &&
                 !memcmp(m->payload, prefix, strlen(prefix))) {
            n++;
            rd_kafka_headers_t *h;
            const void *v;
            size_t vs;
            if (headers_ok && !rd_kafka_message_headers(m, &h) &&
                !rd_kafka_header_get_last(h, "ce_type", &v, &vs) && vs == 20 &&
                !memcmp(v, "shop.cart.CartOpened", 20))
                (*headers_ok)++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return eof ? n : -1;
}

static int admin_create(void) {
    const char *kv[] = {NULL};
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, kv);
    char err[512];
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic, 1, 1, err, sizeof(err));
    rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = 0;
    if (!ev)
        rc = failf("CreateTopics: no answer in 30 s");
    else if (rd_kafka_event_error(ev))
        rc = failf("CreateTopics: %s", rd_kafka_event_error_string(ev));
    else {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(
                rd_kafka_event_CreateTopics_result(ev), &n);
        if (n != 1 || rd_kafka_topic_result_error(res[0]))
            rc = failf("CreateTopics: %s",
                       n ? rd_kafka_topic_result_error_string(res[0])
                         : "no result");
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);

    if (!rc) { /* DescribeConfigs must report our retention.ms. */
        rd_kafka_ConfigResource_t *cr =
            rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
        rd_kafka_DescribeConfigs(rk, &cr, 1, NULL, q);
        ev = rd_kafka_queue_poll(q, 30000);
        int seen = 0;
        if (ev && !rd_kafka_event_error(ev)) {
            size_t nr, ne;
            const rd_kafka_ConfigResource_t **rs =
                rd_kafka_DescribeConfigs_result_resources(
                    rd_kafka_event_DescribeConfigs_result(ev), &nr);
            for (size_t i = 0; i < nr; i++) {
                const rd_kafka_ConfigEntry_t **es =
                    rd_kafka_ConfigResource_configs(rs[i], &ne);
                for (size_t j = 0; j < ne; j++)
                    if (!strcmp(rd_kafka_ConfigEntry_name(es[j]),
                                "retention.ms") &&
                        rd_kafka_ConfigEntry_value(es[j]) &&
                        !strcmp(rd_kafka_ConfigEntry_value(es[j]), "-1"))
                        seen = 1;
            }
        }
        if (!seen)
            rc = failf("DescribeConfigs: retention.ms=-1 not reported (%s)",
                       ev ? (rd_kafka_event_error(ev)
                                 ? rd_kafka_event_error_string(ev)
                                 : "absent")
                          : "no answer");
        if (ev)
            rd_kafka_event_destroy(ev);
        rd_kafka_ConfigResource_destroy(cr);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

static int admin_delete(void) {
    const char *kv[] = {NULL};
    rd_kafka_t *rk = client(RD_KAFKA_PRODUCER, kv);
    rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
    int rc = 0;
    if (!ev || rd_kafka_event_error(ev))
        rc = failf("DeleteTopics: %s",
                   ev ? rd_kafka_event_error_string(ev) : "no answer");
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy(dt);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

static int produce_idempotent(void) {
    const char *kv[] = {"enable.idempotence", "true", "acks", "all", NULL};
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, kv);
    for (int i = 0; i < 5; i++) {
        char v[32];
        snprintf(v, sizeof(v), "idem-%d", i);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
            RD_KAFKA_V_KEY("k", 1), RD_KAFKA_V_VALUE(v, strlen(v)),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADER("ce_type", "shop.cart.CartOpened", 20),
            RD_KAFKA_V_END);
        if (err)
            return failf("produce: %s", rd_kafka_err2str(err));
    }
    rd_kafka_resp_err_t err = rd_kafka_flush(p, 30000);
    char fatal[256];
    rd_kafka_resp_err_t ferr = rd_kafka_fatal_error(p, fatal, sizeof(fatal));
    rd_kafka_destroy(p);
    if (err)
        return failf("flush: %s", rd_kafka_err2str(err));
    if (ferr)
        return failf("fatal idempotence error: %s", fatal);
    return 0;
}

static int transactions(void) {
    char tid[128];
    snprintf(tid, sizeof(tid), "%s-tx", topic);
    const char *kv[] = {"transactional.id", tid, NULL};
    rd_kafka_t *p = client(RD_KAFKA_PRODUCER, kv);
    rd_kafka_error_t *e;
    if ((e = rd_kafka_init_transactions(p, 30000)))
        return failf("init_transactions: %s", rd_kafka_error_string(e));
    for (int round = 0; round < 2; round++) {
        if ((e = rd_kafka_begin_transaction(p)))
            return failf("begin_transaction: %s", rd_kafka_error_string(e));
        for (int i = 0; i < 3; i++) {
            const char *v = round == 0 ? "tx-commit" : "tx-abort";
            rd_kafka_producev(
                p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                RD_KAFKA_V_VALUE((void *)v, strlen(v)),
                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        }
        e = round == 0 ? rd_kafka_commit_transaction(p, 30000)
                       : (rd_kafka_flush(p, 30000),
                          rd_kafka_abort_transaction(p, 30000));
        if (e)
            return failf("%s_transaction: %s", round == 0 ? "commit" : "abort",
                         rd_kafka_error_string(e));
    }
    rd_kafka_destroy(p);
    int committed = count_values("read_committed", "tx-commit", NULL);
    int aborted = count_values("read_committed", "tx-abort", NULL);
    int raw = count_values("read_uncommitted", "tx-abort", NULL);
    if (committed != 3 || aborted != 0 || raw != 3)
        return failf(
            "read_committed saw %d committed (want 3) and %d aborted (want 0); "
            "read_uncommitted saw %d aborted (want 3)",
            committed, aborted, raw);
    return 0;
}

static int headers(void) {
    int hok = 0;
    int n = count_values("read_committed", "idem-", &hok);
    if (n != 5)
        return failf("read back %d of 5 records", n);
    if (hok != 5)
        return failf("ce_type header intact on %d of 5 records", hok);
    return 0;
}

/* One consumer in a group: subscribe, receive, commit, read the commit back.
 * kip848: the consumer group protocol of KIP-848 (broker-side assignment,
 * Kafka 4.0+), else the classic protocol with cooperative-sticky. */
static int group_roundtrip(int kip848) {
    char group[128];
    snprintf(group, sizeof(group), "%s-group%s", topic, kip848 ? "-848" : "");
    const char *classic[] = {"group.id",
                             group,
                             "auto.offset.reset",
                             "earliest",
                             "enable.auto.commit",
                             "false",
                             "partition.assignment.strategy",
                             "cooperative-sticky",
                             NULL};
    const char *consumer[] = {"group.id",
                              group,
                              "auto.offset.reset",
                              "earliest",
                              "enable.auto.commit",
                              "false",
                              "group.protocol",
                              "consumer",
                              NULL};
    rd_kafka_t *c = client(RD_KAFKA_CONSUMER, kip848 ? consumer : classic);
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(c, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return failf("subscribe: %s", rd_kafka_err2str(err));
    rd_kafka_message_t *got = NULL;
    for (int i = 0; i < 60 && !got; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 1000);
        if (m && !m->err)
            got = m;
        else if (m)
            rd_kafka_message_destroy(m);
    }
    if (!got)
        return failf("no record delivered to the group within 60 s");
    int64_t want = got->offset + 1;
    if ((err = rd_kafka_commit_message(c, got, 0)))
        return failf("commit: %s", rd_kafka_err2str(err));
    rd_kafka_message_destroy(got);
    l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, 0);
    err = rd_kafka_committed(c, l, 10000);
    int64_t have = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    if (err)
        return failf("committed: %s", rd_kafka_err2str(err));
    if (have != want)
        return failf("committed offset %" PRId64 ", want %" PRId64, have, want);
    return 0;
}

static int groups(void) {
    return group_roundtrip(0);
}

static int groups_kip848(void) {
    /* Kafka 3.9 ships KIP-848 only as an early-access broker option. */
    const char *skip = getenv("SF_FEATURES_NO_KIP848");
    if (skip && *skip == '1') {
        printf("(skipped: SF_FEATURES_NO_KIP848=1) ");
        return 0;
    }
    return group_roundtrip(1);
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*fn)(void);
    } steps[] = {
        {"admin (CreateTopics, DescribeConfigs)", admin_create},
        {"idempotent produce", produce_idempotent},
        {"headers", headers},
        {"transactions", transactions},
        {"consumer groups (classic, cooperative-sticky)", groups},
        {"consumer groups (KIP-848 consumer protocol)", groups_kip848},
        {"admin (DeleteTopics)", admin_delete},
    };
    int failed = 0;
    const char *e = getenv("SF_BROKERS");
    brokers = argc > 1 ? argv[1] : (e && *e ? e : "127.0.0.1:9092");
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    snprintf(topic, sizeof(topic), "sf-features-%ld-%d", (long)time(NULL),
             (int)getpid());
    printf("librdkafka %s against %s\n", rd_kafka_version_str(), brokers);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        why[0] = '\0';
        if (steps[i].fn() == 0)
            printf("%s: ok\n", steps[i].name);
        else {
            printf("%s: FAILED: %s\n", steps[i].name, why);
            failed++;
        }
        fflush(stdout);
    }
    printf("%zu passed, %d failed\n", sizeof(steps) / sizeof(steps[0]) - failed,
           failed);
    return failed ? 1 : 0;
}
