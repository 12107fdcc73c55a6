/*
 * bench_redis.c - a contender of tests/bench/run.sh: the Redis
 * commands a projection issues for a generated cart history (the same
 * history sf_e2e publishes for the same seed/events/prefix), applied with
 * hiredis pipelining in chunks, replies read and checked.  No Kafka, no
 * decoding, no checkpoints: the cost of the view writes alone.
 *
 * Usage: bench_redis --seed S --events N --prefix P [--redis HOST:PORT]
 *                    [--only cart|avail] [--pipeline K]
 * Prints: "redis events=N commands=C seconds=S rate=R" (events/s).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "e2e_fold.h"
#include "e2e_gen.h"

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct pipe {
    redisContext *rc;
    long long pending, total;
} pipe_t;

static void drain(pipe_t *p) {
    for (; p->pending > 0; p->pending--) {
        redisReply *r = NULL;
        if (redisGetReply(p->rc, (void **)&r) != REDIS_OK) {
            fprintf(stderr, "bench_redis: %s\n", p->rc->errstr);
            exit(1);
        }
        if (r->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "bench_redis: command failed: %s\n", r->str);
            exit(1);
        }
        freeReplyObject(r);
    }
}

static void emit(void *opaque, int argc, const char **argv) {
    pipe_t *p = opaque;
    redisAppendCommandArgv(p->rc, argc, argv, NULL);
    p->pending++;
    p->total++;
}

int main(int argc, char **argv) {
    uint64_t seed = 1;
    size_t events = 0;
    const char *prefix = NULL;
    const char *host = "127.0.0.1";
    int port = 6379, mask = FOLD_CART, chunk = 1000;
    static const struct option lo[] = {
        {"seed", 1, 0, 's'},  {"events", 1, 0, 'n'}, {"prefix", 1, 0, 'p'},
        {"redis", 1, 0, 'R'}, {"only", 1, 0, 'o'},   {"pipeline", 1, 0, 'k'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 's': seed = strtoull(optarg, NULL, 10); break;
        case 'n': events = strtoull(optarg, NULL, 10); break;
        case 'p': prefix = optarg; break;
        case 'R': {
            char *colon = strrchr(optarg, ':');
            if (!colon)
                goto usage;
            *colon = '\0';
            host = optarg;
            port = atoi(colon + 1);
            break;
        }
        case 'o':
            mask = strcmp(optarg, "avail") == 0 ? FOLD_AVAIL
                   : strcmp(optarg, "all") == 0 ? FOLD_ALL
                                                : FOLD_CART;
            break;
        case 'k': chunk = atoi(optarg) > 0 ? atoi(optarg) : 1000; break;
        default: goto usage;
        }
    }
    if (!prefix || !events)
        goto usage;
    gen_t g;
    if (gen_make(&g, seed, events, prefix) != 0) {
        fprintf(stderr, "bench_redis: out of memory\n");
        return 1;
    }
    struct timeval tv = {10, 0};
    pipe_t p = {redisConnectWithTimeout(host, port, tv), 0, 0};
    if (!p.rc || p.rc->err) {
        fprintf(stderr, "bench_redis: %s:%d: %s\n", host, port,
                p.rc ? p.rc->errstr : "out of memory");
        return 1;
    }
    double t0 = mono();
    for (size_t i = 0; i < g.n; i++) {
        fold_commands(&g, i, mask, emit, &p);
        if (p.pending >= chunk)
            drain(&p);
    }
    drain(&p);
    double secs = mono() - t0;
    printf("redis events=%zu commands=%lld seconds=%.3f rate=%.0f\n", g.n,
           p.total, secs, secs > 0 ? (double)g.n / secs : 0.0);
    redisFree(p.rc);
    gen_free(&g);
    return 0;
usage:
    fprintf(stderr, "usage: bench_redis --seed S --events N --prefix P "
                    "[--redis HOST:PORT] [--only cart|avail|all] "
                    "[--pipeline K]\n");
    return 2;
}
