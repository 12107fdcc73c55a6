/*
 * custom_worker.c - a worker binary with its C handlers linked in, instead
 * of a handler shared object named in the config.
 *
 *   sf-fight-worker run -c fights.yaml
 *
 * The projection named "fights" (or $SF_FIGHT_PROJECTION) in the config
 * gets the handler below in addition to its rules.  Everything else (commands, options, exit codes)
 * is the regular sf-projector command line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_projector.h"

/* fight:<id>:recorded_by = the event id that recorded the result. */
static sf_err_t on_fight(void *opaque, const sf_event_t *ev,
                         sf_batch_t *batch, char *errstr,
                         size_t errstr_size) {
    (void)opaque;
    char id[256], key[300];
    const char *aid = sf_event_aggregate_id(ev);
    /* ids inside keys are escaped, never empty (projector/README.md) */
    if (!*aid || sf_key_escape(id, sizeof(id), aid, strlen(aid)) >= sizeof(id))
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "fight id empty or too long");
    snprintf(key, sizeof(key), "fight:%s", id);
    const char *argv[] = {"HSET", key, "recorded_by", sf_event_id(ev)};
    return sf_batch_command(batch, 4, argv, NULL, errstr, errstr_size);
}

static sf_err_t init_fights(sf_projection_t *proj, char *errstr,
                            size_t errstr_size) {
    return sf_projection_on(proj, "sports.fight.FightResultRecorded",
                            on_fight, NULL, errstr, errstr_size);
}

int main(int argc, char **argv) {
    char err[256];
    const char *name = getenv("SF_FIGHT_PROJECTION");
    if (!name || !*name)
        name = "fights";
    if (sf_projector_register_init(name, init_fights, err, sizeof(err))) {
        fprintf(stderr, "sf-fight-worker: %s\n", err);
        return 2;
    }
    return sf_projector_main(argc, argv);
}
