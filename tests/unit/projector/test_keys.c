/*
 * test_keys.c - keys a projection may write: Redis glob patterns (match
 * and overlap), the id escape inside keys, the per-projection guard, key
 * positions of the allowed commands, and the batch refusing a handler's
 * command with a bad key.
 */
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
#include "preflight.h"
#include "keys.h"
#include "sf_projector.h"

static sf_glob_t *glob(const char *p) {
    sf_glob_t *g = NULL;
    size_t col;
    char err[256];
    if (sf_glob_compile(p, strlen(p), &g, &col, err, sizeof err))
        fail_msg("pattern \"%s\": %s", p, err);
    return g;
}

static int match(const char *p, const char *s) {
    sf_glob_t *g = glob(p);
    int m = sf_glob_match(g, s, strlen(s));
    sf_glob_destroy(g);
    return m;
}

static int overlap(const char *a, const char *b) {
    sf_glob_t *x = glob(a), *y = glob(b);
    int o = sf_glob_overlap(x, y), o2 = sf_glob_overlap(y, x);
    assert_int_equal(o, o2); /* symmetric */
    sf_glob_destroy(x);
    sf_glob_destroy(y);
    return o;
}

/* What Redis' SCAN MATCH / KEYS do with these patterns (util.c
 * stringmatchlen). */
static void glob_matches_like_redis(void **state) {
    (void)state;
    static const struct {
        const char *p, *s;
        int m;
    } t[] = {
        {"cart:*", "cart:1", 1},
        {"cart:*", "cart:", 1},
        {"cart:*", "carts:1", 0},
        {"cart:*", "cart", 0},
        {"h?llo", "hello", 1},
        {"h?llo", "hllo", 0},
        {"h[ae]llo", "hallo", 1},
        {"h[ae]llo", "hillo", 0},
        {"h[^e]llo", "hallo", 1},
        {"h[^e]llo", "hello", 0},
        {"h[a-b]llo", "hbllo", 1},
        {"h[a-b]llo", "hcllo", 0},
        {"h[b-a]llo", "hallo", 1}, /* reversed range: swapped */
        {"a\\*b", "a*b", 1},
        {"a\\*b", "axb", 0},
        {"x[\\]]y", "x]y", 1},
        {"[]a]", "a", 0},
        {"[]a]", "]a]", 0}, /* "[]" is an empty class */
        {"[^]", "q", 1},
        {"*", "", 1},
        {"a*b*c", "abc", 1},
        {"a*b*c", "aXbYbZc", 1},
        {"a*b*c", "acb", 0},
        {"**x", "x", 1},
        {"", "", 1},
        {"", "a", 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (match(t[i].p, t[i].s) != t[i].m)
            fail_msg("\"%s\" vs \"%s\": want %d", t[i].p, t[i].s, t[i].m);
    /* binary keys: a NUL is a byte like any other */
    sf_glob_t *g = glob("k:?");
    assert_true(sf_glob_match(g, "k:\0", 3));
    sf_glob_destroy(g);
}

static void glob_refuses_unclear_patterns(void **state) {
    (void)state;
    const char *bad[] = {"a[bc", "ab\\", "[", "x[^"};
    size_t cols[] = {1, 2, 0, 1};
    for (size_t i = 0; i < 4; i++) {
        sf_glob_t *g = NULL;
        size_t col = 99;
        char err[256];
        assert_int_equal(
            sf_glob_compile(bad[i], strlen(bad[i]), &g, &col, err, sizeof err),
            SF_ERR_PARSE);
        assert_null(g);
        assert_int_equal(col, cols[i]);
    }
}

static void glob_overlap_cases(void **state) {
    (void)state;
    static const struct {
        const char *a, *b;
        int o;
    } t[] = {
        /* each of these reaches projector bookkeeping */
        {"*:*", "sf:*", 1},
        {"s*", "sf:*", 1},
        {"?f:*", "sf:*", 1},
        {"[s]f:*", "sf:*", 1},
        {"*:0", "sf:*", 1},
        {"*", "sf:*", 1},
        {"[a-z]f:x", "sf:*", 1},
        {"\\s\\f:*", "sf:*", 1},
        /* these do not */
        {"cart:*", "sf:*", 0},
        {"[^s]*", "sf:*", 0},
        {"s[^f]*", "sf:*", 0},
        {"sf", "sf:*", 0},
        {"?", "sf:*", 0},
        /* between projections */
        {"cart:*", "cart:*:items", 1},
        {"cart:*", "product:*", 0},
        {"fight:*", "fighter:*", 0},
        {"fighter:*", "fights:*", 0},
        {"a*b", "*c", 0},
        {"a*", "*b", 1},
        {"a?c", "a[xy]c", 1},
        {"a[^x]c", "a[x]c", 0},
        {"", "", 1},
        {"", "*", 1},
        {"", "a", 0},
        {"\\*", "[*]", 1},
        {"*a*", "*b*", 1},
        {"x*", "y*", 0},
        {"*x", "*y", 0},
        {"a*a", "a", 0},
        {"a*a", "aa", 1},
        {"t1:*", "*-product-*", 1},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (overlap(t[i].a, t[i].b) != t[i].o)
            fail_msg("overlap(\"%s\", \"%s\"): want %d", t[i].a, t[i].b,
                     t[i].o);
}

/* Random small patterns over {a, b, :}: overlap() must agree with a
 * search of every string up to the length a shortest common string can
 * have (each byte of it advances a non-star token of a or b). */
static void random_pattern(char *out, unsigned *seed) {
    static const char *tok[] = {"a", "b",    ":",    "*",
                                "?", "[ab]", "[^a]", "[:-a]"};
    int n = (int)(rand_r(seed) % 5);
    out[0] = 0;
    for (int i = 0; i < n; i++)
        strcat(out, tok[rand_r(seed) % 8]);
}

static int nonstar(const char *p) {
    int n = 0;
    for (; *p; p++) {
        if (*p == '[') {
            while (*p != ']')
                p++;
            n++;
        } else if (*p != '*') {
            n++;
        }
    }
    return n;
}

static void glob_overlap_agrees_with_search(void **state) {
    (void)state;
    unsigned seed = 12345;
    static const char alpha[] = "ab:";
    for (int round = 0; round < 400; round++) {
        char a[64], b[64];
        random_pattern(a, &seed);
        random_pattern(b, &seed);
        sf_glob_t *x = glob(a), *y = glob(b);
        int want = 0, maxlen = nonstar(a) + nonstar(b);
        char s[16];
        for (int len = 0; len <= maxlen && !want; len++) {
            int total = 1;
            for (int i = 0; i < len; i++)
                total *= 3;
            for (int c = 0; c < total && !want; c++) {
                int v = c;
                for (int i = 0; i < len; i++, v /= 3)
                    s[i] = alpha[v % 3];
                want = sf_glob_match(x, s, (size_t)len) &&
                       sf_glob_match(y, s, (size_t)len);
            }
        }
        if (sf_glob_overlap(x, y) != want)
            fail_msg("overlap(\"%s\", \"%s\") != %d", a, b, want);
        sf_glob_destroy(x);
        sf_glob_destroy(y);
    }
}

/* sf_glob_match matches a pattern with no star before its last token
 * ("cart:*", a key template "cart:{id}") in one pass instead of running
 * the automaton.  Appending a literal '!' to such a pattern puts a star
 * before its last token, so the same question goes through the automaton:
 * P matches k exactly when P + "!" matches k + "!" (the '!' token can
 * only take the last byte).  Both must agree for every key. */
static unsigned char rnd_byte(unsigned *seed) {
    static const unsigned char b[] = {'a',  'b',  ':',  '!',  '*', 0x00,
                                      0x1f, 0x7f, 0x80, 0xc3, 0xff};
    return b[rand_r(seed) % sizeof b];
}

static void agree_on_keys(sf_glob_t *g, sf_glob_t *g2, const char *what,
                          unsigned *seed) {
    unsigned char k[8];
    for (int n = 0; n < 300; n++) {
        size_t len = (size_t)(rand_r(seed) % 7);
        for (size_t i = 0; i < len; i++)
            k[i] = rnd_byte(seed);
        int one = sf_glob_match(g, k, len);
        k[len] = '!';
        if (one != sf_glob_match(g2, k, len + 1))
            fail_msg("%s: one pass says %d on a key of %zu bytes "
                     "(first %02x), the automaton not",
                     what, one, len, len ? k[0] : 0);
    }
}

static void glob_one_pass_equals_automaton(void **state) {
    (void)state;
    unsigned seed = 4242;
    static const char *tok[] = {"a",    "b",    ":",          "?",
                                "[ab]", "[^a]", "\\*",        "[:-a]",
                                "\xc3", "\xff", "[\x80-\xff]"};
    for (int round = 0; round < 300; round++) {
        /* a compiled pattern ending in a star: "", "a*", "?[^a]*", ... */
        char p[64] = "", p2[70];
        for (int i = (int)(rand_r(&seed) % 4); i > 0; i--)
            strcat(p, tok[rand_r(&seed) % (sizeof tok / sizeof *tok)]);
        strcat(p, "*");
        snprintf(p2, sizeof p2, "%s!", p);
        sf_glob_t *g = glob(p), *g2 = glob(p2);
        agree_on_keys(g, g2, p, &seed);
        sf_glob_destroy(g);
        sf_glob_destroy(g2);

        /* a key template ending in an id: literals and ids, id last */
        sf_glob_t *t = sf_glob_new(), *t2 = sf_glob_new();
        assert_non_null(t);
        assert_non_null(t2);
        for (int i = (int)(rand_r(&seed) % 3); i >= 0; i--) {
            int id = i == 0 || rand_r(&seed) % 2 == 0; /* the same in both */
            for (int j = 0; j < 2; j++) {
                sf_glob_t *x = j ? t2 : t;
                if (id)
                    assert_int_equal(sf_glob_add_id(x), SF_OK);
                else
                    assert_int_equal(sf_glob_add_literal(x, "c:", 2), SF_OK);
            }
        }
        assert_int_equal(sf_glob_add_literal(t2, "!", 1), SF_OK);
        agree_on_keys(t, t2, "key template", &seed);
        sf_glob_destroy(t);
        sf_glob_destroy(t2);
    }
    /* the id token: one or more bytes, none of them ':', control or DEL */
    sf_glob_t *t = sf_glob_new();
    assert_int_equal(sf_glob_add_literal(t, "cart:", 5), SF_OK);
    assert_int_equal(sf_glob_add_id(t), SF_OK);
    assert_int_equal(sf_glob_match(t, "cart:a", 6), 1);
    assert_int_equal(sf_glob_match(t, "cart:caf\xc3\xa9", 10), 1);
    assert_int_equal(sf_glob_match(t, "cart:", 5), 0);
    assert_int_equal(sf_glob_match(t, "cart:a:b", 8), 0);
    assert_int_equal(sf_glob_match(t, "cart:a\x7f", 7), 0);
    assert_int_equal(sf_glob_match(t, "cart:\x1f", 6), 0);
    assert_int_equal(sf_glob_match(t, "carts:a", 7), 0);
    sf_glob_destroy(t);
}

/* Redis (x86-64) compares range ends and the key byte as signed char:
 * "[t-\xc3]" is the bytes -61..116, so it takes 's' and 0x00 but not
 * 'u'; the reserved-prefix check must see that. */
static void glob_ranges_are_signed_like_redis(void **state) {
    (void)state;
    assert_int_equal(match("[t-\xc3\xa9]f:*", "sf:epoch"), 1);
    assert_int_equal(match("[t-\xc3]", "u"), 0);
    assert_int_equal(match("[t-\xc3]", "\xc4"), 1);
    assert_int_equal(match("[t-\xc3]", "\x80"), 0);
    assert_int_equal(match("[\xff-a]", "\xff"), 1);
    assert_int_equal(match("[\xff-a]", "b"), 0);
    assert_int_equal(overlap("[t-\xc3\xa9]f:*", "sf:*"), 1);
    char err[512];
    /* refused for the prefix (and for the high range itself) */
    assert_int_not_equal(
        sf_keys_check_reserved("[t-\xc3\xa9]f:*", err, sizeof err), SF_OK);
    assert_non_null(strstr(err, "0x80"));
    /* a high byte outside a range is fine (listed, not ordered) */
    assert_int_equal(
        sf_keys_check_reserved("caf\xc3\xa9:[\xc3\xa9]*", err, sizeof err),
        SF_OK);
    size_t col = 99;
    assert_int_not_equal(
        sf_keys_check_portable("ab[^x\x80-\xff]", 9, &col, err, sizeof err),
        SF_OK);
    assert_int_equal(col, 5);
    assert_int_equal(
        sf_keys_check_portable("a[\\\x80-]b", 7, &col, err, sizeof err), SF_OK);
}

/* A rebuild's clear deletes a key SCAN MATCH returned only when the
 * projector's matcher agrees and it is not under sf:. */
static void clear_filter_spares_reserved_keys(void **state) {
    (void)state;
    sf_glob_t *g = glob("*f:*");
    assert_int_equal(sf_keys_may_clear(g, "uf:1", 4), 1);
    assert_int_equal(sf_keys_may_clear(g, "sf:p:epoch", 10), 0);
    assert_int_equal(sf_keys_may_clear(g, "uf", 2), 0);
    sf_glob_destroy(g);
}

static void escape_ids(void **state) {
    (void)state;
    char out[64];
    assert_int_equal(sf_key_escape(out, sizeof out, "c42:items", 9), 11);
    assert_string_equal(out, "c42%3Aitems");
    assert_int_equal(sf_key_escape(out, sizeof out, "100%", 4), 6);
    assert_string_equal(out, "100%25");
    assert_int_equal(sf_key_escape(out, sizeof out, "\0x\x7f\n", 4), 10);
    assert_string_equal(out, "%00x%7F%0A");
    assert_int_equal(sf_key_escape(out, sizeof out, "caf\xc3\xa9 *?[", 9), 9);
    assert_string_equal(out, "caf\xc3\xa9 *?["); /* everything else kept */
    assert_int_equal(sf_key_escape(out, sizeof out, "", 0), 0);
    assert_string_equal(out, "");
    /* too small: the length needed, and never a cut escape */
    memset(out, 'Z', sizeof out);
    assert_int_equal(sf_key_escape(out, 5, "ab:cd", 5), 7);
    assert_string_equal(out, "ab");
    assert_int_equal(sf_key_escape(NULL, 0, "a:b", 3), 5);
    /* distinct ids give distinct escapes (the rule is reversible) */
    char o2[64];
    sf_key_escape(out, sizeof out, "a%3Ab", 5);
    sf_key_escape(o2, sizeof o2, "a:b", 3);
    assert_string_not_equal(out, o2);
}

static sf_keyguard_t *guard(void) {
    const char *pats[] = {"cart:*", "carts:count"};
    sf_keyguard_t *g = NULL;
    char err[256];
    assert_int_equal(sf_keyguard_new(pats, 2, &g, err, sizeof err), SF_OK);
    return g;
}

static void expect_key(sf_keyguard_t *g, const char *key, size_t len,
                       const char *needle) {
    char err[512] = "";
    sf_err_t e = sf_keyguard_check_key(g, key, len, err, sizeof err);
    if (!needle) {
        if (e)
            fail_msg("key \"%s\" refused: %s", key, err);
        return;
    }
    if (e != SF_ERR_RULE)
        fail_msg("key \"%s\" accepted, want \"%s\"", key, needle);
    if (!strstr(err, needle))
        fail_msg("want \"%s\" in \"%s\"", needle, err);
}

static void guard_checks_keys(void **state) {
    (void)state;
    sf_keyguard_t *g = guard();
    expect_key(g, "cart:1", 6, NULL);
    expect_key(g, "cart:1:items", 12, NULL);
    expect_key(g, "carts:count", 11, NULL);
    expect_key(g, "cart:c42%3Aitems", 16, NULL);
    expect_key(g, "product:1", 9, "matches none of the projection's keys");
    expect_key(g, "product:1", 9, "\"cart:*\", \"carts:count\"");
    expect_key(g, "cart:", 5, "empty ':' segment");
    expect_key(g, "cart::items", 11, "empty ':' segment");
    expect_key(g, "sf:carts:ckpt:t:0", 17, "reserved prefix");
    expect_key(g, "cart:a\0b", 8, "control byte");
    expect_key(g, "cart:a\x7f", 7, "control byte");
    expect_key(g, "", 0, "empty");
    sf_keyguard_destroy(g);
    /* no patterns: nothing may be written */
    assert_int_equal(sf_keyguard_new(NULL, 0, &g, NULL, 0), SF_OK);
    expect_key(g, "cart:1", 6, "matches none");
    sf_keyguard_destroy(g);
    /* a pattern that cannot be compiled is named */
    const char *bad[] = {"cart:[x"};
    char err[256];
    assert_int_equal(sf_keyguard_new(bad, 1, &g, err, sizeof err),
                     SF_ERR_PARSE);
    assert_non_null(strstr(err, "cart:[x"));
}

static sf_err_t cmd(sf_keyguard_t *g, size_t argc, const char **argv, char *err,
                    size_t size) {
    size_t len[16];
    for (size_t i = 0; i < argc; i++)
        len[i] = strlen(argv[i]);
    return sf_keyguard_check_cmd(g, argc, argv, len, err, size);
}

static void guard_checks_every_key_position(void **state) {
    (void)state;
    sf_keyguard_t *g = guard();
    char err[512];
    const char *mset[] = {"MSET", "cart:1", "product:x", "product:2", "v"};
    assert_int_equal(cmd(g, 5, mset, err, sizeof err), SF_ERR_RULE);
    assert_non_null(strstr(err, "\"product:2\"")); /* values are not keys */
    const char *smove[] = {"SMOVE", "cart:a", "sf:x", "m"};
    assert_int_equal(cmd(g, 4, smove, err, sizeof err), SF_ERR_RULE);
    assert_non_null(strstr(err, "sf:x"));
    const char *smove_ok[] = {"smove", "cart:a", "cart:b", "product:m"};
    assert_int_equal(cmd(g, 4, smove_ok, err, sizeof err), SF_OK);
    const char *del[] = {"DEL", "cart:1", "cart:2", "other"};
    assert_int_equal(cmd(g, 4, del, err, sizeof err), SF_ERR_RULE);
    assert_non_null(strstr(err, "\"other\""));
    const char *hset[] = {"HSET", "cart:1", "sf:field", "x"};
    assert_int_equal(cmd(g, 4, hset, err, sizeof err), SF_OK);
    const char *flush[] = {"FLUSHALL"};
    assert_int_equal(cmd(g, 1, flush, err, sizeof err), SF_ERR_RULE);
    sf_keyguard_destroy(g);

    sf_cmd_keyspec_t s;
    assert_true(sf_cmd_keys("Mset", 4, &s));
    assert_true(sf_cmd_is_key(&s, 5, 3));
    assert_false(sf_cmd_is_key(&s, 5, 4));
    assert_true(sf_cmd_keys("EXPIRE", 6, &s));
    assert_true(sf_cmd_is_key(&s, 3, 1));
    assert_false(sf_cmd_is_key(&s, 3, 2));
    assert_false(sf_cmd_keys("EVAL", 4, &s));
}

/* A handler's command with a bad key is refused by sf_batch_command and
 * remembered, so the event is dead-lettered even if the handler goes on. */
static void batch_refuses_handler_keys(void **state) {
    (void)state;
    sf_keyguard_t *g = guard();
    sf_batch_t b;
    char err[512];
    sf_batch_init(&b);
    b.guard = g;
    sf_keyguard_event_reset(g);
    assert_int_equal(sf_batch_event_begin(&b, 7, 0), SF_OK);
    const char *ok[] = {"HSET", "cart:1", "f", "v"};
    assert_int_equal(sf_batch_command(&b, 4, ok, NULL, err, sizeof err), SF_OK);
    assert_null(sf_keyguard_violation(g));
    const char *bad[] = {"HSET", "cart:c42:items", "status", "open"};
    const char *badkey[] = {"INCR", "sf:other:epoch:t:0"};
    assert_int_equal(sf_batch_command(&b, 2, badkey, NULL, err, sizeof err),
                     SF_ERR_RULE);
    assert_non_null(strstr(err, "reserved prefix"));
    assert_non_null(sf_keyguard_violation(g));
    assert_non_null(strstr(sf_keyguard_violation(g), "sf:other:epoch"));
    /* this one is fine by the guard (cart:c42:items matches cart:*): the
     * escape is the caller's job, see escape_ids */
    assert_int_equal(sf_batch_command(&b, 4, bad, NULL, err, sizeof err),
                     SF_OK);
    sf_keyguard_event_reset(g);
    assert_null(sf_keyguard_violation(g));
    sf_batch_free(&b);
    sf_keyguard_destroy(g);
}

static sf_config_t *config(const char *projections) {
    char text[4096];
    snprintf(text, sizeof text,
             "kafka: {bootstrap.servers: 127.0.0.1:9092}\n"
             "redis: {host: 127.0.0.1, port: 6379}\n"
             "projections:\n%s",
             projections);
    sf_config_t *c = NULL;
    char err[512];
    if (sf_config_load_string(text, "t.yaml", "/tmp", &c, err, sizeof err))
        fail_msg("config: %s", err);
    return c;
}

static sf_err_t preflight(const sf_config_t *c, const char *name, char *err,
                          size_t size) {
    return sf_projection_preflight(c, sf_config_find(c, name), NULL, err, size);
}

#define PROJ(name, keys)                                                 \
    "  - name: " name "\n    topics: [t]\n    rules:\n      keys: " keys \
    "\n      on: {}\n"

/* keys: patterns are checked per projection at load: against the reserved
 * prefix, and against the patterns of the other projections. */
static void preflight_patterns(void **state) {
    (void)state;
    char err[1024];
    sf_config_t *c = config(PROJ("a", "[\"*:*\"]") PROJ("b", "[\"b-*\"]"));
    assert_int_equal(preflight(c, "a", err, sizeof err), SF_ERR_CONFIG);
    assert_non_null(strstr(err, "\"*:*\""));
    assert_non_null(strstr(err, "reserved prefix"));
    /* a can never run, so it does not keep b from running */
    assert_int_equal(preflight(c, "b", err, sizeof err), SF_OK);
    sf_config_destroy(c);

    c = config(PROJ("carts", "[\"cart:*\"]") PROJ("items", "[\"cart:*:items\"]")
                   PROJ("stock", "[\"product:*\", \"stock:[0-9]*\"]"));
    assert_int_equal(preflight(c, "carts", err, sizeof err), SF_ERR_CONFIG);
    assert_non_null(strstr(err, "projection items"));
    assert_int_equal(preflight(c, "items", err, sizeof err), SF_ERR_CONFIG);
    assert_non_null(strstr(err, "projection carts"));
    assert_int_equal(preflight(c, "stock", err, sizeof err), SF_OK);
    sf_config_destroy(c);

    c = config(PROJ("x", "[\"s?*\"]") PROJ("y", "[\"[r-t]f:*\"]")
                   PROJ("z", "[\"*:ckpt:*\"]"));
    const char *names[] = {"x", "y", "z"};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(preflight(c, names[i], err, sizeof err),
                         SF_ERR_CONFIG);
        assert_non_null(strstr(err, "reserved prefix"));
    }
    sf_config_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(glob_matches_like_redis),
        cmocka_unit_test(glob_refuses_unclear_patterns),
        cmocka_unit_test(glob_overlap_cases),
        cmocka_unit_test(glob_overlap_agrees_with_search),
        cmocka_unit_test(glob_ranges_are_signed_like_redis),
        cmocka_unit_test(glob_one_pass_equals_automaton),
        cmocka_unit_test(clear_filter_spares_reserved_keys),
        cmocka_unit_test(escape_ids),
        cmocka_unit_test(guard_checks_keys),
        cmocka_unit_test(guard_checks_every_key_position),
        cmocka_unit_test(batch_refuses_handler_keys),
        cmocka_unit_test(preflight_patterns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
