/*
 * partstate.h - the worker's state of ONE assigned partition: ownership
 * (state, fencing token, rebuild generation), the next offset it accepts,
 * and the pending batch with the Kafka records it was built from.
 *
 * States and transitions (docs/lifecycle.md draws them):
 *
 *   (assigned) --acquire ok--> ACTIVE --apply refused FENCED--> FENCED
 *   (assigned) --rebuild running--> WAITING --rebuild done--> ACTIVE
 *   FENCED --fenced by a rebuild, rebuild done--> ACTIVE (re-acquired)
 *   any --revoked / lost--> REVOKED (records freed when no flush holds them)
 *   any --identity or partition-count mismatch--> STOPPED (worker exits)
 *
 * Memory rule: a flush (apply, dead-letter retry) may poll the consumer
 * while it waits, and a rebalance delivered there must not free records
 * the flush still reads.  So while the worker is inside a flush, a revoke
 * or lost assignment only MARKS the partition (REVOKED); a new assignment
 * of the same partition gets a fresh sf_part_t and the old one is retired.
 * The worker frees both after the flush returns (see worker.c, settle()).
 *
 * Not thread-safe: owned by the worker thread.
 */
#ifndef SF_PROJ_PARTSTATE_H
#define SF_PROJ_PARTSTATE_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"

typedef enum sf_part_state {
    SF_PART_ACTIVE,  /* token valid: batches are applied */
    SF_PART_WAITING, /* a rebuild runs: paused, no token taken */
    SF_PART_FENCED,  /* the epoch moved past the token: nothing applied */
    SF_PART_REVOKED, /* not ours any more */
    SF_PART_STOPPED  /* refused for good (identity, partition count) */
} sf_part_state_t;

/* Where a poison record's dead letter stands.  The state lives with the
 * record (not the partition), so it cannot outlive the batch: a record
 * kept later starts at SF_DLQ_NONE whatever happened to earlier ones. */
typedef enum sf_dlq_state {
    SF_DLQ_NONE = 0,  /* not dead-lettered yet */
    SF_DLQ_DELIVERED, /* the DLQ producer confirmed it; not yet recorded */
    SF_DLQ_PARKED     /* delivered and recorded (now or by an earlier run) */
} sf_dlq_state_t;

/* One consumed record and, when it is poison, why (owned). */
typedef struct sf_part_rec {
    rd_kafka_message_t *msg; /* owned: destroyed by sf_part_clear() */
    char *reason;            /* non-NULL: dead-letter with this reason */
    unsigned char dlq;       /* sf_dlq_state_t; only meaningful with reason */
} sf_part_rec_t;

typedef struct sf_part {
    char *topic; /* owned copy */
    int32_t partition;
    sf_part_state_t state;
    int64_t token;       /* fencing epoch taken at acquisition */
    int64_t generation;  /* rebuilds started before acquisition */
    int64_t ckpt;        /* the checkpoint last seen in Redis (-1: none) */
    int64_t next;        /* next offset accepted; -1: any */
    double since;        /* monotonic time the state was entered */
    double other_seen;   /* FENCED: monotonic time another holder was last
                            seen alive: its live state report, its checkpoint
                            moving, a newer epoch (worker.c) */
    int64_t fenced_by;   /* FENCED: the highest epoch seen fencing it */
    int64_t fenced_ckpt; /* FENCED: the checkpoint when last looked at */
    sf_batch_t batch;
    sf_part_rec_t *recs; /* every record of the batch, in offset order */
    size_t nrecs, cap;
    double t0; /* monotonic time of the batch's first event */
    struct sf_part *retired_next; /* worker's list of retired parts */
} sf_part_t;

/* NULL when out of memory.  The new part is REVOKED until acquired. */
sf_part_t *sf_part_new(const char *topic, int32_t partition);
/* Drops the batch and destroys its records; returns how many there were. */
size_t sf_part_clear(sf_part_t *p);
void sf_part_free(sf_part_t *p);
/* Takes ownership of m (and copies reason).  SF_ERR_NOMEM on failure (m
 * is then still the caller's). */
sf_err_t sf_part_keep(sf_part_t *p, rd_kafka_message_t *m, const char *reason);
void sf_part_set_state(sf_part_t *p, sf_part_state_t s);
/* 1 when every poison record of the batch is SF_DLQ_PARKED: the one
 * condition under which the batch may be applied, since applying it moves
 * the checkpoint past all its records.  The invariant it serves: the
 * checkpoint never passes a record that was neither applied nor
 * dead-lettered (nor skipped by the operator). */
int sf_part_dlq_complete(const sf_part_t *p);
/* Batches of this partition may be applied. */
static inline int sf_part_writable(const sf_part_t *p) {
    return p->state == SF_PART_ACTIVE;
}
const char *sf_part_state_name(sf_part_state_t s);

#endif
