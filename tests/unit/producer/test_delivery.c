/* Unit tests for the delivery guarantees a service builds its retries on:
 * the persistence status of every report (librdkafka's mock cluster plays
 * a broker that is slow or absent), event ids kept across publishes of one
 * builder, and the delivery timeout a producer really runs with. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "producer_int.h"

#define MAX_DR 8

typedef struct reports {
    int n;
    sf_err_t err[MAX_DR];
    sf_producer_persisted_t persisted[MAX_DR];
    char event_id[MAX_DR][64];
    char errstr[MAX_DR][256];
} reports_t;

static void on_dr(sf_producer_t *p, const sf_producer_dr_t *dr, void *op) {
    reports_t *r = op;
    int i = r->n++;

    (void)p;
    assert_true(i < MAX_DR);
    r->err[i] = sf_producer_dr_err(dr);
    r->persisted[i] = sf_producer_dr_persisted(dr);
    snprintf(r->event_id[i], 64, "%s", sf_producer_dr_event_id(dr));
    snprintf(r->errstr[i], 256, "%s", sf_producer_dr_errstr(dr));
}

typedef struct fixture {
    sf_catalog_t *cat;
    sf_producer_t *p;
    sf_producer_event_t *ev;
    reports_t r;
} fixture_t;

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof(*f));
    const char *data = "{\"cart_id\": \"cart-d\", \"sku\": \"sku-1\", "
                       "\"quantity\": 1, \"unit_price_cents\": 499, "
                       "\"added_at\": 1764162309042, \"currency\": \"EUR\"}";
    char err[512];

    f->cat = sf_catalog_new();
    if (sf_catalog_load_dir(f->cat, SF_TEST_SCHEMA_DIR, err, sizeof(err)))
        fail_msg("catalog: %s", err);
    f->ev = sf_producer_event_new();
    sf_producer_event_set_type(f->ev, "shop.cart.ItemAddedToCart");
    sf_producer_event_set_aggregate_id(f->ev, "cart-d");
    sf_producer_event_set_json_text(f->ev, data, strlen(data));
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;

    sf_producer_destroy(f->p);
    sf_producer_event_destroy(f->ev);
    sf_catalog_destroy(f->cat);
    free(f);
    return 0;
}

/* A producer with the library's defaults plus name=value pairs (NULL
 * ends them); bootstrap is a one-broker mock cluster unless given. */
static sf_producer_t *make(fixture_t *f, ...) {
    sf_producer_conf_t *conf = sf_producer_conf_new();
    const char *name;
    char err[512];
    sf_producer_t *p;
    va_list ap;
    int mock = 1;

    va_start(ap, f);
    while ((name = va_arg(ap, const char *))) {
        const char *value = va_arg(ap, const char *);

        if (!strcmp(name, "bootstrap.servers"))
            mock = 0;
        if (sf_producer_conf_set(conf, name, value, err, sizeof(err)))
            fail_msg("%s", err);
    }
    va_end(ap);
    if (mock)
        sf_producer_conf_set(conf, "test.mock.num.brokers", "1", err,
                             sizeof(err));
    sf_producer_conf_set(conf, "sf.aggregate.type", "cart", err, sizeof(err));
    sf_producer_conf_set(conf, "log_level", "0", err, sizeof(err));
    sf_producer_conf_set_catalog(conf, f->cat);
    sf_producer_conf_set_dr_cb(conf, on_dr);
    sf_producer_conf_set_opaque(conf, &f->r);
    p = sf_producer_new(conf, err, sizeof(err));
    if (!p)
        fail_msg("sf_producer_new: %s", err);
    return p;
}

/* ---------------------------------------------------------------------- */

static void delivered_event_is_persisted(void **state) {
    fixture_t *f = *state;
    char err[512];

    f->p = make(f, NULL);
    assert_int_equal(sf_producer_publish(f->p, f->ev, NULL, err, sizeof(err)),
                     SF_OK);
    assert_int_equal(sf_producer_flush(f->p, 10000, err, sizeof(err)), SF_OK);
    assert_int_equal(f->r.n, 1);
    assert_int_equal(f->r.err[0], SF_OK);
    assert_int_equal(f->r.persisted[0], SF_PRODUCER_PERSISTED);
}

/* A producer whose one mock broker stops answering in time: a first
 * event sets up connection, producer id and partition (and is persisted),
 * then every request takes 5 s, beyond message.timeout.ms. */
static sf_producer_t *make_slow(fixture_t *f) {
    sf_producer_t *p = make(f, "message.timeout.ms", "1500", NULL);
    sf_producer_persisted_t st = SF_PRODUCER_NOT_PERSISTED;
    rd_kafka_mock_cluster_t *mc;
    char err[512];

    assert_int_equal(sf_producer_publish_sync_status(p, f->ev, NULL, NULL, &st,
                                                     err, sizeof(err)),
                     SF_OK);
    assert_int_equal(st, SF_PRODUCER_PERSISTED);
    mc = rd_kafka_handle_mock_cluster(sf_producer_rk(p));
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_broker_set_rtt(mc, 1, 5000), 0);
    return p;
}

/* Sent, never answered within the timeout: it may be in the log. */
static void unanswered_event_is_possibly_persisted(void **state) {
    fixture_t *f = *state;
    char err[512];

    f->p = make_slow(f);
    assert_int_equal(sf_producer_publish(f->p, f->ev, NULL, err, sizeof(err)),
                     SF_OK);
    assert_int_equal(sf_producer_flush(f->p, 20000, err, sizeof(err)), SF_OK);
    assert_int_equal(f->r.n, 1);
    assert_int_equal(f->r.err[0], SF_ERR_KAFKA);
    assert_int_equal(f->r.persisted[0], SF_PRODUCER_POSSIBLY_PERSISTED);
    assert_non_null(strstr(f->r.errstr[0], "(possibly persisted)"));
}

/* The same through the synchronous call. */
static void unanswered_sync_is_possibly_persisted(void **state) {
    fixture_t *f = *state;
    sf_producer_persisted_t st = SF_PRODUCER_PERSISTED;
    char err[512] = "";

    f->p = make_slow(f);
    assert_int_equal(sf_producer_publish_sync_status(f->p, f->ev, NULL, NULL,
                                                     &st, err, sizeof(err)),
                     SF_ERR_KAFKA);
    assert_int_equal(st, SF_PRODUCER_POSSIBLY_PERSISTED);
    assert_non_null(strstr(err, "(possibly persisted)"));
    assert_int_equal(f->r.n, 0); /* no callback for a sync publish */
}

/* Never sent (no broker at all): publishing again cannot duplicate it. */
static void unsent_event_is_not_persisted(void **state) {
    fixture_t *f = *state;
    sf_producer_persisted_t st = SF_PRODUCER_PERSISTED;
    char err[512];

    f->p = make(f, "bootstrap.servers", "127.0.0.1:1", "message.timeout.ms",
                "1000", "sf.topic", "cart-events", NULL);
    assert_int_equal(sf_producer_publish(f->p, f->ev, NULL, err, sizeof(err)),
                     SF_OK);
    assert_int_equal(sf_producer_flush(f->p, 10000, err, sizeof(err)), SF_OK);
    assert_int_equal(f->r.n, 1);
    assert_int_equal(f->r.err[0], SF_ERR_KAFKA);
    assert_int_equal(f->r.persisted[0], SF_PRODUCER_NOT_PERSISTED);
    assert_non_null(strstr(f->r.errstr[0], "(not persisted)"));
    assert_int_equal(sf_producer_publish_sync_status(f->p, f->ev, NULL, NULL,
                                                     &st, err, sizeof(err)),
                     SF_ERR_KAFKA);
    assert_int_equal(st, SF_PRODUCER_NOT_PERSISTED);
}

/* An event refused before sending reports NOT_PERSISTED too. */
static void refused_event_is_not_persisted(void **state) {
    fixture_t *f = *state;
    sf_producer_persisted_t st = SF_PRODUCER_PERSISTED;
    char err[512];

    f->p = make(f, NULL);
    sf_producer_event_set_type(f->ev, "shop.cart.NoSuchEvent");
    assert_int_equal(sf_producer_publish_sync_status(f->p, f->ev, NULL, NULL,
                                                     &st, err, sizeof(err)),
                     SF_ERR_UNKNOWN_TYPE);
    assert_int_equal(st, SF_PRODUCER_NOT_PERSISTED);
    assert_int_equal(f->r.n, 0);
}

static void persisted_names(void **state) {
    (void)state;
    assert_string_equal(sf_producer_persisted_name(SF_PRODUCER_PERSISTED),
                        "persisted");
    assert_string_equal(
        sf_producer_persisted_name(SF_PRODUCER_POSSIBLY_PERSISTED),
        "possibly persisted");
    assert_string_equal(sf_producer_persisted_name(SF_PRODUCER_NOT_PERSISTED),
                        "not persisted");
    /* the values are librdkafka's, so a cast between them is exact */
    assert_int_equal(SF_PRODUCER_PERSISTED, RD_KAFKA_MSG_STATUS_PERSISTED);
    assert_int_equal(SF_PRODUCER_POSSIBLY_PERSISTED,
                     RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED);
    assert_int_equal(SF_PRODUCER_NOT_PERSISTED,
                     RD_KAFKA_MSG_STATUS_NOT_PERSISTED);
}

/* generate_id(): the first publish and the retry carry the same ce_id;
 * without it every publish gets its own. */
static void generated_id_survives_retries(void **state) {
    fixture_t *f = *state;
    char err[512], id[64];

    f->p = make(f, NULL);
    assert_null(sf_producer_event_id(f->ev));
    assert_int_equal(sf_producer_event_generate_id(f->ev), SF_OK);
    assert_non_null(sf_producer_event_id(f->ev));
    snprintf(id, sizeof(id), "%s", sf_producer_event_id(f->ev));
    assert_int_equal(strlen(id), 36);
    assert_int_equal(id[14], '4');
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            sf_producer_publish(f->p, f->ev, NULL, err, sizeof(err)), SF_OK);
    sf_producer_event_set_id(f->ev, NULL);
    assert_null(sf_producer_event_id(f->ev));
    for (int i = 0; i < 2; i++)
        assert_int_equal(
            sf_producer_publish(f->p, f->ev, NULL, err, sizeof(err)), SF_OK);
    assert_int_equal(sf_producer_flush(f->p, 10000, err, sizeof(err)), SF_OK);
    assert_int_equal(f->r.n, 4);
    assert_string_equal(f->r.event_id[0], id);
    assert_string_equal(f->r.event_id[1], id);
    assert_string_not_equal(f->r.event_id[2], id);
    assert_string_not_equal(f->r.event_id[3], id);
    assert_string_not_equal(f->r.event_id[2], f->r.event_id[3]);
    /* a new generate_id() is a new event */
    assert_int_equal(sf_producer_event_generate_id(f->ev), SF_OK);
    assert_string_not_equal(sf_producer_event_id(f->ev), id);
}

/* The delivery timeout in force, read back from librdkafka itself. */
static void timeout_in_force(sf_producer_t *p, char *buf, size_t size) {
    const rd_kafka_conf_t *c = rd_kafka_conf(sf_producer_rk(p));

    assert_int_equal(rd_kafka_conf_get(c, "message.timeout.ms", buf, &size),
                     RD_KAFKA_CONF_OK);
}

static void delivery_timeout_defaults(void **state) {
    fixture_t *f = *state;
    char buf[32];
    sf_producer_t *q;

    /* plain producer: the documented default */
    f->p = make(f, NULL);
    timeout_in_force(f->p, buf, sizeof(buf));
    assert_int_equal(atoi(buf), SF_PRODUCER_DEFAULT_TIMEOUT_MS);
    assert_int_equal(SF_PRODUCER_DEFAULT_TIMEOUT_MS, 120000);
    /* the alias set by the application wins */
    q = make(f, "delivery.timeout.ms", "45000", NULL);
    timeout_in_force(q, buf, sizeof(buf));
    assert_string_equal(buf, "45000");
    sf_producer_destroy(q);
    /* transactional: follows transaction.timeout.ms (librdkafka requires
     * message.timeout.ms <= transaction.timeout.ms) */
    q = make(f, "transactional.id", "unit-delivery", "transaction.timeout.ms",
             "70000", NULL);
    timeout_in_force(q, buf, sizeof(buf));
    assert_string_equal(buf, "70000");
    sf_producer_destroy(q);
}

static void transactional_timeout_above_transaction_is_refused(void **state) {
    fixture_t *f = *state;
    sf_producer_conf_t *conf = sf_producer_conf_new();
    char err[512];

    sf_producer_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof(err));
    sf_producer_conf_set(conf, "transactional.id", "unit-delivery-2", err,
                         sizeof(err));
    sf_producer_conf_set(conf, "message.timeout.ms", "300000", err,
                         sizeof(err));
    sf_producer_conf_set_catalog(conf, f->cat);
    err[0] = '\0';
    assert_null(sf_producer_new(conf, err, sizeof(err)));
    assert_non_null(strstr(err, "message.timeout.ms"));
    sf_producer_conf_destroy(conf);
}

/* Two brokers of three down take the transaction coordinator with them:
 * a commit fails (its events timed out), and the abort that must follow
 * times out too.  The service is told SF_ERR_TIMEOUT, "call it again";
 * the next commit must finish that abort (librdkafka resumes only the
 * call that timed out) and say "aborted", after which a new transaction
 * starts and commits.  Before, the second commit ran into librdkafka's
 * "conflicting API call" and the producer stayed inside a transaction it
 * could neither commit nor leave. */
static void txn_abort_that_timed_out_is_finished_by_commit(void **state) {
    fixture_t *f = *state;
    rd_kafka_mock_cluster_t *mc;
    char err[512];
    sf_err_t r;
    int tries;

    f->p = make(f, "transactional.id", "unit-delivery-resume",
                "message.timeout.ms", "2000", NULL);
    mc = rd_kafka_handle_mock_cluster(sf_producer_rk(f->p));
    assert_non_null(mc);
    /* a first transaction sets up producer id, coordinator, partition */
    assert_int_equal(sf_producer_begin(f->p, err, sizeof(err)), SF_OK);
    assert_int_equal(sf_producer_publish(f->p, f->ev, NULL, err, sizeof(err)),
                     SF_OK);
    assert_int_equal(sf_producer_commit(f->p, err, sizeof(err)), SF_OK);
    /* every answer now takes 6 s, three times the deadline of each call */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(mc, 1, 6000), 0);
    assert_int_equal(sf_producer_begin(f->p, err, sizeof(err)), SF_OK);
    assert_int_equal(sf_producer_publish(f->p, f->ev, NULL, err, sizeof(err)),
                     SF_OK);
    /* the commit's flush times out first (call again), then the events
     * time out, the transaction must be aborted, and that abort times out */
    for (tries = 0; tries < 5; tries++) {
        r = sf_producer_commit(f->p, err, sizeof(err));
        assert_int_equal(r, SF_ERR_TIMEOUT);
        if (strstr(err, "abort"))
            break;
    }
    assert_true(tries < 5);
    /* the brokers answer again: "call it again" finishes the abort */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(mc, 1, 0), 0);
    for (tries = 0;
         (r = sf_producer_commit(f->p, err, sizeof(err))) == SF_ERR_TIMEOUT &&
         tries < 10;
         tries++)
        ;
    assert_int_equal(r, SF_ERR_KAFKA);
    assert_non_null(strstr(err, "aborted"));
    /* and the producer is out of the transaction: a new one commits */
    assert_int_equal(sf_producer_begin(f->p, err, sizeof(err)), SF_OK);
    assert_int_equal(sf_producer_publish(f->p, f->ev, NULL, err, sizeof(err)),
                     SF_OK);
    assert_int_equal(sf_producer_commit(f->p, err, sizeof(err)), SF_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(persisted_names),
        cmocka_unit_test_setup_teardown(delivered_event_is_persisted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(unanswered_event_is_possibly_persisted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(unanswered_sync_is_possibly_persisted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(unsent_event_is_not_persisted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refused_event_is_not_persisted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(generated_id_survives_retries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(delivery_timeout_defaults, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            transactional_timeout_above_transaction_is_refused, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            txn_abort_that_timed_out_is_finished_by_commit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
