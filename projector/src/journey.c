/* journey.c - an aggregate's event history (see journey.h). */
#include "journey.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <strings.h>
#include <uuid/uuid.h>

#include "batch.h"
#include "event.h"
#include "identity.h"
#include "kconf.h"
#include "kmeta.h"
#include "log.h"
#include "projection.h"
#include "redis_sink.h"

/* The commands of an event batch as a JSON array of arrays of strings. */
static json_t *batch_json(sf_batch_t *b) {
    json_t *cmds = json_array();
    sf_batch_iter_t it = {0};
    int64_t off;
    size_t argc, a0;
    while (sf_batch_next_cmd(b, &it, &off, &argc, &a0)) {
        json_t *cmd = json_array();
        for (size_t a = a0; a < a0 + argc && a < b->nargs; a++)
            json_array_append_new(
                cmd, json_stringn_nocheck(b->data.p + b->aoff[a], b->alen[a]));
        json_array_append_new(cmds, cmd);
    }
    return cmds;
}

/* ---- folded state in a scratch keyspace ---------------------------- */

typedef struct scratch {
    sf_redis_t *r;
    char prefix[64];
    json_t *keys; /* original key -> true, in first-touch order */
} scratch_t;

/* Positions of the keys in argv for the allowed write commands. */
static int is_key_arg(const char *cmd, size_t i) {
    if (!strcasecmp(cmd, "DEL") || !strcasecmp(cmd, "UNLINK"))
        return i >= 1;
    if (!strcasecmp(cmd, "MSET"))
        return i % 2 == 1;
    if (!strcasecmp(cmd, "SMOVE"))
        return i == 1 || i == 2;
    return i == 1;
}

/* Applies the commands of b with every key under the scratch prefix. */
static sf_err_t scratch_apply(scratch_t *sc, sf_batch_t *b, char *errstr,
                              size_t errstr_size) {
    sf_batch_iter_t it = {0};
    int64_t off;
    size_t argc, a0;
    sf_buf_t buf = {0};
    sf_err_t e = SF_OK;
    while (!e && sf_batch_next_cmd(b, &it, &off, &argc, &a0)) {
        char cmd[32];
        size_t cl = b->alen[a0] < sizeof(cmd) - 1 ? b->alen[a0]
                                                  : sizeof(cmd) - 1;
        memcpy(cmd, b->data.p + b->aoff[a0], cl);
        cmd[cl] = '\0';
        const char **argv = calloc(argc, sizeof(*argv));
        size_t *lens = calloc(argc, sizeof(*lens));
        size_t *koff = calloc(argc, sizeof(*koff));
        if (!argv || !lens || !koff) {
            free(argv);
            free(lens);
            free(koff);
            return SF_ERR_NOMEM;
        }
        sf_buf_reset(&buf);
        for (size_t i = 0; i < argc; i++) {
            const char *a = b->data.p + b->aoff[a0 + i];
            size_t al = b->alen[a0 + i];
            koff[i] = (size_t)-1;
            if (is_key_arg(cmd, i)) {
                char *k = strndup(a, al);
                if (k) {
                    json_object_set_new(sc->keys, k, json_true());
                    free(k);
                }
                koff[i] = buf.len;
                sf_buf_appends(&buf, sc->prefix);
                sf_buf_append(&buf, a, al);
                lens[i] = strlen(sc->prefix) + al;
            } else {
                argv[i] = a;
                lens[i] = al;
            }
        }
        for (size_t i = 0; i < argc; i++)
            if (koff[i] != (size_t)-1)
                argv[i] = buf.p + koff[i];
        redisReply *rep = redisCommandArgv(sf_redis_ctx(sc->r), (int)argc,
                                           argv, lens);
        if (!rep)
            e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                          "redis: journey state: connection lost");
        freeReplyObject(rep); /* command errors (WRONGTYPE) are ignored */
        free(argv);
        free(lens);
        free(koff);
    }
    sf_buf_free(&buf);
    return e;
}

/* Reads one scratch key back as JSON (NULL if absent). */
static json_t *scratch_value(scratch_t *sc, const char *key) {
    redisContext *c = sf_redis_ctx(sc->r);
    char full[1024];
    snprintf(full, sizeof(full), "%s%s", sc->prefix, key);
    redisReply *t = redisCommand(c, "TYPE %s", full);
    if (!t)
        return NULL;
    json_t *v = NULL;
    const char *type = t->type == REDIS_REPLY_STATUS ? t->str : "none";
    redisReply *r = NULL;
    if (!strcmp(type, "string")) {
        r = redisCommand(c, "GET %s", full);
        if (r && r->type == REDIS_REPLY_STRING)
            v = json_stringn_nocheck(r->str, r->len);
    } else if (!strcmp(type, "hash")) {
        r = redisCommand(c, "HGETALL %s", full);
        v = json_object();
        for (size_t i = 0; r && i + 1 < r->elements; i += 2)
            json_object_set_new(v, r->element[i]->str,
                                json_stringn_nocheck(r->element[i + 1]->str,
                                                     r->element[i + 1]->len));
    } else if (!strcmp(type, "set")) {
        r = redisCommand(c, "SORT %s ALPHA", full);
        v = json_array();
        for (size_t i = 0; r && i < r->elements; i++)
            json_array_append_new(v, json_stringn_nocheck(r->element[i]->str,
                                                          r->element[i]->len));
    } else if (!strcmp(type, "zset")) {
        r = redisCommand(c, "ZRANGE %s 0 -1 WITHSCORES", full);
        v = json_array();
        for (size_t i = 0; r && i + 1 < r->elements; i += 2)
            json_array_append_new(
                v, json_pack("[s, s]", r->element[i]->str,
                             r->element[i + 1]->str));
    } else if (!strcmp(type, "list")) {
        r = redisCommand(c, "LRANGE %s 0 -1", full);
        v = json_array();
        for (size_t i = 0; r && i < r->elements; i++)
            json_array_append_new(v, json_stringn_nocheck(r->element[i]->str,
                                                          r->element[i]->len));
    } else if (strcmp(type, "none") != 0) {
        v = json_pack("{s:s}", "type", type);
    }
    freeReplyObject(r);
    freeReplyObject(t);
    return v;
}

static void scratch_finish(scratch_t *sc, sf_journey_fn emit, void *opaque,
                           int emit_state) {
    json_t *state = json_object();
    const char *key;
    json_t *unused;
    json_object_foreach(sc->keys, key, unused) {
        (void)unused;
        if (emit_state) {
            json_t *v = scratch_value(sc, key);
            if (v)
                json_object_set_new(state, key, v);
        }
        char full[1024];
        snprintf(full, sizeof(full), "%s%s", sc->prefix, key);
        freeReplyObject(redisCommand(sf_redis_ctx(sc->r), "UNLINK %s", full));
    }
    if (emit_state) {
        json_t *o = json_pack("{s:o}", "state", state);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (s)
            emit(opaque, s);
        free(s);
        json_decref(o);
    } else {
        json_decref(state);
    }
}

/* The partition a key hashes to depends on the partition count: refuse
 * when a projection recorded another count (identity.h).  Without Redis
 * the check cannot be made: said in the log, the journey goes on. */
static sf_err_t journey_partitions_check(const sf_config_t *cfg,
                                         const char *topic, int32_t np,
                                         char *errstr, size_t errstr_size) {
    sf_redis_conf_t rc = {cfg->redis_host, cfg->redis_password,
                          cfg->redis_port, cfg->redis_db};
    sf_redis_t *r = NULL;
    char err[512];
    sf_err_t e = sf_redis_connect(&rc, &r, err, sizeof(err));
    if (e) {
        sf_log("warn", "topic=%s msg=\"partition count not checked against "
               "the projections' records: %s\"", topic, err);
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
    sf_err_t e = sf_kconf_consumer(cfg, NULL, NULL, &rk, errstr, errstr_size,
                                   NULL, NULL);
    int32_t np = 0;
    int64_t lo = 0, hi = 0;
    if (!e)
        e = sf_kmeta_partition_count(rk, topic, &np, errstr, errstr_size);
    if (!e)
        e = journey_partitions_check(cfg, topic, np, errstr, errstr_size);
    int32_t part = np ? sf_murmur2_partition(aggregate_id,
                                             strlen(aggregate_id), np)
                      : 0;
    if (!e) {
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk, topic, part, &lo, &hi, 10000);
        if (err)
            e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                          "watermarks of %s/%" PRId32 ": %s", topic, part,
                          rd_kafka_err2str(err));
    }
    if (!e && !(dec = sf_decoder_new(cat)))
        e = SF_ERR_NOMEM;
    if (!e && fold)
        e = sf_projection_create(fold, &proj, errstr, errstr_size);
    if (!e && fold && want_state) {
        sf_redis_conf_t rc = {cfg->redis_host, cfg->redis_password,
                              cfg->redis_port, cfg->redis_db};
        uuid_t u;
        char us[37];
        uuid_generate(u);
        uuid_unparse_lower(u, us);
        snprintf(sc.prefix, sizeof(sc.prefix), SF_REDIS_PREFIX "journey:%s:",
                 us);
        if (!(sc.keys = json_object()))
            e = SF_ERR_NOMEM;
        else
            e = sf_redis_connect(&rc, &sc.r, errstr, errstr_size);
    }
    if (e || hi <= lo)
        goto out;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, part)->offset = lo;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    size_t idlen = strlen(aggregate_id);
    int idle = 0;
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) {
            rd_kafka_topic_partition_list_t *q =
                rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(q, topic, part);
            int end = !rd_kafka_position(rk, q) && q->elems[0].offset >= hi;
            rd_kafka_topic_partition_list_destroy(q);
            if (end || ++idle > 60) /* 30 s without progress */
                break;
            continue;
        }
        idle = 0;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        int64_t off = m->offset;
        int match = m->key_len == idlen && !memcmp(m->key, aggregate_id, idlen);
        if (match && sf_event_from_message(&ev, m) == SF_OK &&
            (as_of_ms < 0 || sf_event_time_ms(&ev) <= as_of_ms)) {
            json_t *o = json_object();
            json_object_set_new(o, "topic", json_string(topic));
            json_object_set_new(o, "partition", json_integer(m->partition));
            json_object_set_new(o, "offset", json_integer(off));
            json_object_set_new(o, "timestamp", json_integer(ev.timestamp));
            char msg[1024];
            const sf_schema_t *reader = NULL;
            avro_value_t *val = NULL;
            sf_err_t de = m->payload
                              ? sf_decoder_decode(dec, m->payload, m->len,
                                                  &val, NULL, &reader, msg,
                                                  sizeof(msg))
                              : sf_seterr(msg, sizeof(msg), SF_ERR_TRUNCATED,
                                          "empty value");
            json_object_set_new(
                o, "type",
                json_string(*ev.type ? ev.type
                                     : reader ? sf_schema_fullname(reader)
                                              : ""));
            json_object_set_new(o, "aggregate_id",
                                json_string(ev.aggregate_id));
            json_object_set_new(o, "version", json_string(ev.version));
            json_object_set_new(o, "time", json_string(ev.time));
            json_object_set_new(o, "event_id", json_string(ev.id));
            if (de) {
                json_object_set_new(o, "error", json_string(msg));
            } else {
                json_t *data = NULL;
                if (sf_value_to_json(val, &data, msg, sizeof(msg)) == SF_OK)
                    json_object_set_new(o, "data", data);
                else
                    json_object_set_new(o, "error", json_string(msg));
            }
            if (proj) {
                sf_batch_reset(&b);
                if (sf_projection_process(proj, dec, m, &ev, &b, &scratch, 0,
                                          msg, sizeof(msg)) == SF_OK) {
                    json_object_set_new(o, "commands", batch_json(&b));
                    if (sc.keys && sc.r && !e)
                        e = scratch_apply(&sc, &b, errstr, errstr_size);
                } else
                    json_object_set_new(o, "rule_error", json_string(msg));
            }
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_decref(o);
            if (s) {
                emit(opaque, s);
                free(s);
                (*count)++;
            }
        }
        rd_kafka_message_destroy(m);
        if (off >= hi - 1)
            break;
    }
out:
    if (sc.keys && sc.r)
        scratch_finish(&sc, emit, opaque, !e);
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
