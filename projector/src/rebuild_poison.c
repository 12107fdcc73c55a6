/* rebuild_poison.c - poison events met by rebuild (see rebuild_poison.h). */
#include "rebuild_poison.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "asof.h"
#include "control.h"
#include "event.h"
#include "kconf.h"
#include "util.h"

sf_err_t sf_rebuild_park(const sf_config_t *cfg, const sf_pconf_t *pc,
                         sf_dlq_t **dlq, sf_redis_t *r,
                         const rd_kafka_message_t *m, const char *reason,
                         int *already, char *errstr, size_t errstr_size) {
    *already = sf_dlqrec_seen(r, pc->name, m);
    if (*already)
        return SF_OK;
    sf_err_t e = SF_OK;
    if (!*dlq && (e = sf_dlq_new(cfg, pc, dlq, errstr, errstr_size)))
        return e;
    sf_dlq_item_t it;
    memset(&it, 0, sizeof(it));
    it.m = m;
    it.reason = reason;
    for (int tries = 0;; tries++) {
        e = sf_dlq_send(*dlq, &it, 1, 10000, errstr, errstr_size);
        if (!e || !sf_err_is_retriable(e) || tries >= 5)
            break;
        struct timespec ts = {1 + tries, 0};
        nanosleep(&ts, NULL);
    }
    if (e)
        return e;
    sf_dlqrec_add(r, pc->name, m);
    return SF_OK;
}

sf_err_t sf_rebuild_park_at(const sf_config_t *cfg, const sf_pconf_t *pc,
                            sf_dlq_t **dlq, rd_kafka_t **reader, sf_redis_t *r,
                            const char *topic, int32_t partition,
                            int64_t offset, const char *reason, char *errstr,
                            size_t errstr_size) {
    if (sf_dlqrec_seen_at(r, pc->name, topic, partition, offset))
        return SF_OK;
    sf_err_t e = SF_OK;
    if (!*reader && (e = sf_kconf_consumer(cfg, pc, "", reader, errstr,
                                           errstr_size, NULL, NULL)))
        return e;
    rd_kafka_t *rk = *reader;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = offset;
    rd_kafka_resp_err_t ke = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_message_t *found = NULL;
    time_t give_up = time(NULL) + 30;
    while (!ke && !found && time(NULL) < give_up) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (m && !m->err && m->partition == partition && m->offset == offset &&
            m->rkt && !strcmp(rd_kafka_topic_name(m->rkt), topic))
            found = m;
        else if (m)
            rd_kafka_message_destroy(m);
    }
    /* unassigned at once: the next call assigns its own partition and
     * offset, and nothing read ahead here is handed to it */
    rd_kafka_assign(rk, NULL);
    if (found) {
        int already = 0;
        e = sf_rebuild_park(cfg, pc, dlq, r, found, reason, &already, errstr,
                            errstr_size);
        rd_kafka_message_destroy(found);
    } else {
        e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                      "%s/%" PRId32 "/%" PRId64 ": the event failed in redis "
                      "and could not be read back to dead-letter it: %s",
                      topic, partition, offset,
                      ke ? rd_kafka_err2str(ke) : "not delivered within 30 s");
    }
    return e;
}

void sf_rebuild_reader_destroy(rd_kafka_t *reader) {
    if (!reader)
        return;
    rd_kafka_consumer_close(reader);
    rd_kafka_destroy(reader);
}

sf_err_t sf_rebuild_precheck(rd_kafka_t *rk, sf_redis_t *r,
                             const sf_pconf_t *pc, sf_projection_t *proj,
                             sf_decoder_t *dec, const sf_tp_t *tps, size_t ntp,
                             int64_t as_of_ms, volatile sig_atomic_t *stop,
                             char *errstr, size_t errstr_size) {
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new((int)ntp + 1);
    char *done = calloc(ntp + 1, 1);
    size_t live = 0;
    if (!done) {
        rd_kafka_topic_partition_list_destroy(l);
        return SF_ERR_NOMEM;
    }
    for (size_t i = 0; i < ntp; i++) {
        if (tps[i].hi <= tps[i].lo) {
            done[i] = 1;
            continue;
        }
        rd_kafka_topic_partition_list_add(l, tps[i].topic, tps[i].partition)
            ->offset = tps[i].lo;
        live++;
    }
    sf_err_t e = SF_OK;
    rd_kafka_resp_err_t kerr = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (kerr) {
        free(done);
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                         "check before rebuild: assign: %s",
                         rd_kafka_err2str(kerr));
    }
    sf_event_t ev = {0};
    sf_buf_t scratch = {0};
    sf_batch_t b;
    sf_batch_init(&b);
    char err[1024];
    double last_pos = sf_mono_s();
    while (live && !e) {
        if (*stop) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                          "interrupted while checking the history; nothing "
                          "was cleared");
            break;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        double now = sf_mono_s();
        if (!m || now - last_pos >= 1.0) {
            /* ends behind transaction markers are never delivered */
            last_pos = now;
            for (size_t i = 0; i < ntp; i++) {
                if (done[i])
                    continue;
                rd_kafka_topic_partition_list_t *q =
                    rd_kafka_topic_partition_list_new(1);
                rd_kafka_topic_partition_list_add(q, tps[i].topic,
                                                  tps[i].partition);
                if (!rd_kafka_position(rk, q) &&
                    q->elems[0].offset >= tps[i].hi) {
                    done[i] = 1;
                    live--;
                }
                rd_kafka_topic_partition_list_destroy(q);
            }
        }
        if (!m)
            continue;
        size_t i = 0;
        while (i < ntp && (tps[i].partition != m->partition || !m->rkt ||
                           strcmp(tps[i].topic, rd_kafka_topic_name(m->rkt))))
            i++;
        if (m->err || i == ntp || done[i] || m->offset >= tps[i].hi) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->offset >= tps[i].hi - 1) {
            done[i] = 1;
            live--;
        }
        /* as-of (asof.h): an event later than TIME is left out, the
         * partition read on */
        if (as_of_ms >= 0 && sf_event_from_message(&ev, m) == SF_OK &&
            !sf_asof_includes(&ev, as_of_ms)) {
            rd_kafka_message_destroy(m);
            continue;
        }
        sf_err_t pe = sf_projection_process(proj, dec, m, &ev, &b, &scratch, 1,
                                            err, sizeof(err));
        sf_batch_reset(&b);
        if (pe && !sf_skiprec_seen_at(r, pc->name, tps[i].topic,
                                      tps[i].partition, m->offset))
            e = sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                          "%s/%" PRId32 "/%" PRId64 ": %s (on_error: stop): "
                          "the rebuild would stop there with the view "
                          "half built, so nothing was cleared; skip it "
                          "first (sf-projector skip) or fix the rules",
                          tps[i].topic, tps[i].partition, m->offset, err);
        rd_kafka_message_destroy(m);
    }
    sf_event_clear(&ev);
    sf_buf_free(&scratch);
    sf_batch_free(&b);
    free(done);
    rd_kafka_assign(rk, NULL);
    return e;
}
