/* test_handler_api.c - what C handlers use: typed reads of event fields by
 * path (every type, unions, arrays, missing and null values, checks at
 * init) and sf_batch_commandf() (one argument per word whatever the data
 * holds, binary safety, conversions, errors that append nothing). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"
#include "config.h"
#include "event.h"
#include "projection.h"
#include "sf_schema.h"

static const char SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"Order\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"qty\",\"type\":\"int\"},"
    "{\"name\":\"total\",\"type\":\"long\"},"
    "{\"name\":\"price\",\"type\":\"double\"},"
    "{\"name\":\"ratio\",\"type\":\"float\"},"
    "{\"name\":\"paid\",\"type\":\"boolean\"},"
    "{\"name\":\"raw\",\"type\":\"bytes\"},"
    "{\"name\":\"status\",\"type\":{\"type\":\"enum\",\"name\":\"S\","
    "\"symbols\":[\"NEW\",\"SHIPPED\"]}},"
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"customer\",\"type\":[\"null\",{\"type\":\"record\","
    "\"name\":\"C\",\"fields\":[{\"name\":\"customer_id\",\"type\":\"string\"},"
    "{\"name\":\"vip\",\"type\":\"boolean\"}]}]},"
    "{\"name\":\"parcels\",\"type\":{\"type\":\"array\",\"items\":{"
    "\"type\":\"record\",\"name\":\"P\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"weight\",\"type\":[\"null\",\"double\"]}]}}},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"string\"}}]}";

static const char FULL[] =
    "{\"id\":\"o 1\",\"qty\":-3,\"total\":9007199254740993,\"price\":2.5,"
    "\"ratio\":0.25,\"paid\":true,\"raw\":\"a\\u0000b\",\"status\":\"SHIPPED\","
    "\"note\":{\"string\":\"fragile\"},"
    "\"customer\":{\"t.C\":{\"customer_id\":\"c:7\",\"vip\":false}},"
    "\"parcels\":[{\"id\":\"p0\",\"weight\":null},"
    "{\"id\":\"p1\",\"weight\":{\"double\":1.5}}],"
    "\"tags\":{\"gift\":\"yes\"}}";

static const char EMPTY[] =
    "{\"id\":\"\",\"qty\":0,\"total\":0,\"price\":0,\"ratio\":0,\"paid\":false,"
    "\"raw\":\"\",\"status\":\"NEW\",\"note\":null,\"customer\":null,"
    "\"parcels\":[],\"tags\":{}}";

static sf_catalog_t *cat;
static sf_config_t *cfg;
static sf_projection_t *proj;
static avro_value_t val;
static int have_val;
static sf_event_t ev;

enum {
    ID,
    QTY,
    TOTAL,
    PRICE,
    RATIO,
    PAID,
    RAW,
    STATUS,
    NOTE,
    CUST_ID,
    VIP,
    P0_ID,
    P_ID,
    P_WEIGHT,
    PARCELS,
    TAG,
    AGG,
    VERSION,
    TIME,
    OFFSET,
    NFIELDS
};
static const char *paths[NFIELDS] = {"data.id",
                                     "data.qty",
                                     "data.total",
                                     "data.price",
                                     "data.ratio",
                                     "data.paid",
                                     "data.raw",
                                     "data.status",
                                     "data.note",
                                     "data.customer.customer_id",
                                     "data.customer.vip",
                                     "data.parcels[0].id",
                                     "data.parcels[*].id",
                                     "data.parcels[*].weight",
                                     "data.parcels",
                                     "data.tags.gift",
                                     "aggregate_id",
                                     "version",
                                     "time",
                                     "offset"};
static const sf_field_t *F[NFIELDS];

static sf_err_t init(sf_projection_t *p, char *errstr, size_t errstr_size) {
    for (int i = 0; i < NFIELDS; i++) {
        sf_err_t e = sf_projection_field(p, i < AGG ? "t.Order" : NULL,
                                         paths[i], &F[i], errstr, errstr_size);
        if (e)
            return e;
    }
    return SF_OK;
}

static sf_err_t nop(void *o, const sf_event_t *e, sf_batch_t *b, char *es,
                    size_t n) {
    (void)o, (void)e, (void)b, (void)es, (void)n;
    return SF_OK;
}

static sf_err_t init_fields(sf_projection_t *p, char *errstr,
                            size_t errstr_size) {
    sf_err_t e = init(p, errstr, errstr_size);
    return e ? e
             : sf_projection_on(p, "t.Order", nop, NULL, errstr, errstr_size);
}

static void event(const char *json) {
    char err[512];
    if (have_val)
        avro_value_decref(&val);
    const sf_schema_t *s = sf_catalog_latest(cat, "t.Order");
    if (sf_value_from_json_text(s, json, strlen(json), "data", &val, err,
                                sizeof(err)))
        fail_msg("%s", err);
    have_val = 1;
    ev.data = &val;
}

static int setup(void **state) {
    (void)state;
    char err[512];
    cat = sf_catalog_new();
    if (sf_catalog_add(cat, SCHEMA, strlen(SCHEMA), "t.Order", 1, NULL, err,
                       sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    if (sf_config_load_string("projections:\n"
                              "  - name: orders\n"
                              "    topics: order-events\n"
                              "    keys: [\"order:*\"]\n",
                              "t.yaml", "/tmp", &cfg, err, sizeof(err)) ||
        sf_projector_register_init("orders", init_fields, err, sizeof(err)) ||
        sf_projection_create(&cfg->proj[0], cat, &proj, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    ev.topic = "order-events";
    ev.partition = 1;
    ev.offset = 77;
    ev.timestamp = 5;
    ev.aggregate_id = "o 1";
    ev.aggregate_id_len = 3;
    ev.type = "t.Order";
    ev.id = "e1";
    ev.time = "2026-11-30T08:00:00.250+01:00";
    ev.version = "12";
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (have_val)
        avro_value_decref(&val);
    sf_projection_destroy(proj);
    sf_config_destroy(cfg);
    sf_catalog_destroy(cat);
    return 0;
}

static void every_type(void **state) {
    (void)state;
    char err[256] = "";
    const char *s;
    size_t len;
    int64_t i;
    double d;
    int b;
    event(FULL);
    assert_int_equal(sf_event_string(&ev, F[ID], &s, &len, err, sizeof err),
                     SF_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "o 1", 3);
    assert_int_equal(sf_event_int64(&ev, F[QTY], &i, err, sizeof err), SF_OK);
    assert_int_equal(i, -3);
    assert_int_equal(sf_event_int64(&ev, F[TOTAL], &i, err, sizeof err), SF_OK);
    assert_true(i == 9007199254740993LL); /* 2^53 + 1: no double on the way */
    assert_int_equal(sf_event_double(&ev, F[PRICE], &d, err, sizeof err),
                     SF_OK);
    assert_true(d == 2.5);
    assert_int_equal(sf_event_double(&ev, F[RATIO], &d, err, sizeof err),
                     SF_OK);
    assert_true(d == 0.25);
    assert_int_equal(sf_event_double(&ev, F[QTY], &d, err, sizeof err), SF_OK);
    assert_true(d == -3.0);
    assert_int_equal(sf_event_bool(&ev, F[PAID], &b, err, sizeof err), SF_OK);
    assert_int_equal(b, 1);
    /* bytes with a NUL: the length says it all */
    assert_int_equal(sf_event_string(&ev, F[RAW], &s, &len, err, sizeof err),
                     SF_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "a\0b", 3);
    assert_int_equal(sf_event_string(&ev, F[STATUS], &s, &len, err, sizeof err),
                     SF_OK);
    assert_int_equal(len, 7);
    assert_memory_equal(s, "SHIPPED", 7);
    assert_int_equal(sf_event_string(&ev, F[TAG], &s, &len, err, sizeof err),
                     SF_OK);
    assert_memory_equal(s, "yes", 3);
}

static void envelope(void **state) {
    (void)state;
    char err[256] = "";
    const char *s;
    size_t len;
    int64_t i;
    event(FULL);
    assert_int_equal(sf_event_string(&ev, F[AGG], &s, &len, err, sizeof err),
                     SF_OK);
    assert_int_equal(len, 3);
    assert_int_equal(sf_event_int64(&ev, F[VERSION], &i, err, sizeof err),
                     SF_OK);
    assert_int_equal(i, 12);
    assert_int_equal(sf_event_aggregate_version(&ev), 12);
    /* 2026-11-30T07:00:00.250Z */
    assert_int_equal(sf_event_int64(&ev, F[TIME], &i, err, sizeof err), SF_OK);
    assert_true(i == 1796022000250LL);
    assert_true(sf_event_time_ms(&ev) == 1796022000250LL);
    assert_int_equal(sf_event_int64(&ev, F[OFFSET], &i, err, sizeof err),
                     SF_OK);
    assert_int_equal(i, 77);
    assert_int_not_equal(
        sf_event_string(&ev, F[OFFSET], &s, &len, err, sizeof err), SF_OK);
    sf_event_t bad = ev;
    bad.version = "";
    assert_int_equal(sf_event_aggregate_version(&bad), -1);
    bad.version = "3x";
    assert_int_equal(sf_event_aggregate_version(&bad), -1);
    assert_int_equal(sf_event_int64(&bad, F[VERSION], &i, err, sizeof err),
                     SF_ERR_VALUE);
    assert_non_null(strstr(err, "version"));
    bad.time = "";
    assert_true(sf_event_time_ms(&bad) == 5); /* the Kafka timestamp */
}

static void unions_and_nulls(void **state) {
    (void)state;
    char err[256] = "";
    const char *s;
    size_t len;
    int b;
    event(FULL);
    assert_false(sf_event_is_null(&ev, F[NOTE]));
    assert_int_equal(sf_event_string(&ev, F[NOTE], &s, &len, err, sizeof err),
                     SF_OK);
    assert_memory_equal(s, "fragile", 7);
    assert_int_equal(
        sf_event_string(&ev, F[CUST_ID], &s, &len, err, sizeof err), SF_OK);
    assert_int_equal(len, 3);
    assert_memory_equal(s, "c:7", 3);
    assert_int_equal(sf_event_bool(&ev, F[VIP], &b, err, sizeof err), SF_OK);
    assert_int_equal(b, 0);
    event(EMPTY);
    assert_true(sf_event_is_null(&ev, F[NOTE]));
    assert_int_equal(sf_event_string(&ev, F[NOTE], &s, &len, err, sizeof err),
                     SF_ERR_NOT_FOUND);
    assert_string_equal(err, "data.note: null");
    /* the optional record is absent: so is everything inside it */
    assert_true(sf_event_is_null(&ev, F[CUST_ID]));
    assert_int_equal(sf_event_bool(&ev, F[VIP], &b, err, sizeof err),
                     SF_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "data.customer.vip"));
    /* an empty string is a value, not null */
    assert_false(sf_event_is_null(&ev, F[ID]));
    assert_int_equal(sf_event_string(&ev, F[ID], &s, &len, err, sizeof err),
                     SF_OK);
    assert_int_equal(len, 0);
}

static void arrays(void **state) {
    (void)state;
    char err[256] = "";
    const char *s;
    size_t len, n;
    double d;
    event(FULL);
    assert_int_equal(sf_event_string(&ev, F[P0_ID], &s, &len, err, sizeof err),
                     SF_OK);
    assert_memory_equal(s, "p0", 2);
    assert_int_equal(sf_event_count(&ev, F[P_ID], &n, err, sizeof err), SF_OK);
    assert_int_equal(n, 2);
    assert_int_equal(sf_event_count(&ev, F[PARCELS], &n, err, sizeof err),
                     SF_OK);
    assert_int_equal(n, 2);
    assert_int_equal(
        sf_event_string_at(&ev, F[P_ID], 1, &s, &len, err, sizeof err), SF_OK);
    assert_memory_equal(s, "p1", 2);
    assert_true(sf_event_is_null_at(&ev, F[P_WEIGHT], 0));
    assert_false(sf_event_is_null_at(&ev, F[P_WEIGHT], 1));
    assert_int_equal(
        sf_event_double_at(&ev, F[P_WEIGHT], 1, &d, err, sizeof err), SF_OK);
    assert_true(d == 1.5);
    assert_int_equal(
        sf_event_string_at(&ev, F[P_ID], 2, &s, &len, err, sizeof err),
        SF_ERR_RULE);
    assert_non_null(strstr(err, "data.parcels[*].id: index 2 out of range"));
    event(EMPTY);
    assert_int_equal(sf_event_count(&ev, F[P_ID], &n, err, sizeof err), SF_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sf_event_string(&ev, F[P0_ID], &s, &len, err, sizeof err),
                     SF_ERR_RULE);
    assert_non_null(strstr(err, "data.parcels[0].id"));
    /* a missing map key names the path */
    assert_int_equal(sf_event_string(&ev, F[TAG], &s, &len, err, sizeof err),
                     SF_ERR_RULE);
    assert_non_null(strstr(err, "data.tags.gift"));
}

static void wrong_types_name_the_path(void **state) {
    (void)state;
    char err[256] = "";
    const char *s;
    size_t len;
    int64_t i;
    int b;
    event(FULL);
    assert_int_equal(sf_event_int64(&ev, F[ID], &i, err, sizeof err),
                     SF_ERR_RULE);
    assert_string_equal(err, "data.id: a string, not an int or long");
    assert_int_equal(sf_event_string(&ev, F[QTY], &s, &len, err, sizeof err),
                     SF_ERR_RULE);
    assert_non_null(strstr(err, "data.qty"));
    assert_int_equal(sf_event_bool(&ev, F[PRICE], &b, err, sizeof err),
                     SF_ERR_RULE);
    assert_int_equal(sf_event_int64(&ev, F[PRICE], &i, err, sizeof err),
                     SF_ERR_RULE);
}

/* paths are checked at init against the catalog: a typo fails at start */
static void fields_checked_at_init(void **state) {
    (void)state;
    char err[256] = "";
    const sf_field_t *f = NULL;
    assert_int_equal(sf_projection_field(proj, "t.Order", "data.custmer.vip",
                                         &f, err, sizeof err),
                     SF_ERR_RULE);
    assert_non_null(strstr(err, "data.custmer.vip"));
    assert_int_equal(
        sf_projection_field(proj, "t.Ordr", "data.id", &f, err, sizeof err),
        SF_ERR_UNKNOWN_TYPE);
    assert_non_null(strstr(err, "t.Ordr"));
    assert_int_equal(sf_projection_field(proj, NULL, "data.parcels[*].x[*]", &f,
                                         err, sizeof err),
                     SF_ERR_PARSE);
    assert_non_null(strstr(err, "only one [*]"));
    assert_int_equal(
        sf_projection_field(proj, NULL, "dta.id", &f, err, sizeof err),
        SF_ERR_PARSE);
    assert_non_null(strstr(err, "dta.id"));
    assert_int_equal(
        sf_projection_field(proj, NULL, "data.id", &f, err, sizeof err), SF_OK);
}

/* ---- sf_batch_commandf ---- */

static sf_batch_t bt;

static void begin(void) {
    sf_batch_reset(&bt);
    sf_batch_event_begin(&bt, 1, 0);
}

/* argument k of the event's first command (0 = the name) */
static void expect_arg(size_t k, const void *want, size_t len) {
    size_t at = 3 + k; /* offset, ncmds, nargs */
    assert_true(at < bt.nargs);
    assert_int_equal(bt.alen[at], len);
    assert_memory_equal(bt.data.p + bt.aoff[at], want, len);
}

static size_t cmd_args(void) {
    return bt.nargs - 3;
}

static void commandf_one_argument_per_word(void **state) {
    (void)state;
    char err[256] = "";
    sf_batch_init(&bt);
    begin();
    const char *spaced = "a b  c\r\nSET x y";
    const char bin[] = {'x', 0, 'y', ' ', 'z'};
    assert_int_equal(sf_batch_commandf(&bt, err, sizeof err,
                                       "HSET view:%s f%b %s", spaced, bin,
                                       sizeof bin, ""),
                     SF_OK);
    assert_int_equal(cmd_args(), 4);
    expect_arg(0, "HSET", 4);
    expect_arg(1, "view:a b  c\r\nSET x y", 20);
    expect_arg(2, "fx\0y z", 6);
    expect_arg(3, "", 0); /* an empty value is an empty argument */
    /* several spaces between words are one separator */
    begin();
    assert_int_equal(
        sf_batch_commandf(&bt, err, sizeof err, "  SET   k   %s  ", "%d %s"),
        SF_OK);
    assert_int_equal(cmd_args(), 3);
    expect_arg(2, "%d %s", 5); /* data is never re-parsed */
}

static void commandf_conversions(void **state) {
    (void)state;
    char err[256] = "";
    begin();
    assert_int_equal(sf_batch_commandf(&bt, err, sizeof err,
                                       "HSET k:%d a %lld b %llu c %ld d %u "
                                       "e %zu f %f g 100%%",
                                       -7, (long long)INT64_MIN,
                                       (unsigned long long)UINT64_MAX, (long)-1,
                                       4000000000u, (size_t)9, 0.1),
                     SF_OK);
    assert_int_equal(cmd_args(), 16);
    expect_arg(1, "k:-7", 4);
    expect_arg(3, "-9223372036854775808", 20);
    expect_arg(5, "18446744073709551615", 20);
    expect_arg(7, "-1", 2);
    expect_arg(9, "4000000000", 10);
    expect_arg(11, "9", 1);
    expect_arg(13, "0.10000000000000001", 19);
    expect_arg(15, "100%", 4);
    /* ids in keys are escaped, %K with a length */
    begin();
    assert_int_equal(sf_batch_commandf(&bt, err, sizeof err,
                                       "SET cart:%k:items:%K %k", "c42:x",
                                       "a%\nb", (size_t)4, "v:1"),
                     SF_OK);
    assert_int_equal(cmd_args(), 3);
    expect_arg(1, "cart:c42%3Ax:items:a%25%0Ab", 27);
    expect_arg(2, "v%3A1", 5);
}

static void commandf_errors_append_nothing(void **state) {
    (void)state;
    char err[256] = "";
    begin();
    size_t before = bt.nargs;
    assert_int_equal(sf_batch_commandf(&bt, err, sizeof err, "SET k %q", 1),
                     SF_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "\"%q\" at byte 6"));
    assert_int_equal(sf_batch_commandf(&bt, err, sizeof err, "SET k:%k v", ""),
                     SF_ERR_RULE);
    assert_non_null(strstr(err, "empty id"));
    assert_int_equal(sf_batch_commandf(&bt, err, sizeof err, "SET k %"),
                     SF_ERR_INVALID_ARG);
    assert_int_equal(sf_batch_commandf(&bt, err, sizeof err, "   "),
                     SF_ERR_INVALID_ARG);
    assert_int_equal(sf_batch_commandf(&bt, err, sizeof err, "FLUSHALL"),
                     SF_ERR_RULE);
    assert_int_equal(bt.nargs, before);
}

static void commandf_large(void **state) {
    (void)state;
    char err[256] = "";
    char fmt[512] = "RPUSH big";
    for (int i = 0; i < 40; i++)
        strcat(fmt, " %s");
    static char big[3000];
    memset(big, 'q', sizeof big - 1);
    begin();
    assert_int_equal(
        sf_batch_commandf(&bt, err, sizeof err, fmt, big, "1", "2", "3", "4",
                          "5", "6", "7", "8", "9", "10", "11", "12", "13", "14",
                          "15", "16", "17", "18", "19", "20", "21", "22", "23",
                          "24", "25", "26", "27", "28", "29", "30", "31", "32",
                          "33", "34", "35", "36", "37", "38", "39"),
        SF_OK);
    assert_int_equal(cmd_args(), 42);
    expect_arg(2, big, sizeof big - 1);
    expect_arg(41, "39", 2);
    sf_batch_free(&bt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_type),
        cmocka_unit_test(envelope),
        cmocka_unit_test(unions_and_nulls),
        cmocka_unit_test(arrays),
        cmocka_unit_test(wrong_types_name_the_path),
        cmocka_unit_test(fields_checked_at_init),
        cmocka_unit_test(commandf_one_argument_per_word),
        cmocka_unit_test(commandf_conversions),
        cmocka_unit_test(commandf_errors_append_nothing),
        cmocka_unit_test(commandf_large),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
