/*
 * e2e_gen.h - deterministic cart history for the projector's end-to-end
 * tests and benchmarks.
 *
 * gen: (seed, n, prefix) -> exactly n cart events over many carts,
 * interleaved the way a busy shop interleaves them: CartOpened,
 * ItemAddedToCart (schema v1 for EUR carts half of the time, v2 otherwise,
 * v2 always for non-EUR carts), ItemRemovedFromCart (never more than the
 * cart holds), CartCheckedOut (ends the cart).  Every id carries prefix so
 * that one run's Redis keys never meet another's.  The same arguments give
 * the same events on every machine (own PRNG, no libc rand()).
 */
#ifndef SF_E2E_GEN_H
#define SF_E2E_GEN_H

#include <stddef.h>
#include <stdint.h>

enum { GEV_OPENED, GEV_ADDED, GEV_REMOVED, GEV_CHECKED_OUT, GEV__COUNT };

typedef struct gev {
    uint8_t type; /* GEV_* */
    uint8_t ver;  /* schema version written (ItemAddedToCart 1 or 2) */
    uint8_t cur;  /* currency index (gen_currency()) */
    int32_t qty;
    uint32_t cart; /* cart number */
    uint32_t sku;  /* sku number */
    uint32_t seq;  /* aggregate version, 1-based */
    uint32_t customer;
    int64_t price; /* unit_price_cents */
    int64_t ts;    /* event time, ms */
} gev_t;

typedef struct gen {
    gev_t *ev;
    size_t n;
    uint32_t ncarts;
    uint32_t nskus;
    char prefix[64];
} gen_t;

/* Generates n events; returns 0, or -1 when out of memory. */
int gen_make(gen_t *g, uint64_t seed, size_t n, const char *prefix);
void gen_free(gen_t *g);

const char *gen_currency(int idx);
const char *gen_type_name(int type); /* Avro full name */

/* Ids as they appear on the wire, written into buf. */
void gen_cart_id(const gen_t *g, uint32_t cart, char *buf, size_t n);
void gen_sku_id(const gen_t *g, uint32_t sku, char *buf, size_t n);
void gen_customer_id(const gen_t *g, uint32_t cust, char *buf, size_t n);

/* The Avro JSON payload of event i into buf; returns its length. */
size_t gen_json(const gen_t *g, size_t i, char *buf, size_t n);

#endif
