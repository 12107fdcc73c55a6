/* fold.c - folding a partition batch's commands on one key (see fold.h). */
#include "fold.h"

#include <stdlib.h>
#include <string.h>

#include "cmdspec.h"
#include "dedup.h"
#include "sf_assert.h"

#define NONE ((size_t)-1)

typedef struct sf_fold_ev {
    int64_t off;
    size_t arg;    /* index of its first command's argument count */
    size_t nc;     /* its commands */
    int32_t chain; /* the chain it belongs to, -1: none */
    int32_t next;  /* the next member of that chain, -1: none */
} fev_t;

typedef struct sf_fold_chain {
    int32_t head, last; /* first and last member (event indices) */
    size_t nmem;
    sf_cmd_fold_t kind;
    size_t name, key, field; /* argument indices, in the head's command */
    int64_t sum, sumabs;     /* SUM */
    size_t nargs;            /* arguments of the folded command */
    uint32_t gen;            /* generation of its key when it was opened */
} fchain_t;

/* One hash table holds two kinds of entries: per key (field NONE, lvl 0)
 * the generation and the kind and name of the chains open on it; per
 * chain key (key, and HINCRBY's field; lvl 1) the chain last opened.  A
 * command that touches a key outside its chains bumps the generation,
 * which closes every chain opened before. */
typedef struct sf_fold_ent {
    size_t key, field;
    int lvl;
    uint32_t gen;       /* lvl 0 */
    sf_cmd_fold_t kind; /* lvl 0: SF_CMD_FOLD_NONE when nothing open */
    size_t name;        /* lvl 0: name argument of the open chains */
    int32_t chain;      /* lvl 1 */
} fent_t;

void sf_fold_init(sf_fold_t *f) {
    memset(f, 0, sizeof(*f));
}

void sf_fold_free(sf_fold_t *f) {
    free(f->ev);
    free(f->ch);
    free(f->tab);
    free(f->ent);
    memset(f, 0, sizeof(*f));
}

void sf_fold_done(sf_batch_t *b) {
    sf_batch_t *u = b->unfolded;
    b->unfolded = NULL; /* its source may be filled again from now on */
    if (u)
        sf_batch_reset(u);
    sf_batch_reset(b);
}

static const char *A(const sf_batch_t *b, size_t i) {
    return b->data.p + b->aoff[i];
}

static int same(const sf_batch_t *b, size_t i, size_t j) {
    return b->alen[i] == b->alen[j] && !memcmp(A(b, i), A(b, j), b->alen[i]);
}

/* Unsigned decimal argument (the layout's own counts). */
static uint64_t arg_count(const sf_batch_t *b, size_t i) {
    uint64_t v = 0;
    for (size_t k = 0; k < b->alen[i]; k++)
        v = v * 10 + (uint64_t)(A(b, i)[k] - '0');
    return v;
}

static int64_t arg_off(const sf_batch_t *b, size_t i) {
    const char *p = A(b, i);
    size_t n = b->alen[i];
    int neg = n > 0 && p[0] == '-';
    int64_t v = 0;
    for (size_t k = (size_t)neg; k < n; k++)
        v = v * 10 + (p[k] - '0');
    return neg ? -v : v;
}

/* An increment Redis reads as exactly this integer (its string2ll: an
 * optional '-', no leading zero, no '+', no space) of at most
 * SF_FOLD_MAX_ABS: 1 and *v.  Anything else is left unfolded, so that a
 * fold never turns an increment Redis would refuse into one it takes. */
static int canonical_int(const char *p, size_t n, int64_t *v) {
    size_t k = 0;
    int neg = 0;
    if (n == 1 && p[0] == '0') {
        *v = 0;
        return 1;
    }
    if (n > 0 && p[0] == '-') {
        neg = 1;
        k = 1;
    }
    if (k >= n || n - k > 13 || p[k] < '1' || p[k] > '9')
        return 0;
    int64_t x = 0;
    for (; k < n; k++) {
        if (p[k] < '0' || p[k] > '9')
            return 0;
        x = x * 10 + (p[k] - '0');
    }
    if (x > SF_FOLD_MAX_ABS)
        return 0;
    *v = neg ? -x : x;
    return 1;
}

static uint64_t hash_bytes(uint64_t h, const char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The entry of (key, field, lvl), added when add is set (else NULL when
 * absent). */
static fent_t *lookup(sf_fold_t *f, const sf_batch_t *b, size_t *nent,
                      size_t key, size_t field, int lvl, int add) {
    uint64_t h = hash_bytes(14695981039346656037ULL, A(b, key), b->alen[key]);
    h ^= (uint64_t)lvl + 0x9e37;
    if (field != NONE)
        h = hash_bytes(h * 1099511628211ULL, A(b, field), b->alen[field]);
    size_t mask = f->tabcap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        int32_t x = f->tab[i];
        if (x < 0) {
            if (!add)
                return NULL;
            SF_ASSERT(*nent < f->entcap);
            fent_t *e = &f->ent[*nent];
            memset(e, 0, sizeof(*e));
            e->key = key;
            e->field = field;
            e->lvl = lvl;
            e->chain = -1;
            f->tab[i] = (int32_t)(*nent)++;
            return e;
        }
        fent_t *e = &f->ent[x];
        if (e->lvl == lvl && same(b, e->key, key) &&
            (field == NONE ? e->field == NONE
                           : e->field != NONE && same(b, e->field, field)))
            return e;
    }
}

static sf_err_t grow(void **p, size_t *cap, size_t want, size_t size) {
    if (want <= *cap)
        return SF_OK;
    size_t n = *cap ? *cap : 64;
    while (n < want)
        n *= 2;
    void *q = realloc(*p, n * size);
    if (!q)
        return SF_ERR_NOMEM;
    *p = q;
    *cap = n;
    return SF_OK;
}

/* The chain kind a lone command may join: its table kind when its shape
 * is the plain one (SET without options, one increment that is a
 * canonical integer), else NONE. */
static sf_cmd_fold_t kind_of(const sf_batch_t *b, size_t name, size_t na,
                             const sf_cmd_spec_t *s, int64_t *inc) {
    if (!s)
        return SF_CMD_FOLD_NONE;
    switch (s->fold) {
    case SF_CMD_FOLD_SUM:
        if (na != (size_t)s->arity ||
            !canonical_int(A(b, name + (size_t)s->num_arg),
                           b->alen[name + (size_t)s->num_arg], inc))
            return SF_CMD_FOLD_NONE;
        return SF_CMD_FOLD_SUM;
    case SF_CMD_FOLD_FIELDS:
        return na >= 4 && (na - 2) % 2 == 0 ? s->fold : SF_CMD_FOLD_NONE;
    case SF_CMD_FOLD_MEMBERS: return na >= 3 ? s->fold : SF_CMD_FOLD_NONE;
    case SF_CMD_FOLD_LAST: return na == 3 ? s->fold : SF_CMD_FOLD_NONE;
    case SF_CMD_FOLD_NONE: break;
    }
    return SF_CMD_FOLD_NONE;
}

/* The command table row of the name at argument i: a batch repeats a few
 * names, so the last one found is tried first (the table is a list). */
static const sf_cmd_spec_t *spec_at(const sf_batch_t *b, size_t i, size_t *last,
                                    const sf_cmd_spec_t **spec) {
    if (*spec && *last != NONE && same(b, *last, i))
        return *spec;
    *last = i;
    return *spec = sf_cmdspec_find(A(b, i), b->alen[i]);
}

/* Closes the chains on every key of the command at name (na arguments). */
static int touch(sf_fold_t *f, const sf_batch_t *b, size_t *nent, size_t name,
                 size_t na, const sf_cmd_spec_t *s) {
    if (!s)
        return -1; /* not from the table: fold nothing */
    for (size_t i = 1; i < na; i++) {
        if (!sf_cmdspec_is_key(s, i, na))
            continue;
        fent_t *e = lookup(f, b, nent, name + i, NONE, 0, 0);
        if (e) {
            e->gen++;
            e->kind = SF_CMD_FOLD_NONE;
        }
    }
    return 0;
}

static int can_join(const fchain_t *c, size_t na, int64_t inc) {
    switch (c->kind) {
    case SF_CMD_FOLD_SUM:
        return c->sumabs + (inc < 0 ? -inc : inc) <= SF_FOLD_MAX_ABS;
    case SF_CMD_FOLD_FIELDS:
    case SF_CMD_FOLD_MEMBERS: return c->nargs + (na - 2) <= SF_CMD_MAX_ARGS;
    default: return 1;
    }
}

/* Pass 1: events and chains.  Returns the number of chains with more than
 * one member, or -1 when the batch is not to be folded. */
static int find_chains(sf_fold_t *f, const sf_batch_t *b, size_t *nev,
                       size_t *nch) {
    size_t ne = 0, nc = 0, nent = 0, last_name = NONE;
    const sf_cmd_spec_t *last_spec = NULL;
    int folds = 0;
    size_t i = 0;
    while (i + 2 <= b->nargs) {
        fev_t *e = &f->ev[ne];
        e->off = arg_off(b, i);
        e->nc = (size_t)arg_count(b, i + 1);
        e->arg = i + 2;
        e->chain = e->next = -1;
        i += 2;
        size_t j = i;
        for (size_t c = 0; c < e->nc; c++)
            j += 1 + (size_t)arg_count(b, j);
        if (e->nc == 1) {
            size_t na = (size_t)arg_count(b, i), name = i + 1;
            const sf_cmd_spec_t *s = spec_at(b, name, &last_name, &last_spec);
            int64_t inc = 0;
            sf_cmd_fold_t k = kind_of(b, name, na, s, &inc);
            if (k != SF_CMD_FOLD_NONE) {
                size_t key = name + 1;
                size_t field = s->num == SF_CMD_NUM_HASH_INT ? name + 2 : NONE;
                fent_t *kl = lookup(f, b, &nent, key, NONE, 0, 1);
                if (kl->kind != k || !same(b, kl->name, name)) {
                    kl->gen++; /* another kind or name: a new start */
                    kl->kind = k;
                    kl->name = name;
                }
                uint32_t gen = kl->gen;
                fent_t *ce = lookup(f, b, &nent, key, field, 1, 1);
                fchain_t *c = ce->chain >= 0 ? &f->ch[ce->chain] : NULL;
                if (c && c->gen == gen && can_join(c, na, inc)) {
                    f->ev[c->last].next = (int32_t)ne;
                    c->last = (int32_t)ne;
                    if (++c->nmem == 2)
                        folds++;
                    c->sum += inc;
                    c->sumabs += inc < 0 ? -inc : inc;
                    if (k == SF_CMD_FOLD_FIELDS || k == SF_CMD_FOLD_MEMBERS)
                        c->nargs += na - 2;
                    else if (k == SF_CMD_FOLD_LAST)
                        c->name = name; /* the last value wins */
                    e->chain = ce->chain;
                } else {
                    c = &f->ch[nc];
                    memset(c, 0, sizeof(*c));
                    c->head = c->last = (int32_t)ne;
                    c->nmem = 1;
                    c->kind = k;
                    c->name = name;
                    c->key = key;
                    c->field = field;
                    c->sum = inc;
                    c->sumabs = inc < 0 ? -inc : inc;
                    c->nargs = na;
                    c->gen = gen;
                    ce->chain = e->chain = (int32_t)nc++;
                }
            } else if (touch(f, b, &nent, name, na, s)) {
                return -1;
            }
        } else {
            for (size_t c = 0, x = i; c < e->nc; c++) {
                size_t na = (size_t)arg_count(b, x);
                if (touch(f, b, &nent, x + 1, na,
                          spec_at(b, x + 1, &last_name, &last_spec)))
                    return -1;
                x += 1 + na;
            }
        }
        i = j;
        ne++;
    }
    *nev = ne;
    *nch = nc;
    return folds;
}

static sf_err_t copy_cmd(sf_batch_t *o, const sf_batch_t *b, size_t name,
                         size_t na) {
    sf_err_t e = sf_batch_cmd_begin(o, na);
    for (size_t k = 0; !e && k < na; k++)
        e = sf_batch_arg(o, A(b, name + k), b->alen[name + k]);
    return e;
}

/* The folded command of chain c (more than one member). */
static sf_err_t emit_folded(sf_fold_t *f, const sf_batch_t *b, sf_batch_t *o,
                            const fchain_t *c) {
    sf_err_t e = SF_OK;
    switch (c->kind) {
    case SF_CMD_FOLD_SUM: {
        char num[SF_I64_DIGITS];
        size_t n = sf_fmt_i64(num, c->sum);
        e = sf_batch_cmd_begin(o, c->field != NONE ? 4 : 3);
        if (!e)
            e = sf_batch_arg(o, A(b, c->name), b->alen[c->name]);
        if (!e)
            e = sf_batch_arg(o, A(b, c->key), b->alen[c->key]);
        if (!e && c->field != NONE)
            e = sf_batch_arg(o, A(b, c->field), b->alen[c->field]);
        if (!e)
            e = sf_batch_arg(o, num, n);
        return e;
    }
    case SF_CMD_FOLD_FIELDS:
    case SF_CMD_FOLD_MEMBERS:
        e = sf_batch_cmd_begin(o, c->nargs);
        if (!e)
            e = sf_batch_arg(o, A(b, c->name), b->alen[c->name]);
        if (!e)
            e = sf_batch_arg(o, A(b, c->key), b->alen[c->key]);
        for (int32_t m = c->head; !e && m >= 0; m = f->ev[m].next) {
            size_t a = f->ev[m].arg, na = (size_t)arg_count(b, a);
            for (size_t k = 3; !e && k <= na; k++)
                e = sf_batch_arg(o, A(b, a + k), b->alen[a + k]);
        }
        return e;
    case SF_CMD_FOLD_LAST:
        return copy_cmd(o, b, c->name, 3); /* the last member's SET */
    case SF_CMD_FOLD_NONE: break;
    }
    return SF_ERR_STATE;
}

sf_err_t sf_fold_batch(sf_fold_t *f, sf_batch_t *b, sf_batch_t *o,
                       sf_batch_t **send, sf_fold_stats_t *st) {
    SF_ASSERT(!b->in_event && !b->unfolded);
    *send = b;
    if (b->nevents < 2 || b->ncmds < 2)
        return SF_OK;
    /* at most two entries per command: its key's and its chain's */
    size_t want = 2 * b->ncmds + 16;
    if (grow((void **)&f->ev, &f->evcap, b->nevents, sizeof(*f->ev)) ||
        grow((void **)&f->ch, &f->chcap, b->ncmds + 1, sizeof(*f->ch)) ||
        grow((void **)&f->ent, &f->entcap, want, sizeof(*f->ent)))
        return SF_ERR_NOMEM;
    size_t tc = 64;
    while (tc < 2 * want)
        tc *= 2;
    if (tc > f->tabcap) {
        int32_t *t = realloc(f->tab, tc * sizeof(*t));
        if (!t)
            return SF_ERR_NOMEM;
        f->tab = t;
        f->tabcap = tc;
    }
    memset(f->tab, 0xff, f->tabcap * sizeof(*f->tab)); /* all -1 */
    size_t nev = 0, nch = 0;
    int folds = find_chains(f, b, &nev, &nch);
    SF_ASSERT(folds < 0 || nev == b->nevents);
    if (folds <= 0)
        return SF_OK;
    /* pass 2: the folded batch, event by event */
    sf_batch_reset(o);
    o->unfolded = NULL;
    o->guard = NULL;
    int64_t out = 0;
    sf_err_t e = sf_dedup_copy(o, b);
    for (size_t i = 0; !e && i < nev; i++) {
        const fev_t *v = &f->ev[i];
        e = sf_batch_event_begin(o, v->off, b->last_ts);
        const fchain_t *c = v->chain >= 0 ? &f->ch[v->chain] : NULL;
        if (e) {
            break;
        } else if (c && c->nmem > 1 && c->head == (int32_t)i) {
            e = emit_folded(f, b, o, c);
            out++;
        } else if (c && c->nmem > 1) {
            /* a later member: its fate is the head's */
            char mark[1 + SF_I64_DIGITS];
            mark[0] = '#';
            size_t n = 1 + sf_fmt_i64(mark + 1, f->ev[c->head].off);
            e = sf_batch_cmd_begin(o, 1);
            if (!e)
                e = sf_batch_arg(o, mark, n);
        } else {
            size_t x = v->arg;
            for (size_t k = 0; !e && k < v->nc; k++) {
                size_t na = (size_t)arg_count(b, x);
                e = copy_cmd(o, b, x + 1, na);
                x += 1 + na;
                out++;
            }
        }
        if (!e)
            e = sf_batch_event_end(o);
    }
    if (e) {
        sf_batch_reset(o);
        return e;
    }
    o->last_ts = b->last_ts;
    o->unfolded = b;
    *send = o;
    if (st) {
        st->events += (int64_t)b->nevents;
        st->cmds_in += (int64_t)b->ncmds;
        st->cmds_out += out;
    }
    return SF_OK;
}
