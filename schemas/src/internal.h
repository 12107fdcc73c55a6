/*
 * internal.h - private structures of the schema module.
 *
 * Design note.  avro-c keeps neither field defaults nor enum defaults and its
 * resolvers refuse added reader fields, so we keep our own tree of every
 * schema (sf_node_t), parsed from the JSON text next to avro-c's
 * avro_schema_t of the same text.  Both are built from the same JSON, so
 * record field i, union branch i and enum symbol i are the same in both and
 * our decoder can fill avro-c generic values by index.
 *
 * Decoding runs a "plan": a graph of ops compiled once per (writer, reader)
 * pair by plan.c.  The same compiler reports incompatibilities for the
 * compatibility check, so what `sf-schema check` accepts is exactly what the
 * decoder can read.
 */
#ifndef SF_SCHEMA_INTERNAL_H
#define SF_SCHEMA_INTERNAL_H

#include <stdint.h>
#include <stddef.h>

#include <avro.h>
#include <jansson.h>
#include <string.h>

#include "sf_buf.h"
#include "sf_schema.h"

typedef enum sf_type {
    T_NULL,
    T_BOOLEAN,
    T_INT,
    T_LONG,
    T_FLOAT,
    T_DOUBLE,
    T_BYTES,
    T_STRING,
    T_RECORD,
    T_ENUM,
    T_ARRAY,
    T_MAP,
    T_UNION,
    T_FIXED
} sf_type_t;

typedef struct sf_node sf_node_t;

typedef struct sf_field {
    char *name;
    char **aliases;
    size_t naliases;
    sf_node_t *type;
    json_t *def;      /* the "default" JSON, NULL when none */
    uint8_t *def_bin; /* default in Avro binary (of type) */
    size_t def_len;
} sf_field_t;

struct sf_node {
    sf_type_t type;
    char *fullname; /* named types */
    char *name;     /* unqualified name */
    char **aliases; /* full names */
    size_t naliases;
    char *logical;      /* logicalType or NULL */
    sf_field_t *fields; /* record */
    size_t nfields;
    char **symbols; /* enum */
    size_t nsymbols;
    int enum_default;     /* index or -1 */
    size_t size;          /* fixed */
    sf_node_t *items;     /* array items, map values */
    sf_node_t **branches; /* union */
    size_t nbranches;
    size_t min_size; /* smallest encoding in bytes */
    int min_state;   /* 0 not computed, 1 computing, 2 done */
};

/* Every node of one parsed schema, so it can be freed in one go. */
typedef struct sf_tree {
    sf_node_t **nodes;
    size_t n, cap;
    sf_node_t **named; /* named types, for references */
    size_t nnamed, capnamed;
    sf_node_t *root;
} sf_tree_t;

/* parse.c */
sf_err_t sf_tree_parse(const json_t *json, sf_tree_t **out, const char *origin,
                       int check_defaults, char *errstr, size_t errstr_size);
void sf_tree_free(sf_tree_t *t);
/* Canonical form of a parsed tree, malloc()ed. */
char *sf_tree_canonical(const sf_node_t *root);
const char *sf_type_name(sf_type_t t);
/* Name of a node as used in union JSON encoding ("string", "a.b.Rec"). */
const char *sf_node_branch_name(const sf_node_t *n);
size_t sf_node_min_size(sf_node_t *n);

/* Growing byte buffer: the core one (sf_buf.h), plus Avro's varint. */
void sf_buf_long(sf_buf_t *b, int64_t v); /* zig-zag varint */

/* ---- plans (plan.c) ---- */

typedef enum op_kind {
    OP_NULL,
    OP_BOOLEAN,
    OP_INT,
    OP_LONG,
    OP_FLOAT,
    OP_DOUBLE,
    OP_BYTES,
    OP_STRING,
    OP_FIXED,
    OP_INT_LONG,
    OP_INT_FLOAT,
    OP_INT_DOUBLE,
    OP_LONG_FLOAT,
    OP_LONG_DOUBLE,
    OP_FLOAT_DOUBLE,
    OP_STRING_BYTES,
    OP_BYTES_STRING,
    OP_ENUM,
    OP_ARRAY,
    OP_MAP,
    OP_RECORD,
    OP_WUNION, /* writer is a union: read branch index, dispatch */
    OP_RUNION, /* only the reader is a union: select a branch */
    OP_FAIL    /* unresolvable: error when data reaches it */
} op_kind_t;

typedef struct op op_t;

typedef struct rec_step {
    int rindex;             /* reader field index, -1 = skip */
    const sf_node_t *wnode; /* writer field type */
    const char *name;       /* writer field name (for errors) */
    op_t *op;
} rec_step_t;

typedef struct rec_fill {
    int rindex; /* reader field to set from its default */
    const sf_field_t *field;
    op_t *op; /* identity op of the field's type */
} rec_fill_t;

struct op {
    op_kind_t kind;
    const sf_node_t *w, *r;
    int *enum_map; /* writer symbol -> reader symbol or -1 */
    size_t enum_n;
    op_t *item; /* array / map */
    rec_step_t *steps;
    size_t nsteps;
    rec_fill_t *fills;
    size_t nfills;
    op_t **bops;  /* writer union: op per writer branch */
    int *brindex; /* reader branch per writer branch or -1 */
    size_t nb;
    int rbranch; /* OP_RUNION */
    op_t *inner;
    char *fail; /* OP_FAIL reason */
};

typedef struct sf_plan {
    op_t **ops; /* arena */
    size_t n, cap;
    struct plan_memo {
        const sf_node_t *w, *r;
        op_t *op;
    } * memo;
    size_t nmemo, capmemo;
    op_t *root;
} sf_plan_t;

/* Problem reporter used while compiling (compatibility check). */
typedef void (*sf_plan_report_fn)(void *opaque, const char *path,
                                  const char *reason);

/* Compiles a plan reading data written with w into values of r.  Every
 * incompatibility becomes an OP_FAIL op and is reported through rep (may be
 * NULL); *problems receives their count.  NULL on out of memory. */
sf_plan_t *sf_plan_compile(const sf_node_t *w, const sf_node_t *r,
                           sf_plan_report_fn rep, void *opaque,
                           size_t *problems);
void sf_plan_free(sf_plan_t *p);

/* ---- schema in a catalog ---- */

struct sf_schema_s {
    char *fullname;
    int version;
    uint64_t fingerprint;
    char *canonical;
    char *origin;
    char *json_text;
    sf_tree_t *tree;
    avro_schema_t avro;
    avro_value_iface_t *iface;
    sf_plan_t *identity; /* plan reading its own data */
};

/* ---- binary reading (decode.c) ---- */

#define SF_PATH_MAX_SEGS 32
#define SF_MAX_DEPTH     200
/* Items of a zero-byte type (null, empty record) one array may hold. */
#define SF_MAX_ZERO_ITEMS (1 << 20)

typedef struct sf_rd {
    const uint8_t *base, *p, *end;
    char *scratch; /* NUL-terminated copies of strings */
    size_t scratch_cap;
    int depth; /* nesting, bounded by SF_MAX_DEPTH */
    sf_err_t err;
    size_t err_off;
    char msg[200];
    int nsegs;    /* path segments, innermost first */
    int segs_cut; /* outer segments beyond the limit lost */
    char segs[SF_PATH_MAX_SEGS][72];
} sf_rd_t;

/* Writes "<head><path>: <reason>" (just "<head><reason>" for an empty
 * path) into out, shortening the path in its middle, never the reason,
 * when the whole does not fit (errpath.c). */
void sf_err_path(char *out, size_t size, const char *head, const char *path,
                 const char *reason);

/* Runs op over rd into val. */
sf_err_t sf_exec(sf_rd_t *rd, const op_t *op, avro_value_t *val);
/* Formats rd's error path ("a.b[2].c") into out. */
void sf_rd_path(const sf_rd_t *rd, char *out, size_t size);

/* Fills val (of n's type) with the default of field f. */
sf_err_t sf_fill_default(const sf_field_t *f, const op_t *identity,
                         avro_value_t *val, char *errstr, size_t errstr_size);

/* Finds the identity op for a node in a schema's identity plan. */
const op_t *sf_plan_find(const sf_plan_t *p, const sf_node_t *n);

/* "object", "array", "string", "number", "boolean" or "null" (parse.c). */
const char *sf_json_kind(const json_t *j);

/* The text of a JSON string that is a name, symbol, type or other word of
 * a schema, or NULL when j is not a string or holds U+0000.  Schema text
 * is read with JSON_ALLOW_NUL because "\u0000" is byte 0x00 in the JSON
 * form of bytes and fixed defaults (spec, "Schema Declaration": bytes and
 * fixed defaults are strings of code points 0-255); words must therefore
 * be checked not to hide a NUL that would cut them short in C. */
static inline const char *sf_json_word(const json_t *j) {
    const char *s = json_string_value(j);
    if (s && strlen(s) != json_string_length(j))
        return NULL;
    return s;
}

#endif
