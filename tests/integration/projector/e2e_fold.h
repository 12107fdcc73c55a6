/*
 * e2e_fold.h - the reference fold: the read model the example projections
 * (projector/examples/cart-contents, product-availability) must produce,
 * computed directly from the generated events, without the projector's
 * rules engine.  Any change of the example rules' key layout must be
 * mirrored here (the test then fails loudly, key by key).
 */
#ifndef SF_E2E_FOLD_H
#define SF_E2E_FOLD_H

#include "e2e_gen.h"
#include "e2e_model.h"

#define FOLD_MAX_PATTERNS 8

/* Folds events [0, upto) of g into m. */
void fold_build(const gen_t *g, size_t upto, model_t *m);

/* SCAN MATCH patterns covering every view key of this run (its prefix);
 * returns how many were written into pats. */
int fold_patterns(const gen_t *g, char pats[][256], int max);

#endif
