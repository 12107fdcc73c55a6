/* test_security.c - the projector's security settings without a server:
 * the redis: map (ACL user, password file, TLS, socket), secrets read from
 * files, secrets never repeated by an error, and the precedence of Kafka
 * settings (config map < projection map < -X) that every client uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "kconf.h"
#include "redis_conn.h"

static char g_dir[64];

static void write_file(const char *name, const char *text) {
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "/tmp/sf-sec-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    return system(cmd);
}

static sf_config_t *load_ok(const char *text) {
    sf_config_t *c = NULL;
    char err[512] = "";
    if (sf_config_load_string(text, "s.yaml", g_dir, &c, err, sizeof(err)))
        fail_msg("%s", err);
    return c;
}

/* Loading fails; the error starts with where and holds needle (and, when
 * given, never the secret). */
static void load_err(const char *text, const char *where, const char *needle,
                     const char *secret) {
    sf_config_t *c = NULL;
    char err[512] = "";
    assert_int_equal(
        sf_config_load_string(text, "s.yaml", g_dir, &c, err, sizeof(err)),
        SF_ERR_CONFIG);
    assert_null(c);
    if (strncmp(err, where, strlen(where)))
        fail_msg("want prefix \"%s\", got \"%s\"", where, err);
    if (!strstr(err, needle))
        fail_msg("want \"%s\" in \"%s\"", needle, err);
    if (secret && strstr(err, secret))
        fail_msg("the error repeats the secret \"%s\": %s", secret, err);
}

#define PROJ "projections:\n  - {name: a, topics: [t], handler: h.so}\n"

static void redis_acl_tls(void **state) {
    (void)state;
    write_file("redis.pw", "s3cret pass\n");
    sf_config_t *c =
        load_ok("redis:\n"
                "  host: redis.internal\n"
                "  port: 6380\n"
                "  db: 3\n"
                "  username: streamfold\n"
                "  password_file: redis.pw\n"
                "  tls: {ca: tls/ca.pem, cert: /etc/c.pem, key: /etc/c.key,\n"
                "        server_name: redis.example, verify: false}\n" PROJ);
    sf_redis_conf_t *r = &c->redis;
    assert_string_equal(r->host, "redis.internal");
    assert_int_equal(r->port, 6380);
    assert_int_equal(r->db, 3);
    assert_string_equal(r->username, "streamfold");
    /* the file's one trailing newline is not part of the password */
    assert_string_equal(r->password, "s3cret pass");
    assert_true(r->tls.enabled);
    char want[128];
    snprintf(want, sizeof(want), "%s/tls/ca.pem", g_dir);
    assert_string_equal(r->tls.ca, want);
    assert_string_equal(r->tls.cert, "/etc/c.pem");
    assert_string_equal(r->tls.key, "/etc/c.key");
    assert_string_equal(r->tls.server_name, "redis.example");
    assert_false(r->tls.verify);
    assert_null(r->socket);
    sf_redis_conf_t copy;
    assert_int_equal(sf_redis_conf_copy(&copy, r), SF_OK);
    assert_string_equal(copy.password, "s3cret pass");
    assert_ptr_not_equal(copy.password, r->password);
    sf_redis_conf_clear(&copy);
    sf_config_destroy(c);

    /* tls: {} alone: verify on, system CAs */
    c = load_ok("redis: {tls: {}}\n" PROJ);
    assert_true(c->redis.tls.enabled);
    assert_true(c->redis.tls.verify);
    assert_null(c->redis.tls.ca);
    sf_config_destroy(c);
    /* without tls: plain TCP */
    c = load_ok("redis: {password: x}\n" PROJ);
    assert_false(c->redis.tls.enabled);
    assert_null(c->redis.username);
    sf_config_destroy(c);

    c = load_ok("redis: {socket: /run/redis/redis.sock, password: p}\n" PROJ);
    assert_string_equal(c->redis.socket, "/run/redis/redis.sock");
    char where[128];
    assert_string_equal(sf_redis_conf_where(&c->redis, where, sizeof(where)),
                        "unix:/run/redis/redis.sock");
    sf_config_destroy(c);
}

static void redis_errors(void **state) {
    (void)state;
    write_file("pw", "x\n");
    load_err("redis: {password: a, password_file: pw}\n" PROJ,
             "s.yaml:1:", "not both", NULL);
    load_err("redis: {username: u}\n" PROJ, "s.yaml:1:8: ", "needs password",
             NULL);
    load_err("redis: {tls: {cert: c.pem}}\n" PROJ,
             "s.yaml:1:14: ", "cert and key go together", NULL);
    load_err("redis: {tls: {verify: maybe}}\n" PROJ,
             "s.yaml:1:23: ", "true or false", NULL);
    load_err("redis: {tls: {cafile: x}}\n" PROJ,
             "s.yaml:1:15: ", "unknown key \"cafile\" in redis.tls", NULL);
    load_err("redis: {socket: /s, tls: {}}\n" PROJ,
             "s.yaml:1:8: ", "Unix socket", NULL);
    /* a password file that cannot be read is named, with the reason */
    char want[160];
    snprintf(want, sizeof(want), "%s/missing.pw: No such file", g_dir);
    load_err("redis: {password_file: missing.pw}\n" PROJ, "s.yaml:1:24: ", want,
             NULL);
}

static void file_substitution(void **state) {
    (void)state;
    write_file("kafka.pw", "k-pass\n");
    setenv("SF_T_SECDIR", g_dir, 1);
    sf_config_t *c = load_ok(
        "kafka:\n"
        "  sasl.username: sf\n"
        "  sasl.password: \"${file:kafka.pw}\"\n"
        "  sasl.oauthbearer.config: \"a=${file:kafka.pw};b\"\n"
        "  sasl.kerberos.principal: \"${file:${SF_T_SECDIR}/kafka.pw}\"\n"
        "redis: {password_file: \"${SF_T_SECDIR}/kafka.pw\"}\n" PROJ);
    assert_string_equal(c->kafka[1].v, "k-pass");
    assert_string_equal(c->kafka[2].v, "a=k-pass;b");
    /* the path may use variables itself (${CREDENTIALS_DIRECTORY}/x) */
    assert_string_equal(c->kafka[3].v, "k-pass");
    /* password_file: itself expands variables (systemd's
     * ${CREDENTIALS_DIRECTORY}/name) */
    assert_string_equal(c->redis.password, "k-pass");
    sf_config_destroy(c);
}

static void secrets_never_echoed(void **state) {
    (void)state;
    /* a password that contains "${" (today's complaint) */
    load_err("redis: {password: \"Pa55${word\"}\n" PROJ,
             "s.yaml:1:19: ", "unterminated ${", "Pa55");
    /* what looks like a variable name inside a secret is part of it */
    unsetenv("TOPSECRET_PART");
    load_err("redis: {password: \"x${TOPSECRET_PART}y\"}\n" PROJ,
             "s.yaml:1:19: ", "not set", "TOPSECRET_PART");
    load_err("kafka: {sasl.password: \"q${HIDDEN_BIT}q\"}\n" PROJ,
             "s.yaml:1:24: ", "not set", "HIDDEN_BIT");
    load_err("kafka: {sasl.jaas.config: \"a${\"}\n" PROJ,
             "s.yaml:1:27: ", "unterminated", "a${");
    /* a file that is not there: the path is named, never a value */
    load_err("kafka: {sasl.password: \"${file:nope}\"}\n" PROJ,
             "s.yaml:1:24: ", "nope", NULL);
    load_err("kafka: {sasl.password: \"${file:}\"}\n" PROJ,
             "s.yaml:1:24: ", "needs a path", NULL);
    load_err("kafka: {sasl.password: \"${file:${X}\"}\n" PROJ,
             "s.yaml:1:24: ", "unterminated", NULL);
    /* ordinary values still name the missing variable */
    unsetenv("SF_T_UNSET");
    load_err("redis: {host: \"${SF_T_UNSET}\"}\n" PROJ,
             "s.yaml:1:15: ", "SF_T_UNSET is not set", NULL);
}

static const char *get(rd_kafka_conf_t *conf, const char *k, char *buf,
                       size_t size) {
    size_t sz = size;
    if (rd_kafka_conf_get(conf, k, buf, &sz) != RD_KAFKA_CONF_OK)
        return "(unset)";
    return buf;
}

/* One builder, one precedence: config map < projection map < -X. */
static void kafka_precedence(void **state) {
    (void)state;
    sf_config_t *c = load_ok(
        "kafka:\n"
        "  client.id: from-config\n"
        "  socket.timeout.ms: 11000\n"
        "  sasl.username: cfg-user\n"
        "projections:\n"
        "  - name: a\n"
        "    topics: [t]\n"
        "    handler: h.so\n"
        "    kafka: {socket.timeout.ms: 22000, sasl.username: proj-user,\n"
        "            security.protocol: sasl_ssl}\n"
        "  - {name: b, topics: [t], handler: h.so}\n");
    assert_int_equal(sf_config_kafka_set(c, "sasl.username", "cli-user"),
                     SF_OK);
    char err[512], v[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(
        sf_kconf_apply(c, sf_config_find(c, "a"), conf, err, sizeof(err)),
        SF_OK);
    assert_string_equal(get(conf, "client.id", v, sizeof(v)), "from-config");
    assert_string_equal(get(conf, "socket.timeout.ms", v, sizeof(v)), "22000");
    assert_string_equal(get(conf, "security.protocol", v, sizeof(v)),
                        "sasl_ssl");
    assert_string_equal(get(conf, "sasl.username", v, sizeof(v)), "cli-user");
    rd_kafka_conf_destroy(conf);

    /* projection b has no map of its own; without a projection the same */
    for (int i = 0; i < 2; i++) {
        conf = rd_kafka_conf_new();
        assert_int_equal(sf_kconf_apply(c, i ? NULL : sf_config_find(c, "b"),
                                        conf, err, sizeof(err)),
                         SF_OK);
        assert_string_equal(get(conf, "socket.timeout.ms", v, sizeof(v)),
                            "11000");
        assert_string_equal(get(conf, "sasl.username", v, sizeof(v)),
                            "cli-user");
        assert_string_equal(get(conf, "security.protocol", v, sizeof(v)),
                            "plaintext");
        rd_kafka_conf_destroy(conf);
    }

    /* a bad property names itself and where it came from */
    assert_int_equal(sf_config_kafka_set(c, "no.such.property", "1"), SF_OK);
    conf = rd_kafka_conf_new();
    assert_int_equal(sf_kconf_apply(c, NULL, conf, err, sizeof(err)),
                     SF_ERR_CONFIG);
    if (!strstr(err, "no.such.property") || !strstr(err, "-X"))
        fail_msg("unexpected: %s", err);
    rd_kafka_conf_destroy(conf);
    sf_config_destroy(c);
}

static void tls_context_errors(void **state) {
    (void)state;
    sf_redis_conf_t rc = {0};
    char err[512] = "", ca[128];
    sf_redis_tlsctx_t *t = NULL;
    /* TLS off: no context, no error */
    assert_int_equal(sf_redis_tlsctx_new(&rc, &t, err, sizeof(err)), SF_OK);
    assert_null(t);
    snprintf(ca, sizeof(ca), "%s/no-ca.pem", g_dir);
    rc.host = "127.0.0.1";
    rc.port = 6390;
    rc.tls.enabled = 1;
    rc.tls.verify = 1;
    rc.tls.ca = ca;
    assert_int_equal(sf_redis_tlsctx_new(&rc, &t, err, sizeof(err)),
                     SF_ERR_CONFIG);
    assert_null(t);
    if (!strstr(err, "redis 127.0.0.1:6390: tls.ca ") || !strstr(err, ca))
        fail_msg("unexpected: %s", err);
    /* a file that is not a certificate */
    write_file("junk.pem", "not a certificate\n");
    snprintf(ca, sizeof(ca), "%s/junk.pem", g_dir);
    assert_int_equal(sf_redis_tlsctx_new(&rc, &t, err, sizeof(err)),
                     SF_ERR_CONFIG);
    if (!strstr(err, "junk.pem"))
        fail_msg("unexpected: %s", err);
    /* no CA file: the system's store is used */
    rc.tls.ca = NULL;
    assert_int_equal(sf_redis_tlsctx_new(&rc, &t, err, sizeof(err)), SF_OK);
    assert_non_null(t);
    sf_redis_tlsctx_destroy(t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(redis_acl_tls),
        cmocka_unit_test(redis_errors),
        cmocka_unit_test(file_substitution),
        cmocka_unit_test(secrets_never_echoed),
        cmocka_unit_test(kafka_precedence),
        cmocka_unit_test(tls_context_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
