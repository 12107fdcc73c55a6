/* partstate.c - one partition's state in the worker (see partstate.h). */
#include "partstate.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

sf_part_t *sf_part_new(const char *topic, int32_t partition) {
    sf_part_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    p->partition = partition;
    p->state = SF_PART_REVOKED;
    p->next = -1;
    p->ckpt = -1;
    p->since = sf_mono_s();
    sf_batch_init(&p->batch);
    return p;
}

size_t sf_part_clear(sf_part_t *p) {
    size_t n = p->nrecs;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_destroy(p->recs[i].msg);
        free(p->recs[i].reason);
    }
    p->nrecs = 0;
    sf_batch_reset(&p->batch);
    return n;
}

void sf_part_free(sf_part_t *p) {
    if (!p)
        return;
    sf_part_clear(p);
    sf_batch_free(&p->batch);
    free(p->recs);
    free(p->topic);
    free(p);
}

sf_err_t sf_part_keep(sf_part_t *p, rd_kafka_message_t *m, const char *reason) {
    if (p->nrecs == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        sf_part_rec_t *nr = realloc(p->recs, cap * sizeof(*nr));
        if (!nr)
            return SF_ERR_NOMEM;
        p->recs = nr;
        p->cap = cap;
    }
    char *r = NULL;
    if (reason && !(r = strdup(reason)))
        return SF_ERR_NOMEM;
    p->recs[p->nrecs].msg = m;
    p->recs[p->nrecs].reason = r;
    p->recs[p->nrecs].dlq = SF_DLQ_NONE;
    p->nrecs++;
    return SF_OK;
}

void sf_part_set_state(sf_part_t *p, sf_part_state_t s) {
    if (p->state != s)
        p->since = sf_mono_s();
    p->state = s;
}

int sf_part_dlq_complete(const sf_part_t *p) {
    for (size_t k = 0; k < p->nrecs; k++)
        if (p->recs[k].reason && p->recs[k].dlq != SF_DLQ_PARKED)
            return 0;
    return 1;
}

const char *sf_part_state_name(sf_part_state_t s) {
    switch (s) {
    case SF_PART_ACTIVE: return "active";
    case SF_PART_WAITING: return "waiting-for-rebuild";
    case SF_PART_FENCED: return "fenced";
    case SF_PART_REVOKED: return "revoked";
    case SF_PART_STOPPED: return "stopped";
    }
    return "?";
}
