/*
 * bench_latency.c - publish -> visible latency of a projector, on one
 * clock, with a harness light enough not to take the cores the projector
 * under test needs (tests/bench/run.sh, the live path).
 *
 * The publisher (the main thread, libsfproducer: the command services'
 * own library) sends CartOpened events for fresh carts <prefix>-<i> at a
 * fixed rate and notes CLOCK_MONOTONIC just before each publish.  A
 * listener thread subscribed to Redis keyspace notifications (PSUBSCRIBE
 * __keyspace@<db>__:cart:<prefix>-*) notes the same clock when each
 * cart's key first changes.  One event per cart makes that first change
 * the event's effect; both sides read the same monotonic clock, so the
 * latency needs no clock sync.  The Redis server must have
 * notify-keyspace-events with K and h (run.sh's private server has "Kh").
 *
 * Before the clock starts, the producer is warmed up: events for carts
 * "warm~<prefix>-<j>", which the listener's pattern does not match, are
 * delivered to every partition, so the producer's metadata, producer id
 * and connections are not counted as the projector's latency.
 *
 * Usage: bench_latency --brokers B --topic T --schemas DIR --prefix P
 *                      [--redis HOST:PORT] [--db N] [--rate EV_PER_S]
 *                      [--seconds S] [--samples FILE]
 * Prints "latency events=N seen=M p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.."
 * (the format of tests/bench/latency.py) and, with --samples, the
 * latencies in ms, one a line in publish order (events never seen are
 * left out).  Exit 0 when every event was seen.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "sf_producer.h"

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

typedef struct lis {
    const char *host;
    int port, db;
    const char *prefix;
    size_t n;
    int64_t *seen;       /* ns; 0: not yet */
    int64_t deadline_ns; /* give up then */
    atomic_int ready;    /* 1 subscribed, -1 failed */
    size_t nseen;
    char err[256];
} lis_t;

static void *listen_main(void *arg) {
    lis_t *l = arg;
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout(l->host, l->port, tv);
    if (!c || c->err) {
        snprintf(l->err, sizeof l->err, "redis %s:%d: %s", l->host, l->port,
                 c ? c->errstr : "out of memory");
        atomic_store(&l->ready, -1);
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv); /* so that the deadline is looked at */
    char chan[512];
    int plen = snprintf(chan, sizeof chan, "__keyspace@%d__:cart:%s-", l->db,
                        l->prefix);
    redisReply *r = redisCommand(c, "PSUBSCRIBE %s*", chan);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(l->err, sizeof l->err, "PSUBSCRIBE: %s",
                 r ? (r->type == REDIS_REPLY_ERROR ? r->str : "odd reply")
                   : c->errstr);
        freeReplyObject(r);
        redisFree(c);
        atomic_store(&l->ready, -1);
        return NULL;
    }
    freeReplyObject(r);
    atomic_store(&l->ready, 1);
    while (l->nseen < l->n && now_ns() < l->deadline_ns) {
        void *v = NULL;
        if (redisGetReply(c, &v) != REDIS_OK) {
            if (c->err == REDIS_ERR_IO &&
                (errno == EAGAIN || errno == EWOULDBLOCK)) {
                c->err = 0; /* the read timed out: look at the deadline */
                continue;
            }
            snprintf(l->err, sizeof l->err, "redis: %s", c->errstr);
            break;
        }
        int64_t t = now_ns();
        r = v;
        /* ["pmessage", pattern, channel, event] */
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
            r->element[2]->type == REDIS_REPLY_STRING &&
            r->element[2]->len > (size_t)plen) {
            char *end;
            unsigned long long i =
                strtoull(r->element[2]->str + plen, &end, 10);
            if (*end == '\0' && i < l->n && !l->seen[i]) {
                l->seen[i] = t;
                l->nseen++;
            }
        }
        freeReplyObject(r);
    }
    redisFree(c);
    return NULL;
}

static long long delivered, failed;
static char first_failure[256];

static void on_delivery(sf_producer_t *p, const sf_producer_dr_t *dr,
                        void *opaque) {
    (void)p;
    (void)opaque;
    if (sf_producer_dr_err(dr) == SF_OK) {
        delivered++;
    } else if (!failed++) {
        snprintf(first_failure, sizeof first_failure, "%s",
                 sf_producer_dr_errstr(dr));
    }
}

/* One CartOpened for cart id into ev (cleared first). */
static int cart_opened(sf_producer_event_t *ev, const char *id) {
    char json[256];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    int n = snprintf(json, sizeof json,
                     "{\"cart_id\": \"%s\", \"customer_id\": \"u\", "
                     "\"opened_at\": %lld}",
                     id, ms);
    sf_producer_event_clear(ev);
    return sf_producer_event_set_type(ev, "shop.cart.CartOpened") ||
           sf_producer_event_set_aggregate_id(ev, id) ||
           sf_producer_event_set_version(ev, 1) ||
           sf_producer_event_set_json_text(ev, json, (size_t)n);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The sample at q of the sorted xs, as latency.py picks it. */
static double pct(const int64_t *xs, size_t n, double q) {
    if (!n)
        return NAN;
    double k = q * (double)(n - 1) + 0.5;
    size_t i = k < 0 ? 0 : (size_t)k;
    return (double)xs[i < n ? i : n - 1] / 1e6;
}

static void usage(void) {
    fprintf(stderr, "usage: bench_latency --brokers B --topic T --schemas DIR "
                    "--prefix P [--redis HOST:PORT] [--db N] [--rate EV_PER_S] "
                    "[--seconds S] [--samples FILE]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *brokers = NULL, *topic = NULL, *schemas = NULL, *prefix = NULL;
    const char *samples = NULL;
    char host[256] = "127.0.0.1";
    int port = 6379, db = 0;
    double rate = 5000, seconds = 10;
    static const struct option lo[] = {
        {"brokers", 1, 0, 'b'}, {"topic", 1, 0, 't'},
        {"schemas", 1, 0, 's'}, {"prefix", 1, 0, 'p'},
        {"redis", 1, 0, 'r'},   {"db", 1, 0, 'd'},
        {"rate", 1, 0, 'R'},    {"seconds", 1, 0, 'S'},
        {"samples", 1, 0, 'o'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 's': schemas = optarg; break;
        case 'p': prefix = optarg; break;
        case 'd': db = atoi(optarg); break;
        case 'R': rate = atof(optarg); break;
        case 'S': seconds = atof(optarg); break;
        case 'o': samples = optarg; break;
        case 'r': {
            const char *colon = strrchr(optarg, ':');
            if (!colon || (size_t)(colon - optarg) >= sizeof host)
                usage();
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = '\0';
            port = atoi(colon + 1);
            break;
        }
        default: usage();
        }
    }
    if (!brokers || !topic || !schemas || !prefix || rate <= 0 || seconds <= 0)
        usage();
    size_t n = (size_t)(rate * seconds);
    int64_t *sent = calloc(n, sizeof *sent);
    int64_t *seen = calloc(n, sizeof *seen);
    if (!sent || !seen) {
        fprintf(stderr, "bench_latency: out of memory\n");
        return 1;
    }

    char err[512];
    sf_producer_conf_t *conf = sf_producer_conf_new();
    const char *props[][2] = {
        {"bootstrap.servers", brokers},
        {"sf.schema.dir", schemas},
        {"sf.topic", topic},
        {"sf.aggregate.type", "cart"},
        {"sf.source", "/bench/latency"},
        {"linger.ms", "1"}, /* as latency.py's producer */
        {"log_level", "3"},
    };
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (sf_producer_conf_set(conf, props[i][0], props[i][1], err,
                                 sizeof err) != SF_OK) {
            fprintf(stderr, "bench_latency: producer conf %s: %s\n",
                    props[i][0], err);
            return 1;
        }
    sf_producer_conf_set_dr_cb(conf, on_delivery);
    sf_producer_t *p = sf_producer_new(conf, err, sizeof err);
    if (!p) {
        fprintf(stderr, "bench_latency: producer: %s\n", err);
        return 1;
    }
    sf_producer_event_t *ev = sf_producer_event_new();
    char id[256];
    /* warm-up: enough carts that every partition gets some (the
     * aggregate id picks the partition) */
    for (int j = 0; j < 256; j++) {
        snprintf(id, sizeof id, "warm~%s-%d", prefix, j);
        if (cart_opened(ev, id) ||
            sf_producer_publish(p, ev, NULL, err, sizeof err) != SF_OK) {
            fprintf(stderr, "bench_latency: warm-up: %s\n", err);
            return 1;
        }
    }
    if (sf_producer_flush(p, 30000, err, sizeof err) != SF_OK || failed) {
        fprintf(stderr, "bench_latency: warm-up not delivered: %s\n",
                failed ? first_failure : err);
        return 1;
    }

    lis_t l = {.host = host,
               .port = port,
               .db = db,
               .prefix = prefix,
               .n = n,
               .seen = seen,
               .deadline_ns = now_ns() + (int64_t)((seconds + 60) * 1e9)};
    atomic_init(&l.ready, 0);
    pthread_t th;
    if (pthread_create(&th, NULL, listen_main, &l)) {
        fprintf(stderr, "bench_latency: cannot start the listener\n");
        return 1;
    }
    for (int i = 0; i < 1000 && !atomic_load(&l.ready); i++)
        nanosleep(&(struct timespec){0, 10000000}, NULL);
    if (atomic_load(&l.ready) != 1) {
        pthread_join(th, NULL);
        fprintf(stderr, "bench_latency: listener: %s\n",
                l.err[0] ? l.err : "not subscribed within 10 s");
        return 1;
    }

    int64_t t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        int64_t due = t0 + (int64_t)((double)i * 1e9 / rate);
        for (int64_t now = now_ns(); now < due; now = now_ns()) {
            int64_t d = due - now;
            nanosleep(&(struct timespec){0, d > 1000000 ? 1000000 : d}, NULL);
        }
        snprintf(id, sizeof id, "%s-%zu", prefix, i);
        if (cart_opened(ev, id)) {
            fprintf(stderr, "bench_latency: event %zu: setter failed\n", i);
            return 1;
        }
        sent[i] = now_ns();
        if (sf_producer_publish(p, ev, NULL, err, sizeof err) != SF_OK) {
            fprintf(stderr, "bench_latency: publish %zu: %s\n", i, err);
            return 1;
        }
        sf_producer_poll(p, 0);
    }
    sf_producer_event_destroy(ev);
    if (sf_producer_flush(p, 30000, err, sizeof err) != SF_OK)
        fprintf(stderr, "bench_latency: flush: %s\n", err);
    sf_producer_destroy(p);
    pthread_join(th, NULL);
    if (failed)
        fprintf(stderr, "bench_latency: %lld events not delivered: %s\n",
                failed, first_failure);
    if (l.err[0])
        fprintf(stderr, "bench_latency: listener: %s\n", l.err);

    /* latencies in publish order (the samples file: a time series), then
     * sorted for the percentiles */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (seen[i])
            sent[m++] = seen[i] - sent[i]; /* in place: m <= i + 1 */
    if (samples) {
        FILE *f = fopen(samples, "w");
        if (!f) {
            fprintf(stderr, "bench_latency: %s: %s\n", samples,
                    strerror(errno));
            return 1;
        }
        for (size_t i = 0; i < m; i++)
            fprintf(f, "%.3f\n", (double)sent[i] / 1e6);
        fclose(f);
    }
    qsort(sent, m, sizeof *sent, cmp_i64);
    printf("latency events=%zu seen=%zu p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f "
           "max_ms=%.2f\n",
           n, m, pct(sent, m, 0.5), pct(sent, m, 0.9), pct(sent, m, 0.99),
           m ? (double)sent[m - 1] / 1e6 : NAN);
    free(sent);
    free(seen);
    return m == n ? 0 : 1;
}
