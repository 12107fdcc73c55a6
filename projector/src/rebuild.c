/* rebuild.c - clear a projection and replay it from offset zero (see
 * rebuild.h). */
#include "rebuild.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "event.h"
#include "kconf.h"
#include "kmeta.h"
#include "log.h"
#include "projection.h"
#include "redis_sink.h"

typedef struct rpart {
    sf_tp_t tp;
    int64_t token;
    int done;
    sf_batch_t bufs[2]; /* being filled / in flight (double buffering) */
    sf_batch_t *batch;  /* the one being filled */
} rpart_t;

typedef struct rb {
    const sf_pconf_t *pc;
    rd_kafka_t *rk;
    sf_redis_t *redis;
    sf_projection_t *proj;
    sf_decoder_t *dec;
    rpart_t *parts;
    size_t nparts;
    size_t pending;
    sf_rebuild_stats_t *st;
    /* flush scratch: [0, nparts) the set in flight, then the new set */
    sf_batch_t **fb;
    const char **ft;
    int32_t *fp;
    int64_t *ftok;
    sf_apply_res_t *fres;
    size_t inflight; /* batches sent whose replies are not read yet */
    int watching;    /* WATCH + MGET sent, replies not read yet */
    const char **all_topic; /* every partition, for WATCH */
    int32_t *all_part;
    int64_t *all_tok;
    size_t last_poison_i;
    int64_t last_poison_off;
    char stop_err[512];
} rb_t;

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
        if (!strcmp(gl->groups[i].group, group) &&
            gl->groups[i].member_cnt > 0)
            e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                          "consumer group %s has %d active member(s) "
                          "(state %s): stop its workers first, or pass "
                          "--force (they are then fenced)",
                          group, gl->groups[i].member_cnt,
                          gl->groups[i].state);
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
        rd_kafka_topic_partition_list_add(l, r->parts[i].tp.topic,
                                          r->parts[i].tp.partition)
            ->offset = off;
    }
    rd_kafka_resp_err_t err = rd_kafka_commit(r->rk, l, 0);
    rd_kafka_topic_partition_list_destroy(l);
    if (err)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                         "committing offsets of group %s: %s",
                         r->pc->group_id, rd_kafka_err2str(err));
    return SF_OK;
}

/* Applies one batch synchronously until it is done: a command failing in
 * Redis counts the event as poison (or fails with on_error: stop), moves
 * the checkpoint past it and re-sends (the script skips what is done). */
static sf_err_t apply_sync(rb_t *r, rpart_t *p, sf_batch_t *b, char *errstr,
                           size_t errstr_size) {
    int tries = 0;
    for (;;) {
        sf_apply_res_t res;
        sf_err_t e = sf_redis_apply(r->redis, r->pc->name, 1, &b,
                                    &p->tp.topic, &p->tp.partition, &p->token,
                                    &res, errstr, errstr_size);
        if (e == SF_ERR_REDIS && ++tries < 8) {
            struct timespec ts = {0, 250000000L * tries};
            nanosleep(&ts, NULL);
            sf_redis_reconnect(r->redis, errstr, errstr_size);
            continue;
        }
        if (e)
            return e;
        if (res.err == SF_ERR_RULE && !r->pc->on_error_stop) {
            r->st->poison++;
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " offset=%" PRId64 " msg=\"rebuild: command failed in "
                   "redis, event skipped\" reason=\"%s\"",
                   r->pc->name, p->tp.topic, p->tp.partition, res.bad_offset,
                   res.msg);
            if ((e = sf_redis_ckpt_advance(r->redis, r->pc->name, p->tp.topic,
                                           p->tp.partition, p->token,
                                           res.bad_offset, NULL, errstr,
                                           errstr_size)))
                return e;
            continue;
        }
        if (res.err)
            return sf_seterr(errstr, errstr_size, res.err,
                             "%s/%" PRId32 ": %s%s", p->tp.topic,
                             p->tp.partition, res.msg,
                             res.err == SF_ERR_FENCED
                                 ? " (another worker or rebuild took the "
                                   "partition)"
                                 : "");
        r->st->applied += res.applied;
        sf_batch_reset(b);
        return SF_OK;
    }
}

static void txn_poison(void *opaque, size_t i, int64_t offset,
                       const char *msg) {
    rb_t *r = opaque;
    /* batch i of the set in flight, i.e. fb[i] / ft[i] / fp[i] */
    if (r->last_poison_i == i && r->last_poison_off == offset)
        return; /* several failing commands of one event */
    r->last_poison_i = i;
    r->last_poison_off = offset;
    r->st->poison++;
    if (r->pc->on_error_stop && !r->stop_err[0])
        snprintf(r->stop_err, sizeof(r->stop_err),
                 "%s/%" PRId32 "/%" PRId64 ": redis: %s (on_error: stop)",
                 r->ft[i], r->fp[i], offset, msg);
    sf_log("warn",
           "projection=%s topic=%s partition=%" PRId32 " offset=%" PRId64
           " msg=\"rebuild: command failed in redis, event skipped\" "
           "reason=\"%s\"",
           r->pc->name, r->ft[i], r->fp[i], offset, msg);
}

/* Reads the replies of the transaction in flight; 1 when it was refused
 * (the caller then re-applies synchronously), 0 when done. */
static sf_err_t read_inflight(rb_t *r, int *bad, char *errstr,
                              size_t errstr_size) {
    if (!r->inflight)
        return SF_OK;
    r->last_poison_i = (size_t)-1;
    sf_err_t e = sf_redis_txn_recv(r->redis, r->inflight, r->fb, txn_poison,
                                   r, errstr, errstr_size);
    if (e == SF_ERR_FENCED)
        return sf_seterr(errstr, errstr_size, e,
                         "fenced: another worker or rebuild took a "
                         "partition during the rebuild");
    if (e == SF_ERR_REDIS_REPLY || e == SF_ERR_REDIS) {
        sf_log("warn", "projection=%s msg=\"rebuild: transaction failed, "
               "re-applying synchronously\" error=\"%s\"",
               r->pc->name, errstr);
        *bad = e == SF_ERR_REDIS ? 2 : 1;
        return SF_OK;
    }
    if (e)
        return e;
    for (size_t i = 0; i < r->inflight; i++) {
        r->st->applied += (int64_t)r->fb[i]->nevents;
        sf_batch_reset(r->fb[i]);
    }
    r->inflight = 0;
    if (r->stop_err[0])
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE, "%s", r->stop_err);
    return SF_OK;
}

/* Sends the batches being filled as one MULTI/EXEC (redis_sink.h,
 * "transaction path") and only then reads the replies of the previous
 * flush, so Redis applies one set while the next is consumed and built.
 * A refused transaction (a command rejected when queued, the connection
 * lost) makes both sets re-apply synchronously through the checkpointed
 * apply script, partition by partition in offset order: what was applied
 * is skipped by its checkpoint. */
static sf_err_t flush(rb_t *r, int final, char *errstr, size_t errstr_size) {
    size_t n = 0, np = r->nparts;
    for (size_t i = 0; i < np; i++) {
        rpart_t *p = &r->parts[i];
        if (!p->batch->nevents)
            continue;
        r->fb[np + n] = p->batch;
        r->ft[np + n] = p->tp.topic;
        r->fp[np + n] = p->tp.partition;
        r->ftok[np + n] = p->token;
        n++;
    }
    double t0 = sf_mono_s();
    int bad = 0;
    sf_err_t e = read_inflight(r, &bad, errstr, errstr_size);
    if (!e && !bad && r->watching) {
        r->watching = 0;
        e = sf_redis_watch_recv(r->redis, np, r->all_tok, errstr,
                                errstr_size);
        if (e == SF_ERR_REDIS) {
            bad = 2;
            e = SF_OK;
        }
    }
    if (e)
        return e;
    if (!bad && n) {
        /* the set being sent becomes the one in flight */
        for (size_t i = 0; i < n; i++) {
            r->fb[i] = r->fb[np + i];
            r->ft[i] = r->ft[np + i];
            r->fp[i] = r->fp[np + i];
            r->ftok[i] = r->ftok[np + i];
        }
        e = sf_redis_txn_send(r->redis, r->pc->name, n, r->fb, r->ft, r->fp,
                              errstr, errstr_size);
        if (!e)
            r->inflight = n;
        if (!e && !final) {
            e = sf_redis_watch_send(r->redis, r->pc->name, np, r->all_topic,
                                    r->all_part, errstr, errstr_size);
            r->watching = !e;
        }
        if (!e && final)
            e = read_inflight(r, &bad, errstr, errstr_size);
        if (e == SF_ERR_REDIS) {
            bad = 2;
            e = SF_OK;
        }
        if (e)
            return e;
    }
    if (bad) {
        if (bad == 2 && (e = sf_redis_reconnect(r->redis, errstr,
                                                errstr_size)))
            return e;
        if (bad == 1) {
            /* drain what the refused transaction left in the pipeline */
            if (r->watching)
                sf_redis_watch_recv(r->redis, np, r->all_tok, NULL, 0);
        }
        r->watching = 0;
        r->inflight = 0;
        for (size_t i = 0; !e && i < np; i++) {
            rpart_t *p = &r->parts[i];
            sf_batch_t *older = p->batch == &p->bufs[0] ? &p->bufs[1]
                                                        : &p->bufs[0];
            if (older->nevents)
                e = apply_sync(r, p, older, errstr, errstr_size);
            if (!e && p->batch->nevents)
                e = apply_sync(r, p, p->batch, errstr, errstr_size);
        }
        if (!e && !final) {
            e = sf_redis_watch_send(r->redis, r->pc->name, np, r->all_topic,
                                    r->all_part, errstr, errstr_size);
            r->watching = !e;
        }
        if (e)
            return e;
    }
    for (size_t i = 0; i < np; i++) {
        rpart_t *p = &r->parts[i];
        p->batch = p->batch == &p->bufs[0] ? &p->bufs[1] : &p->bufs[0];
        if (p->batch->nevents) /* still in flight: cannot happen */
            return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                             "rebuild: internal: batch reused in flight");
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

static sf_err_t replay(rb_t *r, const sf_rebuild_opts_t *o,
                       sf_rebuild_progress_fn progress,
                       sf_rebuild_poison_fn poison, void *opaque,
                       volatile sig_atomic_t *stop, char *errstr,
                       size_t errstr_size) {
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)r->nparts);
    size_t live = 0;
    for (size_t i = 0; i < r->nparts; i++) {
        rpart_t *p = &r->parts[i];
        if (p->tp.hi <= p->tp.lo) {
            p->done = 1;
            continue;
        }
        rd_kafka_topic_partition_list_add(l, p->tp.topic, p->tp.partition)
            ->offset = p->tp.lo;
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
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(r->rk);
    e = sf_redis_watch_send(r->redis, r->pc->name, r->nparts, r->all_topic,
                            r->all_part, errstr, errstr_size);
    r->watching = !e;
    size_t batch = o->batch_events ? o->batch_events : 20000;
    while (live && !e) {
        if (*stop) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                          "interrupted: the view is incomplete, run rebuild "
                          "again");
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
        }
        rd_kafka_message_t *m = mi < mn ? mbuf[mi++] : NULL;
        double now = sf_mono_s();
        if (now - last_report >= 1.0) {
            last_report = now;
            r->st->seconds = now - t0;
            if (progress)
                progress(opaque, "replay", r->st);
        }
        if (!m || now - last_pos >= 1.0) {
            /* Ends hidden behind transaction markers are never delivered:
             * look at the positions instead. */
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
        }
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                sf_log("warn", "projection=%s msg=\"kafka: %s\"",
                       r->pc->name, rd_kafka_message_errstr(m));
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
            if (sf_event_from_message(&ev, m) == SF_OK &&
                sf_event_time_ms(&ev) > o->as_of_ms) {
                /* the partition's prefix up to as-of is complete */
                if (!p->done) {
                    p->done = 1;
                    live--;
                }
                rd_kafka_message_destroy(m);
                continue;
            }
        }
        e = sf_projection_process(r->proj, r->dec, m, &ev, p->batch,
                                  &scratch, r->pc->on_error_stop, err,
                                  sizeof(err));
        if (e) {
            r->st->poison++;
            if (poison)
                poison(opaque, p->tp.topic, p->tp.partition, m->offset, err);
            if (r->pc->on_error_stop)
                sf_seterr(errstr, errstr_size, e,
                          "%s/%" PRId32 "/%" PRId64 ": %s (on_error: stop)",
                          p->tp.topic, p->tp.partition, m->offset, err);
            else
                e = SF_OK;
        }
        rd_kafka_message_destroy(m);
        if (!e && ++r->pending >= batch)
            e = flush(r, 0, errstr, errstr_size);
    }
    if (!e)
        e = flush(r, 1, errstr, errstr_size);
    if (!e && (r->inflight || r->watching)) {
        /* the final flush had nothing new to send */
        int bad = 0;
        e = read_inflight(r, &bad, errstr, errstr_size);
        if (!e && r->watching)
            e = sf_redis_watch_recv(r->redis, r->nparts, r->all_tok, errstr,
                                    errstr_size);
        r->watching = 0;
        if (!e && bad)
            e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                          "rebuild: last transaction failed: run again");
    }
    while (mi < mn)
        rd_kafka_message_destroy(mbuf[mi++]);
    rd_kafka_queue_destroy(q);
    sf_event_clear(&ev);
    sf_buf_free(&scratch);
    rd_kafka_assign(r->rk, NULL);
    return e;
}

sf_err_t sf_rebuild_run(const sf_config_t *cfg, const sf_pconf_t *pc,
                        const sf_catalog_t *cat, const sf_rebuild_opts_t *o,
                        sf_rebuild_progress_fn progress,
                        sf_rebuild_poison_fn poison, void *opaque,
                        volatile sig_atomic_t *stop, sf_rebuild_stats_t *st,
                        char *errstr, size_t errstr_size) {
    rb_t r = {0};
    r.pc = pc;
    r.st = st;
    memset(st, 0, sizeof(*st));
    double t0 = sf_mono_s();
    sf_err_t e = sf_kconf_consumer(cfg, pc, NULL, &r.rk, errstr, errstr_size,
                                   NULL, NULL);
    if (e)
        return e;
    sf_tp_t *tps = NULL;
    size_t ntp = 0;
/* metadata first: list_groups then finds the brokers up (it can
     * otherwise wait a second for their state) */
    if ((e = sf_kmeta_partitions(r.rk, pc->topics, pc->ntopics, 1, &tps, &ntp,
                                 errstr, errstr_size)))
        goto out;
    sf_log("debug", "projection=%s msg=\"rebuild: metadata at %.3fs\"",
           pc->name, sf_mono_s() - t0);
    if (!o->force && (e = group_check(r.rk, pc->group_id, errstr,
                                      errstr_size)))
        goto out;
    sf_redis_conf_t rc = {cfg->redis_host, cfg->redis_password,
                          cfg->redis_port, cfg->redis_db};
    if ((e = sf_redis_connect(&rc, &r.redis, errstr, errstr_size)))
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
        r.parts[i].batch = &r.parts[i].bufs[0];
        st->total += tps[i].hi - tps[i].lo;
    }
    sf_log("debug", "projection=%s msg=\"rebuild: %zu partitions, %" PRId64
           " events, setup %.3fs\"", pc->name, ntp, st->total,
           sf_mono_s() - t0);
    /* 1. fence: from here on no stale worker writes. */
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
    sf_log("debug", "projection=%s msg=\"rebuild: fenced at %.3fs\"",
           pc->name, sf_mono_s() - t0);
    /* 2. clear the view and the checkpoints. */
    if (progress)
        progress(opaque, "clear", st);
    if (!sf_rules_nkeys(pc->rules))
        sf_log("warn", "projection=%s msg=\"no view key patterns declared "
               "(rules keys:): the old view is NOT cleared, events are "
               "applied on top of it\"", pc->name);
    for (size_t i = 0; !e && i < sf_rules_nkeys(pc->rules); i++) {
        int64_t n = 0;
        e = sf_redis_clear(r.redis, sf_rules_key(pc->rules, i), &n, errstr,
                           errstr_size);
        st->deleted_keys += n;
    }
    if (!e) {
        /* only the configured topics' partitions: bookkeeping of topics
         * the projection no longer reads is left alone */
        for (size_t i = 0; !e && i < ntp; i++) {
            char ck[512], hk[512];
            sf_redis_key(ck, sizeof(ck), pc->name, "ckpt", tps[i].topic,
                         tps[i].partition);
            sf_redis_key(hk, sizeof(hk), pc->name, "halt", tps[i].topic,
                         tps[i].partition);
            e = sf_redis_cmd(r.redis, NULL, errstr, errstr_size,
                             "UNLINK %s %s", ck, hk);
        }
    }
    if (e)
        goto out;
    sf_log("info",
           "projection=%s msg=\"view cleared\" deleted_keys=%" PRId64
           " events=%" PRId64,
           pc->name, st->deleted_keys, st->total);
    st->clear_seconds = sf_mono_s() - t0;
    sf_log("debug", "projection=%s msg=\"rebuild: cleared at %.3fs\"",
           pc->name, st->clear_seconds);
    /* 3. reset the group's offsets (only informative: Redis rules). */
    char kerr[512];
    if (commit_group(&r, 0, kerr, sizeof(kerr)))
        sf_log("warn", "projection=%s msg=\"%s\"", pc->name, kerr);
    /* 4. replay. */
    if ((e = replay(&r, o, progress, poison, opaque, stop, errstr,
                    errstr_size)))
        goto out;
    sf_log("debug", "projection=%s msg=\"rebuild: replay done at %.3fs\"",
           pc->name, sf_mono_s() - t0);
    if (o->as_of_ms < 0 && commit_group(&r, 1, kerr, sizeof(kerr)))
        sf_log("warn", "projection=%s msg=\"%s\"", pc->name, kerr);
    st->seconds = sf_mono_s() - t0;
    if (progress)
        progress(opaque, "done", st);
out:
    st->seconds = sf_mono_s() - t0;
    if (r.rk) {
        rd_kafka_consumer_close(r.rk);
        rd_kafka_destroy(r.rk);
    }
    for (size_t i = 0; r.parts && i < r.nparts; i++) {
        sf_batch_free(&r.parts[i].bufs[0]);
        sf_batch_free(&r.parts[i].bufs[1]);
    }
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
    if (r.dec)
        sf_decoder_destroy(r.dec);
    sf_projection_destroy(r.proj);
    sf_redis_destroy(r.redis);
    return e;
}
