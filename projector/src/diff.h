/*
 * diff.h - `sf-projector diff`: a projection's live view against another
 * generation of it, key by key.
 *
 * The keys compared are those the projection's `keys:` patterns match
 * (Redis' SCAN MATCH on both sides, never KEYS; the reserved sf: prefix is
 * left out).  A key is "missing" when the other side has it and the live
 * view does not, "extra" in the opposite case, "different" when the types
 * or contents differ: the first differing field (hash), member (set,
 * sorted set: its score too), index (list) or the value (string) is
 * named.  Only reads on the live database.
 *
 * Memory: each pattern's key names of both sides, and one key's contents
 * at a time, are held.
 */
#ifndef SF_PROJ_DIFF_H
#define SF_PROJ_DIFF_H

#include <stdio.h>

#include "config.h"

typedef struct sf_diff_stats {
    int64_t equal, missing, extra, different;
} sf_diff_stats_t;

/* Compares pc's view in the live database with the one in database
 * other_db; writes at most max_lines lines naming differences to out
 * (NULL: none), other_name naming the other side in them ("fold",
 * "db 5").  SF_OK whatever the outcome: the caller reads st. */
sf_err_t sf_diff_views(const sf_config_t *cfg, const sf_pconf_t *pc,
                       int other_db, const char *other_name, size_t max_lines,
                       FILE *out, sf_diff_stats_t *st, char *errstr,
                       size_t errstr_size);

#endif
