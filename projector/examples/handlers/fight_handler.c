/*
 * fight_handler.c - example C handler for sports.fight.FightResultRecorded.
 *
 * The rules file (fight-results.rules.yaml) covers what a fixed path can
 * reach; this handler covers what it cannot: EVERY fighter of the
 * `fighters` array, however many there are.  For each fighter it records
 *   fighter:<fighter_id>            hash  name, last_fight
 *   fighter:<fighter_id>:fights     zset  fight_id scored by fight_date
 * and counts the fight in fights:count:<fighter_id>, the id escaped with
 * sf_key_escape() like every id the rules put into a key.
 *
 * Build: a MODULE library (see projector/CMakeLists.txt) named in the
 * config as `handler: path/to/libsf_fight_handler.so`.  The handler only
 * appends commands; the projector applies them atomically with the
 * checkpoint.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sf_projector.h"

/* The string field `name` of record v, or "" (borrowed). */
static const char *str_field(avro_value_t *v, const char *name, size_t *len) {
    avro_value_t f;
    const char *s = "";
    size_t size = 1;
    if (avro_value_get_by_name(v, name, &f, NULL) == 0 &&
        avro_value_get_type(&f) == AVRO_STRING)
        avro_value_get_string(&f, &s, &size);
    *len = size ? size - 1 : 0; /* avro-c counts the NUL */
    return s;
}

static sf_err_t on_fight(void *opaque, const sf_event_t *ev,
                         sf_batch_t *batch, char *errstr,
                         size_t errstr_size) {
    (void)opaque;
    avro_value_t *data = (avro_value_t *)sf_event_data(ev);
    avro_value_t fighters, date;
    int64_t fight_date = 0;
    if (avro_value_get_by_name(data, "fighters", &fighters, NULL) ||
        avro_value_get_by_name(data, "fight_date", &date, NULL) ||
        avro_value_get_long(&date, &fight_date))
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "fight %s: fighters/fight_date missing",
                         sf_event_aggregate_id(ev));
    size_t n = 0;
    avro_value_get_size(&fighters, &n);
    const char *fight_id = sf_event_aggregate_id(ev);
    char score[24];
    snprintf(score, sizeof(score), "%" PRId64, fight_date);
    for (size_t i = 0; i < n; i++) {
        avro_value_t f;
        if (avro_value_get_by_index(&fighters, i, &f, NULL))
            continue;
        size_t idlen, namelen;
        const char *id = str_field(&f, "fighter_id", &idlen);
        const char *name = str_field(&f, "name", &namelen);
        /* The id goes into keys escaped (':' '%' and control bytes as
         * %XX), so "a:fights" cannot name fighter a's zset; an empty id
         * names no fighter. */
        char eid[200], key[256], zkey[256], ckey[256];
        if (idlen == 0)
            return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                             "fight %s: fighters[%zu].fighter_id is empty",
                             fight_id, i);
        if (sf_key_escape(eid, sizeof(eid), id, idlen) >= sizeof(eid))
            return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                             "fight %s: fighters[%zu].fighter_id too long",
                             fight_id, i);
        snprintf(key, sizeof(key), "fighter:%s", eid);
        snprintf(zkey, sizeof(zkey), "fighter:%s:fights", eid);
        snprintf(ckey, sizeof(ckey), "fights:count:%s", eid);
        const char *hset[] = {"HSET", key, "name", name, "last_fight",
                              fight_id};
        size_t hlen[] = {4, strlen(key), 4, namelen, 10, strlen(fight_id)};
        const char *zadd[] = {"ZADD", zkey, score, fight_id};
        const char *incr[] = {"INCR", ckey};
        sf_err_t e = sf_batch_command(batch, 6, hset, hlen, errstr,
                                      errstr_size);
        if (!e)
            e = sf_batch_command(batch, 4, zadd, NULL, errstr, errstr_size);
        if (!e)
            e = sf_batch_command(batch, 2, incr, NULL, errstr, errstr_size);
        if (e)
            return e;
    }
    return SF_OK;
}

/* Entry point looked up with dlsym() by the projector. */
sf_err_t sf_projection_init(sf_projection_t *proj, char *errstr,
                            size_t errstr_size) {
    return sf_projection_on(proj, "sports.fight.FightResultRecorded",
                            on_fight, NULL, errstr, errstr_size);
}
