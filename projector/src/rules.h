/*
 * rules.h - declarative projection rules (YAML), see projector/README.md.
 *
 *   keys: ["cart:*"]                 # view key patterns (rebuild clears)
 *   on:
 *     shop.cart.ItemAddedToCart:     # Avro full name of the event
 *       - [HINCRBY, "cart:{aggregate_id}", "{data.sku}", "{data.quantity}"]
 *       - cmd: [SADD, "carts:with:{data.sku}", "{aggregate_id}"]
 *         when: {data.currency: EUR}     # all must be equal
 *         unless: {data.sku: null}       # none may be equal
 *
 * Every argument is a template (interp.h); the command name must be a
 * literal from the write allow-list.  Errors name file:line:col.
 */
#ifndef SF_PROJ_RULES_H
#define SF_PROJ_RULES_H

#include "batch.h"
#include "event.h"
#include "yamlx.h"

typedef struct sf_rules sf_rules_t;

sf_err_t sf_rules_load_file(const char *path, sf_rules_t **out, char *errstr,
                            size_t errstr_size);
/* Rules from a mapping node of an already loaded document (inline rules in
 * the config file). */
sf_err_t sf_rules_from_node(sf_yaml_t *y, yaml_node_t *n, sf_rules_t **out,
                            char *errstr, size_t errstr_size);
void sf_rules_destroy(sf_rules_t *r);
/* The keys: list n of a projection in the config (handler-only
 * projections declare their keys there): into *r, a new rules object
 * without events when *r is NULL.  SF_ERR_PARSE naming file:line:col when
 * the list is bad or *r already has keys. */
sf_err_t sf_rules_add_keys(sf_yaml_t *y, yaml_node_t *n, sf_rules_t **r,
                           char *errstr, size_t errstr_size);

size_t sf_rules_nkeys(const sf_rules_t *r);
const char *sf_rules_key(const sf_rules_t *r, size_t i);
/* Number of event types with rules, and the i-th type. */
size_t sf_rules_ntypes(const sf_rules_t *r);
const char *sf_rules_type(const sf_rules_t *r, size_t i);
/* Non-zero when type has rules. */
int sf_rules_has(const sf_rules_t *r, const char *type);

/* Appends the commands the rules give for ev (inside an open event of b).
 * scratch is a reusable buffer.  SF_ERR_RULE with the rule's position and
 * the path that failed when a value cannot be rendered. */
sf_err_t sf_rules_apply(const sf_rules_t *r, const sf_event_t *ev,
                        sf_batch_t *b, sf_buf_t *scratch, char *errstr,
                        size_t errstr_size);

/* Checks r against the catalog (the newest schema of each type): every
 * event type must be a known Avro full name, every data path of a command
 * or condition must exist in that schema (sf_tmpl_check).  SF_ERR_CONFIG
 * with "file:line:col: ..." of the type or path. */
/* Checks that every key argument of every command can match one of the
 * keys: patterns (keys are also checked one by one when written).
 * SF_ERR_CONFIG with "file:line:col" of the key argument. */
sf_err_t sf_rules_check_keys(const sf_rules_t *r, char *errstr,
                             size_t errstr_size);

struct sf_catalog_s;
sf_err_t sf_rules_check_catalog(const sf_rules_t *r,
                                const struct sf_catalog_s *cat, char *errstr,
                                size_t errstr_size);

#endif
