/* asof.c - the as-of rule and the as-of views' records (see asof.h). */
#include "asof.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

int sf_asof_includes(const sf_event_t *ev, int64_t as_of_ms) {
    return as_of_ms < 0 || sf_event_time_ms(ev) <= as_of_ms;
}

/* The database db is to another projection of cfg (live or spare), or
 * NULL: an as-of view never goes where a projection serves or builds. */
static const char *db_owner(const sf_config_t *cfg, int db, int *spare) {
    for (size_t i = 0; i < cfg->nproj; i++) {
        const sf_pconf_t *q = &cfg->proj[i];
        if (db == q->db || db == q->spare_db) {
            *spare = db != q->db;
            return q->name;
        }
    }
    return NULL;
}

static sf_err_t get_str(sf_redis_t *r, const char *key, char *out, size_t size,
                        int *found, char *errstr, size_t errstr_size) {
    redisReply *rep = NULL;
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", key);
    if (e)
        return e;
    *found = rep->type == REDIS_REPLY_STRING;
    if (*found && out)
        snprintf(out, size, "%s", rep->str);
    freeReplyObject(rep);
    return SF_OK;
}

sf_err_t sf_asof_check_db(const sf_config_t *cfg, const sf_pconf_t *pc, int db,
                          sf_redis_t *side, char *errstr, size_t errstr_size) {
    int spare = 0;
    const char *owner = db_owner(cfg, db, &spare);
    if (owner)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "--db %d is the %s database of projection %s (%s)", db,
                         spare ? "blue/green spare" : "live", owner, cfg->path);
    char key[512];
    int found = 0;
    sf_redis_key(key, sizeof(key), pc->name, "asof", NULL, 0);
    sf_err_t e = get_str(side, key, NULL, 0, &found, errstr, errstr_size);
    if (e || found)
        return e;
    redisReply *rep = NULL;
    if ((e = sf_redis_cmd(side, &rep, errstr, errstr_size, "DBSIZE")))
        return e;
    long long n = rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
    freeReplyObject(rep);
    if (n != 0)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "--db %d holds %lld key(s) and no as-of view of %s: "
                         "an as-of view goes into an empty database (or "
                         "replaces one of the same projection)",
                         db, n, pc->name);
    return SF_OK;
}

sf_err_t sf_asof_register(const sf_pconf_t *pc, int db, int64_t as_of_ms,
                          sf_redis_t *side, sf_redis_t *live, char *errstr,
                          size_t errstr_size) {
    char t[SF_TIME_BUFSIZE] = "end", key[512], dbs[16];
    if (as_of_ms >= 0 && !sf_time_format(as_of_ms, t, sizeof(t)))
        snprintf(t, sizeof(t), "%" PRId64, as_of_ms);
    snprintf(dbs, sizeof(dbs), "%d", db);
    sf_redis_key(key, sizeof(key), pc->name, "asof", NULL, 0);
    sf_err_t e =
        sf_redis_cmd(side, NULL, errstr, errstr_size, "SET %s %s", key, t);
    sf_redis_key(key, sizeof(key), pc->name, "asof-views", NULL, 0);
    if (!e && live)
        e = sf_redis_cmd(live, NULL, errstr, errstr_size, "HSET %s %s %s", key,
                         dbs, t);
    return e;
}

static int nothing_reserved(void *opaque, const char *key, size_t len) {
    (void)opaque;
    return !(len >= 3 && !memcmp(key, "sf:", 3));
}

sf_err_t sf_asof_drop(const sf_config_t *cfg, const sf_pconf_t *pc, int db,
                      int registry, int64_t *deleted, char *errstr,
                      size_t errstr_size) {
    *deleted = 0;
    int spare = 0;
    const char *owner = db_owner(cfg, db, &spare);
    if (owner)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "--db %d is the %s database of projection %s, not an "
                         "as-of view",
                         db, spare ? "spare" : "live", owner);
    sf_redis_conf_t sc = pc->redis;
    sc.db = db;
    sf_redis_t *side = NULL, *live = NULL;
    char key[512];
    int found = 0;
    sf_err_t e = sf_redis_connect(&sc, &side, errstr, errstr_size);
    if (!e)
        e = sf_redis_connect(&pc->redis, &live, errstr, errstr_size);
    sf_redis_key(key, sizeof(key), pc->name, "asof", NULL, 0);
    if (!e)
        e = get_str(side, key, NULL, 0, &found, errstr, errstr_size);
    if (!e && !found)
        e = sf_seterr(errstr, errstr_size, SF_ERR_NOT_FOUND,
                      "database %d holds no as-of view of %s (no %s there)", db,
                      pc->name, key);
    /* the view's keys first, its record last: a drop cut short can be
     * run again */
    for (size_t i = 0; !e && pc->rules && i < sf_rules_nkeys(pc->rules); i++) {
        int64_t n = 0;
        e = sf_redis_clear_filtered(side, sf_rules_key(pc->rules, i),
                                    nothing_reserved, NULL, &n, NULL, errstr,
                                    errstr_size);
        *deleted += n;
    }
    char pat[600];
    snprintf(pat, sizeof(pat), "sf:%s:*", pc->name);
    int64_t n = 0;
    if (!e)
        e = sf_redis_clear(side, pat, &n, errstr, errstr_size);
    *deleted += n;
    char dbs[16];
    snprintf(dbs, sizeof(dbs), "%d", db);
    sf_redis_key(key, sizeof(key), pc->name, "asof-views", NULL, 0);
    if (!e && registry)
        e = sf_redis_cmd(live, NULL, errstr, errstr_size, "HDEL %s %s", key,
                         dbs);
    sf_redis_destroy(side);
    sf_redis_destroy(live);
    return e;
}
