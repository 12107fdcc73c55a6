/* field.c - typed reads of event fields by path for C handlers
 * (sf_field_t, sf_event_string() ... of the public API).
 *
 * A field is compiled once, at init, into an sf_path_t (the path language
 * of the rules, interp.h); a read walks the decoded avro-c value in place
 * and hands out borrowed pointers, so reading allocates nothing.  Envelope
 * paths (aggregate_id, time, version, ...) read the CloudEvents headers
 * with the same calls. */
#include "field.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"

struct sf_field_s {
    sf_path_t *path;
    sf_field_t *next; /* the projection's list, freed with it */
};

sf_err_t sf_field_new(const char *text, avro_schema_t schema, sf_field_t **out,
                      char *errstr, size_t errstr_size) {
    sf_field_t *f = calloc(1, sizeof(*f));
    if (!f)
        return SF_ERR_NOMEM;
    char msg[512];
    size_t col = 0;
    sf_err_t e = sf_path_compile_field(text, &f->path, &col, msg, sizeof(msg));
    if (e) {
        free(f);
        return sf_seterr(errstr, errstr_size, e, "path \"%s\" at byte %zu: %s",
                         text, col, msg);
    }
    if (schema && (e = sf_path_check(f->path, schema, errstr, errstr_size))) {
        sf_field_destroy(f);
        return e;
    }
    *out = f;
    return SF_OK;
}

void sf_field_destroy(sf_field_t *f) {
    while (f) {
        sf_field_t *n = f->next;
        sf_path_destroy(f->path);
        free(f);
        f = n;
    }
}

void sf_field_link(sf_field_t *f, sf_field_t **list) {
    f->next = *list;
    *list = f;
}

/* Finds the value of f in ev: for a data path *v, for an envelope path
 * *env (a string, or digits it formats into num).  SF_ERR_NOT_FOUND
 * naming the path when the value is null. */
static sf_err_t find(const sf_event_t *ev, const sf_field_t *f, size_t star,
                     avro_value_t *v, const char **env, size_t *envlen,
                     char *errstr, size_t errstr_size) {
    *env = NULL;
    const sf_path_t *p = f->path;
    switch (sf_path_envelope(p)) {
    case SF_PF_AGGREGATE_ID:
        *env = ev->aggregate_id;
        *envlen = ev->aggregate_id_len;
        return SF_OK;
    case SF_PF_TYPE: *env = ev->type; break;
    case SF_PF_VERSION: *env = ev->version; break;
    case SF_PF_TIME: *env = ev->time; break;
    case SF_PF_EVENT_ID: *env = ev->id; break;
    case SF_PF_TOPIC: *env = ev->topic; break;
    case SF_PF_HEADER: {
        const void *hv = NULL;
        if (sf_event_header(ev, sf_path_header(p), &hv, envlen) != SF_OK || !hv)
            return sf_seterr(errstr, errstr_size, SF_ERR_NOT_FOUND,
                             "%s: no such header", sf_path_text(p));
        *env = hv;
        return SF_OK;
    }
    case SF_PF_PARTITION:
    case SF_PF_OFFSET:
    case SF_PF_TIMESTAMP:
        *env = "";
        *envlen = 0;
        return SF_OK; /* numbers: the caller reads them directly */
    case SF_PF_DATA: {
        int is_null = 0;
        sf_err_t e =
            sf_path_value(p, ev, star, 0, v, &is_null, errstr, errstr_size);
        if (!e && is_null)
            e = sf_seterr(errstr, errstr_size, SF_ERR_NOT_FOUND, "%s: null",
                          sf_path_text(p));
        return e;
    }
    }
    if (!*env)
        *env = "";
    *envlen = strlen(*env);
    return SF_OK;
}

static sf_err_t wrong(const sf_field_t *f, avro_value_t *v, const char *want,
                      char *errstr, size_t errstr_size) {
    return sf_seterr(errstr, errstr_size, SF_ERR_RULE, "%s: a %s, not %s",
                     sf_path_text(f->path), sf_value_type_label(v), want);
}

sf_err_t sf_event_string_at(const sf_event_t *ev, const sf_field_t *f, size_t i,
                            const char **s, size_t *len, char *errstr,
                            size_t errstr_size) {
    avro_value_t v;
    const char *env;
    size_t envlen = 0;
    sf_err_t e = find(ev, f, i, &v, &env, &envlen, errstr, errstr_size);
    if (e)
        return e;
    if (env) {
        sf_path_field_t pf = sf_path_envelope(f->path);
        if (pf == SF_PF_PARTITION || pf == SF_PF_OFFSET ||
            pf == SF_PF_TIMESTAMP)
            return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                             "%s: a number (read it with sf_event_int64)",
                             sf_path_text(f->path));
        *s = env;
        *len = envlen;
        return SF_OK;
    }
    size_t size = 0;
    switch (avro_value_get_type(&v)) {
    case AVRO_STRING:
        avro_value_get_string(&v, s, &size);
        *len = size ? size - 1 : 0; /* avro-c counts the NUL */
        return SF_OK;
    case AVRO_BYTES: {
        const void *b = NULL;
        avro_value_get_bytes(&v, &b, &size);
        *s = b ? b : "";
        *len = size;
        return SF_OK;
    }
    case AVRO_FIXED: {
        const void *b = NULL;
        avro_value_get_fixed(&v, &b, &size);
        *s = b;
        *len = size;
        return SF_OK;
    }
    case AVRO_ENUM: {
        int x = 0;
        avro_value_get_enum(&v, &x);
        const char *sym = avro_schema_enum_get(avro_value_get_schema(&v), x);
        *s = sym ? sym : "";
        *len = strlen(*s);
        return SF_OK;
    }
    default: return wrong(f, &v, "a string", errstr, errstr_size);
    }
}

/* A decimal int64 envelope header ("" or junk: error naming it). */
static sf_err_t parse_i64(const sf_field_t *f, const char *s, int64_t *out,
                          char *errstr, size_t errstr_size) {
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (!*s || *end || errno)
        return sf_seterr(errstr, errstr_size, SF_ERR_VALUE,
                         "%s: \"%s\" is not a 64-bit integer",
                         sf_path_text(f->path), s);
    *out = (int64_t)x;
    return SF_OK;
}

sf_err_t sf_event_int64_at(const sf_event_t *ev, const sf_field_t *f, size_t i,
                           int64_t *out, char *errstr, size_t errstr_size) {
    avro_value_t v;
    const char *env;
    size_t envlen = 0;
    sf_err_t e = find(ev, f, i, &v, &env, &envlen, errstr, errstr_size);
    if (e)
        return e;
    if (env) {
        switch (sf_path_envelope(f->path)) {
        case SF_PF_PARTITION: *out = ev->partition; return SF_OK;
        case SF_PF_OFFSET: *out = ev->offset; return SF_OK;
        case SF_PF_TIMESTAMP: *out = ev->timestamp; return SF_OK;
        case SF_PF_TIME:
            if (sf_parse_time_ms(env, out) != 0)
                return sf_seterr(errstr, errstr_size, SF_ERR_VALUE,
                                 "time: \"%s\" is not an RFC 3339 time", env);
            return SF_OK;
        case SF_PF_HEADER: {
            /* header values carry no NUL: parse a bounded copy */
            char num[32];
            if (envlen >= sizeof(num) || memchr(env, '\0', envlen))
                return sf_seterr(errstr, errstr_size, SF_ERR_VALUE,
                                 "%s: not a 64-bit integer",
                                 sf_path_text(f->path));
            memcpy(num, env, envlen);
            num[envlen] = '\0';
            return parse_i64(f, num, out, errstr, errstr_size);
        }
        default: return parse_i64(f, env, out, errstr, errstr_size);
        }
    }
    switch (avro_value_get_type(&v)) {
    case AVRO_INT32: {
        int32_t x = 0;
        avro_value_get_int(&v, &x);
        *out = x;
        return SF_OK;
    }
    case AVRO_INT64: avro_value_get_long(&v, out); return SF_OK;
    default: return wrong(f, &v, "an int or long", errstr, errstr_size);
    }
}

sf_err_t sf_event_double_at(const sf_event_t *ev, const sf_field_t *f, size_t i,
                            double *out, char *errstr, size_t errstr_size) {
    avro_value_t v;
    const char *env;
    size_t envlen = 0;
    sf_err_t e = find(ev, f, i, &v, &env, &envlen, errstr, errstr_size);
    if (e)
        return e;
    if (env)
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "%s: an envelope field, not a double",
                         sf_path_text(f->path));
    switch (avro_value_get_type(&v)) {
    case AVRO_FLOAT: {
        float x = 0;
        avro_value_get_float(&v, &x);
        *out = x;
        return SF_OK;
    }
    case AVRO_DOUBLE: avro_value_get_double(&v, out); return SF_OK;
    case AVRO_INT32: {
        int32_t x = 0;
        avro_value_get_int(&v, &x);
        *out = x;
        return SF_OK;
    }
    case AVRO_INT64: { /* exact up to 2^53, as Avro's own promotion */
        int64_t x = 0;
        avro_value_get_long(&v, &x);
        *out = (double)x;
        return SF_OK;
    }
    default: return wrong(f, &v, "a number", errstr, errstr_size);
    }
}

sf_err_t sf_event_bool_at(const sf_event_t *ev, const sf_field_t *f, size_t i,
                          int *out, char *errstr, size_t errstr_size) {
    avro_value_t v;
    const char *env;
    size_t envlen = 0;
    sf_err_t e = find(ev, f, i, &v, &env, &envlen, errstr, errstr_size);
    if (e)
        return e;
    if (env || avro_value_get_type(&v) != AVRO_BOOLEAN)
        return env ? sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                               "%s: an envelope field, not a boolean",
                               sf_path_text(f->path))
                   : wrong(f, &v, "a boolean", errstr, errstr_size);
    avro_value_get_boolean(&v, out);
    *out = !!*out;
    return SF_OK;
}

int sf_event_is_null_at(const sf_event_t *ev, const sf_field_t *f, size_t i) {
    if (sf_path_envelope(f->path) == SF_PF_HEADER) {
        const void *hv = NULL;
        return sf_event_header(ev, sf_path_header(f->path), &hv, NULL) !=
                   SF_OK ||
               !hv;
    }
    if (sf_path_envelope(f->path) != SF_PF_DATA)
        return 0;
    avro_value_t v;
    int is_null = 0;
    if (sf_path_value(f->path, ev, i, 0, &v, &is_null, NULL, 0))
        return 0;
    return is_null;
}

sf_err_t sf_event_count(const sf_event_t *ev, const sf_field_t *f, size_t *n,
                        char *errstr, size_t errstr_size) {
    avro_value_t v;
    int is_null = 0;
    *n = 0;
    if (sf_path_envelope(f->path) != SF_PF_DATA)
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "%s: an envelope field has no elements",
                         sf_path_text(f->path));
    sf_err_t e = sf_path_value(f->path, ev, 0, sf_path_has_star(f->path), &v,
                               &is_null, errstr, errstr_size);
    if (e || is_null)
        return e; /* an absent optional array has 0 elements */
    avro_type_t t = avro_value_get_type(&v);
    if (t != AVRO_ARRAY && t != AVRO_MAP)
        return wrong(f, &v, "an array or map", errstr, errstr_size);
    avro_value_get_size(&v, n);
    return SF_OK;
}

sf_err_t sf_event_string(const sf_event_t *ev, const sf_field_t *f,
                         const char **s, size_t *len, char *errstr,
                         size_t errstr_size) {
    return sf_event_string_at(ev, f, 0, s, len, errstr, errstr_size);
}
sf_err_t sf_event_int64(const sf_event_t *ev, const sf_field_t *f, int64_t *out,
                        char *errstr, size_t errstr_size) {
    return sf_event_int64_at(ev, f, 0, out, errstr, errstr_size);
}
sf_err_t sf_event_double(const sf_event_t *ev, const sf_field_t *f, double *out,
                         char *errstr, size_t errstr_size) {
    return sf_event_double_at(ev, f, 0, out, errstr, errstr_size);
}
sf_err_t sf_event_bool(const sf_event_t *ev, const sf_field_t *f, int *out,
                       char *errstr, size_t errstr_size) {
    return sf_event_bool_at(ev, f, 0, out, errstr, errstr_size);
}
int sf_event_is_null(const sf_event_t *ev, const sf_field_t *f) {
    return sf_event_is_null_at(ev, f, 0);
}

int64_t sf_event_aggregate_version(const sf_event_t *ev) {
    char *end;
    errno = 0;
    long long x = ev->version ? strtoll(ev->version, &end, 10) : 0;
    if (!ev->version || !*ev->version || *end || errno || x < 0)
        return -1;
    return (int64_t)x;
}
