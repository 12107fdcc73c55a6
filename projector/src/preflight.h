/*
 * preflight.h - what is checked about a projection before it may run or
 * rebuild, beyond what parsing its files can see:
 *   - its `keys:` patterns cannot match a key under the reserved prefix
 *     "sf:" (projector bookkeeping), nor a key that another projection of
 *     the same config in the same Redis database (db:) may write: a rebuild
 *     deletes every key its patterns match;
 *   - its rules name event types the schema catalog knows, and only field
 *     paths the newest schema of each type has (sf_rules_check_catalog).
 * Checked per projection, for the projections a command acts on, so one
 * broken projection does not keep the others of its config from running;
 * a projection that fails its own reserved-prefix check can never run,
 * so it is not held against the others.
 */
#ifndef SF_PROJ_PREFLIGHT_H
#define SF_PROJ_PREFLIGHT_H

#include "config.h"
#include "sf_schema.h"

/* SF_OK, or SF_ERR_CONFIG with one line naming the projection, the
 * pattern(s) or the rule's file:line:col.  cat may be NULL (no catalog
 * checks). */
sf_err_t sf_projection_preflight(const sf_config_t *cfg, const sf_pconf_t *pc,
                                 const sf_catalog_t *cat, char *errstr,
                                 size_t errstr_size);

#endif
