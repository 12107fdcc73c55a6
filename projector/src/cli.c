/*
 * cli.c - the sf-projector command line (sf_projector_main): one function
 * per mode, like kcat.  This is the only place that prints or decides an
 * exit code.
 *
 * Exit codes: 0 success; 1 runtime failure; 2 usage or configuration
 * error; 3 a worker stopped on a poison event (on_error: stop); 4 `wait`
 * timed out.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "admin.h"
#include "cli_views.h"
#include "config.h"
#include "dedup.h"
#include "identity.h"
#include "journey.h"
#include "log.h"
#include "offsets.h"
#include "preflight.h"
#include "metrics.h"
#include "rebuild.h"
#include "bluegreen.h"
#include "version.h"
#include "sf_projector.h"
#include "sf_schema.h"
#include "util.h"
#include "worker.h"

static volatile sig_atomic_t g_stop;
static int g_debug;
static pthread_mutex_t g_log_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void stderr_log(const char *level, const char *line) {
    if (!g_debug && !strcmp(level, "debug"))
        return;
    struct timespec ts;
    struct tm tm;
    char t[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%S", &tm);
    pthread_mutex_lock(&g_log_lock);
    fprintf(stderr, "ts=%s.%03ldZ level=%s %s\n", t, ts.tv_nsec / 1000000,
            level, line);
    pthread_mutex_unlock(&g_log_lock);
}

static void die_line(const char *cmd, const char *msg) {
    fprintf(stderr, "sf-projector %s: %s\n", cmd, msg);
}

/* Usage and configuration errors exit 2, everything else 1. */
static int exit_code(sf_err_t e) {
    return e == SF_ERR_CONFIG || e == SF_ERR_INVALID_ARG ? 2 : 1;
}

/* -X prop=value is checked against librdkafka's own property table
 * (unknown names and bad values are refused, like kcat does) before it
 * reaches the configuration. */
static int check_X(const char *cmd, const char *k, const char *v) {
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_conf_res_t res = rd_kafka_conf_set(c, k, v, err, sizeof(err));
    rd_kafka_conf_destroy(c);
    if (res == RD_KAFKA_CONF_OK)
        return 0;
    /* The value is never shown (it may be a secret from an environment
     * file); librdkafka's own text may quote it: masked there too. */
    char clean[512], *hit;
    size_t vl = strlen(v);
    snprintf(clean, sizeof(clean), "%s", err);
    while (vl && (hit = strstr(clean, v)) != NULL) {
        char rest[512];
        snprintf(rest, sizeof(rest), "%s", hit + vl);
        snprintf(hit, sizeof(clean) - (size_t)(hit - clean), "***%s", rest);
    }
    char m[700];
    snprintf(m, sizeof(m), "-X %s: %s", k, clean);
    die_line(cmd, m);
    return 2;
}

static const char USAGE[] =
    "Usage: sf-projector COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  run -c CONFIG [PROJECTION...]      run workers (all projections by "
    "default)\n"
    "  rebuild -c CONFIG PROJECTION [--in-place] [--as-of TIME] [--force]\n"
    "          [--batch N] [--accept-partitions] (after partitions were added)"
    "\n"
    "          [--db N] [--no-fold]       replay from offset zero into "
    "spare_db and\n"
    "                                     switch it in (blue/green); "
    "--in-place:\n"
    "                                     clear the live view and refill it; "
    "--db N:\n"
    "                                     build into Redis database N (an "
    "as-of view\n"
    "                                     beside the live one); "
    "--no-fold:\n"
    "                                     send every command, none folded "
    "(docs/fold.md)\n"
    "  rollback -c CONFIG PROJECTION      switch the previous generation back "
    "in\n"
    "  drop -c CONFIG PROJECTION [--db N] empty spare_db (the previous "
    "generation),\n"
    "                                     or the as-of view in database N\n"
    "  status -c CONFIG [PROJECTION]      checkpoint, end offset, lag per "
    "partition\n"
    "  pause -c CONFIG PROJECTION [--timeout S]\n"
    "                                     workers stop applying; returns once "
    "every\n"
    "                                     worker acknowledged (default 30 s)\n"
    "  resume -c CONFIG PROJECTION [--timeout S]\n"
    "  skip -c CONFIG PROJECTION -t TOPIC -p PARTITION -o OFFSET [--force]\n"
    "                                     pass the event blocking a partition"
    "\n"
    "  journey -c CONFIG -t TOPIC AGGREGATE_ID [--as-of TIME] "
    "[--fold PROJECTION [--state]]\n"
    "                                     one aggregate's events as JSON "
    "lines;\n"
    "                                     --fold adds each event's Redis "
    "commands,\n"
    "                                     --state the keys they fold to\n"
    "  diff -c CONFIG PROJECTION [--against fold|spare|db] [--db N] "
    "[--max N]\n"
    "                                     live view vs a fresh fold (into "
    "the empty\n"
    "                                     scratch db N) or another db: "
    "exit 1 if different\n"
    "  drop -c CONFIG PROJECTION --db N   remove the as-of view in db N\n"
    "  offsets -c CONFIG PROJECTION [--commit-checkpoints]\n"
    "                                     the group's committed offsets "
    "against the\n"
    "                                     view's checkpoints; re-commit them\n"
    "  wait -c CONFIG PROJECTION TOKEN [--timeout MS]\n"
    "                                     until the projection applied the "
    "position\n"
    "                                     TOKEN (topic:partition:offset; "
    "default 5000 ms)\n"
    "\n"
    "Common options:\n"
    "  -c, --config FILE   configuration (YAML, see projector/README.md)\n"
    "  -X prop=value       librdkafka property (repeatable; overrides the "
    "config)\n"
    "  -v, --verbose       debug logs\n"
    "  -h, --help          this text\n"
    "TIME is RFC 3339 (2026-11-26T12:00:00Z) or milliseconds since the "
    "epoch.\n"
    "Exit: 0 ok, 1 failure, 2 usage/config error, 3 stopped on a poison "
    "event,\n4 wait timed out.\n";

typedef struct opts {
    const char *config, *topic, *fold;
    int32_t partition;
    int64_t offset, as_of;
    int force, have_partition, have_offset, state, accept_partitions;
    int in_place;
    int no_fold;         /* rebuild --no-fold */
    int commit_ckpt;     /* offsets --commit-checkpoints */
    int db;              /* rebuild / drop / diff --db N; -1 none */
    const char *against; /* diff */
    long max_lines;      /* diff --max */
    long batch;
    int timeout_s;  /* pause / resume: seconds */
    int timeout_ms; /* wait: milliseconds */
    char **X;
    int nX;
    char **args;
    int nargs;
} opts_t;

static int parse(const char *cmd, int argc, char **argv, opts_t *o) {
    static const struct option lo[] = {
        {"config", required_argument, NULL, 'c'},
        {"topic", required_argument, NULL, 't'},
        {"partition", required_argument, NULL, 'p'},
        {"offset", required_argument, NULL, 'o'},
        {"as-of", required_argument, NULL, 'A'},
        {"fold", required_argument, NULL, 'F'},
        {"force", no_argument, NULL, 'f'},
        {"accept-partitions", no_argument, NULL, 'P'},
        {"in-place", no_argument, NULL, 'I'},
        {"no-fold", no_argument, NULL, 'U'},
        {"state", no_argument, NULL, 'S'},
        {"batch", required_argument, NULL, 'B'},
        {"timeout", required_argument, NULL, 'T'},
        {"commit-checkpoints", no_argument, NULL, 'K'},
        {"db", required_argument, NULL, 'D'},
        {"against", required_argument, NULL, 'G'},
        {"max", required_argument, NULL, 'M'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof(*o));
    o->as_of = -1;
    o->db = -1;
    o->timeout_s = 30;
    o->timeout_ms = 5000;
    o->X = calloc((size_t)argc + 1, sizeof(char *));
    if (!o->X)
        return 1;
    optind = 1;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "c:t:p:o:X:vh", lo, NULL)) != -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 't': o->topic = optarg; break;
        case 'F': o->fold = optarg; break;
        case 'f': o->force = 1; break;
        case 'P': o->accept_partitions = 1; break;
        case 'I': o->in_place = 1; break;
        case 'U': o->no_fold = 1; break;
        case 'S': o->state = 1; break;
        case 'K': o->commit_ckpt = 1; break;
        case 'G': o->against = optarg; break;
        case 'M':
            o->max_lines = strtol(optarg, &end, 10);
            if (*end || o->max_lines <= 0) {
                die_line(cmd, "--max needs a positive number");
                return 2;
            }
            break;
        case 'D':
            errno = 0;
            long dv = strtol(optarg, &end, 10);
            if (*end || errno || dv < 0 || dv > 1000000) {
                die_line(cmd, "--db needs a Redis database number (>= 0)");
                return 2;
            }
            o->db = (int)dv;
            break;
        case 'v': g_debug = 1; break;
        case 'X': o->X[o->nX++] = optarg; break;
        case 'p':
            errno = 0;
            long pv = strtol(optarg, &end, 10);
            o->partition = (int32_t)pv;
            if (*end || errno || pv < 0 || pv > INT32_MAX) {
                die_line(cmd, "-p needs a partition number");
                return 2;
            }
            o->have_partition = 1;
            break;
        case 'o':
            errno = 0;
            o->offset = strtoll(optarg, &end, 10);
            if (*end || errno || o->offset < 0) {
                die_line(cmd, "-o needs an offset");
                return 2;
            }
            o->have_offset = 1;
            break;
        case 'T': /* wait: milliseconds (like kcat); pause/resume: seconds */
            errno = 0;
            if (!strcmp(cmd, "wait")) {
                o->timeout_ms = (int)strtol(optarg, &end, 10);
                if (*end || errno || o->timeout_ms < 0) {
                    die_line(cmd, "--timeout needs milliseconds (>= 0)");
                    return 2;
                }
            } else {
                o->timeout_s = (int)strtol(optarg, &end, 10);
                if (*end || errno || o->timeout_s <= 0 ||
                    o->timeout_s > 86400) {
                    die_line(cmd, "--timeout needs seconds (1..86400)");
                    return 2;
                }
            }
            break;
        case 'B':
            o->batch = strtol(optarg, &end, 10);
            if (*end || o->batch <= 0) {
                die_line(cmd, "--batch needs a positive number");
                return 2;
            }
            break;
        case 'A':
            if (sf_parse_time_ms(optarg, &o->as_of)) {
                char m[300];
                snprintf(m, sizeof(m),
                         "--as-of \"%s\": expected RFC 3339 or milliseconds",
                         optarg);
                die_line(cmd, m);
                return 2;
            }
            break;
        case 'h': fputs(USAGE, stdout); return -1;
        default: fputs(USAGE, stderr); return 2;
        }
    }
    o->args = argv + optind;
    o->nargs = argc - optind;
    if (!o->config) {
        die_line(cmd, "missing -c CONFIG");
        return 2;
    }
    return 0;
}

static int load(const char *cmd, const opts_t *o, sf_config_t **cfg) {
    char err[1024];
    if (sf_config_load(o->config, cfg, err, sizeof(err))) {
        die_line(cmd, err);
        return 2;
    }
    for (int i = 0; i < o->nX; i++) {
        char *eq = strchr(o->X[i], '=');
        if (!eq) {
            snprintf(err, sizeof(err), "-X %s: expected prop=value", o->X[i]);
            die_line(cmd, err);
            return 2;
        }
        *eq = '\0';
        int bad = check_X(cmd, o->X[i], eq + 1);
        if (!bad)
            sf_config_kafka_set(*cfg, o->X[i], eq + 1);
        *eq = '=';
        if (bad)
            return 2;
    }
    return 0;
}

static int load_catalog(const char *cmd, const sf_config_t *cfg,
                        sf_catalog_t **cat) {
    char err[1024];
    if (!cfg->schemas) {
        snprintf(err, sizeof(err), "%s: no \"schemas:\" folder configured",
                 cfg->path);
        die_line(cmd, err);
        return 2;
    }
    *cat = sf_catalog_new();
    if (!*cat || sf_catalog_load_dir(*cat, cfg->schemas, err, sizeof(err))) {
        die_line(cmd, *cat ? err : "out of memory");
        return 2;
    }
    return 0;
}

/* The checks of a projection against the others and the catalog. */
static int preflight(const char *cmd, const sf_config_t *cfg,
                     const sf_pconf_t *pc, const sf_catalog_t *cat) {
    char err[1024];
    if (sf_projection_preflight(cfg, pc, cat, err, sizeof(err))) {
        die_line(cmd, err);
        return 2;
    }
    return 0;
}

static const sf_pconf_t *
need_projection(const char *cmd, const sf_config_t *cfg, const char *name) {
    const sf_pconf_t *pc = name ? sf_config_find(cfg, name) : NULL;
    if (!pc) {
        char m[512];
        if (name)
            snprintf(m, sizeof(m), "no projection \"%s\" in %s", name,
                     cfg->path);
        else
            snprintf(m, sizeof(m), "missing PROJECTION argument");
        die_line(cmd, m);
    }
    return pc;
}

/* The one PROJECTION argument of cmd, or NULL (said on stderr). */
static const sf_pconf_t *one_projection(const char *cmd, const sf_config_t *cfg,
                                        const opts_t *o) {
    if (o->nargs != 1) {
        die_line(cmd, "expected exactly one PROJECTION");
        return NULL;
    }
    return need_projection(cmd, cfg, o->args[0]);
}

/* ---- run ------------------------------------------------------------ */

typedef struct job {
    sf_worker_t *w;
    const char *name;
    sf_err_t err;
    char msg[1024];
    pthread_t th;
} job_t;

static void *job_main(void *arg) {
    job_t *j = arg;
    j->err = sf_worker_run(j->w, j->msg, sizeof(j->msg));
    if (j->err)
        g_stop = 1; /* one projection failing stops the process */
    return NULL;
}

static int cmd_run(const opts_t *o) {
    sf_config_t *cfg = NULL;
    sf_catalog_t *cat = NULL;
    sf_metrics_t *m = NULL;
    /* First of all: a SIGTERM while the workers start (a supervisor
     * stopping a unit that just started) stops them cleanly, exit 0. */
    install_signals();
    int rc = load("run", o, &cfg);
    if (rc)
        return rc;
    if ((rc = load_catalog("run", cfg, &cat)))
        goto out0;
    size_t njobs = o->nargs ? (size_t)o->nargs : cfg->nproj;
    job_t *jobs = calloc(njobs, sizeof(*jobs));
    if (!jobs) {
        rc = 1;
        goto out0;
    }
    m = sf_metrics_new();
    if (m && cfg->stuck_after_s)
        sf_metrics_set_stuck_after(m, cfg->stuck_after_s);
#ifndef SF_NO_HTTP
    sf_http_t *http = NULL;
    if (m && cfg->metrics_listen) {
        char err[512];
        if (sf_http_start(m, cfg->metrics_listen, &http, err, sizeof(err))) {
            char m2[700];
            snprintf(m2, sizeof(m2),
                     "%s (another worker on this host? "
                     "give each its own port, or port 0)",
                     err);
            die_line("run", m2);
            rc = 2;
            goto out1;
        }
        sf_log("info",
               "metrics_listen=\"%s\" metrics_port=%d msg=\"metrics "
               "on port %d: /metrics /healthz /readyz\"",
               cfg->metrics_listen, sf_http_port(http), sf_http_port(http));
    }
#endif
    for (size_t i = 0; i < njobs; i++) {
        const sf_pconf_t *pc =
            o->nargs ? need_projection("run", cfg, o->args[i]) : &cfg->proj[i];
        if (!pc) {
            rc = 2;
            goto out2;
        }
        char err[1024];
        jobs[i].name = pc->name;
        if ((rc = preflight("run", cfg, pc, cat)))
            goto out2;
        if (sf_worker_new(cfg, pc, cat, m, &g_stop, &jobs[i].w, err,
                          sizeof(err))) {
            die_line("run", err);
            rc = 2;
            goto out2;
        }
        /* after every check of the projection (version.h) */
        sf_err_t ve =
            sf_version_deploy(cfg, pc, cat, &g_stop, err, sizeof(err));
        if (ve) {
            die_line("run", err);
            rc = g_stop ? 0 : exit_code(ve);
            goto out2;
        }
    }
    for (size_t i = 0; i < njobs; i++)
        pthread_create(&jobs[i].th, NULL, job_main, &jobs[i]);
    for (size_t i = 0; i < njobs; i++)
        pthread_join(jobs[i].th, NULL);
    for (size_t i = 0; i < njobs; i++)
        if (jobs[i].err) {
            /* the worker's message names the projection already */
            die_line("run", jobs[i].msg);
            int code =
                jobs[i].err == SF_ERR_RULE || !sf_err_is_retriable(jobs[i].err)
                    ? 3
                    : 1;
            if (jobs[i].err == SF_ERR_KAFKA_FATAL ||
                jobs[i].err == SF_ERR_NOMEM)
                code = 1;
            if (code > rc)
                rc = code;
        }
    if (!rc)
        sf_log("info", "msg=\"stopped cleanly\"");
out2:
    for (size_t i = 0; i < njobs; i++)
        sf_worker_destroy(jobs[i].w);
#ifndef SF_NO_HTTP
    sf_http_stop(http);
out1:
#endif
    free(jobs);
    sf_metrics_destroy(m);
out0:
    if (cat)
        sf_catalog_destroy(cat);
    sf_config_destroy(cfg);
    return rc;
}

/* ---- rebuild -------------------------------------------------------- */

static void fmt_dur(char *buf, size_t size, double s) {
    if (s < 0 || s > 1e7)
        snprintf(buf, size, "?");
    else if (s >= 3600)
        snprintf(buf, size, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else if (s >= 60)
        snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(buf, size, "%.1fs", s);
}

static void rebuild_progress(void *opaque, const char *phase,
                             const sf_rebuild_stats_t *st) {
    const char *name = opaque;
    if (!strcmp(phase, "clear")) {
        fprintf(stderr,
                "rebuild %s: fencing workers, clearing the view; "
                "%" PRId64 " events to replay\n",
                name, st->total);
        return;
    }
    if (!strcmp(phase, "prepare")) {
        fprintf(stderr,
                "rebuild %s: building the next generation in the spare "
                "database while the live view keeps serving; "
                "%" PRId64 " events to replay\n",
                name, st->total);
        return;
    }
    if (!strcmp(phase, "switch")) {
        fprintf(stderr,
                "rebuild %s: caught up (%d catch-up round(s)); pausing live "
                "writes for the switch\n",
                name, st->catchup_rounds);
        return;
    }
    double rate = st->seconds > 0 ? st->done / st->seconds : 0;
    double pct = st->total ? 100.0 * st->done / st->total : 100.0;
    char eta[32], el[32];
    fmt_dur(el, sizeof(el), st->seconds);
    fmt_dur(eta, sizeof(eta), rate > 0 ? (st->total - st->done) / rate : -1);
    if (!strcmp(phase, "done")) {
        fprintf(stderr,
                "rebuild %s: done: %" PRId64 " events (%" PRId64
                " applied, %" PRId64 " poison) in %s, %.0f events/s, "
                "%" PRId64 " view keys deleted (clear %.2fs, redis %.2fs); "
                "%" PRId64 " duplicates dropped, %" PRId64 " gaps, %" PRId64
                " unversioned\n",
                name, st->done, st->applied, st->poison, el, rate,
                st->deleted_keys, st->clear_seconds, st->redis_seconds,
                st->dedup[0], st->dedup[2], st->dedup[3]);
        if (st->switched)
            fprintf(stderr,
                    "rebuild %s: switched: the new generation serves; live "
                    "writes paused %.0f ms (catch-up and swap %.1f ms, the "
                    "rest waiting for the workers to acknowledge pause and "
                    "resume)\n",
                    name, st->pause_seconds * 1000, st->swap_seconds * 1000);
    } else
        fprintf(stderr,
                "rebuild %s: %" PRId64 "/%" PRId64 " events (%.1f%%), "
                "%.0f events/s, elapsed %s, ETA %s\n",
                name, st->done, st->total, pct, rate, el, eta);
}

static void rebuild_poison(void *opaque, const char *topic, int32_t partition,
                           int64_t offset, const char *reason) {
    char q[600];
    sf_log("warn",
           "projection=%s topic=%s partition=%" PRId32 " offset=%" PRId64
           " msg=\"poison event passed by rebuild\" reason=%s",
           (const char *)opaque, topic, partition, offset,
           sf_log_q(q, sizeof(q), reason));
}

static int cmd_rebuild(const opts_t *o) {
    sf_config_t *cfg = NULL;
    sf_catalog_t *cat = NULL;
    int rc = load("rebuild", o, &cfg);
    if (rc)
        return rc;
    const sf_pconf_t *pc = NULL;
    if (o->nargs != 1) {
        die_line("rebuild", "expected exactly one PROJECTION");
        rc = 2;
    } else if (!(pc = need_projection("rebuild", cfg, o->args[0]))) {
        rc = 2;
    } else if (!(rc = load_catalog("rebuild", cfg, &cat)) &&
               !(rc = preflight("rebuild", cfg, pc, cat))) {
        sf_rebuild_opts_t ro = {.as_of_ms = o->as_of,
                                .force = o->force,
                                .batch_events = (size_t)o->batch,
                                .accept_partitions = o->accept_partitions,
                                .in_place = o->in_place,
                                .no_fold = o->no_fold,
                                .to_db = o->db >= 0,
                                .db = o->db};
        sf_rebuild_stats_t st;
        char err[1024];
        install_signals();
        sf_err_t e =
            sf_rebuild_run(cfg, pc, cat, &ro, rebuild_progress, rebuild_poison,
                           (void *)pc->name, &g_stop, &st, err, sizeof(err));
        if (e) {
            die_line("rebuild", err);
            rc = exit_code(e);
        }
    }
    if (cat)
        sf_catalog_destroy(cat);
    sf_config_destroy(cfg);
    return rc;
}

/* ---- status / pause / resume / skip --------------------------------- */

/* A partition's state for `status`: halted (an event failed and was not
 * parked), paused (operator), else what the worker holding it last
 * reported (ok, stuck, fenced, dlq-failing; reports older than 15 s are
 * stale), else halted@N when the last worker stopped on the event the
 * partition still waits for, else stuck when events wait and no worker
 * reports. */
static void part_state(const sf_status_row_t *r, int paused, size_t members,
                       char *buf, size_t size) {
    int fresh =
        r->report[0] && members && sf_time_now_ms() - r->report_ms <= 15000;
    if (r->ckpt >= 0 && r->tp.hi >= 0 && r->ckpt + 1 > r->tp.hi)
        snprintf(buf, size, "ckpt-beyond-end"); /* a resume would skip */
    else if (r->ckpt >= 0 && r->tp.lo >= 0 && r->ckpt + 1 < r->tp.lo)
        snprintf(buf, size, "ckpt-before-start"); /* events deleted */
    else if (r->halt >= 0)
        snprintf(buf, size, "halted@%" PRId64, r->halt);
    else if (paused)
        snprintf(buf, size, "paused");
    else if (fresh)
        snprintf(buf, size, "%s", r->report);
    else if (r->lag > 0 && !strncmp(r->report, "halted@", 7) &&
             strtoll(r->report + 7, NULL, 10) == r->ckpt + 1)
        snprintf(buf, size, "%s", r->report); /* the worker stopped there */
    else if (r->lag > 0)
        snprintf(buf, size, "stuck");
    else
        snprintf(buf, size, "ok");
}

/* Collects the identity lines (printed after the partitions) so that the
 * partitions of a topic that is not the log of their checkpoints show
 * "mismatch" rather than a lag of 0. */
static void status_line(void *opaque, const char *text) {
    fprintf(opaque, "  %s\n", text);
}

static int topic_mismatch(const char *lines, const char *topic) {
    char needle[600];
    snprintf(needle, sizeof(needle), "  identity %s: MISMATCH", topic);
    return lines && strstr(lines, needle) != NULL;
}

static int status_one(const sf_config_t *cfg, const sf_pconf_t *pc) {
    sf_status_row_t *rows = NULL;
    size_t n = 0, nm = 0;
    int paused = 0;
    char err[1024], gstate[32] = "?";
    sf_member_t *ms = NULL;
    sf_err_t e =
        sf_status_collect(cfg, pc, &rows, &n, &paused, err, sizeof(err));
    if (!e)
        e = sf_status_group(cfg, pc, gstate, sizeof(gstate), &ms, &nm, err,
                            sizeof(err));
    if (e) {
        free(rows);
        die_line("status", err);
        return exit_code(e);
    }
    char *idl = NULL, ierr[1024];
    size_t idlen = 0;
    FILE *idf = open_memstream(&idl, &idlen);
    sf_err_t ie =
        idf ? sf_identity_report(cfg, pc, status_line, idf, ierr, sizeof(ierr))
            : sf_seterr(ierr, sizeof(ierr), SF_ERR_NOMEM, "out of memory");
    if (idf)
        fclose(idf);
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += rows[i].lag;
    printf("projection %s  group %s (%s)  %s  workers %zu  total lag %" PRId64
           "\n",
           pc->name, pc->group_id, gstate,
           paused ? "PAUSED"
           : nm   ? "running"
                  : "no worker running",
           nm, total);
    for (size_t i = 0; i < nm; i++)
        printf("  worker %s  client %s  host %s\n", ms[i].member_id,
               ms[i].client_id, ms[i].host);
    printf("  %-32s %9s %12s %12s %10s %6s %6s  %s\n", "TOPIC", "PARTITION",
           "CHECKPOINT", "END", "LAG", "EPOCH", "SKIPS", "STATE");
    for (size_t i = 0; i < n; i++) {
        char ck[24], state[48];
        if (rows[i].ckpt >= 0)
            snprintf(ck, sizeof(ck), "%" PRId64, rows[i].ckpt);
        else
            snprintf(ck, sizeof(ck), "-");
        part_state(&rows[i], paused, nm, state, sizeof(state));
        if (topic_mismatch(idl, rows[i].tp.topic))
            snprintf(state, sizeof(state), "mismatch");
        printf("  %-32s %9" PRId32 " %12s %12" PRId64 " %10" PRId64 " %6" PRId64
               " %6" PRId64 "  %s\n",
               rows[i].tp.topic, rows[i].tp.partition, ck, rows[i].tp.hi,
               rows[i].lag, rows[i].epoch, rows[i].skips, state);
    }
    sf_tp_t *tps = calloc(n ? n : 1, sizeof(*tps));
    for (size_t i = 0; tps && i < n; i++)
        tps[i] = rows[i].tp;
    char derr[512];
    if (!tps || sf_dedup_status(cfg, pc, tps, n, stdout, derr, sizeof(derr)))
        fprintf(stderr, "sf-projector: status: duplicate rule counts: %s\n",
                tps ? derr : "out of memory");
    free(tps);
    sf_group_members_free(ms, nm);
    char offs[1200];
    if (!sf_offsets_report(cfg, pc, offs, sizeof(offs)) && *offs)
        printf("  offsets: %s\n", offs);
    if (idl)
        fputs(idl, stdout);
    free(idl);
    if (!ie) {
        sf_tp_t *tps = calloc(n + 1, sizeof(*tps));
        for (size_t i = 0; tps && i < n; i++)
            tps[i] = rows[i].tp;
        if (!tps || sf_bg_report(cfg, pc, tps, n, status_line, stdout, ierr,
                                 sizeof(ierr)))
            ie = SF_ERR_REDIS;
        free(tps);
    }
    free(rows);
    if (ie) {
        die_line("status", ierr);
        return 1;
    }
    return 0;
}

/* ---- rollback / drop (bluegreen.h) ---------------------------------- */

static int cmd_generation(const opts_t *o, const char *cmd) {
    sf_config_t *cfg = NULL;
    int rc = load(cmd, o, &cfg);
    if (rc)
        return rc;
    const sf_pconf_t *pc = one_projection(cmd, cfg, o);
    if (!pc) {
        rc = 2;
    } else {
        char err[1024];
        int64_t v = 0;
        sf_err_t e = !strcmp(cmd, "rollback")
                         ? sf_bg_rollback(cfg, pc, &v, err, sizeof(err))
                         : sf_bg_drop(cfg, pc, &v, err, sizeof(err));
        if (e) {
            die_line(cmd, err);
            rc = exit_code(e);
        } else if (!strcmp(cmd, "rollback")) {
            fprintf(stderr,
                    "projection %s rolled back: the previous generation "
                    "serves in db %d (live writes paused %" PRId64 " ms)\n",
                    pc->name, pc->db, v);
        } else {
            fprintf(stderr,
                    "projection %s: spare_db %d emptied (%" PRId64 " keys)\n",
                    pc->name, pc->spare_db, v);
        }
    }
    sf_config_destroy(cfg);
    return rc;
}

static int cmd_status(const opts_t *o) {
    sf_config_t *cfg = NULL;
    int rc = load("status", o, &cfg);
    if (rc)
        return rc;
    if (o->nargs) {
        for (int i = 0; i < o->nargs && !rc; i++) {
            const sf_pconf_t *pc = need_projection("status", cfg, o->args[i]);
            rc = pc ? status_one(cfg, pc) : 2;
        }
    } else {
        for (size_t i = 0; i < cfg->nproj && !rc; i++)
            rc = status_one(cfg, &cfg->proj[i]);
    }
    sf_config_destroy(cfg);
    return rc;
}

static int cmd_pause(const opts_t *o, int paused) {
    const char *cmd = paused ? "pause" : "resume";
    sf_config_t *cfg = NULL;
    int rc = load(cmd, o, &cfg);
    if (rc)
        return rc;
    const sf_pconf_t *pc = one_projection(cmd, cfg, o);
    if (!pc) {
        rc = 2;
    } else {
        char err[1024];
        size_t acked = 0;
        sf_err_t e = sf_admin_pause(cfg, pc, paused, 0, o->timeout_s * 1000,
                                    &acked, err, sizeof(err));
        if (e) {
            die_line(cmd, err);
            rc = exit_code(e);
        } else {
            fprintf(stderr,
                    "projection %s %s: acknowledged by %zu "
                    "worker(s)\n",
                    pc->name, paused ? "paused" : "resumed", acked);
        }
    }
    sf_config_destroy(cfg);
    return rc;
}

static int cmd_skip(const opts_t *o) {
    sf_config_t *cfg = NULL;
    int rc = load("skip", o, &cfg);
    if (rc)
        return rc;
    const sf_pconf_t *pc =
        o->nargs == 1 ? need_projection("skip", cfg, o->args[0]) : NULL;
    if (!pc || !o->topic || !o->have_partition || !o->have_offset) {
        if (pc || o->nargs != 1)
            die_line("skip", "usage: skip -c CONFIG PROJECTION -t TOPIC "
                             "-p PARTITION -o OFFSET [--force]");
        rc = 2;
    } else {
        char err[1024];
        sf_skip_info_t si;
        sf_err_t e = sf_admin_skip(cfg, pc, o->topic, o->partition, o->offset,
                                   o->force, &si, err, sizeof(err));
        if (e) {
            die_line("skip", err);
            rc = e == SF_ERR_INVALID_ARG ? 2 : 1;
        } else {
            sf_log("warn",
                   "projection=%s topic=%s partition=%" PRId32
                   " offset=%" PRId64 " previous_checkpoint=%" PRId64
                   " skipped=%" PRId64 " forced=%d skips=%" PRId64
                   " msg=\"checkpoint moved by operator (skip)\"",
                   pc->name, o->topic, o->partition, o->offset, si.prev,
                   si.skipped, o->force, si.count);
        }
    }
    sf_config_destroy(cfg);
    return rc;
}

/* ---- journey -------------------------------------------------------- */

static void journey_emit(void *opaque, const char *json) {
    (void)opaque;
    puts(json);
}

static int cmd_journey(const opts_t *o) {
    sf_config_t *cfg = NULL;
    sf_catalog_t *cat = NULL;
    int rc = load("journey", o, &cfg);
    if (rc)
        return rc;
    const sf_pconf_t *fold = NULL;
    if (!o->topic || o->nargs != 1) {
        die_line("journey", "usage: journey -c CONFIG -t TOPIC AGGREGATE_ID "
                            "[--as-of TIME] [--fold PROJECTION]");
        rc = 2;
    } else if (o->fold && !(fold = need_projection("journey", cfg, o->fold))) {
        rc = 2;
    } else if (o->state && !fold) {
        die_line("journey", "--state needs --fold PROJECTION");
        rc = 2;
    } else if (!(rc = load_catalog("journey", cfg, &cat))) {
        char err[1024];
        int64_t n = 0;
        sf_err_t e =
            sf_journey_run(cfg, cat, o->topic, o->args[0], o->as_of, fold,
                           o->state, journey_emit, NULL, &n, err, sizeof(err));
        if (e) {
            die_line("journey", err);
            rc = exit_code(e);
        } else {
            fprintf(stderr, "journey: %" PRId64 " event(s) of %s\n", n,
                    o->args[0]);
        }
    }
    if (cat)
        sf_catalog_destroy(cat);
    sf_config_destroy(cfg);
    return rc;
}

/* ---- wait (read your own writes) ---------------------------------- */

static int cmd_wait(const opts_t *o) {
    char err[1024];
    if (o->nargs != 2) {
        die_line("wait", "expected PROJECTION TOKEN");
        return 2;
    }
    sf_projector_waiter_t *w = NULL;
    sf_err_t e =
        sf_projector_waiter_new(o->config, o->args[0], &w, err, sizeof(err));
    if (!e)
        e = sf_projector_waiter_wait(w, o->args[1], o->timeout_ms, err,
                                     sizeof(err));
    sf_projector_waiter_destroy(w);
    if (e)
        die_line("wait", err);
    return !e                                       ? 0
           : e == SF_ERR_TIMEOUT                    ? 4
           : e == SF_ERR_REDIS || e == SF_ERR_NOMEM ? 1
                                                    : 2;
}

/* drop --db N: an as-of view (without --db, cmd_generation drops the
 * blue/green spare). */
static int cmd_drop(const sf_config_t *cfg, const sf_pconf_t *pc,
                    const opts_t *o) {
    if (o->db < 0) {
        die_line("drop", "usage: drop -c CONFIG PROJECTION --db N (an as-of "
                         "view made by rebuild --as-of TIME --db N)");
        return 2;
    }
    return sf_cli_drop_asof(cfg, pc, o->db);
}

/* offsets, drop, diff (cli_views.h): one projection, the rest is there */
static int cmd_views(const char *cmd, const opts_t *o) {
    sf_config_t *cfg = NULL;
    int rc = load(cmd, o, &cfg);
    if (rc)
        return rc;
    const sf_pconf_t *pc = one_projection(cmd, cfg, o);
    if (!pc) {
        rc = 2;
    } else if (!strcmp(cmd, "offsets")) {
        rc = sf_cli_offsets(cfg, pc, o->commit_ckpt);
    } else if (!strcmp(cmd, "drop")) {
        rc = cmd_drop(cfg, pc, o);
    } else {
        sf_catalog_t *cat = NULL;
        if (!(rc = load_catalog(cmd, cfg, &cat)) &&
            !(rc = preflight(cmd, cfg, pc, cat)))
            rc = sf_cli_diff(cfg, cat, pc, o->against, o->db, o->max_lines);
        if (cat)
            sf_catalog_destroy(cat);
    }
    sf_config_destroy(cfg);
    return rc;
}

int sf_projector_main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "help")) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    static const char *const known[] = {
        "run",     "rebuild", "status",   "pause", "resume",  "skip",
        "journey", "wait",    "rollback", "drop",  "offsets", "diff"};
    int ok = 0;
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        ok |= !strcmp(cmd, known[i]);
    if (!ok) {
        fprintf(stderr, "sf-projector: unknown command \"%s\" (try --help)\n",
                cmd);
        return 2;
    }
    if (getenv("SF_DEBUG"))
        g_debug = 1;
    sf_projector_set_log_cb(stderr_log);
    opts_t o;
    int rc = parse(cmd, argc - 1, argv + 1, &o);
    if (rc) {
        free(o.X);
        return rc < 0 ? 0 : rc;
    }
    if (!strcmp(cmd, "run"))
        rc = cmd_run(&o);
    else if (!strcmp(cmd, "rebuild"))
        rc = cmd_rebuild(&o);
    else if (!strcmp(cmd, "status"))
        rc = cmd_status(&o);
    else if (!strcmp(cmd, "pause"))
        rc = cmd_pause(&o, 1);
    else if (!strcmp(cmd, "resume"))
        rc = cmd_pause(&o, 0);
    else if (!strcmp(cmd, "skip"))
        rc = cmd_skip(&o);
    else if (!strcmp(cmd, "wait"))
        rc = cmd_wait(&o);
    else if (!strcmp(cmd, "rollback") || (!strcmp(cmd, "drop") && o.db < 0))
        rc = cmd_generation(&o, cmd);
    else if (!strcmp(cmd, "offsets") || !strcmp(cmd, "diff") ||
             !strcmp(cmd, "drop"))
        rc = cmd_views(cmd, &o);
    else
        rc = cmd_journey(&o);
    free(o.X);
    return rc;
}
