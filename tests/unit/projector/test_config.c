/* test_config.c - sf-projector configuration: values, defaults, relative
 * paths, inline rules, and errors naming file:line:col. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static const char GOOD[] =
    "kafka:\n"
    "  bootstrap.servers: 127.0.0.1:9092\n"
    "  session.timeout.ms: 6000\n"
    "redis: {host: redis.local, port: 6380, db: 2, password: s3cret}\n"
    "schemas: ../schemas\n"
    "metrics: {listen: 127.0.0.1:9464}\n"
    "projections:\n"
    "  - name: carts\n"
    "    topics: [cart-events, cart-events-2]\n"
    "    rules:\n"
    "      keys: [\"cart:*\"]\n"
    "      on:\n"
    "        shop.cart.CartOpened:\n"
    "          - [HSET, \"cart:{aggregate_id}\", status, open]\n"
    "    on_error: stop\n"
    "    batch: {size: 100, time_ms: 10, idle_ms: 0}\n"
    "    kafka: {fetch.wait.max.ms: 10}\n"
    "  - name: fights\n"
    "    topics: fight-events\n"
    "    group_id: my-group\n"
    "    handler: ./libfight.so\n";

static void good_config(void **state) {
    (void)state;
    sf_config_t *c = NULL;
    char err[512] = "";
    sf_err_t e = sf_config_load_string(GOOD, "good.yaml", "/etc/sf", &c, err,
                                       sizeof(err));
    if (e)
        fail_msg("%s", err);
    assert_int_equal(c->nkafka, 2);
    assert_string_equal(c->kafka[0].k, "bootstrap.servers");
    assert_string_equal(c->kafka[0].v, "127.0.0.1:9092");
    assert_string_equal(c->redis.host, "redis.local");
    assert_int_equal(c->redis.port, 6380);
    assert_int_equal(c->redis.db, 2);
    assert_string_equal(c->redis.password, "s3cret");
    assert_string_equal(c->schemas, "/etc/sf/../schemas");
    assert_string_equal(c->metrics_listen, "127.0.0.1:9464");
    assert_int_equal(c->nproj, 2);
    const sf_pconf_t *p = sf_config_find(c, "carts");
    assert_non_null(p);
    assert_int_equal(p->ntopics, 2);
    assert_string_equal(p->topics[1], "cart-events-2");
    assert_string_equal(p->group_id, "sf-carts");
    assert_true(p->on_error_stop);
    assert_int_equal(p->batch_size, 100);
    assert_int_equal(p->batch_ms, 10);
    assert_int_equal(p->batch_idle_ms, 0);
    assert_non_null(p->rules);
    assert_true(sf_rules_has(p->rules, "shop.cart.CartOpened"));
    assert_int_equal(p->nkafka, 1);
    p = sf_config_find(c, "fights");
    assert_non_null(p);
    assert_int_equal(p->ntopics, 1);
    assert_string_equal(p->group_id, "my-group");
    assert_int_equal(p->batch_ms, 50); /* the defaults */
    assert_int_equal(p->batch_idle_ms, 2);
    assert_string_equal(p->handler, "/etc/sf/./libfight.so");
    assert_false(p->on_error_stop);
    assert_int_equal(p->batch_size, 500);
    assert_null(sf_config_find(c, "nope"));
    assert_int_equal(sf_config_kafka_set(c, "session.timeout.ms", "7000"),
                     SF_OK);
    /* -X is kept apart: it must win over projection maps (kconf.h) */
    assert_int_equal(c->nkafka, 2);
    assert_int_equal(c->nkafka_x, 1);
    assert_string_equal(c->kafka_x[0].v, "7000");
    sf_config_destroy(c);
}

static void defaults(void **state) {
    (void)state;
    sf_config_t *c = NULL;
    char err[512];
    assert_int_equal(
        sf_config_load_string("projections:\n  - name: a\n    topics: [t]\n"
                              "    handler: libx.so\n",
                              "d.yaml", "/x", &c, err, sizeof(err)),
        SF_OK);
    assert_string_equal(c->redis.host, "127.0.0.1");
    assert_int_equal(c->redis.port, 6379);
    assert_null(c->schemas);
    assert_null(c->metrics_listen);
    /* a bare library name is left to the dynamic loader's search path */
    assert_string_equal(c->proj[0].handler, "libx.so");
    sf_config_destroy(c);
}

static void expect_err(const char *text, const char *where, const char *needle);

/* db / spare_db / version (docs/generations.md): each projection's
 * connections use its own db; the version digest changes with the rules,
 * the handler and version:, and only with them. */
static sf_config_t *load_ok(const char *text) {
    sf_config_t *c = NULL;
    char err[512] = "";
    if (sf_config_load_string(text, "c.yaml", "/x", &c, err, sizeof(err)))
        fail_msg("%s", err);
    return c;
}

#define GEN_CFG(rule, extra)                                           \
    "redis: {db: 5}\n"                                                 \
    "projections:\n"                                                   \
    "  - name: a\n    topics: [t]\n    db: 2\n    spare_db: 3\n" extra \
    "    rules: {keys: [\"a:*\"], on: {x.Y: [[SET, "                   \
    "\"a:{aggregate_id}\", " rule "]]}}\n"                             \
    "  - name: b\n    topics: [t]\n    handler: h.so\n"

static void generations_config(void **state) {
    (void)state;
    sf_config_t *c = load_ok(GEN_CFG("\"1\"", ""));
    assert_int_equal(c->proj[0].db, 2);
    assert_int_equal(c->proj[0].redis.db, 2);
    assert_int_equal(c->proj[0].spare_db, 3);
    assert_int_equal(c->proj[1].db, 5); /* redis.db */
    assert_int_equal(c->proj[1].redis.db, 5);
    assert_int_equal(c->proj[1].spare_db, -1);
    assert_int_equal(strlen(c->proj[0].digest), 16);
    char d0[17];
    memcpy(d0, c->proj[0].digest, sizeof(d0));
    sf_config_destroy(c);
    c = load_ok(GEN_CFG("\"1\"", "")); /* same definition, same digest */
    assert_string_equal(c->proj[0].digest, d0);
    sf_config_destroy(c);
    c = load_ok(GEN_CFG("\"2\"", "")); /* a rule changed */
    assert_string_not_equal(c->proj[0].digest, d0);
    sf_config_destroy(c);
    c = load_ok(GEN_CFG("\"1\"", "    version: \"7\"\n"));
    assert_string_not_equal(c->proj[0].digest, d0);
    assert_string_equal(c->proj[0].version, "7");
    sf_config_destroy(c);
    /* the duplicate rule changes the fold: dedup: off is another
     * definition (dedup: on, the default, the same) */
    c = load_ok(GEN_CFG("\"1\"", "    dedup: off\n"));
    assert_string_not_equal(c->proj[0].digest, d0);
    sf_config_destroy(c);
    c = load_ok(GEN_CFG("\"1\"", "    dedup: on\n"));
    assert_string_equal(c->proj[0].digest, d0);
    sf_config_destroy(c);
    /* group_id and batch are not part of the definition */
    c = load_ok(GEN_CFG("\"1\"", "    batch: {size: 9}\n"));
    assert_string_equal(c->proj[0].digest, d0);
    sf_config_destroy(c);
    expect_err("projections:\n  - name: a\n    topics: [t]\n"
               "    handler: h.so\n    db: 1\n    spare_db: 1\n",
               "c.yaml:2:5: ", "spare_db 1 is its db");
    expect_err("projections:\n  - name: a\n    topics: [t]\n"
               "    handler: h.so\n    spare_db: -1\n",
               "c.yaml:5:15: ", "out of range");
}

static void expect_err(const char *text, const char *where,
                       const char *needle) {
    sf_config_t *c = NULL;
    char err[512] = "";
    sf_err_t e =
        sf_config_load_string(text, "c.yaml", "/x", &c, err, sizeof(err));
    assert_int_not_equal(e, SF_OK);
    assert_null(c);
    if (strncmp(err, where, strlen(where)) != 0)
        fail_msg("want prefix \"%s\", got \"%s\"", where, err);
    if (!strstr(err, needle))
        fail_msg("want \"%s\" in \"%s\"", needle, err);
}

static void errors_name_positions(void **state) {
    (void)state;
    expect_err("kafka: {}\nredsi: {}\n",
               "c.yaml:2:1: ", "unknown key \"redsi\"");
    expect_err("redis: {host: h, prot: 1}\n",
               "c.yaml:1:18: ", "unknown key \"prot\"");
    expect_err("redis: {port: 99999}\n", "c.yaml:1:15: ", "out of range");
    expect_err("redis: {port: abc}\n", "c.yaml:1:15: ", "integer");
    expect_err("projections:\n  - name: a\n    topics: [t]\n"
               "    handler: h.so\n    on_error: ignore\n",
               "c.yaml:5:15: ", "dlq or stop");
    expect_err("projections:\n  - name: a\n    topics: [t]\n"
               "    handler: h.so\n    batch: {size: 0}\n",
               "c.yaml:5:19: ", "out of range");
    expect_err("projections:\n  - name: a\n    topics: [t]\n",
               "c.yaml:2:5: ", "has neither rules nor a handler");
    expect_err("projections:\n  - topics: [t]\n    handler: h.so\n",
               "c.yaml:2:5: ", "without a name");
    expect_err("projections:\n  - name: a\n    topics: [t]\n    handler: h\n"
               "  - name: a\n    topics: [t]\n    handler: h\n",
               "c.yaml:5:5: ", "duplicate projection name");
    expect_err("projections: []\n", "c.yaml:1:1: ", "no projections");
    expect_err("kafka:\n  a: [1]\n", "c.yaml:2:6: ", "scalar");
    /* inline rules errors keep the config file's positions */
    expect_err("projections:\n  - name: a\n    topics: [t]\n    rules:\n"
               "      on:\n        t.E:\n          - [CONFIG, SET]\n",
               "c.yaml:7:14: ", "not an allowed write command");
    expect_err("projections:\n  - name: a:b\n    topics: [t]\n    handler: h\n",
               "c.yaml:2:11: ", "projection name");
    expect_err("a: [\n", "c.yaml:", "");
}

static void environment_expansion(void **state) {
    (void)state;
    setenv("SF_T_PORT", "6390", 1);
    setenv("SF_T_DIR", "/opt/sf", 1);
    unsetenv("SF_T_NOPE");
    sf_config_t *c = NULL;
    char err[512] = "";
    sf_err_t e = sf_config_load_string(
        "kafka: {bootstrap.servers: \"${SF_T_NOPE:-b1:9092}\", x: "
        "\"$${lit}\"}\n"
        "redis: {host: \"${SF_T_NOPE:-h1}\", port: \"${SF_T_PORT}\"}\n"
        "schemas: \"${SF_T_DIR}/schemas\"\n"
        "projections:\n  - {name: a, topics: [\"t-${SF_T_PORT}\"], "
        "handler: \"${SF_T_DIR}/lib.so\"}\n",
        "env.yaml", "/x", &c, err, sizeof(err));
    if (e)
        fail_msg("%s", err);
    assert_string_equal(c->kafka[0].v, "b1:9092");
    assert_string_equal(c->kafka[1].v, "${lit}");
    assert_string_equal(c->redis.host, "h1");
    assert_int_equal(c->redis.port, 6390);
    assert_string_equal(c->schemas, "/opt/sf/schemas");
    assert_string_equal(c->proj[0].topics[0], "t-6390");
    assert_string_equal(c->proj[0].handler, "/opt/sf/lib.so");
    sf_config_destroy(c);
    expect_err("redis: {host: \"${SF_T_NOPE}\"}\n",
               "c.yaml:1:15: ", "SF_T_NOPE is not set");
    expect_err("redis: {host: \"${SF_T_NOPE\"}\n",
               "c.yaml:1:15: ", "unterminated");
}

static void rules_file_relative(void **state) {
    (void)state;
    char dir[] = "/tmp/sf-cfg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char rules[256], cfg[256];
    snprintf(rules, sizeof(rules), "%s/r.yaml", dir);
    snprintf(cfg, sizeof(cfg), "%s/c.yaml", dir);
    FILE *f = fopen(rules, "w");
    fputs("on:\n  t.E:\n    - [BOGUS]\n", f);
    fclose(f);
    f = fopen(cfg, "w");
    fputs("projections:\n  - name: a\n    topics: [t]\n    rules: r.yaml\n", f);
    fclose(f);
    sf_config_t *c = NULL;
    char err[512], want[300];
    assert_int_equal(sf_config_load(cfg, &c, err, sizeof(err)), SF_ERR_PARSE);
    /* the error names the rules file, resolved against the config folder */
    snprintf(want, sizeof(want), "%s/r.yaml:3:8: ", dir);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("want prefix \"%s\", got \"%s\"", want, err);
    f = fopen(rules, "w");
    fputs("on:\n  t.E:\n    - [DEL, x]\n", f);
    fclose(f);
    assert_int_equal(sf_config_load(cfg, &c, err, sizeof(err)), SF_OK);
    assert_true(sf_rules_has(c->proj[0].rules, "t.E"));
    sf_config_destroy(c);
    assert_int_equal(
        sf_config_load("/nonexistent/c.yaml", &c, err, sizeof(err)), SF_ERR_IO);
    assert_non_null(strstr(err, "/nonexistent/c.yaml"));
    remove(rules);
    remove(cfg);
    remove(dir);
}

/* metrics.stuck_after: seconds, 1..86400; 0 in the struct when absent. */
static void metrics_stuck_after(void **state) {
    (void)state;
    sf_config_t *c = NULL;
    char err[512] = "";
    const char *ok = "metrics: {listen: \":0\", stuck_after: 45}\n"
                     "projections: [{name: p, topics: [t], rules: {keys: "
                     "[\"v:*\"], on: {}}}]\n";
    if (sf_config_load_string(ok, "m.yaml", "/", &c, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(c->stuck_after_s, 45);
    assert_string_equal(c->metrics_listen, ":0");
    sf_config_destroy(c);
    c = NULL;
    const char *bad = "metrics:\n  stuck_after: 0\n"
                      "projections: [{name: p, topics: [t], rules: {keys: "
                      "[\"v:*\"], on: {}}}]\n";
    assert_int_equal(
        sf_config_load_string(bad, "m.yaml", "/", &c, err, sizeof(err)),
        SF_ERR_CONFIG);
    assert_non_null(strstr(err, "m.yaml:2:"));
    assert_non_null(strstr(err, "out of range"));
    sf_config_destroy(c);
}

/* commit_interval_ms: the offset commit rate (commits.h), 1000 by default,
 * a value out of range names its position. */
static void commit_interval(void **state) {
    (void)state;
    sf_config_t *c = NULL;
    char err[512] = "";
    const char *two = "projections:\n"
                      "  - {name: a, topics: [t], handler: x.so}\n"
                      "  - {name: b, topics: [t], handler: x.so,\n"
                      "     commit_interval_ms: 2500}\n";
    if (sf_config_load_string(two, "ci.yaml", "/", &c, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(c->proj[0].commit_interval_ms, 1000);
    assert_int_equal(c->proj[1].commit_interval_ms, 2500);
    sf_config_destroy(c);
    expect_err("projections:\n  - name: a\n    topics: [t]\n"
               "    handler: x.so\n    commit_interval_ms: 10\n",
               "c.yaml:5:", "out of range");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_config),
        cmocka_unit_test(metrics_stuck_after),
        cmocka_unit_test(commit_interval),
        cmocka_unit_test(defaults),
        cmocka_unit_test(errors_name_positions),
        cmocka_unit_test(generations_config),
        cmocka_unit_test(rules_file_relative),
        cmocka_unit_test(environment_expansion),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
