/* dlq.c - dead-letter producer (see dlq.h). */
#include "dlq.h"

#include "kconf.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sf_dlq {
    rd_kafka_t *rk;
    const char *proj;
    int failed;
    char last_err[256];
    char **ensured; /* DLQ topics this process created or found */
    size_t nensured;
};

/* Runs on the thread calling rd_kafka_flush()/poll (the worker's). */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    sf_dlq_t *d = opaque;
    if (m->err) {
        d->failed++;
        snprintf(d->last_err, sizeof(d->last_err), "%s",
                 rd_kafka_err2str(m->err));
    }
}

sf_err_t sf_dlq_new(const sf_config_t *cfg, const sf_pconf_t *pc,
                    sf_dlq_t **out, char *errstr, size_t errstr_size) {
    sf_dlq_t *d = calloc(1, sizeof(*d));
    if (!d)
        return SF_ERR_NOMEM;
    d->proj = pc->name;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    /* The projection's full Kafka settings (kconf.h: config, projection,
     * -X), so SASL/TLS reach the dead-letter producer too; librdkafka
     * ignores consumer-only properties (it only warns) and logs through
     * the projector's log. */
    sf_err_t ke = sf_kconf_apply(cfg, pc, conf, err, sizeof(err));
    if (ke) {
        rd_kafka_conf_destroy(conf);
        free(d);
        return sf_seterr(errstr, errstr_size, ke, "dlq producer: %s", err);
    }
    rd_kafka_conf_set(conf, "enable.idempotence", "true", NULL, 0);
    rd_kafka_conf_set(conf, "acks", "all", NULL, 0);
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, d);
    d->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!d->rk) {
        free(d);
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA_FATAL,
                         "dlq producer: %s", err);
    }
    *out = d;
    return SF_OK;
}

void sf_dlq_destroy(sf_dlq_t *d) {
    if (!d)
        return;
    rd_kafka_flush(d->rk, 5000);
    rd_kafka_destroy(d->rk);
    for (size_t i = 0; i < d->nensured; i++)
        free(d->ensured[i]);
    free(d->ensured);
    free(d);
}

/* Dead letters are kept like the events themselves: the first time a
 * process writes to a DLQ topic it creates it, if missing, with the
 * history-keeping settings (cleanup.policy=delete, retention.ms=-1,
 * retention.bytes=-1) and the broker's default partitions and replication,
 * rather than leaving it to auto-creation with the broker's retention.
 * Best effort: without the right to create topics the produce that
 * follows reports what is wrong. */
static void ensure_topic(sf_dlq_t *d, const char *topic) {
    for (size_t i = 0; i < d->nensured; i++)
        if (!strcmp(d->ensured[i], topic))
            return;
    char err[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, -1, -1, err,
                                                    sizeof(err));
    if (!nt)
        return;
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
    rd_kafka_NewTopic_set_config(nt, "retention.ms", "-1");
    rd_kafka_NewTopic_set_config(nt, "retention.bytes", "-1");
    rd_kafka_queue_t *q = rd_kafka_queue_new(d->rk);
    rd_kafka_CreateTopics(d->rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    const char *why = "no answer in 15 s";
    if (ev && rd_kafka_event_error(ev)) {
        e = rd_kafka_event_error(ev);
        why = rd_kafka_event_error_string(ev);
    } else if (ev) {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(
                rd_kafka_event_CreateTopics_result(ev), &n);
        e = n ? rd_kafka_topic_result_error(res[0])
              : RD_KAFKA_RESP_ERR__FAIL;
        why = n && rd_kafka_topic_result_error_string(res[0])
                  ? rd_kafka_topic_result_error_string(res[0])
                  : rd_kafka_err2str(e);
    }
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR ||
        e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        char **l = realloc(d->ensured, (d->nensured + 1) * sizeof(*l));
        if (l && (l[d->nensured] = strdup(topic))) {
            d->ensured = l;
            d->nensured++;
        } else if (l) {
            d->ensured = l;
        }
        if (!e)
            sf_log("info", "projection=%s topic=%s msg=\"dead-letter topic "
                   "created (retention.ms=-1)\"", d->proj, topic);
    } else {
        sf_log("warn", "projection=%s topic=%s msg=\"cannot create the "
               "dead-letter topic: %s\"", d->proj, topic, why);
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
}

sf_err_t sf_dlq_produce(sf_dlq_t *d, const rd_kafka_message_t *m,
                        const char *reason, char *errstr,
                        size_t errstr_size) {
    const char *topic = rd_kafka_topic_name(m->rkt);
    char dlq_topic[512], part[16], off[24];
    snprintf(dlq_topic, sizeof(dlq_topic), "%s.dlq", topic);
    ensure_topic(d, dlq_topic);
    snprintf(part, sizeof(part), "%" PRId32, m->partition);
    snprintf(off, sizeof(off), "%" PRId64, m->offset);
    rd_kafka_headers_t *orig = NULL, *hdrs;
    if (rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = rd_kafka_headers_copy(orig);
    else
        hdrs = rd_kafka_headers_new(6);
    rd_kafka_header_add(hdrs, "sf_dlq_reason", -1, reason, -1);
    rd_kafka_header_add(hdrs, "sf_dlq_projection", -1, d->proj, -1);
    rd_kafka_header_add(hdrs, "sf_dlq_topic", -1, topic, -1);
    rd_kafka_header_add(hdrs, "sf_dlq_partition", -1, part, -1);
    rd_kafka_header_add(hdrs, "sf_dlq_offset", -1, off, -1);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        d->rk, RD_KAFKA_V_TOPIC(dlq_topic),
        RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
    if (err) {
        rd_kafka_headers_destroy(hdrs);
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                         "dlq %s: produce %s/%s/%s: %s", dlq_topic, topic,
                         part, off, rd_kafka_err2str(err));
    }
    return SF_OK;
}

sf_err_t sf_dlq_flush(sf_dlq_t *d, int timeout_ms, char *errstr,
                      size_t errstr_size) {
    rd_kafka_resp_err_t err = rd_kafka_flush(d->rk, timeout_ms);
    int failed = d->failed;
    d->failed = 0;
    if (err)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                         "dlq flush: %s", rd_kafka_err2str(err));
    if (failed)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                         "dlq: %d record(s) not delivered: %s", failed,
                         d->last_err);
    return SF_OK;
}
