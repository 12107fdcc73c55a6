/* redis_sink.c - Redis connection, apply script and bookkeeping keys. */
#include "redis_sink.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* KEYS: epoch, checkpoint, halt.  ARGV: token, last offset, then per
 * event: offset, ncmds, then per command: nargs, args...
 * Offsets travel as decimal strings; Lua numbers are doubles, exact for
 * offsets below 2^53.
 *
 * The halt key holds the offset of an event whose command failed: until
 * it is handled (sf_redis_ckpt_advance past it, or a batch that starts at
 * or below it succeeds), batches starting after it are refused with
 * HALTED, so a batch pipelined behind the failed one can never move the
 * checkpoint over the events the failure left unapplied. */
/*
 * Before an event's commands run, each command's key type is checked
 * against what the command needs (known types cached for the script run,
 * the event's own earlier commands simulated), so an event that would
 * fail with WRONGTYPE half way is refused whole: a script cannot roll
 * back, and a view must never hold half an event.  Other failures inside
 * a command (HINCRBY on a field that is not a number) can still leave the
 * event's earlier commands applied; they are rare and dead-lettered.
 */
static const char APPLY_LUA[] =
    "local T = {APPEND='string', INCR='string', DECR='string',\n"
    "  INCRBY='string', DECRBY='string', INCRBYFLOAT='string',\n"
    "  GETSET='string', SETBIT='string', PFADD='string',\n"
    "  HSET='hash', HSETNX='hash', HMSET='hash', HDEL='hash',\n"
    "  HINCRBY='hash', HINCRBYFLOAT='hash', SADD='set', SREM='set',\n"
    "  SMOVE='set', ZADD='zset', ZREM='zset', ZINCRBY='zset',\n"
    "  ZREMRANGEBYSCORE='zset', ZREMRANGEBYRANK='zset', GEOADD='zset',\n"
    "  RPUSH='list', LPUSH='list', LREM='list', LSET='list', LTRIM='list',\n"
    "  XADD='stream'}\n"
    "local SHRINK = {HDEL=1, SREM=1, ZREM=1, LREM=1, LTRIM=1,\n"
    "  ZREMRANGEBYSCORE=1, ZREMRANGEBYRANK=1}\n"
    "local kt = {}\n"
    "local function typeof(k, sim)\n"
    "  local t = sim and sim[k]\n"
    "  if t then return t end\n"
    "  t = kt[k]\n"
    "  if not t or t == 'any' then\n"
    /* pcall: a key the ACL user may not touch must fail this event
     * (dead letter naming the key), not abort the whole batch */
    "    local r = redis.pcall('TYPE', k)\n"
    "    if r.err then return nil, r.err end\n"
    "    t = r.ok\n"
    "    kt[k] = t\n"
    "  end\n"
    "  return t\n"
    "end\n"
    /* what the command at ARGV[i] (na args) leaves behind, into tbl:
     * a type, 'none', 'any' (may have emptied it) or false (unknown) */
    "local function effect(tbl, i, na)\n"
    "  local c = string.upper(ARGV[i])\n"
    "  if c == 'SMOVE' then\n"
    "    tbl[ARGV[i + 1]] = 'any'; tbl[ARGV[i + 2]] = 'set'\n"
    "  elseif SHRINK[c] then tbl[ARGV[i + 1]] = 'any'\n"
    "  elseif T[c] then tbl[ARGV[i + 1]] = T[c]\n"
    "  elseif c == 'DEL' or c == 'UNLINK' then\n"
    "    for j = i + 1, i + na - 1 do tbl[ARGV[j]] = 'none' end\n"
    "  elseif c == 'MSET' then\n"
    "    for j = i + 1, i + na - 1, 2 do tbl[ARGV[j]] = 'string' end\n"
    "  elseif c == 'SET' or c == 'SETEX' or c == 'PSETEX' then\n"
    "    tbl[ARGV[i + 1]] = 'string'\n"
    "  elseif na > 1 then tbl[ARGV[i + 1]] = false end\n"
    "end\n"
    "local function check(i, sim)\n"
    "  local c = string.upper(ARGV[i])\n"
    "  local want = T[c]\n"
    "  if not want then return nil end\n"
    "  local last = c == 'SMOVE' and i + 2 or i + 1\n"
    "  for j = i + 1, last do\n"
    "    local have, err = typeof(ARGV[j], sim)\n"
    "    if err then return err .. ' (' .. c .. ' ' .. ARGV[j] .. ')' end\n"
    "    if have ~= 'none' and have ~= 'any' and have ~= want then\n"
    "      return 'WRONGTYPE ' .. c .. ' needs a ' .. want .. ' but ' ..\n"
    "        ARGV[j] .. ' holds a ' .. have\n"
    "    end\n"
    "  end\n"
    "  return nil\n"
    "end\n"
    "local ep = redis.call('GET', KEYS[1])\n"
    "if ep ~= ARGV[1] then\n"
    "  return redis.error_reply('FENCED epoch ' .. tostring(ep) ..\n"
    "    ' token ' .. ARGV[1])\n"
    "end\n"
    "local halt = redis.call('GET', KEYS[3])\n"
    "if halt and ARGV[3] and tonumber(ARGV[3]) > tonumber(halt) then\n"
    "  return redis.error_reply('HALTED at ' .. halt)\n"
    "end\n"
    "local ck = tonumber(redis.call('GET', KEYS[2]) or '-1')\n"
    "local function failed(off, why)\n"
    "  if off - 1 > ck then\n"
    "    redis.call('SET', KEYS[2], string.format('%d', off - 1))\n"
    "  end\n"
    "  redis.call('SET', KEYS[3], string.format('%d', off))\n"
    "  return {1, string.format('%d', off), why}\n"
    "end\n"
    "local i, n, applied = 3, #ARGV, 0\n"
    "while i <= n do\n"
    "  local off = tonumber(ARGV[i])\n"
    "  local nc = tonumber(ARGV[i + 1])\n"
    "  i = i + 2\n"
    "  local live = off > ck\n"
    "  if live then\n"
    "    local sim, j = {}, i\n"
    "    for c = 1, nc do\n"
    "      local na = tonumber(ARGV[j])\n"
    "      local bad = check(j + 1, sim)\n"
    "      if bad then return failed(off, bad) end\n"
    "      effect(sim, j + 1, na)\n"
    "      j = j + 1 + na\n"
    "    end\n"
    "  end\n"
    "  for c = 1, nc do\n"
    "    local na = tonumber(ARGV[i])\n"
    "    i = i + 1\n"
    "    if live then\n"
    "      local r = redis.pcall(unpack(ARGV, i, i + na - 1))\n"
    "      if type(r) == 'table' and r.err then\n"
    "        return failed(off, r.err .. ' (' .. ARGV[i] .. ' ' ..\n"
    "          tostring(ARGV[i + 1]) .. ')')\n"
    "      end\n"
    "      effect(kt, i, na)\n"
    "    end\n"
    "    i = i + na\n"
    "  end\n"
    "  if live then applied = applied + 1 end\n"
    "end\n"
    "if tonumber(ARGV[2]) > ck then redis.call('SET', KEYS[2], ARGV[2]) end\n"
    "if halt then redis.call('DEL', KEYS[3]) end\n"
    "return {0, applied}\n";

/* KEYS: epoch, ckpt, halt; ARGV: token ('' = no check), offset. */
static const char ADVANCE_LUA[] =
    "if ARGV[1] ~= '' and redis.call('GET', KEYS[1]) ~= ARGV[1] then\n"
    "  return redis.error_reply('FENCED')\n"
    "end\n"
    "local ck = redis.call('GET', KEYS[2])\n"
    "if tonumber(ARGV[2]) > tonumber(ck or '-1') then\n"
    "  redis.call('SET', KEYS[2], ARGV[2])\n"
    "end\n"
    "local halt = redis.call('GET', KEYS[3])\n"
    "if halt and tonumber(halt) <= tonumber(ARGV[2]) then\n"
    "  redis.call('DEL', KEYS[3])\n"
    "end\n"
    "return ck or '-1'\n";

struct sf_redis {
    redisContext *c;
    sf_redis_conf_t conf;
    sf_redis_tlsctx_t *tls;
    char where[300]; /* host:port or unix:path, for messages */
    char apply_sha[41], advance_sha[41];
};

redisContext *sf_redis_ctx(sf_redis_t *r) { return r->c; }

static sf_err_t reply_check(sf_redis_t *r, redisReply *rep, char *errstr,
                            size_t errstr_size, const char *what) {
    if (!rep)
        return sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                         "redis %s: %s: %s", r->where, what,
                         r->c && r->c->errstr[0] ? r->c->errstr
                                                 : "connection lost");
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

static sf_err_t load_script(sf_redis_t *r, const char *src, char sha[41],
                            char *errstr, size_t errstr_size) {
    redisReply *rep;
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size,
                              "SCRIPT LOAD %s", src);
    if (e)
        return e;
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

sf_err_t sf_redis_reconnect(sf_redis_t *r, char *errstr, size_t errstr_size) {
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
    sf_err_t e = sf_redis_open(&r->conf, r->tls, 2000, &r->c, errstr,
                               errstr_size);
    if (e)
        return e;
    /* Replies to big batches can take a while; a dead server must still be
     * noticed. */
    struct timeval rw = {30, 0};
    redisSetTimeout(r->c, rw);
    e = load_script(r, APPLY_LUA, r->apply_sha, errstr, errstr_size);
    if (!e)
        e = load_script(r, ADVANCE_LUA, r->advance_sha, errstr, errstr_size);
    return e;
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

sf_err_t sf_redis_epoch_bump(sf_redis_t *r, const char *proj,
                             const char *topic, int32_t partition,
                             int64_t *token, char *errstr,
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

sf_err_t sf_redis_ckpt_get(sf_redis_t *r, const char *proj,
                           const char *topic, int32_t partition,
                           int64_t *ckpt, char *errstr, size_t errstr_size) {
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
    char ek[512], ck[512], hk[512], tok[24], off[24];
    sf_redis_key(ek, sizeof(ek), proj, "epoch", topic, partition);
    sf_redis_key(ck, sizeof(ck), proj, "ckpt", topic, partition);
    sf_redis_key(hk, sizeof(hk), proj, "halt", topic, partition);
    if (token < 0)
        tok[0] = '\0';
    else
        snprintf(tok, sizeof(tok), "%" PRId64, token);
    snprintf(off, sizeof(off), "%" PRId64, offset);
    redisReply *rep;
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size,
                              "EVALSHA %s 3 %s %s %s %s %s", r->advance_sha,
                              ek, ck, hk, tok, off);
    if (e == SF_ERR_REDIS_REPLY && strstr(errstr, "FENCED"))
        return SF_ERR_FENCED;
    if (e == SF_ERR_REDIS_REPLY && strstr(errstr, "NOSCRIPT")) {
        if ((e = load_script(r, ADVANCE_LUA, r->advance_sha, errstr,
                             errstr_size)))
            return e;
        return sf_redis_ckpt_advance(r, proj, topic, partition, token, offset,
                                     prev, errstr, errstr_size);
    }
    if (e)
        return e;
    if (prev)
        *prev = rep->type == REDIS_REPLY_STRING ? strtoll(rep->str, NULL, 10)
                                                : -1;
    freeReplyObject(rep);
    return SF_OK;
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

/* Appends one EVALSHA for batch b. */
static sf_err_t append_apply(sf_redis_t *r, const char *proj, sf_batch_t *b,
                             const char *topic, int32_t partition,
                             int64_t token, char *errstr,
                             size_t errstr_size) {
    char ek[512], ck[512], hk[512], tok[24], last[24];
    sf_redis_key(ek, sizeof(ek), proj, "epoch", topic, partition);
    sf_redis_key(ck, sizeof(ck), proj, "ckpt", topic, partition);
    sf_redis_key(hk, sizeof(hk), proj, "halt", topic, partition);
    snprintf(tok, sizeof(tok), "%" PRId64, token);
    snprintf(last, sizeof(last), "%" PRId64, b->last_offset);
    const char **argv;
    size_t *argvlen;
    size_t argc = sf_batch_argv(b, 8, &argv, &argvlen);
    if (!argc)
        return SF_ERR_NOMEM;
    const char *pre[8] = {"EVALSHA", r->apply_sha, "3", ek, ck, hk, tok, last};
    for (int i = 0; i < 8; i++) {
        argv[i] = pre[i];
        argvlen[i] = strlen(pre[i]);
    }
    if (redisAppendCommandArgv(r->c, (int)argc, argv, argvlen) != REDIS_OK)
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                         "redis: cannot queue the apply script");
    return SF_OK;
}

static void parse_apply_reply(redisReply *rep, sf_apply_res_t *res) {
    memset(res, 0, sizeof(*res));
    if (rep->type == REDIS_REPLY_ERROR) {
        res->err = !strncmp(rep->str, "FENCED", 6)   ? SF_ERR_FENCED
                   : !strncmp(rep->str, "HALTED", 6) ? SF_ERR_STATE
                                                     : SF_ERR_REDIS_REPLY;
        snprintf(res->msg, sizeof(res->msg), "%s", rep->str);
        return;
    }
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
        rep->element[0]->type != REDIS_REPLY_INTEGER) {
        res->err = SF_ERR_REDIS_REPLY;
        snprintf(res->msg, sizeof(res->msg), "unexpected apply reply");
        return;
    }
    if (rep->element[0]->integer == 0) {
        res->err = SF_OK;
        res->applied = rep->element[1]->integer;
        return;
    }
    res->err = SF_ERR_RULE;
    res->bad_offset = rep->element[1]->type == REDIS_REPLY_STRING
                          ? strtoll(rep->element[1]->str, NULL, 10)
                          : rep->element[1]->integer;
    if (rep->elements > 2 && rep->element[2]->type == REDIS_REPLY_STRING)
        snprintf(res->msg, sizeof(res->msg), "%s", rep->element[2]->str);
    else
        snprintf(res->msg, sizeof(res->msg), "command failed");
}

sf_err_t sf_redis_apply_send(sf_redis_t *r, const char *proj, size_t n,
                             sf_batch_t *const *batches,
                             const char *const *topics,
                             const int32_t *partitions, const int64_t *tokens,
                             char *errstr, size_t errstr_size) {
    if (!r->c || r->c->err)
        return sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                         "redis %s: not connected", r->where);
    for (size_t i = 0; i < n; i++) {
        sf_err_t e = append_apply(r, proj, batches[i], topics[i],
                                  partitions[i], tokens[i], errstr,
                                  errstr_size);
        if (e)
            return e;
    }
    /* Push the bytes out now, so Redis works while the caller goes on. */
    int done = 0;
    while (!done)
        if (redisBufferWrite(r->c, &done) != REDIS_OK)
            return sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                             "redis %s: apply: %s", r->where,
                             r->c->errstr[0] ? r->c->errstr
                                             : "connection lost");
    return SF_OK;
}

sf_err_t sf_redis_apply_recv(sf_redis_t *r, size_t n, sf_apply_res_t *res,
                             char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < n; i++) {
        void *v = NULL;
        if (redisGetReply(r->c, &v) != REDIS_OK || !v)
            return sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                             "redis %s: apply: %s", r->where,
                             r->c->errstr[0] ? r->c->errstr
                                             : "connection lost");
        parse_apply_reply(v, &res[i]);
        freeReplyObject(v);
    }
    return SF_OK;
}

sf_err_t sf_redis_reload_scripts(sf_redis_t *r, char *errstr,
                                 size_t errstr_size) {
    sf_err_t e = load_script(r, APPLY_LUA, r->apply_sha, errstr, errstr_size);
    if (!e)
        e = load_script(r, ADVANCE_LUA, r->advance_sha, errstr, errstr_size);
    return e;
}

sf_err_t sf_redis_apply(sf_redis_t *r, const char *proj, size_t n,
                        sf_batch_t *const *batches, const char *const *topics,
                        const int32_t *partitions, const int64_t *tokens,
                        sf_apply_res_t *res, char *errstr,
                        size_t errstr_size) {
    sf_err_t e = sf_redis_apply_send(r, proj, n, batches, topics, partitions,
                                     tokens, errstr, errstr_size);
    if (!e)
        e = sf_redis_apply_recv(r, n, res, errstr, errstr_size);
    if (e)
        return e;
    int noscript = 0;
    for (size_t i = 0; i < n; i++)
        if (res[i].err == SF_ERR_REDIS_REPLY &&
            !strncmp(res[i].msg, "NOSCRIPT", 8))
            noscript = 1;
    if (noscript) {
        /* Script cache flushed (SCRIPT FLUSH, restart): load it again and
         * redo the batches that were refused; the others are done. */
        if ((e = sf_redis_reload_scripts(r, errstr, errstr_size)))
            return e;
        for (size_t i = 0; i < n; i++) {
            if (res[i].err != SF_ERR_REDIS_REPLY ||
                strncmp(res[i].msg, "NOSCRIPT", 8))
                continue;
            if ((e = sf_redis_apply(r, proj, 1, &batches[i], &topics[i],
                                    &partitions[i], &tokens[i], &res[i],
                                    errstr, errstr_size)))
                return e;
        }
    }
    return SF_OK;
}

static sf_err_t conn_err(sf_redis_t *r, char *errstr, size_t errstr_size,
                         const char *what) {
    return sf_seterr(errstr, errstr_size, SF_ERR_REDIS, "redis %s: %s: %s",
                     r->where, what,
                     r->c && r->c->errstr[0] ? r->c->errstr
                                             : "connection lost");
}

static sf_err_t push_out(sf_redis_t *r, char *errstr, size_t errstr_size) {
    int done = 0;
    while (!done)
        if (redisBufferWrite(r->c, &done) != REDIS_OK)
            return conn_err(r, errstr, errstr_size, "write");
    return SF_OK;
}

/* Appends "<verb> key(what)..." for n partitions. */
static sf_err_t append_keys(sf_redis_t *r, const char *verb, const char *proj,
                            const char *what, size_t n,
                            const char *const *topics,
                            const int32_t *partitions) {
    const char **argv = malloc((n + 1) * sizeof(*argv));
    size_t *lens = malloc((n + 1) * sizeof(*lens));
    char *keys = malloc(n * 512 + 1);
    sf_err_t e = SF_OK;
    if (!argv || !lens || !keys) {
        e = SF_ERR_NOMEM;
        goto out;
    }
    argv[0] = verb;
    lens[0] = strlen(verb);
    for (size_t i = 0; i < n; i++) {
        char *k = keys + i * 512;
        sf_redis_key(k, 512, proj, what, topics[i], partitions[i]);
        argv[i + 1] = k;
        lens[i + 1] = strlen(k);
    }
    if (redisAppendCommandArgv(r->c, (int)n + 1, argv, lens) != REDIS_OK)
        e = SF_ERR_NOMEM;
out:
    free(argv);
    free(lens);
    free(keys);
    return e;
}

sf_err_t sf_redis_watch_send(sf_redis_t *r, const char *proj, size_t n,
                             const char *const *topics,
                             const int32_t *partitions, char *errstr,
                             size_t errstr_size) {
    if (!r->c || r->c->err)
        return conn_err(r, errstr, errstr_size, "watch");
    sf_err_t e = append_keys(r, "WATCH", proj, "epoch", n, topics, partitions);
    if (!e)
        e = append_keys(r, "MGET", proj, "epoch", n, topics, partitions);
    if (e)
        return sf_seterr(errstr, errstr_size, e, "redis: cannot queue WATCH");
    return push_out(r, errstr, errstr_size);
}

sf_err_t sf_redis_watch_recv(sf_redis_t *r, size_t n, const int64_t *tokens,
                             char *errstr, size_t errstr_size) {
    void *v = NULL;
    if (redisGetReply(r->c, &v) != REDIS_OK || !v)
        return conn_err(r, errstr, errstr_size, "WATCH");
    freeReplyObject(v);
    if (redisGetReply(r->c, &v) != REDIS_OK || !v)
        return conn_err(r, errstr, errstr_size, "MGET");
    redisReply *rep = v;
    sf_err_t e = SF_OK;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                      "redis: unexpected MGET reply");
    } else {
        for (size_t i = 0; i < n && !e; i++) {
            redisReply *x = rep->element[i];
            int64_t ep = x->type == REDIS_REPLY_STRING
                             ? strtoll(x->str, NULL, 10)
                             : -1;
            if (ep != tokens[i])
                e = sf_seterr(errstr, errstr_size, SF_ERR_FENCED,
                              "FENCED epoch %" PRId64 " token %" PRId64, ep,
                              tokens[i]);
        }
    }
    freeReplyObject(rep);
    return e;
}

sf_err_t sf_redis_txn_send(sf_redis_t *r, const char *proj, size_t n,
                           sf_batch_t *const *batches,
                           const char *const *topics,
                           const int32_t *partitions, char *errstr,
                           size_t errstr_size) {
    if (!r->c || r->c->err)
        return conn_err(r, errstr, errstr_size, "txn");
    const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    if (redisAppendCommandArgv(r->c, 1, multi, NULL) != REDIS_OK)
        return SF_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        sf_batch_t *b = batches[i];
        const char **argv;
        size_t *argvlen;
        if (!sf_batch_argv(b, 0, &argv, &argvlen) && b->nargs)
            return SF_ERR_NOMEM;
        sf_batch_iter_t it = {0};
        int64_t off;
        size_t argc, a0;
        while (sf_batch_next_cmd(b, &it, &off, &argc, &a0))
            if (redisAppendCommandArgv(r->c, (int)argc, argv + a0,
                                       argvlen + a0) != REDIS_OK)
                return SF_ERR_NOMEM;
        char ck[512], last[24];
        sf_redis_key(ck, sizeof(ck), proj, "ckpt", topics[i], partitions[i]);
        snprintf(last, sizeof(last), "%" PRId64, b->last_offset);
        if (redisAppendCommand(r->c, "SET %s %s", ck, last) != REDIS_OK)
            return SF_ERR_NOMEM;
    }
    if (redisAppendCommandArgv(r->c, 1, exec, NULL) != REDIS_OK)
        return SF_ERR_NOMEM;
    return push_out(r, errstr, errstr_size);
}

sf_err_t sf_redis_txn_recv(sf_redis_t *r, size_t n,
                           sf_batch_t *const *batches,
                           void (*poison)(void *opaque, size_t i,
                                          int64_t offset, const char *msg),
                           void *opaque, char *errstr, size_t errstr_size) {
    size_t queued = 1; /* MULTI */
    for (size_t i = 0; i < n; i++)
        queued += batches[i]->ncmds + 1;
    sf_err_t e = SF_OK;
    for (size_t k = 0; k < queued; k++) {
        void *v = NULL;
        if (redisGetReply(r->c, &v) != REDIS_OK || !v)
            return conn_err(r, errstr, errstr_size, "MULTI");
        redisReply *rep = v;
        if (rep->type == REDIS_REPLY_ERROR && !e)
            e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                          "redis: command refused when queued: %s", rep->str);
        freeReplyObject(rep);
    }
    void *v = NULL;
    if (redisGetReply(r->c, &v) != REDIS_OK || !v)
        return conn_err(r, errstr, errstr_size, "EXEC");
    redisReply *rep = v;
    if (rep->type == REDIS_REPLY_NIL) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_FENCED,
                      "FENCED: an epoch changed during the transaction");
    } else if (rep->type == REDIS_REPLY_ERROR) {
        if (!e)
            e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                          "redis: EXEC: %s", rep->str);
    } else if (rep->type == REDIS_REPLY_ARRAY && !e) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            sf_batch_iter_t it = {0};
            int64_t off;
            size_t argc, a0;
            while (sf_batch_next_cmd(batches[i], &it, &off, &argc, &a0)) {
                if (k < rep->elements &&
                    rep->element[k]->type == REDIS_REPLY_ERROR && poison)
                    poison(opaque, i, off, rep->element[k]->str);
                k++;
            }
            k++; /* the checkpoint's SET */
        }
    }
    freeReplyObject(rep);
    return e;
}

sf_err_t sf_redis_clear(sf_redis_t *r, const char *pattern, int64_t *deleted,
                        char *errstr, size_t errstr_size) {
    char cursor[32] = "0";
    *deleted = 0;
    do {
        redisReply *rep;
        sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size,
                                  "SCAN %s MATCH %s COUNT 1000", cursor,
                                  pattern);
        if (e)
            return e;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            freeReplyObject(rep);
            return sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                             "redis: unexpected SCAN reply");
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        redisReply *keys = rep->element[1];
        if (keys->elements) {
            size_t argc = keys->elements + 1;
            const char **argv = malloc(argc * sizeof(*argv));
            size_t *lens = malloc(argc * sizeof(*lens));
            if (!argv || !lens) {
                free(argv);
                free(lens);
                freeReplyObject(rep);
                return SF_ERR_NOMEM;
            }
            argv[0] = "UNLINK";
            lens[0] = 6;
            for (size_t i = 0; i < keys->elements; i++) {
                argv[i + 1] = keys->element[i]->str;
                lens[i + 1] = keys->element[i]->len;
            }
            redisReply *u = redisCommandArgv(r->c, (int)argc, argv, lens);
            free(argv);
            free(lens);
            e = reply_check(r, u, errstr, errstr_size, "UNLINK");
            if (!e)
                *deleted += u->integer;
            freeReplyObject(u);
            if (e) {
                freeReplyObject(rep);
                return e;
            }
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);
    return SF_OK;
}
