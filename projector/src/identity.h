/*
 * identity.h - which log a projection's checkpoints belong to.
 *
 * A checkpoint is an offset, and an offset only means something in one
 * partition of one topic of one cluster.  A topic deleted and recreated
 * under the same name, or Redis restored next to another cluster, keeps
 * the name but not the log: resuming from the stored offset would skip
 * the new log's first events.  A topic's partition count is part of its
 * identity too: per-key order holds only within a partition (Kafka's
 * default partitioner hashes the key modulo the count), so once partitions
 * are added an aggregate's later events land in another partition and no
 * per-partition fold (live, rebuild, journey) keeps its order.
 *
 * What is recorded, per projection and topic, in the hash
 *   sf:<p>:topic:<topic>  {id, cluster, partitions}
 *   id          the topic id (KIP-516 topic IDs, Kafka >= 2.8; base64, as
 *               Kafka's tools print it), from DescribeTopics
 *   cluster     the cluster id (KIP-78), from Metadata
 *   partitions  the partition count
 * It is written the first time a worker takes a partition of the topic
 * (before any checkpoint exists for it, or, for views made by an older
 * version, next to the existing checkpoints) and by `rebuild`, which
 * replays the topic as it is now; it is compared at every assignment, and
 * by `rebuild` (partition count), `journey` and `status`.
 *
 * Not thread-safe; synchronous.  Errors: SF_ERR_KAFKA (retriable),
 * SF_ERR_NOT_FOUND (no such topic), SF_ERR_REDIS*, SF_ERR_STATE (mismatch,
 * with one line naming the topic, the stored and the current values and
 * what to do).
 */
#ifndef SF_PROJ_IDENTITY_H
#define SF_PROJ_IDENTITY_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "config.h"
#include "redis_sink.h"

typedef struct sf_topic_identity {
    char id[64];      /* KIP-516 topic id, "" unknown */
    char cluster[64]; /* cluster id, "" unknown */
    int32_t partitions;
} sf_topic_identity_t;

/* The topic as the cluster describes it now (rk: any client handle). */
sf_err_t sf_identity_describe(rd_kafka_t *rk, const char *topic, int timeout_ms,
                              sf_topic_identity_t *out, char *errstr,
                              size_t errstr_size);

/* The record of proj for topic; *found 0 when none. */
sf_err_t sf_identity_get(sf_redis_t *r, const char *proj, const char *topic,
                         sf_topic_identity_t *stored, int *found, char *errstr,
                         size_t errstr_size);
/* Writes cur as proj's record of topic. */
sf_err_t sf_identity_record(sf_redis_t *r, const char *proj, const char *topic,
                            const sf_topic_identity_t *cur, char *errstr,
                            size_t errstr_size);

/* Compares stored with cur: SF_ERR_STATE with the explanation when the
 * topic id, the cluster or the partition count differ.  who names the
 * command for the remedy ("run", "rebuild", "journey"). */
sf_err_t sf_identity_compare(const char *proj, const char *topic,
                             const sf_topic_identity_t *stored,
                             const sf_topic_identity_t *cur, char *errstr,
                             size_t errstr_size);

/* Reads proj's record of topic, records cur when there is none, compares
 * otherwise.  The worker's check at assignment. */
sf_err_t sf_identity_check(sf_redis_t *r, const char *proj, const char *topic,
                           const sf_topic_identity_t *cur, char *errstr,
                           size_t errstr_size);

/* For tools that read a topic by key (journey): SF_ERR_STATE when any
 * projection of cfg that reads topic recorded another partition count
 * than partitions. */
sf_err_t sf_identity_check_partitions(sf_redis_t *r, const sf_config_t *cfg,
                                      const char *topic, int32_t partitions,
                                      char *errstr, size_t errstr_size);

/* One line per topic of pc for `status`: the identity now, the recorded
 * one, and whether they match; plus the rebuild marker when present.
 * line() is called on the caller's thread. */
sf_err_t sf_identity_report(const sf_config_t *cfg, const sf_pconf_t *pc,
                            void (*line)(void *opaque, const char *text),
                            void *opaque, char *errstr, size_t errstr_size);

#endif
