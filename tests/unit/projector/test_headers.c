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

#include <cmocka.h>

#include "event.h"
#include "field.h"
#include "interp.h"

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
                                  "tenant", "bin", "nothing"};
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_header_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_iterate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
