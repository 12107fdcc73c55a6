/*
 * event.h - the projector's view of one Kafka record: envelope fields taken
 * from the CloudEvents headers plus the decoded payload (sf_event_t of the
 * public API).
 */
#ifndef SF_PROJ_EVENT_H
#define SF_PROJ_EVENT_H

#include <librdkafka/rdkafka.h>

#include "sf_projector.h"
#include "util.h"

struct sf_event_s {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp; /* Kafka timestamp, ms; -1 unknown */
    const char *aggregate_id, *type, *id, *time, *version;
    size_t aggregate_id_len; /* bytes, which may include a NUL */
    /* bytes of type, id, time, version as received (may include a NUL) */
    size_t type_len, id_len, time_len, version_len;
    int id_from_key;    /* the aggregate id is the record key */
    avro_value_t *data; /* NULL until decoded */
    /* The record's headers, borrowed from the librdkafka message the event
     * was read from (parsed once by librdkafka, cached in the message);
     * NULL when the record has none.  Valid while that message lives:
     * sf_event_header() looks names up here on demand, nothing is copied. */
    const rd_kafka_headers_t *hdrs;
    sf_buf_t strs; /* storage of the strings above */
};

/* Fills ev's envelope from a consumed message (strings copied into
 * ev->strs, which is reused: call sf_event_clear() at the end).  data is
 * left NULL. */
sf_err_t sf_event_from_message(sf_event_t *ev, const rd_kafka_message_t *m);

/* The envelope part of sf_event_from_message: the five CloudEvents values
 * from hdrs (NULL: none; the last of a repeated name wins, a header with a
 * null value counts as absent), the key standing in for a missing
 * ce_subject.  hdrs stays the caller's (kept in ev->hdrs, not copied). */
sf_err_t sf_event_envelope(sf_event_t *ev, rd_kafka_headers_t *hdrs,
                           const void *key, size_t key_len);
void sf_event_clear(sf_event_t *ev);

/* The envelope value that holds a NUL byte, named as the record carries
 * it ("ce_type", "ce_id", ..., or "record key"), or NULL when none does.
 * As C strings such values would be cut at the NUL and name another
 * event, type or aggregate; CloudEvents 1.0 (type system, String) does
 * not allow U+0000 in attribute values anyway.  Type first: an event
 * whose type is unreadable cannot be told to be someone else's. */
const char *sf_event_nul_field(const sf_event_t *ev);

/* The header value of name as a new NUL-terminated copy in buf (reset
 * first); returns 0 if present, -1 if absent. */
int sf_msg_header(const rd_kafka_message_t *m, const char *name, sf_buf_t *buf);

/* Event time in ms: ce_time when parsable, else the Kafka timestamp. */
int64_t sf_event_time_ms(const sf_event_t *ev);

#endif
