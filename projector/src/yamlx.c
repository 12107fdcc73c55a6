/* yamlx.c - libyaml document loading with positioned errors. */
#include "yamlx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sf_err_t load(sf_yaml_t *y, yaml_parser_t *parser, char *errstr,
                     size_t errstr_size) {
    if (!yaml_parser_load(parser, &y->doc)) {
        sf_err_t e = sf_seterr(
            errstr, errstr_size, SF_ERR_PARSE, "%s:%zu:%zu: %s%s%s", y->file,
            parser->problem_mark.line + 1, parser->problem_mark.column + 1,
            parser->problem ? parser->problem : "syntax error",
            parser->context ? " " : "", parser->context ? parser->context : "");
        return e;
    }
    y->loaded = 1;
    if (!yaml_document_get_root_node(&y->doc))
        return sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                         "%s:1:1: empty document", y->file);
    return SF_OK;
}

sf_err_t sf_yaml_load_file(sf_yaml_t *y, const char *path, char *errstr,
                           size_t errstr_size) {
    memset(y, 0, sizeof(*y));
    y->file = strdup(path);
    if (!y->file)
        return SF_ERR_NOMEM;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sf_seterr(errstr, errstr_size, SF_ERR_IO, "%s: %s", path,
                         strerror(errno));
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    sf_err_t e = load(y, &parser, errstr, errstr_size);
    yaml_parser_delete(&parser);
    fclose(f);
    return e;
}

sf_err_t sf_yaml_load_string(sf_yaml_t *y, const char *text, size_t len,
                             const char *origin, char *errstr,
                             size_t errstr_size) {
    memset(y, 0, sizeof(*y));
    y->file = strdup(origin);
    if (!y->file)
        return SF_ERR_NOMEM;
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    sf_err_t e = load(y, &parser, errstr, errstr_size);
    yaml_parser_delete(&parser);
    return e;
}

void sf_yaml_free(sf_yaml_t *y) {
    if (y->loaded)
        yaml_document_delete(&y->doc);
    free(y->file);
    memset(y, 0, sizeof(*y));
}

yaml_node_t *sf_yaml_root(sf_yaml_t *y) {
    return yaml_document_get_root_node(&y->doc);
}

yaml_node_t *sf_yaml_node(sf_yaml_t *y, int id) {
    return yaml_document_get_node(&y->doc, id);
}

sf_err_t sf_yaml_err(const sf_yaml_t *y, const yaml_node_t *n, char *errstr,
                     size_t errstr_size, sf_err_t err, const char *fmt, ...) {
    if (!errstr || !errstr_size)
        return err;
    int k = snprintf(errstr, errstr_size, "%s:%zu:%zu: ", y->file,
                     n ? n->start_mark.line + 1 : 1,
                     n ? n->start_mark.column + 1 : 1);
    if (k < 0 || (size_t)k >= errstr_size)
        return err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr + k, errstr_size - (size_t)k, fmt, ap);
    va_end(ap);
    return err;
}

const char *sf_yaml_scalar(const yaml_node_t *n) {
    if (!n || n->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)n->data.scalar.value;
}

int sf_yaml_is_null(const yaml_node_t *n) {
    if (!n || n->type != YAML_SCALAR_NODE)
        return 0;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = (const char *)n->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

sf_err_t sf_yaml_int(const sf_yaml_t *y, const yaml_node_t *n, long long *v,
                     char *errstr, size_t errstr_size) {
    const char *s = sf_yaml_scalar(n);
    if (!s || !*s)
        return sf_yaml_err(y, n, errstr, errstr_size, SF_ERR_CONFIG,
                           "expected an integer");
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*end || errno)
        return sf_yaml_err(y, n, errstr, errstr_size, SF_ERR_CONFIG,
                           "expected an integer, got \"%s\"", s);
    *v = x;
    return SF_OK;
}
