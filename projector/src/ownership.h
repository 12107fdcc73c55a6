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
 * of its projection's topics (DescribeTopics, asynchronous, answered from
 * metadata) with the holders' own state reports in Redis: every worker
 * refreshes the report of each partition it holds every 3 s (control.h,
 * sf:<p>:parts).  A partition without a report younger than
 * SF_OWNER_REPORT_MAX_AGE_MS, for longer than SF_UNOWNED_GRACE_S, whose
 * high watermark is past the view's checkpoint in Redis (lag; not the
 * group's committed offset, which a foreign member can move), is reported:
 * one log line naming it, the partitions_unowned gauge, and an "unowned"
 * state report that `status` shows.  The one member that wins the
 * projection's rejoin key in Redis (SET NX, expiring after
 * SF_REJOIN_LOCKOUT_MS) then makes the group rebalance: sf_owners_tick returns
 * 1 and the worker leaves and joins again (worker.c: rejoin()).
 *
 * Why not DescribeConsumerGroups (the members' assignments): with it, every
 * worker of our three-broker test aborted inside librdkafka 2.14.2 right
 * after joining (rdkafka_queue.h: rd_kafka_enq_once_del_source_return:
 * Assertion `eonce->refcnt > 0'), in the admin path that routes a request
 * to the group coordinator (rdkafka_admin.c) while the coordinator was
 * still loading; a periodic admin call must not be able to kill the
 * worker, least of all while brokers fail.  The reports are also
 * what `status` shows, so both agree.  Report times are wall clock of the
 * reporting host: clocks must agree to well under the report age limit.
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

#define SF_OWNERS_CHECK_S 1.5
/* A holder's report older than this counts as no holder (3 s refresh). */
#define SF_OWNER_REPORT_MAX_AGE_MS 7000
#define SF_UNOWNED_GRACE_S         3.0
/* After one member rejoined, none does again for this long: a rebalance
 * may have to wait up to a session timeout for a member that left while
 * the group coordinator moved (its LeaveGroup lost). */
#define SF_REJOIN_LOCKOUT_MS 60000
/* Quiet time after this member's last rebalance callback before partitions
 * are judged. */
#define SF_OWNERS_QUIET_S 10.0

typedef struct sf_owners sf_owners_t;

/* NULL when out of memory; m may be NULL. */
sf_owners_t *sf_owners_new(rd_kafka_t *rk, const char *projection,
                           const char *group, const char *const *topics,
                           size_t ntopics, sf_metrics_t *m);
void sf_owners_destroy(sf_owners_t *o);

/* Call from the main loop, outside rebalance callbacks.  redis (may be
 * NULL) receives the "unowned" state reports.  settled: the worker saw no
 * rebalance for SF_OWNERS_QUIET_S and its offset commits succeed; while
 * not, partitions move on purpose or the group cannot move them (no
 * coordinator), so nothing is judged and every candidate starts its
 * grace period again (a rejoin then would only feed a rebalance storm).
 * Returns 1 when this member must make the group rebalance now. */
int sf_owners_tick(sf_owners_t *o, sf_redis_t *redis, int settled);

#endif
