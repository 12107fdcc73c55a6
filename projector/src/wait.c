/* wait.c - read your own writes: has a projection applied a position?
 * (sf_projector_waiter_* of the public API, `sf-projector wait`).
 *
 * A position (topic, partition, offset) is applied when the projection's
 * checkpoint of that topic and partition is >= offset: the worker sets
 * the checkpoint in the same atomic step as the batch's view writes, so a
 * reader that sees the checkpoint sees the writes (and a dead-lettered or
 * ignored event moves it too: "applied" means "done with", not "wrote
 * something").  The checkpoint is read through sf_redis_ckpt_get(), the
 * one place that knows the key layout, so a change of layout (blue/green
 * generations) changes this check with it.
 *
 * Waiting polls GET with a short back-off (1 ms doubling to 20 ms): one
 * round trip per poll, no keyspace notifications to configure on the
 * server. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "redis_sink.h"
#include "sf_position.h"
#include "sf_projector.h"
#include "util.h"

struct sf_projector_waiter_s {
    sf_config_t *cfg;
    const sf_pconf_t *pc;
    sf_redis_t *redis;
};

void sf_projector_waiter_destroy(sf_projector_waiter_t *w) {
    if (!w)
        return;
    sf_redis_destroy(w->redis);
    sf_config_destroy(w->cfg);
    free(w);
}

sf_err_t sf_projector_waiter_new(const char *config_path,
                                 const char *projection,
                                 sf_projector_waiter_t **out, char *errstr,
                                 size_t errstr_size) {
    if (!config_path || !projection || !out)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_projector_waiter_new: config, projection and "
                         "out needed");
    sf_projector_waiter_t *w = calloc(1, sizeof(*w));
    if (!w)
        return SF_ERR_NOMEM;
    sf_err_t e = sf_config_load(config_path, &w->cfg, errstr, errstr_size);
    if (!e && !(w->pc = sf_config_find(w->cfg, projection)))
        e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                      "no projection \"%s\" in %s", projection, config_path);
    if (!e)
        e = sf_redis_connect(&w->pc->redis, &w->redis, errstr, errstr_size);
    if (e) {
        sf_projector_waiter_destroy(w);
        return e;
    }
    *out = w;
    return SF_OK;
}

/* Parses token and checks that the projection reads its topic. */
static sf_err_t position(const sf_projector_waiter_t *w, const char *token,
                         char *topic, size_t topic_size, int32_t *partition,
                         int64_t *offset, char *errstr, size_t errstr_size) {
    sf_err_t e = sf_position_parse(token, topic, topic_size, partition, offset,
                                   errstr, errstr_size);
    if (e)
        return e;
    for (size_t i = 0; i < w->pc->ntopics; i++)
        if (!strcmp(w->pc->topics[i], topic))
            return SF_OK;
    /* it would never be applied: say so now instead of timing out */
    return sf_seterr(errstr, errstr_size, SF_ERR_NOT_FOUND,
                     "projection %s does not read topic %s (position %s)",
                     w->pc->name, topic, token);
}

sf_err_t sf_projector_waiter_applied(sf_projector_waiter_t *w,
                                     const char *token, int *applied,
                                     char *errstr, size_t errstr_size) {
    char topic[SF_POSITION_TOKEN_MAX];
    int32_t partition;
    int64_t offset, ckpt = -1;
    *applied = 0;
    sf_err_t e = position(w, token, topic, sizeof(topic), &partition, &offset,
                          errstr, errstr_size);
    if (!e)
        e = sf_redis_ckpt_get(w->redis, w->pc->name, topic, partition, &ckpt,
                              errstr, errstr_size);
    if (!e)
        *applied = ckpt >= offset;
    return e;
}

static void nap_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

sf_err_t sf_projector_waiter_wait(sf_projector_waiter_t *w, const char *token,
                                  int timeout_ms, char *errstr,
                                  size_t errstr_size) {
    char topic[SF_POSITION_TOKEN_MAX];
    int32_t partition;
    int64_t offset;
    sf_err_t e = position(w, token, topic, sizeof(topic), &partition, &offset,
                          errstr, errstr_size);
    if (e)
        return e;
    double deadline = sf_mono_s() + (timeout_ms > 0 ? timeout_ms : 0) / 1e3;
    int nap = 1;
    sf_err_t last = SF_OK;
    char msg[512] = "";
    for (;;) {
        int64_t ckpt = -1;
        last = sf_redis_ckpt_get(w->redis, w->pc->name, topic, partition, &ckpt,
                                 msg, sizeof(msg));
        if (!last && ckpt >= offset)
            return SF_OK;
        if (last && last != SF_ERR_REDIS)
            return sf_seterr(errstr, errstr_size, last, "%s", msg);
        double left = deadline - sf_mono_s();
        if (left <= 0)
            break;
        if (last) /* Redis away: retriable, try again until the deadline */
            sf_redis_reconnect(w->redis, NULL, 0);
        int ms = (int)(left * 1e3) + 1;
        nap_ms(nap < ms ? nap : ms);
        if (nap < 20)
            nap *= 2;
    }
    if (last)
        return sf_seterr(errstr, errstr_size, last,
                         "projection %s: position %s: Redis: %s", w->pc->name,
                         token, msg);
    return sf_seterr(errstr, errstr_size, SF_ERR_TIMEOUT,
                     "projection %s has not applied %s after %d ms",
                     w->pc->name, token, timeout_ms);
}
