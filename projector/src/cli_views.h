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

/* diff: against "fold" (the projection folded from its topics into the
 * scratch database db, emptied again afterwards), "spare" (the blue/green
 * spare) or "db" (the view in database db, e.g. an as-of view).  Exit 0
 * equal, 1 different or failed, 2 usage. */
int sf_cli_diff(const sf_config_t *cfg, const sf_catalog_t *cat,
                const sf_pconf_t *pc, const char *against, int db,
                long max_lines);
/* drop --db N: removes the as-of view in database db. */
int sf_cli_drop_asof(const sf_config_t *cfg, const sf_pconf_t *pc, int db);

#endif
