/*
 * interp.h - argument templates of projection rules.
 *
 * A template is literal text with {path} placeholders:
 *   "cart:{aggregate_id}", "{data.address.city}", "{data.fighters[0].name}",
 *   "{data.quantity|neg}".  "{{" and "}}" are a literal brace.
 * Envelope paths: aggregate_id, type, version, time, event_id, partition,
 * offset, topic, timestamp (Kafka, ms).  header.NAME: the value of the
 * record header NAME (the last one when repeated; an absent header is
 * null, like an absent optional field), e.g. {header.traceparent}.  Payload
 * paths start with "data": record fields by name, map values by key, array
 * elements by [index]; unions are entered automatically (null renders as "").
 * Filters after '|': neg (negate an integer), json (render a record, array
 * or map as JSON; the default for those anyway).
 *
 * A rendered value is one argument: it is never split or re-parsed, so
 * event data cannot inject commands or arguments.
 */
#ifndef SF_PROJ_INTERP_H
#define SF_PROJ_INTERP_H

#include "event.h"
#include "keys.h"
#include "util.h"

typedef struct sf_path sf_path_t;
typedef struct sf_tmpl sf_tmpl_t;

/* Compiles text.  On error *errcol is the 0-based byte offset in text where
 * the problem is and errstr says what it is (without position). */
sf_err_t sf_tmpl_compile(const char *text, sf_tmpl_t **out, size_t *errcol,
                         char *errstr, size_t errstr_size);
void sf_tmpl_destroy(sf_tmpl_t *t);
/* Non-zero when the template has no placeholder; then *lit is its text. */
int sf_tmpl_is_literal(const sf_tmpl_t *t, const char **lit, size_t *len);

/* Renders t for ev, appending to out (not reset).  Errors (SF_ERR_RULE)
 * name the path: "data.address.town: no such field in ops.route.Address". */
sf_err_t sf_tmpl_render(const sf_tmpl_t *t, const sf_event_t *ev, sf_buf_t *out,
                        char *errstr, size_t errstr_size);

/* Renders t as a key: each placeholder's value is escaped with
 * sf_key_escape() (':' '%' and control bytes as %XX) so that event data
 * can never add a key segment, and a placeholder that renders empty or
 * null is an error (SF_ERR_RULE): an empty id names no aggregate. */
sf_err_t sf_tmpl_render_key(const sf_tmpl_t *t, const sf_event_t *ev,
                            sf_buf_t *out, char *errstr, size_t errstr_size);

/* A single path ("data.winner_id"), for conditions. */
sf_err_t sf_path_compile(const char *text, sf_path_t **out, size_t *errcol,
                         char *errstr, size_t errstr_size);
void sf_path_destroy(sf_path_t *p);
/* Renders the path's value into out (appending); *is_null is set when the
 * value is an Avro null. */
sf_err_t sf_path_render(const sf_path_t *p, const sf_event_t *ev, sf_buf_t *out,
                        int *is_null, char *errstr, size_t errstr_size);

/* A path for handler fields (sf_projection_field): like sf_path_compile,
 * plus at most one "[*]" whose index is given when reading. */
sf_err_t sf_path_compile_field(const char *text, sf_path_t **out,
                               size_t *errcol, char *errstr,
                               size_t errstr_size);
const char *sf_path_text(const sf_path_t *p);
int sf_path_has_star(const sf_path_t *p);

typedef enum {
    SF_PF_DATA,
    SF_PF_AGGREGATE_ID,
    SF_PF_TYPE,
    SF_PF_VERSION,
    SF_PF_TIME,
    SF_PF_EVENT_ID,
    SF_PF_PARTITION,
    SF_PF_OFFSET,
    SF_PF_TOPIC,
    SF_PF_TIMESTAMP,
    SF_PF_HEADER
} sf_path_field_t;
/* Which envelope field p reads, or SF_PF_DATA for a payload path. */
sf_path_field_t sf_path_envelope(const sf_path_t *p);
/* The header name of a header.NAME path (SF_PF_HEADER), else NULL. */
const char *sf_path_header(const sf_path_t *p);

/* Walks the data path p in ev's payload without allocating, unions
 * entered, and sets *out to the value found (borrowed from ev).  star is
 * the index of a "[*]" segment; with upto_star the walk stops before it
 * (*out is then the array).  *is_null is set (and *out untouched) when
 * the value, or a value on the way, is an Avro null: absent, optional.
 * SF_ERR_RULE naming the path for a missing field or map key, an index out
 * of range, or a step into a scalar. */
sf_err_t sf_path_value(const sf_path_t *p, const sf_event_t *ev, size_t star,
                       int upto_star, avro_value_t *out, int *is_null,
                       char *errstr, size_t errstr_size);
/* "record", "string", ...: for errors. */
const char *sf_value_type_label(avro_value_t *v);

/* Checks the data paths of t (of p) against schema, the newest version
 * of the event type, as rendering would walk them: fields that exist,
 * map values, array items, unions entered, |neg only on numbers.
 * SF_ERR_RULE naming the path; *errcol is the byte offset of the failing
 * path in the template text. */
sf_err_t sf_tmpl_check(const sf_tmpl_t *t, avro_schema_t schema, size_t *errcol,
                       char *errstr, size_t errstr_size);
sf_err_t sf_path_check(const sf_path_t *p, avro_schema_t schema, char *errstr,
                       size_t errstr_size);

/* A glob (keys.h) matching every key t can render in a key position:
 * literal text as it is, each placeholder as one or more bytes an escaped
 * id can hold (never ':' nor a control byte, never empty).  Used to tell
 * at load time a key template that can never match the projection's keys:
 * patterns.  *out is the caller's (sf_glob_destroy). */
sf_err_t sf_tmpl_key_glob(const sf_tmpl_t *t, sf_glob_t **out);

#endif
