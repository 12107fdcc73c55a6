/*
 * kconf.h - librdkafka configuration for the projector's clients: the
 * config file's kafka map (and -X), the projection's own kafka map, then
 * the settings exactly-once depends on, which cannot be overridden.
 */
#ifndef SF_PROJ_KCONF_H
#define SF_PROJ_KCONF_H

#include <librdkafka/rdkafka.h>

#include "config.h"

/* A consumer for projection pc (pc may be NULL: no group-specific part;
 * group_id may then be given or NULL for a random throw-away group). */
sf_err_t sf_kconf_consumer(const sf_config_t *cfg, const sf_pconf_t *pc,
                           const char *group_id, rd_kafka_t **out,
                           char *errstr, size_t errstr_size,
                           void (*rebalance_cb)(rd_kafka_t *,
                                                rd_kafka_resp_err_t,
                                                rd_kafka_topic_partition_list_t *,
                                                void *),
                           void *opaque);

#endif
