/* Unit tests for the shared error enum. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sf_core.h"

static void every_code_has_text_and_name(void **state) {
    (void)state;
    for (int e = 0; e < SF_ERR__COUNT; e++) {
        assert_non_null(sf_err2str((sf_err_t)e));
        assert_string_not_equal(sf_err2str((sf_err_t)e), "unknown error code");
        assert_memory_equal(sf_err_name((sf_err_t)e), "SF_", 3);
    }
    assert_string_equal(sf_err2str((sf_err_t)999), "unknown error code");
    assert_string_equal(sf_err_name((sf_err_t)-1), "SF_ERR_UNKNOWN");
}

static void retriable_tells_wait_from_poison(void **state) {
    (void)state;
    assert_true(sf_err_is_retriable(SF_ERR_REDIS));
    assert_true(sf_err_is_retriable(SF_ERR_KAFKA));
    assert_true(sf_err_is_retriable(SF_ERR_TIMEOUT));
    assert_false(sf_err_is_retriable(SF_ERR_VALUE));
    assert_false(sf_err_is_retriable(SF_ERR_UNKNOWN_FINGERPRINT));
    assert_false(sf_err_is_retriable(SF_ERR_FENCED));
    assert_false(sf_err_is_retriable((sf_err_t)12345));
}

static void seterr_truncates_safely(void **state) {
    char buf[8];
    (void)state;
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(sf_seterr(buf, sizeof(buf), SF_ERR_PARSE, "%s:%d: bad",
                               "file.yaml", 12),
                     SF_ERR_PARSE);
    assert_int_equal(buf[7], '\0');
    assert_string_equal(buf, "file.ya");
    assert_int_equal(sf_seterr(NULL, 0, SF_ERR_IO, "ignored"), SF_ERR_IO);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_code_has_text_and_name),
        cmocka_unit_test(retriable_tells_wait_from_poison),
        cmocka_unit_test(seterr_truncates_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
