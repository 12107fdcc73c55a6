/*
 * compat.c - compatibility checks.  Thin on purpose: a check is a plan
 * compiled with a reporter (plan.c), so the gate and the decoder can never
 * disagree about what is readable.
 */
#include "internal.h"

#include <string.h>

typedef struct crep {
    const sf_schema_t *reader, *writer;
    sf_compat_report_cb cb;
    void *opaque;
} crep_t;

static void report(void *opaque, const char *path, const char *reason) {
    crep_t *c = opaque;
    if (c->cb)
        c->cb(c->opaque, c->reader->fullname, c->reader->version,
              c->writer->version, path, reason);
}

sf_err_t sf_schema_can_read(const sf_schema_t *reader,
                            const sf_schema_t *writer, sf_compat_report_cb cb,
                            void *opaque) {
    crep_t c = {reader, writer, cb, opaque};
    size_t problems = 0;
    if (!reader || !writer)
        return SF_ERR_INVALID_ARG;
    sf_plan_t *p = sf_plan_compile(writer->tree->root, reader->tree->root,
                                   report, &c, &problems);
    if (!p)
        return SF_ERR_NOMEM;
    sf_plan_free(p);
    return problems ? SF_ERR_INCOMPATIBLE : SF_OK;
}

sf_err_t sf_catalog_check(const sf_catalog_t *cat, sf_compat_mode_t mode,
                          sf_compat_report_cb cb, void *opaque) {
    sf_err_t result = SF_OK;
    size_t n = sf_catalog_count(cat);

    /* The catalog is sorted by name then version: a chain is a run. */
    for (size_t i = 0; i < n; i++) {
        const sf_schema_t *a = sf_catalog_get(cat, i);
        for (size_t k = i + 1; k < n; k++) {
            const sf_schema_t *b = sf_catalog_get(cat, k);
            if (strcmp(a->fullname, b->fullname) != 0)
                break;
            /* a is older than b */
            sf_err_t e1 = SF_OK, e2 = SF_OK;
            if (mode == SF_COMPAT_BACKWARD || mode == SF_COMPAT_FULL)
                e1 = sf_schema_can_read(b, a, cb, opaque);
            if (mode == SF_COMPAT_FORWARD || mode == SF_COMPAT_FULL)
                e2 = sf_schema_can_read(a, b, cb, opaque);
            if (e1 == SF_ERR_NOMEM || e2 == SF_ERR_NOMEM)
                return SF_ERR_NOMEM;
            if (e1 || e2)
                result = SF_ERR_INCOMPATIBLE;
        }
    }
    return result;
}
