/* control.c - operator control state in Redis (see control.h). */
#include "control.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rec_seen(sf_redis_t *r, const char *what, const char *proj,
                    const char *topic, int32_t partition, int64_t offset) {
    char key[512];
    redisReply *rep = NULL;
    if (!r)
        return 0;
    sf_redis_key(key, sizeof(key), proj, what, topic, partition);
    if (sf_redis_cmd(r, &rep, NULL, 0, "SISMEMBER %s %" PRId64, key, offset))
        return 0; /* unknown: dead-letter (at least once) */
    int seen = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
    freeReplyObject(rep);
    return seen;
}

int sf_dlqrec_seen(sf_redis_t *r, const char *proj,
                   const rd_kafka_message_t *m) {
    return sf_dlqrec_seen_at(r, proj, rd_kafka_topic_name(m->rkt), m->partition,
                             m->offset);
}

static void rec_add(sf_redis_t *r, const char *what, const char *proj,
                    const char *topic, int32_t partition, int64_t offset) {
    char key[512];
    if (!r)
        return;
    sf_redis_key(key, sizeof(key), proj, what, topic, partition);
    sf_redis_cmd(r, NULL, NULL, 0, "SADD %s %" PRId64, key, offset);
}

int sf_dlqrec_seen_at(sf_redis_t *r, const char *proj, const char *topic,
                      int32_t partition, int64_t offset) {
    return rec_seen(r, "dlq", proj, topic, partition, offset);
}

void sf_dlqrec_add_at(sf_redis_t *r, const char *proj, const char *topic,
                      int32_t partition, int64_t offset) {
    rec_add(r, "dlq", proj, topic, partition, offset);
}

int sf_skiprec_seen_at(sf_redis_t *r, const char *proj, const char *topic,
                       int32_t partition, int64_t offset) {
    return rec_seen(r, "skipped", proj, topic, partition, offset);
}

void sf_skiprec_add_at(sf_redis_t *r, const char *proj, const char *topic,
                       int32_t partition, int64_t offset) {
    rec_add(r, "skipped", proj, topic, partition, offset);
}

void sf_dlqrec_add(sf_redis_t *r, const char *proj,
                   const rd_kafka_message_t *m) {
    sf_dlqrec_add_at(r, proj, rd_kafka_topic_name(m->rkt), m->partition,
                     m->offset);
}

sf_err_t sf_ctl_pause_set(sf_redis_t *r, const char *proj, int paused,
                          int64_t lease_ms, int64_t *gen, char *errstr,
                          size_t errstr_size) {
    char pk[512], gk[512];
    sf_redis_key(pk, sizeof(pk), proj, "paused", NULL, 0);
    sf_redis_key(gk, sizeof(gk), proj, "pause_gen", NULL, 0);
    redisReply *rep = NULL;
    /* one transaction: a worker never sees the new flag with the old
     * generation, so its acknowledgement always names the state */
    sf_err_t e = sf_redis_cmd(r, NULL, errstr, errstr_size, "MULTI");
    if (!e)
        e = !paused ? sf_redis_cmd(r, NULL, errstr, errstr_size, "DEL %s", pk)
            : lease_ms > 0
                ? sf_redis_cmd(r, NULL, errstr, errstr_size, "SET %s 1 PX %lld",
                               pk, (long long)lease_ms)
                : sf_redis_cmd(r, NULL, errstr, errstr_size, "SET %s 1", pk);
    if (!e)
        e = sf_redis_cmd(r, NULL, errstr, errstr_size, "INCR %s", gk);
    if (!e)
        e = sf_redis_cmd(r, &rep, errstr, errstr_size, "EXEC");
    if (e)
        return e;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
        rep->element[1]->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(rep);
        return sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                         "pause: unexpected EXEC reply");
    }
    *gen = rep->element[1]->integer;
    freeReplyObject(rep);
    return SF_OK;
}

sf_err_t sf_ctl_pause_get(sf_redis_t *r, const char *proj, int *paused,
                          int64_t *gen, char *errstr, size_t errstr_size) {
    char pk[512], gk[512];
    sf_redis_key(pk, sizeof(pk), proj, "paused", NULL, 0);
    sf_redis_key(gk, sizeof(gk), proj, "pause_gen", NULL, 0);
    redisReply *rep = NULL;
    sf_err_t e =
        sf_redis_cmd(r, &rep, errstr, errstr_size, "MGET %s %s", pk, gk);
    if (e)
        return e;
    *paused = 0;
    *gen = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
        *paused = rep->element[0]->type == REDIS_REPLY_STRING;
        if (rep->element[1]->type == REDIS_REPLY_STRING)
            *gen = strtoll(rep->element[1]->str, NULL, 10);
    }
    freeReplyObject(rep);
    return SF_OK;
}

void sf_ctl_pause_ack(sf_redis_t *r, const char *proj, const char *member,
                      int64_t gen, int paused) {
    char key[512];
    char val[64];
    sf_redis_key(key, sizeof(key), proj, "pause_ack", NULL, 0);
    snprintf(val, sizeof(val), "%" PRId64 " %d", gen, paused ? 1 : 0);
    sf_redis_cmd(r, NULL, NULL, 0, "HSET %s %s %s", key, member, val);
}

int sf_ctl_pause_acked(sf_redis_t *r, const char *proj, const char *member,
                       int64_t gen, int paused) {
    char key[512];
    redisReply *rep = NULL;
    sf_redis_key(key, sizeof(key), proj, "pause_ack", NULL, 0);
    if (sf_redis_cmd(r, &rep, NULL, 0, "HGET %s %s", key, member))
        return 0;
    int ok = 0;
    if (rep->type == REDIS_REPLY_STRING) {
        long long g = 0;
        int p = -1;
        if (sscanf(rep->str, "%lld %d", &g, &p) == 2)
            ok = g >= gen && p == (paused ? 1 : 0);
    }
    freeReplyObject(rep);
    return ok;
}

void sf_ctl_report(sf_redis_t *r, const char *proj, const char *topic,
                   int32_t partition, const char *state, int64_t now_ms,
                   const char *member) {
    char key[512], field[512];
    sf_redis_key(key, sizeof(key), proj, "parts", NULL, 0);
    char val[512];
    snprintf(field, sizeof(field), "%s:%" PRId32, topic, partition);
    snprintf(val, sizeof(val), "%s %" PRId64 " %s", state, now_ms,
             member && *member ? member : "-");
    sf_redis_cmd(r, NULL, NULL, 0, "HSET %s %s %s", key, field, val);
}

void sf_ctl_report_get(sf_redis_t *r, const char *proj, const char *topic,
                       int32_t partition, char *state, size_t state_size,
                       int64_t *at_ms, char *member, size_t member_size) {
    char key[512], field[512];
    redisReply *rep = NULL;
    state[0] = '\0';
    member[0] = '\0';
    *at_ms = 0;
    sf_redis_key(key, sizeof(key), proj, "parts", NULL, 0);
    snprintf(field, sizeof(field), "%s:%" PRId32, topic, partition);
    if (sf_redis_cmd(r, &rep, NULL, 0, "HGET %s %s", key, field))
        return;
    if (rep->type == REDIS_REPLY_STRING) {
        char st[64], mb[256];
        long long at;
        if (sscanf(rep->str, "%63s %lld %255s", st, &at, mb) == 3) {
            snprintf(state, state_size, "%s", st);
            snprintf(member, member_size, "%s", mb);
            *at_ms = at;
        }
    }
    freeReplyObject(rep);
}

sf_err_t sf_ctl_skip_count(sf_redis_t *r, const char *proj, const char *topic,
                           int32_t partition, int64_t *count, char *errstr,
                           size_t errstr_size) {
    char key[512];
    redisReply *rep = NULL;
    sf_redis_key(key, sizeof(key), proj, "skips", topic, partition);
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size, "INCR %s", key);
    if (e)
        return e;
    *count = rep->integer;
    freeReplyObject(rep);
    return SF_OK;
}

int64_t sf_ctl_skips(sf_redis_t *r, const char *proj, const char *topic,
                     int32_t partition) {
    char key[512];
    redisReply *rep = NULL;
    sf_redis_key(key, sizeof(key), proj, "skips", topic, partition);
    if (sf_redis_cmd(r, &rep, NULL, 0, "GET %s", key))
        return 0;
    int64_t n =
        rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10) : 0;
    freeReplyObject(rep);
    return n;
}
