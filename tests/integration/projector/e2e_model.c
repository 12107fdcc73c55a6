/*
 * e2e_model.c - expected Redis keys and their comparison with a live Redis
 * (see e2e_model.h).
 */
#include "e2e_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct obj {
    char *key;
    char type; /* 'h' hash, 's' string, 'S' set, 'z' zset */
    size_t n, cap;
    char **names;
    char **vals;    /* hash values / string value (vals[0]) */
    double *scores; /* zset */
} obj_t;

struct model {
    obj_t **slots;
    size_t cap, count;
};

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "sf_e2e: out of memory\n");
        exit(3);
    }
    return p;
}
static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) {
        fprintf(stderr, "sf_e2e: out of memory\n");
        exit(3);
    }
    return p;
}
static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

model_t *model_new(void) {
    model_t *m = xmalloc(sizeof(*m));
    m->cap = 1024;
    m->count = 0;
    m->slots = calloc(m->cap, sizeof(obj_t *));
    if (!m->slots)
        exit(3);
    return m;
}

static void obj_clear(obj_t *o) {
    for (size_t i = 0; i < o->n; i++) {
        free(o->names ? o->names[i] : NULL);
        free(o->vals ? o->vals[i] : NULL);
    }
    free(o->names);
    free(o->vals);
    free(o->scores);
    o->names = o->vals = NULL;
    o->scores = NULL;
    o->n = o->cap = 0;
}

void model_free(model_t *m) {
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i]) {
            obj_clear(m->slots[i]);
            free(m->slots[i]->key);
            free(m->slots[i]);
        }
    free(m->slots);
    free(m);
}

size_t model_count(const model_t *m) {
    size_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i] && m->slots[i]->n > 0)
            n++;
    return n;
}

/* Slot of key (found or empty); objects are never removed from the table,
 * an emptied object just has n == 0 (= the key does not exist). */
static size_t slot_of(const model_t *m, const char *key) {
    size_t i = (size_t)hash(key) & (m->cap - 1);
    while (m->slots[i] && strcmp(m->slots[i]->key, key) != 0)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static obj_t *find(const model_t *m, const char *key) {
    obj_t *o = m->slots[slot_of(m, key)];
    return o && o->n > 0 ? o : NULL;
}

static obj_t *get(model_t *m, const char *key, char type) {
    size_t i = slot_of(m, key);
    obj_t *o = m->slots[i];
    if (!o) {
        if ((m->count + 1) * 2 > m->cap) {
            obj_t **old = m->slots;
            size_t oldcap = m->cap;
            m->cap *= 2;
            m->slots = calloc(m->cap, sizeof(obj_t *));
            if (!m->slots)
                exit(3);
            for (size_t k = 0; k < oldcap; k++)
                if (old[k])
                    m->slots[slot_of(m, old[k]->key)] = old[k];
            free(old);
            i = slot_of(m, key);
        }
        o = calloc(1, sizeof(*o));
        if (!o)
            exit(3);
        o->key = xstrdup(key);
        m->slots[i] = o;
        m->count++;
    }
    if (o->n == 0 || o->type != type) {
        if (o->n > 0) {
            fprintf(stderr, "sf_e2e: model: key %s changes type %c -> %c\n",
                    key, o->type, type);
            exit(3);
        }
        obj_clear(o);
        o->type = type;
    }
    return o;
}

static ptrdiff_t member_idx(const obj_t *o, const char *name) {
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->names[i], name) == 0)
            return (ptrdiff_t)i;
    return -1;
}

static size_t member_add(obj_t *o, const char *name) {
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 4;
        o->names = xrealloc(o->names, o->cap * sizeof(char *));
        o->vals = xrealloc(o->vals, o->cap * sizeof(char *));
        o->scores = xrealloc(o->scores, o->cap * sizeof(double));
    }
    o->names[o->n] = xstrdup(name);
    o->vals[o->n] = NULL;
    o->scores[o->n] = 0;
    return o->n++;
}

static void member_del(obj_t *o, size_t i) {
    free(o->names[i]);
    free(o->vals[i]);
    o->n--;
    o->names[i] = o->names[o->n];
    o->vals[i] = o->vals[o->n];
    o->scores[i] = o->scores[o->n];
}

void model_hset(model_t *m, const char *key, const char *field,
                const char *value) {
    obj_t *o = get(m, key, 'h');
    ptrdiff_t i = member_idx(o, field);
    if (i < 0)
        i = (ptrdiff_t)member_add(o, field);
    free(o->vals[i]);
    o->vals[i] = xstrdup(value);
}

void model_hset_i(model_t *m, const char *key, const char *field, long long v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", v);
    model_hset(m, key, field, buf);
}

const char *model_hget(const model_t *m, const char *key, const char *field) {
    obj_t *o = find(m, key);
    if (!o || o->type != 'h')
        return NULL;
    ptrdiff_t i = member_idx(o, field);
    return i < 0 ? NULL : o->vals[i];
}

void model_hincrby(model_t *m, const char *key, const char *field,
                   long long delta) {
    const char *cur = model_hget(m, key, field);
    model_hset_i(m, key, field, (cur ? atoll(cur) : 0) + delta);
}

void model_hdel(model_t *m, const char *key, const char *field) {
    obj_t *o = find(m, key);
    if (!o || o->type != 'h')
        return;
    ptrdiff_t i = member_idx(o, field);
    if (i >= 0)
        member_del(o, (size_t)i);
}

void model_set(model_t *m, const char *key, const char *value) {
    obj_t *o = get(m, key, 's');
    if (o->n == 0)
        member_add(o, "");
    free(o->vals[0]);
    o->vals[0] = xstrdup(value);
}

void model_incrby(model_t *m, const char *key, long long delta) {
    obj_t *o = find(m, key);
    long long cur = o && o->type == 's' ? atoll(o->vals[0]) : 0;
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", cur + delta);
    model_set(m, key, buf);
}

void model_sadd(model_t *m, const char *key, const char *member) {
    obj_t *o = get(m, key, 'S');
    if (member_idx(o, member) < 0)
        member_add(o, member);
}

void model_srem(model_t *m, const char *key, const char *member) {
    obj_t *o = find(m, key);
    if (!o || o->type != 'S')
        return;
    ptrdiff_t i = member_idx(o, member);
    if (i >= 0)
        member_del(o, (size_t)i);
}

void model_zadd(model_t *m, const char *key, double score, const char *member) {
    obj_t *o = get(m, key, 'z');
    ptrdiff_t i = member_idx(o, member);
    if (i < 0)
        i = (ptrdiff_t)member_add(o, member);
    o->scores[i] = score;
}

void model_zincrby(model_t *m, const char *key, double delta,
                   const char *member) {
    obj_t *o = get(m, key, 'z');
    ptrdiff_t i = member_idx(o, member);
    if (i < 0)
        i = (ptrdiff_t)member_add(o, member);
    o->scores[i] += delta;
}

void model_zrem(model_t *m, const char *key, const char *member) {
    obj_t *o = find(m, key);
    if (!o || o->type != 'z')
        return;
    ptrdiff_t i = member_idx(o, member);
    if (i >= 0)
        member_del(o, (size_t)i);
}

void model_del(model_t *m, const char *key) {
    obj_t *o = m->slots[slot_of(m, key)];
    if (o)
        obj_clear(o);
}

/* ---- canonical text -------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf_t;

static void sb_add(sbuf_t *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}
static void sb_adds(sbuf_t *b, const char *s) {
    sb_add(b, s, strlen(s));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void fmt_score(char *buf, size_t n, double v) {
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    snprintf(buf, n, "%s", tmp);
}

/* Canonical text from lines (each malloc()ed, freed here). */
static char *canon_lines(const char *type, char **lines, size_t n) {
    qsort(lines, n, sizeof(char *), cmp_str);
    sbuf_t b = {0};
    sb_adds(&b, type);
    for (size_t i = 0; i < n; i++) {
        sb_adds(&b, "\n  ");
        sb_adds(&b, lines[i]);
        free(lines[i]);
    }
    free(lines);
    return b.p;
}

static char *line2(const char *a, const char *sep, const char *c) {
    size_t n = strlen(a) + strlen(sep) + strlen(c) + 1;
    char *s = xmalloc(n);
    snprintf(s, n, "%s%s%s", a, sep, c);
    return s;
}

static char *canon_obj(const obj_t *o) {
    if (!o || o->n == 0)
        return xstrdup("none");
    char **lines = xmalloc(o->n * sizeof(char *));
    const char *type = "?";
    for (size_t i = 0; i < o->n; i++) {
        char sc[40];
        switch (o->type) {
        case 'h':
            type = "hash";
            lines[i] = line2(o->names[i], "=", o->vals[i]);
            break;
        case 's':
            type = "string";
            lines[i] = xstrdup(o->vals[i]);
            break;
        case 'S':
            type = "set";
            lines[i] = xstrdup(o->names[i]);
            break;
        case 'z':
            type = "zset";
            fmt_score(sc, sizeof sc, o->scores[i]);
            lines[i] = line2(o->names[i], " ", sc);
            break;
        }
    }
    return canon_lines(type, lines, o->n);
}

static char *canon_reply(const char *type, redisReply *r) {
    if (strcmp(type, "none") == 0)
        return xstrdup("none");
    if (!r)
        return xstrdup("?no reply");
    if (r->type == REDIS_REPLY_ERROR)
        return line2("?error ", "", r->str);
    if (strcmp(type, "string") == 0) {
        char **lines = xmalloc(sizeof(char *));
        lines[0] = xstrdup(r->type == REDIS_REPLY_STRING ? r->str : "?");
        return canon_lines("string", lines, 1);
    }
    if (r->type != REDIS_REPLY_ARRAY)
        return xstrdup("?unexpected reply");
    size_t n = r->elements;
    int pairs = strcmp(type, "hash") == 0 || strcmp(type, "zset") == 0;
    size_t nl = pairs ? n / 2 : n;
    char **lines = xmalloc((nl ? nl : 1) * sizeof(char *));
    for (size_t i = 0; i < nl; i++) {
        if (strcmp(type, "hash") == 0) {
            lines[i] =
                line2(r->element[2 * i]->str, "=", r->element[2 * i + 1]->str);
        } else if (strcmp(type, "zset") == 0) {
            char sc[40];
            fmt_score(sc, sizeof sc, strtod(r->element[2 * i + 1]->str, NULL));
            lines[i] = line2(r->element[2 * i]->str, " ", sc);
        } else {
            lines[i] = xstrdup(r->element[i]->str);
        }
    }
    return canon_lines(type, lines, nl);
}

/* ---- compare ----------------------------------------------------------- */

static void report(const char *key, const char *want, const char *got) {
    char w[400], g[400];
    snprintf(w, sizeof w, "%s", want);
    snprintf(g, sizeof g, "%s", got);
    for (char *c = w; *c; c++)
        if (*c == '\n')
            *c = ' ';
    for (char *c = g; *c; c++)
        if (*c == '\n')
            *c = ' ';
    fprintf(stderr, "  key %s\n    expected: %s%s\n    actual:   %s%s\n", key,
            w, strlen(want) >= sizeof w - 1 ? " ..." : "", g,
            strlen(got) >= sizeof g - 1 ? " ..." : "");
}

int model_compare(const model_t *m, redisContext *rc,
                  const char *const *patterns, int max_report, int quiet,
                  size_t *checked, size_t *bad) {
    /* every key to look at: expected ones (existing) + live ones */
    size_t nkeys = 0, capkeys = 1024;
    char **keys = xmalloc(capkeys * sizeof(char *));
    model_t *seen = model_new();
    for (size_t i = 0; i < m->cap; i++) {
        const obj_t *o = m->slots[i];
        if (!o || o->n == 0)
            continue;
        if (nkeys == capkeys)
            keys = xrealloc(keys, (capkeys *= 2) * sizeof(char *));
        keys[nkeys++] = xstrdup(o->key);
        model_set(seen, o->key, "1");
    }
    for (const char *const *pat = patterns; pat && *pat; pat++) {
        char cursor[32] = "0";
        do {
            redisReply *r =
                redisCommand(rc, "SCAN %s MATCH %s COUNT 1000", cursor, *pat);
            if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
                fprintf(stderr, "sf_e2e: SCAN failed: %s\n",
                        r && r->type == REDIS_REPLY_ERROR ? r->str
                                                          : rc->errstr);
                if (r)
                    freeReplyObject(r);
                return -1;
            }
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
            redisReply *arr = r->element[1];
            for (size_t k = 0; k < arr->elements; k++) {
                const char *key = arr->element[k]->str;
                if (find(seen, key))
                    continue;
                model_set(seen, key, "1");
                if (nkeys == capkeys)
                    keys = xrealloc(keys, (capkeys *= 2) * sizeof(char *));
                keys[nkeys++] = xstrdup(key);
            }
            freeReplyObject(r);
        } while (strcmp(cursor, "0") != 0);
    }
    model_free(seen);

    size_t nbad = 0;
    const size_t chunk = 512;
    char **types = xmalloc(chunk * sizeof(char *));
    for (size_t base = 0; base < nkeys; base += chunk) {
        size_t n = nkeys - base < chunk ? nkeys - base : chunk;
        for (size_t i = 0; i < n; i++)
            redisAppendCommand(rc, "TYPE %s", keys[base + i]);
        for (size_t i = 0; i < n; i++) {
            redisReply *r = NULL;
            if (redisGetReply(rc, (void **)&r) != REDIS_OK) {
                fprintf(stderr, "sf_e2e: redis: %s\n", rc->errstr);
                return -1;
            }
            types[i] = xstrdup(r->type == REDIS_REPLY_STATUS ? r->str : "?");
            freeReplyObject(r);
        }
        for (size_t i = 0; i < n; i++) {
            const char *k = keys[base + i];
            const char *t = types[i];
            if (strcmp(t, "hash") == 0)
                redisAppendCommand(rc, "HGETALL %s", k);
            else if (strcmp(t, "string") == 0)
                redisAppendCommand(rc, "GET %s", k);
            else if (strcmp(t, "set") == 0)
                redisAppendCommand(rc, "SMEMBERS %s", k);
            else if (strcmp(t, "zset") == 0)
                redisAppendCommand(rc, "ZRANGE %s 0 -1 WITHSCORES", k);
            else
                redisAppendCommand(rc, "TYPE %s", k); /* placeholder */
        }
        for (size_t i = 0; i < n; i++) {
            redisReply *r = NULL;
            if (redisGetReply(rc, (void **)&r) != REDIS_OK) {
                fprintf(stderr, "sf_e2e: redis: %s\n", rc->errstr);
                return -1;
            }
            const char *k = keys[base + i];
            char *got;
            if (strcmp(types[i], "hash") && strcmp(types[i], "string") &&
                strcmp(types[i], "set") && strcmp(types[i], "zset") &&
                strcmp(types[i], "none"))
                got = line2("?type ", "", types[i]);
            else
                got = canon_reply(types[i], r);
            char *want = canon_obj(find(m, k));
            if (strcmp(want, got) != 0) {
                if ((int)nbad < max_report && !quiet)
                    report(k, want, got);
                nbad++;
            }
            free(want);
            free(got);
            freeReplyObject(r);
            free(types[i]);
        }
    }
    free(types);
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i]);
    free(keys);
    if (checked)
        *checked = nkeys;
    if (bad)
        *bad = nbad;
    return 0;
}

long long redis_unlink_matching(redisContext *rc, const char *pattern) {
    long long removed = 0;
    char cursor[32] = "0";
    do {
        redisReply *r =
            redisCommand(rc, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r)
                freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *arr = r->element[1];
        for (size_t k = 0; k < arr->elements; k++)
            redisAppendCommand(rc, "UNLINK %s", arr->element[k]->str);
        for (size_t k = 0; k < arr->elements; k++) {
            redisReply *u = NULL;
            if (redisGetReply(rc, (void **)&u) != REDIS_OK) {
                freeReplyObject(r);
                return -1;
            }
            if (u->type == REDIS_REPLY_INTEGER)
                removed += u->integer;
            freeReplyObject(u);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return removed;
}
