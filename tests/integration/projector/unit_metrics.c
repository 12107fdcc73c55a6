/*
 * unit_metrics.c - cmocka tests of the projector's metrics registry
 * (projector/src/metrics.c) and its HTTP endpoint (http.c): Prometheus
 * rendering, label escaping, histogram bucket math, lag, readiness and
 * liveness, and real HTTP GETs over a loopback socket.
 * Needs no services (label "unit").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics.h"

static int64_t fake_now;
static int64_t fake_clock(void *opaque) {
    (void)opaque;
    return fake_now;
}

static char *render(sf_metrics_t *m) {
    char *out = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(sf_metrics_render(m, &out, &len, err, sizeof err), SF_OK);
    assert_non_null(out);
    assert_int_equal(strlen(out), len);
    return out;
}

/* The value of the sample line that starts with `series ` (exact series
 * text including labels); fails the test if absent. */
static double sample(const char *text, const char *series) {
    size_t n = strlen(series);
    const char *p = text;
    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p += n;
    }
    fail_msg("series not found: %s\n---\n%s", series, text);
    return -1;
}

static int has_series(const char *text, const char *series) {
    size_t n = strlen(series);
    const char *p = text;
    while ((p = strstr(p, series)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return 1;
        p += n;
    }
    return 0;
}

static void test_escape(void **state) {
    (void)state;
    char buf[64];
    size_t n = sf_metrics_escape_label(buf, sizeof buf, "a\\b\"c\nd");
    assert_string_equal(buf, "a\\\\b\\\"c\\nd");
    assert_int_equal(n, strlen("a\\\\b\\\"c\\nd"));
    /* truncation keeps NUL and reports the full length */
    char small[4];
    n = sf_metrics_escape_label(small, sizeof small, "\"\"\"");
    assert_int_equal(n, 6);
    assert_int_equal(strlen(small), 3);
    assert_int_equal(sf_metrics_escape_label(NULL, 0, "plain"), 5);
}

static void test_counters_and_format(void **state) {
    (void)state;
    sf_metrics_t *m = sf_metrics_new();
    assert_non_null(m);
    sf_metrics_events_applied(m, "carts", 5);
    sf_metrics_events_applied(m, "carts", 7);
    sf_metrics_events_applied(m, "we\"ird\\name\n", 1);
    sf_metrics_dead_lettered(m, "carts", 2);
    sf_metrics_fenced(m, "carts");
    sf_metrics_fenced(m, "carts");
    sf_metrics_fenced(m, "carts");
    sf_metrics_error(m, "carts", SF_ERR_REDIS);
    sf_metrics_error(m, "carts", SF_ERR_REDIS);
    sf_metrics_error(m, "carts", SF_ERR_UNKNOWN_FINGERPRINT);
    sf_metrics_error(m, "carts", (sf_err_t)9999);
    char *t = render(m);
    assert_int_equal(
        sample(t, "streamfold_events_applied_total{projection=\"carts\"}"), 12);
    assert_int_equal(sample(t, "streamfold_events_applied_total{projection="
                               "\"we\\\"ird\\\\name\\n\"}"),
                     1);
    assert_int_equal(
        sample(t, "streamfold_dead_lettered_total{projection=\"carts\"}"), 2);
    assert_int_equal(
        sample(t, "streamfold_fenced_batches_total{projection=\"carts\"}"), 3);
    assert_int_equal(
        sample(t,
               "streamfold_errors_total{projection=\"carts\",kind=\"redis\"}"),
        2);
    assert_int_equal(sample(t, "streamfold_errors_total{projection=\"carts\","
                               "kind=\"unknown_fingerprint\"}"),
                     1);
    assert_int_equal(
        sample(t,
               "streamfold_errors_total{projection=\"carts\",kind=\"other\"}"),
        1);
    assert_non_null(strstr(t, "# HELP streamfold_events_applied_total "));
    assert_non_null(
        strstr(t, "# TYPE streamfold_events_applied_total counter\n"));
    assert_non_null(
        strstr(t, "# TYPE streamfold_batch_latency_seconds histogram\n"));
    assert_non_null(strstr(t, "# TYPE streamfold_lag_events gauge\n"));
    assert_int_equal(sample(t, "streamfold_up"), 1);
    assert_int_equal(sf_metrics_events_applied_get(m, "carts"), 12);
    assert_int_equal(sf_metrics_fenced_get(m, "carts"), 3);
    assert_int_equal(sf_metrics_fenced_get(m, "nope"), 0);

    /* every line is a comment or `name{labels} value`, ends with \n, and
     * every TYPE line precedes its samples exactly once */
    assert_true(t[strlen(t) - 1] == '\n');
    char *copy = strdup(t);
    int types = 0;
    for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') {
            assert_true(strncmp(line, "# HELP streamfold_", 18) == 0 ||
                        strncmp(line, "# TYPE streamfold_", 18) == 0);
            if (line[2] == 'T')
                types++;
            continue;
        }
        assert_true(strncmp(line, "streamfold_", 11) == 0);
        const char *sp = strrchr(line, ' ');
        assert_non_null(sp);
        char *end;
        (void)strtod(sp + 1, &end);
        assert_true(*end == '\0');
    }
    assert_true(types >= 15);
    free(copy);
    free(t);
    sf_metrics_destroy(m);
}

static void test_histogram(void **state) {
    (void)state;
    sf_metrics_t *m = sf_metrics_new();
    /* bounds: .0005 .001 .0025 .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 */
    double obs[] = {0.0001, 0.0005 /* le is inclusive */,
                    0.003,  0.003,
                    0.2,    1.0,
                    11.0,   99.0,
                    -1.0 /* clamped to 0 */};
    double sum = 0;
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++) {
        sf_metrics_batch_committed(m, "p", obs[i]);
        sum += obs[i] > 0 ? obs[i] : 0;
    }
    char *t = render(m);
#define B(le)                                                                  \
    sample(t,                                                                  \
           "streamfold_batch_latency_seconds_bucket{projection=\"p\",le=\"" le \
           "\"}")
    assert_int_equal(B("0.0005"), 3); /* 0.0001, 0.0005, 0 */
    assert_int_equal(B("0.001"), 3);
    assert_int_equal(B("0.0025"), 3);
    assert_int_equal(B("0.005"), 5);
    assert_int_equal(B("0.1"), 5);
    assert_int_equal(B("0.25"), 6);
    assert_int_equal(B("1"), 7);
    assert_int_equal(B("10"), 7);
    assert_int_equal(B("+Inf"), 9);
#undef B
    assert_int_equal(
        sample(t, "streamfold_batch_latency_seconds_count{projection=\"p\"}"),
        9);
    assert_true(
        sample(t, "streamfold_batch_latency_seconds_sum{projection=\"p\"}") -
            sum <
        1e-9);
    assert_true(
        sum - sample(t,
                     "streamfold_batch_latency_seconds_sum{projection=\"p\"}") <
        1e-9);
    assert_int_equal(
        sample(t, "streamfold_batches_committed_total{projection=\"p\"}"), 9);
    /* buckets are cumulative: never decrease in order of appearance */
    const char *p = t;
    double prev = -1;
    while ((p = strstr(p, "streamfold_batch_latency_seconds_bucket{")) !=
           NULL) {
        double v = strtod(strchr(strchr(p, '}'), ' ') + 1, NULL);
        assert_true(v >= prev);
        prev = v;
        p++;
    }
    free(t);
    sf_metrics_destroy(m);
}

static void test_partition_lag(void **state) {
    (void)state;
    sf_metrics_t *m = sf_metrics_new();
    fake_now = 1700000000000LL;
    sf_metrics_set_clock(m, fake_clock, NULL);
    sf_metrics_partition_assigned(m, "p", "cart-events", 3);
    sf_metrics_partition_watermark(m, "p", "cart-events", 3, 1000);
    sf_metrics_partition_checkpoint(m, "p", "cart-events", 3, 400,
                                    fake_now - 12500);
    char *t = render(m);
#define L "{projection=\"p\",topic=\"cart-events\",partition=\"3\"}"
    assert_int_equal(sample(t, "streamfold_partition_assigned" L), 1);
    assert_int_equal(sample(t, "streamfold_checkpoint_offset" L), 400);
    assert_int_equal(sample(t, "streamfold_high_watermark" L), 1000);
    assert_int_equal(sample(t, "streamfold_lag_events" L), 600);
    assert_true(sample(t, "streamfold_lag_seconds" L) == 12.5);
    free(t);
    /* caught up: both lags 0 even though the last event is old */
    sf_metrics_partition_checkpoint(m, "p", "cart-events", 3, 1000, 0);
    t = render(m);
    assert_int_equal(sample(t, "streamfold_lag_events" L), 0);
    assert_true(sample(t, "streamfold_lag_seconds" L) == 0);
    free(t);
    /* watermark behind checkpoint (stale metadata): clamped to 0 */
    sf_metrics_partition_watermark(m, "p", "cart-events", 3, 900);
    t = render(m);
    assert_int_equal(sample(t, "streamfold_lag_events" L), 0);
    free(t);
    /* revoked: series disappear */
    sf_metrics_partition_revoked(m, "p", "cart-events", 3);
    t = render(m);
    assert_false(has_series(t, "streamfold_partition_assigned" L));
    assert_false(has_series(t, "streamfold_lag_events" L));
#undef L
    free(t);
    sf_metrics_destroy(m);
}

static void test_health(void **state) {
    (void)state;
    sf_metrics_t *m = sf_metrics_new();
    char why[128];
    fake_now = 1000000;
    sf_metrics_set_clock(m, fake_clock, NULL);
    sf_metrics_set_liveness_timeout(m, 5);
    assert_true(sf_metrics_is_live(m)); /* startup grace */
    fake_now += 6000;
    assert_false(sf_metrics_is_live(m));
    sf_metrics_heartbeat(m);
    assert_true(sf_metrics_is_live(m));
    fake_now += 4000;
    assert_true(sf_metrics_is_live(m));
    fake_now += 2000;
    assert_false(sf_metrics_is_live(m));

    assert_false(sf_metrics_is_ready(m, why, sizeof why));
    sf_metrics_projection_add(m, "a");
    sf_metrics_projection_add(m, "b");
    sf_metrics_redis_up(m, 1);
    assert_false(sf_metrics_is_ready(m, why, sizeof why));
    assert_non_null(strstr(why, "a"));
    sf_metrics_projection_polled(m, "a");
    assert_false(sf_metrics_is_ready(m, why, sizeof why));
    assert_non_null(strstr(why, "b"));
    sf_metrics_partition_assigned(m, "b", "t", 0); /* assignment counts */
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    sf_metrics_redis_up(m, 0);
    assert_false(sf_metrics_is_ready(m, why, sizeof why));
    assert_non_null(strstr(why, "redis"));
    sf_metrics_redis_up(m, 1);
    sf_metrics_set_draining(m, 1);
    assert_false(sf_metrics_is_ready(m, why, sizeof why));
    sf_metrics_set_draining(m, 0);
    assert_true(sf_metrics_is_ready(m, NULL, 0));
    sf_metrics_destroy(m);
}

/* Readiness tells the truth about partitions that cannot move. */
/* A main loop blocked in a call (a Redis that hangs) stops turning: once
 * that lasts stuck_after, /readyz says so (its lag figures are stale). */
static void test_health_loop_blocked(void **state) {
    (void)state;
    sf_metrics_t *m = sf_metrics_new();
    char why[512];
    fake_now = 3000000;
    sf_metrics_set_clock(m, fake_clock, NULL);
    sf_metrics_set_stuck_after(m, 10);
    sf_metrics_projection_add(m, "p");
    sf_metrics_redis_up(m, 1);
    sf_metrics_projection_polled(m, "p");
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    fake_now += 9000;
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    fake_now += 2000;
    assert_false(sf_metrics_is_ready(m, why, sizeof why));
    assert_non_null(strstr(why, "has not turned for 11 s"));
    /* the operator paused it: fine; turning again: fine */
    sf_metrics_projection_paused(m, "p", 1);
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    sf_metrics_projection_paused(m, "p", 0);
    sf_metrics_projection_polled(m, "p");
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    sf_metrics_destroy(m);
}

static void test_health_partitions(void **state) {
    (void)state;
    sf_metrics_t *m = sf_metrics_new();
    char why[512];
    fake_now = 2000000;
    sf_metrics_set_clock(m, fake_clock, NULL);
    sf_metrics_set_stuck_after(m, 10);
    sf_metrics_projection_add(m, "p");
    sf_metrics_redis_up(m, 1);
    sf_metrics_partition_assigned(m, "p", "t", 0);
    sf_metrics_partition_checkpoint(m, "p", "t", 0, 5, -1);
    sf_metrics_partition_watermark(m, "p", "t", 0, 5);
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    /* idle and caught up for long: not stuck */
    fake_now += 60000;
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    assert_string_equal(sf_metrics_partition_state(m, "p", "t", 0), "ok");
    /* lag appears: the stuck clock starts now, not at the last progress */
    sf_metrics_partition_watermark(m, "p", "t", 0, 8);
    fake_now += 9000;
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    fake_now += 2000;
    assert_false(sf_metrics_is_ready(m, why, sizeof why));
    assert_non_null(strstr(why, "t/0 stuck"));
    assert_non_null(strstr(why, "3 event(s) of lag"));
    assert_string_equal(sf_metrics_partition_state(m, "p", "t", 0), "stuck");
    /* operator pause: no progress is expected */
    sf_metrics_projection_paused(m, "p", 1);
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    assert_string_equal(sf_metrics_partition_state(m, "p", "t", 0), "paused");
    sf_metrics_projection_paused(m, "p", 0); /* clock restarts */
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    /* progress clears it */
    fake_now += 11000;
    assert_false(sf_metrics_is_ready(m, why, sizeof why));
    sf_metrics_partition_checkpoint(m, "p", "t", 0, 7, -1);
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    /* dead-lettering failing; when it lasts, the partition is stuck too */
    sf_metrics_dlq_failing(m, "p", 1);
    assert_false(sf_metrics_is_ready(m, why, sizeof why));
    assert_non_null(strstr(why, "dead-lettering failing since"));
    assert_null(strstr(why, "stuck"));
    sf_metrics_partition_watermark(m, "p", "t", 0, 9);
    fake_now += 11000;
    assert_false(sf_metrics_is_ready(m, why, sizeof why));
    assert_non_null(strstr(why, "dead-lettering failing since"));
    assert_non_null(strstr(why, "t/0 stuck"));
    assert_string_equal(sf_metrics_partition_state(m, "p", "t", 0),
                        "dlq-failing");
    sf_metrics_dlq_failing(m, "p", 0);
    sf_metrics_partition_checkpoint(m, "p", "t", 0, 9, -1);
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    /* fenced */
    sf_metrics_partition_fenced(m, "p", "t", 0, 1);
    assert_false(sf_metrics_is_ready(m, why, sizeof why));
    assert_non_null(strstr(why, "t/0 fenced"));
    assert_string_equal(sf_metrics_partition_state(m, "p", "t", 0), "fenced");
    sf_metrics_partition_revoked(m, "p", "t", 0);
    assert_true(sf_metrics_is_ready(m, why, sizeof why));
    sf_metrics_destroy(m);
}

/* Lag series exist from assignment on, and lag seconds count from the
 * oldest record consumed but not applied. */
static void test_lag_from_assignment(void **state) {
    (void)state;
    sf_metrics_t *m = sf_metrics_new();
    fake_now = 1700000000000LL;
    sf_metrics_set_clock(m, fake_clock, NULL);
    sf_metrics_partition_assigned(m, "p", "t", 1);
    sf_metrics_partition_checkpoint(m, "p", "t", 1, 0, -1); /* no ckpt: lo */
    sf_metrics_partition_watermark(m, "p", "t", 1, 3);
#define L "{projection=\"p\",topic=\"t\",partition=\"1\"}"
    fake_now += 4000;
    char *t = render(m);
    assert_int_equal(sample(t, "streamfold_lag_events" L), 3);
    assert_true(sample(t, "streamfold_lag_seconds" L) == 4);
    free(t);
    sf_metrics_partition_pending(m, "p", "t", 1, fake_now - 30000);
    sf_metrics_partition_pending(m, "p", "t", 1, fake_now - 1000); /* newer */
    t = render(m);
    assert_true(sample(t, "streamfold_lag_seconds" L) == 30);
    free(t);
#undef L
    sf_metrics_destroy(m);
}

/* ---- HTTP over a real loopback socket ------------------------------ */

/* Sends `req` to 127.0.0.1:port and returns the whole response
 * (Connection: close), malloc()ed. */
static char *http_raw(int port, const char *req) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    size_t n = strlen(req);
    assert_int_equal(write(fd, req, n), (ssize_t)n);
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    buf[len] = '\0';
    close(fd);
    return buf;
}

static char *http_get(int port, const char *path, int *status) {
    char req[512];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
             path);
    char *r = http_raw(port, req);
    assert_true(strncmp(r, "HTTP/1.1 ", 9) == 0);
    *status = atoi(r + 9);
    return r;
}

static void test_http(void **state) {
    (void)state;
    sf_metrics_t *m = sf_metrics_new();
    char err[256];
    sf_http_t *h = NULL;
    assert_int_equal(sf_http_start(m, "127.0.0.1:0", &h, err, sizeof err),
                     SF_OK);
    int port = sf_http_port(h);
    assert_true(port > 0 && port < 65536);

    sf_metrics_events_applied(m, "carts", 42);
    sf_metrics_heartbeat(m);
    int st;
    char *r = http_get(port, "/metrics", &st);
    assert_int_equal(st, 200);
    assert_non_null(strstr(r, "text/plain; version=0.0.4"));
    const char *body = strstr(r, "\r\n\r\n");
    assert_non_null(body);
    assert_int_equal(
        sample(body + 4,
               "streamfold_events_applied_total{projection=\"carts\"}"),
        42);
    free(r);

    r = http_get(port, "/healthz", &st);
    assert_int_equal(st, 200);
    free(r);

    r = http_get(port, "/readyz", &st);
    assert_int_equal(st, 503); /* nothing declared, redis unknown */
    free(r);
    sf_metrics_projection_add(m, "carts");
    sf_metrics_projection_polled(m, "carts");
    sf_metrics_redis_up(m, 1);
    r = http_get(port, "/readyz", &st);
    assert_int_equal(st, 200);
    free(r);

    r = http_get(port, "/nope", &st);
    assert_int_equal(st, 404);
    free(r);

    r = http_raw(port, "DELETE /metrics HTTP/1.1\r\nHost: x\r\n"
                       "Connection: close\r\n\r\n");
    assert_int_equal(atoi(r + 9), 405);
    free(r);

    /* stale heartbeat -> 503 */
    fake_now = 5000000;
    sf_metrics_set_clock(m, fake_clock, NULL);
    sf_metrics_set_liveness_timeout(m, 1);
    sf_metrics_heartbeat(m);
    fake_now += 2000;
    r = http_get(port, "/healthz", &st);
    assert_int_equal(st, 503);
    free(r);

    /* a second server on the same port fails with a clear error */
    char listen2[64];
    snprintf(listen2, sizeof listen2, "127.0.0.1:%d", port);
    sf_http_t *h2 = NULL;
    assert_int_not_equal(sf_http_start(m, listen2, &h2, err, sizeof err),
                         SF_OK);
    assert_null(h2);
    assert_non_null(strstr(err, listen2));

    sf_http_stop(h);
    sf_metrics_destroy(m);
}

/* 70 clients trickling a byte every few hundred ms hold their
 * connections; probes must still be answered, promptly. */
static void test_http_slow_clients(void **state) {
    (void)state;
    sf_metrics_t *m = sf_metrics_new();
    char err[256];
    sf_http_t *h = NULL;
    assert_int_equal(sf_http_start(m, ":0", &h, err, sizeof err), SF_OK);
    int port = sf_http_port(h);
    enum { N = 70 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* ":0" is loopback */
        assert_int_equal(connect(fds[i], (struct sockaddr *)&sa, sizeof sa), 0);
        assert_int_equal(write(fds[i], "G", 1), 1);
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++)
            (void)!write(fds[i], "E", 1);
        int status = 0;
        char *r = http_get(port, "/healthz", &status);
        assert_int_equal(status, 200);
        free(r);
        usleep(300000);
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
    sf_http_stop(h);
    sf_metrics_destroy(m);
}

static void test_http_bad_listen(void **state) {
    (void)state;
    sf_metrics_t *m = sf_metrics_new();
    char err[256];
    sf_http_t *h = NULL;
    assert_int_equal(sf_http_start(m, "127.0.0.1", &h, err, sizeof err),
                     SF_ERR_CONFIG);
    assert_non_null(strstr(err, "HOST:PORT"));
    assert_int_equal(sf_http_start(m, "127.0.0.1:99999", &h, err, sizeof err),
                     SF_ERR_CONFIG);
    assert_int_equal(sf_http_start(m, "127.0.0.1:x", &h, err, sizeof err),
                     SF_ERR_CONFIG);
    assert_int_equal(sf_http_start(m, "[::1", &h, err, sizeof err),
                     SF_ERR_CONFIG);
    assert_null(h);
    sf_metrics_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_counters_and_format),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_partition_lag),
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_health_partitions),
        cmocka_unit_test(test_health_loop_blocked),
        cmocka_unit_test(test_lag_from_assignment),
        cmocka_unit_test(test_http_slow_clients),
        cmocka_unit_test(test_http),
        cmocka_unit_test(test_http_bad_listen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
