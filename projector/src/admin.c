/* admin.c - status, pause/resume, skip (see admin.h). */
#include "admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kconf.h"
#include "redis_sink.h"

static sf_err_t connect_redis(const sf_config_t *cfg, sf_redis_t **r,
                              char *errstr, size_t errstr_size) {
    sf_err_t e = sf_redis_connect(&cfg->redis, r, errstr, errstr_size);
    if (e) {
        sf_redis_destroy(*r);
        *r = NULL;
    }
    return e;
}

sf_err_t sf_status_collect(const sf_config_t *cfg, const sf_pconf_t *pc,
                           sf_status_row_t **rows, size_t *n, int *paused,
                           char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = NULL;
    sf_redis_t *r = NULL;
    sf_tp_t *tps = NULL;
    size_t ntp = 0;
    rd_kafka_topic_partition_list_t *committed = NULL;
    /* The projection's own group: its committed offsets step over
     * transaction markers, which the Redis checkpoint (the offset of the
     * last applied event) cannot. */
    sf_err_t e = sf_kconf_consumer(cfg, pc, NULL, &rk, errstr, errstr_size,
                                   NULL, NULL);
    if (!e)
        e = sf_kmeta_partitions(rk, pc->topics, pc->ntopics, 1, &tps, &ntp,
                                errstr, errstr_size);
    if (!e && ntp) {
        committed = rd_kafka_topic_partition_list_new((int)ntp);
        for (size_t i = 0; i < ntp; i++)
            rd_kafka_topic_partition_list_add(committed, tps[i].topic,
                                              tps[i].partition);
        /* Best effort: without an answer the checkpoint alone counts. */
        if (rd_kafka_committed(rk, committed, 10000))
            for (int i = 0; i < committed->cnt; i++)
                committed->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    }
    if (!e)
        e = connect_redis(cfg, &r, errstr, errstr_size);
    if (!e)
        e = sf_redis_paused(r, pc->name, paused, errstr, errstr_size);
    sf_status_row_t *out = NULL;
    if (!e && !(out = calloc(ntp ? ntp : 1, sizeof(*out))))
        e = SF_ERR_NOMEM;
    for (size_t i = 0; !e && i < ntp; i++) {
        out[i].tp = tps[i];
        e = sf_redis_ckpt_get(r, pc->name, tps[i].topic, tps[i].partition,
                              &out[i].ckpt, errstr, errstr_size);
        char key[512];
        redisReply *rep = NULL;
        sf_redis_key(key, sizeof(key), pc->name, "epoch", tps[i].topic,
                     tps[i].partition);
        if (!e)
            e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", key);
        if (!e) {
            out[i].epoch = rep->type == REDIS_REPLY_STRING
                               ? strtoll(rep->str, NULL, 10)
                               : 0;
            freeReplyObject(rep);
        }
        out[i].halt = -1;
        sf_redis_key(key, sizeof(key), pc->name, "halt", tps[i].topic,
                     tps[i].partition);
        if (!e)
            e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", key);
        if (!e) {
            if (rep->type == REDIS_REPLY_STRING)
                out[i].halt = strtoll(rep->str, NULL, 10);
            freeReplyObject(rep);
        }
        /* Applied up to the checkpoint; the worker commits to Kafka only
         * after Redis applied, so a committed offset beyond checkpoint + 1
         * means the offsets between are transaction markers. */
        int64_t from = out[i].ckpt >= 0 ? out[i].ckpt + 1 : tps[i].lo;
        int64_t c = committed ? committed->elems[i].offset : -1;
        if (out[i].ckpt >= 0 && c > from)
            from = c < tps[i].hi ? c : tps[i].hi;
        out[i].lag = tps[i].hi > from ? tps[i].hi - from : 0;
    }
    if (e) {
        free(out);
    } else {
        *rows = out;
        *n = ntp;
    }
    if (committed)
        rd_kafka_topic_partition_list_destroy(committed);
    free(tps);
    sf_redis_destroy(r);
    if (rk)
        rd_kafka_destroy(rk);
    return e;
}

sf_err_t sf_admin_pause(const sf_config_t *cfg, const sf_pconf_t *pc,
                        int paused, char *errstr, size_t errstr_size) {
    sf_redis_t *r = NULL;
    sf_err_t e = connect_redis(cfg, &r, errstr, errstr_size);
    if (e)
        return e;
    char key[512];
    sf_redis_key(key, sizeof(key), pc->name, "paused", NULL, 0);
    if (paused)
        e = sf_redis_cmd(r, NULL, errstr, errstr_size, "SET %s 1", key);
    else
        e = sf_redis_cmd(r, NULL, errstr, errstr_size, "DEL %s", key);
    sf_redis_destroy(r);
    return e;
}

sf_err_t sf_admin_skip(const sf_config_t *cfg, const sf_pconf_t *pc,
                       const char *topic, int32_t partition, int64_t offset,
                       int64_t *prev, char *errstr, size_t errstr_size) {
    sf_redis_t *r = NULL;
    sf_err_t e = connect_redis(cfg, &r, errstr, errstr_size);
    if (e)
        return e;
    e = sf_redis_ckpt_advance(r, pc->name, topic, partition, -1, offset, prev,
                              errstr, errstr_size);
    if (!e && *prev >= offset)
        e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                      "%s/%" PRId32 ": checkpoint %" PRId64
                      " is already at or past %" PRId64 "; nothing changed",
                      topic, partition, *prev, offset);
    sf_redis_destroy(r);
    return e;
}
