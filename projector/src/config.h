/*
 * config.h - the sf-projector configuration file (YAML).
 *
 *   kafka:                         # librdkafka properties, passed unchanged
 *     bootstrap.servers: 127.0.0.1:9092
 *   redis: {host: 127.0.0.1, port: 6379, db: 0, username: sf,
 *           password_file: /run/credentials/sf/redis,
 *           tls: {ca: ca.pem, cert: c.pem, key: c.key}}  # redis_conn.h
 *   schemas: ../../schemas/domains # .avsc folder (catalog)
 *   metrics: {listen: 127.0.0.1:9464}
 *   projections:
 *     - name: carts
 *       topics: [cart-events]
 *       rules: carts.rules.yaml    # file, or an inline rules mapping
 *       handler: ./libcart.so      # optional C handlers (dlopen)
 *       keys: ["cart:*"]           # key patterns, for handler-only
 *                                  # projections (else in the rules)
 *       group_id: sf-carts         # default sf-<name>
 *       on_error: dlq              # dlq (default) | stop
 *       dedup: on                  # on (default) | off: drop events whose
 *                                  # ce_sequence is not above the last
 *                                  # applied (docs/duplicates.md)
 *       batch: {size: 500, time_ms: 50, idle_ms: 2}
 *                                  # a batch is applied when it holds
 *                                  # size events, when time_ms passed
 *                                  # since its first event, or, once it
 *                                  # is idle_ms old, as soon as no
 *                                  # further event is ready (0: wait
 *                                  # out time_ms)
 *       commit_interval_ms: 1000   # offset commits to the group, at most
 *                                  # one per interval (commits.h)
 *       kafka: {...}               # per-projection librdkafka overrides
 *       db: 2                      # its own live database (default redis.db)
 *       spare_db: 3                # where blue/green rebuilds build
 *       version: "2"               # part of the version digest
 *
 * Unknown keys are errors naming file:line:col.  Relative paths resolve
 * against the config file's folder.  Scalar values expand ${NAME} and
 * ${NAME:-default} from the environment, and ${file:PATH} to the contents
 * of the file PATH (one trailing newline dropped; relative to the config
 * file's folder), so secrets need not be written into the file or the
 * command line ("$${" is a literal "${").  Error messages never repeat a
 * value that may be secret: they name the key and position.
 */
#ifndef SF_PROJ_CONFIG_H
#define SF_PROJ_CONFIG_H

#include <stddef.h>

#include "redis_conn.h"
#include "rules.h"

typedef struct sf_kv {
    char *k, *v;
} sf_kv_t;

typedef struct sf_pconf {
    char *name, *group_id;
    char **topics;
    size_t ntopics;
    sf_rules_t *rules; /* may be NULL when only a handler is given */
    char *handler;     /* resolved path, or NULL */
    int on_error_stop;
    int dedup; /* dedup: on (default) | off, the duplicate rule (dedup.h) */
    int batch_size, batch_ms, batch_idle_ms;
    int commit_interval_ms; /* offset commits to the group (commits.h) */
    sf_kv_t *kafka;
    size_t nkafka;
    /* Where the view lives (docs/generations.md): db (default the redis:
     * map's db) is the database readers read; spare_db (-1: none) is the
     * one a blue/green rebuild builds the next generation in.  redis is
     * the redis: map with db in force: every connection made for this
     * projection uses it. */
    int db, spare_db;
    sf_redis_conf_t redis;
    char *version;   /* version:, or NULL */
    char digest[17]; /* version digest: 16 hex digits of FNV-1a 64 over the
                        rules (file bytes or inline mapping), the handler
                        name and version: */
} sf_pconf_t;

typedef struct sf_config {
    char *path, *dir;
    sf_kv_t *kafka;
    size_t nkafka;
    sf_kv_t *kafka_x; /* -X: applied after the projection's own kafka map */
    size_t nkafka_x;
    sf_redis_conf_t redis;
    char *schemas;        /* resolved path or NULL */
    char *metrics_listen; /* or NULL: no HTTP endpoint */
    int stuck_after_s;    /* metrics.stuck_after; 0: default (60) */
    sf_pconf_t *proj;
    size_t nproj;
} sf_config_t;

sf_err_t sf_config_load(const char *path, sf_config_t **out, char *errstr,
                        size_t errstr_size);
/* The same from text; dir resolves relative paths, origin names it. */
sf_err_t sf_config_load_string(const char *text, const char *origin,
                               const char *dir, sf_config_t **out, char *errstr,
                               size_t errstr_size);
void sf_config_destroy(sf_config_t *c);

/* Adds/overrides a command-line librdkafka property (the CLI's -X): it
 * wins over the config's kafka map and every projection's (kconf.h). */
sf_err_t sf_config_kafka_set(sf_config_t *c, const char *k, const char *v);

const sf_pconf_t *sf_config_find(const sf_config_t *c, const char *name);

#endif
