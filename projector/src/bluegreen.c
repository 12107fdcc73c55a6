/* bluegreen.c - generations of a projection's view in two Redis
 * databases, switched with SWAPDB (see bluegreen.h). */
#include "bluegreen.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "control.h"
#include "kconf.h"
#include "log.h"

/* Bookkeeping that belongs to the projection, not to one generation:
 * carried from the live database into the spare at every switch.  Per
 * partition: dead-letter and skip records and the skip counter; global:
 * the operator's pause state and the workers' reports.  What stays with
 * its generation: checkpoints, halt records, topic identity, epochs and
 * the generation counter (both set above the live ones instead). */
static const char *const carry_part[] = {"dlq", "skipped", "skips"};
static const char *const carry_global[] = {"paused", "pause_gen", "pause_ack",
                                           "parts"};
#define NCARRY_PART   (sizeof(carry_part) / sizeof(carry_part[0]))
#define NCARRY_GLOBAL (sizeof(carry_global) / sizeof(carry_global[0]))

static void now_rfc3339(char *buf, size_t size) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

sf_err_t sf_bg_check_config(const sf_config_t *cfg, const sf_pconf_t *pc,
                            char *errstr, size_t errstr_size) {
    if (pc->spare_db < 0)
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "projection %s has no spare_db: a blue/green "
                         "rebuild builds the new generation in it; configure "
                         "spare_db (an empty Redis database of its own) or "
                         "pass --in-place (the view is empty while it is "
                         "rebuilt)",
                         pc->name);
    for (size_t i = 0; i < cfg->nproj; i++) {
        const sf_pconf_t *o = &cfg->proj[i];
        if (o == pc)
            continue;
        int which = o->db == pc->db         ? pc->db
                    : o->db == pc->spare_db ? pc->spare_db
                    : o->spare_db >= 0 && (o->spare_db == pc->db ||
                                           o->spare_db == pc->spare_db)
                        ? o->spare_db
                        : -1;
        if (which >= 0)
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "projection %s (db %d, spare_db %d) shares "
                             "database %d with projection %s (db %d, "
                             "spare_db %d): SWAPDB switches whole databases, "
                             "so a projection rebuilt blue/green needs both "
                             "of its databases to itself",
                             pc->name, pc->db, pc->spare_db, which, o->name,
                             o->db, o->spare_db);
    }
    return SF_OK;
}

sf_err_t sf_bg_spare_conf(const sf_pconf_t *pc, sf_redis_conf_t *out) {
    memset(out, 0, sizeof(*out));
    if (sf_redis_conf_copy(out, &pc->redis))
        return SF_ERR_NOMEM;
    out->db = pc->spare_db;
    return SF_OK;
}

static void hfield(const redisReply *rep, const char *name, char *out,
                   size_t size) {
    out[0] = '\0';
    if (!rep || rep->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i + 1 < rep->elements; i += 2)
        if (rep->element[i]->type == REDIS_REPLY_STRING &&
            !strcmp(rep->element[i]->str, name) &&
            rep->element[i + 1]->type == REDIS_REPLY_STRING)
            snprintf(out, size, "%s", rep->element[i + 1]->str);
}

static int64_t int_reply(const redisReply *rep) {
    if (!rep)
        return 0;
    if (rep->type == REDIS_REPLY_INTEGER)
        return rep->integer;
    if (rep->type == REDIS_REPLY_STRING)
        return strtoll(rep->str, NULL, 10);
    return 0;
}

sf_err_t sf_bg_info(sf_redis_t *r, const char *proj, int db, const sf_tp_t *tps,
                    size_t ntp, sf_gen_info_t *out, char *errstr,
                    size_t errstr_size) {
    char key[512];
    redisReply *rep = NULL;
    memset(out, 0, sizeof(*out));
    out->db = db;
    out->pause_ms = -1;
    sf_redis_key(key, sizeof(key), proj, "gen", NULL, 0);
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size, "HGETALL %s", key);
    if (e)
        return e;
    out->found = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0;
    char pm[32];
    hfield(rep, "state", out->state, sizeof(out->state));
    hfield(rep, "digest", out->digest, sizeof(out->digest));
    hfield(rep, "built", out->built, sizeof(out->built));
    hfield(rep, "switched", out->switched, sizeof(out->switched));
    hfield(rep, "pause_ms", pm, sizeof(pm));
    if (*pm)
        out->pause_ms = strtoll(pm, NULL, 10);
    freeReplyObject(rep);
    sf_redis_key(key, sizeof(key), proj, "generation", NULL, 0);
    if ((e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", key)))
        return e;
    out->number = int_reply(rep);
    freeReplyObject(rep);
    sf_redis_key(key, sizeof(key), proj, "rebuild", NULL, 0);
    if ((e = sf_redis_cmd(r, &rep, errstr, errstr_size, "EXISTS %s", key)))
        return e;
    out->rebuilding = int_reply(rep) > 0;
    freeReplyObject(rep);
    if ((e = sf_redis_cmd(r, &rep, errstr, errstr_size, "DBSIZE")))
        return e;
    out->keys = int_reply(rep);
    freeReplyObject(rep);
    for (size_t i = 0; tps && i < ntp; i++) {
        int64_t ck = -1;
        if ((e = sf_redis_ckpt_get(r, proj, tps[i].topic, tps[i].partition, &ck,
                                   errstr, errstr_size)))
            return e;
        int64_t from = ck >= 0 ? ck + 1 : tps[i].lo;
        if (tps[i].hi > from)
            out->lag += tps[i].hi - from;
    }
    return SF_OK;
}

/* Reads n replies of a pipeline; the last one is returned in *last (or
 * freed when last is NULL).  An error reply of a queued command stops
 * with SF_ERR_REDIS_REPLY after all replies were read. */
static sf_err_t read_replies(sf_redis_t *r, size_t n, redisReply **last,
                             char *errstr, size_t errstr_size) {
    redisContext *c = sf_redis_ctx(r);
    sf_err_t e = SF_OK;
    if (last)
        *last = NULL;
    for (size_t i = 0; i < n; i++) {
        void *v = NULL;
        if (redisGetReply(c, &v) != REDIS_OK || !v)
            return sf_seterr(errstr, errstr_size, SF_ERR_REDIS, "redis: %s",
                             c->errstr[0] ? c->errstr : "no reply");
        redisReply *rep = v;
        if (rep->type == REDIS_REPLY_ERROR && !e)
            e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY, "redis: %s",
                          rep->str);
        if (last && i == n - 1)
            *last = rep;
        else
            freeReplyObject(rep);
    }
    return e;
}

sf_err_t sf_bg_prepare(sf_redis_t *spare, const sf_pconf_t *pc, int force,
                       int *restarted, char *errstr, size_t errstr_size) {
    char mk[512];
    sf_redis_key(mk, sizeof(mk), pc->name, "rebuild", NULL, 0);
    (void)force; /* the marker itself is taken with SET NX (lifecycle.h) */
    sf_gen_info_t gi;
    sf_err_t e = sf_bg_info(spare, pc->name, pc->spare_db, NULL, 0, &gi, errstr,
                            errstr_size);
    if (e)
        return e;
    /* a rebuild killed between taking the marker and emptying an empty
     * spare leaves only the marker and the generation counter */
    int64_t own = gi.rebuilding + (gi.number > 0);
    if (gi.keys > own && !gi.found)
        return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                         "projection %s: spare_db %d holds %" PRId64
                         " key(s) but no generation of %s (no sf:%s:gen): "
                         "it is not emptied; point spare_db at a database "
                         "of its own",
                         pc->name, pc->spare_db, gi.keys, pc->name, pc->name);
    if (!strcmp(gi.state, "serving"))
        return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                         "projection %s: spare_db %d holds the serving "
                         "generation (db and spare_db exchanged in the "
                         "configuration?): nothing done",
                         pc->name, pc->spare_db);
    *restarted = !strcmp(gi.state, "building");
    return SF_OK;
}

sf_err_t sf_bg_reset(sf_redis_t *spare, const sf_pconf_t *pc,
                     const char *marker, char *errstr, size_t errstr_size) {
    char gk[512], mk[512], built[40];
    sf_redis_key(gk, sizeof(gk), pc->name, "gen", NULL, 0);
    sf_redis_key(mk, sizeof(mk), pc->name, "rebuild", NULL, 0);
    now_rfc3339(built, sizeof(built));
    for (int attempt = 0; attempt < 5; attempt++) {
        redisReply *rep = NULL;
        sf_err_t e =
            sf_redis_cmd(spare, NULL, errstr, errstr_size, "WATCH %s", mk);
        if (!e)
            e = sf_redis_cmd(spare, &rep, errstr, errstr_size, "GET %s", mk);
        if (e)
            return e;
        int ours = rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, marker);
        freeReplyObject(rep);
        if (!ours) {
            char tmp[64];
            (void)sf_redis_cmd(spare, NULL, tmp, sizeof(tmp), "UNWATCH");
            return sf_seterr(errstr, errstr_size, SF_ERR_FENCED,
                             "projection %s: the rebuild marker in spare_db "
                             "%d is no longer this rebuild's: another "
                             "rebuild took over; this one stops",
                             pc->name, pc->spare_db);
        }
        /* emptied and re-marked in one step: no other rebuild can take
         * the spare in between (it would find the marker) */
        redisContext *c = sf_redis_ctx(spare);
        redisAppendCommand(c, "MULTI");
        redisAppendCommand(c, "FLUSHDB ASYNC");
        redisAppendCommand(c, "SET %s %s", mk, marker);
        redisAppendCommand(c, "HSET %s state building digest %s built %s", gk,
                           pc->digest, built);
        redisAppendCommand(c, "EXEC");
        redisReply *exec = NULL;
        e = read_replies(spare, 5, &exec, errstr, errstr_size);
        int done = !e && exec && exec->type == REDIS_REPLY_ARRAY;
        freeReplyObject(exec);
        if (e || done)
            return e;
    }
    return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                     "projection %s: spare_db %d kept changing while it was "
                     "being emptied",
                     pc->name, pc->spare_db);
}

sf_err_t sf_bg_watch_ckpts(sf_redis_t *live, const char *proj,
                           const sf_tp_t *tps, size_t ntp, int64_t *ckpts,
                           char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < ntp; i++) {
        char key[512];
        sf_redis_key(key, sizeof(key), proj, "ckpt", tps[i].topic,
                     tps[i].partition);
        sf_err_t e =
            sf_redis_cmd(live, NULL, errstr, errstr_size, "WATCH %s", key);
        if (!e)
            e = sf_redis_ckpt_get(live, proj, tps[i].topic, tps[i].partition,
                                  &ckpts[i], errstr, errstr_size);
        if (e)
            return e;
    }
    return SF_OK;
}

static sf_err_t get_int(sf_redis_t *r, const char *key, int64_t *v,
                        char *errstr, size_t errstr_size) {
    redisReply *rep = NULL;
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", key);
    if (e)
        return e;
    *v = int_reply(rep);
    freeReplyObject(rep);
    return SF_OK;
}

/* The epochs and generation counter of the spare, read by selecting it
 * for a moment (WATCHed keys keep their database). */
static sf_err_t spare_counters(sf_redis_t *live, const sf_pconf_t *pc,
                               const sf_tp_t *tps, size_t ntp, int64_t *ep,
                               int64_t *gen, char *errstr, size_t errstr_size) {
    char key[512];
    sf_err_t e = sf_redis_cmd(live, NULL, errstr, errstr_size, "SELECT %d",
                              pc->spare_db);
    for (size_t i = 0; !e && i < ntp; i++) {
        sf_redis_key(key, sizeof(key), pc->name, "epoch", tps[i].topic,
                     tps[i].partition);
        e = get_int(live, key, &ep[i], errstr, errstr_size);
    }
    sf_redis_key(key, sizeof(key), pc->name, "generation", NULL, 0);
    if (!e)
        e = get_int(live, key, gen, errstr, errstr_size);
    char tmp[256];
    sf_err_t e2 =
        sf_redis_cmd(live, NULL, tmp, sizeof(tmp), "SELECT %d", pc->db);
    if (!e && e2)
        e = sf_seterr(errstr, errstr_size, e2, "%s", tmp);
    return e;
}

sf_err_t sf_bg_swap(sf_redis_t *live, const sf_pconf_t *pc, const sf_tp_t *tps,
                    size_t ntp, int64_t pause_ms, int *swapped, char *errstr,
                    size_t errstr_size) {
    char key[512], gk[512], when[40];
    *swapped = 0;
    int64_t *lep = calloc(ntp + 1, sizeof(*lep));
    int64_t *sep = calloc(ntp + 1, sizeof(*sep));
    if (!lep || !sep) {
        free(lep);
        free(sep);
        return SF_ERR_NOMEM;
    }
    int64_t lgen = 0, sgen = 0;
    sf_err_t e = SF_OK;
    /* watch what a worker changes when it takes a partition or pauses */
    for (size_t i = 0; !e && i < ntp; i++) {
        sf_redis_key(key, sizeof(key), pc->name, "epoch", tps[i].topic,
                     tps[i].partition);
        e = sf_redis_cmd(live, NULL, errstr, errstr_size, "WATCH %s", key);
        if (!e)
            e = get_int(live, key, &lep[i], errstr, errstr_size);
    }
    sf_redis_key(key, sizeof(key), pc->name, "generation", NULL, 0);
    if (!e)
        e = sf_redis_cmd(live, NULL, errstr, errstr_size, "WATCH %s", key);
    if (!e)
        e = get_int(live, key, &lgen, errstr, errstr_size);
    sf_redis_key(key, sizeof(key), pc->name, "pause_gen", NULL, 0);
    if (!e)
        e = sf_redis_cmd(live, NULL, errstr, errstr_size, "WATCH %s", key);
    if (!e)
        e = spare_counters(live, pc, tps, ntp, sep, &sgen, errstr, errstr_size);
    if (e) {
        free(lep);
        free(sep);
        return e;
    }
    redisContext *c = sf_redis_ctx(live);
    size_t n = 0;
    now_rfc3339(when, sizeof(when));
    sf_redis_key(gk, sizeof(gk), pc->name, "gen", NULL, 0);
    redisAppendCommand(c, "MULTI");
    n++;
    /* 1. what outlives a generation: the spare's copy is replaced by the
     * live one (or deleted when the live one has none) */
    redisAppendCommand(c, "SELECT %d", pc->spare_db);
    n++;
    for (size_t i = 0; i < ntp; i++)
        for (size_t k = 0; k < NCARRY_PART; k++) {
            sf_redis_key(key, sizeof(key), pc->name, carry_part[k],
                         tps[i].topic, tps[i].partition);
            redisAppendCommand(c, "DEL %s", key);
            n++;
        }
    for (size_t k = 0; k < NCARRY_GLOBAL; k++) {
        sf_redis_key(key, sizeof(key), pc->name, carry_global[k], NULL, 0);
        redisAppendCommand(c, "DEL %s", key);
        n++;
    }
    redisAppendCommand(c, "SELECT %d", pc->db);
    n++;
    for (size_t i = 0; i < ntp; i++)
        for (size_t k = 0; k < NCARRY_PART; k++) {
            sf_redis_key(key, sizeof(key), pc->name, carry_part[k],
                         tps[i].topic, tps[i].partition);
            redisAppendCommand(c, "COPY %s %s DB %d", key, key, pc->spare_db);
            n++;
        }
    for (size_t k = 0; k < NCARRY_GLOBAL; k++) {
        sf_redis_key(key, sizeof(key), pc->name, carry_global[k], NULL, 0);
        redisAppendCommand(c, "COPY %s %s DB %d", key, key, pc->spare_db);
        n++;
    }
    /* 2. the spare's epochs above both, its generation counter above
     * both: every live worker is fenced and takes its partitions again
     * (lifecycle.h), reading the spare's checkpoints */
    redisAppendCommand(c, "SELECT %d", pc->spare_db);
    n++;
    for (size_t i = 0; i < ntp; i++) {
        sf_redis_key(key, sizeof(key), pc->name, "epoch", tps[i].topic,
                     tps[i].partition);
        redisAppendCommand(c, "SET %s %" PRId64, key, lep[i] + sep[i] + 1);
        n++;
    }
    sf_redis_key(key, sizeof(key), pc->name, "generation", NULL, 0);
    redisAppendCommand(c, "SET %s %" PRId64, key,
                       (lgen > sgen ? lgen : sgen) + 1);
    n++;
    sf_redis_key(key, sizeof(key), pc->name, "rebuild", NULL, 0);
    redisAppendCommand(c, "DEL %s", key);
    n++;
    redisAppendCommand(c, "HSET %s state serving switched %s pause_ms %" PRId64,
                       gk, when, pause_ms);
    n++;
    /* 3. the live one becomes the previous generation; the swap */
    redisAppendCommand(c, "SELECT %d", pc->db);
    n++;
    redisAppendCommand(c, "HSET %s state previous switched %s", gk, when);
    n++;
    redisAppendCommand(c, "SWAPDB %d %d", pc->db, pc->spare_db);
    n++;
    redisAppendCommand(c, "EXEC");
    n++;
    redisReply *exec = NULL;
    e = read_replies(live, n, &exec, errstr, errstr_size);
    if (!e && exec && exec->type == REDIS_REPLY_ARRAY) {
        *swapped = 1;
        for (size_t i = 0; i < exec->elements; i++)
            if (exec->element[i]->type == REDIS_REPLY_ERROR && !e)
                e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                              "redis: in the switch transaction: %s",
                              exec->element[i]->str);
    }
    freeReplyObject(exec);
    free(lep);
    free(sep);
    return e;
}

sf_err_t sf_bg_record_pause(sf_redis_t *live, const char *proj,
                            int64_t pause_ms, char *errstr,
                            size_t errstr_size) {
    char gk[512];
    sf_redis_key(gk, sizeof(gk), proj, "gen", NULL, 0);
    return sf_redis_cmd(live, NULL, errstr, errstr_size,
                        "HSET %s pause_ms %" PRId64, gk, pause_ms);
}

sf_err_t sf_bg_pause(const sf_config_t *cfg, const sf_pconf_t *pc,
                     sf_redis_t *live, int paused, int *was_paused,
                     char *errstr, size_t errstr_size) {
    size_t acked = 0;
    if (paused) {
        sf_err_t e =
            sf_redis_paused(live, pc->name, was_paused, errstr, errstr_size);
        if (e || *was_paused)
            return e;
    } else if (*was_paused) {
        return SF_OK; /* the operator's pause stays */
    }
    /* a lease: a rebuild killed mid-switch (or cut off from Redis) cannot
     * leave the workers paused for good; the switch itself is safe if the
     * lease runs out first (WATCH: a live write aborts the swap) */
    return sf_admin_pause(cfg, pc, paused, SF_BG_PAUSE_LEASE_MS, 30000, &acked,
                          errstr, errstr_size);
}

static sf_err_t connect_both(const sf_pconf_t *pc, sf_redis_t **live,
                             sf_redis_t **spare, char *errstr,
                             size_t errstr_size) {
    sf_redis_conf_t sc;
    *live = *spare = NULL;
    if (sf_bg_spare_conf(pc, &sc))
        return SF_ERR_NOMEM;
    sf_err_t e = sf_redis_connect(&pc->redis, live, errstr, errstr_size);
    if (!e)
        e = sf_redis_connect(&sc, spare, errstr, errstr_size);
    sf_redis_conf_clear(&sc);
    return e;
}

sf_err_t sf_bg_rollback(const sf_config_t *cfg, const sf_pconf_t *pc,
                        int64_t *pause_ms, char *errstr, size_t errstr_size) {
    sf_redis_t *live = NULL, *spare = NULL;
    sf_tp_t *tps = NULL;
    size_t ntp = 0;
    rd_kafka_t *rk = NULL;
    int was_paused = 0, paused = 0;
    *pause_ms = 0;
    sf_gen_info_t gi;
    sf_err_t e = sf_bg_check_config(cfg, pc, errstr, errstr_size);
    if (!e)
        e = connect_both(pc, &live, &spare, errstr, errstr_size);
    if (!e)
        e = sf_bg_info(spare, pc->name, pc->spare_db, NULL, 0, &gi, errstr,
                       errstr_size);
    if (!e && (!gi.found || strcmp(gi.state, "previous") || gi.rebuilding))
        e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                      "projection %s: spare_db %d holds %s: nothing to roll "
                      "back to; nothing done",
                      pc->name, pc->spare_db,
                      gi.rebuilding ? "a generation being built (a rebuild "
                                      "runs, or was killed: rebuild again)"
                      : !strcmp(gi.state, "building")
                          ? "an incomplete generation (an interrupted "
                            "rebuild)"
                      : !gi.found ? "no generation of this projection"
                                  : "no previous generation");
    if (!e)
        e = sf_kconf_consumer(cfg, pc, NULL, &rk, errstr, errstr_size, NULL,
                              NULL);
    if (!e)
        e = sf_kmeta_partitions(rk, pc->topics, pc->ntopics, 0, &tps, &ntp,
                                errstr, errstr_size);
    double t0 = sf_mono_s();
    if (!e &&
        !(e = sf_bg_pause(cfg, pc, live, 1, &was_paused, errstr, errstr_size)))
        paused = 1;
    int swapped = 0;
    for (int attempt = 0; !e && !swapped && attempt < 10; attempt++)
        e = sf_bg_swap(live, pc, tps, ntp, 0, &swapped, errstr, errstr_size);
    if (!e && !swapped)
        e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                      "projection %s: the live bookkeeping kept changing "
                      "during the switch (10 attempts): nothing done",
                      pc->name);
    if (paused) {
        char rerr[512];
        if (sf_bg_pause(cfg, pc, live, 0, &was_paused, rerr, sizeof(rerr)))
            sf_log("error",
                   "projection=%s msg=\"rollback: resuming the workers: %s; "
                   "run sf-projector resume\"",
                   pc->name, rerr);
    }
    *pause_ms = (int64_t)((sf_mono_s() - t0) * 1000);
    if (!e && swapped) {
        char tmp[256];
        (void)sf_bg_record_pause(live, pc->name, *pause_ms, tmp, sizeof(tmp));
        sf_log("info",
               "projection=%s msg=\"rolled back: the previous generation "
               "serves again and catches up from its checkpoints\" "
               "pause_ms=%" PRId64,
               pc->name, *pause_ms);
    }
    free(tps);
    if (rk)
        rd_kafka_destroy(rk);
    sf_redis_destroy(live);
    sf_redis_destroy(spare);
    return e;
}

sf_err_t sf_bg_drop(const sf_config_t *cfg, const sf_pconf_t *pc,
                    int64_t *dropped, char *errstr, size_t errstr_size) {
    sf_redis_t *live = NULL, *spare = NULL;
    char gk[512];
    sf_redis_key(gk, sizeof(gk), pc->name, "gen", NULL, 0);
    *dropped = 0;
    sf_gen_info_t gi;
    sf_err_t e = sf_bg_check_config(cfg, pc, errstr, errstr_size);
    if (!e)
        e = connect_both(pc, &live, &spare, errstr, errstr_size);
    if (!e)
        e = sf_redis_cmd(spare, NULL, errstr, errstr_size, "WATCH %s", gk);
    if (!e)
        e = sf_bg_info(spare, pc->name, pc->spare_db, NULL, 0, &gi, errstr,
                       errstr_size);
    if (!e && gi.keys > 0 && !gi.found)
        e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                      "projection %s: spare_db %d holds %" PRId64 " key(s) "
                      "but no generation of %s: not emptied",
                      pc->name, pc->spare_db, gi.keys, pc->name);
    else if (!e && (gi.rebuilding || !strcmp(gi.state, "serving")))
        e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                      "projection %s: spare_db %d holds %s: not emptied",
                      pc->name, pc->spare_db,
                      gi.rebuilding ? "a generation being built"
                                    : "the serving generation (db and "
                                      "spare_db exchanged?)");
    if (!e && gi.keys > 0) {
        redisContext *c = sf_redis_ctx(spare);
        redisAppendCommand(c, "MULTI");
        redisAppendCommand(c, "FLUSHDB ASYNC");
        redisAppendCommand(c, "EXEC");
        redisReply *exec = NULL;
        e = read_replies(spare, 3, &exec, errstr, errstr_size);
        if (!e && !(exec && exec->type == REDIS_REPLY_ARRAY))
            e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                          "projection %s: spare_db %d changed while it was "
                          "being emptied: nothing done",
                          pc->name, pc->spare_db);
        freeReplyObject(exec);
        if (!e)
            *dropped = gi.keys;
    }
    sf_redis_destroy(live);
    sf_redis_destroy(spare);
    return e;
}

static void report_one(const sf_gen_info_t *g, const char *role,
                       const sf_pconf_t *pc,
                       void (*line)(void *opaque, const char *text),
                       void *opaque) {
    char text[700], pause[48] = "";
    if (g->pause_ms >= 0)
        snprintf(pause, sizeof(pause), ", switch pause %" PRId64 " ms",
                 g->pause_ms);
    if (!g->found && !g->keys) {
        snprintf(text, sizeof(text), "generation %-8s db %d: empty", role,
                 g->db);
    } else {
        const char *state = g->rebuilding ? "building (rebuild running)"
                            : !strcmp(g->state, "building")
                                ? "incomplete (interrupted rebuild)"
                            : *g->state ? g->state
                                        : "unregistered";
        char vnote[64] = "";
        if (*g->digest && !strcmp(g->digest, pc->digest))
            snprintf(vnote, sizeof(vnote), " (configured)");
        else if (*g->digest)
            snprintf(vnote, sizeof(vnote), " (not the configured %s)",
                     pc->digest);
        snprintf(text, sizeof(text),
                 "generation %-8s db %d: %s, generation %" PRId64
                 ", version %s%s, %" PRId64
                 " keys in the database, lag %" PRId64 "%s%s",
                 role, g->db, state, g->number, *g->digest ? g->digest : "?",
                 vnote, g->keys, g->lag, *g->switched ? ", switched " : "",
                 g->switched);
        snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s", pause);
    }
    line(opaque, text);
}

sf_err_t sf_bg_report(const sf_config_t *cfg, const sf_pconf_t *pc,
                      const sf_tp_t *tps, size_t ntp,
                      void (*line)(void *opaque, const char *text),
                      void *opaque, char *errstr, size_t errstr_size) {
    (void)cfg;
    sf_redis_t *live = NULL, *spare = NULL;
    sf_gen_info_t gl, gs;
    sf_err_t e;
    if (pc->spare_db < 0) {
        e = sf_redis_connect(&pc->redis, &live, errstr, errstr_size);
        if (!e)
            e = sf_bg_info(live, pc->name, pc->db, tps, ntp, &gl, errstr,
                           errstr_size);
        if (!e && gl.found)
            report_one(&gl, "serving", pc, line, opaque);
        sf_redis_destroy(live);
        return e;
    }
    e = connect_both(pc, &live, &spare, errstr, errstr_size);
    if (!e)
        e = sf_bg_info(live, pc->name, pc->db, tps, ntp, &gl, errstr,
                       errstr_size);
    if (!e)
        e = sf_bg_info(spare, pc->name, pc->spare_db, tps, ntp, &gs, errstr,
                       errstr_size);
    if (!e) {
        report_one(&gl, "serving", pc, line, opaque);
        report_one(&gs, "spare", pc, line, opaque);
    }
    sf_redis_destroy(live);
    sf_redis_destroy(spare);
    return e;
}
