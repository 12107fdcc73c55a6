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
 *       batch: {size: 500, time_ms: 50}
 *       commit_interval_ms: 1000   # offset commits to the group, at most
 *                                  # one per interval (commits.h)
 *       kafka: {...}               # per-projection librdkafka overrides
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
    int batch_size, batch_ms;
    int commit_interval_ms; /* offset commits to the group (commits.h) */
    sf_kv_t *kafka;
    size_t nkafka;
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
