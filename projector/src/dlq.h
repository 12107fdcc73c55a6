/*
 * dlq.h - the dead-letter topic "<topic>.dlq": the original record (key,
 * value, headers) plus sf_dlq_reason, sf_dlq_projection, sf_dlq_topic,
 * sf_dlq_partition, sf_dlq_offset headers.  Produced with an idempotent
 * producer and confirmed (flush + delivery reports) before the checkpoint
 * may pass the record.  A retry re-sends only the records not confirmed;
 * a record whose copy is too large is cut (sf_dlq_send), never retried
 * forever.
 *
 * Threading: one sf_dlq_t per thread; delivery reports run inside
 * sf_dlq_send() / sf_dlq_destroy() on the caller's thread.
 */
#ifndef SF_PROJ_DLQ_H
#define SF_PROJ_DLQ_H

#include <librdkafka/rdkafka.h>

#include "config.h"

typedef struct sf_dlq sf_dlq_t;

sf_err_t sf_dlq_new(const sf_config_t *cfg, const sf_pconf_t *pc,
                    sf_dlq_t **out, char *errstr, size_t errstr_size);
void sf_dlq_destroy(sf_dlq_t *d);

/* One poison record to dead-letter.  The caller zeroes the struct and sets
 * m and reason (both borrowed: they must outlive every sf_dlq_send() call
 * with this item); sf_dlq_send() keeps the rest across calls, so a retry
 * re-sends only what is not confirmed yet. */
typedef struct sf_dlq_item {
    const rd_kafka_message_t *m;
    const char *reason;
    int level; /* 0 whole; 1 value cut to fit message.max.bytes; 2 value
                  and original headers left out.  Levels 1 and 2 add
                  sf_dlq_truncated ("value" / "value,headers") and
                  sf_dlq_original_size (bytes of the original value). */
    int done;  /* delivery confirmed */
    int inflight;
    rd_kafka_resp_err_t err; /* last produce / delivery error */
} sf_dlq_item_t;

/* Produces every item not done yet and waits (up to timeout_ms) for the
 * delivery reports.  A record refused for its size (MSG_SIZE_TOO_LARGE
 * locally or from the broker, RECORD_LIST_TOO_LARGE, INVALID_MSG_SIZE) is
 * sent again at the next level at once.  Returns SF_OK when every item is
 * done; SF_ERR_KAFKA (retriable) when some delivery failed for a reason
 * that may heal (timeout, broker down): call again after a back-off;
 * SF_ERR_KAFKA_FATAL when a record is refused for good even at level 2 or
 * for a reason cutting cannot cure (authorization, invalid topic, fatal
 * producer error): errstr names the record; retrying is pointless.
 * Runs delivery reports on the calling thread. */
sf_err_t sf_dlq_send(sf_dlq_t *d, sf_dlq_item_t *items, size_t n,
                     int timeout_ms, char *errstr, size_t errstr_size);

/* Class of a produce or delivery error (see sf_dlq_send). */
enum { SF_DLQ_OK, SF_DLQ_RETRIABLE, SF_DLQ_TOO_LARGE, SF_DLQ_PERMANENT };
int sf_dlq_err_class(rd_kafka_resp_err_t err);

#endif
