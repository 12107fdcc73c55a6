/*
 * worker.c - one projection's consumer loop (see worker.h).
 *
 * Exactly once in effect
 * ----------------------
 * Kafka delivers at least once; Redis makes it exactly once in effect.
 * Each assigned partition carries a fencing token (INCR of its epoch key
 * on assignment) and resumes from the Redis checkpoint + 1, never from the
 * offset committed to Kafka.  A flush sends, per partition, one apply
 * script (redis_sink.h) that checks the token, skips what the checkpoint
 * covers, applies the rest and moves the checkpoint, atomically.  Offsets
 * go to Kafka afterwards, only so lag tools see the group.
 *
 * Failures
 * --------
 * Poison events (undecodable, rule failed) are dead-lettered and confirmed
 * before the flush's apply scripts run, so the checkpoint never passes an
 * event that is neither applied nor parked.  Redis unreachable: the
 * assignment is paused, the flush retried with exponential backoff (the
 * script makes the retry idempotent), then every partition is sought back
 * to the next offset it expects and resumed.
 */
#include "worker.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "dlq.h"
#include "event.h"
#include "kconf.h"
#include "log.h"
#include "projection.h"
#include "redis_sink.h"

typedef struct part {
    char *topic;
    int32_t partition;
    int assigned, fenced;
    int64_t token;
    int64_t next; /* next offset accepted; -1: any */
    sf_batch_t batch;
    rd_kafka_message_t **msgs; /* every record of the batch */
    char **reasons;            /* non-NULL: dead-letter with this reason */
    size_t nmsgs, cap;
    int dlq_done;
    double t0; /* monotonic time of the batch's first event */
} part_t;

struct sf_worker {
    const sf_config_t *cfg;
    const sf_pconf_t *pc;
    const char *name;
    sf_projection_t *proj;
    sf_decoder_t *dec;
    rd_kafka_t *rk;
    sf_dlq_t *dlq;
    sf_redis_t *redis;
    sf_metrics_t *m;
    volatile sig_atomic_t *stop;
    part_t **parts;
    size_t nparts;
    int paused;         /* operator pause (sf:<p>:paused) */
    int outage_paused;  /* paused while Redis / the DLQ is unavailable */
    int in_apply, in_rebalance;
    int fatal;
    sf_err_t fatal_err;
    char fatal_msg[1024];
    size_t pending;
    sf_event_t ev;
    sf_buf_t scratch;
    double last_pause_check;
    /* flush scratch */
    sf_batch_t **fb;
    const char **ft;
    int32_t *fp;
    int64_t *ftok;
    part_t **fpart;
    sf_apply_res_t *fres;
    size_t fcap;
};

/* Metrics are optional (library users, tests). */
#define M(call, ...)                                                        \
    do {                                                                    \
        if (w->m)                                                           \
            sf_metrics_##call(w->m, __VA_ARGS__);                           \
    } while (0)
#define M0(call)                                                            \
    do {                                                                    \
        if (w->m)                                                           \
            sf_metrics_##call(w->m);                                        \
    } while (0)

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- partitions --------------------------------------------------- */

static part_t *part_find(sf_worker_t *w, const char *topic, int32_t partition,
                         int create) {
    for (size_t i = 0; i < w->nparts; i++)
        if (w->parts[i]->partition == partition &&
            !strcmp(w->parts[i]->topic, topic))
            return w->parts[i];
    if (!create)
        return NULL;
    part_t **np = realloc(w->parts, (w->nparts + 1) * sizeof(*np));
    if (!np)
        return NULL;
    w->parts = np;
    part_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->next = -1;
    sf_batch_init(&p->batch);
    w->parts[w->nparts++] = p;
    return p;
}

static void part_clear(sf_worker_t *w, part_t *p) {
    for (size_t i = 0; i < p->nmsgs; i++) {
        rd_kafka_message_destroy(p->msgs[i]);
        free(p->reasons[i]);
    }
    if (w->pending >= p->nmsgs)
        w->pending -= p->nmsgs;
    else
        w->pending = 0;
    p->nmsgs = 0;
    p->dlq_done = 0;
    sf_batch_reset(&p->batch);
}

static int part_keep(part_t *p, rd_kafka_message_t *m, const char *reason) {
    if (p->nmsgs == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        rd_kafka_message_t **nm = realloc(p->msgs, cap * sizeof(*nm));
        if (!nm)
            return -1;
        p->msgs = nm;
        char **nr = realloc(p->reasons, cap * sizeof(*nr));
        if (!nr)
            return -1;
        p->reasons = nr;
        p->cap = cap;
    }
    p->msgs[p->nmsgs] = m;
    p->reasons[p->nmsgs] = reason ? strdup(reason) : NULL;
    p->nmsgs++;
    return 0;
}

static void part_free(sf_worker_t *w, part_t *p) {
    part_clear(w, p);
    sf_batch_free(&p->batch);
    free(p->msgs);
    free(p->reasons);
    free(p->topic);
    free(p);
}

/* ---- pausing ------------------------------------------------------- */

static void pause_all(sf_worker_t *w) {
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(w->rk, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a) {
        if (a->cnt)
            rd_kafka_pause_partitions(w->rk, a);
        rd_kafka_topic_partition_list_destroy(a);
    }
}

/* Seeks every assigned partition to the offset it expects next (records
 * fetched while paused were dropped) and resumes it. */
static void resume_all(sf_worker_t *w) {
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(w->rk, &a) != RD_KAFKA_RESP_ERR_NO_ERROR || !a)
        return;
    for (int i = 0; i < a->cnt; i++) {
        part_t *p = part_find(w, a->elems[i].topic, a->elems[i].partition, 0);
        a->elems[i].offset = p && p->next >= 0 ? p->next
                                               : RD_KAFKA_OFFSET_BEGINNING;
    }
    if (a->cnt) {
        rd_kafka_error_t *err = rd_kafka_seek_partitions(w->rk, a, 5000);
        if (err) {
            sf_log("warn", "projection=%s msg=\"seek: %s\"", w->name,
                   rd_kafka_error_string(err));
            rd_kafka_error_destroy(err);
        }
        rd_kafka_resume_partitions(w->rk, a);
    }
    rd_kafka_topic_partition_list_destroy(a);
}

/* Waits ms while keeping the group membership alive; records delivered
 * meanwhile are dropped (resume_all seeks back to them). */
static void backoff_wait(sf_worker_t *w, int ms) {
    double end = sf_mono_s() + ms / 1000.0;
    while (sf_mono_s() < end && !*w->stop) {
        M0(heartbeat);
        if (w->in_rebalance) {
            sleep_ms(50);
            continue;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 50);
        if (m)
            rd_kafka_message_destroy(m);
    }
}

static void outage_pause(sf_worker_t *w) {
    if (!w->outage_paused && !w->in_rebalance) {
        pause_all(w);
        w->outage_paused = 1;
    }
}

/* ---- flushing ------------------------------------------------------ */

/* Commits the partition's progress to Kafka and returns the committed
 * offset.  Normally every record delivered for the partition is in the
 * batch just applied, so the consumer position can only be ahead of the
 * batch's last offset by transaction markers, which librdkafka steps over
 * without delivering them: committing the position lets lag reach zero on
 * topics written with transactions.  Not so while paused (an outage or the
 * operator): records delivered then were dropped, to be fetched again, so
 * the position may be ahead of what was applied. */
static int64_t commit_kafka(sf_worker_t *w, part_t *p) {
    int64_t next = p->batch.last_offset + 1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    if (!w->outage_paused && !w->paused && !rd_kafka_position(w->rk, l) &&
        tp->offset > next)
        next = tp->offset;
    tp->offset = next;
    /* async: a failure only makes lag tools lag; Redis holds the truth */
    rd_kafka_commit(w->rk, l, 1);
    rd_kafka_topic_partition_list_destroy(l);
    return next;
}

static void part_done(sf_worker_t *w, part_t *p, const sf_apply_res_t *r) {
    int64_t next = commit_kafka(w, p);
    M(events_applied, w->name, (uint64_t)r->applied);
    M(batch_committed, w->name, sf_mono_s() - p->t0);
    M(partition_checkpoint, w->name, p->topic, p->partition, next,
      p->batch.last_ts);
    int64_t lo, hi;
    if (rd_kafka_get_watermark_offsets(w->rk, p->topic, p->partition, &lo,
                                       &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        hi >= 0)
        M(partition_watermark, w->name, p->topic, p->partition, hi);
    sf_log("debug",
           "projection=%s topic=%s partition=%" PRId32 " offset=%" PRId64
           " events=%zu applied=%" PRId64 " msg=\"batch committed\"",
           w->name, p->topic, p->partition, p->batch.last_offset,
           p->batch.nevents, r->applied);
    part_clear(w, p);
}

static void set_fatal(sf_worker_t *w, sf_err_t e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_fatal(sf_worker_t *w, sf_err_t e, const char *fmt, ...) {
    if (w->fatal)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->fatal_msg, sizeof(w->fatal_msg), fmt, ap);
    va_end(ap);
    w->fatal = 1;
    w->fatal_err = e;
}

/* Dead-letters every pending poison record, confirmed.  0 when done, -1
 * when stopping before it could be done. */
static int dlq_pending(sf_worker_t *w) {
    int backoff = 100, any = 0;
    char err[512];
    for (size_t i = 0; i < w->nparts; i++) {
        part_t *p = w->parts[i];
        for (size_t k = 0; !p->dlq_done && k < p->nmsgs; k++)
            if (p->reasons[k])
                any = 1;
    }
    if (!any)
        return 0;
    for (;;) {
        sf_err_t e = SF_OK;
        for (size_t i = 0; !e && i < w->nparts; i++) {
            part_t *p = w->parts[i];
            if (p->dlq_done)
                continue;
            for (size_t k = 0; !e && k < p->nmsgs; k++)
                if (p->reasons[k])
                    e = sf_dlq_produce(w->dlq, p->msgs[k], p->reasons[k], err,
                                       sizeof(err));
        }
        if (!e)
            e = sf_dlq_flush(w->dlq, 10000, err, sizeof(err));
        if (!e)
            break;
        M(error, w->name, e);
        sf_log("warn", "projection=%s msg=\"dead-letter failed, retrying: %s\"",
               w->name, err);
        if (*w->stop)
            return -1;
        outage_pause(w);
        backoff_wait(w, backoff);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    for (size_t i = 0; i < w->nparts; i++) {
        part_t *p = w->parts[i];
        if (p->dlq_done)
            continue;
        uint64_t n = 0;
        for (size_t k = 0; k < p->nmsgs; k++)
            if (p->reasons[k]) {
                char q[600];
                n++;
                sf_log("warn",
                       "projection=%s topic=%s partition=%" PRId32
                       " offset=%" PRId64 " dlq=%s.dlq reason=%s",
                       w->name, p->topic, p->partition, p->msgs[k]->offset,
                       p->topic, sf_log_q(q, sizeof(q), p->reasons[k]));
            }
        if (n)
            M(dead_lettered, w->name, n);
        p->dlq_done = 1;
    }
    return 0;
}

/* A command of the batch failed inside Redis at offset x: park that
 * record, move the checkpoint past it; the caller re-sends the batch. */
static int redis_poison(sf_worker_t *w, part_t *p, const sf_apply_res_t *r) {
    char err[512];
    rd_kafka_message_t *m = NULL;
    for (size_t k = 0; k < p->nmsgs; k++)
        if (p->msgs[k]->offset == r->bad_offset)
            m = p->msgs[k];
    M(error, w->name, SF_ERR_RULE);
    if (w->pc->on_error_stop || !m) {
        set_fatal(w, SF_ERR_RULE,
                  "projection %s: %s/%" PRId32 "/%" PRId64 ": redis: %s",
                  w->name, p->topic, p->partition, r->bad_offset, r->msg);
        part_clear(w, p);
        return -1;
    }
    char reason[400];
    snprintf(reason, sizeof(reason), "redis: %s", r->msg);
    int backoff = 100;
    for (;;) {
        sf_err_t e = sf_dlq_produce(w->dlq, m, reason, err, sizeof(err));
        if (!e)
            e = sf_dlq_flush(w->dlq, 10000, err, sizeof(err));
        if (!e)
            break;
        if (*w->stop) {
            part_clear(w, p);
            return -1;
        }
        outage_pause(w);
        backoff_wait(w, backoff);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    char q[600];
    sf_log("warn",
           "projection=%s topic=%s partition=%" PRId32 " offset=%" PRId64
           " dlq=%s.dlq reason=%s",
           w->name, p->topic, p->partition, r->bad_offset, p->topic,
           sf_log_q(q, sizeof(q), reason));
    M(dead_lettered, w->name, 1);
    sf_err_t e = sf_redis_ckpt_advance(w->redis, w->name, p->topic,
                                       p->partition, p->token, r->bad_offset,
                                       NULL, err, sizeof(err));
    if (e == SF_ERR_FENCED) {
        p->fenced = 1;
        part_clear(w, p);
    }
    return 0; /* other errors: the re-send hits them again */
}

static int ensure_cap(sf_worker_t *w, size_t n) {
    if (n <= w->fcap)
        return 0;
    size_t cap = n * 2;
    void *a;
#define GROW(f)                                                             \
    if (!(a = realloc(w->f, cap * sizeof(*w->f))))                          \
        return -1;                                                          \
    w->f = a;
    GROW(fb) GROW(ft) GROW(fp) GROW(ftok) GROW(fpart) GROW(fres)
#undef GROW
    w->fcap = cap;
    return 0;
}

static void flush(sf_worker_t *w) {
    if (!w->pending)
        return;
    w->in_apply = 1;
    char err[512];
    int backoff = 100;
    if (dlq_pending(w) < 0)
        goto drop;
    for (;;) {
        size_t n = 0;
        if (ensure_cap(w, w->nparts)) {
            set_fatal(w, SF_ERR_NOMEM, "out of memory");
            goto drop;
        }
        for (size_t i = 0; i < w->nparts; i++) {
            part_t *p = w->parts[i];
            if (!p->batch.nevents)
                continue;
            if (!p->assigned || p->fenced) {
                part_clear(w, p);
                continue;
            }
            w->fb[n] = &p->batch;
            w->ft[n] = p->topic;
            w->fp[n] = p->partition;
            w->ftok[n] = p->token;
            w->fpart[n] = p;
            n++;
        }
        if (!n)
            break;
        sf_err_t e = sf_redis_apply(w->redis, w->name, n, w->fb, w->ft, w->fp,
                                    w->ftok, w->fres, err, sizeof(err));
        int again = 0;
        if (!e) {
            M(redis_up, 1);
            for (size_t i = 0; i < n; i++) {
                part_t *p = w->fpart[i];
                sf_apply_res_t *r = &w->fres[i];
                switch (r->err) {
                case SF_OK:
                    part_done(w, p, r);
                    break;
                case SF_ERR_FENCED:
                    M(fenced, w->name);
                    sf_log("warn",
                           "projection=%s topic=%s partition=%" PRId32
                           " offset=%" PRId64 " token=%" PRId64
                           " msg=\"fenced: another worker owns the "
                           "partition; batch dropped\" detail=\"%s\"",
                           w->name, p->topic, p->partition,
                           p->batch.first_offset, p->token, r->msg);
                    p->fenced = 1;
                    part_clear(w, p);
                    break;
                case SF_ERR_RULE:
                    if (redis_poison(w, p, r) == 0)
                        again = 1;
                    break;
                case SF_ERR_STATE: /* halted behind an unhandled failure */
                    M(error, w->name, r->err);
                    set_fatal(w, r->err,
                              "projection %s: %s/%" PRId32 ": %s (clear it "
                              "with sf-projector skip)",
                              w->name, p->topic, p->partition, r->msg);
                    part_clear(w, p);
                    break;
                default:
                    M(error, w->name, r->err);
                    snprintf(err, sizeof(err), "%s", r->msg);
                    e = r->err;
                    again = 1;
                    break;
                }
            }
        } else {
            M(redis_up, 0);
        }
        if (e) {
            M(error, w->name, e);
            sf_log("warn", "projection=%s msg=\"redis apply failed, pausing "
                   "and retrying in %d ms\" error=\"%s\"", w->name, backoff,
                   err);
            if (*w->stop)
                goto drop; /* nothing committed: the next owner resumes */
            outage_pause(w);
            backoff_wait(w, backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
            if (e == SF_ERR_REDIS &&
                sf_redis_reconnect(w->redis, err, sizeof(err)) == SF_OK) {
                M(redis_up, 1);
                sf_log("info", "projection=%s msg=\"redis reconnected\"",
                       w->name);
            }
            continue;
        }
        if (!again || w->fatal)
            break;
    }
    goto out;
drop:
    for (size_t i = 0; i < w->nparts; i++)
        part_clear(w, w->parts[i]);
out:
    if (w->outage_paused && !w->in_rebalance) {
        w->outage_paused = 0;
        if (!w->paused)
            resume_all(w);
        sf_log("info", "projection=%s msg=\"resumed consumption\"", w->name);
    }
    w->in_apply = 0;
}

/* ---- rebalancing ---------------------------------------------------- */

static void on_assign(sf_worker_t *w, rd_kafka_topic_partition_list_t *parts) {
    char err[512];
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        part_t *p = part_find(w, tp->topic, tp->partition, 1);
        if (!p) {
            set_fatal(w, SF_ERR_NOMEM, "out of memory");
            return;
        }
        part_clear(w, p);
        int64_t ckpt = -1;
        int backoff = 100;
        sf_err_t e;
        for (;;) {
            e = sf_redis_epoch_bump(w->redis, w->name, p->topic, p->partition,
                                    &p->token, err, sizeof(err));
            if (!e)
                e = sf_redis_ckpt_get(w->redis, w->name, p->topic,
                                      p->partition, &ckpt, err, sizeof(err));
            if (!e || *w->stop)
                break;
            M(redis_up, 0);
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " msg=\"assignment: redis unavailable, retrying\" "
                   "error=\"%s\"",
                   w->name, p->topic, p->partition, err);
            sleep_ms(backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
            sf_redis_reconnect(w->redis, err, sizeof(err));
        }
        /* Events are never deleted, so the checkpoint always lies within
         * the partition.  Beyond its end, the topic was recreated or Redis
         * holds another cluster's view; before its start, events were
         * deleted unapplied.  Either way resuming would skip events. */
        int64_t lo, hi;
        if (!e && ckpt >= 0 &&
            rd_kafka_query_watermark_offsets(w->rk, p->topic, p->partition,
                                             &lo, &hi, 10000) ==
                RD_KAFKA_RESP_ERR_NO_ERROR &&
            (ckpt + 1 > hi || ckpt + 1 < lo)) {
            set_fatal(w, SF_ERR_STATE,
                      "projection %s: %s/%" PRId32 ": checkpoint %" PRId64
                      " is outside the partition's offsets %" PRId64
                      "..%" PRId64 " (topic recreated, history deleted, or "
                      "another cluster's Redis?); rebuild the projection",
                      w->name, p->topic, p->partition, ckpt, lo, hi);
            e = SF_ERR_STATE;
        }
        p->assigned = 1;
        p->fenced = e != SF_OK; /* stopping without a token: write nothing */
        p->next = ckpt >= 0 ? ckpt + 1 : -1;
        tp->offset = ckpt >= 0 ? ckpt + 1 : RD_KAFKA_OFFSET_BEGINNING;
        M(partition_assigned, w->name, p->topic, p->partition);
        if (ckpt >= 0)
            M(partition_checkpoint, w->name, p->topic, p->partition, ckpt + 1,
              -1);
        sf_log("info",
               "projection=%s topic=%s partition=%" PRId32 " offset=%" PRId64
               " token=%" PRId64 " msg=\"assigned, resuming from the redis "
               "checkpoint\"",
               w->name, p->topic, p->partition, ckpt + 1, p->token);
    }
    rd_kafka_error_t *ke = rd_kafka_incremental_assign(w->rk, parts);
    if (ke) {
        sf_log("error", "projection=%s msg=\"incremental assign: %s\"",
               w->name, rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
    }
    if (w->paused || w->outage_paused)
        rd_kafka_pause_partitions(w->rk, parts);
}

static void on_revoke(sf_worker_t *w, rd_kafka_topic_partition_list_t *parts) {
    int lost = rd_kafka_assignment_lost(w->rk);
    if (!lost && !w->in_apply)
        flush(w); /* still ours until unassigned: finish the batch */
    for (int i = 0; i < parts->cnt; i++) {
        part_t *p = part_find(w, parts->elems[i].topic,
                              parts->elems[i].partition, 0);
        if (!p)
            continue;
        if (p->batch.nevents)
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " offset=%" PRId64 " msg=\"%s: uncommitted batch of %zu "
                   "events dropped\"",
                   w->name, p->topic, p->partition, p->batch.first_offset,
                   lost ? "partition lost" : "revoked", p->batch.nevents);
        part_clear(w, p);
        p->assigned = 0;
        p->fenced = 0;
        M(partition_revoked, w->name, p->topic, p->partition);
        if (lost)
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " token=%" PRId64 " msg=\"assignment lost: fenced out of "
                   "the group (a new owner holds the partition and its "
                   "epoch); nothing more is written with this token\"",
                   w->name, p->topic, p->partition, p->token);
        else
            sf_log("info",
                   "projection=%s topic=%s partition=%" PRId32
                   " msg=\"revoked\"",
                   w->name, p->topic, p->partition);
    }
    rd_kafka_error_t *ke = rd_kafka_incremental_unassign(w->rk, parts);
    if (ke) {
        sf_log("error", "projection=%s msg=\"incremental unassign: %s\"",
               w->name, rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
    }
}

/* Runs on the worker's thread, inside rd_kafka_consumer_poll/close. */
static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts,
                         void *opaque) {
    (void)rk;
    sf_worker_t *w = opaque;
    w->in_rebalance++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        on_assign(w, parts);
    else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        on_revoke(w, parts);
    else
        sf_log("error", "projection=%s msg=\"rebalance: %s\"", w->name,
               rd_kafka_err2str(err));
    w->in_rebalance--;
    M(projection_polled, w->name);
}

/* ---- consuming ----------------------------------------------------- */

static void handle(sf_worker_t *w, rd_kafka_message_t *m) {
    if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            sf_log("warn", "projection=%s topic=%s partition=%" PRId32
                   " msg=\"kafka: %s\"", w->name,
                   m->rkt ? rd_kafka_topic_name(m->rkt) : "-", m->partition,
                   rd_kafka_message_errstr(m));
            char fe[256];
            if (rd_kafka_fatal_error(w->rk, fe, sizeof(fe)))
                set_fatal(w, SF_ERR_KAFKA_FATAL, "kafka: %s", fe);
        }
        rd_kafka_message_destroy(m);
        return;
    }
    part_t *p = w->paused ? NULL
                          : part_find(w, rd_kafka_topic_name(m->rkt),
                                      m->partition, 0);
    if (!p || !p->assigned || p->fenced ||
        (p->next >= 0 && m->offset < p->next)) {
        rd_kafka_message_destroy(m);
        return;
    }
    char err[1024];
    if (!p->batch.nevents)
        p->t0 = sf_mono_s();
    sf_err_t e = sf_projection_process(w->proj, w->dec, m, &w->ev, &p->batch,
                                       &w->scratch, w->pc->on_error_stop, err,
                                       sizeof(err));
    if (e && w->pc->on_error_stop) {
        M(error, w->name, e);
        set_fatal(w, e,
                  "projection %s: %s/%" PRId32 "/%" PRId64
                  ": %s (on_error: stop; nothing past it is checkpointed)",
                  w->name, p->topic, p->partition, m->offset, err);
        rd_kafka_message_destroy(m);
        return;
    }
    p->next = m->offset + 1;
    if (e)
        M(error, w->name, e);
    if (part_keep(p, m, e ? err : NULL)) {
        set_fatal(w, SF_ERR_NOMEM, "out of memory");
        rd_kafka_message_destroy(m);
        return;
    }
    w->pending++;
}

static void check_paused(sf_worker_t *w) {
    double now = sf_mono_s();
    if (now - w->last_pause_check < 1.0)
        return;
    w->last_pause_check = now;
    int paused;
    char err[256];
    if (sf_redis_paused(w->redis, w->name, &paused, err, sizeof(err)))
        return; /* the next flush reports and retries */
    if (paused && !w->paused) {
        flush(w);
        pause_all(w);
        w->paused = 1;
        sf_log("info", "projection=%s msg=\"paused by operator\"", w->name);
    } else if (!paused && w->paused) {
        w->paused = 0;
        resume_all(w);
        sf_log("info", "projection=%s msg=\"resumed by operator\"", w->name);
    }
}

sf_err_t sf_worker_run(sf_worker_t *w, char *errstr, size_t errstr_size) {
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new((int)w->pc->ntopics);
    for (size_t i = 0; i < w->pc->ntopics; i++)
        rd_kafka_topic_partition_list_add(topics, w->pc->topics[i],
                                          RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t ke = rd_kafka_subscribe(w->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (ke)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA_FATAL,
                         "projection %s: subscribe: %s", w->name,
                         rd_kafka_err2str(ke));
    M(projection_add, w->name);
    sf_log("info", "projection=%s group=%s msg=\"started\"", w->name,
           w->pc->group_id);
    size_t batch_size = (size_t)w->pc->batch_size;
    while (!*w->stop && !w->fatal) {
        M0(heartbeat);
        check_paused(w);
        double deadline = sf_mono_s() + w->pc->batch_ms / 1000.0;
        while (!*w->stop && !w->fatal && w->pending < batch_size) {
            double left = deadline - sf_mono_s();
            int to = w->pending ? (left > 0 ? (int)(left * 1000) : 0) : 100;
            rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, to);
            if (!m) {
                if (!w->pending || sf_mono_s() >= deadline)
                    break;
                continue;
            }
            handle(w, m);
            if (w->pending && sf_mono_s() >= deadline)
                break;
        }
        flush(w);
    }
    flush(w);
    if (w->m)
        sf_metrics_set_draining(w->m, 1);
    sf_log("info", "projection=%s msg=\"closing consumer (leaving group)\"",
           w->name);
    rd_kafka_consumer_close(w->rk);
    if (w->fatal)
        return sf_seterr(errstr, errstr_size, w->fatal_err, "%s",
                         w->fatal_msg);
    return SF_OK;
}

sf_err_t sf_worker_new(const sf_config_t *cfg, const sf_pconf_t *pc,
                       const sf_catalog_t *cat, sf_metrics_t *metrics,
                       volatile sig_atomic_t *stop, sf_worker_t **out,
                       char *errstr, size_t errstr_size) {
    sf_worker_t *w = calloc(1, sizeof(*w));
    if (!w)
        return SF_ERR_NOMEM;
    w->cfg = cfg;
    w->pc = pc;
    w->name = pc->name;
    w->m = metrics;
    w->stop = stop;
    sf_err_t e =
        sf_projection_create(pc, cat, &w->proj, errstr, errstr_size);
    if (e)
        goto err;
    if (!(w->dec = sf_decoder_new(cat))) {
        e = SF_ERR_NOMEM;
        goto err;
    }
    if ((e = sf_dlq_new(cfg, pc, &w->dlq, errstr, errstr_size)))
        goto err;
    sf_redis_conf_t rc = {cfg->redis_host, cfg->redis_password,
                          cfg->redis_port, cfg->redis_db};
    char rerr[512];
    e = sf_redis_connect(&rc, &w->redis, rerr, sizeof(rerr));
    if (e == SF_ERR_REDIS) {
        /* Redis down at start: the worker waits for it like for an outage */
        sf_log("warn", "projection=%s msg=\"%s\"", w->name, rerr);
        M(redis_up, 0);
    } else if (e) {
        sf_seterr(errstr, errstr_size, e, "%s", rerr);
        goto err;
    } else {
        M(redis_up, 1);
    }
    if ((e = sf_kconf_consumer(cfg, pc, NULL, &w->rk, errstr, errstr_size,
                               rebalance_cb, w)))
        goto err;
    *out = w;
    return SF_OK;
err:
    sf_worker_destroy(w);
    return e;
}

void sf_worker_destroy(sf_worker_t *w) {
    if (!w)
        return;
    for (size_t i = 0; i < w->nparts; i++)
        part_free(w, w->parts[i]);
    free(w->parts);
    if (w->rk)
        rd_kafka_destroy(w->rk);
    sf_dlq_destroy(w->dlq);
    sf_redis_destroy(w->redis);
    if (w->dec)
        sf_decoder_destroy(w->dec);
    sf_projection_destroy(w->proj);
    sf_event_clear(&w->ev);
    sf_buf_free(&w->scratch);
    free(w->fb);
    free(w->ft);
    free(w->fp);
    free(w->ftok);
    free(w->fpart);
    free(w->fres);
    free(w);
}
