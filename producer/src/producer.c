/*
 * producer.c - create/destroy, publish (validate -> encode -> enqueue),
 * delivery reports, poll and flush.
 *
 * Design note: validation and encoding happen entirely before
 * rd_kafka_producev(), in sf__record_prepare(), so a refused event never
 * reaches librdkafka ("nothing sent that is wrong").  Once producev()
 * accepted a record, librdkafka owns it and guarantees exactly one delivery
 * report (success, or failure after message.timeout.ms), which we forward
 * to the application ("nothing lost that was accepted").
 */
#include "producer_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/random.h>
#include <uuid/uuid.h>

/* ---------------------------------------------------------------------
 * librdkafka callbacks (run on the thread that polls)
 * ------------------------------------------------------------------- */

static sf_err_t map_kafka_err(sf_producer_t *p, rd_kafka_resp_err_t err) {
    char fbuf[8];

    if (err == RD_KAFKA_RESP_ERR__FATAL ||
        rd_kafka_fatal_error(p->rk, fbuf, sizeof(fbuf)))
        return SF_ERR_KAFKA_FATAL;
    return SF_ERR_KAFKA;
}

/* Copies header name's value into buf as a string ("" when absent). */
static void hdr_copy(rd_kafka_headers_t *hdrs, const char *name, char *buf,
                     size_t size) {
    const void *v;
    size_t len;

    buf[0] = '\0';
    if (hdrs &&
        rd_kafka_header_get_last(hdrs, name, &v, &len) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        v) {
        if (len >= size)
            len = size - 1;
        memcpy(buf, v, len);
        buf[len] = '\0';
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                        void *opaque) {
    sf_producer_t *p = opaque;
    sf_sync_t *sync = NULL;
    sf_producer_dr_t dr;
    char reason[512] = "";

    (void)rk;
    dr.filled = 0;
    dr.opaque = NULL;
    dr.topic = rd_kafka_topic_name(m->rkt);
    dr.partition = m->partition;
    dr.offset = m->err ? -1 : m->offset;
    dr.err = m->err ? map_kafka_err(p, m->err) : SF_OK;
    /* librdkafka's own view: was the request sent, was it answered. */
    dr.persisted = (sf_producer_persisted_t)rd_kafka_message_status(m);
    if (m->err)
        snprintf(reason, sizeof(reason), "%s [%d]: %s (%s)", dr.topic,
                 (int)m->partition,
                 m->err == RD_KAFKA_RESP_ERR__FATAL ? "fatal producer error"
                                                    : rd_kafka_err2str(m->err),
                 sf_producer_persisted_name(dr.persisted));
    dr.errstr = reason;
    dr.msg = m; /* ids are looked up only if the application asks */

    if (m->_private && atomic_load(&p->syncs) > 0) {
        sf_sync_t **pp;

        pthread_mutex_lock(&p->sync_lock);
        for (pp = &p->sync_list; *pp; pp = &(*pp)->next)
            if (*pp == m->_private) {
                sync = *pp;
                *pp = sync->next;
                atomic_fetch_sub(&p->syncs, 1);
                break;
            }
        pthread_mutex_unlock(&p->sync_lock);
    }
    if (sync) {
        sf_sync_t *s = sync;

        s->err = dr.err;
        s->persisted = dr.persisted;
        s->partition = dr.partition;
        s->offset = dr.offset;
        snprintf(s->errstr, sizeof(s->errstr), "%s", reason);
        atomic_store(&s->done, 1);
    } else if (p->dr_cb) {
        dr.opaque = m->_private;
        p->dr_cb(p, &dr, p->opaque);
    }
}

static void on_error(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
    sf_producer_t *p = opaque;
    char fatal[512];

    if (!p->error_cb)
        return;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
        p->error_cb(p, SF_ERR_KAFKA_FATAL, fatal, p->opaque);
    } else {
        p->error_cb(p, SF_ERR_KAFKA, reason, p->opaque);
    }
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
    sf_producer_t *p = rd_kafka_opaque(rk);

    /* Lines logged inside rd_kafka_new(), before the opaque is usable,
     * or after the application removed its callback, are dropped. */
    if (p && p->log_cb)
        p->log_cb(p, level, fac, buf, p->opaque);
}

/* ---------------------------------------------------------------------
 * Create / destroy
 * ------------------------------------------------------------------- */

static char *conf_str(rd_kafka_conf_t *c, const char *name) {
    char buf[512];
    size_t sz = sizeof(buf);

    if (rd_kafka_conf_get(c, name, buf, &sz) != RD_KAFKA_CONF_OK || !*buf)
        return NULL;
    return strdup(buf);
}

sf_producer_t *sf_producer_new(sf_producer_conf_t *conf, char *errstr,
                               size_t errstr_size) {
    sf_producer_t *p;
    rd_kafka_conf_t *rkc = NULL;
    char rkerr[512], *s;

    if (!conf) {
        sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                  "sf_producer_new: NULL conf");
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (!p)
        goto nomem;
    pthread_mutex_init(&p->sync_lock, NULL);
    p->dr_cb = conf->dr_cb;
    p->error_cb = conf->error_cb;
    p->log_cb = conf->log_cb;
    p->opaque = conf->opaque;
    p->source = strdup(conf->source ? conf->source : "sf-producer");
    if (!p->source)
        goto nomem;
    if (sf__ce_check_uri_reference(p->source, rkerr, sizeof(rkerr))) {
        sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                  "sf.source \"%s\" is not a URI-reference (CloudEvents 1.0 "
                  "source, RFC 3986): %s",
                  p->source, rkerr);
        goto fail;
    }
    if (conf->topic && !(p->topic = strdup(conf->topic)))
        goto nomem;
    if (conf->aggtype && !(p->aggtype = strdup(conf->aggtype)))
        goto nomem;
    if (p->topic && !p->aggtype)
        p->aggtype = sf__aggtype_from_topic(p->topic);
    else if (!p->topic && p->aggtype &&
             !(p->topic = sf__topic_from_aggtype(p->aggtype)))
        goto nomem;

    if (conf->cat) {
        p->cat = conf->cat;
    } else if (conf->schema_dir) {
        sf_err_t err;

        p->own_cat = sf_catalog_new();
        if (!p->own_cat)
            goto nomem;
        err = sf_catalog_load_dir(p->own_cat, conf->schema_dir, rkerr,
                                  sizeof(rkerr));
        if (err) {
            sf_seterr(errstr, errstr_size, err, "sf.schema.dir %s: %s",
                      conf->schema_dir, rkerr);
            goto fail;
        }
        p->cat = p->own_cat;
    } else {
        sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                  "no schema catalog: set sf.schema.dir or call "
                  "sf_producer_conf_set_catalog()");
        goto fail;
    }

    /* librdkafka gets a copy, so a failure leaves the caller's conf as it
     * was (no callbacks pointing at the freed producer). */
    rkc = rd_kafka_conf_dup(conf->rk);
    if (!rkc)
        goto nomem;
    if ((s = conf_str(rkc, "transactional.id"))) {
        p->transactional = 1;
        free(s);
    }
    if (p->transactional && !conf->timeout_set) {
        /* librdkafka refuses message.timeout.ms > transaction.timeout.ms.
         * A transaction that failed is aborted whole, so its retry cannot
         * duplicate anything a read_committed reader sees: the delivery
         * timeout only bounds how long a commit waits.  Follow the
         * transaction timeout, as librdkafka does when neither is set. */
        char *tt = conf_str(rkc, "transaction.timeout.ms");

        if (!tt || rd_kafka_conf_set(rkc, "message.timeout.ms", tt, rkerr,
                                     sizeof(rkerr)) != RD_KAFKA_CONF_OK) {
            free(tt);
            rd_kafka_conf_destroy(rkc);
            sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                      "message.timeout.ms from transaction.timeout.ms: %s",
                      tt ? rkerr : "not set");
            goto fail;
        }
        free(tt);
    }
    if ((s = conf_str(rkc, "message.timeout.ms"))) {
        p->timeout_ms = atoi(s);
        free(s);
    }
    if (p->timeout_ms <= 0)
        p->timeout_ms = SF_PRODUCER_DEFAULT_TIMEOUT_MS;
    rd_kafka_conf_set_dr_msg_cb(rkc, on_delivery);
    rd_kafka_conf_set_error_cb(rkc, on_error);
    rd_kafka_conf_set_opaque(rkc, p);
    if (p->log_cb) {
        /* Logs through the main queue, so they are served by poll on the
         * application's thread like every other callback. */
        if (rd_kafka_conf_set(rkc, "log.queue", "true", rkerr, sizeof(rkerr)) !=
            RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(rkc);
            sf_seterr(errstr, errstr_size, SF_ERR_CONFIG, "log.queue: %s",
                      rkerr);
            goto fail;
        }
        rd_kafka_conf_set_log_cb(rkc, on_log);
    }
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, rkc, rkerr, sizeof(rkerr));
    if (!p->rk) {
        rd_kafka_conf_destroy(rkc);
        sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                  "librdkafka refused the configuration: %s", rkerr);
        goto fail;
    }
    if (p->log_cb)
        rd_kafka_set_log_queue(p->rk, NULL);
    sf_producer_conf_destroy(conf);
    return p;

nomem:
    sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
              "sf_producer_new: out of "
              "memory");
fail:
    if (p) {
        sf_catalog_destroy(p->own_cat);
        free(p->source);
        free(p->topic);
        free(p->aggtype);
        pthread_mutex_destroy(&p->sync_lock);
        free(p);
    }
    return NULL;
}

void sf_producer_destroy(sf_producer_t *p) {
    if (!p)
        return;
    rd_kafka_flush(p->rk, p->timeout_ms);
    /* Whatever is still queued fails now, and its report is served here,
     * so every accepted event hears its fate. */
    rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int i = 0; i < 50 && rd_kafka_outq_len(p->rk) > 0; i++)
        rd_kafka_poll(p->rk, 100);
    rd_kafka_destroy(p->rk);
    sf_catalog_destroy(p->own_cat);
    free(p->source);
    free(p->topic);
    free(p->aggtype);
    pthread_mutex_destroy(&p->sync_lock);
    free(p);
}

const sf_catalog_t *sf_producer_catalog(const sf_producer_t *p) {
    return p->cat;
}

struct rd_kafka_s *sf_producer_rk(sf_producer_t *p) {
    return p->rk;
}

int sf_producer_poll(sf_producer_t *p, int timeout_ms) {
    return rd_kafka_poll(p->rk, timeout_ms);
}

sf_err_t sf_producer_flush(sf_producer_t *p, int timeout_ms, char *errstr,
                           size_t errstr_size) {
    rd_kafka_resp_err_t err = rd_kafka_flush(p->rk, timeout_ms);

    if (err == RD_KAFKA_RESP_ERR__TIMED_OUT)
        return sf_seterr(errstr, errstr_size, SF_ERR_TIMEOUT,
                         "flush: %d event(s) still undelivered after %d ms",
                         rd_kafka_outq_len(p->rk), timeout_ms);
    return SF_OK;
}

int sf_producer_outq_len(sf_producer_t *p) {
    return rd_kafka_outq_len(p->rk);
}

sf_err_t sf__fatal_check(sf_producer_t *p, char *errstr, size_t errstr_size) {
    char reason[512];
    rd_kafka_resp_err_t err =
        rd_kafka_fatal_error(p->rk, reason, sizeof(reason));

    if (err)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA_FATAL,
                         "producer unusable after fatal error: %s (%s)", reason,
                         rd_kafka_err2name(err));
    return SF_OK;
}

/* ---------------------------------------------------------------------
 * Event ids: random (version 4) UUIDs.
 *
 * libuuid's uuid_generate_random() reseeds and makes a getrandom() call
 * per id, which showed up as ~5% of publish time.  We draw the same kernel
 * randomness (getrandom) 256 ids at a time into a per-thread pool, set the
 * version/variant bits as RFC 9562 says, and let libuuid format it.
 * ------------------------------------------------------------------- */

#define UUID_POOL 256

static _Thread_local unsigned char uuid_pool[UUID_POOL * 16];
static _Thread_local int uuid_left;
static pthread_once_t uuid_once = PTHREAD_ONCE_INIT;

/* A forked child inherits the forking thread's pool: empty it there, or
 * parent and child would hand out the same ids. */
static void uuid_atfork_child(void) {
    uuid_left = 0;
}

static void uuid_init(void) {
    pthread_atfork(NULL, NULL, uuid_atfork_child);
}

void sf__uuid_v4(char out[37]) {
    unsigned char *pool = uuid_pool, *u;
    int left;

    pthread_once(&uuid_once, uuid_init);
    left = uuid_left;
    if (left == 0) {
        size_t got = 0;

        while (got < sizeof(uuid_pool)) {
            ssize_t r = getrandom(pool + got, sizeof(uuid_pool) - got, 0);

            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                /* no getrandom (very old kernel): libuuid's own sources */
                uuid_t fallback;

                uuid_generate_random(fallback);
                uuid_unparse_lower(fallback, out);
                return;
            }
            got += (size_t)r;
        }
        left = UUID_POOL;
    }
    uuid_left = --left;
    u = pool + 16 * left;
    u[6] = (unsigned char)((u[6] & 0x0F) | 0x40); /* version 4 */
    u[8] = (unsigned char)((u[8] & 0x3F) | 0x80); /* variant 10 */
    uuid_unparse_lower(u, out);
}

/* ---------------------------------------------------------------------
 * Records: headers, validation, encoding
 * ------------------------------------------------------------------- */

rd_kafka_headers_t *
sf__headers_build(const char *id, const char *source, const char *type,
                  const char *time, const char *subject, const char *aggtype,
                  int64_t version, const char *correlation_id,
                  const char *causation_id, const char *dataschema) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(12);
    char seq[24];

#define ADD(name, val) rd_kafka_header_add(h, name, -1, val, -1)
    ADD(SF_HDR_SPECVERSION, SF_CE_SPECVERSION);
    ADD(SF_HDR_ID, id);
    ADD(SF_HDR_SOURCE, source);
    ADD(SF_HDR_TYPE, type);
    ADD(SF_HDR_TIME, time);
    ADD(SF_HDR_SUBJECT, subject);
    ADD(SF_HDR_CONTENT_TYPE, SF_CONTENT_TYPE_AVRO);
    if (aggtype)
        ADD(SF_HDR_AGGTYPE, aggtype);
    if (version > 0) {
        char *e = seq + sizeof(seq) - 1;
        uint64_t v = (uint64_t)version;

        *e = '\0';
        do
            *--e = (char)('0' + v % 10);
        while ((v /= 10));
        ADD(SF_HDR_SEQUENCE, e);
    }
    if (correlation_id)
        ADD(SF_HDR_CORRELATIONID, correlation_id);
    if (causation_id)
        ADD(SF_HDR_CAUSATIONID, causation_id);
    if (dataschema)
        ADD(SF_HDR_DATASCHEMA, dataschema);
#undef ADD
    return h;
}

/* The catalog version of type whose schema equals the value's, or NULL. */
static const sf_schema_t *schema_of_value(const sf_catalog_t *cat,
                                          const sf_schema_t *latest,
                                          avro_value_t *value) {
    avro_schema_t vs = avro_value_get_schema(value);

    /* Values made from the catalog's own schema share its pointer: no
     * deep comparison needed on the hot path. */
    if (vs == sf_schema_avro(latest))
        return latest;
    for (int v = sf_schema_version(latest); v >= 1; v--) {
        const sf_schema_t *s =
            sf_catalog_version(cat, sf_schema_fullname(latest), v);
        if (s && avro_schema_equal(sf_schema_avro(s), vs))
            return s;
    }
    return NULL;
}

sf_err_t sf__record_prepare(sf_producer_t *p, const sf_producer_event_t *ev,
                            sf_record_t *rec, char *errstr,
                            size_t errstr_size) {
    const sf_schema_t *latest, *s;
    avro_value_t val;
    int own_val = 0;
    char emsg[512], idbuf[40], tbuf[40], aggbuf[128], dsbuf[64];
    const char *id, *aggtype;
    sf_err_t err;

    memset(rec, 0, sizeof(*rec));
    if (!ev)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "publish: NULL event");
    if (!ev->type || !*ev->type)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "type: missing event type");
    if (!ev->aggregate_id || !*ev->aggregate_id)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "aggregate_id: missing aggregate id (event %s)",
                         ev->type);
    /* CloudEvents 1.0: id, source, type are non-empty strings (source a
     * URI-reference, checked when it was configured); extension values
     * we write must not be empty either. */
    if (ev->id && !*ev->id)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "event_id: empty event id (event %s)", ev->type);
    if (ev->correlation_id && !*ev->correlation_id)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "correlation_id: empty (event %s)", ev->type);
    if (ev->causation_id && !*ev->causation_id)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "causation_id: empty (event %s)", ev->type);
    for (size_t i = 0; i < ev->nxhdrs; i++)
        if (sf__ce_check_header(ev->xhdrs[i].name, ev->xhdrs[i].value,
                                ev->xhdrs[i].len, emsg, sizeof(emsg)))
            return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                             "headers: %s (event %s)", emsg, ev->type);
    rec->topic = ev->topic ? ev->topic : p->topic;
    if (!rec->topic)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "no topic for event %s: set sf.topic or "
                         "sf.aggregate.type, or the event's topic",
                         ev->type);
    aggtype = ev->aggregate_type ? ev->aggregate_type : p->aggtype;
    if (!aggtype) {
        /* Neither configured nor implied by the topic name: the last
         * namespace component of the type ("shop.cart.CartOpened" ->
         * "cart"), so every record carries ce_aggregatetype. */
        const char *dot = strrchr(ev->type, '.'), *start = dot;
        while (start && start > ev->type && start[-1] != '.')
            start--;
        if (dot && start < dot && (size_t)(dot - start) < sizeof(aggbuf)) {
            memcpy(aggbuf, start, (size_t)(dot - start));
            aggbuf[dot - start] = '\0';
            aggtype = aggbuf;
        }
    }

    latest = sf_catalog_latest(p->cat, ev->type);
    if (!latest)
        return sf_seterr(errstr, errstr_size, SF_ERR_UNKNOWN_TYPE,
                         "type: unknown event type \"%s\" (not in the "
                         "schema catalog)",
                         ev->type);
    switch (ev->kind) {
    case SF_PAYLOAD_VALUE:
        s = schema_of_value(p->cat, latest, (avro_value_t *)&ev->value);
        if (!s)
            return sf_seterr(errstr, errstr_size, SF_ERR_VALUE,
                             "data: payload schema is not any version of "
                             "%s in the catalog",
                             ev->type);
        val = ev->value;
        break;
    case SF_PAYLOAD_JSON:
    case SF_PAYLOAD_TEXT:
        s = ev->schema_version
                ? sf_catalog_version(p->cat, ev->type, ev->schema_version)
                : latest;
        if (!s)
            return sf_seterr(errstr, errstr_size, SF_ERR_UNKNOWN_TYPE,
                             "type: no version %d of \"%s\" in the schema "
                             "catalog",
                             ev->schema_version, ev->type);
        err = ev->kind == SF_PAYLOAD_JSON
                  ? sf_value_from_json(s, ev->json, "data", &val, emsg,
                                       sizeof(emsg))
                  : sf_value_from_json_text(s, ev->text, ev->text_len, "data",
                                            &val, emsg, sizeof(emsg));
        if (err)
            return sf_seterr(errstr, errstr_size, err, "%s", emsg);
        own_val = 1;
        break;
    default:
        return sf_seterr(errstr, errstr_size, SF_ERR_VALUE,
                         "data: missing payload (event %s)", ev->type);
    }
    err = sf_encode(s, &val, &rec->value, &rec->value_len, emsg, sizeof(emsg));
    if (own_val)
        avro_value_decref(&val);
    if (err)
        return sf_seterr(errstr, errstr_size, err, "data: %s", emsg);

    if (ev->id) {
        id = ev->id;
    } else {
        sf__uuid_v4(idbuf);
        id = idbuf;
    }
    if (!sf_time_format(ev->has_time ? ev->time_ms : sf_time_now_ms(), tbuf,
                        sizeof(tbuf))) {
        free(rec->value);
        rec->value = NULL;
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "occurred_at: time %lld ms is outside years "
                         "0000-9999",
                         (long long)ev->time_ms);
    }
    rec->key = ev->aggregate_id;
    sf__ce_dataschema(s, dsbuf, sizeof(dsbuf));
    rec->hdrs = sf__headers_build(
        id, p->source, ev->type, tbuf, ev->aggregate_id, aggtype, ev->version,
        ev->correlation_id ? ev->correlation_id : id,
        ev->causation_id ? ev->causation_id : id, dsbuf);
    for (size_t i = 0; i < ev->nxhdrs; i++)
        rd_kafka_header_add(rec->hdrs, ev->xhdrs[i].name, -1,
                            ev->xhdrs[i].value, (ssize_t)ev->xhdrs[i].len);
    return SF_OK;
}

void sf__record_release(sf_record_t *rec) {
    free(rec->value);
    if (rec->hdrs)
        rd_kafka_headers_destroy(rec->hdrs);
    memset(rec, 0, sizeof(*rec));
}

sf_err_t sf__record_send(sf_producer_t *p, sf_record_t *rec, void *opaque,
                         char *errstr, size_t errstr_size) {
    rd_kafka_resp_err_t err;
    int64_t deadline = sf_time_now_ms() + p->timeout_ms;

    for (;;) {
        err = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(rec->topic),
                                RD_KAFKA_V_KEY(rec->key, strlen(rec->key)),
                                RD_KAFKA_V_VALUE(rec->value, rec->value_len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_HEADERS(rec->hdrs),
                                RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL ||
            sf_time_now_ms() >= deadline)
            break;
        /* The local queue is full of records waiting for the broker:
         * serve delivery reports (frees room) and try again. */
        rd_kafka_poll(p->rk, 100);
    }
    if (err) {
        sf_err_t e = map_kafka_err(p, err);

        sf_seterr(errstr, errstr_size, e,
                  "%s: librdkafka refused the "
                  "record (key %s): %s",
                  rec->topic, rec->key, rd_kafka_err2str(err));
        sf__record_release(rec);
        return e;
    }
    /* librdkafka copied the value into the message's own allocation (one
     * long-lived block per record, like a plain producer; our short-lived
     * encode buffer goes straight back to malloc's cache) and owns the
     * headers now. */
    free(rec->value);
    rec->value = NULL;
    rec->hdrs = NULL;
    return SF_OK;
}

/* ---------------------------------------------------------------------
 * Publishing
 * ------------------------------------------------------------------- */

static sf_err_t publish(sf_producer_t *p, const sf_producer_event_t *ev,
                        void *msg_opaque, sf_sync_t *sync, char *errstr,
                        size_t errstr_size) {
    sf_record_t rec;
    sf_err_t err;

    if (!p)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "publish: NULL producer");
    if ((err = sf__fatal_check(p, errstr, errstr_size)))
        return err;
    if (p->transactional && !atomic_load(&p->in_txn))
        return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                         "publish: transactional producer outside a "
                         "transaction (call sf_producer_begin first)");
    if ((err = sf__record_prepare(p, ev, &rec, errstr, errstr_size)))
        return err;
    if (sync) {
        /* Registered before producev(): the report may come at once. */
        pthread_mutex_lock(&p->sync_lock);
        sync->next = p->sync_list;
        p->sync_list = sync;
        atomic_fetch_add(&p->syncs, 1);
        pthread_mutex_unlock(&p->sync_lock);
        msg_opaque = sync;
    }
    err = sf__record_send(p, &rec, msg_opaque, errstr, errstr_size);
    if (err && sync) {
        sf_sync_t **pp;

        pthread_mutex_lock(&p->sync_lock);
        for (pp = &p->sync_list; *pp; pp = &(*pp)->next)
            if (*pp == sync) {
                *pp = sync->next;
                atomic_fetch_sub(&p->syncs, 1);
                break;
            }
        pthread_mutex_unlock(&p->sync_lock);
    }
    return err;
}

sf_err_t sf_producer_publish(sf_producer_t *p, const sf_producer_event_t *ev,
                             void *msg_opaque, char *errstr,
                             size_t errstr_size) {
    return publish(p, ev, msg_opaque, NULL, errstr, errstr_size);
}

sf_err_t sf_producer_validate(sf_producer_t *p, const sf_producer_event_t *ev,
                              char *errstr, size_t errstr_size) {
    sf_record_t rec;
    sf_err_t err;

    if (!p)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "validate: NULL producer");
    err = sf__record_prepare(p, ev, &rec, errstr, errstr_size);
    if (!err)
        sf__record_release(&rec);
    return err;
}

sf_err_t sf_producer_publish_sync(sf_producer_t *p,
                                  const sf_producer_event_t *ev,
                                  int32_t *partition, int64_t *offset,
                                  char *errstr, size_t errstr_size) {
    return sf_producer_publish_sync_status(p, ev, partition, offset, NULL,
                                           errstr, errstr_size);
}

sf_err_t sf_producer_publish_sync_status(sf_producer_t *p,
                                         const sf_producer_event_t *ev,
                                         int32_t *partition, int64_t *offset,
                                         sf_producer_persisted_t *persisted,
                                         char *errstr, size_t errstr_size) {
    sf_sync_t sync;
    sf_err_t err;

    memset(&sync, 0, sizeof(sync));
    atomic_init(&sync.done, 0);
    if (persisted)
        *persisted = SF_PRODUCER_NOT_PERSISTED;
    err = publish(p, ev, NULL, &sync, errstr, errstr_size);
    if (err)
        return err;
    /* librdkafka reports every accepted record within message.timeout.ms,
     * so this loop ends.  Another thread polling may serve our report; we
     * then see done on the next round. */
    while (!atomic_load(&sync.done))
        rd_kafka_poll(p->rk, 50);
    if (partition)
        *partition = sync.partition;
    if (offset)
        *offset = sync.offset;
    if (persisted)
        *persisted = sync.persisted;
    if (sync.err)
        return sf_seterr(errstr, errstr_size, sync.err, "%s", sync.errstr);
    return SF_OK;
}

/* ---------------------------------------------------------------------
 * Delivery report accessors
 * ------------------------------------------------------------------- */

sf_err_t sf_producer_dr_err(const sf_producer_dr_t *dr) {
    return dr->err;
}
sf_producer_persisted_t sf_producer_dr_persisted(const sf_producer_dr_t *dr) {
    return dr->persisted;
}
const char *sf_producer_persisted_name(sf_producer_persisted_t status) {
    switch (status) {
    case SF_PRODUCER_NOT_PERSISTED: return "not persisted";
    case SF_PRODUCER_POSSIBLY_PERSISTED: return "possibly persisted";
    case SF_PRODUCER_PERSISTED: return "persisted";
    }
    return "unknown persistence status";
}
const char *sf_producer_dr_errstr(const sf_producer_dr_t *dr) {
    return dr->errstr;
}
const char *sf_producer_dr_topic(const sf_producer_dr_t *dr) {
    return dr->topic;
}
int32_t sf_producer_dr_partition(const sf_producer_dr_t *dr) {
    return dr->partition;
}
int64_t sf_producer_dr_offset(const sf_producer_dr_t *dr) {
    return dr->offset;
}
/* The report is const for the application; filling its lazy string
 * buffers is our business (it lives on on_delivery()'s stack). */
static sf_producer_dr_t *dr_fill(const sf_producer_dr_t *cdr) {
    sf_producer_dr_t *dr = (sf_producer_dr_t *)cdr;
    rd_kafka_headers_t *hdrs = NULL;
    const rd_kafka_message_t *m = dr->msg;
    size_t klen;

    if (dr->filled)
        return dr;
    dr->filled = 1;
    rd_kafka_message_headers(m, &hdrs);
    hdr_copy(hdrs, SF_HDR_ID, dr->event_id, sizeof(dr->event_id));
    hdr_copy(hdrs, SF_HDR_TYPE, dr->type, sizeof(dr->type));
    klen = m->key_len < sizeof(dr->aggregate_id) ? m->key_len
                                                 : sizeof(dr->aggregate_id) - 1;
    if (m->key)
        memcpy(dr->aggregate_id, m->key, klen);
    dr->aggregate_id[m->key ? klen : 0] = '\0';
    return dr;
}

const char *sf_producer_dr_event_id(const sf_producer_dr_t *dr) {
    return dr_fill(dr)->event_id;
}
const char *sf_producer_dr_type(const sf_producer_dr_t *dr) {
    return dr_fill(dr)->type;
}
const char *sf_producer_dr_aggregate_id(const sf_producer_dr_t *dr) {
    return dr_fill(dr)->aggregate_id;
}
void *sf_producer_dr_opaque(const sf_producer_dr_t *dr) {
    return dr->opaque;
}
