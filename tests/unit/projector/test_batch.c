/* test_batch.c - batch layout, allow-list, murmur2, RFC 3339 parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "batch.h"
#include "util.h"

/* argument i of b as a C string (test helper; args have no NULs here) */
static const char *arg(sf_batch_t *b, size_t i, char *buf, size_t size) {
    size_t n = b->alen[i] < size - 1 ? b->alen[i] : size - 1;
    memcpy(buf, b->data.p + b->aoff[i], n);
    buf[n] = '\0';
    return buf;
}

static void layout(void **state) {
    (void)state;
    sf_batch_t b;
    char buf[64], err[256];
    sf_batch_init(&b);
    assert_int_equal(sf_batch_event_begin(&b, 41, 1000), SF_OK);
    const char *c1[] = {"HSET", "cart:1", "status", "open"};
    assert_int_equal(sf_batch_command(&b, 4, c1, NULL, err, sizeof(err)),
                     SF_OK);
    const char *c2[] = {"SADD", "carts", "1"};
    assert_int_equal(sf_batch_command(&b, 3, c2, NULL, err, sizeof(err)),
                     SF_OK);
    assert_int_equal(sf_batch_event_end(&b), SF_OK);
    assert_int_equal(sf_batch_event_begin(&b, 42, 1001), SF_OK);
    assert_int_equal(sf_batch_event_end(&b), SF_OK);
    /* 41 2 4 HSET cart:1 status open 3 SADD carts 1 42 0 */
    const char *want[] = {"41",     "2",    "4", "HSET", "cart:1",
                          "status", "open", "3", "SADD", "carts",
                          "1",      "42",   "0"};
    assert_int_equal(b.nargs, 13);
    for (size_t i = 0; i < 13; i++)
        assert_string_equal(arg(&b, i, buf, sizeof(buf)), want[i]);
    assert_int_equal(b.nevents, 2);
    assert_int_equal(b.ncmds, 2);
    assert_int_equal(b.first_offset, 41);
    assert_int_equal(b.last_offset, 42);
    const char **argv;
    size_t *lens;
    size_t argc = sf_batch_argv(&b, 3, &argv, &lens);
    assert_int_equal(argc, 16);
    assert_int_equal(lens[3], 2);
    assert_memory_equal(argv[3], "41", 2);
    sf_batch_free(&b);
}

static void iterate_commands(void **state) {
    (void)state;
    sf_batch_t b;
    char err[256];
    sf_batch_init(&b);
    /* digits of neighbouring arguments touch: the walk must not merge them */
    sf_batch_event_begin(&b, 12, 0);
    const char *c1[] = {"INCRBY", "k", "34"};
    sf_batch_command(&b, 3, c1, NULL, err, sizeof(err));
    sf_batch_event_end(&b);
    sf_batch_event_begin(&b, 13, 0); /* no commands */
    sf_batch_event_end(&b);
    sf_batch_event_begin(&b, 14, 0);
    const char *c2[] = {"DEL", "a"};
    const char *c3[] = {"SADD", "s", "1", "2"};
    sf_batch_command(&b, 2, c2, NULL, err, sizeof(err));
    sf_batch_command(&b, 4, c3, NULL, err, sizeof(err));
    sf_batch_event_end(&b);
    sf_batch_iter_t it = {0};
    int64_t off;
    size_t argc, a0;
    assert_int_equal(sf_batch_next_cmd(&b, &it, &off, &argc, &a0), 1);
    assert_int_equal(off, 12);
    assert_int_equal(argc, 3);
    assert_memory_equal(b.data.p + b.aoff[a0], "INCRBY", 6);
    assert_int_equal(sf_batch_next_cmd(&b, &it, &off, &argc, &a0), 1);
    assert_int_equal(off, 14);
    assert_int_equal(argc, 2);
    assert_int_equal(sf_batch_next_cmd(&b, &it, &off, &argc, &a0), 1);
    assert_int_equal(off, 14);
    assert_int_equal(argc, 4);
    assert_memory_equal(b.data.p + b.aoff[a0 + 3], "2", 1);
    assert_int_equal(sf_batch_next_cmd(&b, &it, &off, &argc, &a0), 0);
    sf_batch_free(&b);
}

static void abort_keeps_offset(void **state) {
    (void)state;
    sf_batch_t b;
    char buf[64], err[256];
    sf_batch_init(&b);
    sf_batch_event_begin(&b, 7, 0);
    const char *c1[] = {"DEL", "x"};
    sf_batch_command(&b, 2, c1, NULL, err, sizeof(err));
    assert_int_equal(sf_batch_event_abort(&b), SF_OK);
    assert_int_equal(b.nargs, 2);
    assert_string_equal(arg(&b, 0, buf, sizeof(buf)), "7");
    assert_string_equal(arg(&b, 1, buf, sizeof(buf)), "0");
    assert_int_equal(b.nevents, 1);
    sf_batch_reset(&b);
    assert_int_equal(b.nargs, 0);
    assert_int_equal(b.nevents, 0);
    assert_int_equal(b.last_offset, -1);
    sf_batch_free(&b);
}

static void allow_list(void **state) {
    (void)state;
    sf_batch_t b;
    char err[256] = "";
    sf_batch_init(&b);
    sf_batch_event_begin(&b, 1, 0);
    const char *bad[] = {"FLUSHALL"};
    assert_int_equal(sf_batch_command(&b, 1, bad, NULL, err, sizeof(err)),
                     SF_ERR_RULE);
    assert_non_null(strstr(err, "FLUSHALL"));
    const char *eval[] = {"EVAL", "return 1", "0"};
    assert_int_equal(sf_batch_command(&b, 3, eval, NULL, err, sizeof(err)),
                     SF_ERR_RULE);
    assert_true(sf_projector_command_allowed("hincrby"));
    assert_false(sf_projector_command_allowed("CONFIG"));
    assert_false(sf_projector_command_allowed("GET"));
    /* binary-safe arguments keep their length */
    const char *bin[] = {"SET", "k", "a\0b"};
    size_t lens[] = {3, 1, 3};
    assert_int_equal(sf_batch_command(&b, 3, bin, lens, err, sizeof(err)),
                     SF_OK);
    assert_int_equal(b.alen[b.nargs - 1], 3);
    sf_batch_event_end(&b);
    sf_batch_free(&b);
}

static void outside_event(void **state) {
    (void)state;
    sf_batch_t b;
    char err[256];
    sf_batch_init(&b);
    const char *c[] = {"DEL", "x"};
    assert_int_equal(sf_batch_command(&b, 2, c, NULL, err, sizeof(err)),
                     SF_ERR_STATE);
    sf_batch_free(&b);
}

static void murmur2_kafka(void **state) {
    (void)state;
    /* Kafka's UtilsTest.testMurmur2 vectors (Java int results). */
    struct {
        const char *s;
        int32_t h;
    } v[] = {
        {"21", -973932308},
        {"foobar", -790332482},
        {"a-little-bit-long-string", -985981536},
        {"a-little-bit-longer-string", -1486304829},
        {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
        {"abc", 479470107},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        assert_int_equal((int32_t)sf_murmur2(v[i].s, strlen(v[i].s)), v[i].h);
    int32_t p = sf_murmur2_partition("21", 2, 12);
    assert_true(p >= 0 && p < 12);
    assert_int_equal(p, (int32_t)((uint32_t)(-973932308 & 0x7fffffff) % 12));
}

static void rfc3339(void **state) {
    (void)state;
    int64_t ms;
    assert_int_equal(sf_parse_time_ms("1970-01-01T00:00:00Z", &ms), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(sf_parse_time_ms("2026-11-26T13:00:00.123Z", &ms), 0);
    assert_int_equal(ms, 1795698000123LL);
    assert_int_equal(sf_parse_time_ms("2026-11-26T14:00:00+01:00", &ms), 0);
    assert_int_equal(ms, 1795698000000LL);
    assert_int_equal(sf_parse_time_ms("1795698000000", &ms), 0);
    assert_int_equal(ms, 1795698000000LL);
    assert_int_equal(sf_parse_time_ms("2026-13-01T00:00:00Z", &ms), -1);
    assert_int_equal(sf_parse_time_ms("2026-11-26 13:00", &ms), -1);
    assert_int_equal(sf_parse_time_ms("yesterday", &ms), -1);
    assert_int_equal(sf_parse_time_ms("", &ms), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(layout),
        cmocka_unit_test(abort_keeps_offset),
        cmocka_unit_test(iterate_commands),
        cmocka_unit_test(allow_list),
        cmocka_unit_test(outside_event),
        cmocka_unit_test(murmur2_kafka),
        cmocka_unit_test(rfc3339),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
