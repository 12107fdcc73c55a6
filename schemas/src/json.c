/*
 * json.c - Avro JSON encoding <-> avro-c generic values.
 *
 * From JSON we walk our schema tree beside the value (it knows defaults and
 * logical types, avro-c does not); to JSON we walk the value and its avro-c
 * schema.  Leniencies, for people typing events by hand, all documented in
 * sf_schema.h: a record field missing from the JSON takes its default, a
 * union value may be given bare when a branch takes it, timestamp-millis
 * accepts an RFC 3339 string, floats accept "NaN" / "Infinity".
 */
#include "internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct jctx {
    const sf_schema_t *s;
    char path[1024];
    char *errstr;
    size_t errstr_size;
} jctx_t;

__attribute__((format(printf, 3, 4))) static sf_err_t
jerr(jctx_t *c, sf_err_t err, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sf_err_path(c->errstr, c->errstr_size, "", c->path[0] ? c->path : "value",
                msg);
    return err;
}

static size_t path_push(jctx_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static size_t path_push(jctx_t *c, const char *fmt, ...) {
    size_t old = strlen(c->path);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->path + old, sizeof c->path - old, fmt, ap);
    va_end(ap);
    return old;
}

#define AVRO_J(c, call)                                                    \
    do {                                                                   \
        if (call)                                                          \
            return jerr((c), SF_ERR_VALUE, "avro-c: %s", avro_strerror()); \
    } while (0)

static int latin1(const char *s, size_t n, uint8_t *out, size_t *olen) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            out[o++] = ch;
            i++;
        } else if ((ch == 0xC2 || ch == 0xC3) && i + 1 < n) {
            out[o++] = (uint8_t)(((ch & 0x1F) << 6) |
                                 ((unsigned char)s[i + 1] & 0x3F));
            i += 2;
        } else {
            return -1;
        }
    }
    *olen = o;
    return 0;
}

static int json_double(const json_t *j, double *d) {
    if (json_is_number(j)) {
        *d = json_number_value(j);
        return 0;
    }
    const char *s = json_string_value(j);
    if (!s)
        return -1;
    if (strcmp(s, "NaN") == 0)
        *d = NAN;
    else if (strcmp(s, "Infinity") == 0)
        *d = INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
        *d = -INFINITY;
    else
        return -1;
    return 0;
}

/* Could a branch of type n take this JSON value given bare? */
static int accepts(const sf_node_t *n, const json_t *j) {
    switch (n->type) {
    case T_NULL: return json_is_null(j);
    case T_BOOLEAN: return json_is_boolean(j);
    case T_INT:
    case T_LONG:
        return json_is_integer(j) ||
               (n->type == T_LONG && json_is_string(j) && n->logical &&
                strcmp(n->logical, "timestamp-millis") == 0);
    case T_FLOAT:
    case T_DOUBLE: return json_is_number(j);
    case T_STRING:
    case T_BYTES:
    case T_ENUM:
    case T_FIXED: return json_is_string(j);
    case T_ARRAY: return json_is_array(j);
    case T_MAP:
    case T_RECORD: return json_is_object(j);
    default: return 0;
    }
}

static sf_err_t from_json(jctx_t *c, const sf_node_t *n, const json_t *j,
                          avro_value_t *val, int depth);

static sf_err_t record_from_json(jctx_t *c, const sf_node_t *n, const json_t *j,
                                 avro_value_t *val, int depth) {
    const char *key;
    json_t *v;
    sf_err_t err;

    json_object_foreach((json_t *)j, key, v) {
        size_t i;
        for (i = 0; i < n->nfields; i++)
            if (strcmp(n->fields[i].name, key) == 0)
                break;
        if (i == n->nfields) {
            size_t old = path_push(c, "%s%s", c->path[0] ? "." : "", key);
            err = jerr(c, SF_ERR_VALUE, "no such field in %s", n->fullname);
            c->path[old] = 0;
            return err;
        }
    }
    for (size_t i = 0; i < n->nfields; i++) {
        const sf_field_t *f = &n->fields[i];
        avro_value_t child;
        size_t old = path_push(c, "%s%s", c->path[0] ? "." : "", f->name);
        if (avro_value_get_by_index(val, i, &child, NULL)) {
            err = jerr(c, SF_ERR_VALUE, "avro-c: %s", avro_strerror());
        } else if ((v = json_object_get(j, f->name))) {
            err = from_json(c, f->type, v, &child, depth + 1);
        } else if (f->def_bin) {
            const op_t *id = sf_plan_find(c->s->identity, f->type);
            err = id ? sf_fill_default(f, id, &child, c->errstr, c->errstr_size)
                     : jerr(c, SF_ERR_SCHEMA, "no plan for the default");
        } else {
            err = jerr(c, SF_ERR_VALUE, "missing field (it has no default)");
        }
        c->path[old] = 0;
        if (err)
            return err;
    }
    return SF_OK;
}

static sf_err_t from_json(jctx_t *c, const sf_node_t *n, const json_t *j,
                          avro_value_t *val, int depth) {
    sf_err_t err;
    if (depth > SF_MAX_DEPTH)
        return jerr(c, SF_ERR_VALUE, "nested deeper than %d", SF_MAX_DEPTH);

    switch (n->type) {
    case T_NULL:
        if (!json_is_null(j))
            goto mismatch;
        AVRO_J(c, avro_value_set_null(val));
        return SF_OK;
    case T_BOOLEAN:
        if (!json_is_boolean(j))
            goto mismatch;
        AVRO_J(c, avro_value_set_boolean(val, json_is_true(j)));
        return SF_OK;
    case T_INT:
        if (!json_is_integer(j))
            goto mismatch;
        if (json_integer_value(j) < INT32_MIN ||
            json_integer_value(j) > INT32_MAX)
            return jerr(c, SF_ERR_VALUE, "%lld does not fit an int",
                        (long long)json_integer_value(j));
        AVRO_J(c, avro_value_set_int(val, (int32_t)json_integer_value(j)));
        return SF_OK;
    case T_LONG: {
        int64_t v;
        if (json_is_integer(j)) {
            v = json_integer_value(j);
        } else if (json_is_string(j) && n->logical &&
                   strcmp(n->logical, "timestamp-millis") == 0) {
            if (sf_time_parse(json_string_value(j), &v, NULL, 0) != SF_OK)
                return jerr(c, SF_ERR_VALUE, "\"%s\" is not an RFC 3339 time",
                            json_string_value(j));
        } else {
            goto mismatch;
        }
        AVRO_J(c, avro_value_set_long(val, v));
        return SF_OK;
    }
    case T_FLOAT:
    case T_DOUBLE: {
        double d;
        if (json_double(j, &d) < 0)
            goto mismatch;
        if (n->type == T_FLOAT)
            AVRO_J(c, avro_value_set_float(val, (float)d));
        else
            AVRO_J(c, avro_value_set_double(val, d));
        return SF_OK;
    }
    case T_STRING:
        if (!json_is_string(j))
            goto mismatch;
        AVRO_J(c, avro_value_set_string_len(val, json_string_value(j),
                                            json_string_length(j) + 1));
        return SF_OK;
    case T_BYTES:
    case T_FIXED: {
        if (!json_is_string(j))
            goto mismatch;
        size_t len = json_string_length(j), olen;
        uint8_t *tmp = malloc(len + 1);
        if (!tmp)
            return jerr(c, SF_ERR_NOMEM, "out of memory");
        if (latin1(json_string_value(j), len, tmp, &olen) < 0) {
            free(tmp);
            return jerr(c, SF_ERR_VALUE,
                        "%s must be a string of code points "
                        "U+0000..U+00FF",
                        sf_type_name(n->type));
        }
        if (n->type == T_FIXED && olen != n->size) {
            free(tmp);
            return jerr(c, SF_ERR_VALUE, "expected %zu bytes for %s, got %zu",
                        n->size, n->fullname, olen);
        }
        int rval = n->type == T_FIXED ? avro_value_set_fixed(val, tmp, olen)
                                      : avro_value_set_bytes(val, tmp, olen);
        free(tmp);
        if (rval)
            return jerr(c, SF_ERR_VALUE, "avro-c: %s", avro_strerror());
        return SF_OK;
    }
    case T_ENUM: {
        const char *s = json_string_value(j);
        if (!s)
            goto mismatch;
        for (size_t i = 0; i < n->nsymbols; i++)
            if (strcmp(n->symbols[i], s) == 0) {
                AVRO_J(c, avro_value_set_enum(val, (int)i));
                return SF_OK;
            }
        return jerr(c, SF_ERR_VALUE, "\"%s\" is not a symbol of %s", s,
                    n->fullname);
    }
    case T_ARRAY: {
        if (!json_is_array(j))
            goto mismatch;
        AVRO_J(c, avro_value_reset(val));
        for (size_t i = 0; i < json_array_size(j); i++) {
            avro_value_t elem;
            AVRO_J(c, avro_value_append(val, &elem, NULL));
            size_t old = path_push(c, "[%zu]", i);
            err =
                from_json(c, n->items, json_array_get(j, i), &elem, depth + 1);
            c->path[old] = 0;
            if (err)
                return err;
        }
        return SF_OK;
    }
    case T_MAP: {
        const char *key;
        json_t *v;
        if (!json_is_object(j))
            goto mismatch;
        AVRO_J(c, avro_value_reset(val));
        json_object_foreach((json_t *)j, key, v) {
            avro_value_t elem;
            AVRO_J(c, avro_value_add(val, key, &elem, NULL, NULL));
            size_t old = path_push(c, "[\"%s\"]", key);
            err = from_json(c, n->items, v, &elem, depth + 1);
            c->path[old] = 0;
            if (err)
                return err;
        }
        return SF_OK;
    }
    case T_RECORD:
        if (!json_is_object(j))
            goto mismatch;
        return record_from_json(c, n, j, val, depth);
    case T_UNION: {
        int pick = -1;
        const json_t *inner = j;
        if (json_is_null(j)) {
            for (size_t i = 0; i < n->nbranches && pick < 0; i++)
                if (n->branches[i]->type == T_NULL)
                    pick = (int)i;
        } else if (json_is_object(j) && json_object_size(j) == 1) {
            const char *key =
                json_object_iter_key(json_object_iter((json_t *)j));
            for (size_t i = 0; i < n->nbranches && pick < 0; i++) {
                const sf_node_t *b = n->branches[i];
                if (strcmp(sf_node_branch_name(b), key) == 0 ||
                    (b->name && strcmp(b->name, key) == 0)) {
                    pick = (int)i;
                    inner =
                        json_object_iter_value(json_object_iter((json_t *)j));
                }
            }
        }
        for (size_t i = 0; i < n->nbranches && pick < 0; i++)
            if (accepts(n->branches[i], j))
                pick = (int)i;
        if (pick < 0) {
            char names[256] = "";
            for (size_t i = 0; i < n->nbranches; i++)
                snprintf(names + strlen(names), sizeof names - strlen(names),
                         "%s%s", i ? "|" : "",
                         sf_node_branch_name(n->branches[i]));
            return jerr(c, SF_ERR_VALUE,
                        "expected union [%s] ({\"type\": value} "
                        "or null), got %s",
                        names, sf_json_kind(j));
        }
        avro_value_t branch;
        AVRO_J(c, avro_value_set_branch(val, pick, &branch));
        return from_json(c, n->branches[pick], inner, &branch, depth + 1);
    }
    }
mismatch:
    return jerr(c, SF_ERR_VALUE, "expected %s, got %s", sf_node_branch_name(n),
                sf_json_kind(j));
}

sf_err_t sf_value_from_json(const sf_schema_t *s, const struct json_t *json,
                            const char *path, avro_value_t *out, char *errstr,
                            size_t errstr_size) {
    if (!s || !json || !out)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_value_from_json: NULL argument");
    jctx_t *c = calloc(1, sizeof *c);
    if (!c)
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
    c->s = s;
    c->errstr = errstr;
    c->errstr_size = errstr_size;
    snprintf(c->path, sizeof c->path, "%s", path ? path : "");
    if (avro_generic_value_new(s->iface, out)) {
        free(c);
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "avro-c: %s",
                         avro_strerror());
    }
    sf_err_t err = from_json(c, s->tree->root, json, out, 0);
    free(c);
    if (err) {
        avro_value_decref(out);
        memset(out, 0, sizeof *out);
    }
    return err;
}

sf_err_t sf_value_from_json_text(const sf_schema_t *s, const char *text,
                                 size_t len, const char *path,
                                 avro_value_t *out, char *errstr,
                                 size_t errstr_size) {
    json_error_t je;
    if (!s || !text || !out)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_value_from_json_text: NULL argument");
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j)
        return sf_seterr(errstr, errstr_size, SF_ERR_PARSE, "%s:%d:%d: %s",
                         path && *path ? path : "json", je.line, je.column,
                         je.text);
    sf_err_t err = sf_value_from_json(s, j, path, out, errstr, errstr_size);
    json_decref(j);
    return err;
}

/* ---------------------------------------------------------------------
 * Value -> JSON
 * ------------------------------------------------------------------- */

static json_t *latin1_json(const uint8_t *b, size_t n) {
    char *u = malloc(2 * n + 1);
    if (!u)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i] < 0x80) {
            u[o++] = (char)b[i];
        } else {
            u[o++] = (char)(0xC0 | (b[i] >> 6));
            u[o++] = (char)(0x80 | (b[i] & 0x3F));
        }
    }
    json_t *j = json_stringn(u, o);
    free(u);
    return j;
}

static json_t *real_json(double d) {
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

static sf_err_t to_json(const avro_value_t *val, json_t **out, char *errstr,
                        size_t errstr_size, int depth) {
    avro_schema_t sch = avro_value_get_schema(val);
    json_t *j = NULL;
    if (depth > SF_MAX_DEPTH)
        return sf_seterr(errstr, errstr_size, SF_ERR_VALUE,
                         "value nested deeper than %d", SF_MAX_DEPTH);
    switch (avro_value_get_type(val)) {
    case AVRO_NULL: j = json_null(); break;
    case AVRO_BOOLEAN: {
        int b;
        if (avro_value_get_boolean(val, &b))
            goto avro;
        j = json_boolean(b);
        break;
    }
    case AVRO_INT32: {
        int32_t i;
        if (avro_value_get_int(val, &i))
            goto avro;
        j = json_integer(i);
        break;
    }
    case AVRO_INT64: {
        int64_t i;
        if (avro_value_get_long(val, &i))
            goto avro;
        j = json_integer(i);
        break;
    }
    case AVRO_FLOAT: {
        float f;
        if (avro_value_get_float(val, &f))
            goto avro;
        j = real_json(f);
        break;
    }
    case AVRO_DOUBLE: {
        double d;
        if (avro_value_get_double(val, &d))
            goto avro;
        j = real_json(d);
        break;
    }
    case AVRO_STRING: {
        const char *s;
        size_t size;
        if (avro_value_get_string(val, &s, &size))
            goto avro;
        j = json_stringn(s ? s : "", size ? size - 1 : 0);
        if (!j)
            return sf_seterr(errstr, errstr_size, SF_ERR_VALUE,
                             "string is not valid UTF-8");
        break;
    }
    case AVRO_BYTES: {
        const void *b;
        size_t size;
        if (avro_value_get_bytes(val, &b, &size))
            goto avro;
        j = latin1_json(b, size);
        break;
    }
    case AVRO_FIXED: {
        const void *b;
        size_t size;
        if (avro_value_get_fixed(val, &b, &size))
            goto avro;
        j = latin1_json(b, size);
        break;
    }
    case AVRO_ENUM: {
        int e;
        if (avro_value_get_enum(val, &e))
            goto avro;
        const char *sym = avro_schema_enum_get(sch, e);
        if (!sym)
            return sf_seterr(errstr, errstr_size, SF_ERR_VALUE,
                             "enum index %d out of range", e);
        j = json_string(sym);
        break;
    }
    case AVRO_ARRAY:
    case AVRO_MAP:
    case AVRO_RECORD: {
        size_t n;
        int arr = avro_value_get_type(val) == AVRO_ARRAY;
        if (avro_value_get_size(val, &n))
            goto avro;
        j = arr ? json_array() : json_object();
        if (!j)
            break;
        for (size_t i = 0; i < n; i++) {
            avro_value_t child;
            const char *name = NULL;
            json_t *cj;
            if (avro_value_get_by_index(val, i, &child, &name)) {
                json_decref(j);
                goto avro;
            }
            sf_err_t err = to_json(&child, &cj, errstr, errstr_size, depth + 1);
            if (err) {
                json_decref(j);
                return err;
            }
            if (arr ? json_array_append_new(j, cj)
                    : json_object_set_new(j, name, cj)) {
                json_decref(j);
                j = NULL;
                break;
            }
        }
        break;
    }
    case AVRO_UNION: {
        int disc;
        avro_value_t branch;
        json_t *bj;
        if (avro_value_get_discriminant(val, &disc) ||
            avro_value_get_current_branch(val, &branch))
            goto avro;
        avro_schema_t bs = avro_schema_union_branch(sch, disc);
        while (is_avro_link(bs)) /* a reference to a named type */
            bs = avro_schema_link_target(bs);
        if (avro_value_get_type(&branch) == AVRO_NULL) {
            j = json_null();
            break;
        }
        sf_err_t err = to_json(&branch, &bj, errstr, errstr_size, depth + 1);
        if (err)
            return err;
        char name[512];
        const char *ns =
            is_avro_named_type(bs) ? avro_schema_namespace(bs) : NULL;
        snprintf(name, sizeof name, "%s%s%s", ns && *ns ? ns : "",
                 ns && *ns ? "." : "", avro_schema_type_name(bs));
        j = json_object();
        if (j && json_object_set_new(j, name, bj)) {
            json_decref(j);
            j = NULL;
        } else if (!j) {
            json_decref(bj);
        }
        break;
    }
    default:
        return sf_seterr(errstr, errstr_size, SF_ERR_VALUE,
                         "unsupported avro-c value type %d",
                         (int)avro_value_get_type(val));
    }
    if (!j)
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                         "out of memory building JSON");
    *out = j;
    return SF_OK;
avro:
    return sf_seterr(errstr, errstr_size, SF_ERR_VALUE, "avro-c: %s",
                     avro_strerror());
}

sf_err_t sf_value_to_json(const avro_value_t *value, struct json_t **json,
                          char *errstr, size_t errstr_size) {
    if (!value || !json)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_value_to_json: NULL argument");
    return to_json(value, json, errstr, errstr_size, 0);
}
