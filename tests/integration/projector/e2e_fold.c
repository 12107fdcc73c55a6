/*
 * e2e_fold.c - reference fold of the example projections (PROVISIONAL key
 * layout until projector/examples/ exist).
 */
#include "e2e_fold.h"

#include <stdio.h>
#include <string.h>

void fold_build(const gen_t *g, size_t upto, int mask, model_t *m) {
    char key[256], id[128], sku[128];
    for (size_t i = 0; i < upto && i < g->n; i++) {
        const gev_t *e = &g->ev[i];
        gen_cart_id(g, e->cart, id, sizeof id);
        gen_sku_id(g, e->sku, sku, sizeof sku);
        if (mask & FOLD_CART) {
            switch (e->type) {
            case GEV_OPENED:
                snprintf(key, sizeof key, "cart:%s", id);
                model_hset(m, key, "status", "open");
                break;
            case GEV_ADDED:
                snprintf(key, sizeof key, "cart:%s:items", id);
                model_hincrby(m, key, sku, e->qty);
                break;
            case GEV_REMOVED:
                snprintf(key, sizeof key, "cart:%s:items", id);
                model_hincrby(m, key, sku, -e->qty);
                break;
            case GEV_CHECKED_OUT:
                snprintf(key, sizeof key, "cart:%s", id);
                model_hset(m, key, "status", "checked_out");
                break;
            }
        }
        if (mask & FOLD_AVAIL) {
            snprintf(key, sizeof key, "product:%s", sku);
            if (e->type == GEV_ADDED)
                model_hincrby(m, key, "in_carts", e->qty);
            else if (e->type == GEV_REMOVED)
                model_hincrby(m, key, "in_carts", -e->qty);
        }
    }
}

int fold_patterns(const gen_t *g, int mask, char pats[][256], int max) {
    int n = 0;
    if ((mask & FOLD_CART) && n < max)
        snprintf(pats[n++], 256, "cart:%s-*", g->prefix);
    if ((mask & FOLD_AVAIL) && n < max)
        snprintf(pats[n++], 256, "product:%s-*", g->prefix);
    return n;
}

void fold_commands(const gen_t *g, size_t i, int mask, fold_emit_fn emit,
                   void *opaque) {
    (void)g; (void)i; (void)mask; (void)emit; (void)opaque;
}
