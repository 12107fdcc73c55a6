/*
 * event.c - the reusable event builder.  Setters copy; validation against
 * the schema happens at publish time, where the catalog is known.
 */
#include "producer_int.h"

#include <stdlib.h>
#include <string.h>

sf_producer_event_t *sf_producer_event_new(void) {
    return calloc(1, sizeof(sf_producer_event_t));
}

static void payload_clear(sf_producer_event_t *ev) {
    switch (ev->kind) {
    case SF_PAYLOAD_VALUE: avro_value_decref(&ev->value); break;
    case SF_PAYLOAD_JSON:
        json_decref(ev->json);
        ev->json = NULL;
        break;
    case SF_PAYLOAD_TEXT:
        free(ev->text);
        ev->text = NULL;
        ev->text_len = 0;
        break;
    case SF_PAYLOAD_NONE: break;
    }
    ev->kind = SF_PAYLOAD_NONE;
}

static void xhdr_free(sf_xheader_t *h) {
    free(h->name);
    free(h->value);
}

void sf_producer_event_clear(sf_producer_event_t *ev) {
    if (!ev)
        return;
    payload_clear(ev);
    for (size_t i = 0; i < ev->nxhdrs; i++)
        xhdr_free(&ev->xhdrs[i]);
    free(ev->xhdrs);
    free(ev->type);
    free(ev->aggregate_id);
    free(ev->id);
    free(ev->correlation_id);
    free(ev->causation_id);
    free(ev->topic);
    free(ev->aggregate_type);
    memset(ev, 0, sizeof(*ev));
}

void sf_producer_event_destroy(sf_producer_event_t *ev) {
    if (!ev)
        return;
    sf_producer_event_clear(ev);
    free(ev);
}

/* Replaces *field with a copy of s (NULL clears it).  A builder reused
 * for event after event mostly gets strings no longer than the last one:
 * those are copied in place, without an allocation. */
static sf_err_t set_str(char **field, const char *s) {
    char *copy = NULL;

    if (s && *field && strlen(*field) >= strlen(s)) {
        strcpy(*field, s);
        return SF_OK;
    }
    if (s && !(copy = strdup(s)))
        return SF_ERR_NOMEM;
    free(*field);
    *field = copy;
    return SF_OK;
}

sf_err_t sf_producer_event_set_type(sf_producer_event_t *ev, const char *type) {
    return set_str(&ev->type, type);
}

sf_err_t sf_producer_event_set_aggregate_id(sf_producer_event_t *ev,
                                            const char *id) {
    return set_str(&ev->aggregate_id, id);
}

sf_err_t sf_producer_event_set_id(sf_producer_event_t *ev, const char *id) {
    return set_str(&ev->id, id);
}

sf_err_t sf_producer_event_generate_id(sf_producer_event_t *ev) {
    char id[37];

    sf__uuid_v4(id);
    return set_str(&ev->id, id);
}

const char *sf_producer_event_id(const sf_producer_event_t *ev) {
    return ev->id;
}

sf_err_t sf_producer_event_set_version(sf_producer_event_t *ev,
                                       int64_t version) {
    if (version < 0)
        return SF_ERR_INVALID_ARG;
    ev->version = version;
    return SF_OK;
}

sf_err_t sf_producer_event_set_time_ms(sf_producer_event_t *ev,
                                       int64_t unix_ms) {
    ev->time_ms = unix_ms;
    ev->has_time = 1;
    return SF_OK;
}

sf_err_t sf_producer_event_set_correlation_id(sf_producer_event_t *ev,
                                              const char *id) {
    return set_str(&ev->correlation_id, id);
}

sf_err_t sf_producer_event_set_causation_id(sf_producer_event_t *ev,
                                            const char *id) {
    return set_str(&ev->causation_id, id);
}

sf_err_t sf_producer_event_set_topic(sf_producer_event_t *ev,
                                     const char *topic) {
    return set_str(&ev->topic, topic);
}

sf_err_t sf_producer_event_set_aggregate_type(sf_producer_event_t *ev,
                                              const char *type) {
    return set_str(&ev->aggregate_type, type);
}

sf_err_t sf_producer_event_set_schema_version(sf_producer_event_t *ev,
                                              int version) {
    if (version < 0)
        return SF_ERR_INVALID_ARG;
    ev->schema_version = version;
    return SF_OK;
}

sf_err_t sf_producer_event_set_header(sf_producer_event_t *ev, const char *name,
                                      const void *value, ssize_t len) {
    sf_xheader_t h;
    size_t i;

    if (!ev || !name)
        return SF_ERR_INVALID_ARG;
    for (i = 0; i < ev->nxhdrs && strcmp(ev->xhdrs[i].name, name); i++)
        ;
    if (!value) {
        /* remove, keeping the order of the others */
        if (i < ev->nxhdrs) {
            xhdr_free(&ev->xhdrs[i]);
            memmove(&ev->xhdrs[i], &ev->xhdrs[i + 1],
                    (ev->nxhdrs - i - 1) * sizeof(ev->xhdrs[0]));
            ev->nxhdrs--;
        }
        return SF_OK;
    }
    h.len = len < 0 ? strlen(value) : (size_t)len;
    h.name = strdup(name);
    h.value = malloc(h.len + 1);
    if (!h.name || !h.value) {
        xhdr_free(&h);
        return SF_ERR_NOMEM;
    }
    memcpy(h.value, value, h.len);
    h.value[h.len] = '\0';
    if (i < ev->nxhdrs) {
        xhdr_free(&ev->xhdrs[i]);
        ev->xhdrs[i] = h;
        return SF_OK;
    }
    if (ev->nxhdrs == ev->xhdrs_cap) {
        size_t cap = ev->xhdrs_cap ? 2 * ev->xhdrs_cap : 4;
        sf_xheader_t *n = realloc(ev->xhdrs, cap * sizeof(*n));

        if (!n) {
            xhdr_free(&h);
            return SF_ERR_NOMEM;
        }
        ev->xhdrs = n;
        ev->xhdrs_cap = cap;
    }
    ev->xhdrs[ev->nxhdrs++] = h;
    return SF_OK;
}

sf_err_t sf_producer_event_set_value(sf_producer_event_t *ev,
                                     avro_value_t *value) {
    avro_value_t ref;

    if (!value || !value->iface)
        return SF_ERR_INVALID_ARG;
    avro_value_copy_ref(&ref, value);
    payload_clear(ev);
    ev->value = ref;
    ev->kind = SF_PAYLOAD_VALUE;
    return SF_OK;
}

sf_err_t sf_producer_event_set_json(sf_producer_event_t *ev, json_t *json) {
    if (!json)
        return SF_ERR_INVALID_ARG;
    json_incref(json);
    payload_clear(ev);
    ev->json = json;
    ev->kind = SF_PAYLOAD_JSON;
    return SF_OK;
}

sf_err_t sf_producer_event_set_json_text(sf_producer_event_t *ev,
                                         const char *text, size_t len) {
    char *copy;

    if (!text)
        return SF_ERR_INVALID_ARG;
    copy = malloc(len + 1);
    if (!copy)
        return SF_ERR_NOMEM;
    memcpy(copy, text, len);
    copy[len] = '\0';
    payload_clear(ev);
    ev->text = copy;
    ev->text_len = len;
    ev->kind = SF_PAYLOAD_TEXT;
    return SF_OK;
}
