/*
 * bench_decode.c - decode throughput of an ItemAddedToCart event, in one
 * run:
 *   (a) avro-c alone: avro_reader_memory + avro_value_read into a reused
 *       generic value (the body only, no header), for the v2 bytes and for
 *       the v1 bytes with their own schema;
 *   (b) sf_decoder_decode of v2 single-object bytes (same version);
 *   (c) sf_decoder_decode of v1 single-object bytes resolved to v2.
 * Prints records/s and the cost ratios b/a(v2) and c/a(v1); goals are
 * <= 1.1 and <= 1.5.  Each figure is the best of 5 rounds of >= 0.3 s.
 *
 * usage: bench_decode [DOMAINS_DIR] [--check]   (--check: exit 1 when a goal
 * is missed)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sf_schema.h"

#ifndef SF_DOMAINS
#define SF_DOMAINS "schemas/domains"
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef int (*one_fn)(void *ctx);

/* Best records/s over 5 rounds of at least 0.3 s each. */
static double measure(one_fn fn, void *ctx) {
    double best = 0;
    for (int round = 0; round < 5; round++) {
        long n = 0;
        double t0 = now(), t;
        do {
            for (int i = 0; i < 1000; i++)
                if (fn(ctx)) {
                    fprintf(stderr, "bench_decode: decode failed\n");
                    exit(1);
                }
            n += 1000;
        } while ((t = now() - t0) < 0.3);
        if (n / t > best)
            best = n / t;
    }
    return best;
}

typedef struct avro_ctx {
    avro_reader_t reader;
    avro_value_t value;
    const char *body;
    int64_t len;
} avro_ctx_t;

static int one_avro(void *p) {
    avro_ctx_t *c = p;
    avro_reader_memory_set_source(c->reader, c->body, c->len);
    return avro_value_read(c->reader, &c->value);
}

typedef struct sf_ctx {
    sf_decoder_t *dec;
    const void *buf;
    size_t len;
} sf_ctx_t;

static int one_sf(void *p) {
    sf_ctx_t *c = p;
    avro_value_t *v;
    return sf_decoder_decode(c->dec, c->buf, c->len, &v, NULL, NULL, NULL, 0);
}

static void *encode(const sf_catalog_t *cat, int version, const char *json,
                    size_t *len) {
    char err[512];
    const sf_schema_t *s =
        sf_catalog_version(cat, "shop.cart.ItemAddedToCart", version);
    avro_value_t v;
    void *out;
    if (!s ||
        sf_value_from_json_text(s, json, strlen(json), "data", &v, err,
                                sizeof err) ||
        sf_encode(s, &v, &out, len, err, sizeof err)) {
        fprintf(stderr, "bench_decode: encode v%d: %s\n", version, err);
        exit(1);
    }
    avro_value_decref(&v);
    return out;
}

static void avro_setup(avro_ctx_t *c, const sf_schema_t *s, const void *buf,
                       size_t len) {
    avro_value_iface_t *iface =
        avro_generic_class_from_schema(sf_schema_avro(s));
    if (!iface || avro_generic_value_new(iface, &c->value)) {
        fprintf(stderr, "bench_decode: avro-c: %s\n", avro_strerror());
        exit(1);
    }
    avro_value_iface_decref(iface);
    c->body = (const char *)buf + SF_SOE_HEADER_SIZE;
    c->len = (int64_t)(len - SF_SOE_HEADER_SIZE);
    c->reader = avro_reader_memory(c->body, c->len);
}

int main(int argc, char **argv) {
    const char *dir = SF_DOMAINS;
    int check = 0;
    char err[512];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--check") == 0)
            check = 1;
        else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: bench_decode [DOMAINS_DIR] [--check]\n");
            return 0;
        } else
            dir = argv[i];
    }
    sf_catalog_t *cat = sf_catalog_new();
    if (sf_catalog_load_dir(cat, dir, err, sizeof err)) {
        fprintf(stderr, "bench_decode: %s\n", err);
        return 1;
    }
    size_t l1, l2;
    void *b1 = encode(cat, 1,
                      "{\"cart_id\":\"cart-00042\",\"sku\":\"SKU-123456\","
                      "\"quantity\":3,\"unit_price_cents\":1999,"
                      "\"added_at\":1795698790123}",
                      &l1);
    void *b2 = encode(cat, 2,
                      "{\"cart_id\":\"cart-00042\",\"sku\":\"SKU-123456\","
                      "\"quantity\":3,\"unit_price_cents\":1999,"
                      "\"added_at\":1795698790123,\"currency\":\"EUR\"}",
                      &l2);

    avro_ctx_t a2, a1;
    avro_setup(&a2, sf_catalog_version(cat, "shop.cart.ItemAddedToCart", 2), b2,
               l2);
    avro_setup(&a1, sf_catalog_version(cat, "shop.cart.ItemAddedToCart", 1), b1,
               l1);
    sf_ctx_t s2 = {sf_decoder_new(cat), b2, l2};
    sf_ctx_t s1 = {sf_decoder_new(cat), b1, l1};

    double ra2 = measure(one_avro, &a2);
    double ra1 = measure(one_avro, &a1);
    double rb = measure(one_sf, &s2);
    double rc = measure(one_sf, &s1);

    printf("ItemAddedToCart decode throughput (records/s, best of 5):\n");
    printf("  (a) avro-c avro_value_read, v2 body:      %12.0f\n", ra2);
    printf("  (a) avro-c avro_value_read, v1 body:      %12.0f\n", ra1);
    printf("  (b) sf_decoder_decode v2 -> v2:           %12.0f\n", rb);
    printf("  (c) sf_decoder_decode v1 -> v2 resolved:  %12.0f\n", rc);
    double cb = ra2 / rb, cc = ra1 / rc, cc2 = ra2 / rc;
    printf("cost ratio (b)/(a v2) = %.2fx (goal <= 1.10)\n", cb);
    printf("cost ratio (c)/(a v1) = %.2fx (goal <= 1.50); vs (a v2) %.2fx\n",
           cc, cc2);

    sf_decoder_destroy(s1.dec);
    sf_decoder_destroy(s2.dec);
    avro_reader_free(a1.reader);
    avro_reader_free(a2.reader);
    avro_value_decref(&a1.value);
    avro_value_decref(&a2.value);
    free(b1);
    free(b2);
    sf_catalog_destroy(cat);
    if (check && (cb > 1.1 || cc > 1.5)) {
        fprintf(stderr, "bench_decode: goal missed\n");
        return 1;
    }
    return 0;
}
