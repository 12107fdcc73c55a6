/* util.c - time parsing and murmur2 (see util.h). */
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    case 1: h ^= data[tail]; h *= m;
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

size_t sf_fmt_i64(char *buf, int64_t v) {
    /* magnitude in unsigned arithmetic: -INT64_MIN does not fit int64_t */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char tmp[SF_I64_DIGITS];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t len = 0;
    if (v < 0)
        buf[len++] = '-';
    while (n)
        buf[len++] = tmp[--n];
    buf[len] = '\0';
    return len;
}
