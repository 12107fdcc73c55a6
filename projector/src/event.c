/* event.c - envelope extraction and the public sf_event_* accessors. */
#include "event.h"

#include <string.h>

int sf_msg_header(const rd_kafka_message_t *m, const char *name,
                  sf_buf_t *buf) {
    rd_kafka_headers_t *hdrs = NULL;
    const void *val;
    size_t size;
    sf_buf_reset(buf);
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (rd_kafka_header_get_last(hdrs, name, &val, &size) !=
        RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    if (sf_buf_append(buf, val ? val : "", val ? size : 0))
        return -1;
    return 0;
}

sf_err_t sf_event_envelope(sf_event_t *ev, rd_kafka_headers_t *hdrs,
                           const void *key, size_t key_len) {
    static const char *names[] = {SF_HDR_SUBJECT, SF_HDR_TYPE, SF_HDR_ID,
                                  SF_HDR_TIME, SF_HDR_SEQUENCE};
    static const size_t lens[] = {
        sizeof(SF_HDR_SUBJECT) - 1, sizeof(SF_HDR_TYPE) - 1,
        sizeof(SF_HDR_ID) - 1, sizeof(SF_HDR_TIME) - 1,
        sizeof(SF_HDR_SEQUENCE) - 1};
    size_t offs[6];
    sf_buf_reset(&ev->strs);
    ev->id_from_key = 0;
    /* One pass over the parsed headers (the last of a repeated name wins,
     * as with rd_kafka_header_get_last) instead of five look-ups that each
     * walk the whole list. */
    const void *val[5] = {0};
    size_t size[5] = {0};
    const char *name;
    const void *v;
    size_t n;
    for (size_t h = 0; hdrs && !rd_kafka_header_get_all(hdrs, h, &name, &v, &n);
         h++) {
        size_t nl = strlen(name);
        for (int i = 0; i < 5; i++)
            if (nl == lens[i] && !memcmp(name, names[i], nl)) {
                val[i] = v;
                size[i] = n;
                break;
            }
    }
    for (int i = 0; i < 5; i++) {
        offs[i] = ev->strs.len;
        if (val[i]) {
            if (sf_buf_append(&ev->strs, val[i], size[i]))
                return SF_ERR_NOMEM;
        } else if (i == 0 && key) {
            ev->id_from_key = 1;
            if (sf_buf_append(&ev->strs, key, key_len))
                return SF_ERR_NOMEM;
        }
        if (sf_buf_append(&ev->strs, "", 1)) /* keep the NUL */
            return SF_ERR_NOMEM;
    }
    offs[5] = ev->strs.len;
    ev->aggregate_id = ev->strs.p + offs[0];
    ev->aggregate_id_len = offs[1] - offs[0] - 1;
    ev->type = ev->strs.p + offs[1];
    ev->id = ev->strs.p + offs[2];
    ev->time = ev->strs.p + offs[3];
    ev->version = ev->strs.p + offs[4];
    ev->type_len = offs[2] - offs[1] - 1;
    ev->id_len = offs[3] - offs[2] - 1;
    ev->time_len = offs[4] - offs[3] - 1;
    ev->version_len = offs[5] - offs[4] - 1;
    ev->hdrs = hdrs;
    return SF_OK;
}

sf_err_t sf_event_from_message(sf_event_t *ev, const rd_kafka_message_t *m) {
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        hdrs = NULL;
    sf_err_t e = sf_event_envelope(ev, hdrs, m->key, m->key_len);
    if (e)
        return e;
    ev->topic = rd_kafka_topic_name(m->rkt);
    ev->partition = m->partition;
    ev->offset = m->offset;
    ev->timestamp = rd_kafka_message_timestamp(m, NULL);
    ev->data = NULL;
    return SF_OK;
}

static int has_nul(const char *s, size_t len) {
    return s && memchr(s, '\0', len) != NULL;
}

const char *sf_event_nul_field(const sf_event_t *ev) {
    if (has_nul(ev->type, ev->type_len))
        return SF_HDR_TYPE;
    if (has_nul(ev->aggregate_id, ev->aggregate_id_len))
        return ev->id_from_key ? "record key" : SF_HDR_SUBJECT;
    if (has_nul(ev->id, ev->id_len))
        return SF_HDR_ID;
    if (has_nul(ev->time, ev->time_len))
        return SF_HDR_TIME;
    if (has_nul(ev->version, ev->version_len))
        return SF_HDR_SEQUENCE;
    return NULL;
}

void sf_event_clear(sf_event_t *ev) {
    sf_buf_free(&ev->strs);
    memset(ev, 0, sizeof(*ev));
}

int64_t sf_event_time_ms(const sf_event_t *ev) {
    int64_t ms;
    if (ev->time && *ev->time && sf_parse_time_ms(ev->time, &ms) == 0)
        return ms;
    return ev->timestamp;
}

const char *sf_event_topic(const sf_event_t *ev) {
    return ev->topic;
}
int32_t sf_event_partition(const sf_event_t *ev) {
    return ev->partition;
}
int64_t sf_event_offset(const sf_event_t *ev) {
    return ev->offset;
}
int64_t sf_event_timestamp(const sf_event_t *ev) {
    return ev->timestamp;
}
const char *sf_event_aggregate_id(const sf_event_t *ev) {
    return ev->aggregate_id;
}
const char *sf_event_type(const sf_event_t *ev) {
    return ev->type;
}
const char *sf_event_id(const sf_event_t *ev) {
    return ev->id;
}
const char *sf_event_time(const sf_event_t *ev) {
    return ev->time;
}
const char *sf_event_version(const sf_event_t *ev) {
    return ev->version;
}
const avro_value_t *sf_event_data(const sf_event_t *ev) {
    return ev->data;
}

/* Extra headers are looked up in the message's own header list, which
 * librdkafka parsed once (rd_kafka_message_headers() caches it in the
 * message): no copy, no allocation per event (issue 12 measured eager
 * header parsing as costly). */
sf_err_t sf_event_header(const sf_event_t *ev, const char *name,
                         const void **value, size_t *len) {
    const void *v = NULL;
    size_t n = 0;
    if (!ev->hdrs || !name ||
        rd_kafka_header_get_last(ev->hdrs, name, &v, &n) !=
            RD_KAFKA_RESP_ERR_NO_ERROR)
        return SF_ERR_NOT_FOUND;
    if (value)
        *value = v;
    if (len)
        *len = v ? n : 0;
    return SF_OK;
}

sf_err_t sf_event_header_at(const sf_event_t *ev, size_t idx, const char **name,
                            const void **value, size_t *len) {
    const char *nm = NULL;
    const void *v = NULL;
    size_t n = 0;
    if (!ev->hdrs || rd_kafka_header_get_all(ev->hdrs, idx, &nm, &v, &n) !=
                         RD_KAFKA_RESP_ERR_NO_ERROR)
        return SF_ERR_NOT_FOUND;
    if (name)
        *name = nm;
    if (value)
        *value = v;
    if (len)
        *len = v ? n : 0;
    return SF_OK;
}
