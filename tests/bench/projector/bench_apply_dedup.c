/*
 * bench_apply_dedup.c - Redis CPU per event of the apply script with the
 * duplicate rule on and off (docs/duplicates.md), without Kafka: batches of
 * B events (one HINCRBY each, over A aggregates, versions increasing) are
 * applied through the apply script as sf-projector loads it, alternating
 * rule on / off, R rounds of N batches each.  Redis CPU is the server
 * process's CPU time (INFO cpu) over the round, so it counts everything
 * the server did for the batches (reading, the script, replies): use a
 * private, otherwise idle redis-server.  Keys go under a unique prefix and
 * are deleted at the end.
 *
 * Usage: bench_apply_dedup [--redis HOST:PORT] [--batch B] [--aggregates A]
 *                          [--batches N] [--rounds R]
 * Prints per round "dedup=on|off events=E usec=U per_event=X" and a
 * summary "on=X off=Y rule=+Z us/event".
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "dedup.h"
#include "redis_sink.h"

/* CPU time of the Redis process (INFO cpu: used_cpu_user + used_cpu_sys,
 * getrusage of the server), in microseconds.  Not INFO commandstats: its
 * usec is elapsed time, which on a loaded machine counts the time the
 * server waited for a core. */
static long long redis_cpu_usec(sf_redis_t *r) {
    redisReply *rep;
    char err[256];
    if (sf_redis_cmd(r, &rep, err, sizeof(err), "INFO cpu")) {
        fprintf(stderr, "bench_apply_dedup: %s\n", err);
        exit(1);
    }
    double u = 0, s = 0;
    const char *p = strstr(rep->str, "used_cpu_user:");
    if (p)
        u = atof(p + strlen("used_cpu_user:"));
    p = strstr(rep->str, "used_cpu_sys:");
    if (p)
        s = atof(p + strlen("used_cpu_sys:"));
    freeReplyObject(rep);
    return (long long)((u + s) * 1e6);
}

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1:6379";
    int B = 500, A = 100, N = 40, R = 3;
    static const struct option lo[] = {
        {"redis", 1, 0, 'r'},      {"batch", 1, 0, 'b'},
        {"aggregates", 1, 0, 'a'}, {"batches", 1, 0, 'n'},
        {"rounds", 1, 0, 'R'},     {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'r': addr = optarg; break;
        case 'b': B = atoi(optarg); break;
        case 'a': A = atoi(optarg); break;
        case 'n': N = atoi(optarg); break;
        case 'R': R = atoi(optarg); break;
        default: fprintf(stderr, "usage: see the source header\n"); return 2;
        }
    }
    if (B < 1 || A < 1 || N < 1 || R < 1) {
        fprintf(stderr, "bench_apply_dedup: counts must be >= 1\n");
        return 2;
    }
    char host[128];
    snprintf(host, sizeof(host), "%s", addr);
    char *colon = strrchr(host, ':');
    sf_redis_conf_t rc = {0};
    rc.port = colon ? atoi(colon + 1) : 6379;
    if (colon)
        *colon = '\0';
    rc.host = host;
    sf_redis_t *r;
    char err[512];
    if (sf_redis_connect(&rc, &r, err, sizeof(err))) {
        fprintf(stderr, "bench_apply_dedup: %s\n", err);
        return 77;
    }
    char proj[64], topic[] = "t";
    snprintf(proj, sizeof(proj), "bench%d", (int)getpid());
    double sum[2] = {0, 0};
    int64_t ver[2][1024] = {{0}}; /* per mode, per aggregate */
    if (A > 1024)
        A = 1024;
    for (int round = 0; round < R; round++)
        for (int on = 1; on >= 0; on--) {
            int64_t tok, ckpt = -1;
            int32_t part = round * 2 + on;
            if (sf_redis_epoch_bump(r, proj, topic, part, &tok, err,
                                    sizeof(err))) {
                fprintf(stderr, "bench_apply_dedup: %s\n", err);
                return 1;
            }
            sf_batch_t b;
            sf_batch_init(&b);
            long long u0 = redis_cpu_usec(r);
            int64_t off = 0;
            for (int n = 0; n < N; n++) {
                sf_batch_reset(&b);
                b.dedup = on;
                for (int i = 0; i < B; i++, off++) {
                    int agg = (int)(off % A);
                    char id[32], vs[24], key[96], idv[48];
                    snprintf(id, sizeof(id), "a%d", agg);
                    snprintf(vs, sizeof(vs), "%" PRId64, ++ver[on][agg]);
                    snprintf(idv, sizeof(idv),
                             "%08d-0000-4000-8000-%012" PRId64, agg, off);
                    sf_event_t ev;
                    memset(&ev, 0, sizeof(ev));
                    ev.topic = topic;
                    ev.aggregate_id = id;
                    ev.aggregate_id_len = strlen(id);
                    ev.version = vs;
                    ev.version_len = strlen(vs);
                    ev.id = idv;
                    ev.id_len = strlen(idv);
                    sf_batch_event_begin(&b, off, 0);
                    if (sf_dedup_event(&b, proj, &ev, err, sizeof(err))) {
                        fprintf(stderr, "bench_apply_dedup: %s\n", err);
                        return 1;
                    }
                    snprintf(key, sizeof(key), "%s:p%d:{%s}", proj, part, id);
                    const char *cmd[] = {"HINCRBY", key, "n", "1"};
                    if (sf_batch_command(&b, 4, cmd, NULL, err, sizeof(err))) {
                        fprintf(stderr, "bench_apply_dedup: %s\n", err);
                        return 1;
                    }
                    sf_batch_event_end(&b);
                }
                sf_apply_req_t q = {&b, topic, part, tok, ckpt, 0};
                sf_apply_res_t res;
                memset(&res, 0, sizeof(res));
                if (sf_redis_apply(r, proj, 1, &q, &res, err, sizeof(err)) ||
                    res.status != SF_APPLY_OK || res.applied != B) {
                    fprintf(stderr, "bench_apply_dedup: apply: %s %s\n", err,
                            res.msg);
                    return 1;
                }
                ckpt = b.last_offset;
            }
            long long us = redis_cpu_usec(r) - u0;
            double per = (double)us / (double)(N * B);
            sum[on] += per;
            printf("dedup=%s events=%d usec=%lld per_event=%.3f\n",
                   on ? "on" : "off", N * B, us, per);
            sf_batch_free(&b);
        }
    printf("on=%.3f off=%.3f rule=%+.3f us/event (batch %d, %d aggregates, "
           "mean of %d rounds)\n",
           sum[1] / R, sum[0] / R, (sum[1] - sum[0]) / R, B, A, R);
    /* clean up */
    char pat[128];
    int64_t del;
    snprintf(pat, sizeof(pat), "%s:*", proj);
    sf_redis_clear(r, pat, &del, err, sizeof(err));
    snprintf(pat, sizeof(pat), "sf:%s:*", proj);
    sf_redis_clear(r, pat, &del, err, sizeof(err));
    sf_redis_destroy(r);
    return 0;
}
