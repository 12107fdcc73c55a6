/* rebuild.c - clear a projection and replay it from offset zero (see
 * rebuild.h). */
#include "rebuild.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asof.h"
#include "batch.h"
#include "bluegreen.h"
#include "event.h"
#include "identity.h"
#include "kconf.h"
#include "keys.h"
#include "kmeta.h"
#include "lifecycle.h"
#include "log.h"
#include "offsets.h"
#include "projection.h"
#include "control.h"
#include "dedup.h"
#include "fold.h"
#include "rebuild_poison.h"
#include "redis_sink.h"
#include "retry.h"
#include "sf_assert.h"

typedef struct rpart {
    sf_tp_t tp;
    int64_t token;
    int done;
    sf_batch_t bufs[2];   /* being filled / in flight (double buffering) */
    sf_batch_t folded[2]; /* bufs[i] folded, when sent so (fold.h) */
    sf_batch_t *batch;    /* the one being filled */
    int64_t sent_ckpt;    /* checkpoint the next batch sent expects */
    int64_t start;        /* offset the replay (re)starts from */
    int excluded;         /* as-of: an event later than TIME was left out */
    int gap;              /* ... and a later one applied (see rebuild.h) */
} rpart_t;

typedef struct rb {
    const sf_config_t *cfg;
    const sf_pconf_t *pc;
    sf_dlq_t *dlq;      /* created at the first poison record */
    rd_kafka_t *reader; /* reads poison records back (rebuild_poison.h) */
    sf_redis_t *ctl;    /* control records (control.h): a connection of its
                           own, since redis has pipelined replies pending */
    rd_kafka_t *rk;
    sf_redis_t *redis;
    sf_projection_t *proj;
    sf_decoder_t *dec;
    rpart_t *parts;
    size_t nparts;
    size_t pending;
    sf_rebuild_stats_t *st;
    /* flush scratch: [0, inflight) the set in flight, [nparts, ..) the
     * new set */
    size_t inflight; /* batches sent whose replies are not read yet */
    sf_apply_req_t *freq;
    sf_apply_res_t *fres2;
    /* unused since the MULTI/EXEC path went; still allocated and freed in
     * sf_rebuild_run (outside the apply code): to delete there */
    sf_batch_t **fb;
    const char **ft;
    int32_t *fp;
    int64_t *ftok;
    sf_apply_res_t *fres;
    const char **all_topic;
    int32_t *all_part;
    int64_t *all_tok;
    /* this rebuild's marker (lifecycle.h): every destructive step is
     * conditional on sf:<p>:rebuild still holding it */
    char marker_key[512];
    const char *marker;
    int keep_marker; /* failed with the view not the fold of a prefix of
                        each partition: the marker must stay */
    int lost_marker; /* another rebuild replaced the marker */
    int restart;     /* Redis lost replayed writes: replay again from its
                        checkpoints (see held_covers) */
    int bg;          /* blue/green: redis is the spare, ctl the live db */
    int fold;        /* send batches folded (fold.h) */
    sf_fold_t fold_scratch;
    sf_fold_stats_t fold_st;
    int64_t fold_refused; /* folded batches the script sent back */
} rb_t;

static int may_clear(void *opaque, const char *key, size_t len) {
    return sf_keys_may_clear(opaque, key, len);
}

/* Clears the keys of one `keys:` pattern: Redis' SCAN MATCH finds them,
 * and each is deleted only when the projector's matcher agrees and it is
 * not under the reserved prefix (defence in depth, see keys.h). */
static sf_err_t clear_pattern(rb_t *r, const char *pat, int64_t *deleted,
                              int64_t *spared, char *errstr,
                              size_t errstr_size) {
    sf_glob_t *g = NULL;
    size_t col;
    sf_err_t e =
        sf_glob_compile(pat, strlen(pat), &g, &col, errstr, errstr_size);
    if (e)
        return e;
    e = sf_redis_clear_guarded(r->redis, pat, may_clear, g, r->marker_key,
                               r->marker, deleted, spared, errstr, errstr_size);
    sf_glob_destroy(g);
    return e;
}

static sf_err_t group_check(rd_kafka_t *rk, const char *group, char *errstr,
                            size_t errstr_size) {
    const struct rd_kafka_group_list *gl = NULL;
    rd_kafka_resp_err_t err = rd_kafka_list_groups(rk, group, &gl, 10000);
    if (err)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                         "cannot describe consumer group %s: %s", group,
                         rd_kafka_err2str(err));
    sf_err_t e = SF_OK;
    for (int i = 0; i < gl->group_cnt; i++)
        if (!strcmp(gl->groups[i].group, group) && gl->groups[i].member_cnt > 0)
            e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                          "consumer group %s has %d active member(s) "
                          "(state %s): stop its workers first, or pass "
                          "--force (they are then fenced)",
                          group, gl->groups[i].member_cnt, gl->groups[i].state);
    rd_kafka_group_list_destroy(gl);
    return e;
}

static sf_err_t commit_group(rb_t *r, int end, char *errstr,
                             size_t errstr_size) {
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)r->nparts);
    for (size_t i = 0; i < r->nparts; i++) {
        int64_t off = end ? r->parts[i].tp.hi : r->parts[i].tp.lo;
        if (off < 0)
            off = 0;
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(
            l, r->parts[i].tp.topic, r->parts[i].tp.partition);
        tp->offset = off;
        /* ours (offsets.h): the checkpoint this commit stands for */
        sf_offsets_mark(tp, r->pc->name, off - 1);
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(r->rk, l, 0);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                         "committing offsets of group %s: %s", r->pc->group_id,
                         rd_kafka_err2str(err));
    return SF_OK;
}

/* ---- applying -------------------------------------------------------
 * The rebuild applies through the same apply script as the live worker
 * (redis_sink.h), so an event the worker refuses whole is refused whole
 * here too, and the same typed results are handled.  To keep Redis busy
 * while the next batches are built, a flush sends its set of batches
 * (one per partition) and only then reads the replies of the previous
 * set: each batch expects the checkpoint its predecessor will leave
 * (sent_ckpt).  Any result but OK (an event failed, the connection was
 * lost) makes both sets re-apply synchronously, partition by partition in
 * offset order, from the checkpoint Redis really holds: the script skips
 * what is applied and never runs a command twice. */

/* Counts an OK result: its events, and the failed events the script
 * reported and passed (poison), which are dead-lettered as the live worker
 * would (on_error: dlq; a rebuild may be the first to meet them). */
static sf_err_t count_ok(rb_t *r, const sf_apply_req_t *q, sf_apply_res_t *res,
                         char *errstr, size_t errstr_size) {
    sf_err_t e = SF_OK;
    r->st->applied += res->applied + (int64_t)res->nskipped;
    for (int k = 0; k < 4; k++)
        r->st->dedup[k] += res->ver[k];
    for (size_t k = 0; k < res->nskipped; k++) {
        char what[400];
        sf_apply_describe(&res->skipped[k], what, sizeof(what));
        r->st->poison++;
        sf_log("warn",
               "projection=%s topic=%s partition=%" PRId32 " offset=%" PRId64
               " msg=\"rebuild: event failed in redis, skipped\" "
               "reason=\"%s\"",
               r->pc->name, q->topic, q->partition, res->skipped[k].bad_offset,
               what);
        char why[420];
        snprintf(why, sizeof(why), "redis: %s", what);
        if (!e && !r->pc->on_error_stop)
            e = sf_rebuild_park_at(r->cfg, r->pc, &r->dlq, &r->reader, r->ctl,
                                   q->topic, q->partition,
                                   res->skipped[k].bad_offset, why, errstr,
                                   errstr_size);
    }
    sf_apply_res_clear(res);
    SF_ASSERT(q->batch->last_offset >= q->expected_ckpt);
    sf_fold_done(q->batch);
    return e;
}

/* Applies one batch synchronously until it is done.  An event that fails
 * in Redis is counted as poison and the checkpoint moved past it (or the
 * rebuild fails with on_error: stop). */
static sf_err_t apply_sync(rb_t *r, rpart_t *p, sf_batch_t *b, char *errstr,
                           size_t errstr_size) {
    sf_backoff_t bo;
    sf_backoff_init(&bo, 100, 5000);
    int mismatches = 0;
    for (;;) {
        sf_apply_req_t q = {b,        p->tp.topic,  p->tp.partition,
                            p->token, p->sent_ckpt, !r->pc->on_error_stop};
        sf_apply_res_t res = {0};
        sf_err_t e = sf_redis_apply(r->redis, r->pc->name, 1, &q, &res, errstr,
                                    errstr_size);
        if (!e && res.status == SF_APPLY_NOT_RUN && res.retriable)
            e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS, "redis: %s",
                          res.msg);
        if (e == SF_ERR_REDIS && sf_backoff_attempts(&bo) < 8) {
            int ms = sf_backoff_next(&bo);
            struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            if (!sf_redis_ctx(r->redis) || sf_redis_ctx(r->redis)->err)
                sf_redis_reconnect(r->redis, errstr, errstr_size);
            continue; /* a script that did run shows as a mismatch */
        }
        if (e)
            return e;
        char what[400];
        sf_apply_describe(&res, what, sizeof(what));
        switch (res.status) {
        case SF_APPLY_OK:
            p->sent_ckpt = b->last_offset;
            return count_ok(r, &q, &res, errstr, errstr_size);
        case SF_APPLY_EVENT_FAILED:
            /* an on_error: stop event the operator skipped live (`skip`)
             * is passed here too: its applied commands stay, as live */
            if (r->pc->on_error_stop && res.recorded &&
                sf_skiprec_seen_at(r->ctl, r->pc->name, p->tp.topic,
                                   p->tp.partition, res.bad_offset))
                sf_log("info",
                       "projection=%s topic=%s partition=%" PRId32
                       " offset=%" PRId64 " msg=\"rebuild: event skipped "
                       "by the operator failed in redis again, passed as "
                       "live\"",
                       r->pc->name, p->tp.topic, p->tp.partition,
                       res.bad_offset);
            else if (r->pc->on_error_stop || !res.recorded) {
                r->keep_marker = 1;
                return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                                 "%s/%" PRId32 "/%" PRId64 ": redis: %s%s",
                                 p->tp.topic, p->tp.partition, res.bad_offset,
                                 what,
                                 res.recorded ? " (on_error: stop)"
                                              : " (progress not recorded)");
            }
            r->st->poison++;
            r->st->applied += res.applied;
            for (int k = 0; k < 4; k++)
                r->st->dedup[k] += res.ver[k];
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " offset=%" PRId64 " msg=\"rebuild: event failed in "
                   "redis, skipped\" reason=\"%s\"",
                   r->pc->name, p->tp.topic, p->tp.partition, res.bad_offset,
                   what);
            if ((e = sf_redis_ckpt_advance(
                     r->redis, r->pc->name, p->tp.topic, p->tp.partition,
                     p->token, res.bad_offset, NULL, errstr, errstr_size)))
                return e;
            p->sent_ckpt = res.bad_offset;
            continue;
        case SF_APPLY_CKPT_MISMATCH:
            /* our own earlier call whose reply was lost moves it within
             * the batch; anything else is someone else writing */
            if (++mismatches > 3 || res.ckpt > b->last_offset ||
                res.ckpt < p->sent_ckpt) {
                r->keep_marker = 1;
                return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                                 "%s/%" PRId32 ": checkpoint %" PRId64
                                 " where %" PRId64 " was expected: something "
                                 "else writes this projection; run the "
                                 "rebuild again",
                                 p->tp.topic, p->tp.partition, res.ckpt,
                                 p->sent_ckpt);
            }
            p->sent_ckpt = res.ckpt;
            continue;
        case SF_APPLY_FENCED:
        case SF_APPLY_EPOCH_LOST:
            return sf_seterr(errstr, errstr_size, SF_ERR_FENCED,
                             "%s/%" PRId32 ": %s (another worker or "
                             "rebuild took the partition)",
                             p->tp.topic, p->tp.partition, what);
        case SF_APPLY_NOT_RUN:
            return sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                             "%s/%" PRId32 ": redis refused the apply "
                             "script: %s",
                             p->tp.topic, p->tp.partition, res.msg);
        }
    }
}

/* After a lost connection or a failed result, the batches p still holds
 * (older, then p->batch) are all that can be re-applied: Redis' checkpoint
 * must lie within them, from just before the first held event to the last
 * one.  Below: Redis lost writes of batches already confirmed (restarted
 * from an older snapshot, failed over to a replica that lagged), and
 * re-applying the held ones would leave a gap that the compare-and-set
 * cannot see.  Above: Redis holds a checkpoint this rebuild never wrote
 * (an older state from before the clear).  Either way the view is not the
 * fold of the log: fail, keeping the marker so that workers wait. */
static sf_err_t held_covers(rb_t *r, rpart_t *p, const sf_batch_t *older,
                            char *errstr, size_t errstr_size) {
    int64_t first =
        older->nevents ? older->first_offset : p->batch->first_offset;
    int64_t last =
        p->batch->nevents ? p->batch->last_offset : older->last_offset;
    if (p->sent_ckpt >= first - 1 && p->sent_ckpt <= last)
        return SF_OK;
    if (p->sent_ckpt < first - 1) {
        /* the clear record (sf:<p>:cleared = this marker, written right
         * after the clear) tells a Redis that lost part of the replay (it
         * holds the clear: replay again from its checkpoints) from one
         * that went back to before the clear (fail) */
        char key[512];
        redisReply *rep = NULL;
        sf_redis_key(key, sizeof(key), r->pc->name, "cleared", NULL, 0);
        sf_err_t e =
            sf_redis_cmd(r->redis, &rep, errstr, errstr_size, "GET %s", key);
        if (e)
            return e;
        int cleared =
            rep->type == REDIS_REPLY_STRING && !strcmp(rep->str, r->marker);
        freeReplyObject(rep);
        if (cleared) {
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " msg=\"rebuild: redis lost replayed writes (checkpoint "
                   "%" PRId64 ", held batches from %" PRId64 "): replaying "
                   "again from redis' checkpoints\"",
                   r->pc->name, p->tp.topic, p->tp.partition, p->sent_ckpt,
                   first);
            r->restart = 1;
            return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                             "replay restarts");
        }
    }
    r->keep_marker = 1;
    return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                     "%s/%" PRId32 ": after a lost redis connection the "
                     "checkpoint is %" PRId64 " but this rebuild holds only "
                     "offsets %" PRId64 "..%" PRId64 " to re-apply: %s; "
                     "the view is not the fold of the log, run the rebuild "
                     "again with --force",
                     p->tp.topic, p->tp.partition, p->sent_ckpt, first, last,
                     p->sent_ckpt > last
                         ? "redis holds a checkpoint this rebuild never "
                           "wrote (it came back with a state from before "
                           "the clear?)"
                         : "redis lost writes of this rebuild, its clear "
                           "included");
}

/* At the end of the replay every partition's checkpoint must be the last
 * offset this rebuild applied: anything else means Redis lost (or someone
 * else made) writes after their replies were read. */
static sf_err_t verify_end(rb_t *r, char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < r->nparts; i++) {
        rpart_t *p = &r->parts[i];
        int64_t ck = -1;
        sf_err_t e =
            sf_redis_ckpt_get(r->redis, r->pc->name, p->tp.topic,
                              p->tp.partition, &ck, errstr, errstr_size);
        if (e)
            return e;
        if (ck != p->sent_ckpt) {
            r->keep_marker = 1;
            return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                             "%s/%" PRId32 ": the replay ended at offset "
                             "%" PRId64 " but redis' checkpoint is %" PRId64
                             ": redis lost writes (or something else wrote) "
                             "during the rebuild; run the rebuild again "
                             "with --force",
                             p->tp.topic, p->tp.partition, p->sent_ckpt, ck);
        }
    }
    return SF_OK;
}

/* Re-applies a held batch after a lost connection or a failed result:
 * one Redis' checkpoint already covers (its reply was lost) is done. */
static sf_err_t reapply(rb_t *r, rpart_t *p, sf_batch_t *b, char *errstr,
                        size_t errstr_size) {
    if (p->sent_ckpt >= b->last_offset) {
        r->st->applied += (int64_t)b->nevents;
        sf_batch_reset(b);
        return SF_OK;
    }
    return apply_sync(r, p, b, errstr, errstr_size);
}

/* Reads n replies into res; 1 in *bad when one is not OK. */
static sf_err_t read_set(rb_t *r, size_t n, sf_apply_req_t *reqs,
                         sf_apply_res_t *res, int *bad, char *errstr,
                         size_t errstr_size) {
    if (!n)
        return SF_OK;
    sf_err_t e = sf_redis_apply_recv(r->redis, n, res, errstr, errstr_size);
    if (e == SF_ERR_REDIS) {
        sf_log("warn",
               "projection=%s msg=\"rebuild: redis connection "
               "lost, re-applying synchronously\" error=\"%s\"",
               r->pc->name, errstr);
        *bad = 2;
        return SF_OK;
    }
    if (e)
        return e;
    for (size_t i = 0; i < n; i++) {
        if (res[i].status == SF_APPLY_NOT_RUN &&
            !strcmp(res[i].code, "SFFOLDUNSURE") && !e) {
            /* applied, but not provably as unfolded (fold.h) */
            r->keep_marker = 1;
            e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                          "%s/%" PRId32 ": %s; run the rebuild again with "
                          "--force --no-fold",
                          reqs[i].topic, reqs[i].partition, res[i].msg);
            continue;
        }
        if (res[i].status == SF_APPLY_NOT_RUN && !strcmp(res[i].code, "SFFOLD"))
            r->fold_refused++; /* re-applied unfolded below */
        if (res[i].status != SF_APPLY_OK) {
            /* re-applied synchronously from Redis' checkpoint: what this
             * call applied is skipped then, so count it now */
            if (res[i].status == SF_APPLY_EVENT_FAILED) {
                r->st->applied += res[i].applied;
                for (int k = 0; k < 4; k++)
                    r->st->dedup[k] += res[i].ver[k];
            }
            *bad = *bad ? *bad : 1;
            continue;
        }
        if (!e) {
            e = count_ok(r, &reqs[i], &res[i], errstr, errstr_size);
        } else { /* the rebuild fails: the rest is only released */
            sf_apply_res_clear(&res[i]);
            sf_fold_done(reqs[i].batch);
        }
    }
    return e;
}

/* Sends the batches being filled, then reads the replies of the set in
 * flight (see "applying" above).  final: also waits for the set just
 * sent. */
static sf_err_t flush(rb_t *r, int final, char *errstr, size_t errstr_size) {
    size_t n = 0, np = r->nparts;
    if (!r->freq) {
        r->freq = calloc(2 * np + 1, sizeof(*r->freq));
        r->fres2 = calloc(2 * np + 1, sizeof(*r->fres2));
        if (!r->freq || !r->fres2)
            return SF_ERR_NOMEM;
    }
    for (size_t i = 0; i < np; i++) {
        rpart_t *p = &r->parts[i];
        if (!p->batch->nevents)
            continue;
        sf_batch_t *send = p->batch;
        if (r->fold &&
            sf_fold_batch(&r->fold_scratch, p->batch,
                          &p->folded[p->batch == &p->bufs[0] ? 0 : 1], &send,
                          &r->fold_st))
            send = p->batch; /* no memory to fold: as it is */
        r->freq[np + n] =
            (sf_apply_req_t){send,     p->tp.topic,  p->tp.partition,
                             p->token, p->sent_ckpt, !r->pc->on_error_stop};
        p->sent_ckpt = p->batch->last_offset;
        n++;
    }
    double t0 = sf_mono_s();
    int bad = 0;
    sf_err_t e = SF_OK;
    if (n)
        e = sf_redis_apply_send(r->redis, r->pc->name, n, r->freq + np, errstr,
                                errstr_size);
    if (e == SF_ERR_REDIS) {
        sf_log("warn",
               "projection=%s msg=\"rebuild: redis connection "
               "lost, re-applying synchronously\" error=\"%s\"",
               r->pc->name, errstr);
        bad = 2;
        e = SF_OK;
    }
    if (!e && bad != 2)
        e = read_set(r, r->inflight, r->freq, r->fres2, &bad, errstr,
                     errstr_size);
    if (!e && n && bad != 2 && (final || bad))
        e = read_set(r, n, r->freq + np, r->fres2 + np, &bad, errstr,
                     errstr_size);
    if (e)
        return e;
    r->inflight = 0;
    if (n && !final && !bad) {
        /* the set just sent is the one in flight now */
        memmove(r->freq, r->freq + np, n * sizeof(*r->freq));
        r->inflight = n;
    }
    if (bad) {
        if (bad == 2 && (e = sf_redis_reconnect(r->redis, errstr, errstr_size)))
            return e;
        for (size_t i = 0; !e && i < np; i++) {
            rpart_t *p = &r->parts[i];
            sf_batch_t *older =
                p->batch == &p->bufs[0] ? &p->bufs[1] : &p->bufs[0];
            if (!older->nevents && !p->batch->nevents)
                continue;
            /* start from what Redis really holds */
            e = sf_redis_ckpt_get(r->redis, r->pc->name, p->tp.topic,
                                  p->tp.partition, &p->sent_ckpt, errstr,
                                  errstr_size);
            if (!e)
                e = held_covers(r, p, older, errstr, errstr_size);
            if (!e && older->nevents)
                e = reapply(r, p, older, errstr, errstr_size);
            if (!e && p->batch->nevents)
                e = reapply(r, p, p->batch, errstr, errstr_size);
        }
        if (e)
            return e;
    }
    for (size_t i = 0; i < np; i++) {
        rpart_t *p = &r->parts[i];
        p->batch = p->batch == &p->bufs[0] ? &p->bufs[1] : &p->bufs[0];
        /* the buffer filled next was applied two flushes ago */
        SF_ASSERT(p->batch->nevents == 0);
    }
    r->pending = 0;
    r->st->redis_seconds += sf_mono_s() - t0;
    return SF_OK;
}

static rpart_t *find(rb_t *r, const char *topic, int32_t partition) {
    for (size_t i = 0; i < r->nparts; i++)
        if (r->parts[i].tp.partition == partition &&
            !strcmp(r->parts[i].tp.topic, topic))
            return &r->parts[i];
    return NULL;
}

static sf_err_t replay_once(rb_t *r, const sf_rebuild_opts_t *o,
                            sf_rebuild_progress_fn progress,
                            sf_rebuild_poison_fn poison, void *opaque,
                            volatile sig_atomic_t *stop, char *errstr,
                            size_t errstr_size) {
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)r->nparts);
    size_t live = 0;
    for (size_t i = 0; i < r->nparts; i++) {
        rpart_t *p = &r->parts[i];
        if (p->done || p->start >= p->tp.hi) {
            p->done = 1;
            continue;
        }
        rd_kafka_topic_partition_list_add(l, p->tp.topic, p->tp.partition)
            ->offset = p->start;
        live++;
    }
    rd_kafka_resp_err_t kerr = rd_kafka_assign(r->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (kerr)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA, "assign: %s",
                         rd_kafka_err2str(kerr));
    sf_event_t ev = {0};
    sf_buf_t scratch = {0};
    char err[1024];
    sf_err_t e = SF_OK;
    double t0 = sf_mono_s(), last_report = t0, last_pos = t0;
    enum { MBUF = 1000 };
    rd_kafka_message_t *mbuf[MBUF];
    size_t mi = 0, mn = 0;
    int idle = 0; /* the last refill found nothing */
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(r->rk);
    for (size_t i = 0; !e && i < r->nparts; i++)
        e = sf_redis_ckpt_get(r->redis, r->pc->name, r->parts[i].tp.topic,
                              r->parts[i].tp.partition, &r->parts[i].sent_ckpt,
                              errstr, errstr_size);
    size_t batch = o->batch_events ? o->batch_events : 20000;
    while (live && !e) {
        if (*stop) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                          "interrupted: the view is incomplete, run rebuild "
                          "again");
            break;
        }
        double now = sf_mono_s();
        if (mi == mn && (idle || now - last_pos >= 1.0)) {
            /* Ends hidden behind transaction markers are never delivered:
             * look at the positions instead.  Only here, with every record
             * handed to us processed: a position counts records delivered
             * (into mbuf), not applied, so a partition marked done while
             * its last records still waited in mbuf lost them. */
            last_pos = now;
            for (size_t i = 0; i < r->nparts; i++) {
                rpart_t *p = &r->parts[i];
                if (p->done)
                    continue;
                rd_kafka_topic_partition_list_t *q =
                    rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(q, p->tp.topic,
                                                  p->tp.partition);
                if (!rd_kafka_position(r->rk, q) &&
                    q->elems[0].offset >= p->tp.hi) {
                    p->done = 1;
                    live--;
                }
                rd_kafka_topic_partition_list_destroy(q);
            }
            if (!live)
                break;
        }
        /* Many records per call: far less queue locking than one poll
         * each.  consume_batch_queue waits for the whole timeout unless it
         * fills all MBUF slots, so take what is queued without waiting, and
         * only when nothing is, wait for the next single record. */
        if (mi == mn) {
            ssize_t got = rd_kafka_consume_batch_queue(q, 0, mbuf, MBUF);
            if (got <= 0) {
                mbuf[0] = rd_kafka_consume_queue(q, 100);
                got = mbuf[0] ? 1 : 0;
            }
            mi = 0;
            mn = (size_t)got;
            idle = got == 0;
        }
        rd_kafka_message_t *m = mi < mn ? mbuf[mi++] : NULL;
        if (now - last_report >= 1.0) {
            last_report = now;
            r->st->seconds = now - t0;
            if (progress)
                progress(opaque, "replay", r->st);
        }
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                sf_log("warn", "projection=%s msg=\"kafka: %s\"", r->pc->name,
                       rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        rpart_t *p = find(r, rd_kafka_topic_name(m->rkt), m->partition);
        if (!p || p->done || m->offset >= p->tp.hi) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->offset >= p->tp.hi - 1) {
            p->done = 1;
            live--;
        }
        r->st->done++;
        if (o->as_of_ms >= 0) {
            /* as of TIME (asof.h): left out, the partition read on */
            if (sf_event_from_message(&ev, m) == SF_OK &&
                !sf_asof_includes(&ev, o->as_of_ms)) {
                p->excluded = 1;
                rd_kafka_message_destroy(m);
                continue;
            }
            if (p->excluded)
                p->gap = 1;
        }
        e = sf_projection_process(r->proj, r->dec, m, &ev, p->batch, &scratch,
                                  r->pc->on_error_stop, err, sizeof(err));
        if (e) {
            r->st->poison++;
            int already = 0;
            if (r->pc->on_error_stop) {
                /* the precheck found it skipped by the operator */
                already = sf_skiprec_seen_at(r->ctl, r->pc->name, p->tp.topic,
                                             p->tp.partition, m->offset);
                if (!already)
                    sf_seterr(errstr, errstr_size, e,
                              "%s/%" PRId32 "/%" PRId64 ": %s (on_error: stop)",
                              p->tp.topic, p->tp.partition, m->offset, err);
                else
                    e = SF_OK;
            } else if (o->to_db) {
                already = 1; /* a view beside the live one parks nothing */
            } else {
                e = sf_rebuild_park(r->cfg, r->pc, &r->dlq, r->ctl, m, err,
                                    &already, errstr, errstr_size);
            }
            if (poison && !e) {
                char why[1200];
                snprintf(why, sizeof(why), "%s (%s)", err,
                         r->pc->on_error_stop ? "skipped by the operator"
                         : already            ? "already dead-lettered"
                                              : "dead-lettered now");
                poison(opaque, p->tp.topic, p->tp.partition, m->offset, why);
            }
        }
        rd_kafka_message_destroy(m);
        if (!e && ++r->pending >= batch)
            e = flush(r, 0, errstr, errstr_size);
    }
    if (!e)
        e = flush(r, 1, errstr, errstr_size);
    SF_ASSERT(e || !r->inflight); /* the final flush waits for all */
    if (!e)
        e = verify_end(r, errstr, errstr_size);
    free(r->freq);
    free(r->fres2);
    r->freq = NULL;
    r->fres2 = NULL;
    while (mi < mn)
        rd_kafka_message_destroy(mbuf[mi++]);
    rd_kafka_queue_destroy(q);
    sf_event_clear(&ev);
    sf_buf_free(&scratch);
    rd_kafka_assign(r->rk, NULL);
    return e;
}

/* The replay; restarted (a few times at most) from Redis' checkpoints
 * when Redis lost replayed writes after the clear (held_covers). */
static sf_err_t replay(rb_t *r, const sf_rebuild_opts_t *o,
                       sf_rebuild_progress_fn progress,
                       sf_rebuild_poison_fn poison, void *opaque,
                       volatile sig_atomic_t *stop, char *errstr,
                       size_t errstr_size) {
    for (int round = 0;; round++) {
        r->restart = 0;
        sf_err_t e = replay_once(r, o, progress, poison, opaque, stop, errstr,
                                 errstr_size);
        if (!e || !r->restart)
            return e;
        if (round >= 4) {
            r->keep_marker = 1;
            return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                             "redis lost replayed writes %d times: the "
                             "view is incomplete; run the rebuild again "
                             "with --force once redis is stable",
                             round + 1);
        }
        r->inflight = 0;
        r->pending = 0;
        e = SF_OK;
        int64_t done = 0;
        for (size_t i = 0; !e && i < r->nparts; i++) {
            rpart_t *p = &r->parts[i];
            sf_batch_reset(&p->bufs[0]);
            sf_batch_reset(&p->bufs[1]);
            p->batch = &p->bufs[0];
            e = sf_redis_ckpt_get(r->redis, r->pc->name, p->tp.topic,
                                  p->tp.partition, &p->sent_ckpt, errstr,
                                  errstr_size);
            p->start =
                p->sent_ckpt + 1 > p->tp.lo ? p->sent_ckpt + 1 : p->tp.lo;
            p->done = p->start >= p->tp.hi;
            done += p->start - p->tp.lo;
        }
        if (e)
            return e;
        r->st->done = r->st->applied = done;
    }
}

/* Each topic as it is now (ids[i]), compared with what the projection
 * recorded: a recreated topic is what a rebuild is for (logged); a changed
 * partition count is refused unless accepted (identity.h says why). */
static sf_err_t check_topics(rb_t *r, const sf_rebuild_opts_t *o,
                             sf_topic_identity_t *ids, char *errstr,
                             size_t errstr_size) {
    for (size_t i = 0; i < r->pc->ntopics; i++) {
        const char *topic = r->pc->topics[i];
        sf_topic_identity_t old;
        int found = 0;
        sf_err_t e = sf_identity_describe(r->rk, topic, 10000, &ids[i], errstr,
                                          errstr_size);
        if (!e)
            e = sf_identity_get(r->redis, r->pc->name, topic, &old, &found,
                                errstr, errstr_size);
        if (e)
            return e;
        if (!found)
            continue;
        if (strcmp(old.id, ids[i].id) || strcmp(old.cluster, ids[i].cluster))
            sf_log("warn",
                   "projection=%s topic=%s msg=\"the topic is not the log "
                   "the old view was made from (topic id %s in cluster %s, "
                   "now %s in cluster %s): rebuilding from the topic as it "
                   "is now\"",
                   r->pc->name, topic, old.id, old.cluster, ids[i].id,
                   ids[i].cluster);
        else if (old.partitions != ids[i].partitions && !o->accept_partitions)
            return sf_identity_compare(r->pc->name, topic, &old, &ids[i],
                                       errstr, errstr_size);
        else if (old.partitions != ids[i].partitions)
            sf_log("warn",
                   "projection=%s topic=%s msg=\"partition count %" PRId32
                   " -> %" PRId32 " accepted (--accept-partitions)\"",
                   r->pc->name, topic, old.partitions, ids[i].partitions);
    }
    return SF_OK;
}

/* ---- blue/green switch ----------------------------------------------
 * The spare was replayed up to the end offsets seen at the start.  First
 * it catches up with the log while the live workers still write (a few
 * rounds, until what is left is small), then the live workers are paused
 * and the spare is caught up to each live checkpoint (it may be ahead:
 * workers go on from the checkpoint they find).  The checks and the swap
 * are one WATCHed transaction (bluegreen.h): a live write in between
 * aborts the swap and the checks run again. */

/* Replays every partition from its spare checkpoint up to its (new) hi. */
static sf_err_t catch_up(rb_t *r, const sf_rebuild_opts_t *o,
                         sf_rebuild_progress_fn progress,
                         sf_rebuild_poison_fn poison, void *opaque,
                         volatile sig_atomic_t *stop, char *errstr,
                         size_t errstr_size) {
    for (size_t i = 0; i < r->nparts; i++) {
        rpart_t *p = &r->parts[i];
        p->start = p->sent_ckpt + 1 > p->tp.lo ? p->sent_ckpt + 1 : p->tp.lo;
        p->done = p->start >= p->tp.hi;
        if (!p->done)
            r->st->total += p->tp.hi - p->start;
    }
    return replay(r, o, progress, poison, opaque, stop, errstr, errstr_size);
}

/* New end offsets into r->parts; the events still to replay. */
static sf_err_t refresh_ends(rb_t *r, int64_t *behind, char *errstr,
                             size_t errstr_size) {
    sf_tp_t *tps = NULL;
    size_t n = 0;
    sf_err_t e = sf_kmeta_partitions(r->rk, r->pc->topics, r->pc->ntopics, 1,
                                     &tps, &n, errstr, errstr_size);
    if (e)
        return e;
    *behind = 0;
    for (size_t i = 0; i < n && !e; i++) {
        rpart_t *p = find(r, tps[i].topic, tps[i].partition);
        if (!p || n != r->nparts) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                          "the partitions of %s changed during the rebuild "
                          "(%zu now, %zu at the start): run it again",
                          tps[i].topic, n, r->nparts);
            break;
        }
        if (tps[i].hi > p->tp.hi)
            p->tp.hi = tps[i].hi;
        *behind += p->tp.hi -
                   (p->sent_ckpt + 1 > p->tp.lo ? p->sent_ckpt + 1 : p->tp.lo);
    }
    free(tps);
    return e;
}

static sf_err_t bg_switch(rb_t *r, const sf_rebuild_opts_t *o,
                          sf_rebuild_progress_fn progress,
                          sf_rebuild_poison_fn poison, void *opaque,
                          volatile sig_atomic_t *stop, char *errstr,
                          size_t errstr_size) {
    const sf_pconf_t *pc = r->pc;
    int64_t behind = 0;
    sf_err_t e = SF_OK;
    /* 1. catch up while live writes go on */
    for (int round = 0; !e && round < 8; round++) {
        if ((e = refresh_ends(r, &behind, errstr, errstr_size)) ||
            behind <= 2000)
            break;
        r->st->catchup_rounds++;
        e = catch_up(r, o, progress, poison, opaque, stop, errstr, errstr_size);
    }
    if (e)
        return e;
    /* 2. pause, catch up to the live checkpoints, swap */
    sf_tp_t *tps = calloc(r->nparts + 1, sizeof(*tps));
    int64_t *live = calloc(r->nparts + 1, sizeof(*live));
    if (!tps || !live) {
        free(tps);
        free(live);
        return SF_ERR_NOMEM;
    }
    int was_paused = 0, swapped = 0;
    double t0 = sf_mono_s();
    if (progress)
        progress(opaque, "switch", r->st);
    e = sf_bg_pause(r->cfg, pc, r->ctl, 1, &was_paused, errstr, errstr_size);
    int paused = !e;
    double t_acked = sf_mono_s(); /* no worker applies from here on */
    for (int attempt = 0; !e && !swapped && attempt < 20; attempt++) {
        if (*stop) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                          "interrupted before the switch: the live view is "
                          "untouched");
            break;
        }
        for (size_t i = 0; i < r->nparts; i++)
            tps[i] = r->parts[i].tp;
        if ((e = sf_bg_watch_ckpts(r->ctl, pc->name, tps, r->nparts, live,
                                   errstr, errstr_size)))
            break;
        int need = 0;
        for (size_t i = 0; i < r->nparts; i++)
            if (live[i] > r->parts[i].sent_ckpt) {
                if (live[i] + 1 > r->parts[i].tp.hi)
                    r->parts[i].tp.hi = live[i] + 1;
                need = 1;
            }
        if (need && (e = catch_up(r, o, progress, poison, opaque, stop, errstr,
                                  errstr_size)))
            break;
        for (size_t i = 0; i < r->nparts; i++)
            tps[i] = r->parts[i].tp;
        e = sf_bg_swap(r->ctl, pc, tps, r->nparts,
                       (int64_t)((sf_mono_s() - t0) * 1000), &swapped, errstr,
                       errstr_size);
        if (!e && !swapped)
            sf_log("info",
                   "projection=%s msg=\"switch: a live write came between "
                   "the checks and the swap, checking again\" attempt=%d",
                   pc->name, attempt + 1);
    }
    if (!e && !swapped)
        e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                      "the live checkpoints kept moving while the workers "
                      "were paused (20 attempts): not switched, the live "
                      "view is untouched");
    if (!swapped) {
        char tmp[64];
        (void)sf_redis_cmd(r->ctl, NULL, tmp, sizeof(tmp), "UNWATCH");
    }
    double t_swapped = sf_mono_s();
    if (paused) {
        char rerr[512];
        if (sf_bg_pause(r->cfg, pc, r->ctl, 0, &was_paused, rerr, sizeof(rerr)))
            sf_log("error",
                   "projection=%s msg=\"switch: resuming the workers: %s; "
                   "run sf-projector resume\"",
                   pc->name, rerr);
    }
    r->st->pause_seconds = sf_mono_s() - t0;
    r->st->swap_seconds = t_swapped - t_acked;
    if (swapped) {
        char tmp[256];
        r->st->switched = 1;
        (void)sf_bg_record_pause(r->ctl, pc->name,
                                 (int64_t)(r->st->pause_seconds * 1000), tmp,
                                 sizeof(tmp));
        sf_log("info",
               "projection=%s msg=\"switched: the new generation serves "
               "in db %d, the previous one is kept in spare_db %d "
               "(sf-projector rollback / drop)\" pause_ms=%.0f "
               "switch_ms=%.1f catchup_rounds=%d",
               pc->name, pc->db, pc->spare_db, r->st->pause_seconds * 1000,
               r->st->swap_seconds * 1000, r->st->catchup_rounds);
    }
    free(tps);
    free(live);
    return e;
}

/* SF_ERR_FENCED unless the rebuild marker is still this rebuild's. */
static sf_err_t still_ours(rb_t *r, char *errstr, size_t errstr_size) {
    int found = 0;
    char held[256] = "";
    char tmp[256];
    sf_err_t e = sf_life_rebuild_marker(r->redis, r->pc->name, &found, held,
                                        sizeof(held), tmp, sizeof(tmp));
    if (e || (found && !strcmp(held, r->marker)))
        return e;
    r->lost_marker = 1;
    return sf_seterr(errstr, errstr_size, SF_ERR_FENCED,
                     "projection %s: the rebuild marker %s is no longer this "
                     "rebuild's (now \"%s\"): another rebuild took over; "
                     "this one stops",
                     r->pc->name, r->marker_key, found ? held : "");
}

sf_err_t sf_rebuild_run(const sf_config_t *cfg, const sf_pconf_t *pc,
                        const sf_catalog_t *cat, const sf_rebuild_opts_t *o,
                        sf_rebuild_progress_fn progress,
                        sf_rebuild_poison_fn poison, void *opaque,
                        volatile sig_atomic_t *stop, sf_rebuild_stats_t *st,
                        char *errstr, size_t errstr_size) {
    rb_t r = {0};
    int frozen = 0; /* in-place as-of view that must not be resumed */
    r.cfg = cfg;
    r.pc = pc;
    r.st = st;
    /* three targets: the spare database (blue/green, the default), the
     * live one (--in-place), or database o->db (to_db: an as-of view or
     * diff's scratch fold); r.ctl (skip and dead-letter records, the
     * marker) is always the live one */
    r.bg = !o->in_place && !o->to_db;
    /* folding needs the script's skip-and-go-on (fold.h) */
    r.fold = !o->no_fold && !pc->on_error_stop;
    if (r.bg && pc->spare_db < 0) {
        /* no spare database to build beside the live view: in place, as
         * before blue/green existed, and said so (docs/generations.md) */
        r.bg = 0;
        sf_log("warn",
               "projection=%s msg=\"no spare_db configured: rebuilding in "
               "place, readers see the view emptied and refilled; configure "
               "spare_db for a blue/green rebuild (or pass --in-place to "
               "silence this)\"",
               pc->name);
    }
    memset(st, 0, sizeof(*st));
    double t0 = sf_mono_s();
    sf_err_t e = SF_OK;
    if (r.bg && o->as_of_ms >= 0)
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "rebuild --as-of needs --db N (a past view beside "
                         "the live one) or --in-place: a view as of a time "
                         "is not switched in as the live one");
    if (r.bg && (e = sf_bg_check_config(cfg, pc, errstr, errstr_size)))
        return e;
    /* the database the view is built in */
    sf_redis_conf_t spare_conf = {0};
    if (sf_redis_conf_copy(&spare_conf, &pc->redis))
        return SF_ERR_NOMEM;
    if (r.bg)
        spare_conf.db = pc->spare_db;
    else if (o->to_db)
        spare_conf.db = o->db;
    e = sf_kconf_consumer(cfg, pc, NULL, &r.rk, errstr, errstr_size, NULL,
                          NULL);
    if (e) {
        sf_redis_conf_clear(&spare_conf);
        return e;
    }
    sf_tp_t *tps = NULL;
    size_t ntp = 0;
    sf_topic_identity_t *ids = NULL;
    char marker[256];
    int marked = 0, clearing = 0, touched = 0;
    /* metadata first: list_groups then finds the brokers up (it can
     * otherwise wait a second for their state) */
    if ((e = sf_kmeta_partitions(r.rk, pc->topics, pc->ntopics, 1, &tps, &ntp,
                                 errstr, errstr_size)))
        goto out;
    sf_log("debug", "projection=%s msg=\"rebuild: metadata at %.3fs\"",
           pc->name, sf_mono_s() - t0);
    /* blue/green: live workers go on while the spare is built */
    if (!r.bg && !o->force && !o->to_db &&
        (e = group_check(r.rk, pc->group_id, errstr, errstr_size)))
        goto out;
    if ((e = sf_redis_connect(&spare_conf, &r.redis, errstr, errstr_size)) ||
        (e = sf_redis_connect(&pc->redis, &r.ctl, errstr, errstr_size)))
        goto out;
    if (o->to_db &&
        (e = sf_asof_check_db(cfg, pc, o->db, r.redis, errstr, errstr_size)))
        goto out;
    if (r.bg) {
        int restarted = 0;
        if ((e = sf_bg_prepare(r.redis, pc, o->force, &restarted, errstr,
                               errstr_size)))
            goto out;
        sf_log("info",
               "projection=%s msg=\"blue/green rebuild: building the new "
               "generation in spare_db %d while db %d keeps serving%s\" "
               "digest=%s",
               pc->name, pc->spare_db, pc->db,
               restarted ? "; the incomplete generation an interrupted "
                           "rebuild left there is started over"
                         : "",
               pc->digest);
    }
    if (!(ids = calloc(pc->ntopics ? pc->ntopics : 1, sizeof(*ids)))) {
        e = SF_ERR_NOMEM;
        goto out;
    }
    if ((e = check_topics(&r, o, ids, errstr, errstr_size)))
        goto out;
    sf_life_marker_text(marker, sizeof(marker));
    r.marker = marker;
    sf_redis_key(r.marker_key, sizeof(r.marker_key), pc->name, "rebuild", NULL,
                 0);
    if ((e = sf_life_rebuild_begin(r.redis, pc->name, marker, o->force, errstr,
                                   errstr_size)))
        goto out;
    marked = 1;
    if (r.bg && (e = sf_bg_reset(r.redis, pc, marker, errstr, errstr_size)))
        goto out;
    if ((e = sf_projection_create(pc, cat, &r.proj, errstr, errstr_size)))
        goto out;
    if (!(r.dec = sf_decoder_new(cat))) {
        e = SF_ERR_NOMEM;
        goto out;
    }
    r.nparts = ntp;
    r.parts = calloc(ntp ? ntp : 1, sizeof(*r.parts));
    r.fb = calloc(2 * ntp + 1, sizeof(*r.fb));
    r.ft = calloc(2 * ntp + 1, sizeof(*r.ft));
    r.fp = calloc(2 * ntp + 1, sizeof(*r.fp));
    r.ftok = calloc(2 * ntp + 1, sizeof(*r.ftok));
    r.fres = calloc(2 * ntp + 1, sizeof(*r.fres));
    if (!r.parts || !r.fb || !r.ft || !r.fp || !r.ftok || !r.fres) {
        e = SF_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < ntp; i++) {
        r.parts[i].tp = tps[i];
        sf_batch_init(&r.parts[i].bufs[0]);
        sf_batch_init(&r.parts[i].bufs[1]);
        sf_batch_init(&r.parts[i].folded[0]);
        sf_batch_init(&r.parts[i].folded[1]);
        r.parts[i].batch = &r.parts[i].bufs[0];
        r.parts[i].start = tps[i].lo;
        st->total += tps[i].hi - tps[i].lo;
    }
    sf_log("debug",
           "projection=%s msg=\"rebuild: %zu partitions, %" PRId64
           " events, setup %.3fs\"",
           pc->name, ntp, st->total, sf_mono_s() - t0);
    /* 0. an on_error: stop projection with poison in its history would
     * stop half way: find out before the old view is cleared */
    if (pc->on_error_stop &&
        (e = sf_rebuild_precheck(r.rk, r.ctl, pc, r.proj, r.dec, tps, ntp,
                                 o->as_of_ms, stop, errstr, errstr_size)))
        goto out;
    /* 1. fence: from here on no stale worker writes. */
    if ((e = still_ours(&r, errstr, errstr_size)))
        goto out;
    for (size_t i = 0; i < ntp && !e; i++)
        e = sf_redis_epoch_bump(r.redis, pc->name, tps[i].topic,
                                tps[i].partition, &r.parts[i].token, errstr,
                                errstr_size);
    if (e)
        goto out;
    r.all_topic = calloc(ntp + 1, sizeof(*r.all_topic));
    r.all_part = calloc(ntp + 1, sizeof(*r.all_part));
    r.all_tok = calloc(ntp + 1, sizeof(*r.all_tok));
    if (!r.all_topic || !r.all_part || !r.all_tok) {
        e = SF_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < ntp; i++) {
        r.all_topic[i] = r.parts[i].tp.topic;
        r.all_part[i] = r.parts[i].tp.partition;
        r.all_tok[i] = r.parts[i].token;
    }
    sf_log("debug", "projection=%s msg=\"rebuild: fenced at %.3fs\"", pc->name,
           sf_mono_s() - t0);
    /* 2. clear the view and the checkpoints. */
    clearing = 1;
    touched = 1;
    if (progress)
        progress(opaque, r.bg ? "prepare" : "clear", st);
    if (!sf_rules_nkeys(pc->rules))
        sf_log("warn",
               "projection=%s msg=\"no view key patterns declared "
               "(rules keys:): the old view is NOT cleared, events are "
               "applied on top of it\"",
               pc->name);
    for (size_t i = 0; !e && i < sf_rules_nkeys(pc->rules); i++) {
        int64_t n = 0, spared = 0;
        e = clear_pattern(&r, sf_rules_key(pc->rules, i), &n, &spared, errstr,
                          errstr_size);
        st->deleted_keys += n;
        if (spared)
            sf_log("warn",
                   "projection=%s msg=\"clear: %" PRId64 " key(s) "
                   "returned by SCAN MATCH were kept: not matched by the "
                   "projector's reading of the pattern, or under the "
                   "reserved prefix " SF_REDIS_PREFIX "\" pattern=\"%s\"",
                   pc->name, spared, sf_rules_key(pc->rules, i));
    }
    if (!e) {
        /* only the configured topics' partitions: bookkeeping of topics
         * the projection no longer reads is left alone */
        for (size_t i = 0; !e && i < ntp; i++) {
            char ck[512], hk[512], dk[512];
            sf_redis_key(ck, sizeof(ck), pc->name, "ckpt", tps[i].topic,
                         tps[i].partition);
            sf_redis_key(hk, sizeof(hk), pc->name, "halt", tps[i].topic,
                         tps[i].partition);
            sf_redis_key(dk, sizeof(dk), pc->name, "dedup", tps[i].topic,
                         tps[i].partition);
            const char *both[3] = {ck, hk, dk};
            e = sf_redis_unlink_guarded(r.redis, r.marker_key, marker, 3, both,
                                        NULL, errstr, errstr_size);
        }
    }
    /* the duplicate rule's last versions are part of the view: replayed
     * from offset zero, they are rebuilt too (dedup.h) */
    if (!e)
        e = sf_dedup_clear(r.redis, pc->name, r.marker_key, marker, errstr,
                           errstr_size);
    /* the record that this rebuild's clear is complete (held_covers) */
    if (!e) {
        char key[512];
        sf_redis_key(key, sizeof(key), pc->name, "cleared", NULL, 0);
        e = sf_redis_cmd(r.redis, NULL, errstr, errstr_size, "SET %s %s", key,
                         marker);
    }
    /* the checkpoints to come belong to the topics as they are now */
    for (size_t i = 0; !e && i < pc->ntopics; i++)
        e = sf_identity_record(r.redis, pc->name, pc->topics[i], &ids[i],
                               errstr, errstr_size);
    if (e)
        goto out;
    clearing = 0; /* consistent again: empty view, no checkpoint */
    sf_log("info",
           "projection=%s msg=\"%s\" deleted_keys=%" PRId64 " events=%" PRId64,
           pc->name,
           r.bg ? "spare database emptied for the new generation"
                : "view cleared",
           st->deleted_keys, st->total);
    st->clear_seconds = sf_mono_s() - t0;
    sf_log("debug", "projection=%s msg=\"rebuild: cleared at %.3fs\"", pc->name,
           st->clear_seconds);
    /* 3. reset the group's offsets (only informative: Redis rules). */
    char kerr[512];
    if (!r.bg && !o->to_db && commit_group(&r, 0, kerr, sizeof(kerr)))
        sf_log("warn", "projection=%s msg=\"%s\"", pc->name, kerr);
    /* 4. replay. */
    if ((e = replay(&r, o, progress, poison, opaque, stop, errstr,
                    errstr_size)))
        goto out;
    sf_log("debug", "projection=%s msg=\"rebuild: replay done at %.3fs\"",
           pc->name, sf_mono_s() - t0);
    if (r.bg && (e = bg_switch(&r, o, progress, poison, opaque, stop, errstr,
                               errstr_size)))
        goto out;
    if (!r.bg && !o->to_db && o->as_of_ms < 0 &&
        commit_group(&r, 1, kerr, sizeof(kerr)))
        sf_log("warn", "projection=%s msg=\"%s\"", pc->name, kerr);
    if (o->to_db &&
        (e = sf_asof_register(pc, o->db, o->as_of_ms, r.redis,
                              o->scratch ? NULL : r.ctl, errstr, errstr_size)))
        goto out;
    for (size_t i = 0; !o->to_db && i < r.nparts && !frozen; i++)
        if (r.parts[i].gap) {
            frozen = 1;
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " msg=\"as-of view in the live database: an event later "
                   "than the as-of time lies before events applied, so a "
                   "worker resuming from the checkpoint would skip it; the "
                   "rebuild marker stays and workers wait. Return to the "
                   "live view with sf-projector rebuild --force; keep past "
                   "views beside the live one with --as-of TIME --db N\"",
                   pc->name, r.parts[i].tp.topic, r.parts[i].tp.partition);
        }
    if (r.fold_st.events)
        sf_log("info",
               "projection=%s msg=\"fold: %" PRId64 " events with %" PRId64
               " commands sent as %" PRId64 " redis commands; %" PRId64
               " folded batches refused and sent unfolded\"",
               pc->name, r.fold_st.events, r.fold_st.cmds_in,
               r.fold_st.cmds_out, r.fold_refused);
    st->seconds = sf_mono_s() - t0;
    if (progress)
        progress(opaque, "done", st);
out:
    st->seconds = sf_mono_s() - t0;
    if (marked && e == SF_ERR_FENCED) {
        char ferr[256];
        (void)still_ours(&r, ferr, sizeof(ferr)); /* sets lost_marker */
    }
    if (touched && e == SF_ERR_REDIS)
        r.keep_marker = 1; /* what Redis holds now is unknown */
    if (r.bg && marked && !r.lost_marker && !st->switched) {
        /* the live database was never written: only the spare's marker
         * goes, its registry keeps saying "building" (incomplete) */
        char merr[256];
        (void)sf_life_rebuild_end(r.redis, pc->name, marker, merr,
                                  sizeof(merr));
        sf_log("error",
               "projection=%s msg=\"blue/green rebuild did not complete: "
               "the live view in db %d is untouched and still serving; the "
               "incomplete generation in spare_db %d is started over by the "
               "next rebuild\"",
               pc->name, pc->db, pc->spare_db);
    } else if (r.bg && marked) {
        /* switched: the marker went in the swap transaction */
    } else if (r.lost_marker) {
        sf_log("error",
               "projection=%s msg=\"another rebuild replaced this "
               "rebuild's marker (rebuild --force): this one stopped without "
               "touching the view or the marker any more\"",
               pc->name);
    } else if (marked && frozen && !e) {
        char merr[256];
        int ours = 0;
        (void)sf_life_rebuild_keep(r.redis, pc->name, marker, &ours, merr,
                                   sizeof(merr));
    } else if (marked && r.keep_marker) {
        char merr[256];
        int ours = 0;
        if (sf_life_rebuild_keep(r.redis, pc->name, marker, &ours, merr,
                                 sizeof(merr)))
            ours = 0;
        sf_log("error",
               "projection=%s msg=\"rebuild failed with the view "
               "incomplete: %s; workers wait until a rebuild completes "
               "(sf-projector rebuild --force)\"",
               pc->name,
               ours ? "the rebuild marker stays"
                    : "the rebuild marker could not be kept");
    } else if (marked && clearing) {
        sf_log("error",
               "projection=%s msg=\"rebuild stopped while clearing "
               "the view: the rebuild marker stays, so workers keep waiting; "
               "run the rebuild again with --force\"",
               pc->name);
    } else if (marked) {
        char merr[256];
        if (sf_life_rebuild_end(r.redis, pc->name, marker, merr, sizeof(merr)))
            sf_log("error",
                   "projection=%s msg=\"rebuild marker not "
                   "deleted: %s; workers wait until it is (sf-projector "
                   "rebuild --force)\"",
                   pc->name, merr);
    }
    free(ids);
    if (r.rk) {
        rd_kafka_consumer_close(r.rk);
        rd_kafka_destroy(r.rk);
    }
    for (size_t i = 0; r.parts && i < r.nparts; i++) {
        sf_batch_free(&r.parts[i].bufs[0]);
        sf_batch_free(&r.parts[i].bufs[1]);
        sf_batch_free(&r.parts[i].folded[0]);
        sf_batch_free(&r.parts[i].folded[1]);
    }
    sf_fold_free(&r.fold_scratch);
    free(r.parts);
    free(r.fb);
    free(r.ft);
    free(r.fp);
    free(r.ftok);
    free(r.fres);
    free(r.all_topic);
    free(r.all_part);
    free(r.all_tok);
    free(tps);
    sf_dlq_destroy(r.dlq);
    sf_rebuild_reader_destroy(r.reader);
    sf_redis_destroy(r.ctl);
    if (r.dec)
        sf_decoder_destroy(r.dec);
    sf_projection_destroy(r.proj);
    sf_redis_destroy(r.redis);
    sf_redis_conf_clear(&spare_conf);
    return e;
}
