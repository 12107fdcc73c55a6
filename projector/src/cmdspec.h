/*
 * cmdspec.h - what the projector knows about each Redis write command a
 * projection may issue, in ONE table (cmdspec.c).
 *
 * Every part that needs to know a command reads this table: the allow-list
 * (sf_projector_command_allowed, batch.c, rules.c), the argument checks made
 * when a command is added to a batch (arity, the unpack() limit, no key
 * under the bookkeeping prefix "sf:"), the apply script's pre-checks (the
 * Lua function SPEC_ROW is generated from this one, sf_cmdspec_lua()), and
 * journey's key rewriting (sf_cmdspec_is_key).  Adding a command is adding
 * one row here.
 *
 * The fields follow Redis' own description of a command (COMMAND INFO,
 * https://redis.io/docs/latest/commands/command/): arity (N: exactly N
 * arguments including the name, -N: at least N) and the key positions
 * first / last / step (last -1: the last argument; step 2: every other
 * argument, as in MSET).  Types are Redis TYPE names.
 *
 * The table is constant: thread-safe.  Nothing here allocates except
 * sf_cmdspec_lua (appends to the caller's buffer).
 */
#ifndef SF_PROJ_CMDSPEC_H
#define SF_PROJ_CMDSPEC_H

#include <stddef.h>

#include "util.h"

/* Most arguments (name included) one command may have.  The apply script
 * spreads a command's arguments with Lua's unpack(), which refuses more
 * than about 8000 (LUAI_MAXCSTACK in Lua 5.1, Redis' interpreter); a
 * larger command could only fail inside the script, so it is refused
 * when it is built. */
#define SF_CMD_MAX_ARGS 7000

/* What a command may do to its keys beyond giving them its type. */
typedef enum sf_cmd_empties {
    SF_CMD_EMPTIES_NONE = 0,
    SF_CMD_EMPTIES_ALL,  /* may leave any of its keys empty (deleted) */
    SF_CMD_EMPTIES_FIRST /* only the first key (SMOVE's source) */
} sf_cmd_empties_t;

/* Which values must be numbers for the command to succeed. */
typedef enum sf_cmd_num {
    SF_CMD_NUM_NONE = 0,
    SF_CMD_NUM_INT,        /* integer at the key, integer argument */
    SF_CMD_NUM_FLOAT,      /* float at the key, float argument */
    SF_CMD_NUM_HASH_INT,   /* integer in hash field arg 2, integer arg 3 */
    SF_CMD_NUM_HASH_FLOAT, /* float in hash field arg 2, float arg 3 */
    SF_CMD_NUM_ARG_FLOAT   /* only the argument (ZINCRBY's increment) */
} sf_cmd_num_t;

/* How consecutive commands of one name on one key may be folded into one
 * before they are sent (fold.h, which holds the conditions under which a
 * fold is exact).  Each kind is one whose failure depends only on the key
 * (its type, for SUM the field's value) and the command name (ACL), so a
 * folded command fails exactly when each command it stands for would. */
typedef enum sf_cmd_fold {
    SF_CMD_FOLD_NONE = 0,
    SF_CMD_FOLD_SUM,     /* INCRBY/DECRBY k n, HINCRBY k f n: the integer
                            increments of one key (field) summed; never
                            floats, whose additions do not associate */
    SF_CMD_FOLD_FIELDS,  /* HSET/HMSET k f v...: the pairs concatenated;
                            Redis sets them in order, the last value of a
                            field wins as it would one command after the
                            other */
    SF_CMD_FOLD_MEMBERS, /* SADD or SREM k m...: the members concatenated */
    SF_CMD_FOLD_LAST     /* SET k v (no options): the last one wins */
} sf_cmd_fold_t;

typedef struct sf_cmd_spec {
    const char *name;
    int arity; /* COMMAND INFO arity */
    int first_key, last_key, key_step;
    int pairs_from;    /* args from here on come in pairs (0: no) */
    const char *needs; /* type each existing key must have (NULL:
                          any) */
    const char *makes; /* type of each key afterwards: a type,
                          "none" (deleted), NULL (unchanged) */
    int if_absent;     /* makes only applies to an absent key */
    sf_cmd_empties_t empties;
    sf_cmd_num_t num;
    int num_arg; /* index of the numeric argument (0: none) */
    sf_cmd_fold_t fold;
} sf_cmd_spec_t;

/* The spec of a command (case-insensitive name of len bytes), or NULL when
 * it is not an allowed write command. */
const sf_cmd_spec_t *sf_cmdspec_find(const char *name, size_t len);

/* The n-th row (0-based) or NULL past the end: for listing and tests. */
const sf_cmd_spec_t *sf_cmdspec_at(size_t n);

/* 1 when argument i (0 = the name) of a command of argc arguments is a
 * key, per the spec's first/last/step. */
int sf_cmdspec_is_key(const sf_cmd_spec_t *s, size_t i, size_t argc);

/* Checks one command before it joins a batch: allowed, arity, pairs, at
 * most SF_CMD_MAX_ARGS arguments, no key under "sf:".  SF_ERR_RULE with one
 * line naming the command and the problem in errstr. */
sf_err_t sf_cmdspec_check(size_t argc, const char *const *argv,
                          const size_t *lens, char *errstr, size_t errstr_size);

/* The parts of sf_cmdspec_check for callers that hold the spec already
 * (batch.c checks packed arguments in one pass): the argument count
 * (arity, pairs, SF_CMD_MAX_ARGS) of a command of argc arguments, and one
 * key (not under "sf:").  SF_ERR_RULE with the same lines as
 * sf_cmdspec_check. */
sf_err_t sf_cmdspec_check_shape(const sf_cmd_spec_t *s, size_t argc,
                                char *errstr, size_t errstr_size);
sf_err_t sf_cmdspec_check_key(const sf_cmd_spec_t *s, const char *key,
                              size_t len, char *errstr, size_t errstr_size);

/* Appends the Lua source the apply script is prefixed with: local MAXARGS
 * and local function SPEC_ROW(name), the row of one command (a new table
 * per call of it) or nil.  A function rather than a table of all rows:
 * the prefix runs on every EVALSHA, and building every row there cost
 * Redis about 30 us per call. */
sf_err_t sf_cmdspec_lua(sf_buf_t *out);

#endif
