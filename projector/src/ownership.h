/*
 * ownership.h - every subscribed partition has an owner.
 *
 * A consumer group can leave a partition without an owner: a member that
 * lost its assignment while others kept theirs, a partition added to a
 * topic that the group leader has not seen yet (topic metadata is
 * refreshed every topic.metadata.refresh.interval.ms, 5 min by default),
 * an assignor fed stale metadata.  Nothing in the group protocol repairs
 * that until an unrelated rebalance; meanwhile the partition's events wait
 * and nothing looks wrong, because no worker holds the partition to
 * report it stuck.
 *
 * Each worker therefore compares, every SF_OWNERS_CHECK_S, the partitions
 * of its projection's topics (DescribeTopics) with the union of the
 * members' assignments (DescribeConsumerGroups, KIP-345/KIP-848 member
 * descriptions), both sent asynchronously on a private queue.  A
 * partition missing from every assignment while the group is Stable, for
 * longer than SF_UNOWNED_GRACE_S, and whose high watermark is past the
 * group's committed offset (lag), is reported: one log line naming it, the
 * partitions_unowned gauge, and an "unowned" state report that `status`
 * shows (control.h).  The member with the smallest member id then asks
 * for a rebalance (sf_owners_tick returns 1; the worker leaves and joins
 * again, worker.c: rejoin()), at most once per grace period.
 *
 * Ownership: topic and group names are borrowed (they outlive the
 * object).  Threading: the worker's thread only.  Errors: a failed or
 * late admin answer only skips a round; nothing here fails the worker.
 */
#ifndef SF_PROJ_OWNERSHIP_H
#define SF_PROJ_OWNERSHIP_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "metrics.h"
#include "redis_sink.h"

#define SF_OWNERS_CHECK_S  1.5
#define SF_UNOWNED_GRACE_S 3.0

typedef struct sf_owners sf_owners_t;

/* NULL when out of memory; m may be NULL. */
sf_owners_t *sf_owners_new(rd_kafka_t *rk, const char *projection,
                           const char *group, const char *const *topics,
                           size_t ntopics, sf_metrics_t *m);
void sf_owners_destroy(sf_owners_t *o);

/* Call from the main loop, outside rebalance callbacks.  redis (may be
 * NULL) receives the "unowned" state reports.  Returns 1 when this member
 * must make the group rebalance now. */
int sf_owners_tick(sf_owners_t *o, sf_redis_t *redis);

#endif
