/*
 * kmeta.h - Kafka metadata helpers: partitions of topics and their
 * watermarks, as one flat list.
 */
#ifndef SF_PROJ_KMETA_H
#define SF_PROJ_KMETA_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "sf_core.h"

typedef struct sf_tp {
    const char *topic; /* borrowed from the caller's topic list */
    int32_t partition;
    int64_t lo, hi; /* watermarks (-1 when not queried) */
} sf_tp_t;

/* Every partition of the given topics (in topic, partition order); with
 * watermarks when want_wm.  *out is malloc()ed.  SF_ERR_NOT_FOUND names a
 * topic that does not exist. */
sf_err_t sf_kmeta_partitions(rd_kafka_t *rk, char *const *topics,
                             size_t ntopics, int want_wm, sf_tp_t **out,
                             size_t *n, char *errstr, size_t errstr_size);

/* Number of partitions of one topic. */
sf_err_t sf_kmeta_partition_count(rd_kafka_t *rk, const char *topic,
                                  int32_t *count, char *errstr,
                                  size_t errstr_size);

#endif
