/*
 * parse.c - Avro schema JSON -> our schema tree (sf_node_t), the Parsing
 * Canonical Form of a tree, and field defaults pre-encoded in Avro binary.
 *
 * Names follow the Avro spec: a name with a dot is a full name; otherwise
 * the namespace is the "namespace" attribute or that of the most tightly
 * enclosing named type.  References are resolved in the enclosing namespace
 * first, then as given.
 */
#include "internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------
 * Byte buffer: sf_buf.h, with Avro's zig-zag varint on top
 * ------------------------------------------------------------------- */

void sf_buf_long(sf_buf_t *b, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    uint8_t tmp[10];
    size_t n = 0;
    while (z > 0x7f) {
        tmp[n++] = (uint8_t)((z & 0x7f) | 0x80);
        z >>= 7;
    }
    tmp[n++] = (uint8_t)z;
    sf_buf_append(b, tmp, n);
}

static void buf_str(sf_buf_t *b, const char *s) {
    sf_buf_append(b, s, strlen(s));
}

/* ---------------------------------------------------------------------
 * Tree bookkeeping
 * ------------------------------------------------------------------- */

static const char *const type_names[] = {
    [T_NULL] = "null",   [T_BOOLEAN] = "boolean", [T_INT] = "int",
    [T_LONG] = "long",   [T_FLOAT] = "float",     [T_DOUBLE] = "double",
    [T_BYTES] = "bytes", [T_STRING] = "string",   [T_RECORD] = "record",
    [T_ENUM] = "enum",   [T_ARRAY] = "array",     [T_MAP] = "map",
    [T_UNION] = "union", [T_FIXED] = "fixed",
};

const char *sf_type_name(sf_type_t t) {
    return type_names[t];
}

const char *sf_node_branch_name(const sf_node_t *n) {
    return n->fullname ? n->fullname : type_names[n->type];
}

static int primitive_of(const char *s, sf_type_t *t) {
    for (int i = T_NULL; i <= T_STRING; i++)
        if (strcmp(s, type_names[i]) == 0) {
            *t = (sf_type_t)i;
            return 1;
        }
    return 0;
}

typedef struct pctx {
    sf_tree_t *t;
    const char *origin;
    char *errstr;
    size_t errstr_size;
    sf_err_t err;
} pctx_t;

__attribute__((format(printf, 3, 4))) static void
perr(pctx_t *c, const char *path, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    if (c->err)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->err = sf_seterr(c->errstr, c->errstr_size, SF_ERR_SCHEMA, "%s: %s%s%s",
                       c->origin, path, *path ? ": " : "", msg);
}

/* Writes the path of a nested value ("a.b[3]") into dst.  A path longer
 * than dst (nesting is capped at 64, names are not) is cut and ends in "...",
 * so an error still names where it is without pretending to be whole. */
__attribute__((format(printf, 3, 4))) static void
subpath(char *dst, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    if (n < 0)
        dst[0] = '\0';
    else if ((size_t)n >= size && size > 3)
        memcpy(dst + size - 4, "...", 4);
}

static sf_node_t *node_new(pctx_t *c, sf_type_t type) {
    sf_tree_t *t = c->t;
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        sf_node_t **nn = realloc(t->nodes, nc * sizeof *nn);
        if (!nn)
            goto oom;
        t->nodes = nn;
        t->cap = nc;
    }
    sf_node_t *n = calloc(1, sizeof *n);
    if (!n)
        goto oom;
    n->type = type;
    n->enum_default = -1;
    t->nodes[t->n++] = n;
    return n;
oom:
    if (!c->err)
        c->err = sf_seterr(c->errstr, c->errstr_size, SF_ERR_NOMEM,
                           "%s: out of memory", c->origin);
    return NULL;
}

static void free_strv(char **v, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void sf_tree_free(sf_tree_t *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        sf_node_t *n = t->nodes[i];
        free(n->fullname);
        free(n->name);
        free_strv(n->aliases, n->naliases);
        free(n->logical);
        for (size_t f = 0; f < n->nfields; f++) {
            free(n->fields[f].name);
            free_strv(n->fields[f].aliases, n->fields[f].naliases);
            json_decref(n->fields[f].def);
            free(n->fields[f].def_bin);
        }
        free(n->fields);
        free_strv(n->symbols, n->nsymbols);
        free(n->branches);
        free(n);
    }
    free(t->nodes);
    free(t->named);
    free(t);
}

static sf_node_t *lookup_named(sf_tree_t *t, const char *fullname) {
    for (size_t i = 0; i < t->nnamed; i++)
        if (strcmp(t->named[i]->fullname, fullname) == 0)
            return t->named[i];
    return NULL;
}

static int valid_name_part(const char *s, size_t n) {
    if (n == 0)
        return 0;
    if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
          s[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (ch >= '0' && ch <= '9') || ch == '_'))
            return 0;
    }
    return 1;
}

/* A name or full name (dot-separated parts). */
static int valid_fullname(const char *s) {
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (!valid_name_part(p, n))
            return 0;
        if (!dot)
            return 1;
        p = dot + 1;
    }
}

static char *join_name(const char *ns, const char *name) {
    size_t a = ns ? strlen(ns) : 0, b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s)
        return NULL;
    if (a) {
        memcpy(s, ns, a);
        s[a] = '.';
        memcpy(s + a + 1, name, b + 1);
    } else {
        memcpy(s, name, b + 1);
    }
    return s;
}

/* Namespace part of a full name, malloc()ed ("" when none). */
static char *ns_of(const char *fullname) {
    const char *dot = strrchr(fullname, '.');
    size_t n = dot ? (size_t)(dot - fullname) : 0;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, fullname, n);
        s[n] = 0;
    }
    return s;
}

static sf_node_t *parse_node(pctx_t *c, const json_t *j, const char *ns,
                             const char *path);

static sf_node_t *resolve_ref(pctx_t *c, const char *s, const char *ns,
                              const char *path) {
    sf_node_t *n = NULL;
    if (!strchr(s, '.') && ns && *ns) {
        char *fn = join_name(ns, s);
        if (!fn) {
            perr(c, path, "out of memory");
            return NULL;
        }
        n = lookup_named(c->t, fn);
        free(fn);
    }
    if (!n)
        n = lookup_named(c->t, s);
    if (!n)
        perr(c, path, "unknown type \"%s\"", s);
    return n;
}

static int register_named(pctx_t *c, sf_node_t *n, const char *path) {
    sf_tree_t *t = c->t;
    if (lookup_named(t, n->fullname)) {
        perr(c, path, "type \"%s\" defined twice", n->fullname);
        return -1;
    }
    if (t->nnamed == t->capnamed) {
        size_t nc = t->capnamed ? t->capnamed * 2 : 8;
        sf_node_t **nn = realloc(t->named, nc * sizeof *nn);
        if (!nn) {
            perr(c, path, "out of memory");
            return -1;
        }
        t->named = nn;
        t->capnamed = nc;
    }
    t->named[t->nnamed++] = n;
    return 0;
}

static int parse_aliases(pctx_t *c, const json_t *a, const char *ns,
                         int qualify, char ***out, size_t *nout,
                         const char *path) {
    if (!a)
        return 0;
    if (!json_is_array(a)) {
        perr(c, path, "\"aliases\" must be an array of names");
        return -1;
    }
    size_t n = json_array_size(a);
    if (n == 0)
        return 0;
    char **v = calloc(n, sizeof *v);
    if (!v) {
        perr(c, path, "out of memory");
        return -1;
    }
    *out = v;
    for (size_t i = 0; i < n; i++) {
        const char *s = sf_json_word(json_array_get(a, i));
        if (!s || !valid_fullname(s)) {
            perr(c, path, "aliases[%zu] is not a valid name", i);
            return -1;
        }
        v[i] = (qualify && !strchr(s, '.')) ? join_name(ns, s) : strdup(s);
        *nout = i + 1;
        if (!v[i]) {
            perr(c, path, "out of memory");
            return -1;
        }
    }
    return 0;
}

static sf_node_t *parse_named(pctx_t *c, const json_t *j, sf_type_t type,
                              const char *ns, const char *path) {
    const json_t *jname = json_object_get(j, "name");
    const char *name = sf_json_word(jname);
    if (!name) {
        perr(c, path, "%s needs a \"name\"", type_names[type]);
        return NULL;
    }
    if (!valid_fullname(name)) {
        perr(c, path, "invalid name \"%s\"", name);
        return NULL;
    }
    const json_t *jns = json_object_get(j, "namespace");
    if (jns && !sf_json_word(jns) && !json_is_null(jns)) {
        perr(c, path, "\"namespace\" must be a string");
        return NULL;
    }
    sf_node_t *n = node_new(c, type);
    if (!n)
        return NULL;
    if (strchr(name, '.')) {
        n->fullname = strdup(name);
    } else {
        const char *own = jns ? sf_json_word(jns) : ns;
        if (own && *own && !valid_fullname(own)) {
            perr(c, path, "invalid namespace \"%s\"", own);
            return NULL;
        }
        n->fullname = join_name(own, name);
    }
    if (!n->fullname) {
        perr(c, path, "out of memory");
        return NULL;
    }
    const char *dot = strrchr(n->fullname, '.');
    n->name = strdup(dot ? dot + 1 : n->fullname);
    if (!n->name) {
        perr(c, path, "out of memory");
        return NULL;
    }
    for (int i = T_NULL; i <= T_STRING; i++)
        if (strcmp(n->fullname, type_names[i]) == 0) {
            perr(c, path, "\"%s\" cannot be redefined", n->fullname);
            return NULL;
        }
    if (register_named(c, n, path) < 0)
        return NULL;
    char *myns = ns_of(n->fullname);
    if (!myns) {
        perr(c, path, "out of memory");
        return NULL;
    }
    if (parse_aliases(c, json_object_get(j, "aliases"), myns, 1, &n->aliases,
                      &n->naliases, path) < 0) {
        free(myns);
        return NULL;
    }

    char sub[512];
    if (type == T_RECORD) {
        const json_t *fields = json_object_get(j, "fields");
        if (!json_is_array(fields)) {
            perr(c, path, "record \"%s\" needs a \"fields\" array",
                 n->fullname);
            goto fail;
        }
        n->nfields = 0;
        size_t nf = json_array_size(fields);
        n->fields = calloc(nf ? nf : 1, sizeof *n->fields);
        if (!n->fields) {
            perr(c, path, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < nf; i++) {
            const json_t *jf = json_array_get(fields, i);
            sf_field_t *f = &n->fields[i];
            snprintf(sub, sizeof sub, "%s%sfields[%zu]", path, *path ? "." : "",
                     i);
            if (!json_is_object(jf)) {
                perr(c, sub, "field must be an object");
                goto fail;
            }
            const char *fname = sf_json_word(json_object_get(jf, "name"));
            if (!fname || !valid_name_part(fname, strlen(fname))) {
                perr(c, sub, "field needs a valid \"name\"");
                goto fail;
            }
            for (size_t k = 0; k < i; k++)
                if (strcmp(n->fields[k].name, fname) == 0) {
                    perr(c, sub, "duplicate field \"%s\"", fname);
                    goto fail;
                }
            f->name = strdup(fname);
            n->nfields = i + 1;
            if (!f->name) {
                perr(c, sub, "out of memory");
                goto fail;
            }
            if (parse_aliases(c, json_object_get(jf, "aliases"), NULL, 0,
                              &f->aliases, &f->naliases, sub) < 0)
                goto fail;
            const json_t *jt = json_object_get(jf, "type");
            if (!jt) {
                perr(c, sub, "field \"%s\" needs a \"type\"", fname);
                goto fail;
            }
            char tpath[600];
            snprintf(tpath, sizeof tpath, "%s.type", sub);
            f->type = parse_node(c, jt, myns, tpath);
            if (!f->type)
                goto fail;
            const json_t *def = json_object_get(jf, "default");
            if (def)
                f->def = json_incref((json_t *)def);
            const json_t *ord = json_object_get(jf, "order");
            const char *os = ord ? sf_json_word(ord) : NULL;
            if (ord && !(os && (strcmp(os, "ascending") == 0 ||
                                strcmp(os, "descending") == 0 ||
                                strcmp(os, "ignore") == 0))) {
                perr(c, sub,
                     "\"order\" must be ascending, descending or ignore");
                goto fail;
            }
        }
    } else if (type == T_ENUM) {
        const json_t *syms = json_object_get(j, "symbols");
        if (!json_is_array(syms)) {
            perr(c, path, "enum \"%s\" needs a \"symbols\" array", n->fullname);
            goto fail;
        }
        size_t ns_ = json_array_size(syms);
        n->symbols = calloc(ns_ ? ns_ : 1, sizeof *n->symbols);
        if (!n->symbols) {
            perr(c, path, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < ns_; i++) {
            const char *s = sf_json_word(json_array_get(syms, i));
            if (!s || !valid_name_part(s, strlen(s))) {
                perr(c, path, "symbols[%zu] is not a valid symbol", i);
                goto fail;
            }
            for (size_t k = 0; k < i; k++)
                if (strcmp(n->symbols[k], s) == 0) {
                    perr(c, path, "duplicate symbol \"%s\"", s);
                    goto fail;
                }
            n->symbols[i] = strdup(s);
            n->nsymbols = i + 1;
            if (!n->symbols[i]) {
                perr(c, path, "out of memory");
                goto fail;
            }
        }
        const json_t *def = json_object_get(j, "default");
        if (def) {
            const char *s = sf_json_word(def);
            for (size_t i = 0; s && i < n->nsymbols; i++)
                if (strcmp(n->symbols[i], s) == 0)
                    n->enum_default = (int)i;
            if (n->enum_default < 0) {
                perr(c, path, "enum default is not one of its symbols");
                goto fail;
            }
        }
    } else { /* fixed */
        const json_t *sz = json_object_get(j, "size");
        if (!json_is_integer(sz) || json_integer_value(sz) < 0 ||
            json_integer_value(sz) > INT32_MAX) {
            perr(c, path, "fixed \"%s\" needs a non-negative integer \"size\"",
                 n->fullname);
            goto fail;
        }
        n->size = (size_t)json_integer_value(sz);
    }
    free(myns);
    return n;
fail:
    free(myns);
    return NULL;
}

static sf_node_t *parse_node(pctx_t *c, const json_t *j, const char *ns,
                             const char *path) {
    sf_type_t t;
    char sub[600];

    if (c->err)
        return NULL;
    if (json_is_string(j)) {
        const char *s = sf_json_word(j);
        if (!s) {
            perr(c, path, "a type name may not contain U+0000");
            return NULL;
        }
        if (primitive_of(s, &t))
            return node_new(c, t);
        return resolve_ref(c, s, ns, path);
    }
    if (json_is_array(j)) {
        sf_node_t *n = node_new(c, T_UNION);
        if (!n)
            return NULL;
        size_t nb = json_array_size(j);
        n->branches = calloc(nb ? nb : 1, sizeof *n->branches);
        if (!n->branches) {
            perr(c, path, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < nb; i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            sf_node_t *b = parse_node(c, json_array_get(j, i), ns, sub);
            if (!b)
                return NULL;
            if (b->type == T_UNION) {
                perr(c, sub, "a union may not directly contain a union");
                return NULL;
            }
            for (size_t k = 0; k < i; k++) {
                const sf_node_t *o = n->branches[k];
                if (o->type == b->type &&
                    (!b->fullname || strcmp(o->fullname, b->fullname) == 0)) {
                    perr(c, sub, "union has two branches of type %s",
                         sf_node_branch_name(b));
                    return NULL;
                }
            }
            n->branches[i] = b;
            n->nbranches = i + 1;
        }
        return n;
    }
    if (!json_is_object(j)) {
        perr(c, path, "a schema must be a string, an array or an object");
        return NULL;
    }
    const json_t *jt = json_object_get(j, "type");
    if (!jt) {
        perr(c, path, "schema object needs a \"type\"");
        return NULL;
    }
    if (!json_is_string(jt))
        return parse_node(c, jt, ns, path);
    const char *ts = sf_json_word(jt);
    if (!ts) {
        perr(c, path, "a type name may not contain U+0000");
        return NULL;
    }
    sf_node_t *n = NULL;
    if (primitive_of(ts, &t)) {
        n = node_new(c, t);
    } else if (strcmp(ts, "record") == 0 || strcmp(ts, "error") == 0) {
        n = parse_named(c, j, T_RECORD, ns, path);
    } else if (strcmp(ts, "enum") == 0) {
        n = parse_named(c, j, T_ENUM, ns, path);
    } else if (strcmp(ts, "fixed") == 0) {
        n = parse_named(c, j, T_FIXED, ns, path);
    } else if (strcmp(ts, "array") == 0 || strcmp(ts, "map") == 0) {
        int arr = ts[0] == 'a';
        const char *key = arr ? "items" : "values";
        const json_t *ji = json_object_get(j, key);
        if (!ji) {
            perr(c, path, "%s needs \"%s\"", ts, key);
            return NULL;
        }
        n = node_new(c, arr ? T_ARRAY : T_MAP);
        if (!n)
            return NULL;
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
        n->items = parse_node(c, ji, ns, sub);
        if (!n->items)
            return NULL;
    } else {
        return resolve_ref(c, ts, ns, path);
    }
    if (!n)
        return NULL;
    const char *lt = sf_json_word(json_object_get(j, "logicalType"));
    if (lt && !n->logical) {
        n->logical = strdup(lt);
        if (!n->logical) {
            perr(c, path, "out of memory");
            return NULL;
        }
    }
    return n;
}

/* ---------------------------------------------------------------------
 * Defaults: JSON default -> Avro binary of the field's type
 * ------------------------------------------------------------------- */

/* What a JSON value is, in the words of error messages. */
const char *sf_json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER:
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

/* UTF-8 string whose code points are all <= 0xFF -> bytes.  -1 if not. */
static int latin1_bytes(const char *s, size_t n, sf_buf_t *out) {
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            sf_buf_putc(out, ch);
            i++;
        } else if ((ch & 0xE0) == 0xC0 && i + 1 < n && ch <= 0xC3) {
            sf_buf_putc(out, (uint8_t)(((ch & 0x1F) << 6) |
                                       ((unsigned char)s[i + 1] & 0x3F)));
            i += 2;
        } else {
            return -1;
        }
    }
    return 0;
}

static int encode_default(pctx_t *c, sf_buf_t *b, const sf_node_t *n,
                          const json_t *j, const char *path, int depth) {
    char sub[600];
    if (depth > 64) {
        perr(c, path, "default nested too deeply");
        return -1;
    }
    switch (n->type) {
    case T_NULL:
        if (!json_is_null(j))
            goto mismatch;
        return 0;
    case T_BOOLEAN:
        if (!json_is_boolean(j))
            goto mismatch;
        sf_buf_putc(b, json_is_true(j) ? 1 : 0);
        return 0;
    case T_INT:
    case T_LONG:
        if (!json_is_integer(j))
            goto mismatch;
        if (n->type == T_INT && (json_integer_value(j) < INT32_MIN ||
                                 json_integer_value(j) > INT32_MAX)) {
            perr(c, path, "default %lld does not fit an int",
                 (long long)json_integer_value(j));
            return -1;
        }
        sf_buf_long(b, json_integer_value(j));
        return 0;
    case T_FLOAT: {
        if (!json_is_number(j))
            goto mismatch;
        float f = (float)json_number_value(j);
        uint32_t u;
        memcpy(&u, &f, 4);
        uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16),
                         (uint8_t)(u >> 24)};
        sf_buf_append(b, le, 4);
        return 0;
    }
    case T_DOUBLE: {
        if (!json_is_number(j))
            goto mismatch;
        double d = json_number_value(j);
        uint64_t u;
        memcpy(&u, &d, 8);
        uint8_t le[8];
        for (int i = 0; i < 8; i++)
            le[i] = (uint8_t)(u >> (8 * i));
        sf_buf_append(b, le, 8);
        return 0;
    }
    case T_STRING:
        if (!json_is_string(j))
            goto mismatch;
        sf_buf_long(b, (int64_t)json_string_length(j));
        sf_buf_append(b, json_string_value(j), json_string_length(j));
        return 0;
    case T_BYTES:
    case T_FIXED: {
        if (!json_is_string(j))
            goto mismatch;
        sf_buf_t tmp = {0};
        if (latin1_bytes(json_string_value(j), json_string_length(j), &tmp) <
            0) {
            free(tmp.p);
            perr(c, path, "default has characters above U+00FF for %s",
                 type_names[n->type]);
            return -1;
        }
        if (n->type == T_FIXED && tmp.len != n->size) {
            free(tmp.p);
            perr(c, path, "default has %zu bytes, fixed %s has %zu", tmp.len,
                 n->fullname, n->size);
            return -1;
        }
        if (n->type == T_BYTES)
            sf_buf_long(b, (int64_t)tmp.len);
        sf_buf_append(b, tmp.p, tmp.len);
        free(tmp.p);
        return 0;
    }
    case T_ENUM: {
        const char *s = sf_json_word(j);
        if (!s)
            goto mismatch;
        for (size_t i = 0; i < n->nsymbols; i++)
            if (strcmp(n->symbols[i], s) == 0) {
                sf_buf_long(b, (int64_t)i);
                return 0;
            }
        perr(c, path, "default \"%s\" is not a symbol of %s", s, n->fullname);
        return -1;
    }
    case T_ARRAY: {
        if (!json_is_array(j))
            goto mismatch;
        size_t cnt = json_array_size(j);
        if (cnt) {
            sf_buf_long(b, (int64_t)cnt);
            for (size_t i = 0; i < cnt; i++) {
                subpath(sub, sizeof sub, "%s[%zu]", path, i);
                if (encode_default(c, b, n->items, json_array_get(j, i), sub,
                                   depth + 1) < 0)
                    return -1;
            }
        }
        sf_buf_long(b, 0);
        return 0;
    }
    case T_MAP: {
        if (!json_is_object(j))
            goto mismatch;
        size_t cnt = json_object_size(j);
        const char *k;
        json_t *v;
        if (cnt) {
            sf_buf_long(b, (int64_t)cnt);
            json_object_foreach((json_t *)j, k, v) {
                subpath(sub, sizeof sub, "%s.%s", path, k);
                sf_buf_long(b, (int64_t)strlen(k));
                sf_buf_append(b, k, strlen(k));
                if (encode_default(c, b, n->items, v, sub, depth + 1) < 0)
                    return -1;
            }
        }
        sf_buf_long(b, 0);
        return 0;
    }
    case T_RECORD:
        if (!json_is_object(j))
            goto mismatch;
        for (size_t i = 0; i < n->nfields; i++) {
            const sf_field_t *f = &n->fields[i];
            const json_t *v = json_object_get(j, f->name);
            subpath(sub, sizeof sub, "%s.%s", path, f->name);
            if (!v)
                v = f->def;
            if (!v) {
                perr(c, sub, "missing in default and has no default itself");
                return -1;
            }
            if (encode_default(c, b, f->type, v, sub, depth + 1) < 0)
                return -1;
        }
        return 0;
    case T_UNION:
        /* The spec: a union's default is a value of its first branch. */
        if (n->nbranches == 0) {
            perr(c, path, "an empty union cannot have a default");
            return -1;
        }
        sf_buf_long(b, 0);
        return encode_default(c, b, n->branches[0], j, path, depth + 1);
    }
    return -1;
mismatch:
    perr(c, path, "default: expected %s%s, got %s",
         n->type == T_UNION ? "" : "", sf_node_branch_name(n), sf_json_kind(j));
    return -1;
}

static int encode_all_defaults(pctx_t *c) {
    char path[600];
    for (size_t i = 0; i < c->t->n; i++) {
        sf_node_t *n = c->t->nodes[i];
        for (size_t k = 0; k < n->nfields; k++) {
            sf_field_t *f = &n->fields[k];
            if (!f->def)
                continue;
            sf_buf_t b = {0};
            snprintf(path, sizeof path, "%s.%s.default", n->fullname, f->name);
            if (encode_default(c, &b, f->type, f->def, path, 0) < 0) {
                free(b.p);
                return -1;
            }
            if (b.oom) {
                free(b.p);
                perr(c, path, "out of memory");
                return -1;
            }
            f->def_bin = b.p ? (uint8_t *)b.p : malloc(1);
            f->def_len = b.len;
            if (!f->def_bin) {
                perr(c, path, "out of memory");
                return -1;
            }
        }
    }
    return 0;
}

size_t sf_node_min_size(sf_node_t *n) {
    if (n->min_state == 2)
        return n->min_size;
    if (n->min_state == 1)
        return 0; /* recursion: conservative */
    n->min_state = 1;
    size_t m = 0;
    switch (n->type) {
    case T_NULL: m = 0; break;
    case T_FLOAT: m = 4; break;
    case T_DOUBLE: m = 8; break;
    case T_FIXED: m = n->size; break;
    case T_RECORD:
        for (size_t i = 0; i < n->nfields; i++)
            m += sf_node_min_size(n->fields[i].type);
        break;
    default: m = 1; break;
    }
    n->min_size = m;
    n->min_state = 2;
    return m;
}

sf_err_t sf_tree_parse(const json_t *json, sf_tree_t **out, const char *origin,
                       int check_defaults, char *errstr, size_t errstr_size) {
    pctx_t c = {0};
    c.t = calloc(1, sizeof *c.t);
    if (!c.t)
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
    c.origin = origin ? origin : "schema";
    c.errstr = errstr;
    c.errstr_size = errstr_size;
    c.t->root = parse_node(&c, json, "", "");
    /* The canonical form ignores defaults, and the spec's own vectors have
     * ill-typed ones ("default":"true" for a boolean), so only the catalog,
     * which uses defaults, checks them. */
    if (!c.err && c.t->root && check_defaults)
        encode_all_defaults(&c);
    if (c.err || !c.t->root) {
        sf_tree_free(c.t);
        return c.err ? c.err : SF_ERR_SCHEMA;
    }
    for (size_t i = 0; i < c.t->n; i++)
        sf_node_min_size(c.t->nodes[i]);
    *out = c.t;
    return SF_OK;
}

/* ---------------------------------------------------------------------
 * Parsing Canonical Form
 * ------------------------------------------------------------------- */

static void pcf_str(sf_buf_t *b, const char *s) {
    /* [STRINGS]: no escapes beyond what JSON requires; names and symbols
     * are restricted to [A-Za-z0-9_.] so this is mostly a plain copy. */
    sf_buf_putc(b, '"');
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\') {
            sf_buf_putc(b, '\\');
            sf_buf_putc(b, ch);
        } else if (ch < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            buf_str(b, esc);
        } else {
            sf_buf_putc(b, ch);
        }
    }
    sf_buf_putc(b, '"');
}

typedef struct seen {
    const sf_node_t **v;
    size_t n, cap;
    int oom;
} seen_t;

static int seen_add(seen_t *s, const sf_node_t *n) {
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i] == n)
            return 0;
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        const sf_node_t **nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) {
            s->oom = 1;
            return 0;
        }
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n++] = n;
    return 1;
}

static void pcf(sf_buf_t *b, const sf_node_t *n, seen_t *seen) {
    char tmp[32];
    switch (n->type) {
    case T_RECORD:
    case T_ENUM:
    case T_FIXED:
        if (!seen_add(seen, n)) {
            pcf_str(b, n->fullname);
            return;
        }
        buf_str(b, "{\"name\":");
        pcf_str(b, n->fullname);
        buf_str(b, ",\"type\":");
        pcf_str(b, type_names[n->type]);
        if (n->type == T_RECORD) {
            buf_str(b, ",\"fields\":[");
            for (size_t i = 0; i < n->nfields; i++) {
                if (i)
                    sf_buf_putc(b, ',');
                buf_str(b, "{\"name\":");
                pcf_str(b, n->fields[i].name);
                buf_str(b, ",\"type\":");
                pcf(b, n->fields[i].type, seen);
                sf_buf_putc(b, '}');
            }
            sf_buf_putc(b, ']');
        } else if (n->type == T_ENUM) {
            buf_str(b, ",\"symbols\":[");
            for (size_t i = 0; i < n->nsymbols; i++) {
                if (i)
                    sf_buf_putc(b, ',');
                pcf_str(b, n->symbols[i]);
            }
            sf_buf_putc(b, ']');
        } else {
            snprintf(tmp, sizeof tmp, ",\"size\":%zu", n->size);
            buf_str(b, tmp);
        }
        sf_buf_putc(b, '}');
        return;
    case T_ARRAY:
        buf_str(b, "{\"type\":\"array\",\"items\":");
        pcf(b, n->items, seen);
        sf_buf_putc(b, '}');
        return;
    case T_MAP:
        buf_str(b, "{\"type\":\"map\",\"values\":");
        pcf(b, n->items, seen);
        sf_buf_putc(b, '}');
        return;
    case T_UNION:
        sf_buf_putc(b, '[');
        for (size_t i = 0; i < n->nbranches; i++) {
            if (i)
                sf_buf_putc(b, ',');
            pcf(b, n->branches[i], seen);
        }
        sf_buf_putc(b, ']');
        return;
    default: pcf_str(b, type_names[n->type]); return;
    }
}

char *sf_tree_canonical(const sf_node_t *root) {
    sf_buf_t b = {0};
    seen_t seen = {0};
    pcf(&b, root, &seen);
    free(seen.v);
    if (b.oom || seen.oom) {
        free(b.p);
        return NULL;
    }
    return (char *)b.p;
}

/* ---------------------------------------------------------------------
 * Public: canonical form and fingerprint of schema text
 * ------------------------------------------------------------------- */

static sf_err_t load_text(const char *text, size_t len, json_t **out,
                          char *errstr, size_t errstr_size) {
    json_error_t je;
    /* JSON_DECODE_ANY: a schema may be a bare string such as "int". */
    *out = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!*out)
        return sf_seterr(errstr, errstr_size, SF_ERR_PARSE, "schema:%d:%d: %s",
                         je.line, je.column, je.text);
    return SF_OK;
}

sf_err_t sf_schema_canonical_form(const char *schema_json, size_t len,
                                  char **canonical, char *errstr,
                                  size_t errstr_size) {
    json_t *j;
    sf_tree_t *t;
    sf_err_t err;

    if (!schema_json || !canonical)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_schema_canonical_form: NULL argument");
    if ((err = load_text(schema_json, len, &j, errstr, errstr_size)))
        return err;
    err = sf_tree_parse(j, &t, "schema", 0, errstr, errstr_size);
    json_decref(j);
    if (err)
        return err;
    *canonical = sf_tree_canonical(t->root);
    sf_tree_free(t);
    if (!*canonical)
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
    return SF_OK;
}

sf_err_t sf_schema_fingerprint_json(const char *schema_json, size_t len,
                                    uint64_t *fingerprint, char *errstr,
                                    size_t errstr_size) {
    char *pcf_text;
    sf_err_t err = sf_schema_canonical_form(schema_json, len, &pcf_text, errstr,
                                            errstr_size);
    if (err)
        return err;
    *fingerprint = sf_crc64_avro(pcf_text, strlen(pcf_text));
    free(pcf_text);
    return SF_OK;
}
