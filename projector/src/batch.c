/* batch.c - per-partition command batch in the apply script's layout. */
#include "batch.h"
#include "dedup.h"
#include "keys.h"

#include "cmdspec.h"
#include "sf_assert.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void sf_batch_init(sf_batch_t *b) {
    memset(b, 0, sizeof(*b));
    b->first_offset = b->last_offset = -1;
    b->last_ts = -1;
}

void sf_batch_reset(sf_batch_t *b) {
    /* Storage is kept for the next use (no allocation once warm) unless it
     * is far larger than this use needed (batch.h, SF_BATCH_KEEP). */
    if (sf_batch_oversized(b->data.cap, b->data.len, SF_BATCH_KEEP_BYTES))
        sf_buf_free(&b->data);
    else
        sf_buf_reset(&b->data);
    if (sf_batch_oversized(b->acap, b->nargs, SF_BATCH_KEEP_ARGS)) {
        free(b->aoff);
        free(b->alen);
        b->aoff = b->alen = NULL;
        b->acap = 0;
    }
    if (sf_batch_oversized(b->argv_cap, b->nargs, SF_BATCH_KEEP_ARGS)) {
        free(b->argv);
        free(b->argvlen);
        b->argv = NULL;
        b->argvlen = NULL;
        b->argv_cap = 0;
    }
    b->nargs = 0;
    b->in_event = 0;
    b->nevents = b->ncmds = 0;
    b->first_offset = b->last_offset = -1;
    b->last_ts = -1;
    sf_dedup_reset(b);
}

void sf_batch_free(sf_batch_t *b) {
    sf_dedup_free(b);
    sf_buf_free(&b->data);
    free(b->aoff);
    free(b->alen);
    free(b->argv);
    free(b->argvlen);
    memset(b, 0, sizeof(*b));
}

sf_err_t sf_batch_arg(sf_batch_t *b, const void *data, size_t len) {
    if (b->nargs == b->acap) {
        size_t cap = b->acap ? b->acap * 2 : 256;
        size_t *o = realloc(b->aoff, cap * sizeof(*o));
        if (!o)
            return SF_ERR_NOMEM;
        b->aoff = o;
        size_t *l = realloc(b->alen, cap * sizeof(*l));
        if (!l)
            return SF_ERR_NOMEM;
        b->alen = l;
        b->acap = cap;
    }
    size_t off = b->data.len;
    if (sf_buf_append(&b->data, data, len))
        return SF_ERR_NOMEM;
    b->aoff[b->nargs] = off;
    b->alen[b->nargs] = len;
    b->nargs++;
    return SF_OK;
}

static sf_err_t arg_num(sf_batch_t *b, int64_t v) {
    char num[SF_I64_DIGITS];
    return sf_batch_arg(b, num, sf_fmt_i64(num, v));
}

sf_err_t sf_batch_event_begin(sf_batch_t *b, int64_t offset, int64_t ts) {
    if (b->in_event)
        return SF_ERR_STATE;
    /* the apply script skips by offset and checkpoints the last one: a
     * batch's offsets must increase */
    SF_ASSERT(offset >= 0 && (b->nevents == 0 || offset > b->last_offset));
    b->ev_data_mark = b->data.len;
    b->ev_args_mark = b->nargs;
    sf_err_t e = arg_num(b, offset);
    if (!e)
        e = sf_batch_arg(b, "0", 1); /* ncmds, patched at the end */
    if (e)
        return e;
    b->ev_ncmd_arg = b->nargs - 1;
    b->ev_ncmd = 0;
    b->in_event = 1;
    if (b->first_offset < 0)
        b->first_offset = offset;
    b->last_offset = offset;
    b->last_ts = ts;
    b->nevents++;
    return SF_OK;
}

sf_err_t sf_batch_event_end(sf_batch_t *b) {
    if (!b->in_event)
        return SF_ERR_STATE;
    b->in_event = 0;
    if (b->ev_ncmd == 0)
        return SF_OK;
    /* The count argument is re-pointed at fresh bytes at the end of the
     * data buffer: arguments need not be contiguous. */
    char num[SF_I64_DIGITS];
    size_t n = sf_fmt_i64(num, (int64_t)b->ev_ncmd);
    size_t off = b->data.len;
    if (sf_buf_append(&b->data, num, n))
        return SF_ERR_NOMEM;
    b->aoff[b->ev_ncmd_arg] = off;
    b->alen[b->ev_ncmd_arg] = n;
    b->ncmds += b->ev_ncmd;
    return SF_OK;
}

sf_err_t sf_batch_event_abort(sf_batch_t *b) {
    if (!b->in_event)
        return SF_ERR_STATE;
    /* Drop everything the event appended, then re-add its offset with a
     * command count of 0 so the checkpoint still moves past it. */
    b->data.len = b->ev_data_mark;
    if (b->data.p)
        b->data.p[b->data.len] = '\0';
    b->nargs = b->ev_args_mark;
    b->ev_ncmd = 0;
    b->in_event = 0;
    sf_err_t e = arg_num(b, b->last_offset);
    if (!e)
        e = sf_batch_arg(b, "0", 1);
    return e;
}

sf_err_t sf_batch_cmd_begin(sf_batch_t *b, size_t nargs) {
    if (!b->in_event || nargs == 0)
        return SF_ERR_STATE;
    b->ev_ncmd++;
    sf_err_t e = arg_num(b, (int64_t)nargs);
    b->cmd_a0 = b->nargs;
    b->cmd_argc = nargs;
    return e;
}

/* One pass over the packed arguments, nothing allocated: the command
 * table's checks (allowed, argument count, no key under sf:) and, with a
 * guard, each key against the projection's keys: patterns.  This runs for
 * every command a rule renders, so it looks the name up once and reads each
 * key once. */
sf_err_t sf_batch_cmd_check(sf_batch_t *b, char *errstr, size_t errstr_size) {
    if (!b->in_event || b->nargs != b->cmd_a0 + b->cmd_argc)
        return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                         "batch: no complete command to check");
    size_t argc = b->cmd_argc;
    const char *base = b->data.p;
    const size_t *off = b->aoff + b->cmd_a0, *len = b->alen + b->cmd_a0;
    const sf_cmd_spec_t *s = sf_cmdspec_find(base + off[0], len[0]);
    if (!s)
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "command %.*s is not an allowed write command",
                         (int)(len[0] > 32 ? 32 : len[0]), base + off[0]);
    sf_err_t e = sf_cmdspec_check_shape(s, argc, errstr, errstr_size);
    for (size_t i = 1; !e && i < argc; i++) {
        if (!sf_cmdspec_is_key(s, i, argc))
            continue;
        if ((e = sf_cmdspec_check_key(s, base + off[i], len[i], errstr,
                                      errstr_size)))
            break;
        if (b->guard &&
            (e = sf_keyguard_check_key(b->guard, base + off[i], len[i], errstr,
                                       errstr_size)))
            /* the event is refused even if a handler ignores the error */
            sf_keyguard_note(b->guard, errstr);
    }
    return e;
}

sf_err_t sf_batch_command(sf_batch_t *b, int argc, const char **argv,
                          const size_t *argvlen, char *errstr,
                          size_t errstr_size) {
    if (argc < 1 || !argv || !argv[0])
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_batch_command: empty command");
    if (!b->in_event)
        return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                         "sf_batch_command: called outside a handler");
    /* Refused here, with a reason, rather than inside the apply script;
     * the whole event is refused even if a handler ignores the error. */
    sf_err_t e =
        sf_cmdspec_check((size_t)argc, argv, argvlen, errstr, errstr_size);
    if (e) {
        if (b->guard)
            sf_keyguard_note(b->guard, errstr);
        return e;
    }
    e = sf_batch_cmd_begin(b, (size_t)argc);
    size_t arg0 = b->nargs;
    for (int i = 0; !e && i < argc; i++)
        e = sf_batch_arg(b, argv[i], argvlen ? argvlen[i] : strlen(argv[i]));
    if (!e)
        e = sf_batch_check_cmd(b, arg0, (size_t)argc, errstr, errstr_size);
    return e;
}

sf_err_t sf_batch_check_cmd(sf_batch_t *b, size_t arg0, size_t nargs,
                            char *errstr, size_t errstr_size) {
    if (!b->guard)
        return SF_OK;
    char msg[512];
    sf_err_t e =
        sf_keyguard_check_packed(b->guard, nargs, b->data.p, b->aoff + arg0,
                                 b->alen + arg0, msg, sizeof(msg));
    if (e) {
        /* the event is refused even if a handler ignores the error */
        sf_keyguard_note(b->guard, msg);
        return sf_seterr(errstr, errstr_size, e, "%s", msg);
    }
    return SF_OK;
}

size_t sf_batch_argv(sf_batch_t *b, size_t prefix, const char ***argv,
                     size_t **argvlen) {
    size_t n = prefix + b->nargs;
    if (n > b->argv_cap) {
        const char **a = realloc(b->argv, n * sizeof(*a));
        size_t *l = a ? realloc(b->argvlen, n * sizeof(*l)) : NULL;
        if (a)
            b->argv = a;
        if (!a || !l)
            return 0;
        b->argvlen = l;
        b->argv_cap = n;
    }
    for (size_t i = 0; i < b->nargs; i++) {
        b->argv[prefix + i] = b->data.p + b->aoff[i];
        b->argvlen[prefix + i] = b->alen[i];
    }
    *argv = b->argv;
    *argvlen = b->argvlen;
    return n;
}

/* Decimal argument i (arguments are not NUL-separated: bounded parse). */
static int64_t arg_int(const sf_batch_t *b, size_t i) {
    const char *p = b->data.p + b->aoff[i];
    int64_t v = 0;
    int neg = 0;
    for (size_t k = 0; k < b->alen[i]; k++) {
        if (k == 0 && p[k] == '-')
            neg = 1;
        else
            v = v * 10 + (p[k] - '0');
    }
    return neg ? -v : v;
}

int sf_batch_next_cmd(const sf_batch_t *b, sf_batch_iter_t *it, int64_t *offset,
                      size_t *argc, size_t *arg0) {
    while (it->cmds_left == 0) {
        if (it->i + 2 > b->nargs)
            return 0;
        it->offset = arg_int(b, it->i);
        it->cmds_left = (size_t)arg_int(b, it->i + 1);
        it->i += 2;
    }
    if (it->i >= b->nargs)
        return 0;
    size_t n = (size_t)arg_int(b, it->i);
    *offset = it->offset;
    *argc = n;
    *arg0 = it->i + 1;
    it->i += 1 + n;
    it->cmds_left--;
    return 1;
}
