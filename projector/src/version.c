/* version.c - deploying a changed definition blue/green (version.h). */
#include "version.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bluegreen.h"
#include "log.h"
#include "rebuild.h"

sf_err_t sf_version_serving(sf_redis_t *r, const char *proj, char *digest,
                            size_t size, char *errstr, size_t errstr_size) {
    char gk[512];
    redisReply *rep = NULL;
    digest[0] = '\0';
    sf_redis_key(gk, sizeof(gk), proj, "gen", NULL, 0);
    sf_err_t e =
        sf_redis_cmd(r, &rep, errstr, errstr_size, "HGET %s digest", gk);
    if (e)
        return e;
    if (rep->type == REDIS_REPLY_STRING)
        snprintf(digest, size, "%s", rep->str);
    freeReplyObject(rep);
    return SF_OK;
}

int sf_version_mismatch(sf_redis_t *r, const sf_pconf_t *pc, char *serving,
                        size_t size) {
    char err[256];
    if (sf_version_serving(r, pc->name, serving, size, err, sizeof(err)))
        return 0;
    return *serving && strcmp(serving, pc->digest) != 0;
}

static void progress(void *opaque, const char *phase,
                     const sf_rebuild_stats_t *st) {
    const char *name = opaque;
    if (!strcmp(phase, "replay") || !strcmp(phase, "done"))
        sf_log("info",
               "projection=%s msg=\"building the new version: %" PRId64
               "/%" PRId64 " events\"",
               name, st->done, st->total);
}

static void poison(void *opaque, const char *topic, int32_t partition,
                   int64_t offset, const char *reason) {
    sf_log("warn",
           "projection=%s topic=%s partition=%" PRId32 " offset=%" PRId64
           " msg=\"poison event passed while building the new version\" "
           "reason=\"%s\"",
           (const char *)opaque, topic, partition, offset, reason);
}

sf_err_t sf_version_deploy(const sf_config_t *cfg, const sf_pconf_t *pc,
                           const sf_catalog_t *cat, volatile sig_atomic_t *stop,
                           char *errstr, size_t errstr_size) {
    sf_redis_t *live = NULL;
    sf_err_t e = sf_redis_connect(&pc->redis, &live, errstr, errstr_size);
    if (e == SF_ERR_REDIS) {
        /* Redis down: the worker waits for it; it checks the version of
         * every partition it takes (sf_version_mismatch) */
        sf_redis_destroy(live);
        return SF_OK;
    }
    int waited = 0;
    while (!e) {
        char serving[32] = "", gk[512];
        sf_gen_info_t gi;
        if ((e = sf_bg_info(live, pc->name, pc->db, NULL, 0, &gi, errstr,
                            errstr_size)))
            break;
        snprintf(serving, sizeof(serving), "%s", gi.digest);
        if (!strcmp(serving, pc->digest)) {
            if (waited)
                sf_log("info", "projection=%s msg=\"version %s serves now\"",
                       pc->name, pc->digest);
            break;
        }
        if (!*serving) {
            /* no version recorded: the view (if any) is taken as this
             * version, as it was before versions were recorded */
            sf_redis_key(gk, sizeof(gk), pc->name, "gen", NULL, 0);
            e = sf_redis_cmd(live, NULL, errstr, errstr_size,
                             "HSET %s state serving digest %s", gk, pc->digest);
            if (!e)
                sf_log("info",
                       "projection=%s msg=\"no version recorded for the "
                       "serving view: recorded as version %s\"",
                       pc->name, pc->digest);
            break;
        }
        if (pc->spare_db < 0) {
            /* nowhere to build it beside the serving view: the new
             * definition applies from the checkpoints on, as before
             * versions existed; said once, and recorded */
            sf_redis_key(gk, sizeof(gk), pc->name, "gen", NULL, 0);
            e = sf_redis_cmd(live, NULL, errstr, errstr_size,
                             "HSET %s state serving digest %s", gk, pc->digest);
            if (!e)
                sf_log("warn",
                       "projection=%s msg=\"the definition changed (serving "
                       "version %s, configured %s) and no spare_db is "
                       "configured to build it beside the serving view: "
                       "the new definition applies from the checkpoints on, "
                       "events already folded stay as the old one folded "
                       "them; configure spare_db for a blue/green deploy, or "
                       "re-fold history with sf-projector rebuild\"",
                       pc->name, serving, pc->digest);
            break;
        }
        sf_log("info",
               "projection=%s msg=\"the definition changed (serving version "
               "%s, configured %s): building it blue/green in spare_db %d "
               "while the serving one keeps serving\"",
               pc->name, serving, pc->digest, pc->spare_db);
        sf_rebuild_opts_t ro = {.as_of_ms = -1};
        sf_rebuild_stats_t st;
        char rerr[1024];
        e = sf_rebuild_run(cfg, pc, cat, &ro, progress, poison,
                           (void *)pc->name, stop, &st, rerr, sizeof(rerr));
        if (!e)
            continue; /* the loop confirms the switch */
        if (e == SF_ERR_STATE && strstr(rerr, "already running") && !*stop) {
            /* another process builds it (its marker in the spare) */
            if (!waited)
                sf_log("info",
                       "projection=%s msg=\"another worker builds version "
                       "%s: waiting for its switch\" detail=\"%s\"",
                       pc->name, pc->digest, rerr);
            waited = 1;
            e = SF_OK;
            struct timespec ts = {2, 0};
            nanosleep(&ts, NULL);
            continue;
        }
        sf_seterr(errstr, errstr_size, e, "%s", rerr);
    }
    if (!e && *stop)
        e = sf_seterr(errstr, errstr_size, SF_ERR_STATE, "stopped");
    sf_redis_destroy(live);
    return e;
}
