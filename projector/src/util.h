/*
 * util.h - small helpers shared inside the projector: RFC 3339 parsing and
 * Kafka's murmur2 partitioner (the buffer and clocks come from core/).
 */
#ifndef SF_PROJ_UTIL_H
#define SF_PROJ_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "sf_core.h"

/* The byte buffer (sf_buf_t, sf_buf_append, ...) is the core one. */
#include "sf_buf.h"

/* The clocks are the core ones (sf_core.h); the projector's old name for
 * the monotonic clock stays as an alias. */
#define sf_mono_s sf_time_mono_s

/* Parses an RFC 3339 timestamp ("2026-11-26T13:00:00Z",
 * "2026-11-26T14:00:00.123+01:00") or a plain integer of milliseconds since
 * the epoch.  Returns 0 and sets *ms on success, -1 on malformed input. */
int sf_parse_time_ms(const char *s, int64_t *ms);

/* Kafka's murmur2 (Java default partitioner): partition of key. */
uint32_t sf_murmur2(const void *key, size_t len);
int32_t sf_murmur2_partition(const void *key, size_t len, int32_t npart);

/* Writes v in decimal (what "%" PRId64 gives) into buf, which needs
 * SF_I64_DIGITS bytes; NUL-terminated, returns the length.  On the hot
 * path instead of snprintf (no format parsing, no locale). */
#define SF_I64_DIGITS 21
size_t sf_fmt_i64(char *buf, int64_t v);

/* strdup that accepts NULL. */
char *sf_strdup0(const char *s);

#endif
