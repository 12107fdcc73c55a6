/*
 * util.h - small helpers shared inside the projector: a growable byte
 * buffer, clocks, RFC 3339 parsing and Kafka's murmur2 partitioner.
 */
#ifndef SF_PROJ_UTIL_H
#define SF_PROJ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "sf_core.h"

typedef struct sf_buf {
    char *p;
    size_t len, cap;
} sf_buf_t;

/* All appends keep p NUL-terminated; they return SF_ERR_NOMEM on failure. */
sf_err_t sf_buf_reserve(sf_buf_t *b, size_t extra);
sf_err_t sf_buf_append(sf_buf_t *b, const void *data, size_t len);
sf_err_t sf_buf_appends(sf_buf_t *b, const char *s);
sf_err_t sf_buf_printf(sf_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sf_buf_reset(sf_buf_t *b);
void sf_buf_free(sf_buf_t *b);

/* Milliseconds: wall clock since the epoch, and a monotonic clock. */
int64_t sf_now_ms(void);
double sf_mono_s(void);

/* Parses an RFC 3339 timestamp ("2026-11-26T13:00:00Z",
 * "2026-11-26T14:00:00.123+01:00") or a plain integer of milliseconds since
 * the epoch.  Returns 0 and sets *ms on success, -1 on malformed input. */
int sf_parse_time_ms(const char *s, int64_t *ms);

/* Kafka's murmur2 (Java default partitioner): partition of key. */
uint32_t sf_murmur2(const void *key, size_t len);
int32_t sf_murmur2_partition(const void *key, size_t len, int32_t npart);

/* strdup that accepts NULL. */
char *sf_strdup0(const char *s);

#endif
