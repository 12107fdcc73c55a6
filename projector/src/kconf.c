/* kconf.c - consumer configuration (see kconf.h). */
#include "kconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "log.h"

static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
    char q[1024];
    sf_log(level <= 3 ? "error" : level <= 4 ? "warn" : "info",
           "component=kafka client=%s facility=%s msg=%s",
           rk ? rd_kafka_name(rk) : "-", fac, sf_log_q(q, sizeof(q), buf));
}

sf_err_t sf_kconf_consumer(const sf_config_t *cfg, const sf_pconf_t *pc,
                           const char *group_id, rd_kafka_t **out,
                           char *errstr, size_t errstr_size,
                           void (*rebalance_cb)(rd_kafka_t *,
                                                rd_kafka_resp_err_t,
                                                rd_kafka_topic_partition_list_t *,
                                                void *),
                           void *opaque) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    char grp[64];
    if (!group_id && !pc) {
        uuid_t u;
        char s[37];
        uuid_generate(u);
        uuid_unparse_lower(u, s);
        snprintf(grp, sizeof(grp), "sf-tmp-%s", s);
        group_id = grp;
    } else if (!group_id) {
        group_id = pc->group_id;
    }
    struct {
        const char *k, *v;
    } forced[] = {
        {"group.id", group_id},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"isolation.level", "read_committed"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"enable.partition.eof", "false"},
    };
    /* Defaults the config may override.  librdkafka 2.0.2 counts
     * queued.min.messages against the one consumer queue all partitions
     * forward to, and a fetcher that finds it full backs off for up to a
     * second: replaying history stalled at 100k queued records (rebuild ran
     * at a third of its speed).  Memory stays bounded by
     * queued.max.messages.kbytes (64 MiB by default). */
    if (rd_kafka_conf_set(conf, "queued.min.messages", "1000000", err,
                          sizeof(err)) != RD_KAFKA_CONF_OK)
        goto bad;
    for (size_t i = 0; i < cfg->nkafka; i++)
        if (rd_kafka_conf_set(conf, cfg->kafka[i].k, cfg->kafka[i].v, err,
                              sizeof(err)) != RD_KAFKA_CONF_OK)
            goto bad;
    for (size_t i = 0; pc && i < pc->nkafka; i++)
        if (rd_kafka_conf_set(conf, pc->kafka[i].k, pc->kafka[i].v, err,
                              sizeof(err)) != RD_KAFKA_CONF_OK)
            goto bad;
    /* Where no checkpoint says otherwise, a projection starts at the
     * beginning of history (overridable). */
    size_t sz = sizeof(err);
    if (rd_kafka_conf_get(conf, "auto.offset.reset", err, &sz) ==
            RD_KAFKA_CONF_OK &&
        !strcmp(err, "largest"))
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
    /* KIP-848: with group.protocol=consumer the broker assigns partitions
     * (group.remote.assignor) and librdkafka refuses a client-side
     * partition.assignment.strategy; the protocol is incremental, which the
     * worker's rebalance callback already is. */
    sz = sizeof(err);
    int kip848 = rd_kafka_conf_get(conf, "group.protocol", err, &sz) ==
                     RD_KAFKA_CONF_OK &&
                 !strcmp(err, "consumer");
    for (size_t i = 0; i < sizeof(forced) / sizeof(forced[0]); i++) {
        if (kip848 && !strcmp(forced[i].k, "partition.assignment.strategy"))
            continue;
        if (rd_kafka_conf_set(conf, forced[i].k, forced[i].v, err,
                              sizeof(err)) != RD_KAFKA_CONF_OK)
            goto bad;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    if (rebalance_cb)
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA_FATAL,
                         "kafka consumer: %s", err);
    rd_kafka_poll_set_consumer(rk);
    *out = rk;
    return SF_OK;
bad:
    rd_kafka_conf_destroy(conf);
    return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG, "kafka: %s", err);
}
