/*
 * fold.h - fewer Redis commands than events: a partition batch whose
 * commands on one key are folded into one before it is sent (docs/fold.md).
 *
 * The rule.  A CHAIN is a run of events, each with exactly ONE command,
 * all of the same name (byte for byte) and of a foldable kind of the
 * command table (cmdspec.h, sf_cmd_fold_t) on the same key (and, for
 * HINCRBY, the same field), such that no other command of the batch
 * touches that key between its first and last event.  The chain's first
 * event (its head) carries the folded command; every later member carries
 * instead a marker, a one-argument command "#<head offset>", which the
 * apply script (mode "fold", apply.lua) reads as "this event's fate is the
 * head's": applied with it, or failed with the head's reason.
 *
 * Why this is exact (the same view, the same per-event outcome, the same
 * versions recorded, as applying the events one by one):
 *  - order: the folded command runs at the head's place, earlier than the
 *    later members' commands would; only commands on other keys lie in
 *    between, and commands on different keys commute.  HINCRBY chains of
 *    different fields of one hash also commute.
 *  - outcome: a command of these kinds fails only for what the key holds
 *    (WRONGTYPE, a field that is not an integer) or for the ACL (per key
 *    and command name); all members meet the same key state (nothing
 *    else touched it, a failed command changes nothing) with the same
 *    name, so either all succeed, or all fail with the head's error.
 *    One event, one command: a member's failure is its whole event's
 *    ("done 0 of 1"), as the script reports it unfolded.  The one
 *    exception is integer overflow, which depends on the partial sums:
 *    increments are folded only while the absolute values in a chain sum
 *    to at most SF_FOLD_MAX_ABS, and the script refuses to vouch (status
 *    "SFFOLDUNSURE", the rebuild stops) if a folded counter ends within
 *    2^62 of the 64-bit limit or overflows.
 *  - duplicates: a duplicate member (the duplicate rule, dedup.h) must
 *    not be applied, but its command would be inside the head's.  The
 *    script refuses a folded batch in which any event is a duplicate,
 *    before its first write (error "SFFOLD ..."), and the caller sends the
 *    batch unfolded.  Likewise for a batch starting at or below the
 *    checkpoint or meeting a progress record of a failed event.
 *  - failures elsewhere: the script in mode "fold" passes a failed event
 *    and goes on (like mode "skip"), so events between a head and its
 *    members never stop the batch half way; there is no fold in mode
 *    "stop" (on_error: stop).
 *
 * Not thread-safe; one sf_fold_t per batch buffer.  Nothing here prints.
 */
#ifndef SF_PROJ_FOLD_H
#define SF_PROJ_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"

/* Largest sum of absolute increments one folded SUM command stands for
 * (2^41): with the script's check of the result (|value| < 2^62), no
 * partial sum of the unfolded commands can overflow 64 bits. */
#define SF_FOLD_MAX_ABS (INT64_C(1) << 41)

typedef struct sf_fold_stats {
    int64_t events;   /* events folded batches held */
    int64_t cmds_in;  /* their commands before folding */
    int64_t cmds_out; /* Redis commands sent for them (markers excluded) */
} sf_fold_stats_t;

/* The scratch of sf_fold_batch, kept between calls so that folding
 * allocates nothing once warm; one is enough for any number of batches
 * (it holds nothing after the call returns). */
struct sf_fold_ent;
typedef struct sf_fold {
    struct sf_fold_ev *ev;
    size_t evcap;
    struct sf_fold_chain *ch;
    size_t chcap;
    int32_t *tab; /* open addressing: key (field) -> entry */
    size_t tabcap;
    struct sf_fold_ent *ent;
    size_t entcap;
} sf_fold_t;

void sf_fold_init(sf_fold_t *f);
void sf_fold_free(sf_fold_t *f);

/* Folds b (complete: no event open) into out (an initialised batch of
 * the caller's, reset first), using f's scratch.  *send is out when at
 * least one command was folded away (out->unfolded is then b: b must stay
 * as it is while out is in use), else b itself (nothing to gain: send it
 * as it is).  st (may be NULL) is added to when folded.  SF_ERR_NOMEM
 * (*send = b: send it unfolded). */
sf_err_t sf_fold_batch(sf_fold_t *f, sf_batch_t *b, sf_batch_t *out,
                       sf_batch_t **send, sf_fold_stats_t *st);

/* The batch b was applied or abandoned: resets it and, when it is a
 * folded batch, the batch it was folded from. */
void sf_fold_done(sf_batch_t *b);

#endif
