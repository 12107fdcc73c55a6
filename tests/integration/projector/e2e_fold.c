/* provisional: replaced once projector/examples exist */
#include "e2e_fold.h"
#include <stdio.h>
void fold_build(const gen_t *g, size_t upto, model_t *m) {
    char key[256], id[128];
    for (size_t i = 0; i < upto; i++) {
        const gev_t *e = &g->ev[i];
        gen_cart_id(g, e->cart, id, sizeof id);
        snprintf(key, sizeof key, "cart:%s", id);
        if (e->type == GEV_OPENED)
            model_hset(m, key, "status", "open");
    }
}
int fold_patterns(const gen_t *g, char pats[][256], int max) {
    (void)max;
    snprintf(pats[0], 256, "*%s-*", g->prefix);
    return 1;
}
