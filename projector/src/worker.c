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
#include "commits.h"
#include "control.h"
#include "dlq.h"
#include "event.h"
#include "kconf.h"
#include "identity.h"
#include "lifecycle.h"
#include "log.h"
#include "dedup.h"
#include "offsets.h"
#include "ownership.h"
#include "partstate.h"
#include "projection.h"
#include "redis_sink.h"
#include "retry.h"
#include "sf_assert.h"
#include "version.h"

typedef sf_part_t part_t; /* partstate.h */

struct sf_worker {
    const sf_config_t *cfg;
    const sf_pconf_t *pc;
    const sf_catalog_t *cat; /* for a rebuild asked by an offset reset */
    const char *name;
    sf_projection_t *proj;
    sf_decoder_t *dec;
    rd_kafka_t *rk;
    sf_commits_t *commits; /* offset commits, at a bounded rate */
    sf_owners_t *owners;   /* partitions no member owns */
    double last_rebalance; /* time of the last rebalance callback */
    int joined;            /* an assign callback completed a rebalance */
    sf_dlq_t *dlq;
    sf_redis_t *redis;
    sf_metrics_t *m;
    volatile sig_atomic_t *stop;
    part_t **parts;
    size_t nparts;
    part_t *retired;     /* replaced during a flush; freed by settle() */
    int paused;          /* operator pause (sf:<p>:paused) */
    int outage_paused;   /* paused while Redis / the DLQ is unavailable */
    int close_abandoned; /* consumer close did not finish (close_consumer) */
    int in_apply, in_rebalance;
    int fatal;
    sf_err_t fatal_err;
    char fatal_msg[1024];
    size_t pending;
    sf_event_t ev;
    sf_buf_t scratch;
    double last_pause_check;
    int64_t pause_gen_acked;
    char pause_member[256]; /* member id that acknowledged it */
    double last_tick, last_report;
    double last_life_tick;
    int life_due;       /* a partition was fenced: look at it now */
    int verify_due;     /* a Kafka error put the log in doubt: verify_topics */
    double last_verify; /* monotonic time of the last verify_topics */
    int held;           /* partitions held until the log is confirmed */
    double last_verify_log;
    double last_wait_log;
    /* flush scratch */
    sf_apply_req_t *freq;
    part_t **fpart;
    sf_apply_res_t *fres;
    size_t fcap;
    sf_dedup_stats_t ds; /* the duplicate rule's counts (dedup.h) */
};

/* Metrics are optional (library users, tests). */
#define M(call, ...)                              \
    do {                                          \
        if (w->m)                                 \
            sf_metrics_##call(w->m, __VA_ARGS__); \
    } while (0)
#define M0(call)                     \
    do {                             \
        if (w->m)                    \
            sf_metrics_##call(w->m); \
    } while (0)

static int acquire(sf_worker_t *w, part_t *p, int64_t fenced_gen, int retry,
                   const char *why);
static int verify_topics(sf_worker_t *w, int thorough);
static int verify_step(sf_worker_t *w);
static void hold_all(sf_worker_t *w);
static void part_hold(sf_worker_t *w, part_t *p);
static void part_restart(sf_worker_t *w, part_t *p);

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
    part_t *p = sf_part_new(topic, partition);
    if (!p)
        return NULL;
    w->parts[w->nparts++] = p;
    return p;
}

static void part_clear(sf_worker_t *w, part_t *p) {
    size_t n = sf_part_clear(p);
    w->pending = w->pending >= n ? w->pending - n : 0;
}

/* The part that takes a new assignment of topic/partition.  Inside a
 * flush the old part may still be read (its records, its batch): it is
 * retired whole, to be freed by settle(), and a fresh one takes its
 * place. */
static part_t *part_for_assign(sf_worker_t *w, const char *topic,
                               int32_t partition) {
    part_t *old = part_find(w, topic, partition, 0);
    if (!old)
        return part_find(w, topic, partition, 1);
    if (!w->in_apply) {
        part_clear(w, old);
        return old;
    }
    part_t *p = sf_part_new(topic, partition);
    if (!p)
        return NULL;
    for (size_t i = 0; i < w->nparts; i++)
        if (w->parts[i] == old)
            w->parts[i] = p;
    sf_part_set_state(old, SF_PART_REVOKED);
    old->retired_next = w->retired;
    w->retired = old;
    return p;
}

/* After a flush: frees what revocations inside it only marked. */
static void settle(sf_worker_t *w) {
    for (size_t i = 0; i < w->nparts; i++)
        if (w->parts[i]->state == SF_PART_REVOKED && w->parts[i]->nrecs)
            part_clear(w, w->parts[i]);
    while (w->retired) {
        part_t *p = w->retired;
        w->retired = p->retired_next;
        part_clear(w, p);
        sf_part_free(p);
    }
}

static int part_keep(part_t *p, rd_kafka_message_t *m, const char *reason) {
    return sf_part_keep(p, m, reason) ? -1 : 0;
}

static void part_free(sf_worker_t *w, part_t *p) {
    part_clear(w, p);
    sf_part_free(p);
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
        a->elems[i].offset =
            p && p->next >= 0 ? p->next : RD_KAFKA_OFFSET_BEGINNING;
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

/* A report older than this is no longer a holder's (ownership.h uses 7 s) */
#define SF_REPORT_LIVE_MS 7000

/* 1 when the state report of p is another member's and live: refreshed
 * within SF_REPORT_LIVE_MS by a holder that applies (not fenced, waiting,
 * stopped, nor the "unowned" mark of ownership.c). */
static int other_reports(sf_worker_t *w, const part_t *p, const char *me) {
    char st[64], member[256];
    int64_t at_ms = 0;
    sf_ctl_report_get(w->redis, w->name, p->topic, p->partition, st, sizeof(st),
                      &at_ms, member, sizeof(member));
    if (!*st || !*member || !strcmp(member, "-") || (me && !strcmp(member, me)))
        return 0;
    if (sf_time_now_ms() - at_ms > SF_REPORT_LIVE_MS)
        return 0;
    return strcmp(st, "fenced") && strcmp(st, "unowned") &&
           strcmp(st, "stopped") && strcmp(st, "waiting-rebuild");
}

/* Once a second: the watermarks of the partitions held (so lag and the
 * stuck clock are right while nothing is applied), and every few seconds
 * each partition's state into Redis for `status` (control.h). */
static void health_tick(sf_worker_t *w) {
    double now = sf_mono_s();
    if (now - w->last_tick < 1.0)
        return;
    w->last_tick = now;
    int report = now - w->last_report >= 3.0;
    if (report)
        w->last_report = now;
    char *member = report ? rd_kafka_memberid(w->rk) : NULL;
    for (size_t i = 0; i < w->nparts; i++) {
        part_t *p = w->parts[i];
        if (p->state == SF_PART_REVOKED)
            continue;
        int64_t lo, hi;
        if (rd_kafka_get_watermark_offsets(w->rk, p->topic, p->partition, &lo,
                                           &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            hi >= 0)
            M(partition_watermark, w->name, p->topic, p->partition, hi);
        /* fenced: the holder of the newer epoch reports it; never hide
         * that report (the re-take in lifecycle_tick reads it) */
        if (report &&
            !(p->state == SF_PART_FENCED && other_reports(w, p, member)))
            sf_ctl_report(w->redis, w->name, p->topic, p->partition,
                          p->state == SF_PART_FENCED    ? "fenced"
                          : p->state == SF_PART_WAITING ? "waiting-rebuild"
                          : p->state == SF_PART_STOPPED ? "stopped"
                          : w->m ? sf_metrics_partition_state(
                                       w->m, w->name, p->topic, p->partition)
                          : w->paused ? "paused"
                                      : "ok",
                          sf_time_now_ms(), member);
    }
    if (member)
        rd_kafka_mem_free(w->rk, member);
}

/* Waits ms while keeping the group membership alive; records delivered
 * meanwhile are dropped (resume_all seeks back to them). */
static void backoff_wait(sf_worker_t *w, int ms) {
    double end = sf_mono_s() + ms / 1000.0;
    while (sf_mono_s() < end && !*w->stop) {
        M0(heartbeat);
        M(projection_polled, w->name); /* readiness: this loop turns */
        health_tick(w);
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
    rd_kafka_topic_partition_list_destroy(l);
    /* sent with the next interval's commit (commits.h): a failure only
     * makes lag tools lag; Redis holds the truth */
    sf_commits_note(w->commits, p->topic, p->partition, next);
    return next;
}

static void part_done(sf_worker_t *w, part_t *p, const sf_apply_res_t *r) {
    int64_t next = commit_kafka(w, p);
    M(events_applied, w->name, (uint64_t)r->applied);
    sf_dedup_report(&w->ds, w->m, w->name, p->topic, p->partition, r);
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

/* The partition stops here (on_error: stop, or a record that cannot be
 * parked): tell `status` at once, the worker is about to leave. */
static void report_state(sf_worker_t *w, const part_t *p, const char *st) {
    char *member = rd_kafka_memberid(w->rk);
    sf_ctl_report(w->redis, w->name, p->topic, p->partition, st,
                  sf_time_now_ms(), member);
    if (member)
        rd_kafka_mem_free(w->rk, member);
}

static void report_halted(sf_worker_t *w, const part_t *p, int64_t offset) {
    char st[40];
    snprintf(st, sizeof(st), "halted@%" PRId64, offset);
    report_state(w, p, st);
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

/* Dead-letters every pending poison record of the writable partitions,
 * confirmed, and records it (SF_DLQ_PARKED).  0 when done, -1 when
 * stopping before it could be done (or a record cannot be parked at all:
 * then the worker stops like on_error: stop); the caller then drops the
 * batches, so nothing is checkpointed past an unparked record.  Each
 * record carries its own state: a partition that had nothing to
 * dead-letter in one flush owes its later poison records their dead
 * letters all the same.  Records are collected again each round because
 * the back-off polls the consumer, and a rebalance there may take
 * partitions (and their records) away. */
/* How long a flush waits for its dead letters: longer than the dead-letter
 * producer's message.timeout.ms (30 s, dlq.c), so their reports arrive. */
#define SF_DLQ_WAIT_MS 35000
static int dlq_pending(sf_worker_t *w) {
    char err[1024];
    sf_dlq_item_t *items = NULL;
    size_t cap = 0;
    int rc = 0;
    sf_backoff_t bo;
    sf_backoff_init(&bo, 100, 5000);
    for (;;) {
        size_t n = 0;
        for (size_t i = 0; i < w->nparts; i++) {
            part_t *p = w->parts[i];
            if (!sf_part_writable(p))
                continue;
            for (size_t k = 0; k < p->nrecs; k++) {
                if (!p->recs[k].reason || p->recs[k].dlq != SF_DLQ_NONE)
                    continue;
                if (sf_dlqrec_seen(w->redis, w->name, p->recs[k].msg)) {
                    p->recs[k].dlq = SF_DLQ_PARKED; /* by an earlier run */
                    continue;
                }
                if (n == cap) {
                    size_t nc = cap ? cap * 2 : 16;
                    sf_dlq_item_t *ni = realloc(items, nc * sizeof(*ni));
                    if (!ni) {
                        set_fatal(w, SF_ERR_NOMEM, "out of memory");
                        free(items);
                        return -1;
                    }
                    items = ni;
                    cap = nc;
                }
                memset(&items[n], 0, sizeof(items[n]));
                items[n].m = p->recs[k].msg;
                items[n].reason = p->recs[k].reason;
                n++;
            }
        }
        sf_err_t e =
            n ? sf_dlq_send(w->dlq, items, n, SF_DLQ_WAIT_MS, err, sizeof(err))
              : SF_OK;
        for (size_t j = 0; !e && j < n; j++)
            if (!items[j].done) /* never counted as parked: try again */
                e = sf_seterr(err, sizeof(err), SF_ERR_KAFKA,
                              "dlq: %s/%" PRId32 "/%" PRId64
                              " not confirmed delivered",
                              rd_kafka_topic_name(items[j].m->rkt),
                              items[j].m->partition, items[j].m->offset);
        for (size_t j = 0; j < n; j++) {
            if (!items[j].done)
                continue;
            for (size_t i = 0; i < w->nparts; i++) {
                part_t *p = w->parts[i];
                for (size_t k = 0; k < p->nrecs; k++)
                    if (p->recs[k].msg == items[j].m) {
                        p->recs[k].dlq = SF_DLQ_DELIVERED;
                        if (items[j].level)
                            sf_log("warn",
                                   "projection=%s topic=%s partition=%" PRId32
                                   " offset=%" PRId64 " size=%zu msg=\"dead "
                                   "letter too large: written with the %s "
                                   "(sf_dlq_truncated)\"",
                                   w->name, p->topic, p->partition,
                                   p->recs[k].msg->offset, p->recs[k].msg->len,
                                   items[j].level == 1
                                       ? "value cut to fit"
                                       : "value and headers left out");
                    }
            }
        }
        if (!e) {
            M(dlq_failing, w->name, 0);
            break;
        }
        M(error, w->name, e);
        if (e == SF_ERR_KAFKA_FATAL) {
            /* refused for good even when cut: park it by hand */
            set_fatal(w, SF_ERR_RULE,
                      "projection %s: %s (the worker stops "
                      "like on_error: stop; skip the record once it is "
                      "parked elsewhere)",
                      w->name, err);
            rc = -1;
            break;
        }
        M(dlq_failing, w->name, 1);
        sf_log("warn", "projection=%s msg=\"dead-letter failed, retrying: %s\"",
               w->name, err);
        if (*w->stop) {
            rc = -1;
            break;
        }
        outage_pause(w);
        backoff_wait(w, sf_backoff_next(&bo));
    }
    free(items);
    if (rc)
        return rc;
    for (size_t i = 0; i < w->nparts; i++) {
        part_t *p = w->parts[i];
        if (!sf_part_writable(p))
            continue;
        uint64_t n = 0;
        for (size_t k = 0; k < p->nrecs; k++)
            if (p->recs[k].reason && p->recs[k].dlq == SF_DLQ_DELIVERED) {
                char q[600];
                n++;
                sf_dlqrec_add(w->redis, w->name, p->recs[k].msg);
                p->recs[k].dlq = SF_DLQ_PARKED;
                sf_log("warn",
                       "projection=%s topic=%s partition=%" PRId32
                       " offset=%" PRId64 " dlq=%s.dlq reason=%s",
                       w->name, p->topic, p->partition, p->recs[k].msg->offset,
                       p->topic, sf_log_q(q, sizeof(q), p->recs[k].reason));
            }
        if (n)
            M(dead_lettered, w->name, n);
    }
    return 0;
}

static int ckpt_resync(sf_worker_t *w, part_t *p, int64_t stored,
                       const char *why);

/* A command of the batch failed inside Redis at bad_offset.  The script
 * left the checkpoint just below it and recorded how many of its commands
 * ran (so none runs again).  Park the record with a reason saying so and
 * move the checkpoint past it; the caller re-sends the rest of the batch.
 * With on_error: stop, or when the record is missing, stop instead: a
 * restart resumes after the commands already applied. */
static int redis_poison(sf_worker_t *w, part_t *p, const sf_apply_res_t *r) {
    char err[1024], what[400];
    rd_kafka_message_t *m = NULL;
    for (size_t k = 0; k < p->nrecs; k++)
        if (p->recs[k].msg->offset == r->bad_offset)
            m = p->recs[k].msg;
    M(error, w->name, SF_ERR_RULE);
    sf_apply_describe(r, what, sizeof(what));
    if (!r->recorded) {
        set_fatal(w, SF_ERR_REDIS_REPLY,
                  "projection %s: %s/%" PRId32 "/%" PRId64 ": redis: %s; "
                  "its progress could not be recorded: stopping",
                  w->name, p->topic, p->partition, r->bad_offset, what);
        part_clear(w, p);
        return -1;
    }
    SF_ASSERT(r->ckpt >= p->ckpt && r->ckpt == r->bad_offset - 1);
    p->ckpt = r->ckpt;
    if (w->pc->on_error_stop || !m) {
        set_fatal(w, SF_ERR_RULE,
                  "projection %s: %s/%" PRId32 "/%" PRId64 ": redis: %s "
                  "(on_error: stop; a restart resumes after what was "
                  "applied)",
                  w->name, p->topic, p->partition, r->bad_offset, what);
        report_halted(w, p, r->bad_offset);
        part_clear(w, p);
        return -1;
    }
    char reason[480];
    snprintf(reason, sizeof(reason), "redis: %s", what);
    sf_backoff_t bo;
    sf_backoff_init(&bo, 100, 5000);
    sf_dlq_item_t it;
    memset(&it, 0, sizeof(it));
    for (;;) {
        it.m = m;
        it.reason = reason;
        sf_err_t e = sf_dlqrec_seen(w->redis, w->name, m)
                         ? SF_OK
                         : sf_dlq_send(w->dlq, &it, 1, 10000, err, sizeof(err));
        if (!e) {
            M(dlq_failing, w->name, 0);
            break;
        }
        if (e == SF_ERR_KAFKA_FATAL) {
            set_fatal(w, SF_ERR_RULE, "projection %s: %s", w->name, err);
            part_clear(w, p);
            return -1;
        }
        M(dlq_failing, w->name, 1);
        sf_log("warn", "projection=%s msg=\"dead-letter failed, retrying: %s\"",
               w->name, err);
        if (*w->stop) {
            part_clear(w, p);
            return -1;
        }
        outage_pause(w);
        backoff_wait(w, sf_backoff_next(&bo));
        /* the back-off polls: a rebalance may have taken the partition */
        if (!sf_part_writable(p))
            return 0; /* revoked meanwhile: the next round drops it */
    }
    sf_dlqrec_add(w->redis, w->name, m);
    char q[600];
    sf_log("warn",
           "projection=%s topic=%s partition=%" PRId32 " offset=%" PRId64
           " dlq=%s.dlq reason=%s",
           w->name, p->topic, p->partition, r->bad_offset, p->topic,
           sf_log_q(q, sizeof(q), reason));
    M(dead_lettered, w->name, 1);
    /* the event is done with: its version is recorded as the checkpoint
     * passes it, so a copy of it (a retried publish) is a duplicate and
     * its commands that did run never run again (dedup.h) */
    sf_buf_t vk = {0};
    char vv[40];
    sf_event_t ev;
    memset(&ev, 0, sizeof(ev));
    int hv = !sf_event_from_message(&ev, m) &&
             sf_dedup_record_of(w->pc->dedup, w->name, &ev, &vk, vv) == 1;
    sf_event_clear(&ev);
    int64_t stored = -1;
    sf_err_t e = sf_redis_ckpt_advance_ver(
        w->redis, w->name, p->topic, p->partition, p->token, p->ckpt,
        r->bad_offset, hv ? vk.p : NULL, vk.len, vv, &stored, err, sizeof(err));
    sf_buf_free(&vk);
    if (e == SF_ERR_STATE) {
        /* Redis lost writes while the record was dead-lettered: never
         * jump over the events it forgot */
        return ckpt_resync(w, p, stored,
                           "redis holds another checkpoint than the one the "
                           "dead letter moves past")
                   ? 0
                   : 1;
    }
    if (e == SF_ERR_FENCED) {
        sf_part_set_state(p, SF_PART_FENCED);
        M(partition_fenced, w->name, p->topic, p->partition, 1);
        part_clear(w, p);
    } else if (!e) {
        p->ckpt = r->bad_offset;
    }
    /* other errors: the re-send meets a checkpoint mismatch and resyncs */
    return 0;
}

/* Moves the consumer of p to offset (-1: the beginning). */
static void seek_part(sf_worker_t *w, part_t *p, int64_t offset) {
    if (w->in_rebalance || w->outage_paused || w->paused)
        return; /* resume_all / the new assignment seek to p->next */
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
        offset >= 0 ? offset : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *err = rd_kafka_seek_partitions(w->rk, l, 5000);
    if (err) {
        sf_log("warn",
               "projection=%s topic=%s partition=%" PRId32 " msg=\"seek: %s\"",
               w->name, p->topic, p->partition, rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* Takes p again through the path of a new assignment (acquire(): the
 * rebuild marker and generation, a fresh token, the stored checkpoint
 * range-checked against the partition's offsets) after Redis was found
 * to hold another state than the one the worker built on.  The batch is
 * dropped and the partition re-read from the checkpoint found there.  A
 * rebuild marker found there (a restored one too) leaves p WAITING, held
 * until lifecycle_tick() can take it; the topic identity is confirmed
 * again before the next batch is applied (verify_topics). */
static void retake(sf_worker_t *w, part_t *p, const char *why) {
    part_clear(w, p);
    w->verify_due = 2;
    int got = acquire(w, p, -1, 0, why);
    if (got > 0) {
        seek_part(w, p, p->next);
    } else if (got == 0) {
        part_hold(w, p);
    } else if (got == -2) {
        /* Redis did not answer: the next batch meets the refusal again */
        p->next = p->ckpt >= 0 ? p->ckpt + 1 : -1;
        seek_part(w, p, p->next);
    }
    /* -1: stopping, set_fatal() said why */
}

/* Redis holds checkpoint `stored` where p expected p->ckpt.  Nothing of the
 * batch was applied.  When stored lies inside the batch (our own apply
 * whose reply was lost, or an operator skip into it), re-send it: the
 * script skips what the checkpoint covers.  Otherwise (Redis lost writes
 * and came back older, a restore, the checkpoint moved by hand) Redis is
 * not the state the worker built on: retake() the partition like a new
 * assignment, which waits for a (restored) rebuild marker and refuses a
 * checkpoint outside the partition's offsets.  Returns 1 when the batch
 * is to be re-sent. */
static int ckpt_resync(sf_worker_t *w, part_t *p, int64_t stored,
                       const char *why) {
    M(checkpoint_mismatch, w->name);
    int keep = stored >= p->ckpt && stored >= p->batch.first_offset - 1 &&
               stored <= p->batch.last_offset;
    sf_log("warn",
           "projection=%s topic=%s partition=%" PRId32 " expected=%" PRId64
           " checkpoint=%" PRId64 " msg=\"checkpoint mismatch (%s): %s\"",
           w->name, p->topic, p->partition, p->ckpt, stored, why,
           keep ? "re-sending the batch on top of redis' checkpoint"
                : "batch dropped, taking the partition again from redis' "
                  "state");
    if (keep) {
        p->ckpt = stored;
        return 1;
    }
    retake(w, p, "re-taken after a checkpoint mismatch");
    return 0;
}

/* The epoch in Redis is older than our token: Redis lost the INCR that
 * gave it to us, so it lost writes (a restore, an AOF cut, a failover to
 * a replica that lagged).  Another worker cannot have taken over by
 * lowering the epoch: takeovers only INCR.  Raise the epoch to our old
 * token, so that the INCR of retake() hands out a token above anything
 * handed out before (fencing whoever got the same number from the older
 * state), then retake() the partition: the restored state may hold a
 * rebuild marker, another generation or a checkpoint the log does not
 * have, and each is handled as on a new assignment. */
static void epoch_lost(sf_worker_t *w, part_t *p, const sf_apply_res_t *r) {
    char err[512], key[512];
    redisReply *rep = NULL;
    M(checkpoint_mismatch, w->name);
    sf_redis_key(key, sizeof(key), w->name, "epoch", p->topic, p->partition);
    int64_t by = p->token - (r->epoch > 0 ? r->epoch : 0);
    sf_err_t e = sf_redis_cmd(w->redis, &rep, err, sizeof(err),
                              "INCRBY %s %" PRId64, key, by > 0 ? by : 0);
    if (!e)
        freeReplyObject(rep);
    sf_log("warn",
           "projection=%s topic=%s partition=%" PRId32 " token=%" PRId64
           " epoch=%" PRId64 " msg=\"redis lost writes (its epoch is older "
           "than this worker's token)%s\"",
           w->name, p->topic, p->partition, p->token, r->epoch,
           e ? ": cannot re-acquire, retrying"
             : ", taking the partition "
               "again");
    if (e) {
        part_clear(w, p); /* the next batch meets it again */
        p->next = p->ckpt >= 0 ? p->ckpt + 1 : -1;
        seek_part(w, p, p->next);
        return;
    }
    retake(w, p, "re-taken after redis lost writes");
}

static int ensure_cap(sf_worker_t *w, size_t n) {
    if (n <= w->fcap)
        return 0;
    size_t cap = n * 2;
    void *a;
#define GROW(f)                                    \
    if (!(a = realloc(w->f, cap * sizeof(*w->f)))) \
        return -1;                                 \
    w->f = a;
    GROW(freq)
    GROW(fpart)
    GROW(fres)
#undef GROW
    w->fcap = cap;
    return 0;
}

/* A writable partition whose batch holds a poison record that is not
 * parked: dlq_pending() returned done without it, which it must not.  The
 * batch is never applied (that would checkpoint past the record); it is
 * dropped and the partition re-read from the checkpoint, so the record
 * meets dlq_pending() again. */
static void dlq_unparked(sf_worker_t *w, part_t *p) {
    M(error, w->name, SF_ERR_STATE);
    sf_log("error",
           "projection=%s topic=%s partition=%" PRId32 " offset=%" PRId64
           " msg=\"batch holds a poison record that is not dead-lettered: "
           "not applied, re-reading from the checkpoint\"",
           w->name, p->topic, p->partition, p->batch.first_offset);
    part_clear(w, p);
    p->next = p->ckpt >= 0 ? p->ckpt + 1 : -1;
    seek_part(w, p, p->next);
}

/* Applies every partition's batch (one apply script each, pipelined) and
 * reacts to each typed result; see redis_sink.h.  Outages and "not now"
 * refusals are retried with the back-off policy; deterministic failures
 * never are: they are dead-lettered, or stop the worker. */
static void flush(sf_worker_t *w) {
    if (!w->pending)
        return;
    if (w->verify_due == 2 || w->held) {
        /* a Kafka error put the log in doubt: nothing is applied before
         * verify_topics() confirms it (inside a rebalance: the batch
         * waits for the next owner or the next flush) */
        if (w->in_rebalance || verify_step(w)) {
            hold_all(w);
            return;
        }
    }
    w->in_apply = 1;
    char err[512];
    sf_backoff_t bo;
    sf_backoff_init(&bo, 100, 5000);
    for (;;) {
        size_t n = 0;
        /* every round: a retry below may have polled the consumer */
        if (dlq_pending(w) < 0)
            goto drop; /* stopping, or a record cannot be parked */
        if (ensure_cap(w, w->nparts)) {
            set_fatal(w, SF_ERR_NOMEM, "out of memory");
            goto drop;
        }
        for (size_t i = 0; i < w->nparts; i++) {
            part_t *p = w->parts[i];
            if (!p->batch.nevents)
                continue;
            if (!sf_part_writable(p)) {
                part_clear(w, p);
                continue;
            }
            if (!sf_part_dlq_complete(p)) {
                dlq_unparked(w, p);
                continue;
            }
            w->freq[n] = (sf_apply_req_t){&p->batch, p->topic, p->partition,
                                          p->token,  p->ckpt,  0};
            w->fpart[n] = p;
            n++;
        }
        if (!n)
            break;
        sf_err_t e = sf_redis_apply(w->redis, w->name, n, w->freq, w->fres, err,
                                    sizeof(err));
        int again = 0;
        if (!e) {
            M(redis_up, 1);
            for (size_t i = 0; i < n; i++) {
                part_t *p = w->fpart[i];
                sf_apply_res_t *r = &w->fres[i];
                switch (r->status) {
                case SF_APPLY_OK:
                    SF_ASSERT(p->batch.last_offset >= p->ckpt);
                    /* the checkpoint just passed every record of the
                     * batch: each was applied or is parked in the DLQ */
                    SF_ASSERT(sf_part_dlq_complete(p));
                    p->ckpt = p->batch.last_offset;
                    part_done(w, p, r);
                    break;
                case SF_APPLY_FENCED:
                    M(fenced, w->name);
                    sf_log("warn",
                           "projection=%s topic=%s partition=%" PRId32
                           " offset=%" PRId64 " token=%" PRId64
                           " msg=\"fenced: another worker owns the "
                           "partition; batch dropped\" detail=\"%s\"",
                           w->name, p->topic, p->partition,
                           p->batch.first_offset, p->token, r->msg);
                    sf_part_set_state(p, SF_PART_FENCED);
                    if (r->epoch > p->fenced_by)
                        p->fenced_by = r->epoch;
                    M(partition_fenced, w->name, p->topic, p->partition, 1);
                    w->life_due = 1;
                    part_clear(w, p);
                    break;
                case SF_APPLY_EPOCH_LOST:
                    epoch_lost(w, p, r);
                    again = 1;
                    break;
                case SF_APPLY_CKPT_MISMATCH:
                    if (ckpt_resync(w, p, r->ckpt,
                                    "redis holds another "
                                    "checkpoint"))
                        again = 1;
                    break;
                case SF_APPLY_EVENT_FAILED:
                    sf_dedup_report(&w->ds, w->m, w->name, p->topic,
                                    p->partition, r);
                    if (redis_poison(w, p, r) == 0)
                        again = 1;
                    break;
                case SF_APPLY_NOT_RUN:
                    M(error, w->name, SF_ERR_REDIS_REPLY);
                    if (r->retriable) {
                        snprintf(err, sizeof(err), "%s", r->msg);
                        e = SF_ERR_REDIS;
                        break;
                    }
                    set_fatal(w, SF_ERR_REDIS_REPLY,
                              "projection %s: %s/%" PRId32 ": redis refused "
                              "the apply script (nothing applied): %s",
                              w->name, p->topic, p->partition, r->msg);
                    part_clear(w, p);
                    break;
                }
            }
        } else {
            M(redis_up, 0);
        }
        if (e && !w->fatal) {
            int ms = sf_backoff_next(&bo);
            M(error, w->name, e);
            sf_log("warn",
                   "projection=%s msg=\"redis apply failed, pausing "
                   "and retrying in %d ms\" error=\"%s\"",
                   w->name, ms, err);
            if (*w->stop)
                goto drop; /* nothing committed: the next owner resumes */
            outage_pause(w);
            backoff_wait(w, ms);
            if (sf_redis_ctx(w->redis) == NULL || sf_redis_ctx(w->redis)->err) {
                if (sf_redis_reconnect(w->redis, err, sizeof(err)) == SF_OK) {
                    M(redis_up, 1);
                    sf_log("info", "projection=%s msg=\"redis reconnected\"",
                           w->name);
                }
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
    settle(w);
}

/* ---- rebalancing ---------------------------------------------------- */

/* Checks every topic of the assignment against the identity recorded
 * next to its checkpoints (identity.h): 0 when it is the same log, -1
 * after set_fatal() when it is not. */
static int check_identity(sf_worker_t *w,
                          const rd_kafka_topic_partition_list_t *parts) {
    char err[1024];
    for (int i = 0; i < parts->cnt; i++) {
        const char *topic = parts->elems[i].topic;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++)
            seen = !strcmp(parts->elems[j].topic, topic);
        if (seen)
            continue;
        sf_topic_identity_t cur;
        sf_err_t e = SF_ERR_KAFKA;
        snprintf(err, sizeof(err), "the worker is stopping");
        for (int tries = 0; tries < 3 && e && !*w->stop; tries++)
            if ((e = sf_identity_describe(w->rk, topic, 10000, &cur, err,
                                          sizeof(err))))
                sleep_ms(500 << tries);
        if (e) {
            /* the watermark check below still runs */
            sf_log("warn",
                   "projection=%s topic=%s msg=\"topic identity not "
                   "checked: %s\"",
                   w->name, topic, err);
            continue;
        }
        /* Redis unreachable: wait as for an outage.  An error reply
         * (BUSY while a long script runs, LOADING after a restart) is
         * retried for a minute, then taken as permanent. */
        int backoff = 100;
        double give_up = sf_mono_s() + 60.0;
        while ((e = sf_identity_check(w->redis, w->name, topic, &cur, err,
                                      sizeof(err))) &&
               (e == SF_ERR_REDIS ||
                (e == SF_ERR_REDIS_REPLY && sf_mono_s() < give_up)) &&
               !*w->stop) {
            sf_log("warn",
                   "projection=%s topic=%s msg=\"topic identity: "
                   "redis: %s; retrying\"",
                   w->name, topic, err);
            sleep_ms(backoff);
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
            if (e == SF_ERR_REDIS)
                sf_redis_reconnect(w->redis, err, sizeof(err));
        }
        if (e) {
            M(error, w->name, e);
            set_fatal(w, e, "%s", err);
            return -1;
        }
    }
    return 0;
}

/* Takes p in Redis (lifecycle.h).  fenced_gen: -1 for a new assignment,
 * p->generation to re-take a fenced one.  1 when taken (p ACTIVE,
 * p->next set), 0 when a rebuild runs (p WAITING) or another owner holds
 * it (SF_ERR_FENCED: p stays FENCED), -1 when stopping, -2 when Redis did
 * not answer and !retry (the caller tries again later; the main loop must
 * not block here, it keeps the group membership alive). */
static int acquire(sf_worker_t *w, part_t *p, int64_t fenced_gen, int retry,
                   const char *why) {
    char err[512];
    sf_acquire_t a;
    int backoff = 100;
    sf_err_t e;
    char serving[32];
    if (sf_version_mismatch(w->redis, w->pc, serving, sizeof(serving))) {
        /* never this definition's rules onto another version's view
         * (version.h): wait until this version serves */
        if (p->state != SF_PART_WAITING)
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " msg=\"the serving view is version %s, this worker's "
                   "definition is version %s: partition paused until %s "
                   "serves (sf-projector run builds it blue/green at start; "
                   "sf-projector rebuild does it by hand)\"",
                   w->name, p->topic, p->partition, serving, w->pc->digest,
                   w->pc->digest);
        sf_part_set_state(p, SF_PART_WAITING);
        return 0;
    }
    while ((e = sf_life_acquire(w->redis, w->name, p->topic, p->partition,
                                fenced_gen, &a, err, sizeof(err))) &&
           e != SF_ERR_FENCED) {
        if (*w->stop)
            return -1;
        M(redis_up, 0);
        if (!retry) {
            sf_redis_reconnect(w->redis, err, sizeof(err));
            return -2;
        }
        sf_log("warn",
               "projection=%s topic=%s partition=%" PRId32
               " msg=\"assignment: redis unavailable, retrying\" "
               "error=\"%s\"",
               w->name, p->topic, p->partition, err);
        sleep_ms(backoff);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        sf_redis_reconnect(w->redis, err, sizeof(err));
    }
    if (e == SF_ERR_FENCED)
        return 0;
    if (a.rebuilding) {
        double now = sf_mono_s();
        if (p->state == SF_PART_WAITING && now - p->since >= 60.0 &&
            now - w->last_wait_log >= 60.0) {
            w->last_wait_log = now;
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " msg=\"still waiting for the rebuild (%s) after %.0f s; "
                   "if no rebuild runs any more, run sf-projector rebuild "
                   "--force\"",
                   w->name, p->topic, p->partition, a.marker, now - p->since);
        }
        if (p->state != SF_PART_WAITING)
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " msg=\"a rebuild runs (%s): partition paused until it "
                   "is done\"",
                   w->name, p->topic, p->partition, a.marker);
        sf_part_set_state(p, SF_PART_WAITING);
        return 0;
    }
    /* Events are never deleted, so the checkpoint always lies within
     * the partition.  Beyond its end, the topic was recreated or Redis
     * holds another cluster's view; before its start, events were
     * deleted unapplied.  Either way resuming would skip events. */
    int64_t lo = -1, hi = -1;
    int have_wm = rd_kafka_query_watermark_offsets(
                      w->rk, p->topic, p->partition, &lo, &hi, 10000) ==
                  RD_KAFKA_RESP_ERR_NO_ERROR;
    if (a.ckpt >= 0 && have_wm && (a.ckpt + 1 > hi || a.ckpt + 1 < lo)) {
        set_fatal(w, SF_ERR_STATE,
                  "projection %s: %s/%" PRId32 ": checkpoint %" PRId64
                  " is outside the partition's offsets %" PRId64 "..%" PRId64
                  " (topic recreated, history deleted, or "
                  "another cluster's Redis?); rebuild the projection",
                  w->name, p->topic, p->partition, a.ckpt, lo, hi);
        report_state(w, p, "ckpt-outside");
        sf_part_set_state(p, SF_PART_STOPPED);
        return -1;
    }
    p->token = a.token;
    p->generation = a.generation;
    p->next = a.ckpt >= 0 ? a.ckpt + 1 : -1;
    p->ckpt = a.ckpt;
    sf_part_set_state(p, SF_PART_ACTIVE);
    M(partition_assigned, w->name, p->topic, p->partition);
    M(partition_fenced, w->name, p->topic, p->partition, 0);
    /* lag is known from here on, not only after a first batch */
    if (a.ckpt >= 0 || have_wm)
        M(partition_checkpoint, w->name, p->topic, p->partition,
          a.ckpt >= 0 ? a.ckpt + 1 : lo, -1);
    if (have_wm)
        M(partition_watermark, w->name, p->topic, p->partition, hi);
    sf_log("info",
           "projection=%s topic=%s partition=%" PRId32 " offset=%" PRId64
           " token=%" PRId64 " msg=\"%s, resuming from the redis "
           "checkpoint\"",
           w->name, p->topic, p->partition, a.ckpt + 1, p->token, why);
    /* a fenced member waiting to take it back sees the new owner now,
     * not at its next periodic report */
    report_state(w, p, "ok");
    return 1;
}

/* Notes where each acquired partition resumes (checkpoint + 1) for the
 * next interval's commit (commits.h: never inside the rebalance): after a
 * rebuild, a skip or an as-of rebuild the group's offsets then agree with
 * the view even before (or without) a new event; no false lag. */
static void commit_resume(sf_worker_t *w,
                          const rd_kafka_topic_partition_list_t *parts) {
    for (int i = 0; i < parts->cnt; i++) {
        part_t *p =
            part_find(w, parts->elems[i].topic, parts->elems[i].partition, 0);
        if (!p || p->state != SF_PART_ACTIVE || p->next < 0)
            continue;
        sf_commits_note(w->commits, p->topic, p->partition, p->next);
    }
}

static void on_assign(sf_worker_t *w, rd_kafka_topic_partition_list_t *parts) {
    int ok = !w->fatal && check_identity(w, parts) == 0;
    rd_kafka_topic_partition_list_t *hold =
        rd_kafka_topic_partition_list_new(parts->cnt);
    for (int i = 0; i < parts->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &parts->elems[i];
        part_t *p = part_for_assign(w, tp->topic, tp->partition);
        if (!p) {
            set_fatal(w, SF_ERR_NOMEM, "out of memory");
            ok = 0;
        }
        int got = ok ? acquire(w, p, -1, 1, "assigned") : -1;
        if (got < 0 && p) /* stopping without a token: write nothing */
            sf_part_set_state(p, SF_PART_STOPPED);
        tp->offset =
            got > 0 && p->next >= 0 ? p->next : RD_KAFKA_OFFSET_BEGINNING;
        if (got <= 0)
            rd_kafka_topic_partition_list_add(hold, tp->topic, tp->partition);
    }
    rd_kafka_error_t *ke = rd_kafka_incremental_assign(w->rk, parts);
    if (ke) {
        sf_log("error", "projection=%s msg=\"incremental assign: %s\"", w->name,
               rd_kafka_error_string(ke));
        rd_kafka_error_destroy(ke);
    }
    commit_resume(w, parts);
    if (w->paused || w->outage_paused) {
        rd_kafka_pause_partitions(w->rk, parts);
    } else {
        /* A partition keeps its paused flag in librdkafka across a revoke
         * and a new assignment: one held while it was fenced or waiting
         * would stay silent.  Resume all, then hold what must wait. */
        rd_kafka_resume_partitions(w->rk, parts);
        if (hold->cnt) /* waiting for a rebuild, or stopping */
            rd_kafka_pause_partitions(w->rk, hold);
    }
    rd_kafka_topic_partition_list_destroy(hold);
}

/* Seeks p to the offset it expects next and resumes it (unless paused by
 * the operator or an outage: resume_all() does it then). */
static void part_restart(sf_worker_t *w, part_t *p) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition)->offset =
        p->next >= 0 ? p->next : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_error_t *err = rd_kafka_seek_partitions(w->rk, l, 5000);
    if (err) {
        sf_log("warn",
               "projection=%s topic=%s partition=%" PRId32 " msg=\"seek: %s\"",
               w->name, p->topic, p->partition, rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    }
    if (!w->paused && !w->outage_paused)
        rd_kafka_resume_partitions(w->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

static void part_hold(sf_worker_t *w, part_t *p) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
    rd_kafka_pause_partitions(w->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

/* How long a partition may stay fenced by another owner while the group
 * still assigns it here.  The group revokes a zombie's partitions within
 * its session timeout; past this, something else holds the epoch (a
 * second deployment under the same projection name, an operator), and
 * the worker stops so that it does not idle silently. */
#define SF_FENCED_MAX_S 60.0
/* The newer epoch can also come from a member that ran an assignment the
 * group had already taken back (a worker SIGSTOPped through a rebalance
 * runs its queued assign callback when it resumes, takes the epoch, then
 * learns the assignment is lost) and then never writes again.  A partition
 * fenced this long with no sign of another holder for as long (no other
 * member's live state report, control.h: holders write one when they take
 * a partition and refresh it every 3 s; no move of its checkpoint; no newer
 * epoch) is taken again with a new epoch (fenced_retake): the same as the
 * supervisor's restart after SF_FENCED_MAX_S, without the stall.  Fencing
 * keeps one writer either way; a live other holder is left alone. */
#define SF_FENCED_RETAKE_S 10.0

/* A switch of generations (blue/green rebuild or rollback, bluegreen.h)
 * raises the generation counter and the epochs.  A partition with nothing
 * to apply would never meet the refusal, so it would not read the new
 * generation's checkpoint (a rolled-back generation would never catch
 * up): a moved counter fences it here, and the re-take below reads it. */
static void generation_check(sf_worker_t *w) {
    char key[512], err[256];
    redisReply *rep = NULL;
    sf_redis_key(key, sizeof(key), w->name, "generation", NULL, 0);
    if (sf_redis_cmd(w->redis, &rep, err, sizeof(err), "GET %s", key))
        return; /* an outage: the apply path handles it */
    int64_t g =
        rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10) : 0;
    freeReplyObject(rep);
    for (size_t i = 0; i < w->nparts; i++) {
        part_t *p = w->parts[i];
        if (p->state != SF_PART_ACTIVE || g <= p->generation)
            continue;
        sf_log("info",
               "projection=%s topic=%s partition=%" PRId32
               " msg=\"fenced: the generation moved (%" PRId64 " -> %" PRId64
               "; a rebuild or a switch): taking the partition again\"",
               w->name, p->topic, p->partition, p->generation, g);
        sf_part_set_state(p, SF_PART_FENCED);
        part_clear(w, p);
        w->life_due = 1;
    }
}

/* The partition's epoch (0: none) and checkpoint (-1: none) as Redis
 * holds them, in one MGET.  -1 when Redis did not answer. */
static int read_epoch_ckpt(sf_worker_t *w, const part_t *p, int64_t *epoch,
                           int64_t *ckpt) {
    char ek[512], ck[512], err[256];
    redisReply *rep = NULL;
    sf_redis_key(ek, sizeof(ek), w->name, "epoch", p->topic, p->partition);
    sf_redis_key(ck, sizeof(ck), w->name, "ckpt", p->topic, p->partition);
    if (sf_redis_cmd(w->redis, &rep, err, sizeof(err), "MGET %s %s", ek, ck))
        return -1;
    int64_t v[2] = {0, -1};
    for (size_t j = 0;
         j < 2 && rep->type == REDIS_REPLY_ARRAY && j < rep->elements; j++)
        if (rep->element[j]->type == REDIS_REPLY_STRING)
            v[j] = strtoll(rep->element[j]->str, NULL, 10);
    freeReplyObject(rep);
    *epoch = v[0];
    *ckpt = v[1];
    return 0;
}

/* Redis can come back older (an AOF cut, a failover to a lagging replica,
 * a restore: docs/exactly-once.md) while a partition has nothing new to
 * apply.  No batch then meets the compare-and-set, and the events Redis
 * lost past its checkpoint would never be applied again (lag 0, silent).
 * So each active partition without a batch in hand has its epoch and
 * checkpoint read back: an epoch below the worker's token, or the same
 * epoch with an older checkpoint, is Redis having lost writes, handled as
 * if a batch had been refused.  Anything newer (another owner, a rebuild,
 * a switch, a skip) is left to the paths that own it. */
static void lost_writes_check(sf_worker_t *w) {
    for (size_t i = 0; i < w->nparts && !w->paused && !w->fatal; i++) {
        part_t *p = w->parts[i];
        if (p->state != SF_PART_ACTIVE || p->batch.nevents)
            continue;
        int64_t v[2];
        if (read_epoch_ckpt(w, p, &v[0], &v[1]))
            return; /* an outage: the apply path and check_paused see it */
        if (v[0] < p->token) {
            sf_apply_res_t r = {0};
            r.epoch = v[0];
            epoch_lost(w, p, &r);
        } else if (v[0] == p->token && v[1] < p->ckpt) {
            ckpt_resync(w, p, v[1],
                        "redis holds an older checkpoint, found "
                        "while the partition was idle");
        }
    }
}

/* p is FENCED by a newer epoch of this generation: takes it again with a
 * new epoch when, for SF_FENCED_RETAKE_S, no other member has reported it
 * live, its checkpoint has not moved and nobody took a newer epoch (see
 * SF_FENCED_RETAKE_S).  Anything it cannot read counts as a live holder.
 * 1 when taken. */
static int fenced_retake(sf_worker_t *w, part_t *p, double now) {
    int64_t v[2];
    if (read_epoch_ckpt(w, p, &v[0], &v[1]))
        return 0;
    if (p->other_seen < p->since) { /* a new fenced episode */
        p->other_seen = p->since;
        p->fenced_ckpt = v[1];
        if (v[0] > p->fenced_by)
            p->fenced_by = v[0];
    }
    if (v[0] > p->fenced_by || v[1] != p->fenced_ckpt) {
        /* a newer owner, or a holder that applies: alive */
        p->fenced_by = v[0] > p->fenced_by ? v[0] : p->fenced_by;
        p->fenced_ckpt = v[1];
        p->other_seen = now;
    }
    char *me = rd_kafka_memberid(w->rk);
    if (other_reports(w, p, me))
        p->other_seen = now;
    if (me)
        rd_kafka_mem_free(w->rk, me);
    if (!sf_redis_ctx(w->redis) || sf_redis_ctx(w->redis)->err)
        p->other_seen = now; /* the report could not be read */
    if (now - p->other_seen < SF_FENCED_RETAKE_S)
        return 0;
    if (v[0] < p->fenced_by) {
        /* Redis lost the INCR of the epoch that fenced us: raise it back
         * first, so that the INCR below hands out a number nobody holds
         * (as epoch_lost() does) */
        char ek[512], err[256];
        redisReply *rep = NULL;
        sf_redis_key(ek, sizeof(ek), w->name, "epoch", p->topic, p->partition);
        if (!sf_redis_cmd(w->redis, &rep, err, sizeof(err),
                          "INCRBY %s %" PRId64, ek, p->fenced_by - v[0]))
            freeReplyObject(rep);
        else
            return 0;
    }
    double waited = now - p->since;
    int got = acquire(w, p, -1, 0, "re-taken from a stale epoch");
    if (got == -2)
        p->since = now; /* Redis down: the clocks start again after it */
    if (got <= 0)
        return 0;
    w->verify_due = 2;
    sf_log("warn",
           "projection=%s topic=%s partition=%" PRId32 " token=%" PRId64
           " msg=\"fenced for %.0f s by epoch %" PRId64 ", which no member "
           "reported holding and under which the checkpoint did not move (a "
           "member that took the partition from an assignment already "
           "revoked?): taken again\"",
           w->name, p->topic, p->partition, p->token, waited, p->fenced_by);
    return 1;
}

/* Outside flushes and rebalances, about once a second: partitions that
 * wait for a rebuild or were fenced are taken again when they may be. */
static void lifecycle_tick(sf_worker_t *w) {
    double now = sf_mono_s();
    if (now - w->last_life_tick < 1.0 && !w->life_due)
        return;
    w->last_life_tick = now;
    w->life_due = 0;
    if (w->redis && sf_redis_ctx(w->redis) && !sf_redis_ctx(w->redis)->err)
        generation_check(w);
    if (w->redis && sf_redis_ctx(w->redis) && !sf_redis_ctx(w->redis)->err)
        lost_writes_check(w);
    for (size_t i = 0; i < w->nparts && !w->fatal && !*w->stop; i++) {
        part_t *p = w->parts[i];
        if (p->state != SF_PART_WAITING && p->state != SF_PART_FENCED)
            continue;
        part_hold(w, p);
        int fenced = p->state == SF_PART_FENCED;
        int got = acquire(w, p, fenced ? p->generation : -1, 0,
                          fenced ? "re-taken after a rebuild"
                                 : "taken after the rebuild");
        if (got > 0) {
            part_restart(w, p);
        } else if (got == -2 && p->state == SF_PART_FENCED) {
            p->since = now; /* Redis down: the 60 s start again after it */
        } else if (got == 0 && p->state == SF_PART_FENCED &&
                   fenced_retake(w, p, now)) {
            part_restart(w, p);
        } else if (got == 0 && p->state == SF_PART_FENCED &&
                   now - p->since > SF_FENCED_MAX_S) {
            M(error, w->name, SF_ERR_FENCED);
            set_fatal(w, SF_ERR_FENCED,
                      "projection %s: %s/%" PRId32 ": fenced for %.0f s by "
                      "another owner of its epoch while the group still "
                      "assigns it to this worker (two deployments under "
                      "one projection name?); stopping so the supervisor "
                      "restarts the worker",
                      w->name, p->topic, p->partition, now - p->since);
        }
    }
}

static void on_revoke(sf_worker_t *w, rd_kafka_topic_partition_list_t *parts) {
    double t0 = sf_mono_s(); /* the partitions stop here (callback_s=) */
    int lost = rd_kafka_assignment_lost(w->rk);
    if (!lost && !w->in_apply)
        flush(w); /* still ours until unassigned: finish the batch */
    if (!lost)    /* the next owner's lag starts right (commits.h) */
        sf_commits_final(w->commits, parts);
    else
        M(assignment_lost, w->name);
    for (int i = 0; i < parts->cnt; i++)
        sf_commits_forget(w->commits, parts->elems[i].topic,
                          parts->elems[i].partition);
    for (int i = 0; i < parts->cnt; i++) {
        part_t *p =
            part_find(w, parts->elems[i].topic, parts->elems[i].partition, 0);
        if (!p)
            continue;
        if (p->batch.nevents)
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " offset=%" PRId64 " msg=\"%s: uncommitted batch of %zu "
                   "events dropped\"",
                   w->name, p->topic, p->partition, p->batch.first_offset,
                   lost ? "partition lost" : "revoked", p->batch.nevents);
        /* Inside a flush (a dead-letter or apply retry polls the consumer)
         * the records are still in use: only mark; settle() frees them
         * once the flush returns. */
        if (!w->in_apply)
            part_clear(w, p);
        sf_part_set_state(p, SF_PART_REVOKED);
        M(partition_revoked, w->name, p->topic, p->partition);
        if (lost)
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32 " token=%" PRId64
                   " msg=\"assignment lost: fenced out of "
                   "the group (a new owner holds the partition and its "
                   "epoch); nothing more is written with this token\"",
                   w->name, p->topic, p->partition, p->token);
        else
            sf_log("info",
                   "projection=%s topic=%s partition=%" PRId32
                   " msg=\"revoked\" callback_s=%.3f",
                   w->name, p->topic, p->partition, sf_mono_s() - t0);
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
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    (void)rk;
    sf_worker_t *w = opaque;
    w->in_rebalance++;
    w->last_rebalance = sf_mono_s();
    sf_commits_rebalance_begin(w->commits,
                               err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS)
        on_assign(w, parts);
    else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
        on_revoke(w, parts);
    else
        sf_log("error", "projection=%s msg=\"rebalance: %s\"", w->name,
               rd_kafka_err2str(err));
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        sf_commits_rebalance_end(w->commits);
        w->joined = 1;
    }
    w->in_rebalance--;
    M(projection_polled, w->name);
}

/* ---- the log under a running worker ---------------------------------- */

/* How often a running worker confirms that each topic it reads is still
 * the log its checkpoints belong to (one DescribeTopics per topic). */
#define SF_VERIFY_S 1.0

static int part_held_state(const part_t *p) {
    return p->state != SF_PART_REVOKED && p->state != SF_PART_STOPPED;
}

/* The topic identity of every topic held (identity.h), outside
 * assignment: a topic deleted and recreated under a running worker keeps
 * its name and, soon, offsets the old checkpoint covers.  thorough (after
 * a Kafka error that put the log in doubt: an offset the broker does not
 * have, an unknown topic or partition) also range-checks each active
 * partition's checkpoint against its watermarks, as acquire() does.
 * 0: confirmed; 1: not confirmed yet (topic missing, or thorough and Kafka
 * or Redis did not answer): the caller holds the partitions and asks
 * again; -1: not the same log, after set_fatal() and a "mismatch" or
 * "ckpt-outside" state report for `status`. */
static int verify_topics(sf_worker_t *w, int thorough) {
    char err[1024];
    int unsure = 0;
    w->last_verify = sf_mono_s();
    for (size_t i = 0; i < w->nparts && !*w->stop; i++) {
        part_t *p = w->parts[i];
        int seen = !part_held_state(p);
        for (size_t j = 0; j < i && !seen; j++)
            seen = part_held_state(w->parts[j]) &&
                   !strcmp(w->parts[j]->topic, p->topic);
        if (seen)
            continue;
        sf_topic_identity_t cur, old;
        int found = 0;
        sf_err_t e =
            sf_identity_describe(w->rk, p->topic, 5000, &cur, err, sizeof(err));
        int gone = e == SF_ERR_NOT_FOUND;
        if (!e)
            e = sf_identity_get(w->redis, w->name, p->topic, &old, &found, err,
                                sizeof(err));
        if (e == SF_ERR_REDIS) {
            /* while held nothing is applied, so no other path reconnects:
             * without this, a Redis restart keeps the log in doubt for good */
            char rerr[256];
            sf_redis_reconnect(w->redis, rerr, sizeof(rerr));
        }
        if (e) {
            if (gone || thorough) {
                unsure = 1;
                if (!w->held || w->last_verify - w->last_verify_log >= 60.0) {
                    w->last_verify_log = w->last_verify;
                    sf_log("warn",
                           "projection=%s topic=%s msg=\"topic "
                           "identity not confirmed, nothing is applied until "
                           "it is (asking again every second): %s\"",
                           w->name, p->topic, err);
                }
            }
            continue;
        }
        if (!found) {
            /* The record is gone while partitions are held: Redis came
             * back older (an AOF cut, a failover) or lost it.  Record the
             * log as it is now, as acquire() does on a projection's first
             * read, so that a later recreation is still caught. */
            if (!sf_identity_record(w->redis, w->name, p->topic, &cur, err,
                                    sizeof(err)))
                sf_log("warn",
                       "projection=%s topic=%s msg=\"topic identity record "
                       "missing in redis (lost writes?): recorded the topic "
                       "as it is now\"",
                       w->name, p->topic);
            continue;
        }
        if (found && sf_identity_compare(w->name, p->topic, &old, &cur, err,
                                         sizeof(err))) {
            M(error, w->name, SF_ERR_STATE);
            set_fatal(w, SF_ERR_STATE, "%s", err);
            for (size_t j = 0; j < w->nparts; j++) {
                part_t *q = w->parts[j];
                if (!part_held_state(q) || strcmp(q->topic, p->topic))
                    continue;
                part_clear(w, q);
                report_state(w, q, "mismatch");
                sf_part_set_state(q, SF_PART_STOPPED);
            }
            return -1;
        }
    }
    for (size_t i = 0; thorough && !unsure && i < w->nparts; i++) {
        part_t *p = w->parts[i];
        int64_t lo = -1, hi = -1;
        if (p->state != SF_PART_ACTIVE || p->ckpt < 0)
            continue;
        if (rd_kafka_query_watermark_offsets(w->rk, p->topic, p->partition, &lo,
                                             &hi, 5000)) {
            unsure = 1;
            continue;
        }
        if (p->ckpt + 1 > hi || p->ckpt + 1 < lo) {
            M(error, w->name, SF_ERR_STATE);
            set_fatal(w, SF_ERR_STATE,
                      "projection %s: %s/%" PRId32 ": checkpoint %" PRId64
                      " is outside the partition's offsets %" PRId64
                      "..%" PRId64 " (topic recreated, history deleted, or "
                      "another cluster's Redis?); rebuild the projection",
                      w->name, p->topic, p->partition, p->ckpt, lo, hi);
            part_clear(w, p);
            report_state(w, p, "ckpt-outside");
            sf_part_set_state(p, SF_PART_STOPPED);
            return -1;
        }
    }
    return unsure || *w->stop; /* stopping: nothing was confirmed */
}

/* Drops every batch not applied yet and holds the active partitions at
 * their checkpoint until verify_step() confirms the log. */
static void hold_all(sf_worker_t *w) {
    for (size_t i = 0; i < w->nparts; i++) {
        part_t *p = w->parts[i];
        if (p->state != SF_PART_ACTIVE)
            continue;
        part_clear(w, p);
        p->next = p->ckpt >= 0 ? p->ckpt + 1 : -1;
        if (!w->in_rebalance)
            part_hold(w, p);
    }
    w->held = 1;
}

/* Outside rebalances: runs verify_topics() when due (a doubt raised by
 * handle(), or SF_VERIFY_S passed), at most once a second while the
 * answer is "not yet".  0 when batches may be applied. */
static int verify_step(sf_worker_t *w) {
    double now = sf_mono_s();
    if (!w->verify_due && now - w->last_verify >= SF_VERIFY_S)
        w->verify_due = 1;
    if (w->verify_due && !w->in_rebalance && !w->fatal &&
        (!w->held || now - w->last_verify >= 1.0)) {
        int thorough = w->verify_due == 2 || w->held;
        int rc = verify_topics(w, thorough);
        if (rc > 0) {
            hold_all(w);
        } else if (rc == 0) {
            w->verify_due = 0;
            if (w->held)
                for (size_t i = 0; i < w->nparts; i++)
                    if (w->parts[i]->state == SF_PART_ACTIVE)
                        part_restart(w, w->parts[i]); /* seek, resume */
            w->held = 0;
        }
    }
    return w->fatal || w->held || w->verify_due == 2;
}

/* ---- consuming ----------------------------------------------------- */

static void handle(sf_worker_t *w, rd_kafka_message_t *m) {
    if (m->err) {
        switch (m->err) {
        case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET: /* auto.offset.reset=error */
        case RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_ID:
        case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
            w->verify_due = 2; /* nothing applied until the log is confirmed */
            break;
        default: break;
        }
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " msg=\"kafka: %s\"",
                   w->name, m->rkt ? rd_kafka_topic_name(m->rkt) : "-",
                   m->partition, rd_kafka_message_errstr(m));
            char fe[256];
            if (rd_kafka_fatal_error(w->rk, fe, sizeof(fe)))
                set_fatal(w, SF_ERR_KAFKA_FATAL, "kafka: %s", fe);
        }
        rd_kafka_message_destroy(m);
        return;
    }
    part_t *p =
        w->paused ? NULL
                  : part_find(w, rd_kafka_topic_name(m->rkt), m->partition, 0);
    if (!p || !sf_part_writable(p) || (p->next >= 0 && m->offset < p->next)) {
        rd_kafka_message_destroy(m);
        return;
    }
    char err[1024];
    if (!p->batch.nevents) {
        p->t0 = sf_mono_s();
        M(partition_pending, w->name, p->topic, p->partition,
          rd_kafka_message_timestamp(m, NULL));
    }
    sf_err_t e = sf_projection_process(w->proj, w->dec, m, &w->ev, &p->batch,
                                       &w->scratch, w->pc->on_error_stop, err,
                                       sizeof(err));
    if (e && w->pc->on_error_stop) {
        M(error, w->name, e);
        set_fatal(w, e,
                  "projection %s: %s/%" PRId32 "/%" PRId64
                  ": %s (on_error: stop; nothing past it is checkpointed)",
                  w->name, p->topic, p->partition, m->offset, err);
        report_halted(w, p, m->offset);
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

/* The operator's pause flag, once a second: pausing flushes the batch in
 * hand and stops applying; then the worker acknowledges the pause
 * generation with its member id, which is what `pause` waits for
 * (control.h).  Records consumed while paused are dropped (handle()). */
static void check_paused(sf_worker_t *w) {
    double now = sf_mono_s();
    if (now - w->last_pause_check < 1.0)
        return;
    w->last_pause_check = now;
    int paused;
    int64_t gen;
    char err[256];
    sf_err_t e =
        sf_ctl_pause_get(w->redis, w->name, &paused, &gen, err, sizeof(err));
    if (e == SF_ERR_REDIS) {
        /* with no events flowing no flush reconnects: without this a
         * Redis restart leaves pause/resume unanswered until one comes */
        char rerr[256];
        sf_redis_reconnect(w->redis, rerr, sizeof(rerr));
    }
    if (e)
        return; /* the next flush reports and retries */
    if (paused && !w->paused) {
        flush(w);
        pause_all(w);
        w->paused = 1;
        M(projection_paused, w->name, 1);
        sf_log("info", "projection=%s msg=\"paused by operator\"", w->name);
    } else if (!paused && w->paused) {
        w->paused = 0;
        M(projection_paused, w->name, 0);
        resume_all(w);
        sf_log("info", "projection=%s msg=\"resumed by operator\"", w->name);
    }
    char *member = rd_kafka_memberid(w->rk);
    if (member && *member && !w->fatal &&
        (gen != w->pause_gen_acked || strcmp(member, w->pause_member))) {
        /* again after a rejoin: the new member id must acknowledge too */
        sf_ctl_pause_ack(w->redis, w->name, member, gen, w->paused);
        w->pause_gen_acked = gen;
        snprintf(w->pause_member, sizeof(w->pause_member), "%s", member);
    }
    if (member)
        rd_kafka_mem_free(w->rk, member);
}

static rd_kafka_resp_err_t subscribe(sf_worker_t *w) {
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new((int)w->pc->ntopics);
    for (size_t i = 0; i < w->pc->ntopics; i++)
        rd_kafka_topic_partition_list_add(topics, w->pc->topics[i],
                                          RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t ke = rd_kafka_subscribe(w->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    return ke;
}

/* The group left a partition without an owner (ownership.h): librdkafka
 * has no KIP-568 enforceRebalance (confluentinc/librdkafka#3446), so this
 * member leaves the group and joins again, which makes the coordinator
 * run a rebalance that assigns every subscribed partition.  The revoke
 * callback flushes and commits what this member holds first. */
static void rejoin(sf_worker_t *w) {
    sf_log("warn",
           "projection=%s group=%s msg=\"rejoining the group so that it "
           "assigns the unowned partitions\"",
           w->name, w->pc->group_id);
    w->joined = 0; /* judge again only once the new join completed */
    rd_kafka_resp_err_t ke = rd_kafka_unsubscribe(w->rk);
    if (!ke)
        ke = subscribe(w);
    if (ke)
        sf_log("error", "projection=%s msg=\"rejoin: %s\"", w->name,
               rd_kafka_err2str(ke));
}

/* How long a stopping worker serves the revoke of its partitions before
 * it closes the consumer anyway. */
#define SF_LEAVE_MAX_S 10.0

/* Leaves the group before rd_kafka_consumer_close(): unsubscribes and
 * polls (which runs the revoke callback: the final commit, then the
 * incremental unassign) until nothing is assigned.  A cooperative
 * rebalance still running when close starts can leave close waiting for
 * an assignment it will never complete (confluentinc/librdkafka#4527,
 * #4884); the fault campaign saw a SIGTERMed worker hang in close for over
 * a minute while another member joined.  With the assignment already
 * given up, close only has the (already sent) LeaveGroup left to do.
 * Records still delivered meanwhile are dropped: the next owner reads
 * them again from the checkpoint. */
static void leave_group(sf_worker_t *w) {
    if (rd_kafka_unsubscribe(w->rk))
        return;
    double end = sf_mono_s() + SF_LEAVE_MAX_S;
    while (sf_mono_s() < end) {
        rd_kafka_topic_partition_list_t *a = NULL;
        int held = 1;
        if (rd_kafka_assignment(w->rk, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a) {
            held = a->cnt > 0;
            rd_kafka_topic_partition_list_destroy(a);
        }
        if (!held && !w->in_rebalance)
            return;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, 100);
        if (m)
            rd_kafka_message_destroy(m);
    }
    sf_log("warn",
           "projection=%s msg=\"partitions still assigned %.0f s after "
           "leaving the group; closing the consumer all the same\"",
           w->name, SF_LEAVE_MAX_S);
}

/* How long rd_kafka_consumer_close() may take before the worker gives up
 * on it. */
#define SF_CLOSE_MAX_S 20.0

/* rd_kafka_consumer_close() with a deadline: the same close, served from
 * a queue of our own (the revoke callback still runs from here), so that a
 * close that never finishes cannot keep a stopping worker from exiting.
 * Given up, the handle is leaked rather than destroyed
 * (sf_worker_destroy), since rd_kafka_destroy() would wait for the same
 * close; the group expires the member after its session timeout. */
static void close_consumer(sf_worker_t *w) {
    rd_kafka_queue_t *q = rd_kafka_queue_new(w->rk);
    rd_kafka_error_t *err = rd_kafka_consumer_close_queue(w->rk, q);
    if (err) {
        sf_log("warn", "projection=%s msg=\"closing the consumer: %s\"",
               w->name, rd_kafka_error_string(err));
        rd_kafka_error_destroy(err);
    } else {
        double end = sf_mono_s() + SF_CLOSE_MAX_S;
        while (!rd_kafka_consumer_closed(w->rk)) {
            if (sf_mono_s() > end) {
                sf_log("warn",
                       "projection=%s msg=\"the consumer did not close within "
                       "%.0f s; leaving without it (the group expires this "
                       "member after its session timeout)\"",
                       w->name, SF_CLOSE_MAX_S);
                w->close_abandoned = 1;
                break;
            }
            /* callbacks, not events: the revoke runs rebalance_cb */
            rd_kafka_queue_poll_callback(q, 100);
        }
    }
    rd_kafka_queue_destroy(q);
}

sf_err_t sf_worker_run(sf_worker_t *w, char *errstr, size_t errstr_size) {
    /* Before joining: an offset reset made while no worker ran is a rebuild
     * request or is refused (offsets.h). */
    M(projection_add, w->name);
    sf_err_t ge = sf_offsets_gate(w->cfg, w->pc, w->cat, w->rk, w->redis, w->m,
                                  w->stop, errstr, errstr_size);
    if (ge || *w->stop)
        return ge;
    rd_kafka_resp_err_t ke = subscribe(w);
    if (ke)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA_FATAL,
                         "projection %s: subscribe: %s", w->name,
                         rd_kafka_err2str(ke));
    sf_log("info", "projection=%s group=%s msg=\"started\"", w->name,
           w->pc->group_id);
    size_t batch_size = (size_t)w->pc->batch_size;
    while (!*w->stop && !w->fatal) {
        M0(heartbeat);
        M(projection_polled, w->name); /* readiness: this loop turns */
        health_tick(w);
        check_paused(w);
        lifecycle_tick(w);
        verify_step(w);
        sf_commits_tick(w->commits);
        /* settled: joined, no rebalance for a while, commits succeed */
        if (sf_owners_tick(w->owners, w->redis,
                           w->joined &&
                               sf_mono_s() - w->last_rebalance >=
                                   SF_OWNERS_QUIET_S &&
                               !sf_commits_failing(w->commits)))
            rejoin(w);
        /* A batch is applied when it is full, when the window (time_ms)
         * since its first event is over, or, once it is idle_ms old, as
         * soon as the consumer has nothing more ready (or had nothing new
         * for idle_ms).  Waiting for a gap of idle_ms alone never ends at
         * moderate rates: at 5,000 events/s a fetch brings a few records
         * every millisecond or so, so every batch waited out the whole
         * window (p50 publish -> visible ~55 ms, tests/bench/run.sh).
         * Under load the queue is rarely empty, so batches still fill up
         * to size or time_ms; while one batch is applied the next one
         * gathers, so they grow with the rate by themselves ("smart
         * batching"). */
        double t_first = sf_mono_s(); /* a batch left pending counts */
        double deadline = t_first + w->pc->batch_ms / 1000.0; /* from now */
        int idle = w->pc->batch_idle_ms;
        while (!*w->stop && !w->fatal && w->pending < batch_size) {
            double now = sf_mono_s();
            int to = 100;
            if (w->pending) {
                double left = deadline - now;
                to = left > 0 ? (int)(left * 1000) : 0;
                if (idle > 0 && now - t_first >= idle / 1000.0)
                    to = 0; /* old enough: only what is ready now */
                else if (idle > 0 && to > idle)
                    to = idle;
            }
            rd_kafka_message_t *m = rd_kafka_consumer_poll(w->rk, to);
            if (!m) {
                if (!w->pending || sf_mono_s() >= deadline ||
                    (idle > 0 && (to == 0 || to == idle)))
                    break;
                continue;
            }
            size_t before = w->pending;
            handle(w, m);
            if (!before && w->pending) {
                t_first = sf_mono_s();
                deadline = t_first + w->pc->batch_ms / 1000.0;
            }
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
    leave_group(w);
    close_consumer(w);
    if (w->fatal)
        return sf_seterr(errstr, errstr_size, w->fatal_err, "%s", w->fatal_msg);
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
    w->cat = cat;
    w->name = pc->name;
    w->m = metrics;
    w->stop = stop;
    sf_err_t e = sf_projection_create(pc, cat, &w->proj, errstr, errstr_size);
    if (e)
        goto err;
    if (!(w->dec = sf_decoder_new(cat))) {
        e = SF_ERR_NOMEM;
        goto err;
    }
    if ((e = sf_dlq_new(cfg, pc, &w->dlq, errstr, errstr_size)))
        goto err;
    char rerr[512];
    e = sf_redis_connect(&pc->redis, &w->redis, rerr, sizeof(rerr));
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
    if (!(w->commits = sf_commits_new(w->rk, w->name, pc->commit_interval_ms,
                                      metrics)) ||
        !(w->owners = sf_owners_new(w->rk, w->name, pc->group_id,
                                    (const char *const *)pc->topics,
                                    pc->ntopics, metrics))) {
        e = SF_ERR_NOMEM;
        goto err;
    }
    *out = w;
    return SF_OK;
err:
    sf_worker_destroy(w);
    return e;
}

void sf_worker_destroy(sf_worker_t *w) {
    if (!w)
        return;
    settle(w);
    for (size_t i = 0; i < w->nparts; i++)
        part_free(w, w->parts[i]);
    free(w->parts);
    sf_owners_destroy(w->owners);
    sf_commits_destroy(w->commits);
    if (w->rk && !w->close_abandoned)
        rd_kafka_destroy(w->rk);
    sf_dlq_destroy(w->dlq);
    sf_redis_destroy(w->redis);
    if (w->dec)
        sf_decoder_destroy(w->dec);
    sf_projection_destroy(w->proj);
    sf_event_clear(&w->ev);
    sf_buf_free(&w->scratch);
    free(w->freq);
    free(w->fpart);
    free(w->fres);
    free(w);
}

uint64_t sf_worker_dedup_count(sf_worker_t *w, int kind) {
    return kind >= 0 && kind < SF_DEDUP__COUNT ? atomic_load(&w->ds.n[kind])
                                               : 0;
}
