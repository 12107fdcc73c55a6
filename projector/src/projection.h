/*
 * projection.h - a configured projection at run time (sf_projection_t of
 * the public API): its rules, its C handlers (shared object or registered
 * init), and the per-event step shared by the worker and rebuild.
 */
#ifndef SF_PROJ_PROJECTION_H
#define SF_PROJ_PROJECTION_H

#include "batch.h"
#include "config.h"
#include "event.h"
#include "sf_schema.h"

/* Builds the projection of pc: runs the registered init for pc->name (if
 * any) and the handler shared object's sf_projection_init (if any).  With
 * cat, sf_projection_on() refuses event types the catalog lacks.  A
 * projection left with no rule and no handler is an error (SF_ERR_CONFIG),
 * as are handlers without keys: patterns. */
sf_err_t sf_projection_create(const sf_pconf_t *pc, const sf_catalog_t *cat,
                              sf_projection_t **out, char *errstr,
                              size_t errstr_size);

/* SF_ERR_CONFIG naming the projection when an init was registered
 * (sf_projector_register_init) for a name cfg does not have. */
sf_err_t sf_projector_check_registry(const sf_config_t *cfg, char *errstr,
                                     size_t errstr_size);
void sf_projection_destroy(sf_projection_t *p);

/* Non-zero when rules or a handler exist for type. */
int sf_projection_wants(const sf_projection_t *p, const char *type);

/* Turns one consumed record into commands in b: opens an event in b,
 * fills ev, decodes (when the type is wanted or unknown), runs rules and
 * handler, closes the event.  On failure the event stays in b with no
 * commands (so the checkpoint can pass it once it is dead-lettered), and
 * errstr says why (SF_ERR_* of the decoder, SF_ERR_RULE).  With drop set,
 * a failed event is removed from b entirely instead (on_error: stop). */
sf_err_t sf_projection_process(sf_projection_t *p, sf_decoder_t *dec,
                               const rd_kafka_message_t *m, sf_event_t *ev,
                               sf_batch_t *b, sf_buf_t *scratch, int drop,
                               char *errstr, size_t errstr_size);

#endif
