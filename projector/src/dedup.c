/* dedup.c - the duplicate rule, C side (see dedup.h and
 * docs/duplicates.md). */
#include "dedup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "redis_sink.h"
#include "sf_assert.h"
#include "util.h"

/* One versioned event of a batch: its four apply-script arguments, as
 * offsets into b->vdata (which may move when it grows). */
struct sf_dedup_entry {
    int64_t offset;
    size_t a[4], n[4]; /* offset text, version key, version, id tag */
};

int sf_dedup_parse_version(const char *s, size_t len, int64_t *v) {
    if (len == 0)
        return 0;
    if (len > 16 || s[0] == '0')
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    if (x > SF_DEDUP_MAX_VERSION)
        return -1;
    *v = x;
    return 1;
}

/* Appends the version key SF_REDIS_PREFIX "<proj>:ver:<topic>:<partition>:
 * {<aggregate id>}" to out, piece by piece: it runs per event, and printf
 * stood out in the rebuild's profile.  Errors: out->oom. */
static void append_key(sf_buf_t *out, const char *proj, const char *topic,
                       int32_t partition, const char *agg, size_t agg_len) {
    char pn[SF_I64_DIGITS];
    size_t pl = sf_fmt_i64(pn, partition);
    sf_buf_appends(out, SF_REDIS_PREFIX);
    sf_buf_appends(out, proj);
    sf_buf_appends(out, ":ver:");
    sf_buf_appends(out, topic);
    sf_buf_putc(out, ':');
    sf_buf_append(out, pn, pl);
    sf_buf_appends(out, ":{");
    sf_buf_append(out, agg, agg_len);
    sf_buf_putc(out, '}');
}

sf_err_t sf_dedup_key(sf_buf_t *out, const char *proj, const char *topic,
                      int32_t partition, const char *agg, size_t agg_len) {
    sf_buf_reset(out);
    append_key(out, proj, topic, partition, agg, agg_len);
    return out->oom ? SF_ERR_NOMEM : SF_OK;
}

void sf_dedup_id_tag(const char *id, size_t id_len, char tag[9]) {
    if (!id_len) {
        tag[0] = '\0';
        return;
    }
    /* FNV-1a, 32 bits: a tag, not a fingerprint; a collision only makes
     * a conflict look like a plain duplicate (both are dropped). */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < id_len; i++) {
        h ^= (unsigned char)id[i];
        h *= 16777619u;
    }
    static const char hex[] = "0123456789abcdef";
    for (int i = 7; i >= 0; i--, h >>= 4)
        tag[i] = hex[h & 0xf]; /* "%08x", without printf on the hot path */
    tag[8] = '\0';
}

static sf_err_t put(sf_batch_t *b, struct sf_dedup_entry *en, int i,
                    const void *p, size_t n) {
    en->a[i] = b->vdata.len;
    en->n[i] = n;
    return sf_buf_append(&b->vdata, p, n) ? SF_ERR_NOMEM : SF_OK;
}

sf_err_t sf_dedup_event(sf_batch_t *b, const char *proj, const sf_event_t *ev,
                        char *errstr, size_t errstr_size) {
    int64_t v;
    if (!b->dedup || !ev->aggregate_id_len ||
        memchr(ev->aggregate_id, '\0', ev->aggregate_id_len))
        return SF_OK; /* no aggregate to key it on (a NUL is refused) */
    int r = sf_dedup_parse_version(ev->version, ev->version_len, &v);
    if (r == 0)
        return SF_OK;
    if (r < 0)
        return sf_seterr(
            errstr, errstr_size, SF_ERR_VALUE,
            SF_HDR_SEQUENCE " \"%.*s\" is not an aggregate "
                            "version (a decimal from 1 to 2^53, no sign, "
                            "no leading zero)",
            (int)(ev->version_len > 40 ? 40 : ev->version_len), ev->version);
    SF_ASSERT(b->in_event);
    if (b->nvent == b->vcap) {
        size_t cap = b->vcap ? b->vcap * 2 : 64;
        struct sf_dedup_entry *n = realloc(b->vent, cap * sizeof(*n));
        if (!n)
            return SF_ERR_NOMEM;
        b->vent = n;
        b->vcap = cap;
    }
    struct sf_dedup_entry *en = &b->vent[b->nvent];
    en->offset = b->last_offset;
    char num[SF_I64_DIGITS], tag[9];
    size_t nn = sf_fmt_i64(num, en->offset);
    sf_dedup_id_tag(ev->id, ev->id_len, tag);
    sf_err_t e = put(b, en, 0, num, nn);
    /* the key goes straight into vdata: no bound on the aggregate id */
    size_t k0 = b->vdata.len;
    if (!e) {
        /* per partition: Kafka orders an aggregate's events only within
         * one partition (see dedup.h) */
        append_key(&b->vdata, proj, ev->topic, ev->partition, ev->aggregate_id,
                   ev->aggregate_id_len);
        e = b->vdata.oom ? SF_ERR_NOMEM : SF_OK;
        en->a[1] = k0;
        en->n[1] = b->vdata.len - k0;
    }
    if (!e) /* as received: digits only (parsed above) */
        e = put(b, en, 2, ev->version, ev->version_len);
    if (!e)
        e = put(b, en, 3, tag, strlen(tag));
    if (!e)
        b->nvent++;
    return e;
}

int sf_dedup_record_of(int on, const char *proj, const sf_event_t *ev,
                       sf_buf_t *key, char val[40]) {
    int64_t v;
    char tag[9];
    if (!on || !ev->aggregate_id_len ||
        memchr(ev->aggregate_id, '\0', ev->aggregate_id_len) ||
        sf_dedup_parse_version(ev->version, ev->version_len, &v) != 1)
        return 0;
    if (sf_dedup_key(key, proj, ev->topic, ev->partition, ev->aggregate_id,
                     ev->aggregate_id_len))
        return -1;
    sf_dedup_id_tag(ev->id, ev->id_len, tag);
    snprintf(val, 40, "%" PRId64 "%s%s", v, *tag ? ":" : "", tag);
    return 1;
}

void sf_dedup_event_drop(sf_batch_t *b, int64_t offset) {
    if (b->nvent && b->vent[b->nvent - 1].offset == offset) {
        b->nvent--;
        b->vdata.len = b->vent[b->nvent].a[0];
    }
}

void sf_dedup_reset(sf_batch_t *b) {
    /* kept as sf_batch_reset keeps the rest (batch.h, SF_BATCH_KEEP):
     * measured against this use, so nvent is cleared last */
    if (sf_batch_oversized(b->vdata.cap, b->vdata.len, SF_BATCH_KEEP_BYTES))
        sf_buf_free(&b->vdata);
    else
        sf_buf_reset(&b->vdata);
    if (sf_batch_oversized(b->vcap, b->nvent, SF_BATCH_KEEP_ARGS / 8)) {
        free(b->vent);
        b->vent = NULL;
        b->vcap = 0;
    }
    b->nvent = 0;
}

sf_err_t sf_dedup_copy(sf_batch_t *dst, const sf_batch_t *src) {
    sf_dedup_reset(dst);
    dst->dedup = src->dedup;
    if (src->nvent > dst->vcap) {
        struct sf_dedup_entry *v = realloc(dst->vent, src->nvent * sizeof(*v));
        if (!v)
            return SF_ERR_NOMEM;
        dst->vent = v;
        dst->vcap = src->nvent;
    }
    /* the entries locate their strings by offset into vdata */
    if (src->nvent)
        memcpy(dst->vent, src->vent, src->nvent * sizeof(*dst->vent));
    if (src->vdata.len &&
        sf_buf_append(&dst->vdata, src->vdata.p, src->vdata.len))
        return SF_ERR_NOMEM;
    dst->nvent = src->nvent;
    return SF_OK;
}

void sf_dedup_free(sf_batch_t *b) {
    sf_buf_free(&b->vdata);
    free(b->vent);
    b->vent = NULL;
    b->nvent = b->vcap = 0;
}

size_t sf_dedup_nargs(const sf_batch_t *b) {
    return 1 + 4 * (b->dedup ? b->nvent : 0);
}

void sf_dedup_argv(const sf_batch_t *b, const char **argv, size_t *argvlen,
                   char *nbuf, size_t nbuf_size) {
    size_t n = b->dedup ? b->nvent : 0;
    if (b->dedup)
        snprintf(nbuf, nbuf_size, "%zu", n);
    else
        snprintf(nbuf, nbuf_size, "-1");
    argv[0] = nbuf;
    argvlen[0] = strlen(nbuf);
    for (size_t i = 0; i < n; i++)
        for (int j = 0; j < 4; j++) {
            argv[1 + 4 * i + j] = b->vdata.p + b->vent[i].a[j];
            argvlen[1 + 4 * i + j] = b->vent[i].n[j];
        }
}

void sf_dedup_report(sf_dedup_stats_t *st, struct sf_metrics_s *m,
                     const char *proj, const char *topic, int32_t partition,
                     const struct sf_apply_res *r) {
    for (int k = 0; k < SF_DEDUP__COUNT; k++) {
        if (r->ver[k] <= 0)
            continue;
        atomic_fetch_add(&st->n[k], (uint64_t)r->ver[k]);
        if (m)
            sf_metrics_dedup(m, proj, k, (uint64_t)r->ver[k]);
    }
    /* duplicates (index 0) and gaps (1): bounded, each its own clock */
    const int64_t count[2] = {r->ver[SF_DEDUP_DUPLICATE], r->ver[SF_DEDUP_GAP]};
    const char *latest[2] = {r->ver_dup, r->ver_gap};
    double now = sf_mono_s();
    for (int k = 0; k < 2; k++) {
        if (count[k] <= 0)
            continue;
        if (st->last_log[k] > 0 &&
            now - st->last_log[k] < SF_DEDUP_LOG_EVERY_S) {
            st->unlogged[k] += (uint64_t)count[k];
            continue;
        }
        char q[256], conf[48] = "";
        if (!k)
            snprintf(conf, sizeof(conf), " conflicts=%" PRId64,
                     r->ver[SF_DEDUP_CONFLICT]);
        sf_log(k ? "info" : "warn",
               "projection=%s topic=%s partition=%" PRId32 " %s=%" PRId64
               "%s unlogged_before=%" PRIu64 " latest=%s msg=\"%s\"",
               proj, topic, partition, k ? "gaps" : "duplicates", count[k],
               conf, st->unlogged[k], sf_log_q(q, sizeof(q), latest[k]),
               k ? "aggregate version gap: applied (events before it "
                   "missing, skipped or dead-lettered)"
                 : "duplicate events dropped: aggregate version not above "
                   "the last applied one");
        st->last_log[k] = now;
        st->unlogged[k] = 0;
    }
}

/* The SCAN MATCH pattern of proj's version keys: the name's glob
 * characters escaped, so that no other projection's keys match. */
static sf_err_t ver_pattern(sf_buf_t *b, const char *proj) {
    sf_buf_appends(b, SF_REDIS_PREFIX);
    for (const char *c = proj; *c; c++) {
        if (strchr("*?[]\\", *c))
            sf_buf_putc(b, '\\');
        sf_buf_putc(b, *c);
    }
    sf_buf_appends(b, ":ver:*");
    return b->oom ? SF_ERR_NOMEM : SF_OK;
}

/* Second opinion on each key SCAN returned: exactly under the prefix. */
static int ver_may_delete(void *opaque, const char *key, size_t len) {
    const char *prefix = opaque;
    size_t pl = strlen(prefix);
    return len > pl && !memcmp(key, prefix, pl);
}

sf_err_t sf_dedup_clear(struct sf_redis *r, const char *proj,
                        const char *guard_key, const char *guard_val,
                        char *errstr, size_t errstr_size) {
    sf_buf_t pat = {0}, prefix = {0};
    sf_err_t e = ver_pattern(&pat, proj);
    if (!e && sf_buf_printf(&prefix, SF_REDIS_PREFIX "%s:ver:", proj))
        e = SF_ERR_NOMEM;
    int64_t deleted = 0;
    if (!e)
        e = sf_redis_clear_guarded(r, pat.p, ver_may_delete, prefix.p,
                                   guard_key, guard_val, &deleted, NULL, errstr,
                                   errstr_size);
    sf_buf_free(&pat);
    sf_buf_free(&prefix);
    return e;
}

const char *sf_dedup_judge(int on, const sf_event_t *ev, int64_t last,
                           const char *last_tag, int64_t *v, char tag[9]) {
    if (!on || !ev->aggregate_id_len ||
        sf_dedup_parse_version(ev->version, ev->version_len, v) != 1)
        return "unversioned";
    sf_dedup_id_tag(ev->id, ev->id_len, tag);
    if (*v <= last)
        return *v == last && *tag && *last_tag && strcmp(tag, last_tag)
                   ? "conflict"
                   : "duplicate";
    return *v > last + 1 ? "gap" : "next";
}
