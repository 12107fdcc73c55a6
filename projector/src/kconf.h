/*
 * kconf.h - librdkafka configuration for every Kafka client the projector
 * creates (worker consumers, the dead-letter producer, status, rebuild,
 * journey with and without --fold).
 *
 * Precedence, lowest first (sf_kconf_apply):
 *   1. the config file's top-level kafka: map
 *   2. the projection's own kafka: map (when the client serves one)
 *   3. -X prop=value from the command line
 * then, for consumers, the settings exactly-once depends on, which cannot
 * be overridden.  So SASL/TLS settings given once (e.g.
 * security.protocol=SASL_SSL, sasl.mechanisms=SCRAM-SHA-512,
 * sasl.username, sasl.password, ssl.ca.location) reach every client.
 *
 * librdkafka's log lines of these clients go to the projector's
 * structured log (log.h) through a log_cb, on librdkafka's threads.
 */
#ifndef SF_PROJ_KCONF_H
#define SF_PROJ_KCONF_H

#include <librdkafka/rdkafka.h>

#include "config.h"

/* Applies the three maps above to conf, in that order, and sets the
 * log_cb.  pc may be NULL.  SF_ERR_CONFIG naming the property and where it
 * came from; the value of a secret property (password, secret, jaas...)
 * is never put in the message. */
sf_err_t sf_kconf_apply(const sf_config_t *cfg, const sf_pconf_t *pc,
                        rd_kafka_conf_t *conf, char *errstr,
                        size_t errstr_size);

/* A consumer for projection pc (pc may be NULL: no projection map).
 * group_id NULL means pc's group (a random throw-away group without pc);
 * "" a random throw-away group with pc's kafka map (journey --fold). */
sf_err_t sf_kconf_consumer(
    const sf_config_t *cfg, const sf_pconf_t *pc, const char *group_id,
    rd_kafka_t **out, char *errstr, size_t errstr_size,
    void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                         rd_kafka_topic_partition_list_t *, void *),
    void *opaque);

#endif
