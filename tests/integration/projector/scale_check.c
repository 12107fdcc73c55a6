/*
 * scale_check.c - helper of the three-broker scale-out / broker-failure
 * tests (scale_cluster.sh): publishes the deterministic cart history of
 * e2e_gen.h while brokers fail, and checks the views against what the
 * event log REALLY holds (not against what was meant to be published).
 *
 *   scale_check publish --seed S --events N --prefix P -t TOPIC -b BROKERS
 *                       [--schemas DIR] [--from I] [--to J] [--rate R]
 *                       [--create PARTITIONS] [--rf 3] [--timeout-ms MS]
 *                       [--mode plain|retry|txn]
 *     Publishes events [from, to).  Delivery reports are counted by
 *     persistence status (persisted / possibly / not persisted).  --mode
 *     says what a failed one leads to (see "How the publisher treats a
 *     failed delivery" below): nothing (plain, the default), a retry with
 *     the same ce_id and ce_sequence (retry), or the transaction published
 *     again (txn).  The log is the truth the check reads back.  Exit 0
 *     unless the producer could not be created, the topic not made, or
 *     an event given up after 30 attempts.
 *
 *   scale_check check --seed S --events N --prefix P -t TOPIC -b BROKERS
 *                     [--redis HOST:PORT] [--wait SECONDS] [--report N]
 *     Reads the topic from offset 0 to its end, maps every record to the
 *     generated event it carries (ce_subject = cart id, ce_sequence = the
 *     cart's version; the generator makes (seed, events, prefix) ->
 *     exactly one payload per pair), folds the records IN LOG ORDER,
 *     duplicates included, with the example projections' reference fold
 *     (e2e_fold.h), and compares that with Redis (retrying up to --wait).
 *     The read is read_committed: records of aborted transactions are not
 *     part of the log it folds.  --dedup-sequence: the fold drops what the
 *     projector's version rule drops (docs/duplicates.md).
 *     Also reports duplicate events in the log (same ce_id; split into
 *     copies the producer wrote twice by itself and copies a retry of the
 *     publisher wrote, by the scale-attempt header) and duplicate
 *     (aggregate, version) pairs.  --projection NAME: also reads that
 *     projection's duplicate count from Redis, which must equal the
 *     number of records the fold's version rule drops.  Exit 0: views
 *     equal, counts agree and no duplicate ce_id (--log-dups-ok: duplicates
 *     allowed in the log, the views must still equal the fold); 1:
 *     otherwise (or the log could not be read).
 *
 *   scale_check squat -t TOPIC -b BROKERS --prefix GROUP [--wait SECONDS]
 *     Joins the consumer group GROUP (cooperative-sticky), keeps what it
 *     is assigned paused and never commits, until SIGTERM or --wait: a
 *     member that owns partitions no worker holds (scale_unowned.sh).
 *
 * Which records a view must contain is decided in ONE place, fold_accept():
 * with --dedup-sequence (what scale_cluster.sh passes: the projector's
 * duplicate rule is on by default) a record whose ce_sequence is not above
 * its aggregate's last one is dropped; without it every record counts, as
 * for a projection with "dedup: off".
 */
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "e2e_fold.h"
#include "e2e_gen.h"
#include "e2e_model.h"
#include "sf_producer.h"

#ifndef SF_CHECK_DEDUP_BY_SEQUENCE
#define SF_CHECK_DEDUP_BY_SEQUENCE 0
#endif

typedef struct opts {
    uint64_t seed;
    size_t events;
    const char *prefix, *topic, *brokers, *schemas, *redis, *projection;
    size_t from, to;
    int to_given;
    double rate, wait;
    int create, rf, timeout_ms, report, dedup, mode, dups_ok;
} opts_t;

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- publish --------------------------------------------------------- */

/* How the publisher treats a failed delivery (--mode):
 *   plain  a fresh random ce_id per publish, no retries (what a service
 *          that ignores failed reports does);
 *   retry  an idempotent (not transactional) service that retries: every
 *          event has a fixed ce_id (prefix and index) and its ce_sequence,
 *          and an event whose report failed is published again, same id
 *          and version, with the attempt counted in the SCALE_ATTEMPT
 *          header, so the check can tell a copy the producer wrote twice
 *          by itself (same attempt) from one the service's retry wrote
 *          (another attempt);
 *   txn    the transactional path: the events due are published in one
 *          transaction (begin, publish, commit); a transaction that did
 *          not commit is aborted and published again, same ids; a commit
 *          or abort that timed out is resumed until it has an outcome. */
enum { PUB_PLAIN, PUB_RETRY, PUB_TXN };
#define SCALE_ATTEMPT  "scale-attempt"
#define MAX_ATTEMPTS   30 /* per event (retry) or per transaction (txn) */
#define MAX_TXN_EVENTS 500

static long long n_ok, n_possibly, n_not, n_retried, n_txn, n_aborted,
    n_recreated, n_gave_up;
static unsigned char *g_attempts; /* publishes of each event so far */
static size_t *g_rq;              /* retry ring: indices whose report failed */
static size_t g_rq_cap, g_rq_head, g_rq_len;
static int g_mode;

static void on_dr(sf_producer_t *p, const sf_producer_dr_t *dr, void *opaque) {
    (void)p;
    (void)opaque;
    sf_producer_persisted_t st = sf_producer_dr_persisted(dr);
    if (sf_producer_dr_err(dr) == SF_OK)
        n_ok++;
    else if (st == SF_PRODUCER_POSSIBLY_PERSISTED)
        n_possibly++;
    else
        n_not++;
    uintptr_t tag = (uintptr_t)sf_producer_dr_opaque(dr);
    if (g_mode != PUB_RETRY || sf_producer_dr_err(dr) == SF_OK || !tag)
        return;
    size_t i = (size_t)(tag - 1);
    if (g_attempts[i] >= MAX_ATTEMPTS) {
        n_gave_up++;
        return;
    }
    g_rq[(g_rq_head + g_rq_len++) % g_rq_cap] = i; /* at most once queued */
}

/* Fills ev with generated event i (id and attempt header unless plain). */
static int build_event(const opts_t *o, const gen_t *g, size_t i,
                       sf_producer_event_t *ev) {
    const gev_t *e = &g->ev[i];
    char json[1024], id[128], buf[32];
    sf_producer_event_clear(ev);
    gen_cart_id(g, e->cart, id, sizeof id);
    size_t n = gen_json(g, i, json, sizeof json);
    if (sf_producer_event_set_type(ev, gen_type_name(e->type)) ||
        sf_producer_event_set_aggregate_id(ev, id) ||
        sf_producer_event_set_version(ev, e->seq) ||
        sf_producer_event_set_time_ms(ev, e->ts) ||
        sf_producer_event_set_schema_version(ev, e->type == GEV_ADDED ? e->ver
                                                                      : 0) ||
        sf_producer_event_set_json_text(ev, json, n))
        return -1;
    if (g_mode == PUB_PLAIN)
        return 0;
    snprintf(id, sizeof id, "%s-ev-%zu", o->prefix, i);
    snprintf(buf, sizeof buf, "%u", (unsigned)++g_attempts[i]);
    if (sf_producer_event_set_id(ev, id) ||
        sf_producer_event_set_header(ev, SCALE_ATTEMPT, buf, -1))
        return -1;
    return 0;
}

/* Publishes event i; a full queue while brokers are away: wait for room.
 * 0, or -1 after stop_after_s seconds of refusals (< 0: never) or on a
 * fatal producer error. */
static int publish_one(const opts_t *o, const gen_t *g, sf_producer_t *p,
                       sf_producer_event_t *ev, size_t i, double stop_after_s) {
    char err[512];
    static long long refused;
    if (build_event(o, g, i, ev)) {
        fprintf(stderr, "scale_check: event %zu: setter failed\n", i);
        return -1;
    }
    double t0 = mono();
    sf_err_t r;
    while ((r = sf_producer_publish(p, ev, (void *)(uintptr_t)(i + 1), err,
                                    sizeof err)) != SF_OK) {
        if (++refused % 1000 == 1)
            fprintf(stderr, "scale_check: publish event %zu: %s (waiting)\n", i,
                    err);
        if (r == SF_ERR_KAFKA_FATAL ||
            (stop_after_s >= 0 && mono() - t0 > stop_after_s))
            return -1;
        sf_producer_poll(p, 100);
    }
    return 0;
}

static sf_producer_t *new_producer(const sf_producer_conf_t *conf) {
    char err[512];
    sf_producer_conf_t *c = sf_producer_conf_dup(conf);
    sf_producer_t *p = c ? sf_producer_new(c, err, sizeof err) : NULL;
    if (!p) {
        fprintf(stderr, "scale_check: producer: %s\n", c ? err : "no memory");
        sf_producer_conf_destroy(c);
    }
    return p;
}

/* Ends the open transaction: commits (abort = 0) or aborts it, resuming
 * a call that timed out until it has an outcome.  SF_OK: committed (or
 * aborted as asked); SF_ERR_KAFKA: aborted; SF_ERR_KAFKA_FATAL: the
 * producer must be replaced. */
static sf_err_t txn_end(sf_producer_t *p, int abort, char *err,
                        size_t errsize) {
    sf_err_t r = SF_ERR_TIMEOUT;
    for (int tries = 0; tries < 60; tries++) {
        r = abort ? sf_producer_abort(p, err, errsize)
                  : sf_producer_commit(p, err, errsize);
        if (r != SF_ERR_TIMEOUT)
            break;
        fprintf(stderr, "scale_check: %s: %s (again)\n",
                abort ? "abort" : "commit", err);
    }
    if (r != SF_OK && r != SF_ERR_KAFKA && r != SF_ERR_KAFKA_FATAL)
        fprintf(stderr, "scale_check: %s: %s\n", abort ? "abort" : "commit",
                err);
    return r == SF_OK || r == SF_ERR_KAFKA ? r : SF_ERR_KAFKA_FATAL;
}

/* Publishes events [i, j) in one transaction, again until one commits.
 * 0, or -1 when it gave up (MAX_ATTEMPTS) or no producer could be made. */
static int txn_publish(const opts_t *o, const gen_t *g,
                       const sf_producer_conf_t *conf, sf_producer_t **pp,
                       sf_producer_event_t *ev, size_t i, size_t j) {
    char err[512];
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        sf_producer_t *p = *pp;
        if (attempt)
            n_retried += (long long)(j - i);
        sf_err_t r = sf_producer_begin(p, err, sizeof err);
        if (r == SF_ERR_TIMEOUT || r == SF_ERR_KAFKA) {
            fprintf(stderr, "scale_check: begin: %s (again)\n", err);
            sf_producer_poll(p, 1000);
            continue;
        }
        int ok = r == SF_OK;
        for (size_t k = i; ok && k < j; k++)
            ok = publish_one(o, g, p, ev, k, 5.0) == 0;
        if (r == SF_OK)
            r = txn_end(p, !ok, err, sizeof err);
        if (ok && r == SF_OK) {
            n_txn++;
            return 0;
        }
        if (r != SF_ERR_KAFKA_FATAL) {
            n_aborted++;
            continue;
        }
        /* fenced or broken: a new producer with the same transactional.id
         * fences this one and aborts what it left open */
        fprintf(stderr,
                "scale_check: transactional producer unusable (%s): "
                "replaced\n",
                err);
        sf_producer_destroy(p);
        n_recreated++;
        n_aborted++;
        if (!(*pp = new_producer(conf)))
            return -1;
    }
    fprintf(stderr,
            "scale_check: events [%zu,%zu): no transaction "
            "committed in %d attempts\n",
            i, j, MAX_ATTEMPTS);
    return -1;
}

static int do_publish(const opts_t *o, const gen_t *g) {
    char err[512], tmo[32], txid[160];
    g_mode = o->mode;
    snprintf(tmo, sizeof tmo, "%d", o->timeout_ms);
    snprintf(txid, sizeof txid, "scale-check-%s", o->prefix);
    sf_producer_conf_t *conf = sf_producer_conf_new();
    const char *props[][2] = {
        {"bootstrap.servers", o->brokers},
        {"sf.schema.dir", o->schemas},
        {"sf.topic", o->topic},
        {"sf.aggregate.type", "cart"},
        {"sf.source", "scale-check"},
        {"linger.ms", "20"},
        {"log_level", "3"},
        {"message.timeout.ms", tmo},
        {"transactional.id", txid},
    };
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
        if (!strcmp(props[i][0], "message.timeout.ms") && o->timeout_ms <= 0)
            continue;
        if (!strcmp(props[i][0], "transactional.id") &&
            (o->mode != PUB_TXN || o->create > 0))
            continue;
        if (sf_producer_conf_set(conf, props[i][0], props[i][1], err,
                                 sizeof err) != SF_OK) {
            fprintf(stderr, "scale_check: producer conf %s: %s\n", props[i][0],
                    err);
            return 1;
        }
    }
    sf_producer_conf_set_dr_cb(conf, on_dr);
    sf_producer_t *p = new_producer(conf);
    if (!p) {
        sf_producer_conf_destroy(conf);
        return 1;
    }
    if (o->create > 0) {
        int created = 0;
        if (sf_producer_ensure_topic(p, o->topic, o->create, o->rf, 60000,
                                     &created, err, sizeof err) != SF_OK) {
            fprintf(stderr, "scale_check: topic %s: %s\n", o->topic, err);
            sf_producer_destroy(p);
            sf_producer_conf_destroy(conf);
            return 1;
        }
    }
    size_t to = o->to_given && o->to < g->n ? o->to : g->n;
    g_attempts = calloc(g->n ? g->n : 1, 1);
    g_rq_cap = g->n ? g->n : 1;
    g_rq = calloc(g_rq_cap, sizeof(*g_rq));
    sf_producer_event_t *ev = sf_producer_event_new();
    int rc = 0;
    double t0 = mono();
    for (size_t i = o->from; i < to && !rc;) {
        size_t j = i + 1;
        if (o->mode == PUB_TXN) { /* every event due now, in one go */
            size_t due =
                o->rate > 0 ? o->from + (size_t)((mono() - t0) * o->rate) : to;
            if (due > j)
                j = due < i + MAX_TXN_EVENTS ? due : i + MAX_TXN_EVENTS;
            if (j > to)
                j = to;
            rc = txn_publish(o, g, conf, &p, ev, i, j);
        } else {
            rc = publish_one(o, g, p, ev, i, -1);
            while (!rc && g_rq_len) { /* retries first, in report order */
                size_t k = g_rq[g_rq_head];
                g_rq_head = (g_rq_head + 1) % g_rq_cap;
                g_rq_len--;
                n_retried++;
                rc = publish_one(o, g, p, ev, k, -1);
            }
            if ((i & 255) == 0)
                sf_producer_poll(p, 0);
        }
        i = j;
        if (o->rate > 0 && !rc) {
            double due = t0 + (double)(i - o->from) / o->rate;
            double now = mono();
            if (due > now)
                usleep((useconds_t)((due - now) * 1e6));
        }
    }
    int wait = o->timeout_ms > 0 ? o->timeout_ms + 30000 : 180000;
    for (int round = 0; !rc; round++) {
        if (sf_producer_flush(p, wait, err, sizeof err) != SF_OK)
            fprintf(stderr, "scale_check: flush: %s\n", err);
        if (!g_rq_len || round >= MAX_ATTEMPTS)
            break;
        while (!rc && g_rq_len) { /* the retries the flush reported */
            size_t k = g_rq[g_rq_head];
            g_rq_head = (g_rq_head + 1) % g_rq_cap;
            g_rq_len--;
            n_retried++;
            rc = publish_one(o, g, p, ev, k, -1);
        }
    }
    sf_producer_event_destroy(ev);
    sf_producer_destroy(p);
    sf_producer_conf_destroy(conf);
    n_gave_up += (long long)g_rq_len;
    fprintf(stderr,
            "scale_check: published [%zu,%zu) to %s in %.1f s: %lld "
            "persisted, %lld possibly persisted, %lld not persisted; %lld "
            "republished, %lld transactions committed, %lld aborted, %lld "
            "producers replaced, %lld given up\n",
            o->from, to, o->topic, mono() - t0, n_ok, n_possibly, n_not,
            n_retried, n_txn, n_aborted, n_recreated, n_gave_up);
    printf("published=%zu persisted=%lld possibly=%lld not=%lld "
           "republished=%lld txn_committed=%lld txn_aborted=%lld "
           "gave_up=%lld\n",
           to - o->from, n_ok, n_possibly, n_not, n_retried, n_txn, n_aborted,
           n_gave_up);
    free(g_attempts);
    free(g_rq);
    return rc || n_gave_up ? 1 : 0;
}

/* ---- the log, read back ------------------------------------------------ */

/* Open-addressing string set (ce_id duplicates, (cart, seq) -> index). */
typedef struct smap {
    char **k;
    int64_t *v;
    size_t cap, n;
} smap_t;

static uint64_t hash_s(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int smap_init(smap_t *m, size_t n) {
    m->cap = 16;
    while (m->cap < n * 2)
        m->cap *= 2;
    m->k = calloc(m->cap, sizeof(*m->k));
    m->v = calloc(m->cap, sizeof(*m->v));
    m->n = 0;
    return m->k && m->v ? 0 : -1;
}

static void smap_free(smap_t *m) {
    for (size_t i = 0; i < m->cap; i++)
        free(m->k[i]);
    free(m->k);
    free(m->v);
}

/* The slot of key: *found 1 if present. */
static size_t smap_slot(const smap_t *m, const char *key, int *found) {
    size_t i = hash_s(key) & (m->cap - 1);
    while (m->k[i] && strcmp(m->k[i], key))
        i = (i + 1) & (m->cap - 1);
    *found = m->k[i] != NULL;
    return i;
}

/* Inserts key -> v; returns the old value's slot status (1 existed). */
static int smap_put(smap_t *m, const char *key, int64_t v) {
    if (m->n * 2 >= m->cap) { /* grow */
        smap_t b;
        if (smap_init(&b, m->cap))
            return -1;
        for (size_t i = 0; i < m->cap; i++)
            if (m->k[i]) {
                int f;
                size_t s = smap_slot(&b, m->k[i], &f);
                b.k[s] = m->k[i];
                b.v[s] = m->v[i];
                b.n++;
            }
        free(m->k);
        free(m->v);
        *m = b;
    }
    int found;
    size_t s = smap_slot(m, key, &found);
    if (found)
        return 1;
    if (!(m->k[s] = strdup(key)))
        return -1;
    m->v[s] = v;
    m->n++;
    return 0;
}

static int64_t smap_get(const smap_t *m, const char *key) {
    int found;
    size_t s = smap_slot(m, key, &found);
    return found ? m->v[s] : -1;
}

/* THE fold rule: does this record of the log change the views?  idx is the
 * generated event it carries; last_seq the highest version of its
 * aggregate accepted so far (0: none).  With o->dedup, the projector's
 * version rule (docs/duplicates.md); without, every record counts. */
static int fold_accept(const opts_t *o, const gev_t *e, uint32_t *last_seq) {
    if (o->dedup) { /* the projector drops versions it already has */
        if (e->seq <= *last_seq)
            return 0;
    }
    if (e->seq > *last_seq)
        *last_seq = e->seq;
    return 1;
}

static int hdr(rd_kafka_headers_t *h, const char *name, char *buf,
               size_t size) {
    const void *v;
    size_t n;
    if (!h || rd_kafka_header_get_last(h, name, &v, &n) || !v || n >= size)
        return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    return 0;
}

static int do_check(const opts_t *o, const gen_t *g) {
    char err[512], key[256], id[128];
    /* (cart id, version) -> generated event */
    smap_t byseq, ids;
    if (smap_init(&byseq, g->n) || smap_init(&ids, g->n))
        return 1;
    for (size_t i = 0; i < g->n; i++) {
        gen_cart_id(g, g->ev[i].cart, id, sizeof id);
        snprintf(key, sizeof key, "%s#%u", id, g->ev[i].seq);
        smap_put(&byseq, key, (int64_t)i);
    }
    uint32_t *last_seq = calloc(g->ncarts + 1, sizeof(*last_seq));
    size_t *copies = calloc(g->n, sizeof(*copies));
    unsigned char *applied = calloc(g->n ? g->n : 1, 1);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, err,
                          sizeof err) ||
        rd_kafka_conf_set(conf, "group.id", "scale-check-unused", err,
                          sizeof err) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err,
                          sizeof err) ||
        rd_kafka_conf_set(conf, "isolation.level", "read_committed", err,
                          sizeof err) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", err,
                          sizeof err) ||
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err)) {
        fprintf(stderr, "scale_check: consumer conf: %s\n", err);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "scale_check: consumer: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    for (int tries = 0; tries < 36; tries++) {
        if (md)
            rd_kafka_metadata_destroy(md);
        md = NULL;
        if (!rd_kafka_metadata(rk, 0, rkt, &md, 5000) && md->topic_cnt == 1 &&
            !md->topics[0].err)
            break;
        sleep(1);
    }
    if (!md || md->topic_cnt != 1 || md->topics[0].err) {
        fprintf(stderr, "scale_check: metadata of %s failed\n", o->topic);
        return 1;
    }
    int np = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    int64_t *end = calloc((size_t)np, sizeof(*end));
    rd_kafka_topic_partition_list_t *as = rd_kafka_topic_partition_list_new(np);
    int64_t expect = 0;
    for (int p = 0; p < np; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t werr;
        /* after brokers came back, leaders may take a while to settle */
        for (int tries = 0; (werr = rd_kafka_query_watermark_offsets(
                                 rk, o->topic, p, &lo, &hi, 5000)) &&
                            tries < 36;
             tries++)
            sleep(1);
        if (werr) {
            fprintf(stderr, "scale_check: watermarks of %s/%d failed\n",
                    o->topic, p);
            return 1;
        }
        end[p] = hi;
        expect += hi - lo;
        if (hi > lo)
            rd_kafka_topic_partition_list_add(as, o->topic, p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
    }
    /* A partition leader elected after an outage may report a high
     * watermark behind the real one until its followers caught up: read
     * only once two queries 3 s apart agree (at most 2 min). */
    for (int round = 0; round < 40; round++) {
        sleep(3);
        int moved = 0;
        for (int p = 0; p < np; p++) {
            int64_t lo2, hi2;
            if (rd_kafka_query_watermark_offsets(rk, o->topic, p, &lo2, &hi2,
                                                 5000) ||
                hi2 != end[p]) {
                if (hi2 > end[p]) {
                    expect += hi2 - end[p];
                    end[p] = hi2;
                    if (!rd_kafka_topic_partition_list_find(as, o->topic, p))
                        rd_kafka_topic_partition_list_add(as, o->topic, p)
                            ->offset = RD_KAFKA_OFFSET_BEGINNING;
                }
                moved = 1;
            }
        }
        if (!moved)
            break;
    }
    rd_kafka_assign(rk, as);
    rd_kafka_topic_partition_list_destroy(as);
    model_t *m = model_new();
    long long records = 0, dup_ids = 0, dup_seq = 0, unknown = 0, folded = 0;
    long long dup_resent = 0, dup_retried = 0, rejected = 0;
    int left = 0;
    char *done = calloc((size_t)np, 1);
    for (int p = 0; p < np; p++) {
        done[p] = end[p] == 0;
        left += !done[p];
    }
    double t0 = mono();
    while (left > 0 && mono() - t0 < 300) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 1000);
        if (!msg)
            continue;
        if (msg->err) {
            /* a partition that ends with a transaction marker (a control
             * record, never delivered) is read once its EOF is at the end */
            if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (msg->partition >= 0 && msg->partition < np &&
                    msg->offset >= end[msg->partition] &&
                    !done[msg->partition]) {
                    done[msg->partition] = 1;
                    left--;
                }
            } else {
                fprintf(stderr, "scale_check: consume: %s\n",
                        rd_kafka_message_errstr(msg));
            }
            rd_kafka_message_destroy(msg);
            continue;
        }
        int32_t p = msg->partition;
        if (msg->offset >= end[p]) {
            rd_kafka_message_destroy(msg);
            continue;
        }
        records++;
        rd_kafka_headers_t *h = NULL;
        rd_kafka_message_headers(msg, &h);
        char ceid[128], subj[128], seq[32], att[16];
        /* the publisher's attempt (retry and txn modes; 0: none) */
        int64_t a = hdr(h, SCALE_ATTEMPT, att, sizeof att) == 0
                        ? strtoll(att, NULL, 10)
                        : 0;
        if (hdr(h, "ce_id", ceid, sizeof ceid) == 0) {
            int64_t first = smap_get(&ids, ceid);
            if (first < 0) {
                smap_put(&ids, ceid, a);
            } else { /* same attempt: the producer wrote it twice itself */
                dup_ids++;
                if (first == a)
                    dup_resent++;
                else
                    dup_retried++;
            }
        }
        int64_t idx = -1;
        if (hdr(h, "ce_subject", subj, sizeof subj) == 0 &&
            hdr(h, "ce_sequence", seq, sizeof seq) == 0) {
            snprintf(key, sizeof key, "%s#%s", subj, seq);
            idx = smap_get(&byseq, key);
        }
        if (idx < 0) {
            unknown++;
        } else {
            const gev_t *e = &g->ev[idx];
            if (copies[idx]++)
                dup_seq++;
            if (fold_accept(o, e, &last_seq[e->cart])) {
                gen_t one = *g; /* fold this one event */
                one.ev = (gev_t *)e;
                one.n = 1;
                fold_build(&one, 1, FOLD_ALL, m);
                folded++;
                applied[idx] = 1;
            } else {
                rejected++;
            }
        }
        if (msg->offset == end[p] - 1 && !done[p]) {
            done[p] = 1;
            left--;
        }
        rd_kafka_message_destroy(msg);
    }
    int grew = 0; /* the log must not have moved under the read */
    for (int p = 0; p < np; p++) {
        int64_t lo2, hi2;
        if (!rd_kafka_query_watermark_offsets(rk, o->topic, p, &lo2, &hi2,
                                              5000) &&
            hi2 != end[p]) {
            fprintf(stderr,
                    "scale_check: %s/%d: end offset %" PRId64
                    " after the read, %" PRId64 " before: the log moved\n",
                    o->topic, p, hi2, end[p]);
            grew = 1;
        }
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    long long absent = 0;
    size_t upto = o->to_given && o->to < g->n ? o->to : g->n;
    /* in the log, but no copy passed the version rule: it came after a
     * later version of its aggregate (a retry that lost the order) */
    long long not_applied = 0;
    for (size_t i = 0; i < upto; i++) {
        absent += copies[i] == 0;
        not_applied += copies[i] && !applied[i];
    }
    if (not_applied)
        fprintf(stderr,
                "scale_check: %lld events are in the log only after a later "
                "version of their aggregate: the version rule drops them\n",
                not_applied);
    fprintf(stderr,
            "scale_check: log of %s: %lld records (%" PRId64
            " by watermarks), %lld folded, %lld duplicate ce_id, %lld "
            "duplicate (aggregate, version), %lld not from this history, "
            "%lld of the first %zu events absent%s\n",
            o->topic, records, expect, folded, dup_ids, dup_seq, unknown,
            absent, upto, left ? "; READ INCOMPLETE" : "");
    if (dup_ids)
        fprintf(stderr,
                "scale_check: of the %lld duplicate ce_id, %lld carry the "
                "first copy's attempt (the producer wrote the same record "
                "twice) and %lld another (a retry by the publisher)\n",
                dup_ids, dup_resent, dup_retried);
    if (dup_ids && o->dups_ok)
        fprintf(stderr, "scale_check: duplicates in the log are expected "
                        "here (--log-dups-ok): the views must not apply "
                        "them\n");
    int rc = left || (dup_ids && !o->dups_ok) || grew ? 1 : 0;
    /* compare with Redis, retrying until equal or --wait is over */
    char host[256];
    int port = 6379;
    snprintf(host, sizeof host, "%s", o->redis);
    char *c = strrchr(host, ':');
    if (c) {
        *c = '\0';
        port = atoi(c + 1);
    }
    redisContext *rc_ = redisConnect(host, port);
    if (!rc_ || rc_->err) {
        fprintf(stderr, "scale_check: redis %s: %s\n", o->redis,
                rc_ ? rc_->errstr : "no memory");
        return 1;
    }
    char patbuf[FOLD_MAX_PATTERNS][256];
    const char *pats[FOLD_MAX_PATTERNS + 1];
    int npat = fold_patterns(g, FOLD_ALL, patbuf, FOLD_MAX_PATTERNS);
    for (int i = 0; i < npat; i++)
        pats[i] = patbuf[i];
    pats[npat] = NULL;
    size_t checked = 0, bad = 0;
    double w0 = mono();
    for (;;) {
        int last = mono() - w0 >= o->wait;
        if (model_compare(m, rc_, pats, o->report, !last, &checked, &bad)) {
            rc = 1;
            break;
        }
        if (!bad || last)
            break;
        usleep(500000);
    }
    fprintf(stderr,
            "scale_check: views %s: %zu keys expected, %zu checked, %zu "
            "different (after %.1f s)\n",
            bad ? "DIFFER from the fold of the log"
                : "equal the fold of the log",
            model_count(m), checked, bad, mono() - w0);
    /* The projector's own count of the events its version rule dropped
     * (sf:<projection>:dedup:<topic>:<partition>, field duplicates) must
     * be what the same rule drops in the fold of the log. */
    long long dropped = -1;
    if (o->projection) {
        dropped = 0;
        for (int p = 0; p < np; p++) {
            redisReply *r = redisCommand(rc_,
                                         "HGET sf:%s:dedup:%s:%d "
                                         "duplicates",
                                         o->projection, o->topic, p);
            if (r && r->type == REDIS_REPLY_STRING)
                dropped += strtoll(r->str, NULL, 10);
            if (r)
                freeReplyObject(r);
        }
        if (o->dedup && dropped != rejected) {
            fprintf(stderr,
                    "scale_check: projection %s dropped %lld events as "
                    "duplicates, the fold of the log %lld\n",
                    o->projection, dropped, rejected);
            rc = 1;
        }
    }
    printf("published_events=%zu records=%lld dup_ids=%lld "
           "dup_ids_producer=%lld dup_ids_retry=%lld dup_seq=%lld "
           "fold_dropped=%lld projector_dropped=%lld absent=%lld "
           "late_not_applied=%lld\n",
           upto, records, dup_ids, dup_resent, dup_retried, dup_seq, rejected,
           dropped, absent, not_applied);
    free(applied);
    redisFree(rc_);
    free(done);
    model_free(m);
    smap_free(&byseq);
    smap_free(&ids);
    free(last_seq);
    free(copies);
    free(end);
    return rc || bad ? 1 : 0;
}

/* ---- squat: a group member that holds partitions and reads nothing ---- */

static void squat_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                            rd_kafka_topic_partition_list_t *parts,
                            void *opaque) {
    (void)opaque;
    rd_kafka_error_t *e;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        e = rd_kafka_incremental_assign(rk, parts);
        rd_kafka_pause_partitions(rk, parts); /* hold, never fetch */
        for (int i = 0; i < parts->cnt; i++)
            fprintf(stderr, "scale_check: squat holds %s/%d\n",
                    parts->elems[i].topic, parts->elems[i].partition);
    } else {
        e = rd_kafka_incremental_unassign(rk, parts);
    }
    if (e)
        rd_kafka_error_destroy(e);
}

static volatile sig_atomic_t g_stop;
static void on_term(int sig) {
    (void)sig;
    g_stop = 1;
}

/* Joins the projection's group (cooperative-sticky, like the workers),
 * takes what the assignor gives it and never reads or commits: the
 * partitions it holds are owned by the group but by no worker. */
static int do_squat(const opts_t *o, const char *group) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, err,
                          sizeof err) ||
        rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) ||
        rd_kafka_conf_set(conf, "partition.assignment.strategy",
                          "cooperative-sticky", err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err,
                          sizeof err)) {
        fprintf(stderr, "scale_check: squat conf: %s\n", err);
        return 1;
    }
    rd_kafka_conf_set_rebalance_cb(conf, squat_rebalance);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "scale_check: squat: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, o->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, t);
    rd_kafka_topic_partition_list_destroy(t);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    double t0 = mono();
    while (!g_stop && (o->wait <= 0 || mono() - t0 < o->wait)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m)
            rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    fprintf(stderr, "scale_check: squat left the group\n");
    return 0;
}

__attribute__((noreturn)) static void usage(void) {
    fprintf(stderr,
            "usage: scale_check publish|check|squat --seed S --events N "
            "--prefix P -t TOPIC -b BROKERS [options] (see the "
            "source header)\n");
    exit(2);
}

int main(int argc, char **argv) {
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    opts_t o = {.schemas = "schemas/domains",
                .redis = "127.0.0.1:6379",
                .rf = 3,
                .report = 20,
                .dedup = SF_CHECK_DEDUP_BY_SEQUENCE};
    static const struct option lo[] = {
        {"seed", 1, 0, 's'},       {"events", 1, 0, 'n'},
        {"prefix", 1, 0, 'p'},     {"topic", 1, 0, 't'},
        {"brokers", 1, 0, 'b'},    {"schemas", 1, 0, 'S'},
        {"from", 1, 0, 'f'},       {"to", 1, 0, 'T'},
        {"rate", 1, 0, 'r'},       {"create", 1, 0, 'c'},
        {"rf", 1, 0, 'R'},         {"timeout-ms", 1, 0, 'm'},
        {"redis", 1, 0, 'd'},      {"wait", 1, 0, 'w'},
        {"report", 1, 0, 'o'},     {"dedup-sequence", 0, 0, 'D'},
        {"mode", 1, 0, 'M'},       {"log-dups-ok", 0, 0, 'L'},
        {"projection", 1, 0, 'P'}, {0, 0, 0, 0}};
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "t:b:", lo, NULL)) != -1) {
        switch (ch) {
        case 's': o.seed = strtoull(optarg, NULL, 10); break;
        case 'n': o.events = strtoul(optarg, NULL, 10); break;
        case 'p': o.prefix = optarg; break;
        case 't': o.topic = optarg; break;
        case 'b': o.brokers = optarg; break;
        case 'S': o.schemas = optarg; break;
        case 'f': o.from = strtoul(optarg, NULL, 10); break;
        case 'T':
            o.to = strtoul(optarg, NULL, 10);
            o.to_given = 1;
            break;
        case 'r': o.rate = atof(optarg); break;
        case 'c': o.create = atoi(optarg); break;
        case 'R': o.rf = atoi(optarg); break;
        case 'm': o.timeout_ms = atoi(optarg); break;
        case 'd': o.redis = optarg; break;
        case 'w': o.wait = atof(optarg); break;
        case 'o': o.report = atoi(optarg); break;
        case 'D': o.dedup = 1; break;
        case 'M':
            if (!strcmp(optarg, "plain"))
                o.mode = PUB_PLAIN;
            else if (!strcmp(optarg, "retry"))
                o.mode = PUB_RETRY;
            else if (!strcmp(optarg, "txn"))
                o.mode = PUB_TXN;
            else {
                fprintf(stderr,
                        "scale_check: --mode %s: expected plain, "
                        "retry or txn\n",
                        optarg);
                return 2;
            }
            break;
        case 'P': o.projection = optarg; break;
        case 'L': o.dups_ok = 1; break;
        default: usage();
        }
    }
    if (!strcmp(cmd, "squat") && o.topic && o.brokers && o.prefix)
        return do_squat(&o, o.prefix); /* --prefix carries the group */
    if (!o.prefix || !o.events || !o.topic || !o.brokers)
        usage();
    gen_t g;
    if (gen_make(&g, o.seed, o.events, o.prefix)) {
        fprintf(stderr, "scale_check: out of memory\n");
        return 1;
    }
    int rc;
    if (!strcmp(cmd, "publish"))
        rc = do_publish(&o, &g);
    else if (!strcmp(cmd, "check"))
        rc = do_check(&o, &g);
    else
        usage();
    gen_free(&g);
    return rc;
}
