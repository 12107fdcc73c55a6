/*
 * journey.h - `sf-projector journey`: one aggregate's events, in order,
 * read from the partition its key hashes to (murmur2, like Java's default
 * partitioner), as JSON lines with the envelope; optionally with the Redis
 * commands a projection's rules/handlers give for each event.
 */
#ifndef SF_PROJ_JOURNEY_H
#define SF_PROJ_JOURNEY_H

#include <stdint.h>

#include "config.h"
#include "sf_schema.h"

/* Called once per event with one JSON object (no newline). */
typedef void (*sf_journey_fn)(void *opaque, const char *json);

/* as_of_ms < 0: no limit.  fold may be NULL.  *count receives the number
 * of events emitted.
 *
 * With fold and want_state, a last line {"state": {KEY: VALUE, ...}} gives
 * the keys those commands leave behind when applied, in order, to an empty
 * keyspace: the aggregate's own contribution to the view (keys it shares
 * with other aggregates show only its part).  The commands run in the
 * configured Redis under a throw-away prefix (sf:journey:<uuid>:), deleted
 * afterwards and given a 24 h TTL meanwhile; the view itself is never
 * touched.  Keys may be any length and any bytes.
 *
 * No event is dropped silently: one that does not decode carries "error",
 * a fold command Redis refuses "state_error"; a record that cannot be read
 * or rendered, or no progress for 30 s before the end offset, returns an
 * error (the lines emitted so far stand). */
sf_err_t sf_journey_run(const sf_config_t *cfg, const sf_catalog_t *cat,
                        const char *topic, const char *aggregate_id,
                        int64_t as_of_ms, const sf_pconf_t *fold,
                        int want_state, sf_journey_fn emit, void *opaque,
                        int64_t *count, char *errstr, size_t errstr_size);

#endif
