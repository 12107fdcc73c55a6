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

/* Which views: the cart-contents and/or product-availability projection. */
#define FOLD_CART  1
#define FOLD_AVAIL 2
#define FOLD_ALL   (FOLD_CART | FOLD_AVAIL)

/* Folds events [0, upto) of g into m. */
void fold_build(const gen_t *g, size_t upto, int mask, model_t *m);

/* SCAN MATCH patterns covering every view key of this run (its prefix);
 * returns how many were written into pats. */
int fold_patterns(const gen_t *g, int mask, char pats[][256], int max);

/* The Redis commands the example rules issue for event i, one emit() per
 * command (a mirror of the rules files, used by the benchmark baseline
 * that applies the same commands pipelined). */
typedef void (*fold_emit_fn)(void *opaque, int argc, const char **argv);
void fold_commands(const gen_t *g, size_t i, int mask, fold_emit_fn emit,
                   void *opaque);

#endif
