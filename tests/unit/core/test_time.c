/* Unit tests for RFC 3339 formatting and parsing (ce_time). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sf_core.h"

/* Expected strings computed independently with Python's datetime. */
static void format_known_instants(void **state) {
    char buf[32];

    (void)state;
    assert_string_equal(sf_time_format(0, buf, sizeof(buf)),
                        "1970-01-01T00:00:00.000Z");
    assert_string_equal(sf_time_format(1764162309042LL, buf, sizeof(buf)),
                        "2025-11-26T13:05:09.042Z");
    assert_string_equal(sf_time_format(-1, buf, sizeof(buf)),
                        "1969-12-31T23:59:59.999Z");
    assert_string_equal(sf_time_format(951868799999LL, buf, sizeof(buf)),
                        "2000-02-29T23:59:59.999Z");
}

static void format_rejects_small_buffer(void **state) {
    char buf[24]; /* needs 25 */

    (void)state;
    assert_null(sf_time_format(0, buf, sizeof(buf)));
    assert_null(sf_time_format(0, NULL, 0));
}

static void parse_variants(void **state) {
    int64_t ms = 0;
    char err[256];

    (void)state;
    assert_int_equal(
        sf_time_parse("2025-11-26T13:05:09.042Z", &ms, err, sizeof(err)),
        SF_OK);
    assert_int_equal(ms, 1764162309042LL);
    assert_int_equal(
        sf_time_parse("2026-11-26T15:05:09.042+02:00", &ms, err, sizeof(err)),
        SF_OK);
    assert_int_equal(ms, 1795698309042LL);
    assert_int_equal(
        sf_time_parse("1970-01-01t00:00:01z", &ms, err, sizeof(err)), SF_OK);
    assert_int_equal(ms, 1000);
    /* More than 3 fraction digits are truncated to milliseconds. */
    assert_int_equal(
        sf_time_parse("1970-01-01T00:00:00.123456Z", &ms, err, sizeof(err)),
        SF_OK);
    assert_int_equal(ms, 123);
    assert_int_equal(
        sf_time_parse("1969-12-31T23:00:00-01:00", &ms, err, sizeof(err)),
        SF_OK);
    assert_int_equal(ms, 0);
}

static void parse_rejects_garbage(void **state) {
    static const char *const bad[] = {
        "",
        "2025-11-26",
        "2025-11-26T13:05:09",
        "2025-13-01T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2025-11-26T24:00:00Z",
        "2025-11-26T13:05Z",
        "2025-11-26T13:05:09.Z",
        "2025-11-26T13:05:09Zjunk",
        "2025-11-26T13:05:09+0200",
        "yesterday",
    };
    int64_t ms = 42;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(sf_time_parse(bad[i], &ms, err, sizeof(err)),
                         SF_ERR_PARSE);
        assert_non_null(strstr(err, "RFC 3339"));
        assert_int_equal(ms, 42);
    }
}

static void round_trip(void **state) {
    char buf[32], err[128];
    int64_t back;

    (void)state;
    for (int64_t t = -86400000LL * 800; t < 86400000LL * 40000;
         t += 86400000LL * 97 + 3600 * 1000 + 1234) {
        assert_non_null(sf_time_format(t, buf, sizeof(buf)));
        assert_int_equal(sf_time_parse(buf, &back, err, sizeof(err)), SF_OK);
        assert_int_equal(back, t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(format_known_instants),
        cmocka_unit_test(format_rejects_small_buffer),
        cmocka_unit_test(parse_variants),
        cmocka_unit_test(parse_rejects_garbage),
        cmocka_unit_test(round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
