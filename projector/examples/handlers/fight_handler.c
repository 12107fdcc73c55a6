/*
 * fight_handler.c - C handler for sports.fight.FightResultRecorded: what
 * the rules (fight-results.rules.yaml) cannot say, EVERY fighter of the
 * `fighters` array, however many:
 *   fighter:<fighter_id>          hash  name, last_fight
 *   fighter:<fighter_id>:fights   zset  fight ids scored by fight_date
 *   fights:count:<fighter_id>     fights counted
 * Fields are compiled once (paths as in the rules, checked against the
 * schema at start); %K escapes the id into the key like the rules do.
 * Build: a MODULE library named in the config (`handler: ./lib....so`).
 */
#include <stdlib.h>

#include "sf_projector.h"

typedef struct {
    const sf_field_t *id, *name, *date;
} fields_t;

static sf_err_t on_fight(void *opaque, const sf_event_t *ev, sf_batch_t *b,
                         char *err, size_t errsize) {
    const fields_t *f = opaque;
    const char *fight = sf_event_aggregate_id(ev), *id, *name;
    size_t n, idlen, namelen;
    int64_t date;
    sf_err_t e = sf_event_int64(ev, f->date, &date, err, errsize);
    if (!e)
        e = sf_event_count(ev, f->id, &n, err, errsize);
    for (size_t i = 0; !e && i < n; i++) {
        if (!(e = sf_event_string_at(ev, f->id, i, &id, &idlen, err,
                                     errsize)) &&
            !(e = sf_event_string_at(ev, f->name, i, &name, &namelen, err,
                                     errsize)) &&
            !(e = sf_batch_commandf(b, err, errsize,
                                    "HSET fighter:%K name %b last_fight %s", id,
                                    idlen, name, namelen, fight)) &&
            !(e = sf_batch_commandf(b, err, errsize,
                                    "ZADD fighter:%K:fights %lld %s", id, idlen,
                                    (long long)date, fight)))
            e = sf_batch_commandf(b, err, errsize, "INCR fights:count:%K", id,
                                  idlen);
    }
    return e;
}

sf_err_t sf_projection_init(sf_projection_t *proj, char *err, size_t errsize) {
    const char *type = "sports.fight.FightResultRecorded";
    fields_t *f = calloc(1, sizeof(*f)); /* per projection naming us */
    if (!f)
        return SF_ERR_NOMEM;
    sf_projection_on_destroy(proj, free, f);
    sf_err_t e;
    if ((e = sf_projection_field(proj, type, "data.fighters[*].fighter_id",
                                 &f->id, err, errsize)) ||
        (e = sf_projection_field(proj, type, "data.fighters[*].name", &f->name,
                                 err, errsize)) ||
        (e = sf_projection_field(proj, type, "data.fight_date", &f->date, err,
                                 errsize)))
        return e;
    return sf_projection_on(proj, type, on_fight, f, err, errsize);
}
