/*
 * sf_core.h - the small core shared by every Streamfold module:
 * one error enum for the whole project, its text, whether it is retriable,
 * and the names that cross module boundaries (CloudEvents Kafka headers,
 * the Redis bookkeeping prefix).
 *
 * Threading: every function here is pure and thread-safe.
 * Libraries never print or exit; they return an sf_err_t and, where the
 * caller passes one, fill a caller-supplied error buffer (errstr,
 * errstr_size) with one line naming what failed and where.
 */
#ifndef SF_CORE_H
#define SF_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with -fvisibility=hidden: what this header declares
 * is exactly what it exports (tests/unit/core/test_exports.sh checks). */
#pragma GCC visibility push(default)

/* One error enum for all of Streamfold.  Keep sf_err2str() and
 * sf_err_is_retriable() in core/src/err.c in step with this list. */
typedef enum sf_err {
    SF_OK = 0,
    SF_ERR_INVALID_ARG,         /* caller passed something unusable */
    SF_ERR_NOMEM,               /* allocation failed */
    SF_ERR_IO,                  /* file system error */
    SF_ERR_PARSE,               /* malformed text: JSON, YAML, schema */
    SF_ERR_CONFIG,              /* unknown or invalid configuration */
    SF_ERR_SCHEMA,              /* schema is not valid Avro */
    SF_ERR_UNKNOWN_TYPE,        /* no schema for this Avro full name */
    SF_ERR_UNKNOWN_FINGERPRINT, /* single-object fingerprint not in catalog */
    SF_ERR_BAD_MAGIC,           /* not C3 01 single-object bytes */
    SF_ERR_TRUNCATED,           /* input ended inside a value */
    SF_ERR_TRAILING,            /* bytes left after the value */
    SF_ERR_VALUE,               /* value does not fit the schema */
    SF_ERR_INCOMPATIBLE,        /* schemas cannot be resolved */
    SF_ERR_KAFKA,               /* Kafka error, retriable */
    SF_ERR_KAFKA_FATAL,         /* Kafka error that will not heal */
    SF_ERR_TIMEOUT,             /* gave up waiting */
    SF_ERR_REDIS,               /* Redis unreachable or busy: retriable */
    SF_ERR_REDIS_REPLY,         /* Redis refused a command: not retriable */
    SF_ERR_FENCED,              /* this worker no longer owns the partition */
    SF_ERR_RULE,                /* a projection rule failed for an event */
    SF_ERR_STATE,               /* call not valid in the current state */
    SF_ERR_NOT_FOUND,           /* looked-up thing does not exist */
    SF_ERR__COUNT
} sf_err_t;

/* Human-readable, static text for an error code. Never NULL. */
const char *sf_err2str(sf_err_t err);

/* Symbolic name of an error code ("SF_ERR_TRUNCATED"). Never NULL. */
const char *sf_err_name(sf_err_t err);

/* Non-zero when retrying the same operation later may succeed
 * (Redis down, broker unreachable, timeout); zero when the input itself is
 * bad (poison event, bad schema) and retrying is pointless. */
int sf_err_is_retriable(sf_err_t err);

/* Writes a formatted message into errstr (always NUL-terminated, truncated
 * safely) and returns err, so error paths read `return sf_seterr(...)`.
 * errstr may be NULL or errstr_size 0: then only err is returned. */
sf_err_t sf_seterr(char *errstr, size_t errstr_size, sf_err_t err,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* RFC 3339 time, the form of ce_time.
 * sf_time_format writes UTC with milliseconds, "2026-11-26T13:05:09.042Z",
 * into buf (at least SF_TIME_BUFSIZE bytes) and returns buf, or NULL when
 * size is too small or the year is outside 0..9999.
 * sf_time_parse reads any RFC 3339 timestamp ("2026-11-26T13:05:09Z",
 * fractions, "+02:00" offsets, 't'/'z'/' ' accepted) into milliseconds
 * since the epoch; SF_ERR_PARSE names the offset of the first bad byte.
 * The clocks, the only ones in Streamfold: sf_time_now_ms is wall-clock
 * time (CLOCK_REALTIME) in milliseconds since the epoch, for timestamps;
 * sf_time_mono_s is CLOCK_MONOTONIC in seconds (nanosecond resolution),
 * for durations and deadlines, which must not jump with the wall clock. */
#define SF_TIME_BUFSIZE 25
char *sf_time_format(int64_t unix_ms, char *buf, size_t size);
sf_err_t sf_time_parse(const char *text, int64_t *unix_ms, char *errstr,
                       size_t errstr_size);
int64_t sf_time_now_ms(void);
double sf_time_mono_s(void);

/* CloudEvents 1.0 Kafka protocol binding, binary mode (docs/design.md). */
#define SF_HDR_SPECVERSION   "ce_specversion"
#define SF_HDR_ID            "ce_id"
#define SF_HDR_SOURCE        "ce_source"
#define SF_HDR_TYPE          "ce_type"
#define SF_HDR_TIME          "ce_time"
#define SF_HDR_SUBJECT       "ce_subject"
#define SF_HDR_CONTENT_TYPE  "content-type"
#define SF_HDR_AGGTYPE       "ce_aggregatetype"
#define SF_HDR_SEQUENCE      "ce_sequence"
#define SF_HDR_CORRELATIONID "ce_correlationid"
#define SF_HDR_CAUSATIONID   "ce_causationid"
#define SF_HDR_DATASCHEMA    "ce_dataschema"
#define SF_CE_SPECVERSION    "1.0"
#define SF_CONTENT_TYPE_AVRO "application/avro"

/* Reserved Redis prefix for projection bookkeeping: "sf:<projection>:". */
#define SF_REDIS_PREFIX "sf:"

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* SF_CORE_H */
