/*
 * catalog.c - a directory of .avsc files indexed by Avro full name and
 * version (sorted array) and by fingerprint (second sorted array).  Catalogs
 * hold tens of schemas, so sorted arrays with binary search beat hashing in
 * both code size and speed; decoders cache their lookups anyway.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct sf_catalog_s {
    sf_schema_t **by_name; /* sorted by full name, version */
    sf_schema_t **by_fp;   /* sorted by fingerprint */
    size_t n, cap;
};

sf_catalog_t *sf_catalog_new(void) {
    return calloc(1, sizeof(sf_catalog_t));
}

static void schema_free(sf_schema_t *s) {
    if (!s)
        return;
    sf_plan_free(s->identity);
    if (s->iface)
        avro_value_iface_decref(s->iface);
    if (s->avro)
        avro_schema_decref(s->avro);
    sf_tree_free(s->tree);
    free(s->fullname);
    free(s->canonical);
    free(s->origin);
    free(s->json_text);
    free(s);
}

void sf_catalog_destroy(sf_catalog_t *cat) {
    if (!cat)
        return;
    for (size_t i = 0; i < cat->n; i++)
        schema_free(cat->by_name[i]);
    free(cat->by_name);
    free(cat->by_fp);
    free(cat);
}

static int cmp_name(const sf_schema_t *a, const char *name, int version) {
    int c = strcmp(a->fullname, name);
    if (c)
        return c;
    return (a->version > version) - (a->version < version);
}

/* Index of the first schema >= (name, version). */
static size_t lower_name(const sf_catalog_t *cat, const char *name,
                         int version) {
    size_t lo = 0, hi = cat->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_name(cat->by_name[mid], name, version) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t lower_fp(const sf_catalog_t *cat, uint64_t fp) {
    size_t lo = 0, hi = cat->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cat->by_fp[mid]->fingerprint < fp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* avro-c parses schema text with its own copy of jansson, which refuses
 * "\u0000" anywhere.  Our parser has already read everything (words were
 * checked to hold no U+0000), and avro-c keeps no defaults, docs or other
 * attributes -- the only places a U+0000 can be left -- so avro-c gets a
 * copy in which such strings are emptied.  NULL when out of memory. */
static void scrub_nul(json_t *j) {
    const char *k;
    json_t *v;
    if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            if (json_is_string(v) && !sf_json_word(v))
                json_object_set_new(j, k, json_string(""));
            else
                scrub_nul(v);
        }
    } else if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++) {
            v = json_array_get(j, i);
            if (json_is_string(v) && !sf_json_word(v))
                json_array_set_new(j, i, json_string(""));
            else
                scrub_nul(v);
        }
    }
}

static char *text_for_avro_c(const json_t *j) {
    json_t *copy = json_deep_copy(j);
    if (!copy)
        return NULL;
    scrub_nul(copy);
    char *text = json_dumps(copy, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(copy);
    return text;
}

sf_err_t sf_catalog_add(sf_catalog_t *cat, const char *schema_json, size_t len,
                        const char *origin, int version,
                        const sf_schema_t **out, char *errstr,
                        size_t errstr_size) {
    json_error_t je;
    sf_err_t err;

    if (!cat || !schema_json || version < 1)
        return sf_seterr(
            errstr, errstr_size, SF_ERR_INVALID_ARG, "sf_catalog_add: %s",
            version < 1 ? "version must be >= 1" : "NULL argument");
    if (!origin)
        origin = "schema";
    /* JSON_ALLOW_NUL: "\u0000" is byte 0x00 in bytes/fixed defaults;
     * names are checked for NULs where they are read (sf_json_word). */
    json_t *j =
        json_loadb(schema_json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j)
        return sf_seterr(errstr, errstr_size, SF_ERR_PARSE, "%s:%d:%d: %s",
                         origin, je.line, je.column, je.text);
    sf_schema_t *s = calloc(1, sizeof *s);
    if (!s) {
        json_decref(j);
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
    }
    err = sf_tree_parse(j, &s->tree, origin, 1, errstr, errstr_size);
    char *for_avro = err ? NULL : text_for_avro_c(j);
    json_decref(j);
    if (err)
        goto fail;
    if (!s->tree->root->fullname) {
        err = sf_seterr(errstr, errstr_size, SF_ERR_SCHEMA,
                        "%s: an event schema must be a named type (record), "
                        "not %s",
                        origin, sf_type_name(s->tree->root->type));
        goto fail;
    }
    s->version = version;
    s->fullname = strdup(s->tree->root->fullname);
    s->origin = strdup(origin);
    s->json_text = malloc(len + 1);
    s->canonical = sf_tree_canonical(s->tree->root);
    if (!s->fullname || !s->origin || !s->json_text || !s->canonical) {
        err = sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
        goto fail;
    }
    memcpy(s->json_text, schema_json, len);
    s->json_text[len] = 0;
    s->fingerprint = sf_crc64_avro(s->canonical, strlen(s->canonical));

    if (!for_avro) {
        err = sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int bad =
        avro_schema_from_json_length(for_avro, strlen(for_avro), &s->avro);
    free(for_avro);
    for_avro = NULL;
    if (bad) {
        s->avro = NULL;
        err = sf_seterr(errstr, errstr_size, SF_ERR_SCHEMA,
                        "%s: avro-c refuses the schema: %s", origin,
                        avro_strerror());
        goto fail;
    }
    s->iface = avro_generic_class_from_schema(s->avro);
    if (!s->iface) {
        err = sf_seterr(errstr, errstr_size, SF_ERR_SCHEMA, "%s: avro-c: %s",
                        origin, avro_strerror());
        goto fail;
    }
    s->identity =
        sf_plan_compile(s->tree->root, s->tree->root, NULL, NULL, NULL);
    if (!s->identity) {
        err = sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
        goto fail;
    }

    size_t at = lower_name(cat, s->fullname, version);
    if (at < cat->n && cmp_name(cat->by_name[at], s->fullname, version) == 0) {
        err = sf_seterr(errstr, errstr_size, SF_ERR_SCHEMA,
                        "%s: %s version %d is already defined by %s", origin,
                        s->fullname, version, cat->by_name[at]->origin);
        goto fail;
    }
    size_t fat = lower_fp(cat, s->fingerprint);
    if (fat < cat->n && cat->by_fp[fat]->fingerprint == s->fingerprint &&
        strcmp(cat->by_fp[fat]->fullname, s->fullname) != 0) {
        err = sf_seterr(errstr, errstr_size, SF_ERR_SCHEMA,
                        "%s: fingerprint %016llx collides with %s", origin,
                        (unsigned long long)s->fingerprint,
                        cat->by_fp[fat]->origin);
        goto fail;
    }
    if (cat->n == cat->cap) {
        size_t nc = cat->cap ? cat->cap * 2 : 16;
        sf_schema_t **a = realloc(cat->by_name, nc * sizeof *a);
        if (!a) {
            err = sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
            goto fail;
        }
        cat->by_name = a;
        sf_schema_t **b = realloc(cat->by_fp, nc * sizeof *b);
        if (!b) {
            err = sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
            goto fail;
        }
        cat->by_fp = b;
        cat->cap = nc;
    }
    memmove(&cat->by_name[at + 1], &cat->by_name[at],
            (cat->n - at) * sizeof *cat->by_name);
    cat->by_name[at] = s;
    memmove(&cat->by_fp[fat + 1], &cat->by_fp[fat],
            (cat->n - fat) * sizeof *cat->by_fp);
    cat->by_fp[fat] = s;
    cat->n++;
    if (out)
        *out = s;
    return SF_OK;
fail:
    free(for_avro);
    schema_free(s);
    return err;
}

/* Version from a file name "<Name>.v<N>.avsc"; 1 without ".v<N>". */
static int version_of(const char *fname) {
    size_t n = strlen(fname);
    if (n < 5)
        return 1;
    n -= 5; /* ".avsc" */
    size_t i = n;
    while (i > 0 && fname[i - 1] >= '0' && fname[i - 1] <= '9')
        i--;
    if (i == n || i < 2 || fname[i - 1] != 'v' || fname[i - 2] != '.')
        return 1;
    long v = strtol(fname + i, NULL, 10);
    return v < 1 || v > 1000000 ? 0 : (int)v;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

static sf_err_t load_file(sf_catalog_t *cat, const char *path, int version,
                          char *errstr, size_t errstr_size) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return sf_seterr(errstr, errstr_size, SF_ERR_IO, "%s: %s", path,
                         strerror(errno));
    sf_buf_t b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        sf_buf_append(&b, chunk, n);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || b.oom) {
        free(b.p);
        return sf_seterr(errstr, errstr_size, rerr ? SF_ERR_IO : SF_ERR_NOMEM,
                         "%s: %s", path, rerr ? "read error" : "out of memory");
    }
    sf_err_t err = sf_catalog_add(cat, b.p ? (char *)b.p : "", b.len, path,
                                  version, NULL, errstr, errstr_size);
    free(b.p);
    return err;
}

static sf_err_t load_dir(sf_catalog_t *cat, const char *dir, int depth,
                         char *errstr, size_t errstr_size) {
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    sf_err_t err = SF_OK;

    if (depth > 32)
        return sf_seterr(errstr, errstr_size, SF_ERR_IO,
                         "%s: directories nested too deeply", dir);
    if (!(d = opendir(dir)))
        return sf_seterr(errstr, errstr_size, SF_ERR_IO, "%s: %s", dir,
                         strerror(errno));
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                err = SF_ERR_NOMEM;
                break;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(e->d_name))) {
            err = SF_ERR_NOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (err)
        sf_seterr(errstr, errstr_size, err, "%s: out of memory", dir);
    /* Sorted, so loads and their errors are reproducible. */
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !err; i++) {
        size_t plen = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(plen);
        struct stat st;
        if (!path) {
            err = sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(path, plen, "%s/%s", dir, names[i]);
        if (stat(path, &st) < 0) {
            err = sf_seterr(errstr, errstr_size, SF_ERR_IO, "%s: %s", path,
                            strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            err = load_dir(cat, path, depth + 1, errstr, errstr_size);
        } else if (ends_with(names[i], ".avsc")) {
            int v = version_of(names[i]);
            if (v < 1)
                err = sf_seterr(errstr, errstr_size, SF_ERR_SCHEMA,
                                "%s: bad version in file name", path);
            else
                err = load_file(cat, path, v, errstr, errstr_size);
        }
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return err;
}

sf_err_t sf_catalog_load_dir(sf_catalog_t *cat, const char *dir, char *errstr,
                             size_t errstr_size) {
    if (!cat || !dir)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_catalog_load_dir: NULL argument");
    return load_dir(cat, dir, 0, errstr, errstr_size);
}

const sf_schema_t *sf_catalog_latest(const sf_catalog_t *cat,
                                     const char *fullname) {
    if (!cat || !fullname)
        return NULL;
    /* The entry just before the first one > (name, INT_MAX). */
    size_t at = lower_name(cat, fullname, INT32_MAX);
    if (at < cat->n && strcmp(cat->by_name[at]->fullname, fullname) == 0)
        return cat->by_name[at]; /* version INT32_MAX itself */
    if (at > 0 && strcmp(cat->by_name[at - 1]->fullname, fullname) == 0)
        return cat->by_name[at - 1];
    return NULL;
}

const sf_schema_t *sf_catalog_version(const sf_catalog_t *cat,
                                      const char *fullname, int version) {
    if (!cat || !fullname)
        return NULL;
    size_t at = lower_name(cat, fullname, version);
    if (at < cat->n && cmp_name(cat->by_name[at], fullname, version) == 0)
        return cat->by_name[at];
    return NULL;
}

const sf_schema_t *sf_catalog_by_fingerprint(const sf_catalog_t *cat,
                                             uint64_t fp) {
    if (!cat)
        return NULL;
    size_t at = lower_fp(cat, fp);
    if (at < cat->n && cat->by_fp[at]->fingerprint == fp)
        return cat->by_fp[at];
    return NULL;
}

size_t sf_catalog_count(const sf_catalog_t *cat) {
    return cat ? cat->n : 0;
}

const sf_schema_t *sf_catalog_get(const sf_catalog_t *cat, size_t i) {
    return cat && i < cat->n ? cat->by_name[i] : NULL;
}

const char *sf_schema_fullname(const sf_schema_t *s) {
    return s->fullname;
}
int sf_schema_version(const sf_schema_t *s) {
    return s->version;
}
uint64_t sf_schema_fingerprint(const sf_schema_t *s) {
    return s->fingerprint;
}
const char *sf_schema_canonical(const sf_schema_t *s) {
    return s->canonical;
}
const char *sf_schema_origin(const sf_schema_t *s) {
    return s->origin;
}
avro_schema_t sf_schema_avro(const sf_schema_t *s) {
    return s->avro;
}
