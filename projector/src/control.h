/*
 * control.h - operator control state a projection keeps in Redis beside
 * its checkpoints, and the worker's side of it.
 *
 * Keys (all under the reserved prefix sf:<projection>:):
 *   dlq:<topic>:<partition>  SET of offsets already dead-lettered.  A
 *                            worker or a rebuild meeting a poison record
 *                            whose offset is in it does not dead-letter it
 *                            again: one dead letter per poison record,
 *                            whoever met it first (crash and retry
 *                            windows aside: written after the dead letter
 *                            was confirmed).
 *   skips:<topic>:<partition> counter of `skip` commands (status shows it)
 *   pause_gen                INCR by every pause/resume command
 *   pause_ack                HASH member id -> "<gen> <paused>": written by
 *                            a worker once it applied that pause state
 *                            (paused: batch flushed, nothing more applied)
 *   parts                    HASH "<topic>:<partition>" -> "<state>
 *                            <unix ms> <member id>": each worker's view of
 *                            the partitions it holds, refreshed every few
 *                            seconds (state: ok, stuck, fenced, paused,
 *                            dlq-failing; "unowned" is written by a
 *                            worker that found no holder, ownership.h);
 *                            `status` reads it
 * The pause flag itself stays sf:<p>:paused ("1" while paused).
 *
 * Errors: functions returning sf_err_t fill errstr; the worker-side
 * helpers (sf_dlqrec_*, sf_ctl_report) are best effort and never fail the
 * caller: a Redis outage only costs a possible second dead letter or a
 * stale status line.
 * Threading: like sf_redis_t, one connection per thread.
 */
#ifndef SF_PROJ_CONTROL_H
#define SF_PROJ_CONTROL_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

#include "redis_sink.h"

/* 1 when m's offset is recorded as dead-lettered for proj. */
int sf_dlqrec_seen(sf_redis_t *r, const char *proj,
                   const rd_kafka_message_t *m);
int sf_dlqrec_seen_at(sf_redis_t *r, const char *proj, const char *topic,
                      int32_t partition, int64_t offset);
/* Records m's offset as dead-lettered. */
void sf_dlqrec_add(sf_redis_t *r, const char *proj,
                   const rd_kafka_message_t *m);
void sf_dlqrec_add_at(sf_redis_t *r, const char *proj, const char *topic,
                      int32_t partition, int64_t offset);

/* The same for offsets the operator skipped (`skip`, SET
 * sf:<p>:skipped:<topic>:<partition>): a rebuild of an on_error: stop
 * projection passes them as the live worker did, instead of stopping. */
int sf_skiprec_seen_at(sf_redis_t *r, const char *proj, const char *topic,
                       int32_t partition, int64_t offset);
void sf_skiprec_add_at(sf_redis_t *r, const char *proj, const char *topic,
                       int32_t partition, int64_t offset);

/* ---- pause / resume ---------------------------------------------------- */

/* Sets (paused=1) or clears the pause flag and returns the new pause
 * generation the workers must acknowledge.  lease_ms > 0: the flag expires
 * by itself after that many milliseconds (a blue/green switch's pause, so
 * a rebuild killed or cut off from Redis mid-switch cannot leave the
 * projection paused for good); 0: it stays until cleared (the operator's). */
sf_err_t sf_ctl_pause_set(sf_redis_t *r, const char *proj, int paused,
                          int64_t lease_ms, int64_t *gen, char *errstr,
                          size_t errstr_size);
/* The current flag and generation (gen 0 when never set). */
sf_err_t sf_ctl_pause_get(sf_redis_t *r, const char *proj, int *paused,
                          int64_t *gen, char *errstr, size_t errstr_size);
/* A worker acknowledges generation gen with state paused. */
void sf_ctl_pause_ack(sf_redis_t *r, const char *proj, const char *member,
                      int64_t gen, int paused);
/* 1 when member acknowledged generation >= gen with state paused. */
int sf_ctl_pause_acked(sf_redis_t *r, const char *proj, const char *member,
                       int64_t gen, int paused);

/* ---- partition state reports ------------------------------------------ */

void sf_ctl_report(sf_redis_t *r, const char *proj, const char *topic,
                   int32_t partition, const char *state, int64_t now_ms,
                   const char *member);
/* The last report for the partition: state (copied into state, "" when
 * none), its time and member. */
void sf_ctl_report_get(sf_redis_t *r, const char *proj, const char *topic,
                       int32_t partition, char *state, size_t state_size,
                       int64_t *at_ms, char *member, size_t member_size);

/* ---- skip -------------------------------------------------------------- */

/* INCR of the partition's skip counter; *count the new value. */
sf_err_t sf_ctl_skip_count(sf_redis_t *r, const char *proj, const char *topic,
                           int32_t partition, int64_t *count, char *errstr,
                           size_t errstr_size);
/* The counter (0 when none). */
int64_t sf_ctl_skips(sf_redis_t *r, const char *proj, const char *topic,
                     int32_t partition);

#endif
