/* journey.c - an aggregate's event history (see journey.h). */
#include "journey.h"
#include "dedup.h"

#include "cmdspec.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <strings.h>
#include <uuid/uuid.h>

#include "asof.h"
#include "batch.h"
#include "event.h"
#include "identity.h"
#include "kconf.h"
#include "kmeta.h"
#include "log.h"
#include "projection.h"
#include "redis_sink.h"

/* Bytes as JSON: a string when they are UTF-8, else {"hex": "..."} so
 * that nothing is lost or left out of the output (a Kafka key or a Redis
 * value may be any bytes; jansson refuses to dump invalid UTF-8). */
static json_t *jbytes(const char *p, size_t n) {
    json_t *s = json_stringn(p, n);
    if (s)
        return s;
    static const char hex[] = "0123456789abcdef";
    char *h = malloc(2 * n + 1);
    if (!h)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        h[2 * i] = hex[(unsigned char)p[i] >> 4];
        h[2 * i + 1] = hex[(unsigned char)p[i] & 15];
    }
    h[2 * n] = '\0';
    json_t *o = json_pack("{s:s}", "hex", h);
    free(h);
    return o;
}

/* Sets obj[key] = v (stolen) with a key of any bytes: non-UTF-8 keys are
 * written as "hex:<hex digits>". */
static int jset(json_t *obj, const char *key, size_t klen, json_t *v) {
    if (!v)
        return -1;
    json_incref(v);
    if (json_object_setn_new(obj, key, klen, v) == 0) {
        json_decref(v);
        return 0;
    }
    json_t *h = jbytes(key, klen);
    const char *hs =
        json_is_object(h) ? json_string_value(json_object_get(h, "hex")) : NULL;
    sf_buf_t k = {0};
    sf_buf_printf(&k, "hex:%s", hs ? hs : "");
    int rc = -1;
    if (k.oom)
        json_decref(v);
    else
        rc = json_object_set_new(obj, k.p, v);
    sf_buf_free(&k);
    json_decref(h);
    return rc;
}

/* The record's extra headers (all but the CloudEvents binding's ce_* and
 * content-type) as a JSON object, or NULL when there are none.  Values
 * as jbytes() shows bytes (a null value is JSON null); a name that
 * repeats in the record (KIP-82 allows it) maps to an array of its
 * values in record order, so the journey shows every one, while handlers
 * and rules see the last. */
static json_t *headers_json(const sf_event_t *ev) {
    json_t *o = NULL;
    const char *name;
    const void *v;
    size_t n;
    for (size_t i = 0; sf_event_header_at(ev, i, &name, &v, &n) == SF_OK; i++) {
        if (!strncmp(name, "ce_", 3) || !strcmp(name, SF_HDR_CONTENT_TYPE))
            continue;
        if (!o && !(o = json_object()))
            return NULL;
        /* the key jset() would use: the name, or hex:<digits> */
        json_t *jn = jbytes(name, strlen(name));
        const char *key = json_string_value(jn);
        sf_buf_t k = {0};
        if (!key) {
            sf_buf_printf(&k, "hex:%s",
                          json_string_value(json_object_get(jn, "hex")));
            key = k.oom ? "hex:" : k.p;
        }
        json_t *jv = v ? jbytes(v, n) : json_null();
        json_t *prev = json_object_get(o, key);
        if (!prev) {
            json_object_set_new(o, key, jv);
        } else if (json_is_array(prev)) { /* values are never arrays */
            json_array_append_new(prev, jv);
        } else {
            json_t *arr = json_array();
            json_array_append(arr, prev);
            json_array_append_new(arr, jv);
            json_object_set_new(o, key, arr);
        }
        sf_buf_free(&k);
        json_decref(jn);
    }
    return o;
}

/* The commands of an event batch as a JSON array of arrays of strings. */
static json_t *batch_json(sf_batch_t *b) {
    json_t *cmds = json_array();
    sf_batch_iter_t it = {0};
    int64_t off;
    size_t argc, a0;
    while (sf_batch_next_cmd(b, &it, &off, &argc, &a0)) {
        json_t *cmd = json_array();
        for (size_t a = a0; a < a0 + argc && a < b->nargs; a++)
            json_array_append_new(cmd,
                                  jbytes(b->data.p + b->aoff[a], b->alen[a]));
        json_array_append_new(cmds, cmd);
    }
    return cmds;
}

/* ---- folded state in a scratch keyspace ---------------------------- */

/* Scratch keys expire on their own after this long, so a journey that is
 * killed (or loses its Redis connection) before it cleans up leaves
 * nothing behind for good.  Long enough for any journey: the TTL is set
 * again each time a command touches the key. */
#define SCRATCH_TTL_MS "86400000"

typedef struct scratch {
    sf_redis_t *r;
    char prefix[64];
    json_t *keys; /* original key (any bytes) -> true, first-touch order */
} scratch_t;

/* Positions of the keys in argv: the command table's (cmdspec.h). */
static int is_key_arg(const char *cmd, size_t i, size_t argc) {
    return sf_cmdspec_is_key(sf_cmdspec_find(cmd, strlen(cmd)), i, argc);
}

/* The scratch name of key: prefix + key, any length, any bytes. */
static sf_err_t scratch_key(const scratch_t *sc, const char *key, size_t klen,
                            sf_buf_t *out) {
    sf_buf_reset(out);
    sf_buf_appends(out, sc->prefix);
    sf_buf_append(out, key, klen);
    return out->oom ? SF_ERR_NOMEM : SF_OK;
}

/* Applies the commands of b with every key under the scratch prefix, each
 * command followed by a PEXPIRE of the keys it touched (one round trip per
 * command).  A command Redis refuses (WRONGTYPE, ...) does not stop the
 * fold; its reply is written into *cmd_error (the event's "state_error")
 * so that it is not lost either. */
static sf_err_t scratch_apply(scratch_t *sc, sf_batch_t *b, char *cmd_error,
                              size_t cmd_error_size, char *errstr,
                              size_t errstr_size) {
    sf_batch_iter_t it = {0};
    int64_t off;
    size_t argc, a0;
    sf_buf_t buf = {0};
    sf_err_t e = SF_OK;
    redisContext *c = sf_redis_ctx(sc->r);
    if (cmd_error_size)
        cmd_error[0] = '\0';
    while (!e && sf_batch_next_cmd(b, &it, &off, &argc, &a0)) {
        char cmd[32];
        size_t cl =
            b->alen[a0] < sizeof(cmd) - 1 ? b->alen[a0] : sizeof(cmd) - 1;
        memcpy(cmd, b->data.p + b->aoff[a0], cl);
        cmd[cl] = '\0';
        const char **argv = calloc(argc, sizeof(*argv));
        size_t *lens = calloc(argc, sizeof(*lens));
        size_t *koff = calloc(argc, sizeof(*koff));
        if (!argv || !lens || !koff) {
            free(argv);
            free(lens);
            free(koff);
            sf_buf_free(&buf);
            return SF_ERR_NOMEM;
        }
        sf_buf_reset(&buf);
        size_t nkeys = 0;
        for (size_t i = 0; i < argc; i++) {
            const char *a = b->data.p + b->aoff[a0 + i];
            size_t al = b->alen[a0 + i];
            koff[i] = (size_t)-1;
            if (is_key_arg(cmd, i, argc)) {
                json_object_setn_new_nocheck(sc->keys, a, al, json_true());
                koff[i] = buf.len;
                sf_buf_appends(&buf, sc->prefix);
                sf_buf_append(&buf, a, al);
                lens[i] = strlen(sc->prefix) + al;
                nkeys++;
            } else {
                argv[i] = a;
                lens[i] = al;
            }
        }
        if (buf.oom)
            e = SF_ERR_NOMEM;
        for (size_t i = 0; i < argc; i++)
            if (koff[i] != (size_t)-1)
                argv[i] = buf.p + koff[i];
        /* Pipelined: the command, then a TTL on each key it named. */
        if (!e && redisAppendCommandArgv(c, (int)argc, argv, lens) != REDIS_OK)
            e = SF_ERR_NOMEM;
        for (size_t i = 0; !e && i < argc; i++)
            if (koff[i] != (size_t)-1 &&
                redisAppendCommand(c, "PEXPIRE %b " SCRATCH_TTL_MS, argv[i],
                                   lens[i]) != REDIS_OK)
                e = SF_ERR_NOMEM;
        for (size_t i = 0; !e && i < 1 + nkeys; i++) {
            redisReply *rep = NULL;
            if (redisGetReply(c, (void **)&rep) != REDIS_OK || !rep) {
                e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                              "redis: journey state: %s",
                              c->errstr[0] ? c->errstr : "connection lost");
                break;
            }
            if (i == 0 && rep->type == REDIS_REPLY_ERROR && cmd_error_size &&
                !cmd_error[0])
                snprintf(cmd_error, cmd_error_size, "%s: %s", cmd, rep->str);
            freeReplyObject(rep);
        }
        free(argv);
        free(lens);
        free(koff);
    }
    sf_buf_free(&buf);
    return e;
}

static redisReply *key_cmd(redisContext *c, const char *cmd,
                           const sf_buf_t *key, const char *extra) {
    if (extra)
        return redisCommand(c, "%s %b %s", cmd, key->p, key->len, extra);
    return redisCommand(c, "%s %b", cmd, key->p, key->len);
}

/* Reads one scratch key back as JSON (NULL if absent). */
static json_t *scratch_value(scratch_t *sc, const char *key, size_t klen) {
    redisContext *c = sf_redis_ctx(sc->r);
    sf_buf_t full = {0};
    if (scratch_key(sc, key, klen, &full)) {
        sf_buf_free(&full);
        return NULL;
    }
    redisReply *t = key_cmd(c, "TYPE", &full, NULL);
    if (!t) {
        sf_buf_free(&full);
        return NULL;
    }
    json_t *v = NULL;
    const char *type = t->type == REDIS_REPLY_STATUS ? t->str : "none";
    redisReply *r = NULL;
    if (!strcmp(type, "string")) {
        r = key_cmd(c, "GET", &full, NULL);
        if (r && r->type == REDIS_REPLY_STRING)
            v = jbytes(r->str, r->len);
    } else if (!strcmp(type, "hash")) {
        r = key_cmd(c, "HGETALL", &full, NULL);
        v = json_object();
        for (size_t i = 0; r && i + 1 < r->elements; i += 2)
            jset(v, r->element[i]->str, r->element[i]->len,
                 jbytes(r->element[i + 1]->str, r->element[i + 1]->len));
    } else if (!strcmp(type, "set")) {
        r = key_cmd(c, "SORT", &full, "ALPHA");
        v = json_array();
        for (size_t i = 0; r && i < r->elements; i++)
            json_array_append_new(
                v, jbytes(r->element[i]->str, r->element[i]->len));
    } else if (!strcmp(type, "zset")) {
        r = redisCommand(c, "ZRANGE %b 0 -1 WITHSCORES", full.p, full.len);
        v = json_array();
        for (size_t i = 0; r && i + 1 < r->elements; i += 2)
            json_array_append_new(
                v, json_pack(
                       "[o, o]", jbytes(r->element[i]->str, r->element[i]->len),
                       jbytes(r->element[i + 1]->str, r->element[i + 1]->len)));
    } else if (!strcmp(type, "list")) {
        r = redisCommand(c, "LRANGE %b 0 -1", full.p, full.len);
        v = json_array();
        for (size_t i = 0; r && i < r->elements; i++)
            json_array_append_new(
                v, jbytes(r->element[i]->str, r->element[i]->len));
    } else if (strcmp(type, "none") != 0) {
        v = json_pack("{s:s}", "type", type);
    }
    freeReplyObject(r);
    freeReplyObject(t);
    sf_buf_free(&full);
    return v;
}

/* Emits the state line (when asked) and deletes every scratch key.  The
 * state line must not silently miss a key: an unreadable one fails the
 * journey. */
static sf_err_t scratch_finish(scratch_t *sc, sf_journey_fn emit, void *opaque,
                               int emit_state, char *errstr,
                               size_t errstr_size) {
    sf_err_t e = SF_OK;
    json_t *state = json_object();
    sf_buf_t full = {0};
    const char *key;
    size_t klen;
    json_t *unused;
    json_object_keylen_foreach(sc->keys, key, klen, unused) {
        (void)unused;
        if (emit_state && !e) {
            json_t *v = scratch_value(sc, key, klen);
            if (v && jset(state, key, klen, v) != 0)
                e = sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                              "journey state: cannot render a key of %zu bytes",
                              klen);
        }
        if (scratch_key(sc, key, klen, &full) == SF_OK)
            freeReplyObject(
                key_cmd(sf_redis_ctx(sc->r), "UNLINK", &full, NULL));
    }
    sf_buf_free(&full);
    if (emit_state && !e) {
        json_t *o = json_pack("{s:o}", "state", state);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (s)
            emit(opaque, s);
        else
            e = sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                          "journey state: cannot render the state line");
        free(s);
        json_decref(o);
    } else {
        json_decref(state);
    }
    return e;
}

/* The error that ends a journey at one record (out of memory, in effect). */
static sf_err_t fail_at(char *errstr, size_t errstr_size, const char *topic,
                        int32_t part, int64_t off, const char *what) {
    return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                     "%s/%" PRId32 " at offset %" PRId64 ": %s", topic, part,
                     off, what);
}

/* The partition a key hashes to depends on the partition count: refuse
 * when a projection recorded another count (identity.h).  Without Redis
 * the check cannot be made: said in the log, the journey goes on. */
static sf_err_t journey_partitions_check(const sf_config_t *cfg,
                                         const char *topic, int32_t np,
                                         char *errstr, size_t errstr_size) {
    sf_redis_t *r = NULL;
    char err[512];
    sf_err_t e = sf_redis_connect(&cfg->redis, &r, err, sizeof(err));
    if (e) {
        sf_log("warn",
               "topic=%s msg=\"partition count not checked against "
               "the projections' records: %s\"",
               topic, err);
        sf_redis_destroy(r);
        return SF_OK;
    }
    e = sf_identity_check_partitions(r, cfg, topic, np, errstr, errstr_size);
    sf_redis_destroy(r);
    return e;
}

sf_err_t sf_journey_run(const sf_config_t *cfg, const sf_catalog_t *cat,
                        const char *topic, const char *aggregate_id,
                        int64_t as_of_ms, const sf_pconf_t *fold,
                        int want_state, sf_journey_fn emit, void *opaque,
                        int64_t *count, char *errstr, size_t errstr_size) {
    scratch_t sc = {0};
    rd_kafka_t *rk = NULL;
    sf_decoder_t *dec = NULL;
    sf_projection_t *proj = NULL;
    sf_event_t ev = {0};
    sf_buf_t scratch = {0};
    sf_batch_t b;
    sf_batch_init(&b);
    *count = 0;
    /* with --fold, the projection's own kafka map applies too */
    sf_err_t e =
        sf_kconf_consumer(cfg, fold, "", &rk, errstr, errstr_size, NULL, NULL);
    int32_t np = 0;
    int64_t lo = 0, hi = 0;
    if (!e)
        e = sf_kmeta_partition_count(rk, topic, &np, errstr, errstr_size);
    if (!e)
        e = journey_partitions_check(cfg, topic, np, errstr, errstr_size);
    int32_t part =
        np ? sf_murmur2_partition(aggregate_id, strlen(aggregate_id), np) : 0;
    if (!e) {
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, topic, part, &lo, &hi, 10000);
        if (err)
            e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                          "watermarks of %s/%" PRId32 ": %s", topic, part,
                          rd_kafka_err2str(err));
    }
    if (!e && !(dec = sf_decoder_new(cat)))
        e = SF_ERR_NOMEM;
    if (!e && fold)
        e = sf_projection_create(fold, cat, &proj, errstr, errstr_size);
    if (!e && fold && want_state) {
        uuid_t u;
        char us[37];
        uuid_generate(u);
        uuid_unparse_lower(u, us);
        snprintf(sc.prefix, sizeof(sc.prefix),
                 SF_REDIS_PREFIX "journey:%s:", us);
        if (!(sc.keys = json_object()))
            e = SF_ERR_NOMEM;
        else
            e = sf_redis_connect(&cfg->redis, &sc.r, errstr, errstr_size);
    }
    if (e || hi <= lo)
        goto out;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, part)->offset = lo;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    size_t idlen = strlen(aggregate_id);
    int idle = 0;
    int64_t ver_last = 0; /* the duplicate rule's state of the aggregate */
    char ver_tag[9] = "";
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) {
            rd_kafka_topic_partition_list_t *q =
                rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(q, topic, part);
            int end = !rd_kafka_position(rk, q) && q->elems[0].offset >= hi;
            rd_kafka_topic_partition_list_destroy(q);
            if (end)
                break;
            if (++idle > 60) { /* 30 s without a record: never a silent cut */
                e = sf_seterr(errstr, errstr_size, SF_ERR_TIMEOUT,
                              "%s/%" PRId32 ": no record for 30 s before "
                              "the end offset %" PRId64 "; the journey is "
                              "incomplete",
                              topic, part, hi);
                break;
            }
            continue;
        }
        idle = 0;
        if (m->err) {
            /* A client-wide error (broker down, ...) is retried by
             * librdkafka; one about our partition ends the journey loudly
             * instead of skipping what it could not read. */
            int ours =
                m->rkt != NULL && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF;
            if (ours)
                e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                              "%s/%" PRId32 " at offset %" PRId64 ": %s", topic,
                              part, m->offset, rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            if (ours)
                break;
            continue;
        }
        int64_t off = m->offset;
        int match = m->key_len == idlen && !memcmp(m->key, aggregate_id, idlen);
        if (match && sf_event_from_message(&ev, m) != SF_OK) {
            e = fail_at(errstr, errstr_size, topic, part, off,
                        "out of memory reading the event");
            rd_kafka_message_destroy(m);
            break;
        }
        if (match && sf_asof_includes(&ev, as_of_ms)) {
            json_t *o = json_object();
            json_object_set_new(o, "topic", json_string(topic));
            json_object_set_new(o, "partition", json_integer(m->partition));
            json_object_set_new(o, "offset", json_integer(off));
            json_object_set_new(o, "timestamp", json_integer(ev.timestamp));
            char msg[1024];
            const sf_schema_t *reader = NULL;
            avro_value_t *val = NULL;
            sf_err_t de =
                m->payload ? sf_decoder_decode(dec, m->payload, m->len, &val,
                                               NULL, &reader, msg, sizeof(msg))
                           : sf_seterr(msg, sizeof(msg), SF_ERR_TRUNCATED,
                                       "empty value");
            const char *ty = *ev.type ? ev.type
                             : reader ? sf_schema_fullname(reader)
                                      : "";
            json_object_set_new(o, "type", jbytes(ty, strlen(ty)));
            json_object_set_new(
                o, "aggregate_id",
                jbytes(ev.aggregate_id, strlen(ev.aggregate_id)));
            json_object_set_new(o, "version",
                                jbytes(ev.version, strlen(ev.version)));
            json_object_set_new(o, "time", jbytes(ev.time, strlen(ev.time)));
            json_object_set_new(o, "event_id", jbytes(ev.id, strlen(ev.id)));
            json_t *hj = headers_json(&ev);
            if (hj)
                json_object_set_new(o, "headers", hj);
            if (de) {
                json_object_set_new(o, "error", jbytes(msg, strlen(msg)));
            } else {
                json_t *data = NULL;
                if (sf_value_to_json(val, &data, msg, sizeof(msg)) == SF_OK)
                    json_object_set_new(o, "data", data);
                else
                    json_object_set_new(o, "error", jbytes(msg, strlen(msg)));
            }
            if (proj) {
                sf_batch_reset(&b);
                /* the duplicate rule, as the apply script runs it (dedup.h):
                 * a duplicate is shown, not folded; a version is recorded
                 * once its event is applied or refused before Redis */
                int64_t v = 0;
                char tag[9] = "";
                const char *dv = sf_dedup_judge(fold->dedup, &ev, ver_last,
                                                ver_tag, &v, tag);
                int dup = !strcmp(dv, "duplicate") || !strcmp(dv, "conflict");
                int record = !dup && strcmp(dv, "unversioned") != 0;
                if (fold->dedup)
                    json_object_set_new(o, "dedup", json_string(dv));
                if (sf_projection_process(proj, dec, m, &ev, &b, &scratch, 0,
                                          msg, sizeof(msg)) == SF_OK) {
                    json_object_set_new(o, "commands", batch_json(&b));
                    char cerr[512] = "";
                    if (sc.keys && sc.r && !e && !dup)
                        e = scratch_apply(&sc, &b, cerr, sizeof(cerr), errstr,
                                          errstr_size);
                    if (sc.keys && sc.r && !e && cerr[0]) {
                        json_object_set_new(o, "state_error",
                                            jbytes(cerr, strlen(cerr)));
                        /* failed in Redis: dead-lettered, so done with
                         * (a copy is a duplicate); under on_error: stop
                         * the operator's skip records nothing */
                        if (fold->on_error_stop)
                            record = 0;
                    }
                } else
                    json_object_set_new(o, "rule_error",
                                        jbytes(msg, strlen(msg)));
                if (record) {
                    ver_last = v;
                    memcpy(ver_tag, tag, sizeof(ver_tag));
                }
            }
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_decref(o);
            if (!s) {
                e = fail_at(errstr, errstr_size, topic, part, off,
                            "cannot render the event as JSON");
                rd_kafka_message_destroy(m);
                break;
            }
            emit(opaque, s);
            free(s);
            (*count)++;
        }
        rd_kafka_message_destroy(m);
        if (off >= hi - 1)
            break;
    }
out:
    if (sc.keys && sc.r) {
        sf_err_t fe =
            scratch_finish(&sc, emit, opaque, !e, errstr, errstr_size);
        if (!e)
            e = fe;
    }
    json_decref(sc.keys);
    sf_redis_destroy(sc.r);
    sf_batch_free(&b);
    sf_event_clear(&ev);
    sf_buf_free(&scratch);
    sf_projection_destroy(proj);
    if (dec)
        sf_decoder_destroy(dec);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return e;
}
