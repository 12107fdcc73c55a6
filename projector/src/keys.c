/* keys.c - key positions, Redis glob patterns, the per-projection key guard
 * and the id encoding inside keys (see keys.h and projector/README.md). */
#include "keys.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmdspec.h"
#include "sf_projector.h"

/* ---- key positions ----------------------------------------------------- */

/* Key positions come from the one command table (cmdspec.h), which
 * follows Redis' COMMAND INFO (first key, last key, step). */
int sf_cmd_keys(const char *name, size_t len, sf_cmd_keyspec_t *spec) {
    const sf_cmd_spec_t *s = sf_cmdspec_find(name, len);
    if (!s)
        return 0;
    spec->first = s->first_key;
    spec->last = s->last_key;
    spec->step = s->key_step;
    return 1;
}

int sf_cmd_is_key(const sf_cmd_keyspec_t *spec, size_t argc, size_t i) {
    long last = spec->last < 0 ? (long)argc + spec->last : spec->last;
    if (i < (size_t)spec->first || (long)i > last || i >= argc)
        return 0;
    return (i - (size_t)spec->first) % (size_t)spec->step == 0;
}

/* ---- glob patterns -------------------------------------------------------
 * A pattern is a list of tokens: a set of bytes (a literal, '?', a class)
 * matching exactly one byte, or a star matching any run.  Matching and
 * overlap run the patterns as NFAs whose state k means "tokens before k
 * are matched". */

typedef struct tok {
    int star;        /* any run of bytes of set (a '*': every byte) */
    uint64_t set[4]; /* bytes this token takes */
} tok_t;

struct sf_glob {
    size_t n, cap;
    tok_t *t;
    char *text;
};

static void set_add(uint64_t *s, unsigned c) {
    s[c >> 6] |= 1ull << (c & 63);
}
static int set_has(const uint64_t *s, unsigned c) {
    return (int)((s[c >> 6] >> (c & 63)) & 1);
}
static int sets_meet(const uint64_t *a, const uint64_t *b) {
    return (a[0] & b[0]) || (a[1] & b[1]) || (a[2] & b[2]) || (a[3] & b[3]);
}

void sf_glob_destroy(sf_glob_t *g) {
    if (!g)
        return;
    free(g->t);
    free(g->text);
    free(g);
}

sf_err_t sf_glob_compile(const char *pat, size_t len, sf_glob_t **out,
                         size_t *errcol, char *errstr, size_t errstr_size) {
    sf_glob_t *g = calloc(1, sizeof *g);
    if (!g || !(g->t = calloc(len ? len : 1, sizeof *g->t)) ||
        !(g->text = strndup(pat, len))) {
        sf_glob_destroy(g);
        return SF_ERR_NOMEM;
    }
    g->cap = len ? len : 1;
    const unsigned char *p = (const unsigned char *)pat;
    size_t i = 0;
    while (i < len) {
        tok_t *t = &g->t[g->n];
        memset(t, 0, sizeof *t);
        if (p[i] == '*') {
            if (!(g->n && g->t[g->n - 1].star)) { /* "**" is "*" */
                t->star = 1;
                memset(t->set, 0xff, sizeof t->set);
                g->n++;
            }
            i++;
            continue;
        }
        if (p[i] == '?') {
            memset(t->set, 0xff, sizeof t->set);
            i++;
        } else if (p[i] == '\\') {
            if (i + 1 >= len) {
                *errcol = i;
                sf_glob_destroy(g);
                return sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                                 "pattern ends with a lone '\\' "
                                 "(write '\\\\' for a backslash)");
            }
            set_add(t->set, p[i + 1]);
            i += 2;
        } else if (p[i] == '[') {
            size_t open = i++;
            int neg = i < len && p[i] == '^', closed = 0;
            if (neg)
                i++;
            /* The order of Redis' stringmatchlen: escape, ']', range. */
            while (i < len) {
                if (p[i] == '\\' && i + 1 < len) {
                    set_add(t->set, p[i + 1]);
                    i += 2;
                } else if (p[i] == ']') {
                    closed = 1;
                    i++;
                    break;
                } else if (len - i >= 3 && p[i + 1] == '-') {
                    /* Redis compares range ends and the key byte as
                     * (signed) char: on its platforms bytes 0x80-0xFF
                     * sort BELOW 0x00, so "[t-\xc3]" takes 0x00-0x74 and
                     * 0xC3-0xFF.  Modelled exactly (-128..127 below). */
                    int lo = (signed char)p[i], hi = (signed char)p[i + 2];
                    if (lo > hi) {
                        int x = lo;
                        lo = hi;
                        hi = x;
                    }
                    for (int c = lo; c <= hi; c++)
                        set_add(t->set, (unsigned char)c);
                    i += 3;
                } else {
                    set_add(t->set, p[i]);
                    i++;
                }
            }
            if (!closed) {
                *errcol = open;
                sf_glob_destroy(g);
                return sf_seterr(errstr, errstr_size, SF_ERR_PARSE,
                                 "unterminated '[' in pattern");
            }
            if (neg)
                for (int k = 0; k < 4; k++)
                    t->set[k] = ~t->set[k];
        } else {
            set_add(t->set, p[i]);
            i++;
        }
        g->n++;
    }
    *out = g;
    return SF_OK;
}

sf_glob_t *sf_glob_new(void) {
    sf_glob_t *g = calloc(1, sizeof *g);
    if (g && !(g->text = strdup("(key template)"))) {
        free(g);
        g = NULL;
    }
    return g;
}

static tok_t *push(sf_glob_t *g) {
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 8;
        tok_t *t = realloc(g->t, cap * sizeof *t);
        if (!t)
            return NULL;
        g->t = t;
        g->cap = cap;
    }
    tok_t *t = &g->t[g->n++];
    memset(t, 0, sizeof *t);
    return t;
}

sf_err_t sf_glob_add_literal(sf_glob_t *g, const void *s, size_t len) {
    const unsigned char *b = s;
    for (size_t i = 0; i < len; i++) {
        tok_t *t = push(g);
        if (!t)
            return SF_ERR_NOMEM;
        set_add(t->set, b[i]);
    }
    return SF_OK;
}

sf_err_t sf_glob_add_id(sf_glob_t *g) {
    /* (the second push may move the tokens: index after both) */
    if (!push(g) || !push(g))
        return SF_ERR_NOMEM;
    tok_t *one = &g->t[g->n - 2], *more = &g->t[g->n - 1];
    for (unsigned c = 0x20; c < 0x100; c++)
        if (c != ':' && c != 0x7f)
            set_add(one->set, c);
    memcpy(more->set, one->set, sizeof one->set);
    more->star = 1;
    return SF_OK;
}

/* Follows stars (which may match nothing) forward from every live state. */
static void closure(const sf_glob_t *g, unsigned char *st) {
    for (size_t k = 0; k < g->n; k++)
        if (st[k] && g->t[k].star)
            st[k + 1] = 1;
}

/* Patterns with no star before the last token ("cart:*", "total"): one
 * pass over the key, no automaton.  -1: not such a pattern. */
static int match_simple(const sf_glob_t *g, const unsigned char *b,
                        size_t len) {
    size_t n = g->n;
    for (size_t k = 0; k + 1 < n; k++)
        if (g->t[k].star)
            return -1;
    int tail = n && g->t[n - 1].star; /* a star last: any number of bytes */
    size_t fixed = n - (size_t)tail;
    if (tail ? len < fixed : len != fixed)
        return 0;
    for (size_t i = 0; i < fixed; i++)
        if (!set_has(g->t[i].set, b[i]))
            return 0;
    for (size_t i = fixed; i < len; i++)
        if (!set_has(g->t[n - 1].set, b[i]))
            return 0;
    return 1;
}

int sf_glob_match(const sf_glob_t *g, const void *s, size_t len) {
    int simple = match_simple(g, s, len);
    if (simple >= 0)
        return simple;
    unsigned char small[2][64], *cur, *nxt;
    unsigned char *heap = NULL;
    if (g->n + 1 <= sizeof small[0]) {
        cur = small[0];
        nxt = small[1];
    } else {
        if (!(heap = malloc(2 * (g->n + 1))))
            return 0;
        cur = heap;
        nxt = heap + g->n + 1;
    }
    memset(cur, 0, g->n + 1);
    cur[0] = 1;
    closure(g, cur);
    const unsigned char *b = s;
    int alive = 1;
    for (size_t i = 0; i < len && alive; i++) {
        memset(nxt, 0, g->n + 1);
        alive = 0;
        for (size_t k = 0; k < g->n; k++) {
            if (!cur[k])
                continue;
            if (!set_has(g->t[k].set, b[i]))
                continue;
            if (g->t[k].star)
                nxt[k] = alive = 1;
            else
                nxt[k + 1] = alive = 1;
        }
        closure(g, nxt);
        unsigned char *x = cur;
        cur = nxt;
        nxt = x;
    }
    int ok = alive && cur[g->n];
    free(heap);
    return ok;
}

int sf_glob_overlap(const sf_glob_t *a, const sf_glob_t *b) {
    size_t w = b->n + 1, cells = (a->n + 1) * w;
    unsigned char *seen = calloc(cells, 1);
    size_t *queue = malloc(cells * sizeof *queue);
    int found = 0;
    if (!seen || !queue) {
        free(seen);
        free(queue);
        return 1; /* cannot tell: assume the worst */
    }
    size_t head = 0, tail = 0;
    seen[0] = 1;
    queue[tail++] = 0;
    while (head < tail && !found) {
        size_t i = queue[head] / w, j = queue[head] % w;
        head++;
        if (i == a->n && j == b->n) {
            found = 1;
            break;
        }
        /* up to four successors: two empty-star moves, byte moves */
        size_t next[4][2];
        int nn = 0;
        if (i < a->n && a->t[i].star)
            next[nn][0] = i + 1, next[nn][1] = j, nn++;
        if (j < b->n && b->t[j].star)
            next[nn][0] = i, next[nn][1] = j + 1, nn++;
        if (i < a->n && j < b->n) {
            if (sets_meet(a->t[i].set, b->t[j].set)) {
                next[nn][0] = a->t[i].star ? i : i + 1;
                next[nn][1] = b->t[j].star ? j : j + 1;
                nn++;
            }
        }
        for (int k = 0; k < nn; k++) {
            size_t c = next[k][0] * w + next[k][1];
            if (!seen[c]) {
                seen[c] = 1;
                queue[tail++] = c;
            }
        }
    }
    free(seen);
    free(queue);
    return found;
}

/* ---- the guard ----------------------------------------------------------- */

struct sf_keyguard {
    sf_glob_t **g;
    size_t n;
    char violation[512];
};

/* A key for an error line: printable bytes as they are, others as \xHH,
 * cut at about 160 bytes. */
static void show_key(char *out, size_t size, const void *key, size_t len) {
    const unsigned char *k = key;
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < size; i++) {
        if (o > 160) {
            o += (size_t)snprintf(out + o, size - o, "...");
            break;
        }
        if (k[i] >= 0x20 && k[i] < 0x7f && k[i] != '\\')
            out[o++] = (char)k[i];
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", k[i]);
    }
    out[o < size ? o : size - 1] = '\0';
}

void sf_keyguard_destroy(sf_keyguard_t *kg) {
    if (!kg)
        return;
    for (size_t i = 0; i < kg->n; i++)
        sf_glob_destroy(kg->g[i]);
    free(kg->g);
    free(kg);
}

sf_err_t sf_keyguard_new(const char *const *patterns, size_t n,
                         sf_keyguard_t **out, char *errstr,
                         size_t errstr_size) {
    sf_keyguard_t *kg = calloc(1, sizeof *kg);
    if (!kg || !(kg->g = calloc(n ? n : 1, sizeof *kg->g))) {
        free(kg);
        return SF_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        size_t col = 0;
        char msg[256];
        sf_err_t e = sf_glob_compile(patterns[i], strlen(patterns[i]),
                                     &kg->g[i], &col, msg, sizeof msg);
        if (e) {
            sf_keyguard_destroy(kg);
            return sf_seterr(errstr, errstr_size, e, "key pattern \"%s\": %s",
                             patterns[i], msg);
        }
        kg->n++;
    }
    *out = kg;
    return SF_OK;
}

sf_err_t sf_keyguard_check_key(const sf_keyguard_t *kg, const void *key,
                               size_t len, char *errstr, size_t errstr_size) {
    const unsigned char *k = key;
    char shown[200];
    const char *why = NULL;
    size_t pl = strlen(SF_REDIS_PREFIX);
    if (len == 0)
        why = "is empty";
    for (size_t i = 0; !why && i < len; i++)
        if (k[i] < 0x20 || k[i] == 0x7f)
            why = "holds a control byte (ids in keys must be escaped)";
    if (!why && len >= pl && !memcmp(k, SF_REDIS_PREFIX, pl))
        why = "is under the reserved prefix " SF_REDIS_PREFIX;
    for (size_t i = 0; !why && i + 1 < len; i++)
        if (k[i] == ':' && k[i + 1] == ':')
            why = "has an empty ':' segment (an empty id?)";
    if (!why && (k[0] == ':' || k[len - 1] == ':'))
        why = "has an empty ':' segment (an empty id?)";
    if (why) {
        show_key(shown, sizeof shown, key, len);
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE, "key \"%s\" %s",
                         shown, why);
    }
    for (size_t i = 0; i < kg->n; i++)
        if (sf_glob_match(kg->g[i], key, len))
            return SF_OK;
    show_key(shown, sizeof shown, key, len);
    char pats[256];
    size_t o = 0;
    pats[0] = '\0';
    for (size_t i = 0; i < kg->n && o + 4 < sizeof pats; i++)
        o += (size_t)snprintf(pats + o, sizeof pats - o, "%s\"%s\"",
                              i ? ", " : "", kg->g[i]->text);
    return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                     "key \"%s\" matches none of the projection's keys: "
                     "[%s]",
                     shown, pats);
}

/* Argument i of a command, wherever its bytes live. */
typedef struct args {
    const char *const *argv; /* argv form, or NULL */
    const size_t *argvlen;
    const char *base; /* packed form: base + off[i], len[i] */
    const size_t *off, *len;
} args_t;

static const char *arg(const args_t *a, size_t i, size_t *len) {
    if (a->argv) {
        *len = a->argvlen[i];
        return a->argv[i];
    }
    *len = a->len[i];
    return a->base + a->off[i];
}

static sf_err_t check_args(const sf_keyguard_t *kg, size_t argc,
                           const args_t *a, char *errstr, size_t errstr_size) {
    sf_cmd_keyspec_t spec;
    size_t nl = 0;
    const char *name = argc ? arg(a, 0, &nl) : "";
    if (argc < 1 || !sf_cmd_keys(name, nl, &spec))
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE,
                         "%.*s is not an allowed write command",
                         (int)(nl > 32 ? 32 : nl), name);
    if (argc < 2)
        return sf_seterr(errstr, errstr_size, SF_ERR_RULE, "%.*s without a key",
                         (int)nl, name);
    for (size_t i = 1; i < argc; i++) {
        if (!sf_cmd_is_key(&spec, argc, i))
            continue;
        size_t kl;
        const char *k = arg(a, i, &kl);
        sf_err_t e = sf_keyguard_check_key(kg, k, kl, errstr, errstr_size);
        if (e)
            return e;
    }
    return SF_OK;
}

sf_err_t sf_keyguard_check_cmd(const sf_keyguard_t *kg, size_t argc,
                               const char *const *argv, const size_t *argvlen,
                               char *errstr, size_t errstr_size) {
    args_t a = {argv, argvlen, NULL, NULL, NULL};
    return check_args(kg, argc, &a, errstr, errstr_size);
}

sf_err_t sf_keyguard_check_packed(const sf_keyguard_t *kg, size_t argc,
                                  const char *base, const size_t *off,
                                  const size_t *len, char *errstr,
                                  size_t errstr_size) {
    args_t a = {NULL, NULL, base, off, len};
    return check_args(kg, argc, &a, errstr, errstr_size);
}

void sf_keyguard_event_reset(sf_keyguard_t *kg) {
    kg->violation[0] = '\0';
}

void sf_keyguard_note(sf_keyguard_t *kg, const char *msg) {
    if (!kg->violation[0])
        snprintf(kg->violation, sizeof kg->violation, "%s", msg);
}

const char *sf_keyguard_violation(const sf_keyguard_t *kg) {
    return kg->violation[0] ? kg->violation : NULL;
}

sf_err_t sf_keys_check_reserved(const char *pat, char *errstr,
                                size_t errstr_size) {
    static const char reserved[] = SF_REDIS_PREFIX "*";
    sf_glob_t *a = NULL, *r = NULL;
    size_t col;
    char msg[256];
    sf_err_t e = sf_glob_compile(pat, strlen(pat), &a, &col, msg, sizeof msg);
    if (e)
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "key pattern \"%s\": %s", pat, msg);
    if ((e = sf_keys_check_portable(pat, strlen(pat), &col, msg, sizeof msg))) {
        sf_glob_destroy(a);
        return sf_seterr(errstr, errstr_size, e,
                         "key pattern \"%s\" (byte %zu): %s", pat, col + 1,
                         msg);
    }
    e = sf_glob_compile(reserved, sizeof reserved - 1, &r, &col, msg,
                        sizeof msg);
    if (!e && sf_glob_overlap(a, r))
        e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                      "key pattern \"%s\" can match keys under the reserved "
                      "prefix " SF_REDIS_PREFIX " (projector bookkeeping): "
                      "start it with a literal prefix of your own",
                      pat);
    sf_glob_destroy(a);
    sf_glob_destroy(r);
    return e;
}

int sf_keys_may_clear(const sf_glob_t *g, const void *key, size_t len) {
    size_t pl = strlen(SF_REDIS_PREFIX);
    if (len >= pl && !memcmp(key, SF_REDIS_PREFIX, pl))
        return 0;
    return sf_glob_match(g, key, len);
}

sf_err_t sf_keys_check_portable(const char *pat, size_t len, size_t *errcol,
                                char *errstr, size_t errstr_size) {
    const unsigned char *p = (const unsigned char *)pat;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '\\') {
            i++;
            continue;
        }
        if (p[i] != '[')
            continue;
        size_t j = i + 1;
        if (j < len && p[j] == '^')
            j++;
        /* the class scan of sf_glob_compile / Redis: escape, ']', range */
        while (j < len && p[j] != ']') {
            if (p[j] == '\\' && j + 1 < len) {
                j += 2;
            } else if (len - j >= 3 && p[j + 1] == '-') {
                if (p[j] >= 0x80 || p[j + 2] >= 0x80) {
                    *errcol = j;
                    return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                                     "class range with a byte >= 0x80: "
                                     "Redis orders such bytes by the sign "
                                     "of C char, which differs between "
                                     "platforms; list the bytes or escape "
                                     "them instead");
                }
                j += 3;
            } else {
                j++;
            }
        }
        i = j;
    }
    return SF_OK;
}

/* ---- ids inside keys ---------------------------------------------------- */

static int must_escape(unsigned char c) {
    return c == ':' || c == '%' || c < 0x20 || c == 0x7f;
}

size_t sf_key_escape(char *out, size_t out_size, const void *id,
                     size_t id_len) {
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = id;
    size_t need = 0, w = 0; /* w: bytes written, never a cut escape */
    int full = out_size == 0;
    for (size_t i = 0; i < id_len; i++) {
        int esc = must_escape(s[i]);
        size_t n = esc ? 3 : 1;
        if (!full && w + n < out_size) {
            if (esc) {
                out[w] = '%';
                out[w + 1] = hex[s[i] >> 4];
                out[w + 2] = hex[s[i] & 15];
            } else {
                out[w] = (char)s[i];
            }
            w += n;
        } else {
            full = 1;
        }
        need += n;
    }
    if (out_size)
        out[w] = '\0';
    return need;
}
