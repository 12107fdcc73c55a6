/*
 * rebuild.h - `sf-projector rebuild`: throw a projection's view away and
 * replay its topics from the earliest offset.
 *
 * Steps: refuse if the projection's consumer group has active members
 * (unless force), if a topic's partition count differs from the one
 * recorded (identity.h; unless accept_partitions), or if another rebuild
 * holds the projection (lifecycle.h; unless force); set the rebuild
 * marker, which makes workers that join wait and workers that run pause
 * once fenced, and resume by themselves when it is gone; capture the end
 * offsets; bump every partition's epoch
 * (any stale worker is fenced from here on); delete the view keys (SCAN +
 * UNLINK over the rules' `keys` patterns) and the checkpoints; reset the
 * group's committed offsets to the earliest; record the topics' identity
 * (topic id, cluster id, partition count); replay every partition up to
 * the captured end offset in large pipelined batches through the same
 * atomic apply script as the worker; commit the end offsets to the group
 * so lag tools show it caught up; delete the marker.  Every destructive
 * step (each clear UNLINK, the checkpoint deletes, the marker delete) is
 * conditional on the marker still being this rebuild's (a random id in
 * it): a rebuild that finds it replaced (rebuild --force) stops without
 * touching anything (SF_ERR_FENCED).  A rebuild interrupted after the view
 * was cleared leaves a consistent state (no checkpoint, or checkpoints
 * matching what was replayed) and deletes the marker; one that fails while
 * clearing, or fails after it with the view not the fold of the log (Redis
 * lost writes, an on_error: stop event failed in Redis that the operator
 * did not skip, Redis unreachable), keeps it, so workers keep waiting
 * until a rebuild completes.  When Redis lost replayed writes but kept the
 * clear (sf:<p>:cleared), the replay restarts from its checkpoints.
 *
 * as_of_ms (>= 0): the view as of that time (asof.h): every partition is
 * read to its end, and exactly the events whose time (ce_time, else the
 * Kafka timestamp) is <= as_of_ms are applied.  In the live database each
 * checkpoint is the last event applied, so a later `run` catches up from
 * there when every event left out comes after the last one applied (clocks
 * in order); when one left out lies before an applied one (a clock ahead),
 * resuming would skip it: the rebuild marker then stays, workers wait, and
 * the log says so (`rebuild --force` returns to the live view).
 *
 * to_db: build into database db instead of the live one (an as-of view, or
 * a scratch fold for `diff`; asof.h): db must be empty or hold this
 * projection's as-of view; the group is neither checked nor committed,
 * poison events are counted and logged but not dead-lettered again, and
 * the view is recorded (sf:<p>:asof there, sf:<p>:asof-views here).
 *
 * Blue/green (the default, !in_place; bluegreen.h, docs/generations.md):
 * the same steps run against the projection's spare database, which is
 * first verified to be this projection's and emptied; live workers keep
 * applying to the live database meanwhile (no group check, the group's
 * offsets are left to them).  Once replayed, the spare catches up with
 * the end offsets again, then the live workers are paused, the spare is
 * caught up to each live checkpoint, and sf_bg_swap() switches under
 * WATCH (a live write in between: check again), and the workers resume.
 * A failure or interrupt before the switch leaves the live database
 * untouched and the spare marked incomplete (the next rebuild starts it
 * over).  as_of_ms needs in_place or to_db; to_db is never blue/green.
 *
 * Poison events are counted and reported through the poison callback and
 * dead-lettered unless recorded as dead-lettered already
 * (rebuild_poison.h); with on_error: stop the history is checked first and
 * a poison event the operator has not skipped fails the rebuild before
 * anything is cleared.
 */
#ifndef SF_PROJ_REBUILD_H
#define SF_PROJ_REBUILD_H

#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "sf_schema.h"

typedef struct sf_rebuild_opts {
    int64_t as_of_ms; /* < 0: no time limit */
    int force;        /* rebuild even if workers are active */
    size_t batch_events;
    int accept_partitions; /* record a changed partition count */
    int in_place;          /* 1: clear and refill the live view (the view is
                              incomplete meanwhile); 0: blue/green (bluegreen.h) */
    int to_db;             /* 1: build into database db (see above) */
    int db;
    int scratch; /* with to_db: not registered in the live db (diff) */
    int no_fold; /* send every batch as built, never folded (fold.h) */
} sf_rebuild_opts_t;

typedef struct sf_rebuild_stats {
    int64_t total, done, applied, poison, deleted_keys;
    int64_t dedup[4]; /* the duplicate rule's counts (sf_dedup_kind_t) */
    double seconds;
    double clear_seconds; /* fencing + deleting the view */
    double redis_seconds; /* waiting for apply scripts */
    int switched;         /* blue/green: the new generation serves */
    double pause_seconds; /* blue/green: live writes paused for the
                             switch (pause, catch-up, SWAPDB, resume) */
    double swap_seconds;  /* blue/green: from the last pause acknowledgement
                             to the EXEC of the swap (final catch-up and
                             the transaction); the rest of pause_seconds
                             is waiting for the workers' acknowledgements */
    int catchup_rounds;   /* blue/green: replays after the first */
} sf_rebuild_stats_t;

/* Progress: phase is "clear" (in place) or "prepare" (blue/green: the
 * spare emptied), "replay", "switch" (blue/green: live
 * writes are paused now) or "done"; called about once per
 * second and at the end, on the calling thread. */
typedef void (*sf_rebuild_progress_fn)(void *opaque, const char *phase,
                                       const sf_rebuild_stats_t *st);
/* Poison event skipped (reason). */
typedef void (*sf_rebuild_poison_fn)(void *opaque, const char *topic,
                                     int32_t partition, int64_t offset,
                                     const char *reason);

sf_err_t sf_rebuild_run(const sf_config_t *cfg, const sf_pconf_t *pc,
                        const sf_catalog_t *cat, const sf_rebuild_opts_t *o,
                        sf_rebuild_progress_fn progress,
                        sf_rebuild_poison_fn poison, void *opaque,
                        volatile sig_atomic_t *stop, sf_rebuild_stats_t *st,
                        char *errstr, size_t errstr_size);

#endif
