/* test_headers.c - extra record headers (W3C traceparent, a tenant id, ...)
 * as handlers and rules see them: sf_event_header(), sf_event_header_at()
 * and the {header.NAME} placeholder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch.h"
#include "event.h"
#include "field.h"
#include "interp.h"
#include "rules.h"

static const char TP[] =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

typedef struct fx {
    rd_kafka_headers_t *hdrs;
    sf_event_t ev;
    sf_buf_t out;
} fx_t;

/* An event whose record carried: ce_type, traceparent, tenant twice (the
 * second wins), a binary value with a NUL and a colon, a null value. */
static int setup(void **state) {
    fx_t *x = calloc(1, sizeof(*x));
    x->hdrs = rd_kafka_headers_new(8);
    rd_kafka_header_add(x->hdrs, "ce_type", -1, "t.E", -1);
    rd_kafka_header_add(x->hdrs, "traceparent", -1, TP, -1);
    rd_kafka_header_add(x->hdrs, "tenant", -1, "t-0", -1);
    rd_kafka_header_add(x->hdrs, "tenant", -1, "t-1", -1);
    rd_kafka_header_add(x->hdrs, "bin", -1, "a\0b:c", 5);
    rd_kafka_header_add(x->hdrs, "nothing", -1, NULL, 0);
    x->ev.topic = "t";
    x->ev.aggregate_id = "agg-1";
    x->ev.aggregate_id_len = 5;
    x->ev.type = "t.E";
    x->ev.id = x->ev.time = x->ev.version = "";
    x->ev.hdrs = x->hdrs;
    *state = x;
    return 0;
}

static int teardown(void **state) {
    fx_t *x = *state;
    rd_kafka_headers_destroy(x->hdrs);
    sf_buf_free(&x->out);
    free(x);
    return 0;
}

static void test_header_lookup(void **state) {
    fx_t *x = *state;
    const void *v = NULL;
    size_t n = 99;
    assert_int_equal(sf_event_header(&x->ev, "traceparent", &v, &n), SF_OK);
    assert_int_equal(n, strlen(TP));
    assert_memory_equal(v, TP, n);
    /* repeated name: the last value wins */
    assert_int_equal(sf_event_header(&x->ev, "tenant", &v, &n), SF_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(v, "t-1", 3);
    /* binary safe: the NUL is part of the value */
    assert_int_equal(sf_event_header(&x->ev, "bin", &v, &n), SF_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(v, "a\0b:c", 5);
    /* a null value is present, with no bytes */
    assert_int_equal(sf_event_header(&x->ev, "nothing", &v, &n), SF_OK);
    assert_null(v);
    assert_int_equal(n, 0);
    /* absent; names are case-sensitive */
    assert_int_equal(sf_event_header(&x->ev, "absent", &v, &n),
                     SF_ERR_NOT_FOUND);
    assert_int_equal(sf_event_header(&x->ev, "Tenant", &v, &n),
                     SF_ERR_NOT_FOUND);
    /* outputs are optional */
    assert_int_equal(sf_event_header(&x->ev, "tenant", NULL, NULL), SF_OK);
    /* a record without headers */
    sf_event_t bare = x->ev;
    bare.hdrs = NULL;
    assert_int_equal(sf_event_header(&bare, "tenant", &v, &n),
                     SF_ERR_NOT_FOUND);
}

static void test_header_iterate(void **state) {
    fx_t *x = *state;
    static const char *names[] = {"ce_type", "traceparent", "tenant",
                                  "tenant",  "bin",         "nothing"};
    const char *name;
    const void *v;
    size_t n, i;
    for (i = 0; sf_event_header_at(&x->ev, i, &name, &v, &n) == SF_OK; i++) {
        assert_true(i < 6);
        assert_string_equal(name, names[i]);
    }
    assert_int_equal(i, 6);
    assert_int_equal(sf_event_header_at(&x->ev, 2, &name, &v, &n), SF_OK);
    assert_memory_equal(v, "t-0", 3); /* each repeat at its own place */
    sf_event_t bare = x->ev;
    bare.hdrs = NULL;
    assert_int_equal(sf_event_header_at(&bare, 0, &name, &v, &n),
                     SF_ERR_NOT_FOUND);
}

/* Renders text for the fixture's event; returns the error code. */
static sf_err_t render(fx_t *x, const char *text, int key, char *err,
                       size_t errsz) {
    sf_tmpl_t *t = NULL;
    size_t col = 0;
    sf_buf_reset(&x->out);
    sf_err_t e = sf_tmpl_compile(text, &t, &col, err, errsz);
    assert_int_equal(e, SF_OK);
    e = key ? sf_tmpl_render_key(t, &x->ev, &x->out, err, errsz)
            : sf_tmpl_render(t, &x->ev, &x->out, err, errsz);
    sf_tmpl_destroy(t);
    return e;
}

static void test_placeholder_render(void **state) {
    fx_t *x = *state;
    char err[256] = "";
    assert_int_equal(render(x, "{header.traceparent}", 0, err, sizeof err),
                     SF_OK);
    assert_int_equal(x->out.len, strlen(TP));
    assert_memory_equal(x->out.p, TP, x->out.len);
    assert_int_equal(render(x, "tenant={header.tenant}!", 0, err, sizeof err),
                     SF_OK);
    assert_string_equal(x->out.p, "tenant=t-1!");
    /* binary value stays one argument, bytes as they are */
    assert_int_equal(render(x, "{header.bin}", 0, err, sizeof err), SF_OK);
    assert_int_equal(x->out.len, 5);
    assert_memory_equal(x->out.p, "a\0b:c", 5);
    /* absent or null value: renders as null does, "" */
    assert_int_equal(render(x, "[{header.absent}]", 0, err, sizeof err), SF_OK);
    assert_string_equal(x->out.p, "[]");
    assert_int_equal(render(x, "[{header.nothing}]", 0, err, sizeof err),
                     SF_OK);
    assert_string_equal(x->out.p, "[]");
}

static void test_placeholder_key(void **state) {
    fx_t *x = *state;
    char err[256] = "";
    assert_int_equal(render(x, "tenant:{header.tenant}", 1, err, sizeof err),
                     SF_OK);
    assert_string_equal(x->out.p, "tenant:t-1");
    /* escaped like any id: the ':' and NUL cannot add a segment */
    assert_int_equal(render(x, "b:{header.bin}", 1, err, sizeof err), SF_OK);
    assert_string_equal(x->out.p, "b:a%00b%3Ac");
    /* absent in a key: an error naming the placeholder */
    assert_int_equal(render(x, "t:{header.absent}", 1, err, sizeof err),
                     SF_ERR_RULE);
    assert_non_null(strstr(err, "header.absent"));
}

static void test_placeholder_condition(void **state) {
    fx_t *x = *state;
    char err[256] = "";
    sf_path_t *p = NULL;
    size_t col = 0;
    int is_null = -1;
    assert_int_equal(
        sf_path_compile("header.tenant", &p, &col, err, sizeof err), SF_OK);
    assert_int_equal(
        sf_path_render(p, &x->ev, &x->out, &is_null, err, sizeof err), SF_OK);
    assert_int_equal(is_null, 0);
    sf_path_destroy(p);
    sf_buf_reset(&x->out);
    assert_int_equal(
        sf_path_compile("header.absent", &p, &col, err, sizeof err), SF_OK);
    assert_int_equal(
        sf_path_render(p, &x->ev, &x->out, &is_null, err, sizeof err), SF_OK);
    assert_int_equal(is_null, 1);
    sf_path_destroy(p);
}

static void test_placeholder_errors(void **state) {
    (void)state;
    static const struct {
        const char *text;
        size_t col;
        const char *says;
    } bad[] = {
        {"{header}", 7, "header.<name>"},
        {"{header.}", 8, "header name"},
        {"{header.a b}", 9, "0x20"},
        {"x{headers.a}", 2, "header.<name>"}, /* unknown field lists it */
        {"{header.a|upper}", 10, "unknown filter"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        sf_tmpl_t *t = NULL;
        size_t col = 999;
        assert_int_equal(
            sf_tmpl_compile(bad[i].text, &t, &col, err, sizeof err),
            SF_ERR_PARSE);
        if (col != bad[i].col || !strstr(err, bad[i].says))
            fail_msg("%s: col %zu (want %zu): %s", bad[i].text, col, bad[i].col,
                     err);
    }
    /* |neg on a header is refused at load, as on other strings */
    char err[256] = "";
    sf_tmpl_t *t = NULL;
    size_t col = 0;
    assert_int_equal(
        sf_tmpl_compile("{header.n|neg}", &t, &col, err, sizeof err), SF_OK);
    avro_schema_t s = avro_schema_record("E", "t");
    assert_int_equal(sf_tmpl_check(t, s, &col, err, sizeof err), SF_ERR_RULE);
    assert_non_null(strstr(err, "header.n"));
    avro_schema_decref(s);
    sf_tmpl_destroy(t);
    /* names with dots and dashes are kept whole */
    assert_int_equal(
        sf_tmpl_compile("{header.x-b3.sampled}", &t, &col, err, sizeof err),
        SF_OK);
    sf_tmpl_destroy(t);
}

/* sf_projection_field("header.NAME") reads the same value typed. */
static void test_header_field(void **state) {
    fx_t *x = *state;
    char err[256] = "";
    sf_field_t *f = NULL, *g = NULL;
    const char *s;
    size_t n;
    int64_t i64 = 0;
    assert_int_equal(sf_field_new("header.tenant", NULL, &f, err, sizeof err),
                     SF_OK);
    assert_int_equal(sf_event_string(&x->ev, f, &s, &n, err, sizeof err),
                     SF_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "t-1", 3);
    assert_int_equal(sf_event_is_null(&x->ev, f), 0);
    /* not a number: an error naming the path */
    assert_int_equal(sf_event_int64(&x->ev, f, &i64, err, sizeof err),
                     SF_ERR_VALUE);
    assert_non_null(strstr(err, "header.tenant"));
    sf_field_destroy(f);
    assert_int_equal(sf_field_new("header.absent", NULL, &g, err, sizeof err),
                     SF_OK);
    assert_int_equal(sf_event_string(&x->ev, g, &s, &n, err, sizeof err),
                     SF_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "header.absent"));
    assert_int_equal(sf_event_is_null(&x->ev, g), 1);
    sf_field_destroy(g);
    /* a decimal header reads as int64 */
    rd_kafka_header_add(x->hdrs, "retries", -1, "42", 2);
    assert_int_equal(sf_field_new("header.retries", NULL, &g, err, sizeof err),
                     SF_OK);
    assert_int_equal(sf_event_int64(&x->ev, g, &i64, err, sizeof err), SF_OK);
    assert_int_equal(i64, 42);
    sf_field_destroy(g);
}

/* A rules file with header placeholders, loaded and applied as the worker
 * does; a bad one is refused with file:line:col. */
static void test_rules_file(void **state) {
    fx_t *x = *state;
    char path[] = "/tmp/sf-hdr-rules-XXXXXX", err[512] = "";
    static const char good[] =
        "keys: [\"ht:*\", \"hc:*\"]\n"
        "on:\n"
        "  t.E:\n"
        "    - [HSET, \"hc:{aggregate_id}\", tenant, \"{header.tenant}\","
        " trace, \"{header.traceparent}\", none, \"{header.absent}\"]\n"
        "    - cmd: [SADD, \"ht:{header.tenant}\", \"{aggregate_id}\"]\n"
        "      unless: {header.tenant: null}\n"
        "    - cmd: [SADD, \"ht:{header.absent}\", \"{aggregate_id}\"]\n"
        "      unless: {header.absent: null}\n";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, good, strlen(good)), (ssize_t)strlen(good));
    close(fd);
    sf_rules_t *r = NULL;
    sf_batch_t b;
    sf_buf_t scratch = {0};
    sf_batch_init(&b);
    assert_int_equal(sf_rules_load_file(path, &r, err, sizeof err), SF_OK);
    sf_batch_event_begin(&b, 1, 0);
    assert_int_equal(sf_rules_apply(r, &x->ev, &b, &scratch, err, sizeof err),
                     SF_OK);
    sf_batch_event_end(&b);
    /* args: offset, ncmds, then argc and argv of each command */
    char out[512];
    size_t j = 0;
    for (size_t i = 2; i < b.nargs; i++) {
        memcpy(out + j, b.data.p + b.aoff[i], b.alen[i]);
        j += b.alen[i];
        out[j++] = '|';
    }
    out[j ? j - 1 : 0] = '\0';
    char want[512];
    snprintf(want, sizeof want,
             "8|HSET|hc:agg-1|tenant|t-1|trace|%s|none||3|SADD|ht:t-1|agg-1",
             TP);
    assert_string_equal(out, want);
    sf_rules_destroy(r);
    sf_batch_free(&b);
    sf_buf_free(&scratch);

    static const char bad[] = "on:\n  t.E:\n    - [SET, \"k:{header.}\", v]\n";
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    r = NULL;
    assert_int_equal(sf_rules_load_file(path, &r, err, sizeof err),
                     SF_ERR_PARSE);
    assert_null(r);
    snprintf(want, sizeof want, "%s:3:", path);
    if (strncmp(err, want, strlen(want)) || !strstr(err, "header name"))
        fail_msg("want \"%s...header name...\", got \"%s\"", want, err);
    unlink(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_header_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_iterate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_placeholder_render, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_placeholder_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_placeholder_condition, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_placeholder_errors, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_header_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
