/* admin.c - status, pause/resume, skip (see admin.h). */
#include "admin.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "control.h"
#include "groups.h"
#include "kconf.h"
#include "redis_sink.h"
#include "util.h"

/* The offset of the first event a read_committed consumer delivers among
 * the records [from, to) of the partition, into *first: 1 found, 0 none
 * (all transaction markers or aborted records), -1 when that cannot be
 * told within a few seconds. */
static int first_event(rd_kafka_t *rk, const char *topic, int32_t partition,
                       int64_t from, int64_t to, int64_t *first) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = from;
    int found = -1;
    if (rd_kafka_assign(rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        double end = sf_mono_s() + 5.0;
        while (sf_mono_s() < end) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
            if (m && !m->err && m->offset < to) {
                *first = m->offset;
                rd_kafka_message_destroy(m);
                found = 1; /* an event in the range */
                break;
            }
            if (m)
                rd_kafka_message_destroy(m);
            rd_kafka_topic_partition_list_t *q =
                rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(q, topic, partition);
            int past = !rd_kafka_position(rk, q) && q->elems[0].offset >= to;
            rd_kafka_topic_partition_list_destroy(q);
            if (past) {
                found = 0;
                break;
            }
        }
        rd_kafka_assign(rk, NULL);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return found;
}

/* 1 when the records [from, to) hold at least one event (so they cannot
 * all be transaction markers or aborted records); also 1 when that cannot
 * be told: lag is then counted from the checkpoint, never hidden. */
static int gap_has_events(rd_kafka_t *rk, const char *topic, int32_t partition,
                          int64_t from, int64_t to) {
    int64_t first;
    return first_event(rk, topic, partition, from, to, &first) != 0;
}

/* 1 when the last worker holding the partition reported that it stopped
 * at offset (on_error: stop, or a record it could not park). */
static int stopped_at(sf_redis_t *r, const char *proj, const char *topic,
                      int32_t partition, int64_t offset) {
    char state[64], member[256], want[40];
    int64_t at_ms;
    sf_ctl_report_get(r, proj, topic, partition, state, sizeof(state), &at_ms,
                      member, sizeof(member));
    snprintf(want, sizeof(want), "halted@%" PRId64, offset);
    return !strcmp(state, want);
}

static sf_err_t connect_redis(const sf_pconf_t *pc, sf_redis_t **r,
                              char *errstr, size_t errstr_size) {
    sf_err_t e = sf_redis_connect(&pc->redis, r, errstr, errstr_size);
    if (e) {
        sf_redis_destroy(*r);
        *r = NULL;
    }
    return e;
}

sf_err_t sf_status_collect(const sf_config_t *cfg, const sf_pconf_t *pc,
                           sf_status_row_t **rows, size_t *n, int *paused,
                           char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = NULL;
    sf_redis_t *r = NULL;
    sf_tp_t *tps = NULL;
    size_t ntp = 0;
    rd_kafka_topic_partition_list_t *committed = NULL;
    /* The projection's own group: its committed offsets step over
     * transaction markers, which the Redis checkpoint (the offset of the
     * last applied event) cannot. */
    sf_err_t e =
        sf_kconf_consumer(cfg, pc, NULL, &rk, errstr, errstr_size, NULL, NULL);
    if (!e)
        e = sf_kmeta_partitions(rk, pc->topics, pc->ntopics, 1, &tps, &ntp,
                                errstr, errstr_size);
    if (!e && ntp) {
        committed = rd_kafka_topic_partition_list_new((int)ntp);
        for (size_t i = 0; i < ntp; i++)
            rd_kafka_topic_partition_list_add(committed, tps[i].topic,
                                              tps[i].partition);
        /* Best effort: without an answer the checkpoint alone counts. */
        if (rd_kafka_committed(rk, committed, 10000))
            for (int i = 0; i < committed->cnt; i++)
                committed->elems[i].offset = RD_KAFKA_OFFSET_INVALID;
    }
    if (!e)
        e = connect_redis(pc, &r, errstr, errstr_size);
    if (!e)
        e = sf_redis_paused(r, pc->name, paused, errstr, errstr_size);
    sf_status_row_t *out = NULL;
    if (!e && !(out = calloc(ntp ? ntp : 1, sizeof(*out))))
        e = SF_ERR_NOMEM;
    for (size_t i = 0; !e && i < ntp; i++) {
        out[i].tp = tps[i];
        e = sf_redis_ckpt_get(r, pc->name, tps[i].topic, tps[i].partition,
                              &out[i].ckpt, errstr, errstr_size);
        char key[512];
        redisReply *rep = NULL;
        sf_redis_key(key, sizeof(key), pc->name, "epoch", tps[i].topic,
                     tps[i].partition);
        if (!e)
            e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", key);
        if (!e) {
            out[i].epoch = rep->type == REDIS_REPLY_STRING
                               ? strtoll(rep->str, NULL, 10)
                               : 0;
            freeReplyObject(rep);
        }
        out[i].halt = -1;
        sf_redis_key(key, sizeof(key), pc->name, "halt", tps[i].topic,
                     tps[i].partition);
        if (!e)
            e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", key);
        if (!e) {
            if (rep->type == REDIS_REPLY_STRING)
                out[i].halt = strtoll(rep->str, NULL, 10);
            freeReplyObject(rep);
        }
        /* Lag counts from the Redis checkpoint: that is what is applied.
         * The group's committed offset may be ahead of checkpoint + 1
         * because the records between are transaction markers (the
         * worker commits its position), but also because someone reset
         * the group or Redis lost writes; it is believed only when the
         * records between hold no event. */
        int64_t from = out[i].ckpt >= 0 ? out[i].ckpt + 1 : tps[i].lo;
        int64_t c = committed ? committed->elems[i].offset : -1;
        if (c > tps[i].hi)
            c = tps[i].hi;
        if (out[i].ckpt >= 0 && c > from &&
            !gap_has_events(rk, tps[i].topic, tps[i].partition, from, c))
            from = c;
        out[i].lag = tps[i].hi > from ? tps[i].hi - from : 0;
        out[i].skips =
            sf_ctl_skips(r, pc->name, tps[i].topic, tps[i].partition);
        sf_ctl_report_get(r, pc->name, tps[i].topic, tps[i].partition,
                          out[i].report, sizeof(out[i].report),
                          &out[i].report_ms, out[i].member,
                          sizeof(out[i].member));
    }
    if (e) {
        free(out);
    } else {
        *rows = out;
        *n = ntp;
    }
    if (committed)
        rd_kafka_topic_partition_list_destroy(committed);
    free(tps);
    sf_redis_destroy(r);
    if (rk)
        rd_kafka_destroy(rk);
    return e;
}

/* Pause generations (control.h): set the flag with a new generation,
 * then wait until every member of the projection's consumer group has
 * acknowledged it.  Members are described again each round, so a worker
 * that leaves stops counting and one that joins must acknowledge too (a
 * new worker reads the flag before it applies anything). */
sf_err_t sf_admin_pause(const sf_config_t *cfg, const sf_pconf_t *pc,
                        int paused, int64_t lease_ms, int timeout_ms,
                        size_t *acked, char *errstr, size_t errstr_size) {
    sf_redis_t *r = NULL;
    rd_kafka_t *rk = NULL;
    int64_t gen = 0;
    *acked = 0;
    sf_err_t e = connect_redis(pc, &r, errstr, errstr_size);
    if (!e)
        e = sf_kconf_consumer(cfg, pc, NULL, &rk, errstr, errstr_size, NULL,
                              NULL);
    if (!e)
        e = sf_ctl_pause_set(r, pc->name, paused, lease_ms, &gen, errstr,
                             errstr_size);
    double end = sf_mono_s() + timeout_ms / 1000.0;
    while (!e) {
        char state[32];
        sf_member_t *ms = NULL;
        size_t n = 0, ok = 0;
        char missing[600] = "";
        e = sf_group_describe(rk, pc->group_id, 10000, state, sizeof(state),
                              &ms, &n, errstr, errstr_size);
        if (e)
            break;
        for (size_t i = 0; i < n; i++) {
            if (sf_ctl_pause_acked(r, pc->name, ms[i].member_id, gen, paused))
                ok++;
            else
                snprintf(missing + strlen(missing),
                         sizeof(missing) - strlen(missing), "%s%s (%s)",
                         *missing ? ", " : "", ms[i].member_id, ms[i].host);
        }
        sf_group_members_free(ms, n);
        *acked = ok;
        if (ok == n)
            break;
        if (sf_mono_s() >= end) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_TIMEOUT,
                          "the flag is %s, but %zu of %zu worker(s) did not "
                          "acknowledge within %d s: %s",
                          paused ? "set" : "cleared", n - ok, n,
                          timeout_ms / 1000, missing);
            break;
        }
        struct timespec ts = {0, 200000000L};
        nanosleep(&ts, NULL);
    }
    sf_redis_destroy(r);
    if (rk)
        rd_kafka_destroy(rk);
    return e;
}

/* The topic must be one the projection reads and the partition must
 * exist; the offset must be the one blocking the partition (the halt
 * record, else checkpoint + 1), or with force any offset from there to
 * the last existing one.  Never past the end: the worker would refuse the
 * partition ("outside the partition's offsets") and every event written
 * later would count as done. */
sf_err_t sf_admin_skip(const sf_config_t *cfg, const sf_pconf_t *pc,
                       const char *topic, int32_t partition, int64_t offset,
                       int force, sf_skip_info_t *info, char *errstr,
                       size_t errstr_size) {
    memset(info, 0, sizeof(*info));
    int known = 0;
    for (size_t i = 0; i < pc->ntopics; i++)
        known |= !strcmp(pc->topics[i], topic);
    if (!known) {
        char list[512] = "";
        for (size_t i = 0; i < pc->ntopics; i++)
            snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
                     i ? ", " : "", pc->topics[i]);
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "topic %s is not read by projection %s (its topics: "
                         "%s); nothing changed",
                         topic, pc->name, list);
    }
    rd_kafka_t *rk = NULL;
    sf_redis_t *r = NULL;
    int32_t np = 0;
    int64_t lo = -1, hi = -1, ckpt = -1, halt = -1;
    sf_err_t e =
        sf_kconf_consumer(cfg, pc, NULL, &rk, errstr, errstr_size, NULL, NULL);
    if (!e)
        e = sf_kmeta_partition_count(rk, topic, &np, errstr, errstr_size);
    if (!e && partition >= np)
        e = sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                      "%s has %" PRId32 " partition(s) (0..%" PRId32
                      "); there is no partition %" PRId32 "; nothing changed",
                      topic, np, np - 1, partition);
    if (!e) {
        rd_kafka_resp_err_t ke = rd_kafka_query_watermark_offsets(
            rk, topic, partition, &lo, &hi, 10000);
        if (ke)
            e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                          "watermarks of %s/%" PRId32 ": %s", topic, partition,
                          rd_kafka_err2str(ke));
    }
    if (!e)
        e = connect_redis(pc, &r, errstr, errstr_size);
    if (!e)
        e = sf_redis_ckpt_get(r, pc->name, topic, partition, &ckpt, errstr,
                              errstr_size);
    if (!e) {
        char key[512];
        redisReply *rep = NULL;
        sf_redis_key(key, sizeof(key), pc->name, "halt", topic, partition);
        e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", key);
        if (!e && rep->type == REDIS_REPLY_STRING)
            halt = strtoll(rep->str, NULL, 10);
        freeReplyObject(rep);
    }
    int64_t next = ckpt >= 0 ? ckpt + 1 : lo;
    /* Without a halt record the partition waits on the first event after
     * the checkpoint: on a transactional topic checkpoint + 1 may be a
     * commit marker or an aborted record, which no worker ever sees. */
    int64_t blocking = halt >= 0 ? halt : next, first = -1;
    if (!e && halt < 0 && next < hi &&
        first_event(rk, topic, partition, next, hi, &first) == 1)
        blocking = first;
    info->prev = ckpt;
    info->blocking = blocking;
    if (e)
        goto out;
    if (offset >= hi) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                      "%s/%" PRId32 ": offset %" PRId64 " is past the end "
                      "(the last event is at %" PRId64 "%s); skipping there "
                      "would pass every event written later; nothing changed",
                      topic, partition, offset, hi - 1,
                      hi <= lo ? ", i.e. the partition is empty" : "");
    } else if (offset < next && offset != halt) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                      "%s/%" PRId32 ": offset %" PRId64 " is already applied "
                      "(checkpoint %" PRId64 "); nothing changed",
                      topic, partition, offset, ckpt);
    } else if (!force && halt < 0 &&
               !stopped_at(r, pc->name, topic, partition, blocking)) {
        /* nothing recorded as blocking it: a healthy event */
        e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                      "%s/%" PRId32 ": nothing blocks the partition (no "
                      "failed event recorded, no worker stopped at %" PRId64
                      "); skipping would pass a healthy event; nothing "
                      "changed (--force to pass it anyway)",
                      topic, partition, blocking);
    } else if (offset != blocking && !force) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                      "%s/%" PRId32 ": offset %" PRId64 " is not the event "
                      "blocking the partition (%" PRId64 "%s); skipping it "
                      "would also pass the %" PRId64 " unapplied event(s) "
                      "before it; nothing changed (--force to pass them "
                      "all)",
                      topic, partition, offset, blocking,
                      halt >= 0          ? ", its halt record"
                      : blocking == next ? ", checkpoint + 1"
                                         : ", the first event after the "
                                           "checkpoint",
                      offset > blocking ? offset - blocking : 0);
    } else {
        e = sf_redis_ckpt_advance(r, pc->name, topic, partition, -1, offset,
                                  &info->prev, errstr, errstr_size);
        if (!e) {
            info->skipped = offset - next + 1;
            if (info->skipped < 1)
                info->skipped = 1;
            /* a rebuild of an on_error: stop projection passes these too */
            for (int64_t o = offset; o >= next && offset - o < 10000; o--)
                sf_skiprec_add_at(r, pc->name, topic, partition, o);
            if (halt >= 0)
                sf_skiprec_add_at(r, pc->name, topic, partition, halt);
            sf_ctl_skip_count(r, pc->name, topic, partition, &info->count,
                              errstr, errstr_size);
        }
    }
out:
    sf_redis_destroy(r);
    if (rk)
        rd_kafka_destroy(rk);
    return e;
}

sf_err_t sf_status_group(const sf_config_t *cfg, const sf_pconf_t *pc,
                         char *state, size_t state_size, sf_member_t **members,
                         size_t *n, char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = NULL;
    sf_err_t e =
        sf_kconf_consumer(cfg, pc, NULL, &rk, errstr, errstr_size, NULL, NULL);
    if (!e)
        e = sf_group_describe(rk, pc->group_id, 10000, state, state_size,
                              members, n, errstr, errstr_size);
    if (rk)
        rd_kafka_destroy(rk);
    return e;
}
