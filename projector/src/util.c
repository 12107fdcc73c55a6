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
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char **s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*s)[i]))
            return -1;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return 0;
}

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
    int Y, M, D, h, mi, sec;
    const char *p = s;
    if (digits(&p, 4, &Y) || *p++ != '-' || digits(&p, 2, &M) ||
        *p++ != '-' || digits(&p, 2, &D))
        return -1;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) ||
        *p++ != ':' || digits(&p, 2, &sec))
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    int frac_ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (isdigit((unsigned char)*p)) {
            if (nd < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return -1;
        for (; nd < 3; nd++)
            frac_ms *= 10;
    }
    int64_t off_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om))
            return -1;
        off_s = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p)
        return -1;
    int64_t days = days_from_civil(Y, (unsigned)M, (unsigned)D);
    int64_t t = days * 86400 + h * 3600 + mi * 60 + sec - off_s;
    *ms = t * 1000 + frac_ms;
    return 0;
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
