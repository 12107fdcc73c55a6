/*
 * keys.h - what keys a projection may write, and how event data becomes
 * part of a key.  The rules, in the projector's README ("Keys"):
 *
 *   1. An id spliced into a key is percent-encoded (sf_key_escape, public
 *      in sf_projector.h): ':' '%' and the control bytes 0x00-0x1F, 0x7F
 *      become "%XX", so an id can never add a key segment, and an id that
 *      renders empty is refused: it would name no aggregate.
 *   2. Every key a projection writes must match one of its `keys:`
 *      patterns, must not fall under the reserved prefix "sf:", must hold
 *      no control byte, and no ':'-separated segment of it may be empty.
 *      Checked for every command as it is added to the batch, for rules
 *      and C handlers alike; a violation dead-letters the event, naming
 *      the key.
 *   3. `keys:` patterns must be well formed, must not be able to match a
 *      key under "sf:", and must not be able to match a key another
 *      projection's patterns can match in the same Redis database (its
 *      rebuild would delete the other's keys).  Checked at load.
 *
 * Patterns are Redis glob patterns as SCAN MATCH / KEYS read them (Redis
 * util.c stringmatchlen): '*' any run of bytes, '?' one byte, "[abc]",
 * "[^abc]", "[a-z]" one byte of a class, '\x' the byte x.  A range
 * compares bytes as Redis does on x86-64, as signed char (0x80-0xFF sort
 * below 0x00); `keys:` patterns may not use such ranges at all
 * (sf_keys_check_portable).
 *
 * Not thread-safe per object; a guard is used by its projection's thread.
 */
#ifndef SF_PROJ_KEYS_H
#define SF_PROJ_KEYS_H

#include <stddef.h>

#include "sf_core.h"

/* Key positions of a write command, as Redis COMMAND INFO states them:
 * arguments first..last (last < 0: counted from the end, -1 = the last
 * argument) every step-th one.  argv[0] is the command name.  Returns 0
 * when name is not an allowed write command.  The one place that knows
 * key positions; meant to be pointed at a shared command table. */
typedef struct sf_cmd_keyspec {
    int first, last, step;
} sf_cmd_keyspec_t;
int sf_cmd_keys(const char *name, size_t len, sf_cmd_keyspec_t *spec);
/* Non-zero when argument i (1-based) of a command of argc arguments
 * (including the name) is a key under spec. */
int sf_cmd_is_key(const sf_cmd_keyspec_t *spec, size_t argc, size_t i);

/* ---- glob patterns ----------------------------------------------------- */

typedef struct sf_glob sf_glob_t;

/* Compiles a Redis glob pattern.  Refused (SF_ERR_PARSE, errstr says what
 * and *errcol where): an unterminated '[' and a trailing '\', whose
 * meaning Redis leaves to the end of its buffer. */
sf_err_t sf_glob_compile(const char *pat, size_t len, sf_glob_t **out,
                         size_t *errcol, char *errstr, size_t errstr_size);
void sf_glob_destroy(sf_glob_t *g);
/* Non-zero when s[0..len) matches g. */
int sf_glob_match(const sf_glob_t *g, const void *s, size_t len);
/* Non-zero when some string matches both a and b (exact: the product of
 * the two patterns' automata is searched for an accepting path). */
int sf_glob_overlap(const sf_glob_t *a, const sf_glob_t *b);

/* A glob built token by token, for the keys a rules template can write
 * (not expressible in Redis' syntax): sf_glob_new() gives an empty
 * pattern (matching only ""), sf_glob_add_literal() appends bytes that
 * match themselves, sf_glob_add_id() one or more bytes an escaped id can
 * hold (sf_key_escape output: any byte but ':' and the control bytes
 * 0x00-0x1F, 0x7F).  NULL / SF_ERR_NOMEM when out of memory. */
sf_glob_t *sf_glob_new(void);
sf_err_t sf_glob_add_literal(sf_glob_t *g, const void *s, size_t len);
sf_err_t sf_glob_add_id(sf_glob_t *g);

/* ---- the guard of one projection --------------------------------------- */

typedef struct sf_keyguard sf_keyguard_t;

/* From the projection's `keys:` patterns (copied; may be none: then no
 * key may be written).  Errors name the pattern. */
sf_err_t sf_keyguard_new(const char *const *patterns, size_t n,
                         sf_keyguard_t **out, char *errstr, size_t errstr_size);
void sf_keyguard_destroy(sf_keyguard_t *g);

/* Checks one key (rule 2).  SF_ERR_RULE with the key named. */
sf_err_t sf_keyguard_check_key(const sf_keyguard_t *g, const void *key,
                               size_t len, char *errstr, size_t errstr_size);
/* Checks every key of a command given as argv/argvlen (argv[0] the name). */
sf_err_t sf_keyguard_check_cmd(const sf_keyguard_t *g, size_t argc,
                               const char *const *argv, const size_t *argvlen,
                               char *errstr, size_t errstr_size);

/* The same for a command whose argument i is base[off[i] .. +len[i]). */
sf_err_t sf_keyguard_check_packed(const sf_keyguard_t *g, size_t argc,
                                  const char *base, const size_t *off,
                                  const size_t *len, char *errstr,
                                  size_t errstr_size);

/* Remembers the first violation of the current event (set by the batch
 * when a handler's command is refused, so that a handler ignoring the
 * error still has its event dead-lettered); cleared per event. */
void sf_keyguard_event_reset(sf_keyguard_t *g);
void sf_keyguard_note(sf_keyguard_t *g, const char *msg);
const char *sf_keyguard_violation(const sf_keyguard_t *g);

/* Rule 3 for one pattern against the reserved prefix: SF_ERR_CONFIG when
 * pat can match a key under "sf:". */
sf_err_t sf_keys_check_reserved(const char *pat, char *errstr,
                                size_t errstr_size);

/* For a rebuild's clear: non-zero when key (as SCAN MATCH g returned it)
 * may be deleted: g matches it by this matcher too, and it is not under
 * the reserved prefix "sf:" (a projection's own bookkeeping is deleted by
 * name, never by pattern). */
int sf_keys_may_clear(const sf_glob_t *g, const void *key, size_t len);

/* Refuses (SF_ERR_CONFIG, *errcol set) a `keys:` pattern with a class
 * range whose end is a byte >= 0x80: Redis compares range ends as C
 * `char`, whose sign depends on the platform Redis was built for (signed
 * on x86-64, unsigned on arm64), so such a range means different keys on
 * different servers.  Write the bytes out, or escape them. */
sf_err_t sf_keys_check_portable(const char *pat, size_t len, size_t *errcol,
                                char *errstr, size_t errstr_size);

#endif
