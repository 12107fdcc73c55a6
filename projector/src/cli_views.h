/*
 * cli_views.h - the sf-projector commands about a view's place and state
 * beside the live one: `offsets` (offsets.h), `diff` (diff.h) and `drop`
 * of an as-of view (asof.h).  CLI layer: these print and return the exit
 * code (0 ok, 1 failure or "different" for diff, 2 usage/config).
 */
#ifndef SF_PROJ_CLI_VIEWS_H
#define SF_PROJ_CLI_VIEWS_H

#include "config.h"
#include "sf_schema.h"

/* Prints each partition's committed offset (ours or external),
 * checkpoint, resume offset and the verdict; with commit, re-commits the
 * checkpoints (refused while the group has members). */
int sf_cli_offsets(const sf_config_t *cfg, const sf_pconf_t *pc, int commit);

#endif
