/* redis_sink.c - Redis connection, apply script and bookkeeping keys. */
#include "redis_sink.h"
#include "dedup.h"

#include "cmdspec.h"
#include "sf_assert.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The scripts' Lua source is in src/lua/ (read it there), embedded at
 * build time; the apply script is prefixed with the command table
 * generated from cmdspec.c. */
extern const char sf_lua_apply[], sf_lua_advance[];
extern const size_t sf_lua_apply_len, sf_lua_advance_len;

struct sf_redis {
    redisContext *c;
    sf_redis_conf_t conf;
    sf_redis_tlsctx_t *tls;
    char where[300]; /* host:port or unix:path, for messages */
    char apply_sha[41], advance_sha[41], guard_sha[41];
    sf_buf_t apply_src; /* SPEC table + apply.lua */
};

redisContext *sf_redis_ctx(sf_redis_t *r) {
    return r->c;
}

static sf_err_t reply_check(sf_redis_t *r, redisReply *rep, char *errstr,
                            size_t errstr_size, const char *what) {
    if (!rep)
        return sf_seterr(
            errstr, errstr_size, SF_ERR_REDIS, "redis %s: %s: %s", r->where,
            what, r->c && r->c->errstr[0] ? r->c->errstr : "connection lost");
    if (rep->type == REDIS_REPLY_ERROR)
        return sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                         "redis %s: %s: %s", r->where, what, rep->str);
    return SF_OK;
}

sf_err_t sf_redis_cmd(sf_redis_t *r, redisReply **reply, char *errstr,
                      size_t errstr_size, const char *fmt, ...) {
    if (reply)
        *reply = NULL;
    if (!r->c || r->c->err)
        return sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                         "redis %s: not connected", r->where);
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r->c, fmt, ap);
    va_end(ap);
    sf_err_t e = reply_check(r, rep, errstr, errstr_size, fmt);
    if (e || !reply)
        freeReplyObject(rep);
    else
        *reply = rep;
    return e;
}

/* ---- replies --------------------------------------------------------- */

/* The error code of an error reply: its first word ("WRONGTYPE", "OOM",
 * "NOSCRIPT"), as RESP defines it. */
static void err_code(const char *s, char *code, size_t size) {
    size_t n = 0;
    while (s && s[n] && s[n] != ' ' && n + 1 < size)
        n++;
    memcpy(code, s ? s : "", n);
    code[n] = '\0';
}

/* Codes of errors that say "not now" rather than "never": the same call
 * may succeed later (Redis loading, a busy script, a replica, memory). */
static int code_retriable(const char *code) {
    static const char *const codes[] = {"OOM",         "LOADING",    "BUSY",
                                        "READONLY",    "MASTERDOWN", "TRYAGAIN",
                                        "CLUSTERDOWN", "NOREPLICAS"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (!strcmp(code, codes[i]))
            return 1;
    return 0;
}

static int64_t el_i64(const redisReply *rep, size_t i) {
    if (i >= rep->elements)
        return -1;
    const redisReply *x = rep->element[i];
    if (x->type == REDIS_REPLY_INTEGER)
        return x->integer;
    if (x->type == REDIS_REPLY_STRING)
        return strtoll(x->str, NULL, 10);
    return -1;
}

static const char *el_str(const redisReply *rep, size_t i) {
    if (i >= rep->elements)
        return "";
    const redisReply *x = rep->element[i];
    return x->type == REDIS_REPLY_STRING || x->type == REDIS_REPLY_ERROR ||
                   x->type == REDIS_REPLY_STATUS
               ? x->str
               : "";
}

const char *sf_apply_status_name(sf_apply_status_t s) {
    switch (s) {
    case SF_APPLY_OK: return "ok";
    case SF_APPLY_FENCED: return "fenced";
    case SF_APPLY_EPOCH_LOST: return "epoch_lost";
    case SF_APPLY_CKPT_MISMATCH: return "checkpoint_mismatch";
    case SF_APPLY_EVENT_FAILED: return "event_failed";
    case SF_APPLY_NOT_RUN: return "not_run";
    }
    return "?";
}

static sf_err_t conn_err(sf_redis_t *r, char *errstr, size_t errstr_size,
                         const char *what) {
    return sf_seterr(
        errstr, errstr_size, SF_ERR_REDIS, "redis %s: %s: %s", r->where, what,
        r->c && r->c->errstr[0] ? r->c->errstr : "connection lost");
}

static sf_err_t load_script(sf_redis_t *r, const char *src, size_t len,
                            char sha[41], char *errstr, size_t errstr_size) {
    if (!r->c || r->c->err)
        return sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                         "redis %s: not connected", r->where);
    const char *argv[] = {"SCRIPT", "LOAD", src};
    size_t lens[] = {6, 4, len};
    redisReply *rep = redisCommandArgv(r->c, 3, argv, lens);
    sf_err_t e = reply_check(r, rep, errstr, errstr_size, "SCRIPT LOAD");
    if (e == SF_ERR_REDIS_REPLY) {
        /* BUSY (another client's long script), LOADING (a restart): Redis
         * is there but cannot take us now; the caller waits as for an
         * outage.  NOPERM and the like stay permanent. */
        char code[32];
        err_code(rep->str, code, sizeof(code));
        if (code_retriable(code))
            e = SF_ERR_REDIS;
    }
    if (e) {
        freeReplyObject(rep);
        return e;
    }
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        freeReplyObject(rep);
        return sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                         "redis: SCRIPT LOAD returned no sha1");
    }
    memcpy(sha, rep->str, 40);
    sha[40] = '\0';
    freeReplyObject(rep);
    return SF_OK;
}

/* Deletes KEYS[2..] only while KEYS[1] still holds ARGV[1]; -1 otherwise
 * (nothing deleted).  Checked and done in one atomic step.  Loaded like
 * the others and called with EVALSHA: an ACL user needs no EVAL. */
static const char guarded_unlink_lua[] =
    "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end\n"
    "return redis.call('UNLINK', unpack(KEYS, 2))\n";

static sf_err_t load_scripts(sf_redis_t *r, char *errstr, size_t errstr_size) {
    if (!r->apply_src.len &&
        (sf_cmdspec_lua(&r->apply_src) ||
         sf_buf_append(&r->apply_src, sf_lua_apply, sf_lua_apply_len)))
        return SF_ERR_NOMEM;
    sf_err_t e = load_script(r, r->apply_src.p, r->apply_src.len, r->apply_sha,
                             errstr, errstr_size);
    if (!e)
        e = load_script(r, sf_lua_advance, sf_lua_advance_len, r->advance_sha,
                        errstr, errstr_size);
    if (!e)
        e = load_script(r, guarded_unlink_lua, sizeof(guarded_unlink_lua) - 1,
                        r->guard_sha, errstr, errstr_size);
    return e;
}

const char *sf_redis_apply_source(sf_redis_t *r) {
    if (!r->apply_src.len &&
        (sf_cmdspec_lua(&r->apply_src) ||
         sf_buf_append(&r->apply_src, sf_lua_apply, sf_lua_apply_len)))
        return NULL;
    return r->apply_src.p;
}

sf_err_t sf_redis_reconnect(sf_redis_t *r, char *errstr, size_t errstr_size) {
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
    /* redis_conn.h: socket or TCP, TLS, AUTH, SELECT */
    sf_err_t e =
        sf_redis_open(&r->conf, r->tls, 2000, &r->c, errstr, errstr_size);
    if (e)
        return e;
    /* Replies to big batches can take a while; a dead server must still be
     * noticed. */
    struct timeval rw = {30, 0};
    redisSetTimeout(r->c, rw);
    return load_scripts(r, errstr, errstr_size);
}

sf_err_t sf_redis_connect(const sf_redis_conf_t *conf, sf_redis_t **out,
                          char *errstr, size_t errstr_size) {
    sf_redis_t *r = calloc(1, sizeof(*r));
    if (!r)
        return SF_ERR_NOMEM;
    *out = r; /* even on failure: the caller may retry with reconnect */
    if (sf_redis_conf_copy(&r->conf, conf))
        return SF_ERR_NOMEM;
    sf_redis_conf_where(conf, r->where, sizeof(r->where));
    sf_err_t e = sf_redis_tlsctx_new(conf, &r->tls, errstr, errstr_size);
    if (e)
        return e;
    return sf_redis_reconnect(r, errstr, errstr_size);
}

void sf_redis_destroy(sf_redis_t *r) {
    if (!r)
        return;
    if (r->c)
        redisFree(r->c);
    sf_redis_tlsctx_destroy(r->tls);
    sf_redis_conf_clear(&r->conf);
    sf_buf_free(&r->apply_src);
    free(r);
}

void sf_redis_key(char *buf, size_t size, const char *proj, const char *what,
                  const char *topic, int32_t partition) {
    if (topic)
        snprintf(buf, size, SF_REDIS_PREFIX "%s:%s:%s:%" PRId32, proj, what,
                 topic, partition);
    else
        snprintf(buf, size, SF_REDIS_PREFIX "%s:%s", proj, what);
}

sf_err_t sf_redis_epoch_bump(sf_redis_t *r, const char *proj, const char *topic,
                             int32_t partition, int64_t *token, char *errstr,
                             size_t errstr_size) {
    char key[512];
    redisReply *rep;
    sf_redis_key(key, sizeof(key), proj, "epoch", topic, partition);
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size, "INCR %s", key);
    if (e)
        return e;
    *token = rep->integer;
    freeReplyObject(rep);
    return SF_OK;
}

sf_err_t sf_redis_ckpt_get(sf_redis_t *r, const char *proj, const char *topic,
                           int32_t partition, int64_t *ckpt, char *errstr,
                           size_t errstr_size) {
    char key[512];
    redisReply *rep;
    sf_redis_key(key, sizeof(key), proj, "ckpt", topic, partition);
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", key);
    if (e)
        return e;
    *ckpt = rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10) : -1;
    freeReplyObject(rep);
    return SF_OK;
}

sf_err_t sf_redis_ckpt_advance(sf_redis_t *r, const char *proj,
                               const char *topic, int32_t partition,
                               int64_t token, int64_t offset, int64_t *prev,
                               char *errstr, size_t errstr_size) {
    return sf_redis_ckpt_advance_ver(r, proj, topic, partition, token,
                                     SF_CKPT_ANY, offset, NULL, 0, NULL, prev,
                                     errstr, errstr_size);
}

sf_err_t sf_redis_ckpt_advance_ver(sf_redis_t *r, const char *proj,
                                   const char *topic, int32_t partition,
                                   int64_t token, int64_t expect,
                                   int64_t offset, const char *vkey,
                                   size_t vkey_len, const char *vval,
                                   int64_t *prev, char *errstr,
                                   size_t errstr_size) {
    char ek[512], ck[512], hk[512], tok[24], off[24], exp[24];
    sf_redis_key(ek, sizeof(ek), proj, "epoch", topic, partition);
    sf_redis_key(ck, sizeof(ck), proj, "ckpt", topic, partition);
    sf_redis_key(hk, sizeof(hk), proj, "halt", topic, partition);
    if (token < 0)
        tok[0] = '\0';
    else
        snprintf(tok, sizeof(tok), "%" PRId64, token);
    snprintf(off, sizeof(off), "%" PRId64, offset);
    if (expect == SF_CKPT_ANY)
        exp[0] = '\0';
    else
        snprintf(exp, sizeof(exp), "%" PRId64, expect);
    for (int attempt = 0;; attempt++) {
        if (!r->c || r->c->err)
            return conn_err(r, errstr, errstr_size, "checkpoint");
        redisReply *rep =
            vkey ? redisCommand(r->c, "EVALSHA %s 4 %s %s %s %b %s %s %s %s",
                                r->advance_sha, ek, ck, hk, vkey, vkey_len, tok,
                                off, exp, vval)
                 : redisCommand(r->c, "EVALSHA %s 3 %s %s %s %s %s %s",
                                r->advance_sha, ek, ck, hk, tok, off, exp);
        if (!rep)
            return conn_err(r, errstr, errstr_size, "checkpoint");
        char code[24];
        if (rep->type == REDIS_REPLY_ERROR) {
            err_code(rep->str, code, sizeof(code));
            if (!strcmp(code, "NOSCRIPT") && attempt == 0) {
                freeReplyObject(rep);
                sf_err_t e = load_scripts(r, errstr, errstr_size);
                if (e)
                    return e;
                continue;
            }
            sf_err_t e = sf_seterr(
                errstr, errstr_size,
                code_retriable(code) ? SF_ERR_REDIS : SF_ERR_REDIS_REPLY,
                "redis %s: checkpoint: %s", r->where, rep->str);
            freeReplyObject(rep);
            return e;
        }
        sf_err_t e = SF_OK;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2)
            e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                          "redis: unexpected checkpoint reply");
        else if (el_i64(rep, 0) == 1)
            e = sf_seterr(errstr, errstr_size, SF_ERR_FENCED,
                          "fenced: epoch %s, token %s", el_str(rep, 1), tok);
        else if (el_i64(rep, 0) == 2) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                          "checkpoint %s, expected %s", el_str(rep, 1), exp);
            if (prev)
                *prev = el_i64(rep, 1);
        } else if (prev)
            *prev = el_i64(rep, 1);
        freeReplyObject(rep);
        return e;
    }
}

sf_err_t sf_redis_paused(sf_redis_t *r, const char *proj, int *paused,
                         char *errstr, size_t errstr_size) {
    char key[512];
    redisReply *rep;
    sf_redis_key(key, sizeof(key), proj, "paused", NULL, 0);
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", key);
    if (e)
        return e;
    *paused = rep->type == REDIS_REPLY_STRING && rep->len > 0 &&
              strcmp(rep->str, "0") != 0;
    freeReplyObject(rep);
    return SF_OK;
}

/* ---- the apply script ------------------------------------------------ */

/* Appends one EVALSHA for request q. */
static sf_err_t append_apply(sf_redis_t *r, const char *proj,
                             const sf_apply_req_t *q, char *errstr,
                             size_t errstr_size) {
    char ek[512], ck[512], hk[512], vk[512], tok[24], exp[24], last[24];
    char nv[24];
    /* a folded batch (fold.h) needs the script's mode "fold" */
    const char *mode = q->batch->unfolded ? "fold"
                       : q->skip_failed   ? "skip"
                                          : "stop";
    SF_ASSERT(!q->batch->unfolded || q->skip_failed);
    SF_ASSERT(q->batch->nevents > 0 && !q->batch->in_event);
    SF_ASSERT(q->batch->first_offset > q->expected_ckpt ||
              q->batch->last_offset >= q->expected_ckpt);
    sf_redis_key(ek, sizeof(ek), proj, "epoch", q->topic, q->partition);
    sf_redis_key(ck, sizeof(ck), proj, "ckpt", q->topic, q->partition);
    sf_redis_key(hk, sizeof(hk), proj, "halt", q->topic, q->partition);
    sf_redis_key(vk, sizeof(vk), proj, "dedup", q->topic, q->partition);
    snprintf(tok, sizeof(tok), "%" PRId64, q->token);
    snprintf(exp, sizeof(exp), "%" PRId64, q->expected_ckpt);
    snprintf(last, sizeof(last), "%" PRId64, q->batch->last_offset);
    const char **argv;
    size_t *argvlen;
    /* after the fixed arguments: the duplicate rule's version entries
     * (dedup.h), then the events */
    size_t nded = sf_dedup_nargs(q->batch);
    size_t argc = sf_batch_argv(q->batch, 11 + nded, &argv, &argvlen);
    if (!argc)
        return SF_ERR_NOMEM;
    const char *pre[11] = {"EVALSHA", r->apply_sha, "4", ek,   ck,  hk,
                           vk,        tok,          exp, last, mode};
    for (int i = 0; i < 11; i++) {
        argv[i] = pre[i];
        argvlen[i] = strlen(pre[i]);
    }
    sf_dedup_argv(q->batch, argv + 11, argvlen + 11, nv, sizeof(nv));
    if (redisAppendCommandArgv(r->c, (int)argc, argv, argvlen) != REDIS_OK)
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                         "redis: cannot queue the apply script");
    return SF_OK;
}

/* The duplicate rule's part of a reply, from element i on (apply.lua:
 * four counts, then the last duplicate and gap); absent in replies of an
 * older script. */
static void parse_versions(const redisReply *rep, size_t i,
                           sf_apply_res_t *res) {
    if (rep->elements < i + 6)
        return;
    for (int k = 0; k < 4; k++)
        res->ver[k] = el_i64(rep, i + (size_t)k);
    snprintf(res->ver_dup, sizeof(res->ver_dup), "%s", el_str(rep, i + 4));
    snprintf(res->ver_gap, sizeof(res->ver_gap), "%s", el_str(rep, i + 5));
}

static void parse_apply_reply(const redisReply *rep, sf_apply_res_t *res) {
    memset(res, 0, sizeof(*res));
    res->ckpt = res->epoch = res->bad_offset = -1;
    if (rep->type == REDIS_REPLY_ERROR) {
        /* the script did not run, or stopped before its first write */
        res->status = SF_APPLY_NOT_RUN;
        err_code(rep->str, res->code, sizeof(res->code));
        res->retriable = code_retriable(res->code);
        snprintf(res->msg, sizeof(res->msg), "%s", rep->str);
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER ||
        rep->element[0]->integer < SF_APPLY_OK ||
        rep->element[0]->integer > SF_APPLY_NOT_RUN) {
        res->status = SF_APPLY_NOT_RUN;
        snprintf(res->msg, sizeof(res->msg), "unexpected apply reply");
        return;
    }
    res->status = (sf_apply_status_t)rep->element[0]->integer;
    switch (res->status) {
    case SF_APPLY_OK:
        res->applied = el_i64(rep, 1);
        if (rep->elements >= 3 && el_i64(rep, 2) > 0) {
            size_t k = (size_t)el_i64(rep, 2);
            if (rep->elements < 3 + 5 * k ||
                !(res->skipped = calloc(k, sizeof(*res->skipped)))) {
                res->status = SF_APPLY_NOT_RUN;
                snprintf(res->msg, sizeof(res->msg),
                         "apply reply: cannot read %zu skipped events", k);
                break;
            }
            res->nskipped = k;
            for (size_t i = 0; i < k; i++) {
                sf_apply_res_t *f = &res->skipped[i];
                size_t b = 3 + 5 * i;
                f->status = SF_APPLY_EVENT_FAILED;
                f->ckpt = f->epoch = -1;
                f->bad_offset = el_i64(rep, b);
                f->cmds_done = (int)el_i64(rep, b + 1);
                f->cmds_total = (int)el_i64(rep, b + 2);
                f->cmd_index = (int)el_i64(rep, b + 3);
                f->recorded = 1;
                snprintf(f->msg, sizeof(f->msg), "%s", el_str(rep, b + 4));
                err_code(f->msg, f->code, sizeof(f->code));
            }
        }
        if (res->status == SF_APPLY_OK)
            parse_versions(rep, 3 + 5 * res->nskipped, res);
        break;
    case SF_APPLY_FENCED:
    case SF_APPLY_EPOCH_LOST:
        res->epoch = el_i64(rep, 1);
        snprintf(res->msg, sizeof(res->msg), "epoch %" PRId64, res->epoch);
        break;
    case SF_APPLY_CKPT_MISMATCH:
        res->ckpt = el_i64(rep, 1);
        snprintf(res->msg, sizeof(res->msg), "checkpoint %" PRId64, res->ckpt);
        break;
    case SF_APPLY_EVENT_FAILED:
        res->bad_offset = el_i64(rep, 1);
        res->cmds_done = (int)el_i64(rep, 2);
        res->cmds_total = (int)el_i64(rep, 3);
        res->cmd_index = (int)el_i64(rep, 4);
        snprintf(res->msg, sizeof(res->msg), "%s", el_str(rep, 5));
        err_code(res->msg, res->code, sizeof(res->code));
        res->ckpt = el_i64(rep, 6);
        res->recorded = el_i64(rep, 7) == 1;
        res->applied = el_i64(rep, 8);
        parse_versions(rep, 9, res);
        break;
    case SF_APPLY_NOT_RUN:
        snprintf(res->msg, sizeof(res->msg), "%s", el_str(rep, 1));
        err_code(res->msg, res->code, sizeof(res->code));
        res->retriable = code_retriable(res->code);
        break;
    }
}

void sf_apply_res_clear(sf_apply_res_t *res) {
    free(res->skipped);
    res->skipped = NULL;
    res->nskipped = 0;
}

size_t sf_apply_describe(const sf_apply_res_t *res, char *buf, size_t size) {
    int n;
    if (res->status != SF_APPLY_EVENT_FAILED)
        n = snprintf(buf, size, "%s: %s", sf_apply_status_name(res->status),
                     res->msg);
    else if (res->cmds_done == 0)
        n = snprintf(buf, size,
                     "command %d of %d failed, nothing of the event was "
                     "applied: %s",
                     res->cmd_index, res->cmds_total, res->msg);
    else
        n = snprintf(buf, size,
                     "command %d of %d failed after commands 1..%d of the "
                     "event were applied (they stay applied, once): %s",
                     res->cmd_index, res->cmds_total, res->cmds_done, res->msg);
    return n < 0 ? 0 : (size_t)n;
}

static sf_err_t push_out(sf_redis_t *r, char *errstr, size_t errstr_size) {
    int done = 0;
    while (!done)
        if (redisBufferWrite(r->c, &done) != REDIS_OK)
            return conn_err(r, errstr, errstr_size, "write");
    return SF_OK;
}

sf_err_t sf_redis_apply_send(sf_redis_t *r, const char *proj, size_t n,
                             const sf_apply_req_t *reqs, char *errstr,
                             size_t errstr_size) {
    if (!r->c || r->c->err)
        return conn_err(r, errstr, errstr_size, "apply");
    for (size_t i = 0; i < n; i++) {
        sf_err_t e = append_apply(r, proj, &reqs[i], errstr, errstr_size);
        if (e)
            return e;
    }
    /* Push the bytes out now, so Redis works while the caller goes on. */
    return push_out(r, errstr, errstr_size);
}

sf_err_t sf_redis_apply_recv(sf_redis_t *r, size_t n, sf_apply_res_t *res,
                             char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < n; i++) {
        void *v = NULL;
        if (redisGetReply(r->c, &v) != REDIS_OK || !v)
            return conn_err(r, errstr, errstr_size, "apply");
        parse_apply_reply(v, &res[i]);
        freeReplyObject(v);
    }
    return SF_OK;
}

sf_err_t sf_redis_reload_scripts(sf_redis_t *r, char *errstr,
                                 size_t errstr_size) {
    return load_scripts(r, errstr, errstr_size);
}

static int is_noscript(const sf_apply_res_t *res) {
    return res->status == SF_APPLY_NOT_RUN && !strcmp(res->code, "NOSCRIPT");
}

sf_err_t sf_redis_apply(sf_redis_t *r, const char *proj, size_t n,
                        const sf_apply_req_t *reqs, sf_apply_res_t *res,
                        char *errstr, size_t errstr_size) {
    sf_err_t e = sf_redis_apply_send(r, proj, n, reqs, errstr, errstr_size);
    if (!e)
        e = sf_redis_apply_recv(r, n, res, errstr, errstr_size);
    if (e)
        return e;
    int noscript = 0;
    for (size_t i = 0; i < n; i++)
        noscript |= is_noscript(&res[i]);
    if (noscript) {
        /* Script cache flushed (SCRIPT FLUSH, restart): load it again and
         * redo the batches that were refused; the others are done. */
        if ((e = sf_redis_reload_scripts(r, errstr, errstr_size)))
            return e;
        for (size_t i = 0; i < n; i++)
            if (is_noscript(&res[i]) &&
                (e = sf_redis_apply(r, proj, 1, &reqs[i], &res[i], errstr,
                                    errstr_size)))
                return e;
    }
    return SF_OK;
}

sf_err_t sf_redis_clear(sf_redis_t *r, const char *pattern, int64_t *deleted,
                        char *errstr, size_t errstr_size) {
    return sf_redis_clear_filtered(r, pattern, NULL, NULL, deleted, NULL,
                                   errstr, errstr_size);
}

/* UNLINKs keys [0, n): with guard_key, through guarded_unlink_lua. */
static sf_err_t unlink_keys(sf_redis_t *r, const char *guard_key,
                            const char *guard_val, size_t n, const char **keys,
                            const size_t *lens, int64_t *deleted, char *errstr,
                            size_t errstr_size) {
    size_t pre = guard_key ? 4 : 1, argc = 0;
    const char **argv = malloc((n + pre + 1) * sizeof(*argv));
    size_t *alen = malloc((n + pre + 1) * sizeof(*alen));
    char nk[24];
    if (!argv || !alen) {
        free(argv);
        free(alen);
        return SF_ERR_NOMEM;
    }
    if (guard_key) {
        snprintf(nk, sizeof(nk), "%zu", n + 1);
        argv[argc++] = "EVALSHA";
        argv[argc++] = r->guard_sha;
        argv[argc++] = nk;
        argv[argc++] = guard_key;
    } else {
        argv[argc++] = "UNLINK";
    }
    for (size_t i = 0; i < argc; i++)
        alen[i] = strlen(argv[i]);
    for (size_t i = 0; i < n; i++) {
        argv[argc] = keys[i];
        alen[argc++] = lens[i];
    }
    if (guard_key) {
        argv[argc] = guard_val;
        alen[argc++] = strlen(guard_val);
    }
    redisReply *u = redisCommandArgv(r->c, (int)argc, argv, alen);
    if (guard_key && u && u->type == REDIS_REPLY_ERROR &&
        !strncmp(u->str, "NOSCRIPT", 8)) {
        /* Redis lost its script cache (restart, SCRIPT FLUSH): load again */
        freeReplyObject(u);
        u = NULL;
        if (!load_scripts(r, errstr, errstr_size))
            u = redisCommandArgv(r->c, (int)argc, argv, alen);
    }
    free(argv);
    free(alen);
    sf_err_t e = reply_check(r, u, errstr, errstr_size, "UNLINK");
    if (!e && u->type != REDIS_REPLY_INTEGER)
        e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                      "redis: unexpected UNLINK reply");
    else if (!e && u->integer < 0)
        e = sf_seterr(errstr, errstr_size, SF_ERR_FENCED,
                      "%s no longer holds \"%s\": another owner took over, "
                      "nothing more was deleted",
                      guard_key ? guard_key : "the guard",
                      guard_val ? guard_val : "");
    else if (!e)
        *deleted += u->integer;
    freeReplyObject(u);
    return e;
}

sf_err_t sf_redis_unlink_guarded(sf_redis_t *r, const char *guard_key,
                                 const char *guard_val, size_t n,
                                 const char **keys, int64_t *deleted,
                                 char *errstr, size_t errstr_size) {
    size_t *lens = malloc((n + 1) * sizeof(*lens));
    if (!lens)
        return SF_ERR_NOMEM;
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(keys[i]);
    int64_t d = 0;
    sf_err_t e = unlink_keys(r, guard_key, guard_val, n, keys, lens, &d, errstr,
                             errstr_size);
    free(lens);
    if (deleted)
        *deleted = d;
    return e;
}

sf_err_t sf_redis_clear_filtered(
    sf_redis_t *r, const char *pattern,
    int (*may_delete)(void *opaque, const char *key, size_t len), void *opaque,
    int64_t *deleted, int64_t *spared, char *errstr, size_t errstr_size) {
    return sf_redis_clear_guarded(r, pattern, may_delete, opaque, NULL, NULL,
                                  deleted, spared, errstr, errstr_size);
}

sf_err_t sf_redis_clear_guarded(
    sf_redis_t *r, const char *pattern,
    int (*may_delete)(void *opaque, const char *key, size_t len), void *opaque,
    const char *guard_key, const char *guard_val, int64_t *deleted,
    int64_t *spared, char *errstr, size_t errstr_size) {
    char cursor[32] = "0";
    *deleted = 0;
    if (spared)
        *spared = 0;
    do {
        redisReply *rep;
        sf_err_t e =
            sf_redis_cmd(r, &rep, errstr, errstr_size,
                         "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (e)
            return e;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            freeReplyObject(rep);
            return sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                             "redis: unexpected SCAN reply");
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        redisReply *keys = rep->element[1];
        size_t nk = keys->elements, n = 0;
        const char **kv = malloc((nk + 1) * sizeof(*kv));
        size_t *lens = malloc((nk + 1) * sizeof(*lens));
        if (!kv || !lens) {
            free(kv);
            free(lens);
            freeReplyObject(rep);
            return SF_ERR_NOMEM;
        }
        for (size_t i = 0; i < nk; i++) {
            const redisReply *k = keys->element[i];
            if (may_delete && !may_delete(opaque, k->str, k->len)) {
                if (spared)
                    (*spared)++;
                continue;
            }
            kv[n] = k->str;
            lens[n++] = k->len;
        }
        /* at most 1000 keys a call: Lua's unpack has a limit */
        for (size_t off = 0; !e && off < n; off += 1000)
            e = unlink_keys(r, guard_key, guard_val,
                            n - off < 1000 ? n - off : 1000, kv + off,
                            lens + off, deleted, errstr, errstr_size);
        free(kv);
        free(lens);
        freeReplyObject(rep);
        if (e)
            return e;
    } while (strcmp(cursor, "0") != 0);
    return SF_OK;
}
