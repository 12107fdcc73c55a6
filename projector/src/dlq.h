/*
 * dlq.h - the dead-letter topic "<topic>.dlq": the original record (key,
 * value, headers) plus sf_dlq_reason, sf_dlq_projection, sf_dlq_topic,
 * sf_dlq_partition, sf_dlq_offset headers.  Produced with an idempotent
 * producer and confirmed (flush + delivery reports) before the checkpoint
 * may pass the record.  A retry after a failed flush may write a record
 * twice (at-least-once into the DLQ).
 */
#ifndef SF_PROJ_DLQ_H
#define SF_PROJ_DLQ_H

#include <librdkafka/rdkafka.h>

#include "config.h"

typedef struct sf_dlq sf_dlq_t;

sf_err_t sf_dlq_new(const sf_config_t *cfg, const sf_pconf_t *pc,
                    sf_dlq_t **out, char *errstr, size_t errstr_size);
void sf_dlq_destroy(sf_dlq_t *d);

/* Queues m for its topic's DLQ. */
sf_err_t sf_dlq_produce(sf_dlq_t *d, const rd_kafka_message_t *m,
                        const char *reason, char *errstr, size_t errstr_size);
/* Waits for every queued record's delivery; SF_ERR_KAFKA when any failed
 * or timed out (retriable: produce them again). */
sf_err_t sf_dlq_flush(sf_dlq_t *d, int timeout_ms, char *errstr,
                      size_t errstr_size);

#endif
