/* Unit tests for the CloudEvents side of a record: source must be a
 * URI-reference (RFC 3986), traceparent must follow W3C Trace Context,
 * application headers must not shadow the library's, and every record
 * carries ce_dataschema naming its writer schema's fingerprint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "producer_int.h"

static void uri_references_accepted(void **state) {
    static const char *const ok[] = {
        "cart-service",
        "/shop/cart",
        "urn:shop:cart-service",
        "https://shop.example.com/cart?x=1#top",
        "//host:8080/p",
        "http://[2001:db8::1]/svc",
        "a%20b",
        "./x:y",
        "svc_1.~!$&'()*+,;=@",
        "mailto:ops@example.com",
        "sf-publish",
        "?q",
        "#frag",
    };
    char why[256];

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (sf__ce_check_uri_reference(ok[i], why, sizeof(why)))
            fail_msg("\"%s\" refused: %s", ok[i], why);
}

static void uri_references_refused_with_reason(void **state) {
    static const char *const bad[][2] = {
        {"cart service", "space at offset 4"},
        {"", "empty"},
        {"a%zzb", "\"%\" at offset 1"},
        {"a%2", "\"%\" at offset 1"},
        {"x#y#z", "second \"#\" at offset 3"},
        {"svc\"x", "'\"' at offset 3"},
        {"tab\there", "control character 0x09 at offset 3"},
        {"caf\xc3\xa9", "non-ASCII byte 0xc3 at offset 3"},
        {"1abc:def", "first path segment"},
        {"a[1]", "'[' at offset 1"},
        {"a<b>", "'<' at offset 1"},
    };
    char why[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        if (!sf__ce_check_uri_reference(bad[i][0], why, sizeof(why)))
            fail_msg("\"%s\" accepted", bad[i][0]);
        if (!strstr(why, bad[i][1]))
            fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", bad[i][0], why,
                     bad[i][1]);
    }
}

/* The library refuses such a source where it is configured, and
 * sf_producer_new() refuses it too (a conf built some other way). */
static void source_checked_at_configuration(void **state) {
    sf_producer_conf_t *conf = sf_producer_conf_new();
    char err[512];

    (void)state;
    assert_int_equal(sf_producer_conf_set(conf, "sf.source", "cart service",
                                          err, sizeof(err)),
                     SF_ERR_CONFIG);
    assert_non_null(strstr(err, "sf.source \"cart service\""));
    assert_non_null(strstr(err, "URI-reference"));
    assert_non_null(strstr(err, "space at offset 4"));
    assert_int_equal(sf_producer_conf_set(conf, "sf.source",
                                          "urn:shop:cart-service", err,
                                          sizeof(err)),
                     SF_OK);
    sf_producer_conf_destroy(conf);
}

static void traceparent_format(void **state) {
    static const char *const good[] = {
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        /* a later version may append fields */
        "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what",
    };
    static const char *const bad[][2] = {
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", "not a W3C"},
        {"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
         "trace-id is all zeros"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
         "parent-id"},
        {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
         "not a W3C"},
        {"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
         "version ff"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
         "exactly 55"},
        {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
         "trace-flags"},
    };
    char why[256];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (sf__ce_check_traceparent(good[i], strlen(good[i]), why,
                                     sizeof(why)))
            fail_msg("\"%s\" refused: %s", good[i], why);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        if (!sf__ce_check_traceparent(bad[i][0], strlen(bad[i][0]), why,
                                      sizeof(why)))
            fail_msg("\"%s\" accepted", bad[i][0]);
        if (!strstr(why, bad[i][1]))
            fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", bad[i][0], why,
                     bad[i][1]);
    }
}

static void header_names(void **state) {
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    char why[256];

    (void)state;
    assert_int_equal(sf__ce_check_header("tenant", "t-1", 3, why, sizeof(why)),
                     0);
    assert_int_equal(
        sf__ce_check_header("traceparent", tp, strlen(tp), why, sizeof(why)),
        0);
    assert_int_equal(
        sf__ce_check_header("ce_tenantid", "t-1", 3, why, sizeof(why)), 0);
    assert_int_equal(sf__ce_check_header("ce_id", "x", 1, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "header \"ce_id\" is written by the library"));
    assert_int_equal(
        sf__ce_check_header("ce_dataschema", "x", 1, why, sizeof(why)), -1);
    assert_int_equal(
        sf__ce_check_header("content-type", "x", 1, why, sizeof(why)), -1);
    assert_int_equal(sf__ce_check_header("ce_Tenant", "x", 1, why, sizeof(why)),
                     -1);
    assert_non_null(strstr(why, "lower-case letters and digits"));
    assert_int_equal(sf__ce_check_header("", "x", 1, why, sizeof(why)), -1);
    assert_int_equal(sf__ce_check_header("a b", "x", 1, why, sizeof(why)), -1);
    assert_int_equal(
        sf__ce_check_header("traceparent", "abc", 3, why, sizeof(why)), -1);
    assert_non_null(strstr(why, "header \"traceparent\": not a W3C"));
}

/* ---- records: headers and ce_dataschema, without a broker ------------ */

typedef struct fixture {
    sf_catalog_t *cat;
    sf_producer_t *p;
    sf_producer_event_t *ev;
} fixture_t;

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof(*f));
    sf_producer_conf_t *conf = sf_producer_conf_new();
    const char *data = "{\"route_id\": \"r-1\", \"location_id\": \"l-1\", "
                       "\"machine_id\": \"m-1\", \"removed_at\": 1}";
    char err[512];

    f->cat = sf_catalog_new();
    if (sf_catalog_load_dir(f->cat, SF_TEST_SCHEMA_DIR, err, sizeof(err)))
        fail_msg("catalog: %s", err);
    sf_producer_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof(err));
    sf_producer_conf_set(conf, "sf.topic", "route-events", err, sizeof(err));
    sf_producer_conf_set(conf, "log_level", "0", err, sizeof(err));
    sf_producer_conf_set_catalog(conf, f->cat);
    f->p = sf_producer_new(conf, err, sizeof(err));
    if (!f->p)
        fail_msg("%s", err);
    f->ev = sf_producer_event_new();
    sf_producer_event_set_type(f->ev, "ops.route.VendingMachineRemoved");
    sf_producer_event_set_aggregate_id(f->ev, "r-1");
    /* "reason" (a nullable union with a default) is left out: the JSON
     * route fills the default */
    sf_producer_event_set_json_text(f->ev, data, strlen(data));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;

    sf_producer_event_destroy(f->ev);
    sf_producer_destroy(f->p);
    sf_catalog_destroy(f->cat);
    free(f);
    return 0;
}

static const char *hdr(rd_kafka_headers_t *h, const char *name, size_t idx,
                       char *buf, size_t size) {
    const void *v;
    size_t len;

    if (rd_kafka_header_get(h, idx, name, &v, &len))
        return NULL;
    assert_true(len < size);
    memcpy(buf, v, len);
    buf[len] = '\0';
    return buf;
}

static void record_carries_dataschema_of_writer(void **state) {
    fixture_t *f = *state;
    const sf_schema_t *s =
        sf_catalog_latest(f->cat, "ops.route.VendingMachineRemoved");
    sf_record_t rec;
    char err[512], b[128], want[80];
    uint64_t fp = 0;

    assert_non_null(s);
    assert_int_equal(sf__record_prepare(f->p, f->ev, &rec, err, sizeof(err)),
                     SF_OK);
    snprintf(want, sizeof(want), "urn:avro:fingerprint:crc-64-avro:%016llx",
             (unsigned long long)sf_schema_fingerprint(s));
    assert_string_equal(hdr(rec.hdrs, "ce_dataschema", 0, b, sizeof(b)), want);
    /* the same integer as the value's bytes 2..9, little-endian */
    assert_true(rec.value_len > 10);
    for (int i = 7; i >= 0; i--)
        fp = fp << 8 | ((const unsigned char *)rec.value)[2 + i];
    assert_true(fp == sf_schema_fingerprint(s));
    /* a URI (it has a scheme), as CloudEvents wants for dataschema */
    assert_int_equal(sf__ce_check_uri_reference(b, err, sizeof(err)), 0);
    assert_int_equal(
        strncmp(b, SF_DATASCHEMA_PREFIX, strlen(SF_DATASCHEMA_PREFIX)), 0);
    sf__record_release(&rec);
}

static void application_headers_set_replace_remove(void **state) {
    fixture_t *f = *state;
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    sf_record_t rec;
    char err[512], b[128];

    assert_int_equal(sf_producer_event_set_header(f->ev, "traceparent", tp, -1),
                     SF_OK);
    assert_int_equal(sf_producer_event_set_header(f->ev, "tenant", "t-0", -1),
                     SF_OK);
    assert_int_equal(sf_producer_event_set_header(f->ev, "tenant", "t-1xyz", 3),
                     SF_OK);
    assert_int_equal(sf_producer_event_set_header(f->ev, "gone", "x", -1),
                     SF_OK);
    assert_int_equal(sf_producer_event_set_header(f->ev, "gone", NULL, 0),
                     SF_OK);
    assert_int_equal(sf_producer_event_set_header(f->ev, NULL, "x", 1),
                     SF_ERR_INVALID_ARG);
    assert_int_equal(sf__record_prepare(f->p, f->ev, &rec, err, sizeof(err)),
                     SF_OK);
    assert_string_equal(hdr(rec.hdrs, "traceparent", 0, b, sizeof(b)), tp);
    assert_string_equal(hdr(rec.hdrs, "tenant", 0, b, sizeof(b)), "t-1");
    assert_null(hdr(rec.hdrs, "tenant", 1, b, sizeof(b))); /* replaced */
    assert_null(hdr(rec.hdrs, "gone", 0, b, sizeof(b)));
    /* 8 CloudEvents headers + ce_aggregatetype ("route") + correlation,
     * causation + ce_dataschema + our 2 */
    assert_int_equal(rd_kafka_header_cnt(rec.hdrs), 13);
    sf__record_release(&rec);

    /* clear forgets them */
    sf_producer_event_clear(f->ev);
    sf_producer_event_set_type(f->ev, "ops.route.VendingMachineRemoved");
    sf_producer_event_set_aggregate_id(f->ev, "r-1");
    {
        const char *d = "{\"route_id\": \"r\", \"location_id\": \"l\", "
                        "\"machine_id\": \"m\", \"removed_at\": 1}";

        sf_producer_event_set_json_text(f->ev, d, strlen(d));
    }
    assert_int_equal(sf__record_prepare(f->p, f->ev, &rec, err, sizeof(err)),
                     SF_OK);
    assert_null(hdr(rec.hdrs, "tenant", 0, b, sizeof(b)));
    sf__record_release(&rec);
}

static void bad_application_header_refuses_the_event(void **state) {
    fixture_t *f = *state;
    sf_record_t rec;
    char err[512];

    sf_producer_event_set_header(f->ev, "ce_type", "evil", -1);
    assert_int_equal(sf__record_prepare(f->p, f->ev, &rec, err, sizeof(err)),
                     SF_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "headers: header \"ce_type\""));
    assert_non_null(strstr(err, "ops.route.VendingMachineRemoved"));
    sf_producer_event_set_header(f->ev, "ce_type", NULL, 0);
    sf_producer_event_set_header(f->ev, "traceparent", "00-abc", -1);
    assert_int_equal(sf_producer_publish(f->p, f->ev, NULL, err, sizeof(err)),
                     SF_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "traceparent"));
    assert_int_equal(sf_producer_outq_len(f->p), 0); /* nothing sent */
}

static void empty_ids_refused(void **state) {
    fixture_t *f = *state;
    sf_record_t rec;
    char err[512];

    sf_producer_event_set_correlation_id(f->ev, "");
    assert_int_equal(sf__record_prepare(f->p, f->ev, &rec, err, sizeof(err)),
                     SF_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "correlation_id: empty"));
    sf_producer_event_set_correlation_id(f->ev, NULL);
    sf_producer_event_set_causation_id(f->ev, "");
    assert_int_equal(sf__record_prepare(f->p, f->ev, &rec, err, sizeof(err)),
                     SF_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "causation_id: empty"));
    sf_producer_event_set_causation_id(f->ev, NULL);
    sf_producer_event_set_id(f->ev, "");
    assert_int_equal(sf__record_prepare(f->p, f->ev, &rec, err, sizeof(err)),
                     SF_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "event_id: empty"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uri_references_accepted),
        cmocka_unit_test(uri_references_refused_with_reason),
        cmocka_unit_test(source_checked_at_configuration),
        cmocka_unit_test(traceparent_format),
        cmocka_unit_test(header_names),
        cmocka_unit_test_setup_teardown(record_carries_dataschema_of_writer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(application_headers_set_replace_remove,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            bad_application_header_refuses_the_event, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_ids_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
