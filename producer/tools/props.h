/*
 * props.h - librdkafka properties for sf-publish from a file and from the
 * environment, the way kcat takes them, so secrets (sasl.password, ...)
 * never have to be on the command line where ps(1) and shell history see
 * them.
 *
 * File (-F FILE): Java-properties-like lines "name=value"; blank lines and
 * lines starting with '#' are ignored; spaces around name and value are
 * trimmed; the value is the rest of the line (may contain '=' and '#').
 * Environment: every variable KAFKA_<NAME> becomes property <name>
 * lower-cased with '_' turned into '.' (KAFKA_SASL_PASSWORD ->
 * sasl.password).  Variables librdkafka does not know (KAFKA_OPTS,
 * KAFKA_HEAP_OPTS of the Java tools) are skipped.
 *
 * Errors name file:line (or the variable) and the property, never a
 * secret's value.  The setter is called on the caller's thread.
 */
#ifndef SF_PUBLISH_PROPS_H
#define SF_PUBLISH_PROPS_H

#include <stddef.h>

#include "sf_producer.h"

/* Non-zero when a property's value is a secret that must never be shown. */
int sf_props_secret(const char *name);

/* Sets each property of FILE on conf.  SF_ERR_IO when the file cannot be
 * read, SF_ERR_CONFIG for a bad line or property (message
 * "FILE:LINE: ..."). */
sf_err_t sf_props_load_file(sf_producer_conf_t *conf, const char *path,
                            char *errstr, size_t errstr_size);

/* Sets each KAFKA_* variable of env (NULL-terminated, like environ).
 * *skipped counts variables that name no librdkafka property. */
sf_err_t sf_props_load_env(sf_producer_conf_t *conf, char *const *env,
                           int *skipped, char *errstr, size_t errstr_size);

#endif
