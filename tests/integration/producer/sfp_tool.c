/*
 * sfp_tool - drives libsfproducer for the producer integration tests.
 *
 *   sfp_tool mt BROKERS TOPIC SCHEMA_DIR THREADS AGGS EVENTS
 *       THREADS threads publish at once; thread t owns aggregates
 *       "mt-<t>-<a>" (a < AGGS) and publishes EVENTS ItemAddedToCart events
 *       per aggregate with versions 1..EVENTS, round-robin over its
 *       aggregates.  Exit 0 when every event was delivered.
 *   sfp_tool load BROKERS TOPIC SCHEMA_DIR N RATE
 *       N events with event ids "load-<i>" on 20 aggregates at about RATE
 *       events/s; message.timeout.ms 120000 so a broker restart is ridden
 *       out.  Prints "delivered D failed F"; exit 0 when D == N.
 *   sfp_tool txn-abort BROKERS TOPIC SCHEMA_DIR N
 *       begin; N events "aborted-<i>"; flush (all acknowledged by the
 *       broker); abort.  Then begin; N events "committed-<i>"; commit.
 *   sfp_tool fence BROKERS TOPIC SCHEMA_DIR
 *       producer A (transactional.id X) begins and publishes "zombie-<i>";
 *       producer B starts with the same X, which fences A: A's commit and
 *       any further publish must fail with SF_ERR_KAFKA_FATAL; B commits
 *       "fresh-<i>".  Exit 0 when all of that holds.
 *   sfp_tool status BROKERS TOPIC SCHEMA_DIR N PREFIX TIMEOUT_MS [GO_FILE]
 *       N events with ids "<PREFIX>-<i>" (message.timeout.ms TIMEOUT_MS);
 *       prints "<id> <persistence status>" per delivery report.  With
 *       GO_FILE: first one event "<PREFIX>-warm" published synchronously
 *       (connection, producer id and metadata in place), then "ready" on
 *       stdout, then it waits until GO_FILE exists before publishing the
 *       N (the test stops the broker in between).  Exit 0 when every event
 *       got its report.
 *
 * Prints one line per failure on stderr.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sf_producer.h"

static atomic_long delivered, failed;
static int print_status; /* status mode: one line per report on stdout */
static atomic_int threads_done;

static void on_dr(sf_producer_t *p, const sf_producer_dr_t *dr, void *op) {
    (void)p;
    (void)op;
    if (print_status)
        printf("%s %s\n", sf_producer_dr_event_id(dr),
               sf_producer_persisted_name(sf_producer_dr_persisted(dr)));
    if (sf_producer_dr_err(dr)) {
        atomic_fetch_add(&failed, 1);
        fprintf(stderr, "failed: %s (%s)\n", sf_producer_dr_event_id(dr),
                sf_producer_dr_errstr(dr));
    } else {
        atomic_fetch_add(&delivered, 1);
    }
}

static sf_producer_t *make(const char *brokers, const char *topic,
                           const char *dir, const char *txnid,
                           const char *timeout) {
    sf_producer_conf_t *conf = sf_producer_conf_new();
    char err[512];
    sf_producer_t *p;

    if (sf_producer_conf_set(conf, "bootstrap.servers", brokers, err,
                             sizeof(err)) ||
        sf_producer_conf_set(conf, "sf.topic", topic, err, sizeof(err)) ||
        sf_producer_conf_set(conf, "sf.aggregate.type", "cart", err,
                             sizeof(err)) ||
        sf_producer_conf_set(conf, "sf.schema.dir", dir, err, sizeof(err)) ||
        sf_producer_conf_set(conf, "sf.source", "sfp_tool", err, sizeof(err)) ||
        (timeout && sf_producer_conf_set(conf, "message.timeout.ms", timeout,
                                         err, sizeof(err))) ||
        (txnid && sf_producer_conf_set(conf, "transactional.id", txnid, err,
                                       sizeof(err)))) {
        fprintf(stderr, "config: %s\n", err);
        exit(2);
    }
    if (getenv("SFP_DEBUG") &&
        sf_producer_conf_set(conf, "debug", getenv("SFP_DEBUG"), err,
                             sizeof(err))) {
        fprintf(stderr, "config: %s\n", err);
        exit(2);
    }
    sf_producer_conf_set_dr_cb(conf, on_dr);
    p = sf_producer_new(conf, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "producer: %s\n", err);
        exit(2);
    }
    return p;
}

static void fill(sf_producer_event_t *ev, const char *agg, long version,
                 const char *id) {
    char data[256];

    sf_producer_event_clear(ev);
    snprintf(data, sizeof(data),
             "{\"cart_id\": \"%s\", \"sku\": \"sku-%ld\", \"quantity\": 1, "
             "\"unit_price_cents\": %ld, \"added_at\": 1764162309042, "
             "\"currency\": \"EUR\"}",
             agg, version, version);
    sf_producer_event_set_type(ev, "shop.cart.ItemAddedToCart");
    sf_producer_event_set_aggregate_id(ev, agg);
    sf_producer_event_set_version(ev, version);
    if (id)
        sf_producer_event_set_id(ev, id);
    sf_producer_event_set_json_text(ev, data, strlen(data));
}

static void publish_or_die(sf_producer_t *p, sf_producer_event_t *ev) {
    char err[512];

    if (sf_producer_publish(p, ev, NULL, err, sizeof(err))) {
        fprintf(stderr, "publish: %s\n", err);
        exit(1);
    }
}

/* ---- mt ---------------------------------------------------------------- */

typedef struct mt_arg {
    sf_producer_t *p;
    int thread, aggs, events;
} mt_arg_t;

static void *mt_thread(void *a) {
    mt_arg_t *m = a;
    sf_producer_event_t *ev = sf_producer_event_new();
    char agg[64];

    for (int v = 1; v <= m->events; v++)
        for (int i = 0; i < m->aggs; i++) {
            snprintf(agg, sizeof(agg), "mt-%d-%d", m->thread, i);
            fill(ev, agg, v, NULL);
            publish_or_die(m->p, ev);
        }
    sf_producer_event_destroy(ev);
    atomic_fetch_add(&threads_done, 1);
    return NULL;
}

static int cmd_mt(char **argv) {
    sf_producer_t *p = make(argv[0], argv[1], argv[2], NULL, NULL);
    int threads = atoi(argv[3]), aggs = atoi(argv[4]), events = atoi(argv[5]);
    pthread_t tid[64];
    mt_arg_t args[64];
    long want = (long)threads * aggs * events;

    if (threads < 1 || threads > 64)
        return 2;
    for (int t = 0; t < threads; t++) {
        args[t] = (mt_arg_t){p, t, aggs, events};
        pthread_create(&tid[t], NULL, mt_thread, &args[t]);
    }
    /* The application thread serves the delivery reports meanwhile. */
    while (atomic_load(&threads_done) < threads)
        sf_producer_poll(p, 10);
    for (int t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    sf_producer_flush(p, -1, NULL, 0);
    sf_producer_destroy(p);
    printf("delivered %ld failed %ld\n", atomic_load(&delivered),
           atomic_load(&failed));
    return atomic_load(&delivered) == want ? 0 : 1;
}

/* ---- load -------------------------------------------------------------- */

static int cmd_load(char **argv) {
    sf_producer_t *p = make(argv[0], argv[1], argv[2], NULL, "120000");
    long n = atol(argv[3]), rate = atol(argv[4]);
    sf_producer_event_t *ev = sf_producer_event_new();
    long versions[20] = {0};
    char agg[32], id[32];
    struct timespec pause = {0, 0};

    if (rate > 0)
        pause.tv_nsec = 1000000000L / rate;
    for (long i = 0; i < n; i++) {
        int a = (int)(i % 20);

        snprintf(agg, sizeof(agg), "load-agg-%d", a);
        snprintf(id, sizeof(id), "load-%ld", i);
        fill(ev, agg, ++versions[a], id);
        publish_or_die(p, ev);
        sf_producer_poll(p, 0);
        if (rate > 0)
            nanosleep(&pause, NULL);
    }
    sf_producer_flush(p, -1, NULL, 0);
    sf_producer_event_destroy(ev);
    sf_producer_destroy(p);
    printf("delivered %ld failed %ld\n", atomic_load(&delivered),
           atomic_load(&failed));
    return atomic_load(&delivered) == n ? 0 : 1;
}

/* ---- status ------------------------------------------------------------ */

static int cmd_status(int argc, char **argv) {
    sf_producer_t *p = make(argv[0], argv[1], argv[2], NULL, argv[5]);
    long n = atol(argv[3]);
    sf_producer_event_t *ev = sf_producer_event_new();
    char id[64], err[512];

    print_status = 1;
    if (argc == 7) {
        snprintf(id, sizeof(id), "%s-warm", argv[4]);
        fill(ev, "status-agg", 1, id);
        if (sf_producer_publish_sync(p, ev, NULL, NULL, err, sizeof(err))) {
            fprintf(stderr, "warm-up: %s\n", err);
            return 1;
        }
        printf("ready\n");
        while (access(argv[6], F_OK) != 0)
            sf_producer_poll(p, 50);
    }
    for (long i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%s-%ld", argv[4], i);
        fill(ev, "status-agg", 0, id);
        publish_or_die(p, ev);
    }
    sf_producer_flush(p, -1, NULL, 0);
    sf_producer_event_destroy(ev);
    sf_producer_destroy(p);
    /* the warm-up was synchronous: no callback for it */
    return atomic_load(&delivered) + atomic_load(&failed) == n ? 0 : 1;
}

/* ---- txn-abort --------------------------------------------------------- */

static int cmd_txn_abort(char **argv) {
    char txnid[64], err[512], id[32];
    sf_producer_t *p;
    sf_producer_event_t *ev = sf_producer_event_new();
    long n = atol(argv[3]);

    snprintf(txnid, sizeof(txnid), "sfp-tool-%ld", (long)getpid());
    p = make(argv[0], argv[1], argv[2], txnid, NULL);
    if (sf_producer_begin(p, err, sizeof(err)))
        goto fail;
    for (long i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "aborted-%ld", i);
        fill(ev, "txn-agg", i + 1, id);
        publish_or_die(p, ev);
    }
    /* Halfway: every record is on the broker (acknowledged)... */
    if (sf_producer_flush(p, 30000, err, sizeof(err)))
        goto fail;
    if (atomic_load(&delivered) != n) {
        fprintf(stderr, "only %ld of %ld acknowledged before abort\n",
                atomic_load(&delivered), n);
        return 1;
    }
    /* ...and then the transaction is aborted. */
    if (sf_producer_abort(p, err, sizeof(err)))
        goto fail;
    if (sf_producer_begin(p, err, sizeof(err)))
        goto fail;
    for (long i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "committed-%ld", i);
        fill(ev, "txn-agg", i + 1, id);
        publish_or_die(p, ev);
    }
    if (sf_producer_commit(p, err, sizeof(err)))
        goto fail;
    sf_producer_event_destroy(ev);
    sf_producer_destroy(p);
    printf("aborted %ld committed %ld\n", n, n);
    return 0;
fail:
    fprintf(stderr, "txn-abort: %s\n", err);
    return 1;
}

/* ---- fence ------------------------------------------------------------ */

static int cmd_fence(char **argv) {
    char txnid[64], err[512], id[32];
    sf_producer_t *a, *b;
    sf_producer_event_t *ev = sf_producer_event_new();
    sf_err_t e;

    snprintf(txnid, sizeof(txnid), "sfp-fence-%ld", (long)getpid());
    a = make(argv[0], argv[1], argv[2], txnid, NULL);
    if (sf_producer_begin(a, err, sizeof(err)))
        goto fail;
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "zombie-%d", i);
        fill(ev, "fence-agg", i + 1, id);
        publish_or_die(a, ev);
    }
    sf_producer_flush(a, 30000, NULL, 0);

    b = make(argv[0], argv[1], argv[2], txnid, NULL);
    if (sf_producer_begin(b, err, sizeof(err))) /* fences a */
        goto fail;
    e = sf_producer_commit(a, err, sizeof(err));
    printf("zombie commit: %s: %s\n", sf_err_name(e), err);
    if (e != SF_ERR_KAFKA_FATAL)
        return 1;
    fill(ev, "fence-agg", 6, "zombie-late");
    e = sf_producer_publish(a, ev, NULL, err, sizeof(err));
    printf("zombie publish: %s: %s\n", sf_err_name(e), err);
    if (e != SF_ERR_KAFKA_FATAL)
        return 1;
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "fresh-%d", i);
        fill(ev, "fence-agg", i + 1, id);
        publish_or_die(b, ev);
    }
    if (sf_producer_commit(b, err, sizeof(err)))
        goto fail;
    sf_producer_event_destroy(ev);
    sf_producer_destroy(b);
    sf_producer_destroy(a);
    printf("fenced zombie, committed 5 fresh\n");
    return 0;
fail:
    fprintf(stderr, "fence: %s\n", err);
    return 1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 8 && !strcmp(argv[1], "mt"))
        return cmd_mt(argv + 2);
    if (argc == 7 && !strcmp(argv[1], "load"))
        return cmd_load(argv + 2);
    if ((argc == 8 || argc == 9) && !strcmp(argv[1], "status"))
        return cmd_status(argc - 2, argv + 2);
    if (argc == 6 && !strcmp(argv[1], "txn-abort"))
        return cmd_txn_abort(argv + 2);
    if (argc == 5 && !strcmp(argv[1], "fence"))
        return cmd_fence(argv + 2);
    fprintf(stderr, "usage: sfp_tool mt|load|status|txn-abort|fence ... "
                    "(see source)\n");
    return 2;
}
