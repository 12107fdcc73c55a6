/*
 * sf_schema.h - Avro schemas for Streamfold events.
 *
 * What this module gives:
 *   - Parsing Canonical Form and the CRC-64-AVRO fingerprint (Avro spec,
 *     "Parsing Canonical Form for Schemas", "Schema Fingerprints");
 *   - a catalog: a directory of .avsc files indexed by Avro full name and by
 *     fingerprint, the newest version of each type being its reader schema;
 *   - the single-object codec (C3 01, 8-byte little-endian fingerprint,
 *     Avro binary body) with schema resolution from any older writer version
 *     to the newest reader version (defaults, promotions, enum defaults,
 *     union branch matching).  Where the spec leaves room, Java's reader
 *     decides: a writer field resolves to the reader field of its own name
 *     first; aliases rename writer fields (spec, "Aliases"), so a pair in
 *     which that renaming gives two fields of one name is incompatible
 *     (Java: duplicate field); a named writer union branch goes to the
 *     reader branch with its full name before one with its short name
 *     (Java's Resolver);
 *   - Avro JSON encoding <-> Avro values, with errors naming the field path;
 *   - compatibility checks between versions of a type.
 *
 * Values are avro-c generic values (avro_value_t, <avro.h>).
 *
 * Errors: every fallible call returns sf_err_t (sf_core.h) and writes one
 * line into the caller's errstr buffer naming what failed and where (file,
 * field path, byte offset).  Nothing here prints or exits.
 *
 * Threading: a catalog is built on one thread; once loading is done it is
 * read-only and may be shared by any number of threads.  A decoder is not
 * thread-safe: use one per thread.  The free functions are thread-safe.
 */
#ifndef SF_SCHEMA_H
#define SF_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include <avro.h>

#include "sf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with -fvisibility=hidden: what this header declares
 * is exactly what it exports (tests/unit/core/test_exports.sh checks). */
#pragma GCC visibility push(default)

struct json_t; /* jansson */

/* ---------------------------------------------------------------------
 * Canonical form and fingerprints
 * ------------------------------------------------------------------- */

/* CRC-64-AVRO (Rabin) fingerprint of len bytes, as the Avro spec defines it
 * (empty = 0xc15d213aa4d7a795). */
uint64_t sf_crc64_avro(const void *data, size_t len);

/* Parsing Canonical Form of a schema given as JSON text.
 * On success *canonical is a NUL-terminated malloc()ed string the caller
 * frees with free().  Field defaults are not checked here (the canonical
 * form drops them, and the spec's own vectors carry ill-typed ones); the
 * catalog checks them.  Errors: SF_ERR_PARSE (JSON, "schema:LINE:COL"),
 * SF_ERR_SCHEMA (not valid Avro, with the JSON path, e.g.
 * "fields[2].type: unknown type \"strin\"").
 *
 * The fingerprint is a 64-bit integer; the Avro spec's vectors print it in
 * signed decimal, `sf-schema fingerprint` as 16 hex digits of that integer,
 * and single-object bytes carry it little-endian. */
sf_err_t sf_schema_canonical_form(const char *schema_json, size_t len,
                                  char **canonical, char *errstr,
                                  size_t errstr_size);

/* CRC-64-AVRO of the Parsing Canonical Form of schema_json (the integer;
 * on the wire it is written little-endian). */
sf_err_t sf_schema_fingerprint_json(const char *schema_json, size_t len,
                                    uint64_t *fingerprint, char *errstr,
                                    size_t errstr_size);

/* ---------------------------------------------------------------------
 * Catalog
 * ------------------------------------------------------------------- */

typedef struct sf_catalog_s sf_catalog_t;
/* A schema in a catalog; owned by the catalog, valid until it is destroyed. */
typedef struct sf_schema_s sf_schema_t;

sf_catalog_t *sf_catalog_new(void);
void sf_catalog_destroy(sf_catalog_t *cat);

/* Loads every *.avsc file below dir (recursively, in sorted order).  File
 * names carry the version: "<Name>.v<N>.avsc" (a name without ".v<N>" is
 * version 1).  The record's Avro full name is the type; the highest version
 * of a type is its reader schema.  Two files with the same full name and
 * version, a file that is not a valid schema, a top-level schema that is
 * not a named type, or a field default that does not fit its type fail the
 * whole load with file name and reason in errstr (SF_ERR_IO, SF_ERR_PARSE,
 * SF_ERR_SCHEMA).  Defaults of bytes and fixed may hold "\u0000" (byte
 * 0x00); a name, namespace, symbol, alias or type name holding U+0000 is
 * refused. */
sf_err_t sf_catalog_load_dir(sf_catalog_t *cat, const char *dir, char *errstr,
                             size_t errstr_size);

/* Adds one schema from JSON text (copied).  origin names it in errors (a
 * file path or any label); version >= 1.  *out may be NULL. */
sf_err_t sf_catalog_add(sf_catalog_t *cat, const char *schema_json, size_t len,
                        const char *origin, int version,
                        const sf_schema_t **out, char *errstr,
                        size_t errstr_size);

/* Newest version of a type by Avro full name ("shop.cart.CartOpened"),
 * or NULL. */
const sf_schema_t *sf_catalog_latest(const sf_catalog_t *cat,
                                     const char *fullname);
/* A given version of a type, or NULL. */
const sf_schema_t *sf_catalog_version(const sf_catalog_t *cat,
                                      const char *fullname, int version);
/* The schema whose canonical-form fingerprint is fp, or NULL. */
const sf_schema_t *sf_catalog_by_fingerprint(const sf_catalog_t *cat,
                                             uint64_t fp);
/* Iteration over all schemas, ordered by full name, then version. */
size_t sf_catalog_count(const sf_catalog_t *cat);
const sf_schema_t *sf_catalog_get(const sf_catalog_t *cat, size_t i);

const char *sf_schema_fullname(const sf_schema_t *s);
int sf_schema_version(const sf_schema_t *s);
uint64_t sf_schema_fingerprint(const sf_schema_t *s);
const char *sf_schema_canonical(const sf_schema_t *s);
const char *sf_schema_origin(const sf_schema_t *s);
/* The avro-c schema, borrowed (do not decref). */
avro_schema_t sf_schema_avro(const sf_schema_t *s);

/* ---------------------------------------------------------------------
 * Single-object encoding
 * ------------------------------------------------------------------- */

#define SF_SOE_MAGIC0      0xC3
#define SF_SOE_MAGIC1      0x01
#define SF_SOE_HEADER_SIZE 10

/* Reads the 10-byte header: magic and little-endian fingerprint. */
sf_err_t sf_soe_header_parse(const void *buf, size_t len, uint64_t *fp,
                             char *errstr, size_t errstr_size);

/* Encodes value (which must be an instance of s's schema) as single-object
 * bytes.  *out is malloc()ed; the caller frees it with free(). */
sf_err_t sf_encode(const sf_schema_t *s, avro_value_t *value, void **out,
                   size_t *out_len, char *errstr, size_t errstr_size);

/* A decoder turns single-object bytes of any version known to the catalog
 * into a value of the newest version of that type (schema resolution).
 * The catalog must outlive the decoder.  Not thread-safe. */
typedef struct sf_decoder_s sf_decoder_t;

sf_decoder_t *sf_decoder_new(const sf_catalog_t *cat);
void sf_decoder_destroy(sf_decoder_t *dec);

/* Decodes buf.  On success *value points to a value owned by the decoder,
 * valid until the next decode on it or its destruction; *writer and
 * *reader (each may be NULL) receive the writer's and reader's schemas.
 * Errors: SF_ERR_TRUNCATED (short buffer or body, or a length or item count
 * larger than the bytes left), SF_ERR_BAD_MAGIC,
 * SF_ERR_UNKNOWN_FINGERPRINT, SF_ERR_TRAILING, SF_ERR_VALUE (e.g. a union
 * index or enum symbol out of range, a negative length, an int out of
 * range, a varint over 10 bytes, nesting deeper than 200),
 * SF_ERR_INCOMPATIBLE (the data uses something the newest version cannot
 * hold: a union branch or enum symbol without a match), SF_ERR_NOMEM,
 * SF_ERR_INVALID_ARG.  errstr reads
 * "<type> v<W>->v<R>: <field path>: byte <offset>: <what>" (a path too
 * long for errstr is shortened in its middle, never <what>), e.g.
 * "shop.cart.ItemAddedToCart v1->v2: sku: byte 13: string length 3
 * exceeds the 0 bytes left".  Never reads outside buf.
 * The resolution plan of each writer fingerprint is compiled once and
 * cached in the decoder, with one reusable value per writer. */
sf_err_t sf_decoder_decode(sf_decoder_t *dec, const void *buf, size_t len,
                           avro_value_t **value, const sf_schema_t **writer,
                           const sf_schema_t **reader, char *errstr,
                           size_t errstr_size);

/* ---------------------------------------------------------------------
 * Avro JSON encoding
 * ------------------------------------------------------------------- */

/* Builds a new value of s's schema from JSON in the Avro JSON encoding
 * (unions as {"branch": value} or null, the branch named by its type name
 * or full name; bytes/fixed as ISO-8859-1 strings, "\u0000" being byte
 * 0x00 (parse JSON text with JSON_ALLOW_NUL); logical types as their
 * underlying type, timestamp-millis also accepted as an RFC 3339 string;
 * float/double also as "NaN", "Infinity", "-Infinity").  Leniencies for
 * hand-written events: a record field missing from the JSON takes its
 * default (an error if it has none), and a bare union value is taken by the
 * first branch whose type fits its JSON kind.  Fields the record does not
 * have are errors.  path names the root in errors ("data" gives
 * "data.items[2].sku: expected string, got number"; map entries as
 * data.tags["key"]).  Errors: SF_ERR_VALUE, SF_ERR_PARSE (text only),
 * SF_ERR_NOMEM.  On success *out is a new value the caller releases with
 * avro_value_decref(); on failure *out is left empty. */
sf_err_t sf_value_from_json(const sf_schema_t *s, const struct json_t *json,
                            const char *path, avro_value_t *out, char *errstr,
                            size_t errstr_size);
/* The same from JSON text. */
sf_err_t sf_value_from_json_text(const sf_schema_t *s, const char *text,
                                 size_t len, const char *path,
                                 avro_value_t *out, char *errstr,
                                 size_t errstr_size);

/* Avro JSON encoding of value (unions as {"<type or full name>": value} or
 * null; NaN and infinities as the strings "NaN", "Infinity", "-Infinity").
 * *json is a new jansson reference the caller releases with json_decref().
 * Errors: SF_ERR_VALUE (e.g. a string that is not UTF-8), SF_ERR_NOMEM. */
sf_err_t sf_value_to_json(const avro_value_t *value, struct json_t **json,
                          char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------------
 * Compatibility
 * ------------------------------------------------------------------- */

/* Called once per incompatibility found; field is a path ("items[].sku") or
 * "" for the whole type. */
typedef void (*sf_compat_report_cb)(void *opaque, const char *type,
                                    int reader_version, int writer_version,
                                    const char *field, const char *reason);

typedef enum sf_compat_mode {
    SF_COMPAT_BACKWARD, /* each newer version reads all older ones */
    SF_COMPAT_FORWARD,  /* each older version reads all newer ones */
    SF_COMPAT_FULL      /* both */
} sf_compat_mode_t;

/* Can data written with writer be read with reader (Avro schema
 * resolution, exactly the rules sf_decoder_decode applies)?  SF_OK or
 * SF_ERR_INCOMPATIBLE, reporting each problem through cb (may be NULL),
 * called synchronously on the caller's thread.  A writer union branch or
 * enum symbol the reader cannot take counts as a problem even though
 * decoding only fails for data that uses it. */
sf_err_t sf_schema_can_read(const sf_schema_t *reader,
                            const sf_schema_t *writer, sf_compat_report_cb cb,
                            void *opaque);

/* Checks every version chain in the catalog in the given mode; returns
 * SF_OK or SF_ERR_INCOMPATIBLE after reporting every problem. */
sf_err_t sf_catalog_check(const sf_catalog_t *cat, sf_compat_mode_t mode,
                          sf_compat_report_cb cb, void *opaque);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* SF_SCHEMA_H */
