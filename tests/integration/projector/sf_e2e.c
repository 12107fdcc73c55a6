/*
 * sf_e2e.c - helper of the projector's end-to-end tests: generates a
 * deterministic cart history, publishes it with libsfproducer, computes the
 * reference fold of the example projections from the same events and
 * compares it with Redis.
 *
 *   sf_e2e summary  --seed S --events N --prefix P
 *   sf_e2e publish  --seed S --events N --prefix P -t TOPIC
 *                   [-b BROKERS] [--schemas DIR] [--from I] [--to J]
 *                   [--rate EV_PER_S] [--create PARTITIONS]
 *   sf_e2e verify   --seed S --events N --prefix P [--upto K]
 *                   [--redis HOST:PORT] [--wait SECONDS] [--report N]
 *                   [--only cart|avail]
 *   sf_e2e cleanup  --prefix P [--redis HOST:PORT] [--pattern PAT]...
 *   sf_e2e drop     [-b BROKERS] [-t TOPIC]... [--group GROUP]...
 *
 * publish sends events [from, to) of the history (default all) in order;
 * the same (seed, events, prefix) always gives the same history, so a
 * driver can publish it in slices while workers are killed.  verify folds
 * events [0, upto) (default all) and compares every expected key, and every
 * live key matching the views' patterns for this prefix; with --wait it
 * retries quietly until equal or the time is up, then reports.
 * drop deletes topics and consumer groups (Kafka admin API); missing ones
 * are fine.
 * Exit: 0 equal / done, 1 different or failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
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

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct opts {
    const char *mode;
    uint64_t seed;
    size_t events;
    const char *prefix;
    const char *brokers;
    const char *topic;
    const char *topics[32];
    int ntopics;
    const char *groups[32];
    int ngroups;
    const char *schemas;
    size_t from, to, upto;
    int to_given;
    double rate;
    int create;
    const char *redis_host;
    int redis_port;
    double wait;
    int report;
    int mask;
    const char *patterns[32];
    int npatterns;
} opts_t;

__attribute__((noreturn)) static void usage(void) {
    fprintf(stderr,
            "usage: sf_e2e summary|publish|verify|cleanup --seed S --events N "
            "--prefix P [options] (see the source header)\n");
    exit(2);
}

static redisContext *redis_connect(const opts_t *o) {
    struct timeval tv = {10, 0};
    redisContext *rc =
        redisConnectWithTimeout(o->redis_host, o->redis_port, tv);
    if (!rc || rc->err) {
        fprintf(stderr, "sf_e2e: redis %s:%d: %s\n", o->redis_host,
                o->redis_port, rc ? rc->errstr : "out of memory");
        exit(1);
    }
    redisSetTimeout(rc, tv);
    return rc;
}

/* ---- publish ------------------------------------------------------------ */

static long long delivered, failed;
static char first_failure[512];

static void on_delivery(sf_producer_t *p, const sf_producer_dr_t *dr,
                        void *opaque) {
    (void)p;
    (void)opaque;
    if (sf_producer_dr_err(dr) == SF_OK) {
        delivered++;
    } else {
        if (!failed)
            snprintf(first_failure, sizeof first_failure, "%s",
                     sf_producer_dr_errstr(dr));
        failed++;
    }
}

static int do_publish(const opts_t *o, const gen_t *g) {
    char err[512];
    sf_producer_conf_t *conf = sf_producer_conf_new();
    const char *props[][2] = {
        {"bootstrap.servers", o->brokers},
        {"sf.schema.dir", o->schemas},
        {"sf.topic", o->topic},
        {"sf.aggregate.type", "cart"},
        {"sf.source", "sf-e2e"},
        {"linger.ms", "20"},
        {"log_level", "3"},
    };
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (sf_producer_conf_set(conf, props[i][0], props[i][1], err,
                                 sizeof err) != SF_OK) {
            fprintf(stderr, "sf_e2e: producer conf %s: %s\n", props[i][0], err);
            return 1;
        }
    sf_producer_conf_set_dr_cb(conf, on_delivery);
    sf_producer_t *p = sf_producer_new(conf, err, sizeof err);
    if (!p) {
        fprintf(stderr, "sf_e2e: producer: %s\n", err);
        sf_producer_conf_destroy(conf);
        return 1;
    }
    if (o->create > 0) {
        int created = 0;
        if (sf_producer_ensure_topic(p, o->topic, o->create, 1, 30000, &created,
                                     err, sizeof err) != SF_OK) {
            fprintf(stderr, "sf_e2e: topic %s: %s\n", o->topic, err);
            sf_producer_destroy(p);
            return 1;
        }
    }
    size_t from = o->from, to = o->to_given ? o->to : g->n;
    if (to > g->n)
        to = g->n;
    sf_producer_event_t *ev = sf_producer_event_new();
    char json[1024], id[128];
    double t0 = mono();
    for (size_t i = from; i < to; i++) {
        const gev_t *e = &g->ev[i];
        sf_producer_event_clear(ev);
        gen_cart_id(g, e->cart, id, sizeof id);
        size_t n = gen_json(g, i, json, sizeof json);
        if (sf_producer_event_set_type(ev, gen_type_name(e->type)) ||
            sf_producer_event_set_aggregate_id(ev, id) ||
            sf_producer_event_set_version(ev, e->seq) ||
            sf_producer_event_set_time_ms(ev, e->ts) ||
            sf_producer_event_set_schema_version(
                ev, e->type == GEV_ADDED ? e->ver : 0) ||
            sf_producer_event_set_json_text(ev, json, n)) {
            fprintf(stderr, "sf_e2e: event %zu: setter failed\n", i);
            return 1;
        }
        if (sf_producer_publish(p, ev, NULL, err, sizeof err) != SF_OK) {
            fprintf(stderr, "sf_e2e: publish event %zu (%s): %s\n", i, json,
                    err);
            return 1;
        }
        if ((i & 255) == 0)
            sf_producer_poll(p, 0);
        if (o->rate > 0) {
            double due = t0 + (double)(i - from + 1) / o->rate;
            double now = mono();
            if (due > now)
                usleep((useconds_t)((due - now) * 1e6));
        }
    }
    sf_producer_event_destroy(ev);
    if (sf_producer_flush(p, 60000, err, sizeof err) != SF_OK) {
        fprintf(stderr, "sf_e2e: flush: %s\n", err);
        sf_producer_destroy(p);
        return 1;
    }
    sf_producer_destroy(p);
    double secs = mono() - t0;
    fprintf(stderr,
            "sf_e2e: published %lld events [%zu,%zu) to %s in %.2f s "
            "(%.0f/s), %lld failed%s%s\n",
            delivered, from, to, o->topic, secs,
            secs > 0 ? (double)delivered / secs : 0.0, failed,
            failed ? ": " : "", first_failure);
    return failed || delivered != (long long)(to - from) ? 1 : 0;
}

/* ---- verify ------------------------------------------------------------- */

static int do_verify(const opts_t *o, const gen_t *g) {
    size_t upto = o->upto ? o->upto : g->n;
    model_t *m = model_new();
    fold_build(g, upto, o->mask, m);
    const char *pats[FOLD_MAX_PATTERNS + 1];
    char patbuf[FOLD_MAX_PATTERNS][256];
    int np = fold_patterns(g, o->mask, patbuf, FOLD_MAX_PATTERNS);
    for (int i = 0; i < np; i++)
        pats[i] = patbuf[i];
    pats[np] = NULL;
    redisContext *rc = redis_connect(o);
    double t0 = mono();
    size_t checked = 0, bad = 0;
    int tries = 0;
    for (;;) {
        tries++;
        int last = mono() - t0 >= o->wait;
        if (model_compare(m, rc, pats, o->report, !last, &checked, &bad) != 0) {
            redisFree(rc);
            model_free(m);
            return 1;
        }
        if (bad == 0 || last)
            break;
        usleep(500000);
    }
    fprintf(stderr,
            "sf_e2e: verify %s: %zu events folded, %zu expected keys, %zu keys "
            "checked, %zu different (after %.1f s, %d tries)\n",
            bad ? "FAILED" : "ok", upto, model_count(m), checked, bad,
            mono() - t0, tries);
    redisFree(rc);
    model_free(m);
    return bad ? 1 : 0;
}

static int do_cleanup(const opts_t *o, const gen_t *g) {
    redisContext *rc = redis_connect(o);
    long long total = 0;
    char patbuf[FOLD_MAX_PATTERNS][256];
    int np = fold_patterns(g, FOLD_ALL, patbuf, FOLD_MAX_PATTERNS);
    for (int i = 0; i < np + o->npatterns; i++) {
        const char *pat = i < np ? patbuf[i] : o->patterns[i - np];
        long long n = redis_unlink_matching(rc, pat);
        if (n < 0) {
            fprintf(stderr, "sf_e2e: cleanup %s failed\n", pat);
            redisFree(rc);
            return 1;
        }
        total += n;
    }
    fprintf(stderr, "sf_e2e: cleanup removed %lld keys\n", total);
    redisFree(rc);
    return 0;
}

/* Deletes topics and groups; errors other than "does not exist" fail. */
static int do_drop(const opts_t *o) {
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, err,
                          sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "sf_e2e: %s\n", err);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "sf_e2e: %s\n", err);
        return 1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *ao =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_ANY);
    rd_kafka_AdminOptions_set_request_timeout(ao, 15000, err, sizeof err);
    int rc = 0;
    if (o->ngroups > 0) {
        rd_kafka_DeleteGroup_t *dg[32];
        for (int i = 0; i < o->ngroups; i++)
            dg[i] = rd_kafka_DeleteGroup_new(o->groups[i]);
        rd_kafka_DeleteGroups(rk, dg, (size_t)o->ngroups, ao, q);
        rd_kafka_DeleteGroup_destroy_array(dg, (size_t)o->ngroups);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        const rd_kafka_DeleteGroups_result_t *res =
            ev ? rd_kafka_event_DeleteGroups_result(ev) : NULL;
        if (!res) {
            fprintf(stderr, "sf_e2e: delete groups: %s\n",
                    ev ? rd_kafka_event_error_string(ev) : "timed out");
            rc = 1;
        } else {
            size_t n;
            const rd_kafka_group_result_t **gr =
                rd_kafka_DeleteGroups_result_groups(res, &n);
            for (size_t i = 0; i < n; i++) {
                const rd_kafka_error_t *e = rd_kafka_group_result_error(gr[i]);
                if (e && rd_kafka_error_code(e) !=
                             RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
                    /* a group still in use (a worker left running) */
                    fprintf(stderr, "sf_e2e: delete group %s: %s\n",
                            rd_kafka_group_result_name(gr[i]),
                            rd_kafka_error_string(e));
                }
            }
        }
        if (ev)
            rd_kafka_event_destroy(ev);
    }
    if (o->ntopics > 0) {
        rd_kafka_DeleteTopic_t *dt[32];
        for (int i = 0; i < o->ntopics; i++)
            dt[i] = rd_kafka_DeleteTopic_new(o->topics[i]);
        rd_kafka_DeleteTopics(rk, dt, (size_t)o->ntopics, ao, q);
        rd_kafka_DeleteTopic_destroy_array(dt, (size_t)o->ntopics);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 30000);
        const rd_kafka_DeleteTopics_result_t *res =
            ev ? rd_kafka_event_DeleteTopics_result(ev) : NULL;
        if (!res) {
            fprintf(stderr, "sf_e2e: delete topics: %s\n",
                    ev ? rd_kafka_event_error_string(ev) : "timed out");
            rc = 1;
        } else {
            size_t n;
            const rd_kafka_topic_result_t **tr =
                rd_kafka_DeleteTopics_result_topics(res, &n);
            for (size_t i = 0; i < n; i++) {
                rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);
                if (e && e != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
                    fprintf(stderr, "sf_e2e: delete topic %s: %s\n",
                            rd_kafka_topic_result_name(tr[i]),
                            rd_kafka_err2str(e));
                    rc = 1;
                }
            }
        }
        if (ev)
            rd_kafka_event_destroy(ev);
    }
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    return rc;
}

static int do_summary(const gen_t *g) {
    size_t counts[GEV__COUNT] = {0}, v1 = 0;
    for (size_t i = 0; i < g->n; i++) {
        counts[g->ev[i].type]++;
        if (g->ev[i].type == GEV_ADDED && g->ev[i].ver == 1)
            v1++;
    }
    printf("events=%zu carts=%u skus=%u opened=%zu added=%zu (v1=%zu v2=%zu) "
           "removed=%zu checked_out=%zu\n",
           g->n, g->ncarts, g->nskus, counts[GEV_OPENED], counts[GEV_ADDED], v1,
           counts[GEV_ADDED] - v1, counts[GEV_REMOVED],
           counts[GEV_CHECKED_OUT]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2)
        usage();
    opts_t o;
    memset(&o, 0, sizeof o);
    o.mode = argv[1];
    o.seed = 1;
    o.brokers = getenv("SF_BROKERS") ? getenv("SF_BROKERS") : "127.0.0.1:9092";
    o.redis_host =
        getenv("SF_REDIS_HOST") ? getenv("SF_REDIS_HOST") : "127.0.0.1";
    o.redis_port =
        getenv("SF_REDIS_PORT") ? atoi(getenv("SF_REDIS_PORT")) : 6379;
    o.schemas = "schemas/domains";
    o.report = 10;
    o.mask = FOLD_ALL;
    static const struct option lo[] = {
        {"seed", 1, 0, 's'},    {"events", 1, 0, 'n'}, {"prefix", 1, 0, 'p'},
        {"brokers", 1, 0, 'b'}, {"topic", 1, 0, 't'},  {"schemas", 1, 0, 'S'},
        {"from", 1, 0, 'f'},    {"to", 1, 0, 'T'},     {"upto", 1, 0, 'u'},
        {"rate", 1, 0, 'r'},    {"create", 1, 0, 'c'}, {"redis", 1, 0, 'R'},
        {"wait", 1, 0, 'w'},    {"report", 1, 0, 'e'}, {"pattern", 1, 0, 'P'},
        {"group", 1, 0, 'g'},   {"only", 1, 0, 'o'},   {0, 0, 0, 0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "b:t:", lo, NULL)) != -1) {
        switch (c) {
        case 's': o.seed = strtoull(optarg, NULL, 10); break;
        case 'n': o.events = strtoull(optarg, NULL, 10); break;
        case 'p': o.prefix = optarg; break;
        case 'b': o.brokers = optarg; break;
        case 't':
            o.topic = optarg;
            if (o.ntopics < 32)
                o.topics[o.ntopics++] = optarg;
            break;
        case 'o':
            if (strcmp(optarg, "cart") == 0)
                o.mask = FOLD_CART;
            else if (strcmp(optarg, "avail") == 0)
                o.mask = FOLD_AVAIL;
            else
                usage();
            break;
        case 'g':
            if (o.ngroups < 32)
                o.groups[o.ngroups++] = optarg;
            break;
        case 'S': o.schemas = optarg; break;
        case 'f': o.from = strtoull(optarg, NULL, 10); break;
        case 'T':
            o.to = strtoull(optarg, NULL, 10);
            o.to_given = 1;
            break;
        case 'u': o.upto = strtoull(optarg, NULL, 10); break;
        case 'r': o.rate = atof(optarg); break;
        case 'c': o.create = atoi(optarg); break;
        case 'R': {
            char *colon = strrchr(optarg, ':');
            if (!colon)
                usage();
            *colon = '\0';
            o.redis_host = optarg;
            o.redis_port = atoi(colon + 1);
            break;
        }
        case 'w': o.wait = atof(optarg); break;
        case 'e': o.report = atoi(optarg); break;
        case 'P':
            if (o.npatterns < 31)
                o.patterns[o.npatterns++] = optarg;
            break;
        default: usage();
        }
    }
    if (strcmp(o.mode, "drop") == 0)
        return do_drop(&o);
    if (!o.prefix || (!o.events && strcmp(o.mode, "cleanup") != 0))
        usage();
    gen_t g;
    if (gen_make(&g, o.seed, o.events, o.prefix) != 0) {
        fprintf(stderr, "sf_e2e: out of memory\n");
        return 1;
    }
    int rc;
    if (strcmp(o.mode, "summary") == 0)
        rc = do_summary(&g);
    else if (strcmp(o.mode, "publish") == 0) {
        if (!o.topic)
            usage();
        rc = do_publish(&o, &g);
    } else if (strcmp(o.mode, "verify") == 0)
        rc = do_verify(&o, &g);
    else if (strcmp(o.mode, "cleanup") == 0)
        rc = do_cleanup(&o, &g);
    else
        usage();
    gen_free(&g);
    return rc;
}
