/*
 * e2e_model.h - an in-memory picture of the Redis keys a view should hold,
 * and its comparison with a live Redis.
 *
 * The reference fold (e2e_fold.c) computes the expected read model from the
 * generated events and writes it here with Redis-like operations (hash
 * fields, strings, sets, sorted sets).  model_compare() then reads every
 * expected key, plus every key of the live Redis that matches the run's
 * patterns, and reports missing, extra and different keys.
 *
 * Comparison is on a canonical text per key: its type, then its members
 * sorted ("field=value" for hashes, "member" for sets, "member score" for
 * sorted sets, the value for strings), so ordering in Redis never matters.
 */
#ifndef SF_E2E_MODEL_H
#define SF_E2E_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

typedef struct model model_t;

model_t *model_new(void);
void model_free(model_t *m);
size_t model_count(const model_t *m);

/* Hash operations (Redis semantics: a hash with no field does not exist). */
void model_hset(model_t *m, const char *key, const char *field,
                const char *value);
void model_hset_i(model_t *m, const char *key, const char *field, long long v);
void model_hincrby(model_t *m, const char *key, const char *field,
                   long long delta);
void model_hdel(model_t *m, const char *key, const char *field);
/* Current value of a hash field, or NULL. */
const char *model_hget(const model_t *m, const char *key, const char *field);
void model_set(model_t *m, const char *key, const char *value);
void model_incrby(model_t *m, const char *key, long long delta);
void model_sadd(model_t *m, const char *key, const char *member);
void model_srem(model_t *m, const char *key, const char *member);
void model_zadd(model_t *m, const char *key, double score, const char *member);
void model_zincrby(model_t *m, const char *key, double delta,
                   const char *member);
void model_zrem(model_t *m, const char *key, const char *member);
void model_del(model_t *m, const char *key);

/* Compares with Redis.  patterns: NULL-terminated list of SCAN MATCH
 * patterns whose keys must all be expected (extra keys fail).  Prints up to
 * max_report differences to stderr (prefixed "  "), fills *checked and
 * *bad, returns 0 when equal, -1 on a Redis error (message printed). */
int model_compare(const model_t *m, redisContext *rc,
                  const char *const *patterns, int max_report, int quiet,
                  size_t *checked, size_t *bad);

/* Unlinks every key matching pattern; returns the number removed or -1. */
long long redis_unlink_matching(redisContext *rc, const char *pattern);

#endif
