/* ownership.c - partitions no member owns (see ownership.h). */
#include "ownership.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "log.h"
#include "util.h"

typedef struct cand {
    char *topic;
    int32_t partition;
    double since;  /* first seen unowned (monotonic) */
    int seen;      /* in the last round's unowned set */
    int reported;  /* past the grace period, logged */
    int64_t lag;   /* last known lag (-1 unknown) */
    double lag_at; /* when it was asked (0: never) */
} cand_t;

struct sf_owners {
    rd_kafka_t *rk;
    const char *name, *group;
    const char *const *topics;
    size_t ntopics;
    sf_metrics_t *m;
    rd_kafka_queue_t *q;
    double last_round;
    int waiting; /* a DescribeTopics answer is outstanding */
    rd_kafka_event_t *topics_ev;
    cand_t *c;
    size_t n, cap;
};

sf_owners_t *sf_owners_new(rd_kafka_t *rk, const char *projection,
                           const char *group, const char *const *topics,
                           size_t ntopics, sf_metrics_t *m) {
    sf_owners_t *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->rk = rk;
    o->name = projection;
    o->group = group;
    o->topics = topics;
    o->ntopics = ntopics;
    o->m = m;
    if (!(o->q = rd_kafka_queue_new(rk))) {
        free(o);
        return NULL;
    }
    return o;
}

void sf_owners_destroy(sf_owners_t *o) {
    if (!o)
        return;
    if (o->topics_ev)
        rd_kafka_event_destroy(o->topics_ev);
    for (size_t i = 0; i < o->n; i++)
        free(o->c[i].topic);
    free(o->c);
    rd_kafka_queue_destroy(o->q);
    free(o);
}

/* DescribeTopics is answered from metadata by any broker (no group
 * coordinator involved), asynchronously on o->q. */
static void send_round(sf_owners_t *o) {
    char err[256];
    rd_kafka_TopicCollection_t *tc = rd_kafka_TopicCollection_of_topic_names(
        (const char **)o->topics, o->ntopics);
    rd_kafka_AdminOptions_t *ao =
        rd_kafka_AdminOptions_new(o->rk, RD_KAFKA_ADMIN_OP_DESCRIBETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(ao, 10000, err, sizeof(err));
    rd_kafka_DescribeTopics(o->rk, tc, ao, o->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_TopicCollection_destroy(tc);
    o->waiting = 1;
}

static cand_t *cand_get(sf_owners_t *o, const char *topic, int32_t partition) {
    for (size_t i = 0; i < o->n; i++)
        if (o->c[i].partition == partition && !strcmp(o->c[i].topic, topic))
            return &o->c[i];
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 8;
        cand_t *c = realloc(o->c, cap * sizeof(*c));
        if (!c)
            return NULL;
        o->c = c;
        o->cap = cap;
    }
    cand_t *c = &o->c[o->n];
    memset(c, 0, sizeof(*c));
    if (!(c->topic = strdup(topic)))
        return NULL;
    c->partition = partition;
    c->since = sf_mono_s();
    o->n++;
    return c;
}

/* Time (unix ms) of the last report of a holder of "topic:partition" in
 * the projection's parts hash (control.h), 0 when none; an "unowned"
 * report is no holder's. */
static int64_t held_at(const redisReply *parts, const char *topic,
                       int32_t partition) {
    char field[512];
    snprintf(field, sizeof(field), "%s:%" PRId32, topic, partition);
    for (size_t i = 0; i + 1 < parts->elements; i += 2) {
        const redisReply *f = parts->element[i], *v = parts->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
            strcmp(f->str, field))
            continue;
        char st[64];
        long long at;
        if (sscanf(v->str, "%63s %lld", st, &at) != 2 || !strcmp(st, "unowned"))
            return 0;
        return at;
    }
    return 0;
}

/* Events past the view's checkpoint in Redis, i.e. not applied yet (the
 * whole partition when there is none); -1 when unknown.  Not the group's
 * committed offset: a member that is not a worker but reads and commits
 * (a console consumer started with the group's id) moves that offset, and
 * the partition looked as if nothing waited while the view missed every
 * event of it. */
static int64_t lag_of(sf_owners_t *o, sf_redis_t *redis, const char *topic,
                      int32_t partition) {
    int64_t lo = -1, hi = -1, ck = -1;
    char err[256];
    if (rd_kafka_query_watermark_offsets(o->rk, topic, partition, &lo, &hi,
                                         1000))
        return -1;
    if (sf_redis_ckpt_get(redis, o->name, topic, partition, &ck, err,
                          sizeof(err)))
        return -1;
    int64_t from = ck + 1 > lo ? ck + 1 : lo;
    return hi > from ? hi - from : 0;
}

/* One member acts: the first to set the projection's rejoin key (SET NX
 * expiring after SF_REJOIN_LOCKOUT_MS), so the members do not all leave
 * the group at once, nor one after the other while the rebalance the
 * first one started is still running. */
static int acts(sf_owners_t *o, sf_redis_t *redis) {
    char key[512];
    redisReply *rep = NULL;
    sf_redis_key(key, sizeof(key), o->name, "rejoin", NULL, 0);
    char *me = rd_kafka_memberid(o->rk);
    int won = 0;
    if (!sf_redis_cmd(redis, &rep, NULL, 0, "SET %s %s NX PX %d", key,
                      me && *me ? me : "-", SF_REJOIN_LOCKOUT_MS)) {
        won = rep->type == REDIS_REPLY_STATUS;
        freeReplyObject(rep);
    }
    if (me)
        rd_kafka_mem_free(o->rk, me);
    return won;
}

/* The topics' partitions are known: compare with the holders' reports. */
static int evaluate(sf_owners_t *o, sf_redis_t *redis) {
    size_t nt = 0;
    const rd_kafka_TopicDescription_t **ts =
        rd_kafka_event_error(o->topics_ev)
            ? NULL
            : rd_kafka_DescribeTopics_result_topics(
                  rd_kafka_event_DescribeTopics_result(o->topics_ev), &nt);
    if (!ts || !redis)
        return 0; /* no answer this round: try again next round */
    char key[512];
    redisReply *parts = NULL;
    sf_redis_key(key, sizeof(key), o->name, "parts", NULL, 0);
    if (sf_redis_cmd(redis, &parts, NULL, 0, "HGETALL %s", key))
        return 0; /* Redis away: nobody reports, nothing can be said */
    if (parts->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(parts);
        return 0;
    }
    int64_t now_ms = sf_time_now_ms();
    for (size_t i = 0; i < o->n; i++)
        o->c[i].seen = 0;
    for (size_t t = 0; t < nt; t++) {
        if (rd_kafka_TopicDescription_error(ts[t]))
            continue;
        const char *topic = rd_kafka_TopicDescription_name(ts[t]);
        size_t np = 0;
        const rd_kafka_TopicPartitionInfo_t **ps =
            rd_kafka_TopicDescription_partitions(ts[t], &np);
        for (size_t k = 0; k < np; k++) {
            int32_t part = rd_kafka_TopicPartitionInfo_partition(ps[k]);
            int64_t at = held_at(parts, topic, part);
            if (at > 0 && now_ms - at < SF_OWNER_REPORT_MAX_AGE_MS)
                continue; /* a holder reported it lately */
            cand_t *c = cand_get(o, topic, part);
            if (c)
                c->seen = 1;
        }
    }
    freeReplyObject(parts);
    double now = sf_mono_s();
    uint64_t unowned = 0;
    int want = 0, lag_checks = 0;
    for (size_t i = 0; i < o->n;) {
        cand_t *c = &o->c[i];
        if (!c->seen) { /* owned again */
            if (c->reported)
                sf_log("info",
                       "projection=%s topic=%s partition=%" PRId32
                       " msg=\"partition owned again after %.1f s\"",
                       o->name, c->topic, c->partition, now - c->since);
            free(c->topic);
            *c = o->c[--o->n];
            continue;
        }
        i++;
        if (now - c->since < SF_UNOWNED_GRACE_S)
            continue;
        /* lag costs two blocking round trips (1 s timeouts each): a few
         * per round, each partition's answer kept for 10 s */
        if ((c->lag_at == 0 || now - c->lag_at > 10.0) && lag_checks < 4) {
            c->lag = lag_of(o, redis, c->topic, c->partition);
            c->lag_at = now;
            lag_checks++;
        }
        if (c->lag_at == 0)
            continue; /* not known yet: next round */
        int64_t lag = c->lag;
        if (lag == 0)
            continue; /* nothing waits on it */
        unowned++;
        want = 1;
        if (!c->reported) {
            c->reported = 1;
            sf_log("warn",
                   "projection=%s group=%s topic=%s partition=%" PRId32
                   " lag=%" PRId64 " msg=\"partition held by no member of "
                   "the group that reports it for %.1f s while events wait "
                   "(unassigned, or held by a member that is not a worker "
                   "of this projection)\"",
                   o->name, o->group, c->topic, c->partition, lag,
                   now - c->since);
        }
        char *me = rd_kafka_memberid(o->rk);
        sf_ctl_report(redis, o->name, c->topic, c->partition, "unowned",
                      sf_time_now_ms(), me ? me : "-");
        if (me)
            rd_kafka_mem_free(o->rk, me);
    }
    if (o->m)
        sf_metrics_partitions_unowned(o->m, o->name, unowned);
    return want && acts(o, redis);
}

int sf_owners_tick(sf_owners_t *o, sf_redis_t *redis, int settled) {
    double now = sf_mono_s();
    if (!settled) { /* judge nothing; grace periods start again, and the
                       partitions already reported wait to be seen owned */
        for (size_t i = 0; i < o->n;) {
            if (o->c[i].reported) {
                i++;
                continue;
            }
            free(o->c[i].topic);
            o->c[i] = o->c[--o->n];
        }
        return 0;
    }
    if (!o->waiting) {
        if (now - o->last_round < SF_OWNERS_CHECK_S)
            return 0;
        o->last_round = now;
        send_round(o);
        return 0;
    }
    rd_kafka_event_t *ev;
    while (o->waiting && (ev = rd_kafka_queue_poll(o->q, 0))) {
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_DESCRIBETOPICS_RESULT) {
            o->topics_ev = ev;
            o->waiting = 0;
        } else {
            rd_kafka_event_destroy(ev);
        }
    }
    if (o->waiting)
        return 0;
    int act = evaluate(o, redis);
    rd_kafka_event_destroy(o->topics_ev);
    o->topics_ev = NULL;
    return act;
}
