/*
 * plan.c - compiles Avro schema resolution (spec, "Schema Resolution") of a
 * writer schema against a reader schema into a graph of ops run by decode.c.
 *
 * Every incompatibility becomes an OP_FAIL op and is reported: the
 * compatibility check is this compiler with a reporter, and the decoder only
 * fails when data actually reaches an OP_FAIL (e.g. a writer union branch the
 * reader cannot take, which the spec allows as long as it is not used).
 * Pairs are memoised, which both shares work and ends recursion on recursive
 * named types.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cctx {
    sf_plan_t *p;
    sf_plan_report_fn rep;
    void *opaque;
    size_t problems;
    int oom;
} cctx_t;

static op_t *op_new(cctx_t *c, op_kind_t kind, const sf_node_t *w,
                    const sf_node_t *r) {
    sf_plan_t *p = c->p;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 16;
        op_t **no = realloc(p->ops, nc * sizeof *no);
        if (!no) {
            c->oom = 1;
            return NULL;
        }
        p->ops = no;
        p->cap = nc;
    }
    op_t *op = calloc(1, sizeof *op);
    if (!op) {
        c->oom = 1;
        return NULL;
    }
    op->kind = kind;
    op->w = w;
    op->r = r;
    p->ops[p->n++] = op;
    return op;
}

static void memo_add(cctx_t *c, const sf_node_t *w, const sf_node_t *r,
                     op_t *op) {
    sf_plan_t *p = c->p;
    if (p->nmemo == p->capmemo) {
        size_t nc = p->capmemo ? p->capmemo * 2 : 16;
        struct plan_memo *nm = realloc(p->memo, nc * sizeof *nm);
        if (!nm) {
            c->oom = 1;
            return;
        }
        p->memo = nm;
        p->capmemo = nc;
    }
    p->memo[p->nmemo].w = w;
    p->memo[p->nmemo].r = r;
    p->memo[p->nmemo].op = op;
    p->nmemo++;
}

static op_t *memo_get(const sf_plan_t *p, const sf_node_t *w,
                      const sf_node_t *r) {
    for (size_t i = 0; i < p->nmemo; i++)
        if (p->memo[i].w == w && p->memo[i].r == r)
            return p->memo[i].op;
    return NULL;
}

const op_t *sf_plan_find(const sf_plan_t *p, const sf_node_t *n) {
    return memo_get(p, n, n);
}

__attribute__((format(printf, 5, 6))) static op_t *
fail(cctx_t *c, const sf_node_t *w, const sf_node_t *r, const char *path,
     const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->problems++;
    if (c->rep)
        c->rep(c->opaque, path, msg);
    op_t *op = op_new(c, OP_FAIL, w, r);
    if (op && !(op->fail = strdup(msg)))
        c->oom = 1;
    return op;
}

static int is_named(const sf_node_t *n) {
    return n->type == T_RECORD || n->type == T_ENUM || n->type == T_FIXED;
}

/* Reader named type r accepts writer's name: same unqualified name, or an
 * alias of r naming the writer. */
static int names_match(const sf_node_t *w, const sf_node_t *r) {
    if (strcmp(w->name, r->name) == 0)
        return 1;
    for (size_t i = 0; i < r->naliases; i++) {
        const char *a = r->aliases[i];
        const char *dot = strrchr(a, '.');
        if (strcmp(a, w->fullname) == 0 ||
            strcmp(dot ? dot + 1 : a, w->name) == 0)
            return 1;
    }
    return 0;
}

static op_kind_t promotion(sf_type_t w, sf_type_t r) {
    if (w == T_INT && r == T_LONG)
        return OP_INT_LONG;
    if (w == T_INT && r == T_FLOAT)
        return OP_INT_FLOAT;
    if (w == T_INT && r == T_DOUBLE)
        return OP_INT_DOUBLE;
    if (w == T_LONG && r == T_FLOAT)
        return OP_LONG_FLOAT;
    if (w == T_LONG && r == T_DOUBLE)
        return OP_LONG_DOUBLE;
    if (w == T_FLOAT && r == T_DOUBLE)
        return OP_FLOAT_DOUBLE;
    if (w == T_STRING && r == T_BYTES)
        return OP_STRING_BYTES;
    if (w == T_BYTES && r == T_STRING)
        return OP_BYTES_STRING;
    return OP_FAIL;
}

/* The reader branch for writer type w (spec, "Schema Resolution": if
 * the reader's is a union, "the first schema in the reader's union that
 * matches the selected writer's union schema is recursively resolved").
 * Like Java's Resolver, a named writer type first looks for a branch with
 * its exact full name -- two records called Address in different
 * namespaces are different types -- and only then for the first branch
 * whose unqualified name or alias matches; unnamed types take the first
 * branch of the same type; last comes the first branch w can be promoted
 * to.  -1 when none. */
static int match_branch(const sf_node_t *ru, const sf_node_t *w) {
    if (is_named(w))
        for (size_t i = 0; i < ru->nbranches; i++) {
            const sf_node_t *b = ru->branches[i];
            if (b->type == w->type && strcmp(b->fullname, w->fullname) == 0)
                return (int)i;
        }
    for (size_t i = 0; i < ru->nbranches; i++) {
        const sf_node_t *b = ru->branches[i];
        if (b->type == w->type && (!is_named(w) || names_match(w, b)))
            return (int)i;
    }
    for (size_t i = 0; i < ru->nbranches; i++)
        if (promotion(w->type, ru->branches[i]->type) != OP_FAIL)
            return (int)i;
    return -1;
}

/* path + "." + add into out[size].  A path deeper than out holds gives
 * way in its middle, marked "...": the root (which field of the event) and
 * the leaf (where it failed) stay, as in sf_err_path(). */
static void sub_path(char *out, size_t size, const char *path,
                     const char *add) {
    static const char dots[] = "...";
    const char *sep = (*path && add[0] != '[') ? "." : "";
    size_t pl = strlen(path), sl = strlen(sep), al = strlen(add);
    size_t total = pl + sl + al;
    /* the whole path, then (if it does not fit) its middle given up */
    char *whole = malloc(total + 1);
    if (!whole) { /* out of memory: the leaf alone still says where */
        size_t n = al < size - sizeof dots ? al : size - sizeof dots;
        memcpy(out, dots, sizeof dots - 1);
        memcpy(out + sizeof dots - 1, add + al - n, n);
        out[sizeof dots - 1 + n] = '\0';
        return;
    }
    memcpy(whole, path, pl);
    memcpy(whole + pl, sep, sl);
    memcpy(whole + pl + sl, add, al + 1);
    if (total < size) {
        memcpy(out, whole, total + 1);
    } else { /* keep a front and a back, about 1:2 */
        size_t keep = size - sizeof dots, front = keep / 3, back = keep - front;
        memcpy(out, whole, front);
        memcpy(out + front, dots, sizeof dots - 1);
        memcpy(out + front + sizeof dots - 1, whole + total - back, back);
        out[size - 1] = '\0';
    }
    free(whole);
}

static op_t *compile(cctx_t *c, const sf_node_t *w, const sf_node_t *r,
                     const char *path);

static int has_alias(const sf_field_t *f, const char *name) {
    for (size_t a = 0; a < f->naliases; a++)
        if (strcmp(f->aliases[a], name) == 0)
            return 1;
    return 0;
}

/* The name writer field wf has once the writer's schema is rewritten with
 * the reader's aliases: the reader field listing wf's name as an alias,
 * else wf's own name.  NULL (and *why) when two reader fields list it. */
static const char *renamed(const sf_node_t *r, const sf_field_t *wf, char *why,
                           size_t why_size) {
    const char *to = NULL;
    for (size_t k = 0; k < r->nfields; k++) {
        const sf_field_t *rf = &r->fields[k];
        if (!has_alias(rf, wf->name))
            continue;
        if (to) {
            snprintf(why, why_size,
                     "writer field \"%s\" is an alias of "
                     "two reader fields, \"%s\" and \"%s\"",
                     wf->name, to, rf->name);
            return NULL;
        }
        to = rf->name;
    }
    return to ? to : wf->name;
}

/* The reader field writer field wf resolves to, or -1 (skipped, or
 * refused when *why is set).
 *
 * The spec: aliases "function by re-writing the writer's schema using
 * aliases from the reader's schema"; Java's reader does exactly that
 * (Schema.applyAliases: every writer field whose name a reader field
 * lists as an alias takes that reader field's name, in one step, whether
 * or not the reader also has a field of the old name).  The rewritten
 * writer is then matched by exact names.  So
 *   - reader {current aliases [legacy], legacy}, writer {legacy}: the
 *     writer's legacy is read as current; the reader's legacy takes its
 *     default;
 *   - chains rename once: reader {current aliases [legacy], legacy
 *     aliases [old]}, writer {legacy, old}: current <- legacy,
 *     legacy <- old;
 *   - when the rewritten writer has two fields of one name (the writer has
 *     both a reader field's name and its alias, or two of its aliases) or
 *     two reader fields list one alias, Java fails (duplicate field) or
 *     picks by map order: we refuse the pair, naming the fields, instead
 *     of letting field order pick a value (apache/parquet-java#3792). */
static int field_for(const sf_node_t *w, const sf_node_t *r,
                     const sf_field_t *wf, char *why, size_t why_size) {
    const char *name = renamed(r, wf, why, why_size);
    if (!name)
        return -1;
    for (size_t i = 0; i < w->nfields; i++) {
        const sf_field_t *o = &w->fields[i];
        char owhy[8];
        /* reported once, at the later of the two writer fields (every
         * decode of such data fails there) */
        const char *on = o >= wf ? NULL : renamed(r, o, owhy, sizeof owhy);
        if (!on || strcmp(on, name) != 0)
            continue;
        snprintf(why, why_size,
                 "writer fields \"%s\" and \"%s\" both "
                 "become \"%s\" when the reader's aliases rename writer "
                 "fields (Avro spec, Aliases): ambiguous",
                 o->name, wf->name, name);
        return -1;
    }
    for (size_t k = 0; k < r->nfields; k++)
        if (strcmp(r->fields[k].name, name) == 0)
            return (int)k;
    return -1;
}

static op_t *compile_record(cctx_t *c, const sf_node_t *w, const sf_node_t *r,
                            const char *path) {
    char sub[512];
    op_t *op = op_new(c, OP_RECORD, w, r);
    if (!op)
        return NULL;
    memo_add(c, w, r, op);
    op->steps = calloc(w->nfields ? w->nfields : 1, sizeof *op->steps);
    op->fills = calloc(r->nfields ? r->nfields : 1, sizeof *op->fills);
    char *used = calloc(r->nfields ? r->nfields : 1, 1);
    if (!op->steps || !op->fills || !used) {
        free(used);
        c->oom = 1;
        return NULL;
    }
    for (size_t i = 0; i < w->nfields; i++) {
        const sf_field_t *wf = &w->fields[i];
        char why[300] = "";
        int ri = field_for(w, r, wf, why, sizeof why);
        rec_step_t *s = &op->steps[op->nsteps++];
        s->rindex = ri;
        s->wnode = wf->type;
        s->name = wf->name;
        if (ri < 0 && why[0]) {
            /* Refused pair: data of this writer always carries the field,
             * so every decode fails with the reason, and check reports it. */
            sub_path(sub, sizeof sub, path, wf->name);
            s->op = fail(c, wf->type, NULL, sub, "%s", why);
            if (!s->op) {
                free(used);
                return NULL;
            }
            continue;
        }
        if (ri >= 0) {
            used[ri] = 1;
            sub_path(sub, sizeof sub, path, r->fields[ri].name);
            s->op = compile(c, wf->type, r->fields[ri].type, sub);
            if (!s->op) {
                free(used);
                return NULL;
            }
        }
    }
    for (size_t k = 0; k < r->nfields; k++) {
        const sf_field_t *rf = &r->fields[k];
        if (used[k])
            continue;
        rec_fill_t *f = &op->fills[op->nfills++];
        f->rindex = (int)k;
        f->field = rf;
        sub_path(sub, sizeof sub, path, rf->name);
        if (rf->def_bin)
            f->op = compile(c, rf->type, rf->type, sub);
        else
            f->op = fail(c, NULL, rf->type, sub,
                         "reader field \"%s\" is missing in the writer's %s "
                         "and has no default",
                         rf->name, w->fullname);
        if (!f->op) {
            free(used);
            return NULL;
        }
    }
    free(used);
    return op;
}

static op_t *compile(cctx_t *c, const sf_node_t *w, const sf_node_t *r,
                     const char *path) {
    char sub[512];
    op_t *op = memo_get(c->p, w, r);
    if (op || c->oom)
        return op;

    if (w->type == T_UNION) {
        op = op_new(c, OP_WUNION, w, r);
        if (!op)
            return NULL;
        memo_add(c, w, r, op);
        op->nb = w->nbranches;
        op->bops = calloc(op->nb ? op->nb : 1, sizeof *op->bops);
        op->brindex = calloc(op->nb ? op->nb : 1, sizeof *op->brindex);
        if (!op->bops || !op->brindex) {
            c->oom = 1;
            return NULL;
        }
        for (size_t i = 0; i < w->nbranches; i++) {
            const sf_node_t *wb = w->branches[i];
            op->brindex[i] = -1;
            if (r->type == T_UNION) {
                int k = match_branch(r, wb);
                if (k < 0) {
                    op->bops[i] = fail(c, wb, r, path,
                                       "writer union branch %s matches no "
                                       "branch of the reader's union",
                                       sf_node_branch_name(wb));
                } else {
                    op->brindex[i] = k;
                    op->bops[i] = compile(c, wb, r->branches[k], path);
                }
            } else {
                op->bops[i] = compile(c, wb, r, path);
            }
            if (!op->bops[i])
                return NULL;
        }
        return op;
    }
    if (r->type == T_UNION) {
        int k = match_branch(r, w);
        if (k < 0)
            return fail(c, w, r, path,
                        "writer type %s matches no branch of "
                        "the reader's union",
                        sf_node_branch_name(w));
        op = op_new(c, OP_RUNION, w, r);
        if (!op)
            return NULL;
        memo_add(c, w, r, op);
        op->rbranch = k;
        op->inner = compile(c, w, r->branches[k], path);
        return op->inner ? op : NULL;
    }
    if (w->type != r->type) {
        op_kind_t k = promotion(w->type, r->type);
        if (k == OP_FAIL)
            return fail(c, w, r, path, "writer type %s cannot be read as %s",
                        sf_node_branch_name(w), sf_node_branch_name(r));
        op = op_new(c, k, w, r);
        if (op)
            memo_add(c, w, r, op);
        return op;
    }
    if (is_named(w) && !names_match(w, r))
        return fail(c, w, r, path,
                    "writer type %s cannot be read as %s "
                    "(names differ)",
                    w->fullname, r->fullname);
    switch (w->type) {
    case T_NULL: op = op_new(c, OP_NULL, w, r); break;
    case T_BOOLEAN: op = op_new(c, OP_BOOLEAN, w, r); break;
    case T_INT: op = op_new(c, OP_INT, w, r); break;
    case T_LONG: op = op_new(c, OP_LONG, w, r); break;
    case T_FLOAT: op = op_new(c, OP_FLOAT, w, r); break;
    case T_DOUBLE: op = op_new(c, OP_DOUBLE, w, r); break;
    case T_BYTES: op = op_new(c, OP_BYTES, w, r); break;
    case T_STRING: op = op_new(c, OP_STRING, w, r); break;
    case T_FIXED:
        if (w->size != r->size)
            return fail(c, w, r, path,
                        "fixed %s has size %zu in the writer, "
                        "%zu in the reader",
                        r->fullname, w->size, r->size);
        op = op_new(c, OP_FIXED, w, r);
        break;
    case T_ENUM:
        op = op_new(c, OP_ENUM, w, r);
        if (!op)
            return NULL;
        op->enum_n = w->nsymbols;
        op->enum_map = calloc(w->nsymbols ? w->nsymbols : 1, sizeof(int));
        if (!op->enum_map) {
            c->oom = 1;
            return NULL;
        }
        for (size_t i = 0; i < w->nsymbols; i++) {
            op->enum_map[i] = r->enum_default;
            for (size_t k = 0; k < r->nsymbols; k++)
                if (strcmp(w->symbols[i], r->symbols[k]) == 0)
                    op->enum_map[i] = (int)k;
            if (op->enum_map[i] < 0) {
                /* Reported, but only data with this symbol fails. */
                c->problems++;
                if (c->rep) {
                    char msg[300];
                    snprintf(msg, sizeof msg,
                             "writer symbol %s of enum %s is "
                             "not in the reader's enum, which has no default",
                             w->symbols[i], r->fullname);
                    c->rep(c->opaque, path, msg);
                }
            }
        }
        break;
    case T_ARRAY:
    case T_MAP:
        op = op_new(c, w->type == T_ARRAY ? OP_ARRAY : OP_MAP, w, r);
        if (!op)
            return NULL;
        memo_add(c, w, r, op);
        sub_path(sub, sizeof sub, path, w->type == T_ARRAY ? "[]" : "{}");
        op->item = compile(c, w->items, r->items, sub);
        return op->item ? op : NULL;
    case T_RECORD: return compile_record(c, w, r, path);
    case T_UNION: break; /* handled above */
    }
    if (op)
        memo_add(c, w, r, op);
    return op;
}

void sf_plan_free(sf_plan_t *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        op_t *op = p->ops[i];
        free(op->enum_map);
        free(op->steps);
        free(op->fills);
        free(op->bops);
        free(op->brindex);
        free(op->fail);
        free(op);
    }
    free(p->ops);
    free(p->memo);
    free(p);
}

sf_plan_t *sf_plan_compile(const sf_node_t *w, const sf_node_t *r,
                           sf_plan_report_fn rep, void *opaque,
                           size_t *problems) {
    cctx_t c = {0};
    c.p = calloc(1, sizeof *c.p);
    if (!c.p)
        return NULL;
    c.rep = rep;
    c.opaque = opaque;
    c.p->root = compile(&c, w, r, "");
    if (c.oom || !c.p->root) {
        sf_plan_free(c.p);
        return NULL;
    }
    if (problems)
        *problems = c.problems;
    return c.p;
}
