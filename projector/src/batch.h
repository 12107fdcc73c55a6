/*
 * batch.h - the pending Redis work of ONE partition (sf_batch_t of the
 * public API), laid out exactly as the apply script reads it:
 *
 *   per event:   <offset> <ncmds> then per command: <nargs> <arg>...
 *
 * Events are opened with sf_batch_event_begin(), receive commands, and are
 * closed with sf_batch_event_end() (or rolled back to "no commands" with
 * sf_batch_event_abort(), e.g. for a dead-lettered event, which still
 * counts so the checkpoint moves past it).
 *
 * Not thread-safe; one batch per partition per worker thread.
 */
#ifndef SF_PROJ_BATCH_H
#define SF_PROJ_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "sf_projector.h"
#include "util.h"

struct sf_keyguard;

struct sf_batch_s {
    /* Keys every command must respect (keys.h); NULL: unchecked.  Set by
     * sf_projection_process for the event being built. */
    struct sf_keyguard *guard;
    sf_buf_t data;       /* argument bytes */
    size_t *aoff, *alen; /* argument i = data.p[aoff[i] .. +alen[i]) */
    size_t nargs, acap;
    /* current event */
    int in_event;
    size_t ev_ncmd_arg, ev_ncmd, ev_data_mark, ev_args_mark;
    size_t cmd_a0, cmd_argc; /* current command: first argument, count */
    /* totals */
    size_t nevents, ncmds;
    int64_t first_offset, last_offset, last_ts;
    /* The duplicate rule (dedup.h): dedup non-zero when the projection
     * applies it; per versioned event an entry, its strings in vdata. */
    int dedup;
    sf_buf_t vdata;
    struct sf_dedup_entry *vent;
    size_t nvent, vcap;
    /* A folded batch (fold.h): the batch it was folded from (NULL: not a
     * folded one); sent in the apply script's mode "fold". */
    struct sf_batch_s *unfolded;
    /* argv built for sending (sf_batch_argv) */
    const char **argv;
    size_t *argvlen, argv_cap;
};

/* SF_BATCH_KEEP: what a reset batch keeps allocated for its next use.
 * Each of its arrays is released when it is larger than the floor below
 * and more than four times what the use just ended needed; otherwise it is
 * kept.  Kept at their high-water marks, the 48 buffers of a 12-partition
 * rebuild (two per partition, and their folded copies) grew the RSS with
 * the length of the replay: one partition's batch can hold a whole flush
 * (20,000 events) when the consumer delivers a partition at a time, and
 * over millions of events each buffer met such a flush in turn (heaptrack:
 * sf_batch_arg and sf_buf_reserve at the peak).  Now each buffer stays
 * near what it usually holds. */
#define SF_BATCH_KEEP_BYTES ((size_t)64 << 10)
#define SF_BATCH_KEEP_ARGS  ((size_t)4096)
static inline int sf_batch_oversized(size_t cap, size_t used, size_t floor) {
    return cap > floor && cap / 4 > used;
}

void sf_batch_init(sf_batch_t *b);
void sf_batch_reset(sf_batch_t *b);
void sf_batch_free(sf_batch_t *b);

sf_err_t sf_batch_event_begin(sf_batch_t *b, int64_t offset, int64_t ts);
sf_err_t sf_batch_event_end(sf_batch_t *b);
/* Discards the current event's commands; the event stays with 0 commands. */
sf_err_t sf_batch_event_abort(sf_batch_t *b);

/* Raw command building (no allow-list check; rules check at parse time):
 * sf_batch_cmd_begin(nargs) then exactly nargs sf_batch_arg() calls. */
sf_err_t sf_batch_cmd_begin(sf_batch_t *b, size_t nargs);
sf_err_t sf_batch_arg(sf_batch_t *b, const void *data, size_t len);
/* Checks the command just completed against the command table (cmdspec.h:
 * allowed, arity, size, no bookkeeping key) and, when b->guard is set, its
 * keys against the guard (a violation is noted in the guard for the
 * event), in one pass.  SF_ERR_RULE with a reason. */
sf_err_t sf_batch_cmd_check(sf_batch_t *b, char *errstr, size_t errstr_size);

/* Checks the keys of the command whose nargs arguments start at argument
 * index arg0 against b->guard (SF_OK without a guard); on a violation the
 * guard remembers it for the event and SF_ERR_RULE names the key. */
sf_err_t sf_batch_check_cmd(sf_batch_t *b, size_t arg0, size_t nargs,
                            char *errstr, size_t errstr_size);

/* Walks the commands of b in order.  Start with it zeroed; each call
 * returns 1 and sets *offset (the event's), *argc and *arg0 (index of the
 * command name in aoff/alen), or 0 at the end. */
typedef struct sf_batch_iter {
    size_t i, cmds_left;
    int64_t offset;
} sf_batch_iter_t;
int sf_batch_next_cmd(const sf_batch_t *b, sf_batch_iter_t *it, int64_t *offset,
                      size_t *argc, size_t *arg0);

/* Builds argv/argvlen (owned by b, valid until the next change) with
 * `prefix` empty leading slots for the caller to fill (EVALSHA, sha, keys,
 * token, last offset).  Returns the total argc. */
size_t sf_batch_argv(sf_batch_t *b, size_t prefix, const char ***argv,
                     size_t **argvlen);

#endif
