/*
 * sf_buf.h - the one growable byte buffer of Streamfold (libsfcore): Avro
 * bytes in the schema library, Redis command arguments in the projector,
 * Prometheus text in the metrics endpoint, and what a handler wants to
 * build.
 *
 * A buffer is a plain struct the caller owns, zero-initialised to start
 * (`sf_buf_t b = {0};`) and released with sf_buf_free().  p holds len bytes
 * and is always NUL-terminated once anything was appended, so text can be
 * used as a C string; binary data may contain NUL bytes (use len).  p may
 * be NULL while nothing was appended.  The caller may read p and len, and
 * may shrink len (then write p[len] = '\0' if it needs a string).
 *
 * Errors: an append that cannot allocate returns SF_ERR_NOMEM, leaves the
 * contents as they were, and sets oom, which stays set (every later append
 * fails too) until sf_buf_reset() or sf_buf_free().  So a long sequence of
 * appends may ignore the return values and check oom once at the end.
 *
 * Threading: a buffer is not synchronised; use one from one thread at a
 * time.  The functions keep no global state.
 */
#ifndef SF_BUF_H
#define SF_BUF_H

#include <stddef.h>

#include "sf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with -fvisibility=hidden: what this header declares
 * is exactly what it exports (tests/unit/core/test_exports.sh checks). */
#pragma GCC visibility push(default)

typedef struct sf_buf {
    char *p;    /* the bytes, NUL-terminated; owned by the buffer */
    size_t len; /* bytes in use, not counting the NUL */
    size_t cap; /* bytes allocated */
    int oom;    /* an allocation failed since the last reset */
} sf_buf_t;

/* Makes room for extra more bytes (plus the NUL). */
sf_err_t sf_buf_reserve(sf_buf_t *b, size_t extra);
/* Appends len bytes of data (copied; data may be NULL when len is 0). */
sf_err_t sf_buf_append(sf_buf_t *b, const void *data, size_t len);
/* Appends the C string s without its NUL. */
sf_err_t sf_buf_appends(sf_buf_t *b, const char *s);
/* Appends one byte. */
sf_err_t sf_buf_putc(sf_buf_t *b, int c);
/* Appends printf-formatted text; SF_ERR_INVALID_ARG if the format fails. */
sf_err_t sf_buf_printf(sf_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Empties the buffer and clears oom, keeping the allocation. */
void sf_buf_reset(sf_buf_t *b);
/* Frees the bytes; the buffer is empty and reusable afterwards. */
void sf_buf_free(sf_buf_t *b);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* SF_BUF_H */
