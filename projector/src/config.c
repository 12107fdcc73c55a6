/* config.c - load the sf-projector YAML configuration (see config.h). */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "yamlx.h"

static void kv_free(sf_kv_t *kv, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(kv[i].k);
        free(kv[i].v);
    }
    free(kv);
}

void sf_config_destroy(sf_config_t *c) {
    if (!c)
        return;
    for (size_t i = 0; i < c->nproj; i++) {
        sf_pconf_t *p = &c->proj[i];
        free(p->name);
        free(p->group_id);
        for (size_t t = 0; t < p->ntopics; t++)
            free(p->topics[t]);
        free(p->topics);
        sf_rules_destroy(p->rules);
        free(p->handler);
        kv_free(p->kafka, p->nkafka);
        free(p->version);
        sf_redis_conf_clear(&p->redis);
    }
    free(c->proj);
    kv_free(c->kafka, c->nkafka);
    kv_free(c->kafka_x, c->nkafka_x);
    free(c->path);
    free(c->dir);
    sf_redis_conf_clear(&c->redis);
    free(c->schemas);
    free(c->metrics_listen);
    free(c);
}

static sf_err_t kv_set(sf_kv_t **kv, size_t *n, const char *k, const char *v) {
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*kv)[i].k, k)) {
            char *nv = strdup(v);
            if (!nv)
                return SF_ERR_NOMEM;
            free((*kv)[i].v);
            (*kv)[i].v = nv;
            return SF_OK;
        }
    sf_kv_t *nk = realloc(*kv, (*n + 1) * sizeof(*nk));
    if (!nk)
        return SF_ERR_NOMEM;
    *kv = nk;
    nk[*n].k = strdup(k);
    nk[*n].v = strdup(v);
    if (!nk[*n].k || !nk[*n].v) {
        free(nk[*n].k);
        free(nk[*n].v);
        return SF_ERR_NOMEM;
    }
    (*n)++;
    return SF_OK;
}

sf_err_t sf_config_kafka_set(sf_config_t *c, const char *k, const char *v) {
    return kv_set(&c->kafka_x, &c->nkafka_x, k, v);
}

const sf_pconf_t *sf_config_find(const sf_config_t *c, const char *name) {
    for (size_t i = 0; i < c->nproj; i++)
        if (!strcmp(c->proj[i].name, name))
            return &c->proj[i];
    return NULL;
}

/* Resolves p against dir unless absolute. */
static char *resolve(const char *dir, const char *p) {
    if (p[0] == '/' || !dir)
        return strdup(p);
    size_t n = strlen(dir) + strlen(p) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%s/%s", dir, p);
    return s;
}

typedef struct ctx {
    sf_yaml_t *y;
    sf_config_t *c;
    char *errstr;
    size_t errstr_size;
    int secret; /* the value being expanded may hold a secret */
} ctx_t;

/* Keys whose values are secrets: their text (or any part of it, such as
 * what looks like a variable name) never appears in an error. */
static int secret_key(const char *k) {
    return k && (strstr(k, "password") || strstr(k, "secret") ||
                 strstr(k, "jaas") || strstr(k, "token") ||
                 !strcmp(k, "ssl.key.pem") || !strcmp(k, "ssl_key"));
}

/* Reads a file that holds one value (a password): the whole file minus
 * one trailing newline (as written by echo, systemd-creds, Kubernetes
 * secrets).  Errors name the file, never its contents. */
static sf_err_t read_value_file(ctx_t *x, const yaml_node_t *n,
                                const char *file, sf_buf_t *b) {
    char *path = resolve(x->c->dir, file);
    if (!path)
        return SF_ERR_NOMEM;
    /* Regular files only (a FIFO would block, /dev/zero never end), and
     * small: a value file holds a password or a key, not megabytes. */
    enum { VALUE_FILE_MAX = 1 << 20 };
    struct stat st;
    FILE *f = NULL;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        errno = EINVAL;
    else if (stat(path, &st) == 0 && st.st_size > VALUE_FILE_MAX)
        errno = EFBIG;
    else
        f = fopen(path, "rb");
    if (!f) {
        sf_err_t e =
            sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                        "cannot read %s: %s", path,
                        errno == EINVAL  ? "not a regular file"
                        : errno == EFBIG ? "larger than 1 MiB, not a value file"
                                         : strerror(errno));
        free(path);
        return e;
    }
    char chunk[4096];
    size_t got, start = b->len;
    sf_err_t e = SF_OK;
    while (!e && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
        e = b->len - start + got > VALUE_FILE_MAX
                ? sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                              "cannot read %s: larger than "
                              "1 MiB, not a value file",
                              path)
                : sf_buf_append(b, chunk, got);
    if (!e && ferror(f))
        e = sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                        "cannot read %s: %s", path, strerror(errno));
    if (!e && memchr(b->p ? b->p + start : "", '\0', b->len - start))
        e = sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                        "%s holds a NUL byte", path);
    fclose(f);
    free(path);
    if (!e && b->len > start && b->p[b->len - 1] == '\n') {
        b->p[--b->len] = '\0';
        if (b->len > start && b->p[b->len - 1] == '\r')
            b->p[--b->len] = '\0';
    }
    memset(chunk, 0, sizeof(chunk));
    return e;
}

/* ${NAME} and ${NAME:-default} in scalar values are replaced from the
 * environment ("$${" is a literal "${"), so one file serves several
 * stacks (SF_BROKERS, SF_REDIS_PORT, SF_BUILD_DIR, ...); ${file:PATH} by
 * the contents of a file (read_value_file), so a secret can live in a
 * file of its own.  A variable that is unset and has no default is an
 * error at the value's position.  Errors never quote the value: it may be
 * a password that happens to contain "${". */
static sf_err_t expand(ctx_t *x, const yaml_node_t *n, const char *in,
                       char **out) {
    sf_buf_t b = {0};
    sf_err_t e = SF_OK;
    for (const char *p = in; *p && !e;) {
        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            e = sf_buf_append(&b, "${", 2);
            p += 3;
            continue;
        }
        if (p[0] != '$' || p[1] != '{') {
            e = sf_buf_append(&b, p, 1);
            p++;
            continue;
        }
        const char *close = strchr(p + 2, '}');
        if (!close) {
            e = sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                            "unterminated ${ in this value (write $${ for "
                            "a literal ${)");
            break;
        }
        if (!strncmp(p + 2, "file:", 5)) {
            /* ${file:PATH}; PATH may itself use ${VAR} (e.g. systemd's
             * ${CREDENTIALS_DIRECTORY}/name), so find the matching brace */
            const char *q = p + 7;
            int depth = 1;
            for (; *q; q++) {
                if (q[0] == '$' && q[1] == '{') {
                    depth++;
                    q++;
                } else if (*q == '}' && --depth == 0) {
                    break;
                }
            }
            if (!*q || q == p + 7) {
                e = sf_yaml_err(
                    x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                    q == p + 7 ? "${file:} needs a path"
                               : "unterminated ${file: in this value");
                break;
            }
            size_t fl = (size_t)(q - p - 7);
            char *raw = malloc(fl + 1), *file = NULL;
            if (!raw) {
                e = SF_ERR_NOMEM;
                break;
            }
            memcpy(raw, p + 7, fl);
            raw[fl] = '\0';
            int secret = x->secret;
            x->secret = 0; /* a path is not a secret */
            e = expand(x, n, raw, &file);
            x->secret = secret;
            if (!e)
                e = read_value_file(x, n, file, &b);
            free(raw);
            free(file);
            p = q + 1;
            continue;
        }
        char name[128];
        const char *def = NULL;
        size_t nl = (size_t)(close - p - 2);
        const char *colon = memchr(p + 2, ':', nl);
        if (colon && colon[1] == '-') {
            def = colon + 2;
            nl = (size_t)(colon - p - 2);
        }
        if (nl == 0 || nl >= sizeof(name)) {
            e = sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                            "bad variable name in ${...} (write $${ for a "
                            "literal ${)");
            break;
        }
        memcpy(name, p + 2, nl);
        name[nl] = '\0';
        const char *val = getenv(name);
        if (val && *val)
            e = sf_buf_appends(&b, val);
        else if (def)
            e = sf_buf_append(&b, def, (size_t)(close - def));
        else if (x->secret)
            e = sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                            "an environment variable named in this secret "
                            "value is not set (write $${ for a literal ${)");
        else
            e = sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                            "environment variable %s is not set (write "
                            "${%s:-default})",
                            name, name);
        p = close + 1;
    }
    if (!e && !b.p)
        e = sf_buf_append(&b, "", 0);
    if (e) {
        if (b.p)
            memset(b.p, 0, b.cap);
        sf_buf_free(&b);
        return e;
    }
    *out = b.p;
    return SF_OK;
}

/* The expanded scalar of n (NULL when n is not a scalar). */
static sf_err_t scalar_x(ctx_t *x, yaml_node_t *n, char **out) {
    const char *s = sf_yaml_scalar(n);
    *out = NULL;
    return s ? expand(x, n, s, out) : SF_OK;
}

#define FOR_PAIRS(y, n, p, k, v)                                     \
    for (yaml_node_pair_t *p = (n)->data.mapping.pairs.start;        \
         p < (n)->data.mapping.pairs.top; p++)                       \
        for (yaml_node_t *k = sf_yaml_node(y, p->key),               \
                         *v = sf_yaml_node(y, p->value), *_once = k; \
             _once; _once = NULL)

static sf_err_t need_map(ctx_t *x, yaml_node_t *n, const char *what) {
    if (n->type != YAML_MAPPING_NODE)
        return sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "%s must be a mapping", what);
    return SF_OK;
}

static sf_err_t scalar(ctx_t *x, yaml_node_t *n, const char *what, char **out) {
    const char *s = sf_yaml_scalar(n);
    if (!s)
        return sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "%s must be a scalar", what);
    free(*out);
    *out = NULL;
    return expand(x, n, s, out);
}

static sf_err_t int_in(ctx_t *x, yaml_node_t *n, long long lo, long long hi,
                       int *out) {
    long long v;
    char *txt = NULL, *end;
    sf_err_t e = scalar_x(x, n, &txt);
    if (e)
        return e;
    if (!txt || !*txt) {
        free(txt);
        return sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "expected an integer");
    }
    errno = 0;
    v = strtoll(txt, &end, 10);
    if (*end || errno) {
        /* a value from ${VAR} or ${file:...} may be a secret put in the
         * wrong place: never shown */
        int subst = n->type == YAML_SCALAR_NODE &&
                    strstr((const char *)n->data.scalar.value, "${");
        e = subst
                ? sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                              "expected an integer (the substituted value "
                              "is not shown)")
                : sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                              "expected an integer, got \"%s\"", txt);
        free(txt);
        return e;
    }
    free(txt);
    if (v < lo || v > hi)
        return sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "value %lld out of range [%lld, %lld]", v, lo, hi);
    *out = (int)v;
    return SF_OK;
}

static sf_err_t parse_kafka(ctx_t *x, yaml_node_t *n, sf_kv_t **kv,
                            size_t *nkv) {
    sf_err_t e = need_map(x, n, "kafka");
    if (e)
        return e;
    FOR_PAIRS(x->y, n, p, k, v) {
        const char *ks = sf_yaml_scalar(k), *vs = sf_yaml_scalar(v);
        if (!ks || !vs)
            return sf_yaml_err(x->y, vs ? k : v, x->errstr, x->errstr_size,
                               SF_ERR_CONFIG,
                               "kafka properties are scalar key: value");
        char *xv = NULL;
        x->secret = secret_key(ks);
        e = expand(x, v, vs, &xv);
        x->secret = 0;
        if (e)
            return e;
        e = kv_set(kv, nkv, ks, xv);
        if (secret_key(ks))
            memset(xv, 0, strlen(xv));
        free(xv);
        if (e)
            return e;
    }
    return SF_OK;
}

static sf_err_t need_bool(ctx_t *x, yaml_node_t *n, int *out) {
    char *t = NULL;
    sf_err_t e = scalar_x(x, n, &t);
    if (e)
        return e;
    if (t && (!strcmp(t, "true") || !strcmp(t, "yes") || !strcmp(t, "1")))
        *out = 1;
    else if (t && (!strcmp(t, "false") || !strcmp(t, "no") || !strcmp(t, "0")))
        *out = 0;
    else
        e = sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                        "expected true or false");
    free(t);
    return e;
}

/* A path value, resolved against the config file's folder. */
static sf_err_t path_value(ctx_t *x, yaml_node_t *n, const char *what,
                           char **out) {
    char *t = NULL;
    sf_err_t e = scalar(x, n, what, &t);
    if (e)
        return e;
    if (!*t) {
        free(t);
        return sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "%s must be a path", what);
    }
    free(*out);
    *out = resolve(x->c->dir, t);
    free(t);
    return *out ? SF_OK : SF_ERR_NOMEM;
}

static sf_err_t parse_redis_tls(ctx_t *x, yaml_node_t *n) {
    sf_redis_tls_t *t = &x->c->redis.tls;
    sf_err_t e = need_map(x, n, "redis.tls");
    if (e)
        return e;
    t->enabled = 1;
    t->verify = 1;
    FOR_PAIRS(x->y, n, p, k, v) {
        const char *ks = sf_yaml_scalar(k);
        if (ks && !strcmp(ks, "ca"))
            e = path_value(x, v, "redis.tls.ca", &t->ca);
        else if (ks && !strcmp(ks, "ca_dir"))
            e = path_value(x, v, "redis.tls.ca_dir", &t->ca_dir);
        else if (ks && !strcmp(ks, "cert"))
            e = path_value(x, v, "redis.tls.cert", &t->cert);
        else if (ks && !strcmp(ks, "key"))
            e = path_value(x, v, "redis.tls.key", &t->key);
        else if (ks && !strcmp(ks, "server_name"))
            e = scalar(x, v, "redis.tls.server_name", &t->server_name);
        else if (ks && !strcmp(ks, "verify"))
            e = need_bool(x, v, &t->verify);
        else
            e = sf_yaml_err(x->y, k, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                            "unknown key \"%s\" in redis.tls (known: ca, "
                            "ca_dir, cert, key, server_name, verify)",
                            ks ? ks : "?");
        if (e)
            return e;
    }
    if (!t->cert != !t->key)
        return sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "redis.tls: cert and key go together");
    return SF_OK;
}

static sf_err_t parse_redis(ctx_t *x, yaml_node_t *n) {
    sf_redis_conf_t *r = &x->c->redis;
    yaml_node_t *pw = NULL, *pwf = NULL;
    sf_err_t e = need_map(x, n, "redis");
    if (e)
        return e;
    FOR_PAIRS(x->y, n, p, k, v) {
        const char *ks = sf_yaml_scalar(k);
        if (ks && !strcmp(ks, "host")) {
            e = scalar(x, v, "redis.host", &r->host);
        } else if (ks && !strcmp(ks, "port")) {
            e = int_in(x, v, 1, 65535, &r->port);
        } else if (ks && !strcmp(ks, "socket")) {
            e = path_value(x, v, "redis.socket", &r->socket);
        } else if (ks && !strcmp(ks, "db")) {
            e = int_in(x, v, 0, 1 << 20, &r->db);
        } else if (ks && !strcmp(ks, "username")) {
            e = scalar(x, v, "redis.username", &r->username);
        } else if (ks && !strcmp(ks, "password")) {
            pw = v;
            x->secret = 1;
            e = scalar(x, v, "redis.password", &r->password);
            x->secret = 0;
        } else if (ks && !strcmp(ks, "password_file")) {
            char *file = NULL;
            sf_buf_t b = {0};
            pwf = v;
            if (!(e = scalar(x, v, "redis.password_file", &file)))
                e = read_value_file(x, v, file, &b);
            free(file);
            if (!e && !b.p)
                e = sf_buf_append(&b, "", 0);
            if (e) {
                if (b.p)
                    memset(b.p, 0, b.cap);
                sf_buf_free(&b);
            } else {
                free(r->password);
                r->password = b.p;
            }
        } else if (ks && !strcmp(ks, "tls")) {
            e = parse_redis_tls(x, v);
        } else {
            e = sf_yaml_err(x->y, k, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                            "unknown key \"%s\" in redis (known: host, port, "
                            "socket, db, username, password, password_file, "
                            "tls)",
                            ks ? ks : "?");
        }
        if (e)
            return e;
        if (pw && pwf)
            return sf_yaml_err(x->y, pw, x->errstr, x->errstr_size,
                               SF_ERR_CONFIG,
                               "redis: give password or password_file, not "
                               "both");
    }
    if (r->username && !r->password)
        return sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "redis.username needs password or password_file");
    if (r->socket && r->tls.enabled)
        return sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "redis: tls does not apply to a Unix socket");
    return SF_OK;
}

/* ---- version digest (config.h) ---------------------------------------
 * FNV-1a 64: not a security hash, only "did the definition change"; each
 * part ends with a 0 byte so that "ab"+"c" and "a"+"bc" differ. */
#define FNV_BASIS 0xcbf29ce484222325ULL
static void digest_bytes(uint64_t *h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        *h = (*h ^ b[i]) * 0x100000001b3ULL;
}
static void digest_str(uint64_t *h, const char *s) {
    digest_bytes(h, s, strlen(s) + 1);
}
static void digest_file(uint64_t *h, const char *path) {
    FILE *f = fopen(path, "rb");
    char buf[4096];
    size_t n;
    while (f && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        digest_bytes(h, buf, n);
    if (f)
        fclose(f);
    digest_bytes(h, "", 1);
}
/* An inline rules mapping: its scalars in document order, with the
 * structure marked, so a change of any value or nesting changes it. */
static void digest_node(uint64_t *h, sf_yaml_t *y, yaml_node_t *n) {
    if (!n)
        return;
    if (n->type == YAML_SCALAR_NODE) {
        digest_bytes(h, "s", 1);
        digest_bytes(h, n->data.scalar.value, n->data.scalar.length);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        digest_bytes(h, "[", 1);
        for (yaml_node_item_t *i = n->data.sequence.items.start;
             i < n->data.sequence.items.top; i++)
            digest_node(h, y, sf_yaml_node(y, *i));
    } else if (n->type == YAML_MAPPING_NODE) {
        digest_bytes(h, "{", 1);
        FOR_PAIRS(y, n, p, k, v) {
            digest_node(h, y, k);
            digest_node(h, y, v);
        }
    }
    digest_bytes(h, "", 1);
}

static sf_err_t parse_projection(ctx_t *x, yaml_node_t *n, sf_pconf_t *pc) {
    sf_err_t e = need_map(x, n, "a projection");
    if (e)
        return e;
    pc->batch_size = 500;
    pc->dedup = 1;
    pc->batch_ms = 50;
    pc->batch_idle_ms = 2;
    pc->db = -1;
    pc->spare_db = -1;
    uint64_t dg = FNV_BASIS;
    pc->commit_interval_ms = 1000;
    yaml_node_t *keys = NULL; /* taken after rules:, whatever the order */
    FOR_PAIRS(x->y, n, p, k, v) {
        const char *ks = sf_yaml_scalar(k);
        if (!ks) {
            e = sf_yaml_err(x->y, k, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                            "expected a scalar key");
        } else if (!strcmp(ks, "name")) {
            e = scalar(x, v, "name", &pc->name);
            if (!e &&
                (!*pc->name || strchr(pc->name, ':') || strchr(pc->name, ' ')))
                e = sf_yaml_err(x->y, v, x->errstr, x->errstr_size,
                                SF_ERR_CONFIG,
                                "projection name must be non-empty without "
                                "':' or spaces");
        } else if (!strcmp(ks, "group_id")) {
            e = scalar(x, v, "group_id", &pc->group_id);
        } else if (!strcmp(ks, "topics")) {
            const char *one = sf_yaml_scalar(v);
            if (one) {
                pc->topics = calloc(1, sizeof(char *));
                if (!pc->topics || !(pc->topics[0] = strdup(one)))
                    return SF_ERR_NOMEM;
                pc->ntopics = 1;
            } else if (v->type == YAML_SEQUENCE_NODE) {
                size_t cnt = (size_t)(v->data.sequence.items.top -
                                      v->data.sequence.items.start);
                pc->topics = calloc(cnt ? cnt : 1, sizeof(char *));
                if (!pc->topics)
                    return SF_ERR_NOMEM;
                for (size_t i = 0; i < cnt && !e; i++) {
                    yaml_node_t *t =
                        sf_yaml_node(x->y, v->data.sequence.items.start[i]);
                    char *s = NULL;
                    e = scalar(x, t, "a topic", &s);
                    if (!e)
                        pc->topics[pc->ntopics++] = s;
                }
            } else {
                e = sf_yaml_err(x->y, v, x->errstr, x->errstr_size,
                                SF_ERR_CONFIG, "topics must be a list");
            }
        } else if (!strcmp(ks, "rules")) {
            char *file = NULL;
            if ((e = scalar_x(x, v, &file)))
                return e;
            if (file) {
                char *path = resolve(x->c->dir, file);
                free(file);
                if (!path)
                    return SF_ERR_NOMEM;
                e = sf_rules_load_file(path, &pc->rules, x->errstr,
                                       x->errstr_size);
                if (!e)
                    digest_file(&dg, path);
                free(path);
            } else {
                e = sf_rules_from_node(x->y, v, &pc->rules, x->errstr,
                                       x->errstr_size);
                digest_node(&dg, x->y, v);
            }
        } else if (!strcmp(ks, "keys")) {
            keys = v;
        } else if (!strcmp(ks, "handler")) {
            char *file = NULL;
            if ((e = scalar_x(x, v, &file)))
                return e;
            if (!file || !*file)
                e = sf_yaml_err(x->y, v, x->errstr, x->errstr_size,
                                SF_ERR_CONFIG, "handler must be a path");
            else if (!(pc->handler = strchr(file, '/')
                                         ? resolve(x->c->dir, file)
                                         : strdup(file))) {
                free(file);
                return SF_ERR_NOMEM;
            }
            free(file);
        } else if (!strcmp(ks, "on_error")) {
            const char *s = sf_yaml_scalar(v);
            if (s && !strcmp(s, "dlq"))
                pc->on_error_stop = 0;
            else if (s && !strcmp(s, "stop"))
                pc->on_error_stop = 1;
            else
                e = sf_yaml_err(x->y, v, x->errstr, x->errstr_size,
                                SF_ERR_CONFIG, "on_error must be dlq or stop");
        } else if (!strcmp(ks, "dedup")) {
            const char *s = sf_yaml_scalar(v);
            if (s && !strcmp(s, "on"))
                pc->dedup = 1;
            else if (s && !strcmp(s, "off"))
                pc->dedup = 0;
            else
                e = sf_yaml_err(x->y, v, x->errstr, x->errstr_size,
                                SF_ERR_CONFIG, "dedup must be on or off");
        } else if (!strcmp(ks, "batch")) {
            if (!(e = need_map(x, v, "batch")))
                FOR_PAIRS(x->y, v, q, bk, bv) {
                    const char *bs = sf_yaml_scalar(bk);
                    if (bs && !strcmp(bs, "size"))
                        e = int_in(x, bv, 1, 1000000, &pc->batch_size);
                    else if (bs && !strcmp(bs, "time_ms"))
                        e = int_in(x, bv, 0, 60000, &pc->batch_ms);
                    else if (bs && !strcmp(bs, "idle_ms"))
                        e = int_in(x, bv, 0, 60000, &pc->batch_idle_ms);
                    else
                        e = sf_yaml_err(x->y, bk, x->errstr, x->errstr_size,
                                        SF_ERR_CONFIG,
                                        "unknown key \"%s\" in batch (known: "
                                        "size, time_ms, idle_ms)",
                                        bs ? bs : "?");
                    if (e)
                        return e;
                }
        } else if (!strcmp(ks, "commit_interval_ms")) {
            e = int_in(x, v, 100, 600000, &pc->commit_interval_ms);
        } else if (!strcmp(ks, "kafka")) {
            e = parse_kafka(x, v, &pc->kafka, &pc->nkafka);
        } else if (!strcmp(ks, "db")) {
            e = int_in(x, v, 0, 1 << 20, &pc->db);
        } else if (!strcmp(ks, "spare_db")) {
            e = int_in(x, v, 0, 1 << 20, &pc->spare_db);
        } else if (!strcmp(ks, "version")) {
            e = scalar(x, v, "version", &pc->version);
        } else {
            e = sf_yaml_err(x->y, k, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                            "unknown key \"%s\" in projection (known: name, "
                            "topics, rules, keys, handler, group_id, "
                            "on_error, dedup, batch, commit_interval_ms, "
                            "kafka, db, spare_db, version)",
                            ks);
        }
        if (e)
            return e;
    }
    if (!pc->name)
        return sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "projection without a name");
    if (!pc->ntopics)
        return sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "projection %s has no topics", pc->name);
    if (keys && (e = sf_rules_add_keys(x->y, keys, &pc->rules, x->errstr,
                                       x->errstr_size)))
        return e;
    /* keys: alone is fine here: a custom worker's registered init brings
     * the handlers (checked when the projection is created) */
    if (!pc->rules && !pc->handler)
        return sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "projection %s has neither rules nor a handler "
                           "(nor keys: for a custom worker's handlers)",
                           pc->name);
    if (pc->spare_db >= 0 && pc->spare_db == pc->db)
        return sf_yaml_err(x->y, n, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "projection %s: spare_db %d is its db", pc->name,
                           pc->db);
    digest_str(&dg, pc->handler ? pc->handler : "");
    digest_str(&dg, pc->version ? pc->version : "");
    /* the duplicate rule changes what the view holds; only "off" is
     * hashed, so the digests of projections with the default stay */
    if (!pc->dedup)
        digest_str(&dg, "dedup: off");
    snprintf(pc->digest, sizeof(pc->digest), "%016llx", (unsigned long long)dg);
    if (!pc->group_id) {
        size_t len = strlen(pc->name) + 4;
        if (!(pc->group_id = malloc(len)))
            return SF_ERR_NOMEM;
        snprintf(pc->group_id, len, "sf-%s", pc->name);
    }
    return SF_OK;
}

static sf_err_t parse_root(ctx_t *x, yaml_node_t *root) {
    sf_config_t *c = x->c;
    sf_err_t e = need_map(x, root, "the configuration");
    if (e)
        return e;
    FOR_PAIRS(x->y, root, p, k, v) {
        const char *ks = sf_yaml_scalar(k);
        if (!ks) {
            e = sf_yaml_err(x->y, k, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                            "expected a scalar key");
        } else if (!strcmp(ks, "kafka")) {
            e = parse_kafka(x, v, &c->kafka, &c->nkafka);
        } else if (!strcmp(ks, "redis")) {
            e = parse_redis(x, v);
        } else if (!strcmp(ks, "schemas")) {
            char *dir = NULL;
            if ((e = scalar_x(x, v, &dir)))
                return e;
            if (!dir)
                e = sf_yaml_err(x->y, v, x->errstr, x->errstr_size,
                                SF_ERR_CONFIG, "schemas must be a folder");
            else if (!(c->schemas = resolve(c->dir, dir)))
                e = SF_ERR_NOMEM;
            free(dir);
        } else if (!strcmp(ks, "metrics")) {
            if (!(e = need_map(x, v, "metrics")))
                FOR_PAIRS(x->y, v, q, mk, mv) {
                    const char *ms = sf_yaml_scalar(mk);
                    if (ms && !strcmp(ms, "listen"))
                        e = scalar(x, mv, "metrics.listen", &c->metrics_listen);
                    else if (ms && !strcmp(ms, "stuck_after"))
                        e = int_in(x, mv, 1, 86400, &c->stuck_after_s);
                    else
                        e = sf_yaml_err(x->y, mk, x->errstr, x->errstr_size,
                                        SF_ERR_CONFIG,
                                        "unknown key \"%s\" in metrics "
                                        "(known: listen, stuck_after)",
                                        ms ? ms : "?");
                    if (e)
                        return e;
                }
        } else if (!strcmp(ks, "projections")) {
            if (v->type != YAML_SEQUENCE_NODE) {
                e = sf_yaml_err(x->y, v, x->errstr, x->errstr_size,
                                SF_ERR_CONFIG, "projections must be a list");
            } else {
                size_t cnt = (size_t)(v->data.sequence.items.top -
                                      v->data.sequence.items.start);
                c->proj = calloc(cnt ? cnt : 1, sizeof(*c->proj));
                if (!c->proj)
                    return SF_ERR_NOMEM;
                for (size_t i = 0; i < cnt && !e; i++) {
                    yaml_node_t *pn =
                        sf_yaml_node(x->y, v->data.sequence.items.start[i]);
                    c->nproj++;
                    e = parse_projection(x, pn, &c->proj[i]);
                    for (size_t j = 0; !e && j < i; j++)
                        if (!strcmp(c->proj[j].name, c->proj[i].name))
                            e = sf_yaml_err(x->y, pn, x->errstr, x->errstr_size,
                                            SF_ERR_CONFIG,
                                            "duplicate projection name %s",
                                            c->proj[i].name);
                }
            }
        } else {
            e = sf_yaml_err(x->y, k, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                            "unknown key \"%s\" (known: kafka, redis, "
                            "schemas, metrics, projections)",
                            ks);
        }
        if (e)
            return e;
    }
    if (!c->nproj)
        return sf_yaml_err(x->y, root, x->errstr, x->errstr_size, SF_ERR_CONFIG,
                           "no projections configured");
    return SF_OK;
}

static sf_err_t finish(sf_yaml_t *y, sf_config_t *c, sf_config_t **out,
                       char *errstr, size_t errstr_size) {
    ctx_t x = {y, c, errstr, errstr_size, 0};
    c->redis.port = 6379;
    sf_err_t e = parse_root(&x, sf_yaml_root(y));
    if (!e && !c->redis.host && !(c->redis.host = strdup("127.0.0.1")))
        e = SF_ERR_NOMEM;
    /* each projection's connections: the redis: map, its own db */
    for (size_t i = 0; !e && i < c->nproj; i++) {
        sf_pconf_t *pc = &c->proj[i];
        if (pc->db < 0)
            pc->db = c->redis.db;
        if (pc->spare_db == pc->db)
            e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                          "%s: projection %s: spare_db %d is its db "
                          "(redis.db)",
                          c->path, pc->name, pc->db);
        else if (sf_redis_conf_copy(&pc->redis, &c->redis))
            e = SF_ERR_NOMEM;
        else
            pc->redis.db = pc->db;
    }
    if (e) {
        sf_config_destroy(c);
        return e;
    }
    *out = c;
    return SF_OK;
}

sf_err_t sf_config_load(const char *path, sf_config_t **out, char *errstr,
                        size_t errstr_size) {
    sf_config_t *c = calloc(1, sizeof(*c));
    if (!c)
        return SF_ERR_NOMEM;
    char *tmp = strdup(path);
    c->path = strdup(path);
    c->dir = tmp ? strdup(dirname(tmp)) : NULL;
    free(tmp);
    if (!c->path || !c->dir) {
        sf_config_destroy(c);
        return SF_ERR_NOMEM;
    }
    sf_yaml_t y;
    sf_err_t e = sf_yaml_load_file(&y, path, errstr, errstr_size);
    if (e)
        sf_config_destroy(c);
    else
        e = finish(&y, c, out, errstr, errstr_size);
    sf_yaml_free(&y);
    return e;
}

sf_err_t sf_config_load_string(const char *text, const char *origin,
                               const char *dir, sf_config_t **out, char *errstr,
                               size_t errstr_size) {
    sf_config_t *c = calloc(1, sizeof(*c));
    if (!c)
        return SF_ERR_NOMEM;
    c->path = strdup(origin);
    c->dir = dir ? strdup(dir) : NULL;
    sf_yaml_t y;
    sf_err_t e = sf_yaml_load_string(&y, text, strlen(text), origin, errstr,
                                     errstr_size);
    if (e)
        sf_config_destroy(c);
    else
        e = finish(&y, c, out, errstr, errstr_size);
    sf_yaml_free(&y);
    return e;
}
