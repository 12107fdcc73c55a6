/* projection.c - rules + C handlers of one projection (see projection.h). */
#include "projection.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "field.h"
#include "keys.h"
#include "rules.h"

typedef struct handler {
    char *type;
    sf_handler_fn fn;
    void *opaque;
} handler_t;

typedef struct dtor {
    void (*fn)(void *);
    void *opaque;
} dtor_t;

struct sf_projection_s {
    const sf_pconf_t *pc;
    const sf_catalog_t *cat; /* types handlers may register; NULL: any */
    handler_t *h;
    size_t nh;
    dtor_t *d;
    size_t nd;
    void *dl;
    sf_keyguard_t *guard; /* the keys: this projection may write */
    sf_field_t *fields;   /* compiled by sf_projection_field */
};

/* Inits registered by custom worker binaries (sf_projector_register_init),
 * set up before any thread starts. */
static struct reg {
    char *name;
    sf_projection_init_fn init;
} * registry;
static size_t nregistry;

sf_err_t sf_projector_register_init(const char *name,
                                    sf_projection_init_fn init, char *errstr,
                                    size_t errstr_size) {
    if (!name || !init)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_projector_register_init: name and init needed");
    struct reg *r = realloc(registry, (nregistry + 1) * sizeof(*r));
    if (!r)
        return SF_ERR_NOMEM;
    registry = r;
    if (!(registry[nregistry].name = strdup(name)))
        return SF_ERR_NOMEM;
    registry[nregistry++].init = init;
    return SF_OK;
}

const char *sf_projection_name(const sf_projection_t *p) {
    return p->pc->name;
}

sf_err_t sf_projection_on(sf_projection_t *p, const char *type,
                          sf_handler_fn fn, void *opaque, char *errstr,
                          size_t errstr_size) {
    if (!type || !fn)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_projection_on: type and handler needed");
    if (p->cat && !sf_catalog_latest(p->cat, type))
        /* a typo here would leave the handler never called while the
         * checkpoints move past every event of the real type */
        return sf_seterr(errstr, errstr_size, SF_ERR_UNKNOWN_TYPE,
                         "sf_projection_on: event type \"%s\" is not in the "
                         "schema catalog",
                         type);
    handler_t *h = realloc(p->h, (p->nh + 1) * sizeof(*h));
    if (!h)
        return SF_ERR_NOMEM;
    p->h = h;
    if (!(h[p->nh].type = strdup(type)))
        return SF_ERR_NOMEM;
    h[p->nh].fn = fn;
    h[p->nh].opaque = opaque;
    p->nh++;
    return SF_OK;
}

sf_err_t sf_projection_field(sf_projection_t *p, const char *type,
                             const char *path, const sf_field_t **out,
                             char *errstr, size_t errstr_size) {
    if (!path || !out)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_projection_field: path and out needed");
    avro_schema_t schema = NULL;
    if (type && p->cat) {
        const sf_schema_t *sch = sf_catalog_latest(p->cat, type);
        if (!sch)
            return sf_seterr(errstr, errstr_size, SF_ERR_UNKNOWN_TYPE,
                             "sf_projection_field: event type \"%s\" is not "
                             "in the schema catalog",
                             type);
        schema = sf_schema_avro(sch);
    }
    sf_field_t *f = NULL;
    sf_err_t e = sf_field_new(path, schema, &f, errstr, errstr_size);
    if (e)
        return e;
    sf_field_link(f, &p->fields);
    *out = f;
    return SF_OK;
}

void sf_projection_on_destroy(sf_projection_t *p, void (*destroy)(void *),
                              void *opaque) {
    dtor_t *d = realloc(p->d, (p->nd + 1) * sizeof(*d));
    if (!d)
        return;
    p->d = d;
    d[p->nd].fn = destroy;
    d[p->nd].opaque = opaque;
    p->nd++;
}

void sf_projection_destroy(sf_projection_t *p) {
    if (!p)
        return;
    for (size_t i = p->nd; i-- > 0;)
        p->d[i].fn(p->d[i].opaque);
    for (size_t i = 0; i < p->nh; i++)
        free(p->h[i].type);
    free(p->h);
    free(p->d);
    if (p->dl)
        dlclose(p->dl);
    sf_keyguard_destroy(p->guard);
    sf_field_destroy(p->fields);
    free(p);
}

sf_err_t sf_projector_check_registry(const sf_config_t *cfg, char *errstr,
                                     size_t errstr_size) {
    for (size_t i = 0; i < nregistry; i++)
        if (!sf_config_find(cfg, registry[i].name))
            /* else its handlers would silently never run */
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "projection %s: an init is registered for it "
                             "(sf_projector_register_init) but %s has no "
                             "projection of that name",
                             registry[i].name,
                             cfg->path ? cfg->path : "the config");
    return SF_OK;
}

sf_err_t sf_projection_create(const sf_pconf_t *pc, const sf_catalog_t *cat,
                              sf_projection_t **out, char *errstr,
                              size_t errstr_size) {
    sf_projection_t *p = calloc(1, sizeof(*p));
    if (!p)
        return SF_ERR_NOMEM;
    p->pc = pc;
    p->cat = cat;
    sf_err_t e = SF_OK;
    char msg[512] = "";
    for (size_t i = 0; i < nregistry && !e; i++)
        if (!strcmp(registry[i].name, pc->name)) {
            e = registry[i].init(p, msg, sizeof(msg));
            if (e)
                sf_seterr(errstr, errstr_size, e, "projection %s: init: %s",
                          pc->name, msg);
        }
    if (!e && pc->handler) {
        p->dl = dlopen(pc->handler, RTLD_NOW | RTLD_LOCAL);
        if (!p->dl) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                          "projection %s: handler %s: %s", pc->name,
                          pc->handler, dlerror());
        } else {
            sf_projection_init_fn init;
            void *sym = dlsym(p->dl, SF_PROJECTION_INIT_SYMBOL);
            memcpy(&init, &sym, sizeof(init)); /* object -> function ptr */
            if (!sym)
                e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                              "projection %s: handler %s has no symbol %s",
                              pc->name, pc->handler, SF_PROJECTION_INIT_SYMBOL);
            else if ((e = init(p, msg, sizeof(msg))))
                sf_seterr(errstr, errstr_size, e,
                          "projection %s: %s: sf_projection_init: %s", pc->name,
                          pc->handler, msg);
        }
    }
    if (!e && !p->nh && !sf_rules_ntypes(pc->rules))
        /* it would apply nothing while its checkpoints move on */
        e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                      "projection %s has no rules for any event type and no "
                      "C handler registered%s",
                      pc->name,
                      pc->handler ? " (its handler's sf_projection_init "
                                    "called sf_projection_on for nothing)"
                                  : "");
    size_t nkeys = sf_rules_nkeys(pc->rules);
    const char **pats = calloc(nkeys ? nkeys : 1, sizeof(*pats));
    if (!e && !pats)
        e = SF_ERR_NOMEM;
    for (size_t i = 0; !e && i < nkeys; i++)
        pats[i] = sf_rules_key(pc->rules, i);
    if (!e) {
        char kmsg[512];
        e = sf_keyguard_new(pats, nkeys, &p->guard, kmsg, sizeof(kmsg));
        if (e)
            sf_seterr(errstr, errstr_size, e, "projection %s: %s", pc->name,
                      kmsg);
    }
    free(pats);
    if (!e && p->nh && !nkeys)
        /* every key is checked against keys:, so without patterns a
         * handler could write nothing; rebuild needs them too */
        e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                      "projection %s has C handlers but declares no keys: "
                      "patterns (keys: [\"view:*\"] in the projection)",
                      pc->name);
    if (e) {
        sf_projection_destroy(p);
        return e;
    }
    *out = p;
    return SF_OK;
}

static const handler_t *find_handler(const sf_projection_t *p,
                                     const char *type) {
    for (size_t i = 0; i < p->nh; i++)
        if (!strcmp(p->h[i].type, type))
            return &p->h[i];
    return NULL;
}

int sf_projection_wants(const sf_projection_t *p, const char *type) {
    return sf_rules_has(p->pc->rules, type) || find_handler(p, type);
}

static sf_err_t fail(sf_batch_t *b, int drop, int64_t prev_last,
                     int64_t prev_first) {
    if (drop) {
        sf_err_t e = sf_batch_event_abort(b);
        /* remove the offset and "0" that abort kept */
        b->nargs -= 2;
        b->nevents--;
        sf_dedup_event_drop(b, b->last_offset);
        b->last_offset = b->nevents ? prev_last : -1;
        b->first_offset = b->nevents ? prev_first : -1;
        return e;
    }
    return sf_batch_event_abort(b);
}

sf_err_t sf_projection_process(sf_projection_t *p, sf_decoder_t *dec,
                               const rd_kafka_message_t *m, sf_event_t *ev,
                               sf_batch_t *b, sf_buf_t *scratch, int drop,
                               char *errstr, size_t errstr_size) {
    int64_t prev_last = b->last_offset, prev_first = b->first_offset;
    sf_err_t e = sf_event_from_message(ev, m);
    if (e)
        return sf_seterr(errstr, errstr_size, e, "out of memory");
    if ((e = sf_batch_event_begin(b, m->offset, ev->timestamp)))
        return sf_seterr(errstr, errstr_size, e, "batch: %s", sf_err2str(e));
    /* the duplicate rule (dedup.h) sees every event of the aggregate,
     * those of types this projection ignores too: else their versions
     * would look like gaps */
    b->dedup = p->pc->dedup;
    if ((e = sf_dedup_event(b, p->pc->name, ev, errstr, errstr_size))) {
        fail(b, drop, prev_last, prev_first);
        return e;
    }
    /* rules and handlers get envelope values as C strings: one holding a
     * NUL would be cut and name another type, event or aggregate.  A type
     * with a NUL is refused before we can tell whose event it is. */
    const char *nul = sf_event_nul_field(ev);
    int known = *ev->type != '\0';
    if ((!nul || ev->type_len == strlen(ev->type)) && known &&
        !sf_projection_wants(p, ev->type))
        return sf_batch_event_end(b); /* not ours: only the checkpoint moves */
    if (nul) {
        fail(b, drop, prev_last, prev_first);
        return sf_seterr(errstr, errstr_size, SF_ERR_VALUE,
                         "envelope value %s holds a NUL byte (not allowed "
                         "in CloudEvents attributes)",
                         nul);
    }
    char msg[512];
    avro_value_t *val = NULL;
    const sf_schema_t *reader = NULL;
    if (!m->payload || !m->len) {
        fail(b, drop, prev_last, prev_first);
        return sf_seterr(errstr, errstr_size, SF_ERR_TRUNCATED,
                         "decode: empty value");
    }
    e = sf_decoder_decode(dec, m->payload, m->len, &val, NULL, &reader, msg,
                          sizeof(msg));
    if (e) {
        fail(b, drop, prev_last, prev_first);
        return sf_seterr(errstr, errstr_size, e, "decode: %s", msg);
    }
    const char *fullname = sf_schema_fullname(reader);
    if (!known) {
        ev->type = fullname; /* reader outlives the event */
    } else if (strcmp(ev->type, fullname) != 0) {
        fail(b, drop, prev_last, prev_first);
        return sf_seterr(errstr, errstr_size, SF_ERR_VALUE,
                         "ce_type %s does not match the payload's type %s",
                         ev->type, fullname);
    }
    ev->data = val;
    msg[0] = '\0';
    b->guard = p->guard;
    sf_keyguard_event_reset(p->guard);
    e = sf_rules_apply(p->pc->rules, ev, b, scratch, msg, sizeof(msg));
    /* then every handler of the type, in registration order */
    for (size_t i = 0; !e && i < p->nh; i++) {
        const handler_t *h = &p->h[i];
        if (strcmp(h->type, ev->type) != 0)
            continue;
        if ((e = h->fn(h->opaque, ev, b, msg, sizeof(msg))))
            snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
                     "%s(handler for %s)", msg[0] ? " " : "", ev->type);
    }
    if (!e && sf_keyguard_violation(p->guard)) {
        /* a handler went on after sf_batch_command refused a key */
        snprintf(msg, sizeof(msg), "%s (handler for %s)",
                 sf_keyguard_violation(p->guard), ev->type);
        e = SF_ERR_RULE;
    }
    b->guard = NULL;
    if (e) {
        fail(b, drop, prev_last, prev_first);
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE, "%s", msg);
    }
    return sf_batch_event_end(b);
}
