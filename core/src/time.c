/*
 * time.c - RFC 3339 timestamps (ce_time, --as-of, Avro JSON
 * timestamp-millis), shared by every module.  We format UTC with
 * milliseconds and parse any RFC 3339 offset; the calendar arithmetic is
 * done here (days_from_civil, H. Hinnant) so neither TZ nor timegm() matter.
 */
#include "sf_core.h"

#include <stdint.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SF_TIME_LEN 24 /* strlen("2026-11-26T13:05:09.042Z") */

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Writes n decimal digits of v (zero padded) at p. */
static void put_digits(char *p, unsigned v, int n) {
    while (n--) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

char *sf_time_format(int64_t unix_ms, char *buf, size_t size) {
    int64_t days, secs, ms, y;
    unsigned mo, d;

    if (!buf)
        return NULL;
    /* Floor division so times before 1970 format correctly. */
    days = unix_ms / 86400000;
    ms = unix_ms % 86400000;
    if (ms < 0) {
        ms += 86400000;
        days--;
    }
    secs = ms / 1000;
    ms %= 1000;
    civil_from_days(days, &y, &mo, &d);
    if (y < 0 || y > 9999 || size < SF_TIME_LEN + 1)
        return NULL;
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ" by hand: this runs once per event and
     * snprintf showed in the publish profile. */
    memcpy(buf, "0000-00-00T00:00:00.000Z", SF_TIME_LEN + 1);
    put_digits(buf, (unsigned)y, 4);
    put_digits(buf + 5, mo, 2);
    put_digits(buf + 8, d, 2);
    put_digits(buf + 11, (unsigned)(secs / 3600), 2);
    put_digits(buf + 14, (unsigned)(secs / 60 % 60), 2);
    put_digits(buf + 17, (unsigned)(secs % 60), 2);
    put_digits(buf + 20, (unsigned)ms, 3);
    return buf;
}

/* Reads exactly n digits at *s into *out. */
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

sf_err_t sf_time_parse(const char *text, int64_t *unix_ms, char *errstr,
                       size_t errstr_size) {
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31};
    const char *s = text;
    int y, mo, d, h, mi, sec, ms = 0, off = 0;

    if (!text || !unix_ms)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_time_parse: NULL argument");
    if (digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' ||
        digits(&s, 2, &d))
        goto bad;
    if (*s != 'T' && *s != 't' && *s != ' ')
        goto bad;
    s++;
    if (digits(&s, 2, &h) || *s++ != ':' || digits(&s, 2, &mi) || *s++ != ':' ||
        digits(&s, 2, &sec))
        goto bad;
    if (*s == '.') {
        int scale = 100, nd = 0;

        s++;
        while (isdigit((unsigned char)*s)) {
            ms += (*s - '0') * scale;
            scale /= 10;
            s++;
            nd++;
        }
        if (!nd)
            goto bad;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, oh, om;

        if (digits(&s, 2, &oh) || *s++ != ':' || digits(&s, 2, &om) ||
            oh > 23 || om > 59)
            goto bad;
        off = sign * (oh * 60 + om);
    } else {
        goto bad;
    }
    if (*s)
        goto bad;
    if (mo < 1 || mo > 12 || d < 1 || (unsigned)d > mdays[mo - 1] ||
        (mo == 2 && d == 29 &&
         !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) ||
        h > 23 || mi > 59 || sec > 60)
        goto bad;
    if (sec == 60) /* leap second: the same instant as :59.999 + 1 ms */
        sec = 59, ms = 999;
    *unix_ms = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
                 h * 3600 + mi * 60 + sec - (int64_t)off * 60) *
                1000) +
               ms;
    return SF_OK;
bad:
    return sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                     "\"%s\": not an RFC 3339 timestamp at offset %d "
                     "(expected e.g. 2026-11-26T13:05:09.042Z)",
                     text, (int)(s - text));
}

int64_t sf_time_now_ms(void) {
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double sf_time_mono_s(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
