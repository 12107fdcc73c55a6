/* commits.c - offset commits at a bounded rate (see commits.h). */
#include "commits.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "offsets.h"
#include "util.h"

typedef struct centry {
    char *topic;
    int32_t partition;
    int64_t applied;   /* next offset to read, as applied in Redis */
    int64_t committed; /* last offset committed (or in flight), -1 none */
} centry_t;

struct sf_commits {
    rd_kafka_t *rk;
    const char *name;
    sf_metrics_t *m;
    double interval_s;
    rd_kafka_queue_t *q; /* results of the asynchronous commits */
    centry_t *e;
    size_t n, cap;
    double last_send;
    int in_flight;
    /* rebalance hold */
    int holding;       /* a revoke started a rebalance not yet ended */
    double hold_since; /* when the hold started */
    double settled_at; /* end of the last rebalance callback */
    /* failure reporting */
    uint64_t sent, failed;
    uint64_t unlogged; /* failures since the last failure line */
    int failing;       /* the last result was a failure */
    double last_fail_log;
    int final_done; /* the final commit's result arrived (sync_cb) */
};

/* After an assign callback, commits wait this long (or the interval, if
 * shorter): a cooperative rebalance may run a second round right after. */
#define SF_COMMITS_QUIET_S 0.5

/* One commit entry: the offset and the metadata that marks the commit as
 * this worker's (offsets.h: a commit without it is an external reset).
 * The checkpoint in the metadata is next - 1, informational: next may
 * also have stepped over transaction markers. */
static void mark(const sf_commits_t *c, rd_kafka_topic_partition_t *tp,
                 int64_t next) {
    tp->offset = next;
    sf_offsets_mark(tp, c->name, next - 1);
}

sf_commits_t *sf_commits_new(rd_kafka_t *rk, const char *projection,
                             int interval_ms, sf_metrics_t *m) {
    sf_commits_t *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->rk = rk;
    c->name = projection;
    c->m = m;
    c->interval_s = (interval_ms > 0 ? interval_ms : 1000) / 1000.0;
    c->q = rd_kafka_queue_new(rk);
    if (!c->q) {
        free(c);
        return NULL;
    }
    c->last_fail_log = -1e9;
    return c;
}

void sf_commits_destroy(sf_commits_t *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->e[i].topic);
    free(c->e);
    rd_kafka_queue_destroy(c->q);
    free(c);
}

static centry_t *find(sf_commits_t *c, const char *topic, int32_t partition,
                      int create) {
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].partition == partition && !strcmp(c->e[i].topic, topic))
            return &c->e[i];
    if (!create)
        return NULL;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        centry_t *e = realloc(c->e, cap * sizeof(*e));
        if (!e)
            return NULL;
        c->e = e;
        c->cap = cap;
    }
    centry_t *e = &c->e[c->n];
    if (!(e->topic = strdup(topic)))
        return NULL;
    e->partition = partition;
    e->applied = e->committed = -1;
    c->n++;
    return e;
}

void sf_commits_note(sf_commits_t *c, const char *topic, int32_t partition,
                     int64_t next) {
    centry_t *e = find(c, topic, partition, 1);
    if (e && next > e->applied) /* out of memory: only lag tools lag */
        e->applied = next;
}

void sf_commits_forget(sf_commits_t *c, const char *topic, int32_t partition) {
    centry_t *e = find(c, topic, partition, 0);
    if (!e)
        return;
    free(e->topic);
    *e = c->e[--c->n];
}

void sf_commits_rebalance_begin(sf_commits_t *c, int revoke) {
    if (revoke && !c->holding) {
        c->holding = 1;
        c->hold_since = sf_mono_s();
    }
}

void sf_commits_rebalance_end(sf_commits_t *c) {
    c->holding = 0;
    c->settled_at = sf_mono_s();
}

/* One failure line per interval; the failures in between are counted in
 * the metric and summed into the next line. */
static void failed(sf_commits_t *c, rd_kafka_resp_err_t err, int npart,
                   const char *how) {
    c->failed++;
    c->unlogged++;
    if (c->m)
        sf_metrics_offset_commit(c->m, c->name, 0);
    double now = sf_mono_s();
    if (now - c->last_fail_log < c->interval_s)
        return;
    sf_log(
        "warn",
        "projection=%s partitions=%d error=%s failed_since_last_line=%" PRIu64
        " msg=\"%s offset commit failed (harmless: redis holds the "
        "checkpoints; the offsets are committed again later)\"",
        c->name, npart, rd_kafka_err2name(err), c->unlogged, how);
    c->unlogged = 0;
    c->last_fail_log = now;
}

/* The result of one commit: the offsets the broker did not take stay
 * pending (committed moves back), so the next interval sends them again. */
static void result(sf_commits_t *c, rd_kafka_resp_err_t err,
                   const rd_kafka_topic_partition_list_t *offs,
                   const char *how) {
    int bad = 0;
    for (int i = 0; offs && i < offs->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &offs->elems[i];
        if (!err && !tp->err)
            continue;
        bad++;
        centry_t *e = find(c, tp->topic, tp->partition, 0);
        if (e && e->committed == tp->offset)
            e->committed = -1;
    }
    /* _NO_OFFSET: nothing to commit, not a failure */
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    c->failing = err || bad;
    if (err || bad) {
        rd_kafka_resp_err_t e = err;
        for (int i = 0; !e && offs && i < offs->cnt; i++)
            e = offs->elems[i].err;
        failed(c, e, offs ? offs->cnt : 0, how);
    } else if (c->m) {
        sf_metrics_offset_commit(c->m, c->name, 1);
    }
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offs, void *opaque) {
    (void)rk;
    sf_commits_t *c = opaque;
    c->in_flight = 0;
    result(c, err, offs, "periodic");
}

static int settled(const sf_commits_t *c, double now) {
    if (c->holding)
        return now - c->hold_since >= SF_COMMITS_HOLD_MAX_S;
    double quiet =
        c->interval_s < SF_COMMITS_QUIET_S ? c->interval_s : SF_COMMITS_QUIET_S;
    return now - c->settled_at >= quiet;
}

void sf_commits_tick(sf_commits_t *c) {
    rd_kafka_queue_poll_callback(c->q, 0);
    double now = sf_mono_s();
    if (c->in_flight && now - c->last_send > 60.0)
        c->in_flight = 0; /* librdkafka reports every commit; be safe */
    if (c->in_flight || now - c->last_send < c->interval_s || !settled(c, now))
        return;
    rd_kafka_topic_partition_list_t *l = NULL;
    for (size_t i = 0; i < c->n; i++) {
        centry_t *e = &c->e[i];
        if (e->applied < 0 || e->applied == e->committed)
            continue;
        if (!l && !(l = rd_kafka_topic_partition_list_new((int)c->n)))
            return;
        mark(c, rd_kafka_topic_partition_list_add(l, e->topic, e->partition),
             e->applied);
        e->committed = e->applied;
    }
    if (!l)
        return;
    c->last_send = now;
    c->sent++;
    c->in_flight = 1;
    rd_kafka_resp_err_t err =
        rd_kafka_commit_queue(c->rk, l, c->q, commit_cb, c);
    if (err) { /* not sent: e.g. no group coordinator known yet */
        c->in_flight = 0;
        result(c, err, l, "periodic");
    }
    rd_kafka_topic_partition_list_destroy(l);
}

static void sync_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                    rd_kafka_topic_partition_list_t *offs, void *opaque) {
    (void)rk;
    sf_commits_t *c = opaque;
    c->final_done = 1;
    result(c, err, offs, "final (revoke)");
}

/* How long the revoke callback waits for its final commit: the commit
 * only sets the group's offsets for lag tools (Redis holds the real
 * checkpoints), and without a coordinator librdkafka would hold it, and
 * with it the rebalance or the consumer's close, indefinitely. */
#define SF_COMMITS_FINAL_WAIT_S 5.0

int sf_commits_final(sf_commits_t *c,
                     const rd_kafka_topic_partition_list_t *revoked) {
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(revoked->cnt);
    if (!l)
        return -1;
    for (int i = 0; i < revoked->cnt; i++) {
        centry_t *e =
            find(c, revoked->elems[i].topic, revoked->elems[i].partition, 0);
        if (e && e->applied >= 0 && e->applied != e->committed)
            mark(c,
                 rd_kafka_topic_partition_list_add(l, e->topic, e->partition),
                 e->applied);
    }
    int n = l->cnt;
    if (n) {
        uint64_t before = c->failed;
        c->sent++;
        /* a queue of its own, served here for at most
         * SF_COMMITS_FINAL_WAIT_S; a reply after that is dropped with it */
        rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
        c->final_done = 0;
        rd_kafka_resp_err_t err =
            rd_kafka_commit_queue(c->rk, l, q, sync_cb, c);
        double end = sf_mono_s() + SF_COMMITS_FINAL_WAIT_S;
        while (!err && !c->final_done && sf_mono_s() < end) {
            /* callbacks, not events: the result runs sync_cb */
            rd_kafka_queue_poll_callback(q, 100);
        }
        rd_kafka_queue_destroy(q);
        if (!err && !c->final_done)
            err = RD_KAFKA_RESP_ERR__TIMED_OUT;
        if (err && c->failed == before)
            result(c, err, l, "final (revoke)");
        if (c->failed != before)
            n = -1;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return n;
}

uint64_t sf_commits_sent(const sf_commits_t *c) {
    return c->sent;
}
int sf_commits_failing(const sf_commits_t *c) {
    return c->failing;
}
uint64_t sf_commits_failed(const sf_commits_t *c) {
    return c->failed;
}
