/* test_logthrottle.c - lines about an unreachable broker are rate-limited
 * per client and broker, and the suppressed ones are counted
 * (logthrottle.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "logthrottle.h"

#define W SF_LOGTHROTTLE_WINDOW_S

static void broker_prefix_is_found(void **state) {
    (void)state;
    char b[128];
    /* the forms librdkafka 2.14 wrote while a broker was down */
    const char *same[] = {
        "127.0.0.1:9093/2: Connect to ipv4#127.0.0.1:9093 failed: Connection "
        "refused (after 0ms in state CONNECT, 4 identical error(s) "
        "suppressed)",
        "[thrd:127.0.0.1:9093/2]: 127.0.0.1:9093/2: Timed out 0 in-flight, 0 "
        "retry-queued, 2 out-queue, 0 partially-sent requests",
        "[thrd:GroupCoordinator]: GroupCoordinator: 127.0.0.1:9093: Connect "
        "to ipv4#127.0.0.1:9093 failed: Connection refused",
        "GroupCoordinator: Connect to ipv4#127.0.0.1:9093 failed: Connection "
        "refused (after 0ms in state CONNECT)",
        "sasl_ssl://127.0.0.1:9093/bootstrap: Disconnected",
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        assert_string_equal(sf_logthrottle_broker(same[i], b, sizeof b),
                            "127.0.0.1:9093");
    assert_string_equal(
        sf_logthrottle_broker("sasl_ssl://kafka-2:9094/bootstrap: Disconnected",
                              b, sizeof b),
        "kafka-2:9094");
    /* no broker: a message of the client as a whole */
    assert_string_equal(
        sf_logthrottle_broker("3/3 brokers are down", b, sizeof b), "");
    assert_string_equal(
        sf_logthrottle_broker("Group \"g\": x/y: rebalance", b, sizeof b), "");
}

static void one_line_per_broker_per_window(void **state) {
    (void)state;
    uint64_t hidden = 99;
    const char *m1 = "127.0.0.1:19093/2: Connect to ipv4#127.0.0.1:19093 "
                     "failed: Connection refused (after 0ms in state CONNECT)";
    const char *m2 = "127.0.0.1:19093/2: Connect to ipv4#127.0.0.1:19093 "
                     "failed: Connection refused (after 1ms in state CONNECT, "
                     "4 identical error(s) suppressed)";
    double t = 1000.0;
    assert_int_equal(sf_logthrottle_pass("c1", "FAIL", m1, t, &hidden), 1);
    assert_int_equal(hidden, 0);
    /* the error callback's report of the same failure: same broker */
    assert_int_equal(
        sf_logthrottle_pass("c1", "_TRANSPORT", m2, t + 0.1, &hidden), 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(
            sf_logthrottle_pass("c1", "FAIL", m2, t + 1 + i * 0.1, &hidden), 0);
    /* another broker and another client are not held back */
    assert_int_equal(sf_logthrottle_pass("c1", "FAIL",
                                         "127.0.0.1:19094/3: Connect failed",
                                         t + 2, &hidden),
                     1);
    assert_int_equal(sf_logthrottle_pass("c2", "FAIL", m1, t + 2, &hidden), 1);
    /* after the window: one line, carrying the count */
    assert_int_equal(sf_logthrottle_pass("c1", "FAIL", m1, t + W, &hidden), 1);
    assert_int_equal(hidden, 201);
    assert_int_equal(sf_logthrottle_pass("c1", "FAIL", m1, t + W + 1, &hidden),
                     0);
}

static void messages_without_broker_keep_their_text(void **state) {
    (void)state;
    uint64_t hidden;
    double t = 5000.0;
    assert_int_equal(sf_logthrottle_pass("c3", "_ALL_BROKERS_DOWN",
                                         "3/3 brokers are down", t, &hidden),
                     1);
    assert_int_equal(sf_logthrottle_pass("c3", "_ALL_BROKERS_DOWN",
                                         "3/3 brokers are down", t + 1,
                                         &hidden),
                     0);
    /* a different message is a different line */
    assert_int_equal(
        sf_logthrottle_pass("c3", "_FATAL", "fenced by epoch", t + 1, &hidden),
        1);
}

static void a_full_table_reuses_the_oldest_slot(void **state) {
    (void)state;
    uint64_t hidden;
    char m[64];
    double t = 9000.0;
    for (int i = 0; i < SF_LOGTHROTTLE_SLOTS * 2; i++) {
        snprintf(m, sizeof m, "10.0.0.%d:9092/%d: down", i % 250, i);
        assert_int_equal(sf_logthrottle_pass("c4", "FAIL", m, t + i, &hidden),
                         1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(broker_prefix_is_found),
        cmocka_unit_test(one_line_per_broker_per_window),
        cmocka_unit_test(messages_without_broker_keep_their_text),
        cmocka_unit_test(a_full_table_reuses_the_oldest_slot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
