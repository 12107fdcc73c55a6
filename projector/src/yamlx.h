/*
 * yamlx.h - a loaded libyaml document plus helpers that turn a node into a
 * "file:line:col: message" error.  Config and rules files both use it so
 * every error names where it is.
 */
#ifndef SF_PROJ_YAMLX_H
#define SF_PROJ_YAMLX_H

#include <stddef.h>
#include <yaml.h>

#include "sf_core.h"

typedef struct sf_yaml {
    yaml_document_t doc;
    char *file; /* name used in errors */
    int loaded;
} sf_yaml_t;

/* Loads the first document of a file / of text (origin names it).  An empty
 * document is an error.  Free with sf_yaml_free() even on failure. */
sf_err_t sf_yaml_load_file(sf_yaml_t *y, const char *path, char *errstr,
                           size_t errstr_size);
sf_err_t sf_yaml_load_string(sf_yaml_t *y, const char *text, size_t len,
                             const char *origin, char *errstr,
                             size_t errstr_size);
void sf_yaml_free(sf_yaml_t *y);

yaml_node_t *sf_yaml_root(sf_yaml_t *y);
yaml_node_t *sf_yaml_node(sf_yaml_t *y, int id);

/* Formats "file:line:col: <fmt>" (1-based) into errstr and returns err. */
sf_err_t sf_yaml_err(const sf_yaml_t *y, const yaml_node_t *n, char *errstr,
                     size_t errstr_size, sf_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* The scalar's text or NULL when n is not a scalar. */
const char *sf_yaml_scalar(const yaml_node_t *n);
/* Non-zero for a plain null scalar (~, null, empty). */
int sf_yaml_is_null(const yaml_node_t *n);
/* Parses an integer scalar; errors name the node. */
sf_err_t sf_yaml_int(const sf_yaml_t *y, const yaml_node_t *n, long long *v,
                     char *errstr, size_t errstr_size);

#endif
