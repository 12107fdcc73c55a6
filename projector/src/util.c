/* util.c - buffer, clocks, time parsing and murmur2 (see util.h). */
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

sf_err_t sf_buf_reserve(sf_buf_t *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap)
        return SF_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p)
        return SF_ERR_NOMEM;
    b->p = p;
    b->cap = cap;
    return SF_OK;
}

sf_err_t sf_buf_append(sf_buf_t *b, const void *data, size_t len) {
    if (sf_buf_reserve(b, len))
        return SF_ERR_NOMEM;
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return SF_OK;
}

sf_err_t sf_buf_appends(sf_buf_t *b, const char *s) {
    return sf_buf_append(b, s, strlen(s));
}

sf_err_t sf_buf_printf(sf_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SF_ERR_INVALID_ARG;
    if (sf_buf_reserve(b, (size_t)n))
        return SF_ERR_NOMEM;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return SF_OK;
}

void sf_buf_reset(sf_buf_t *b) {
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

void sf_buf_free(sf_buf_t *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

int64_t sf_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double sf_mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; H. Hinnant). */
int sf_parse_time_ms(const char *s, int64_t *ms) {
    if (!s || !*s)
        return -1;
    const char *q = s;
    if (*q == '-')
        q++;
    while (isdigit((unsigned char)*q))
        q++;
    if (*q == '\0') { /* plain milliseconds */
        char *end;
        long long v = strtoll(s, &end, 10);
        if (*end)
            return -1;
        *ms = v;
        return 0;
    }
    return sf_time_parse(s, ms, NULL, 0) == SF_OK ? 0 : -1;
}

/* Kafka's org.apache.kafka.common.utils.Utils.murmur2 (seed 0x9747b28c). */
uint32_t sf_murmur2(const void *key, size_t len) {
    const uint8_t *data = key;
    const uint32_t m = 0x5bd1e995;
    const int r = 24;
    uint32_t h = 0x9747b28cu ^ (uint32_t)len;
    size_t n4 = len / 4;
    for (size_t i = 0; i < n4; i++) {
        size_t i4 = i * 4;
        uint32_t k = (uint32_t)data[i4] | ((uint32_t)data[i4 + 1] << 8) |
                     ((uint32_t)data[i4 + 2] << 16) |
                     ((uint32_t)data[i4 + 3] << 24);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    size_t tail = len & ~(size_t)3;
    switch (len % 4) {
    case 3:
        h ^= (uint32_t)data[tail + 2] << 16;
        /* fall through */
    case 2:
        h ^= (uint32_t)data[tail + 1] << 8;
        /* fall through */
    case 1:
        h ^= data[tail];
        h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return h;
}

int32_t sf_murmur2_partition(const void *key, size_t len, int32_t npart) {
    return (int32_t)((sf_murmur2(key, len) & 0x7fffffff) % (uint32_t)npart);
}

char *sf_strdup0(const char *s) {
    return s ? strdup(s) : NULL;
}
