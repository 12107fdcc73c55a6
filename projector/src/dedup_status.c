/* dedup_status.c - the duplicate rule's part of `sf-projector status`
 * (see dedup.h): the counts the apply script keeps per partition in
 * sf:<p>:dedup:<topic>:<partition>, since the last rebuild. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "redis_sink.h"

static const char *const fields[4] = {"duplicates", "conflicts", "gaps",
                                      "unversioned"};

sf_err_t sf_dedup_status(const sf_config_t *cfg, const sf_pconf_t *pc,
                         const sf_tp_t *tps, size_t n, FILE *out, char *errstr,
                         size_t errstr_size) {
    if (!pc->dedup) {
        fprintf(out, "  duplicate rule: off (dedup: off): events are "
                     "applied per offset\n");
        return SF_OK;
    }
    sf_redis_t *r = NULL;
    sf_err_t e = sf_redis_connect(&cfg->redis, &r, errstr, errstr_size);
    int64_t tot[4] = {0, 0, 0, 0};
    sf_buf_t lines = {0};
    for (size_t i = 0; !e && i < n; i++) {
        char key[512];
        redisReply *rep = NULL;
        sf_redis_key(key, sizeof(key), pc->name, "dedup", tps[i].topic,
                     tps[i].partition);
        e = sf_redis_cmd(r, &rep, errstr, errstr_size, "HGETALL %s", key);
        if (e)
            break;
        const char *dup = NULL, *gap = NULL;
        for (size_t j = 0;
             rep->type == REDIS_REPLY_ARRAY && j + 1 < rep->elements; j += 2) {
            const char *f = rep->element[j]->str, *v = rep->element[j + 1]->str;
            if (!f || !v)
                continue;
            for (int k = 0; k < 4; k++)
                if (!strcmp(f, fields[k]))
                    tot[k] += strtoll(v, NULL, 10);
            if (!strcmp(f, "last_duplicate"))
                dup = v;
            else if (!strcmp(f, "last_gap"))
                gap = v;
        }
        if (dup)
            sf_buf_printf(&lines, "    %s/%" PRId32 " last duplicate: %s\n",
                          tps[i].topic, tps[i].partition, dup);
        if (gap)
            sf_buf_printf(&lines, "    %s/%" PRId32 " last gap: %s\n",
                          tps[i].topic, tps[i].partition, gap);
        freeReplyObject(rep);
    }
    if (!e) {
        fprintf(out,
                "  duplicate rule (since the last rebuild): %" PRId64
                " duplicates dropped (%" PRId64 " with another ce_id), "
                "%" PRId64 " gaps, %" PRId64 " unversioned events\n",
                tot[0], tot[1], tot[2], tot[3]);
        if (lines.len)
            fwrite(lines.p, 1, lines.len, out);
    }
    sf_buf_free(&lines);
    sf_redis_destroy(r);
    return e;
}
