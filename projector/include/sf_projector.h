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
 * Two ways to bring handlers in:
 *   1. a shared object named in the config (`handler: ./libmyproj.so`);
 *      the projector dlopen()s it and calls its symbol
 *      `sf_projection_init` (type sf_projection_init_fn) once per projection;
 *   2. a custom worker binary: call sf_projector_register_init() for a
 *      projection name, then hand argc/argv to sf_projector_main().
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
/* The decoded payload, resolved to the newest schema version of its type
 * (a record).  Borrowed: do not decref, do not keep. */
const avro_value_t *sf_event_data(const sf_event_t *ev);

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
                          const size_t *argvlen,
                          char *errstr, size_t errstr_size);

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
size_t sf_key_escape(char *out, size_t out_size, const void *id,
                     size_t id_len);

/* Non-zero when name (case-insensitive) is an allowed write command. */
int sf_projector_command_allowed(const char *name);

/* A handler: appends the commands for ev to batch.  opaque is the pointer
 * given at registration. */
typedef sf_err_t (*sf_handler_fn)(void *opaque, const sf_event_t *ev,
                                  sf_batch_t *batch,
                                  char *errstr, size_t errstr_size);

/* A projection being configured, passed to the init function.  Owned by
 * the projector. */
typedef struct sf_projection_s sf_projection_t;

/* The projection's name (from the config). */
const char *sf_projection_name(const sf_projection_t *proj);

/* Registers fn for events of the Avro full name type (copied).  A type may
 * have several handlers (a linked-in init and a shared object, say): they
 * run in registration order, after the type's rules, if any.  Call only
 * from the init function. */
sf_err_t sf_projection_on(sf_projection_t *proj, const char *type,
                          sf_handler_fn fn, void *opaque,
                          char *errstr, size_t errstr_size);

/* Optional destructor for opaque state, called when the projection is torn
 * down (after its thread stopped). */
void sf_projection_on_destroy(sf_projection_t *proj,
                              void (*destroy)(void *opaque), void *opaque);

/* Init function: the symbol `sf_projection_init` of a handler shared
 * object, or a function registered with sf_projector_register_init(). */
typedef sf_err_t (*sf_projection_init_fn)(sf_projection_t *proj,
                                          char *errstr, size_t errstr_size);
#define SF_PROJECTION_INIT_SYMBOL "sf_projection_init"

/* Registers init for the projection called name (copied), for custom
 * worker binaries.  Call before sf_projector_main(); not thread-safe. */
sf_err_t sf_projector_register_init(const char *name,
                                    sf_projection_init_fn init,
                                    char *errstr, size_t errstr_size);

/* Log lines: level is "debug", "info", "warn" or "error"; line is one
 * key=value record without newline.  Called from any projector thread;
 * the callback must be thread-safe.  Default: no logging. */
typedef void (*sf_projector_log_fn)(const char *level, const char *line);
void sf_projector_set_log_cb(sf_projector_log_fn fn);

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
