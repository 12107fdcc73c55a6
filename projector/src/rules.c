/* rules.c - parse and apply declarative projection rules (see rules.h). */
#include "rules.h"

#include "cmdspec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "keys.h"
#include "sf_schema.h"

/* Where a scalar's text starts in its file (1-based), for errors found
 * after parsing (checks against the schema catalog). */
typedef struct pos {
    size_t line, col;
} pos_t;

typedef struct cond {
    sf_path_t *path;
    char *value; /* NULL: compares against Avro null */
    size_t vlen; /* bytes of value (a YAML "\0" escape is kept) */
    pos_t at;
} cond_t;

typedef struct rcmd {
    size_t nargs;
    sf_tmpl_t **args;
    unsigned char *is_key; /* per argument: a key position of the command */
    pos_t *argpos;         /* per argument: where its text starts */
    cond_t *when, *unless;
    size_t nwhen, nunless;
    char where[128]; /* "file:line:col" of the command, for errors */
} rcmd_t;

typedef struct revent {
    char *type;
    pos_t at;
    rcmd_t *cmds;
    size_t ncmds;
} revent_t;

struct sf_rules {
    char *file; /* for errors after parsing */
    char **keys;
    size_t nkeys;
    revent_t *ev;
    size_t nev;
};

static void conds_free(cond_t *c, size_t n) {
    for (size_t i = 0; i < n; i++) {
        sf_path_destroy(c[i].path);
        free(c[i].value);
    }
    free(c);
}

void sf_rules_destroy(sf_rules_t *r) {
    if (!r)
        return;
    for (size_t i = 0; i < r->nkeys; i++)
        free(r->keys[i]);
    free(r->keys);
    for (size_t i = 0; i < r->nev; i++) {
        revent_t *e = &r->ev[i];
        for (size_t j = 0; j < e->ncmds; j++) {
            rcmd_t *c = &e->cmds[j];
            for (size_t k = 0; k < c->nargs; k++)
                sf_tmpl_destroy(c->args[k]);
            free(c->args);
            free(c->is_key);
            free(c->argpos);
            conds_free(c->when, c->nwhen);
            conds_free(c->unless, c->nunless);
        }
        free(e->cmds);
        free(e->type);
    }
    free(r->ev);
    free(r->file);
    free(r);
}

/* Column of byte errcol inside scalar node n (quoted scalars start one
 * column after their quote). */
static sf_err_t tmpl_err(sf_yaml_t *y, yaml_node_t *n, size_t errcol,
                         const char *msg, char *errstr, size_t errstr_size) {
    yaml_node_t at = *n;
    int quoted = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                 n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    at.start_mark.column += errcol + (quoted ? 1 : 0);
    return sf_yaml_err(y, &at, errstr, errstr_size, SF_ERR_PARSE, "%s", msg);
}

static pos_t scalar_pos(const yaml_node_t *n) {
    int quoted = n->data.scalar.style == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
                 n->data.scalar.style == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    pos_t p = {n->start_mark.line + 1,
               n->start_mark.column + 1 + (quoted ? 1 : 0)};
    return p;
}

static sf_err_t parse_conds(sf_yaml_t *y, yaml_node_t *n, cond_t **out,
                            size_t *nout, char *errstr, size_t errstr_size) {
    if (n->type != YAML_MAPPING_NODE)
        return sf_yaml_err(y, n, errstr, errstr_size, SF_ERR_PARSE,
                           "expected a mapping {path: value}");
    size_t cnt =
        (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    cond_t *c = calloc(cnt ? cnt : 1, sizeof(*c));
    if (!c)
        return SF_ERR_NOMEM;
    *out = c;
    *nout = 0;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = sf_yaml_node(y, p->key),
                    *v = sf_yaml_node(y, p->value);
        const char *ks = sf_yaml_scalar(k), *vs = sf_yaml_scalar(v);
        if (!ks)
            return sf_yaml_err(y, k, errstr, errstr_size, SF_ERR_PARSE,
                               "condition key must be a path");
        if (!vs)
            return sf_yaml_err(y, v, errstr, errstr_size, SF_ERR_PARSE,
                               "condition value must be a scalar or null");
        size_t col = 0;
        char msg[256];
        if (sf_path_compile(ks, &c[*nout].path, &col, msg, sizeof(msg)))
            return tmpl_err(y, k, col, msg, errstr, errstr_size);
        c[*nout].at = scalar_pos(k);
        if (!sf_yaml_is_null(v)) {
            size_t vl = v->data.scalar.length;
            if (!(c[*nout].value = malloc(vl + 1))) {
                sf_path_destroy(c[*nout].path);
                return SF_ERR_NOMEM;
            }
            memcpy(c[*nout].value, vs, vl);
            c[*nout].value[vl] = '\0';
            c[*nout].vlen = vl;
        }
        (*nout)++;
    }
    return SF_OK;
}

static sf_err_t parse_cmd(sf_yaml_t *y, yaml_node_t *n, rcmd_t *c, char *errstr,
                          size_t errstr_size) {
    yaml_node_t *seq = n;
    snprintf(c->where, sizeof(c->where), "%s:%zu:%zu", y->file,
             n->start_mark.line + 1, n->start_mark.column + 1);
    if (n->type == YAML_MAPPING_NODE) {
        seq = NULL;
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
             p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = sf_yaml_node(y, p->key);
            yaml_node_t *v = sf_yaml_node(y, p->value);
            const char *ks = sf_yaml_scalar(k);
            sf_err_t e = SF_OK;
            if (ks && !strcmp(ks, "cmd"))
                seq = v;
            else if (ks && !strcmp(ks, "when"))
                e = parse_conds(y, v, &c->when, &c->nwhen, errstr, errstr_size);
            else if (ks && !strcmp(ks, "unless"))
                e = parse_conds(y, v, &c->unless, &c->nunless, errstr,
                                errstr_size);
            else
                return sf_yaml_err(y, k, errstr, errstr_size, SF_ERR_PARSE,
                                   "unknown key \"%s\" in a command "
                                   "(known: cmd, when, unless)",
                                   ks ? ks : "?");
            if (e)
                return e;
        }
        if (!seq)
            return sf_yaml_err(y, n, errstr, errstr_size, SF_ERR_PARSE,
                               "command mapping without \"cmd\"");
    }
    if (seq->type != YAML_SEQUENCE_NODE)
        return sf_yaml_err(y, seq, errstr, errstr_size, SF_ERR_PARSE,
                           "expected a command as a list [NAME, arg, ...]");
    size_t cnt =
        (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    if (cnt == 0)
        return sf_yaml_err(y, seq, errstr, errstr_size, SF_ERR_PARSE,
                           "empty command");
    if (!(c->args = calloc(cnt, sizeof(*c->args))) ||
        !(c->is_key = calloc(cnt, 1)) ||
        !(c->argpos = calloc(cnt, sizeof(*c->argpos))))
        return SF_ERR_NOMEM;
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *a = sf_yaml_node(y, seq->data.sequence.items.start[i]);
        const char *s = sf_yaml_scalar(a);
        if (!s)
            return sf_yaml_err(y, a, errstr, errstr_size, SF_ERR_PARSE,
                               "command arguments must be scalars");
        sf_cmd_keyspec_t spec;
        if (i == 0 && !sf_cmd_keys(s, strlen(s), &spec))
            return sf_yaml_err(y, a, errstr, errstr_size, SF_ERR_PARSE,
                               "command \"%s\" is not an allowed write "
                               "command",
                               s);
        if (i == 0) {
            if (cnt < 2)
                return sf_yaml_err(y, a, errstr, errstr_size, SF_ERR_PARSE,
                                   "command \"%s\" needs a key", s);
            for (size_t k = 1; k < cnt; k++)
                c->is_key[k] = (unsigned char)sf_cmd_is_key(&spec, cnt, k);
        }
        size_t col = 0;
        char msg[256];
        if (sf_tmpl_compile(s, &c->args[i], &col, msg, sizeof(msg)))
            return tmpl_err(y, a, col, msg, errstr, errstr_size);
        c->argpos[i] = scalar_pos(a);
        c->nargs++;
    }
    /* arity is known when the rules load: say so here, not per event */
    const char *name0 =
        sf_yaml_scalar(sf_yaml_node(y, seq->data.sequence.items.start[0]));
    const sf_cmd_spec_t *spec = sf_cmdspec_find(name0, strlen(name0));
    if (spec && ((spec->arity > 0 && cnt != (size_t)spec->arity) ||
                 (spec->arity < 0 && cnt < (size_t)-spec->arity)))
        return sf_yaml_err(y, seq, errstr, errstr_size, SF_ERR_PARSE,
                           "%s takes %s%d arguments with its name, got %zu",
                           spec->name, spec->arity < 0 ? "at least " : "",
                           spec->arity < 0 ? -spec->arity : spec->arity, cnt);
    if (spec && spec->pairs_from && (cnt - (size_t)spec->pairs_from) % 2)
        return sf_yaml_err(y, seq, errstr, errstr_size, SF_ERR_PARSE,
                           "%s takes pairs of arguments after its %s, got an "
                           "odd number",
                           spec->name, spec->pairs_from == 1 ? "name" : "key");
    return SF_OK;
}

/* The keys: list v into r (which has none yet).  Shared by a rules file
 * and a projection's own keys: (config.c). */
static sf_err_t parse_keys(sf_yaml_t *y, yaml_node_t *v, sf_rules_t *r,
                           char *errstr, size_t errstr_size) {
    if (v->type != YAML_SEQUENCE_NODE)
        return sf_yaml_err(y, v, errstr, errstr_size, SF_ERR_PARSE,
                           "keys must be a list of key patterns");
    if (r->keys)
        return sf_yaml_err(y, v, errstr, errstr_size, SF_ERR_PARSE,
                           "keys declared twice (in the projection and in "
                           "its rules): keep one list");
    size_t cnt =
        (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (!(r->keys = calloc(cnt ? cnt : 1, sizeof(char *))))
        return SF_ERR_NOMEM;
    for (size_t i = 0; i < cnt; i++) {
        yaml_node_t *a = sf_yaml_node(y, v->data.sequence.items.start[i]);
        const char *s = sf_yaml_scalar(a);
        if (!s || !*s)
            return sf_yaml_err(y, a, errstr, errstr_size, SF_ERR_PARSE,
                               "a key pattern must be a non-empty string");
        char why[512];
        sf_glob_t *g = NULL;
        size_t col = 0;
        if (sf_glob_compile(s, strlen(s), &g, &col, why, sizeof(why)) ||
            sf_keys_check_portable(s, strlen(s), &col, why, sizeof(why))) {
            sf_glob_destroy(g);
            return tmpl_err(y, a, col, why, errstr, errstr_size);
        }
        sf_glob_destroy(g);
        if (!strncmp(s, SF_REDIS_PREFIX, strlen(SF_REDIS_PREFIX)) ||
            !strcmp(s, "*"))
            return sf_yaml_err(y, a, errstr, errstr_size, SF_ERR_PARSE,
                               "key pattern \"%s\" would cover projector "
                               "bookkeeping (sf:*) or everything",
                               s);
        /* Any other pattern that can reach the reserved prefix, and
         * overlaps with other projections' patterns, are checked when a
         * projection is loaded to run or rebuild (preflight.c): one bad
         * projection must not keep the others of its config from
         * running. */
        if (!(r->keys[r->nkeys++] = strdup(s)))
            return SF_ERR_NOMEM;
    }
    return SF_OK;
}

sf_err_t sf_rules_add_keys(sf_yaml_t *y, yaml_node_t *n, sf_rules_t **r,
                           char *errstr, size_t errstr_size) {
    int fresh = !*r;
    if (fresh) {
        if (!(*r = calloc(1, sizeof(**r))))
            return SF_ERR_NOMEM;
        if (!((*r)->file = strdup(y->file ? y->file : "config"))) {
            free(*r);
            *r = NULL;
            return SF_ERR_NOMEM;
        }
    }
    sf_err_t e = parse_keys(y, n, *r, errstr, errstr_size);
    if (e && fresh) {
        sf_rules_destroy(*r);
        *r = NULL;
    }
    return e;
}

sf_err_t sf_rules_from_node(sf_yaml_t *y, yaml_node_t *root, sf_rules_t **out,
                            char *errstr, size_t errstr_size) {
    if (root->type != YAML_MAPPING_NODE)
        return sf_yaml_err(y, root, errstr, errstr_size, SF_ERR_PARSE,
                           "rules must be a mapping with \"keys\" and \"on\"");
    sf_rules_t *r = calloc(1, sizeof(*r));
    if (!r)
        return SF_ERR_NOMEM;
    sf_err_t e = SF_OK;
    int have_on = 0;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
         p < root->data.mapping.pairs.top; p++) {
        yaml_node_t *k = sf_yaml_node(y, p->key),
                    *v = sf_yaml_node(y, p->value);
        const char *ks = sf_yaml_scalar(k);
        if (ks && !strcmp(ks, "keys")) {
            if ((e = parse_keys(y, v, r, errstr, errstr_size)))
                goto err;
        } else if (ks && !strcmp(ks, "on")) {
            have_on = 1;
            if (v->type != YAML_MAPPING_NODE) {
                e = sf_yaml_err(y, v, errstr, errstr_size, SF_ERR_PARSE,
                                "on must map event types to command lists");
                goto err;
            }
            size_t cnt = (size_t)(v->data.mapping.pairs.top -
                                  v->data.mapping.pairs.start);
            if (!(r->ev = calloc(cnt ? cnt : 1, sizeof(*r->ev)))) {
                e = SF_ERR_NOMEM;
                goto err;
            }
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start;
                 q < v->data.mapping.pairs.top; q++) {
                yaml_node_t *tk = sf_yaml_node(y, q->key);
                yaml_node_t *tv = sf_yaml_node(y, q->value);
                const char *type = sf_yaml_scalar(tk);
                if (!type || !*type) {
                    e = sf_yaml_err(y, tk, errstr, errstr_size, SF_ERR_PARSE,
                                    "event type must be an Avro full name");
                    goto err;
                }
                if (sf_rules_has(r, type)) {
                    e = sf_yaml_err(y, tk, errstr, errstr_size, SF_ERR_PARSE,
                                    "duplicate event type \"%s\"", type);
                    goto err;
                }
                if (tv->type != YAML_SEQUENCE_NODE) {
                    e = sf_yaml_err(y, tv, errstr, errstr_size, SF_ERR_PARSE,
                                    "expected a list of commands for %s", type);
                    goto err;
                }
                revent_t *re = &r->ev[r->nev++];
                re->at = scalar_pos(tk);
                if (!(re->type = strdup(type))) {
                    e = SF_ERR_NOMEM;
                    goto err;
                }
                size_t nc = (size_t)(tv->data.sequence.items.top -
                                     tv->data.sequence.items.start);
                if (!(re->cmds = calloc(nc ? nc : 1, sizeof(*re->cmds)))) {
                    e = SF_ERR_NOMEM;
                    goto err;
                }
                for (size_t i = 0; i < nc; i++) {
                    yaml_node_t *cn =
                        sf_yaml_node(y, tv->data.sequence.items.start[i]);
                    re->ncmds++;
                    if ((e = parse_cmd(y, cn, &re->cmds[i], errstr,
                                       errstr_size)))
                        goto err;
                }
            }
        } else if (ks && !strcmp(ks, "description")) {
            /* free text */
        } else {
            e = sf_yaml_err(y, k, errstr, errstr_size, SF_ERR_PARSE,
                            "unknown key \"%s\" (known: keys, on, "
                            "description)",
                            ks ? ks : "?");
            goto err;
        }
    }
    if (!have_on) {
        e = sf_yaml_err(y, root, errstr, errstr_size, SF_ERR_PARSE,
                        "rules need an \"on\" mapping");
        goto err;
    }
    if (!(r->file = strdup(y->file ? y->file : "rules"))) {
        e = SF_ERR_NOMEM;
        goto err;
    }
    *out = r;
    return SF_OK;
err:
    sf_rules_destroy(r);
    return e;
}

sf_err_t sf_rules_load_file(const char *path, sf_rules_t **out, char *errstr,
                            size_t errstr_size) {
    sf_yaml_t y;
    sf_err_t e = sf_yaml_load_file(&y, path, errstr, errstr_size);
    if (!e)
        e = sf_rules_from_node(&y, sf_yaml_root(&y), out, errstr, errstr_size);
    sf_yaml_free(&y);
    return e;
}

size_t sf_rules_nkeys(const sf_rules_t *r) {
    return r ? r->nkeys : 0;
}
const char *sf_rules_key(const sf_rules_t *r, size_t i) {
    return r->keys[i];
}
size_t sf_rules_ntypes(const sf_rules_t *r) {
    return r ? r->nev : 0;
}
const char *sf_rules_type(const sf_rules_t *r, size_t i) {
    return r->ev[i].type;
}

static const revent_t *find(const sf_rules_t *r, const char *type) {
    if (!r)
        return NULL;
    for (size_t i = 0; i < r->nev; i++)
        if (!strcmp(r->ev[i].type, type))
            return &r->ev[i];
    return NULL;
}

int sf_rules_has(const sf_rules_t *r, const char *type) {
    return find(r, type) != NULL;
}

/* 1 when every condition holds (want=1) / none holds (want=0). */
static sf_err_t conds_eval(const cond_t *c, size_t n, const sf_event_t *ev,
                           sf_buf_t *scratch, int all, int *result,
                           char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < n; i++) {
        int is_null;
        sf_buf_reset(scratch);
        sf_err_t e = sf_path_render(c[i].path, ev, scratch, &is_null, errstr,
                                    errstr_size);
        if (e)
            return e;
        /* by length: a NUL inside event data must not end the value */
        int eq =
            c[i].value
                ? (!is_null && scratch->len == c[i].vlen &&
                   (!c[i].vlen || !memcmp(scratch->p, c[i].value, c[i].vlen)))
                : is_null;
        if (all && !eq) {
            *result = 0;
            return SF_OK;
        }
        if (!all && eq) {
            *result = 0;
            return SF_OK;
        }
    }
    *result = 1;
    return SF_OK;
}

sf_err_t sf_rules_apply(const sf_rules_t *r, const sf_event_t *ev,
                        sf_batch_t *b, sf_buf_t *scratch, char *errstr,
                        size_t errstr_size) {
    const revent_t *re = find(r, ev->type);
    if (!re)
        return SF_OK;
    char msg[256];
    for (size_t i = 0; i < re->ncmds; i++) {
        const rcmd_t *c = &re->cmds[i];
        int ok = 1;
        sf_err_t e = conds_eval(c->when, c->nwhen, ev, scratch, 1, &ok, msg,
                                sizeof(msg));
        if (!e && ok)
            e = conds_eval(c->unless, c->nunless, ev, scratch, 0, &ok, msg,
                           sizeof(msg));
        if (e)
            return sf_seterr(errstr, errstr_size, e, "%s: %s", c->where, msg);
        if (!ok)
            continue;
        if ((e = sf_batch_cmd_begin(b, c->nargs)))
            return sf_seterr(errstr, errstr_size, e, "%s: %s", c->where,
                             sf_err2str(e));
        for (size_t k = 0; k < c->nargs; k++) {
            const char *lit;
            size_t len;
            if (sf_tmpl_is_literal(c->args[k], &lit, &len)) {
                e = sf_batch_arg(b, lit, len);
            } else {
                sf_buf_reset(scratch);
                /* ids in key positions are escaped, never empty */
                e = c->is_key[k] ? sf_tmpl_render_key(c->args[k], ev, scratch,
                                                      msg, sizeof(msg))
                                 : sf_tmpl_render(c->args[k], ev, scratch, msg,
                                                  sizeof(msg));
                if (e)
                    return sf_seterr(errstr, errstr_size, e, "%s: %s", c->where,
                                     msg);
                e = sf_batch_arg(b, scratch->p ? scratch->p : "", scratch->len);
            }
            if (e)
                return sf_seterr(errstr, errstr_size, e, "%s: %s", c->where,
                                 sf_err2str(e));
        }
        /* arity and size per the command table, then every key against
         * the projection's keys: and sf: */
        if ((e = sf_batch_cmd_check(b, msg, sizeof(msg))))
            return sf_seterr(errstr, errstr_size, e, "%s: %s", c->where, msg);
    }
    return SF_OK;
}

/* ---- checks against the schema catalog ---- */

static sf_err_t conds_check(const sf_rules_t *r, const cond_t *c, size_t n,
                            avro_schema_t sch, char *errstr,
                            size_t errstr_size) {
    char msg[300];
    for (size_t i = 0; i < n; i++)
        if (sf_path_check(c[i].path, sch, msg, sizeof(msg)))
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "%s:%zu:%zu: %s", r->file, c[i].at.line,
                             c[i].at.col, msg);
    return SF_OK;
}

sf_err_t sf_rules_check_catalog(const sf_rules_t *r, const sf_catalog_t *cat,
                                char *errstr, size_t errstr_size) {
    if (!r)
        return SF_OK;
    char msg[300];
    for (size_t i = 0; i < r->nev; i++) {
        const revent_t *re = &r->ev[i];
        const sf_schema_t *sch = sf_catalog_latest(cat, re->type);
        if (!sch)
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "%s:%zu:%zu: unknown event type \"%s\": the "
                             "schema catalog has no such Avro full name",
                             r->file, re->at.line, re->at.col, re->type);
        avro_schema_t as = sf_schema_avro(sch);
        for (size_t j = 0; j < re->ncmds; j++) {
            const rcmd_t *c = &re->cmds[j];
            sf_err_t e =
                conds_check(r, c->when, c->nwhen, as, errstr, errstr_size);
            if (!e)
                e = conds_check(r, c->unless, c->nunless, as, errstr,
                                errstr_size);
            if (e)
                return e;
            for (size_t k = 0; k < c->nargs; k++) {
                size_t col = 0;
                if (sf_tmpl_check(c->args[k], as, &col, msg, sizeof(msg)))
                    return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                                     "%s:%zu:%zu: %s (newest schema of "
                                     "%s: v%d)",
                                     r->file, c->argpos[k].line,
                                     c->argpos[k].col + col, msg, re->type,
                                     sf_schema_version(sch));
            }
        }
    }
    return SF_OK;
}

sf_err_t sf_rules_check_keys(const sf_rules_t *r, char *errstr,
                             size_t errstr_size) {
    if (!r)
        return SF_OK;
    sf_glob_t **pats = calloc(r->nkeys ? r->nkeys : 1, sizeof(*pats));
    sf_err_t e = pats ? SF_OK : SF_ERR_NOMEM;
    size_t col;
    for (size_t i = 0; !e && i < r->nkeys; i++)
        if (sf_glob_compile(r->keys[i], strlen(r->keys[i]), &pats[i], &col,
                            NULL, 0))
            pats[i] = NULL; /* refused when parsed; not reached */
    for (size_t i = 0; !e && i < r->nev; i++)
        for (size_t j = 0; !e && j < r->ev[i].ncmds; j++) {
            const rcmd_t *c = &r->ev[i].cmds[j];
            for (size_t k = 1; !e && k < c->nargs; k++) {
                if (!c->is_key[k])
                    continue;
                sf_glob_t *kg = NULL;
                if ((e = sf_tmpl_key_glob(c->args[k], &kg)))
                    break;
                int ok = 0;
                for (size_t p = 0; p < r->nkeys && !ok; p++)
                    ok = pats[p] && sf_glob_overlap(kg, pats[p]);
                sf_glob_destroy(kg);
                if (!ok)
                    e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                                  "%s:%zu:%zu: this key can never match the "
                                  "keys: patterns of the file, so every "
                                  "event would be dead-lettered",
                                  r->file, c->argpos[k].line, c->argpos[k].col);
            }
        }
    for (size_t i = 0; pats && i < r->nkeys; i++)
        sf_glob_destroy(pats[i]);
    free(pats);
    return e;
}
