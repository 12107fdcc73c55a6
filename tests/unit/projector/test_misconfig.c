/* test_misconfig.c - projections that would apply nothing (or the wrong
 * thing) fail when they are set up, with one line naming the projection
 * and what is wrong: an init registered for a name the config lacks, a
 * handler for a type the catalog lacks, a projection without rules or
 * handlers; and keys: declared on a handler-only projection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "projection.h"
#include "sf_schema.h"

static sf_catalog_t *cat;

static int setup(void **state) {
    (void)state;
    char err[512];
    cat = sf_catalog_new();
    if (!cat || sf_catalog_load_dir(cat, SF_DOMAINS, err, sizeof(err))) {
        fprintf(stderr, "catalog: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    (void)state;
    sf_catalog_destroy(cat);
    return 0;
}

static sf_config_t *load(const char *text) {
    sf_config_t *c = NULL;
    char err[512] = "";
    if (sf_config_load_string(text, "t.yaml", "/tmp", &c, err, sizeof(err)))
        fail_msg("config: %s", err);
    return c;
}

static sf_err_t on_fight(void *opaque, const sf_event_t *ev, sf_batch_t *batch,
                         char *errstr, size_t errstr_size) {
    (void)opaque, (void)ev, (void)batch, (void)errstr, (void)errstr_size;
    return SF_OK;
}

static const char *g_type; /* what init_on registers */

static sf_err_t init_on(sf_projection_t *proj, char *errstr,
                        size_t errstr_size) {
    return sf_projection_on(proj, g_type, on_fight, NULL, errstr, errstr_size);
}

static sf_err_t init_nothing(sf_projection_t *proj, char *errstr,
                             size_t errstr_size) {
    (void)proj, (void)errstr, (void)errstr_size;
    return SF_OK;
}

static const char KEYS_ONLY[] = "projections:\n"
                                "  - name: %s\n"
                                "    topics: fight-events\n"
                                "    keys: [\"fighter:*\"]\n";

static sf_config_t *keys_only(const char *name) {
    char text[512];
    snprintf(text, sizeof(text), KEYS_ONLY, name);
    return load(text);
}

/* keys: on the projection is what a handler-only projection needs */
static void handler_only_declares_keys(void **state) {
    (void)state;
    char err[512] = "";
    g_type = "sports.fight.FightResultRecorded";
    assert_int_equal(
        sf_projector_register_init("kfights", init_on, err, sizeof(err)),
        SF_OK);
    sf_config_t *c = keys_only("kfights");
    const sf_pconf_t *pc = sf_config_find(c, "kfights");
    assert_int_equal(sf_rules_nkeys(pc->rules), 1);
    assert_string_equal(sf_rules_key(pc->rules, 0), "fighter:*");
    sf_projection_t *p = NULL;
    sf_err_t e = sf_projection_create(pc, cat, &p, err, sizeof(err));
    if (e)
        fail_msg("%s", err);
    assert_true(sf_projection_wants(p, "sports.fight.FightResultRecorded"));
    assert_false(sf_projection_wants(p, "shop.cart.CartOpened"));
    sf_projection_destroy(p);
    sf_config_destroy(c);
}

/* the rules form keeps working; keys in both places is an error */
static void keys_in_rules_or_projection_not_both(void **state) {
    (void)state;
    sf_config_t *c = load("projections:\n"
                          "  - name: a\n"
                          "    topics: fight-events\n"
                          "    rules: {keys: [\"a:*\"], on: {}}\n");
    assert_int_equal(sf_rules_nkeys(c->proj[0].rules), 1);
    sf_config_destroy(c);
    char err[512] = "";
    c = NULL;
    sf_err_t e = sf_config_load_string("projections:\n"
                                       "  - name: b\n"
                                       "    topics: fight-events\n"
                                       "    keys: [\"b:*\"]\n"
                                       "    rules: {keys: [\"b:*\"], on: {}}\n",
                                       "t.yaml", "/tmp", &c, err, sizeof(err));
    assert_int_not_equal(e, SF_OK);
    assert_null(c);
    assert_non_null(strstr(err, "t.yaml:4:"));
    assert_non_null(strstr(err, "keys declared twice"));
    e = sf_config_load_string("projections:\n"
                              "  - name: b\n"
                              "    topics: fight-events\n"
                              "    keys: [\"sf:*\"]\n",
                              "t.yaml", "/tmp", &c, err, sizeof(err));
    assert_int_not_equal(e, SF_OK);
    assert_non_null(strstr(err, "sf:*"));
}

static void handler_type_not_in_catalog(void **state) {
    (void)state;
    char err[512] = "";
    g_type = "sports.fight.FightResultRecordd"; /* typo */
    assert_int_equal(
        sf_projector_register_init("typo", init_on, err, sizeof(err)), SF_OK);
    sf_config_t *c = keys_only("typo");
    sf_projection_t *p = NULL;
    sf_err_t e = sf_projection_create(sf_config_find(c, "typo"), cat, &p, err,
                                      sizeof(err));
    assert_int_not_equal(e, SF_OK);
    assert_null(p);
    assert_non_null(strstr(err, "projection typo"));
    assert_non_null(strstr(err, "sports.fight.FightResultRecordd"));
    assert_non_null(strstr(err, "not in the schema catalog"));
    assert_null(strchr(err, '\n'));
    sf_config_destroy(c);
}

static void projection_without_rules_or_handlers(void **state) {
    (void)state;
    char err[512] = "";
    /* in the config: nothing at all */
    sf_config_t *c = NULL;
    sf_err_t e = sf_config_load_string("projections:\n"
                                       "  - name: empty\n"
                                       "    topics: fight-events\n",
                                       "t.yaml", "/tmp", &c, err, sizeof(err));
    assert_int_equal(e, SF_ERR_CONFIG);
    assert_non_null(strstr(err, "projection empty has neither rules nor a "
                                "handler"));
    /* keys only, and the init registers nothing */
    assert_int_equal(
        sf_projector_register_init("idle", init_nothing, err, sizeof(err)),
        SF_OK);
    c = keys_only("idle");
    sf_projection_t *p = NULL;
    e = sf_projection_create(sf_config_find(c, "idle"), cat, &p, err,
                             sizeof(err));
    assert_int_equal(e, SF_ERR_CONFIG);
    assert_non_null(strstr(err, "projection idle has no rules"));
    sf_config_destroy(c);
    /* keys only and no init at all */
    c = keys_only("orphan");
    e = sf_projection_create(sf_config_find(c, "orphan"), cat, &p, err,
                             sizeof(err));
    assert_int_equal(e, SF_ERR_CONFIG);
    assert_non_null(strstr(err, "projection orphan has no rules"));
    sf_config_destroy(c);
}

/* last: it registers a name no config of this file has */
static void init_for_unknown_projection(void **state) {
    (void)state;
    char err[512] = "";
    sf_config_t *c = load("projections:\n"
                          "  - name: kfights\n"
                          "    topics: fight-events\n"
                          "    keys: [\"fighter:*\"]\n"
                          "  - name: typo\n"
                          "    topics: fight-events\n"
                          "    keys: [\"typo:*\"]\n"
                          "  - name: idle\n"
                          "    topics: fight-events\n"
                          "    keys: [\"idle:*\"]\n");
    assert_int_equal(sf_projector_check_registry(c, err, sizeof(err)), SF_OK);
    assert_int_equal(
        sf_projector_register_init("figths", init_nothing, err, sizeof(err)),
        SF_OK);
    assert_int_equal(sf_projector_check_registry(c, err, sizeof(err)),
                     SF_ERR_CONFIG);
    assert_non_null(strstr(err, "projection figths"));
    assert_non_null(strstr(err, "t.yaml has no projection"));
    sf_config_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handler_only_declares_keys),
        cmocka_unit_test(keys_in_rules_or_projection_not_both),
        cmocka_unit_test(handler_type_not_in_catalog),
        cmocka_unit_test(projection_without_rules_or_handlers),
        cmocka_unit_test(init_for_unknown_projection),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
