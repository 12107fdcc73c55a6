/*
 * e2e_fold.c - reference fold of the example projections, computed from the
 * generated events alone:
 *
 *   cart-contents (projector/examples/cart-contents.rules.yaml)
 *     cart:<cart_id>        hash  status = open | checked_out
 *     cart:<cart_id>:items  hash  <sku> -> units added minus units removed
 *                                 (a line removed completely stays as 0)
 *   product-availability (product-availability.rules.yaml)
 *     product:<sku>         hash  in_carts = units added minus removed over
 *                                 all carts (checkout does not release them)
 *
 * fold_commands() is the other direction, the commands those rules issue
 * per event, for the benchmark's Redis baseline.
 */
#include "e2e_fold.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fold_build(const gen_t *g, size_t upto, int mask, model_t *m) {
    char key[256], id[128], sku[128];
    /* The projector's duplicate rule (docs/duplicates.md): an event whose
     * aggregate version is not above its cart's last one is not folded.
     * The generator never repeats a version, so this changes nothing
     * unless an event is given twice. */
    uint32_t *last = calloc(g->ncarts ? g->ncarts : 1, sizeof(*last));
    for (size_t i = 0; i < upto && i < g->n; i++) {
        const gev_t *e = &g->ev[i];
        if (last && e->seq && e->cart < g->ncarts) {
            if (e->seq <= last[e->cart])
                continue;
            last[e->cart] = e->seq;
        }
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
    free(last);
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
    const gev_t *e = &g->ev[i];
    char key[256], id[128], sku[128], qty[32];
    gen_cart_id(g, e->cart, id, sizeof id);
    gen_sku_id(g, e->sku, sku, sizeof sku);
    snprintf(qty, sizeof qty, "%d", e->type == GEV_REMOVED ? -e->qty : e->qty);
    if (mask & FOLD_CART) {
        switch (e->type) {
        case GEV_OPENED:
        case GEV_CHECKED_OUT: {
            snprintf(key, sizeof key, "cart:%s", id);
            const char *argv[] = {"HSET", key, "status",
                                  e->type == GEV_OPENED ? "open"
                                                        : "checked_out"};
            emit(opaque, 4, argv);
            break;
        }
        case GEV_ADDED:
        case GEV_REMOVED: {
            snprintf(key, sizeof key, "cart:%s:items", id);
            const char *argv[] = {"HINCRBY", key, sku, qty};
            emit(opaque, 4, argv);
            break;
        }
        }
    }
    if ((mask & FOLD_AVAIL) &&
        (e->type == GEV_ADDED || e->type == GEV_REMOVED)) {
        snprintf(key, sizeof key, "product:%s", sku);
        const char *argv[] = {"HINCRBY", key, "in_carts", qty};
        emit(opaque, 4, argv);
    }
}
