/*
 * keys_handler.c - a handler for core_keys.sh that tries what a careless or
 * hostile handler might, for shop.cart.ItemAddedToCart (prefix from
 * $SF_KEYS_PREFIX, its keys: pattern "<prefix>:h:*"):
 *   sku "evil": writes a key of another projection's bookkeeping, IGNORES
 *               the refusal, then writes a good key and returns SF_OK --
 *               the event must still be dead-lettered, nothing applied;
 *   sku "esc":  counts in <prefix>:h:<aggregate id escaped>;
 *   other skus: counts in <prefix>:h:<aggregate id as it is> (so an empty
 *               id gives "<prefix>:h:", which must be refused).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_projector.h"

static sf_err_t on_added(void *opaque, const sf_event_t *ev, sf_batch_t *batch,
                         char *errstr, size_t errstr_size) {
    const char *prefix = opaque;
    avro_value_t sku;
    const char *s = "";
    size_t n = 0;
    if (avro_value_get_by_name((avro_value_t *)sf_event_data(ev), "sku", &sku,
                               NULL) == 0)
        avro_value_get_string(&sku, &s, &n);
    const char *id = sf_event_aggregate_id(ev);
    char key[512], eid[256];
    if (!strcmp(s, "evil")) {
        const char *bad[] = {"INCR", "sf:victim:epoch:t:0"};
        char ignored[256];
        (void)sf_batch_command(batch, 2, bad, NULL, ignored, sizeof ignored);
        snprintf(key, sizeof key, "%s:h:after-evil", prefix);
        const char *good[] = {"INCR", key};
        return sf_batch_command(batch, 2, good, NULL, errstr, errstr_size);
    }
    if (!strcmp(s, "esc")) {
        sf_key_escape(eid, sizeof eid, id, strlen(id));
        snprintf(key, sizeof key, "%s:h:%s", prefix, eid);
    } else {
        snprintf(key, sizeof key, "%s:h:%s", prefix, id);
    }
    const char *argv[] = {"INCR", key};
    return sf_batch_command(batch, 2, argv, NULL, errstr, errstr_size);
}

sf_err_t sf_projection_init(sf_projection_t *proj, char *errstr,
                            size_t errstr_size) {
    const char *prefix = getenv("SF_KEYS_PREFIX");
    return sf_projection_on(proj, "shop.cart.ItemAddedToCart", on_added,
                            (void *)(prefix ? prefix : "keys"), errstr,
                            errstr_size);
}
