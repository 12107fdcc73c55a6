/* test_props.c - sf-publish properties from a file (-F) and from KAFKA_*
 * variables: values land in the configuration, bad lines name file:line,
 * secrets never appear in an error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "props.h"

static char *write_tmp(const char *text) {
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/sf-props-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static const char *get(sf_producer_conf_t *c, const char *k) {
    static char buf[256];
    if (sf_producer_conf_get(c, k, buf, sizeof(buf), NULL, 0))
        return "(unset)";
    return buf;
}

static void file_values(void **state) {
    (void)state;
    sf_producer_conf_t *c = sf_producer_conf_new();
    char err[512] = "";
    char *p = write_tmp("# secured cluster\n"
                        "\n"
                        "  bootstrap.servers = b1:9093,b2:9093  \n"
                        "security.protocol=SASL_SSL\n"
                        "sasl.password=a=b#c d\n"
                        "sf.source=billing\n");
    if (sf_props_load_file(c, p, err, sizeof(err)))
        fail_msg("%s", err);
    unlink(p);
    assert_string_equal(get(c, "bootstrap.servers"), "b1:9093,b2:9093");
    assert_string_equal(get(c, "security.protocol"), "sasl_ssl");
    /* the value is the rest of the line: '=' and '#' are part of it */
    assert_string_equal(get(c, "sasl.password"), "a=b#c d");
    assert_string_equal(get(c, "sf.source"), "billing");
    sf_producer_conf_destroy(c);
}

static void file_errors(void **state) {
    (void)state;
    sf_producer_conf_t *c = sf_producer_conf_new();
    char err[512] = "", want[128];
    char *p = write_tmp("acks=all\nno equals sign here\n");
    assert_int_equal(sf_props_load_file(c, p, err, sizeof(err)), SF_ERR_CONFIG);
    snprintf(want, sizeof(want), "%s:2: expected property=value", p);
    assert_string_equal(err, want);
    unlink(p);

    p = write_tmp("no.such.property=1\n");
    assert_int_equal(sf_props_load_file(c, p, err, sizeof(err)), SF_ERR_CONFIG);
    snprintf(want, sizeof(want), "%s:1: ", p);
    assert_memory_equal(err, want, strlen(want));
    assert_non_null(strstr(err, "no.such.property"));
    unlink(p);

    /* librdkafka quotes a refused value; for a secret we must not */
    p = write_tmp("ssl.key.pem=TOPSECRET-not-a-key\n");
    sf_err_t e = sf_props_load_file(c, p, err, sizeof(err));
    if (e)
        assert_null(strstr(err, "TOPSECRET"));
    unlink(p);

    assert_int_equal(
        sf_props_load_file(c, "/nonexistent/x.props", err, sizeof(err)),
        SF_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/x.props"));
    sf_producer_conf_destroy(c);
}

static void environment(void **state) {
    (void)state;
    sf_producer_conf_t *c = sf_producer_conf_new();
    char err[512] = "";
    char *env[] = {"PATH=/bin",
                   "KAFKA_SASL_USERNAME=svc",
                   "KAFKA_SASL_PASSWORD=pw-from-env",
                   "KAFKA_OPTS=-Xmx1g", /* Java tools': skipped */
                   "KAFKA_HEAP_OPTS=-Xmx1g",
                   "KAFKA_=x",
                   "SF_KAFKA_X=1",
                   NULL};
    int skipped = -1;
    if (sf_props_load_env(c, env, &skipped, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(skipped, 2);
    assert_string_equal(get(c, "sasl.username"), "svc");
    assert_string_equal(get(c, "sasl.password"), "pw-from-env");
    /* a known property with a bad value is an error naming the variable */
    char *bad[] = {"KAFKA_ACKS=sometimes", NULL};
    assert_int_equal(sf_props_load_env(c, bad, &skipped, err, sizeof(err)),
                     SF_ERR_CONFIG);
    assert_non_null(strstr(err, "environment KAFKA_ACKS"));
    sf_producer_conf_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_values),
        cmocka_unit_test(file_errors),
        cmocka_unit_test(environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
