/*
 * redis_sink.h - the projector's Redis side: connection, the atomic apply
 * script, fencing epochs, checkpoints and control flags.
 *
 * Key layout (bookkeeping under "sf:<projection>:"):
 *   sf:<p>:epoch:<topic>:<partition>  fencing epoch (INCR on assignment)
 *   sf:<p>:ckpt:<topic>:<partition>   last applied offset (absent: none)
 *   sf:<p>:halt:<topic>:<partition>   offset of an event whose command
 *                                     failed, until handled (see below)
 *   sf:<p>:paused                     "1" while paused (sf-projector pause)
 *
 * The apply script (one EVALSHA per partition batch, all batches of a
 * flush pipelined) runs atomically:
 *   1. refuses with "FENCED" unless the stored epoch equals the token;
 *   2. skips events at or below the checkpoint;
 *   3. applies the remaining events' commands;
 *   4. sets the checkpoint to the batch's last offset.
 * If a command fails (e.g. WRONGTYPE), the script stops there, sets the
 * checkpoint just below the failing event, records it in the halt key and
 * reports its offset: events before it stay applied exactly once; the
 * failing event's own earlier commands may have been applied (Redis
 * scripts do not roll back).  While the halt key is set, batches that
 * start after it are refused (HALTED, SF_ERR_STATE), so pipelined batches
 * cannot jump the gap; sf_redis_ckpt_advance() past it clears it.
 *
 * Not thread-safe: one sf_redis_t per thread.
 */
#ifndef SF_PROJ_REDIS_SINK_H
#define SF_PROJ_REDIS_SINK_H

#include <stdint.h>

#include <hiredis/hiredis.h>

#include "batch.h"
#include "redis_conn.h"

typedef struct sf_redis sf_redis_t;

/* Connects (redis_conn.h: socket or TCP, TLS, AUTH, SELECT; then SCRIPT
 * LOAD).  conf is copied.  SF_ERR_REDIS when unreachable (*out is set
 * anyway so the caller can retry with sf_redis_reconnect);
 * SF_ERR_CONFIG when refused for good (credentials, certificate). */
sf_err_t sf_redis_connect(const sf_redis_conf_t *conf, sf_redis_t **out,
                          char *errstr, size_t errstr_size);
void sf_redis_destroy(sf_redis_t *r);
/* Drops and re-establishes the connection. */
sf_err_t sf_redis_reconnect(sf_redis_t *r, char *errstr, size_t errstr_size);
redisContext *sf_redis_ctx(sf_redis_t *r);

/* One command (redisCommand format).  SF_ERR_REDIS on I/O errors (the
 * connection is then broken: reconnect), SF_ERR_REDIS_REPLY on an error
 * reply.  *reply (may be NULL to discard) is freed with freeReplyObject. */
sf_err_t sf_redis_cmd(sf_redis_t *r, redisReply **reply, char *errstr,
                      size_t errstr_size, const char *fmt, ...);

/* Bookkeeping keys. */
void sf_redis_key(char *buf, size_t size, const char *proj, const char *what,
                  const char *topic, int32_t partition);

/* INCR of the partition's epoch: the new token. */
sf_err_t sf_redis_epoch_bump(sf_redis_t *r, const char *proj,
                             const char *topic, int32_t partition,
                             int64_t *token, char *errstr,
                             size_t errstr_size);
/* The checkpoint (last applied offset) or -1 when there is none. */
sf_err_t sf_redis_ckpt_get(sf_redis_t *r, const char *proj,
                           const char *topic, int32_t partition,
                           int64_t *ckpt, char *errstr, size_t errstr_size);
/* Moves the checkpoint forward to offset (never back).  token < 0 skips the
 * fencing check (operator commands); otherwise SF_ERR_FENCED when stale.
 * *prev (may be NULL) receives the previous checkpoint. */
sf_err_t sf_redis_ckpt_advance(sf_redis_t *r, const char *proj,
                               const char *topic, int32_t partition,
                               int64_t token, int64_t offset, int64_t *prev,
                               char *errstr, size_t errstr_size);
sf_err_t sf_redis_paused(sf_redis_t *r, const char *proj, int *paused,
                         char *errstr, size_t errstr_size);

/* What happened to one partition batch in sf_redis_apply(). */
typedef struct sf_apply_res {
    sf_err_t err;        /* SF_OK, SF_ERR_FENCED, SF_ERR_RULE (command
                            failed at bad_offset), SF_ERR_STATE (halted
                            behind a failed event), SF_ERR_REDIS_REPLY */
    int64_t applied;     /* events applied (not skipped) */
    int64_t bad_offset;  /* with SF_ERR_RULE */
    char msg[256];
} sf_apply_res_t;

/* One apply-script call per batch, pipelined.  tokens[i] and topics[i] /
 * partitions[i] belong to batches[i].  Returns SF_ERR_REDIS when the
 * connection failed (nothing is known: retry all after reconnecting; the
 * checkpoint makes the retry safe); otherwise SF_OK and res[i] per batch. */
sf_err_t sf_redis_apply(sf_redis_t *r, const char *proj, size_t n,
                        sf_batch_t *const *batches, const char *const *topics,
                        const int32_t *partitions, const int64_t *tokens,
                        sf_apply_res_t *res, char *errstr,
                        size_t errstr_size);

/* The two halves of sf_redis_apply(), for pipelining across flushes:
 * send writes the scripts out without waiting; recv reads n replies (no
 * NOSCRIPT handling: such a result has err SF_ERR_REDIS_REPLY and msg
 * "NOSCRIPT...", call sf_redis_reload_scripts() and re-send). */
sf_err_t sf_redis_apply_send(sf_redis_t *r, const char *proj, size_t n,
                             sf_batch_t *const *batches,
                             const char *const *topics,
                             const int32_t *partitions, const int64_t *tokens,
                             char *errstr, size_t errstr_size);
sf_err_t sf_redis_apply_recv(sf_redis_t *r, size_t n, sf_apply_res_t *res,
                             char *errstr, size_t errstr_size);
sf_err_t sf_redis_reload_scripts(sf_redis_t *r, char *errstr,
                                 size_t errstr_size);

/* ---- transaction path (rebuild) -------------------------------------
 * Plain commands in MULTI/EXEC cost Redis a fraction of redis.call() from
 * Lua, so the rebuild replays with optimistic locking instead of the apply
 * script:
 *   WATCH <every partition's epoch key>; MGET <same>   (watch_send)
 *   -> the caller checks the epochs equal its tokens    (watch_recv)
 *   MULTI; <the batches' commands>; SET <ckpt> <last> per batch; EXEC
 *                                                       (txn_send)
 * EXEC fails (nil) when any epoch changed after the WATCH: fenced.  A
 * command error inside EXEC does not stop the others (the event counts as
 * poison; the checkpoint still moves).  The replies are read later
 * (txn_recv), after the next batches were built; the next WATCH is sent
 * right behind the EXEC. */
sf_err_t sf_redis_watch_send(sf_redis_t *r, const char *proj, size_t n,
                             const char *const *topics,
                             const int32_t *partitions, char *errstr,
                             size_t errstr_size);
/* SF_ERR_FENCED when an epoch differs from tokens[i]. */
sf_err_t sf_redis_watch_recv(sf_redis_t *r, size_t n, const int64_t *tokens,
                             char *errstr, size_t errstr_size);
sf_err_t sf_redis_txn_send(sf_redis_t *r, const char *proj, size_t n,
                           sf_batch_t *const *batches,
                           const char *const *topics,
                           const int32_t *partitions, char *errstr,
                           size_t errstr_size);
/* Reads the MULTI/QUEUED/EXEC replies of a txn_send of the same batches.
 * SF_ERR_FENCED (EXEC refused), SF_ERR_REDIS_REPLY (transaction aborted,
 * nothing applied), SF_ERR_REDIS (connection).  On SF_OK, poison(opaque,
 * i, offset, msg) is called for each command that failed (batch i). */
sf_err_t sf_redis_txn_recv(sf_redis_t *r, size_t n,
                           sf_batch_t *const *batches,
                           void (*poison)(void *opaque, size_t i,
                                          int64_t offset, const char *msg),
                           void *opaque, char *errstr, size_t errstr_size);

/* SCAN MATCH pattern + UNLINK, in chunks; *deleted counts the keys. */
sf_err_t sf_redis_clear(sf_redis_t *r, const char *pattern, int64_t *deleted,
                        char *errstr, size_t errstr_size);

#endif
