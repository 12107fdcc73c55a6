/* Unit tests for publishing against librdkafka's in-process mock cluster
 * (test.mock.num.brokers): headers, validation before sending (nothing
 * enqueued on bad input), delivery reports, sync publish, transactions and
 * an unreachable broker.  The integration tests repeat the important
 * claims against a real Kafka broker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "producer_int.h"

#define MAX_DR 16

typedef struct drlog {
    int n;
    sf_err_t err[MAX_DR];
    int32_t partition[MAX_DR];
    int64_t offset[MAX_DR];
    char event_id[MAX_DR][64];
    char errstr[MAX_DR][256];
    void *opaque[MAX_DR];
} drlog_t;

static void on_dr(sf_producer_t *p, const sf_producer_dr_t *dr, void *op) {
    drlog_t *log = op;
    int i = log->n++;

    (void)p;
    assert_true(i < MAX_DR);
    log->err[i] = sf_producer_dr_err(dr);
    log->partition[i] = sf_producer_dr_partition(dr);
    log->offset[i] = sf_producer_dr_offset(dr);
    snprintf(log->event_id[i], 64, "%s", sf_producer_dr_event_id(dr));
    snprintf(log->errstr[i], 256, "%s", sf_producer_dr_errstr(dr));
    log->opaque[i] = sf_producer_dr_opaque(dr);
}

typedef struct fixture {
    sf_catalog_t *cat;
    sf_producer_t *p;
    drlog_t log;
} fixture_t;

static sf_producer_t *make(fixture_t *f, const char *extra_name,
                           const char *extra_value) {
    sf_producer_conf_t *conf = sf_producer_conf_new();
    char err[512];
    sf_producer_t *p;

    assert_int_equal(sf_producer_conf_set(conf, "test.mock.num.brokers", "1",
                                          err, sizeof(err)),
                     SF_OK);
    assert_int_equal(sf_producer_conf_set(conf, "sf.aggregate.type", "cart",
                                          err, sizeof(err)),
                     SF_OK);
    assert_int_equal(
        sf_producer_conf_set(conf, "sf.source", "unit-test", err, sizeof(err)),
        SF_OK);
    sf_producer_conf_set(conf, "log_level", "2", err, sizeof(err));
    if (extra_name)
        assert_int_equal(sf_producer_conf_set(conf, extra_name, extra_value,
                                              err, sizeof(err)),
                         SF_OK);
    sf_producer_conf_set_catalog(conf, f->cat);
    sf_producer_conf_set_dr_cb(conf, on_dr);
    sf_producer_conf_set_opaque(conf, &f->log);
    p = sf_producer_new(conf, err, sizeof(err));
    if (!p)
        fail_msg("sf_producer_new: %s", err);
    return p;
}

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof(*f));
    char err[512];

    f->cat = sf_catalog_new();
    if (sf_catalog_load_dir(f->cat, SF_TEST_SCHEMA_DIR, err, sizeof(err)))
        fail_msg("catalog: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;

    sf_producer_destroy(f->p);
    sf_catalog_destroy(f->cat);
    free(f);
    return 0;
}

static sf_producer_event_t *item_added(const char *cart, const char *qty) {
    sf_producer_event_t *ev = sf_producer_event_new();
    char data[512];

    snprintf(data, sizeof(data),
             "{\"cart_id\": \"%s\", \"sku\": \"sku-1\", \"quantity\": %s, "
             "\"unit_price_cents\": 499, \"added_at\": 1764162309042, "
             "\"currency\": \"EUR\"}",
             cart, qty);
    sf_producer_event_set_type(ev, "shop.cart.ItemAddedToCart");
    sf_producer_event_set_aggregate_id(ev, cart);
    sf_producer_event_set_json_text(ev, data, strlen(data));
    return ev;
}

/* ---------------------------------------------------------------------- */

static const char *hdr(rd_kafka_headers_t *h, const char *name, char *buf,
                       size_t size) {
    const void *v;
    size_t len;

    if (rd_kafka_header_get_last(h, name, &v, &len))
        return NULL;
    assert_true(len < size);
    memcpy(buf, v, len);
    buf[len] = '\0';
    return buf;
}

static void headers_follow_cloudevents_binding(void **state) {
    rd_kafka_headers_t *h;
    char b[128];

    (void)state;
    h = sf__headers_build("id-1", "svc", "shop.cart.CartOpened",
                          "2025-11-26T13:05:09.042Z", "c-1", "cart", 7,
                          "corr-1", "cause-1", "urn:x:1");
    assert_string_equal(hdr(h, "ce_specversion", b, sizeof(b)), "1.0");
    assert_string_equal(hdr(h, "ce_id", b, sizeof(b)), "id-1");
    assert_string_equal(hdr(h, "ce_source", b, sizeof(b)), "svc");
    assert_string_equal(hdr(h, "ce_type", b, sizeof(b)),
                        "shop.cart.CartOpened");
    assert_string_equal(hdr(h, "ce_time", b, sizeof(b)),
                        "2025-11-26T13:05:09.042Z");
    assert_string_equal(hdr(h, "ce_subject", b, sizeof(b)), "c-1");
    assert_string_equal(hdr(h, "content-type", b, sizeof(b)),
                        "application/avro");
    assert_string_equal(hdr(h, "ce_aggregatetype", b, sizeof(b)), "cart");
    assert_string_equal(hdr(h, "ce_sequence", b, sizeof(b)), "7");
    assert_string_equal(hdr(h, "ce_correlationid", b, sizeof(b)), "corr-1");
    assert_string_equal(hdr(h, "ce_causationid", b, sizeof(b)), "cause-1");
    assert_string_equal(hdr(h, "ce_dataschema", b, sizeof(b)), "urn:x:1");
    assert_int_equal(rd_kafka_header_cnt(h), 12);
    rd_kafka_headers_destroy(h);

    /* Optional ones are left out, not sent empty. */
    h = sf__headers_build("id-2", "svc", "t", "x", "c-2", NULL, 0, NULL, NULL,
                          NULL);
    assert_null(hdr(h, "ce_sequence", b, sizeof(b)));
    assert_null(hdr(h, "ce_correlationid", b, sizeof(b)));
    assert_null(hdr(h, "ce_causationid", b, sizeof(b)));
    assert_null(hdr(h, "ce_aggregatetype", b, sizeof(b)));
    assert_null(hdr(h, "ce_dataschema", b, sizeof(b)));
    assert_int_equal(rd_kafka_header_cnt(h), 7);
    rd_kafka_headers_destroy(h);
}

/* Without sf.aggregate.type and with a topic not named "<type>-events",
 * ce_aggregatetype comes from the type's namespace; a type without a
 * namespace gets none. */
static void aggregate_type_falls_back_to_namespace(void **state) {
    fixture_t *f = *state;
    sf_producer_conf_t *conf = sf_producer_conf_new();
    sf_producer_event_t *ev = item_added("cart-5", "1");
    sf_record_t rec;
    char err[512], b[128];

    assert_int_equal(sf_producer_conf_set(conf, "test.mock.num.brokers", "1",
                                          err, sizeof(err)),
                     SF_OK);
    assert_int_equal(sf_producer_conf_set(conf, "sf.topic", "audit-stream", err,
                                          sizeof(err)),
                     SF_OK);
    sf_producer_conf_set_catalog(conf, f->cat);
    f->p = sf_producer_new(conf, err, sizeof(err));
    assert_non_null(f->p);
    assert_int_equal(sf__record_prepare(f->p, ev, &rec, err, sizeof(err)),
                     SF_OK);
    assert_string_equal(rec.topic, "audit-stream");
    assert_string_equal(hdr(rec.hdrs, "ce_aggregatetype", b, sizeof(b)),
                        "cart");
    sf__record_release(&rec);

    sf_producer_event_set_aggregate_type(ev, "basket");
    assert_int_equal(sf__record_prepare(f->p, ev, &rec, err, sizeof(err)),
                     SF_OK);
    assert_string_equal(hdr(rec.hdrs, "ce_aggregatetype", b, sizeof(b)),
                        "basket");
    sf__record_release(&rec);
    sf_producer_event_destroy(ev);
}

/* Every bad event is refused by the publish call and nothing reaches
 * librdkafka: no queued message, no delivery report. */
static void bad_events_are_refused_and_nothing_sent(void **state) {
    fixture_t *f = *state;
    sf_producer_event_t *ev;
    char err[512];
    sf_err_t e;

    f->p = make(f, NULL, NULL);

    ev = item_added("c-1", "2");
    sf_producer_event_set_type(ev, NULL);
    assert_int_equal(sf_producer_publish(f->p, ev, NULL, err, sizeof(err)),
                     SF_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "type"));

    sf_producer_event_set_type(ev, "shop.cart.NoSuchEvent");
    assert_int_equal(sf_producer_publish(f->p, ev, NULL, err, sizeof(err)),
                     SF_ERR_UNKNOWN_TYPE);
    assert_non_null(strstr(err, "shop.cart.NoSuchEvent"));

    sf_producer_event_set_type(ev, "shop.cart.ItemAddedToCart");
    sf_producer_event_set_aggregate_id(ev, NULL);
    assert_int_equal(sf_producer_publish(f->p, ev, NULL, err, sizeof(err)),
                     SF_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "aggregate_id"));
    sf_producer_event_set_aggregate_id(ev, "");
    assert_int_equal(sf_producer_publish(f->p, ev, NULL, err, sizeof(err)),
                     SF_ERR_INVALID_ARG);
    sf_producer_event_destroy(ev);

    /* quantity as a string: the error names the field path */
    ev = item_added("c-1", "\"two\"");
    err[0] = '\0';
    e = sf_producer_publish(f->p, ev, NULL, err, sizeof(err));
    assert_int_not_equal(e, SF_OK);
    assert_non_null(strstr(err, "data.quantity"));
    assert_int_equal(sf_producer_validate(f->p, ev, err, sizeof(err)), e);
    sf_producer_event_destroy(ev);

    /* a required field missing */
    ev = sf_producer_event_new();
    sf_producer_event_set_type(ev, "shop.cart.CartOpened");
    sf_producer_event_set_aggregate_id(ev, "c-1");
    sf_producer_event_set_json_text(ev, "{\"cart_id\": \"c-1\"}", 17);
    assert_int_not_equal(sf_producer_publish(f->p, ev, NULL, err, sizeof(err)),
                         SF_OK);
    /* no payload at all */
    sf_producer_event_clear(ev);
    sf_producer_event_set_type(ev, "shop.cart.CartOpened");
    sf_producer_event_set_aggregate_id(ev, "c-1");
    assert_int_equal(sf_producer_publish(f->p, ev, NULL, err, sizeof(err)),
                     SF_ERR_VALUE);
    /* not JSON */
    sf_producer_event_set_json_text(ev, "{cart_id", 8);
    assert_int_not_equal(sf_producer_publish(f->p, ev, NULL, err, sizeof(err)),
                         SF_OK);
    sf_producer_event_destroy(ev);

    /* a schema version that does not exist */
    ev = item_added("c-1", "2");
    sf_producer_event_set_schema_version(ev, 9);
    assert_int_equal(sf_producer_publish(f->p, ev, NULL, err, sizeof(err)),
                     SF_ERR_UNKNOWN_TYPE);
    sf_producer_event_destroy(ev);

    /* an Avro value of another type's schema */
    {
        const sf_schema_t *s =
            sf_catalog_latest(f->cat, "shop.cart.CartOpened");
        avro_value_iface_t *cls =
            avro_generic_class_from_schema(sf_schema_avro(s));
        avro_value_t v;

        avro_generic_value_new(cls, &v);
        ev = sf_producer_event_new();
        sf_producer_event_set_type(ev, "shop.cart.CartCheckedOut");
        sf_producer_event_set_aggregate_id(ev, "c-1");
        sf_producer_event_set_value(ev, &v);
        assert_int_equal(sf_producer_publish(f->p, ev, NULL, err, sizeof(err)),
                         SF_ERR_VALUE);
        sf_producer_event_destroy(ev);
        avro_value_decref(&v);
        avro_value_iface_decref(cls);
    }

    assert_int_equal(sf_producer_outq_len(f->p), 0);
    assert_int_equal(sf_producer_flush(f->p, 1000, err, sizeof(err)), SF_OK);
    assert_int_equal(f->log.n, 0);
}

/* Consumes one record at topic/partition/offset from the mock cluster. */
static rd_kafka_message_t *fetch(sf_producer_t *p, const char *topic,
                                 int32_t partition, int64_t offset) {
    rd_kafka_mock_cluster_t *mc =
        rd_kafka_handle_mock_cluster(sf_producer_rk(p));
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_topic_partition_list_t *tp;
    rd_kafka_message_t *m = NULL;
    rd_kafka_t *rk;
    char err[256];

    assert_non_null(mc);
    rd_kafka_conf_set(c, "bootstrap.servers",
                      rd_kafka_mock_cluster_bootstraps(mc), err, sizeof(err));
    rd_kafka_conf_set(c, "group.id", "unit", err, sizeof(err));
    rd_kafka_conf_set(c, "log_level", "2", err, sizeof(err));
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    assert_non_null(rk);
    tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, topic, partition)->offset = offset;
    assert_int_equal(rd_kafka_assign(rk, tp), 0);
    rd_kafka_topic_partition_list_destroy(tp);
    for (int i = 0; i < 100 && !m; i++) {
        m = rd_kafka_consumer_poll(rk, 100);
        if (m && m->err) {
            rd_kafka_message_destroy(m);
            m = NULL;
        }
    }
    assert_non_null(m);
    /* detach the message from the consumer before closing it */
    {
        rd_kafka_message_t *copy = calloc(1, sizeof(*copy));
        rd_kafka_headers_t *h = NULL;

        *copy = *m;
        copy->key = malloc(m->key_len);
        memcpy(copy->key, m->key, m->key_len);
        copy->payload = malloc(m->len);
        memcpy(copy->payload, m->payload, m->len);
        if (rd_kafka_message_detach_headers(m, &h) == 0)
            copy->_private = h;
        else
            copy->_private = NULL;
        rd_kafka_message_destroy(m);
        m = copy;
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return m;
}

static void fetched_free(rd_kafka_message_t *m) {
    if (m->_private)
        rd_kafka_headers_destroy(m->_private);
    free(m->key);
    free(m->payload);
    free(m);
}

static void good_event_is_delivered_with_headers_and_value(void **state) {
    fixture_t *f = *state;
    sf_producer_event_t *ev = item_added("cart-77", "2");
    rd_kafka_message_t *m;
    const sf_schema_t *latest;
    sf_decoder_t *dec;
    avro_value_t *val;
    const sf_schema_t *writer;
    char err[512], b[128];
    int token = 5;
    uint64_t fp = 0;

    f->p = make(f, NULL, NULL);
    sf_producer_event_set_version(ev, 3);
    sf_producer_event_set_time_ms(ev, 1764162309042LL);
    sf_producer_event_set_correlation_id(ev, "corr-9");
    assert_int_equal(sf_producer_publish(f->p, ev, &token, err, sizeof(err)),
                     SF_OK);
    assert_int_equal(sf_producer_flush(f->p, 10000, err, sizeof(err)), SF_OK);
    assert_int_equal(f->log.n, 1);
    assert_int_equal(f->log.err[0], SF_OK);
    assert_ptr_equal(f->log.opaque[0], &token);
    assert_true(f->log.partition[0] >= 0);
    assert_true(f->log.offset[0] >= 0);
    assert_int_equal(strlen(f->log.event_id[0]), 36); /* generated UUID */
    assert_int_equal(f->log.event_id[0][14], '4');    /* version 4 */

    m = fetch(f->p, "cart-events", f->log.partition[0], f->log.offset[0]);
    assert_int_equal(m->key_len, 7);
    assert_memory_equal(m->key, "cart-77", 7);
    assert_non_null(m->_private);
    assert_string_equal(hdr(m->_private, "ce_id", b, sizeof(b)),
                        f->log.event_id[0]);
    assert_string_equal(hdr(m->_private, "ce_type", b, sizeof(b)),
                        "shop.cart.ItemAddedToCart");
    assert_string_equal(hdr(m->_private, "ce_subject", b, sizeof(b)),
                        "cart-77");
    assert_string_equal(hdr(m->_private, "ce_sequence", b, sizeof(b)), "3");
    assert_string_equal(hdr(m->_private, "ce_time", b, sizeof(b)),
                        "2025-11-26T13:05:09.042Z");
    assert_string_equal(hdr(m->_private, "ce_aggregatetype", b, sizeof(b)),
                        "cart");
    assert_string_equal(hdr(m->_private, "ce_source", b, sizeof(b)),
                        "unit-test");
    assert_string_equal(hdr(m->_private, "ce_correlationid", b, sizeof(b)),
                        "corr-9");
    /* no causation given: the event starts its chain */
    assert_string_equal(hdr(m->_private, "ce_causationid", b, sizeof(b)),
                        f->log.event_id[0]);

    /* value: C3 01, fingerprint of the newest ItemAddedToCart, body */
    latest = sf_catalog_latest(f->cat, "shop.cart.ItemAddedToCart");
    assert_true(m->len > 10);
    assert_int_equal(((unsigned char *)m->payload)[0], 0xC3);
    assert_int_equal(((unsigned char *)m->payload)[1], 0x01);
    for (int i = 7; i >= 0; i--)
        fp = fp << 8 | ((unsigned char *)m->payload)[2 + i];
    assert_true(fp == sf_schema_fingerprint(latest));
    dec = sf_decoder_new(f->cat);
    assert_int_equal(sf_decoder_decode(dec, m->payload, m->len, &val, &writer,
                                       NULL, err, sizeof(err)),
                     SF_OK);
    {
        avro_value_t field;
        int32_t q = 0;

        assert_int_equal(avro_value_get_by_name(val, "quantity", &field, NULL),
                         0);
        avro_value_get_int(&field, &q);
        assert_int_equal(q, 2);
    }
    sf_decoder_destroy(dec);
    fetched_free(m);
    sf_producer_event_destroy(ev);
}

static void sync_publish_returns_partition_and_offset(void **state) {
    fixture_t *f = *state;
    sf_producer_event_t *ev = item_added("cart-s", "1");
    int32_t part = -5;
    int64_t off1 = -5, off2 = -5;
    char err[512];

    f->p = make(f, NULL, NULL);
    assert_int_equal(
        sf_producer_publish_sync(f->p, ev, &part, &off1, err, sizeof(err)),
        SF_OK);
    assert_true(part >= 0);
    assert_true(off1 >= 0);
    assert_int_equal(
        sf_producer_publish_sync(f->p, ev, &part, &off2, err, sizeof(err)),
        SF_OK);
    assert_int_equal(off2, off1 + 1); /* same key, same partition, next */
    assert_int_equal(f->log.n, 0);    /* sync events skip the callback */
    sf_producer_event_destroy(ev);
}

static void avro_value_payload_picks_matching_writer_version(void **state) {
    fixture_t *f = *state;
    const sf_schema_t *v1 =
        sf_catalog_version(f->cat, "shop.cart.ItemAddedToCart", 1);
    avro_value_iface_t *cls;
    avro_value_t v, fld;
    sf_producer_event_t *ev = sf_producer_event_new();
    rd_kafka_message_t *m;
    int32_t part;
    int64_t off;
    uint64_t fp = 0;
    char err[512];

    assert_non_null(v1);
    f->p = make(f, NULL, NULL);
    cls = avro_generic_class_from_schema(sf_schema_avro(v1));
    avro_generic_value_new(cls, &v);
    avro_value_get_by_name(&v, "cart_id", &fld, NULL);
    avro_value_set_string(&fld, "cart-v1");
    avro_value_get_by_name(&v, "sku", &fld, NULL);
    avro_value_set_string(&fld, "sku-9");
    avro_value_get_by_name(&v, "quantity", &fld, NULL);
    avro_value_set_int(&fld, 4);
    sf_producer_event_set_type(ev, "shop.cart.ItemAddedToCart");
    sf_producer_event_set_aggregate_id(ev, "cart-v1");
    sf_producer_event_set_value(ev, &v);
    avro_value_decref(&v); /* the event holds its own reference */
    assert_int_equal(
        sf_producer_publish_sync(f->p, ev, &part, &off, err, sizeof(err)),
        SF_OK);
    m = fetch(f->p, "cart-events", part, off);
    for (int i = 7; i >= 0; i--)
        fp = fp << 8 | ((unsigned char *)m->payload)[2 + i];
    assert_true(fp == sf_schema_fingerprint(v1));
    fetched_free(m);
    sf_producer_event_destroy(ev);
    avro_value_iface_decref(cls);
}

static void transactions_state_and_batch_validation(void **state) {
    fixture_t *f = *state;
    sf_producer_event_t *evs[3];
    size_t bad = 99;
    char err[512];

    f->p = make(f, "transactional.id", "unit-txn");
    evs[0] = item_added("cart-t", "1");
    evs[1] = item_added("cart-t", "\"x\"");
    evs[2] = item_added("cart-t", "3");

    /* outside a transaction */
    assert_int_equal(sf_producer_publish(f->p, evs[0], NULL, err, sizeof(err)),
                     SF_ERR_STATE);
    assert_int_equal(sf_producer_commit(f->p, err, sizeof(err)), SF_ERR_STATE);
    /* a bad event in the batch: nothing sent, its index reported */
    assert_int_not_equal(
        sf_producer_publish_batch(f->p, evs, 3, &bad, err, sizeof(err)), SF_OK);
    assert_int_equal(bad, 1);
    assert_non_null(strstr(err, "event 1"));
    assert_int_equal(sf_producer_outq_len(f->p), 0);
    assert_int_equal(f->log.n, 0);

    /* begin / publish / abort */
    assert_int_equal(sf_producer_begin(f->p, err, sizeof(err)), SF_OK);
    assert_int_equal(sf_producer_begin(f->p, err, sizeof(err)), SF_ERR_STATE);
    assert_int_equal(sf_producer_publish(f->p, evs[0], NULL, err, sizeof(err)),
                     SF_OK);
    assert_int_equal(sf_producer_abort(f->p, err, sizeof(err)), SF_OK);
    sf_producer_flush(f->p, 5000, NULL, 0);

    /* a good batch commits */
    sf_producer_event_destroy(evs[1]);
    evs[1] = item_added("cart-t", "2");
    f->log.n = 0;
    if (sf_producer_publish_batch(f->p, evs, 3, &bad, err, sizeof(err)))
        fail_msg("batch: %s", err);
    sf_producer_flush(f->p, 5000, NULL, 0);
    assert_int_equal(f->log.n, 3);
    for (int i = 0; i < 3; i++)
        assert_int_equal(f->log.err[i], SF_OK);
    assert_int_equal(f->log.offset[1], f->log.offset[0] + 1);
    for (int i = 0; i < 3; i++)
        sf_producer_event_destroy(evs[i]);
}

/* Generated event ids: RFC 9562 version-4 UUIDs, all distinct, also
 * across refills of the per-thread random pool (256 ids). */
#define NIDS 600
static char ids[NIDS][40];
static int nids;

static void on_dr_id(sf_producer_t *p, const sf_producer_dr_t *dr, void *op) {
    (void)p;
    (void)op;
    assert_int_equal(sf_producer_dr_err(dr), SF_OK);
    assert_true(nids < NIDS);
    snprintf(ids[nids++], sizeof(ids[0]), "%s", sf_producer_dr_event_id(dr));
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(a, b);
}

static void generated_ids_are_distinct_v4_uuids(void **state) {
    fixture_t *f = *state;
    sf_producer_conf_t *conf = sf_producer_conf_new();
    sf_producer_event_t *ev = item_added("cart-id", "1");
    char err[512];

    sf_producer_conf_set(conf, "test.mock.num.brokers", "1", err, sizeof(err));
    sf_producer_conf_set(conf, "sf.aggregate.type", "cart", err, sizeof(err));
    sf_producer_conf_set(conf, "log_level", "2", err, sizeof(err));
    sf_producer_conf_set_catalog(conf, f->cat);
    sf_producer_conf_set_dr_cb(conf, on_dr_id);
    f->p = sf_producer_new(conf, err, sizeof(err));
    assert_non_null(f->p);
    nids = 0;
    for (int i = 0; i < NIDS; i++)
        assert_int_equal(sf_producer_publish(f->p, ev, NULL, err, sizeof(err)),
                         SF_OK);
    assert_int_equal(sf_producer_flush(f->p, 10000, err, sizeof(err)), SF_OK);
    assert_int_equal(nids, NIDS);
    for (int i = 0; i < NIDS; i++) {
        assert_int_equal(strlen(ids[i]), 36);
        assert_int_equal(ids[i][8], '-');
        assert_int_equal(ids[i][14], '4');
        assert_non_null(strchr("89ab", ids[i][19]));
    }
    qsort(ids, NIDS, sizeof(ids[0]), cmp_str);
    for (int i = 1; i < NIDS; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    sf_producer_event_destroy(ev);
}

/* librdkafka's log lines reach the log callback, on the polling thread. */
static int log_lines;
static pthread_t log_thread_expected;

static void on_log(sf_producer_t *p, int level, const char *fac,
                   const char *msg, void *op) {
    (void)p;
    (void)level;
    (void)fac;
    (void)msg;
    (void)op;
    assert_true(pthread_equal(pthread_self(), log_thread_expected));
    log_lines++;
}

static void log_callback_runs_on_polling_thread(void **state) {
    fixture_t *f = *state;
    sf_producer_conf_t *conf = sf_producer_conf_new();
    char err[512];

    sf_producer_conf_set(conf, "bootstrap.servers", "127.0.0.1:1", err,
                         sizeof(err));
    sf_producer_conf_set(conf, "sf.topic", "cart-events", err, sizeof(err));
    sf_producer_conf_set_catalog(conf, f->cat);
    sf_producer_conf_set_log_cb(conf, on_log);
    log_thread_expected = pthread_self();
    log_lines = 0;
    f->p = sf_producer_new(conf, err, sizeof(err));
    assert_non_null(f->p);
    /* connection refused lines are logged by librdkafka's broker thread;
     * they must wait for us to poll */
    for (int i = 0; i < 30 && log_lines == 0; i++)
        sf_producer_poll(f->p, 100);
    assert_true(log_lines > 0);
}

/* No broker: bounded retries, then a failed delivery report. */
static void unreachable_broker_reports_failure(void **state) {
    fixture_t *f = *state;
    sf_producer_conf_t *conf = sf_producer_conf_new();
    sf_producer_event_t *ev = item_added("cart-u", "1");
    char err[512];

    sf_producer_conf_set(conf, "bootstrap.servers", "127.0.0.1:1", err,
                         sizeof(err));
    sf_producer_conf_set(conf, "message.timeout.ms", "1500", err, sizeof(err));
    sf_producer_conf_set(conf, "log_level", "0", err, sizeof(err));
    sf_producer_conf_set(conf, "sf.topic", "cart-events", err, sizeof(err));
    sf_producer_conf_set_catalog(conf, f->cat);
    sf_producer_conf_set_dr_cb(conf, on_dr);
    sf_producer_conf_set_opaque(conf, &f->log);
    f->p = sf_producer_new(conf, err, sizeof(err));
    assert_non_null(f->p);
    assert_int_equal(sf_producer_publish(f->p, ev, NULL, err, sizeof(err)),
                     SF_OK);
    assert_int_equal(sf_producer_flush(f->p, 10000, err, sizeof(err)), SF_OK);
    assert_int_equal(f->log.n, 1);
    assert_int_equal(f->log.err[0], SF_ERR_KAFKA);
    assert_int_equal(f->log.offset[0], -1);
    assert_non_null(strstr(f->log.errstr[0], "cart-events"));
    err[0] = '\0';
    assert_int_equal(
        sf_producer_publish_sync(f->p, ev, NULL, NULL, err, sizeof(err)),
        SF_ERR_KAFKA);
    assert_true(strlen(err) > 0);
    sf_producer_event_destroy(ev);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(headers_follow_cloudevents_binding),
        cmocka_unit_test_setup_teardown(aggregate_type_falls_back_to_namespace,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(bad_events_are_refused_and_nothing_sent,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            good_event_is_delivered_with_headers_and_value, setup, teardown),
        cmocka_unit_test_setup_teardown(
            sync_publish_returns_partition_and_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(
            avro_value_payload_picks_matching_writer_version, setup, teardown),
        cmocka_unit_test_setup_teardown(transactions_state_and_batch_validation,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(unreachable_broker_reports_failure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(generated_ids_are_distinct_v4_uuids,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(log_callback_runs_on_polling_thread,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
