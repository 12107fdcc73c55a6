/* preflight.c - checks of a projection against the others of its config
 * and the schema catalog before it runs (see preflight.h). */
#include "preflight.h"

#include <stdio.h>
#include <string.h>

#include "keys.h"
#include "projection.h"

/* Non-zero when every pattern of q stays clear of the reserved prefix. */
static int patterns_valid(const sf_pconf_t *q) {
    for (size_t i = 0; i < sf_rules_nkeys(q->rules); i++)
        if (sf_keys_check_reserved(sf_rules_key(q->rules, i), NULL, 0))
            return 0;
    return 1;
}

static sf_err_t check_overlap(const sf_pconf_t *pc, const char *pat,
                              const sf_pconf_t *q, const char *qpat,
                              char *errstr, size_t errstr_size) {
    sf_glob_t *a = NULL, *b = NULL;
    size_t col;
    sf_err_t e = SF_OK;
    if (sf_glob_compile(pat, strlen(pat), &a, &col, NULL, 0) ||
        sf_glob_compile(qpat, strlen(qpat), &b, &col, NULL, 0)) {
        /* the syntax was checked when the rules were parsed */
        e = SF_OK;
    } else if (sf_glob_overlap(a, b)) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                      "projection %s: key pattern \"%s\" can match the same "
                      "keys as pattern \"%s\" of projection %s (same Redis "
                      "database): a rebuild of either would delete the "
                      "other's keys; give each projection a prefix of its "
                      "own",
                      pc->name, pat, qpat, q->name);
    }
    sf_glob_destroy(a);
    sf_glob_destroy(b);
    return e;
}

sf_err_t sf_projection_preflight(const sf_config_t *cfg, const sf_pconf_t *pc,
                                 const sf_catalog_t *cat, char *errstr,
                                 size_t errstr_size) {
    char why[512];
    sf_err_t re = sf_projector_check_registry(cfg, errstr, errstr_size);
    if (re)
        return re;
    size_t n = sf_rules_nkeys(pc->rules);
    for (size_t i = 0; i < n; i++)
        if (sf_keys_check_reserved(sf_rules_key(pc->rules, i), why, sizeof why))
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "projection %s: %s", pc->name, why);
    for (size_t k = 0; k < cfg->nproj; k++) {
        const sf_pconf_t *q = &cfg->proj[k];
        /* keys of projections in different databases never meet */
        if (q == pc || !strcmp(q->name, pc->name) || !patterns_valid(q) ||
            q->db != pc->db)
            continue;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < sf_rules_nkeys(q->rules); j++) {
                sf_err_t e = check_overlap(pc, sf_rules_key(pc->rules, i), q,
                                           sf_rules_key(q->rules, j), errstr,
                                           errstr_size);
                if (e)
                    return e;
            }
    }
    char msg[600];
    if (sf_rules_check_keys(pc->rules, msg, sizeof msg))
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "projection %s: %s", pc->name, msg);
    if (cat) {
        if (sf_rules_check_catalog(pc->rules, cat, msg, sizeof msg))
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "projection %s: %s", pc->name, msg);
    }
    return SF_OK;
}
