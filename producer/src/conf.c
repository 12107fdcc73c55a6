/*
 * conf.c - producer configuration: Streamfold's own "sf." keys beside
 * librdkafka properties, which pass through unchanged.
 */
#include "producer_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defaults every Streamfold producer starts from (docs/design.md): idempotent,
 * fully acknowledged, Java-compatible key hashing, bounded retries.
 *
 * Five requests in flight per broker, the most the idempotent producer
 * allows (KIP-98; librdkafka's default).  With librdkafka 2.0.2 we ran at
 * one: a partition's first batch failing with NOT_LEADER while the second
 * was in flight got "implicitly acked by subsequent batch success" and
 * reported delivered although it never reached the log.  librdkafka 2.14
 * (the version deploy/install-deps.sh builds) no longer does this: the
 * broker-restart test (tests/integration/producer/test_broker_restart.sh,
 * SIGKILL of the broker mid-publish, every id once and in order) passes at
 * five, and tests/bench/producer -I measures the gain (README).
 *
 * message.timeout.ms: SF_PRODUCER_DEFAULT_TIMEOUT_MS (sf_producer.h and
 * docs/producer-delivery.md say why 120 s).
 */
#define SF_STR_(x) #x
#define SF_STR(x)  SF_STR_(x)
static const char *const defaults[][2] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"partitioner", "murmur2_random"},
    {"message.timeout.ms", SF_STR(SF_PRODUCER_DEFAULT_TIMEOUT_MS)},
    {"max.in.flight.requests.per.connection", "5"},
};

sf_producer_conf_t *sf_producer_conf_new(void) {
    sf_producer_conf_t *conf = calloc(1, sizeof(*conf));
    char errstr[256];

    if (!conf)
        return NULL;
    conf->rk = rd_kafka_conf_new();
    if (!conf->rk) {
        free(conf);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++) {
        rd_kafka_conf_res_t r = rd_kafka_conf_set(
            conf->rk, defaults[i][0], defaults[i][1], errstr, sizeof(errstr));
        /* The defaults are constants librdkafka 2.x knows. */
        if (r != RD_KAFKA_CONF_OK)
            abort();
    }
    return conf;
}

void sf_producer_conf_destroy(sf_producer_conf_t *conf) {
    if (!conf)
        return;
    if (conf->rk)
        rd_kafka_conf_destroy(conf->rk);
    free(conf->schema_dir);
    free(conf->source);
    free(conf->topic);
    free(conf->aggtype);
    free(conf);
}

static int dup_str(char **dst, const char *src) {
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

sf_producer_conf_t *sf_producer_conf_dup(const sf_producer_conf_t *conf) {
    sf_producer_conf_t *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    *c = *conf;
    c->schema_dir = c->source = c->topic = c->aggtype = NULL;
    c->rk = rd_kafka_conf_dup(conf->rk);
    if (!c->rk || dup_str(&c->schema_dir, conf->schema_dir) ||
        dup_str(&c->source, conf->source) || dup_str(&c->topic, conf->topic) ||
        dup_str(&c->aggtype, conf->aggtype)) {
        sf_producer_conf_destroy(c);
        return NULL;
    }
    return c;
}

/* The sf.* keys, each naming the field it fills. */
static char **sf_key(sf_producer_conf_t *conf, const char *name) {
    if (!strcmp(name, "sf.schema.dir"))
        return &conf->schema_dir;
    if (!strcmp(name, "sf.source"))
        return &conf->source;
    if (!strcmp(name, "sf.topic"))
        return &conf->topic;
    if (!strcmp(name, "sf.aggregate.type"))
        return &conf->aggtype;
    return NULL;
}

sf_err_t sf_producer_conf_set(sf_producer_conf_t *conf, const char *name,
                              const char *value, char *errstr,
                              size_t errstr_size) {
    char rkerr[512];

    if (!conf || !name || !value)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_producer_conf_set: NULL argument");
    if (!strncmp(name, "sf.", 3)) {
        char **field = sf_key(conf, name);
        char *copy;

        if (!field)
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "unknown configuration property \"%s\" "
                             "(known: sf.schema.dir, sf.source, sf.topic, "
                             "sf.aggregate.type)",
                             name);
        if (!*value)
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "configuration property \"%s\": empty value",
                             name);
        if (field == &conf->source &&
            sf__ce_check_uri_reference(value, rkerr, sizeof(rkerr)))
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "sf.source \"%s\" is not a URI-reference "
                             "(CloudEvents 1.0 source, RFC 3986): %s",
                             value, rkerr);
        copy = strdup(value);
        if (!copy)
            return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                             "%s: out of memory", name);
        free(*field);
        *field = copy;
        return SF_OK;
    }
    if (rd_kafka_conf_set(conf->rk, name, value, rkerr, sizeof(rkerr)) !=
        RD_KAFKA_CONF_OK)
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "configuration property \"%s\": %s", name, rkerr);
    if (!strcmp(name, "message.timeout.ms") ||
        !strcmp(name, "delivery.timeout.ms"))
        conf->timeout_set = 1;
    return SF_OK;
}

sf_err_t sf_producer_conf_get(const sf_producer_conf_t *conf, const char *name,
                              char *buf, size_t size, char *errstr,
                              size_t errstr_size) {
    if (!conf || !name || !buf || !size)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_producer_conf_get: NULL argument");
    if (!strncmp(name, "sf.", 3)) {
        char **field = sf_key((sf_producer_conf_t *)conf, name);

        if (!field)
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "unknown configuration property \"%s\"", name);
        if (!*field)
            return sf_seterr(errstr, errstr_size, SF_ERR_NOT_FOUND,
                             "configuration property \"%s\" is not set", name);
        snprintf(buf, size, "%s", *field);
        return SF_OK;
    }
    {
        size_t sz = size;
        rd_kafka_conf_res_t r = rd_kafka_conf_get(conf->rk, name, buf, &sz);

        if (r == RD_KAFKA_CONF_UNKNOWN)
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "unknown configuration property \"%s\"", name);
        if (r == RD_KAFKA_CONF_INVALID) {
            /* Too small a buffer: librdkafka wrote nothing. */
            return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                             "configuration property \"%s\": value needs "
                             "%zu bytes",
                             name, sz);
        }
        if (!*buf)
            return sf_seterr(errstr, errstr_size, SF_ERR_NOT_FOUND,
                             "configuration property \"%s\" is not set", name);
    }
    return SF_OK;
}

void sf_producer_conf_set_catalog(sf_producer_conf_t *conf,
                                  const sf_catalog_t *cat) {
    conf->cat = cat;
}

void sf_producer_conf_set_dr_cb(sf_producer_conf_t *conf,
                                sf_producer_dr_cb cb) {
    conf->dr_cb = cb;
}

void sf_producer_conf_set_error_cb(sf_producer_conf_t *conf,
                                   sf_producer_error_cb cb) {
    conf->error_cb = cb;
}

void sf_producer_conf_set_log_cb(sf_producer_conf_t *conf,
                                 sf_producer_log_cb cb) {
    conf->log_cb = cb;
}

void sf_producer_conf_set_opaque(sf_producer_conf_t *conf, void *opaque) {
    conf->opaque = opaque;
}

#define EVENTS_SUFFIX "-events"

char *sf__aggtype_from_topic(const char *topic) {
    size_t n = strlen(topic), sn = strlen(EVENTS_SUFFIX);

    if (n <= sn || strcmp(topic + n - sn, EVENTS_SUFFIX))
        return NULL;
    return strndup(topic, n - sn);
}

char *sf__topic_from_aggtype(const char *aggtype) {
    size_t n = strlen(aggtype) + sizeof(EVENTS_SUFFIX);
    char *t = malloc(n);

    if (t)
        snprintf(t, n, "%s" EVENTS_SUFFIX, aggtype);
    return t;
}
