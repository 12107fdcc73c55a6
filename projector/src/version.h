/*
 * version.h - deploying a changed projection definition blue/green
 * (docs/generations.md, "Versions").
 *
 * A projection's version digest (config.h: rules, handler name and
 * version:) is recorded in the registry of the generation built with it
 * (sf:<p>:gen digest, bluegreen.h).  A worker never applies events to a
 * serving generation whose digest differs from its own: its partitions
 * wait (sf_version_mismatch).  `sf-projector run` first calls
 * sf_version_deploy for each projection: when the serving generation is
 * another version, it builds the configured one blue/green and switches it
 * in (the rebuild marker in the spare makes one process do it; the others
 * wait for the switch), then the workers start.
 *
 * Threading: synchronous, on the caller's thread; the log callback only.
 * Errors: SF_ERR_CONFIG for a changed definition without spare_db, the
 * rebuild's errors (rebuild.h), SF_ERR_STATE when stopped while waiting.
 */
#ifndef SF_PROJ_VERSION_H
#define SF_PROJ_VERSION_H

#include <signal.h>

#include "config.h"
#include "redis_sink.h"
#include "sf_schema.h"

/* The serving generation's digest into digest ("" when the database holds
 * no registry or an unversioned one). */
sf_err_t sf_version_serving(sf_redis_t *r, const char *proj, char *digest,
                            size_t size, char *errstr, size_t errstr_size);

/* 1 when r's serving generation is another version than pc's (a worker
 * must not apply to it); 0 otherwise, and on Redis errors (the apply path
 * meets them). */
int sf_version_mismatch(sf_redis_t *r, const sf_pconf_t *pc, char *serving,
                        size_t size);

/* See above.  An empty view, or one without a recorded version, is taken
 * as the configured version (recorded). */
sf_err_t sf_version_deploy(const sf_config_t *cfg, const sf_pconf_t *pc,
                           const sf_catalog_t *cat, volatile sig_atomic_t *stop,
                           char *errstr, size_t errstr_size);

#endif
