/*
 * bench_publish - libsfproducer publish throughput beside raw librdkafka
 * producing the same bytes with the same settings.
 *
 * Both sides: enable.idempotence=true, acks=all, partitioner
 * murmur2_random, linger.ms=5, the same 12-partition topic, keys over 1000
 * aggregates, the same CloudEvents headers (12) and the same value bytes.
 * The library side does everything a service does per event: set the
 * event fields, encode the Avro value to single-object bytes, generate a
 * UUID, format ce_time, build headers, enqueue.  The raw side enqueues the
 * pre-encoded value (copied) with pre-made header values.
 * Delivery reports are served every 1000 events on both sides; the clock
 * stops when flush returns (every event acknowledged by the broker).
 * The box is shared (broker included) and the broker warms up, so after
 * an untimed warm-up run the two sides alternate for ROUNDS rounds; the
 * summary gives the median of the per-round ratios and the ratio of the
 * best rates (every round is printed).
 *
 *   bench_publish [-b BROKERS] [-n EVENTS] [-r ROUNDS] [-s SCHEMA_DIR]
 * Prints both rates and lib/raw; exit 1 if any event failed.
 *
 *   bench_publish -I [...]
 * In-flight comparison instead: both sides are libsfproducer, one with
 * max.in.flight.requests.per.connection=1 (the pre-2.14 default), the
 * other with 5 (the default now); the ratio is in-flight 5 over 1.
 *
 *   bench_publish -J [...]
 * JSON route instead: both sides are libsfproducer, one given the event
 * as an avro-c value, the other as JSON text (parsed, defaults filled and
 * converted per publish); the ratio is JSON over value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <jansson.h>

#include "sf_producer.h"

#define AGGS 1000
static const char *const settings[][2] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
    {"partitioner", "murmur2_random"},
    {"linger.ms", "5"},
    {"message.timeout.ms", "30000"},
    {"log_level", "3"},
    {"max.in.flight.requests.per.connection", "5"},
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static long ok, bad;
static const char *lib_inflight; /* -I: max.in.flight of run_lib() */
static const char *lib_json;     /* -J: JSON text payload of run_lib() */
static char dataschema[64];      /* ce_dataschema of the raw side */
static double cpu_used;          /* process CPU seconds of the last run */

static double cpu_s(void) {
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double now_s(void) {
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void raw_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *op) {
    (void)rk;
    (void)op;
    if (m->err)
        bad++;
    else
        ok++;
}

static void lib_dr(sf_producer_t *p, const sf_producer_dr_t *dr, void *op) {
    (void)p;
    (void)op;
    if (sf_producer_dr_err(dr))
        bad++;
    else
        ok++;
}

static double run_raw(const char *brokers, const char *topic, long n,
                      const void *value, size_t value_len) {
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[512], key[32], seq[24], id[48];
    rd_kafka_t *rk;
    double t0;

    rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof(err));
    for (size_t i = 0; i < NSETTINGS; i++)
        rd_kafka_conf_set(c, settings[i][0], settings[i][1], err, sizeof(err));
    rd_kafka_conf_set_dr_msg_cb(c, raw_dr);
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "raw: %s\n", err);
        exit(2);
    }
    ok = bad = 0;
    /* warm-up: connections, metadata, producer id */
    rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY("w", 1),
                      RD_KAFKA_V_VALUE((void *)value, value_len),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    rd_kafka_flush(rk, 30000);
    ok = bad = 0;
    cpu_used = cpu_s();
    t0 = now_s();
    for (long i = 0; i < n; i++) {
        rd_kafka_headers_t *h = rd_kafka_headers_new(12);
        rd_kafka_resp_err_t e;

        snprintf(key, sizeof(key), "cart-%ld", i % AGGS);
        snprintf(seq, sizeof(seq), "%ld", i / AGGS + 1);
        snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012ld", i);
        rd_kafka_header_add(h, SF_HDR_SPECVERSION, -1, "1.0", -1);
        rd_kafka_header_add(h, SF_HDR_ID, -1, id, -1);
        rd_kafka_header_add(h, SF_HDR_SOURCE, -1, "bench", -1);
        rd_kafka_header_add(h, SF_HDR_TYPE, -1, "shop.cart.ItemAddedToCart",
                            -1);
        rd_kafka_header_add(h, SF_HDR_TIME, -1, "2026-11-26T13:05:09.042Z", -1);
        rd_kafka_header_add(h, SF_HDR_SUBJECT, -1, key, -1);
        rd_kafka_header_add(h, SF_HDR_CONTENT_TYPE, -1, "application/avro", -1);
        rd_kafka_header_add(h, SF_HDR_AGGTYPE, -1, "cart", -1);
        rd_kafka_header_add(h, SF_HDR_SEQUENCE, -1, seq, -1);
        /* what the library adds: correlation and causation (the event's
         * own id by default) and the writer schema */
        rd_kafka_header_add(h, SF_HDR_CORRELATIONID, -1, id, -1);
        rd_kafka_header_add(h, SF_HDR_CAUSATIONID, -1, id, -1);
        rd_kafka_header_add(h, SF_HDR_DATASCHEMA, -1, dataschema, -1);
        for (;;) {
            e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                  RD_KAFKA_V_KEY(key, strlen(key)),
                                  RD_KAFKA_V_VALUE((void *)value, value_len),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                break;
            rd_kafka_poll(rk, 100);
        }
        if (e) {
            fprintf(stderr, "raw produce: %s\n", rd_kafka_err2str(e));
            exit(1);
        }
        if (i % 1000 == 0)
            rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, -1);
    t0 = now_s() - t0;
    cpu_used = cpu_s() - cpu_used;
    rd_kafka_destroy(rk);
    return t0;
}

static double run_lib(const char *brokers, const char *topic, long n,
                      const sf_catalog_t *cat, avro_value_t *value) {
    sf_producer_conf_t *conf = sf_producer_conf_new();
    sf_producer_event_t *ev = sf_producer_event_new();
    char err[512], key[32];
    sf_producer_t *p;
    double t0;

    sf_producer_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err));
    for (size_t i = 0; i < NSETTINGS; i++)
        sf_producer_conf_set(conf, settings[i][0], settings[i][1], err,
                             sizeof(err));
    if (lib_inflight)
        sf_producer_conf_set(conf, "max.in.flight.requests.per.connection",
                             lib_inflight, err, sizeof(err));
    sf_producer_conf_set(conf, "sf.topic", topic, err, sizeof(err));
    sf_producer_conf_set(conf, "sf.aggregate.type", "cart", err, sizeof(err));
    sf_producer_conf_set(conf, "sf.source", "bench", err, sizeof(err));
    sf_producer_conf_set_catalog(conf, cat);
    sf_producer_conf_set_dr_cb(conf, lib_dr);
    p = sf_producer_new(conf, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "lib: %s\n", err);
        exit(2);
    }
    sf_producer_event_set_type(ev, "shop.cart.ItemAddedToCart");
    sf_producer_event_set_value(ev, value);
    if (lib_json)
        sf_producer_event_set_json_text(ev, lib_json, strlen(lib_json));
    sf_producer_event_set_aggregate_id(ev, "w");
    if (sf_producer_publish(p, ev, NULL, err, sizeof(err))) {
        fprintf(stderr, "lib warm-up: %s\n", err);
        exit(1);
    }
    sf_producer_flush(p, 30000, NULL, 0);
    ok = bad = 0;
    cpu_used = cpu_s();
    t0 = now_s();
    for (long i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "cart-%ld", i % AGGS);
        sf_producer_event_set_aggregate_id(ev, key);
        sf_producer_event_set_version(ev, i / AGGS + 1);
        if (sf_producer_publish(p, ev, NULL, err, sizeof(err))) {
            fprintf(stderr, "lib publish: %s\n", err);
            exit(1);
        }
        if (i % 1000 == 0)
            sf_producer_poll(p, 0);
    }
    sf_producer_flush(p, -1, NULL, 0);
    t0 = now_s() - t0;
    cpu_used = cpu_s() - cpu_used;
    sf_producer_event_destroy(ev);
    sf_producer_destroy(p);
    return t0;
}

int main(int argc, char **argv) {
    const char *brokers = getenv("SF_BROKERS"), *dir = SF_DOMAINS;
    long n = 100000;
    int rounds = 7;
    double ratios[64];
    double best_raw = 1e30, best_lib = 1e30, best_craw = 1e30, best_clib = 1e30;
    long failures = 0;
    char topic[64], err[512];
    sf_catalog_t *cat = sf_catalog_new();
    const sf_schema_t *s;
    avro_value_iface_t *cls;
    avro_value_t v, f;
    void *bytes;
    size_t len;
    int opt, created;
    double traw, tlib;
    long raw_ok, raw_bad, lib_ok, lib_bad;
    int inflight_mode = 0, json_mode = 0;
    char *json_text = NULL;
    const char *na = "raw librdkafka ", *nb = "libsfproducer  ";

    if (!brokers)
        brokers = "127.0.0.1:9092";
    while ((opt = getopt(argc, argv, "b:n:r:s:IJ")) != -1) {
        if (opt == 'r') {
            rounds = atoi(optarg);
            if (rounds < 1 || rounds > 64)
                return 2;
        } else if (opt == 'b')
            brokers = optarg;
        else if (opt == 'n')
            n = atol(optarg);
        else if (opt == 's')
            dir = optarg;
        else if (opt == 'I')
            inflight_mode = 1;
        else if (opt == 'J')
            json_mode = 1;
        else
            return 2;
    }
    if (sf_catalog_load_dir(cat, dir, err, sizeof(err))) {
        fprintf(stderr, "catalog: %s\n", err);
        return 2;
    }
    s = sf_catalog_latest(cat, "shop.cart.ItemAddedToCart");
    cls = avro_generic_class_from_schema(sf_schema_avro(s));
    avro_generic_value_new(cls, &v);
    avro_value_get_by_name(&v, "cart_id", &f, NULL);
    avro_value_set_string(&f, "cart-123");
    avro_value_get_by_name(&v, "sku", &f, NULL);
    avro_value_set_string(&f, "sku-00042-blue-xl");
    avro_value_get_by_name(&v, "quantity", &f, NULL);
    avro_value_set_int(&f, 3);
    avro_value_get_by_name(&v, "unit_price_cents", &f, NULL);
    avro_value_set_long(&f, 1999);
    avro_value_get_by_name(&v, "added_at", &f, NULL);
    avro_value_set_long(&f, 1764162309042LL);
    avro_value_get_by_name(&v, "currency", &f, NULL);
    avro_value_set_string(&f, "EUR");
    snprintf(dataschema, sizeof(dataschema), SF_DATASCHEMA_PREFIX "%016llx",
             (unsigned long long)sf_schema_fingerprint(s));
    if (sf_encode(s, &v, &bytes, &len, err, sizeof(err))) {
        fprintf(stderr, "encode: %s\n", err);
        return 2;
    }

    /* The topic, provisioned through the library. */
    snprintf(topic, sizeof(topic), "t-producer-bench-%ld", (long)getpid());
    {
        sf_producer_conf_t *conf = sf_producer_conf_new();
        sf_producer_t *p;

        sf_producer_conf_set(conf, "bootstrap.servers", brokers, err,
                             sizeof(err));
        sf_producer_conf_set_catalog(conf, cat);
        p = sf_producer_new(conf, err, sizeof(err));
        if (!p || sf_producer_ensure_topic(p, topic, 12, 0, 30000, &created,
                                           err, sizeof(err))) {
            fprintf(stderr, "topic: %s\n", err);
            return 2;
        }
        sf_producer_destroy(p);
    }

    printf("events per run: %ld, value %zu bytes, 12 headers, 12 partitions,"
           " idempotent, acks=all, linger.ms=5\n",
           n, len);
    if (inflight_mode) {
        na = "lib in-flight 1 ";
        nb = "lib in-flight 5 ";
    } else if (json_mode) {
        json_t *j = NULL;

        if (sf_value_to_json(&v, &j, err, sizeof(err)) ||
            !(json_text = json_dumps(j, JSON_COMPACT))) {
            fprintf(stderr, "json: %s\n", err);
            return 2;
        }
        json_decref(j);
        printf("JSON payload: %s\n", json_text);
        na = "lib avro value ";
        nb = "lib JSON text  ";
    }
    run_raw(brokers, topic, n / 2, bytes, len); /* warm-up, untimed */
    for (int r = 1; r <= rounds; r++) {
        double craw, clib;

        if (inflight_mode) {
            lib_inflight = "1";
            traw = run_lib(brokers, topic, n, cat, &v);
            lib_inflight = "5";
        } else if (json_mode) {
            lib_json = NULL;
            traw = run_lib(brokers, topic, n, cat, &v);
            lib_json = json_text;
        } else {
            traw = run_raw(brokers, topic, n, bytes, len);
        }
        raw_ok = ok, raw_bad = bad, craw = cpu_used;
        tlib = run_lib(brokers, topic, n, cat, &v);
        lib_ok = ok, lib_bad = bad, clib = cpu_used;
        printf("round %d: %s%7.0f ev/s %.2f us CPU/ev (ok %ld, failed %ld)"
               " | %s%7.0f ev/s %.2f us CPU/ev (ok %ld, failed %ld) | "
               "%.2fx\n",
               r, na, n / traw, craw * 1e6 / n, raw_ok, raw_bad, nb, n / tlib,
               clib * 1e6 / n, lib_ok, lib_bad, traw / tlib);
        ratios[r - 1] = traw / tlib;
        if (craw < best_craw)
            best_craw = craw;
        if (clib < best_clib)
            best_clib = clib;
        if (raw_bad || lib_bad || raw_ok != n || lib_ok != n)
            failures++;
        if (traw < best_raw)
            best_raw = traw;
        if (tlib < best_lib)
            best_lib = tlib;
    }
    printf("best %s    : %8.0f events/s\n", na, n / best_raw);
    printf("best %s    : %8.0f events/s\n", nb, n / best_lib);
    qsort(ratios, (size_t)rounds, sizeof(ratios[0]), cmp_double);
    if (inflight_mode)
        printf("ratio in-flight 5/1 : median of rounds %.2fx, best vs best "
               "%.2fx\n",
               ratios[rounds / 2], best_raw / best_lib);
    else if (json_mode)
        printf("ratio JSON/value    : median of rounds %.2fx, best vs best "
               "%.2fx\n",
               ratios[rounds / 2], best_raw / best_lib);
    else
        printf("ratio lib/raw       : median of rounds %.2fx, best vs best "
               "%.2fx (goal >= 0.90x)\n",
               ratios[rounds / 2], best_raw / best_lib);
    printf("CPU per event       : %s%.2f us, %s%.2f us (process, all "
           "threads, best round)\n",
           na, best_craw * 1e6 / n, nb, best_clib * 1e6 / n);

    /* Delete the topic again. */
    {
        rd_kafka_conf_t *c = rd_kafka_conf_new();
        rd_kafka_t *rk;
        rd_kafka_queue_t *q;
        rd_kafka_DeleteTopic_t *dt = rd_kafka_DeleteTopic_new(topic);

        rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof(err));
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
        q = rd_kafka_queue_new(rk);
        rd_kafka_DeleteTopics(rk, &dt, 1, NULL, q);
        rd_kafka_event_destroy(rd_kafka_queue_poll(q, 10000));
        rd_kafka_DeleteTopic_destroy(dt);
        rd_kafka_queue_destroy(q);
        rd_kafka_destroy(rk);
    }
    free(bytes);
    free(json_text);
    avro_value_decref(&v);
    avro_value_iface_decref(cls);
    sf_catalog_destroy(cat);
    return failures ? 1 : 0;
}
