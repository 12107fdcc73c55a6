/*
 * sf-publish - publish JSON lines from stdin as Streamfold events.
 *
 *   sf-publish -b BROKERS -t TOPIC [-s SCHEMA_DIR] [-F FILE]
 *              [-X prop=value]... [--transactional] [--create-topic]
 *              [--source NAME]
 *
 * One event per line (docs/design.md, "Command lines"):
 *   {"type": "shop.cart.CartOpened", "aggregate_id": "c-1", "data": {...}}
 * plus optional event_id, version, occurred_at (RFC 3339 or epoch ms),
 * correlation_id, causation_id, schema_version, headers ({"name": "value"},
 * added to the record besides the CloudEvents ones, like -H NAME=VALUE).
 *
 * Exit status: 0 when every event was delivered (or, with --transactional,
 * committed); 1 when any line was bad or any event failed; 2 for usage and
 * setup errors (bad option, unknown property, unreachable schema dir,
 * topic provisioning refused).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "props.h"
#include "sf_producer.h"

extern char **environ;

#define ME "sf-publish"

/* Counters updated by the delivery callback (runs on main's thread). */
typedef struct counts {
    long delivered;
    long failed;
    long possibly; /* failed, but possibly in the log anyway */
    int verbose;
    int aborting; /* transaction being aborted: failures are expected */
} counts_t;

static void usage(FILE *f) {
    fprintf(
        f,
        "Usage: " ME " -b BROKERS -t TOPIC [options] < events.jsonl\n"
        "\n"
        "Publishes one Streamfold event per JSON line on stdin:\n"
        "  {\"type\": \"shop.cart.CartOpened\", \"aggregate_id\": \"c-1\",\n"
        "   \"data\": {...Avro JSON of the event...}}\n"
        "optional: \"event_id\" (default: random UUID), \"version\" "
        "(ce_sequence,\n"
        "integer >= 1), \"occurred_at\" (RFC 3339 or epoch ms; default: now),\n"
        "\"correlation_id\", \"causation_id\" (default: the event id),\n"
        "\"schema_version\" (default newest), \"headers\" ({\"traceparent\": "
        "\"00-...\",\n"
        "\"tenant\": \"t-1\"}: extra record headers, string values).\n"
        "\n"
        "Options:\n"
        "  -b, --brokers LIST        bootstrap.servers (required unless -F or\n"
        "                            KAFKA_BOOTSTRAP_SERVERS gives it)\n"
        "  -t, --topic TOPIC         topic (required), e.g. cart-events\n"
        "  -s, --schema-dir DIR      .avsc directory (default $SF_SCHEMA_DIR "
        "or\n"
        "                            schemas/domains)\n"
        "  -X prop=value             librdkafka property (passed through) or "
        "sf.*\n"
        "                            property; -X list shows the sf.* "
        "properties\n"
        "      --source URI          ce_source, a URI-reference (RFC 3986), "
        "e.g.\n"
        "                            cart-service or urn:shop:cart (default\n"
        "                            sf-publish)\n"
        "  -H NAME=VALUE             header on every record (like kcat -H), "
        "e.g.\n"
        "                            -H tenant=t-1; a line's \"headers\" win\n"
        "  -F, --config FILE         librdkafka properties, one name=value a "
        "line\n"
        "                            (# comments), e.g. sasl.password for "
        "SASL\n"
        "                            Environment: KAFKA_<NAME>=value sets "
        "property\n"
        "                            <name> (KAFKA_SASL_PASSWORD -> "
        "sasl.password),\n"
        "                            applied first; -F and -X follow in "
        "order.\n"
        "      --aggregate-type T    ce_aggregatetype (default: TOPIC minus "
        "-events)\n"
        "      --transactional       all lines or none: one Kafka transaction; "
        "any\n"
        "                            bad line aborts it and nothing becomes "
        "visible\n"
        "                            (implied by -X transactional.id=ID)\n"
        "      --create-topic        create TOPIC if missing "
        "(cleanup.policy=delete,\n"
        "                            retention.ms=-1, retention.bytes=-1); "
        "refuse an\n"
        "                            existing topic that could delete history\n"
        "      --partitions N        partitions for --create-topic (default "
        "12)\n"
        "      --replication-factor N  (default min(3, brokers))\n"
        "  -v, --verbose             print each delivery (partition, offset)\n"
        "  -h, --help                this text\n"
        "\n"
        "Errors name the line and field (\"line 7: data.quantity: expected "
        "int,\n"
        "got string\"); a summary \"delivered N, failed M\" ends the run on "
        "stderr.\n"
        "Exit 0 only if every event was delivered; 1 otherwise; 2 on setup "
        "errors.\n");
}

static void xlist(void) {
    printf("Streamfold properties (-X name=value):\n"
           "  sf.schema.dir       directory of .avsc files (-s)\n"
           "  sf.source           CloudEvents source (--source)\n"
           "  sf.topic            topic (-t)\n"
           "  sf.aggregate.type   aggregate type (--aggregate-type)\n"
           "Defaults set by Streamfold: enable.idempotence=true, acks=all,\n"
           "partitioner=murmur2_random, message.timeout.ms=30000,\n"
           "max.in.flight.requests.per.connection=5.\n"
           "Every other name is a librdkafka property, see librdkafka's\n"
           "CONFIGURATION.md.\n");
}

static void on_delivery(sf_producer_t *p, const sf_producer_dr_t *dr,
                        void *opaque) {
    counts_t *c = opaque;
    long line = (long)(intptr_t)sf_producer_dr_opaque(dr);

    (void)p;
    if (sf_producer_dr_err(dr)) {
        c->failed++;
        if (sf_producer_dr_persisted(dr) == SF_PRODUCER_POSSIBLY_PERSISTED)
            c->possibly++;
        if (!c->aborting)
            fprintf(stderr, "line %ld: event %s (%s): delivery failed: %s\n",
                    line, sf_producer_dr_event_id(dr),
                    sf_producer_dr_aggregate_id(dr), sf_producer_dr_errstr(dr));
    } else {
        c->delivered++;
        if (c->verbose)
            fprintf(stderr,
                    "line %ld: event %s delivered to %s [%d] at "
                    "offset %lld\n",
                    line, sf_producer_dr_event_id(dr), sf_producer_dr_topic(dr),
                    (int)sf_producer_dr_partition(dr),
                    (long long)sf_producer_dr_offset(dr));
    }
}

static void on_error(sf_producer_t *p, sf_err_t err, const char *reason,
                     void *opaque) {
    counts_t *c = opaque;

    (void)p;
    if (err == SF_ERR_KAFKA_FATAL || c->verbose)
        fprintf(stderr, ME ": kafka%s: %s\n",
                err == SF_ERR_KAFKA_FATAL ? " (fatal)" : "", reason);
}

/* librdkafka's log lines, served by poll on this thread. */
static void on_log(sf_producer_t *p, int level, const char *facility,
                   const char *message, void *opaque) {
    counts_t *c = opaque;

    (void)p;
    if (level <= 4 || c->verbose)
        fprintf(stderr, ME ": kafka %s: %s\n", facility, message);
}

static const char *json_kind(const json_t *j) {
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* Turns one parsed line into ev.  Returns 0 or -1 with msg filled. */
static int line_to_event(json_t *obj, sf_producer_event_t *ev, char *msg,
                         size_t size) {
    static const char *const strs[] = {"type", "aggregate_id", "event_id",
                                       "correlation_id", "causation_id"};
    const char *key;
    json_t *v;
    sf_err_t err = SF_OK;

    if (!json_is_object(obj)) {
        snprintf(msg, size, "expected a JSON object, got %s", json_kind(obj));
        return -1;
    }
    json_object_foreach(obj, key, v) {
        int is_str = 0;

        if (json_is_string(v) &&
            strlen(json_string_value(v)) != json_string_length(v)) {
            /* U+0000 is only meaningful inside "data" (bytes, fixed,
             * strings); a header or time would be cut short at it. */
            snprintf(msg, size, "%s: U+0000 is not allowed here", key);
            return -1;
        }
        for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
            if (!strcmp(key, strs[i]))
                is_str = 1;
        if (is_str) {
            if (!json_is_string(v)) {
                snprintf(msg, size, "%s: expected string, got %s", key,
                         json_kind(v));
                return -1;
            }
            const char *s = json_string_value(v);
            if (!strcmp(key, "type"))
                err = sf_producer_event_set_type(ev, s);
            else if (!strcmp(key, "aggregate_id"))
                err = sf_producer_event_set_aggregate_id(ev, s);
            else if (!strcmp(key, "event_id"))
                err = sf_producer_event_set_id(ev, s);
            else if (!strcmp(key, "correlation_id"))
                err = sf_producer_event_set_correlation_id(ev, s);
            else
                err = sf_producer_event_set_causation_id(ev, s);
        } else if (!strcmp(key, "data")) {
            err = sf_producer_event_set_json(ev, v);
        } else if (!strcmp(key, "version") || !strcmp(key, "schema_version")) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                (!strcmp(key, "schema_version") &&
                 json_integer_value(v) > INT_MAX)) {
                snprintf(msg, size, "%s: expected integer >= 1, got %s", key,
                         json_is_integer(v) ? "integer < 1" : json_kind(v));
                return -1;
            }
            err = key[0] == 'v'
                      ? sf_producer_event_set_version(ev, json_integer_value(v))
                      : sf_producer_event_set_schema_version(
                            ev, (int)json_integer_value(v));
        } else if (!strcmp(key, "headers")) {
            const char *hname;
            json_t *hv;

            if (!json_is_object(v)) {
                snprintf(msg, size,
                         "headers: expected an object of "
                         "strings, got %s",
                         json_kind(v));
                return -1;
            }
            json_object_foreach(v, hname, hv) {
                if (!json_is_string(hv)) {
                    snprintf(msg, size,
                             "headers.%s: expected string, got "
                             "%s",
                             hname, json_kind(hv));
                    return -1;
                }
                err = sf_producer_event_set_header(
                    ev, hname, json_string_value(hv),
                    (ssize_t)json_string_length(hv));
                if (err)
                    break;
            }
        } else if (!strcmp(key, "occurred_at")) {
            int64_t ms;
            char terr[256];

            if (json_is_integer(v)) {
                ms = json_integer_value(v);
            } else if (json_is_string(v)) {
                if (sf_time_parse(json_string_value(v), &ms, terr,
                                  sizeof(terr))) {
                    snprintf(msg, size, "occurred_at: %s", terr);
                    return -1;
                }
            } else {
                snprintf(msg, size,
                         "occurred_at: expected RFC 3339 string "
                         "or epoch milliseconds, got %s",
                         json_kind(v));
                return -1;
            }
            err = sf_producer_event_set_time_ms(ev, ms);
        } else {
            snprintf(msg, size,
                     "unknown field \"%s\" (expected type, "
                     "aggregate_id, data, event_id, version, occurred_at, "
                     "correlation_id, causation_id, schema_version, headers)",
                     key);
            return -1;
        }
        if (err) {
            snprintf(msg, size, "%s: %s", key, sf_err2str(err));
            return -1;
        }
    }
    return 0;
}

/* -H NAME=VALUE, applied to every event before the line's own fields. */
#define MAX_HEADERS 64
static const char *hdr_names[MAX_HEADERS], *hdr_values[MAX_HEADERS];
static int nhdrs;

static int blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return 0;
    return 1;
}

int main(int argc, char **argv) {
    enum {
        OPT_TXN = 256,
        OPT_CREATE,
        OPT_PARTS,
        OPT_RF,
        OPT_SOURCE,
        OPT_AGGTYPE
    };
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"config", required_argument, NULL, 'F'},
        {"topic", required_argument, NULL, 't'},
        {"schema-dir", required_argument, NULL, 's'},
        {"transactional", no_argument, NULL, OPT_TXN},
        {"create-topic", no_argument, NULL, OPT_CREATE},
        {"partitions", required_argument, NULL, OPT_PARTS},
        {"replication-factor", required_argument, NULL, OPT_RF},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"aggregate-type", required_argument, NULL, OPT_AGGTYPE},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    sf_producer_conf_t *conf = sf_producer_conf_new();
    sf_producer_t *p = NULL;
    sf_producer_event_t *ev = NULL;
    const char *brokers = NULL, *topic = NULL, *schema_dir = NULL;
    const char *source = "sf-publish";
    int transactional = 0, create = 0, partitions = 0, rf = 0, c;
    counts_t counts = {0, 0, 0, 0, 0};
    char errstr[1024], txnid[256];
    long lineno = 0, bad = 0, send_failed = 0, accepted = 0, events = 0;
    char *line = NULL;
    size_t cap = 0;
    int rc = 2, txn_open = 0;

    if (!conf) {
        fprintf(stderr, ME ": out of memory\n");
        return 2;
    }
    /* kcat's convention: KAFKA_* variables first, then -F and -X in the
     * order given, so secrets need not be on the command line. */
    int env_skipped = 0;
    if (sf_props_load_env(conf, environ, &env_skipped, errstr,
                          sizeof(errstr))) {
        fprintf(stderr, ME ": %s\n", errstr);
        goto out;
    }
    while ((c = getopt_long(argc, argv, "b:t:s:F:X:H:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'b': brokers = optarg; break;
        case 'F':
            if (sf_props_load_file(conf, optarg, errstr, sizeof(errstr))) {
                fprintf(stderr, ME ": %s\n", errstr);
                goto out;
            }
            break;
        case 't': topic = optarg; break;
        case 's': schema_dir = optarg; break;
        case 'v': counts.verbose = 1; break;
        case OPT_TXN: transactional = 1; break;
        case OPT_CREATE: create = 1; break;
        case OPT_PARTS: partitions = atoi(optarg); break;
        case OPT_RF: rf = atoi(optarg); break;
        case OPT_SOURCE: source = optarg; break;
        case OPT_AGGTYPE:
            if (sf_producer_conf_set(conf, "sf.aggregate.type", optarg, errstr,
                                     sizeof(errstr))) {
                fprintf(stderr, ME ": %s\n", errstr);
                goto out;
            }
            break;
        case 'X': {
            char *eq = strchr(optarg, '=');

            if (!strcmp(optarg, "list")) {
                xlist();
                rc = 0;
                goto out;
            }
            if (!eq) {
                fprintf(stderr, ME ": -X %s: expected property=value\n",
                        optarg);
                goto out;
            }
            *eq = '\0';
            if (sf_producer_conf_set(conf, optarg, eq + 1, errstr,
                                     sizeof(errstr))) {
                if (sf_props_secret(optarg))
                    fprintf(stderr, ME ": -X %s: invalid value\n", optarg);
                else
                    fprintf(stderr, ME ": -X %s: %s\n", optarg, errstr);
                goto out;
            }
            break;
        }
        case 'H': {
            char *eq = strchr(optarg, '=');

            if (!eq || eq == optarg || nhdrs == MAX_HEADERS) {
                fprintf(stderr,
                        ME ": -H %s: expected NAME=VALUE (at most "
                           "%d)\n",
                        optarg, MAX_HEADERS);
                goto out;
            }
            *eq = '\0';
            hdr_names[nhdrs] = optarg;
            hdr_values[nhdrs++] = eq + 1;
            break;
        }
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default: usage(stderr); goto out;
        }
    }
    if (counts.verbose && env_skipped)
        fprintf(stderr,
                ME ": %d KAFKA_* environment variable%s named no "
                   "librdkafka property and %s ignored\n",
                env_skipped, env_skipped == 1 ? "" : "s",
                env_skipped == 1 ? "was" : "were");
    if (optind < argc) {
        fprintf(stderr,
                ME ": unexpected argument \"%s\" (events come on "
                   "stdin)\n",
                argv[optind]);
        goto out;
    }
    if (!brokers &&
        sf_producer_conf_get(conf, "bootstrap.servers", txnid, sizeof(txnid),
                             NULL, 0) == SF_OK &&
        txnid[0])
        brokers = ""; /* given by -F or the environment */
    if (!brokers || !topic) {
        fprintf(stderr, ME ": -b BROKERS and -t TOPIC are required "
                           "(--help)\n");
        goto out;
    }
    if (partitions < 0 || rf < 0) {
        fprintf(stderr, ME ": --partitions and --replication-factor must be "
                           "positive\n");
        goto out;
    }
    if (!schema_dir)
        schema_dir = getenv("SF_SCHEMA_DIR");
    if (!schema_dir)
        schema_dir = "schemas/domains";
    /* -X transactional.id=... alone means a transactional run too (a
     * transactional producer cannot publish outside a transaction). */
    if (sf_producer_conf_get(conf, "transactional.id", txnid, sizeof(txnid),
                             NULL, 0) == SF_OK)
        transactional = 1;
    else if (transactional) {
        char host[128] = "localhost";

        gethostname(host, sizeof(host) - 1);
        snprintf(txnid, sizeof(txnid), "sf-publish-%s-%s-%ld", topic, host,
                 (long)getpid());
        sf_producer_conf_set(conf, "transactional.id", txnid, NULL, 0);
    }
    if ((*brokers && sf_producer_conf_set(conf, "bootstrap.servers", brokers,
                                          errstr, sizeof(errstr))) ||
        sf_producer_conf_set(conf, "sf.topic", topic, errstr, sizeof(errstr)) ||
        sf_producer_conf_set(conf, "sf.schema.dir", schema_dir, errstr,
                             sizeof(errstr)) ||
        sf_producer_conf_set(conf, "sf.source", source, errstr,
                             sizeof(errstr))) {
        fprintf(stderr, ME ": %s%s\n",
                strstr(errstr, "sf.source") ? "--source: " : "", errstr);
        goto out;
    }
    sf_producer_conf_set_dr_cb(conf, on_delivery);
    sf_producer_conf_set_error_cb(conf, on_error);
    sf_producer_conf_set_log_cb(conf, on_log);
    sf_producer_conf_set_opaque(conf, &counts);
    p = sf_producer_new(conf, errstr, sizeof(errstr));
    if (!p) {
        fprintf(stderr, ME ": %s\n", errstr);
        goto out;
    }
    conf = NULL; /* owned by p now */

    if (create) {
        int created = 0;

        if (sf_producer_ensure_topic(p, topic, partitions, rf, 0, &created,
                                     errstr, sizeof(errstr))) {
            fprintf(stderr, ME ": %s\n", errstr);
            goto out;
        }
        if (counts.verbose)
            fprintf(stderr, ME ": topic %s %s\n", topic,
                    created ? "created" : "exists and keeps history");
    }
    if (transactional) {
        if (sf_producer_begin(p, errstr, sizeof(errstr))) {
            fprintf(stderr, ME ": %s\n", errstr);
            goto out;
        }
        txn_open = 1;
    }

    ev = sf_producer_event_new();
    if (!ev) {
        fprintf(stderr, ME ": out of memory\n");
        goto out;
    }
    rc = 1;
    while (getline(&line, &cap, stdin) != -1) {
        json_error_t jerr;
        json_t *obj;
        char msg[1024];
        sf_err_t err;

        lineno++;
        if (blank(line))
            continue;
        events++;
        /* JSON_ALLOW_NUL: "\u0000" is byte 0x00 of a bytes/fixed value. */
        obj = json_loads(line, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
        if (!obj) {
            fprintf(stderr, "line %ld: invalid JSON at column %d: %s\n", lineno,
                    jerr.column, jerr.text);
            bad++;
            continue;
        }
        sf_producer_event_clear(ev);
        for (int h = 0; h < nhdrs; h++)
            sf_producer_event_set_header(ev, hdr_names[h], hdr_values[h], -1);
        if (line_to_event(obj, ev, msg, sizeof(msg))) {
            json_decref(obj);
            fprintf(stderr, "line %ld: %s\n", lineno, msg);
            bad++;
            continue;
        }
        json_decref(obj);
        /* In a transaction that is already doomed, only validate, so every
         * bad line is still reported. */
        if (transactional && (bad || send_failed))
            err = sf_producer_validate(p, ev, msg, sizeof(msg));
        else
            err = sf_producer_publish(p, ev, (void *)(intptr_t)lineno, msg,
                                      sizeof(msg));
        if (err) {
            fprintf(stderr, "line %ld: %s\n", lineno, msg);
            if (err == SF_ERR_KAFKA || err == SF_ERR_KAFKA_FATAL)
                send_failed++;
            else
                bad++;
            if (err == SF_ERR_KAFKA_FATAL)
                break;
            continue;
        }
        if (!(transactional && (bad || send_failed)))
            accepted++;
        sf_producer_poll(p, 0);
    }
    if (ferror(stdin))
        fprintf(stderr, ME ": reading stdin: %s\n", strerror(errno));

    if (transactional) {
        if (bad || send_failed || ferror(stdin)) {
            counts.aborting = 1;
            if (sf_producer_abort(p, errstr, sizeof(errstr)))
                fprintf(stderr, ME ": %s\n", errstr);
            else
                fprintf(stderr, ME ": transaction aborted, nothing "
                                   "published\n");
        } else if (sf_producer_commit(p, errstr, sizeof(errstr))) {
            fprintf(stderr, ME ": %s\n", errstr);
        } else {
            txn_open = 0;
        }
        sf_producer_flush(p, -1, NULL, 0);
        if (txn_open) {
            /* Nothing of this input is visible: every event failed. */
            counts.failed = events;
            counts.delivered = 0;
        } else {
            counts.failed = 0;
        }
        txn_open = 0;
    } else {
        if (sf_producer_flush(p, -1, errstr, sizeof(errstr)))
            fprintf(stderr, ME ": %s\n", errstr);
        counts.failed += bad + send_failed;
    }
    fprintf(stderr, ME ": delivered %ld, failed %ld", counts.delivered,
            counts.failed);
    if (bad)
        fprintf(stderr, " (%ld bad line%s)", bad, bad == 1 ? "" : "s");
    /* A plain (not transactional) retry of these may duplicate them:
     * retry with the same event_id (docs/producer-delivery.md). */
    if (counts.possibly && !transactional)
        fprintf(stderr,
                " (%ld possibly persisted: retry only with the same "
                "event_id)",
                counts.possibly);
    fputc('\n', stderr);
    if (!ferror(stdin) && counts.failed == 0 && counts.delivered == accepted)
        rc = 0;
out:
    free(line);
    sf_producer_event_destroy(ev);
    if (txn_open)
        sf_producer_abort(p, NULL, 0);
    sf_producer_destroy(p);
    sf_producer_conf_destroy(conf);
    return rc;
}
