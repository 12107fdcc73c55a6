/*
 * bluegreen.h - two generations of a projection's view, one serving and
 * one spare, switched with Redis' SWAPDB (docs/generations.md gives the
 * design and its limits).
 *
 * A projection rebuilt blue/green owns two Redis databases: db (the one
 * readers read) and spare_db (config.h).  The next generation is built in
 * the spare with the same key names and the same bookkeeping layout
 * (sf:<p>:ckpt:..., epochs, ...) as the live one; SWAPDB then exchanges
 * the two databases for every connected client at once
 * (https://redis.io/docs/latest/commands/swapdb/: O(1), flags write and
 * fast, so it may run inside MULTI/EXEC).  After a switch the spare holds
 * the previous generation, which `rollback` swaps back and `drop` or the
 * next rebuild empties.
 *
 * Registry: each database of the pair holds sf:<p>:gen, a hash
 *   state     building | serving | previous
 *   digest    version digest of the definition it was built with
 *   built     RFC 3339 time the build started
 *   switched  time it was last switched in or out
 *   pause_ms  the live-write pause of its last switch
 * A database is emptied (FLUSHDB ASYNC) only after this hash was found in
 * it under WATCH: never one the projector cannot tell is this
 * projection's.
 *
 * The switch (sf_bg_swap) runs on the live connection in one MULTI/EXEC
 * under WATCH of the live checkpoints, epochs, generation counter and
 * pause flag: any live write between the caller's checks and the EXEC
 * aborts it (*swapped = 0, nothing changed; the caller checks again).
 * Inside it carries the bookkeeping that outlives a generation into the
 * spare (dead-letter and skip records, the operator's pause state, the
 * workers' reports), sets every epoch of the spare above the live one and
 * its generation counter above both (so every live worker is fenced and
 * takes its partitions again through the normal path, reading the new
 * checkpoints), clears the spare's rebuild marker, updates both registry
 * hashes and swaps.
 *
 * Threading: like sf_redis_t, one connection per thread; nothing here
 * prints (the log callback only).  Errors: SF_ERR_CONFIG for a
 * projection that cannot be rebuilt blue/green, SF_ERR_STATE for a spare
 * that is not ours or holds what must not be touched, SF_ERR_REDIS(_REPLY)
 * from Redis.
 */
#ifndef SF_PROJ_BLUEGREEN_H
#define SF_PROJ_BLUEGREEN_H

#include <stdint.h>

#include "config.h"
#include "kmeta.h"
#include "redis_sink.h"

typedef struct sf_gen_info {
    int db;
    int found;       /* the registry hash sf:<p>:gen exists */
    char state[16];  /* building | serving | previous | "" */
    char digest[24]; /* "" when unknown */
    char built[40], switched[40];
    int64_t pause_ms; /* -1 when none recorded */
    int64_t number;   /* sf:<p>:generation (0 none) */
    int64_t keys;     /* DBSIZE */
    int rebuilding;   /* a rebuild marker is present */
    int64_t lag;      /* sum over the partitions of hi - (ckpt + 1) */
} sf_gen_info_t;

/* SF_ERR_CONFIG with one line when pc cannot be rebuilt blue/green: no
 * spare_db (the line says to configure one or pass --in-place), or
 * another projection of cfg uses pc's db or spare_db. */
sf_err_t sf_bg_check_config(const sf_config_t *cfg, const sf_pconf_t *pc,
                            char *errstr, size_t errstr_size);

/* pc->redis with spare_db in force (out owns its strings:
 * sf_redis_conf_clear). */
sf_err_t sf_bg_spare_conf(const sf_pconf_t *pc, sf_redis_conf_t *out);

/* The registry and progress of the database r is connected to; tps (may
 * be NULL) gives the partitions whose lag is summed. */
sf_err_t sf_bg_info(sf_redis_t *r, const char *proj, int db, const sf_tp_t *tps,
                    size_t ntp, sf_gen_info_t *out, char *errstr,
                    size_t errstr_size);

/* Checks that the spare (spare: connected to it) may take a new
 * generation: refused when it holds keys but no registry of pc, or the
 * serving generation.  *restarted: 1 when it holds an incomplete
 * generation (an interrupted rebuild), for the log.  Read only. */
sf_err_t sf_bg_prepare(sf_redis_t *spare, const sf_pconf_t *pc, int force,
                       int *restarted, char *errstr, size_t errstr_size);

/* After the rebuild marker was taken in the spare (lifecycle.h): empties
 * it and marks it building with pc's digest, in one transaction under
 * WATCH of the marker (which it sets again).  SF_ERR_FENCED when the
 * marker is not `marker` any more. */
sf_err_t sf_bg_reset(sf_redis_t *spare, const sf_pconf_t *pc,
                     const char *marker, char *errstr, size_t errstr_size);

/* WATCHes the live checkpoints of tps on live and reads them into ckpts
 * (-1 none).  The watch stays until sf_bg_swap's EXEC (or UNWATCH). */
sf_err_t sf_bg_watch_ckpts(sf_redis_t *live, const char *proj,
                           const sf_tp_t *tps, size_t ntp, int64_t *ckpts,
                           char *errstr, size_t errstr_size);

/* The switch described above, on live (connected to pc->db); pause_ms is
 * recorded in the new serving generation's registry.  *swapped 0: a
 * watched key changed, nothing was done. */
sf_err_t sf_bg_swap(sf_redis_t *live, const sf_pconf_t *pc, const sf_tp_t *tps,
                    size_t ntp, int64_t pause_ms, int *swapped, char *errstr,
                    size_t errstr_size);

/* Writes the pause into the serving generation's registry (after the
 * resume, when its full length is known). */
sf_err_t sf_bg_record_pause(sf_redis_t *live, const char *proj,
                            int64_t pause_ms, char *errstr, size_t errstr_size);

/* `sf-projector rollback`: pauses the live workers (unless the operator
 * paused them), swaps the previous generation back in, resumes.  Refused
 * (SF_ERR_STATE) when the spare holds no previous generation of pc, an
 * incomplete one, or a running rebuild.  *pause_ms: the write pause. */
sf_err_t sf_bg_rollback(const sf_config_t *cfg, const sf_pconf_t *pc,
                        int64_t *pause_ms, char *errstr, size_t errstr_size);

/* `sf-projector drop`: empties the spare after verifying it holds a
 * generation of pc that is not being built.  *dropped: keys it held (0:
 * nothing to drop). */
sf_err_t sf_bg_drop(const sf_config_t *cfg, const sf_pconf_t *pc,
                    int64_t *dropped, char *errstr, size_t errstr_size);

/* How long a switch's pause holds at most if the rebuild that set it
 * dies (control.h sf_ctl_pause_set): above the 30 s it waits for the
 * workers' acknowledgements plus the final catch-up and swap. */
#define SF_BG_PAUSE_LEASE_MS 60000

/* Pauses (paused=1) or resumes the live workers around a switch, unless
 * the operator paused the projection: *was_paused tells the caller
 * whether to resume afterwards. */
sf_err_t sf_bg_pause(const sf_config_t *cfg, const sf_pconf_t *pc,
                     sf_redis_t *live, int paused, int *was_paused,
                     char *errstr, size_t errstr_size);

/* `status`: one line per database of the pair (which one serves, its
 * generation number, version digest, keys, lag, a rebuild building it,
 * the last switch and its pause), through line().  Nothing when pc has
 * no spare_db and its db holds no registry. */
sf_err_t sf_bg_report(const sf_config_t *cfg, const sf_pconf_t *pc,
                      const sf_tp_t *tps, size_t ntp,
                      void (*line)(void *opaque, const char *text),
                      void *opaque, char *errstr, size_t errstr_size);

#endif
