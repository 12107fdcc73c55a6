/*
 * rebuild_poison.h - what `rebuild` does with poison events (rebuild.c
 * calls these; kept apart so the replay loop stays about replaying).
 *
 * on_error: dlq - a poison record the rebuild meets is dead-lettered like
 *   the live worker would, unless its offset is already recorded as
 *   dead-lettered (control.h: sf:<p>:dlq:<topic>:<partition>, written by
 *   whoever parked it first), so a rebuild never parks a record twice and
 *   never loses one the live worker had not reached.
 * on_error: stop - the history is checked before anything is cleared: a
 *   poison record the operator has not skipped (control.h:
 *   sf:<p>:skipped:...) fails the rebuild while the old view still stands.
 *   Skipped ones are passed, as the live worker passed them.
 *
 * Threading: the rebuild's thread only.  Nothing here prints.
 */
#ifndef SF_PROJ_REBUILD_POISON_H
#define SF_PROJ_REBUILD_POISON_H

#include <librdkafka/rdkafka.h>
#include <signal.h>

#include "config.h"
#include "dlq.h"
#include "kmeta.h"
#include "projection.h"
#include "redis_sink.h"

/* Dead-letters m (confirmed, retrying transient failures for about a
 * minute) unless recorded already (*already = 1).  *dlq is created on
 * first use; the caller destroys it with sf_dlq_destroy(). */
sf_err_t sf_rebuild_park(const sf_config_t *cfg, const sf_pconf_t *pc,
                         sf_dlq_t **dlq, sf_redis_t *r,
                         const rd_kafka_message_t *m, const char *reason,
                         int *already, char *errstr, size_t errstr_size);

/* The same for an event that failed inside Redis during the replay (the
 * apply script passed it in 'skip' mode): the replay no longer holds its
 * record, so it is read back from topic/partition/offset with a consumer
 * of its own (assigned, no group membership, nothing committed) unless
 * recorded already.  *reader is that consumer: created on first use and
 * reused by later calls (a topic with many poison events would otherwise
 * start a client per event, ~50 ms each); the caller destroys it with
 * sf_rebuild_reader_destroy().  SF_ERR_KAFKA when the record cannot be
 * read within 30 s. */
sf_err_t sf_rebuild_park_at(const sf_config_t *cfg, const sf_pconf_t *pc,
                            sf_dlq_t **dlq, rd_kafka_t **reader, sf_redis_t *r,
                            const char *topic, int32_t partition,
                            int64_t offset, const char *reason, char *errstr,
                            size_t errstr_size);

/* Closes and frees the reader of sf_rebuild_park_at(); NULL is a no-op. */
void sf_rebuild_reader_destroy(rd_kafka_t *reader);

/* Reads every partition of tps from lo to hi (events after as_of_ms, when
 * >= 0, end a partition's prefix) with rk and runs the projection over
 * each record without applying anything.  SF_ERR_RULE names the first
 * poison record not recorded as skipped; SF_OK when there is none. */
sf_err_t sf_rebuild_precheck(rd_kafka_t *rk, sf_redis_t *r,
                             const sf_pconf_t *pc, sf_projection_t *proj,
                             sf_decoder_t *dec, const sf_tp_t *tps, size_t ntp,
                             int64_t as_of_ms, volatile sig_atomic_t *stop,
                             char *errstr, size_t errstr_size);

#endif
