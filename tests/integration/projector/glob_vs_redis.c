/*
 * glob_vs_redis.c - the projector's Redis glob matcher (keys.c) against
 * the real Redis, on random patterns that include bytes >= 0x80, class
 * ranges across them, escapes, '^', ']' and '-' in odd places.
 *
 * Redis filters HSCAN MATCH with the same routine as SCAN MATCH (util.c
 * stringmatchlen), so the probe strings are the fields of one private hash
 * (a unique key outside sf:, deleted at the end): the test never scans or
 * touches other keys of the shared database.  Every probe is 1 or 2 bytes
 * over an alphabet with 0x00, ASCII specials and 0x80, 0xA9, 0xC3, 0xFF.
 *
 * Then a rebuild's clear end to end (sf_redis_clear_filtered with the
 * keys.c filter): of the keys SCAN MATCH "?f:<unique>:*" returns, the one
 * under sf: is kept, the others are deleted.
 *
 * Env: SF_REDIS_HOST, SF_REDIS_PORT.  Exit 0 all agree, 1 a difference
 * (printed), 77 no Redis.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "keys.h"
#include "redis_sink.h"

static const unsigned char alpha[] = {0x00, 's',  'f',  ':',  'a', 't',
                                      'z',  '-',  ']',  '\\', '^', '[',
                                      0x7f, 0x80, 0xA9, 0xC3, 0xFF};
#define NA     (sizeof alpha)
#define NPROBE (NA + NA * NA)

static unsigned char probe[NPROBE][2];
static size_t plen[NPROBE];

static void show(const void *s, size_t n) {
    const unsigned char *b = s;
    for (size_t i = 0; i < n; i++)
        printf(b[i] >= 0x20 && b[i] < 0x7f ? "%c" : "\\x%02x", b[i]);
}

/* Which probes Redis' HSCAN MATCH returns for pat; -1 on a Redis error. */
static int redis_hits(redisContext *c, const char *key, const char *pat,
                      size_t pl, unsigned char *hit) {
    char cur[32] = "0";
    memset(hit, 0, NPROBE);
    do {
        const char *av[7] = {"HSCAN", key, cur, "MATCH", pat, "COUNT", "1000"};
        size_t al[7] = {5, strlen(key), strlen(cur), 5, pl, 5, 4};
        redisReply *r = redisCommandArgv(c, 7, av, al);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            printf("HSCAN failed: %s\n",
                   r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
            if (r)
                freeReplyObject(r);
            return -1;
        }
        snprintf(cur, sizeof cur, "%s", r->element[0]->str);
        redisReply *fv = r->element[1];
        for (size_t i = 0; i + 1 < fv->elements; i += 2)
            for (size_t j = 0; j < NPROBE; j++)
                if (plen[j] == fv->element[i]->len &&
                    !memcmp(probe[j], fv->element[i]->str, plen[j]))
                    hit[j] = 1;
        freeReplyObject(r);
    } while (strcmp(cur, "0"));
    return 0;
}

static int may_clear(void *opaque, const char *key, size_t len) {
    return sf_keys_may_clear(opaque, key, len);
}

/* 1 when the filtered clear deleted exactly the two keys outside sf:. */
static int clear_spares_reserved(const char *host, const char *port,
                                 redisContext *c) {
    char u[64], pat[96], keep[96];
    snprintf(u, sizeof u, "sftestclear%ld%ld", (long)getpid(),
             (long)time(NULL));
    snprintf(pat, sizeof pat, "?f:%s:*", u);
    snprintf(keep, sizeof keep, "sf:%s:ckpt", u);
    const char *mk[] = {keep, "uf", "tf"};
    for (int i = 0; i < 3; i++) {
        redisReply *r = i ? redisCommand(c, "SET %s:%s:x 1", mk[i], u)
                          : redisCommand(c, "SET %s 1", keep);
        if (r)
            freeReplyObject(r);
    }
    sf_redis_conf_t rc = {0};
    rc.host = (char *)(host ? host : "127.0.0.1");
    rc.port = port ? atoi(port) : 6379;
    sf_redis_t *R = NULL;
    char err[512];
    sf_glob_t *g = NULL;
    size_t col;
    int64_t deleted = -1, spared = -1;
    int ok = 0;
    if (sf_redis_connect(&rc, &R, err, sizeof err) ||
        sf_glob_compile(pat, strlen(pat), &g, &col, err, sizeof err) ||
        sf_redis_clear_filtered(R, pat, may_clear, g, &deleted, &spared, err,
                                sizeof err)) {
        printf("clear: %s\n", err);
    } else {
        redisReply *r = redisCommand(c, "EXISTS %s", keep);
        long long kept = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
        if (r)
            freeReplyObject(r);
        ok = deleted == 2 && spared == 1 && kept == 1;
        printf("clear \"%s\": deleted %lld, kept %lld, %s %s\n", pat,
               (long long)deleted, (long long)spared, keep,
               kept ? "still there" : "DELETED");
    }
    redisReply *r =
        redisCommand(c, "UNLINK %s %s:%s:x %s:%s:x", keep, "uf", u, "tf", u);
    if (r)
        freeReplyObject(r);
    sf_glob_destroy(g);
    if (R)
        sf_redis_destroy(R);
    return ok;
}

static unsigned rnd(unsigned *seed) {
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

int main(void) {
    const char *host = getenv("SF_REDIS_HOST"), *port = getenv("SF_REDIS_PORT");
    redisContext *c =
        redisConnect(host ? host : "127.0.0.1", port ? atoi(port) : 6379);
    if (!c || c->err) {
        printf("SKIP: no Redis (%s)\n", c ? c->errstr : "no memory");
        return 77;
    }
    char key[96];
    snprintf(key, sizeof key, "sftest:globdiff:%ld:%ld", (long)getpid(),
             (long)time(NULL));
    size_t n = 0;
    for (size_t a = 0; a < NA; a++) {
        probe[n][0] = alpha[a];
        plen[n++] = 1;
        for (size_t b = 0; b < NA; b++) {
            probe[n][0] = alpha[a];
            probe[n][1] = alpha[b];
            plen[n++] = 2;
        }
    }
    for (size_t j = 0; j < NPROBE; j++) {
        const char *av[4] = {"HSET", key, (const char *)probe[j], "1"};
        size_t al[4] = {4, strlen(key), plen[j], 1};
        redisReply *r = redisCommandArgv(c, 4, av, al);
        if (!r || r->type != REDIS_REPLY_INTEGER) {
            printf("HSET failed\n");
            return 1;
        }
        freeReplyObject(r);
    }
    static const unsigned char palpha[] = {'s',  'f',  ':',  '*',  '?', '[',
                                           ']',  '^',  '-',  '\\', 'a', 't',
                                           0x80, 0xA9, 0xC3, 0xFF, 0x00};
    /* the reviewer's pattern and its relatives first */
    static const char *const fixed[] = {
        "[t-\xc3\xa9]f:*", "[\xc3-t]*", "[t-\xff]", "[\x80-a]?", "[^a-\xc3]",
        "[a-]x]",          "[\\]]",     "[a-\\]]",  "\\s",       "[^]]"};
    unsigned seed = 20261130;
    unsigned char hit[NPROBE];
    int tried = 0, highranges = 0, diffs = 0;
    for (int it = 0; it < 4000 && diffs < 10; it++) {
        char pat[16];
        size_t pl;
        if (it < (int)(sizeof fixed / sizeof fixed[0])) {
            pl = strlen(fixed[it]);
            memcpy(pat, fixed[it], pl);
        } else if (it % 2) { /* a class with a range, then anything */
            pl = 0;
            pat[pl++] = '[';
            if (rnd(&seed) % 3 == 0)
                pat[pl++] = '^';
            pat[pl++] = (char)palpha[rnd(&seed) % sizeof palpha];
            pat[pl++] = '-';
            pat[pl++] = (char)palpha[rnd(&seed) % sizeof palpha];
            if (rnd(&seed) % 2)
                pat[pl++] = (char)palpha[rnd(&seed) % sizeof palpha];
            pat[pl++] = ']';
            for (unsigned k = rnd(&seed) % 3; k > 0; k--)
                pat[pl++] = (char)palpha[rnd(&seed) % sizeof palpha];
        } else {
            seed = seed * 1103515245u + 12345u;
            pl = 1 + (seed >> 16) % 6;
            for (size_t i = 0; i < pl; i++) {
                seed = seed * 1103515245u + 12345u;
                pat[i] = (char)palpha[(seed >> 16) % sizeof palpha];
            }
        }
        sf_glob_t *g = NULL;
        size_t col;
        char err[256];
        if (sf_glob_compile(pat, pl, &g, &col, err, sizeof err))
            continue; /* unterminated '[' or trailing '\': refused */
        tried++;
        if (sf_keys_check_portable(pat, pl, &col, err, sizeof err))
            highranges++;
        if (redis_hits(c, key, pat, pl, hit)) {
            sf_glob_destroy(g);
            return 1;
        }
        for (size_t j = 0; j < NPROBE; j++) {
            int m = sf_glob_match(g, probe[j], plen[j]);
            if (m != hit[j]) {
                printf("DIFF pattern \"");
                show(pat, pl);
                printf("\" string \"");
                show(probe[j], plen[j]);
                printf("\": keys.c %d, Redis %d\n", m, hit[j]);
                diffs++;
                break;
            }
        }
        sf_glob_destroy(g);
    }
    redisReply *r = redisCommand(c, "UNLINK %s", key);
    if (r)
        freeReplyObject(r);
    int clear_ok = clear_spares_reserved(host, port, c);
    redisFree(c);
    printf("patterns compared %d (with a range across 0x80: %d), "
           "differences %d\n",
           tried, highranges, diffs);
    /* the comparison must have covered the case that matters */
    if (tried < 2000 || highranges < 500) {
        printf("FAIL: too few patterns compared\n");
        return 1;
    }
    return diffs || !clear_ok ? 1 : 0;
}
