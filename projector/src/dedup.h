/*
 * dedup.h - the duplicate rule, C side: which events carry an aggregate
 * version, the version entries a batch sends to the apply script, and
 * what the worker makes of the script's counts (docs/duplicates.md).
 *
 * The rule itself runs inside the apply script (src/lua/apply.lua, the
 * block "Duplicate rule"), atomically with the event's writes:
 *   - per projection, topic, partition and aggregate the last applied
 *     version is kept in sf:<p>:ver:<topic>:<partition>:{<aggregate id>}
 *     as "<version>[:<id tag>]";
 *   - an event whose version (ce_sequence) is <= that one is a duplicate:
 *     not applied, passed by the checkpoint, counted;
 *   - a version above last + 1 is a gap: applied, counted;
 *   - an event without ce_sequence is applied per offset as before and
 *     counted as unversioned.
 * The id tag (8 hex digits of FNV-1a 32 over ce_id) lets the script tell a
 * re-sent event (same ce_id) from two writers that gave the same version
 * to different events (a "conflict", counted apart).
 *
 * Why per partition: Kafka orders records only within a partition.  An
 * aggregate whose events sit in two partitions (a producer whose record
 * key is not the aggregate id, a null key, partitions added to the
 * topic) has no order across them; a version kept across partitions
 * would judge an event by whichever partition was read first, so live,
 * rebuild and journey could drop different events of the same log.  Per
 * partition every verdict is a function of that partition's log alone.
 * A retried publish (same key) lands in the partition of the original,
 * so a duplicate is still caught; only a copy written to another
 * partition than its original escapes the rule.
 *
 * Threading: none of its own; a batch belongs to one thread.  Nothing
 * here prints.
 */
#ifndef SF_PROJ_DEDUP_H
#define SF_PROJ_DEDUP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "batch.h"
#include "config.h"
#include "event.h"
#include "kmeta.h"

/* Largest version accepted: the apply script compares versions as Lua
 * numbers (doubles), exact up to 2^53. */
#define SF_DEDUP_MAX_VERSION 9007199254740992LL

/* ce_sequence bytes s[0..len): 1 and *v for a decimal 1..2^53 (digits
 * only, no sign, no spaces, no leading zero); 0 when empty (no version);
 * -1 when malformed. */
int sf_dedup_parse_version(const char *s, size_t len, int64_t *v);

/* The version key of an aggregate into out (reset first):
 * sf:<proj>:ver:<topic>:<partition>:{<aggregate id bytes>}.  The braces
 * make the aggregate id the Redis Cluster hash tag, so the key lands in
 * the slot of view keys written as <name>:{<aggregate id>}...
 * SF_ERR_NOMEM. */
sf_err_t sf_dedup_key(sf_buf_t *out, const char *proj, const char *topic,
                      int32_t partition, const char *agg, size_t agg_len);

/* The id tag of ce_id (8 lower-case hex digits + NUL into tag[9]); an
 * empty id gives an empty tag. */
void sf_dedup_id_tag(const char *id, size_t id_len, char tag[9]);

/* Records the version entry of the event b is building (call after
 * sf_batch_event_begin).  Nothing is recorded when b->dedup is off, the
 * event has no ce_sequence or no aggregate id (it is then unversioned).
 * SF_ERR_VALUE naming ce_sequence and its value when malformed (the event
 * is refused: dead-lettered like any event that cannot be read);
 * SF_ERR_NOMEM. */
sf_err_t sf_dedup_event(sf_batch_t *b, const char *proj, const sf_event_t *ev,
                        char *errstr, size_t errstr_size);

/* The version record of ev under projection proj: 1, with its version key
 * into key (reset first) and "<version>[:<id tag>]" into val, as the apply
 * script writes them; 0 when the event has none (on == 0, no aggregate
 * id, no or a malformed ce_sequence); -1 out of memory. */
int sf_dedup_record_of(int on, const char *proj, const sf_event_t *ev,
                       sf_buf_t *key, char val[40]);

/* Forgets the entry of the event at offset, if it is the last one (an
 * event removed from the batch again, on_error: stop). */
void sf_dedup_event_drop(sf_batch_t *b, int64_t offset);

void sf_dedup_reset(sf_batch_t *b);
/* dst's entries become a copy of src's (and dst->dedup src's): a folded
 * batch (fold.h) carries the entries of the batch it was folded from.
 * SF_ERR_NOMEM. */
sf_err_t sf_dedup_copy(sf_batch_t *dst, const sf_batch_t *src);
void sf_dedup_free(sf_batch_t *b);

/* The apply script's arguments of the entries: "<n>" (or "-1" when the
 * rule is off), then per entry offset, key, version, id tag ("" when the
 * event has no ce_id).  sf_dedup_nargs() says how many (1 + 4 * entries);
 * sf_dedup_argv() fills argv/argvlen from index 0 (nbuf holds the
 * count's text). */
size_t sf_dedup_nargs(const sf_batch_t *b);
void sf_dedup_argv(const sf_batch_t *b, const char **argv, size_t *argvlen,
                   char *nbuf, size_t nbuf_size);

/* The rule for the events of ONE aggregate in ONE partition taken in log
 * order, outside
 * Redis (journey --fold; the same verdicts as the apply script): last and
 * last_tag are the last applied version (0: none) and its id tag.
 * Returns "duplicate" (do not apply; "conflict" when the version equals
 * last but the id tag differs), "gap", "next" or "unversioned" (on == 0 or
 * no ce_sequence); for the ones to apply *v and tag receive what to
 * record once the event is applied.  A malformed ce_sequence is refused
 * earlier (sf_dedup_event). */
const char *sf_dedup_judge(int on, const sf_event_t *ev, int64_t last,
                           const char *last_tag, int64_t *v, char tag[9]);

struct sf_redis;
/* Deletes every version key of proj (sf:<proj>:ver:*), each UNLINK
 * conditional on guard_key holding guard_val (sf_redis_clear_guarded):
 * the rebuild's clear.  SF_ERR_FENCED once the guard does not hold. */
sf_err_t sf_dedup_clear(struct sf_redis *r, const char *proj,
                        const char *guard_key, const char *guard_val,
                        char *errstr, size_t errstr_size);

/* The `status` lines of the rule for pc's partitions tps[0..n) (one
 * Redis connection of cfg's, HGETALL per partition), into out.
 * SF_ERR_REDIS when Redis cannot be read. */
sf_err_t sf_dedup_status(const sf_config_t *cfg, const sf_pconf_t *pc,
                         const sf_tp_t *tps, size_t n, FILE *out, char *errstr,
                         size_t errstr_size);

/* What a worker met (the counts sf_projector_dedup_count() reads, from
 * any thread) and its log limiter (its own thread only). */
typedef struct sf_dedup_stats {
    _Atomic uint64_t n[SF_DEDUP__COUNT];
    double last_log[2];   /* monotonic s of the last duplicate, gap line */
    uint64_t unlogged[2]; /* met since that line, not logged */
} sf_dedup_stats_t;

struct sf_apply_res;
struct sf_metrics_s;

/* Adds what the apply script reported for one batch of topic/partition
 * (r->ver) to st and the metrics (m may be NULL), and logs duplicates and
 * gaps at most once per SF_DEDUP_LOG_EVERY_S seconds each, with how many
 * went unlogged since the previous line. */
#define SF_DEDUP_LOG_EVERY_S 10.0
void sf_dedup_report(sf_dedup_stats_t *st, struct sf_metrics_s *m,
                     const char *proj, const char *topic, int32_t partition,
                     const struct sf_apply_res *r);

#endif
