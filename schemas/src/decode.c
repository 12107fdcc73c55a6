/*
 * decode.c - the single-object codec: header, encoder, and the resolving
 * binary reader that runs a plan (plan.c) straight into an avro-c generic
 * value of the reader schema.
 *
 * Hardening: every read checks the bytes left first; lengths and block
 * counts are checked against the bytes left before anything is allocated;
 * nesting is bounded (SF_MAX_DEPTH).  On failure the innermost level records
 * the byte offset and message and each level on the way out adds its path
 * segment, so the happy path pays nothing for error paths.
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------
 * Reader primitives
 * ------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4), noinline, cold)) static sf_err_t
rd_fail(sf_rd_t *rd, sf_err_t err, const char *fmt, ...) {
    va_list ap;
    rd->err = err;
    rd->err_off = (size_t)(rd->p - rd->base);
    rd->nsegs = 0;
    rd->segs_cut = 0;
    va_start(ap, fmt);
    vsnprintf(rd->msg, sizeof rd->msg, fmt, ap);
    va_end(ap);
    return err;
}

__attribute__((format(printf, 2, 3), noinline, cold)) static void
rd_seg(sf_rd_t *rd, const char *fmt, ...) {
    va_list ap;
    if (rd->nsegs >= SF_PATH_MAX_SEGS) {
        rd->segs_cut = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(rd->segs[rd->nsegs++], sizeof rd->segs[0], fmt, ap);
    va_end(ap);
}

void sf_rd_path(const sf_rd_t *rd, char *out, size_t size) {
    size_t o = 0;
    out[0] = 0;
    if (rd->segs_cut && size > 4) {
        memcpy(out, "...", 4); /* the outermost segments were not kept */
        o = 3;
    }
    for (int i = rd->nsegs - 1; i >= 0 && o + 1 < size; i--) {
        const char *s = rd->segs[i];
        int n = snprintf(out + o, size - o, "%s%s",
                         (o && s[0] != '[') ? "." : "", s);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

static inline size_t left(const sf_rd_t *rd) {
    return (size_t)(rd->end - rd->p);
}

static sf_err_t rd_long(sf_rd_t *rd, int64_t *out) {
    const uint8_t *p = rd->p;
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (p >= rd->end)
            return rd_fail(rd, SF_ERR_TRUNCATED, "input ends inside a varint");
        uint8_t b = *p++;
        if (i == 9 && b > 1)
            return rd_fail(rd, SF_ERR_VALUE, "varint overflows 64 bits");
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            rd->p = p;
            *out = (int64_t)((v >> 1) ^ (0 - (v & 1)));
            return SF_OK;
        }
    }
    return rd_fail(rd, SF_ERR_VALUE, "varint longer than 10 bytes");
}

static inline sf_err_t rd_int(sf_rd_t *rd, int32_t *out) {
    int64_t v;
    /* One-byte fast path: most ints and lengths are small. */
    if (rd->p < rd->end && !(*rd->p & 0x80)) {
        uint8_t b = *rd->p++;
        *out = (int32_t)((b >> 1) ^ (0 - (b & 1)));
        return SF_OK;
    }
    sf_err_t err = rd_long(rd, &v);
    if (err)
        return err;
    if (v < INT32_MIN || v > INT32_MAX)
        return rd_fail(rd, SF_ERR_VALUE, "int value %lld out of range",
                       (long long)v);
    *out = (int32_t)v;
    return SF_OK;
}

static inline sf_err_t rd_need(sf_rd_t *rd, size_t n, const char *what) {
    if (left(rd) < n)
        return rd_fail(rd, SF_ERR_TRUNCATED, "%s needs %zu bytes, %zu left",
                       what, n, left(rd));
    return SF_OK;
}

/* Length prefix of bytes/string: >= 0 and within the buffer. */
static inline sf_err_t rd_len(sf_rd_t *rd, size_t *out, const char *what) {
    int64_t v;
    sf_err_t err;
    if (rd->p < rd->end && !(*rd->p & 0x81)) {
        v = *rd->p >> 1;
        rd->p++;
    } else if ((err = rd_long(rd, &v))) {
        return err;
    }
    if (v < 0)
        return rd_fail(rd, SF_ERR_VALUE, "negative %s length %lld", what,
                       (long long)v);
    if ((uint64_t)v > left(rd))
        return rd_fail(rd, SF_ERR_TRUNCATED,
                       "%s length %lld exceeds the %zu "
                       "bytes left",
                       what, (long long)v, left(rd));
    *out = (size_t)v;
    return SF_OK;
}

static sf_err_t rd_float(sf_rd_t *rd, float *out) {
    sf_err_t err = rd_need(rd, 4, "float");
    if (err)
        return err;
    uint32_t u = (uint32_t)rd->p[0] | (uint32_t)rd->p[1] << 8 |
                 (uint32_t)rd->p[2] << 16 | (uint32_t)rd->p[3] << 24;
    memcpy(out, &u, 4);
    rd->p += 4;
    return SF_OK;
}

static sf_err_t rd_double(sf_rd_t *rd, double *out) {
    sf_err_t err = rd_need(rd, 8, "double");
    if (err)
        return err;
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = (u << 8) | rd->p[i];
    memcpy(out, &u, 8);
    rd->p += 8;
    return SF_OK;
}

/* A NUL-terminated copy of n bytes at rd->p (avro-c wants the NUL). */
static sf_err_t rd_cstr(sf_rd_t *rd, size_t n, const char **out) {
    if (n + 1 > rd->scratch_cap) {
        size_t nc = rd->scratch_cap ? rd->scratch_cap : 256;
        while (nc < n + 1)
            nc *= 2;
        char *ns = realloc(rd->scratch, nc);
        if (!ns)
            return rd_fail(rd, SF_ERR_NOMEM,
                           "out of memory for a %zu-byte "
                           "string",
                           n);
        rd->scratch = ns;
        rd->scratch_cap = nc;
    }
    memcpy(rd->scratch, rd->p, n);
    rd->scratch[n] = 0;
    rd->p += n;
    *out = rd->scratch;
    return SF_OK;
}

static sf_err_t avro_fail(sf_rd_t *rd, int rval, const char *what) {
    return rd_fail(rd, rval == ENOMEM ? SF_ERR_NOMEM : SF_ERR_VALUE,
                   "avro-c %s: %s", what, avro_strerror());
}

#define AVRO_TRY(rd, call, what)                   \
    do {                                           \
        int rval_ = (call);                        \
        if (rval_)                                 \
            return avro_fail((rd), rval_, (what)); \
    } while (0)

/* Block header of an array or map: item count of the block (0 ends). */
static sf_err_t rd_block(sf_rd_t *rd, const sf_node_t *items, int64_t total,
                         int64_t *count) {
    int64_t n, size;
    sf_err_t err = rd_long(rd, &n);
    if (err)
        return err;
    if (n < 0) {
        if (n == INT64_MIN)
            return rd_fail(rd, SF_ERR_VALUE, "block count out of range");
        n = -n;
        if ((err = rd_long(rd, &size)))
            return err;
        if (size < 0)
            return rd_fail(rd, SF_ERR_VALUE, "negative block size %lld",
                           (long long)size);
        if ((uint64_t)size > left(rd))
            return rd_fail(rd, SF_ERR_TRUNCATED,
                           "block size %lld exceeds "
                           "the %zu bytes left",
                           (long long)size, left(rd));
    }
    size_t min = items->min_size;
    if (min > 0) {
        if ((uint64_t)n > left(rd) / min)
            return rd_fail(rd, SF_ERR_TRUNCATED,
                           "block of %lld items needs "
                           "at least %zu bytes each, %zu bytes left",
                           (long long)n, min, left(rd));
    } else if (n > SF_MAX_ZERO_ITEMS - total) {
        return rd_fail(rd, SF_ERR_VALUE, "more than %d items of zero size",
                       SF_MAX_ZERO_ITEMS);
    }
    *count = n;
    return SF_OK;
}

/* ---------------------------------------------------------------------
 * Skipping a writer field the reader does not have
 * ------------------------------------------------------------------- */

static sf_err_t skip(sf_rd_t *rd, const sf_node_t *n) {
    sf_err_t err;
    int64_t v;
    size_t len = 0;

    switch (n->type) {
    case T_NULL: return SF_OK;
    case T_BOOLEAN:
        if ((err = rd_need(rd, 1, "boolean")))
            return err;
        if (*rd->p > 1)
            return rd_fail(rd, SF_ERR_VALUE, "boolean byte %u is not 0 or 1",
                           *rd->p);
        rd->p++;
        return SF_OK;
    case T_INT: {
        int32_t i;
        return rd_int(rd, &i);
    }
    case T_LONG: return rd_long(rd, &v);
    case T_FLOAT:
        return rd_need(rd, 4, "float") ? rd->err : (rd->p += 4, SF_OK);
    case T_DOUBLE:
        return rd_need(rd, 8, "double") ? rd->err : (rd->p += 8, SF_OK);
    case T_BYTES:
    case T_STRING:
        if ((err = rd_len(rd, &len, sf_type_name(n->type))))
            return err;
        rd->p += len;
        return SF_OK;
    case T_FIXED:
        if ((err = rd_need(rd, n->size, "fixed")))
            return err;
        rd->p += n->size;
        return SF_OK;
    case T_ENUM:
        if ((err = rd_long(rd, &v)))
            return err;
        if (v < 0 || (uint64_t)v >= n->nsymbols)
            return rd_fail(rd, SF_ERR_VALUE,
                           "enum index %lld out of range "
                           "[0,%zu) of %s",
                           (long long)v, n->nsymbols, n->fullname);
        return SF_OK;
    case T_UNION:
        if ((err = rd_long(rd, &v)))
            return err;
        if (v < 0 || (uint64_t)v >= n->nbranches)
            return rd_fail(rd, SF_ERR_VALUE,
                           "union index %lld out of range "
                           "[0,%zu)",
                           (long long)v, n->nbranches);
        return skip(rd, n->branches[v]);
    default: break;
    }
    if (++rd->depth > SF_MAX_DEPTH)
        return rd_fail(rd, SF_ERR_VALUE, "nested deeper than %d", SF_MAX_DEPTH);
    if (n->type == T_RECORD) {
        for (size_t i = 0; i < n->nfields; i++)
            if ((err = skip(rd, n->fields[i].type))) {
                rd_seg(rd, "%s", n->fields[i].name);
                return err;
            }
    } else { /* array, map */
        int64_t total = 0, cnt;
        for (;;) {
            if ((err = rd_block(rd, n->items, total, &cnt)))
                return err;
            if (cnt == 0)
                break;
            for (int64_t i = 0; i < cnt; i++, total++) {
                if (n->type == T_MAP) {
                    if ((err = rd_len(rd, &len, "map key")))
                        return err;
                    rd->p += len;
                }
                if ((err = skip(rd, n->items))) {
                    rd_seg(rd, "[%lld]", (long long)total);
                    return err;
                }
            }
        }
    }
    rd->depth--;
    return SF_OK;
}

/* ---------------------------------------------------------------------
 * Running a plan
 * ------------------------------------------------------------------- */

static sf_err_t exec_record(sf_rd_t *rd, const op_t *op, avro_value_t *val) {
    avro_value_t child;
    sf_err_t err;

    for (size_t i = 0; i < op->nsteps; i++) {
        const rec_step_t *s = &op->steps[i];
        if (s->rindex < 0 && s->op && s->op->kind == OP_FAIL) {
            rd_fail(rd, SF_ERR_INCOMPATIBLE, "%s", s->op->fail);
            rd_seg(rd, "%s", s->name);
            return rd->err;
        } else if (s->rindex < 0) {
            err = skip(rd, s->wnode);
        } else {
            AVRO_TRY(
                rd,
                avro_value_get_by_index(val, (size_t)s->rindex, &child, NULL),
                "record field");
            err = sf_exec(rd, s->op, &child);
        }
        if (err) {
            rd_seg(rd, "%s", s->name);
            return err;
        }
    }
    for (size_t i = 0; i < op->nfills; i++) {
        const rec_fill_t *f = &op->fills[i];
        if (f->op->kind == OP_FAIL) {
            rd_fail(rd, SF_ERR_INCOMPATIBLE, "%s", f->op->fail);
            rd_seg(rd, "%s", f->field->name);
            return rd->err;
        }
        AVRO_TRY(rd,
                 avro_value_get_by_index(val, (size_t)f->rindex, &child, NULL),
                 "record field");
        /* Defaults were encoded and checked at load time; read them with
         * the same machinery by pointing the reader at them. */
        const uint8_t *sb = rd->base, *sp = rd->p, *se = rd->end;
        rd->base = rd->p = f->field->def_bin;
        rd->end = f->field->def_bin + f->field->def_len;
        err = sf_exec(rd, f->op, &child);
        rd->base = sb;
        rd->p = sp;
        rd->end = se;
        if (err) {
            rd_seg(rd, "%s(default)", f->field->name);
            return err;
        }
    }
    return SF_OK;
}

sf_err_t sf_exec(sf_rd_t *rd, const op_t *op, avro_value_t *val) {
    sf_err_t err;
    int32_t i32;
    int64_t i64;
    float f;
    double d;
    size_t len = 0;
    const char *s;

    switch (op->kind) {
    case OP_NULL:
        AVRO_TRY(rd, avro_value_set_null(val), "set null");
        return SF_OK;
    case OP_BOOLEAN:
        if ((err = rd_need(rd, 1, "boolean")))
            return err;
        if (*rd->p > 1)
            return rd_fail(rd, SF_ERR_VALUE, "boolean byte %u is not 0 or 1",
                           *rd->p);
        AVRO_TRY(rd, avro_value_set_boolean(val, *rd->p++), "set boolean");
        return SF_OK;
    case OP_INT:
        if ((err = rd_int(rd, &i32)))
            return err;
        AVRO_TRY(rd, avro_value_set_int(val, i32), "set int");
        return SF_OK;
    case OP_LONG:
        if ((err = rd_long(rd, &i64)))
            return err;
        AVRO_TRY(rd, avro_value_set_long(val, i64), "set long");
        return SF_OK;
    case OP_FLOAT:
        if ((err = rd_float(rd, &f)))
            return err;
        AVRO_TRY(rd, avro_value_set_float(val, f), "set float");
        return SF_OK;
    case OP_DOUBLE:
        if ((err = rd_double(rd, &d)))
            return err;
        AVRO_TRY(rd, avro_value_set_double(val, d), "set double");
        return SF_OK;
    case OP_BYTES:
    case OP_STRING_BYTES:
        if ((err = rd_len(rd, &len, op->kind == OP_BYTES ? "bytes" : "string")))
            return err;
        AVRO_TRY(rd, avro_value_set_bytes(val, (void *)rd->p, len),
                 "set bytes");
        rd->p += len;
        return SF_OK;
    case OP_STRING:
    case OP_BYTES_STRING:
        if ((err =
                 rd_len(rd, &len, op->kind == OP_STRING ? "string" : "bytes")))
            return err;
        if ((err = rd_cstr(rd, len, &s)))
            return err;
        AVRO_TRY(rd, avro_value_set_string_len(val, s, len + 1), "set string");
        return SF_OK;
    case OP_FIXED:
        if ((err = rd_need(rd, op->w->size, "fixed")))
            return err;
        AVRO_TRY(rd, avro_value_set_fixed(val, (void *)rd->p, op->w->size),
                 "set fixed");
        rd->p += op->w->size;
        return SF_OK;
    case OP_INT_LONG:
        if ((err = rd_int(rd, &i32)))
            return err;
        AVRO_TRY(rd, avro_value_set_long(val, i32), "set long");
        return SF_OK;
    case OP_INT_FLOAT:
        if ((err = rd_int(rd, &i32)))
            return err;
        AVRO_TRY(rd, avro_value_set_float(val, (float)i32), "set float");
        return SF_OK;
    case OP_INT_DOUBLE:
        if ((err = rd_int(rd, &i32)))
            return err;
        AVRO_TRY(rd, avro_value_set_double(val, i32), "set double");
        return SF_OK;
    case OP_LONG_FLOAT:
        if ((err = rd_long(rd, &i64)))
            return err;
        AVRO_TRY(rd, avro_value_set_float(val, (float)i64), "set float");
        return SF_OK;
    case OP_LONG_DOUBLE:
        if ((err = rd_long(rd, &i64)))
            return err;
        AVRO_TRY(rd, avro_value_set_double(val, (double)i64), "set double");
        return SF_OK;
    case OP_FLOAT_DOUBLE:
        if ((err = rd_float(rd, &f)))
            return err;
        AVRO_TRY(rd, avro_value_set_double(val, f), "set double");
        return SF_OK;
    case OP_ENUM:
        if ((err = rd_long(rd, &i64)))
            return err;
        if (i64 < 0 || (uint64_t)i64 >= op->enum_n)
            return rd_fail(rd, SF_ERR_VALUE,
                           "enum index %lld out of range "
                           "[0,%zu) of %s",
                           (long long)i64, op->enum_n, op->w->fullname);
        if (op->enum_map[i64] < 0)
            return rd_fail(rd, SF_ERR_INCOMPATIBLE,
                           "symbol %s is not in the "
                           "reader's enum %s, which has no default",
                           op->w->symbols[i64], op->r->fullname);
        AVRO_TRY(rd, avro_value_set_enum(val, op->enum_map[i64]), "set enum");
        return SF_OK;
    case OP_WUNION: {
        if ((err = rd_long(rd, &i64)))
            return err;
        if (i64 < 0 || (uint64_t)i64 >= op->nb)
            return rd_fail(rd, SF_ERR_VALUE,
                           "union index %lld out of range "
                           "[0,%zu)",
                           (long long)i64, op->nb);
        const op_t *bop = op->bops[i64];
        if (bop->kind == OP_FAIL)
            return rd_fail(rd, SF_ERR_INCOMPATIBLE, "%s", bop->fail);
        if (op->brindex[i64] < 0)
            return sf_exec(rd, bop, val);
        avro_value_t branch;
        AVRO_TRY(rd, avro_value_set_branch(val, op->brindex[i64], &branch),
                 "set union branch");
        return sf_exec(rd, bop, &branch);
    }
    case OP_RUNION: {
        avro_value_t branch;
        AVRO_TRY(rd, avro_value_set_branch(val, op->rbranch, &branch),
                 "set union branch");
        return sf_exec(rd, op->inner, &branch);
    }
    case OP_FAIL: return rd_fail(rd, SF_ERR_INCOMPATIBLE, "%s", op->fail);
    case OP_RECORD:
    case OP_ARRAY:
    case OP_MAP: break;
    }

    if (++rd->depth > SF_MAX_DEPTH)
        return rd_fail(rd, SF_ERR_VALUE, "nested deeper than %d", SF_MAX_DEPTH);
    if (op->kind == OP_RECORD) {
        if ((err = exec_record(rd, op, val)))
            return err;
    } else {
        int64_t total = 0, cnt;
        avro_value_t elem;
        AVRO_TRY(rd, avro_value_reset(val), "reset");
        for (;;) {
            if ((err = rd_block(rd, op->w->items, total, &cnt)))
                return err;
            if (cnt == 0)
                break;
            for (int64_t i = 0; i < cnt; i++, total++) {
                if (op->kind == OP_ARRAY) {
                    AVRO_TRY(rd, avro_value_append(val, &elem, NULL),
                             "array append");
                    err = sf_exec(rd, op->item, &elem);
                    if (err) {
                        rd_seg(rd, "[%lld]", (long long)total);
                        return err;
                    }
                } else {
                    if ((err = rd_len(rd, &len, "map key")) ||
                        (err = rd_cstr(rd, len, &s)))
                        return err;
                    AVRO_TRY(rd, avro_value_add(val, s, &elem, NULL, NULL),
                             "map add");
                    err = sf_exec(rd, op->item, &elem);
                    if (err) {
                        rd_seg(rd, "[%lld]", (long long)total);
                        return err;
                    }
                }
            }
        }
    }
    rd->depth--;
    return SF_OK;
}

sf_err_t sf_fill_default(const sf_field_t *f, const op_t *identity,
                         avro_value_t *val, char *errstr, size_t errstr_size) {
    sf_rd_t *rd = calloc(1, sizeof *rd);
    if (!rd)
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
    rd->base = rd->p = f->def_bin;
    rd->end = f->def_bin + f->def_len;
    sf_err_t err = sf_exec(rd, identity, val);
    if (err)
        sf_seterr(errstr, errstr_size, err, "default of %s: %s", f->name,
                  rd->msg);
    free(rd->scratch);
    free(rd);
    return err;
}

/* ---------------------------------------------------------------------
 * Single-object header and encoder
 * ------------------------------------------------------------------- */

sf_err_t sf_soe_header_parse(const void *buf, size_t len, uint64_t *fp,
                             char *errstr, size_t errstr_size) {
    const uint8_t *b = buf;
    if (!buf && len)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "single-object header: NULL buffer");
    if (len >= 1 && b[0] != SF_SOE_MAGIC0)
        return sf_seterr(errstr, errstr_size, SF_ERR_BAD_MAGIC,
                         "byte 0: 0x%02x is not the single-object magic "
                         "c3 01",
                         b[0]);
    if (len >= 2 && b[1] != SF_SOE_MAGIC1)
        return sf_seterr(errstr, errstr_size, SF_ERR_BAD_MAGIC,
                         "byte 1: 0x%02x is not the single-object magic "
                         "c3 01",
                         b[1]);
    if (len < SF_SOE_HEADER_SIZE)
        return sf_seterr(errstr, errstr_size, SF_ERR_TRUNCATED,
                         "byte %zu: single-object header needs %d bytes, "
                         "got %zu",
                         len, SF_SOE_HEADER_SIZE, len);
    uint64_t v = 0;
    for (int i = 9; i >= 2; i--)
        v = (v << 8) | b[i];
    *fp = v;
    return SF_OK;
}

sf_err_t sf_encode(const sf_schema_t *s, avro_value_t *value, void **out,
                   size_t *out_len, char *errstr, size_t errstr_size) {
    size_t size;
    if (!s || !value || !out || !out_len)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_encode: NULL argument");
    avro_schema_t vs = avro_value_get_schema(value);
    if (vs != s->avro && !avro_schema_equal(vs, s->avro))
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_encode: value is not an instance of %s v%d",
                         s->fullname, s->version);
    if (avro_value_sizeof(value, &size))
        return sf_seterr(errstr, errstr_size, SF_ERR_VALUE, "encoding %s: %s",
                         s->fullname, avro_strerror());
    uint8_t *buf = malloc(SF_SOE_HEADER_SIZE + size + 1);
    if (!buf)
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
    buf[0] = SF_SOE_MAGIC0;
    buf[1] = SF_SOE_MAGIC1;
    for (int i = 0; i < 8; i++)
        buf[2 + i] = (uint8_t)(s->fingerprint >> (8 * i));
    avro_writer_t w =
        avro_writer_memory((char *)buf + SF_SOE_HEADER_SIZE, (int64_t)size);
    if (!w) {
        free(buf);
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
    }
    int rval = avro_value_write(w, value);
    avro_writer_free(w);
    if (rval) {
        free(buf);
        return sf_seterr(errstr, errstr_size, SF_ERR_VALUE, "encoding %s: %s",
                         s->fullname, avro_strerror());
    }
    *out = buf;
    *out_len = SF_SOE_HEADER_SIZE + size;
    return SF_OK;
}

/* ---------------------------------------------------------------------
 * Decoder: one cached plan and one reusable value per writer fingerprint
 * ------------------------------------------------------------------- */

typedef struct dplan {
    uint64_t fp;
    const sf_schema_t *w, *r;
    sf_plan_t *owned; /* NULL when using r's identity plan */
    const op_t *root;
    avro_value_t value;
} dplan_t;

struct sf_decoder_s {
    const sf_catalog_t *cat;
    dplan_t **plans;
    size_t n, cap;
    size_t last;
    sf_rd_t rd;
};

sf_decoder_t *sf_decoder_new(const sf_catalog_t *cat) {
    if (!cat)
        return NULL;
    sf_decoder_t *d = calloc(1, sizeof *d);
    if (d)
        d->cat = cat;
    return d;
}

void sf_decoder_destroy(sf_decoder_t *dec) {
    if (!dec)
        return;
    for (size_t i = 0; i < dec->n; i++) {
        avro_value_decref(&dec->plans[i]->value);
        sf_plan_free(dec->plans[i]->owned);
        free(dec->plans[i]);
    }
    free(dec->plans);
    free(dec->rd.scratch);
    free(dec);
}

static sf_err_t get_plan(sf_decoder_t *dec, uint64_t fp, dplan_t **out,
                         char *errstr, size_t errstr_size) {
    if (dec->n && dec->plans[dec->last]->fp == fp) {
        *out = dec->plans[dec->last];
        return SF_OK;
    }
    for (size_t i = 0; i < dec->n; i++)
        if (dec->plans[i]->fp == fp) {
            dec->last = i;
            *out = dec->plans[i];
            return SF_OK;
        }
    const sf_schema_t *w = sf_catalog_by_fingerprint(dec->cat, fp);
    if (!w)
        return sf_seterr(errstr, errstr_size, SF_ERR_UNKNOWN_FINGERPRINT,
                         "byte 2: writer fingerprint %016llx is not in the "
                         "catalog",
                         (unsigned long long)fp);
    const sf_schema_t *r = sf_catalog_latest(dec->cat, w->fullname);
    dplan_t *p = calloc(1, sizeof *p);
    if (!p)
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
    p->fp = fp;
    p->w = w;
    p->r = r;
    if (w == r || w->fingerprint == r->fingerprint) {
        p->root = r->identity->root;
    } else {
        p->owned =
            sf_plan_compile(w->tree->root, r->tree->root, NULL, NULL, NULL);
        if (!p->owned) {
            free(p);
            return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                             "out of memory compiling %s v%d->v%d", w->fullname,
                             w->version, r->version);
        }
        p->root = p->owned->root;
    }
    if (avro_generic_value_new(r->iface, &p->value)) {
        sf_plan_free(p->owned);
        free(p);
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                         "avro-c value for %s: %s", r->fullname,
                         avro_strerror());
    }
    if (dec->n == dec->cap) {
        size_t nc = dec->cap ? dec->cap * 2 : 8;
        dplan_t **np = realloc(dec->plans, nc * sizeof *np);
        if (!np) {
            avro_value_decref(&p->value);
            sf_plan_free(p->owned);
            free(p);
            return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                             "out of memory");
        }
        dec->plans = np;
        dec->cap = nc;
    }
    dec->last = dec->n;
    dec->plans[dec->n++] = p;
    *out = p;
    return SF_OK;
}

sf_err_t sf_decoder_decode(sf_decoder_t *dec, const void *buf, size_t len,
                           avro_value_t **value, const sf_schema_t **writer,
                           const sf_schema_t **reader, char *errstr,
                           size_t errstr_size) {
    uint64_t fp;
    dplan_t *p = NULL;
    sf_err_t err;

    if (!dec || (!buf && len) || !value)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_decoder_decode: NULL argument");
    if ((err = sf_soe_header_parse(buf, len, &fp, errstr, errstr_size)))
        return err;
    if ((err = get_plan(dec, fp, &p, errstr, errstr_size)))
        return err;

    sf_rd_t *rd = &dec->rd;
    rd->base = buf;
    rd->p = rd->base + SF_SOE_HEADER_SIZE;
    rd->end = rd->base + len;
    rd->depth = 0;
    rd->err = SF_OK;
    err = sf_exec(rd, p->root, &p->value);
    if (!err && rd->p != rd->end)
        err = rd_fail(rd, SF_ERR_TRAILING, "%zu bytes left after the value",
                      left(rd));
    if (err) {
        char path[SF_PATH_MAX_SEGS * 80], head[600], reason[260];
        sf_rd_path(rd, path, sizeof path);
        snprintf(head, sizeof head, "%s v%d->v%d: ", p->w->fullname,
                 p->w->version, p->r->version);
        snprintf(reason, sizeof reason, "byte %zu: %s", rd->err_off, rd->msg);
        sf_err_path(errstr, errstr_size, head, path, reason);
        return err;
    }
    *value = &p->value;
    if (writer)
        *writer = p->w;
    if (reader)
        *reader = p->r;
    return SF_OK;
}
