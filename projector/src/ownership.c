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
    double since; /* first seen unowned (monotonic) */
    int seen;     /* in the last round's unowned set */
    int reported; /* past the grace period, logged */
} cand_t;

struct sf_owners {
    rd_kafka_t *rk;
    const char *name, *group;
    const char *const *topics;
    size_t ntopics;
    sf_metrics_t *m;
    rd_kafka_queue_t *q;
    double last_round, last_act;
    int waiting; /* answers outstanding in this round */
    rd_kafka_event_t *groups_ev, *topics_ev;
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
    o->last_act = -1e9;
    if (!(o->q = rd_kafka_queue_new(rk))) {
        free(o);
        return NULL;
    }
    return o;
}

static void drop_events(sf_owners_t *o) {
    if (o->groups_ev)
        rd_kafka_event_destroy(o->groups_ev);
    if (o->topics_ev)
        rd_kafka_event_destroy(o->topics_ev);
    o->groups_ev = o->topics_ev = NULL;
}

void sf_owners_destroy(sf_owners_t *o) {
    if (!o)
        return;
    drop_events(o);
    for (size_t i = 0; i < o->n; i++)
        free(o->c[i].topic);
    free(o->c);
    rd_kafka_queue_destroy(o->q);
    free(o);
}

static void send_round(sf_owners_t *o) {
    int to = (int)(SF_OWNERS_CHECK_S * 1000) * 2;
    char err[256];
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(
        o->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    rd_kafka_AdminOptions_set_request_timeout(ao, to, err, sizeof(err));
    const char *groups[] = {o->group};
    rd_kafka_DescribeConsumerGroups(o->rk, groups, 1, ao, o->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_TopicCollection_t *tc = rd_kafka_TopicCollection_of_topic_names(
        (const char **)o->topics, o->ntopics);
    ao = rd_kafka_AdminOptions_new(o->rk, RD_KAFKA_ADMIN_OP_DESCRIBETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(ao, to, err, sizeof(err));
    rd_kafka_DescribeTopics(o->rk, tc, ao, o->q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_TopicCollection_destroy(tc);
    o->waiting = 2;
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

static int owned(const rd_kafka_ConsumerGroupDescription_t *g,
                 const char *topic, int32_t partition) {
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(g);
    for (size_t i = 0; i < nm; i++) {
        const rd_kafka_MemberDescription_t *md =
            rd_kafka_ConsumerGroupDescription_member(g, i);
        const rd_kafka_MemberAssignment_t *ma =
            rd_kafka_MemberDescription_assignment(md);
        const rd_kafka_topic_partition_list_t *l =
            ma ? rd_kafka_MemberAssignment_partitions(ma) : NULL;
        for (int k = 0; l && k < l->cnt; k++)
            if (l->elems[k].partition == partition &&
                !strcmp(l->elems[k].topic, topic))
                return 1;
    }
    return 0;
}

/* 1 when this member has the smallest member id of the group: the one
 * that acts, so that the members do not all rejoin at once. */
static int acts(sf_owners_t *o, const rd_kafka_ConsumerGroupDescription_t *g) {
    char *me = rd_kafka_memberid(o->rk);
    if (!me)
        return 0;
    int first = *me != '\0';
    size_t nm = rd_kafka_ConsumerGroupDescription_member_count(g);
    for (size_t i = 0; i < nm && first; i++) {
        const char *id = rd_kafka_MemberDescription_consumer_id(
            rd_kafka_ConsumerGroupDescription_member(g, i));
        if (id && strcmp(id, me) < 0)
            first = 0;
    }
    rd_kafka_mem_free(o->rk, me);
    return first;
}

/* Events past the group's committed offset (the whole partition when
 * nothing is committed); -1 when unknown. */
static int64_t lag_of(sf_owners_t *o, const char *topic, int32_t partition) {
    int64_t lo = -1, hi = -1;
    if (rd_kafka_query_watermark_offsets(o->rk, topic, partition, &lo, &hi,
                                         1000))
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_add(l, topic, partition);
    int64_t from = lo;
    if (!rd_kafka_committed(o->rk, l, 1000) && !tp->err && tp->offset >= 0)
        from = tp->offset;
    rd_kafka_topic_partition_list_destroy(l);
    return hi > from ? hi - from : 0;
}

/* Both answers are in: compare, report, decide. */
static int evaluate(sf_owners_t *o, sf_redis_t *redis) {
    size_t ng = 0, nt = 0;
    const rd_kafka_ConsumerGroupDescription_t **gs =
        rd_kafka_event_error(o->groups_ev)
            ? NULL
            : rd_kafka_DescribeConsumerGroups_result_groups(
                  rd_kafka_event_DescribeConsumerGroups_result(o->groups_ev),
                  &ng);
    const rd_kafka_TopicDescription_t **ts =
        rd_kafka_event_error(o->topics_ev)
            ? NULL
            : rd_kafka_DescribeTopics_result_topics(
                  rd_kafka_event_DescribeTopics_result(o->topics_ev), &nt);
    if (!gs || !ng || !ts || rd_kafka_ConsumerGroupDescription_error(gs[0]))
        return 0; /* no answer this round: try again next round */
    const rd_kafka_ConsumerGroupDescription_t *g = gs[0];
    /* Only a settled group says anything: during a rebalance partitions
     * are unowned on purpose (cooperative: between its two rounds). */
    if (rd_kafka_ConsumerGroupDescription_state(g) !=
            RD_KAFKA_CONSUMER_GROUP_STATE_STABLE ||
        rd_kafka_ConsumerGroupDescription_member_count(g) == 0)
        return 0;
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
            if (owned(g, topic, part))
                continue;
            cand_t *c = cand_get(o, topic, part);
            if (c)
                c->seen = 1;
        }
    }
    double now = sf_mono_s();
    uint64_t unowned = 0;
    int want = 0;
    for (size_t i = 0; i < o->n;) {
        cand_t *c = &o->c[i];
        if (!c->seen) { /* owned again (or the topic shrank: impossible) */
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
        int64_t lag = lag_of(o, c->topic, c->partition);
        if (lag == 0)
            continue; /* nothing waits on it */
        unowned++;
        want = 1;
        if (!c->reported) {
            c->reported = 1;
            sf_log("warn",
                   "projection=%s group=%s topic=%s partition=%" PRId32
                   " lag=%" PRId64 " msg=\"partition owned by no member of "
                   "the group for %.1f s while events wait\"",
                   o->name, o->group, c->topic, c->partition, lag,
                   now - c->since);
        }
        if (redis) {
            char *me = rd_kafka_memberid(o->rk);
            sf_ctl_report(redis, o->name, c->topic, c->partition, "unowned",
                          sf_time_now_ms(), me ? me : "-");
            if (me)
                rd_kafka_mem_free(o->rk, me);
        }
    }
    if (o->m)
        sf_metrics_partitions_unowned(o->m, o->name, unowned);
    if (want && acts(o, g) && now - o->last_act >= SF_UNOWNED_GRACE_S) {
        o->last_act = now;
        for (size_t i = 0; i < o->n; i++) /* a new grace period */
            o->c[i].since = now;
        return 1;
    }
    return 0;
}

int sf_owners_tick(sf_owners_t *o, sf_redis_t *redis) {
    double now = sf_mono_s();
    if (!o->waiting) {
        if (now - o->last_round < SF_OWNERS_CHECK_S)
            return 0;
        o->last_round = now;
        send_round(o);
        return 0;
    }
    rd_kafka_event_t *ev;
    while (o->waiting && (ev = rd_kafka_queue_poll(o->q, 0))) {
        switch (rd_kafka_event_type(ev)) {
        case RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT:
            if (o->groups_ev)
                rd_kafka_event_destroy(o->groups_ev);
            o->groups_ev = ev;
            o->waiting--;
            break;
        case RD_KAFKA_EVENT_DESCRIBETOPICS_RESULT:
            if (o->topics_ev)
                rd_kafka_event_destroy(o->topics_ev);
            o->topics_ev = ev;
            o->waiting--;
            break;
        default: rd_kafka_event_destroy(ev); break;
        }
    }
    if (o->waiting)
        return 0;
    int act = evaluate(o, redis);
    drop_events(o);
    return act;
}
