/* lifecycle.c - partition ownership between workers and rebuilds (see
 * lifecycle.h). */
#include "lifecycle.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void keys(const char *proj, char *marker, char *gen, size_t size) {
    sf_redis_key(marker, size, proj, "rebuild", NULL, 0);
    sf_redis_key(gen, size, proj, "generation", NULL, 0);
}

static int64_t int_of(const redisReply *r) {
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return -1;
}

sf_err_t sf_life_acquire(sf_redis_t *r, const char *proj, const char *topic,
                         int32_t partition, int64_t fenced_gen,
                         sf_acquire_t *out, char *errstr, size_t errstr_size) {
    char mk[512], gk[512], ek[512], ck[512];
    keys(proj, mk, gk, sizeof(mk));
    sf_redis_key(ek, sizeof(ek), proj, "epoch", topic, partition);
    sf_redis_key(ck, sizeof(ck), proj, "ckpt", topic, partition);
    memset(out, 0, sizeof(*out));
    out->ckpt = -1;
    /* EXEC only fails when a rebuild began between the WATCH and the
     * EXEC; a few rounds settle it (the next round sees the marker). */
    for (int round = 0; round < 20; round++) {
        redisReply *rep = NULL;
        sf_err_t e =
            sf_redis_cmd(r, NULL, errstr, errstr_size, "WATCH %s %s", mk, gk);
        if (!e)
            e = sf_redis_cmd(r, &rep, errstr, errstr_size, "MGET %s %s", mk,
                             gk);
        if (e)
            return e;
        int rebuilding = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
                         rep->element[0]->type == REDIS_REPLY_STRING;
        int64_t gen = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
                              rep->element[1]->type == REDIS_REPLY_STRING
                          ? strtoll(rep->element[1]->str, NULL, 10)
                          : 0;
        if (rebuilding)
            snprintf(out->marker, sizeof(out->marker), "%s",
                     rep->element[0]->str);
        freeReplyObject(rep);
        out->generation = gen;
        if (rebuilding || (fenced_gen >= 0 && gen == fenced_gen)) {
            if ((e = sf_redis_cmd(r, NULL, errstr, errstr_size, "UNWATCH")))
                return e;
            if (rebuilding) {
                out->rebuilding = 1;
                return SF_OK;
            }
            return sf_seterr(errstr, errstr_size, SF_ERR_FENCED,
                             "%s/%" PRId32 ": another owner took the "
                             "partition (no rebuild since generation %" PRId64
                             ")",
                             topic, partition, gen);
        }
        if ((e = sf_redis_cmd(r, NULL, errstr, errstr_size, "MULTI")) ||
            (e = sf_redis_cmd(r, NULL, errstr, errstr_size, "INCR %s", ek)) ||
            (e = sf_redis_cmd(r, NULL, errstr, errstr_size, "GET %s", ck)) ||
            (e = sf_redis_cmd(r, &rep, errstr, errstr_size, "EXEC")))
            return e;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2) {
            out->token = int_of(rep->element[0]);
            out->ckpt = rep->element[1]->type == REDIS_REPLY_STRING
                            ? strtoll(rep->element[1]->str, NULL, 10)
                            : -1;
            freeReplyObject(rep);
            return SF_OK;
        }
        freeReplyObject(rep); /* nil: a rebuild began meanwhile */
    }
    return sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                     "%s/%" PRId32 ": could not take the partition: its "
                     "rebuild bookkeeping kept changing",
                     topic, partition);
}

sf_err_t sf_life_rebuild_marker(sf_redis_t *r, const char *proj, int *found,
                                char *marker, size_t marker_size, char *errstr,
                                size_t errstr_size) {
    char mk[512], gk[512];
    keys(proj, mk, gk, sizeof(mk));
    redisReply *rep = NULL;
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", mk);
    if (e)
        return e;
    *found = rep->type == REDIS_REPLY_STRING;
    if (marker && marker_size)
        snprintf(marker, marker_size, "%s", *found ? rep->str : "");
    freeReplyObject(rep);
    return SF_OK;
}

void sf_life_marker_text(char *buf, size_t size) {
    char host[128] = "?";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = 0;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* a random id makes each rebuild's marker its own, even for two
     * rebuilds of one process or one second (they fence each other by it) */
    unsigned long long id = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(&id, sizeof(id), 1, f) != 1)
        id = ((unsigned long long)now << 20) ^ (unsigned long long)getpid() ^
             (unsigned long long)clock();
    if (f)
        fclose(f);
    snprintf(buf, size, "%s pid %ld since %s id %016llx", host, (long)getpid(),
             ts, id);
}

sf_err_t sf_life_rebuild_keep(sf_redis_t *r, const char *proj,
                              const char *marker, int *ours, char *errstr,
                              size_t errstr_size) {
    char mk[512], gk[512];
    keys(proj, mk, gk, sizeof(mk));
    sf_err_t e =
        sf_redis_cmd(r, NULL, errstr, errstr_size, "SET %s %s NX", mk, marker);
    int found = 0;
    char held[256] = "";
    if (!e)
        e = sf_life_rebuild_marker(r, proj, &found, held, sizeof(held), errstr,
                                   errstr_size);
    if (!e)
        *ours = found && !strcmp(held, marker);
    return e;
}

sf_err_t sf_life_rebuild_begin(sf_redis_t *r, const char *proj,
                               const char *marker, int force, char *errstr,
                               size_t errstr_size) {
    char mk[512], gk[512];
    keys(proj, mk, gk, sizeof(mk));
    redisReply *rep = NULL;
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size,
                              force ? "SET %s %s" : "SET %s %s NX", mk, marker);
    if (e)
        return e;
    int taken = rep->type != REDIS_REPLY_NIL;
    freeReplyObject(rep);
    if (!taken) {
        char held[256] = "?";
        int found = 0;
        sf_life_rebuild_marker(r, proj, &found, held, sizeof(held), NULL, 0);
        return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                         "projection %s: a rebuild is already running or "
                         "was interrupted (%s = \"%s\"); if no rebuild runs "
                         "any more, run this rebuild again with --force",
                         proj, mk, held);
    }
    return sf_redis_cmd(r, NULL, errstr, errstr_size, "INCR %s", gk);
}

sf_err_t sf_life_rebuild_end(sf_redis_t *r, const char *proj,
                             const char *marker, char *errstr,
                             size_t errstr_size) {
    char mk[512], gk[512];
    keys(proj, mk, gk, sizeof(mk));
    redisReply *rep = NULL;
    sf_err_t e = sf_redis_cmd(r, NULL, errstr, errstr_size, "WATCH %s", mk);
    if (!e)
        e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", mk);
    if (e)
        return e;
    int ours = rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, marker);
    freeReplyObject(rep);
    if (!ours)
        return sf_redis_cmd(r, NULL, errstr, errstr_size, "UNWATCH");
    if ((e = sf_redis_cmd(r, NULL, errstr, errstr_size, "MULTI")) ||
        (e = sf_redis_cmd(r, NULL, errstr, errstr_size, "DEL %s", mk)))
        return e;
    return sf_redis_cmd(r, NULL, errstr, errstr_size, "EXEC");
}
