/* test_rules.c - projection rules: parsing (errors with file:line:col),
 * interpolation (paths, filters, conditions) and injection attempts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch.h"
#include "event.h"
#include "interp.h"
#include "rules.h"
#include "sf_schema.h"

static const char SCHEMA[] =
    "{\"type\":\"record\",\"name\":\"E\",\"namespace\":\"t\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"qty\",\"type\":\"int\"},"
    "{\"name\":\"price\",\"type\":\"long\"},"
    "{\"name\":\"ok\",\"type\":\"boolean\"},"
    "{\"name\":\"ratio\",\"type\":\"double\"},"
    "{\"name\":\"address\",\"type\":{\"type\":\"record\",\"name\":\"A\","
    "\"fields\":[{\"name\":\"city\",\"type\":\"string\"}]}},"
    "{\"name\":\"fighters\",\"type\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"record\",\"name\":\"F\",\"fields\":"
    "[{\"name\":\"name\",\"type\":\"string\"}]}}},"
    "{\"name\":\"winner\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"method\",\"type\":{\"type\":\"enum\",\"name\":\"M\","
    "\"symbols\":[\"KO\",\"DRAW\"]}}]}";

typedef struct fx {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t val;
    sf_event_t ev;
    sf_batch_t b;
    sf_buf_t scratch;
    char path[64];
} fx_t;

static void set_str(avro_value_t *rec, const char *name, const char *s) {
    avro_value_t f;
    assert_int_equal(avro_value_get_by_name(rec, name, &f, NULL), 0);
    avro_value_set_string(&f, s);
}

/* Fills the event: id/city given, winner NULL or a string. */
static void fill(fx_t *x, const char *id, const char *city,
                 const char *winner) {
    avro_value_t f, e, br;
    avro_value_reset(&x->val);
    set_str(&x->val, "id", id);
    avro_value_get_by_name(&x->val, "qty", &f, NULL);
    avro_value_set_int(&f, 3);
    avro_value_get_by_name(&x->val, "price", &f, NULL);
    avro_value_set_long(&f, 1795698000123LL);
    avro_value_get_by_name(&x->val, "ok", &f, NULL);
    avro_value_set_boolean(&f, 1);
    avro_value_get_by_name(&x->val, "ratio", &f, NULL);
    avro_value_set_double(&f, 0.5);
    avro_value_get_by_name(&x->val, "address", &f, NULL);
    set_str(&f, "city", city);
    avro_value_get_by_name(&x->val, "fighters", &f, NULL);
    avro_value_append(&f, &e, NULL);
    set_str(&e, "name", "Ali");
    avro_value_append(&f, &e, NULL);
    set_str(&e, "name", "Frazier");
    avro_value_get_by_name(&x->val, "winner", &f, NULL);
    avro_value_set_branch(&f, winner ? 1 : 0, &br);
    if (winner)
        avro_value_set_string(&br, winner);
    else
        avro_value_set_null(&br);
    avro_value_get_by_name(&x->val, "method", &f, NULL);
    avro_value_set_enum(&f, 1);
    x->ev.topic = "cart-events";
    x->ev.partition = 3;
    x->ev.offset = 42;
    x->ev.timestamp = 1000;
    x->ev.aggregate_id = "agg-1";
    x->ev.type = "t.E";
    x->ev.id = "eid-1";
    x->ev.time = "2026-11-26T13:00:00Z";
    x->ev.version = "7";
    x->ev.data = &x->val;
}

static int setup(void **state) {
    fx_t *x = calloc(1, sizeof(*x));
    assert_int_equal(
        avro_schema_from_json_length(SCHEMA, strlen(SCHEMA), &x->schema), 0);
    x->iface = avro_generic_class_from_schema(x->schema);
    assert_int_equal(avro_generic_value_new(x->iface, &x->val), 0);
    sf_batch_init(&x->b);
    *state = x;
    return 0;
}

static int teardown(void **state) {
    fx_t *x = *state;
    avro_value_decref(&x->val);
    avro_value_iface_decref(x->iface);
    avro_schema_decref(x->schema);
    sf_batch_free(&x->b);
    sf_buf_free(&x->scratch);
    if (x->path[0])
        unlink(x->path);
    free(x);
    return 0;
}

static const char *write_rules(fx_t *x, const char *text) {
    if (x->path[0])
        unlink(x->path);
    snprintf(x->path, sizeof(x->path), "/tmp/sf-rules-XXXXXX");
    int fd = mkstemp(x->path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return x->path;
}

/* Loads rules, applies them to the current event; returns the error. */
static sf_err_t run(fx_t *x, const char *text, char *err, size_t size) {
    sf_rules_t *r = NULL;
    sf_err_t e = sf_rules_load_file(write_rules(x, text), &r, err, size);
    if (e)
        return e;
    sf_batch_reset(&x->b);
    sf_batch_event_begin(&x->b, x->ev.offset, 0);
    e = sf_rules_apply(r, &x->ev, &x->b, &x->scratch, err, size);
    if (e)
        sf_batch_event_abort(&x->b);
    else
        sf_batch_event_end(&x->b);
    sf_rules_destroy(r);
    return e;
}

/* The batch's args after the event header, joined with '|'. */
static const char *joined(fx_t *x, char *buf, size_t size) {
    size_t j = 0;
    for (size_t i = 2; i < x->b.nargs && j + 1 < size; i++) {
        size_t n = x->b.alen[i];
        if (j + n + 2 >= size)
            n = size - j - 2;
        memcpy(buf + j, x->b.data.p + x->b.aoff[i], n);
        j += n;
        buf[j++] = '|';
    }
    buf[j ? j - 1 : 0] = '\0';
    return buf;
}

static void paths_and_filters(void **state) {
    fx_t *x = *state;
    char err[512], out[1024];
    fill(x, "c1", "Berlin", "w1");
    assert_int_equal(
        run(x,
            "keys: [\"e:*\"]\n"
            "on:\n"
            "  t.E:\n"
            "    - [HSET, \"e:{aggregate_id}\", city, \"{data.address.city}\","
            " first, \"{data.fighters[1].name}\", m, \"{data.method}\","
            " w, \"{data.winner}\", ok, \"{data.ok}\", r, \"{data.ratio}\"]\n"
            "    - [HINCRBY, \"q:{data.id}\", n, \"{data.qty|neg}\"]\n"
            "    - [SET, \"env\", \"{type}/{version}/{time}/{event_id}/"
            "{partition}/{offset}/{topic}/{timestamp}/{{lit}}\"]\n"
            "    - [ZADD, z, \"{data.price}\", \"{data.id}\"]\n",
            err, sizeof(err)),
        SF_OK);
    assert_string_equal(
        joined(x, out, sizeof(out)),
        "14|HSET|e:agg-1|city|Berlin|first|Frazier|m|DRAW|w|w1|ok|true|r|0.5|"
        "4|HINCRBY|q:c1|n|-3|"
        "3|SET|env|t.E/7/2026-11-26T13:00:00Z/eid-1/3/42/cart-events/1000/"
        "{lit}|"
        "4|ZADD|z|1795698000123|c1");
    /* the first header arg is the number of commands */
    assert_int_equal(x->b.alen[1], 1);
    assert_memory_equal(x->b.data.p + x->b.aoff[1], "4", 1);
}

/* Every filter the rules accept for a value source is applied to it:
 * |neg on the envelope numbers as on data numbers, in 64 bits. */
static void neg_applies_to_envelope_numbers(void **state) {
    fx_t *x = *state;
    char err[512], out[512];
    const char *rules =
        "on:\n  t.E:\n"
        "    - [SET, n, \"{partition|neg}/{offset|neg}/{timestamp|neg}/"
        "{data.qty|neg}\"]\n";
    fill(x, "c1", "Berlin", NULL);
    assert_int_equal(run(x, rules, err, sizeof(err)), SF_OK);
    assert_string_equal(joined(x, out, sizeof(out)), "3|SET|n|-3/-42/-1000/-3");
    x->ev.timestamp = -1; /* unknown Kafka timestamp */
    x->ev.partition = INT32_MIN;
    assert_int_equal(run(x, rules, err, sizeof(err)), SF_OK);
    assert_string_equal(joined(x, out, sizeof(out)),
                        "3|SET|n|2147483648/-42/1/-3");
    x->ev.timestamp = INT64_MIN;
    assert_int_equal(run(x, rules, err, sizeof(err)), SF_ERR_RULE);
    assert_non_null(strstr(err, "timestamp|neg"));
    /* the check against the schemas (at load) takes |neg on every
     * number source and refuses it on every text source */
    static const struct {
        const char *path;
        int ok;
    } src[] = {
        {"partition|neg", 1}, {"offset|neg", 1},       {"timestamp|neg", 1},
        {"event_id|neg", 0},  {"aggregate_id|neg", 0}, {"type|neg", 0},
        {"version|neg", 0},   {"time|neg", 0},         {"topic|neg", 0},
    };
    for (size_t i = 0; i < sizeof src / sizeof src[0]; i++) {
        sf_path_t *p = NULL;
        size_t col;
        assert_int_equal(
            sf_path_compile(src[i].path, &p, &col, err, sizeof(err)), SF_OK);
        sf_err_t e = sf_path_check(p, x->schema, err, sizeof(err));
        if ((e == SF_OK) != src[i].ok)
            fail_msg("%s: check gave %d", src[i].path, e);
        sf_path_destroy(p);
    }
}

static void injection_stays_one_argument(void **state) {
    fx_t *x = *state;
    char err[512];
    const char *evil = "x\r\n*1\r\n$8\r\nFLUSHALL\r\n";
    const char *braces = "{aggregate_id} \"q\" ]], [DEL, *]";
    fill(x, evil, braces, NULL);
    assert_int_equal(
        run(x,
            "on:\n  t.E:\n"
            "    - [HSET, \"k:{data.id}\", f, \"{data.address.city}\"]\n",
            err, sizeof(err)),
        SF_OK);
    /* offset, ncmds, nargs, HSET, key, f, value: exactly 7 arguments */
    assert_int_equal(x->b.nargs, 7);
    /* ...and the id is escaped inside the key: no control byte reaches
     * it, ':' and '%' could not add a segment */
    const char *key = "k:x%0D%0A*1%0D%0A$8%0D%0AFLUSHALL%0D%0A";
    assert_int_equal(x->b.alen[4], strlen(key));
    assert_memory_equal(x->b.data.p + x->b.aoff[4], key, strlen(key));
    /* braces inside data are not re-interpolated */
    assert_int_equal(x->b.alen[6], strlen(braces));
    assert_memory_equal(x->b.data.p + x->b.aoff[6], braces, strlen(braces));
}

static void conditions(void **state) {
    fx_t *x = *state;
    char err[512], out[512];
    const char *rules = "on:\n  t.E:\n"
                        "    - cmd: [ZINCRBY, wins, 1, \"{data.winner}\"]\n"
                        "      unless: {data.winner: null}\n"
                        "    - cmd: [INCR, draws]\n"
                        "      when: {data.method: DRAW, data.winner: null}\n"
                        "    - cmd: [INCR, never]\n"
                        "      when: {data.address.city: Paris}\n";
    fill(x, "c1", "Berlin", NULL);
    assert_int_equal(run(x, rules, err, sizeof(err)), SF_OK);
    assert_string_equal(joined(x, out, sizeof(out)), "2|INCR|draws");
    fill(x, "c1", "Berlin", "w9");
    assert_int_equal(run(x, rules, err, sizeof(err)), SF_OK);
    assert_string_equal(joined(x, out, sizeof(out)), "4|ZINCRBY|wins|1|w9");
}

/* A condition compares whole values: "Paris\0EVIL" is not "Paris", and a
 * NUL written in the rules ("\0" in a double-quoted YAML value) counts. */
static void conditions_compare_whole_values(void **state) {
    fx_t *x = *state;
    char err[512], out[512];
    const char *rules = "on:\n  t.E:\n"
                        "    - cmd: [INCR, paris]\n"
                        "      when: {data.address.city: Paris}\n"
                        "    - cmd: [INCR, other]\n"
                        "      unless: {data.address.city: Paris}\n"
                        "    - cmd: [INCR, nul]\n"
                        "      when: {data.address.city: \"Paris\\0EVIL\"}\n";
    avro_value_t f, city;
    fill(x, "c1", "Paris", NULL);
    assert_int_equal(run(x, rules, err, sizeof(err)), SF_OK);
    assert_string_equal(joined(x, out, sizeof(out)), "2|INCR|paris");
    fill(x, "c1", "x", NULL);
    avro_value_get_by_name(&x->val, "address", &f, NULL);
    avro_value_get_by_name(&f, "city", &city, NULL);
    /* avro-c counts the terminating NUL in the size */
    assert_int_equal(avro_value_set_string_len(&city, "Paris\0EVIL", 11), 0);
    assert_int_equal(run(x, rules, err, sizeof(err)), SF_OK);
    assert_string_equal(joined(x, out, sizeof(out)), "2|INCR|other|2|INCR|nul");
}

static void runtime_errors_name_path_and_rule(void **state) {
    fx_t *x = *state;
    char err[512];
    fill(x, "c1", "Berlin", NULL);
    assert_int_equal(run(x, "on:\n  t.E:\n    - [SET, k, \"{data.nope}\"]\n",
                         err, sizeof(err)),
                     SF_ERR_RULE);
    assert_non_null(strstr(err, ":3:7: "));
    assert_non_null(strstr(err, "data.nope"));
    assert_int_equal(
        run(x, "on:\n  t.E:\n    - [SET, k, \"{data.fighters[5].name}\"]\n",
            err, sizeof(err)),
        SF_ERR_RULE);
    assert_non_null(strstr(err, "out of range"));
    assert_int_equal(run(x, "on:\n  t.E:\n    - [SET, k, \"{data.id|neg}\"]\n",
                         err, sizeof(err)),
                     SF_ERR_RULE);
    /* the failed event keeps no commands */
    assert_int_equal(x->b.nargs, 2);
}

/* Expects a parse error at line:col. */
static void parse_err(fx_t *x, const char *text, int line, int col,
                      const char *needle) {
    char err[512], want[128];
    sf_rules_t *r = NULL;
    sf_err_t e = sf_rules_load_file(write_rules(x, text), &r, err, sizeof(err));
    assert_int_equal(e, SF_ERR_PARSE);
    assert_null(r);
    if (line < 0) /* position chosen by libyaml: only the file name */
        snprintf(want, sizeof(want), "%s:", x->path);
    else
        snprintf(want, sizeof(want), "%s:%d:%d: ", x->path, line, col);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("want prefix \"%s\", got \"%s\"", want, err);
    if (!strstr(err, needle))
        fail_msg("want \"%s\" in \"%s\"", needle, err);
}

static void parse_errors_have_positions(void **state) {
    fx_t *x = *state;
    parse_err(x, "on:\n  t.E:\n    - [FLUSHALL]\n", 3, 8, "FLUSHALL");
    parse_err(x, "on:\n  t.E:\n    - [SET, \"k:{data.id\", v]\n", 3, 16,
              "unterminated");
    parse_err(x, "on:\n  t.E:\n    - [SET, \"k:{foo}\", v]\n", 3, 17,
              "unknown field \"foo\"");
    parse_err(x, "on:\n  t.E:\n    - [SET, k, \"{data.id|upper}\"]\n", 3, 26,
              "unknown filter");
    parse_err(x, "keys: [a]\nwhat: 1\non: {}\n", 2, 1, "unknown key \"what\"");
    parse_err(x, "on:\n  t.E:\n    - [SET, k, v]\n  t.E:\n    - [DEL, k]\n", 4,
              3, "duplicate event type");
    parse_err(x, "on:\n  t.E:\n    - [SET, k\n", -1, -1, "");
    parse_err(x, "on:\n  t.E:\n    - cmd: [SET, k, v]\n      if: {a: b}\n", 4,
              7, "unknown key \"if\"");
    parse_err(x, "keys: [\"sf:*\"]\non: {}\n", 1, 8, "bookkeeping");
    parse_err(x, "keys: []\n", 1, 1, "\"on\"");
    parse_err(x, "on:\n  t.E: [SET, k]\n", 2, 9,
              "expected a command as a list");
}

static void valid_file_lists_keys_and_types(void **state) {
    fx_t *x = *state;
    char err[512];
    sf_rules_t *r = NULL;
    assert_int_equal(
        sf_rules_load_file(
            write_rules(x, "description: d\n"
                           "keys: [\"a:*\", \"b\"]\n"
                           "on:\n  t.E: []\n  t.F:\n    - [DEL, x]\n"),
            &r, err, sizeof(err)),
        SF_OK);
    assert_int_equal(sf_rules_nkeys(r), 2);
    assert_string_equal(sf_rules_key(r, 1), "b");
    assert_int_equal(sf_rules_ntypes(r), 2);
    assert_true(sf_rules_has(r, "t.F"));
    assert_false(sf_rules_has(r, "t.G"));
    sf_rules_destroy(r);
}

/* Maps by key, records/arrays rendered as JSON, |json, optional records. */
static void maps_json_and_optional(void **state) {
    (void)state;
    static const char S2[] =
        "{\"type\":\"record\",\"name\":\"G\",\"fields\":["
        "{\"name\":\"attrs\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
        "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}}"
        ","
        "{\"name\":\"opt\",\"type\":[\"null\",{\"type\":\"record\","
        "\"name\":\"O\",\"fields\":[{\"name\":\"x\",\"type\":\"int\"}]}]}]}";
    avro_schema_t sch;
    assert_int_equal(avro_schema_from_json_length(S2, strlen(S2), &sch), 0);
    avro_value_iface_t *iface = avro_generic_class_from_schema(sch);
    avro_value_t v, f, e, br;
    avro_generic_value_new(iface, &v);
    avro_value_get_by_name(&v, "attrs", &f, NULL);
    avro_value_add(&f, "color", &e, NULL, NULL);
    avro_value_set_long(&e, 7);
    avro_value_get_by_name(&v, "tags", &f, NULL);
    avro_value_append(&f, &e, NULL);
    avro_value_set_string(&e, "a\"b");
    avro_value_get_by_name(&v, "opt", &f, NULL);
    avro_value_set_branch(&f, 0, &br);
    avro_value_set_null(&br);
    sf_event_t ev = {0};
    ev.aggregate_id = "g";
    ev.type = ev.id = ev.time = ev.version = ev.topic = "";
    ev.data = &v;
    struct {
        const char *tmpl, *want;
        sf_err_t err;
    } cases[] = {
        {"{data.attrs.color}", "7", SF_OK},
        {"{data.tags}", "[\"a\\\"b\"]", SF_OK},
        {"{data.tags|json}", "[\"a\\\"b\"]", SF_OK},
        {"{data.opt.x}", "", SF_OK}, /* absent optional record: null */
        {"{data.attrs.size}", NULL, SF_ERR_RULE},
        {"{data.tags.x}", NULL, SF_ERR_RULE},
        {"{data.attrs[0]}", NULL, SF_ERR_RULE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sf_tmpl_t *t = NULL;
        size_t col = 0;
        char err[256];
        sf_buf_t out = {0};
        assert_int_equal(
            sf_tmpl_compile(cases[i].tmpl, &t, &col, err, sizeof(err)), SF_OK);
        sf_err_t rc = sf_tmpl_render(t, &ev, &out, err, sizeof(err));
        if (rc != cases[i].err)
            fail_msg("%s: got %d (%s), want %d", cases[i].tmpl, rc, err,
                     cases[i].err);
        if (cases[i].want)
            assert_string_equal(out.p ? out.p : "", cases[i].want);
        sf_buf_free(&out);
        sf_tmpl_destroy(t);
    }
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(sch);
}

/* Ids in key positions are escaped, never empty; other arguments are
 * passed as they are. */
static void ids_in_keys(void **state) {
    fx_t *x = *state;
    char err[512], out[1024];
    const char *rules = "keys: [\"e:*\"]\non:\n  t.E:\n"
                        "    - [HSET, \"e:{aggregate_id}:{data.id}\", "
                        "\"{data.id}\", \"{aggregate_id}\"]\n"
                        "    - [SMOVE, \"e:{data.id}\", \"e:x\", "
                        "\"{data.id}\"]\n";
    fill(x, "50%:off", "Berlin", NULL);
    x->ev.aggregate_id = "c42:items";
    assert_int_equal(run(x, rules, err, sizeof(err)), SF_OK);
    assert_string_equal(joined(x, out, sizeof(out)),
                        "4|HSET|e:c42%3Aitems:50%25%3Aoff|50%:off|c42:items|"
                        "4|SMOVE|e:50%25%3Aoff|e:x|50%:off");
    /* an event with neither key nor ce_subject has no aggregate */
    x->ev.aggregate_id = "";
    assert_int_equal(run(x, rules, err, sizeof(err)), SF_ERR_RULE);
    assert_non_null(strstr(err, "aggregate_id: empty in a key"));
    assert_int_equal(x->b.nargs, 2); /* nothing kept of the event */
    /* null in a key is refused the same way */
    x->ev.aggregate_id = "a";
    assert_int_equal(run(x,
                         "on:\n  t.E:\n    - [SET, \"w:{data.winner}\", 1]\n",
                         err, sizeof(err)),
                     SF_ERR_RULE);
    assert_non_null(strstr(err, "data.winner: null in a key"));
}

/* A key argument that can never match the file's keys: patterns is an
 * error at load (the writes are also checked one by one at run time). */
static void key_templates_against_patterns(void **state) {
    fx_t *x = *state;
    char err[512];
    struct {
        const char *rules;
        int line, col;
    } t[] = {
        {"keys: [\"e:*\", \"f\"]\non:\n  t.E:\n"
         "    - [HSET, \"e:{aggregate_id}\", \"x:{data.id}\", v]\n"
         "    - [DEL, \"e:a\", f, \"e:{data.id}:*\"]\n"
         "    - [SMOVE, \"e:{data.id}\", \"{data.id}\", m]\n",
         0, 0},
        {"keys: [\"e:*\"]\non:\n  t.E:\n    - [SET, \"x:{aggregate_id}\", v]\n",
         4, 14},
        {"keys: [\"e:*\"]\non:\n  t.E:\n    - [DEL, \"e:a\", "
         "\"ee:{data.id}\"]\n",
         4, 21},
        {"keys: [\"e:?\"]\non:\n  t.E:\n    - [INCR, "
         "\"e:{data.id}:{data.id}\"]\n",
         4, 15},
        {"on:\n  t.E:\n    - [INCR, k]\n", 3, 14}, /* no patterns at all */
        /* an escaped id never holds ':' (nor a control byte) */
        {"keys: [\"X-cart:*\"]\non:\n  t.E:\n"
         "    - [SET, \"X-cart{aggregate_id}\", v]\n",
         4, 14},
        {"keys: [\"e:*:x\"]\non:\n  t.E:\n    - [SET, \"e:{data.id}x\", v]\n",
         4, 14},
        {"keys: [\"e:\\x01*\"]\non:\n  t.E:\n    - [SET, \"e:{data.id}\", v]\n",
         4, 14},
        /* long literals around placeholders (the glob grows as it is
         * built: 15 bytes put the placeholder across a reallocation) */
        {"keys: [\"a14073773:cart:*\"]\non:\n  t.E:\n"
         "    - [HSET, \"a14073773:cart:{aggregate_id}:items\", f, v]\n"
         "    - [HSET, \"a14073773:cart:{aggregate_id}\", f, v]\n"
         "    - [HSET, \"a14073773:cart:x{data.id}y{aggregate_id}:\", f, v]\n",
         0, 0},
        /* but may hold '%' and any other byte, and be one of many parts */
        {"keys: [\"e:%*\", \"f:a:*\"]\non:\n  t.E:\n"
         "    - [SET, \"e:{data.id}\", v]\n"
         "    - [SET, \"f:{data.id}:z\", v]\n",
         0, 0},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        sf_rules_t *r = NULL;
        assert_int_equal(sf_rules_load_file(write_rules(x, t[i].rules), &r, err,
                                            sizeof(err)),
                         SF_OK);
        sf_err_t e = sf_rules_check_keys(r, err, sizeof(err));
        sf_rules_destroy(r);
        if (!t[i].line) {
            if (e)
                fail_msg("rules %zu refused: %s", i, err);
            continue;
        }
        char want[128];
        snprintf(want, sizeof(want), "%s:%d:%d: this key can never match",
                 x->path, t[i].line, t[i].col);
        if (e != SF_ERR_CONFIG || strncmp(err, want, strlen(want)))
            fail_msg("rules %zu: want \"%s\", got %d \"%s\"", i, want, e, err);
    }
}

/* |neg never overflows: an int is negated in 64 bits, the smallest long
 * has no negation and is refused. */
static void neg_never_overflows(void **state) {
    fx_t *x = *state;
    char err[512], out[256];
    avro_value_t f;
    fill(x, "c1", "Berlin", NULL);
    avro_value_get_by_name(&x->val, "qty", &f, NULL);
    avro_value_set_int(&f, INT32_MIN);
    assert_int_equal(run(x,
                         "on:\n  t.E:\n    - [INCRBY, n, \"{data.qty|neg}\"]\n",
                         err, sizeof(err)),
                     SF_OK);
    assert_string_equal(joined(x, out, sizeof(out)), "3|INCRBY|n|2147483648");
    avro_value_get_by_name(&x->val, "price", &f, NULL);
    avro_value_set_long(&f, INT64_MIN);
    assert_int_equal(
        run(x, "on:\n  t.E:\n    - [INCRBY, n, \"{data.price|neg}\"]\n", err,
            sizeof(err)),
        SF_ERR_RULE);
    assert_non_null(strstr(err, "does not fit a 64-bit integer"));
    avro_value_set_long(&f, INT64_MAX);
    assert_int_equal(
        run(x, "on:\n  t.E:\n    - [INCRBY, n, \"{data.price|neg}\"]\n", err,
            sizeof(err)),
        SF_OK);
    assert_string_equal(joined(x, out, sizeof(out)),
                        "3|INCRBY|n|-9223372036854775807");
    /* an index too large for 32 bits is a parse error, not a wrap */
    assert_int_equal(run(x,
                         "on:\n  t.E:\n    - [SET, k, "
                         "\"{data.fighters[18446744073709551617].name}\"]\n",
                         err, sizeof(err)),
                     SF_ERR_PARSE);
}

/* Rules against the schema catalog: the type must exist, every path must
 * exist in its newest version; errors name file:line:col. */
static void expect_catalog(fx_t *x, sf_catalog_t *cat, const char *text,
                           int line, int col, const char *needle) {
    char err[1024], want[128];
    sf_rules_t *r = NULL;
    assert_int_equal(
        sf_rules_load_file(write_rules(x, text), &r, err, sizeof(err)), SF_OK);
    sf_err_t e = sf_rules_check_catalog(r, cat, err, sizeof(err));
    sf_rules_destroy(r);
    if (!needle) {
        if (e)
            fail_msg("refused: %s", err);
        return;
    }
    if (e != SF_ERR_CONFIG)
        fail_msg("accepted, want %s", needle);
    snprintf(want, sizeof(want), "%s:%d:%d: ", x->path, line, col);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("want prefix \"%s\", got \"%s\"", want, err);
    if (!strstr(err, needle))
        fail_msg("want \"%s\" in \"%s\"", needle, err);
}

static void rules_checked_against_catalog(void **state) {
    fx_t *x = *state;
    char err[512];
    sf_catalog_t *cat = sf_catalog_new();
    assert_int_equal(sf_catalog_add(cat, SCHEMA, strlen(SCHEMA), "E", 1, NULL,
                                    err, sizeof(err)),
                     SF_OK);
    expect_catalog(x, cat,
                   "on:\n  t.E:\n    - [HSET, \"e:{aggregate_id}\", c, "
                   "\"{data.address.city}\", w, \"{data.winner}\", "
                   "f, \"{data.fighters[3].name}\", n, \"{data.qty|neg}\"]\n"
                   "    - cmd: [INCR, \"m:{data.method}\"]\n"
                   "      unless: {data.winner: null}\n",
                   0, 0, NULL);
    expect_catalog(x, cat, "on:\n  t.E: []\n  t.Typo:\n    - [INCR, k]\n", 3, 3,
                   "unknown event type \"t.Typo\"");
    expect_catalog(
        x, cat,
        "on:\n  t.E:\n    - [HSET, k, c, \"city {data.adress.city}\"]\n", 3, 27,
        "no field \"adress\" in t.E");
    expect_catalog(
        x, cat, "on:\n  t.E:\n    - [HSET, k, c, '{data.fighters[0].nme}']\n",
        3, 22, "no field \"nme\" in t.F");
    expect_catalog(x, cat, "on:\n  t.E:\n    - [SET, k, \"{data.qty.x}\"]\n", 3,
                   18, ".x applied to a int");
    expect_catalog(x, cat,
                   "on:\n  t.E:\n    - [SET, k, \"{data.address[0]}\"]\n", 3,
                   18, "[0] applied to a t.A");
    expect_catalog(x, cat, "on:\n  t.E:\n    - [SET, k, \"{data.id|neg}\"]\n",
                   3, 18, "|neg needs a number");
    expect_catalog(
        x, cat,
        "on:\n  t.E:\n    - cmd: [INCR, k]\n      when: {data.wnner: x}\n", 4,
        14, "no field \"wnner\"");
    sf_catalog_destroy(cat);

    /* the shipped example rules fit the shipped domain schemas */
    const char *ex[] = {"cart-contents", "product-availability",
                        "route-machines", "fight-results"};
    cat = sf_catalog_new();
    assert_int_equal(sf_catalog_load_dir(cat, SF_DOMAINS, err, sizeof(err)),
                     SF_OK);
    for (size_t i = 0; i < 4; i++) {
        char path[512], cerr[1024];
        sf_rules_t *r = NULL;
        snprintf(path, sizeof(path), "%s/%s.rules.yaml", SF_EXAMPLES_DIR,
                 ex[i]);
        assert_int_equal(sf_rules_load_file(path, &r, cerr, sizeof(cerr)),
                         SF_OK);
        if (sf_rules_check_catalog(r, cat, cerr, sizeof(cerr)) ||
            sf_rules_check_keys(r, cerr, sizeof(cerr)))
            fail_msg("%s", cerr);
        sf_rules_destroy(r);
    }
    sf_catalog_destroy(cat);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(paths_and_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(injection_stays_one_argument, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(conditions, setup, teardown),
        cmocka_unit_test_setup_teardown(neg_applies_to_envelope_numbers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(conditions_compare_whole_values, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(ids_in_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(key_templates_against_patterns, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(neg_never_overflows, setup, teardown),
        cmocka_unit_test_setup_teardown(rules_checked_against_catalog, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(runtime_errors_name_path_and_rule,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(parse_errors_have_positions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(valid_file_lists_keys_and_types, setup,
                                        teardown),
        cmocka_unit_test(maps_json_and_optional),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
