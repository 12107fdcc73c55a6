/*
 * test_schema_spec.c - Parsing Canonical Form and CRC-64-AVRO against every
 * vector of the Avro project's schema test file (kept in data/, as the
 * Avro specification's test vectors publish it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sf_schema.h"

#ifndef SF_SPEC_VECTORS
#error "SF_SPEC_VECTORS must name avro-schema-tests.txt"
#endif

typedef struct vec {
    int line;
    char *input;
    char *canonical;
    int has_fp;
    int64_t fp;
} vec_t;

static vec_t vecs[128];
static int nvecs;

static char *dupstr(const char *s) {
    char *d = malloc(strlen(s) + 1);
    assert_non_null(d);
    strcpy(d, s);
    return d;
}

static void chomp(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = 0;
}

/* The file: "<<INPUT text" or "<<INPUT" ... "INPUT", then "<<canonical X"
 * and optionally "<<fingerprint N" (signed decimal 64-bit). */
static void load_vectors(void) {
    FILE *f = fopen(SF_SPEC_VECTORS, "r");
    char line[4096];
    int lineno = 0;
    vec_t *cur = NULL;

    assert_non_null(f);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        chomp(line);
        if (strncmp(line, "<<INPUT", 7) == 0) {
            assert_true(nvecs < 128);
            cur = &vecs[nvecs++];
            cur->line = lineno;
            if (line[7] == ' ') {
                cur->input = dupstr(line + 8);
            } else {
                char buf[8192] = "";
                while (fgets(line, sizeof line, f)) {
                    lineno++;
                    chomp(line);
                    if (strcmp(line, "INPUT") == 0)
                        break;
                    strncat(buf, line, sizeof buf - strlen(buf) - 2);
                    strcat(buf, "\n");
                }
                cur->input = dupstr(buf);
            }
        } else if (strncmp(line, "<<canonical ", 12) == 0) {
            assert_non_null(cur);
            cur->canonical = dupstr(line + 12);
        } else if (strncmp(line, "<<fingerprint ", 14) == 0) {
            assert_non_null(cur);
            cur->has_fp = 1;
            cur->fp = strtoll(line + 14, NULL, 10);
        }
    }
    fclose(f);
}

static void test_vectors_loaded(void **state) {
    (void)state;
    /* 34 vectors in the Avro 1.11 file; all have a canonical form. */
    assert_int_equal(nvecs, 34);
    for (int i = 0; i < nvecs; i++)
        assert_non_null(vecs[i].canonical);
}

static void test_canonical_forms(void **state) {
    (void)state;
    for (int i = 0; i < nvecs; i++) {
        char err[512] = "";
        char *pcf = NULL;
        sf_err_t e = sf_schema_canonical_form(
            vecs[i].input, strlen(vecs[i].input), &pcf, err, sizeof err);
        if (e != SF_OK)
            fail_msg("vector at line %d: %s", vecs[i].line, err);
        if (strcmp(pcf, vecs[i].canonical) != 0)
            fail_msg("vector at line %d: got %s, want %s", vecs[i].line, pcf,
                     vecs[i].canonical);
        free(pcf);
    }
}

static void test_fingerprints(void **state) {
    int checked = 0;
    (void)state;
    for (int i = 0; i < nvecs; i++) {
        if (!vecs[i].has_fp)
            continue;
        char err[512] = "";
        uint64_t fp = 0;
        assert_int_equal(sf_schema_fingerprint_json(vecs[i].input,
                                                    strlen(vecs[i].input), &fp,
                                                    err, sizeof err),
                         SF_OK);
        if ((int64_t)fp != vecs[i].fp)
            fail_msg("vector at line %d: got %lld, want %lld", vecs[i].line,
                     (long long)(int64_t)fp, (long long)vecs[i].fp);
        /* Fingerprint of the canonical text itself is the same number. */
        assert_int_equal(
            sf_crc64_avro(vecs[i].canonical, strlen(vecs[i].canonical)), fp);
        checked++;
    }
    assert_true(checked >= 20);
}

static void test_crc_empty(void **state) {
    (void)state;
    assert_true(sf_crc64_avro("", 0) == 0xc15d213aa4d7a795ULL);
}

static void test_bad_schemas(void **state) {
    static const struct {
        const char *text;
        sf_err_t err;
        const char *needle;
    } bad[] = {
        {"{\"type\":\"record\",\"name\":\"A\"}", SF_ERR_SCHEMA, "fields"},
        {"{\"type\":\"record\",\"name\":\"A\",\"fields\":[{\"name\":\"x\","
         "\"type\":\"strin\"}]}",
         SF_ERR_SCHEMA, "fields[0].type: unknown type \"strin\""},
        {"{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"A\"]}",
         SF_ERR_SCHEMA, "duplicate"},
        {"[\"int\",\"int\"]", SF_ERR_SCHEMA, "two branches"},
        {"{\"type\":\"record\",\"name\":\"1A\",\"fields\":[]}", SF_ERR_SCHEMA,
         "invalid name"},
        {"{\"type\":", SF_ERR_PARSE, "schema:1:"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512] = "";
        char *pcf = NULL;
        sf_err_t e = sf_schema_canonical_form(bad[i].text, strlen(bad[i].text),
                                              &pcf, err, sizeof err);
        if (e != bad[i].err || !strstr(err, bad[i].needle))
            fail_msg("%s: got %s \"%s\", want %s containing \"%s\"",
                     bad[i].text, sf_err_name(e), err, sf_err_name(bad[i].err),
                     bad[i].needle);
        assert_null(pcf);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_loaded),
        cmocka_unit_test(test_canonical_forms),
        cmocka_unit_test(test_fingerprints),
        cmocka_unit_test(test_crc_empty),
        cmocka_unit_test(test_bad_schemas),
    };
    load_vectors();
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (int i = 0; i < nvecs; i++) {
        free(vecs[i].input);
        free(vecs[i].canonical);
    }
    return rc;
}
