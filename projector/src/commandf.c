/* commandf.c - sf_batch_commandf(): a Redis command from a format, in the
 * spirit of hiredis's redisCommand().
 *
 * Spaces in the format separate arguments; nothing else does.  A
 * conversion's value is spliced into the argument it stands in and is
 * never split or re-parsed, so event data holding spaces, quotes, NULs or
 * CRLF stays one binary-safe argument and cannot add arguments or
 * commands.  The format is walked twice over copies of the va_list: once
 * to measure (and validate: nothing reaches the batch on a bad format),
 * once to fill.  Small commands are built on the stack: no allocation.
 * The result goes through sf_batch_command(), so the allow-list and the
 * keys: check apply exactly as for the argv form. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_projector.h"

#define STACK_ARGS  32
#define STACK_BYTES 2048

typedef struct {
    char *buf;    /* NULL: measuring */
    size_t len;   /* bytes written (or needed) */
    size_t *off;  /* per argument: start in buf */
    size_t *alen; /* per argument: length */
    size_t argc;
    int in_word;
} out_t;

static void put(out_t *o, const void *p, size_t n) {
    if (!o->in_word) {
        if (o->buf)
            o->off[o->argc] = o->len;
        o->argc++;
        o->in_word = 1;
    }
    if (o->buf && n)
        memcpy(o->buf + o->len, p, n);
    o->len += n;
    if (o->buf)
        o->alen[o->argc - 1] = o->len - o->off[o->argc - 1];
}

/* One pass over fmt.  SF_ERR_INVALID_ARG naming the byte offset for an
 * unknown conversion; SF_ERR_RULE for an empty id in %k/%K. */
static sf_err_t pass(const char *fmt, va_list ap, out_t *o, char *errstr,
                     size_t errstr_size) {
    char num[64];
    for (const char *c = fmt; *c; c++) {
        if (*c == ' ') {
            o->in_word = 0;
            continue;
        }
        if (*c != '%') {
            put(o, c, 1);
            continue;
        }
        const char *at = c++;
        int n = -1;
        if (*c == '%') {
            put(o, "%", 1);
            continue;
        } else if (*c == 's') {
            const char *s = va_arg(ap, const char *);
            put(o, s ? s : "", s ? strlen(s) : 0);
            continue;
        } else if (*c == 'b') {
            const void *p = va_arg(ap, const void *);
            size_t len = va_arg(ap, size_t);
            put(o, p, p ? len : 0);
            continue;
        } else if (*c == 'k' || *c == 'K') {
            const void *p = va_arg(ap, const void *);
            size_t len = *c == 'K' ? va_arg(ap, size_t)
                                   : (p ? strlen((const char *)p) : 0);
            if (!p || !len)
                return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                                 "sf_batch_commandf: empty id for %%%c at "
                                 "byte %zu of \"%s\" (an id names a key: "
                                 "never empty)",
                                 *c, (size_t)(at - fmt), fmt);
            size_t need = sf_key_escape(NULL, 0, p, len);
            if (o->buf) {
                put(o, "", 0);
                sf_key_escape(o->buf + o->len, need + 1, p, len);
            } else {
                put(o, "", 0);
            }
            o->len += need;
            if (o->buf)
                o->alen[o->argc - 1] = o->len - o->off[o->argc - 1];
            continue;
        } else if (*c == 'd' || *c == 'i') {
            n = snprintf(num, sizeof num, "%d", va_arg(ap, int));
        } else if (*c == 'u') {
            n = snprintf(num, sizeof num, "%u", va_arg(ap, unsigned));
        } else if (*c == 'f' || *c == 'g') {
            /* %.17g: the double reads back exactly (Redis parses it with
             * strtold) */
            n = snprintf(num, sizeof num, "%.17g", va_arg(ap, double));
        } else if (c[0] == 'z' && c[1] == 'u') {
            c++;
            n = snprintf(num, sizeof num, "%zu", va_arg(ap, size_t));
        } else if (c[0] == 'l' && c[1] == 'l' &&
                   (c[2] == 'd' || c[2] == 'i' || c[2] == 'u')) {
            c += 2;
            n = *c == 'u'
                    ? snprintf(num, sizeof num, "%llu",
                               va_arg(ap, unsigned long long))
                    : snprintf(num, sizeof num, "%lld", va_arg(ap, long long));
        } else if (c[0] == 'l' && (c[1] == 'd' || c[1] == 'i' || c[1] == 'u')) {
            c++;
            n = *c == 'u' ? snprintf(num, sizeof num, "%lu",
                                     va_arg(ap, unsigned long))
                          : snprintf(num, sizeof num, "%ld", va_arg(ap, long));
        }
        if (n < 0)
            return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                             "sf_batch_commandf: unknown conversion \"%%%.*s\" "
                             "at byte %zu of \"%s\" (known: %%s %%b %%k %%K "
                             "%%d %%i %%u %%ld %%lld %%lu %%llu %%zu %%f %%g "
                             "%%%%)",
                             *c ? 1 : 0, c, (size_t)(at - fmt), fmt);
        put(o, num, (size_t)n);
    }
    return SF_OK;
}

sf_err_t sf_batch_commandf(sf_batch_t *batch, char *errstr, size_t errstr_size,
                           const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sf_err_t e = sf_batch_vcommandf(batch, errstr, errstr_size, fmt, ap);
    va_end(ap);
    return e;
}

sf_err_t sf_batch_vcommandf(sf_batch_t *batch, char *errstr, size_t errstr_size,
                            const char *fmt, va_list ap) {
    if (!fmt)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_batch_commandf: no format");
    out_t m = {0};
    va_list aq;
    va_copy(aq, ap);
    sf_err_t e = pass(fmt, aq, &m, errstr, errstr_size);
    va_end(aq);
    if (e)
        return e;
    if (m.argc == 0)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_batch_commandf: empty command");
    char sbuf[STACK_BYTES + 1];
    size_t soff[STACK_ARGS], slen[STACK_ARGS];
    const char *sargv[STACK_ARGS];
    out_t o = {sbuf, 0, soff, slen, 0, 0};
    const char **argv = sargv;
    void *heap = NULL;
    if (m.argc > STACK_ARGS || m.len > STACK_BYTES) {
        /* one block: argv, offsets, lengths, bytes (+1 for the NUL
         * sf_key_escape writes) */
        size_t words = m.argc * (sizeof(char *) + 2 * sizeof(size_t));
        if (!(heap = malloc(words + m.len + 1)))
            return SF_ERR_NOMEM;
        argv = heap;
        o.off = (size_t *)((char *)heap + m.argc * sizeof(char *));
        o.alen = o.off + m.argc;
        o.buf = (char *)(o.alen + m.argc);
    }
    va_copy(aq, ap);
    e = pass(fmt, aq, &o, errstr, errstr_size);
    va_end(aq);
    if (!e) {
        for (size_t i = 0; i < o.argc; i++)
            argv[i] = o.buf + o.off[i];
        e = sf_batch_command(batch, (int)o.argc, argv, o.alen, errstr,
                             errstr_size);
    }
    free(heap);
    return e;
}
