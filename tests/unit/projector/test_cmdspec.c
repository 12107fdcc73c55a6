/* test_cmdspec.c - the command table (key positions, argument checks, the
 * Lua table generated from it) and the retry back-off policy. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmdspec.h"
#include "retry.h"
#include "rules.h"
#include "sf_projector.h"

static int check(size_t argc, const char *const *argv) {
    char err[256];
    return sf_cmdspec_check(argc, argv, NULL, err, sizeof(err));
}

static void key_positions(void **state) {
    (void)state;
    const sf_cmd_spec_t *mset = sf_cmdspec_find("mset", 4);
    assert_non_null(mset);
    /* MSET k1 v1 k2 v2: every other argument */
    assert_true(sf_cmdspec_is_key(mset, 1, 5));
    assert_false(sf_cmdspec_is_key(mset, 2, 5));
    assert_true(sf_cmdspec_is_key(mset, 3, 5));
    assert_false(sf_cmdspec_is_key(mset, 4, 5));
    const sf_cmd_spec_t *del = sf_cmdspec_find("DEL", 3);
    for (size_t i = 1; i < 4; i++) /* all arguments */
        assert_true(sf_cmdspec_is_key(del, i, 4));
    assert_false(sf_cmdspec_is_key(del, 0, 4));
    const sf_cmd_spec_t *smove = sf_cmdspec_find("SMOVE", 5);
    assert_true(sf_cmdspec_is_key(smove, 1, 4));
    assert_true(sf_cmdspec_is_key(smove, 2, 4));
    assert_false(sf_cmdspec_is_key(smove, 3, 4));
    const sf_cmd_spec_t *hset = sf_cmdspec_find("HSET", 4);
    assert_true(sf_cmdspec_is_key(hset, 1, 6));
    assert_false(sf_cmdspec_is_key(hset, 2, 6));
    assert_false(sf_cmdspec_is_key(hset, 5, 6));
}

static void allow_list_is_the_table(void **state) {
    (void)state;
    size_t n = 0;
    for (const sf_cmd_spec_t *s; (s = sf_cmdspec_at(n)); n++) {
        assert_true(sf_projector_command_allowed(s->name));
        assert_true(s->arity != 0 && s->first_key >= 1 && s->key_step >= 1);
        /* a command that needs a type leaves that type behind */
        if (s->needs)
            assert_string_equal(s->needs, s->makes);
    }
    assert_true(n > 30);
    assert_false(sf_projector_command_allowed("FLUSHALL"));
    assert_false(sf_projector_command_allowed("EVAL"));
    assert_false(sf_projector_command_allowed("GET"));
}

static void argument_checks(void **state) {
    (void)state;
    const char *ok[] = {"HINCRBY", "cart:1", "n", "1"};
    assert_int_equal(check(4, ok), SF_OK);
    const char *arity[] = {"HINCRBY", "cart:1", "n"};
    assert_int_equal(check(3, arity), SF_ERR_RULE);
    const char *pairs[] = {"HSET", "cart:1", "a", "1", "b"};
    assert_int_equal(check(5, pairs), SF_ERR_RULE);
    const char *mset[] = {"MSET", "a", "1", "b"};
    assert_int_equal(check(4, mset), SF_ERR_RULE);
    const char *book[] = {"SET", "sf:other:ckpt:t:0", "9"};
    assert_int_equal(check(3, book), SF_ERR_RULE);
    const char *book2[] = {"MSET", "a", "1", "sf:x", "2"};
    assert_int_equal(check(5, book2), SF_ERR_RULE);
    /* a value (not a key) may look like anything */
    const char *val[] = {"SET", "a", "sf:x"};
    assert_int_equal(check(3, val), SF_OK);
    const char *admin[] = {"CONFIG", "SET", "x", "y"};
    assert_int_equal(check(4, admin), SF_ERR_RULE);

    size_t wide = SF_CMD_MAX_ARGS + 1;
    const char **argv = calloc(wide, sizeof(*argv));
    argv[0] = "SADD";
    argv[1] = "k";
    for (size_t i = 2; i < wide; i++)
        argv[i] = "m";
    char err[256];
    assert_int_equal(sf_cmdspec_check(wide, argv, NULL, err, sizeof(err)),
                     SF_ERR_RULE);
    assert_non_null(strstr(err, "SADD"));
    assert_int_equal(check(SF_CMD_MAX_ARGS, argv), SF_OK);
    free(argv);
}

static void lua_table(void **state) {
    (void)state;
    sf_buf_t b = {0};
    assert_int_equal(sf_cmdspec_lua(&b), SF_OK);
    for (size_t n = 0; sf_cmdspec_at(n); n++) {
        char row[96];
        snprintf(row, sizeof(row), "n == '%s' then return {name = '%s',",
                 sf_cmdspec_at(n)->name, sf_cmdspec_at(n)->name);
        assert_non_null(strstr(b.p, row));
    }
    assert_non_null(
        strstr(b.p, "n == 'MSET' then return {name = 'MSET', arity = -3, "
                    "first = 1, last = -1, step = 2"));
    sf_buf_free(&b);
}

static void backoff_policy(void **state) {
    (void)state;
    sf_backoff_t b;
    sf_backoff_init(&b, 100, 5000);
    int d = 100;
    for (int i = 0; i < 12; i++) {
        int ms = sf_backoff_next(&b);
        assert_true(ms >= d / 2 && ms <= d); /* jitter within [d/2, d] */
        d = d * 2 > 5000 ? 5000 : d * 2;     /* grows, then capped */
    }
    assert_int_equal(sf_backoff_attempts(&b), 12);
    sf_backoff_reset(&b);
    int ms = sf_backoff_next(&b);
    assert_true(ms >= 50 && ms <= 100);
}

/* Arity is known when the rules load: a wrong one names file and line. */
static void rules_arity_at_load(void **state) {
    (void)state;
    static const struct {
        const char *cmd, *want;
    } cases[] = {
        {"[HINCRBY, \"k:{aggregate_id}\", n]", "HINCRBY takes 4 arguments"},
        {"[HSET, \"k:{aggregate_id}\", a, 1, b]", "pairs of arguments"},
        {"[INCR, \"k:{aggregate_id}\", 1]", "INCR takes 2 arguments"},
        {"[HINCRBY, \"k:{aggregate_id}\", n, 1]", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[] = "/tmp/sf-cmdspec-XXXXXX";
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        FILE *f = fdopen(fd, "w");
        fprintf(f, "keys: [\"k:*\"]\non:\n  a.B:\n    - %s\n", cases[i].cmd);
        fclose(f);
        sf_rules_t *r = NULL;
        char err[512] = "";
        sf_err_t e = sf_rules_load_file(path, &r, err, sizeof(err));
        unlink(path);
        if (!cases[i].want) {
            assert_int_equal(e, SF_OK);
            sf_rules_destroy(r);
            continue;
        }
        assert_int_not_equal(e, SF_OK);
        assert_non_null(strstr(err, cases[i].want));
        assert_non_null(strstr(err, ":4:")); /* the command's line */
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(key_positions),
        cmocka_unit_test(allow_list_is_the_table),
        cmocka_unit_test(argument_checks),
        cmocka_unit_test(lua_table),
        cmocka_unit_test(backoff_policy),
        cmocka_unit_test(rules_arity_at_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
