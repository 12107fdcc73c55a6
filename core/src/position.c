/* position.c - position tokens "<topic>:<partition>:<offset>"
 * (sf_position.h). */
#include "sf_position.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Kafka's rule for topic names (Topic.validate): 1..249 bytes of
 * [a-zA-Z0-9._-]. */
static int topic_valid(const char *t, size_t len) {
    if (len == 0 || len > 249)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

size_t sf_position_format(char *out, size_t out_size, const char *topic,
                          int32_t partition, int64_t offset) {
    if (!topic || !topic_valid(topic, strlen(topic)) || partition < 0 ||
        offset < 0)
        return 0;
    int n = snprintf(out, out_size, "%s:%" PRId32 ":%" PRId64, topic, partition,
                     offset);
    return n < 0 ? 0 : (size_t)n;
}

/* A non-negative decimal in [s, e) without sign or leading zeros, <= max. */
static int number(const char *s, const char *e, int64_t max, int64_t *out) {
    if (s == e || (e - s > 1 && *s == '0'))
        return -1;
    int64_t v = 0;
    for (const char *p = s; p < e; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (max - (*p - '0')) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

sf_err_t sf_position_parse(const char *token, char *topic, size_t topic_size,
                           int32_t *partition, int64_t *offset, char *errstr,
                           size_t errstr_size) {
    if (!token)
        return sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                         "position token missing");
    const char *c2 = strrchr(token, ':');
    const char *c1 = NULL;
    for (const char *p = c2 ? c2 - 1 : NULL; p && p >= token; p--)
        if (*p == ':') {
            c1 = p;
            break;
        }
    if (!c1)
        return sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                         "position token \"%s\": expected "
                         "<topic>:<partition>:<offset>",
                         token);
    size_t tlen = (size_t)(c1 - token);
    if (!topic_valid(token, tlen))
        return sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                         "position token \"%s\": \"%.*s\" is no Kafka topic "
                         "name (1-249 of [a-zA-Z0-9._-])",
                         token, (int)tlen, token);
    int64_t p, o;
    if (number(c1 + 1, c2, INT32_MAX, &p))
        return sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                         "position token \"%s\": partition \"%.*s\" is not a "
                         "non-negative 32-bit decimal",
                         token, (int)(c2 - c1 - 1), c1 + 1);
    if (number(c2 + 1, c2 + 1 + strlen(c2 + 1), INT64_MAX, &o))
        return sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                         "position token \"%s\": offset \"%s\" is not a "
                         "non-negative 64-bit decimal",
                         token, c2 + 1);
    if (tlen >= topic_size)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "position token \"%s\": topic buffer too small",
                         token);
    memcpy(topic, token, tlen);
    topic[tlen] = '\0';
    *partition = (int32_t)p;
    *offset = o;
    return SF_OK;
}
