/* journey.c - an aggregate's event history (see journey.h). */
#include "journey.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "batch.h"
#include "event.h"
#include "kconf.h"
#include "kmeta.h"
#include "projection.h"

/* The commands of an event batch as a JSON array of arrays of strings. */
static json_t *batch_json(sf_batch_t *b) {
    json_t *cmds = json_array();
    sf_batch_iter_t it = {0};
    int64_t off;
    size_t argc, a0;
    while (sf_batch_next_cmd(b, &it, &off, &argc, &a0)) {
        json_t *cmd = json_array();
        for (size_t a = a0; a < a0 + argc && a < b->nargs; a++)
            json_array_append_new(
                cmd, json_stringn_nocheck(b->data.p + b->aoff[a], b->alen[a]));
        json_array_append_new(cmds, cmd);
    }
    return cmds;
}

sf_err_t sf_journey_run(const sf_config_t *cfg, const sf_catalog_t *cat,
                        const char *topic, const char *aggregate_id,
                        int64_t as_of_ms, const sf_pconf_t *fold,
                        sf_journey_fn emit, void *opaque, int64_t *count,
                        char *errstr, size_t errstr_size) {
    rd_kafka_t *rk = NULL;
    sf_decoder_t *dec = NULL;
    sf_projection_t *proj = NULL;
    sf_event_t ev = {0};
    sf_buf_t scratch = {0};
    sf_batch_t b;
    sf_batch_init(&b);
    *count = 0;
    sf_err_t e = sf_kconf_consumer(cfg, NULL, NULL, &rk, errstr, errstr_size,
                                   NULL, NULL);
    int32_t np = 0;
    int64_t lo = 0, hi = 0;
    if (!e)
        e = sf_kmeta_partition_count(rk, topic, &np, errstr, errstr_size);
    int32_t part = np ? sf_murmur2_partition(aggregate_id,
                                             strlen(aggregate_id), np)
                      : 0;
    if (!e) {
        rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
            rk, topic, part, &lo, &hi, 10000);
        if (err)
            e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                          "watermarks of %s/%" PRId32 ": %s", topic, part,
                          rd_kafka_err2str(err));
    }
    if (!e && !(dec = sf_decoder_new(cat)))
        e = SF_ERR_NOMEM;
    if (!e && fold)
        e = sf_projection_create(fold, &proj, errstr, errstr_size);
    if (e || hi <= lo)
        goto out;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, part)->offset = lo;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    size_t idlen = strlen(aggregate_id);
    int idle = 0;
    for (;;) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m) {
            rd_kafka_topic_partition_list_t *q =
                rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(q, topic, part);
            int end = !rd_kafka_position(rk, q) && q->elems[0].offset >= hi;
            rd_kafka_topic_partition_list_destroy(q);
            if (end || ++idle > 60) /* 30 s without progress */
                break;
            continue;
        }
        idle = 0;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        int64_t off = m->offset;
        int match = m->key_len == idlen && !memcmp(m->key, aggregate_id, idlen);
        if (match && sf_event_from_message(&ev, m) == SF_OK &&
            (as_of_ms < 0 || sf_event_time_ms(&ev) <= as_of_ms)) {
            json_t *o = json_object();
            json_object_set_new(o, "topic", json_string(topic));
            json_object_set_new(o, "partition", json_integer(m->partition));
            json_object_set_new(o, "offset", json_integer(off));
            json_object_set_new(o, "timestamp", json_integer(ev.timestamp));
            char msg[1024];
            const sf_schema_t *reader = NULL;
            avro_value_t *val = NULL;
            sf_err_t de = m->payload
                              ? sf_decoder_decode(dec, m->payload, m->len,
                                                  &val, NULL, &reader, msg,
                                                  sizeof(msg))
                              : sf_seterr(msg, sizeof(msg), SF_ERR_TRUNCATED,
                                          "empty value");
            json_object_set_new(
                o, "type",
                json_string(*ev.type ? ev.type
                                     : reader ? sf_schema_fullname(reader)
                                              : ""));
            json_object_set_new(o, "aggregate_id",
                                json_string(ev.aggregate_id));
            json_object_set_new(o, "version", json_string(ev.version));
            json_object_set_new(o, "time", json_string(ev.time));
            json_object_set_new(o, "event_id", json_string(ev.id));
            if (de) {
                json_object_set_new(o, "error", json_string(msg));
            } else {
                json_t *data = NULL;
                if (sf_value_to_json(val, &data, msg, sizeof(msg)) == SF_OK)
                    json_object_set_new(o, "data", data);
                else
                    json_object_set_new(o, "error", json_string(msg));
            }
            if (proj) {
                sf_batch_reset(&b);
                if (sf_projection_process(proj, dec, m, &ev, &b, &scratch, 0,
                                          msg, sizeof(msg)) == SF_OK)
                    json_object_set_new(o, "commands", batch_json(&b));
                else
                    json_object_set_new(o, "rule_error", json_string(msg));
            }
            char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_decref(o);
            if (s) {
                emit(opaque, s);
                free(s);
                (*count)++;
            }
        }
        rd_kafka_message_destroy(m);
        if (off >= hi - 1)
            break;
    }
out:
    sf_batch_free(&b);
    sf_event_clear(&ev);
    sf_buf_free(&scratch);
    sf_projection_destroy(proj);
    if (dec)
        sf_decoder_destroy(dec);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return e;
}
