/*
 * redis_sink.h - the projector's Redis side: connection, the atomic apply
 * script, fencing epochs, checkpoints and control flags.
 *
 * Key layout (bookkeeping under "sf:<projection>:"):
 *   sf:<p>:epoch:<topic>:<partition>  fencing epoch (INCR on assignment)
 *   sf:<p>:ckpt:<topic>:<partition>   last offset applied whole (absent:
 *                                     none)
 *   sf:<p>:halt:<topic>:<partition>   "<offset> <n>": the event at offset
 *                                     failed after n of its commands were
 *                                     applied, until it is handled
 *   sf:<p>:paused                     "1" while paused (sf-projector pause)
 *
 * The apply script (src/lua/apply.lua, where its rules are spelled out;
 * one EVALSHA per partition batch, a flush's batches pipelined) is the one
 * way events reach Redis, for the live worker and for the rebuild alike.
 * Atomically it:
 *   1. refuses unless the stored epoch equals the token (FENCED, or
 *      EPOCH_LOST when the epoch is older: Redis lost writes);
 *   2. refuses unless the stored checkpoint equals the one the caller
 *      expects (CKPT_MISMATCH: compare-and-set; nothing applied);
 *   3. skips events at or below the checkpoint, and the commands of a
 *      failed event that its progress record says were applied, and
 *      events whose aggregate version is not above the last applied one
 *      (the duplicate rule, dedup.h; versions recorded in the same step);
 *   4. checks what it can foresee of each event (arity, key types,
 *      numbers) before the event's first write, and applies it;
 *   5. sets the checkpoint to the batch's last offset.
 * A failing command stops the script there (EVENT_FAILED): events before
 * it stay applied, the checkpoint is set just below the failed event and
 * the progress record says how many of its commands ran, so no command is
 * ever run twice; the caller dead-letters (or stops on) the event with a
 * reason saying what was applied (sf_apply_describe).
 *
 * Not thread-safe: one sf_redis_t per thread.  Nothing here prints.
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
sf_err_t sf_redis_epoch_bump(sf_redis_t *r, const char *proj, const char *topic,
                             int32_t partition, int64_t *token, char *errstr,
                             size_t errstr_size);
/* The checkpoint (last applied offset) or -1 when there is none. */
sf_err_t sf_redis_ckpt_get(sf_redis_t *r, const char *proj, const char *topic,
                           int32_t partition, int64_t *ckpt, char *errstr,
                           size_t errstr_size);
/* Moves the checkpoint forward to offset (never back).  token < 0 skips the
 * fencing check (operator commands); otherwise SF_ERR_FENCED when stale.
 * *prev (may be NULL) receives the previous checkpoint. */
sf_err_t sf_redis_ckpt_advance(sf_redis_t *r, const char *proj,
                               const char *topic, int32_t partition,
                               int64_t token, int64_t offset, int64_t *prev,
                               char *errstr, size_t errstr_size);
/* expect for sf_redis_ckpt_advance_ver: no compare-and-set */
#define SF_CKPT_ANY INT64_MIN
/* The same, and in the same atomic step raises the version key vkey
 * (vkey_len bytes) of the duplicate rule to vval ("<version>[:<id tag>]",
 * dedup.h) unless it already holds that version or a higher one: the
 * worker passing an event it dead-lettered after it failed in Redis, so
 * that a copy of the event is a duplicate (docs/duplicates.md).  vkey
 * NULL: no version key.  expect: the checkpoint the caller last saw (-1:
 * none); when Redis holds neither it nor offset (it lost writes: an AOF
 * cut, a failover), nothing is written, SF_ERR_STATE is returned and
 * *prev receives the stored checkpoint, so that the caller never jumps
 * over events Redis forgot (docs/idle-rollback.md).  SF_CKPT_ANY: no
 * check. */
sf_err_t sf_redis_ckpt_advance_ver(sf_redis_t *r, const char *proj,
                                   const char *topic, int32_t partition,
                                   int64_t token, int64_t expect,
                                   int64_t offset, const char *vkey,
                                   size_t vkey_len, const char *vval,
                                   int64_t *prev, char *errstr,
                                   size_t errstr_size);
sf_err_t sf_redis_paused(sf_redis_t *r, const char *proj, int *paused,
                         char *errstr, size_t errstr_size);

/* What the apply script did with one partition batch (apply.lua). */
typedef enum sf_apply_status {
    SF_APPLY_OK = 0,        /* applied; checkpoint = the batch's last */
    SF_APPLY_FENCED,        /* a newer owner holds the epoch: drop it */
    SF_APPLY_EPOCH_LOST,    /* the epoch is older than the token: Redis
                               lost writes (docs/exactly-once.md) */
    SF_APPLY_CKPT_MISMATCH, /* the checkpoint is not the expected one
                               (ckpt): nothing applied */
    SF_APPLY_EVENT_FAILED,  /* a command of the event at bad_offset
                               failed: see cmds_* */
    SF_APPLY_NOT_RUN        /* refused before any write (code, retriable) */
} sf_apply_status_t;

typedef struct sf_apply_res {
    sf_apply_status_t status;
    int retriable;             /* NOT_RUN: the same call may succeed later (OOM,
                                  LOADING, BUSY, READONLY...) */
    int64_t applied;           /* OK, EVENT_FAILED: events applied whole (not
                                  skipped) by this call */
    int64_t ckpt;              /* CKPT_MISMATCH: the stored checkpoint;
                                  EVENT_FAILED: the checkpoint left (bad - 1) */
    int64_t epoch;             /* FENCED, EPOCH_LOST: the stored epoch */
    int64_t bad_offset;        /* EVENT_FAILED */
    int cmds_done;             /* EVENT_FAILED: the event's commands applied (in
                                  this and earlier calls), 0: none */
    int cmds_total, cmd_index; /* its commands; the one that failed (1..) */
    int recorded;              /* EVENT_FAILED: progress record written */
    char code[24];             /* Redis error code ("WRONGTYPE", "NOPERM") */
    char msg[256];
    /* OK, EVENT_FAILED: what the duplicate rule met among the events this
     * call passed (sf_dedup_kind_t order: duplicates, conflicts, gaps,
     * unversioned), and the last duplicate and gap as "offset=.. version=..
     * last=.. key=.." ("" when none) */
    int64_t ver[4];
    char ver_dup[200], ver_gap[200];
    /* OK of a request with skip_failed: the events that failed and were
     * passed, each an EVENT_FAILED result (malloc'ed, owned by this
     * result: sf_apply_res_clear) */
    struct sf_apply_res *skipped;
    size_t nskipped;
} sf_apply_res_t;

/* Frees what a result owns (skipped); the result may be reused. */
void sf_apply_res_clear(sf_apply_res_t *res);

/* One partition batch to apply.  batch is borrowed for the call. */
typedef struct sf_apply_req {
    sf_batch_t *batch;
    const char *topic;
    int32_t partition;
    int64_t token;         /* fencing token (epoch) of the caller */
    int64_t expected_ckpt; /* the checkpoint the caller last saw; -1 none */
    int skip_failed;       /* 0: stop at a failed event (EVENT_FAILED);
                              1: report it in skipped and go on (rebuild,
                              which counts it and dead-letters nothing) */
} sf_apply_req_t;

const char *sf_apply_status_name(sf_apply_status_t s);
/* One line for logs and dead-letter reasons: what failed and what of the
 * event, if anything, was applied.  Returns the length written. */
size_t sf_apply_describe(const sf_apply_res_t *res, char *buf, size_t size);

/* One apply-script call per request, pipelined.  res[i] are overwritten
 * (clear them first when they own skipped events).  Returns SF_ERR_REDIS when
 * the connection failed (nothing is known: reconnect, re-read the
 * checkpoint or re-send, the compare-and-set makes either safe); otherwise
 * SF_OK and res[i] per request (NOSCRIPT is handled here). */
sf_err_t sf_redis_apply(sf_redis_t *r, const char *proj, size_t n,
                        const sf_apply_req_t *reqs, sf_apply_res_t *res,
                        char *errstr, size_t errstr_size);

/* The two halves of sf_redis_apply(), for pipelining across flushes:
 * send writes the scripts out without waiting; recv reads n replies (no
 * NOSCRIPT handling: such a result is NOT_RUN with code "NOSCRIPT", call
 * sf_redis_reload_scripts() and re-send). */
sf_err_t sf_redis_apply_send(sf_redis_t *r, const char *proj, size_t n,
                             const sf_apply_req_t *reqs, char *errstr,
                             size_t errstr_size);
sf_err_t sf_redis_apply_recv(sf_redis_t *r, size_t n, sf_apply_res_t *res,
                             char *errstr, size_t errstr_size);
sf_err_t sf_redis_reload_scripts(sf_redis_t *r, char *errstr,
                                 size_t errstr_size);
/* The full apply script as loaded (command table + apply.lua), owned by r;
 * NULL when out of memory.  For tests and `--dump`-like tooling. */
const char *sf_redis_apply_source(sf_redis_t *r);

/* SCAN MATCH pattern + UNLINK, in chunks; *deleted counts the keys. */
sf_err_t sf_redis_clear(sf_redis_t *r, const char *pattern, int64_t *deleted,
                        char *errstr, size_t errstr_size);
/* The same, deleting only the keys may_delete(opaque, key, len) accepts
 * (non-zero); the others are counted in *spared (may be NULL).  Redis'
 * SCAN MATCH decides which keys are looked at, may_delete which go: a
 * second opinion, so that no pattern quirk deletes what it must not. */
sf_err_t sf_redis_clear_filtered(
    sf_redis_t *r, const char *pattern,
    int (*may_delete)(void *opaque, const char *key, size_t len), void *opaque,
    int64_t *deleted, int64_t *spared, char *errstr, size_t errstr_size);

/* The same, each UNLINK made conditional on guard_key still holding
 * guard_val (checked in the same atomic step, a Lua script): the rebuild
 * passes its marker, so a rebuild another `rebuild --force` replaced
 * deletes nothing more.  SF_ERR_FENCED, naming the guard, once it does not
 * hold; the keys deleted before that are counted in *deleted.
 * guard_key NULL: unconditional (sf_redis_clear_filtered). */
sf_err_t sf_redis_clear_guarded(
    sf_redis_t *r, const char *pattern,
    int (*may_delete)(void *opaque, const char *key, size_t len), void *opaque,
    const char *guard_key, const char *guard_val, int64_t *deleted,
    int64_t *spared, char *errstr, size_t errstr_size);
/* UNLINKs keys[0..n) (NUL-terminated names) if guard_key holds guard_val,
 * atomically; SF_ERR_FENCED otherwise.  *deleted (may be NULL) counts. */
sf_err_t sf_redis_unlink_guarded(sf_redis_t *r, const char *guard_key,
                                 const char *guard_val, size_t n,
                                 const char **keys, int64_t *deleted,
                                 char *errstr, size_t errstr_size);

#endif
