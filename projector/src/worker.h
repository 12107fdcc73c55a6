/*
 * worker.h - one projection's consumer loop (`sf-projector run`): consume,
 * build per-partition batches, dead-letter poison events, apply each batch
 * atomically with its checkpoint (redis_sink.h), commit offsets to Kafka.
 *
 * Threading: a worker runs on the thread that calls sf_worker_run(); the
 * rebalance callback runs on that same thread (inside consumer polls).
 * The stop flag may be set from a signal handler or another thread.
 */
#ifndef SF_PROJ_WORKER_H
#define SF_PROJ_WORKER_H

#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "sf_schema.h"

typedef struct sf_worker sf_worker_t;

/* metrics may be NULL.  *stop (non-zero) asks the worker to finish its
 * batch, commit, leave the group and return. */
sf_err_t sf_worker_new(const sf_config_t *cfg, const sf_pconf_t *pc,
                       const sf_catalog_t *cat, sf_metrics_t *metrics,
                       volatile sig_atomic_t *stop, sf_worker_t **out,
                       char *errstr, size_t errstr_size);
/* Runs until *stop or a fatal error: SF_OK after a clean stop; the error
 * (e.g. SF_ERR_RULE with on_error: stop) otherwise, described in errstr. */
sf_err_t sf_worker_run(sf_worker_t *w, char *errstr, size_t errstr_size);
void sf_worker_destroy(sf_worker_t *w);
/* The duplicate rule's count of kind (sf_dedup_kind_t) since the worker
 * started; any thread (an atomic load). */
uint64_t sf_worker_dedup_count(sf_worker_t *w, int kind);

#endif
