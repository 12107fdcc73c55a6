/* cmdspec.c - the one table of Redis write commands (see cmdspec.h). */
#include "cmdspec.h"

#include "sf_projector.h" /* sf_projector_command_allowed is public */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define E_NONE    SF_CMD_EMPTIES_NONE
#define E_ALL     SF_CMD_EMPTIES_ALL
#define E_FIRST   SF_CMD_EMPTIES_FIRST
#define N_NONE    SF_CMD_NUM_NONE
#define F_NONE    SF_CMD_FOLD_NONE
#define F_SUM     SF_CMD_FOLD_SUM
#define F_FIELDS  SF_CMD_FOLD_FIELDS
#define F_MEMBERS SF_CMD_FOLD_MEMBERS
#define F_LAST    SF_CMD_FOLD_LAST

/* Arity and key positions as Redis 7's COMMAND INFO gives them.  needs /
 * makes drive the apply script's WRONGTYPE pre-check: a command that needs
 * a type fails on a key of another type; SET-like commands overwrite any
 * type.  Reads are pointless inside a batch and anything administrative
 * (FLUSHALL, CONFIG, EVAL, ...) must never be reachable from event data or
 * rules, so neither has a row. */
static const sf_cmd_spec_t specs[] = {
    /* name, arity, first, last, step, pairs_from, needs, makes, if_absent,
     * empties, num, num_arg, fold */
    {"SET", -3, 1, 1, 1, 0, NULL, "string", 0, E_NONE, N_NONE, 0, F_LAST},
    {"SETNX", 3, 1, 1, 1, 0, NULL, "string", 1, E_NONE, N_NONE, 0, F_NONE},
    {"SETEX", 4, 1, 1, 1, 0, NULL, "string", 0, E_NONE, N_NONE, 0, F_NONE},
    {"PSETEX", 4, 1, 1, 1, 0, NULL, "string", 0, E_NONE, N_NONE, 0, F_NONE},
    {"GETSET", 3, 1, 1, 1, 0, "string", "string", 0, E_NONE, N_NONE, 0, F_NONE},
    {"MSET", -3, 1, -1, 2, 1, NULL, "string", 0, E_NONE, N_NONE, 0, F_NONE},
    {"DEL", -2, 1, -1, 1, 0, NULL, "none", 0, E_NONE, N_NONE, 0, F_NONE},
    {"UNLINK", -2, 1, -1, 1, 0, NULL, "none", 0, E_NONE, N_NONE, 0, F_NONE},
    {"APPEND", 3, 1, 1, 1, 0, "string", "string", 0, E_NONE, N_NONE, 0, F_NONE},
    {"INCR", 2, 1, 1, 1, 0, "string", "string", 0, E_NONE, SF_CMD_NUM_INT, 0,
     F_NONE},
    {"DECR", 2, 1, 1, 1, 0, "string", "string", 0, E_NONE, SF_CMD_NUM_INT, 0,
     F_NONE},
    {"INCRBY", 3, 1, 1, 1, 0, "string", "string", 0, E_NONE, SF_CMD_NUM_INT, 2,
     F_SUM},
    {"DECRBY", 3, 1, 1, 1, 0, "string", "string", 0, E_NONE, SF_CMD_NUM_INT, 2,
     F_SUM},
    {"INCRBYFLOAT", 3, 1, 1, 1, 0, "string", "string", 0, E_NONE,
     SF_CMD_NUM_FLOAT, 2, F_NONE},
    {"HSET", -4, 1, 1, 1, 2, "hash", "hash", 0, E_NONE, N_NONE, 0, F_FIELDS},
    {"HSETNX", 4, 1, 1, 1, 0, "hash", "hash", 0, E_NONE, N_NONE, 0, F_NONE},
    {"HMSET", -4, 1, 1, 1, 2, "hash", "hash", 0, E_NONE, N_NONE, 0, F_FIELDS},
    {"HDEL", -3, 1, 1, 1, 0, "hash", "hash", 0, E_ALL, N_NONE, 0, F_NONE},
    {"HINCRBY", 4, 1, 1, 1, 0, "hash", "hash", 0, E_NONE, SF_CMD_NUM_HASH_INT,
     3, F_SUM},
    {"HINCRBYFLOAT", 4, 1, 1, 1, 0, "hash", "hash", 0, E_NONE,
     SF_CMD_NUM_HASH_FLOAT, 3, F_NONE},
    {"SADD", -3, 1, 1, 1, 0, "set", "set", 0, E_NONE, N_NONE, 0, F_MEMBERS},
    {"SREM", -3, 1, 1, 1, 0, "set", "set", 0, E_ALL, N_NONE, 0, F_MEMBERS},
    {"SMOVE", 4, 1, 2, 1, 0, "set", "set", 0, E_FIRST, N_NONE, 0, F_NONE},
    {"ZADD", -4, 1, 1, 1, 0, "zset", "zset", 0, E_NONE, N_NONE, 0, F_NONE},
    {"ZREM", -3, 1, 1, 1, 0, "zset", "zset", 0, E_ALL, N_NONE, 0, F_NONE},
    {"ZINCRBY", 4, 1, 1, 1, 0, "zset", "zset", 0, E_NONE, SF_CMD_NUM_ARG_FLOAT,
     2, F_NONE},
    {"ZREMRANGEBYSCORE", 4, 1, 1, 1, 0, "zset", "zset", 0, E_ALL, N_NONE, 0,
     F_NONE},
    {"ZREMRANGEBYRANK", 4, 1, 1, 1, 0, "zset", "zset", 0, E_ALL, N_NONE, 0,
     F_NONE},
    {"RPUSH", -3, 1, 1, 1, 0, "list", "list", 0, E_NONE, N_NONE, 0, F_NONE},
    {"LPUSH", -3, 1, 1, 1, 0, "list", "list", 0, E_NONE, N_NONE, 0, F_NONE},
    {"LREM", 4, 1, 1, 1, 0, "list", "list", 0, E_ALL, N_NONE, 0, F_NONE},
    {"LSET", 4, 1, 1, 1, 0, "list", "list", 0, E_NONE, N_NONE, 0, F_NONE},
    {"LTRIM", 4, 1, 1, 1, 0, "list", "list", 0, E_ALL, N_NONE, 0, F_NONE},
    /* a time in the past deletes the key at once */
    {"EXPIRE", -3, 1, 1, 1, 0, NULL, NULL, 0, E_ALL, N_NONE, 0, F_NONE},
    {"PEXPIRE", -3, 1, 1, 1, 0, NULL, NULL, 0, E_ALL, N_NONE, 0, F_NONE},
    {"EXPIREAT", -3, 1, 1, 1, 0, NULL, NULL, 0, E_ALL, N_NONE, 0, F_NONE},
    {"PEXPIREAT", -3, 1, 1, 1, 0, NULL, NULL, 0, E_ALL, N_NONE, 0, F_NONE},
    {"PERSIST", 2, 1, 1, 1, 0, NULL, NULL, 0, E_NONE, N_NONE, 0, F_NONE},
    /* a HyperLogLog and a bitmap are strings */
    {"PFADD", -2, 1, 1, 1, 0, "string", "string", 0, E_NONE, N_NONE, 0, F_NONE},
    {"SETBIT", 4, 1, 1, 1, 0, "string", "string", 0, E_NONE, N_NONE, 0, F_NONE},
    {"GEOADD", -5, 1, 1, 1, 0, "zset", "zset", 0, E_NONE, N_NONE, 0, F_NONE},
    {"XADD", -5, 1, 1, 1, 0, "stream", "stream", 0, E_NONE, N_NONE, 0, F_NONE},
};

#define NSPECS (sizeof(specs) / sizeof(specs[0]))

const sf_cmd_spec_t *sf_cmdspec_find(const char *name, size_t len) {
    for (size_t i = 0; i < NSPECS; i++)
        if (strlen(specs[i].name) == len &&
            !strncasecmp(name, specs[i].name, len))
            return &specs[i];
    return NULL;
}

const sf_cmd_spec_t *sf_cmdspec_at(size_t n) {
    return n < NSPECS ? &specs[n] : NULL;
}

int sf_cmdspec_is_key(const sf_cmd_spec_t *s, size_t i, size_t argc) {
    if (!s || i < (size_t)s->first_key || i >= argc)
        return 0;
    size_t last =
        s->last_key >= 0 ? (size_t)s->last_key : argc - (size_t)(-s->last_key);
    return i <= last && (i - (size_t)s->first_key) % (size_t)s->key_step == 0;
}

int sf_projector_command_allowed(const char *name) {
    return name && sf_cmdspec_find(name, strlen(name)) != NULL;
}

sf_err_t sf_cmdspec_check_shape(const sf_cmd_spec_t *s, size_t argc,
                                char *errstr, size_t errstr_size) {
    if (argc > SF_CMD_MAX_ARGS)
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "%s with %zu arguments: at most %d fit in one "
                         "command of the apply script (split it into "
                         "several commands)",
                         s->name, argc, SF_CMD_MAX_ARGS);
    if ((s->arity > 0 && argc != (size_t)s->arity) ||
        (s->arity < 0 && argc < (size_t)-s->arity))
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "%s takes %s%d arguments with its name, got %zu",
                         s->name, s->arity < 0 ? "at least " : "",
                         s->arity < 0 ? -s->arity : s->arity, argc);
    if (s->pairs_from && (argc - (size_t)s->pairs_from) % 2)
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "%s takes pairs of arguments after its %s, got an "
                         "odd number",
                         s->name, s->pairs_from == 1 ? "name" : "key");
    return SF_OK;
}

sf_err_t sf_cmdspec_check_key(const sf_cmd_spec_t *s, const char *key,
                              size_t len, char *errstr, size_t errstr_size) {
    static const size_t pl = sizeof(SF_REDIS_PREFIX) - 1;
    if (len >= pl && !memcmp(key, SF_REDIS_PREFIX, pl))
        return sf_seterr(
            errstr, errstr_size, SF_ERR_RULE,
            "%s key %.*s is under the reserved prefix " SF_REDIS_PREFIX
            " (projector bookkeeping)",
            s->name, (int)(len > 64 ? 64 : len), key);
    return SF_OK;
}

sf_err_t sf_cmdspec_check(size_t argc, const char *const *argv,
                          const size_t *lens, char *errstr,
                          size_t errstr_size) {
    if (argc < 1)
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE, "empty command");
    size_t nl = lens ? lens[0] : strlen(argv[0]);
    const sf_cmd_spec_t *s = sf_cmdspec_find(argv[0], nl);
    if (!s)
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "command %.*s is not an allowed write command",
                         (int)(nl > 32 ? 32 : nl), argv[0]);
    sf_err_t e = sf_cmdspec_check_shape(s, argc, errstr, errstr_size);
    for (size_t i = 1; !e && i < argc; i++)
        if (sf_cmdspec_is_key(s, i, argc))
            e = sf_cmdspec_check_key(s, argv[i],
                                     lens ? lens[i] : strlen(argv[i]), errstr,
                                     errstr_size);
    return e;
}

static const char *lua_str(const char *s) {
    return s ? s : "";
}

sf_err_t sf_cmdspec_lua(sf_buf_t *out) {
    static const char *const num[] = {"",     "int",    "float",
                                      "hint", "hfloat", "afloat"};
    /* A script's top level runs on every EVALSHA: a table of all rows
     * built there cost Redis ~30 us per call, more than the rest of a
     * small batch.  So each row is built when a call first asks for it. */
    sf_err_t e = sf_buf_printf(out,
                               "-- generated from cmdspec.c: one row per "
                               "allowed command, built on demand\n"
                               "local MAXARGS = %d\n"
                               "local function SPEC_ROW(n)\n",
                               SF_CMD_MAX_ARGS);
    for (size_t i = 0; !e && i < NSPECS; i++) {
        const sf_cmd_spec_t *s = &specs[i];
        e = sf_buf_printf(
            out,
            "  %s n == '%s' then return {name = '%s', arity = %d, "
            "first = %d, last = %d, step = %d, "
            "pairs = %d, needs = '%s', makes = '%s', nx = %s, "
            "empties = %d, num = '%s', numarg = %d}\n",
            i ? "elseif" : "if", s->name, s->name, s->arity, s->first_key,
            s->last_key, s->key_step, s->pairs_from, lua_str(s->needs),
            lua_str(s->makes), s->if_absent ? "true" : "false", (int)s->empties,
            num[s->num], s->num_arg);
    }
    if (!e)
        e = sf_buf_appends(out, "  end\n  return nil\nend\n");
    return e;
}
