/* test_dedup.c - the duplicate rule's C side (dedup.h): which ce_sequence
 * values are versions, the version key and id tag, the entries a batch
 * sends to the apply script, and the verdicts journey --fold uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"
#include "dedup.h"

static void versions(void **state) {
    (void)state;
    int64_t v = -7;
    assert_int_equal(sf_dedup_parse_version("", 0, &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(sf_dedup_parse_version("1", 1, &v), 1);
    assert_int_equal(v, 1);
    assert_int_equal(sf_dedup_parse_version("9007199254740992", 16, &v), 1);
    assert_int_equal(v, 9007199254740992LL);
    /* refused: zero, sign, leading zero, spaces, letters, above 2^53 */
    const char *bad[] = {"0",
                         "-1",
                         "+1",
                         "01",
                         " 1",
                         "1 ",
                         "1a",
                         "x",
                         "1.0",
                         "9007199254740993",
                         "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(sf_dedup_parse_version(bad[i], strlen(bad[i]), &v),
                         -1);
    /* the bytes given, not up to a NUL: "12" of "123" */
    assert_int_equal(sf_dedup_parse_version("123", 2, &v), 1);
    assert_int_equal(v, 12);
}

static void key_and_tag(void **state) {
    (void)state;
    sf_buf_t k = {0};
    assert_int_equal(sf_dedup_key(&k, "carts", "cart-events", 7, "a:b}c", 5),
                     SF_OK);
    assert_string_equal(k.p, "sf:carts:ver:cart-events:7:{a:b}c}");
    sf_buf_free(&k);
    char t1[9], t2[9], t3[9];
    sf_dedup_id_tag("e-1", 3, t1);
    sf_dedup_id_tag("e-1", 3, t2);
    sf_dedup_id_tag("e-2", 3, t3);
    assert_int_equal(strlen(t1), 8);
    assert_string_equal(t1, t2);
    assert_string_not_equal(t1, t3);
    /* FNV-1a 32 of "a" (the published test vector) */
    sf_dedup_id_tag("a", 1, t1);
    assert_string_equal(t1, "e40c292c");
    sf_dedup_id_tag("", 0, t1);
    assert_string_equal(t1, "");
}

static sf_event_t mkev(const char *agg, const char *ver, const char *id) {
    sf_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.topic = "cart-events";
    ev.aggregate_id = agg;
    ev.aggregate_id_len = strlen(agg);
    ev.version = ver;
    ev.version_len = strlen(ver);
    ev.id = id;
    ev.id_len = strlen(id);
    return ev;
}

static const char *s(const char *p, size_t n, char *buf) {
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

static void entries(void **state) {
    (void)state;
    sf_batch_t b;
    char err[256], buf[128], nb[24];
    sf_batch_init(&b);
    b.dedup = 1;
    sf_event_t e1 = mkev("c1", "3", ""), e2 = mkev("c1", "", "x"),
               e3 = mkev("c2", "4", "e-9"), bad = mkev("c3", "v1", "");
    e3.partition = 5; /* the partition is part of the key */
    assert_int_equal(sf_batch_event_begin(&b, 10, 0), SF_OK);
    assert_int_equal(sf_dedup_event(&b, "p", &e1, err, sizeof(err)), SF_OK);
    assert_int_equal(sf_batch_event_end(&b), SF_OK);
    assert_int_equal(sf_batch_event_begin(&b, 11, 0), SF_OK); /* no version */
    assert_int_equal(sf_dedup_event(&b, "p", &e2, err, sizeof(err)), SF_OK);
    assert_int_equal(sf_batch_event_end(&b), SF_OK);
    assert_int_equal(sf_batch_event_begin(&b, 12, 0), SF_OK);
    assert_int_equal(sf_dedup_event(&b, "p", &e3, err, sizeof(err)), SF_OK);
    assert_int_equal(sf_batch_event_end(&b), SF_OK);
    /* a malformed version: refused, naming the header and value */
    assert_int_equal(sf_batch_event_begin(&b, 13, 0), SF_OK);
    assert_int_equal(sf_dedup_event(&b, "p", &bad, err, sizeof(err)),
                     SF_ERR_VALUE);
    assert_non_null(strstr(err, "ce_sequence \"v1\""));
    assert_int_equal(sf_batch_event_end(&b), SF_OK);

    assert_int_equal(sf_dedup_nargs(&b), 9);
    const char *argv[9];
    size_t lens[9];
    sf_dedup_argv(&b, argv, lens, nb, sizeof(nb));
    char tag[9];
    sf_dedup_id_tag("e-9", 3, tag);
    const char *exp[9] = {"2", "10", "sf:p:ver:cart-events:0:{c1}", "3",
                          "",  "12", "sf:p:ver:cart-events:5:{c2}", "4",
                          tag};
    for (int i = 0; i < 9; i++)
        assert_string_equal(s(argv[i], lens[i], buf), exp[i]);

    /* an event removed again (on_error: stop) takes its entry along */
    sf_dedup_event_drop(&b, 12);
    assert_int_equal(sf_dedup_nargs(&b), 5);
    sf_dedup_event_drop(&b, 99); /* not the last entry: nothing */
    assert_int_equal(sf_dedup_nargs(&b), 5);

    /* the rule off: "-1" and no entries; reset empties */
    b.dedup = 0;
    assert_int_equal(sf_dedup_nargs(&b), 1);
    sf_dedup_argv(&b, argv, lens, nb, sizeof(nb));
    assert_string_equal(s(argv[0], lens[0], buf), "-1");
    b.dedup = 1;
    sf_batch_reset(&b);
    assert_int_equal(sf_dedup_nargs(&b), 1);
    sf_batch_free(&b);
}

/* what the worker records when it dead-letters an event that failed in
 * Redis: the same key and value the apply script would write */
static void record_of(void **state) {
    (void)state;
    sf_buf_t k = {0};
    char val[40], tag[9];
    sf_event_t e = mkev("c1", "7", "e-7"), none = mkev("c1", "", "e-8"),
               bad = mkev("c1", "07", "e-9"), noid = mkev("c2", "3", "");
    e.partition = 4;
    assert_int_equal(sf_dedup_record_of(1, "p", &e, &k, val), 1);
    assert_string_equal(k.p, "sf:p:ver:cart-events:4:{c1}");
    sf_dedup_id_tag("e-7", 3, tag);
    char want[40];
    snprintf(want, sizeof(want), "7:%s", tag);
    assert_string_equal(val, want);
    assert_int_equal(sf_dedup_record_of(1, "p", &noid, &k, val), 1);
    assert_string_equal(val, "3");
    assert_int_equal(sf_dedup_record_of(0, "p", &e, &k, val), 0);
    assert_int_equal(sf_dedup_record_of(1, "p", &none, &k, val), 0);
    assert_int_equal(sf_dedup_record_of(1, "p", &bad, &k, val), 0);
    sf_buf_free(&k);
}

static void judge(void **state) {
    (void)state;
    int64_t v = 0;
    char tag[9], t1[9];
    sf_event_t e = mkev("c1", "1", "e-1");
    sf_dedup_id_tag("e-1", 3, t1);
    assert_string_equal(sf_dedup_judge(1, &e, 0, "", &v, tag), "next");
    assert_int_equal(v, 1);
    assert_string_equal(tag, t1);
    /* the same event again, then another writer's event of version 1 */
    assert_string_equal(sf_dedup_judge(1, &e, 1, t1, &v, tag), "duplicate");
    sf_event_t other = mkev("c1", "1", "e-other");
    assert_string_equal(sf_dedup_judge(1, &other, 1, t1, &v, tag), "conflict");
    /* without ids a same version is a plain duplicate */
    sf_event_t noid = mkev("c1", "1", "");
    assert_string_equal(sf_dedup_judge(1, &noid, 1, t1, &v, tag), "duplicate");
    sf_event_t old = mkev("c1", "1", "e-x");
    assert_string_equal(sf_dedup_judge(1, &old, 5, t1, &v, tag), "duplicate");
    sf_event_t jump = mkev("c1", "7", "e-7");
    assert_string_equal(sf_dedup_judge(1, &jump, 5, t1, &v, tag), "gap");
    assert_int_equal(v, 7);
    sf_event_t first = mkev("c1", "3", "e-3");
    assert_string_equal(sf_dedup_judge(1, &first, 0, "", &v, tag), "gap");
    sf_event_t none = mkev("c1", "", "e");
    assert_string_equal(sf_dedup_judge(1, &none, 5, t1, &v, tag),
                        "unversioned");
    assert_string_equal(sf_dedup_judge(0, &e, 5, t1, &v, tag), "unversioned");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(versions),  cmocka_unit_test(key_and_tag),
        cmocka_unit_test(entries),   cmocka_unit_test(judge),
        cmocka_unit_test(record_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
