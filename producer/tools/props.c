/* props.c - sf-publish properties from a file and the environment (see
 * props.h). */
#include "props.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sf_props_secret(const char *name) {
    return strstr(name, "password") || strstr(name, "secret") ||
           strstr(name, "jaas") || strstr(name, "token") ||
           !strcmp(name, "ssl.key.pem");
}

/* Sets one property; a failure message names where, never a secret. */
static sf_err_t set_one(sf_producer_conf_t *conf, const char *name,
                        const char *value, const char *where, char *errstr,
                        size_t errstr_size) {
    char err[512];
    sf_err_t e = sf_producer_conf_set(conf, name, value, err, sizeof(err));

    if (!e)
        return SF_OK;
    if (sf_props_secret(name) && !strstr(err, "No such configuration"))
        return sf_seterr(errstr, errstr_size, e,
                         "%s: %s: invalid value (not shown: it is a secret)",
                         where, name);
    return sf_seterr(errstr, errstr_size, e, "%s: %s", where, err);
}

static char *trim(char *s) {
    char *end;

    while (isspace((unsigned char)*s))
        s++;
    end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

sf_err_t sf_props_load_file(sf_producer_conf_t *conf, const char *path,
                            char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "r");
    char *line = NULL, where[512];
    size_t cap = 0;
    long n = 0;
    sf_err_t e = SF_OK;

    if (!f)
        return sf_seterr(errstr, errstr_size, SF_ERR_IO, "%s: %s", path,
                         strerror(errno));
    while (!e && getline(&line, &cap, f) != -1) {
        char *s = trim(line), *eq;

        n++;
        snprintf(where, sizeof(where), "%s:%ld", path, n);
        if (!*s || *s == '#')
            continue;
        eq = strchr(s, '=');
        if (!eq || eq == s) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                          "%s: expected property=value", where);
            break;
        }
        *eq = '\0';
        e = set_one(conf, trim(s), trim(eq + 1), where, errstr, errstr_size);
    }
    if (!e && ferror(f))
        e = sf_seterr(errstr, errstr_size, SF_ERR_IO, "%s: %s", path,
                      strerror(errno));
    if (line) /* the buffer held a secret, maybe */
        memset(line, 0, cap);
    free(line);
    fclose(f);
    return e;
}

sf_err_t sf_props_load_env(sf_producer_conf_t *conf, char *const *env,
                           int *skipped, char *errstr, size_t errstr_size) {
    *skipped = 0;
    for (; env && *env; env++) {
        const char *v = *env, *eq = strchr(v, '=');
        char name[256], where[300];
        size_t len;

        if (strncmp(v, "KAFKA_", 6) || !eq || eq - v <= 6)
            continue;
        len = (size_t)(eq - v - 6);
        if (len >= sizeof(name))
            continue;
        for (size_t i = 0; i < len; i++) {
            char c = v[6 + i];
            name[i] = c == '_' ? '.' : (char)tolower((unsigned char)c);
        }
        name[len] = '\0';
        snprintf(where, sizeof(where), "environment %.*s", (int)(eq - v), v);
        sf_err_t e = set_one(conf, name, eq + 1, where, errstr, errstr_size);
        if (e && strstr(errstr, "No such configuration property")) {
            (*skipped)++; /* KAFKA_OPTS and friends belong to Java tools */
            continue;
        }
        if (e)
            return e;
    }
    return SF_OK;
}
