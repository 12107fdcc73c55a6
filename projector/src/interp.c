/* interp.c - compile and render rule argument templates (see interp.h). */
#include "interp.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sf_projector.h"
#include "sf_schema.h"

typedef enum {
    F_AGGREGATE_ID,
    F_TYPE,
    F_VERSION,
    F_TIME,
    F_EVENT_ID,
    F_PARTITION,
    F_OFFSET,
    F_TOPIC,
    F_TIMESTAMP,
    F_HEADER,
    F_DATA
} field_t;

static const struct {
    const char *name;
    field_t f;
} envelope[] = {
    {"aggregate_id", F_AGGREGATE_ID},
    {"type", F_TYPE},
    {"version", F_VERSION},
    {"time", F_TIME},
    {"event_id", F_EVENT_ID},
    {"partition", F_PARTITION},
    {"offset", F_OFFSET},
    {"topic", F_TOPIC},
    {"timestamp", F_TIMESTAMP},
    {"header", F_HEADER},
    {"data", F_DATA},
};

typedef enum { FILTER_NONE, FILTER_NEG, FILTER_JSON } filter_t;

typedef struct seg {
    char *name; /* field / map key, or NULL for an index */
    size_t index;
    int star; /* [*]: the index given when reading (handler fields) */
} seg_t;

struct sf_path {
    field_t field;
    filter_t filter;
    size_t nseg;
    seg_t *segs;
    size_t nstar; /* 0 or 1 */
    char *header; /* F_HEADER: the record header's name */
    char *text;   /* for errors */
};

typedef struct part {
    sf_path_t *path; /* NULL: literal */
    char *lit;
    size_t litlen;
    size_t at; /* byte offset of the path in the template text */
} part_t;

struct sf_tmpl {
    size_t nparts;
    part_t *parts;
};

void sf_path_destroy(sf_path_t *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->nseg; i++)
        free(p->segs[i].name);
    free(p->segs);
    free(p->header);
    free(p->text);
    free(p);
}

static int ident_char(int c) {
    return isalnum(c) || c == '_' || c == '-';
}

/* Bytes a header name may hold in a placeholder: printable ASCII but the
 * filter bar and braces.  Kafka allows any string as a header name; these
 * are what a rules file can spell without quoting. */
static int header_char(int c) {
    return c > 0x20 && c < 0x7f && c != '|' && c != '{' && c != '}';
}

/* Parses text[0..len) as a path. */
static sf_err_t path_parse(const char *text, size_t len, int allow_star,
                           sf_path_t **out, size_t *errcol, char *errstr,
                           size_t errstr_size) {
    sf_path_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->text = strndup(text, len))) {
        free(p);
        return SF_ERR_NOMEM;
    }
    size_t i = 0;
    sf_err_t e = SF_OK;
    /* leading identifier */
    while (i < len && ident_char((unsigned char)text[i]))
        i++;
    size_t n = 0, found = 0;
    for (n = 0; n < sizeof(envelope) / sizeof(envelope[0]); n++)
        if (strlen(envelope[n].name) == i &&
            !strncmp(envelope[n].name, text, i)) {
            p->field = envelope[n].f;
            found = 1;
            break;
        }
    if (!found) {
        *errcol = 0;
        e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                      "unknown field \"%.*s\" (expected data.<path>, "
                      "header.<name> or one of "
                      "aggregate_id, type, version, time, event_id, "
                      "partition, offset, topic, timestamp)",
                      (int)len, text);
        goto err;
    }
    if (p->field == F_HEADER) {
        /* header.NAME: the rest up to a filter is the name, verbatim
         * (names like "x-tenant-id" or "b3.sampled" are common) */
        size_t st = i + 1;
        if (i >= len || text[i] != '.') {
            *errcol = i;
            e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                          "expected header.<name>");
            goto err;
        }
        for (i = st; i < len && text[i] != '|'; i++)
            if (!header_char((unsigned char)text[i])) {
                *errcol = i;
                e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                              "byte 0x%02X not allowed in a header name",
                              (unsigned char)text[i]);
                goto err;
            }
        if (i == st) {
            *errcol = st;
            e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                          "expected a header name after 'header.'");
            goto err;
        }
        if (!(p->header = strndup(text + st, i - st))) {
            e = SF_ERR_NOMEM;
            goto err;
        }
    }
    while (i < len && text[i] != '|') {
        if (p->field != F_DATA) {
            *errcol = i;
            e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                          "envelope field %s has no sub-fields",
                          envelope[n].name);
            goto err;
        }
        seg_t s = {0};
        if (text[i] == '.') {
            size_t st = ++i;
            while (i < len && ident_char((unsigned char)text[i]))
                i++;
            if (i == st) {
                *errcol = st;
                e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                              "expected a field name after '.'");
                goto err;
            }
            if (!(s.name = strndup(text + st, i - st))) {
                e = SF_ERR_NOMEM;
                goto err;
            }
        } else if (text[i] == '[' && allow_star && i + 2 < len &&
                   text[i + 1] == '*' && text[i + 2] == ']') {
            if (p->nstar++) {
                *errcol = i;
                e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                              "only one [*] per path");
                goto err;
            }
            s.star = 1;
            i += 3;
        } else if (text[i] == '[') {
            size_t st = ++i;
            while (i < len && isdigit((unsigned char)text[i]))
                i++;
            if (i == st || i >= len || text[i] != ']') {
                *errcol = st;
                e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                              "expected [index] with a non-negative integer");
                goto err;
            }
            if (i - st > 9) { /* an index fits 32 bits; no overflow */
                *errcol = st;
                e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                              "index %.*s too large", (int)(i - st), text + st);
                goto err;
            }
            s.index = (size_t)strtoul(text + st, NULL, 10);
            i++;
        } else {
            *errcol = i;
            e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                          "unexpected '%c' in path", text[i]);
            goto err;
        }
        seg_t *ns = realloc(p->segs, (p->nseg + 1) * sizeof(*ns));
        if (!ns) {
            free(s.name);
            e = SF_ERR_NOMEM;
            goto err;
        }
        p->segs = ns;
        p->segs[p->nseg++] = s;
    }
    if (i < len) { /* filter */
        const char *f = text + i + 1;
        size_t fl = len - i - 1;
        if (fl == 3 && !strncmp(f, "neg", 3))
            p->filter = FILTER_NEG;
        else if (fl == 4 && !strncmp(f, "json", 4))
            p->filter = FILTER_JSON;
        else {
            *errcol = i + 1;
            e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                          "unknown filter \"%.*s\" (known: neg, json)", (int)fl,
                          f);
            goto err;
        }
    }
    *out = p;
    return SF_OK;
err:
    sf_path_destroy(p);
    return e;
}

sf_err_t sf_path_compile(const char *text, sf_path_t **out, size_t *errcol,
                         char *errstr, size_t errstr_size) {
    return path_parse(text, strlen(text), 0, out, errcol, errstr, errstr_size);
}

sf_err_t sf_path_compile_field(const char *text, sf_path_t **out,
                               size_t *errcol, char *errstr,
                               size_t errstr_size) {
    return path_parse(text, strlen(text), 1, out, errcol, errstr, errstr_size);
}

const char *sf_path_text(const sf_path_t *p) {
    return p->text;
}
int sf_path_has_star(const sf_path_t *p) {
    return p->nstar != 0;
}

sf_path_field_t sf_path_envelope(const sf_path_t *p) {
    switch (p->field) {
    case F_AGGREGATE_ID: return SF_PF_AGGREGATE_ID;
    case F_TYPE: return SF_PF_TYPE;
    case F_VERSION: return SF_PF_VERSION;
    case F_TIME: return SF_PF_TIME;
    case F_EVENT_ID: return SF_PF_EVENT_ID;
    case F_PARTITION: return SF_PF_PARTITION;
    case F_OFFSET: return SF_PF_OFFSET;
    case F_TOPIC: return SF_PF_TOPIC;
    case F_TIMESTAMP: return SF_PF_TIMESTAMP;
    case F_HEADER: return SF_PF_HEADER;
    case F_DATA: break;
    }
    return SF_PF_DATA;
}

const char *sf_path_header(const sf_path_t *p) {
    return p->header;
}

void sf_tmpl_destroy(sf_tmpl_t *t) {
    if (!t)
        return;
    for (size_t i = 0; i < t->nparts; i++) {
        sf_path_destroy(t->parts[i].path);
        free(t->parts[i].lit);
    }
    free(t->parts);
    free(t);
}

static sf_err_t add_part(sf_tmpl_t *t, part_t p) {
    part_t *np = realloc(t->parts, (t->nparts + 1) * sizeof(*np));
    if (!np)
        return SF_ERR_NOMEM;
    t->parts = np;
    t->parts[t->nparts++] = p;
    return SF_OK;
}

sf_err_t sf_tmpl_compile(const char *text, sf_tmpl_t **out, size_t *errcol,
                         char *errstr, size_t errstr_size) {
    sf_tmpl_t *t = calloc(1, sizeof(*t));
    if (!t)
        return SF_ERR_NOMEM;
    sf_buf_t lit = {0};
    sf_err_t e = SF_OK;
    size_t len = strlen(text);
    for (size_t i = 0; i < len;) {
        char c = text[i];
        if ((c == '{' || c == '}') && i + 1 < len && text[i + 1] == c) {
            if ((e = sf_buf_append(&lit, &c, 1)))
                goto err;
            i += 2;
            continue;
        }
        if (c == '}') {
            *errcol = i;
            e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                          "unmatched '}' (write '}}' for a literal brace)");
            goto err;
        }
        if (c != '{') {
            if ((e = sf_buf_append(&lit, &c, 1)))
                goto err;
            i++;
            continue;
        }
        const char *close = memchr(text + i + 1, '}', len - i - 1);
        if (!close) {
            *errcol = i;
            e = sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                          "unterminated '{' (write '{{' for a literal brace)");
            goto err;
        }
        if (lit.len) {
            part_t p = {NULL, lit.p, lit.len, 0};
            if ((e = add_part(t, p)))
                goto err;
            memset(&lit, 0, sizeof(lit));
        }
        part_t p = {0};
        size_t sub = 0;
        p.at = i + 1;
        e = path_parse(text + i + 1, (size_t)(close - text - i - 1), 0, &p.path,
                       &sub, errstr, errstr_size);
        if (e) {
            *errcol = i + 1 + sub;
            goto err;
        }
        if ((e = add_part(t, p))) {
            sf_path_destroy(p.path);
            goto err;
        }
        i = (size_t)(close - text) + 1;
    }
    if (lit.len || t->nparts == 0) {
        if (!lit.p && (e = sf_buf_append(&lit, "", 0)))
            goto err;
        part_t p = {NULL, lit.p, lit.len, 0};
        if ((e = add_part(t, p)))
            goto err;
        memset(&lit, 0, sizeof(lit));
    }
    *out = t;
    return SF_OK;
err:
    sf_buf_free(&lit);
    sf_tmpl_destroy(t);
    return e;
}

int sf_tmpl_is_literal(const sf_tmpl_t *t, const char **lit, size_t *len) {
    if (t->nparts != 1 || t->parts[0].path)
        return 0;
    *lit = t->parts[0].lit;
    *len = t->parts[0].litlen;
    return 1;
}

/* Renders one scalar Avro value. */
static sf_err_t render_value(const sf_path_t *p, avro_value_t *v, sf_buf_t *out,
                             int *is_null, char *errstr, size_t errstr_size) {
    char num[64];
    int n = -1;
    avro_type_t t = avro_value_get_type(v);
    if (p->filter == FILTER_NEG && t != AVRO_INT32 && t != AVRO_INT64 &&
        t != AVRO_FLOAT && t != AVRO_DOUBLE)
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "%s: |neg needs a number", p->text);
    switch (t) {
    case AVRO_STRING:
    case AVRO_BYTES: {
        const void *buf = NULL;
        size_t size = 0;
        if (t == AVRO_STRING) {
            const char *s = NULL;
            avro_value_get_string(v, &s, &size);
            buf = s;
            if (size)
                size--; /* avro-c counts the NUL */
        } else {
            avro_value_get_bytes(v, &buf, &size);
        }
        return sf_buf_append(out, buf, size);
    }
    case AVRO_FIXED: {
        const void *buf = NULL;
        size_t size = 0;
        avro_value_get_fixed(v, &buf, &size);
        return sf_buf_append(out, buf, size);
    }
    case AVRO_INT32: {
        /* negated in 64 bits: -(-2^31) = 2^31 is a fine value */
        int32_t x = 0;
        avro_value_get_int(v, &x);
        n = (int)sf_fmt_i64(num,
                            p->filter == FILTER_NEG ? -(int64_t)x : (int64_t)x);
        break;
    }
    case AVRO_INT64: {
        int64_t x = 0;
        avro_value_get_long(v, &x);
        if (p->filter == FILTER_NEG && x == INT64_MIN)
            /* 2^63 is no 64-bit integer: Redis would refuse it too */
            return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                             "%s: |neg of %" PRId64 " does not fit a 64-bit "
                             "integer",
                             p->text, x);
        n = (int)sf_fmt_i64(num, p->filter == FILTER_NEG ? -x : x);
        break;
    }
    case AVRO_FLOAT: {
        float x = 0;
        avro_value_get_float(v, &x);
        n = snprintf(num, sizeof(num), "%.9g",
                     (double)(p->filter == FILTER_NEG ? -x : x));
        break;
    }
    case AVRO_DOUBLE: {
        double x = 0;
        avro_value_get_double(v, &x);
        n = snprintf(num, sizeof(num), "%.17g",
                     p->filter == FILTER_NEG ? -x : x);
        break;
    }
    case AVRO_BOOLEAN: {
        int x = 0;
        avro_value_get_boolean(v, &x);
        return sf_buf_appends(out, x ? "true" : "false");
    }
    case AVRO_NULL: *is_null = 1; return SF_OK;
    case AVRO_ENUM: {
        int x = 0;
        avro_value_get_enum(v, &x);
        avro_schema_t s = avro_value_get_schema(v);
        const char *sym = avro_schema_enum_get(s, x);
        return sf_buf_appends(out, sym ? sym : "");
    }
    default: { /* record, array, map: JSON text */
        json_t *j = NULL;
        char err[256];
        if (sf_value_to_json(v, &j, err, sizeof(err)))
            return sf_seterr(errstr, errstr_size, SF_ERR_RULE, "%s: %s",
                             p->text, err);
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        json_decref(j);
        if (!s)
            return SF_ERR_NOMEM;
        sf_err_t e = sf_buf_appends(out, s);
        free(s);
        return e;
    }
    }
    if (n < 0)
        return SF_ERR_INVALID_ARG;
    return sf_buf_append(out, num, (size_t)n);
}

const char *sf_value_type_label(avro_value_t *v) {
    avro_schema_t s = avro_value_get_schema(v);
    const char *name = s ? avro_schema_type_name(s) : NULL;
    return name ? name : "value";
}

sf_err_t sf_path_value(const sf_path_t *p, const sf_event_t *ev, size_t star,
                       int upto_star, avro_value_t *out, int *is_null,
                       char *errstr, size_t errstr_size) {
    if (p->field != F_DATA)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "%s: an envelope field, not event data", p->text);
    if (!ev->data)
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "%s: event has no decoded data", p->text);
    avro_value_t cur = *ev->data, child;
    *is_null = 0;
    for (size_t i = 0;; i++) {
        /* enter unions */
        while (avro_value_get_type(&cur) == AVRO_UNION) {
            if (avro_value_get_current_branch(&cur, &child))
                return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                                 "%s: union without a branch", p->text);
            cur = child;
        }
        if (i == p->nseg)
            break;
        const seg_t *sg = &p->segs[i];
        if (sg->star && upto_star)
            break; /* the array itself: counting */
        avro_type_t t = avro_value_get_type(&cur);
        if (sg->name) {
            if (t == AVRO_NULL) { /* optional record absent: null */
                *is_null = 1;
                return SF_OK;
            }
            if (t != AVRO_RECORD && t != AVRO_MAP)
                return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                                 "%s: .%s applied to a %s", p->text, sg->name,
                                 sf_value_type_label(&cur));
            if (avro_value_get_by_name(&cur, sg->name, &child, NULL))
                return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                                 "%s: no %s \"%s\"", p->text,
                                 t == AVRO_MAP ? "map key" : "field", sg->name);
        } else {
            size_t size = 0, index = sg->star ? star : sg->index;
            if (t == AVRO_NULL) { /* optional array absent: null */
                *is_null = 1;
                return SF_OK;
            }
            if (t != AVRO_ARRAY)
                return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                                 "%s: [%zu] applied to a %s", p->text,
                                 sg->index, sf_value_type_label(&cur));
            avro_value_get_size(&cur, &size);
            if (index >= size)
                return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                                 "%s: index %zu out of range (array has %zu)",
                                 p->text, index, size);
            if (avro_value_get_by_index(&cur, index, &child, NULL))
                return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                                 "%s: cannot read element %zu", p->text, index);
        }
        cur = child;
    }
    if (avro_value_get_type(&cur) == AVRO_NULL) {
        *is_null = 1;
        return SF_OK;
    }
    *out = cur;
    return SF_OK;
}

sf_err_t sf_path_render(const sf_path_t *p, const sf_event_t *ev, sf_buf_t *out,
                        int *is_null, char *errstr, size_t errstr_size) {
    char num[32];
    const char *s = NULL;
    *is_null = 0;
    switch (p->field) {
    case F_AGGREGATE_ID: s = ev->aggregate_id; break;
    case F_TYPE: s = ev->type; break;
    case F_VERSION: s = ev->version; break;
    case F_TIME: s = ev->time; break;
    case F_EVENT_ID: s = ev->id; break;
    case F_TOPIC: s = ev->topic; break;
    case F_PARTITION:
    case F_OFFSET:
    case F_TIMESTAMP: {
        /* the same filters as on data numbers: |neg in 64 bits */
        int64_t x = p->field == F_PARTITION ? (int64_t)ev->partition
                    : p->field == F_OFFSET  ? ev->offset
                                            : ev->timestamp;
        if (p->filter == FILTER_NEG) {
            if (x == INT64_MIN)
                return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                                 "%s: |neg of %" PRId64 " does not fit a "
                                 "64-bit integer",
                                 p->text, x);
            x = -x;
        }
        sf_fmt_i64(num, x);
        s = num;
        break;
    }
    case F_HEADER: {
        /* an absent header (or a null value) renders as null, like an
         * absent optional field: "" in a value, an error in a key */
        const void *v = NULL;
        size_t n = 0;
        if (sf_event_header(ev, p->header, &v, &n) != SF_OK || !v) {
            *is_null = 1;
            return SF_OK;
        }
        return sf_buf_append(out, v, n);
    }
    case F_DATA: break;
    }
    if (s)
        return sf_buf_appends(out, s ? s : "");
    avro_value_t cur;
    sf_err_t e = sf_path_value(p, ev, 0, 0, &cur, is_null, errstr, errstr_size);
    if (e || *is_null)
        return e;
    return render_value(p, &cur, out, is_null, errstr, errstr_size);
}

/* Escapes out->p[at .. out->len) in place, as sf_key_escape() would,
 * working backwards so that no second buffer is needed. */
static sf_err_t escape_tail(sf_buf_t *out, size_t at) {
    static const char hex[] = "0123456789ABCDEF";
    size_t raw = out->len - at;
    size_t need = sf_key_escape(NULL, 0, out->p + at, raw);
    if (need == raw)
        return SF_OK;
    if (sf_buf_reserve(out, need - raw))
        return SF_ERR_NOMEM;
    unsigned char *p = (unsigned char *)out->p + at;
    size_t w = need;
    for (size_t r = raw; r-- > 0;) {
        unsigned char c = p[r];
        char one[2] = {(char)c, 0};
        if (sf_key_escape(one, sizeof one, &c, 1) == 1) {
            p[--w] = c;
        } else {
            p[--w] = (unsigned char)hex[c & 15];
            p[--w] = (unsigned char)hex[c >> 4];
            p[--w] = '%';
        }
    }
    out->len = at + need;
    out->p[out->len] = '\0';
    return SF_OK;
}

sf_err_t sf_tmpl_render_key(const sf_tmpl_t *t, const sf_event_t *ev,
                            sf_buf_t *out, char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < t->nparts; i++) {
        const part_t *p = &t->parts[i];
        sf_err_t e;
        if (!p->path) {
            e = sf_buf_append(out, p->lit, p->litlen);
        } else {
            int is_null;
            size_t at = out->len;
            e = sf_path_render(p->path, ev, out, &is_null, errstr, errstr_size);
            if (!e && out->len == at)
                return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                                 "%s: %s in a key (an id must not be "
                                 "empty)",
                                 p->path->text, is_null ? "null" : "empty");
            if (!e)
                e = escape_tail(out, at);
        }
        if (e)
            return e;
    }
    return SF_OK;
}

sf_err_t sf_tmpl_render(const sf_tmpl_t *t, const sf_event_t *ev, sf_buf_t *out,
                        char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < t->nparts; i++) {
        const part_t *p = &t->parts[i];
        sf_err_t e;
        if (!p->path) {
            e = sf_buf_append(out, p->lit, p->litlen);
        } else {
            int is_null;
            e = sf_path_render(p->path, ev, out, &is_null, errstr, errstr_size);
        }
        if (e)
            return e;
    }
    return SF_OK;
}

/* ---- checking paths against the newest schema of the event type ---- */

/* The full name of a named schema, else its type name ("int"). */
static const char *schema_label(avro_schema_t s, char *buf, size_t size) {
    if (is_avro_named_type(s)) {
        const char *ns = avro_schema_namespace(s);
        snprintf(buf, size, "%s%s%s", ns && *ns ? ns : "", ns && *ns ? "." : "",
                 avro_schema_name(s));
        return buf;
    }
    const char *n = avro_schema_type_name(s);
    return n ? n : "value";
}

static int is_number(avro_schema_t s) {
    return is_avro_int32(s) || is_avro_int64(s) || is_avro_float(s) ||
           is_avro_double(s);
}

/* Segments i.. of p against schema s, entering unions as rendering does:
 * a path is fine when some branch other than null takes it. */
static sf_err_t check_from(const sf_path_t *p, size_t i, avro_schema_t s,
                           char *errstr, size_t errstr_size) {
    char lb[256];
    if (is_avro_union(s)) {
        size_t nb = avro_schema_union_size(s);
        sf_err_t first = SF_OK;
        char msg[256] = "";
        for (size_t b = 0; b < nb; b++) {
            avro_schema_t br = avro_schema_union_branch(s, (int)b);
            if (is_avro_null(br))
                continue;
            char m[256];
            sf_err_t e = check_from(p, i, br, m, sizeof(m));
            if (!e)
                return SF_OK;
            if (!first) {
                first = e;
                snprintf(msg, sizeof(msg), "%s", m);
            }
        }
        if (first)
            return sf_seterr(errstr, errstr_size, first, "%s", msg);
        return SF_OK; /* only null: renders as null */
    }
    if (i == p->nseg) {
        if (p->filter == FILTER_NEG && !is_number(s))
            return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                             "%s: |neg needs a number, the schema has %s",
                             p->text, schema_label(s, lb, sizeof(lb)));
        return SF_OK;
    }
    const seg_t *sg = &p->segs[i];
    if (sg->name) {
        if (is_avro_record(s)) {
            /* (avro_schema_record_field_get crashes on a missing name) */
            int fi = avro_schema_record_field_get_index(s, sg->name);
            avro_schema_t f =
                fi < 0 ? NULL : avro_schema_record_field_get_by_index(s, fi);
            if (!f)
                return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                                 "%s: no field \"%s\" in %s", p->text, sg->name,
                                 schema_label(s, lb, sizeof(lb)));
            return check_from(p, i + 1, f, errstr, errstr_size);
        }
        if (is_avro_map(s))
            return check_from(p, i + 1, avro_schema_map_values(s), errstr,
                              errstr_size);
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "%s: .%s applied to a %s", p->text, sg->name,
                         schema_label(s, lb, sizeof(lb)));
    }
    if (is_avro_array(s))
        return check_from(p, i + 1, avro_schema_array_items(s), errstr,
                          errstr_size);
    return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                     "%s: [%zu] applied to a %s", p->text, sg->index,
                     schema_label(s, lb, sizeof(lb)));
}

sf_err_t sf_path_check(const sf_path_t *p, avro_schema_t schema, char *errstr,
                       size_t errstr_size) {
    if (p->field != F_DATA) {
        if (p->filter == FILTER_NEG && p->field != F_PARTITION &&
            p->field != F_OFFSET && p->field != F_TIMESTAMP)
            return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                             "%s: |neg needs a number", p->text);
        return SF_OK;
    }
    return check_from(p, 0, schema, errstr, errstr_size);
}

sf_err_t sf_tmpl_check(const sf_tmpl_t *t, avro_schema_t schema, size_t *errcol,
                       char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < t->nparts; i++) {
        if (!t->parts[i].path)
            continue;
        sf_err_t e =
            sf_path_check(t->parts[i].path, schema, errstr, errstr_size);
        if (e) {
            *errcol = t->parts[i].at;
            return e;
        }
    }
    return SF_OK;
}

sf_err_t sf_tmpl_key_glob(const sf_tmpl_t *t, sf_glob_t **out) {
    sf_glob_t *g = sf_glob_new();
    sf_err_t e = g ? SF_OK : SF_ERR_NOMEM;
    for (size_t i = 0; !e && i < t->nparts; i++) {
        const part_t *p = &t->parts[i];
        e = p->path ? sf_glob_add_id(g)
                    : sf_glob_add_literal(g, p->lit, p->litlen);
    }
    if (e) {
        sf_glob_destroy(g);
        return e;
    }
    *out = g;
    return SF_OK;
}
