/* offsets.c - commit metadata, external offset resets and the worker's
 * start gate (see offsets.h). */
#include "offsets.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kmeta.h"
#include "lifecycle.h"
#include "log.h"
#include "rebuild.h"
#include "util.h"

sf_err_t sf_offsets_mark(rd_kafka_topic_partition_t *tp, const char *projection,
                         int64_t ckpt) {
    char md[SF_OFFSETS_MD_MAX];
    /* the name is only a hint for a human reading the group: cut it */
    int n = snprintf(md, sizeof(md), SF_OFFSETS_MD_PREFIX "%.120s:%" PRId64,
                     projection, ckpt);
    if (n < 0)
        return SF_ERR_INVALID_ARG;
    void *copy = malloc((size_t)n);
    if (!copy)
        return SF_ERR_NOMEM;
    memcpy(copy, md, (size_t)n);
    free(tp->metadata);
    tp->metadata = copy;
    tp->metadata_size = (size_t)n;
    return SF_OK;
}

int sf_offsets_is_ours(const void *metadata, size_t size) {
    size_t k = sizeof(SF_OFFSETS_MD_PREFIX) - 1;
    return metadata && size >= k && !memcmp(metadata, SF_OFFSETS_MD_PREFIX, k);
}

int64_t sf_offsets_resume(const sf_offsets_part_t *p) {
    return p->ckpt >= 0 ? p->ckpt + 1 : (p->lo > 0 ? p->lo : 0);
}

static int foreign(const sf_offsets_part_t *p) {
    return p->committed >= 0 && !p->ours;
}

sf_reset_t sf_offsets_judge(const sf_offsets_part_t *p, size_t n,
                            size_t *first) {
    size_t moved = n; /* first foreign commit that moves the resume point */
    int all_earliest = n > 0;
    for (size_t i = 0; i < n; i++) {
        int64_t lo = p[i].lo > 0 ? p[i].lo : 0;
        int at_lo = foreign(&p[i]) && p[i].committed == lo;
        /* a partition with nothing to replay counts as reset already */
        int nothing = p[i].committed < 0 && sf_offsets_resume(&p[i]) == lo;
        if (!at_lo && !nothing)
            all_earliest = 0;
        if (foreign(&p[i]) && p[i].committed != sf_offsets_resume(&p[i]) &&
            moved == n)
            moved = i;
    }
    if (first)
        *first = moved < n ? moved : 0;
    if (moved == n)
        return SF_RESET_NONE;
    return all_earliest ? SF_RESET_EARLIEST : SF_RESET_OTHER;
}

void sf_offsets_refusal(char *buf, size_t size, const char *projection,
                        const char *config_path, const sf_offsets_part_t *p) {
    char ck[64];
    if (p->ckpt >= 0)
        snprintf(ck, sizeof(ck), "%" PRId64, p->ckpt);
    else
        snprintf(ck, sizeof(ck), "none");
    snprintf(buf, size,
             "projection %s not started: topic %s partition %" PRId32
             ": the group's offset was reset outside sf-projector to %" PRId64
             " but the view's checkpoint is %s (resumes at %" PRId64
             "; only a reset of every partition --to-earliest rebuilds); "
             "keep the view: sf-projector offsets -c %s %s "
             "--commit-checkpoints; or rebuild it: sf-projector rebuild -c "
             "%s %s",
             projection, p->topic, p->partition, p->committed, ck,
             sf_offsets_resume(p), config_path ? config_path : "CONFIG",
             projection, config_path ? config_path : "CONFIG", projection);
}

sf_err_t sf_offsets_read(rd_kafka_t *rk, sf_redis_t *redis,
                         const sf_pconf_t *pc, sf_offsets_part_t **out,
                         size_t *n, char *errstr, size_t errstr_size) {
    sf_tp_t *tps = NULL;
    size_t ntp = 0;
    *out = NULL;
    *n = 0;
    sf_err_t e = sf_kmeta_partitions(rk, pc->topics, pc->ntopics, 1, &tps, &ntp,
                                     errstr, errstr_size);
    if (e)
        return e;
    sf_offsets_part_t *ps = calloc(ntp ? ntp : 1, sizeof(*ps));
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)(ntp ? ntp : 1));
    if (!ps || !l) {
        e = SF_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < ntp; i++) {
        ps[i].topic = tps[i].topic;
        ps[i].partition = tps[i].partition;
        ps[i].lo = tps[i].lo;
        ps[i].hi = tps[i].hi;
        ps[i].committed = -1;
        rd_kafka_topic_partition_list_add(l, tps[i].topic, tps[i].partition);
    }
    rd_kafka_resp_err_t ke = rd_kafka_committed(rk, l, 10000);
    if (ke) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                      "reading the committed offsets of group %s: %s",
                      pc->group_id, rd_kafka_err2str(ke));
        goto out;
    }
    for (int j = 0; j < l->cnt; j++) {
        const rd_kafka_topic_partition_t *tp = &l->elems[j];
        if (tp->err) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                          "reading the committed offset of %s/%" PRId32
                          " (group %s): %s",
                          tp->topic, tp->partition, pc->group_id,
                          rd_kafka_err2str(tp->err));
            goto out;
        }
        /* list order is ours (no sort was asked for), but match anyway */
        for (size_t i = 0; i < ntp; i++)
            if (ps[i].partition == tp->partition &&
                !strcmp(ps[i].topic, tp->topic)) {
                ps[i].committed = tp->offset >= 0 ? tp->offset : -1;
                ps[i].ours =
                    sf_offsets_is_ours(tp->metadata, tp->metadata_size);
            }
    }
    for (size_t i = 0; !e && i < ntp; i++)
        e = sf_redis_ckpt_get(redis, pc->name, ps[i].topic, ps[i].partition,
                              &ps[i].ckpt, errstr, errstr_size);
out:
    if (l)
        rd_kafka_topic_partition_list_destroy(l);
    free(tps);
    if (e) {
        free(ps);
        return e;
    }
    *out = ps;
    *n = ntp;
    return SF_OK;
}

sf_err_t sf_offsets_commit_checkpoints(rd_kafka_t *rk, const char *projection,
                                       const sf_offsets_part_t *p, size_t n,
                                       char *errstr, size_t errstr_size) {
    if (!n)
        return SF_OK;
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)n);
    sf_err_t e = SF_OK;
    for (size_t i = 0; !e && i < n; i++) {
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_add(l, p[i].topic, p[i].partition);
        tp->offset = sf_offsets_resume(&p[i]);
        e = sf_offsets_mark(tp, projection, p[i].ckpt);
    }
    rd_kafka_resp_err_t ke =
        e ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_commit(rk, l, 0);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return e;
    if (ke)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                         "committing the checkpoints of %s: %s", projection,
                         rd_kafka_err2str(ke));
    return SF_OK;
}

/* ---- the start gate ------------------------------------------------ */

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* sf:<p>:offsets: what `status` shows about the group's offsets. */
static void record(sf_redis_t *redis, const char *proj, const char *text) {
    char key[512], err[256];
    sf_redis_key(key, sizeof(key), proj, "offsets", NULL, 0);
    if (text)
        sf_redis_cmd(redis, NULL, err, sizeof(err), "SET %s %s", key, text);
    else
        sf_redis_cmd(redis, NULL, err, sizeof(err), "DEL %s", key);
}

/* A rebuild asked for by a reset to the earliest offsets.  Another worker
 * of the projection may be doing the same: its marker makes ours fail,
 * and the caller waits for it. */
static sf_err_t reset_rebuild(const sf_config_t *cfg, const sf_pconf_t *pc,
                              const sf_catalog_t *cat, sf_redis_t *redis,
                              sf_metrics_t *metrics,
                              volatile sig_atomic_t *stop, char *errstr,
                              size_t errstr_size) {
    sf_log("warn",
           "projection=%s group=%s msg=\"the group's offsets were reset to "
           "the earliest on every partition outside sf-projector: "
           "rebuilding the view\"",
           pc->name, pc->group_id);
    /* blue/green when the projection has a spare database (the live view
     * keeps serving meanwhile), else in place (docs/offsets-and-asof.md) */
    sf_rebuild_opts_t ro = {.as_of_ms = -1, .in_place = pc->spare_db < 0};
    sf_rebuild_stats_t st;
    sf_err_t e = sf_rebuild_run(cfg, pc, cat, &ro, NULL, NULL, NULL, stop, &st,
                                errstr, errstr_size);
    if (e)
        return e;
    if (metrics)
        sf_metrics_offset_reset_rebuild(metrics, pc->name);
    char t[SF_TIME_BUFSIZE], text[256];
    snprintf(
        text, sizeof(text),
        "rebuilt %s after a reset to the earliest offsets (%" PRId64 " events)",
        sf_time_format(sf_time_now_ms(), t, sizeof(t)) ? t : "?", st.applied);
    record(redis, pc->name, text);
    sf_log("info",
           "projection=%s events=%" PRId64 " msg=\"rebuild after the offset "
           "reset done\"",
           pc->name, st.applied);
    return SF_OK;
}

sf_err_t sf_offsets_gate(const sf_config_t *cfg, const sf_pconf_t *pc,
                         const sf_catalog_t *cat, rd_kafka_t *rk,
                         sf_redis_t *redis, sf_metrics_t *metrics,
                         volatile sig_atomic_t *stop, char *errstr,
                         size_t errstr_size) {
    char err[1024], last[1024] = "";
    int refused = 0, waited_rebuild = 0, failed_once = 0;
    double backoff = 0.5;
    while (!*stop) {
        sf_offsets_part_t *ps = NULL;
        size_t n = 0, first = 0;
        sf_err_t e = sf_offsets_read(rk, redis, pc, &ps, &n, err, sizeof(err));
        if (e == SF_ERR_NOT_FOUND) {
            /* a missing topic is the worker's to report */
            return SF_OK;
        }
        if (e) {
            /* Kafka or Redis not there yet: the worker would wait too */
            if (strcmp(err, last))
                sf_log("warn",
                       "projection=%s msg=\"offsets check: %s; retrying\"",
                       pc->name, err);
            snprintf(last, sizeof(last), "%s", err);
            if (e == SF_ERR_REDIS)
                sf_redis_reconnect(redis, err, sizeof(err));
            sleep_s(backoff);
            backoff = backoff * 2 > 5 ? 5 : backoff * 2;
            continue;
        }
        sf_reset_t v = sf_offsets_judge(ps, n, &first);
        if (v == SF_RESET_NONE) {
            free(ps);
            if (refused) {
                sf_log("info",
                       "projection=%s msg=\"offsets agree with the view "
                       "again: starting\"",
                       pc->name);
                record(redis, pc->name, NULL);
                if (metrics)
                    sf_metrics_offsets_refused(metrics, pc->name, NULL);
            }
            return SF_OK;
        }
        if (v == SF_RESET_EARLIEST) {
            free(ps);
            if (refused && metrics)
                sf_metrics_offsets_refused(metrics, pc->name, NULL);
            refused = 0;
            e = reset_rebuild(cfg, pc, cat, redis, metrics, stop, errstr,
                              errstr_size);
            if (!e) {
                /* A blue/green rebuild leaves the group's offsets to the
                 * workers: commit the new checkpoints as ours now, or the
                 * reset would be judged (and rebuilt) again. */
                int tries = 0;
                do {
                    sf_offsets_part_t *ps2 = NULL;
                    size_t n2 = 0;
                    e = sf_offsets_read(rk, redis, pc, &ps2, &n2, err,
                                        sizeof(err));
                    if (!e)
                        e = sf_offsets_commit_checkpoints(rk, pc->name, ps2, n2,
                                                          err, sizeof(err));
                    free(ps2);
                    if (e) {
                        sf_log("warn",
                               "projection=%s msg=\"committing the rebuilt "
                               "checkpoints: %s; retrying\"",
                               pc->name, err);
                        sleep_s(1);
                    }
                } while (e && ++tries < 30 && !*stop);
                if (e)
                    return sf_seterr(errstr, errstr_size, e,
                                     "projection %s: rebuilt after the offset "
                                     "reset, but its checkpoints could not be "
                                     "committed to the group: %s",
                                     pc->name, err);
                continue; /* its commits are ours now: judged NONE */
            }
            int found = 0;
            char m[256];
            if (sf_life_rebuild_marker(redis, pc->name, &found, m, sizeof(m),
                                       err, sizeof(err)) ||
                waited_rebuild > 120)
                return e;
            if (!found) {
                /* another worker may have rebuilt and joined between our
                 * reading and our rebuild (its group check then fails):
                 * judge once more before giving up */
                if (failed_once++)
                    return e;
                sf_log("warn",
                       "projection=%s msg=\"rebuild after the offset reset "
                       "failed: %s; reading the offsets again\"",
                       pc->name, errstr);
                sleep_s(1);
                continue;
            }
            /* another worker's rebuild: wait for it */
            if (!waited_rebuild++)
                sf_log("info",
                       "projection=%s msg=\"another rebuild runs (%s): "
                       "waiting for it\"",
                       pc->name, m);
            sleep_s(5);
            continue;
        }
        char line[1024];
        sf_offsets_refusal(line, sizeof(line), pc->name, cfg->path, &ps[first]);
        free(ps);
        if (!refused || strcmp(line, last)) {
            sf_log("error", "projection=%s msg=\"%s\"", pc->name, line);
            record(redis, pc->name, line);
            if (metrics)
                sf_metrics_offsets_refused(metrics, pc->name, line);
        }
        snprintf(last, sizeof(last), "%s", line);
        refused = 1;
        for (int i = 0; i < 50 && !*stop; i++)
            sleep_s(0.1);
    }
    /* stopped while refused: a clean stop, the refusal stays recorded */
    return SF_OK;
}

sf_err_t sf_offsets_report(const sf_config_t *cfg, const sf_pconf_t *pc,
                           char *buf, size_t size) {
    (void)cfg; /* the projection's own Redis settings (pc->redis) serve */
    sf_redis_t *r = NULL;
    redisReply *rep = NULL;
    char key[512], err[256];
    *buf = '\0';
    sf_err_t e = sf_redis_connect(&pc->redis, &r, err, sizeof(err));
    sf_redis_key(key, sizeof(key), pc->name, "offsets", NULL, 0);
    if (!e)
        e = sf_redis_cmd(r, &rep, err, sizeof(err), "GET %s", key);
    if (!e && rep->type == REDIS_REPLY_STRING)
        snprintf(buf, size, "%s", rep->str);
    if (rep)
        freeReplyObject(rep);
    sf_redis_destroy(r);
    return e;
}
