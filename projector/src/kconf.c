/* kconf.c - consumer configuration (see kconf.h). */
#include "kconf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uuid/uuid.h>

#include "log.h"
#include "logthrottle.h"
#include "util.h"

/* Both callbacks go through logthrottle.h: one line per broker and kind
 * per window, with the count of lines suppressed since the last one. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac,
                   const char *buf) {
    char q[1024];
    uint64_t hidden;
    const char *client = rk ? rd_kafka_name(rk) : "-";
    if (!sf_logthrottle_pass(client, fac, buf, sf_mono_s(), &hidden))
        return;
    sf_log(level <= 3   ? "error"
           : level <= 4 ? "warn"
                        : "info",
           "component=kafka client=%s facility=%s suppressed=%llu msg=%s",
           client, fac, (unsigned long long)hidden,
           sf_log_q(q, sizeof(q), buf));
}

/* ---- credentials refused -------------------------------------------
 * librdkafka treats a refused SASL login or a broker certificate that
 * does not verify as transient: it logs and retries for ever, and the
 * caller only ever sees "Broker transport failure".  A projector tool
 * should instead stop at once with the reason.  error_cb notes such an
 * error per client (it runs on librdkafka's threads, hence the lock), and
 * sf_kconf_consumer waits for the first metadata answer or such an error
 * before handing the client out. */
static pthread_mutex_t g_auth_lock = PTHREAD_MUTEX_INITIALIZER;
static const rd_kafka_t *g_auth_rk;
static char g_auth_err[512];

static void error_cb(rd_kafka_t *rk, int err, const char *reason,
                     void *opaque) {
    (void)opaque;
    char q[1024];
    if (err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
        err == RD_KAFKA_RESP_ERR__SSL) {
        pthread_mutex_lock(&g_auth_lock);
        g_auth_rk = rk;
        snprintf(g_auth_err, sizeof(g_auth_err), "%s", reason);
        pthread_mutex_unlock(&g_auth_lock);
    }
    /* what librdkafka would have logged without an error_cb */
    uint64_t hidden;
    if (!sf_logthrottle_pass(rd_kafka_name(rk), rd_kafka_err2name(err), reason,
                             sf_mono_s(), &hidden))
        return;
    sf_log(err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
                   err == RD_KAFKA_RESP_ERR__TRANSPORT
               ? "warn"
               : "error",
           "component=kafka client=%s error=%s suppressed=%llu msg=%s",
           rd_kafka_name(rk), rd_kafka_err2name(err),
           (unsigned long long)hidden, sf_log_q(q, sizeof(q), reason));
}

/* Non-zero (and the reason in buf) when rk's credentials were refused. */
static int auth_failed(const rd_kafka_t *rk, char *buf, size_t size) {
    pthread_mutex_lock(&g_auth_lock);
    int hit = g_auth_rk == rk;
    if (hit) {
        snprintf(buf, size, "%s", g_auth_err);
        g_auth_rk = NULL;
    }
    pthread_mutex_unlock(&g_auth_lock);
    return hit;
}

/* Waits (up to 10 s) for a metadata answer.  SF_ERR_CONFIG when the
 * broker refused our credentials or its certificate did not verify; a
 * broker that does not answer at all is left to the caller, as before. */
static sf_err_t preflight(rd_kafka_t *rk, char *errstr, size_t errstr_size) {
    char why[512];
    for (int i = 0; i < 20; i++) {
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(rk, 0, NULL, &md, 500) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
            rd_kafka_metadata_destroy(md);
            return SF_OK;
        }
        rd_kafka_poll(rk, 0);
        if (auth_failed(rk, why, sizeof(why)))
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "kafka: %s (check the kafka settings: "
                             "sasl.username, sasl.password, "
                             "ssl.ca.location)",
                             why);
    }
    return SF_OK;
}

static int secret_prop(const char *k) {
    return strstr(k, "password") || strstr(k, "secret") || strstr(k, "jaas") ||
           strstr(k, "token") || !strcmp(k, "ssl.key.pem");
}

static sf_err_t apply_map(rd_kafka_conf_t *conf, const sf_kv_t *kv, size_t n,
                          const char *from, char *errstr, size_t errstr_size) {
    char err[512];
    for (size_t i = 0; i < n; i++) {
        if (rd_kafka_conf_set(conf, kv[i].k, kv[i].v, err, sizeof(err)) ==
            RD_KAFKA_CONF_OK)
            continue;
        /* librdkafka's message may quote the value */
        if (secret_prop(kv[i].k))
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "kafka property %s (%s): invalid value (not "
                             "shown: it is a secret)",
                             kv[i].k, from);
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "kafka property %s (%s): %s", kv[i].k, from, err);
    }
    return SF_OK;
}

sf_err_t sf_kconf_apply(const sf_config_t *cfg, const sf_pconf_t *pc,
                        rd_kafka_conf_t *conf, char *errstr,
                        size_t errstr_size) {
    char from[300];
    snprintf(from, sizeof(from), "kafka map of %s", cfg->path);
    sf_err_t e =
        apply_map(conf, cfg->kafka, cfg->nkafka, from, errstr, errstr_size);
    if (!e && pc) {
        snprintf(from, sizeof(from), "kafka map of projection %s", pc->name);
        e = apply_map(conf, pc->kafka, pc->nkafka, from, errstr, errstr_size);
    }
    if (!e)
        e = apply_map(conf, cfg->kafka_x, cfg->nkafka_x, "-X", errstr,
                      errstr_size);
    if (!e) {
        rd_kafka_conf_set_log_cb(conf, log_cb);
        rd_kafka_conf_set_error_cb(conf, error_cb);
    }
    return e;
}

/* The value the three maps give key (the last one wins), or NULL. */
static const char *kv_last(const sf_config_t *cfg, const sf_pconf_t *pc,
                           const char *key) {
    const char *v = NULL;
    for (size_t i = 0; i < cfg->nkafka; i++)
        if (!strcmp(cfg->kafka[i].k, key))
            v = cfg->kafka[i].v;
    for (size_t i = 0; pc && i < pc->nkafka; i++)
        if (!strcmp(pc->kafka[i].k, key))
            v = pc->kafka[i].v;
    for (size_t i = 0; i < cfg->nkafka_x; i++)
        if (!strcmp(cfg->kafka_x[i].k, key))
            v = cfg->kafka_x[i].v;
    return v;
}

sf_err_t sf_kconf_consumer(
    const sf_config_t *cfg, const sf_pconf_t *pc, const char *group_id,
    rd_kafka_t **out, char *errstr, size_t errstr_size,
    void (*rebalance_cb)(rd_kafka_t *, rd_kafka_resp_err_t,
                         rd_kafka_topic_partition_list_t *, void *),
    void *opaque) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[512];
    char grp[64];
    if ((!group_id && !pc) || (group_id && !*group_id)) {
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
    /* Defaults the config may override: a bounded prefetch.  librdkafka
     * (rdkafka_fetcher.c, fetch_decide) stops fetching a partition while
     * its fetch queue holds queued.min.messages records or
     * queued.max.messages.kbytes of payload; with the high-level consumer
     * every partition's queue forwards to the one consumer queue, so both
     * limits count every partition together.  The kbytes limit counts
     * payload only, not the ~0.5 KiB librdkafka keeps per record, so with
     * small events the record count is what bounds memory: at 1000000
     * (our former default) a replay held up to a million records and
     * rebuild's RSS grew with the topic (810 MB at 2M events).  20000
     * records keep a replay fed (a batch is at most 20000 events), and a
     * short fetch.queue.backoff.ms (librdkafka: 1000) lets the fetcher
     * resume as soon as the queue drains instead of stalling for a second
     * (the stall the old default worked around). */
    static const char *const prefetch[][2] = {
        {"queued.min.messages", "20000"},
        {"queued.max.messages.kbytes", "16384"},
        {"fetch.queue.backoff.ms", "5"},
    };
    for (size_t i = 0; i < sizeof(prefetch) / sizeof(prefetch[0]); i++)
        if (rd_kafka_conf_set(conf, prefetch[i][0], prefetch[i][1], err,
                              sizeof(err)) != RD_KAFKA_CONF_OK)
            goto bad;
    /* Group timeouts for a three-broker cluster that loses a broker
     * (docs/scale-out.md).  session.timeout.ms 30 s: at 10 s (librdkafka's
     * 45 s default was lowered by the old example config) one broker's
     * death made every group lose its assignment while clients found the
     * new leaders; at 30 s none did.  A kill -9'd worker's partitions move
     * after it.  max.poll.interval.ms 120 s: the worker polls at least
     * every batch time_ms and inside every back-off, so only a hung worker
     * exceeds it; a rebalance waits no longer than this for a member that
     * stopped polling.  Classic protocol only: under KIP-848 the session
     * is a broker setting (group.consumer.session.timeout.ms). */
    const char *gp = kv_last(cfg, pc, "group.protocol");
    if ((!gp || strcmp(gp, "consumer")) &&
        rd_kafka_conf_set(conf, "session.timeout.ms", "30000", err,
                          sizeof(err)) != RD_KAFKA_CONF_OK)
        goto bad;
    if (rd_kafka_conf_set(conf, "max.poll.interval.ms", "120000", err,
                          sizeof(err)) != RD_KAFKA_CONF_OK)
        goto bad;
    /* Metadata refreshed every 10 s (librdkafka: 300 s; its cache's max
     * age follows at 3x).  A worker that subscribed while its topic was
     * being deleted and created again ("Subscribed topic not available")
     * led the group with that metadata and assigned nothing for minutes
     * after the other members had stopped on the recreated log (seed 9 of
     * the long campaign): it saw no partition, so it neither applied nor
     * noticed the change.  Added partitions are found as soon. */
    if (rd_kafka_conf_set(conf, "topic.metadata.refresh.interval.ms", "10000",
                          err, sizeof(err)) != RD_KAFKA_CONF_OK)
        goto bad;
    /* A throwaway reader (group_id "": journey, the rebuild's read-back of
     * poison records) assigns one partition at one offset after another.
     * librdkafka keeps one fetch in flight per broker, and the broker holds
     * a fetch at a partition's end for fetch.wait.max.ms (500 ms) before it
     * answers, so each re-assign waited up to half a second: a rebuild
     * reading back 1,700 poison records took minutes.  10 ms keeps the
     * broker from spinning yet makes the next assign prompt. */
    if (group_id == grp &&
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof(err)) !=
            RD_KAFKA_CONF_OK)
        goto bad;
    sf_err_t e = sf_kconf_apply(cfg, pc, conf, errstr, errstr_size);
    if (e) {
        rd_kafka_conf_destroy(conf);
        return e;
    }
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
    /* The worker (the one caller with a rebalance callback) positions
     * every partition from its Redis checkpoint.  An offset the broker
     * does not have means the log is not the one the checkpoint belongs
     * to (topic recreated, another cluster): librdkafka must report it
     * (RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET), never jump to an end by
     * itself (worker.c, verify_topics). */
    if (rebalance_cb && rd_kafka_conf_set(conf, "auto.offset.reset", "error",
                                          err, sizeof(err)) != RD_KAFKA_CONF_OK)
        goto bad;
    if (rebalance_cb)
        rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    if (!rk) /* what librdkafka refuses here is the configuration (a
              * combination of properties, a certificate file) */
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "kafka consumer: %s", err);
    /* before poll_set_consumer: rd_kafka_poll serves error_cb */
    if ((e = preflight(rk, errstr, errstr_size))) {
        rd_kafka_destroy(rk);
        return e;
    }
    rd_kafka_poll_set_consumer(rk);
    *out = rk;
    return SF_OK;
bad:
    rd_kafka_conf_destroy(conf);
    return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG, "kafka: %s", err);
}
