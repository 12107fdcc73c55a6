/* field.h - compiled event field paths for C handlers (sf_field_t of the
 * public API); the projection owns them (projection.c). */
#ifndef SF_PROJ_FIELD_H
#define SF_PROJ_FIELD_H

#include "event.h"

/* Compiles text (path language of interp.h, plus one "[*]"); with schema,
 * checks it against that schema (SF_ERR_RULE naming the path). */
sf_err_t sf_field_new(const char *text, avro_schema_t schema, sf_field_t **out,
                      char *errstr, size_t errstr_size);
/* Frees f and every field linked after it. */
void sf_field_destroy(sf_field_t *f);
/* Puts f at the head of *list. */
void sf_field_link(sf_field_t *f, sf_field_t **list);

#endif
