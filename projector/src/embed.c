/* embed.c - the projector inside a service's own process
 * (sf_projector_new / run / stop / destroy of the public API).
 *
 * The same sequence as `sf-projector run` (cli.c): load the config and
 * the catalog, check each projection (preflight.c, which also refuses an
 * init registered for a name the config lacks), create one worker per
 * projection, run each on its own thread.  Differences: nothing is
 * printed, no signal handler is installed, no metrics endpoint is
 * started; the stop flag is a member of the handle, so that
 * sf_projector_stop() is one store to a volatile sig_atomic_t: safe from
 * a signal handler and from any thread. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "preflight.h"
#include "sf_projector.h"
#include "sf_schema.h"
#include "worker.h"

typedef struct job {
    sf_worker_t *w;
    const char *name; /* the projection's, owned by cfg */
    pthread_t th;
    sf_projector_t *owner;
    sf_err_t err;
    char msg[1024];
} job_t;

struct sf_projector_s {
    sf_config_t *cfg;
    sf_catalog_t *cat;
    job_t *jobs;
    size_t njobs;
    volatile sig_atomic_t stop;
    int running; /* run() entered: a second call is refused */
};

void sf_projector_destroy(sf_projector_t *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->njobs; i++)
        sf_worker_destroy(p->jobs[i].w);
    free(p->jobs);
    if (p->cat)
        sf_catalog_destroy(p->cat);
    sf_config_destroy(p->cfg);
    free(p);
}

sf_err_t sf_projector_new(const char *config_path,
                          const char *const *projections, size_t n,
                          sf_projector_t **out, char *errstr,
                          size_t errstr_size) {
    if (!config_path || !out || (n && !projections))
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_projector_new: config path and out needed");
    sf_projector_t *p = calloc(1, sizeof(*p));
    if (!p)
        return SF_ERR_NOMEM;
    sf_err_t e = sf_config_load(config_path, &p->cfg, errstr, errstr_size);
    if (e)
        goto err;
    if (!p->cfg->schemas) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                      "%s: no \"schemas:\" folder configured", config_path);
        goto err;
    }
    if (!(p->cat = sf_catalog_new())) {
        e = SF_ERR_NOMEM;
        goto err;
    }
    if ((e = sf_catalog_load_dir(p->cat, p->cfg->schemas, errstr, errstr_size)))
        goto err;
    p->njobs = n ? n : p->cfg->nproj;
    if (!(p->jobs = calloc(p->njobs ? p->njobs : 1, sizeof(*p->jobs)))) {
        e = SF_ERR_NOMEM;
        goto err;
    }
    for (size_t i = 0; i < p->njobs; i++) {
        const sf_pconf_t *pc =
            n ? sf_config_find(p->cfg, projections[i]) : &p->cfg->proj[i];
        if (!pc) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                          "no projection \"%s\" in %s", projections[i],
                          config_path);
            goto err;
        }
        if ((e = sf_projection_preflight(p->cfg, pc, p->cat, errstr,
                                         errstr_size)))
            goto err;
        p->jobs[i].owner = p;
        p->jobs[i].name = pc->name;
        if ((e = sf_worker_new(p->cfg, pc, p->cat, NULL, &p->stop,
                               &p->jobs[i].w, errstr, errstr_size)))
            goto err;
    }
    *out = p;
    return SF_OK;
err:
    sf_projector_destroy(p);
    return e;
}

static void *job_main(void *arg) {
    job_t *j = arg;
    j->err = sf_worker_run(j->w, j->msg, sizeof(j->msg));
    if (j->err)
        j->owner->stop = 1; /* one projection failing stops them all */
    return NULL;
}

sf_err_t sf_projector_run(sf_projector_t *p, char *errstr, size_t errstr_size) {
    if (p->running)
        return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                         "sf_projector_run: runs once per projector");
    p->running = 1;
    size_t started = 0;
    sf_err_t e = SF_OK;
    for (; started < p->njobs; started++)
        if (pthread_create(&p->jobs[started].th, NULL, job_main,
                           &p->jobs[started])) {
            p->stop = 1;
            e = sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                          "sf_projector_run: cannot start a thread");
            break;
        }
    for (size_t i = 0; i < started; i++)
        pthread_join(p->jobs[i].th, NULL);
    for (size_t i = 0; !e && i < started; i++)
        if (p->jobs[i].err)
            e = sf_seterr(errstr, errstr_size, p->jobs[i].err, "%s",
                          p->jobs[i].msg);
    return e;
}

void sf_projector_stop(sf_projector_t *p) {
    p->stop = 1;
}

sf_err_t sf_projector_dedup_count(sf_projector_t *p, const char *projection,
                                  sf_dedup_kind_t kind, uint64_t *out,
                                  char *errstr, size_t errstr_size) {
    if (!p || !projection || !out || (int)kind < 0 || kind >= SF_DEDUP__COUNT)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_projector_dedup_count: projector, projection, "
                         "a kind below SF_DEDUP__COUNT and out needed");
    for (size_t i = 0; i < p->njobs; i++)
        if (p->jobs[i].w && !strcmp(p->jobs[i].name, projection)) {
            *out = sf_worker_dedup_count(p->jobs[i].w, (int)kind);
            return SF_OK;
        }
    return sf_seterr(errstr, errstr_size, SF_ERR_NOT_FOUND,
                     "sf_projector_dedup_count: projector runs no "
                     "projection \"%s\"",
                     projection);
}
