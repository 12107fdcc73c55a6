/* buf.c - the growable byte buffer (see sf_buf.h). */
#include "sf_buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sf_err_t sf_buf_reserve(sf_buf_t *b, size_t extra) {
    if (b->oom)
        return SF_ERR_NOMEM;
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return SF_ERR_NOMEM;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return SF_OK;
    /* Doubling keeps n appends O(n) in total. */
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return SF_ERR_NOMEM;
    }
    b->p = p;
    b->cap = cap;
    return SF_OK;
}

sf_err_t sf_buf_append(sf_buf_t *b, const void *data, size_t len) {
    sf_err_t e = sf_buf_reserve(b, len);
    if (e)
        return e;
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return SF_OK;
}

sf_err_t sf_buf_appends(sf_buf_t *b, const char *s) {
    return sf_buf_append(b, s, strlen(s));
}

sf_err_t sf_buf_putc(sf_buf_t *b, int c) {
    char ch = (char)c;
    return sf_buf_append(b, &ch, 1);
}

sf_err_t sf_buf_printf(sf_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SF_ERR_INVALID_ARG;
    sf_err_t e = sf_buf_reserve(b, (size_t)n);
    if (e)
        return e;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SF_OK;
}

void sf_buf_reset(sf_buf_t *b) {
    b->len = 0;
    b->oom = 0;
    if (b->p)
        b->p[0] = '\0';
}

void sf_buf_free(sf_buf_t *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
