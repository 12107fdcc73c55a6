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
    /* The sf_dlq_send() call in progress: delivery reports carry
     * (gen << 32 | index) as their opaque, so a late report of an earlier
     * call (served by a later poll or by sf_dlq_destroy) is ignored rather
     * than written into items that may be gone. */
    uint32_t gen;
    sf_dlq_item_t *items;
    size_t nitems;
    char **ensured; /* DLQ topics this process created or found */
    size_t nensured;
};

/* Runs on the thread calling rd_kafka_flush()/poll (the worker's). */
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    sf_dlq_t *d = opaque;
    uint64_t tag = (uint64_t)(uintptr_t)m->_private;
    size_t i = (size_t)(tag & 0xffffffffu);
    if ((uint32_t)(tag >> 32) != d->gen || !d->items || i >= d->nitems)
        return; /* a report of an earlier call */
    d->items[i].err = m->err;
    d->items[i].inflight = 0;
    if (!m->err)
        d->items[i].done = 1;
}

/* Which delivery errors heal by themselves.  librdkafka already retries
 * transient errors inside message.timeout.ms; what reaches the delivery
 * report is either a timeout / purge / connection problem (retriable: a
 * later attempt may succeed) or a refusal of this record or of our rights
 * (permanent: the same record will be refused again).  Kafka's protocol
 * marks MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE, INVALID_RECORD,
 * CORRUPT_MESSAGE's size variant INVALID_MESSAGE_SIZE and the
 * authorization errors as non-retriable (org.apache.kafka.common.errors:
 * they do not extend RetriableException). */
int sf_dlq_err_class(rd_kafka_resp_err_t err) {
    switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR: return SF_DLQ_OK;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE: return SF_DLQ_TOO_LARGE;
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE: return SF_DLQ_PERMANENT;
    default: return SF_DLQ_RETRIABLE;
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
    /* Default (the kafka maps may override): a dead letter waits 30 s for
     * the brokers, long enough for a partition leader to fail over after a
     * broker dies (broker session ~9 s plus the election), and shorter
     * than the worker's wait for it (SF_DLQ_WAIT_MS, worker.c), so its
     * delivery report always arrives before the worker gives up and
     * nothing in flight has to be purged (docs/scale-out.md). */
    rd_kafka_conf_set(conf, "message.timeout.ms", "30000", NULL, 0);
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
    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(topic, -1, -1, err, sizeof(err));
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
        e = n ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR__FAIL;
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
            sf_log("info",
                   "projection=%s topic=%s msg=\"dead-letter topic "
                   "created (retention.ms=-1)\"",
                   d->proj, topic);
    } else {
        sf_log("warn",
               "projection=%s topic=%s msg=\"cannot create the "
               "dead-letter topic: %s\"",
               d->proj, topic, why);
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
}

/* Bytes librdkafka counts for a record's headers (name + value + a few
 * bytes of framing each), to size a cut value. */
static size_t headers_size(const rd_kafka_headers_t *h) {
    size_t n = 0, vs;
    const char *name;
    const void *v;
    for (size_t i = 0; h && !rd_kafka_header_get_all(h, i, &name, &v, &vs); i++)
        n += strlen(name) + vs + 16;
    return n;
}

static size_t max_msg_size(sf_dlq_t *d) {
    char v[32];
    size_t sz = sizeof(v);
    if (rd_kafka_conf_get(rd_kafka_conf(d->rk), "message.max.bytes", v, &sz) !=
        RD_KAFKA_CONF_OK)
        return 1000000;
    return (size_t)strtoull(v, NULL, 10);
}

/* Queues one item at its level: 0 the record whole, 1 the value cut to fit
 * message.max.bytes, 2 the value and the original headers left out (the
 * coordinates still name the original, which the event topic keeps). */
static rd_kafka_resp_err_t produce_item(sf_dlq_t *d, size_t idx) {
    sf_dlq_item_t *it = &d->items[idx];
    const rd_kafka_message_t *m = it->m;
    const char *topic = rd_kafka_topic_name(m->rkt);
    char dlq_topic[512], part[16], off[24], size[24];
    snprintf(dlq_topic, sizeof(dlq_topic), "%s.dlq", topic);
    ensure_topic(d, dlq_topic);
    snprintf(part, sizeof(part), "%" PRId32, m->partition);
    snprintf(off, sizeof(off), "%" PRId64, m->offset);
    snprintf(size, sizeof(size), "%zu", m->len);
    rd_kafka_headers_t *orig = NULL, *hdrs;
    if (it->level < 2 &&
        rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = rd_kafka_headers_copy(orig);
    else
        hdrs = rd_kafka_headers_new(8);
    rd_kafka_header_add(hdrs, "sf_dlq_reason", -1, it->reason, -1);
    rd_kafka_header_add(hdrs, "sf_dlq_projection", -1, d->proj, -1);
    rd_kafka_header_add(hdrs, "sf_dlq_topic", -1, topic, -1);
    rd_kafka_header_add(hdrs, "sf_dlq_partition", -1, part, -1);
    rd_kafka_header_add(hdrs, "sf_dlq_offset", -1, off, -1);
    const void *key = m->key;
    size_t key_len = m->key_len, len = m->len;
    if (it->level >= 1) {
        rd_kafka_header_add(hdrs, "sf_dlq_truncated", -1,
                            it->level == 1 ? "value" : "value,headers", -1);
        rd_kafka_header_add(hdrs, "sf_dlq_original_size", -1, size, -1);
    }
    if (it->level == 1) {
        size_t max = max_msg_size(d),
               used = key_len + headers_size(hdrs) + 1024;
        len = max > used ? max - used : 0;
        if (len > m->len)
            len = m->len;
    } else if (it->level >= 2) {
        len = 0;
        if (key_len > 1024)
            key_len = 1024; /* a key too large is part of the poison */
    }
    uint64_t tag = (uint64_t)d->gen << 32 | (uint64_t)idx;
    rd_kafka_resp_err_t err = rd_kafka_producev(
        d->rk, RD_KAFKA_V_TOPIC(dlq_topic), RD_KAFKA_V_KEY(key, key_len),
        RD_KAFKA_V_VALUE(len ? m->payload : NULL, len),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_OPAQUE((void *)(uintptr_t)tag), RD_KAFKA_V_END);
    if (err)
        rd_kafka_headers_destroy(hdrs);
    else
        it->inflight = 1;
    return err;
}

static sf_err_t permanent(sf_dlq_t *d, const sf_dlq_item_t *it, char *errstr,
                          size_t errstr_size) {
    return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA_FATAL,
                     "dead letter of %s/%" PRId32 "/%" PRId64
                     " (%zu bytes) refused by %s.dlq even with the value "
                     "left out: %s (projection %s)",
                     rd_kafka_topic_name(it->m->rkt), it->m->partition,
                     it->m->offset, it->m->len, rd_kafka_topic_name(it->m->rkt),
                     rd_kafka_err2str(it->err), d->proj);
}

sf_err_t sf_dlq_send(sf_dlq_t *d, sf_dlq_item_t *items, size_t n,
                     int timeout_ms, char *errstr, size_t errstr_size) {
    sf_err_t e = SF_OK;
    d->gen++;
    d->items = items;
    d->nitems = n;
    for (int round = 0; !e; round++) {
        size_t queued = 0;
        for (size_t i = 0; i < n && !e; i++) {
            sf_dlq_item_t *it = &items[i];
            if (it->done || it->inflight)
                continue;
            for (;;) {
                rd_kafka_resp_err_t err = produce_item(d, i);
                if (!err) {
                    queued++;
                    break;
                }
                it->err = err;
                int cls = sf_dlq_err_class(err);
                if (cls == SF_DLQ_TOO_LARGE && it->level < 2) {
                    it->level++;
                    continue;
                }
                if (cls != SF_DLQ_RETRIABLE)
                    e = permanent(d, it, errstr, errstr_size);
                else
                    e = sf_seterr(
                        errstr, errstr_size, SF_ERR_KAFKA,
                        "dlq %s.dlq: produce %s/%" PRId32 "/%" PRId64 ": %s",
                        rd_kafka_topic_name(it->m->rkt),
                        rd_kafka_topic_name(it->m->rkt), it->m->partition,
                        it->m->offset, rd_kafka_err2str(err));
                break;
            }
        }
        rd_kafka_resp_err_t ferr = rd_kafka_flush(d->rk, timeout_ms);
        if (ferr) {
            /* Nothing may stay queued behind this call: the reports
             * would come when the items are gone or re-sent. */
            rd_kafka_purge(d->rk,
                           RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            rd_kafka_flush(d->rk, 5000);
            for (size_t i = 0; i < n; i++)
                items[i].inflight = 0;
            if (!e)
                e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                              "dlq flush: %s", rd_kafka_err2str(ferr));
            break;
        }
        if (e)
            break;
        /* Escalate the records refused for their size; anything else
         * refused for good stops here, anything transient is retried by
         * the caller after a back-off. */
        int again = 0;
        for (size_t i = 0; i < n && !e; i++) {
            sf_dlq_item_t *it = &items[i];
            if (it->done)
                continue;
            int cls = sf_dlq_err_class(it->err);
            if (cls == SF_DLQ_TOO_LARGE && it->level < 2) {
                it->level++;
                again = 1;
            } else if (cls == SF_DLQ_TOO_LARGE || cls == SF_DLQ_PERMANENT) {
                e = permanent(d, it, errstr, errstr_size);
            } else {
                e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                              "dlq %s.dlq: %s/%" PRId32 "/%" PRId64
                              " not delivered: %s",
                              rd_kafka_topic_name(it->m->rkt),
                              rd_kafka_topic_name(it->m->rkt), it->m->partition,
                              it->m->offset, rd_kafka_err2str(it->err));
            }
        }
        if (!again || (queued == 0 && round > 4))
            break;
    }
    d->items = NULL;
    d->nitems = 0;
    d->gen++;
    return e;
}
