/* Unit tests for producer configuration: defaults, sf.* keys, librdkafka
 * pass-through, and what sf_producer_new() refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "producer_int.h"

static void defaults_are_idempotent_acks_all_murmur2(void **state) {
    sf_producer_conf_t *conf = sf_producer_conf_new();
    char buf[64], err[256];

    (void)state;
    assert_non_null(conf);
    assert_int_equal(sf_producer_conf_get(conf, "enable.idempotence", buf,
                                          sizeof(buf), err, sizeof(err)),
                     SF_OK);
    assert_string_equal(buf, "true");
    assert_int_equal(
        sf_producer_conf_get(conf, "acks", buf, sizeof(buf), err, sizeof(err)),
        SF_OK);
    /* librdkafka stores acks=all as -1 */
    assert_true(!strcmp(buf, "all") || !strcmp(buf, "-1"));
    assert_int_equal(sf_producer_conf_get(conf, "partitioner", buf, sizeof(buf),
                                          err, sizeof(err)),
                     SF_OK);
    assert_string_equal(buf, "murmur2_random");
    assert_int_equal(sf_producer_conf_get(conf, "message.timeout.ms", buf,
                                          sizeof(buf), err, sizeof(err)),
                     SF_OK);
    assert_string_equal(buf, "120000");
    /* five in flight again with librdkafka 2.14 (see conf.c) */
    assert_int_equal(
        sf_producer_conf_get(conf, "max.in.flight.requests.per.connection", buf,
                             sizeof(buf), err, sizeof(err)),
        SF_OK);
    assert_string_equal(buf, "5");
    sf_producer_conf_destroy(conf);
}

static void sf_keys_set_get_and_unknown_refused(void **state) {
    sf_producer_conf_t *conf = sf_producer_conf_new();
    char buf[64], err[256];

    (void)state;
    assert_int_equal(
        sf_producer_conf_set(conf, "sf.source", "svc", err, sizeof(err)),
        SF_OK);
    assert_int_equal(
        sf_producer_conf_set(conf, "sf.topic", "cart-events", err, sizeof(err)),
        SF_OK);
    assert_int_equal(sf_producer_conf_get(conf, "sf.source", buf, sizeof(buf),
                                          err, sizeof(err)),
                     SF_OK);
    assert_string_equal(buf, "svc");
    assert_int_equal(sf_producer_conf_get(conf, "sf.aggregate.type", buf,
                                          sizeof(buf), err, sizeof(err)),
                     SF_ERR_NOT_FOUND);

    err[0] = '\0';
    assert_int_equal(
        sf_producer_conf_set(conf, "sf.shema.dir", "x", err, sizeof(err)),
        SF_ERR_CONFIG);
    assert_non_null(strstr(err, "sf.shema.dir"));
    assert_int_equal(
        sf_producer_conf_set(conf, "sf.source", "", err, sizeof(err)),
        SF_ERR_CONFIG);
    assert_int_equal(sf_producer_conf_get(conf, "sf.nope", buf, sizeof(buf),
                                          err, sizeof(err)),
                     SF_ERR_CONFIG);
    sf_producer_conf_destroy(conf);
}

static void librdkafka_properties_pass_through(void **state) {
    sf_producer_conf_t *conf = sf_producer_conf_new();
    char buf[64], err[512];

    (void)state;
    assert_int_equal(
        sf_producer_conf_set(conf, "linger.ms", "7", err, sizeof(err)), SF_OK);
    assert_int_equal(sf_producer_conf_get(conf, "linger.ms", buf, sizeof(buf),
                                          err, sizeof(err)),
                     SF_OK);
    assert_string_equal(buf, "7");
    /* delivery.timeout.ms is librdkafka's alias of message.timeout.ms */
    assert_int_equal(sf_producer_conf_set(conf, "delivery.timeout.ms", "1234",
                                          err, sizeof(err)),
                     SF_OK);
    assert_int_equal(sf_producer_conf_get(conf, "message.timeout.ms", buf,
                                          sizeof(buf), err, sizeof(err)),
                     SF_OK);
    assert_string_equal(buf, "1234");
    err[0] = '\0';
    assert_int_equal(
        sf_producer_conf_set(conf, "no.such.property", "1", err, sizeof(err)),
        SF_ERR_CONFIG);
    assert_non_null(strstr(err, "no.such.property"));
    assert_int_equal(
        sf_producer_conf_set(conf, "linger.ms", "soon", err, sizeof(err)),
        SF_ERR_CONFIG);
    assert_int_equal(sf_producer_conf_set(NULL, "a", "b", err, sizeof(err)),
                     SF_ERR_INVALID_ARG);
    sf_producer_conf_destroy(conf);
}

static void dup_is_deep(void **state) {
    sf_producer_conf_t *conf = sf_producer_conf_new(), *d;
    char buf[64], err[256];

    (void)state;
    sf_producer_conf_set(conf, "sf.source", "a", err, sizeof(err));
    sf_producer_conf_set(conf, "linger.ms", "3", err, sizeof(err));
    d = sf_producer_conf_dup(conf);
    assert_non_null(d);
    sf_producer_conf_set(conf, "sf.source", "b", err, sizeof(err));
    sf_producer_conf_set(conf, "linger.ms", "4", err, sizeof(err));
    sf_producer_conf_destroy(conf);
    assert_int_equal(sf_producer_conf_get(d, "sf.source", buf, sizeof(buf), err,
                                          sizeof(err)),
                     SF_OK);
    assert_string_equal(buf, "a");
    assert_int_equal(sf_producer_conf_get(d, "linger.ms", buf, sizeof(buf), err,
                                          sizeof(err)),
                     SF_OK);
    assert_string_equal(buf, "3");
    sf_producer_conf_destroy(d);
}

static void new_without_catalog_fails_and_keeps_conf(void **state) {
    sf_producer_conf_t *conf = sf_producer_conf_new();
    char err[256] = "";

    (void)state;
    assert_null(sf_producer_new(conf, err, sizeof(err)));
    assert_non_null(strstr(err, "sf.schema.dir"));
    /* still ours: a bad schema dir also fails, naming the dir */
    sf_producer_conf_set(conf, "sf.schema.dir", "/nonexistent/schemas", err,
                         sizeof(err));
    assert_null(sf_producer_new(conf, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/schemas"));
    sf_producer_conf_destroy(conf);
}

static void topic_and_aggregate_type_derive_each_other(void **state) {
    char *s;

    (void)state;
    s = sf__aggtype_from_topic("cart-events");
    assert_string_equal(s, "cart");
    free(s);
    assert_null(sf__aggtype_from_topic("-events"));
    assert_null(sf__aggtype_from_topic("carts"));
    s = sf__topic_from_aggtype("route");
    assert_string_equal(s, "route-events");
    free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_are_idempotent_acks_all_murmur2),
        cmocka_unit_test(sf_keys_set_get_and_unknown_refused),
        cmocka_unit_test(librdkafka_properties_pass_through),
        cmocka_unit_test(dup_is_deep),
        cmocka_unit_test(new_without_catalog_fails_and_keeps_conf),
        cmocka_unit_test(topic_and_aggregate_type_derive_each_other),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
