/*
 * e2e_gen.c - deterministic cart history (see e2e_gen.h).
 */
#include "e2e_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *currencies[] = {"EUR", "USD", "GBP", "CHF"};
#define NCUR 4

const char *gen_currency(int idx) {
    return currencies[idx % NCUR];
}

const char *gen_type_name(int type) {
    switch (type) {
    case GEV_OPENED: return "shop.cart.CartOpened";
    case GEV_ADDED: return "shop.cart.ItemAddedToCart";
    case GEV_REMOVED: return "shop.cart.ItemRemovedFromCart";
    case GEV_CHECKED_OUT: return "shop.cart.CartCheckedOut";
    }
    return "?";
}

/* splitmix64: small, fast, the same everywhere. */
static uint64_t rnd(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static uint32_t below(uint64_t *s, uint32_t n) {
    return (uint32_t)(rnd(s) % n);
}

typedef struct line {
    uint32_t sku;
    int32_t qty;
} line_t;

typedef struct cart {
    uint32_t id;
    uint32_t seq;
    uint8_t cur;
    line_t *lines;
    int nlines, cap;
} cart_t;

int gen_make(gen_t *g, uint64_t seed, size_t n, const char *prefix) {
    memset(g, 0, sizeof(*g));
    snprintf(g->prefix, sizeof g->prefix, "%s", prefix);
    g->ev = calloc(n ? n : 1, sizeof(gev_t));
    if (!g->ev)
        return -1;
    g->n = n;
    /* about 9 events per cart; a catalogue that grows slowly with size */
    g->nskus = 200 + (uint32_t)(n / 500);
    uint64_t s = seed * 0x2545F4914F6CDD1DULL + 1;
    size_t pool_cap = 512;
    cart_t *pool = calloc(pool_cap, sizeof(cart_t));
    size_t npool = 0;
    if (!pool)
        return -1;
    int64_t ts = 1767225600000LL; /* 2026-01-01T00:00:00Z */
    uint32_t ncarts = 0;
    for (size_t i = 0; i < n; i++) {
        gev_t *e = &g->ev[i];
        ts += 1 + below(&s, 400);
        e->ts = ts;
        if (npool < 48 || (npool < pool_cap && below(&s, 100) < 11)) {
            cart_t *c = &pool[npool++];
            memset(c, 0, sizeof(*c));
            c->id = ncarts++;
            /* 60% EUR, the rest spread over the others */
            uint32_t r = below(&s, 100);
            c->cur = r < 60 ? 0 : (uint8_t)(1 + r % (NCUR - 1));
            c->seq = 1;
            e->type = GEV_OPENED;
            e->cart = c->id;
            e->seq = 1;
            e->cur = c->cur;
            e->customer = c->id / 3 + below(&s, 7);
            continue;
        }
        size_t ci = below(&s, (uint32_t)npool);
        cart_t *c = &pool[ci];
        e->cart = c->id;
        e->seq = ++c->seq;
        e->cur = c->cur;
        uint32_t r = below(&s, 100);
        if (c->nlines == 0 || r < 58) {
            /* skewed popularity: low sku numbers are bought more often */
            uint32_t a = below(&s, g->nskus), b = below(&s, g->nskus);
            uint32_t sku = a < b ? a : b;
            int32_t q = 1 + (int32_t)below(&s, 4);
            e->type = GEV_ADDED;
            e->sku = sku;
            e->qty = q;
            e->price = 199 + (int64_t)((sku * 7919u) % 9800u);
            e->ver = c->cur != 0 ? 2 : (uint8_t)(1 + below(&s, 2));
            int k;
            for (k = 0; k < c->nlines; k++)
                if (c->lines[k].sku == sku)
                    break;
            if (k == c->nlines) {
                if (c->nlines == c->cap) {
                    c->cap = c->cap ? c->cap * 2 : 4;
                    line_t *nl =
                        realloc(c->lines, (size_t)c->cap * sizeof(line_t));
                    if (!nl)
                        return -1;
                    c->lines = nl;
                }
                c->lines[c->nlines].sku = sku;
                c->lines[c->nlines].qty = 0;
                c->nlines++;
            }
            c->lines[k].qty += q;
        } else if (r < 86) {
            int k = (int)below(&s, (uint32_t)c->nlines);
            int32_t q = 1 + (int32_t)below(&s, (uint32_t)c->lines[k].qty);
            e->type = GEV_REMOVED;
            e->sku = c->lines[k].sku;
            e->qty = q;
            c->lines[k].qty -= q;
            if (c->lines[k].qty == 0)
                c->lines[k] = c->lines[--c->nlines];
        } else {
            e->type = GEV_CHECKED_OUT;
            free(c->lines);
            pool[ci] = pool[--npool];
        }
    }
    for (size_t i = 0; i < npool; i++)
        free(pool[i].lines);
    free(pool);
    g->ncarts = ncarts;
    return 0;
}

void gen_free(gen_t *g) {
    free(g->ev);
    g->ev = NULL;
}

void gen_cart_id(const gen_t *g, uint32_t cart, char *buf, size_t n) {
    snprintf(buf, n, "%s-c%u", g->prefix, cart);
}
void gen_sku_id(const gen_t *g, uint32_t sku, char *buf, size_t n) {
    snprintf(buf, n, "%s-sku%u", g->prefix, sku);
}
void gen_customer_id(const gen_t *g, uint32_t cust, char *buf, size_t n) {
    snprintf(buf, n, "%s-u%u", g->prefix, cust);
}

size_t gen_json(const gen_t *g, size_t i, char *buf, size_t n) {
    const gev_t *e = &g->ev[i];
    char cart[96], sku[96], cust[96];
    gen_cart_id(g, e->cart, cart, sizeof cart);
    int len = 0;
    switch (e->type) {
    case GEV_OPENED:
        gen_customer_id(g, e->customer, cust, sizeof cust);
        len = snprintf(buf, n,
                       "{\"cart_id\":\"%s\",\"customer_id\":\"%s\","
                       "\"opened_at\":%lld}",
                       cart, cust, (long long)e->ts);
        break;
    case GEV_ADDED:
        gen_sku_id(g, e->sku, sku, sizeof sku);
        if (e->ver == 1)
            len = snprintf(buf, n,
                           "{\"cart_id\":\"%s\",\"sku\":\"%s\",\"quantity\":%d,"
                           "\"unit_price_cents\":%lld,\"added_at\":%lld}",
                           cart, sku, e->qty, (long long)e->price,
                           (long long)e->ts);
        else
            len = snprintf(buf, n,
                           "{\"cart_id\":\"%s\",\"sku\":\"%s\",\"quantity\":%d,"
                           "\"unit_price_cents\":%lld,\"added_at\":%lld,"
                           "\"currency\":\"%s\"}",
                           cart, sku, e->qty, (long long)e->price,
                           (long long)e->ts, gen_currency(e->cur));
        break;
    case GEV_REMOVED:
        gen_sku_id(g, e->sku, sku, sizeof sku);
        len = snprintf(buf, n,
                       "{\"cart_id\":\"%s\",\"sku\":\"%s\",\"quantity\":%d,"
                       "\"removed_at\":%lld}",
                       cart, sku, e->qty, (long long)e->ts);
        break;
    case GEV_CHECKED_OUT:
        len = snprintf(buf, n, "{\"cart_id\":\"%s\",\"checked_out_at\":%lld}",
                       cart, (long long)e->ts);
        break;
    }
    return len < 0 ? 0 : (size_t)len;
}
