/* diff.c - the live view against another generation (see diff.h). */
#include "diff.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "redis_sink.h"
#include "rules.h"

typedef struct names {
    char **v;
    size_t n, cap;
} names_t;

static void names_free(names_t *k) {
    for (size_t i = 0; i < k->n; i++)
        free(k->v[i]);
    free(k->v);
    memset(k, 0, sizeof(*k));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every key SCAN MATCH pat returns, outside the reserved prefix, sorted
 * and without the repeats SCAN may return. */
static sf_err_t scan_keys(sf_redis_t *r, const char *pat, names_t *k,
                          char *errstr, size_t errstr_size) {
    char cursor[32] = "0";
    do {
        redisReply *rep = NULL;
        sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size,
                                  "SCAN %s MATCH %s COUNT 1000", cursor, pat);
        if (e)
            return e;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            freeReplyObject(rep);
            return sf_seterr(errstr, errstr_size, SF_ERR_REDIS_REPLY,
                             "SCAN: unexpected reply");
        }
        snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
        redisReply *ks = rep->element[1];
        for (size_t i = 0; i < ks->elements; i++) {
            const char *key = ks->element[i]->str;
            if (!strncmp(key, "sf:", 3))
                continue;
            if (k->n == k->cap) {
                size_t nc = k->cap ? 2 * k->cap : 256;
                char **nv = realloc(k->v, nc * sizeof(*nv));
                if (!nv) {
                    freeReplyObject(rep);
                    return SF_ERR_NOMEM;
                }
                k->v = nv;
                k->cap = nc;
            }
            if (!(k->v[k->n] = strdup(key))) {
                freeReplyObject(rep);
                return SF_ERR_NOMEM;
            }
            k->n++;
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0"));
    qsort(k->v, k->n, sizeof(*k->v), cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < k->n; i++) {
        if (w && !strcmp(k->v[w - 1], k->v[i])) {
            free(k->v[i]);
            continue;
        }
        k->v[w++] = k->v[i];
    }
    k->n = w;
    return SF_OK;
}

/* One key's contents as sorted "name\tvalue" lines (hash: field, value;
 * zset: member, score; set: member; list: index, value; string: value). */
static sf_err_t contents(sf_redis_t *r, const char *key, char *type,
                         size_t type_size, names_t *out, char *errstr,
                         size_t errstr_size) {
    redisReply *rep = NULL;
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size, "TYPE %s", key);
    if (e)
        return e;
    snprintf(type, type_size, "%s", rep->str ? rep->str : "?");
    freeReplyObject(rep);
    rep = NULL;
    int pairs = 1, sorted = 1;
    if (!strcmp(type, "string"))
        e = sf_redis_cmd(r, &rep, errstr, errstr_size, "GET %s", key);
    else if (!strcmp(type, "hash"))
        e = sf_redis_cmd(r, &rep, errstr, errstr_size, "HGETALL %s", key);
    else if (!strcmp(type, "zset"))
        e = sf_redis_cmd(r, &rep, errstr, errstr_size,
                         "ZRANGE %s 0 -1 WITHSCORES", key);
    else if (!strcmp(type, "set")) {
        pairs = 0;
        e = sf_redis_cmd(r, &rep, errstr, errstr_size, "SMEMBERS %s", key);
    } else if (!strcmp(type, "list")) {
        pairs = 0;
        sorted = 0;
        e = sf_redis_cmd(r, &rep, errstr, errstr_size, "LRANGE %s 0 -1", key);
    } else {
        return SF_OK; /* none (deleted meanwhile) or a type not compared */
    }
    if (e)
        return e;
    size_t n = rep->type == REDIS_REPLY_ARRAY ? rep->elements : 1;
    out->v = calloc(n ? n : 1, sizeof(*out->v));
    if (!out->v) {
        freeReplyObject(rep);
        return SF_ERR_NOMEM;
    }
    out->cap = n;
    if (rep->type != REDIS_REPLY_ARRAY) {
        out->v[out->n++] = strdup(rep->str ? rep->str : "");
    } else {
        for (size_t i = 0; i < rep->elements; i += pairs ? 2 : 1) {
            const char *a = rep->element[i]->str;
            const char *b = pairs && i + 1 < rep->elements
                                ? rep->element[i + 1]->str
                                : NULL;
            char idx[32];
            if (!pairs && !sorted) {
                snprintf(idx, sizeof(idx), "%zu", i);
                b = a;
                a = idx;
            }
            size_t len = strlen(a) + (b ? strlen(b) + 1 : 0) + 1;
            char *s = malloc(len);
            if (!s)
                break;
            snprintf(s, len, b ? "%s\t%s" : "%s", a, b ? b : "");
            out->v[out->n++] = s;
        }
    }
    freeReplyObject(rep);
    for (size_t i = 0; i < out->n; i++)
        if (!out->v[i])
            return SF_ERR_NOMEM;
    if (sorted)
        qsort(out->v, out->n, sizeof(*out->v), cmp_str);
    return SF_OK;
}

/* The first difference of two contents, described in buf; 0 when equal. */
static int first_diff(const char *type, const names_t *a, const names_t *b,
                      const char *bname, char *buf, size_t size) {
    size_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        const char *x = i < a->n ? a->v[i] : NULL;
        const char *y = j < b->n ? b->v[j] : NULL;
        if (x && y && !strcmp(x, y)) {
            i++, j++;
            continue;
        }
        /* names (before the tab) decide missing / extra / changed */
        size_t xl = x ? strcspn(x, "\t") : 0, yl = y ? strcspn(y, "\t") : 0;
        int c = !x ? 1 : !y ? -1 : strncmp(x, y, xl < yl ? xl : yl);
        if (x && y && !c && xl != yl)
            c = xl < yl ? -1 : 1;
        const char *what = !strcmp(type, "string") ? "value"
                           : !strcmp(type, "list") ? "index"
                           : !strcmp(type, "hash") ? "field"
                                                   : "member";
        if (!strcmp(type, "string"))
            snprintf(buf, size, "value: live \"%.200s\", %s \"%.200s\"",
                     x ? x : "", bname, y ? y : "");
        else if (c == 0)
            snprintf(buf, size, "%s %.*s: live \"%.200s\", %s \"%.200s\"", what,
                     (int)xl, x, x[xl] ? x + xl + 1 : "", bname,
                     y[yl] ? y + yl + 1 : "");
        else if (c < 0)
            snprintf(buf, size, "%s %.*s: only in the live view", what, (int)xl,
                     x);
        else
            snprintf(buf, size, "%s %.*s: only in the %s", what, (int)yl, y,
                     bname);
        return 1;
    }
    return 0;
}

static sf_err_t compare_pattern(sf_redis_t *live, sf_redis_t *other,
                                const char *pat, const char *oname,
                                size_t max_lines, FILE *out, size_t *lines,
                                sf_diff_stats_t *st, char *errstr,
                                size_t errstr_size) {
    names_t a = {0}, b = {0};
    sf_err_t e = scan_keys(live, pat, &a, errstr, errstr_size);
    if (!e)
        e = scan_keys(other, pat, &b, errstr, errstr_size);
    size_t i = 0, j = 0;
    while (!e && (i < a.n || j < b.n)) {
        int c = i >= a.n ? 1 : j >= b.n ? -1 : strcmp(a.v[i], b.v[j]);
        char line[1200] = "";
        if (c < 0) {
            st->extra++;
            snprintf(line, sizeof(line), "extra      %s (not in the %s)",
                     a.v[i++], oname);
        } else if (c > 0) {
            st->missing++;
            snprintf(line, sizeof(line), "missing    %s (only in the %s)",
                     b.v[j++], oname);
        } else {
            names_t ca = {0}, cb = {0};
            char ta[32], tb[32], d[1000];
            e = contents(live, a.v[i], ta, sizeof(ta), &ca, errstr,
                         errstr_size);
            if (!e)
                e = contents(other, b.v[j], tb, sizeof(tb), &cb, errstr,
                             errstr_size);
            if (!e && strcmp(ta, tb)) {
                st->different++;
                snprintf(line, sizeof(line),
                         "different  %s: type: live %s, %s %s", a.v[i], ta,
                         oname, tb);
            } else if (!e && first_diff(ta, &ca, &cb, oname, d, sizeof(d))) {
                st->different++;
                snprintf(line, sizeof(line), "different  %s: %s", a.v[i], d);
            } else if (!e) {
                st->equal++;
            }
            names_free(&ca);
            names_free(&cb);
            i++, j++;
        }
        if (*line && out && (*lines)++ < max_lines)
            fprintf(out, "%s\n", line);
    }
    names_free(&a);
    names_free(&b);
    return e;
}

sf_err_t sf_diff_views(const sf_config_t *cfg, const sf_pconf_t *pc,
                       int other_db, const char *other_name, size_t max_lines,
                       FILE *out, sf_diff_stats_t *st, char *errstr,
                       size_t errstr_size) {
    (void)cfg; /* the projection's own Redis settings (pc->redis) serve */
    memset(st, 0, sizeof(*st));
    if (!pc->rules || !sf_rules_nkeys(pc->rules))
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "projection %s declares no keys: patterns (rules "
                         "keys:): nothing to compare",
                         pc->name);
    sf_redis_conf_t oc = pc->redis;
    oc.db = other_db;
    sf_redis_t *live = NULL, *other = NULL;
    sf_err_t e = sf_redis_connect(&pc->redis, &live, errstr, errstr_size);
    if (!e)
        e = sf_redis_connect(&oc, &other, errstr, errstr_size);
    size_t lines = 0;
    /* a key two patterns match is compared (and counted) twice */
    for (size_t i = 0; !e && i < sf_rules_nkeys(pc->rules); i++)
        e = compare_pattern(live, other, sf_rules_key(pc->rules, i), other_name,
                            max_lines, out, &lines, st, errstr, errstr_size);
    if (!e && out && lines > max_lines)
        fprintf(out, "... %zu more difference(s) not shown (--max)\n",
                lines - max_lines);
    sf_redis_destroy(live);
    sf_redis_destroy(other);
    return e;
}
