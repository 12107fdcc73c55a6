/*
 * topic.c - provisioning of event-store topics through the librdkafka
 * Admin API.  History must never be deleted (rebuilds replay from offset
 * zero), so we create topics with cleanup.policy=delete, retention.ms=-1,
 * retention.bytes=-1 and refuse - never alter - an existing topic whose
 * configuration could drop records.
 */
#include "producer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Waits for the admin result of type `type` on q. */
static rd_kafka_event_t *
admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type, int timeout_ms) {
    int64_t deadline = sf_time_now_ms() + timeout_ms + 1000;

    while (sf_time_now_ms() < deadline) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 200);

        if (!ev)
            continue;
        if (rd_kafka_event_type(ev) == type)
            return ev;
        rd_kafka_event_destroy(ev);
    }
    return NULL;
}

static rd_kafka_AdminOptions_t *
admin_opts(rd_kafka_t *rk, rd_kafka_admin_op_t op, int timeout_ms) {
    rd_kafka_AdminOptions_t *o = rd_kafka_AdminOptions_new(rk, op);
    char buf[256];

    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, buf, sizeof(buf));
    if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS)
        rd_kafka_AdminOptions_set_operation_timeout(o, timeout_ms, buf,
                                                    sizeof(buf));
    return o;
}

/* Checks that an existing topic keeps its history forever. */
static sf_err_t check_existing(rd_kafka_t *rk, rd_kafka_queue_t *q,
                               const char *topic, int timeout_ms, char *errstr,
                               size_t errstr_size) {
    rd_kafka_ConfigResource_t *res =
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic);
    rd_kafka_AdminOptions_t *o =
        admin_opts(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout_ms);
    rd_kafka_event_t *ev;
    const rd_kafka_DescribeConfigs_result_t *r;
    const rd_kafka_ConfigResource_t **rs;
    const rd_kafka_ConfigEntry_t **entries;
    size_t nrs = 0, n = 0;
    sf_err_t err = SF_OK;

    rd_kafka_DescribeConfigs(rk, &res, 1, o, q);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_ConfigResource_destroy(res);
    ev = admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout_ms);
    if (!ev)
        return sf_seterr(errstr, errstr_size, SF_ERR_TIMEOUT,
                         "topic %s: describe configs timed out after %d ms",
                         topic, timeout_ms);
    if (rd_kafka_event_error(ev)) {
        err = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                        "topic %s: describe configs: %s", topic,
                        rd_kafka_event_error_string(ev));
        goto out;
    }
    r = rd_kafka_event_DescribeConfigs_result(ev);
    rs = rd_kafka_DescribeConfigs_result_resources(r, &nrs);
    if (nrs != 1 || rd_kafka_ConfigResource_error(rs[0])) {
        err = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                        "topic %s: describe configs: %s", topic,
                        nrs ? rd_kafka_ConfigResource_error_string(rs[0])
                            : "no result");
        goto out;
    }
    entries = rd_kafka_ConfigResource_configs(rs[0], &n);
    for (size_t i = 0; i < n && !err; i++) {
        const char *name = rd_kafka_ConfigEntry_name(entries[i]);
        const char *value = rd_kafka_ConfigEntry_value(entries[i]);

        if (!value)
            value = "";
        if (!strcmp(name, "cleanup.policy") && strstr(value, "compact"))
            err = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                            "topic %s exists with cleanup.policy=%s: "
                            "compaction would delete history; refusing "
                            "(not changing it)",
                            topic, value);
        else if ((!strcmp(name, "retention.ms") ||
                  !strcmp(name, "retention.bytes")) &&
                 strcmp(value, "-1"))
            err = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                            "topic %s exists with %s=%s: history would be "
                            "deleted (need -1); refusing (not changing it)",
                            topic, name, value);
    }
out:
    rd_kafka_event_destroy(ev);
    return err;
}

sf_err_t sf_producer_ensure_topic(sf_producer_t *p, const char *topic,
                                  int partitions, int replication_factor,
                                  int timeout_ms, int *created, char *errstr,
                                  size_t errstr_size) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t rerr;
    rd_kafka_queue_t *q = NULL;
    int exists = 0, brokers;
    sf_err_t err = SF_OK;

    if (created)
        *created = 0;
    if (!p || !topic || !*topic)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "ensure topic: missing producer or topic name");
    if (timeout_ms <= 0)
        timeout_ms = SF_PRODUCER_DEFAULT_TIMEOUT_MS;
    /* All topics, so that asking about ours never auto-creates it. */
    rerr = rd_kafka_metadata(p->rk, 1, NULL, &md, timeout_ms);
    if (rerr)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                         "topic %s: cannot read cluster metadata: %s", topic,
                         rd_kafka_err2str(rerr));
    brokers = md->broker_cnt;
    for (int i = 0; i < md->topic_cnt; i++)
        if (!strcmp(md->topics[i].topic, topic) &&
            md->topics[i].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            exists = 1;
    rd_kafka_metadata_destroy(md);

    q = rd_kafka_queue_new(p->rk);
    if (!exists) {
        char buf[512];
        rd_kafka_NewTopic_t *nt;
        rd_kafka_AdminOptions_t *o;
        rd_kafka_event_t *ev;
        const rd_kafka_topic_result_t **tr;
        size_t ntr = 0;

        if (partitions <= 0)
            partitions = SF_PRODUCER_DEFAULT_PARTITIONS;
        if (replication_factor <= 0)
            replication_factor = brokers < 3 ? (brokers > 0 ? brokers : 1) : 3;
        nt = rd_kafka_NewTopic_new(topic, partitions, replication_factor, buf,
                                   sizeof(buf));
        if (!nt) {
            err = sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                            "topic %s: %s", topic, buf);
            goto out;
        }
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
        rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");
        rd_kafka_NewTopic_set_config(nt, "retention.bytes", "-1");
        o = admin_opts(p->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout_ms);
        rd_kafka_CreateTopics(p->rk, &nt, 1, o, q);
        rd_kafka_AdminOptions_destroy(o);
        rd_kafka_NewTopic_destroy(nt);
        ev = admin_wait(q, RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout_ms);
        if (!ev) {
            err = sf_seterr(errstr, errstr_size, SF_ERR_TIMEOUT,
                            "topic %s: create timed out after %d ms", topic,
                            timeout_ms);
            goto out;
        }
        if (rd_kafka_event_error(ev)) {
            err = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                            "topic %s: create: %s", topic,
                            rd_kafka_event_error_string(ev));
            rd_kafka_event_destroy(ev);
            goto out;
        }
        tr = rd_kafka_CreateTopics_result_topics(
            rd_kafka_event_CreateTopics_result(ev), &ntr);
        rerr =
            ntr ? rd_kafka_topic_result_error(tr[0]) : RD_KAFKA_RESP_ERR__FAIL;
        if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (created)
                *created = 1;
        } else if (rerr != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            err = sf_seterr(
                errstr, errstr_size,
                rerr == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR ||
                        rerr == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS
                    ? SF_ERR_INVALID_ARG
                    : SF_ERR_KAFKA,
                "topic %s: create (%d partitions, replication "
                "factor %d): %s",
                topic, partitions, replication_factor,
                ntr && rd_kafka_topic_result_error_string(tr[0])
                    ? rd_kafka_topic_result_error_string(tr[0])
                    : rd_kafka_err2str(rerr));
            rd_kafka_event_destroy(ev);
            goto out;
        }
        rd_kafka_event_destroy(ev);
        if (rerr == RD_KAFKA_RESP_ERR_NO_ERROR)
            goto out;
        /* Someone else created it meanwhile: check theirs like any other
         * existing topic. */
    }
    err = check_existing(p->rk, q, topic, timeout_ms, errstr, errstr_size);
out:
    if (q)
        rd_kafka_queue_destroy(q);
    return err;
}
