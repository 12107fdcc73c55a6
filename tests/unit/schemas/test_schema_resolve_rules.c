/*
 * test_schema_resolve_rules.c - schema resolution corner cases where peer
 * Avro libraries went wrong, each checked against the Avro specification
 * and Java's reader:
 *   - aliases rename writer fields, as the spec and Java's applyAliases
 *     do, each once; a rename that leaves the writer with two fields of
 *     one name (or one alias on two reader fields) is refused;
 *   - a writer union branch goes to the reader branch with its exact full
 *     name before one with the same short name;
 *   - byte 0x00 ("\u0000") in the JSON form of bytes and fixed values and
 *     defaults;
 *   - an error about a deeply nested value keeps its reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "sf_schema.h"

static char err[512];

static sf_catalog_t *two_versions(const char *v1, const char *v2) {
    sf_catalog_t *cat = sf_catalog_new();
    assert_non_null(cat);
    if (sf_catalog_add(cat, v1, strlen(v1), "v1", 1, NULL, err, sizeof err))
        fail_msg("add v1: %s", err);
    if (sf_catalog_add(cat, v2, strlen(v2), "v2", 2, NULL, err, sizeof err))
        fail_msg("add v2: %s", err);
    return cat;
}

/* Encodes json with version 1 of type and decodes it with the catalog
 * (newest version).  Returns the error code; on success *out is the
 * decoded JSON text (malloc()ed). */
static sf_err_t v1_to_v2(sf_catalog_t *cat, const char *type, const char *json,
                         char **out) {
    const sf_schema_t *w = sf_catalog_version(cat, type, 1);
    avro_value_t v, *got;
    void *buf;
    size_t len;
    assert_non_null(w);
    if (sf_value_from_json_text(w, json, strlen(json), "data", &v, err,
                                sizeof err))
        fail_msg("from_json: %s", err);
    if (sf_encode(w, &v, &buf, &len, err, sizeof err))
        fail_msg("encode: %s", err);
    avro_value_decref(&v);
    sf_decoder_t *dec = sf_decoder_new(cat);
    sf_err_t e =
        sf_decoder_decode(dec, buf, len, &got, NULL, NULL, err, sizeof err);
    *out = NULL;
    if (!e) {
        json_t *j;
        assert_int_equal(sf_value_to_json(got, &j, err, sizeof err), SF_OK);
        *out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(j);
    }
    sf_decoder_destroy(dec);
    free(buf);
    return e;
}

static int problems;
static char last_problem[512], last_field[600], last_reason[512];
static void count(void *opaque, const char *type, int rv, int wv,
                  const char *field, const char *reason) {
    (void)opaque;
    (void)type;
    (void)rv;
    (void)wv;
    problems++;
    snprintf(last_problem, sizeof last_problem, "%s: %s", field, reason);
    snprintf(last_field, sizeof last_field, "%s", field);
    snprintf(last_reason, sizeof last_reason, "%s", reason);
}

static sf_err_t check(sf_catalog_t *cat) {
    problems = 0;
    last_problem[0] = 0;
    return sf_catalog_check(cat, SF_COMPAT_BACKWARD, count, NULL);
}

/* ---- aliases ---------------------------------------------------------- */

static void test_alias_does_not_shadow_exact_name(void **state) {
    (void)state;
    /* The writer has both "total" and "old_total"; the reader keeps only
     * "total", with alias "old_total".  Renaming by alias would give the
     * writer two "total" fields: refused, whatever the writer's order. */
    const char *orders[] = {
        "{\"type\":\"record\",\"name\":\"T\",\"namespace\":\"x\",\"fields\":["
        "{\"name\":\"total\",\"type\":\"long\"},"
        "{\"name\":\"old_total\",\"type\":\"long\"}]}",
        "{\"type\":\"record\",\"name\":\"T\",\"namespace\":\"x\",\"fields\":["
        "{\"name\":\"old_total\",\"type\":\"long\"},"
        "{\"name\":\"total\",\"type\":\"long\"}]}",
    };
    const char *v2 = "{\"type\":\"record\",\"name\":\"T\",\"namespace\":\"x\","
                     "\"fields\":[{\"name\":\"total\",\"type\":\"long\","
                     "\"aliases\":[\"old_total\"]}]}";
    for (int i = 0; i < 2; i++) {
        sf_catalog_t *cat = two_versions(orders[i], v2);
        assert_int_equal(check(cat), SF_ERR_INCOMPATIBLE);
        assert_int_equal(problems, 1);
        assert_non_null(strstr(last_problem, "old_total"));
        char *out;
        assert_int_equal(
            v1_to_v2(cat, "x.T", "{\"total\":5,\"old_total\":9}", &out),
            SF_ERR_INCOMPATIBLE);
        assert_null(out);
        assert_non_null(strstr(err, "alias"));
        sf_catalog_destroy(cat);
    }
}

static void test_alias_renames_when_unambiguous(void **state) {
    (void)state;
    /* Only the old name in the writer: the alias carries its value. */
    sf_catalog_t *cat = two_versions(
        "{\"type\":\"record\",\"name\":\"T\",\"namespace\":\"x\",\"fields\":["
        "{\"name\":\"old_total\",\"type\":\"long\"},"
        "{\"name\":\"n\",\"type\":\"int\"}]}",
        "{\"type\":\"record\",\"name\":\"T\",\"namespace\":\"x\",\"fields\":["
        "{\"name\":\"total\",\"type\":\"long\",\"aliases\":[\"old_total\"]},"
        "{\"name\":\"n\",\"type\":\"int\"}]}");
    assert_int_equal(check(cat), SF_OK);
    char *out;
    assert_int_equal(v1_to_v2(cat, "x.T", "{\"old_total\":41,\"n\":2}", &out),
                     SF_OK);
    assert_string_equal(out, "{\"n\":2,\"total\":41}");
    free(out);
    sf_catalog_destroy(cat);
}

static void test_alias_renames_over_exact_name(void **state) {
    (void)state;
    /* Reader {current aliases [legacy], legacy}, writer {legacy}: the spec
     * rewrites the writer with the reader's aliases, as Java's
     * Schema.applyAliases does, so the writer's legacy is read as current
     * and the reader's legacy takes its default. */
    sf_catalog_t *cat = two_versions(
        "{\"type\":\"record\",\"name\":\"S\",\"namespace\":\"x\",\"fields\":["
        "{\"name\":\"legacy\",\"type\":\"int\"}]}",
        "{\"type\":\"record\",\"name\":\"S\",\"namespace\":\"x\",\"fields\":["
        "{\"name\":\"current\",\"type\":\"int\",\"aliases\":[\"legacy\"],"
        "\"default\":-1},"
        "{\"name\":\"legacy\",\"type\":\"int\",\"default\":-2}]}");
    assert_int_equal(check(cat), SF_OK);
    char *out;
    assert_int_equal(v1_to_v2(cat, "x.S", "{\"legacy\":42}", &out), SF_OK);
    assert_string_equal(out, "{\"current\":42,\"legacy\":-2}");
    free(out);
    sf_catalog_destroy(cat);
}

static void test_alias_chain_renames_once(void **state) {
    (void)state;
    /* current <- legacy, legacy <- old: each writer field is renamed once,
     * all at the same time (no field is renamed twice). */
    sf_catalog_t *cat = two_versions(
        "{\"type\":\"record\",\"name\":\"C\",\"namespace\":\"x\",\"fields\":["
        "{\"name\":\"legacy\",\"type\":\"int\"},"
        "{\"name\":\"old\",\"type\":\"int\"}]}",
        "{\"type\":\"record\",\"name\":\"C\",\"namespace\":\"x\",\"fields\":["
        "{\"name\":\"current\",\"type\":\"int\",\"aliases\":[\"legacy\"]},"
        "{\"name\":\"legacy\",\"type\":\"int\",\"aliases\":[\"old\"]}]}");
    assert_int_equal(check(cat), SF_OK);
    char *out;
    assert_int_equal(v1_to_v2(cat, "x.C", "{\"legacy\":1,\"old\":2}", &out),
                     SF_OK);
    assert_string_equal(out, "{\"current\":1,\"legacy\":2}");
    free(out);
    sf_catalog_destroy(cat);
    /* one alias on two reader fields: which one would be chance */
    cat = two_versions(
        "{\"type\":\"record\",\"name\":\"D\",\"namespace\":\"x\",\"fields\":["
        "{\"name\":\"old\",\"type\":\"int\"}]}",
        "{\"type\":\"record\",\"name\":\"D\",\"namespace\":\"x\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"int\",\"aliases\":[\"old\"],\"default\":0},"
        "{\"name\":\"b\",\"type\":\"int\",\"aliases\":[\"old\"],"
        "\"default\":0}]}");
    assert_int_equal(check(cat), SF_ERR_INCOMPATIBLE);
    assert_non_null(strstr(last_problem, "two reader fields"));
    sf_catalog_destroy(cat);
}

static void test_alias_claimed_twice(void **state) {
    (void)state;
    /* Two writer fields both named by aliases of one reader field. */
    sf_catalog_t *cat = two_versions(
        "{\"type\":\"record\",\"name\":\"T\",\"namespace\":\"x\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"b\",\"type\":\"int\"}]}",
        "{\"type\":\"record\",\"name\":\"T\",\"namespace\":\"x\",\"fields\":["
        "{\"name\":\"c\",\"type\":\"int\",\"aliases\":[\"a\",\"b\"]}]}");
    assert_int_equal(check(cat), SF_ERR_INCOMPATIBLE);
    assert_true(problems >= 1);
    char *out;
    assert_int_equal(v1_to_v2(cat, "x.T", "{\"a\":1,\"b\":2}", &out),
                     SF_ERR_INCOMPATIBLE);
    sf_catalog_destroy(cat);
}

/* ---- unions ----------------------------------------------------------- */

static void test_union_full_name_first(void **state) {
    (void)state;
    const char *a =
        "{\"type\":\"record\",\"name\":\"Addr\",\"namespace\":"
        "\"p.one\",\"fields\":[{\"name\":\"l\",\"type\":\"string\"}]}";
    const char *b =
        "{\"type\":\"record\",\"name\":\"Addr\",\"namespace\":"
        "\"p.two\",\"fields\":[{\"name\":\"l\",\"type\":\"string\"}]}";
    char v1[1024], v2[1024];
    snprintf(v1, sizeof v1,
             "{\"type\":\"record\",\"name\":\"R\",\"namespace\":"
             "\"p\",\"fields\":[{\"name\":\"u\",\"type\":[\"null\",%s,%s]}]}",
             a, b);
    snprintf(v2, sizeof v2,
             "{\"type\":\"record\",\"name\":\"R\",\"namespace\":"
             "\"p\",\"fields\":[{\"name\":\"u\",\"type\":[%s,\"null\",%s]}]}",
             b, a);
    sf_catalog_t *cat = two_versions(v1, v2);
    assert_int_equal(check(cat), SF_OK);
    char *out;
    assert_int_equal(
        v1_to_v2(cat, "p.R", "{\"u\":{\"p.one.Addr\":{\"l\":\"x\"}}}", &out),
        SF_OK);
    assert_string_equal(out, "{\"u\":{\"p.one.Addr\":{\"l\":\"x\"}}}");
    free(out);
    assert_int_equal(
        v1_to_v2(cat, "p.R", "{\"u\":{\"p.two.Addr\":{\"l\":\"y\"}}}", &out),
        SF_OK);
    assert_string_equal(out, "{\"u\":{\"p.two.Addr\":{\"l\":\"y\"}}}");
    free(out);
    sf_catalog_destroy(cat);
}

static void test_union_short_name_still_matches(void **state) {
    (void)state;
    /* The namespace changed between versions: no exact full name in the
     * reader, so the short name still resolves (spec: unqualified names). */
    sf_catalog_t *cat = two_versions(
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"p\",\"fields\":[{"
        "\"name\":\"u\",\"type\":[\"null\",{\"type\":\"record\",\"name\":"
        "\"Addr\","
        "\"namespace\":\"old\",\"fields\":[{\"name\":\"l\",\"type\":\"string\"}"
        "]}]}]}",
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"p\",\"fields\":[{"
        "\"name\":\"u\",\"type\":[\"null\",{\"type\":\"record\",\"name\":"
        "\"Addr\","
        "\"namespace\":\"new\",\"fields\":[{\"name\":\"l\",\"type\":\"string\"}"
        "]}]}]}");
    char *out;
    assert_int_equal(
        v1_to_v2(cat, "p.R", "{\"u\":{\"old.Addr\":{\"l\":\"z\"}}}", &out),
        SF_OK);
    assert_string_equal(out, "{\"u\":{\"new.Addr\":{\"l\":\"z\"}}}");
    free(out);
    sf_catalog_destroy(cat);
}

/* ---- U+0000 in bytes and fixed ------------------------------------------ */

static void test_nul_in_bytes_and_fixed(void **state) {
    (void)state;
    sf_catalog_t *cat = two_versions(
        "{\"type\":\"record\",\"name\":\"P\",\"namespace\":\"d\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"int\"}]}",
        "{\"type\":\"record\",\"name\":\"P\",\"namespace\":\"d\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"int\"},"
        "{\"name\":\"b\",\"type\":\"bytes\",\"default\":\"\\u0000\\u00c8\"},"
        "{\"name\":\"f\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":"
        "3},"
        "\"default\":\"a\\u0000b\"}],\"doc\":\"nul \\u0000 in a doc\"}");
    char *out;
    /* v1 data read as v2: both defaults keep their zero bytes */
    assert_int_equal(v1_to_v2(cat, "d.P", "{\"id\":1}", &out), SF_OK);
    json_t *j = json_loads(out, JSON_ALLOW_NUL, NULL);
    assert_non_null(j);
    assert_int_equal(json_string_length(json_object_get(j, "b")),
                     3); /* 00 C3 88 */
    assert_memory_equal(json_string_value(json_object_get(j, "b")),
                        "\0\xc3\x88", 3);
    assert_int_equal(json_string_length(json_object_get(j, "f")), 3);
    assert_memory_equal(json_string_value(json_object_get(j, "f")), "a\0b", 3);
    json_decref(j);
    free(out);

    /* a value with zero bytes, from JSON text and back */
    const sf_schema_t *s = sf_catalog_latest(cat, "d.P");
    const char *val =
        "{\"id\":2,\"b\":\"\\u0000\\u0000\",\"f\":\"\\u0000\\u0001\\u0000\"}";
    avro_value_t v;
    assert_int_equal(sf_value_from_json_text(s, val, strlen(val), "data", &v,
                                             err, sizeof err),
                     SF_OK);
    const void *bytes = NULL;
    size_t n = 0;
    avro_value_t fld;
    assert_int_equal(avro_value_get_by_name(&v, "b", &fld, NULL), 0);
    assert_int_equal(avro_value_get_bytes(&fld, &bytes, &n), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(bytes, "\0\0", 2);
    avro_value_decref(&v);
    sf_catalog_destroy(cat);
}

static void test_nul_refused_in_names(void **state) {
    (void)state;
    /* A NUL would cut a name short in C: "A\u0000B" must not become "A". */
    const char *bad[] = {
        "{\"type\":\"record\",\"name\":\"A\\u0000B\",\"fields\":[]}",
        "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":"
        "\"f\\u0000g\","
        "\"type\":\"int\"}]}",
        "{\"type\":\"record\",\"name\":\"A\",\"namespace\":\"n\\u0000m\","
        "\"fields\":[]}",
        "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"f\","
        "\"type\":\"int\\u0000\"}]}",
        "{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"e\","
        "\"type\":"
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"X\\u0000Y\"]}}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sf_catalog_t *cat = sf_catalog_new();
        sf_err_t e = sf_catalog_add(cat, bad[i], strlen(bad[i]), "t", 1, NULL,
                                    err, sizeof err);
        if (e == SF_OK)
            fail_msg("schema %zu with U+0000 in a name was accepted", i);
        sf_catalog_destroy(cat);
    }
}

/* ---- deep error messages --------------------------------------------------
 */

static void test_deep_error_keeps_reason(void **state) {
    (void)state;
    /* 40 nested records with long field names; the leaf gets a wrong
     * JSON type.  The path is far longer than errstr. */
    enum { DEPTH = 40 };
    char *schema = malloc(64 * 1024), *json = malloc(64 * 1024);
    size_t o = 0, k = 0;
    for (int i = 0; i < DEPTH; i++)
        o += (size_t)sprintf(
            schema + o,
            "{\"type\":\"record\",\"name\":\"R%d\","
            "\"fields\":[{\"name\":\"a_rather_long_field_name_%d\","
            "\"type\":",
            i, i);
    o += (size_t)sprintf(schema + o, "\"int\"");
    for (int i = 0; i < DEPTH; i++)
        o += (size_t)sprintf(schema + o, "}]}");
    for (int i = 0; i < DEPTH; i++)
        k += (size_t)sprintf(json + k, "{\"a_rather_long_field_name_%d\":", i);
    k += (size_t)sprintf(json + k, "\"not a number\"");
    for (int i = 0; i < DEPTH; i++)
        k += (size_t)sprintf(json + k, "}");
    sf_catalog_t *cat = sf_catalog_new();
    const sf_schema_t *s;
    assert_int_equal(
        sf_catalog_add(cat, schema, o, "deep", 1, &s, err, sizeof err), SF_OK);
    char small[200];
    avro_value_t v;
    assert_int_equal(
        sf_value_from_json_text(s, json, k, "data", &v, small, sizeof small),
        SF_ERR_VALUE);
    const char *reason = "expected int, got string";
    size_t rl = strlen(reason), sl = strlen(small);
    if (sl < rl || strcmp(small + sl - rl, reason) != 0)
        fail_msg("reason lost: \"%s\"", small);
    assert_non_null(strstr(small, "..."));
    assert_int_equal(strncmp(small, "data.a_rather", 13), 0); /* root kept */
    /* the same through the binary decoder: an int out of range at depth */
    sf_catalog_destroy(cat);
    free(schema);
    free(json);
}

static void test_deep_decode_error_keeps_reason(void **state) {
    (void)state;
    enum { DEPTH = 60 };
    char *schema = malloc(64 * 1024);
    size_t o = 0;
    for (int i = 0; i < DEPTH; i++)
        o += (size_t)sprintf(
            schema + o,
            "{\"type\":\"record\",\"name\":\"D%d\","
            "\"fields\":[{\"name\":\"level_number_%d\",\"type\":",
            i, i);
    o += (size_t)sprintf(schema + o, "\"string\"");
    for (int i = 0; i < DEPTH; i++)
        o += (size_t)sprintf(schema + o, "}]}");
    sf_catalog_t *cat = sf_catalog_new();
    const sf_schema_t *s;
    assert_int_equal(
        sf_catalog_add(cat, schema, o, "deep", 1, &s, err, sizeof err), SF_OK);
    /* header + a string length of 50 with no bytes after it */
    uint8_t buf[SF_SOE_HEADER_SIZE + 1];
    uint64_t fp = sf_schema_fingerprint(s);
    buf[0] = SF_SOE_MAGIC0;
    buf[1] = SF_SOE_MAGIC1;
    for (int i = 0; i < 8; i++)
        buf[2 + i] = (uint8_t)(fp >> (8 * i));
    buf[10] = 100; /* zigzag 50 */
    sf_decoder_t *dec = sf_decoder_new(cat);
    avro_value_t *v;
    char small[160];
    assert_int_equal(sf_decoder_decode(dec, buf, sizeof buf, &v, NULL, NULL,
                                       small, sizeof small),
                     SF_ERR_TRUNCATED);
    if (!strstr(small, "exceeds") && !strstr(small, "left"))
        fail_msg("reason lost: \"%s\"", small);
    assert_non_null(strstr(small, "..."));
    sf_decoder_destroy(dec);
    sf_catalog_destroy(cat);
    free(schema);
}

/* check's path to a problem deep in a schema: shortened in its middle
 * (marked "..."), root and leaf kept, whatever its depth. */
static void test_deep_check_path_keeps_root_and_leaf(void **state) {
    (void)state;
    enum { DEPTH = 30 };
    char *v1 = malloc(64 * 1024), *v2 = malloc(64 * 1024);
    size_t o1 = 0, o2 = 0;
    for (int i = 0; i < DEPTH; i++) {
        const char *f = "{\"type\":\"record\",\"name\":\"N%d\",\"namespace\":"
                        "\"x\",\"fields\":[{\"name\":\"a_long_level_name_%d\","
                        "\"type\":";
        o1 += (size_t)sprintf(v1 + o1, f, i, i);
        o2 += (size_t)sprintf(v2 + o2, f, i, i);
    }
    o1 += (size_t)sprintf(v1 + o1, "{\"type\":\"record\",\"name\":\"L\","
                                   "\"namespace\":\"x\",\"fields\":[]}");
    o2 += (size_t)sprintf(v2 + o2, "{\"type\":\"record\",\"name\":\"L\","
                                   "\"namespace\":\"x\",\"fields\":[{\"name\":"
                                   "\"the_leaf\",\"type\":\"int\"}]}");
    for (int i = 0; i < DEPTH; i++) {
        o1 += (size_t)sprintf(v1 + o1, "}]}");
        o2 += (size_t)sprintf(v2 + o2, "}]}");
    }
    sf_catalog_t *cat = two_versions(v1, v2);
    assert_int_equal(check(cat), SF_ERR_INCOMPATIBLE);
    assert_int_equal(problems, 1);
    if (strncmp(last_reason, "reader field \"the_leaf\" is missing", 34))
        fail_msg("reason: \"%s\"", last_reason);
    size_t fl = strlen(last_field);
    assert_true(fl < 512);
    assert_int_equal(strncmp(last_field, "a_long_level_name_0.", 20), 0);
    assert_non_null(strstr(last_field, "..."));
    const char *leaf = "a_long_level_name_29.the_leaf";
    assert_true(fl > strlen(leaf));
    assert_string_equal(last_field + fl - strlen(leaf), leaf);
    sf_catalog_destroy(cat);
    free(v1);
    free(v2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alias_does_not_shadow_exact_name),
        cmocka_unit_test(test_alias_renames_when_unambiguous),
        cmocka_unit_test(test_alias_renames_over_exact_name),
        cmocka_unit_test(test_alias_chain_renames_once),
        cmocka_unit_test(test_alias_claimed_twice),
        cmocka_unit_test(test_union_full_name_first),
        cmocka_unit_test(test_union_short_name_still_matches),
        cmocka_unit_test(test_nul_in_bytes_and_fixed),
        cmocka_unit_test(test_nul_refused_in_names),
        cmocka_unit_test(test_deep_error_keeps_reason),
        cmocka_unit_test(test_deep_decode_error_keeps_reason),
        cmocka_unit_test(test_deep_check_path_keeps_root_and_leaf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
