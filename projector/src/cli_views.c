/* cli_views.c - `offsets`, `diff` and `drop` (see cli_views.h). */
#include "cli_views.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "asof.h"
#include "diff.h"
#include "groups.h"
#include "kconf.h"
#include "offsets.h"
#include "rebuild.h"
#include "redis_sink.h"

static void fail_line(const char *cmd, const char *msg) {
    fprintf(stderr, "sf-projector %s: %s\n", cmd, msg);
}

static int code_of(sf_err_t e) {
    return e == SF_ERR_CONFIG || e == SF_ERR_INVALID_ARG ? 2 : 1;
}

int sf_cli_offsets(const sf_config_t *cfg, const sf_pconf_t *pc, int commit) {
    char err[1024];
    rd_kafka_t *rk = NULL;
    sf_redis_t *redis = NULL;
    sf_offsets_part_t *ps = NULL;
    size_t n = 0, first = 0;
    sf_err_t e =
        sf_kconf_consumer(cfg, pc, NULL, &rk, err, sizeof(err), NULL, NULL);
    if (!e)
        e = sf_redis_connect(&pc->redis, &redis, err, sizeof(err));
    if (!e)
        e = sf_offsets_read(rk, redis, pc, &ps, &n, err, sizeof(err));
    if (e)
        goto out;
    sf_reset_t v = sf_offsets_judge(ps, n, &first);
    printf("projection %s  group %s  offsets: %s\n", pc->name, pc->group_id,
           v == SF_RESET_NONE       ? "agree with the view"
           : v == SF_RESET_EARLIEST ? "reset to the earliest (the next run "
                                      "rebuilds)"
                                    : "reset outside sf-projector (refused)");
    printf("  %-32s %9s %12s %9s %12s %12s %12s\n", "TOPIC", "PARTITION",
           "COMMITTED", "BY", "CHECKPOINT", "RESUMES-AT", "END");
    for (size_t i = 0; i < n; i++) {
        char c[24] = "-", k[24] = "-";
        if (ps[i].committed >= 0)
            snprintf(c, sizeof(c), "%" PRId64, ps[i].committed);
        if (ps[i].ckpt >= 0)
            snprintf(k, sizeof(k), "%" PRId64, ps[i].ckpt);
        printf("  %-32s %9" PRId32 " %12s %9s %12s %12" PRId64 " %12" PRId64
               "\n",
               ps[i].topic, ps[i].partition, c,
               ps[i].committed < 0 ? "-"
               : ps[i].ours        ? "projector"
                                   : "external",
               k, sf_offsets_resume(&ps[i]), ps[i].hi);
    }
    if (!commit)
        goto out;
    /* the broker refuses commits of a group with members from outside it
     * anyway (UNKNOWN_MEMBER_ID); say why first */
    sf_member_t *ms = NULL;
    size_t nm = 0;
    char gstate[64];
    if ((e = sf_status_group(cfg, pc, gstate, sizeof(gstate), &ms, &nm, err,
                             sizeof(err))))
        goto out;
    sf_group_members_free(ms, nm);
    if (nm) {
        e = sf_seterr(err, sizeof(err), SF_ERR_STATE,
                      "group %s has %zu member(s): stop its workers first",
                      pc->group_id, nm);
        goto out;
    }
    if ((e = sf_offsets_commit_checkpoints(rk, pc->name, ps, n, err,
                                           sizeof(err))))
        goto out;
    char key[512];
    sf_redis_key(key, sizeof(key), pc->name, "offsets", NULL, 0);
    sf_redis_cmd(redis, NULL, err, sizeof(err), "DEL %s", key);
    printf("committed the checkpoints of %zu partition(s) to group %s\n", n,
           pc->group_id);
out:
    if (e)
        fail_line("offsets", err);
    free(ps);
    sf_redis_destroy(redis);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return e ? code_of(e) : 0;
}

int sf_cli_drop_asof(const sf_config_t *cfg, const sf_pconf_t *pc, int db) {
    char err[1024];
    int64_t n = 0;
    sf_err_t e = sf_asof_drop(cfg, pc, db, 1, &n, err, sizeof(err));
    if (e) {
        fail_line("drop", err);
        return e == SF_ERR_NOT_FOUND ? 1 : code_of(e);
    }
    printf("dropped the as-of view of %s in database %d (%" PRId64
           " keys deleted)\n",
           pc->name, db, n);
    return 0;
}

/* The other side of a diff, "spare": the projection's spare_db (the
 * previous generation after a switch), -1 when it has none. */
static int spare_of(const sf_pconf_t *pc) {
    return pc->spare_db;
}

int sf_cli_diff(const sf_config_t *cfg, const sf_catalog_t *cat,
                const sf_pconf_t *pc, const char *against, int db,
                long max_lines) {
    char err[1024], oname[64];
    int fold = !against || !strcmp(against, "fold");
    if (!fold && !strcmp(against, "spare")) {
        if ((db = spare_of(pc)) < 0) {
            fail_line("diff", "--against spare: the projection has no "
                              "blue/green spare database");
            return 2;
        }
        snprintf(oname, sizeof(oname), "spare (db %d)", db);
    } else if (!fold && !strcmp(against, "db")) {
        if (db < 0) {
            fail_line("diff", "--against db needs --db N");
            return 2;
        }
        snprintf(oname, sizeof(oname), "db %d", db);
    } else if (!fold) {
        char m[300];
        snprintf(m, sizeof(m),
                 "--against \"%.100s\": expected fold, spare or db", against);
        fail_line("diff", m);
        return 2;
    } else {
        if (db < 0) {
            fail_line("diff", "--against fold needs --db N: an empty scratch "
                              "database to fold into");
            return 2;
        }
        snprintf(oname, sizeof(oname), "fold");
    }
    if (db == pc->redis.db) {
        snprintf(err, sizeof(err), "--db %d is the live database of %s", db,
                 pc->name);
        fail_line("diff", err);
        return 2;
    }
    sf_err_t e = SF_OK;
    if (fold) {
        /* the scratch database must be empty: an as-of view there would
         * be replaced and then dropped */
        sf_redis_conf_t sc = pc->redis;
        sc.db = db;
        sf_redis_t *r = NULL;
        redisReply *rep = NULL;
        e = sf_redis_connect(&sc, &r, err, sizeof(err));
        if (!e)
            e = sf_redis_cmd(r, &rep, err, sizeof(err), "DBSIZE");
        long long n = !e && rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
        if (rep)
            freeReplyObject(rep);
        sf_redis_destroy(r);
        if (e) {
            fail_line("diff", err);
            return 1;
        }
        if (n) {
            snprintf(err, sizeof(err),
                     "--db %d holds %lld key(s): the fold needs an empty "
                     "scratch database",
                     db, n);
            fail_line("diff", err);
            return 2;
        }
        /* a rebuild into the scratch database: same replay, same apply
         * script, so a difference is the view's, not the tool's */
        sf_rebuild_opts_t ro = {
            .as_of_ms = -1, .to_db = 1, .db = db, .scratch = 1};
        sf_rebuild_stats_t rst;
        static volatile sig_atomic_t never;
        e = sf_rebuild_run(cfg, pc, cat, &ro, NULL, NULL, NULL, &never, &rst,
                           err, sizeof(err));
        if (e) {
            fail_line("diff", err);
            return code_of(e);
        }
        fprintf(stderr,
                "diff %s: folded %" PRId64 " events into scratch "
                "database %d\n",
                pc->name, rst.applied, db);
    }
    sf_diff_stats_t st;
    e = sf_diff_views(cfg, pc, db, oname,
                      max_lines > 0 ? (size_t)max_lines : 20, stdout, &st, err,
                      sizeof(err));
    if (fold) {
        char derr[512];
        int64_t n = 0;
        if (sf_asof_drop(cfg, pc, db, 0, &n, derr, sizeof(derr)))
            fail_line("diff", derr);
    }
    if (e) {
        fail_line("diff", err);
        return 1;
    }
    int64_t bad = st.missing + st.extra + st.different;
    printf("diff %s: live db %d vs %s: %" PRId64 " missing, %" PRId64
           " extra, %" PRId64 " different, %" PRId64 " equal: %s\n",
           pc->name, pc->redis.db, oname, st.missing, st.extra, st.different,
           st.equal, bad ? "DIFFERENT" : "equal");
    return bad ? 1 : 0;
}
