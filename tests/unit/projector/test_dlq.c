/* test_dlq.c - which dead-letter produce errors are retried, cut or fatal
 * (dlq.h, sf_dlq_err_class). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dlq.h"

static void size_errors_are_cut(void **state) {
    (void)state;
    assert_int_equal(sf_dlq_err_class(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE),
                     SF_DLQ_TOO_LARGE);
    assert_int_equal(sf_dlq_err_class(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE),
                     SF_DLQ_TOO_LARGE);
    assert_int_equal(sf_dlq_err_class(RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE),
                     SF_DLQ_TOO_LARGE);
}

static void refusals_are_permanent(void **state) {
    (void)state;
    const rd_kafka_resp_err_t perm[] = {
        RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED,
        RD_KAFKA_RESP_ERR_INVALID_RECORD,
        RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION,
        RD_KAFKA_RESP_ERR_POLICY_VIOLATION,
        RD_KAFKA_RESP_ERR__FATAL,
        RD_KAFKA_RESP_ERR__INVALID_ARG};
    for (size_t i = 0; i < sizeof(perm) / sizeof(perm[0]); i++)
        assert_int_equal(sf_dlq_err_class(perm[i]), SF_DLQ_PERMANENT);
}

static void outages_are_retried(void **state) {
    (void)state;
    const rd_kafka_resp_err_t tr[] = {
        RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
        RD_KAFKA_RESP_ERR__TIMED_OUT,
        RD_KAFKA_RESP_ERR__TRANSPORT,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
        RD_KAFKA_RESP_ERR__QUEUE_FULL,
        RD_KAFKA_RESP_ERR__PURGE_QUEUE,
        RD_KAFKA_RESP_ERR__PURGE_INFLIGHT,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART};
    for (size_t i = 0; i < sizeof(tr) / sizeof(tr[0]); i++)
        assert_int_equal(sf_dlq_err_class(tr[i]), SF_DLQ_RETRIABLE);
    assert_int_equal(sf_dlq_err_class(RD_KAFKA_RESP_ERR_NO_ERROR), SF_DLQ_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(size_errors_are_cut),
        cmocka_unit_test(refusals_are_permanent),
        cmocka_unit_test(outages_are_retried),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
