/* fold_check.c - folding (projector/src/fold.h) against a real Redis and
 * the real apply script: random batches of events, applied once as built
 * and once folded (sent unfolded when the script refuses the folded form,
 * as the rebuild does), into two namespaces of equal length.  After every
 * batch the two must agree on everything the apply path leaves behind:
 * the result of each call (events applied, each failed event with its
 * offset, commands done, index and reason), the duplicate rule's counts,
 * and at the end the view keys (type and content), the version keys, the
 * duplicate-rule hash and the checkpoint.
 *
 * The key space is small and mixes types on purpose, so that WRONGTYPE
 * and "not an integer" failures happen inside chains; some events are
 * duplicates (refused folded batches); some commands are not foldable
 * (HINCRBYFLOAT, ZADD, EXPIRE) and some events have several commands.
 *
 * SF_REDIS_HOST / SF_REDIS_PORT; SF_FOLD_ROUNDS (default 300), SF_FOLD_SEED.
 * Keys under a unique prefix, deleted at the end.  Exit 0 pass, 1 fail,
 * 77 skip (no Redis). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "dedup.h"
#include "fold.h"
#include "redis_sink.h"

static int failures;
#define CHECK(c, ...)                                                    \
    do {                                                                 \
        if (!(c)) {                                                      \
            failures++;                                                  \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #c); \
            fprintf(stderr, __VA_ARGS__);                                \
            fputc('\n', stderr);                                         \
        }                                                                \
    } while (0)

static sf_redis_t *R;
static const char *TOPIC = "t";
/* the two sides: projection names (bookkeeping) and view key prefixes, of
 * equal length so that replies compare after swapping the names */
static char PN[2][32];
static int64_t TOK[2];

static uint64_t rng;
static uint32_t rnd(uint32_t n) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* One random command into argv (text with "@" where the key prefix goes). */
typedef struct rcmd {
    int n;
    char a[8][48];
} rcmd_t;

static void random_cmd(rcmd_t *c) {
    static const char *keys[] = {"k0", "k1", "k2", "k3", "k4"};
    static const char *fields[] = {"f0", "f1", "f2"};
    static const char *members[] = {"m0", "m1", "m2", "m3"};
    const char *k = keys[rnd(5)];
    const char *f = fields[rnd(3)];
    int inc = (int)rnd(11) - 5;
    memset(c, 0, sizeof(*c));
#define ARG(i, ...) snprintf(c->a[i], sizeof(c->a[i]), __VA_ARGS__)
    switch (rnd(20)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
        c->n = 4;
        ARG(0, "HINCRBY");
        ARG(1, "@%s", k);
        ARG(2, "%s", f);
        ARG(3, "%d", inc);
        break;
    case 6:
        c->n = 3;
        ARG(0, "%s", rnd(2) ? "INCRBY" : "DECRBY");
        ARG(1, "@%s", k);
        ARG(2, "%d", inc);
        break;
    case 7:
    case 8:
    case 9:
        c->n = 4;
        ARG(0, "HSET");
        ARG(1, "@%s", k);
        ARG(2, "%s", f);
        /* now and then a value HINCRBY cannot add to */
        if (rnd(4) == 0)
            ARG(3, "x%d", inc);
        else
            ARG(3, "%d", inc);
        if (rnd(3) == 0) {
            c->n = 6;
            ARG(4, "%s", fields[rnd(3)]);
            ARG(5, "%d", inc + 1);
        }
        break;
    case 10:
    case 11:
        c->n = 3 + (int)rnd(2);
        ARG(0, "%s", rnd(3) ? "SADD" : "SREM");
        ARG(1, "@%s", k);
        ARG(2, "%s", members[rnd(4)]);
        ARG(3, "%s", members[rnd(4)]);
        break;
    case 12:
    case 13:
        c->n = 3;
        ARG(0, "SET");
        ARG(1, "@%s", k);
        ARG(2, "%d", inc);
        break;
    case 14:
        c->n = 2;
        ARG(0, "DEL");
        ARG(1, "@%s", k);
        break;
    case 15:
        c->n = 4;
        ARG(0, "HINCRBYFLOAT");
        ARG(1, "@%s", k);
        ARG(2, "%s", f);
        ARG(3, "0.5");
        break;
    case 16:
        c->n = 4;
        ARG(0, "ZADD");
        ARG(1, "@%s", k);
        ARG(2, "%d", inc);
        ARG(3, "%s", members[rnd(4)]);
        break;
    case 17:
        /* increments the fold must leave alone: not canonical, or large */
        c->n = 4;
        ARG(0, "HINCRBY");
        ARG(1, "@%s", k);
        ARG(2, "%s", f);
        ARG(3, "%s", rnd(2) ? "007" : "4000000000000");
        break;
    case 18:
        c->n = 3;
        ARG(0, "SET");
        ARG(1, "@%s", k);
        ARG(2, "s%d", inc);
        break;
    default:
        c->n = 3;
        ARG(0, "EXPIRE");
        ARG(1, "@%s", k);
        ARG(2, "1000");
        break;
    }
#undef ARG
}

typedef struct rev {
    int ncmd;
    rcmd_t cmd[3];
    int agg;     /* aggregate 0..2, -1: unversioned */
    int64_t ver; /* its version */
} rev_t;

static void add_event(sf_batch_t *b, int side, int64_t off, const rev_t *e,
                      int dedup) {
    char err[256];
    b->dedup = dedup;
    sf_batch_event_begin(b, off, 0);
    if (dedup && e->agg >= 0) {
        char agg[16], ver[24];
        snprintf(agg, sizeof(agg), "a%d", e->agg);
        snprintf(ver, sizeof(ver), "%" PRId64, e->ver);
        sf_event_t ev;
        memset(&ev, 0, sizeof(ev));
        ev.topic = TOPIC;
        ev.aggregate_id = agg;
        ev.aggregate_id_len = strlen(agg);
        ev.version = ver;
        ev.version_len = strlen(ver);
        ev.id = agg;
        ev.id_len = strlen(agg);
        CHECK(!sf_dedup_event(b, PN[side], &ev, err, sizeof(err)),
              "version: %s", err);
    }
    for (int c = 0; c < e->ncmd; c++) {
        const char *argv[8];
        char buf[8][160];
        for (int i = 0; i < e->cmd[c].n; i++) {
            const char *a = e->cmd[c].a[i];
            if (a[0] == '@')
                snprintf(buf[i], sizeof(buf[i]), "%s:%s", PN[side], a + 1);
            else
                snprintf(buf[i], sizeof(buf[i]), "%s", a);
            argv[i] = buf[i];
        }
        CHECK(!sf_batch_command(b, e->cmd[c].n, argv, NULL, err, sizeof(err)),
              "building: %s", err);
    }
    sf_batch_event_end(b);
}

/* s with side 1's name written as side 0's (equal lengths). */
static void norm(char *s) {
    size_t n = strlen(PN[1]);
    for (char *p = strstr(s, PN[1]); p; p = strstr(p + n, PN[1]))
        memcpy(p, PN[0], n);
}

static sf_apply_res_t apply1(sf_batch_t *b, int side, int64_t expected) {
    sf_apply_req_t q = {b, TOPIC, 0, TOK[side], expected, 1};
    sf_apply_res_t res;
    char err[256];
    memset(&res, 0, sizeof(res));
    sf_err_t e = sf_redis_apply(R, PN[side], 1, &q, &res, err, sizeof(err));
    CHECK(!e, "apply: %s", err);
    return res;
}

/* Everything a reader or the apply path sees of one key, as text. */
static void describe_key(const char *key, char *out, size_t size) {
    redisReply *t = NULL, *v = NULL;
    out[0] = '\0';
    if (sf_redis_cmd(R, &t, NULL, 0, "TYPE %s", key))
        return;
    const char *type = t->type == REDIS_REPLY_STATUS ? t->str : "?";
    size_t n = (size_t)snprintf(out, size, "%s", type);
    if (!strcmp(type, "string"))
        sf_redis_cmd(R, &v, NULL, 0, "GET %s", key);
    else if (!strcmp(type, "hash"))
        sf_redis_cmd(R, &v, NULL, 0, "EVAL %s 1 %s",
                     "local r = redis.call('HGETALL', KEYS[1]) "
                     "local t = {} for i = 1, #r, 2 do t[#t + 1] = r[i] .. '=' "
                     ".. r[i + 1] end table.sort(t) return t",
                     key);
    else if (!strcmp(type, "set"))
        sf_redis_cmd(R, &v, NULL, 0, "EVAL %s 1 %s",
                     "local r = redis.call('SMEMBERS', "
                     "KEYS[1]) table.sort(r) return r",
                     key);
    else if (!strcmp(type, "zset"))
        sf_redis_cmd(R, &v, NULL, 0, "ZRANGE %s 0 -1 WITHSCORES", key);
    if (v && v->type == REDIS_REPLY_STRING)
        n += (size_t)snprintf(out + n, n < size ? size - n : 0, " %s", v->str);
    else if (v && v->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < v->elements && n < size; i++)
            n +=
                (size_t)snprintf(out + n, size - n, " %s",
                                 v->element[i]->str ? v->element[i]->str : "?");
    redisReply *ttl = NULL;
    if (strcmp(type, "none") &&
        !sf_redis_cmd(R, &ttl, NULL, 0, "PTTL %s", key) && n < size)
        snprintf(out + n, size - n, " ttl:%s",
                 ttl->integer >= 0 ? "yes" : "no");
    if (ttl)
        freeReplyObject(ttl);
    if (v)
        freeReplyObject(v);
    freeReplyObject(t);
}

static void compare_key(const char *fmt0, const char *fmt1, const char *what) {
    char a[4096], b[4096];
    describe_key(fmt0, a, sizeof(a));
    describe_key(fmt1, b, sizeof(b));
    norm(b);
    CHECK(!strcmp(a, b), "%s differs: unfolded [%s] folded [%s]", what, a, b);
}

static void compare_results(const sf_apply_res_t *u, const sf_apply_res_t *f,
                            int round) {
    CHECK(u->status == SF_APPLY_OK && f->status == SF_APPLY_OK,
          "round %d: status %s / %s (%s / %s)", round,
          sf_apply_status_name(u->status), sf_apply_status_name(f->status),
          u->msg, f->msg);
    CHECK(u->applied == f->applied, "round %d: applied %" PRId64 " / %" PRId64,
          round, u->applied, f->applied);
    CHECK(u->nskipped == f->nskipped, "round %d: failed events %zu / %zu",
          round, u->nskipped, f->nskipped);
    for (size_t i = 0; i < u->nskipped && i < f->nskipped; i++) {
        const sf_apply_res_t *x = &u->skipped[i], *y = &f->skipped[i];
        char m[256];
        snprintf(m, sizeof(m), "%s", y->msg);
        norm(m);
        CHECK(x->bad_offset == y->bad_offset && x->cmds_done == y->cmds_done &&
                  x->cmds_total == y->cmds_total &&
                  x->cmd_index == y->cmd_index && !strcmp(x->msg, m),
              "round %d: failed event %" PRId64 " %d/%d #%d [%s] / %" PRId64
              " %d/%d #%d [%s]",
              round, x->bad_offset, x->cmds_done, x->cmds_total, x->cmd_index,
              x->msg, y->bad_offset, y->cmds_done, y->cmds_total, y->cmd_index,
              m);
    }
    for (int k = 0; k < 4; k++)
        CHECK(u->ver[k] == f->ver[k],
              "round %d: duplicate rule count %d: "
              "%" PRId64 " / %" PRId64,
              round, k, u->ver[k], f->ver[k]);
}

static void cleanup(void) {
    for (int s = 0; s < 2; s++) {
        char pat[160];
        snprintf(pat, sizeof(pat), "%s:*", PN[s]);
        int64_t n = 0;
        sf_redis_clear(R, pat, &n, NULL, 0);
        snprintf(pat, sizeof(pat), "sf:%s:*", PN[s]);
        sf_redis_clear(R, pat, &n, NULL, 0);
    }
}

int main(void) {
    const char *host = getenv("SF_REDIS_HOST");
    const char *port = getenv("SF_REDIS_PORT");
    sf_redis_conf_t rc = {0};
    rc.host = (char *)(host ? host : "127.0.0.1");
    rc.port = port ? atoi(port) : 6379;
    char err[512];
    if (sf_redis_connect(&rc, &R, err, sizeof(err))) {
        fprintf(stderr, "SKIP: %s\n", err);
        return 77;
    }
    int rounds =
        getenv("SF_FOLD_ROUNDS") ? atoi(getenv("SF_FOLD_ROUNDS")) : 300;
    rng = getenv("SF_FOLD_SEED") ? strtoull(getenv("SF_FOLD_SEED"), NULL, 10)
                                 : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    rng = rng ? rng : 1;
    uint64_t seed = rng;
    fprintf(stderr, "fold_check: seed %" PRIu64 " (SF_FOLD_SEED), %d rounds\n",
            seed, rounds);
    snprintf(PN[0], sizeof(PN[0]), "foldU%08d%010ld", (int)getpid() % 100000000,
             (long)time(NULL));
    snprintf(PN[1], sizeof(PN[1]), "foldF%08d%010ld", (int)getpid() % 100000000,
             (long)time(NULL));

    sf_batch_t b[2];
    sf_batch_init(&b[0]);
    sf_batch_init(&b[1]);
    sf_fold_t fold;
    sf_fold_init(&fold);
    sf_batch_t out;
    sf_batch_init(&out);
    sf_fold_stats_t st = {0};
    int folded = 0, refused = 0, marker_failures = 0;
    for (int round = 0; round < rounds && failures < 5; round++) {
        cleanup();
        for (int s = 0; s < 2; s++)
            CHECK(!sf_redis_epoch_bump(R, PN[s], TOPIC, 0, &TOK[s], err,
                                       sizeof(err)),
                  "epoch: %s", err);
        int dedup = rnd(4) != 0;
        int64_t off = 0, ckpt = -1, vers[3] = {0, 0, 0};
        int nbatches = 1 + (int)rnd(3);
        for (int bi = 0; bi < nbatches; bi++) {
            int nev = 2 + (int)rnd(60);
            for (int s = 0; s < 2; s++)
                sf_batch_reset(&b[s]);
            for (int i = 0; i < nev; i++) {
                rev_t e;
                memset(&e, 0, sizeof(e));
                e.ncmd = rnd(5) == 0 ? 2 + (int)rnd(2) : 1;
                if (rnd(40) == 0)
                    e.ncmd = 0;
                for (int c = 0; c < e.ncmd; c++)
                    random_cmd(&e.cmd[c]);
                e.agg = rnd(5) == 0 ? -1 : (int)rnd(3);
                if (e.agg >= 0) {
                    /* now and then a re-sent (duplicate) or skipped
                     * version */
                    uint32_t r = rnd(30);
                    e.ver = r == 0 && vers[e.agg] > 0 ? vers[e.agg]
                            : r == 1                  ? vers[e.agg] + 2
                                                      : vers[e.agg] + 1;
                    if (e.ver > vers[e.agg])
                        vers[e.agg] = e.ver;
                }
                off += 1 + rnd(2);
                for (int s = 0; s < 2; s++)
                    add_event(&b[s], s, off, &e, dedup);
            }
            sf_apply_res_t u = apply1(&b[0], 0, ckpt);
            sf_batch_t *send = NULL;
            CHECK(!sf_fold_batch(&fold, &b[1], &out, &send, &st), "fold");
            sf_apply_res_t f = apply1(send, 1, ckpt);
            if (send != &b[1]) {
                folded++;
                if (f.status == SF_APPLY_NOT_RUN && !strcmp(f.code, "SFFOLD")) {
                    refused++;
                    sf_apply_res_clear(&f);
                    f = apply1(&b[1], 1, ckpt);
                }
                /* a marker event failed with its head */
                for (size_t i = 0; i < f.nskipped; i++)
                    if (f.skipped[i].cmds_total == 1)
                        marker_failures++;
            }
            compare_results(&u, &f, round);
            sf_apply_res_clear(&u);
            sf_apply_res_clear(&f);
            ckpt = b[0].last_offset;
            sf_fold_done(send);
            sf_batch_reset(&b[0]);
            sf_batch_reset(&b[1]);
        }
        /* the view, the versions, the duplicate rule's record, the
         * checkpoint */
        static const char *keys[] = {"k0", "k1", "k2", "k3", "k4"};
        for (int k = 0; k < 5; k++) {
            char a[128], c[128];
            snprintf(a, sizeof(a), "%s:%s", PN[0], keys[k]);
            snprintf(c, sizeof(c), "%s:%s", PN[1], keys[k]);
            compare_key(a, c, keys[k]);
        }
        for (int g = 0; g < 3; g++) {
            char a[128], c[128];
            snprintf(a, sizeof(a), "sf:%s:ver:%s:{a%d}", PN[0], TOPIC, g);
            snprintf(c, sizeof(c), "sf:%s:ver:%s:{a%d}", PN[1], TOPIC, g);
            compare_key(a, c, "version key");
        }
        char a[128], c[128];
        sf_redis_key(a, sizeof(a), PN[0], "dedup", TOPIC, 0);
        sf_redis_key(c, sizeof(c), PN[1], "dedup", TOPIC, 0);
        compare_key(a, c, "duplicate-rule record");
        sf_redis_key(a, sizeof(a), PN[0], "ckpt", TOPIC, 0);
        sf_redis_key(c, sizeof(c), PN[1], "ckpt", TOPIC, 0);
        compare_key(a, c, "checkpoint");
        if (failures)
            fprintf(stderr, "  in round %d (seed %" PRIu64 ")\n", round, seed);
    }
    cleanup();
    fprintf(stderr,
            "fold_check: %d batches sent folded (%d refused: duplicates), "
            "%" PRId64 " commands sent as %" PRId64 ", %d events failed in "
            "folded batches\n",
            folded, refused, st.cmds_in, st.cmds_out, marker_failures);
    /* the test must have exercised what it checks */
    CHECK(folded > rounds / 2, "only %d batches were folded", folded);
    CHECK(refused > 0 && refused < folded, "refused %d of %d", refused, folded);
    CHECK(st.cmds_out < st.cmds_in, "nothing folded away");
    CHECK(marker_failures > 0, "no failure inside a folded batch");
    sf_batch_free(&b[0]);
    sf_batch_free(&b[1]);
    sf_fold_free(&fold);
    sf_batch_free(&out);
    sf_redis_destroy(R);
    if (failures)
        fprintf(stderr, "fold_check: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
