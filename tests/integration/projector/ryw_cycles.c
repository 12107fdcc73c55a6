/* ryw_cycles.c - read your own writes, end to end: N times publish one
 * event (libsfproducer, synchronous, with its position token), wait until
 * the projection applied it (sf_projector_waiter_wait), read the view with
 * hiredis: the read must show exactly the writes published so far.  The
 * projector runs embedded in this process (sf_projector_new/run/stop), so
 * the test also checks that it starts, works and stops by a call.
 *
 *   ryw_cycles CONFIG PROJECTION TOPIC SCHEMA_DIR N PREFIX
 *
 * The projection's rule: ItemAddedToCart -> HINCRBY PREFIX:<aggregate> x
 * <quantity>.  Quantities are 1, aggregates rotate over 5 ids (several
 * partitions).  Prints the last token on stdout and, on stderr, how many
 * reads taken right after the publish (before waiting) were stale: the
 * evidence that waiting is what makes the reads right.  Exit 0 when every
 * read after the wait showed its write, 1 otherwise. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis.h>

#include "sf_position.h"
#include "sf_producer.h"
#include "sf_projector.h"

#define NAGG 5

static sf_projector_t *pj;
static sf_err_t run_err;
static char run_msg[1024];

static void *runner(void *arg) {
    (void)arg;
    run_err = sf_projector_run(pj, run_msg, sizeof(run_msg));
    return NULL;
}

static long long hget(redisContext *rc, const char *key) {
    redisReply *r = redisCommand(rc, "HGET %s x", key);
    long long v = -2;
    if (r && r->type == REDIS_REPLY_STRING)
        v = atoll(r->str);
    else if (r && r->type == REDIS_REPLY_NIL)
        v = 0;
    if (r)
        freeReplyObject(r);
    return v;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: ryw_cycles CONFIG PROJECTION TOPIC "
                        "SCHEMA_DIR N PREFIX\n");
        return 2;
    }
    const char *config = argv[1], *proj = argv[2], *topic = argv[3];
    int n = atoi(argv[5]);
    const char *prefix = argv[6];
    const char *brokers = getenv("SF_BROKERS");
    const char *rhost = getenv("SF_REDIS_HOST");
    const char *rport = getenv("SF_REDIS_PORT");
    char err[1024];
    int rc = 1;

    if (sf_projector_new(config, &proj, 1, &pj, err, sizeof(err))) {
        fprintf(stderr, "sf_projector_new: %s\n", err);
        return 1;
    }
    pthread_t th;
    pthread_create(&th, NULL, runner, NULL);

    sf_projector_waiter_t *w = NULL;
    sf_producer_conf_t *conf = sf_producer_conf_new();
    sf_producer_t *p = NULL;
    sf_producer_event_t *ev = sf_producer_event_new();
    redisContext *redis =
        redisConnect(rhost ? rhost : "127.0.0.1", rport ? atoi(rport) : 6379);
    if (!redis || redis->err) {
        fprintf(stderr, "redis: %s\n", redis ? redis->errstr : "no memory");
        goto out;
    }
    if (sf_projector_waiter_new(config, proj, &w, err, sizeof(err))) {
        fprintf(stderr, "waiter: %s\n", err);
        goto out;
    }
    if (sf_producer_conf_set(conf, "bootstrap.servers",
                             brokers ? brokers : "127.0.0.1:9092", err,
                             sizeof(err)) ||
        sf_producer_conf_set(conf, "sf.schema.dir", argv[4], err,
                             sizeof(err)) ||
        sf_producer_conf_set(conf, "sf.topic", topic, err, sizeof(err)) ||
        !(p = sf_producer_new(conf, err, sizeof(err)))) {
        fprintf(stderr, "producer: %s\n", err);
        goto out;
    }
    long long want[NAGG] = {0};
    int stale = 0, bad = 0;
    char token[SF_POSITION_TOKEN_MAX] = "";
    for (int i = 0; i < n && bad < 5; i++) {
        int a = i % NAGG;
        char agg[128], key[256], data[512];
        snprintf(agg, sizeof(agg), "%s-a%d", prefix, a);
        snprintf(key, sizeof(key), "%s:%s", prefix, agg);
        snprintf(data, sizeof(data),
                 "{\"cart_id\":\"%s\",\"sku\":\"x\",\"quantity\":1,"
                 "\"unit_price_cents\":1,\"added_at\":%d,"
                 "\"currency\":\"EUR\"}",
                 agg, i);
        sf_producer_event_clear(ev);
        if (sf_producer_event_set_type(ev, "shop.cart.ItemAddedToCart") ||
            sf_producer_event_set_aggregate_id(ev, agg) ||
            sf_producer_event_set_json_text(ev, data, strlen(data)) ||
            sf_producer_publish_sync_position(p, ev, token, sizeof(token), err,
                                              sizeof(err))) {
            fprintf(stderr, "cycle %d: publish: %s\n", i, err);
            goto out;
        }
        want[a]++;
        if (hget(redis, key) != want[a])
            stale++; /* read without waiting: may miss its own write */
        sf_err_t e =
            sf_projector_waiter_wait(w, token, 30000, err, sizeof(err));
        if (e) {
            fprintf(stderr, "cycle %d: wait %s: %s\n", i, token, err);
            bad++;
            continue;
        }
        long long got = hget(redis, key);
        if (got != want[a]) {
            fprintf(stderr,
                    "cycle %d: %s after waiting for %s: x=%lld, "
                    "want %lld\n",
                    i, key, token, got, want[a]);
            bad++;
        }
    }
    fprintf(stderr,
            "ryw_cycles: %d cycles, %d reads wrong after waiting, "
            "%d of the reads before waiting were stale\n",
            n, bad, stale);
    printf("%s\n", token);
    rc = bad ? 1 : 0;
out:
    sf_projector_stop(pj);
    pthread_join(th, NULL);
    if (run_err) {
        fprintf(stderr, "sf_projector_run: %s\n", run_msg);
        rc = 1;
    }
    sf_projector_destroy(pj);
    sf_projector_waiter_destroy(w);
    if (ev)
        sf_producer_event_destroy(ev);
    if (p)
        sf_producer_destroy(p); /* it owns conf */
    else
        sf_producer_conf_destroy(conf);
    if (redis)
        redisFree(redis);
    return rc;
}
