/* identity.c - topic id, cluster id and partition count next to the
 * checkpoints (see identity.h). */
#include "identity.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kconf.h"
#include "lifecycle.h"

static void topic_key(char *buf, size_t size, const char *proj,
                      const char *topic) {
    snprintf(buf, size, SF_REDIS_PREFIX "%s:topic:%s", proj, topic);
}

sf_err_t sf_identity_describe(rd_kafka_t *rk, const char *topic, int timeout_ms,
                              sf_topic_identity_t *out, char *errstr,
                              size_t errstr_size) {
    memset(out, 0, sizeof(*out));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    const char *names[1] = {topic};
    rd_kafka_TopicCollection_t *tc =
        rd_kafka_TopicCollection_of_topic_names(names, 1);
    rd_kafka_AdminOptions_t *opt =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBETOPICS);
    char aerr[256];
    rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms, aerr,
                                              sizeof(aerr));
    rd_kafka_DescribeTopics(rk, tc, opt, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    sf_err_t e = SF_OK;
    const rd_kafka_DescribeTopics_result_t *res =
        ev ? rd_kafka_event_DescribeTopics_result(ev) : NULL;
    if (!ev) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                      "describing topic %s: timed out", topic);
    } else if (rd_kafka_event_error(ev)) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                      "describing topic %s: %s", topic,
                      rd_kafka_event_error_string(ev));
    } else if (!res) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                      "describing topic %s: unexpected reply", topic);
    } else {
        size_t n = 0;
        const rd_kafka_TopicDescription_t **td =
            rd_kafka_DescribeTopics_result_topics(res, &n);
        const rd_kafka_error_t *te =
            n == 1 ? rd_kafka_TopicDescription_error(td[0]) : NULL;
        if (n != 1) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                          "describing topic %s: %zu results", topic, n);
        } else if (te && rd_kafka_error_code(te)) {
            e = sf_seterr(errstr, errstr_size,
                          rd_kafka_error_code(te) ==
                                  RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART
                              ? SF_ERR_NOT_FOUND
                              : SF_ERR_KAFKA,
                          "topic %s: %s", topic, rd_kafka_error_string(te));
        } else {
            size_t np = 0;
            rd_kafka_TopicDescription_partitions(td[0], &np);
            out->partitions = (int32_t)np;
            const rd_kafka_Uuid_t *id =
                rd_kafka_TopicDescription_topic_id(td[0]);
            const char *s = id ? rd_kafka_Uuid_base64str(id) : NULL;
            snprintf(out->id, sizeof(out->id), "%s", s ? s : "");
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_TopicCollection_destroy(tc);
    rd_kafka_queue_destroy(q);
    if (!e) {
        char *cid = rd_kafka_clusterid(rk, timeout_ms);
        if (!cid)
            return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                             "cluster id: no answer within %d ms", timeout_ms);
        snprintf(out->cluster, sizeof(out->cluster), "%s", cid);
        rd_kafka_mem_free(rk, cid);
    }
    if (!e && (!out->id[0] || !out->partitions))
        e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                      "topic %s: the cluster gave no topic id or no "
                      "partitions (broker before Kafka 2.8?)",
                      topic);
    return e;
}

sf_err_t sf_identity_get(sf_redis_t *r, const char *proj, const char *topic,
                         sf_topic_identity_t *stored, int *found, char *errstr,
                         size_t errstr_size) {
    char k[512];
    topic_key(k, sizeof(k), proj, topic);
    redisReply *rep = NULL;
    sf_err_t e = sf_redis_cmd(r, &rep, errstr, errstr_size,
                              "HMGET %s id cluster partitions", k);
    if (e)
        return e;
    memset(stored, 0, sizeof(*stored));
    *found = 0;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
        rep->element[0]->type == REDIS_REPLY_STRING) {
        *found = 1;
        snprintf(stored->id, sizeof(stored->id), "%s", rep->element[0]->str);
        if (rep->element[1]->type == REDIS_REPLY_STRING)
            snprintf(stored->cluster, sizeof(stored->cluster), "%s",
                     rep->element[1]->str);
        if (rep->element[2]->type == REDIS_REPLY_STRING)
            stored->partitions =
                (int32_t)strtol(rep->element[2]->str, NULL, 10);
    }
    freeReplyObject(rep);
    return SF_OK;
}

sf_err_t sf_identity_record(sf_redis_t *r, const char *proj, const char *topic,
                            const sf_topic_identity_t *cur, char *errstr,
                            size_t errstr_size) {
    char k[512];
    topic_key(k, sizeof(k), proj, topic);
    return sf_redis_cmd(r, NULL, errstr, errstr_size,
                        "HSET %s id %s cluster %s partitions %" PRId32, k,
                        cur->id, cur->cluster, cur->partitions);
}

sf_err_t sf_identity_compare(const char *proj, const char *topic,
                             const sf_topic_identity_t *stored,
                             const sf_topic_identity_t *cur, char *errstr,
                             size_t errstr_size) {
    if (strcmp(stored->id, cur->id) || strcmp(stored->cluster, cur->cluster))
        return sf_seterr(
            errstr, errstr_size, SF_ERR_STATE,
            "projection %s: topic %s is not the log its checkpoints belong "
            "to: recorded topic id %s in cluster %s, now topic id %s in "
            "cluster %s (the topic was deleted and recreated, or Redis "
            "holds another cluster's view); resuming would skip events: "
            "rebuild the projection from the topic as it is now "
            "(sf-projector rebuild -c CONFIG %s)",
            proj, topic, stored->id, stored->cluster[0] ? stored->cluster : "?",
            cur->id, cur->cluster, proj);
    if (stored->partitions && stored->partitions != cur->partitions)
        return sf_seterr(
            errstr, errstr_size, SF_ERR_STATE,
            "projection %s: topic %s had %" PRId32 " partitions when the "
            "projection first read it and has %" PRId32 " now: events of "
            "one aggregate may now be split over two partitions, where no "
            "fold keeps their order; copy the topic into a new one with "
            "%" PRId32 " partitions and point the projection at it, or, if "
            "no aggregate has events in two partitions (e.g. producers were "
            "stopped and only new aggregates follow), accept the new count "
            "with sf-projector rebuild -c CONFIG %s --accept-partitions",
            proj, topic, stored->partitions, cur->partitions,
            stored->partitions, proj);
    return SF_OK;
}

sf_err_t sf_identity_check(sf_redis_t *r, const char *proj, const char *topic,
                           const sf_topic_identity_t *cur, char *errstr,
                           size_t errstr_size) {
    sf_topic_identity_t stored;
    int found = 0;
    sf_err_t e =
        sf_identity_get(r, proj, topic, &stored, &found, errstr, errstr_size);
    if (e)
        return e;
    if (!found) /* two workers recording at once write the same values */
        return sf_identity_record(r, proj, topic, cur, errstr, errstr_size);
    return sf_identity_compare(proj, topic, &stored, cur, errstr, errstr_size);
}

sf_err_t sf_identity_check_partitions(sf_redis_t *r, const sf_config_t *cfg,
                                      const char *topic, int32_t partitions,
                                      char *errstr, size_t errstr_size) {
    for (size_t i = 0; i < cfg->nproj; i++) {
        const sf_pconf_t *pc = &cfg->proj[i];
        int reads = 0;
        for (size_t t = 0; t < pc->ntopics && !reads; t++)
            reads = !strcmp(pc->topics[t], topic);
        if (!reads)
            continue;
        sf_topic_identity_t old;
        int found = 0;
        sf_err_t e = sf_identity_get(r, pc->name, topic, &old, &found, errstr,
                                     errstr_size);
        if (e)
            return e;
        if (found && old.partitions && old.partitions != partitions)
            return sf_seterr(
                errstr, errstr_size, SF_ERR_STATE,
                "topic %s had %" PRId32 " partitions when projection %s "
                "first read it and has %" PRId32 " now: an aggregate's "
                "earlier events may be in the partition its key hashed to "
                "then, so its journey would be incomplete or out of order; "
                "copy the topic into a new one with %" PRId32 " partitions "
                "(or, if no aggregate spans two partitions, accept the count "
                "with sf-projector rebuild -c CONFIG %s --accept-partitions)",
                topic, old.partitions, pc->name, partitions, old.partitions,
                pc->name);
    }
    return SF_OK;
}

sf_err_t sf_identity_report(const sf_config_t *cfg, const sf_pconf_t *pc,
                            void (*line)(void *opaque, const char *text),
                            void *opaque, char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = NULL;
    sf_redis_t *r = NULL;
    char text[1536], why[1024];
    sf_err_t e =
        sf_kconf_consumer(cfg, pc, NULL, &rk, errstr, errstr_size, NULL, NULL);
    if (!e)
        e = sf_redis_connect(&pc->redis, &r, errstr, errstr_size);
    int found = 0;
    if (!e)
        e = sf_life_rebuild_marker(r, pc->name, &found, why, sizeof(why),
                                   errstr, errstr_size);
    if (!e && found) {
        snprintf(text, sizeof(text), "rebuild running (or interrupted): %s",
                 why);
        line(opaque, text);
    }
    for (size_t i = 0; !e && i < pc->ntopics; i++) {
        const char *topic = pc->topics[i];
        sf_topic_identity_t cur, old;
        if ((e = sf_identity_describe(rk, topic, 10000, &cur, errstr,
                                      errstr_size)) ||
            (e = sf_identity_get(r, pc->name, topic, &old, &found, errstr,
                                 errstr_size)))
            break;
        if (!found)
            snprintf(text, sizeof(text),
                     "identity %s: topic id %s cluster %s partitions %" PRId32
                     " (nothing recorded yet)",
                     topic, cur.id, cur.cluster, cur.partitions);
        else if (sf_identity_compare(pc->name, topic, &old, &cur, why,
                                     sizeof(why)))
            snprintf(text, sizeof(text), "identity %s: MISMATCH: %s", topic,
                     why);
        else
            snprintf(text, sizeof(text),
                     "identity %s: topic id %s cluster %s partitions %" PRId32
                     " (as recorded)",
                     topic, cur.id, cur.cluster, cur.partitions);
        line(opaque, text);
    }
    sf_redis_destroy(r);
    if (rk)
        rd_kafka_destroy(rk);
    return e;
}
