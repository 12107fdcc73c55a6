/* cli_views.c - `offsets`, `diff` and `drop` (see cli_views.h). */
#include "cli_views.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "groups.h"
#include "kconf.h"
#include "offsets.h"
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
        e = sf_redis_connect(&cfg->redis, &redis, err, sizeof(err));
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
