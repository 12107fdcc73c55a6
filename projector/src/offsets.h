/*
 * offsets.h - the projection's committed Kafka offsets: what our commits
 * carry, and what the worker does when someone else moved them.
 *
 * Redis' checkpoint is the truth (worker.c); the offsets committed to the
 * consumer group are only what Kafka's tools show.  Every commit the
 * projector makes (worker, rebuild, `offsets --commit-checkpoints`)
 * carries commit metadata "sf1:<projection>:<checkpoint>" (the
 * OffsetCommit request's per-partition `committed_metadata`, which the
 * broker keeps with the offset; KIP-1 era field, bounded by the broker's
 * offset.metadata.max.bytes, 4096 by default: the projection name is cut
 * to keep the text short).  A committed offset without that prefix was
 * written by someone else: Kafka's ConsumerGroupCommand --reset-offsets
 * commits with empty metadata.
 *
 * Policy, checked before the worker joins the group (a group can only be
 * reset while it has no members, so a running worker cannot miss one):
 *   - a foreign commit at the offset the worker resumes from anyway
 *     (checkpoint + 1, or the earliest offset without a checkpoint): no
 *     reset, nothing to do;
 *   - foreign commits at the earliest offset on EVERY partition of the
 *     projection, one at least differing from the checkpoint: the
 *     operator asks for a rebuild (Kafka users' way of replaying a
 *     consumer): SF_RESET_EARLIEST;
 *   - any other foreign commit (shift-by, to-datetime, to-offset, a
 *     subset of partitions): SF_RESET_OTHER, refused; the projection does
 *     not start until the operator re-commits the checkpoints
 *     (`sf-projector offsets --commit-checkpoints`) or rebuilds.
 * No commit at all (a new or deleted group) is not a reset.
 *
 * Threading: none of its own; call from one thread per rd_kafka_t.
 * Errors: sf_err_t with the text in errstr; nothing prints or exits, except
 * sf_offsets_gate(), which logs through log.h like the worker.
 */
#ifndef SF_PROJ_OFFSETS_H
#define SF_PROJ_OFFSETS_H

#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "redis_sink.h"
#include "sf_schema.h"

#define SF_OFFSETS_MD_PREFIX "sf1:"
#define SF_OFFSETS_MD_MAX    200 /* far below offset.metadata.max.bytes */

/* Sets tp's commit metadata to "sf1:<projection>:<ckpt>" (malloc()ed;
 * rd_kafka_topic_partition_list_destroy() frees it).  SF_ERR_NOMEM. */
sf_err_t sf_offsets_mark(rd_kafka_topic_partition_t *tp, const char *projection,
                         int64_t ckpt);
/* Non-zero when metadata (size bytes, not NUL-terminated) is ours. */
int sf_offsets_is_ours(const void *metadata, size_t size);

typedef struct sf_offsets_part {
    const char *topic; /* borrowed from the projection's config */
    int32_t partition;
    int64_t committed; /* -1: the group has no commit for it */
    int ours;          /* the commit carries our metadata */
    int64_t ckpt;      /* Redis checkpoint, -1 none */
    int64_t lo, hi;    /* watermarks */
} sf_offsets_part_t;

typedef enum sf_reset {
    SF_RESET_NONE = 0,
    SF_RESET_EARLIEST, /* every partition reset to its earliest offset */
    SF_RESET_OTHER     /* any other foreign commit: refused */
} sf_reset_t;

/* The offset the worker resumes p from: checkpoint + 1, else earliest. */
int64_t sf_offsets_resume(const sf_offsets_part_t *p);
/* Applies the policy above to n partitions; *first (may be NULL) gets the
 * index of the first partition reset (for the message). */
sf_reset_t sf_offsets_judge(const sf_offsets_part_t *p, size_t n,
                            size_t *first);
/* The one line that names the refused reset and the commands that resolve
 * it (truncated to size). */
void sf_offsets_refusal(char *buf, size_t size, const char *projection,
                        const char *config_path, const sf_offsets_part_t *p);

/* Reads every partition of the projection's topics: watermarks, the
 * group's committed offset and metadata (rd_kafka_committed: OffsetFetch),
 * and Redis' checkpoint.  rk must be a consumer of the projection's group.
 * *out is malloc()ed (free()). */
sf_err_t sf_offsets_read(rd_kafka_t *rk, sf_redis_t *redis,
                         const sf_pconf_t *pc, sf_offsets_part_t **out,
                         size_t *n, char *errstr, size_t errstr_size);
/* Commits checkpoint + 1 (the earliest offset without a checkpoint) of
 * every partition to the group, marked as ours, synchronously. */
sf_err_t sf_offsets_commit_checkpoints(rd_kafka_t *rk, const char *projection,
                                       const sf_offsets_part_t *p, size_t n,
                                       char *errstr, size_t errstr_size);

/* The worker's start gate: reads and judges the offsets; on
 * SF_RESET_EARLIEST rebuilds the view (says so in the log, the
 * sf:<p>:offsets record `status` shows, and the metric
 * offset_reset_rebuilds_total), on SF_RESET_OTHER logs the refusal line
 * once, records it for `status` and /readyz, and waits (re-reading every
 * few seconds) until the operator resolves it or *stop.  Returns SF_OK to
 * go on, SF_ERR_STATE when stopped while refused, or the rebuild's error.
 * metrics may be NULL. */
sf_err_t sf_offsets_gate(const sf_config_t *cfg, const sf_pconf_t *pc,
                         const sf_catalog_t *cat, rd_kafka_t *rk,
                         sf_redis_t *redis, sf_metrics_t *metrics,
                         volatile sig_atomic_t *stop, char *errstr,
                         size_t errstr_size);

/* The sf:<p>:offsets record for `status` ("" when none): a refusal
 * line, or when a reset to the earliest was rebuilt. */
sf_err_t sf_offsets_report(const sf_config_t *cfg, const sf_pconf_t *pc,
                           char *buf, size_t size);

#endif
