/*
 * test_hotpath.c - the per-event fast paths give exactly what the plain
 * ways they replaced give:
 *   - sf_event_envelope (one pass over the headers with
 *     rd_kafka_header_get_all) against five rd_kafka_header_get_last
 *     look-ups, over random header lists with repeats, null values, other
 *     headers and a missing ce_subject (the key stands in);
 *   - sf_fmt_i64 against snprintf("%" PRId64);
 *   - sf_batch_cmd_check (one pass over the packed arguments) against
 *     sf_cmdspec_check followed by sf_keyguard_check_cmd on the same
 *     command: same verdict, same error text, the guard noted the same way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"
#include "cmdspec.h"
#include "event.h"
#include "keys.h"
#include "util.h"

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const NAMES[] = {
    "ce_subject", "ce_type",      "ce_id",          "ce_time", "ce_sequence",
    "ce_source",  "content-type", "ce_specversion", "x"};

/* the reference: what the projector did before, five get_last calls */
static void reference(rd_kafka_headers_t *h, const char *key, int i,
                      const char **v, size_t *n, int *from_key) {
    static const char *const five[] = {"ce_subject", "ce_type", "ce_id",
                                       "ce_time", "ce_sequence"};
    const void *val = NULL;
    size_t size = 0;
    *from_key = 0;
    if (rd_kafka_header_get_last(h, five[i], &val, &size) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        val) {
        *v = val;
        *n = size;
    } else if (i == 0 && key) {
        *v = key;
        *n = strlen(key);
        *from_key = 1;
    } else {
        *v = "";
        *n = 0;
    }
}

static void envelope_matches_get_last(void **state) {
    (void)state;
    sf_event_t ev;
    memset(&ev, 0, sizeof ev);
    for (int round = 0; round < 3000; round++) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(8);
        int nh = (int)(next() % 12);
        char vals[12][16];
        for (int k = 0; k < nh; k++) {
            const char *name = NAMES[next() % 9];
            snprintf(vals[k], sizeof vals[k], "v%d-%d", round, k);
            if (next() % 7 == 0) /* a header with a null value */
                rd_kafka_header_add(h, name, -1, NULL, 0);
            else
                rd_kafka_header_add(h, name, -1, vals[k],
                                    (ssize_t)(next() % 5 == 0 ? 0 : -1));
        }
        const char *key = next() % 3 ? "the-key" : NULL;
        assert_int_equal(sf_event_envelope(&ev, h, key, key ? strlen(key) : 0),
                         SF_OK);
        const char *got[5] = {ev.aggregate_id, ev.type, ev.id, ev.time,
                              ev.version};
        size_t glen[5] = {ev.aggregate_id_len, ev.type_len, ev.id_len,
                          ev.time_len, ev.version_len};
        for (int i = 0; i < 5; i++) {
            const char *v;
            size_t n;
            int fk;
            reference(h, key, i, &v, &n, &fk);
            assert_int_equal(glen[i], n);
            assert_memory_equal(got[i], v, n);
            assert_int_equal(got[i][n], '\0');
            if (i == 0)
                assert_int_equal(ev.id_from_key, fk);
        }
        assert_ptr_equal(ev.hdrs, h);
        rd_kafka_headers_destroy(h);
    }
    sf_event_clear(&ev);
}

static void fmt_i64_matches_snprintf(void **state) {
    (void)state;
    int64_t edge[] = {0,
                      1,
                      -1,
                      9,
                      10,
                      -10,
                      99,
                      100,
                      INT32_MAX,
                      INT32_MIN,
                      (int64_t)INT32_MAX + 1,
                      INT64_MAX,
                      INT64_MIN,
                      INT64_MIN + 1,
                      1000000000000000000ll};
    char a[SF_I64_DIGITS], b[32];
    for (size_t i = 0; i < sizeof edge / sizeof edge[0] + 100000; i++) {
        int64_t v = i < sizeof edge / sizeof edge[0]
                        ? edge[i]
                        : (int64_t)(next() >> (next() % 64));
        if (i % 2)
            v = -v;
        size_t n = sf_fmt_i64(a, v);
        int m = snprintf(b, sizeof b, "%" PRId64, v);
        assert_int_equal(n, (size_t)m);
        assert_string_equal(a, b);
    }
}

/* one command built into a batch the way rules.c builds it */
static sf_err_t via_batch(sf_batch_t *b, size_t argc, const char *const *argv,
                          char *err, size_t size) {
    sf_batch_reset(b);
    assert_int_equal(sf_batch_event_begin(b, 7, 0), SF_OK);
    assert_int_equal(sf_batch_cmd_begin(b, argc), SF_OK);
    for (size_t i = 0; i < argc; i++)
        assert_int_equal(sf_batch_arg(b, argv[i], strlen(argv[i])), SF_OK);
    return sf_batch_cmd_check(b, err, size);
}

static void one_pass_check_matches_two(void **state) {
    (void)state;
    static const char *const pats[] = {"cart:*", "count"};
    sf_keyguard_t *g = NULL;
    char err[512];
    assert_int_equal(sf_keyguard_new(pats, 2, &g, err, sizeof err), SF_OK);
    struct {
        size_t argc;
        const char *argv[6];
    } cases[] = {
        {4, {"HSET", "cart:1", "status", "open"}},
        {4, {"hincrby", "cart:1:items", "sku", "2"}},
        {4, {"HSET", "cart:1", "status", "open"}},
        {3, {"HSET", "cart:1", "status"}},        /* pairs */
        {2, {"HSET", "cart:1"}},                  /* arity */
        {4, {"HSET", "sf:p:ckpt:t:0", "a", "b"}}, /* reserved */
        {4, {"HSET", "other:1", "a", "b"}},       /* guard */
        {4, {"HSET", "cart::1", "a", "b"}},       /* empty id */
        {3, {"SET", "count", "1"}},
        {3, {"GET", "count", "1"}},                         /* not a write */
        {5, {"DEL", "cart:1", "count", "other", "cart:2"}}, /* guard, 3rd */
        {5, {"DEL", "cart:1", "sf:x", "other", "cart:2"}},  /* reserved */
        {3, {"SADD", "cart:\x01", "m"}},                    /* control */
    };
    sf_batch_t b;
    sf_batch_init(&b);
    for (int with_guard = 0; with_guard < 2; with_guard++) {
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            size_t argc = cases[c].argc;
            const char *const *argv = cases[c].argv;
            size_t lens[6];
            for (size_t i = 0; i < argc; i++)
                lens[i] = strlen(argv[i]);
            char want[512] = "", got[512] = "";
            sf_err_t we = sf_cmdspec_check(argc, argv, lens, want, sizeof want);
            int guard_hit = 0;
            if (!we && with_guard) {
                we = sf_keyguard_check_cmd(g, argc, argv, lens, want,
                                           sizeof want);
                guard_hit = we != SF_OK;
            }
            sf_keyguard_event_reset(g);
            b.guard = with_guard ? g : NULL;
            sf_err_t ge = via_batch(&b, argc, argv, got, sizeof got);
            assert_int_equal(ge, we);
            if (we)
                assert_string_equal(got, want);
            /* a guard violation is remembered for the event; nothing else */
            if (guard_hit)
                assert_string_equal(sf_keyguard_violation(g), want);
            else
                assert_null(sf_keyguard_violation(g));
        }
    }
    sf_batch_free(&b);
    sf_keyguard_destroy(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(envelope_matches_get_last),
        cmocka_unit_test(fmt_i64_matches_snprintf),
        cmocka_unit_test(one_pass_check_matches_two),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
