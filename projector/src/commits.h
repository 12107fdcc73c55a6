/*
 * commits.h - the worker's offset commits to Kafka, at a bounded rate.
 *
 * Redis holds the truth (each partition's checkpoint, worker.c); offsets
 * go to the consumer group only so that lag tools, `status` and the next
 * owner's lag see the group's progress.  A commit after every flush (the
 * former behaviour) cost the brokers hundreds of OffsetCommit requests a
 * second and, during a cooperative rebalance, failed with
 * ILLEGAL_GENERATION / REBALANCE_IN_PROGRESS by the thousand.  Here:
 *
 *   - the worker notes what it applied (sf_commits_note) after every
 *     flush; nothing is sent then;
 *   - sf_commits_tick sends ONE asynchronous OffsetCommit per interval
 *     (config commit_interval_ms, default 1000 ms) covering every held
 *     partition whose applied offset moved since its last commit;
 *   - no commit is sent from the start of a rebalance (a revoke or assign
 *     callback) until the assignment settled: the assign callback that ends
 *     it (librdkafka calls it once per completed rebalance, even with an
 *     empty list) plus a quiet period, or SF_COMMITS_HOLD_MAX_S after a
 *     revoke that no assign followed;
 *   - a failed commit is harmless: counted (metrics), logged at most once
 *     per interval with the number of failures folded into that line, the
 *     offsets stay pending for the next interval; never fatal, never a
 *     reason to drop the assignment;
 *   - on a revoke (not a loss) the revoked partitions' applied offsets are
 *     committed synchronously (sf_commits_final) while the member still
 *     holds its generation, so the next owner starts with the right lag.
 *
 * Works the same under cooperative-sticky (KIP-429) and the KIP-848
 * consumer protocol: both are incremental, and both accept commits from a
 * member for the partitions it still owns.
 *
 * Ownership: topic names are copied.  Threading: the worker's thread only
 * (the asynchronous results are served from a private queue by
 * sf_commits_tick; no librdkafka thread calls into this module).
 * Errors: nothing here fails the worker; nothing prints except sf_log.
 */
#ifndef SF_PROJ_COMMITS_H
#define SF_PROJ_COMMITS_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "metrics.h"

typedef struct sf_commits sf_commits_t;

/* Longest hold after a revoke without the assign that ends the rebalance. */
#define SF_COMMITS_HOLD_MAX_S 10.0

/* NULL when out of memory.  m may be NULL.  projection is borrowed (it
 * outlives the object). */
sf_commits_t *sf_commits_new(rd_kafka_t *rk, const char *projection,
                             int interval_ms, sf_metrics_t *m);
void sf_commits_destroy(sf_commits_t *c);

/* The partition's events before offset next are applied (Redis). */
void sf_commits_note(sf_commits_t *c, const char *topic, int32_t partition,
                     int64_t next);
/* The partition is no longer ours (lost, or revoked after the final
 * commit): nothing more is committed for it. */
void sf_commits_forget(sf_commits_t *c, const char *topic, int32_t partition);

/* A rebalance callback starts (revoke = 1 for a revoke). */
void sf_commits_rebalance_begin(sf_commits_t *c, int revoke);
/* An assign callback ended: the new assignment is in place. */
void sf_commits_rebalance_end(sf_commits_t *c);

/* Synchronous commit of the revoked partitions' applied offsets (inside
 * the revoke callback, when the assignment is not lost).  Returns the
 * number of partitions committed, -1 when the commit failed (logged,
 * counted; harmless). */
int sf_commits_final(sf_commits_t *c,
                     const rd_kafka_topic_partition_list_t *revoked);

/* Serves finished asynchronous commits and, when due and settled, sends
 * the next one.  Call from the main loop, outside rebalance callbacks. */
void sf_commits_tick(sf_commits_t *c);

/* 1 while the last commit result was a failure (the group coordinator is
 * away, a rebalance runs): the group is not settled. */
int sf_commits_failing(const sf_commits_t *c);

/* Counters since start (tests, bench): commit requests sent and failed. */
uint64_t sf_commits_sent(const sf_commits_t *c);
uint64_t sf_commits_failed(const sf_commits_t *c);

#endif
