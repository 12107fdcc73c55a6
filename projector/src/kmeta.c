/* kmeta.c - partitions and watermarks (see kmeta.h). */
#include "kmeta.h"

#include <stdlib.h>
#include <string.h>

sf_err_t sf_kmeta_partition_count(rd_kafka_t *rk, const char *topic,
                                  int32_t *count, char *errstr,
                                  size_t errstr_size) {
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (err)
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                         "metadata for %s: %s", topic, rd_kafka_err2str(err));
    sf_err_t e = SF_OK;
    if (md->topic_cnt != 1 || md->topics[0].err ||
        md->topics[0].partition_cnt == 0)
        e = sf_seterr(errstr, errstr_size, SF_ERR_NOT_FOUND, "topic %s: %s",
                      topic,
                      md->topic_cnt == 1 && md->topics[0].err
                          ? rd_kafka_err2str(md->topics[0].err)
                          : "no partitions");
    else
        *count = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return e;
}

sf_err_t sf_kmeta_partitions(rd_kafka_t *rk, char *const *topics,
                             size_t ntopics, int want_wm, sf_tp_t **out,
                             size_t *n, char *errstr, size_t errstr_size) {
    sf_tp_t *tps = NULL;
    size_t cnt = 0;
    for (size_t t = 0; t < ntopics; t++) {
        int32_t np;
        sf_err_t e =
            sf_kmeta_partition_count(rk, topics[t], &np, errstr, errstr_size);
        if (e) {
            free(tps);
            return e;
        }
        sf_tp_t *nt = realloc(tps, (cnt + (size_t)np) * sizeof(*nt));
        if (!nt) {
            free(tps);
            return SF_ERR_NOMEM;
        }
        tps = nt;
        for (int32_t p = 0; p < np; p++) {
            sf_tp_t *tp = &tps[cnt++];
            tp->topic = topics[t];
            tp->partition = p;
            tp->lo = tp->hi = -1;
            if (!want_wm)
                continue;
            rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                rk, topics[t], p, &tp->lo, &tp->hi, 10000);
            if (err) {
                free(tps);
                return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                                 "watermarks of %s/%d: %s", topics[t], p,
                                 rd_kafka_err2str(err));
            }
        }
    }
    *out = tps;
    *n = cnt;
    return SF_OK;
}
