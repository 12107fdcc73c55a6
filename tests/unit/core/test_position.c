/* test_position.c - position tokens "<topic>:<partition>:<offset>": format
 * and parse agree, and every malformed token is refused naming what. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sf_position.h"

static void round_trip(void **state) {
    (void)state;
    char tok[SF_POSITION_TOKEN_MAX], topic[256], err[256];
    int32_t p;
    int64_t o;
    assert_int_equal(
        sf_position_format(tok, sizeof tok, "cart-events", 2, 1234), 18);
    assert_string_equal(tok, "cart-events:2:1234");
    assert_int_equal(
        sf_position_parse(tok, topic, sizeof topic, &p, &o, err, sizeof err),
        SF_OK);
    assert_string_equal(topic, "cart-events");
    assert_int_equal(p, 2);
    assert_int_equal(o, 1234);
    /* extremes */
    assert_true(sf_position_format(tok, sizeof tok, "a.b_C-9", INT32_MAX,
                                   INT64_MAX) > 0);
    assert_int_equal(
        sf_position_parse(tok, topic, sizeof topic, &p, &o, err, sizeof err),
        SF_OK);
    assert_int_equal(p, INT32_MAX);
    assert_true(o == INT64_MAX);
    /* a topic of Kafka's maximum length fits SF_POSITION_TOKEN_MAX */
    char longest[250];
    memset(longest, 't', 249);
    longest[249] = '\0';
    size_t n =
        sf_position_format(tok, sizeof tok, longest, INT32_MAX, INT64_MAX);
    assert_true(n > 0 && n < sizeof tok);
    /* snprintf-like: too small says how much is needed */
    char small[8];
    assert_int_equal(
        sf_position_format(small, sizeof small, "cart-events", 2, 1234), 18);
}

static void refused(void **state) {
    (void)state;
    static const char *bad[] = {"",
                                "cart-events",
                                "cart-events:2",
                                ":2:3",
                                "cart events:2:3",
                                "a:b:2:3",
                                "t:-1:3",
                                "t:2:-3",
                                "t:02:3",
                                "t:2:03",
                                "t:2:",
                                "t::3",
                                "t:2147483648:3",
                                "t:2:9223372036854775808",
                                "t:2:3x",
                                "t:+2:3"};
    char topic[256], err[256];
    int32_t p;
    int64_t o;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (sf_position_parse(bad[i], topic, sizeof topic, &p, &o, err,
                              sizeof err) != SF_ERR_PARSE)
            fail_msg("token \"%s\" accepted", bad[i]);
        assert_non_null(strstr(err, "position token"));
    }
    char tok[64];
    assert_int_equal(sf_position_format(tok, sizeof tok, "a:b", 0, 0), 0);
    assert_int_equal(sf_position_format(tok, sizeof tok, "", 0, 0), 0);
    assert_int_equal(sf_position_format(tok, sizeof tok, "t", -1, 0), 0);
    assert_int_equal(sf_position_format(tok, sizeof tok, "t", 0, -1), 0);
    /* "0" itself is a valid number */
    assert_int_equal(sf_position_parse("t:0:0", topic, sizeof topic, &p, &o,
                                       err, sizeof err),
                     SF_OK);
    /* topic buffer too small: an error, not a cut topic */
    assert_int_equal(
        sf_position_parse("abcdef:0:0", topic, 4, &p, &o, err, sizeof err),
        SF_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
