/* err.c - the project's one error enum turned into text. */
#include "sf_core.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
    const char *name;
    const char *text;
    int retriable;
} errtab[SF_ERR__COUNT] = {
    [SF_OK] = {"SF_OK", "success", 0},
    [SF_ERR_INVALID_ARG] = {"SF_ERR_INVALID_ARG", "invalid argument", 0},
    [SF_ERR_NOMEM] = {"SF_ERR_NOMEM", "out of memory", 1},
    [SF_ERR_IO] = {"SF_ERR_IO", "I/O error", 0},
    [SF_ERR_PARSE] = {"SF_ERR_PARSE", "parse error", 0},
    [SF_ERR_CONFIG] = {"SF_ERR_CONFIG", "configuration error", 0},
    [SF_ERR_SCHEMA] = {"SF_ERR_SCHEMA", "invalid schema", 0},
    [SF_ERR_UNKNOWN_TYPE] = {"SF_ERR_UNKNOWN_TYPE", "unknown event type", 0},
    [SF_ERR_UNKNOWN_FINGERPRINT] = {"SF_ERR_UNKNOWN_FINGERPRINT",
                                    "unknown schema fingerprint", 0},
    [SF_ERR_BAD_MAGIC] = {"SF_ERR_BAD_MAGIC",
                          "not Avro single-object encoding (bad magic)", 0},
    [SF_ERR_TRUNCATED] = {"SF_ERR_TRUNCATED", "input truncated", 0},
    [SF_ERR_TRAILING] = {"SF_ERR_TRAILING", "trailing bytes after value", 0},
    [SF_ERR_VALUE] = {"SF_ERR_VALUE", "value does not match schema", 0},
    [SF_ERR_INCOMPATIBLE] = {"SF_ERR_INCOMPATIBLE", "incompatible schemas", 0},
    [SF_ERR_KAFKA] = {"SF_ERR_KAFKA", "Kafka error", 1},
    [SF_ERR_KAFKA_FATAL] = {"SF_ERR_KAFKA_FATAL", "fatal Kafka error", 0},
    [SF_ERR_TIMEOUT] = {"SF_ERR_TIMEOUT", "timed out", 1},
    [SF_ERR_REDIS] = {"SF_ERR_REDIS", "Redis unavailable", 1},
    [SF_ERR_REDIS_REPLY] = {"SF_ERR_REDIS_REPLY", "Redis refused command", 0},
    [SF_ERR_FENCED] = {"SF_ERR_FENCED",
                       "fenced: partition owned by another worker", 0},
    [SF_ERR_RULE] = {"SF_ERR_RULE", "projection rule failed", 0},
    [SF_ERR_STATE] = {"SF_ERR_STATE", "invalid state for this call", 0},
    [SF_ERR_NOT_FOUND] = {"SF_ERR_NOT_FOUND", "not found", 0},
};

static int valid(sf_err_t err) {
    return (int)err >= 0 && err < SF_ERR__COUNT && errtab[err].name;
}

const char *sf_err2str(sf_err_t err) {
    return valid(err) ? errtab[err].text : "unknown error code";
}

const char *sf_err_name(sf_err_t err) {
    return valid(err) ? errtab[err].name : "SF_ERR_UNKNOWN";
}

int sf_err_is_retriable(sf_err_t err) {
    return valid(err) ? errtab[err].retriable : 0;
}

sf_err_t sf_seterr(char *errstr, size_t errstr_size, sf_err_t err,
                   const char *fmt, ...) {
    va_list ap;

    if (errstr == NULL || errstr_size == 0)
        return err;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
    return err;
}
