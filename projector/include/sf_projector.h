/*
 * sf_projector.h - the Streamfold projector: C handler API and library
 * entry point.
 *
 * Most projections need no C at all: a YAML rules file maps each event type
 * to Redis write commands (projector/README.md).  For logic the rules cannot
 * express, a projection registers C handlers, one per event type (Avro full
 * name).  A handler receives the decoded event and APPENDS Redis commands to
 * the batch it is given; it never talks to Redis itself.  The projector
 * applies the batch atomically together with the partition's checkpoint, so
 * a handler must be a pure function of the event: it may run again for the
 * same event after a crash (its commands are then discarded by the
 * checkpoint, never applied twice).
 *
 * Ways to bring handlers in:
 *   1. a shared object named in the config (`handler: ./libmyproj.so`);
 *      the projector dlopen()s it and calls its symbol
 *      `sf_projection_init` (declared below) once per projection;
 *   2. a custom worker binary: call sf_projector_register_init() for a
 *      projection name, then hand argc/argv to sf_projector_main();
 *   3. the same registration, then sf_projector_new()/run()/stop() to run
 *      the projector inside a service's own process.
 * Handlers read event fields by path (sf_projection_field(), compiled once
 * at init; sf_event_string() ... per event, no allocation) and append
 * commands with sf_batch_commandf() or sf_batch_command().
 *
 * Misconfiguration fails at start with one line naming the projection: an
 * init registered for a name the config lacks, a type the schema catalog
 * lacks (sf_projection_on, sf_projection_field), a projection left with
 * neither rules nor handlers, handlers without keys: patterns.
 *
 * Units: offsets and partitions as Kafka numbers them; times in ms since
 * the Unix epoch (int64_t); timeouts in ms (int).
 *
 * Threading: each projection runs on its own thread; the handlers of one
 * projection are always called from that projection's thread, one event at
 * a time.  Handlers of different projections may run concurrently.
 *
 * Errors: every fallible call returns sf_err_t (sf_core.h) and writes one
 * line into the caller's errstr buffer.  A handler that returns an error
 * other than SF_OK sends the event to the dead-letter topic (or stops the
 * worker if the projection says on_error: stop); its commands for that
 * event are discarded.
 */
#ifndef SF_PROJECTOR_H
#define SF_PROJECTOR_H

#include <stdarg.h>
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

/* One consumed event: envelope plus decoded payload.  Owned by the
 * projector, valid only during the handler call. */
typedef struct sf_event_s sf_event_t;

/* A projection being configured, passed to the init function.  Owned by
 * the projector. */
typedef struct sf_projection_s sf_projection_t;

/* Envelope (CloudEvents headers, Kafka coordinates).  Strings are
 * NUL-terminated, owned by the event, "" when the header is absent.  They
 * are whole: a record whose ce_type, ce_subject (or record key), ce_id,
 * ce_time or ce_sequence holds a NUL byte never reaches a handler; it is
 * dead-lettered naming the header (CloudEvents 1.0 forbids U+0000 in
 * attribute values). */
const char *sf_event_topic(const sf_event_t *ev);
int32_t sf_event_partition(const sf_event_t *ev);
int64_t sf_event_offset(const sf_event_t *ev);
/* Kafka record timestamp, ms since the epoch (-1 if unknown). */
int64_t sf_event_timestamp(const sf_event_t *ev);
/* ce_subject, or the record key when the header is absent. */
const char *sf_event_aggregate_id(const sf_event_t *ev);
/* ce_type: the Avro full name ("shop.cart.CartOpened"). */
const char *sf_event_type(const sf_event_t *ev);
/* ce_id, ce_time (RFC 3339), ce_sequence (decimal aggregate version). */
const char *sf_event_id(const sf_event_t *ev);
const char *sf_event_time(const sf_event_t *ev);
const char *sf_event_version(const sf_event_t *ev);
/* ce_sequence as a number: the aggregate version, 1-based; -1 when the
 * header is absent or not a non-negative decimal integer. */
int64_t sf_event_aggregate_version(const sf_event_t *ev);
/* ce_time in ms since the epoch (RFC 3339, any offset); the Kafka record
 * timestamp when ce_time is absent or unparsable. */
int64_t sf_event_time_ms(const sf_event_t *ev);
/* The decoded payload, resolved to the newest schema version of its type
 * (a record).  Borrowed: do not decref, do not keep. */
const avro_value_t *sf_event_data(const sf_event_t *ev);

/* ---- Record headers ----
 *
 * Besides the CloudEvents headers (ce_*, content-type) an event may carry
 * extra Kafka record headers: a W3C Trace Context `traceparent`, a tenant
 * id, ... (sf_producer_event_set_header(), `sf-publish -H NAME=VALUE`).
 * Handlers read any header of the record, CloudEvents ones included:
 *
 *   const void *tp; size_t tplen;
 *   if (sf_event_header(ev, "traceparent", &tp, &tplen) == SF_OK)
 *       ... tp holds tplen bytes ...
 *
 * Names are compared exactly (case-sensitive), as Kafka does.  A name may
 * repeat in a record (KIP-82): the LAST value wins, as librdkafka's
 * rd_kafka_header_get_last() and Java's Headers.lastHeader() do.  Values
 * are bytes (binary safe, NOT NUL-terminated: use the length); a header
 * whose value is null (KIP-82 allows it) gives *value NULL and *len 0.
 * Ownership: value and name are borrowed from the record the event was
 * read from, valid until the handler returns; do not free, do not keep.
 * No allocation: headers are looked up on demand in librdkafka's parsed
 * header list of the message.
 * Threading: call from the handler's thread, during the handler call.
 * Errors: SF_ERR_NOT_FOUND when the record has no such header (no errstr:
 * absence is an ordinary answer).  value/len/name may be NULL when not
 * wanted. */
sf_err_t sf_event_header(const sf_event_t *ev, const char *name,
                         const void **value, size_t *len);

/* The idx-th header of the record (0-based, in record order, repeated
 * names each at their own place, CloudEvents headers included), for
 * iterating over all of them:
 *   for (size_t i = 0;
 *        sf_event_header_at(ev, i, &name, &val, &len) == SF_OK; i++) ...
 * name is NUL-terminated.  SF_ERR_NOT_FOUND when idx is past the last
 * header.  Same ownership and threading as sf_event_header(). */
sf_err_t sf_event_header_at(const sf_event_t *ev, size_t idx, const char **name,
                            const void **value, size_t *len);

/* ---- Reading event fields by path ----
 *
 * A field is a path in the language of the rules (projector/README.md,
 * "Rules"), compiled ONCE in the init function with sf_projection_field()
 * and read per event with the typed calls below, which walk the decoded
 * value in place: no allocation, no copies; strings are borrowed from the
 * event (valid during the handler call, NOT NUL-terminated in general:
 * use the length).
 *   data.customer.customer_id   record fields by name, map values by key
 *   data.parcels[0].id          array elements by index
 *   data.fighters[*].name       one [*] per path: the index is given when
 *                               reading (the *_at calls; sf_event_count()
 *                               gives the length of that array)
 *   aggregate_id, type, event_id, topic, time, version, partition, offset,
 *   timestamp                   the envelope, as in the rules
 *   header.traceparent          a record header's value (sf_event_string:
 *                               its bytes; sf_event_int64: a decimal
 *                               value); absent is SF_ERR_NOT_FOUND and
 *                               sf_event_is_null() 1, like a null field
 * Unions are entered automatically (["null", T] is T or null).  An Avro
 * null met on the way (an absent optional value or record) makes the
 * field null: the getters return SF_ERR_NOT_FOUND, sf_event_is_null()
 * returns 1.
 *
 * Types a getter accepts (anything else: SF_ERR_RULE "data.x: a long, not
 * a string"):
 *   sf_event_string  string, bytes, fixed, enum (its symbol); envelope
 *                    strings (aggregate_id may hold any byte but NUL)
 *   sf_event_int64   int, long; version (ce_sequence), time (ce_time in
 *                    ms since the epoch), partition, offset, timestamp
 *   sf_event_double  float, double, int, long (long exact up to 2^53)
 *   sf_event_bool    boolean
 * Every error names the path and goes into errstr (a handler can return
 * the code as it is: the event is dead-lettered with that line).
 * Threading: fields are immutable once compiled; read them from the
 * projection's thread (the handler). */
typedef struct sf_field_s sf_field_t;

/* Compiles path (copied) for the handlers of proj.  With type (an Avro
 * full name) the path is checked against the newest schema of that type
 * in the catalog: a field that no version has is an error at start
 * (SF_ERR_RULE naming the path; SF_ERR_UNKNOWN_TYPE for a type the
 * catalog lacks).  type NULL: no check (envelope-only or generic fields).
 * *out is owned by proj and freed with it.  Call only from the init
 * function. */
sf_err_t sf_projection_field(sf_projection_t *proj, const char *type,
                             const char *path, const sf_field_t **out,
                             char *errstr, size_t errstr_size);

sf_err_t sf_event_string(const sf_event_t *ev, const sf_field_t *f,
                         const char **s, size_t *len, char *errstr,
                         size_t errstr_size);
sf_err_t sf_event_int64(const sf_event_t *ev, const sf_field_t *f, int64_t *out,
                        char *errstr, size_t errstr_size);
sf_err_t sf_event_double(const sf_event_t *ev, const sf_field_t *f, double *out,
                         char *errstr, size_t errstr_size);
/* *out is 0 or 1. */
sf_err_t sf_event_bool(const sf_event_t *ev, const sf_field_t *f, int *out,
                       char *errstr, size_t errstr_size);
/* 1 when the field is null (absent optional), 0 otherwise, including when
 * the path does not resolve (the getters say why). */
int sf_event_is_null(const sf_event_t *ev, const sf_field_t *f);

/* The same with the index i for the path's [*] (ignored without one);
 * i out of range is SF_ERR_RULE. */
sf_err_t sf_event_string_at(const sf_event_t *ev, const sf_field_t *f, size_t i,
                            const char **s, size_t *len, char *errstr,
                            size_t errstr_size);
sf_err_t sf_event_int64_at(const sf_event_t *ev, const sf_field_t *f, size_t i,
                           int64_t *out, char *errstr, size_t errstr_size);
sf_err_t sf_event_double_at(const sf_event_t *ev, const sf_field_t *f, size_t i,
                            double *out, char *errstr, size_t errstr_size);
sf_err_t sf_event_bool_at(const sf_event_t *ev, const sf_field_t *f, size_t i,
                          int *out, char *errstr, size_t errstr_size);
int sf_event_is_null_at(const sf_event_t *ev, const sf_field_t *f, size_t i);

/* Number of elements of the array (or map) f names; for a path with [*],
 * of the array the [*] indexes.  A null (absent optional) array has 0. */
sf_err_t sf_event_count(const sf_event_t *ev, const sf_field_t *f, size_t *n,
                        char *errstr, size_t errstr_size);

/* The commands of the batch being built for the current event. */
typedef struct sf_batch_s sf_batch_t;

/* Appends one Redis command (argv[0] is the command name) for the current
 * event.  Each argument is sent as its own bulk string (binary safe; no
 * quoting or injection possible).  argvlen may be NULL: then every argv[i]
 * is a NUL-terminated string.  The data is copied.
 * Only write commands from the projector's allow-list are accepted
 * (SET, DEL, UNLINK, HSET, HDEL, HINCRBY, SADD, ZADD, RPUSH, EXPIRE, ...:
 * sf_projector_command_allowed()); others return SF_ERR_RULE. */
sf_err_t sf_batch_command(sf_batch_t *batch, int argc, const char **argv,
                          const size_t *argvlen, char *errstr,
                          size_t errstr_size);

/* Appends one Redis command built from fmt, in the spirit of hiredis's
 * redisCommand(): spaces in fmt separate arguments, and nothing else does.
 * Each conversion's value is spliced into the argument it stands in and is
 * never split or re-parsed (binary safe: spaces, quotes, CRLF, NUL bytes
 * in %b stay inside that one argument).  Conversions:
 *   %s    const char * (NUL-terminated)
 *   %b    const void *, size_t: bytes with a length
 *   %k    const char *: an id for a key, escaped as sf_key_escape() does
 *   %K    const void *, size_t: the same with a length
 *         (%k/%K with an empty id: SF_ERR_RULE, nothing appended)
 *   %d %i %u %ld %li %lu %lld %lli %llu %zu   integers, decimal
 *   %f %g double, as "%.17g" (reads back exactly)
 *   %%    a literal '%'
 * Example:
 *   sf_batch_commandf(batch, errstr, errstr_size,
 *                     "HSET fighter:%K name %b wins %lld",
 *                     id, idlen, name, namelen, (long long)wins);
 * gives exactly 6 arguments whatever id and name hold.  An unknown
 * conversion is SF_ERR_INVALID_ARG naming its byte offset, and nothing is
 * appended; the command then goes through sf_batch_command() (allow-list,
 * keys: check).  No allocation for commands up to 32 arguments / 2 KiB.
 * Not thread-safe on one batch (a batch belongs to the handler's
 * thread). */
sf_err_t sf_batch_commandf(sf_batch_t *batch, char *errstr, size_t errstr_size,
                           const char *fmt, ...);
sf_err_t sf_batch_vcommandf(sf_batch_t *batch, char *errstr, size_t errstr_size,
                            const char *fmt, va_list ap);

/* Keys.  Every key a projection writes must match one of its `keys:`
 * patterns, must not start with the reserved prefix "sf:", and must hold
 * no control byte and no empty ':'-separated segment; sf_batch_command()
 * refuses any other key with SF_ERR_RULE naming it, and the event is
 * dead-lettered even if the handler ignores that error (projector/README.md,
 * "Keys").
 *
 * An id taken from event data must be spliced into a key through
 * sf_key_escape(), so that it can never name another aggregate's key:
 * bytes ':' (0x3A), '%' (0x25), 0x00-0x1F and 0x7F become '%' and two
 * upper-case hex digits (percent-encoding, RFC 3986 section 2.1, of just
 * these bytes); every other byte is kept.  "c42:items" becomes
 * "c42%3Aitems".  Readers in any language apply the same rule to find a
 * key.  An empty id has no key: check for it before building one.
 *
 * Writes the escaped id_len bytes of id into out and a NUL, like
 * snprintf(): at most out_size bytes including the NUL, never a cut
 * escape; returns the length the whole escaped id needs (without the NUL),
 * so a result >= out_size means out was too small.  Thread-safe. */
size_t sf_key_escape(char *out, size_t out_size, const void *id, size_t id_len);

/* Non-zero when name (case-insensitive) is an allowed write command. */
int sf_projector_command_allowed(const char *name);

/* A handler: appends the commands for ev to batch.  opaque is the pointer
 * given at registration. */
typedef sf_err_t (*sf_handler_fn)(void *opaque, const sf_event_t *ev,
                                  sf_batch_t *batch, char *errstr,
                                  size_t errstr_size);

/* The projection's name (from the config). */
const char *sf_projection_name(const sf_projection_t *proj);

/* Registers fn for events of the Avro full name type (copied).  A type may
 * have several handlers (a linked-in init and a shared object, say): they
 * run in registration order, after the type's rules, if any.  Call only
 * from the init function. */
sf_err_t sf_projection_on(sf_projection_t *proj, const char *type,
                          sf_handler_fn fn, void *opaque, char *errstr,
                          size_t errstr_size);

/* Optional destructor for opaque state, called when the projection is torn
 * down (after its thread stopped). */
void sf_projection_on_destroy(sf_projection_t *proj,
                              void (*destroy)(void *opaque), void *opaque);

/* Init function: the symbol `sf_projection_init` of a handler shared
 * object, or a function registered with sf_projector_register_init(). */
typedef sf_err_t (*sf_projection_init_fn)(sf_projection_t *proj, char *errstr,
                                          size_t errstr_size);
#define SF_PROJECTION_INIT_SYMBOL "sf_projection_init"

/* The prototype a handler shared object defines (including this header
 * makes its definition warning-free under -Wmissing-prototypes).  Called
 * once per projection that names the object, from the thread that starts
 * the projector, before any event.  Return SF_OK, or an error with one
 * line in errstr: the projection then does not start.  Only the shared
 * object defines it; libsfprojector does not. */
sf_err_t sf_projection_init(sf_projection_t *proj, char *errstr,
                            size_t errstr_size);

/* Registers init for the projection called name (copied), for custom
 * worker binaries.  Call before sf_projector_main(); not thread-safe. */
sf_err_t sf_projector_register_init(const char *name,
                                    sf_projection_init_fn init, char *errstr,
                                    size_t errstr_size);

/* Log lines: level is "debug", "info", "warn" or "error"; line is one
 * key=value record without newline.  Called from any projector thread;
 * the callback must be thread-safe.  Default: no logging. */
typedef void (*sf_projector_log_fn)(const char *level, const char *line);
void sf_projector_set_log_cb(sf_projector_log_fn fn);

/* ---- A projector embedded in your own process ----
 *
 *   sf_projector_t *pj;
 *   if (sf_projector_new("streamfold.yaml", NULL, 0, &pj, err, sizeof err))
 *       ... one line in err, nothing started ...
 *   (thread or main loop)  sf_projector_run(pj, err, sizeof err);
 *   (signal handler, other thread)  sf_projector_stop(pj);
 *   (after run returned)  sf_projector_destroy(pj);
 *
 * The same work as `sf-projector run -c CONFIG [PROJECTION...]`, without
 * taking over main(): nothing is printed (set sf_projector_set_log_cb()),
 * no signal handler is installed, no metrics endpoint is started. */
typedef struct sf_projector_s sf_projector_t;

/* Loads config_path (YAML, the sf-projector config), its schema catalog,
 * runs the start-up checks (misconfigurations, key patterns, rules against
 * the catalog) and sets up one worker per projection: the n names in
 * projections (copied), or every projection of the config when n is 0.
 * Inits registered with sf_projector_register_init() and handler shared
 * objects run here, on the calling thread.  Connects to nothing yet
 * besides what the checks need.  Errors: SF_ERR_CONFIG / _PARSE /
 * _UNKNOWN_TYPE / _RULE with one line naming file or projection.  On
 * success *out is owned by the caller: sf_projector_destroy(). */
sf_err_t sf_projector_new(const char *config_path,
                          const char *const *projections, size_t n,
                          sf_projector_t **out, char *errstr,
                          size_t errstr_size);

/* Runs every projection, each on its own thread created here (handlers
 * are called from those threads), and blocks until sf_projector_stop() or
 * a projection fails (which stops the others).  SF_OK after a clean stop
 * (batches applied, offsets committed, groups left); otherwise the first
 * failure's code and line (SF_ERR_RULE for a poison event under on_error:
 * stop, SF_ERR_KAFKA_FATAL, ...).  Callable once per projector. */
sf_err_t sf_projector_run(sf_projector_t *pj, char *errstr, size_t errstr_size);

/* Asks a running (or not yet running) projector to stop; returns at once.
 * Async-signal-safe (one store to a volatile sig_atomic_t) and callable
 * from any thread. */
void sf_projector_stop(sf_projector_t *pj);

/* Frees pj.  Only after sf_projector_run() returned (or was never
 * called); not thread-safe with the other calls on pj. */
void sf_projector_destroy(sf_projector_t *pj);

/* ---- Duplicate rule counts (docs/duplicates.md) ----
 *
 * Each projection applies an event only if its aggregate version is above
 * the last one applied for that aggregate; events without a version are
 * applied per offset.  The version is the CloudEvents extension attribute
 * ce_sequence (Kafka protocol binding, binary mode: a header), a decimal,
 * 1-based, one higher per event of the aggregate (Streamfold's wire
 * format, docs/design.md).  What the rule met since sf_projector_run()
 * started, in events, per projection: */
typedef enum sf_dedup_kind {
    SF_DEDUP_DUPLICATE = 0, /* dropped: version <= the last applied one */
    SF_DEDUP_CONFLICT,      /* of the duplicates: same version as the last
                               applied but another ce_id (two writers) */
    SF_DEDUP_GAP,           /* applied: version > the last applied + 1 */
    SF_DEDUP_UNVERSIONED,   /* applied per offset: no ce_sequence (or the
                               projection has `dedup: off`: not counted) */
    SF_DEDUP__COUNT
} sf_dedup_kind_t;

/* *out = the count of kind for projection (a name given to
 * sf_projector_new).  Callable from any thread at any time, also while
 * sf_projector_run() runs (the counts are read atomically; each is exact
 * once the batch that met the events is committed).  Counts of a
 * projection restart at 0 with each process; the totals since the last
 * rebuild are in Redis, shown by `sf-projector status`.  SF_ERR_NOT_FOUND
 * for a projection pj does not run, SF_ERR_INVALID_ARG for a bad kind. */
sf_err_t sf_projector_dedup_count(sf_projector_t *pj, const char *projection,
                                  sf_dedup_kind_t kind, uint64_t *out,
                                  char *errstr, size_t errstr_size);

/* ---- Read your own writes ----
 *
 * A service that published an event and wants to answer from a view that
 * includes it: take the event's position token from the producer
 * (sf_producer_dr_position() or sf_producer_publish_sync_position():
 * "<topic>:<partition>:<offset>", sf_position.h), then wait until the
 * projection has applied it:
 *
 *   sf_projector_waiter_t *w;
 *   sf_projector_waiter_new("streamfold.yaml", "carts", &w, err, sizeof err);
 *   if (sf_projector_waiter_wait(w, token, 2000, err, sizeof err) == SF_OK)
 *       ... read cart:<id>: it includes the event ...
 *   sf_projector_waiter_destroy(w);
 *
 * The rule, the same for readers in any language (projector/README.md,
 * "Read your own writes"): applied when the projection's checkpoint of the
 * token's topic and partition (GET sf:<projection>:ckpt:<topic>:<partition>,
 * a decimal offset; absent = nothing applied) is >= the token's offset.
 * The checkpoint is written atomically with the view writes, so once it
 * passes the offset every view write of the event (and of all earlier
 * events of that partition) is visible.  An event the projection ignores or
 * dead-letters counts as applied too (its checkpoint moved past it).
 *
 * Ownership: a waiter holds its config and one Redis connection; not
 * thread-safe: one waiter per thread.  Errors: one line in errstr. */
typedef struct sf_projector_waiter_s sf_projector_waiter_t;

/* Loads config_path, finds projection (SF_ERR_CONFIG if absent) and
 * connects to its Redis (SF_ERR_REDIS when unreachable). */
sf_err_t sf_projector_waiter_new(const char *config_path,
                                 const char *projection,
                                 sf_projector_waiter_t **out, char *errstr,
                                 size_t errstr_size);

/* Waits up to timeout_ms (ms; <= 0: check once) until the projection has
 * applied token.  SF_OK when applied; SF_ERR_TIMEOUT when not in time;
 * SF_ERR_PARSE for a malformed token; SF_ERR_NOT_FOUND when the
 * projection does not read the token's topic (it would never apply it);
 * SF_ERR_REDIS when Redis stayed unreachable until the deadline. */
sf_err_t sf_projector_waiter_wait(sf_projector_waiter_t *w, const char *token,
                                  int timeout_ms, char *errstr,
                                  size_t errstr_size);

/* The check itself, once, without waiting: *applied = 1 or 0.  Same
 * errors as sf_projector_waiter_wait() but never SF_ERR_TIMEOUT. */
sf_err_t sf_projector_waiter_applied(sf_projector_waiter_t *w,
                                     const char *token, int *applied,
                                     char *errstr, size_t errstr_size);

void sf_projector_waiter_destroy(sf_projector_waiter_t *w);

/* The whole `sf-projector` command line (run, rebuild, status, pause,
 * resume, skip, journey).  Returns the process exit code.  Installs
 * SIGINT/SIGTERM handlers and logs to stderr; meant to be called from main()
 * only. */
int sf_projector_main(int argc, char **argv);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* SF_PROJECTOR_H */
