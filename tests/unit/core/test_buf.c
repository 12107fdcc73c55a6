/* Unit tests for the core byte buffer (sf_buf.h) and the monotonic clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "sf_buf.h"
#include "sf_core.h"

static void appends_keep_a_terminated_copy(void **state) {
    sf_buf_t b = {0};
    (void)state;
    assert_null(b.p);
    assert_int_equal(sf_buf_appends(&b, "cart:"), SF_OK);
    assert_int_equal(sf_buf_append(&b, "42xyz", 2), SF_OK);
    assert_int_equal(sf_buf_putc(&b, ':'), SF_OK);
    assert_int_equal(sf_buf_printf(&b, "%s=%d", "items", -7), SF_OK);
    assert_int_equal(b.len, strlen("cart:42:items=-7"));
    assert_string_equal(b.p, "cart:42:items=-7");
    assert_int_equal(sf_buf_append(&b, NULL, 0), SF_OK);
    assert_int_equal(b.len, 16);
    sf_buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
}

/* Binary data with NUL bytes, grown far past the first allocation. */
static void grows_and_is_binary_safe(void **state) {
    sf_buf_t b = {0};
    (void)state;
    for (int i = 0; i < 100000; i++)
        assert_int_equal(sf_buf_putc(&b, i % 7 == 0 ? 0 : 'a' + i % 26), SF_OK);
    assert_int_equal(b.len, 100000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.p[b.len], '\0');
    for (int i = 0; i < 100000; i++)
        assert_int_equal(b.p[i], i % 7 == 0 ? 0 : 'a' + i % 26);
    /* A long formatted piece in one go. */
    char big[5000];
    memset(big, 'k', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sf_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_int_equal(sf_buf_printf(&b, "<%s>", big), SF_OK);
    assert_int_equal(b.len, sizeof(big) + 1);
    assert_int_equal(b.p[0], '<');
    assert_int_equal(b.p[b.len - 1], '>');
    sf_buf_free(&b);
}

/* A size that cannot be allocated fails, leaves the contents, sticks until
 * reset. */
static void oom_sticks_until_reset(void **state) {
    sf_buf_t b = {0};
    (void)state;
    assert_int_equal(sf_buf_appends(&b, "keep"), SF_OK);
    assert_int_equal(sf_buf_reserve(&b, SIZE_MAX - 2), SF_ERR_NOMEM);
    assert_true(b.oom);
    assert_string_equal(b.p, "keep");
    assert_int_equal(sf_buf_appends(&b, "more"), SF_ERR_NOMEM);
    assert_int_equal(sf_buf_printf(&b, "%d", 1), SF_ERR_NOMEM);
    assert_int_equal(b.len, 4);
    sf_buf_reset(&b);
    assert_false(b.oom);
    assert_int_equal(sf_buf_appends(&b, "again"), SF_OK);
    assert_string_equal(b.p, "again");
    sf_buf_free(&b);
}

/* The monotonic clock moves forward with real time and never back. */
static void mono_clock_advances(void **state) {
    (void)state;
    double t0 = sf_time_mono_s(), prev = t0;
    for (int i = 0; i < 1000; i++) {
        double t = sf_time_mono_s();
        assert_true(t >= prev);
        prev = t;
    }
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, NULL);
    double el = sf_time_mono_s() - t0;
    assert_true(el >= 0.019);
    assert_true(el < 3600.0);
    /* The wall clock is in milliseconds since the epoch (after 2020). */
    assert_true(sf_time_now_ms() > 1577836800000LL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(appends_keep_a_terminated_copy),
        cmocka_unit_test(grows_and_is_binary_safe),
        cmocka_unit_test(oom_sticks_until_reset),
        cmocka_unit_test(mono_clock_advances),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
