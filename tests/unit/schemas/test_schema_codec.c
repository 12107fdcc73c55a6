/*
 * test_schema_codec.c - catalog, single-object codec, decoder errors,
 * schema resolution, Avro JSON and compatibility checks of libsfschema.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "sf_schema.h"

#ifndef SF_DOMAINS
#error "SF_DOMAINS must name schemas/domains"
#endif
#ifndef SF_EXAMPLES
#error "SF_EXAMPLES must name data/examples.jsonl"
#endif

static char err[1024];

static sf_catalog_t *domains(void) {
    sf_catalog_t *cat = sf_catalog_new();
    assert_non_null(cat);
    if (sf_catalog_load_dir(cat, SF_DOMAINS, err, sizeof err) != SF_OK)
        fail_msg("load %s: %s", SF_DOMAINS, err);
    return cat;
}

/* JSON text -> single-object bytes of (type, version). */
static void *encode_text(const sf_catalog_t *cat, const char *type, int version,
                         const char *json, size_t *len) {
    const sf_schema_t *s = sf_catalog_version(cat, type, version);
    avro_value_t v;
    void *out;
    assert_non_null(s);
    if (sf_value_from_json_text(s, json, strlen(json), "data", &v, err,
                                sizeof err) != SF_OK)
        fail_msg("from_json: %s", err);
    if (sf_encode(s, &v, &out, len, err, sizeof err) != SF_OK)
        fail_msg("encode: %s", err);
    avro_value_decref(&v);
    return out;
}

static json_t *decode_json(sf_decoder_t *dec, const void *buf, size_t len,
                           const sf_schema_t **w, const sf_schema_t **r) {
    avro_value_t *v;
    json_t *j;
    if (sf_decoder_decode(dec, buf, len, &v, w, r, err, sizeof err) != SF_OK)
        fail_msg("decode: %s", err);
    if (sf_value_to_json(v, &j, err, sizeof err) != SF_OK)
        fail_msg("to_json: %s", err);
    return j;
}

static void assert_json_eq(const json_t *got, const json_t *want) {
    if (!json_equal((json_t *)got, (json_t *)want)) {
        char *a =
            json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *b =
            json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        fail_msg("JSON differs:\n got  %s\n want %s", a, b);
    }
}

/* ---------------------------------------------------------------------
 * Catalog
 * ------------------------------------------------------------------- */

static void test_catalog_domains(void **state) {
    (void)state;
    sf_catalog_t *cat = domains();
    assert_int_equal(sf_catalog_count(cat), 10);
    const sf_schema_t *v1 =
        sf_catalog_version(cat, "shop.cart.ItemAddedToCart", 1);
    const sf_schema_t *v2 = sf_catalog_latest(cat, "shop.cart.ItemAddedToCart");
    assert_non_null(v1);
    assert_non_null(v2);
    assert_int_equal(sf_schema_version(v2), 2);
    assert_ptr_equal(sf_catalog_by_fingerprint(cat, sf_schema_fingerprint(v1)),
                     v1);
    assert_ptr_equal(sf_catalog_by_fingerprint(cat, sf_schema_fingerprint(v2)),
                     v2);
    assert_null(sf_catalog_by_fingerprint(cat, 0x1234));
    assert_null(sf_catalog_latest(cat, "shop.cart.Nope"));
    assert_null(sf_catalog_version(cat, "shop.cart.ItemAddedToCart", 3));
    /* The fingerprint is the CRC of the stored canonical form. */
    assert_true(sf_crc64_avro(sf_schema_canonical(v1),
                              strlen(sf_schema_canonical(v1))) ==
                sf_schema_fingerprint(v1));
    assert_non_null(strstr(sf_schema_origin(v1), "ItemAddedToCart.v1.avsc"));
    assert_non_null(sf_schema_avro(v1));
    /* Ordered by full name, then version. */
    for (size_t i = 1; i < sf_catalog_count(cat); i++) {
        const sf_schema_t *a = sf_catalog_get(cat, i - 1),
                          *b = sf_catalog_get(cat, i);
        int c = strcmp(sf_schema_fullname(a), sf_schema_fullname(b));
        assert_true(c < 0 ||
                    (c == 0 && sf_schema_version(a) < sf_schema_version(b)));
    }
    assert_null(sf_catalog_get(cat, 10));
    sf_catalog_destroy(cat);
}

static void expect_add_error(const char *json, int version, sf_err_t want,
                             const char *needle) {
    sf_catalog_t *cat = sf_catalog_new();
    const char *rec = "{\"type\":\"record\",\"name\":\"a.R\",\"fields\":[]}";
    assert_int_equal(sf_catalog_add(cat, rec, strlen(rec), "first.avsc", 1,
                                    NULL, err, sizeof err),
                     SF_OK);
    err[0] = 0;
    sf_err_t e = sf_catalog_add(cat, json, strlen(json), "x.avsc", version,
                                NULL, err, sizeof err);
    if (e != want || !strstr(err, needle))
        fail_msg("%s: got %s \"%s\", want %s with \"%s\"", json, sf_err_name(e),
                 err, sf_err_name(want), needle);
    sf_catalog_destroy(cat);
}

static void test_catalog_errors(void **state) {
    (void)state;
    expect_add_error("{\"type\":\"record\",\"name\":\"a.R\",\"fields\":[]}", 1,
                     SF_ERR_SCHEMA,
                     "a.R version 1 is already defined by first.avsc");
    expect_add_error(
        "{\"type\":\"record\",\"name\":\"a.S\",\"fields\":"
        "[{\"name\":\"n\",\"type\":\"int\",\"default\":\"x\"}]}",
        1, SF_ERR_SCHEMA,
        "x.avsc: a.S.n.default: default: expected int, got string");
    expect_add_error("\"int\"", 1, SF_ERR_SCHEMA, "must be a named type");
    expect_add_error("{\"type\":\"record\",\n\"name\":}", 1, SF_ERR_PARSE,
                     "x.avsc:2:");
    expect_add_error("{\"type\":\"record\",\"name\":\"a.T\",\"fields\":[]}", 0,
                     SF_ERR_INVALID_ARG, "version");
}

static void test_catalog_load_dir_errors(void **state) {
    (void)state;
    char dir[] = "/tmp/sf-schema-test-XXXXXX";
    char path[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/Bad.v1.avsc", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(
        "{\"type\":\"record\",\"name\":\"Bad\",\"fields\":[{\"name\":\"x\"}]}",
        f);
    fclose(f);
    sf_catalog_t *cat = sf_catalog_new();
    assert_int_equal(sf_catalog_load_dir(cat, dir, err, sizeof err),
                     SF_ERR_SCHEMA);
    assert_non_null(
        strstr(err, "Bad.v1.avsc: fields[0]: field \"x\" needs a \"type\""));
    sf_catalog_destroy(cat);
    unlink(path);
    cat = sf_catalog_new();
    assert_int_equal(
        sf_catalog_load_dir(cat, "/nonexistent/sf", err, sizeof err),
        SF_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/sf"));
    sf_catalog_destroy(cat);
    rmdir(dir);
}

/* ---------------------------------------------------------------------
 * Round trips of every example event
 * ------------------------------------------------------------------- */

static void test_roundtrip_examples(void **state) {
    (void)state;
    sf_catalog_t *cat = domains();
    sf_decoder_t *dec = sf_decoder_new(cat);
    FILE *f = fopen(SF_EXAMPLES, "r");
    char line[8192];
    int n = 0;
    size_t types_seen = 0;
    char seen[16][128];
    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        json_error_t je;
        json_t *ex = json_loads(line, 0, &je);
        assert_non_null(ex);
        const char *type = json_string_value(json_object_get(ex, "type"));
        int version = (int)json_integer_value(json_object_get(ex, "version"));
        json_t *data = json_object_get(ex, "data");
        json_t *expect = json_object_get(ex, "expect");
        char *text = json_dumps(data, JSON_COMPACT);
        size_t len;
        void *buf = encode_text(cat, type, version, text, &len);
        const sf_schema_t *w, *r;
        const sf_schema_t *s = sf_catalog_version(cat, type, version);

        /* Header: C3 01 + little-endian fingerprint of the writer. */
        uint64_t fp;
        assert_int_equal(sf_soe_header_parse(buf, len, &fp, err, sizeof err),
                         SF_OK);
        assert_true(fp == sf_schema_fingerprint(s));
        assert_int_equal(((unsigned char *)buf)[0], 0xC3);
        assert_int_equal(((unsigned char *)buf)[1], 0x01);
        assert_int_equal(((unsigned char *)buf)[2], (unsigned)(fp & 0xff));

        json_t *got = decode_json(dec, buf, len, &w, &r);
        assert_ptr_equal(w, s);
        assert_ptr_equal(r, sf_catalog_latest(cat, type));
        assert_json_eq(got, expect ? expect : data);
        /* Decoding twice reuses the value: same result. */
        json_decref(got);
        got = decode_json(dec, buf, len, NULL, NULL);
        assert_json_eq(got, expect ? expect : data);
        json_decref(got);

        size_t k;
        for (k = 0; k < types_seen; k++)
            if (strcmp(seen[k], type) == 0)
                break;
        if (k == types_seen && types_seen < 16)
            snprintf(seen[types_seen++], sizeof seen[0], "%s", type);
        free(text);
        free(buf);
        json_decref(ex);
        n++;
    }
    fclose(f);
    assert_true(n >= 12);
    /* Every domain type has at least one example. */
    assert_int_equal(types_seen, 9);
    sf_decoder_destroy(dec);
    sf_catalog_destroy(cat);
}

/* ---------------------------------------------------------------------
 * Decoder errors
 * ------------------------------------------------------------------- */

static const char *item_v1 = "{\"cart_id\":\"c\",\"sku\":\"abc\",\"quantity\":"
                             "3,\"unit_price_cents\":100,"
                             "\"added_at\":5}";

static void expect_decode(sf_decoder_t *dec, const void *buf, size_t len,
                          sf_err_t want, const char *needle) {
    avro_value_t *v = NULL;
    err[0] = 0;
    sf_err_t e =
        sf_decoder_decode(dec, buf, len, &v, NULL, NULL, err, sizeof err);
    if (e != want || (needle && !strstr(err, needle)))
        fail_msg("got %s \"%s\", want %s with \"%s\"", sf_err_name(e), err,
                 sf_err_name(want), needle ? needle : "");
}

static void test_decode_errors(void **state) {
    (void)state;
    sf_catalog_t *cat = domains();
    sf_decoder_t *dec = sf_decoder_new(cat);
    size_t len;
    unsigned char *buf =
        encode_text(cat, "shop.cart.ItemAddedToCart", 1, item_v1, &len);
    unsigned char tmp[256];
    assert_true(len < sizeof tmp - 8);

    /* body: 02 'c' 06 'abc' 06 c8 01 0a */
    expect_decode(dec, buf, len, SF_OK, NULL);

    /* Every strict prefix is truncated, never a crash or a success. */
    for (size_t cut = 0; cut < len; cut++) {
        unsigned char *p = malloc(cut ? cut : 1); /* exact size for ASan */
        memcpy(p, buf, cut);
        expect_decode(dec, p, cut, SF_ERR_TRUNCATED, NULL);
        free(p);
    }
    expect_decode(dec, buf, 5, SF_ERR_TRUNCATED,
                  "header needs 10 bytes, got 5");
    expect_decode(dec, buf, 13, SF_ERR_TRUNCATED, "sku: byte 13:");

    memcpy(tmp, buf, len);
    tmp[0] = 0xC4;
    expect_decode(dec, tmp, len, SF_ERR_BAD_MAGIC, "byte 0");
    tmp[0] = 0xC3;
    tmp[1] = 0x02;
    expect_decode(dec, tmp, len, SF_ERR_BAD_MAGIC, "byte 1");
    expect_decode(dec, "\x00", 1, SF_ERR_BAD_MAGIC, NULL);

    memcpy(tmp, buf, len);
    tmp[5] ^= 0xff;
    expect_decode(dec, tmp, len, SF_ERR_UNKNOWN_FINGERPRINT,
                  "not in the catalog");

    memcpy(tmp, buf, len);
    tmp[len] = 0;
    expect_decode(dec, tmp, len + 1, SF_ERR_TRAILING,
                  "1 bytes left after the value");

    /* Negative string length (zig-zag 0x01 = -1) in cart_id. */
    memcpy(tmp, buf, len);
    tmp[10] = 0x01;
    expect_decode(dec, tmp, len, SF_ERR_VALUE,
                  "cart_id: byte 11: negative string length -1");
    /* A length far beyond the buffer: 0xfe 0xff 0xff 0x7f. */
    memcpy(tmp, buf, 10);
    memcpy(tmp + 10, "\xfe\xff\xff\x7f", 4);
    expect_decode(
        dec, tmp, 14, SF_ERR_TRUNCATED,
        "cart_id: byte 14: string length 134217727 exceeds the 0 bytes left");
    /* An int that does not fit 32 bits in quantity. */
    {
        size_t at = 10 + 2 + 4; /* after cart_id and sku */
        memcpy(tmp, buf, at);
        memcpy(tmp + at, "\x80\x80\x80\x80\x20", 5);
        memcpy(tmp + at + 5, buf + at + 1, len - at - 1);
        expect_decode(dec, tmp, len + 4, SF_ERR_VALUE,
                      "quantity: byte 21: int value");
    }
    /* Overlong varint. */
    memcpy(tmp, buf, 10);
    memset(tmp + 10, 0xff, 12);
    expect_decode(dec, tmp, 22, SF_ERR_VALUE, "varint");
    free(buf);

    /* Union index and enum symbol out of range. */
    buf = encode_text(
        cat, "ops.route.VendingMachineRemoved", 1,
        "{\"route_id\":\"r\",\"location_id\":\"l\",\"machine_id\":\"m\","
        "\"reason\":null,\"removed_at\":1}",
        &len);
    memcpy(tmp, buf, len);
    tmp[16] = 0x04; /* union index 2 of [null,string] */
    expect_decode(dec, tmp, len, SF_ERR_VALUE,
                  "reason: byte 17: union index 2 out of range [0,2)");
    tmp[16] = 0x03; /* -2 */
    expect_decode(dec, tmp, len, SF_ERR_VALUE, "union index -2");
    free(buf);

    buf = encode_text(cat, "sports.fight.FightResultRecorded", 1,
                      "{\"fight_id\":\"f\",\"fighters\":[{\"fighter_id\":\"a\","
                      "\"name\":\"b\"}],"
                      "\"winner_id\":null,\"method\":\"KO\",\"rounds\":1,"
                      "\"duration_seconds\":2,\"venue\":\"v\",\"fight_date\":3,"
                      "\"recorded_at\":4}",
                      &len);
    /* body: 02 'f' | 02 | 02 'a' 02 'b' | 00 | 00 | 00(KO) ... */
    memcpy(tmp, buf, len);
    tmp[19] = 0x0c; /* enum index 6 */
    expect_decode(dec, tmp, len, SF_ERR_VALUE,
                  "method: byte 20: enum index 6 out of range [0,6)");
    memcpy(tmp, buf, len);
    tmp[15] = 0x06; /* name length 3 > what is left of the record */
    expect_decode(dec, tmp, len, SF_ERR_TRUNCATED, NULL);
    memcpy(tmp, buf, len);
    tmp[15] = 0x05; /* -3 */
    expect_decode(dec, tmp, len, SF_ERR_VALUE,
                  "fighters[0].name: byte 16: negative string length -3");
    memcpy(tmp, buf, len);
    tmp[12] = 0x7e; /* block of 63 fighters: needs >= 126 bytes */
    expect_decode(dec, tmp, len, SF_ERR_TRUNCATED,
                  "fighters: byte 13: block of 63 items");
    free(buf);

    expect_decode(dec, NULL, 5, SF_ERR_INVALID_ARG, NULL);
    sf_decoder_destroy(dec);
    sf_catalog_destroy(cat);
}

/* ---------------------------------------------------------------------
 * Resolution
 * ------------------------------------------------------------------- */

static const char *res_v1 =
    "{\"type\":\"record\",\"name\":\"Ev\",\"namespace\":\"t.res\",\"fields\":["
    "{\"name\":\"i2l\",\"type\":\"int\"},"
    "{\"name\":\"i2f\",\"type\":\"int\"},"
    "{\"name\":\"i2d\",\"type\":\"int\"},"
    "{\"name\":\"l2f\",\"type\":\"long\"},"
    "{\"name\":\"l2d\",\"type\":\"long\"},"
    "{\"name\":\"f2d\",\"type\":\"float\"},"
    "{\"name\":\"s2b\",\"type\":\"string\"},"
    "{\"name\":\"b2s\",\"type\":\"bytes\"},"
    "{\"name\":\"gone\",\"type\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"map\",\"values\":[\"null\",\"string\"]}}},"
    "{\"name\":\"color\",\"type\":{\"type\":\"enum\",\"name\":\"Color\","
    "\"symbols\":[\"RED\",\"GREEN\",\"BLUE\"]}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"int\",\"string\"]},"
    "{\"name\":\"plain2u\",\"type\":\"int\"},"
    "{\"name\":\"nested\",\"type\":{\"type\":\"record\",\"name\":\"In\","
    "\"fields\":["
    "  {\"name\":\"x\",\"type\":\"int\"}]}},"
    "{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":\"int\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"float\"}},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F2\",\"size\":2}}"
    "]}";

static const char *res_v2 =
    "{\"type\":\"record\",\"name\":\"Ev\",\"namespace\":\"t.res\",\"fields\":["
    "{\"name\":\"added_first\",\"type\":\"string\",\"default\":\"d\"},"
    "{\"name\":\"i2l\",\"type\":\"long\"},"
    "{\"name\":\"i2f\",\"type\":\"float\"},"
    "{\"name\":\"i2d\",\"type\":\"double\"},"
    "{\"name\":\"l2f\",\"type\":\"float\"},"
    "{\"name\":\"l2d\",\"type\":\"double\"},"
    "{\"name\":\"f2d\",\"type\":\"double\"},"
    "{\"name\":\"s2b\",\"type\":\"bytes\"},"
    "{\"name\":\"b2s\",\"type\":\"string\"},"
    "{\"name\":\"color\",\"type\":{\"type\":\"enum\",\"name\":\"Color\","
    "\"symbols\":[\"GREEN\",\"RED\",\"OTHER\"],\"default\":\"OTHER\"}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\"]},"
    "{\"name\":\"plain2u\",\"type\":[\"null\",\"double\"]},"
    "{\"name\":\"nested\",\"type\":{\"type\":\"record\",\"name\":\"In\","
    "\"fields\":["
    "  {\"name\":\"x\",\"type\":\"long\"},"
    "  {\"name\":\"y\",\"type\":[\"null\",\"string\"],\"default\":null}]}},"
    "{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"double\"}},"
    "{\"name\":\"fx\",\"type\":{\"type\":\"fixed\",\"name\":\"F2\",\"size\":2}}"
    ","
    "{\"name\":\"opt\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"rec\",\"type\":{\"type\":\"record\",\"name\":\"Def\","
    "\"fields\":["
    "  "
    "{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"string\","
    "\"default\":\"bee\"}]},"
    "  \"default\":{\"a\":7}},"
    "{\"name\":\"list\",\"type\":{\"type\":\"array\",\"items\":\"int\"},"
    "\"default\":[1,2]},"
    "{\"name\":\"dict\",\"type\":{\"type\":\"map\",\"values\":\"boolean\"},"
    "\"default\":{\"k\":true}},"
    "{\"name\":\"dbl\",\"type\":\"double\",\"default\":1.5},"
    "{\"name\":\"raw\",\"type\":\"bytes\",\"default\":\"\\u00ff\"},"
    "{\"name\":\"e2\",\"type\":{\"type\":\"enum\",\"name\":\"E2\",\"symbols\":["
    "\"A\",\"B\"]},\"default\":\"B\"}"
    "]}";

static sf_catalog_t *res_catalog(void) {
    sf_catalog_t *cat = sf_catalog_new();
    if (sf_catalog_add(cat, res_v1, strlen(res_v1), "res.v1", 1, NULL, err,
                       sizeof err) ||
        sf_catalog_add(cat, res_v2, strlen(res_v2), "res.v2", 2, NULL, err,
                       sizeof err))
        fail_msg("%s", err);
    return cat;
}

static void check_resolution(const char *v1_data, const char *want_v2) {
    sf_catalog_t *cat = res_catalog();
    sf_decoder_t *dec = sf_decoder_new(cat);
    size_t len;
    void *buf = encode_text(cat, "t.res.Ev", 1, v1_data, &len);
    const sf_schema_t *w, *r;
    json_t *got = decode_json(dec, buf, len, &w, &r);
    json_t *want = json_loads(want_v2, 0, NULL);
    assert_non_null(want);
    assert_int_equal(sf_schema_version(w), 1);
    assert_int_equal(sf_schema_version(r), 2);
    assert_json_eq(got, want);
    json_decref(got);
    json_decref(want);
    free(buf);
    sf_decoder_destroy(dec);
    sf_catalog_destroy(cat);
}

static void test_resolution_v1_v2(void **state) {
    (void)state;
    check_resolution(
        "{\"i2l\":-3,\"i2f\":4,\"i2d\":5,\"l2f\":6,\"l2d\":-7,\"f2d\":0.5,"
        "\"s2b\":\"h\\u00e9\",\"b2s\":\"ok\",\"gone\":[{\"a\":null,\"b\":{"
        "\"string\":\"x\"}},{}],"
        "\"color\":\"RED\",\"u\":{\"int\":9},\"plain2u\":11,\"nested\":{\"x\":"
        "12},"
        "\"items\":[1,2,3],\"m\":{\"k\":0.25},\"fx\":\"ab\"}",
        "{\"added_first\":\"d\",\"i2l\":-3,\"i2f\":4.0,\"i2d\":5.0,\"l2f\":6.0,"
        "\"l2d\":-7.0,\"f2d\":0.5,\"s2b\":\"h\\u00c3\\u00a9\",\"b2s\":\"ok\","
        "\"color\":\"RED\",\"u\":{\"long\":9},\"plain2u\":{\"double\":11.0},"
        "\"nested\":{\"x\":12,\"y\":null},\"items\":[1,2,3],\"m\":{\"k\":0.25},"
        "\"fx\":\"ab\",\"opt\":null,\"rec\":{\"a\":7,\"b\":\"bee\"},\"list\":["
        "1,2],"
        "\"dict\":{\"k\":true},\"dbl\":1.5,\"raw\":\"\\u00ff\",\"e2\":\"B\"}");
    /* Enum symbol missing in the reader takes the reader's default; union
     * string branch maps to the reader's string branch; null stays null. */
    check_resolution(
        "{\"i2l\":0,\"i2f\":0,\"i2d\":0,\"l2f\":0,\"l2d\":0,\"f2d\":0,"
        "\"s2b\":\"\",\"b2s\":\"\",\"gone\":[],\"color\":\"BLUE\",\"u\":{"
        "\"string\":\"s\"},"
        "\"plain2u\":0,\"nested\":{\"x\":0},\"items\":[],\"m\":{},\"fx\":"
        "\"zz\"}",
        "{\"added_first\":\"d\",\"i2l\":0,\"i2f\":0.0,\"i2d\":0.0,\"l2f\":0.0,"
        "\"l2d\":0.0,\"f2d\":0.0,\"s2b\":\"\",\"b2s\":\"\",\"color\":\"OTHER\","
        "\"u\":{\"string\":\"s\"},\"plain2u\":{\"double\":0.0},\"nested\":{"
        "\"x\":0,\"y\":null},"
        "\"items\":[],\"m\":{},\"fx\":\"zz\",\"opt\":null,\"rec\":{\"a\":7,"
        "\"b\":\"bee\"},"
        "\"list\":[1,2],\"dict\":{\"k\":true},\"dbl\":1.5,\"raw\":\"\\u00ff\","
        "\"e2\":\"B\"}");
    check_resolution(
        "{\"i2l\":2147483647,\"i2f\":0,\"i2d\":0,\"l2f\":0,\"l2d\":"
        "9007199254740993,\"f2d\":0,"
        "\"s2b\":\"\",\"b2s\":\"\",\"gone\":[],\"color\":\"GREEN\",\"u\":null,"
        "\"plain2u\":0,\"nested\":{\"x\":0},\"items\":[],\"m\":{},\"fx\":"
        "\"zz\"}",
        "{\"added_first\":\"d\",\"i2l\":2147483647,\"i2f\":0.0,\"i2d\":0.0,"
        "\"l2f\":0.0,"
        "\"l2d\":9007199254740992.0,\"f2d\":0.0,\"s2b\":\"\",\"b2s\":\"\","
        "\"color\":\"GREEN\","
        "\"u\":null,\"plain2u\":{\"double\":0.0},\"nested\":{\"x\":0,\"y\":"
        "null},"
        "\"items\":[],\"m\":{},\"fx\":\"zz\",\"opt\":null,\"rec\":{\"a\":7,"
        "\"b\":\"bee\"},"
        "\"list\":[1,2],\"dict\":{\"k\":true},\"dbl\":1.5,\"raw\":\"\\u00ff\","
        "\"e2\":\"B\"}");
}

static void test_resolution_domain_v1_v2(void **state) {
    (void)state;
    sf_catalog_t *cat = domains();
    sf_decoder_t *dec = sf_decoder_new(cat);
    size_t l1, l2;
    void *b1 = encode_text(cat, "shop.cart.ItemAddedToCart", 1, item_v1, &l1);
    void *b2 = encode_text(
        cat, "shop.cart.ItemAddedToCart", 2,
        "{\"cart_id\":\"c\",\"sku\":\"abc\",\"quantity\":3,"
        "\"unit_price_cents\":100,\"added_at\":5,\"currency\":\"CHF\"}",
        &l2);
    /* Alternate writers through one decoder: plans are cached per writer. */
    for (int i = 0; i < 3; i++) {
        json_t *j1 = decode_json(dec, b1, l1, NULL, NULL);
        assert_string_equal(json_string_value(json_object_get(j1, "currency")),
                            "EUR");
        json_decref(j1);
        json_t *j2 = decode_json(dec, b2, l2, NULL, NULL);
        assert_string_equal(json_string_value(json_object_get(j2, "currency")),
                            "CHF");
        json_decref(j2);
    }
    free(b1);
    free(b2);
    sf_decoder_destroy(dec);
    sf_catalog_destroy(cat);
}

/* A reader that cannot read: the decoder says so with the field. */
static void test_resolution_incompatible(void **state) {
    (void)state;
    const char *w = "{\"type\":\"record\",\"name\":\"t.X\",\"fields\":["
                    "{\"name\":\"a\",\"type\":\"string\"},"
                    "{\"name\":\"u\",\"type\":[\"int\",\"boolean\"]}]}";
    const char *r = "{\"type\":\"record\",\"name\":\"t.X\",\"fields\":["
                    "{\"name\":\"a\",\"type\":\"string\"},"
                    "{\"name\":\"u\",\"type\":\"long\"}]}";
    sf_catalog_t *cat = sf_catalog_new();
    assert_int_equal(
        sf_catalog_add(cat, w, strlen(w), "w", 1, NULL, err, sizeof err),
        SF_OK);
    assert_int_equal(
        sf_catalog_add(cat, r, strlen(r), "r", 2, NULL, err, sizeof err),
        SF_OK);
    sf_decoder_t *dec = sf_decoder_new(cat);
    size_t len;
    void *buf =
        encode_text(cat, "t.X", 1, "{\"a\":\"x\",\"u\":{\"int\":1}}", &len);
    json_t *j = decode_json(dec, buf, len, NULL, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "u")), 1);
    json_decref(j);
    free(buf);
    /* The boolean branch cannot be read as long: fails only when used. */
    buf = encode_text(cat, "t.X", 1, "{\"a\":\"x\",\"u\":{\"boolean\":true}}",
                      &len);
    expect_decode(
        dec, buf, len, SF_ERR_INCOMPATIBLE,
        "t.X v1->v2: u: byte 13: writer type boolean cannot be read as long");
    free(buf);
    sf_decoder_destroy(dec);
    sf_catalog_destroy(cat);
}

/* Recursive types decode; hostile nesting stops at a bound, not the stack. */
static void test_recursion_and_depth(void **state) {
    (void)state;
    const char *tree = "{\"type\":\"record\",\"name\":\"t.Tree\",\"fields\":["
                       "{\"name\":\"v\",\"type\":\"int\"},"
                       "{\"name\":\"kids\",\"type\":{\"type\":\"array\","
                       "\"items\":\"Tree\"}}]}";
    const char *val = "{\"v\":1,\"kids\":[{\"v\":2,\"kids\":[]},"
                      "{\"v\":3,\"kids\":[{\"v\":4,\"kids\":[]}]}]}";
    const sf_schema_t *s;
    sf_catalog_t *cat = sf_catalog_new();
    assert_int_equal(
        sf_catalog_add(cat, tree, strlen(tree), "tree", 1, &s, err, sizeof err),
        SF_OK);
    sf_decoder_t *dec = sf_decoder_new(cat);
    size_t len;
    void *buf = encode_text(cat, "t.Tree", 1, val, &len);
    json_t *got = decode_json(dec, buf, len, NULL, NULL);
    json_t *want = json_loads(val, 0, NULL);
    assert_json_eq(got, want);
    json_decref(got);
    json_decref(want);

    /* 300 levels of {v: 0, kids: [ ... */
    size_t n = SF_SOE_HEADER_SIZE + 2 * 300;
    unsigned char *deep = malloc(n);
    memcpy(deep, buf, SF_SOE_HEADER_SIZE);
    for (size_t i = SF_SOE_HEADER_SIZE; i < n; i += 2) {
        deep[i] = 0x00;     /* v = 0 */
        deep[i + 1] = 0x02; /* one kid follows */
    }
    expect_decode(dec, deep, n, SF_ERR_VALUE, "nested deeper than 200");
    expect_decode(dec, deep, n, SF_ERR_VALUE, "kids[0].kids[0].kids[0]");
    free(deep);
    free(buf);
    sf_decoder_destroy(dec);
    sf_catalog_destroy(cat);
}

/* ---------------------------------------------------------------------
 * Avro JSON
 * ------------------------------------------------------------------- */

static const char *order_schema =
    "{\"type\":\"record\",\"name\":\"shop.Order\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":{\"type\":"
    "\"record\","
    "  \"name\":\"Item\",\"fields\":[{\"name\":\"sku\",\"type\":\"string\"},"
    "  {\"name\":\"qty\",\"type\":\"int\"}]}}},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\",\"Item\"],\"default\":"
    "null},"
    "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\","
    "\"symbols\":[\"A\",\"B\"]}},"
    "{\"name\":\"at\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-"
    "millis\"}},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"int\"},"
    "\"default\":{}},"
    "{\"name\":\"ratio\",\"type\":\"double\",\"default\":0}"
    "]}";

static void expect_json_error(const sf_schema_t *s, const char *json,
                              sf_err_t want, const char *msg) {
    avro_value_t v;
    err[0] = 0;
    sf_err_t e = sf_value_from_json_text(s, json, strlen(json), "data", &v, err,
                                         sizeof err);
    if (e == SF_OK)
        avro_value_decref(&v);
    if (e != want || !strstr(err, msg))
        fail_msg("%s: got %s \"%s\", want %s \"%s\"", json, sf_err_name(e), err,
                 sf_err_name(want), msg);
}

static void test_json_errors(void **state) {
    (void)state;
    const sf_schema_t *s;
    sf_catalog_t *cat = sf_catalog_new();
    assert_int_equal(sf_catalog_add(cat, order_schema, strlen(order_schema),
                                    "o", 1, &s, err, sizeof err),
                     SF_OK);
    expect_json_error(s,
                      "{\"id\":\"o\",\"items\":[{\"sku\":\"a\",\"qty\":1},"
                      "{\"sku\":\"b\",\"qty\":1},{\"sku\":5,\"qty\":1}],"
                      "\"kind\":\"A\",\"at\":1}",
                      SF_ERR_VALUE,
                      "data.items[2].sku: expected string, got number");
    expect_json_error(s, "{\"id\":\"o\",\"items\":[],\"kind\":\"C\",\"at\":1}",
                      SF_ERR_VALUE,
                      "data.kind: \"C\" is not a symbol of shop.Kind");
    expect_json_error(s, "{\"id\":\"o\",\"items\":[],\"at\":1}", SF_ERR_VALUE,
                      "data.kind: missing field (it has no default)");
    expect_json_error(
        s, "{\"id\":\"o\",\"items\":[],\"kind\":\"A\",\"at\":1,\"extra\":1}",
        SF_ERR_VALUE, "data.extra: no such field in shop.Order");
    expect_json_error(s,
                      "{\"id\":\"o\",\"items\":[{\"sku\":\"a\",\"qty\":"
                      "3000000000}],\"kind\":\"A\",\"at\":1}",
                      SF_ERR_VALUE,
                      "data.items[0].qty: 3000000000 does not fit an int");
    expect_json_error(
        s, "{\"id\":\"o\",\"items\":[],\"kind\":\"A\",\"at\":\"yesterday\"}",
        SF_ERR_VALUE, "data.at: \"yesterday\" is not an RFC 3339 time");
    expect_json_error(
        s, "{\"id\":\"o\",\"items\":[],\"kind\":\"A\",\"at\":1,\"note\":5}",
        SF_ERR_VALUE, "data.note: expected union [null|string|shop.Item]");
    expect_json_error(s,
                      "{\"id\":\"o\",\"items\":[],\"kind\":\"A\",\"at\":1,"
                      "\"tags\":{\"x\":\"y\"}}",
                      SF_ERR_VALUE,
                      "data.tags[\"x\"]: expected int, got string");
    expect_json_error(s, "[1", SF_ERR_PARSE, "data:1:");
    expect_json_error(s, "{\"id\":\"o\",\"items\":{},\"kind\":\"A\",\"at\":1}",
                      SF_ERR_VALUE, "data.items: expected array, got object");
    sf_catalog_destroy(cat);
}

static void test_json_roundtrip(void **state) {
    (void)state;
    const sf_schema_t *s;
    sf_catalog_t *cat = sf_catalog_new();
    avro_value_t v;
    json_t *out;
    assert_int_equal(sf_catalog_add(cat, order_schema, strlen(order_schema),
                                    "o", 1, &s, err, sizeof err),
                     SF_OK);
    /* Defaults fill missing fields; RFC 3339 for timestamp-millis; a named
     * union branch by full name; bare union values are accepted. */
    const char *in =
        "{\"id\":\"o\",\"items\":[{\"sku\":\"a\",\"qty\":1}],\"kind\":\"B\","
        "\"at\":\"2026-11-26T13:13:10.123+01:00\",\"note\":{\"shop.Item\":"
        "{\"sku\":\"n\",\"qty\":2}}}";
    assert_int_equal(
        sf_value_from_json_text(s, in, strlen(in), "data", &v, err, sizeof err),
        SF_OK);
    assert_int_equal(sf_value_to_json(&v, &out, err, sizeof err), SF_OK);
    json_t *want = json_loads(
        "{\"id\":\"o\",\"items\":[{\"sku\":\"a\",\"qty\":1}],"
        "\"note\":{\"shop.Item\":{\"sku\":\"n\",\"qty\":2}},\"kind\":\"B\","
        "\"at\":1795695190123,\"tags\":{},\"ratio\":0.0}",
        0, NULL);
    assert_json_eq(out, want);
    json_decref(out);
    json_decref(want);
    avro_value_decref(&v);

    in = "{\"id\":\"o\",\"items\":[],\"kind\":\"A\",\"at\":0,\"note\":\"bare\","
         "\"ratio\":\"NaN\"}";
    assert_int_equal(
        sf_value_from_json_text(s, in, strlen(in), "data", &v, err, sizeof err),
        SF_OK);
    assert_int_equal(sf_value_to_json(&v, &out, err, sizeof err), SF_OK);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(out, "note"), "string")),
                        "bare");
    assert_string_equal(json_string_value(json_object_get(out, "ratio")),
                        "NaN");
    json_decref(out);
    avro_value_decref(&v);
    sf_catalog_destroy(cat);
}

/* ---------------------------------------------------------------------
 * Compatibility
 * ------------------------------------------------------------------- */

typedef struct probs {
    int n;
    char lines[16][400];
} probs_t;

static void collect(void *opaque, const char *type, int rv, int wv,
                    const char *field, const char *reason) {
    probs_t *p = opaque;
    if (p->n < 16)
        snprintf(p->lines[p->n], sizeof p->lines[0], "%s v%d<-v%d %s: %s", type,
                 rv, wv, field, reason);
    p->n++;
}

static int has_line(const probs_t *p, const char *needle) {
    for (int i = 0; i < p->n && i < 16; i++)
        if (strstr(p->lines[i], needle))
            return 1;
    return 0;
}

static void write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_compat(void **state) {
    (void)state;
    probs_t p = {0};
    sf_catalog_t *cat = domains();
    assert_int_equal(sf_catalog_check(cat, SF_COMPAT_FULL, collect, &p), SF_OK);
    assert_int_equal(p.n, 0);
    sf_catalog_destroy(cat);

    /* A deliberately broken chain in a temporary directory. */
    char dir[] = "/tmp/sf-compat-XXXXXX";
    assert_non_null(mkdtemp(dir));
    write_file(
        dir, "Ev.v1.avsc",
        "{\"type\":\"record\",\"name\":\"Ev\",\"namespace\":\"t\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"s\",\"type\":"
        "{\"type\":\"enum\",\"name\":\"S\",\"symbols\":[\"X\",\"Y\"]}}]}");
    write_file(
        dir, "Ev.v2.avsc",
        "{\"type\":\"record\",\"name\":\"Ev\",\"namespace\":\"t\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"string\"},{\"name\":\"s\",\"type\":"
        "{\"type\":\"enum\",\"name\":\"S\",\"symbols\":[\"X\"]}},"
        "{\"name\":\"b\",\"type\":\"long\"}]}");
    write_file(dir, "Ok.v1.avsc",
               "{\"type\":\"record\",\"name\":\"Ok\",\"namespace\":\"t\","
               "\"fields\":[]}");
    cat = sf_catalog_new();
    assert_int_equal(sf_catalog_load_dir(cat, dir, err, sizeof err), SF_OK);

    memset(&p, 0, sizeof p);
    assert_int_equal(sf_catalog_check(cat, SF_COMPAT_BACKWARD, collect, &p),
                     SF_ERR_INCOMPATIBLE);
    assert_int_equal(p.n, 3);
    assert_true(has_line(
        &p, "t.Ev v2<-v1 a: writer type int cannot be read as string"));
    assert_true(has_line(&p, "t.Ev v2<-v1 s: writer symbol Y of enum t.S"));
    assert_true(has_line(&p, "t.Ev v2<-v1 b: reader field \"b\" is missing"));

    memset(&p, 0, sizeof p);
    assert_int_equal(sf_catalog_check(cat, SF_COMPAT_FORWARD, collect, &p),
                     SF_ERR_INCOMPATIBLE);
    assert_int_equal(p.n, 1);
    assert_true(has_line(
        &p, "t.Ev v1<-v2 a: writer type string cannot be read as int"));

    memset(&p, 0, sizeof p);
    assert_int_equal(sf_catalog_check(cat, SF_COMPAT_FULL, collect, &p),
                     SF_ERR_INCOMPATIBLE);
    assert_int_equal(p.n, 4);

    assert_int_equal(sf_schema_can_read(sf_catalog_version(cat, "t.Ev", 1),
                                        sf_catalog_version(cat, "t.Ev", 1),
                                        NULL, NULL),
                     SF_OK);
    sf_catalog_destroy(cat);
    char path[512];
    snprintf(path, sizeof path, "%s/Ev.v1.avsc", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/Ev.v2.avsc", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/Ok.v1.avsc", dir);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_catalog_domains),
        cmocka_unit_test(test_catalog_errors),
        cmocka_unit_test(test_catalog_load_dir_errors),
        cmocka_unit_test(test_roundtrip_examples),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_resolution_v1_v2),
        cmocka_unit_test(test_resolution_domain_v1_v2),
        cmocka_unit_test(test_resolution_incompatible),
        cmocka_unit_test(test_recursion_and_depth),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_compat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
