/*
 * fuzz_decode.c - libFuzzer target over the single-object decoder.
 *
 * Each input is decoded twice:
 *   1. as is, so the header checks and fingerprint lookup are fuzzed;
 *   2. as the body of a schema picked by the first byte, behind a valid
 *      header, so the body reader and every resolution plan (domain
 *      schemas plus a v1->v2 pair rich in promotions, unions, maps, fixed,
 *      enums with defaults and recursion) are reached without the fuzzer
 *      having to guess fingerprints.
 * On success the value is turned into JSON, and
 * re-encoded and decoded again: that must succeed (invariant, else trap).
 *
 * Build: cmake -DSF_FUZZ=ON with CC=clang (see tests/fuzz/CMakeLists.txt).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sf_schema.h"

#ifndef SF_DOMAINS
#error "SF_DOMAINS must name schemas/domains"
#endif

static sf_catalog_t *cat;
static sf_decoder_t *dec, *dec2;
static const sf_schema_t *all[64];
static size_t nall;

static const char *extra_v1 =
    "{\"type\":\"record\",\"name\":\"fz.Ev\",\"fields\":["
    "{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"b\",\"type\":\"bytes\"},{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"bo\",\"type\":\"boolean\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":["
    "\"A\",\"B\",\"C\"]}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"int\",\"string\",{\"type\":\"fixed\","
    "\"name\":\"F\",\"size\":3}]},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\","
    "\"items\":\"null\"}}},"
    "{\"name\":\"t\",\"type\":{\"type\":\"record\",\"name\":\"Tree\","
    "\"fields\":["
    "  {\"name\":\"v\",\"type\":\"int\"},"
    "  {\"name\":\"kids\",\"type\":{\"type\":\"array\",\"items\":\"Tree\"}}]}},"
    "{\"name\":\"gone\",\"type\":[\"null\",{\"type\":\"map\",\"values\":"
    "\"Tree\"}]}"
    "]}";
static const char *extra_v2 =
    "{\"type\":\"record\",\"name\":\"fz.Ev\",\"fields\":["
    "{\"name\":\"i\",\"type\":\"double\"},{\"name\":\"l\",\"type\":\"float\"},"
    "{\"name\":\"f\",\"type\":\"double\"},{\"name\":\"s\",\"type\":\"bytes\"},"
    "{\"name\":\"b\",\"type\":\"string\"},{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"bo\",\"type\":\"boolean\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":["
    "\"B\",\"Z\"],\"default\":\"Z\"}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"long\",\"bytes\"]},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":{\"type\":\"array\","
    "\"items\":\"null\"}}},"
    "{\"name\":\"t\",\"type\":{\"type\":\"record\",\"name\":\"Tree\","
    "\"fields\":["
    "  {\"name\":\"v\",\"type\":\"long\"},"
    "  {\"name\":\"kids\",\"type\":{\"type\":\"array\",\"items\":\"Tree\"}},"
    "  {\"name\":\"w\",\"type\":\"string\",\"default\":\"w\"}]}},"
    "{\"name\":\"added\",\"type\":{\"type\":\"array\",\"items\":\"E\"},"
    "\"default\":[\"B\"]}"
    "]}";

/* Freed at exit so LeakSanitizer's final check sees only real leaks. */
static void cleanup(void) {
    sf_decoder_destroy(dec);
    sf_decoder_destroy(dec2);
    sf_catalog_destroy(cat);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    char err[512];
    (void)argc;
    (void)argv;
    cat = sf_catalog_new();
    if (sf_catalog_load_dir(cat, SF_DOMAINS, err, sizeof err) ||
        sf_catalog_add(cat, extra_v1, strlen(extra_v1), "fz.v1", 1, NULL, err,
                       sizeof err) ||
        sf_catalog_add(cat, extra_v2, strlen(extra_v2), "fz.v2", 2, NULL, err,
                       sizeof err)) {
        fprintf(stderr, "fuzz_decode: %s\n", err);
        abort();
    }
    for (size_t i = 0; i < sf_catalog_count(cat) && nall < 64; i++)
        all[nall++] = sf_catalog_get(cat, i);
    dec = sf_decoder_new(cat);
    dec2 = sf_decoder_new(cat);
    atexit(cleanup);
    return 0;
}

static void check(const uint8_t *buf, size_t len) {
    char err[512];
    avro_value_t *v;
    const sf_schema_t *w, *r;
    if (sf_decoder_decode(dec, buf, len, &v, &w, &r, err, sizeof err) !=
        SF_OK) {
        if (!err[0])
            __builtin_trap(); /* every failure must say why */
        return;
    }
    json_t *j;
    if (sf_value_to_json(v, &j, err, sizeof err) == SF_OK)
        json_decref(j);
    void *out;
    size_t olen;
    if (sf_encode(r, v, &out, &olen, err, sizeof err) != SF_OK)
        __builtin_trap();
    avro_value_t *v2;
    if (sf_decoder_decode(dec2, out, olen, &v2, NULL, NULL, err, sizeof err) !=
        SF_OK)
        __builtin_trap();
    (void)w; /* bytes may differ: overlong varints, block sizes, map keys */
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check(data, size);
    if (size >= 1 && nall) {
        const sf_schema_t *s = all[data[0] % nall];
        uint8_t *buf = malloc(size - 1 + SF_SOE_HEADER_SIZE);
        uint64_t fp = sf_schema_fingerprint(s);
        buf[0] = SF_SOE_MAGIC0;
        buf[1] = SF_SOE_MAGIC1;
        for (int i = 0; i < 8; i++)
            buf[2 + i] = (uint8_t)(fp >> (8 * i));
        memcpy(buf + SF_SOE_HEADER_SIZE, data + 1, size - 1);
        check(buf, size - 1 + SF_SOE_HEADER_SIZE);
        free(buf);
    }
    return 0;
}
