/* apply_script.c - the apply script (projector/src/lua/apply.lua, loaded
 * as sf-projector loads it) against a real Redis: every typed result, and
 * the rule that no command ever runs twice, whatever fails.
 * Uses keys under a unique prefix and deletes them.  SF_REDIS_HOST /
 * SF_REDIS_PORT; exit 0 pass, 1 fail, 77 skip (no Redis). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "cmdspec.h"
#include "dedup.h"
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
static char P[64]; /* projection name */
static char K[64]; /* view key prefix */
static int64_t TOKEN;
static const char *TOPIC = "t";

static char *get(const char *fmt, const char *a) {
    static char out[256];
    char key[256];
    snprintf(key, sizeof(key), fmt, a);
    redisReply *rep;
    if (sf_redis_cmd(R, &rep, NULL, 0, "GET %s", key))
        return NULL;
    char *v = NULL;
    if (rep->type == REDIS_REPLY_STRING) {
        snprintf(out, sizeof(out), "%s", rep->str);
        v = out;
    }
    freeReplyObject(rep);
    return v;
}
static long long geti(const char *suffix) {
    char k[128];
    snprintf(k, sizeof(k), "%s:%s", K, suffix);
    char *v = get("%s", k);
    return v ? atoll(v) : 0;
}
static char *bk(const char *what) {
    static char k[256];
    sf_redis_key(k, sizeof(k), P, what, TOPIC, 0);
    return k;
}

/* Event with commands given as NULL-terminated arg lists, "|" separates
 * commands; %s in args is replaced by the key prefix. */
static void event_v(sf_batch_t *b, int64_t off, const char *ver, const char *id,
                    const char *spec);
static void event(sf_batch_t *b, int64_t off, const char *spec) {
    event_v(b, off, NULL, NULL, spec);
}

/* The same with an aggregate version (ce_sequence ver, ce_id id) of
 * aggregate "a" (the duplicate rule, dedup.h); ver "" = none. */
static void event_v(sf_batch_t *b, int64_t off, const char *ver, const char *id,
                    const char *spec) {
    sf_batch_event_begin(b, off, 0);
    if (ver) {
        sf_event_t ev;
        char err[256];
        memset(&ev, 0, sizeof(ev));
        ev.topic = TOPIC;
        ev.partition = 1;
        ev.aggregate_id = "a";
        ev.aggregate_id_len = 1;
        ev.version = ver;
        ev.version_len = strlen(ver);
        ev.id = id;
        ev.id_len = strlen(id);
        CHECK(!sf_dedup_event(b, P, &ev, err, sizeof(err)), "version: %s", err);
    }
    char *s = strdup(spec), *save = NULL;
    for (char *c = strtok_r(s, "|", &save); c; c = strtok_r(NULL, "|", &save)) {
        const char *argv[16];
        char bufs[16][128];
        int n = 0;
        char *save2 = NULL;
        for (char *a = strtok_r(c, " ", &save2); a && n < 16;
             a = strtok_r(NULL, " ", &save2)) {
            snprintf(bufs[n], sizeof(bufs[n]), a, K);
            argv[n] = bufs[n];
            n++;
        }
        char err[256];
        sf_err_t e = sf_batch_command(b, n, argv, NULL, err, sizeof(err));
        CHECK(!e, "building %s: %s", c, err);
    }
    free(s);
    sf_batch_event_end(b);
}

static sf_apply_res_t apply_p(sf_batch_t *b, int32_t part, int64_t token,
                              int64_t expected) {
    sf_apply_req_t q = {b, TOPIC, part, token, expected, 0};
    sf_apply_res_t res;
    char err[256];
    memset(&res, 0, sizeof(res));
    sf_err_t e = sf_redis_apply(R, P, 1, &q, &res, err, sizeof(err));
    CHECK(!e, "apply: %s", err);
    return res;
}

static sf_apply_res_t apply(sf_batch_t *b, int64_t expected) {
    sf_apply_req_t q = {b, TOPIC, 0, TOKEN, expected, 0};
    sf_apply_res_t res;
    char err[256];
    memset(&res, 0, sizeof(res));
    sf_err_t e = sf_redis_apply(R, P, 1, &q, &res, err, sizeof(err));
    CHECK(!e, "apply: %s", err);
    return res;
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
    snprintf(P, sizeof(P), "applytest%d%ld", (int)getpid(), (long)time(NULL));
    snprintf(K, sizeof(K), "%s", P);
    CHECK(sf_redis_apply_source(R) &&
              strstr(sf_redis_apply_source(R),
                     "n == 'HINCRBY' then return {name = 'HINCRBY', arity = 4"),
          "the loaded script carries the command table");
    CHECK(!sf_redis_epoch_bump(R, P, TOPIC, 0, &TOKEN, err, sizeof(err)),
          "epoch: %s", err);

    /* 0. the command table says what Redis itself says (COMMAND INFO):
     * arity and key positions */
    for (size_t i = 0; sf_cmdspec_at(i); i++) {
        const sf_cmd_spec_t *s = sf_cmdspec_at(i);
        redisReply *rep;
        if (sf_redis_cmd(R, &rep, err, sizeof(err), "COMMAND INFO %s",
                         s->name)) {
            CHECK(0, "COMMAND INFO %s: %s", s->name, err);
            continue;
        }
        redisReply *x = rep->type == REDIS_REPLY_ARRAY && rep->elements == 1
                            ? rep->element[0]
                            : NULL;
        CHECK(x && x->type == REDIS_REPLY_ARRAY && x->elements >= 6,
              "%s is a command of this Redis", s->name);
        if (x && x->type == REDIS_REPLY_ARRAY && x->elements >= 6)
            CHECK(x->element[1]->integer == s->arity &&
                      x->element[3]->integer == s->first_key &&
                      x->element[4]->integer == s->last_key &&
                      x->element[5]->integer == s->key_step,
                  "%s: redis says arity %lld keys %lld/%lld/%lld", s->name,
                  x->element[1]->integer, x->element[3]->integer,
                  x->element[4]->integer, x->element[5]->integer);
        freeReplyObject(rep);
    }

    sf_batch_t b;
    sf_batch_init(&b);

    /* 1. applied, checkpoint = last offset */
    event(&b, 0, "INCR %s:n|HSET %s:h f 1");
    event(&b, 1, "INCR %s:n");
    sf_apply_res_t r = apply(&b, -1);
    CHECK(r.status == SF_APPLY_OK && r.applied == 2, "ok: %s %s",
          sf_apply_status_name(r.status), r.msg);
    CHECK(geti("n") == 2, "n=%lld", geti("n"));
    CHECK(get("%s", bk("ckpt")) && !strcmp(get("%s", bk("ckpt")), "1"),
          "ckpt 1");

    /* 2. compare-and-set: a batch expecting another checkpoint applies
     * nothing and learns the stored one */
    sf_batch_reset(&b);
    event(&b, 2, "INCR %s:n");
    r = apply(&b, -1);
    CHECK(r.status == SF_APPLY_CKPT_MISMATCH && r.ckpt == 1, "cas: %s %" PRId64,
          sf_apply_status_name(r.status), r.ckpt);
    CHECK(geti("n") == 2, "nothing applied on mismatch: n=%lld", geti("n"));
    /* Redis lost writes: its checkpoint went back to 0 */
    sf_redis_cmd(R, NULL, NULL, 0, "SET %s 0", bk("ckpt"));
    r = apply(&b, 1);
    CHECK(r.status == SF_APPLY_CKPT_MISMATCH && r.ckpt == 0,
          "rollback seen: %s %" PRId64, sf_apply_status_name(r.status), r.ckpt);
    sf_redis_cmd(R, NULL, NULL, 0, "SET %s 1", bk("ckpt"));
    r = apply(&b, 1);
    CHECK(r.status == SF_APPLY_OK && geti("n") == 3, "after cas n=%lld",
          geti("n"));

    /* 3. foreseeable failure: refused whole before its first write */
    sf_redis_cmd(R, NULL, NULL, 0, "HSET %s:h txt open", K);
    sf_batch_reset(&b);
    event(&b, 3, "INCR %s:n");
    event(&b, 4, "INCR %s:n|HINCRBY %s:h txt 1");
    event(&b, 5, "INCR %s:n");
    r = apply(&b, 2);
    CHECK(r.status == SF_APPLY_EVENT_FAILED && r.bad_offset == 4 &&
              r.cmds_done == 0 && r.cmd_index == 2 && r.cmds_total == 2 &&
              r.recorded && r.ckpt == 3,
          "precheck: %s off=%" PRId64 " done=%d idx=%d msg=%s",
          sf_apply_status_name(r.status), r.bad_offset, r.cmds_done,
          r.cmd_index, r.msg);
    CHECK(geti("n") == 4, "event 3 applied, event 4 not at all: n=%lld",
          geti("n"));
    /* WRONGTYPE foreseen the same way */
    sf_batch_reset(&b);
    event(&b, 4, "INCR %s:n|SADD %s:h x");
    r = apply(&b, 3);
    CHECK(r.status == SF_APPLY_EVENT_FAILED && r.cmds_done == 0 &&
              !strcmp(r.code, "WRONGTYPE"),
          "wrongtype: %s done=%d %s", sf_apply_status_name(r.status),
          r.cmds_done, r.msg);
    CHECK(geti("n") == 4, "n=%lld", geti("n"));

    /* 4. a failure no pre-check sees (PFADD on a plain string): the first
     * command ran; re-sending (a retry, a restart) never runs it again */
    sf_redis_cmd(R, NULL, NULL, 0, "SET %s:hll plain", K);
    for (int attempt = 0; attempt < 3; attempt++) {
        sf_batch_reset(&b);
        event(&b, 4, "INCR %s:n|PFADD %s:hll a|INCR %s:m");
        r = apply(&b, 3);
        CHECK(r.status == SF_APPLY_EVENT_FAILED && r.cmds_done == 1 &&
                  r.cmd_index == 2,
              "partial (attempt %d): %s done=%d idx=%d %s", attempt,
              sf_apply_status_name(r.status), r.cmds_done, r.cmd_index, r.msg);
        CHECK(geti("n") == 5, "INCR ran once, not %lld-4 times", geti("n"));
        CHECK(get("%s", bk("halt")) && !strcmp(get("%s", bk("halt")), "4 1 3"),
              "progress record");
    }
    /* the same event with other commands (rules changed since): which of
     * them ran cannot be told, so none runs and the record stays */
    {
        sf_batch_t b2;
        sf_batch_init(&b2);
        event(&b2, 4, "INCR %s:n|INCR %s:m");
        sf_apply_res_t r2 = apply(&b2, 3);
        CHECK(r2.status == SF_APPLY_EVENT_FAILED &&
                  strstr(r2.msg, "rules changed"),
              "changed event: %s %s", sf_apply_status_name(r2.status), r2.msg);
        CHECK(geti("n") == 5 && geti("m") == 0, "n=%lld m=%lld", geti("n"),
              geti("m"));
        CHECK(get("%s", bk("halt")) && !strcmp(get("%s", bk("halt")), "4 1 3"),
              "record kept");
        sf_batch_free(&b2);
    }
    char what[400];
    sf_apply_describe(&r, what, sizeof(what));
    CHECK(strstr(what, "1..1") != NULL, "reason says what ran: %s", what);
    /* the cause fixed, the rest of the event runs, and only the rest */
    sf_redis_cmd(R, NULL, NULL, 0, "DEL %s:hll", K);
    r = apply(&b, 3);
    CHECK(r.status == SF_APPLY_OK, "resumed: %s %s",
          sf_apply_status_name(r.status), r.msg);
    CHECK(geti("n") == 5 && geti("m") == 1, "n=%lld m=%lld", geti("n"),
          geti("m"));
    CHECK(!get("%s", bk("halt")), "record cleared");

    /* 5. parked: the checkpoint moves past a failed event, the record goes */
    sf_batch_reset(&b);
    event(&b, 5, "INCR %s:n|HINCRBY %s:h txt 1");
    r = apply(&b, 4);
    CHECK(r.status == SF_APPLY_EVENT_FAILED, "fail 5");
    CHECK(!sf_redis_ckpt_advance(R, P, TOPIC, 0, TOKEN, 5, NULL, err,
                                 sizeof(err)),
          "advance: %s", err);
    CHECK(!get("%s", bk("halt")), "advance clears the record");

    /* 5b. the advance is a compare-and-set on the checkpoint the worker
     * last saw: Redis that lost writes (an older checkpoint) is refused,
     * never jumped over; the offset itself already there (the reply of an
     * earlier advance lost) counts as done */
    {
        int64_t stored = -7;
        sf_redis_cmd(R, NULL, NULL, 0, "SET %s 2", bk("ckpt"));
        CHECK(sf_redis_ckpt_advance_ver(R, P, TOPIC, 0, TOKEN, 4, 5, NULL, 0,
                                        NULL, &stored, err,
                                        sizeof(err)) == SF_ERR_STATE &&
                  stored == 2,
              "advance over a lost checkpoint: %s (stored %lld)", err,
              (long long)stored);
        CHECK(!strcmp(get("%s", bk("ckpt")), "2"), "checkpoint kept at 2");
        CHECK(!sf_redis_ckpt_advance_ver(R, P, TOPIC, 0, TOKEN, 2, 3, NULL, 0,
                                         NULL, &stored, err, sizeof(err)),
              "advance from the expected checkpoint: %s", err);
        CHECK(!sf_redis_ckpt_advance_ver(R, P, TOPIC, 0, TOKEN, 2, 3, NULL, 0,
                                         NULL, &stored, err, sizeof(err)),
              "the same advance again: %s", err);
        CHECK(!strcmp(get("%s", bk("ckpt")), "3"), "checkpoint 3");
        CHECK(!sf_redis_ckpt_advance(R, P, TOPIC, 0, -1, 5, NULL, err,
                                     sizeof(err)),
              "operator advance, no check: %s", err);
    }

    /* 6. a command too wide for unpack(): refused when built, and by the
     * script before any write if it gets there anyway */
    {
        size_t n = SF_CMD_MAX_ARGS + 500;
        const char **argv = calloc(n, sizeof(*argv));
        char key[128];
        snprintf(key, sizeof(key), "%s:wide", K);
        argv[0] = "SADD";
        argv[1] = key;
        for (size_t i = 2; i < n; i++)
            argv[i] = "m";
        sf_batch_reset(&b);
        sf_batch_event_begin(&b, 6, 0);
        CHECK(sf_batch_command(&b, (int)n, argv, NULL, err, sizeof(err)) ==
                  SF_ERR_RULE,
              "wide command refused when built");
        sf_batch_event_end(&b);
        sf_batch_reset(&b);
        event(&b, 6, "INCR %s:n");
        sf_batch_event_begin(&b, 7, 0);
        sf_batch_cmd_begin(&b, 2);
        char k2[128];
        snprintf(k2, sizeof(k2), "%s:n", K);
        sf_batch_arg(&b, "INCR", 4);
        sf_batch_arg(&b, k2, strlen(k2));
        sf_batch_cmd_begin(&b, n); /* bypassing the check */
        for (size_t i = 0; i < n; i++)
            sf_batch_arg(&b, argv[i], strlen(argv[i]));
        sf_batch_event_end(&b);
        free(argv);
        r = apply(&b, 5);
        CHECK(r.status == SF_APPLY_EVENT_FAILED && r.bad_offset == 7 &&
                  r.cmds_done == 0,
              "wide: %s off=%" PRId64 " done=%d %s",
              sf_apply_status_name(r.status), r.bad_offset, r.cmds_done, r.msg);
        CHECK(geti("n") == 6, "event 6 applied once, 7 not at all: n=%lld",
              geti("n"));
    }

    /* 7. fencing: a newer epoch fences; an older one means lost writes */
    sf_redis_ckpt_advance(R, P, TOPIC, 0, TOKEN, 7, NULL, err, sizeof(err));
    sf_batch_reset(&b);
    event(&b, 8, "INCR %s:n");
    sf_redis_cmd(R, NULL, NULL, 0, "INCR %s", bk("epoch"));
    r = apply(&b, 7);
    CHECK(r.status == SF_APPLY_FENCED, "fenced: %s",
          sf_apply_status_name(r.status));
    sf_redis_cmd(R, NULL, NULL, 0, "SET %s %" PRId64, bk("epoch"), TOKEN - 1);
    r = apply(&b, 7);
    CHECK(r.status == SF_APPLY_EPOCH_LOST && r.epoch == TOKEN - 1,
          "epoch lost: %s", sf_apply_status_name(r.status));
    CHECK(geti("n") == 6, "nothing applied while fenced: n=%lld", geti("n"));
    sf_redis_cmd(R, NULL, NULL, 0, "SET %s %" PRId64, bk("epoch"), TOKEN);

    /* 8. ACL: a key the user may not write fails inside the script (NOPERM)
     * after the event's first command; it is recorded, never repeated */
    {
        char user[96];
        snprintf(user, sizeof(user), "%s-user", P);
        sf_err_t e = sf_redis_cmd(R, NULL, err, sizeof(err),
                                  "ACL SETUSER %s on >pw ~sf:* ~%s:ok:* "
                                  "+@all",
                                  user, K);
        if (e) {
            fprintf(stderr, "note: ACL test skipped: %s\n", err);
        } else {
            sf_redis_t *admin = R;
            sf_redis_t *u;
            sf_redis_conf_t uc = rc;
            sf_redis_connect(&uc, &u, err, sizeof(err));
            CHECK(!sf_redis_cmd(u, NULL, err, sizeof(err), "AUTH %s pw", user),
                  "auth: %s", err);
            R = u;
            for (int attempt = 0; attempt < 2; attempt++) {
                sf_batch_reset(&b);
                event(&b, 8, "INCR %s:ok:a|SET %s:denied:b 1");
                r = apply(&b, 7);
                CHECK(
                    r.status == SF_APPLY_EVENT_FAILED &&
                        (strstr(r.msg, "NOPERM") || strstr(r.msg, "access")) &&
                        r.cmds_done == 1,
                    "noperm: %s %s done=%d", sf_apply_status_name(r.status),
                    r.msg, r.cmds_done);
            }
            R = admin;
            CHECK(geti("ok:a") == 1, "ok:a=%lld", geti("ok:a"));
            sf_redis_destroy(u);
            sf_redis_cmd(R, NULL, NULL, 0, "ACL DELUSER %s", user);
        }
    }

    /* 9. 'skip' mode (the rebuild): failed events are reported with what
     * ran and passed over in the same call */
    {
        sf_redis_ckpt_advance(R, P, TOPIC, 0, TOKEN, 8, NULL, err, sizeof(err));
        sf_redis_cmd(R, NULL, NULL, 0, "SET %s:hll2 plain", K);
        long long n0 = geti("n");
        sf_batch_reset(&b);
        event(&b, 9, "INCR %s:n");
        event(&b, 10, "INCR %s:n|HINCRBY %s:h txt 1"); /* refused whole */
        event(&b, 11, "INCR %s:n|PFADD %s:hll2 a");    /* fails after 1 */
        event(&b, 12, "INCR %s:n");
        sf_apply_req_t q = {&b, TOPIC, 0, TOKEN, 8, 1};
        sf_apply_res_t res = {0};
        CHECK(!sf_redis_apply(R, P, 1, &q, &res, err, sizeof(err)), "%s", err);
        CHECK(res.status == SF_APPLY_OK && res.applied == 2 &&
                  res.nskipped == 2,
              "skip: %s applied=%" PRId64 " skipped=%zu",
              sf_apply_status_name(res.status), res.applied, res.nskipped);
        if (res.nskipped == 2)
            CHECK(res.skipped[0].bad_offset == 10 &&
                      res.skipped[0].cmds_done == 0 &&
                      res.skipped[1].bad_offset == 11 &&
                      res.skipped[1].cmds_done == 1 &&
                      res.skipped[1].cmd_index == 2,
                  "skipped events and what ran of them");
        CHECK(geti("n") == n0 + 3, "n=%lld want %lld", geti("n"), n0 + 3);
        CHECK(get("%s", bk("ckpt")) && !strcmp(get("%s", bk("ckpt")), "12"),
              "checkpoint past them");
        CHECK(!get("%s", bk("halt")), "no record in skip mode");
        sf_apply_res_clear(&res);
    }

    /* 10. a malformed batch (a command claiming more arguments than it
     * has) is refused before any write, never half way */
    {
        long long n0 = geti("n");
        char k[128];
        snprintf(k, sizeof(k), "%s:n", K);
        sf_batch_reset(&b);
        event(&b, 13, "INCR %s:n");
        sf_batch_event_begin(&b, 14, 0);
        sf_batch_cmd_begin(&b, 2);
        sf_batch_arg(&b, "INCR", 4);
        sf_batch_arg(&b, k, strlen(k));
        sf_batch_cmd_begin(&b, 5); /* claims 5, gets 2 */
        sf_batch_arg(&b, "INCR", 4);
        sf_batch_arg(&b, k, strlen(k));
        sf_batch_event_end(&b);
        r = apply(&b, 12);
        CHECK(r.status == SF_APPLY_NOT_RUN && !r.retriable, "malformed: %s %s",
              sf_apply_status_name(r.status), r.msg);
        CHECK(geti("n") == n0, "nothing applied: n=%lld want %lld", geti("n"),
              n0);
        CHECK(get("%s", bk("ckpt")) && !strcmp(get("%s", bk("ckpt")), "12"),
              "checkpoint unchanged");
    }

    /* 10b. command names as rules may write them (lower or mixed case):
     * the script finds their row (SPEC_ROW, memoised per call) on every
     * use in one call, and a refusal names the command as the table does */
    {
        sf_batch_reset(&b);
        event(&b, 13, "incrby %s:lc 2|Incrby %s:lc 3");
        event(&b, 14, "hset %s:lh f 1|incrby %s:lh 1"); /* refused whole */
        event(&b, 15, "incrby %s:lc 1|INCRBY %s:lc 1");
        sf_apply_req_t q = {&b, TOPIC, 0, TOKEN, 12, 1};
        sf_apply_res_t res = {0};
        CHECK(!sf_redis_apply(R, P, 1, &q, &res, err, sizeof(err)), "%s", err);
        CHECK(res.status == SF_APPLY_OK && res.applied == 2 &&
                  res.nskipped == 1,
              "names: %s applied=%" PRId64 " skipped=%zu",
              sf_apply_status_name(res.status), res.applied, res.nskipped);
        if (res.nskipped == 1)
            CHECK(res.skipped[0].bad_offset == 14 &&
                      res.skipped[0].cmds_done == 0 &&
                      res.skipped[0].cmd_index == 2 &&
                      strstr(res.skipped[0].msg, "INCRBY needs a string"),
                  "lower-case refusal: offset %" PRId64 " done %d index %d "
                  "msg %s",
                  res.skipped[0].bad_offset, res.skipped[0].cmds_done,
                  res.skipped[0].cmd_index, res.skipped[0].msg);
        CHECK(geti("lc") == 7, "lc=%lld want 7", geti("lc"));
        CHECK(!get("%s:lh", K), "the refused event wrote nothing");
        sf_apply_res_clear(&res);
    }

    /* the rebuild's guarded clear: deletes only while the guard holds */
    {
        char gk[128], pat[128];
        int64_t d = 0;
        snprintf(gk, sizeof(gk), "sf:%s:rebuild", P);
        snprintf(pat, sizeof(pat), "%s:g:*", K);
        for (int i = 0; i < 3; i++)
            freeReplyObject(
                redisCommand(sf_redis_ctx(R), "SET %s:g:%d x", K, i));
        freeReplyObject(redisCommand(sf_redis_ctx(R), "SET %s other", gk));
        sf_err_t e = sf_redis_clear_guarded(R, pat, NULL, NULL, gk, "mine", &d,
                                            NULL, err, sizeof(err));
        CHECK(e == SF_ERR_FENCED && d == 0 && strstr(err, gk),
              "guard replaced: e=%d deleted=%lld (%s)", (int)e, (long long)d,
              err);
        CHECK(get("%s:g:1", K) != NULL, "nothing deleted under another guard");
        freeReplyObject(redisCommand(sf_redis_ctx(R), "SET %s mine", gk));
        e = sf_redis_clear_guarded(R, pat, NULL, NULL, gk, "mine", &d, NULL,
                                   err, sizeof(err));
        CHECK(!e && d == 3, "guard held: e=%d deleted=%lld (%s)", (int)e,
              (long long)d, err);
        const char *keys[1] = {gk};
        freeReplyObject(redisCommand(sf_redis_ctx(R), "SET %s other", gk));
        e = sf_redis_unlink_guarded(R, gk, "mine", 1, keys, &d, err,
                                    sizeof(err));
        CHECK(e == SF_ERR_FENCED && get("%s", gk), "unlink refused");
    }

    /* 11. the duplicate rule (docs/duplicates.md), on partition 1: an
     * event is applied only if its aggregate version is above the last
     * applied one, recorded in the same call; a failed event records
     * nothing; events below the checkpoint are not counted again */
    {
        int64_t tok;
        char vk[256], tag[9], want[32];
        CHECK(!sf_redis_epoch_bump(R, P, TOPIC, 1, &tok, err, sizeof(err)),
              "epoch 1: %s", err);
        snprintf(vk, sizeof(vk), "sf:%s:ver:%s:1:{a}", P, TOPIC);
        sf_batch_t d;
        sf_batch_init(&d);
        d.dedup = 1;
        event_v(&d, 0, "1", "e1", "INCRBY %s:v 1");
        event_v(&d, 1, "2", "e2", "INCRBY %s:v 10");
        event_v(&d, 2, "2", "e2", "INCRBY %s:v 100");  /* the same again */
        event_v(&d, 3, "1", "e1", "INCRBY %s:v 1000"); /* older */
        event_v(&d, 4, "", "", "INCRBY %s:v 5");       /* no version */
        sf_apply_res_t r = apply_p(&d, 1, tok, -1);
        CHECK(r.status == SF_APPLY_OK && r.applied == 3,
              "status %d applied %lld", r.status, (long long)r.applied);
        CHECK(geti("v") == 16, "v = %lld, want 16", geti("v"));
        CHECK(r.ver[0] == 2 && r.ver[1] == 0 && r.ver[2] == 0 && r.ver[3] == 1,
              "counts %lld %lld %lld %lld", (long long)r.ver[0],
              (long long)r.ver[1], (long long)r.ver[2], (long long)r.ver[3]);
        CHECK(strstr(r.ver_dup, "offset=3 version=1 last=2"), "last dup: %s",
              r.ver_dup);
        sf_dedup_id_tag("e2", 2, tag);
        snprintf(want, sizeof(want), "2:%s", tag);
        char *got = get("%s", vk);
        CHECK(got && !strcmp(got, want), "version key %s = %s, want %s", vk,
              got ? got : "(nil)", want);

        /* another writer's version 2 (a conflict), then a gap to 5 */
        sf_batch_reset(&d);
        event_v(&d, 5, "2", "other", "INCRBY %s:v 100");
        event_v(&d, 6, "5", "e5", "INCRBY %s:v 20");
        r = apply_p(&d, 1, tok, 4);
        CHECK(r.status == SF_APPLY_OK && geti("v") == 36 && r.ver[0] == 1 &&
                  r.ver[1] == 1 && r.ver[2] == 1,
              "conflict + gap: status %d v %lld counts %lld %lld %lld",
              r.status, geti("v"), (long long)r.ver[0], (long long)r.ver[1],
              (long long)r.ver[2]);
        CHECK(strstr(r.ver_gap, "offset=6 version=5 last=2"), "gap: %s",
              r.ver_gap);

        /* version 6 fails in Redis (stop mode): nothing of it recorded,
         * so after it is parked the aggregate's next event (which may
         * carry the same version, re-published) is applied */
        sf_batch_reset(&d);
        event_v(&d, 7, "6", "e6", "HSET %s:h f 1");
        event_v(&d, 8, "6", "e6", "INCRBY %s:h 1");
        r = apply_p(&d, 1, tok, 6);
        CHECK(r.status == SF_APPLY_OK && r.ver[0] == 1,
              "the second version 6 is a duplicate: %d %lld", r.status,
              (long long)r.ver[0]);
        sf_batch_reset(&d);
        event_v(&d, 9, "7", "e7", "INCRBY %s:h 1"); /* WRONGTYPE */
        event_v(&d, 10, "8", "e8", "INCRBY %s:v 1");
        r = apply_p(&d, 1, tok, 8);
        CHECK(r.status == SF_APPLY_EVENT_FAILED && r.bad_offset == 9,
              "failed: %d at %lld", r.status, (long long)r.bad_offset);
        got = get("%s", vk);
        CHECK(got && !strncmp(got, "6:", 2), "failed event recorded: %s",
              got ? got : "(nil)");
        CHECK(!sf_redis_ckpt_advance(R, P, TOPIC, 1, tok, 9, NULL, err,
                                     sizeof(err)),
              "park: %s", err);
        r = apply_p(&d, 1, tok, 9);
        CHECK(r.status == SF_APPLY_OK && r.applied == 1 && geti("v") == 37 &&
                  r.ver[0] == 0 && r.ver[2] == 1,
              "after parking: %d applied %lld v %lld dup %lld gap %lld",
              r.status, (long long)r.applied, geti("v"), (long long)r.ver[0],
              (long long)r.ver[2]);

        /* a re-sent batch (all at or below the checkpoint): nothing
         * applied, nothing counted again */
        r = apply_p(&d, 1, tok, 10);
        CHECK(r.status == SF_APPLY_OK && r.applied == 0 && r.ver[0] == 0 &&
                  r.ver[2] == 0 && r.ver[3] == 0,
              "re-sent: %d %lld", r.status, (long long)r.applied);

        /* the partition's counts for `status` */
        redisReply *h;
        char hk[256];
        sf_redis_key(hk, sizeof(hk), P, "dedup", TOPIC, 1);
        if (!sf_redis_cmd(R, &h, err, sizeof(err),
                          "HMGET %s duplicates "
                          "conflicts gaps unversioned",
                          hk)) {
            CHECK(h->elements == 4 && h->element[0]->str &&
                      !strcmp(h->element[0]->str, "4") &&
                      !strcmp(h->element[1]->str, "1") &&
                      !strcmp(h->element[2]->str, "2") &&
                      !strcmp(h->element[3]->str, "1"),
                  "status counts of %s", hk);
            freeReplyObject(h);
        }
        /* the rule off: every event applied, nothing counted */
        sf_batch_reset(&d);
        d.dedup = 0;
        event_v(&d, 11, "1", "e1", "INCRBY %s:v 1000");
        r = apply_p(&d, 1, tok, 10);
        CHECK(r.status == SF_APPLY_OK && geti("v") == 1037 && r.ver[0] == 0 &&
                  r.ver[3] == 0,
              "dedup off: %d v %lld", r.status, geti("v"));
        sf_batch_free(&d);
    }

    /* clean up */
    char pat[128];
    int64_t del;
    snprintf(pat, sizeof(pat), "%s:*", K);
    sf_redis_clear(R, pat, &del, err, sizeof(err));
    snprintf(pat, sizeof(pat), "sf:%s:*", P);
    sf_redis_clear(R, pat, &del, err, sizeof(err));
    sf_batch_free(&b);
    sf_redis_destroy(R);
    if (failures)
        fprintf(stderr, "apply_script: %d check(s) failed\n", failures);
    else
        fprintf(stderr, "apply_script: all checks passed\n");
    return failures ? 1 : 0;
}
