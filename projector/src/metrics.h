/*
 * metrics.h - projector-internal metrics registry, Prometheus rendering and
 * the HTTP endpoint that serves it (/metrics, /healthz, /readyz).
 *
 * Internal to projector/ (not installed).  Owner: projector-ops.
 *
 * The worker reports what happens (events applied, batches committed,
 * errors, dead letters, fenced batches, per-partition checkpoint and high
 * watermark, main-loop heartbeats); the registry turns that into the
 * Prometheus text exposition format 0.0.4.  Every series carries a
 * `projection` label; per-partition series also carry `topic` and
 * `partition`.  Label values are escaped (\\ \" \n) as the format requires.
 *
 * Series (all prefixed streamfold_):
 *   events_applied_total{projection}            counter
 *   batches_committed_total{projection}         counter
 *   errors_total{projection,kind}               counter; kind is the
 *       lower-case sf_err_t name without "SF_ERR_" ("redis", "rule",
 *       "unknown_fingerprint", ...) so cardinality stays bounded
 *   dead_lettered_total{projection}             counter
 *   dedup_events_total{projection,kind}         counter; kind: duplicate,
 *       conflict, gap, unversioned (the duplicate rule, dedup.h)
 *   fenced_batches_total{projection}            counter (writes refused
 *       because this worker no longer owns the partition)
 *   checkpoint_mismatch_total{projection}       counter (batches refused
 *       because Redis' checkpoint was not the expected one: lost writes)
 *   batch_latency_seconds{projection}           histogram (buckets below);
 *       per projection, not per partition, because one atomic Redis batch
 *       may carry several partitions
 *   checkpoint_offset{projection,topic,partition}   gauge: next offset to
 *       read, as committed to Redis
 *   high_watermark{projection,topic,partition}      gauge
 *   lag_events{projection,topic,partition}          gauge: high watermark -
 *       checkpoint, never below 0 (absent until both are known)
 *   lag_seconds{projection,topic,partition}         gauge: age of the
 *       oldest event not applied yet (the oldest consumed but unapplied
 *       record, else the last applied one, else since lag was first
 *       seen); 0 when caught up.  Both lag series exist from assignment
 *       on (the worker reports the Redis checkpoint and watermarks then).
 *   offset_commits_total{projection}            counter (commits.h)
 *   offset_commit_failures_total{projection}    counter (harmless)
 *   assignments_lost_total{projection}          counter
 *   partitions_unowned{projection}              gauge (ownership.h)
 *   partition_assigned{projection,topic,partition}  gauge 1 (series of a
 *       revoked partition are removed)
 *   projection_ready{projection}                gauge 0/1
 *   offset_reset_rebuilds_total{projection}     counter (offsets.h)
 *   offsets_refused{projection}                 gauge 0/1: an external
 *       offset reset keeps the projection from starting (not ready)
 *   redis_up                                    gauge 0/1
 *   up                                          gauge 1 (process alive)
 *   last_heartbeat_age_seconds                  gauge
 *
 * Readiness: ready when no partition is fenced or stuck (lag > 0 and no
 * progress for stuck_after, default 60 s, not counting operator pauses),
 * no projection's dead-lettering is failing, Redis is reachable
 * (sf_metrics_redis_up(m, 1)), every projection registered with
 * sf_metrics_projection_add() has been marked polled/assigned
 * (sf_metrics_projection_polled), and the worker is not draining.  The
 * reasons ("; "-separated) go into the /readyz body.  Liveness: a heartbeat
 * (sf_metrics_heartbeat) within the liveness timeout (default 30 s).  Before
 * the first heartbeat the process counts as live for one timeout after
 * sf_metrics_new() (startup grace).
 *
 * Ownership: projection/topic names are copied.  Unknown projections or
 * partitions passed to the reporting calls are created on first use.
 *
 * Threading: every function is thread-safe (one internal mutex); the
 * reporting calls are cheap (a lookup in a small table) and may be called
 * from any worker thread while the HTTP thread renders.
 *
 * Errors: the reporting calls cannot fail in a way the worker must handle
 * (on allocation failure the sample is dropped); sf_metrics_new returns NULL
 * on allocation failure; rendering and the HTTP server return sf_err_t and
 * fill errstr.  Nothing here prints or exits.
 */
#ifndef SF_PROJECTOR_METRICS_H
#define SF_PROJECTOR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "sf_core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sf_metrics_s sf_metrics_t;

/* Upper bounds (seconds) of the batch latency histogram; +Inf is implicit. */
#define SF_METRICS_LATENCY_BUCKETS                                            \
    {                                                                         \
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, \
            2.5, 5.0, 10.0                                                    \
    }
#define SF_METRICS_LATENCY_NBUCKETS 14

/* A new, empty registry (NULL on allocation failure).  Free with
 * sf_metrics_destroy() after sf_http_stop() of any server using it. */
sf_metrics_t *sf_metrics_new(void);
void sf_metrics_destroy(sf_metrics_t *m);

/* Test hook: replaces the clock (milliseconds since the Unix epoch) used for
 * lag seconds and liveness.  NULL restores the real clock. */
void sf_metrics_set_clock(sf_metrics_t *m, int64_t (*now_ms)(void *opaque),
                          void *opaque);

/* Liveness timeout in seconds (default 30, must be > 0). */
void sf_metrics_set_liveness_timeout(sf_metrics_t *m, double seconds);
/* A partition with lag that made no progress for this long is "stuck"
 * (default 60 s, must be > 0; config metrics.stuck_after). */
void sf_metrics_set_stuck_after(sf_metrics_t *m, double seconds);

/* ---- per projection ------------------------------------------------ */

/* Declares a projection this process runs: readiness waits for it. */
void sf_metrics_projection_add(sf_metrics_t *m, const char *projection);
/* The projection's consumer has been polled at least once or has received
 * an assignment (readiness). */
void sf_metrics_projection_polled(sf_metrics_t *m, const char *projection);

void sf_metrics_events_applied(sf_metrics_t *m, const char *projection,
                               uint64_t n);
/* One batch committed atomically to Redis, taking `seconds` from the first
 * event consumed to the EXEC reply: counts the batch and observes the
 * latency histogram. */
void sf_metrics_batch_committed(sf_metrics_t *m, const char *projection,
                                double seconds);
void sf_metrics_error(sf_metrics_t *m, const char *projection, sf_err_t kind);
void sf_metrics_dead_lettered(sf_metrics_t *m, const char *projection,
                              uint64_t n);
/* n events met by the duplicate rule; kind is an sf_dedup_kind_t. */
void sf_metrics_dedup(sf_metrics_t *m, const char *projection, int kind,
                      uint64_t n);
/* A batch refused because the worker was fenced (its epoch is stale). */
void sf_metrics_fenced(sf_metrics_t *m, const char *projection);
/* A batch refused because Redis' checkpoint differed from the expected. */
void sf_metrics_checkpoint_mismatch(sf_metrics_t *m, const char *projection);

/* The group's offsets were reset outside sf-projector (offsets.h): why
 * (copied) while the projection is refused, not ready; NULL clears it. */
void sf_metrics_offsets_refused(sf_metrics_t *m, const char *projection,
                                const char *why);
/* A rebuild run because every partition was reset to the earliest. */
void sf_metrics_offset_reset_rebuild(sf_metrics_t *m, const char *projection);
/* An offset commit to the consumer group succeeded (ok) or failed. */
void sf_metrics_offset_commit(sf_metrics_t *m, const char *projection, int ok);
/* The consumer lost its assignment (rd_kafka_assignment_lost). */
void sf_metrics_assignment_lost(sf_metrics_t *m, const char *projection);
/* Partitions with lag that no member owned past the grace period. */
void sf_metrics_partitions_unowned(sf_metrics_t *m, const char *projection,
                                   uint64_t n);

/* ---- per partition ------------------------------------------------- */

void sf_metrics_partition_assigned(sf_metrics_t *m, const char *projection,
                                   const char *topic, int32_t partition);
/* Removes the partition's series (revoked / lost). */
void sf_metrics_partition_revoked(sf_metrics_t *m, const char *projection,
                                  const char *topic, int32_t partition);
/* After a commit: checkpoint = next offset to read; event_ts_ms = Kafka
 * timestamp of the last applied event (ms since epoch, <= 0 if unknown). */
void sf_metrics_partition_checkpoint(sf_metrics_t *m, const char *projection,
                                     const char *topic, int32_t partition,
                                     int64_t checkpoint, int64_t event_ts_ms);
/* High watermark (end offset) as seen by the consumer. */
void sf_metrics_partition_watermark(sf_metrics_t *m, const char *projection,
                                    const char *topic, int32_t partition,
                                    int64_t high);
/* A record was consumed but is not applied yet: Kafka time of the oldest
 * such record (kept until the checkpoint moves), for lag_seconds. */
void sf_metrics_partition_pending(sf_metrics_t *m, const char *projection,
                                  const char *topic, int32_t partition,
                                  int64_t event_ts_ms);
/* The partition's writes are refused (stale epoch) / allowed again. */
void sf_metrics_partition_fenced(sf_metrics_t *m, const char *projection,
                                 const char *topic, int32_t partition,
                                 int fenced);
/* The operator paused / resumed the projection (not stuck while paused). */
void sf_metrics_projection_paused(sf_metrics_t *m, const char *projection,
                                  int paused);
/* Dead-lettering fails (retrying) / works again. */
void sf_metrics_dlq_failing(sf_metrics_t *m, const char *projection,
                            int failing);
/* "fenced", "paused", "dlq-failing", "stuck" (lag > 0 and no progress for
 * stuck_after) or "ok" (also for an unknown partition); static text. */
const char *sf_metrics_partition_state(sf_metrics_t *m, const char *projection,
                                       const char *topic, int32_t partition);

/* ---- process ------------------------------------------------------- */

/* Main loop heartbeat (liveness). */
void sf_metrics_heartbeat(sf_metrics_t *m);
/* Redis reachability as last seen (readiness). */
void sf_metrics_redis_up(sf_metrics_t *m, int up);
/* Shutting down: readiness turns false, liveness unaffected. */
void sf_metrics_set_draining(sf_metrics_t *m, int draining);

/* Non-zero when live / ready.  When not ready and why is not NULL, a short
 * reason ("redis down", "projection carts not polled yet") is written. */
int sf_metrics_is_live(sf_metrics_t *m);
int sf_metrics_is_ready(sf_metrics_t *m, char *why, size_t why_size);

/* Snapshot reads for tests and `status`-like callers (0 if unknown). */
uint64_t sf_metrics_events_applied_get(sf_metrics_t *m, const char *projection);
uint64_t sf_metrics_fenced_get(sf_metrics_t *m, const char *projection);

/* Renders every series in the Prometheus text format 0.0.4 (content type
 * "text/plain; version=0.0.4; charset=utf-8").  *out is malloc()ed and
 * NUL-terminated, *out_len excludes the NUL; the caller frees it. */
sf_err_t sf_metrics_render(sf_metrics_t *m, char **out, size_t *out_len,
                           char *errstr, size_t errstr_size);

/* Escapes a label value (\\ -> \\\\, " -> \", newline -> \n) into dst
 * (always NUL-terminated).  Returns the length the full escape needs,
 * excluding the NUL (like snprintf). */
size_t sf_metrics_escape_label(char *dst, size_t dst_size, const char *src);

/* ---- HTTP endpoint (http.c) ---------------------------------------- */

/*
 * An HTTP/1.1 server on libmicrohttpd running in its OWN internal thread
 * (MHD_USE_INTERNAL_POLLING_THREAD): the worker's threads are never used to
 * serve requests.  Routes (GET or HEAD):
 *   /metrics  200, Prometheus text 0.0.4
 *   /healthz  200 "ok" when live, else 503 with the reason
 *   /readyz   200 "ready" when ready, else 503 with the reason
 *   other     404
 * listen is "HOST:PORT" (IPv4 literal or "localhost"; "[::1]:P" for IPv6;
 * an empty HOST means 127.0.0.1, never every interface); port 0 picks a
 * free port, see sf_http_port().  Up to 1000 connections (half the file
 * descriptor limit when that is lower), 5 s inactivity timeout: slow or
 * idle clients do not lock probes out (design note in http.c).  The registry
 * must outlive the server.
 */
typedef struct sf_http_s sf_http_t;

sf_err_t sf_http_start(sf_metrics_t *m, const char *listen, sf_http_t **httpp,
                       char *errstr, size_t errstr_size);
/* The bound TCP port. */
int sf_http_port(const sf_http_t *h);
/* Stops the server thread and frees h (NULL is a no-op). */
void sf_http_stop(sf_http_t *h);

#ifdef __cplusplus
}
#endif
#endif /* SF_PROJECTOR_METRICS_H */
