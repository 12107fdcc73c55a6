/*
 * metrics.c - the projector's metrics registry and its Prometheus text
 * rendering (exposition format 0.0.4).
 *
 * Design note: a process runs a handful of projections over a few dozen
 * partitions, so the registry is two small arrays searched linearly under
 * one mutex.  That keeps every reporting call a few dozen compares and
 * makes rendering a consistent snapshot without copying.  Series are
 * rendered in a stable order (projections and partitions in the order they
 * were first seen) so scrapes diff cleanly.
 */
#include "metrics.h"

#include "sf_buf.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const double latency_bounds[SF_METRICS_LATENCY_NBUCKETS] =
    SF_METRICS_LATENCY_BUCKETS;

typedef struct part {
    char *topic;
    int32_t partition;
    int64_t checkpoint;    /* -1 unknown */
    int64_t high;          /* -1 unknown */
    int64_t last_ts_ms;    /* <= 0 unknown */
    int64_t pending_ts_ms; /* Kafka time of the oldest unapplied record
                              consumed; <= 0 none */
    int64_t progress_ms;   /* last progress, or when lag appeared */
    int fenced;
} part_t;

typedef struct proj {
    char *name;
    int declared; /* sf_metrics_projection_add: readiness waits */
    int polled;
    int64_t polled_ms; /* last turn of its main loop (0: none yet) */
    uint64_t applied;
    uint64_t batches;
    uint64_t dead;
    uint64_t fenced;
    uint64_t ckpt_mismatch;
    uint64_t kcommits, kcommit_failed, lost; /* commits.c, worker.c */
    uint64_t unowned;       /* gauge: partitions no member owns (ownership.c) */
    int paused;             /* by the operator: no progress expected */
    int64_t dlq_failing_ms; /* dead-lettering failing since; 0 not */
    uint64_t reset_rebuilds; /* offsets.h */
    char refused[512];       /* offsets.h: why it is not started, or "" */
    uint64_t errors[SF_ERR__COUNT];
    uint64_t dedup[4]; /* duplicate, conflict, gap, unversioned (dedup.h) */
    uint64_t lat_buckets[SF_METRICS_LATENCY_NBUCKETS]; /* not cumulative */
    uint64_t lat_count;
    double lat_sum;
    part_t *parts;
    size_t nparts, capparts;
} proj_t;

struct sf_metrics_s {
    pthread_mutex_t lock;
    proj_t *projs;
    size_t nprojs, capprojs;
    int redis_up;
    int draining;
    double live_timeout_s;
    double stuck_after_s;
    int64_t started_ms;
    int64_t heartbeat_ms; /* 0 = none yet */
    int64_t (*now_fn)(void *);
    void *now_opaque;
};

static int64_t real_now_ms(void *opaque) {
    (void)opaque;
    return sf_time_now_ms();
}

static int64_t now_ms(sf_metrics_t *m) {
    return m->now_fn(m->now_opaque);
}

sf_metrics_t *sf_metrics_new(void) {
    sf_metrics_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    m->live_timeout_s = 30.0;
    m->stuck_after_s = 60.0;
    m->now_fn = real_now_ms;
    m->started_ms = now_ms(m);
    return m;
}

void sf_metrics_destroy(sf_metrics_t *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->nprojs; i++) {
        proj_t *p = &m->projs[i];
        for (size_t j = 0; j < p->nparts; j++)
            free(p->parts[j].topic);
        free(p->parts);
        free(p->name);
    }
    free(m->projs);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void sf_metrics_set_clock(sf_metrics_t *m, int64_t (*fn)(void *opaque),
                          void *opaque) {
    pthread_mutex_lock(&m->lock);
    m->now_fn = fn ? fn : real_now_ms;
    m->now_opaque = fn ? opaque : NULL;
    m->started_ms = now_ms(m);
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_set_liveness_timeout(sf_metrics_t *m, double seconds) {
    if (!(seconds > 0))
        return;
    pthread_mutex_lock(&m->lock);
    m->live_timeout_s = seconds;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_set_stuck_after(sf_metrics_t *m, double seconds) {
    if (!(seconds > 0))
        return;
    pthread_mutex_lock(&m->lock);
    m->stuck_after_s = seconds;
    pthread_mutex_unlock(&m->lock);
}

/* ---- lookup (lock held) -------------------------------------------- */

static proj_t *proj_get(sf_metrics_t *m, const char *name) {
    if (!name)
        name = "";
    for (size_t i = 0; i < m->nprojs; i++)
        if (strcmp(m->projs[i].name, name) == 0)
            return &m->projs[i];
    if (m->nprojs == m->capprojs) {
        size_t cap = m->capprojs ? m->capprojs * 2 : 4;
        proj_t *np = realloc(m->projs, cap * sizeof(*np));
        if (!np)
            return NULL;
        m->projs = np;
        m->capprojs = cap;
    }
    proj_t *p = &m->projs[m->nprojs];
    memset(p, 0, sizeof(*p));
    p->name = strdup(name);
    if (!p->name)
        return NULL;
    m->nprojs++;
    return p;
}

static part_t *part_find(proj_t *p, const char *topic, int32_t partition,
                         size_t *idx) {
    for (size_t i = 0; i < p->nparts; i++)
        if (p->parts[i].partition == partition &&
            strcmp(p->parts[i].topic, topic) == 0) {
            if (idx)
                *idx = i;
            return &p->parts[i];
        }
    return NULL;
}

static part_t *part_get(sf_metrics_t *m, const char *projection,
                        const char *topic, int32_t partition) {
    proj_t *p = proj_get(m, projection);
    if (!p)
        return NULL;
    if (!topic)
        topic = "";
    part_t *pt = part_find(p, topic, partition, NULL);
    if (pt)
        return pt;
    if (p->nparts == p->capparts) {
        size_t cap = p->capparts ? p->capparts * 2 : 8;
        part_t *np = realloc(p->parts, cap * sizeof(*np));
        if (!np)
            return NULL;
        p->parts = np;
        p->capparts = cap;
    }
    pt = &p->parts[p->nparts];
    pt->topic = strdup(topic);
    if (!pt->topic)
        return NULL;
    pt->partition = partition;
    pt->checkpoint = -1;
    pt->high = -1;
    pt->last_ts_ms = 0;
    pt->pending_ts_ms = 0;
    pt->progress_ms = now_ms(m);
    pt->fenced = 0;
    p->nparts++;
    return pt;
}

/* ---- reporting ------------------------------------------------------ */

void sf_metrics_projection_add(sf_metrics_t *m, const char *projection) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p)
        p->declared = 1;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_projection_polled(sf_metrics_t *m, const char *projection) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p) {
        p->polled = 1;
        p->polled_ms = now_ms(m);
    }
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_events_applied(sf_metrics_t *m, const char *projection,
                               uint64_t n) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p)
        p->applied += n;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_batch_committed(sf_metrics_t *m, const char *projection,
                                double seconds) {
    if (!(seconds >= 0) || isinf(seconds))
        seconds = 0; /* NaN / negative from a clock step: count, don't skew */
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p) {
        p->batches++;
        p->lat_count++;
        p->lat_sum += seconds;
        for (int i = 0; i < SF_METRICS_LATENCY_NBUCKETS; i++)
            if (seconds <= latency_bounds[i]) {
                p->lat_buckets[i]++;
                break;
            }
        /* above the last bound: only in +Inf, i.e. lat_count */
    }
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_error(sf_metrics_t *m, const char *projection, sf_err_t kind) {
    /* out-of-range codes and SF_OK land in the SF_OK slot, rendered as
     * kind="other" */
    if ((int)kind < 0 || kind >= SF_ERR__COUNT)
        kind = SF_OK;
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p)
        p->errors[kind]++;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_dead_lettered(sf_metrics_t *m, const char *projection,
                              uint64_t n) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p)
        p->dead += n;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_dedup(sf_metrics_t *m, const char *projection, int kind,
                      uint64_t n) {
    if (kind < 0 || kind >= 4)
        return;
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p)
        p->dedup[kind] += n;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_fenced(sf_metrics_t *m, const char *projection) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p)
        p->fenced++;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_checkpoint_mismatch(sf_metrics_t *m, const char *projection) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p)
        p->ckpt_mismatch++;
    pthread_mutex_unlock(&m->lock);
}

/* ---- group health (issue 14: commits, lost assignments, owners) ---- */

void sf_metrics_offset_commit(sf_metrics_t *m, const char *projection, int ok) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p) {
        if (ok)
            p->kcommits++;
        else
            p->kcommit_failed++;
    }
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_assignment_lost(sf_metrics_t *m, const char *projection) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p)
        p->lost++;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_partitions_unowned(sf_metrics_t *m, const char *projection,
                                   uint64_t n) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p)
        p->unowned = n;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_partition_assigned(sf_metrics_t *m, const char *projection,
                                   const char *topic, int32_t partition) {
    pthread_mutex_lock(&m->lock);
    (void)part_get(m, projection, topic, partition);
    proj_t *p = proj_get(m, projection);
    if (p)
        p->polled = 1;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_partition_revoked(sf_metrics_t *m, const char *projection,
                                  const char *topic, int32_t partition) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    size_t i;
    if (p && topic && part_find(p, topic, partition, &i)) {
        free(p->parts[i].topic);
        memmove(&p->parts[i], &p->parts[i + 1],
                (p->nparts - i - 1) * sizeof(part_t));
        p->nparts--;
    }
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_partition_checkpoint(sf_metrics_t *m, const char *projection,
                                     const char *topic, int32_t partition,
                                     int64_t checkpoint, int64_t event_ts_ms) {
    pthread_mutex_lock(&m->lock);
    part_t *pt = part_get(m, projection, topic, partition);
    if (pt) {
        if (checkpoint != pt->checkpoint) {
            pt->progress_ms = now_ms(m);
            pt->pending_ts_ms = 0; /* what was pending is applied */
        }
        pt->checkpoint = checkpoint;
        if (event_ts_ms > 0)
            pt->last_ts_ms = event_ts_ms;
    }
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_partition_watermark(sf_metrics_t *m, const char *projection,
                                    const char *topic, int32_t partition,
                                    int64_t high) {
    pthread_mutex_lock(&m->lock);
    part_t *pt = part_get(m, projection, topic, partition);
    if (pt) {
        /* the stuck clock starts when lag appears, not at the last
         * progress of a partition that was idle and caught up */
        if (pt->checkpoint >= 0 &&
            (pt->high < 0 || pt->high <= pt->checkpoint) &&
            high > pt->checkpoint)
            pt->progress_ms = now_ms(m);
        pt->high = high;
    }
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_partition_pending(sf_metrics_t *m, const char *projection,
                                  const char *topic, int32_t partition,
                                  int64_t event_ts_ms) {
    pthread_mutex_lock(&m->lock);
    part_t *pt = part_get(m, projection, topic, partition);
    if (pt && pt->pending_ts_ms <= 0 && event_ts_ms > 0)
        pt->pending_ts_ms = event_ts_ms;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_partition_fenced(sf_metrics_t *m, const char *projection,
                                 const char *topic, int32_t partition,
                                 int fenced) {
    pthread_mutex_lock(&m->lock);
    part_t *pt = part_get(m, projection, topic, partition);
    if (pt)
        pt->fenced = fenced != 0;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_projection_paused(sf_metrics_t *m, const char *projection,
                                  int paused) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p) {
        if (p->paused && !paused) /* the stuck clocks restart */
            for (size_t i = 0; i < p->nparts; i++)
                p->parts[i].progress_ms = now_ms(m);
        p->paused = paused != 0;
    }
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_dlq_failing(sf_metrics_t *m, const char *projection,
                            int failing) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p) {
        if (!failing)
            p->dlq_failing_ms = 0;
        else if (!p->dlq_failing_ms)
            p->dlq_failing_ms = now_ms(m);
    }
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_offsets_refused(sf_metrics_t *m, const char *projection,
                                const char *why) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p)
        snprintf(p->refused, sizeof(p->refused), "%s", why ? why : "");
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_offset_reset_rebuild(sf_metrics_t *m, const char *projection) {
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    if (p)
        p->reset_rebuilds++;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_heartbeat(sf_metrics_t *m) {
    pthread_mutex_lock(&m->lock);
    m->heartbeat_ms = now_ms(m);
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_redis_up(sf_metrics_t *m, int up) {
    pthread_mutex_lock(&m->lock);
    m->redis_up = up != 0;
    pthread_mutex_unlock(&m->lock);
}

void sf_metrics_set_draining(sf_metrics_t *m, int draining) {
    pthread_mutex_lock(&m->lock);
    m->draining = draining != 0;
    pthread_mutex_unlock(&m->lock);
}

/* ---- health --------------------------------------------------------- */

static int is_live_locked(sf_metrics_t *m) {
    int64_t ref = m->heartbeat_ms ? m->heartbeat_ms : m->started_ms;
    double age = (double)(now_ms(m) - ref) / 1000.0;
    return age <= m->live_timeout_s;
}

int sf_metrics_is_live(sf_metrics_t *m) {
    pthread_mutex_lock(&m->lock);
    int live = is_live_locked(m);
    pthread_mutex_unlock(&m->lock);
    return live;
}

static int64_t part_lag(const part_t *pt) {
    if (pt->high < 0 || pt->checkpoint < 0)
        return -1;
    return pt->high > pt->checkpoint ? pt->high - pt->checkpoint : 0;
}

/* Lag and no progress for stuck_after, not paused (lock held). */
static int part_stuck(sf_metrics_t *m, const proj_t *p, const part_t *pt) {
    return !p->paused && part_lag(pt) > 0 &&
           (double)(now_ms(m) - pt->progress_ms) / 1000.0 > m->stuck_after_s;
}

/* The partition's state, lock held (see sf_metrics_partition_state): the
 * most specific reason first. */
static const char *part_state_locked(sf_metrics_t *m, const proj_t *p,
                                     const part_t *pt) {
    if (pt->fenced)
        return "fenced";
    if (p->paused)
        return "paused";
    if (p->dlq_failing_ms)
        return "dlq-failing";
    if (part_stuck(m, p, pt))
        return "stuck";
    return "ok";
}

const char *sf_metrics_partition_state(sf_metrics_t *m, const char *projection,
                                       const char *topic, int32_t partition) {
    const char *st = "ok";
    pthread_mutex_lock(&m->lock);
    proj_t *p = proj_get(m, projection);
    part_t *pt = p && topic ? part_find(p, topic, partition, NULL) : NULL;
    if (pt)
        st = part_state_locked(m, p, pt);
    pthread_mutex_unlock(&m->lock);
    return st;
}

/* Appends "; "-separated reasons to why (truncated safely). */
__attribute__((format(printf, 3, 4))) static void
why_add(char *why, size_t why_size, const char *fmt, ...) {
    if (!why || !why_size)
        return;
    size_t n = strlen(why);
    if (n && n + 2 < why_size) {
        memcpy(why + n, "; ", 3);
        n += 2;
    }
    if (n + 1 >= why_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why + n, why_size - n, fmt, ap);
    va_end(ap);
}

/* Not ready while a partition cannot move: fenced, stuck with lag past
 * stuck_after, or a projection whose dead letters cannot be written. */
static int health_ok_locked(sf_metrics_t *m, char *why, size_t why_size) {
    int ok = 1;
    int64_t now = now_ms(m);
    if (why && why_size)
        why[0] = '\0';
    for (size_t i = 0; i < m->nprojs; i++) {
        const proj_t *p = &m->projs[i];
        if (p->refused[0]) {
            ok = 0;
            why_add(why, why_size, "%s", p->refused);
        }
        if (p->dlq_failing_ms) {
            char t[SF_TIME_BUFSIZE];
            ok = 0;
            why_add(why, why_size,
                    "projection %s: dead-lettering failing since %s (%.0f s)",
                    p->name,
                    sf_time_format(p->dlq_failing_ms, t, sizeof t) ? t : "?",
                    (double)(now - p->dlq_failing_ms) / 1000.0);
        }
        /* A main loop that has not turned for stuck_after is blocked in a
         * call (a Redis that hangs, a Kafka call that does not return):
         * its lag figures are stale too, so say so here. */
        if (p->polled_ms && !p->paused &&
            (double)(now - p->polled_ms) / 1000.0 > m->stuck_after_s) {
            ok = 0;
            why_add(why, why_size,
                    "projection %s: its loop has not turned for %.0f s (a "
                    "Redis or Kafka call is hanging; stuck_after %.0f s)",
                    p->name, (double)(now - p->polled_ms) / 1000.0,
                    m->stuck_after_s);
        }
        for (size_t j = 0; j < p->nparts; j++) {
            const part_t *pt = &p->parts[j];
            const char *st = part_state_locked(m, p, pt);
            if (strcmp(st, "fenced") && part_stuck(m, p, pt))
                st = "stuck"; /* listed even when the cause is known */
            if (!strcmp(st, "fenced")) {
                ok = 0;
                why_add(why, why_size,
                        "projection %s: %s/%d fenced (another worker or a "
                        "rebuild took its epoch)",
                        p->name, pt->topic, (int)pt->partition);
            } else if (!strcmp(st, "stuck")) {
                ok = 0;
                why_add(why, why_size,
                        "projection %s: %s/%d stuck: no progress for %.0f s "
                        "with %lld event(s) of lag (stuck_after %.0f s)",
                        p->name, pt->topic, (int)pt->partition,
                        (double)(now - pt->progress_ms) / 1000.0,
                        (long long)part_lag(pt), m->stuck_after_s);
            }
        }
    }
    return ok;
}

static int is_ready_locked(sf_metrics_t *m, char *why, size_t why_size) {
    if (!health_ok_locked(m, why, why_size))
        return 0;
    if (m->draining) {
        sf_seterr(why, why_size, SF_ERR_STATE, "draining");
        return 0;
    }
    if (!m->redis_up) {
        sf_seterr(why, why_size, SF_ERR_REDIS, "redis down");
        return 0;
    }
    size_t declared = 0;
    for (size_t i = 0; i < m->nprojs; i++) {
        if (!m->projs[i].declared)
            continue;
        declared++;
        if (!m->projs[i].polled) {
            sf_seterr(why, why_size, SF_ERR_STATE,
                      "projection %s not polled yet", m->projs[i].name);
            return 0;
        }
    }
    if (declared == 0) {
        sf_seterr(why, why_size, SF_ERR_STATE, "no projection declared");
        return 0;
    }
    return 1;
}

int sf_metrics_is_ready(sf_metrics_t *m, char *why, size_t why_size) {
    pthread_mutex_lock(&m->lock);
    int ready = is_ready_locked(m, why, why_size);
    pthread_mutex_unlock(&m->lock);
    return ready;
}

uint64_t sf_metrics_events_applied_get(sf_metrics_t *m,
                                       const char *projection) {
    uint64_t v = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nprojs; i++)
        if (strcmp(m->projs[i].name, projection) == 0)
            v = m->projs[i].applied;
    pthread_mutex_unlock(&m->lock);
    return v;
}

uint64_t sf_metrics_fenced_get(sf_metrics_t *m, const char *projection) {
    uint64_t v = 0;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->nprojs; i++)
        if (strcmp(m->projs[i].name, projection) == 0)
            v = m->projs[i].fenced;
    pthread_mutex_unlock(&m->lock);
    return v;
}

/* ---- rendering ------------------------------------------------------ */

size_t sf_metrics_escape_label(char *dst, size_t dst_size, const char *src) {
    size_t n = 0;
    for (const char *s = src ? src : ""; *s; s++) {
        char esc[2];
        size_t k;
        if (*s == '\\') {
            esc[0] = '\\';
            esc[1] = '\\';
            k = 2;
        } else if (*s == '"') {
            esc[0] = '\\';
            esc[1] = '"';
            k = 2;
        } else if (*s == '\n') {
            esc[0] = '\\';
            esc[1] = 'n';
            k = 2;
        } else {
            esc[0] = *s;
            k = 1;
        }
        for (size_t j = 0; j < k; j++, n++)
            if (dst && n + 1 < dst_size)
                dst[n] = esc[j];
    }
    if (dst && dst_size > 0)
        dst[n < dst_size ? n : dst_size - 1] = '\0';
    return n;
}

/* The output buffer is the core one (sf_buf.h); on allocation failure its
 * oom flag sticks and the render returns SF_ERR_NOMEM. */
typedef sf_buf_t buf_t;
#define buf_reserve(b, extra) ((void)sf_buf_reserve((b), (extra)))
#define buf_printf(b, ...)    ((void)sf_buf_printf((b), __VA_ARGS__))

static void buf_label(buf_t *b, const char *value) {
    size_t n = sf_metrics_escape_label(NULL, 0, value);
    buf_reserve(b, n);
    if (b->oom)
        return;
    sf_metrics_escape_label(b->p + b->len, b->cap - b->len, value);
    b->len += n;
}

static void header(buf_t *b, const char *name, const char *type,
                   const char *help) {
    buf_printf(b, "# HELP streamfold_%s %s\n# TYPE streamfold_%s %s\n", name,
               help, name, type);
}

/* Prometheus float text: integers without exponent, +Inf spelled out. */
static void buf_double(buf_t *b, double v) {
    if (isinf(v))
        buf_printf(b, v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        buf_printf(b, "NaN");
    else {
        /* shortest text that reads back as the same double ("0.1", not
         * "0.10000000000000001") */
        char tmp[40];
        for (int prec = 6; prec <= 17; prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        buf_printf(b, "%s", tmp);
    }
}

static void proj_counter(buf_t *b, sf_metrics_t *m, const char *name,
                         const char *help, size_t field_off) {
    header(b, name, "counter", help);
    for (size_t i = 0; i < m->nprojs; i++) {
        const proj_t *p = &m->projs[i];
        uint64_t v = *(const uint64_t *)((const char *)p + field_off);
        buf_printf(b, "streamfold_%s{projection=\"", name);
        buf_label(b, p->name);
        buf_printf(b, "\"} %llu\n", (unsigned long long)v);
    }
}

static void part_labels(buf_t *b, const char *name, const proj_t *p,
                        const part_t *pt) {
    buf_printf(b, "streamfold_%s{projection=\"", name);
    buf_label(b, p->name);
    buf_printf(b, "\",topic=\"");
    buf_label(b, pt->topic);
    buf_printf(b, "\",partition=\"%d\"} ", (int)pt->partition);
}

static void error_kind(char *dst, size_t n, sf_err_t e) {
    const char *s = sf_err_name(e);
    if (strncmp(s, "SF_ERR_", 7) == 0)
        s += 7;
    else if (strcmp(s, "SF_OK") == 0)
        s = "other";
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        dst[i] = (char)tolower((unsigned char)s[i]);
    dst[i] = '\0';
}

sf_err_t sf_metrics_render(sf_metrics_t *m, char **out, size_t *out_len,
                           char *errstr, size_t errstr_size) {
    if (!m || !out)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "metrics render: NULL argument");
    buf_t b = {0};
    pthread_mutex_lock(&m->lock);
    int64_t now = now_ms(m);

    proj_counter(&b, m, "events_applied_total", "Events applied to the view.",
                 offsetof(proj_t, applied));
    proj_counter(
        &b, m, "batches_committed_total",
        "Batches committed atomically to Redis with their checkpoints.",
        offsetof(proj_t, batches));
    proj_counter(&b, m, "offset_reset_rebuilds_total",
                 "Rebuilds run because the group's offsets were reset to "
                 "the earliest outside sf-projector.",
                 offsetof(proj_t, reset_rebuilds));
    header(&b, "offsets_refused", "gauge",
           "1 while an external offset reset keeps the projection from "
           "starting.");
    for (size_t i = 0; i < m->nprojs; i++) {
        buf_printf(&b, "streamfold_offsets_refused{projection=\"");
        buf_label(&b, m->projs[i].name);
        buf_printf(&b, "\"} %d\n", m->projs[i].refused[0] ? 1 : 0);
    }
    proj_counter(&b, m, "dead_lettered_total",
                 "Events sent to the dead-letter topic.",
                 offsetof(proj_t, dead));
    proj_counter(&b, m, "fenced_batches_total",
                 "Batches refused because this worker was fenced.",
                 offsetof(proj_t, fenced));
    proj_counter(&b, m, "checkpoint_mismatch_total",
                 "Batches refused because Redis held another checkpoint "
                 "than the worker expected (lost writes, a skip); the "
                 "worker resumed from Redis' checkpoint.",
                 offsetof(proj_t, ckpt_mismatch));
    proj_counter(&b, m, "offset_commits_total",
                 "Offset commits to the consumer group that succeeded (one "
                 "per commit interval at most, plus one per revoke).",
                 offsetof(proj_t, kcommits));
    proj_counter(&b, m, "offset_commit_failures_total",
                 "Offset commits that failed (harmless: Redis holds the "
                 "checkpoints; retried at the next interval).",
                 offsetof(proj_t, kcommit_failed));
    proj_counter(&b, m, "assignments_lost_total",
                 "Times the consumer lost its assignment (fenced out of the "
                 "group: session or poll timeout).",
                 offsetof(proj_t, lost));
    header(&b, "partitions_unowned", "gauge",
           "Partitions of the projection's topics with lag that no group "
           "member owned for longer than the grace period, as last seen.");
    for (size_t i = 0; i < m->nprojs; i++) {
        buf_printf(&b, "streamfold_partitions_unowned{projection=\"");
        buf_label(&b, m->projs[i].name);
        buf_printf(&b, "\"} %llu\n", (unsigned long long)m->projs[i].unowned);
    }

    header(&b, "errors_total", "counter", "Errors by kind.");
    for (size_t i = 0; i < m->nprojs; i++) {
        const proj_t *p = &m->projs[i];
        for (int e = 0; e < SF_ERR__COUNT; e++) {
            if (!p->errors[e])
                continue;
            char kind[64];
            error_kind(kind, sizeof kind, (sf_err_t)e);
            buf_printf(&b, "streamfold_errors_total{projection=\"");
            buf_label(&b, p->name);
            buf_printf(&b, "\",kind=\"%s\"} %llu\n", kind,
                       (unsigned long long)p->errors[e]);
        }
    }

    header(&b, "dedup_events_total", "counter",
           "Events met by the duplicate rule, by kind: duplicate (not "
           "applied), conflict (a duplicate with another ce_id), gap "
           "(applied), unversioned (applied per offset).");
    for (size_t i = 0; i < m->nprojs; i++) {
        static const char *kinds[4] = {"duplicate", "conflict", "gap",
                                       "unversioned"};
        const proj_t *p = &m->projs[i];
        for (int k = 0; k < 4; k++) {
            buf_printf(&b, "streamfold_dedup_events_total{projection=\"");
            buf_label(&b, p->name);
            buf_printf(&b, "\",kind=\"%s\"} %llu\n", kinds[k],
                       (unsigned long long)p->dedup[k]);
        }
    }

    header(&b, "batch_latency_seconds", "histogram",
           "Time from first event consumed to Redis commit, per batch.");
    for (size_t i = 0; i < m->nprojs; i++) {
        const proj_t *p = &m->projs[i];
        uint64_t cum = 0;
        for (int k = 0; k <= SF_METRICS_LATENCY_NBUCKETS; k++) {
            double le;
            if (k < SF_METRICS_LATENCY_NBUCKETS) {
                cum += p->lat_buckets[k];
                le = latency_bounds[k];
            } else {
                cum = p->lat_count;
                le = INFINITY;
            }
            buf_printf(&b,
                       "streamfold_batch_latency_seconds_bucket{projection=\"");
            buf_label(&b, p->name);
            buf_printf(&b, "\",le=\"");
            buf_double(&b, le);
            buf_printf(&b, "\"} %llu\n", (unsigned long long)cum);
        }
        buf_printf(&b, "streamfold_batch_latency_seconds_sum{projection=\"");
        buf_label(&b, p->name);
        buf_printf(&b, "\"} ");
        buf_double(&b, p->lat_sum);
        buf_printf(&b,
                   "\nstreamfold_batch_latency_seconds_count{projection=\"");
        buf_label(&b, p->name);
        buf_printf(&b, "\"} %llu\n", (unsigned long long)p->lat_count);
    }

    header(&b, "partition_assigned", "gauge",
           "1 for each partition this worker holds.");
    for (size_t i = 0; i < m->nprojs; i++)
        for (size_t j = 0; j < m->projs[i].nparts; j++) {
            part_labels(&b, "partition_assigned", &m->projs[i],
                        &m->projs[i].parts[j]);
            buf_printf(&b, "1\n");
        }
    header(&b, "checkpoint_offset", "gauge",
           "Next offset to read, as committed to Redis.");
    for (size_t i = 0; i < m->nprojs; i++)
        for (size_t j = 0; j < m->projs[i].nparts; j++) {
            const part_t *pt = &m->projs[i].parts[j];
            if (pt->checkpoint < 0)
                continue;
            part_labels(&b, "checkpoint_offset", &m->projs[i], pt);
            buf_printf(&b, "%lld\n", (long long)pt->checkpoint);
        }
    header(&b, "high_watermark", "gauge", "End offset of the partition.");
    for (size_t i = 0; i < m->nprojs; i++)
        for (size_t j = 0; j < m->projs[i].nparts; j++) {
            const part_t *pt = &m->projs[i].parts[j];
            if (pt->high < 0)
                continue;
            part_labels(&b, "high_watermark", &m->projs[i], pt);
            buf_printf(&b, "%lld\n", (long long)pt->high);
        }
    header(&b, "lag_events", "gauge",
           "High watermark minus checkpoint (events not yet applied).");
    for (size_t i = 0; i < m->nprojs; i++)
        for (size_t j = 0; j < m->projs[i].nparts; j++) {
            const part_t *pt = &m->projs[i].parts[j];
            int64_t lag = part_lag(pt);
            if (lag < 0)
                continue;
            part_labels(&b, "lag_events", &m->projs[i], pt);
            buf_printf(&b, "%lld\n", (long long)lag);
        }
    header(&b, "lag_seconds", "gauge",
           "Age of the oldest event not applied yet; 0 when caught up.");
    for (size_t i = 0; i < m->nprojs; i++)
        for (size_t j = 0; j < m->projs[i].nparts; j++) {
            const part_t *pt = &m->projs[i].parts[j];
            int64_t lev = part_lag(pt);
            if (lev < 0)
                continue;
            /* age of the oldest unapplied event: the pending record's
             * time when one was consumed, else the last applied one's,
             * else (nothing applied yet) the time lag was first seen */
            int64_t ref = pt->pending_ts_ms > 0 ? pt->pending_ts_ms
                          : pt->last_ts_ms > 0  ? pt->last_ts_ms
                                                : pt->progress_ms;
            double lag = (double)(now - ref) / 1000.0;
            if (lag < 0 || lev == 0)
                lag = 0;
            part_labels(&b, "lag_seconds", &m->projs[i], pt);
            buf_double(&b, lag);
            buf_printf(&b, "\n");
        }

    header(&b, "projection_ready", "gauge",
           "1 once the projection's consumer has been polled or assigned.");
    for (size_t i = 0; i < m->nprojs; i++) {
        buf_printf(&b, "streamfold_projection_ready{projection=\"");
        buf_label(&b, m->projs[i].name);
        buf_printf(&b, "\"} %d\n", m->projs[i].polled);
    }
    header(&b, "redis_up", "gauge", "1 when Redis was reachable last time.");
    buf_printf(&b, "streamfold_redis_up %d\n", m->redis_up);
    header(&b, "last_heartbeat_age_seconds", "gauge",
           "Seconds since the main loop's last heartbeat.");
    {
        int64_t ref = m->heartbeat_ms ? m->heartbeat_ms : m->started_ms;
        double age = (double)(now - ref) / 1000.0;
        buf_printf(&b, "streamfold_last_heartbeat_age_seconds ");
        buf_double(&b, age < 0 ? 0 : age);
        buf_printf(&b, "\n");
    }
    pthread_mutex_unlock(&m->lock);

    header(&b, "up", "gauge", "1 while the projector process runs.");
    buf_printf(&b, "streamfold_up 1\n");

    if (b.oom) {
        free(b.p);
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                         "metrics render: out of memory");
    }
    *out = b.p;
    if (out_len)
        *out_len = b.len;
    return SF_OK;
}
