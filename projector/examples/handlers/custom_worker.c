/*
 * custom_worker.c - a worker binary with its C handlers linked in, instead
 * of a handler shared object named in the config.
 *
 *   sf-fight-worker run -c fights.yaml
 *
 * The projection named "fights" (or $SF_FIGHT_PROJECTION) in the config
 * gets the handler below in addition to its rules.  Everything else
 * (commands, options, exit codes) is the regular sf-projector command line.
 * To run the projector inside a service of your own instead, see
 * embedded_projector.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "sf_projector.h"

/* fight-audit:<id> recorded_by = the event id that recorded the result.
 * Its own key space: a key the projection writes must match its keys:
 * patterns, and two projections' patterns may not overlap (a rebuild of
 * one would clear the other's keys). */
static sf_err_t on_fight(void *opaque, const sf_event_t *ev, sf_batch_t *batch,
                         char *errstr, size_t errstr_size) {
    (void)opaque;
    /* %k escapes the id into the key, as the rules do (projector/README.md,
     * "Keys"); an empty id is refused */
    return sf_batch_commandf(batch, errstr, errstr_size,
                             "HSET fight-audit:%k recorded_by %s",
                             sf_event_aggregate_id(ev), sf_event_id(ev));
}

static sf_err_t init_fights(sf_projection_t *proj, char *errstr,
                            size_t errstr_size) {
    return sf_projection_on(proj, "sports.fight.FightResultRecorded", on_fight,
                            NULL, errstr, errstr_size);
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
