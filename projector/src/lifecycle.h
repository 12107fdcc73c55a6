/*
 * lifecycle.h - who may write a partition's part of a view, decided in
 * Redis between live workers and `sf-projector rebuild`.
 *
 * Keys (under the projection's bookkeeping prefix, see redis_sink.h):
 *   sf:<p>:rebuild     present while a rebuild owns the whole projection:
 *                      "<host> pid <pid> since <RFC 3339 time> id <random hex>"
 *   sf:<p>:generation  number of rebuilds ever started (INCR)
 *   sf:<p>:epoch:<topic>:<partition>, sf:<p>:ckpt:<topic>:<partition>
 *                      as in redis_sink.h
 *
 * Rules (docs/lifecycle.md gives the reasons):
 *  - A rebuild sets the marker (refused when one is present, unless
 *    forced), then INCRs the generation, then bumps every epoch, clears,
 *    replays, and deletes the marker once the view is consistent again.
 *  - A worker takes a partition (epoch INCR + checkpoint read) in one
 *    MULTI/EXEC under WATCH of the marker and the generation, so it either
 *    takes it before the rebuild begins (and is fenced by the rebuild's
 *    epoch bump) or sees the marker and waits; it never reads a checkpoint
 *    the rebuild is about to delete.
 *  - A worker whose batch was refused (FENCED) takes the partition again
 *    by itself when a rebuild started since it took it (the generation
 *    moved) and none runs any more, or (worker.c, SF_FENCED_RETAKE_S) when
 *    for 10 s no other member has reported holding it; otherwise another
 *    group member owns the partition and the group will revoke it from
 *    this one.
 *
 * Every function is synchronous on r's connection; not thread-safe (one
 * sf_redis_t per thread).  Errors: SF_ERR_REDIS (connection: retriable),
 * SF_ERR_REDIS_REPLY, and those named per function.
 */
#ifndef SF_PROJ_LIFECYCLE_H
#define SF_PROJ_LIFECYCLE_H

#include <stdint.h>

#include "redis_sink.h"

typedef struct sf_acquire {
    int64_t token;      /* the new fencing epoch */
    int64_t ckpt;       /* last applied offset, -1 none */
    int64_t generation; /* rebuilds started so far */
    int rebuilding;     /* 1: a rebuild runs; nothing was taken */
    char marker[256];   /* with rebuilding: who rebuilds, since when */
} sf_acquire_t;

/* Takes topic/partition for a worker (see the rules above).
 * fenced_gen < 0: a new assignment from the group: always taken unless a
 * rebuild runs.  fenced_gen >= 0: re-acquisition after FENCED by a worker
 * that took the partition at generation fenced_gen: SF_ERR_FENCED unless a
 * rebuild started since. */
sf_err_t sf_life_acquire(sf_redis_t *r, const char *proj, const char *topic,
                         int32_t partition, int64_t fenced_gen,
                         sf_acquire_t *out, char *errstr, size_t errstr_size);

/* The marker of a running (or interrupted) rebuild; *found 0 when none.
 * marker may be NULL. */
sf_err_t sf_life_rebuild_marker(sf_redis_t *r, const char *proj, int *found,
                                char *marker, size_t marker_size, char *errstr,
                                size_t errstr_size);

/* Builds this rebuild's marker text: host, pid, start time and a random
 * id, so that no two rebuilds share one (each checks, before every
 * destructive step, that the marker is still its own). */
void sf_life_marker_text(char *buf, size_t size);

/* Sets the marker and INCRs the generation.  SF_ERR_STATE naming the
 * present marker when one exists and !force. */
sf_err_t sf_life_rebuild_begin(sf_redis_t *r, const char *proj,
                               const char *marker, int force, char *errstr,
                               size_t errstr_size);
/* Makes sure the marker stays after a rebuild that failed with the view
 * half built: sets it again if Redis lost it (SET NX), never over another
 * rebuild's.  *ours: 1 when the marker is now `marker`. */
sf_err_t sf_life_rebuild_keep(sf_redis_t *r, const char *proj,
                              const char *marker, int *ours, char *errstr,
                              size_t errstr_size);
/* Deletes the marker if it is still `marker` (a forced rebuild may have
 * replaced it). */
sf_err_t sf_life_rebuild_end(sf_redis_t *r, const char *proj,
                             const char *marker, char *errstr,
                             size_t errstr_size);

#endif
