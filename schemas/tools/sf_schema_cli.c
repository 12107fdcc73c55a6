/*
 * sf-schema - command line over libsfschema.
 *
 *   sf-schema fingerprint [--canonical] [--wire] FILE.avsc
 *   sf-schema canonical FILE.avsc
 *   sf-schema check DIR [--mode BACKWARD|FORWARD|FULL]
 *   sf-schema encode -s DIR [-t TYPE [-V VERSION]] [--hex]
 *   sf-schema decode -s DIR [--hex] [--envelope]
 *   sf-schema list -s DIR
 *
 * Fingerprints print as the 64-bit CRC-64-AVRO integer in 16 lowercase hex
 * digits, most significant first (the same number the Avro spec's test
 * vectors print in signed decimal); --wire prints the 8 bytes in wire
 * (little-endian) order instead, as they follow C3 01 in a single-object
 * header and as fastavro.schema.fingerprint() prints them.
 *
 * Exit status: 0 success, 1 failure (bad input, incompatible schemas),
 * 2 usage error.  Every failure is one line on stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <strings.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "sf_schema.h"

static const char *prog = "sf-schema";

static void usage_main(FILE *f) {
    fprintf(
        f, "usage: sf-schema COMMAND [OPTIONS]\n"
           "\n"
           "Avro schemas of Streamfold events.\n"
           "\n"
           "commands:\n"
           "  fingerprint [--canonical] [--wire] FILE.avsc\n"
           "                 CRC-64-AVRO fingerprint of the schema's Parsing "
           "Canonical\n"
           "                 Form: 16 hex digits of the 64-bit integer "
           "(--wire: bytes\n"
           "                 in little-endian wire order); --canonical prints "
           "the form\n"
           "  canonical FILE.avsc\n"
           "                 the Parsing Canonical Form\n"
           "  check DIR [--mode BACKWARD|FORWARD|FULL]\n"
           "                 compatibility of every version chain; exit 1 and "
           "one line\n"
           "                 per problem when incompatible (default BACKWARD)\n"
           "  encode -s DIR [-t TYPE [-V N]] [--hex]\n"
           "                 Avro JSON lines on stdin -> single-object bytes\n"
           "  decode -s DIR [--hex] [--envelope]\n"
           "                 single-object bytes on stdin -> Avro JSON lines\n"
           "  list -s DIR    the catalog: type, version, fingerprint, file\n"
           "\n"
           "Run 'sf-schema COMMAND --help' for details.\n");
}

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 1;
}

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 4096, n = 0, r;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;
    while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *s = read_all(f, len);
    fclose(f);
    return s;
}

/* ---------------------------------------------------------------------
 * fingerprint / canonical
 * ------------------------------------------------------------------- */

static int cmd_fingerprint(int argc, char **argv, int canonical_only) {
    static const struct option lo[] = {{"canonical", no_argument, NULL, 'c'},
                                       {"wire", no_argument, NULL, 'w'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int want_canonical = canonical_only, wire = 0, opt;
    const char *cmd = canonical_only ? "canonical" : "fingerprint";

    while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (opt) {
        case 'c': want_canonical = 1; break;
        case 'w': wire = 1; break;
        case 'h':
            if (canonical_only)
                printf("usage: sf-schema canonical FILE.avsc\n"
                       "Prints the Parsing Canonical Form of the schema.\n");
            else
                printf(
                    "usage: sf-schema fingerprint [--canonical] [--wire] "
                    "FILE.avsc\n"
                    "Prints the CRC-64-AVRO fingerprint of the schema's "
                    "Parsing\n"
                    "Canonical Form as 16 lowercase hex digits of the 64-bit\n"
                    "integer, most significant digit first (the Avro spec's "
                    "test\n"
                    "vectors print the same integer in signed decimal).\n"
                    "  --wire       print the 8 bytes in wire order "
                    "(little-endian),\n"
                    "               as after C3 01 in single-object bytes and "
                    "as\n"
                    "               fastavro.schema.fingerprint() prints them\n"
                    "  --canonical  print the Parsing Canonical Form "
                    "instead\n");
            return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "%s: %s needs exactly one FILE.avsc (see --help)\n",
                prog, cmd);
        return 2;
    }
    const char *path = argv[optind];
    size_t len;
    char *text = read_file(path, &len);
    if (!text)
        return fail("%s: %s", path, strerror(errno));
    char err[512];
    char *pcf;
    sf_err_t e = sf_schema_canonical_form(text, len, &pcf, err, sizeof err);
    free(text);
    if (e)
        return fail("%s: %s", path, err);
    if (want_canonical) {
        printf("%s\n", pcf);
    } else {
        uint64_t fp = sf_crc64_avro(pcf, strlen(pcf));
        if (wire) {
            for (int i = 0; i < 8; i++)
                printf("%02x", (unsigned)(fp >> (8 * i)) & 0xff);
            printf("\n");
        } else {
            printf("%016llx\n", (unsigned long long)fp);
        }
    }
    free(pcf);
    return 0;
}

/* ---------------------------------------------------------------------
 * check
 * ------------------------------------------------------------------- */

static void print_problem(void *opaque, const char *type, int rv, int wv,
                          const char *field, const char *reason) {
    size_t *count = opaque;
    (*count)++;
    printf("%s: v%d cannot read v%d: %s%s%s\n", type, rv, wv,
           *field ? field : "", *field ? ": " : "", reason);
}

static sf_catalog_t *load_catalog(const char *dir) {
    char err[512];
    sf_catalog_t *cat = sf_catalog_new();
    if (!cat) {
        fail("out of memory");
        return NULL;
    }
    if (sf_catalog_load_dir(cat, dir, err, sizeof err)) {
        fail("%s", err);
        sf_catalog_destroy(cat);
        return NULL;
    }
    if (sf_catalog_count(cat) == 0) {
        fail("%s: no .avsc files", dir);
        sf_catalog_destroy(cat);
        return NULL;
    }
    return cat;
}

static int cmd_check(int argc, char **argv) {
    static const struct option lo[] = {{"mode", required_argument, NULL, 'm'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    sf_compat_mode_t mode = SF_COMPAT_BACKWARD;
    const char *mode_name = "BACKWARD";
    int opt;

    while ((opt = getopt_long(argc, argv, "m:h", lo, NULL)) != -1) {
        switch (opt) {
        case 'm':
            if (strcasecmp(optarg, "BACKWARD") == 0) {
                mode = SF_COMPAT_BACKWARD;
                mode_name = "BACKWARD";
            } else if (strcasecmp(optarg, "FORWARD") == 0) {
                mode = SF_COMPAT_FORWARD;
                mode_name = "FORWARD";
            } else if (strcasecmp(optarg, "FULL") == 0) {
                mode = SF_COMPAT_FULL;
                mode_name = "FULL";
            } else {
                fprintf(stderr,
                        "%s: check: unknown mode \"%s\" (BACKWARD, "
                        "FORWARD or FULL)\n",
                        prog, optarg);
                return 2;
            }
            break;
        case 'h':
            printf("usage: sf-schema check DIR [--mode BACKWARD|FORWARD|FULL]\n"
                   "Loads every *.avsc below DIR (<Name>.v<N>.avsc) and checks "
                   "each\n"
                   "version chain: BACKWARD (default) = every newer version "
                   "reads\n"
                   "all older ones, FORWARD = every older version reads all "
                   "newer\n"
                   "ones, FULL = both.  Prints one line per incompatibility\n"
                   "(type, versions, field, reason) and exits 1 if there is "
                   "any.\n");
            return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "%s: check needs exactly one DIR (see --help)\n", prog);
        return 2;
    }
    sf_catalog_t *cat = load_catalog(argv[optind]);
    if (!cat)
        return 1;
    size_t problems = 0;
    sf_err_t e = sf_catalog_check(cat, mode, print_problem, &problems);
    size_t n = sf_catalog_count(cat);
    sf_catalog_destroy(cat);
    if (e == SF_ERR_INCOMPATIBLE)
        return fail("%zu incompatibilities (%s)", problems, mode_name);
    if (e)
        return fail("check: %s", sf_err2str(e));
    printf("ok: %zu schemas compatible (%s)\n", n, mode_name);
    return 0;
}

/* ---------------------------------------------------------------------
 * encode / decode
 * ------------------------------------------------------------------- */

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int cmd_encode(int argc, char **argv) {
    static const struct option lo[] = {
        {"schemas", required_argument, NULL, 's'},
        {"type", required_argument, NULL, 't'},
        {"version", required_argument, NULL, 'V'},
        {"hex", no_argument, NULL, 'x'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *dir = NULL, *type = NULL;
    int version = 0, hex = 0, opt;

    while ((opt = getopt_long(argc, argv, "s:t:V:h", lo, NULL)) != -1) {
        switch (opt) {
        case 's': dir = optarg; break;
        case 't': type = optarg; break;
        case 'V': version = atoi(optarg); break;
        case 'x': hex = 1; break;
        case 'h':
            printf(
                "usage: sf-schema encode -s DIR [-t TYPE [-V N]] [--hex]\n"
                "Reads one JSON value per stdin line (Avro JSON encoding) and\n"
                "writes it as Avro single-object bytes (C3 01, fingerprint, "
                "body).\n"
                "  -s, --schemas DIR   schema directory\n"
                "  -t, --type TYPE     Avro full name; each line is the "
                "record.\n"
                "                      Without -t each line is an envelope\n"
                "                      {\"type\": TYPE, \"data\": {...}[, "
                "\"version\": N]}\n"
                "  -V, --version N     write with version N (default: newest)\n"
                "  --hex               one lowercase hex line per event; "
                "without\n"
                "                      it raw bytes are written back to "
                "back\n");
            return 0;
        default: return 2;
        }
    }
    if (!dir || optind != argc) {
        fprintf(stderr,
                "%s: encode needs -s DIR and no other arguments "
                "(see --help)\n",
                prog);
        return 2;
    }
    sf_catalog_t *cat = load_catalog(dir);
    if (!cat)
        return 1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        char err[512];
        json_error_t je;
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)n)
            continue; /* blank line */
        json_t *j = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &je);
        if (!j) {
            rc = fail("stdin:%ld:%d: %s", lineno, je.column, je.text);
            continue;
        }
        const char *t = type;
        int v = version;
        const json_t *data = j;
        if (!t) {
            t = json_string_value(json_object_get(j, "type"));
            data = json_object_get(j, "data");
            if (json_is_integer(json_object_get(j, "version")))
                v = (int)json_integer_value(json_object_get(j, "version"));
            if (!t || !data) {
                rc =
                    fail("stdin:%ld: expected {\"type\": ..., \"data\": {...}} "
                         "(or use -t TYPE)",
                         lineno);
                json_decref(j);
                continue;
            }
        }
        const sf_schema_t *s =
            v ? sf_catalog_version(cat, t, v) : sf_catalog_latest(cat, t);
        if (!s) {
            rc = fail("stdin:%ld: no schema for %s%s", lineno, t,
                      v ? " at that version" : "");
            json_decref(j);
            continue;
        }
        avro_value_t val;
        void *out;
        size_t olen;
        sf_err_t e = sf_value_from_json(s, data, "data", &val, err, sizeof err);
        json_decref(j);
        if (e) {
            rc = fail("stdin:%ld: %s", lineno, err);
            continue;
        }
        e = sf_encode(s, &val, &out, &olen, err, sizeof err);
        avro_value_decref(&val);
        if (e) {
            rc = fail("stdin:%ld: %s", lineno, err);
            continue;
        }
        if (hex) {
            for (size_t i = 0; i < olen; i++)
                printf("%02x", ((unsigned char *)out)[i]);
            printf("\n");
        } else {
            fwrite(out, 1, olen, stdout);
        }
        free(out);
    }
    free(line);
    sf_catalog_destroy(cat);
    if (fflush(stdout) != 0)
        return fail("stdout: %s", strerror(errno));
    return rc;
}

static int decode_one(sf_decoder_t *dec, const void *buf, size_t len,
                      int envelope, const char *where) {
    char err[512];
    avro_value_t *val;
    const sf_schema_t *w, *r;
    json_t *j;
    sf_err_t e =
        sf_decoder_decode(dec, buf, len, &val, &w, &r, err, sizeof err);
    if (e)
        return fail("%s: %s: %s", where, sf_err_name(e), err);
    if ((e = sf_value_to_json(val, &j, err, sizeof err)))
        return fail("%s: %s", where, err);
    if (envelope)
        j = json_pack("{s:s,s:i,s:i,s:o}", "type", sf_schema_fullname(r),
                      "writer_version", sf_schema_version(w), "version",
                      sf_schema_version(r), "data", j);
    char *text =
        j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)
          : NULL;
    json_decref(j);
    if (!text)
        return fail("%s: out of memory", where);
    printf("%s\n", text);
    free(text);
    return 0;
}

static int cmd_decode(int argc, char **argv) {
    static const struct option lo[] = {
        {"schemas", required_argument, NULL, 's'},
        {"hex", no_argument, NULL, 'x'},
        {"envelope", no_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    int hex = 0, envelope = 0, opt, rc = 0;

    while ((opt = getopt_long(argc, argv, "s:h", lo, NULL)) != -1) {
        switch (opt) {
        case 's': dir = optarg; break;
        case 'x': hex = 1; break;
        case 'e': envelope = 1; break;
        case 'h':
            printf(
                "usage: sf-schema decode -s DIR [--hex] [--envelope]\n"
                "Decodes Avro single-object bytes into the newest version of\n"
                "their type (schema resolution) and prints Avro JSON, one "
                "line\n"
                "per event.\n"
                "  -s, --schemas DIR  schema directory\n"
                "  --hex              stdin holds one hex-encoded event per "
                "line;\n"
                "                     without it stdin is one raw event\n"
                "  --envelope         print {\"type\", \"writer_version\",\n"
                "                     \"version\", \"data\"} instead of the "
                "value\n");
            return 0;
        default: return 2;
        }
    }
    if (!dir || optind != argc) {
        fprintf(stderr,
                "%s: decode needs -s DIR and no other arguments "
                "(see --help)\n",
                prog);
        return 2;
    }
    sf_catalog_t *cat = load_catalog(dir);
    if (!cat)
        return 1;
    sf_decoder_t *dec = sf_decoder_new(cat);
    if (!dec) {
        sf_catalog_destroy(cat);
        return fail("out of memory");
    }
    if (!hex) {
        size_t len;
        char *buf = read_all(stdin, &len);
        if (!buf)
            rc = fail("stdin: %s", strerror(errno));
        else
            rc = decode_one(dec, buf, len, envelope, "stdin");
        free(buf);
    } else {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        long lineno = 0;
        while ((n = getline(&line, &cap, stdin)) > 0) {
            char where[64];
            lineno++;
            snprintf(where, sizeof where, "stdin:%ld", lineno);
            while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' ||
                             line[n - 1] == ' '))
                line[--n] = 0;
            if (n == 0)
                continue; /* blank line */
            if (n % 2) {
                rc = fail("%s: odd number of hex digits", where);
                continue;
            }
            size_t blen = (size_t)n / 2;
            unsigned char *buf = malloc(blen + 1);
            int bad = !buf;
            for (size_t i = 0; !bad && i < blen; i++) {
                int hi = hexval(line[2 * i]), lo = hexval(line[2 * i + 1]);
                if (hi < 0 || lo < 0)
                    bad = 1;
                else
                    buf[i] = (unsigned char)(hi << 4 | lo);
            }
            if (bad)
                rc = fail("%s: not a hex string", where);
            else if (decode_one(dec, buf, blen, envelope, where))
                rc = 1;
            free(buf);
        }
        free(line);
    }
    sf_decoder_destroy(dec);
    sf_catalog_destroy(cat);
    return rc;
}

static int cmd_list(int argc, char **argv) {
    static const struct option lo[] = {
        {"schemas", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *dir = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "s:h", lo, NULL)) != -1) {
        switch (opt) {
        case 's': dir = optarg; break;
        case 'h':
            printf(
                "usage: sf-schema list -s DIR\n"
                "Prints the catalog: full name, version, fingerprint (16 hex\n"
                "digits of the integer), file; newest version marked \"*\".\n");
            return 0;
        default: return 2;
        }
    }
    if (!dir && optind == argc - 1)
        dir = argv[optind++];
    if (!dir || optind != argc) {
        fprintf(stderr, "%s: list needs -s DIR (see --help)\n", prog);
        return 2;
    }
    sf_catalog_t *cat = load_catalog(dir);
    if (!cat)
        return 1;
    for (size_t i = 0; i < sf_catalog_count(cat); i++) {
        const sf_schema_t *s = sf_catalog_get(cat, i);
        printf("%s\t%d%s\t%016llx\t%s\n", sf_schema_fullname(s),
               sf_schema_version(s),
               sf_catalog_latest(cat, sf_schema_fullname(s)) == s ? "*" : "",
               (unsigned long long)sf_schema_fingerprint(s),
               sf_schema_origin(s));
    }
    sf_catalog_destroy(cat);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage_main(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        usage_main(stdout);
        return 0;
    }
    argc--;
    argv++;
    if (strcmp(cmd, "fingerprint") == 0)
        return cmd_fingerprint(argc, argv, 0);
    if (strcmp(cmd, "canonical") == 0)
        return cmd_fingerprint(argc, argv, 1);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc, argv);
    if (strcmp(cmd, "encode") == 0)
        return cmd_encode(argc, argv);
    if (strcmp(cmd, "decode") == 0)
        return cmd_decode(argc, argv);
    if (strcmp(cmd, "list") == 0)
        return cmd_list(argc, argv);
    fprintf(stderr, "%s: unknown command \"%s\" (see --help)\n", prog, cmd);
    return 2;
}
