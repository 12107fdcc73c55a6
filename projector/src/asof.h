/*
 * asof.h - what "as of TIME" means, and the as-of views kept beside the
 * live one.
 *
 * As of TIME (shared by `rebuild --as-of` and `journey --as-of`): the
 * fold, in log order, of exactly the events whose time is <= TIME, where
 * an event's time is its ce_time (CloudEvents `time`, the producer's
 * occurred_at), else its Kafka timestamp (event.h); every partition is
 * read to the end offset captured when the command starts.  An event
 * stamped later than TIME (a clock far ahead included) is left out and
 * nothing after it is: one skewed clock does not truncate the view.
 *
 * As-of views live in a Redis database of their own (`rebuild --as-of
 * TIME --db N`), under the same keys as the live view, so readers query
 * them by SELECTing N.  Records:
 *   db N:    sf:<p>:asof        "<TIME, RFC 3339, or 'end'>": db N holds an
 *                               as-of view of projection p (with its own
 *                               checkpoints, epochs and rebuild marker,
 *                               which no worker ever looks at)
 *   live db: sf:<p>:asof-views  hash N -> TIME, the registry `status`
 *                               and operators read
 * A database may receive an as-of view only when it is not the live one
 * (nor the blue/green spare) and is empty or holds an as-of view of the
 * same projection (replaced then).  `drop --db N` removes it.
 *
 * Errors: sf_err_t with the text in errstr; nothing prints or exits.
 */
#ifndef SF_PROJ_ASOF_H
#define SF_PROJ_ASOF_H

#include <stdint.h>

#include "config.h"
#include "event.h"
#include "redis_sink.h"

/* 1 when ev belongs to the view as of as_of_ms (< 0: no limit). */
int sf_asof_includes(const sf_event_t *ev, int64_t as_of_ms);

/* SF_ERR_INVALID_ARG when db may not hold an as-of view of pc: the live
 * db, the spare, not empty and not already pc's as-of view.  side is a
 * connection to db. */
sf_err_t sf_asof_check_db(const sf_config_t *cfg, const sf_pconf_t *pc, int db,
                          sf_redis_t *side, char *errstr, size_t errstr_size);
/* Records db as pc's as-of view of as_of_ms (< 0: 'end') in db and, when
 * live is not NULL, in the live db's registry (diff's scratch fold is not
 * registered: diff writes nothing to the live db). */
sf_err_t sf_asof_register(const sf_pconf_t *pc, int db, int64_t as_of_ms,
                          sf_redis_t *side, sf_redis_t *live, char *errstr,
                          size_t errstr_size);
/* Deletes pc's as-of view in db (its keys: patterns and its sf:<p>:
 * bookkeeping there) and, with registry, its registry entry;
 * SF_ERR_NOT_FOUND when db holds none.  *deleted counts the keys. */
sf_err_t sf_asof_drop(const sf_config_t *cfg, const sf_pconf_t *pc, int db,
                      int registry, int64_t *deleted, char *errstr,
                      size_t errstr_size);

#endif
