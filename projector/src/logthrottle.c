/* logthrottle.c - one log line per broker and kind per window (see
 * logthrottle.h). */
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "logthrottle.h"

typedef struct slot {
    char key[256];
    double last; /* when a line of this key was last logged; 0 free */
    uint64_t suppressed;
} slot_t;

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static slot_t g_slots[SF_LOGTHROTTLE_SLOTS];

/* 1 when s[0..n) is "[proto://]host:port[/id]"; the host:port part is
 * copied into buf. */
static int hostport(const char *s, size_t n, char *buf, size_t size) {
    const char *p = s, *e = s + n;
    for (const char *q = s; q + 3 <= e; q++)
        if (!memcmp(q, "://", 3)) {
            p = q + 3;
            break;
        }
    const char *slash = memchr(p, '/', (size_t)(e - p));
    if (slash)
        e = slash;
    const char *colon = NULL;
    for (const char *q = p; q < e; q++) {
        if (*q == ' ')
            return 0;
        if (*q == ':')
            colon = q;
    }
    if (!colon || colon == p || colon + 1 == e)
        return 0;
    for (const char *q = colon + 1; q < e; q++)
        if (*q < '0' || *q > '9')
            return 0;
    size_t len = (size_t)(e - p) < size ? (size_t)(e - p) : size - 1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    return 1;
}

const char *sf_logthrottle_broker(const char *msg, char *buf, size_t size) {
    buf[0] = '\0';
    const char *s = msg;
    if (!strncmp(s, "[thrd:", 6)) { /* librdkafka's "[thrd:NAME]: " */
        const char *c = strstr(s, "]: ");
        if (c)
            s = c + 3;
    }
    /* leading "name: " segments: "127.0.0.1:9093/2: ...",
     * "GroupCoordinator: 127.0.0.1:9093: ...", "ssl://h:9093/1: ..." */
    for (int i = 0; i < 3; i++) {
        const char *c = strstr(s, ": ");
        if (!c || memchr(s, ' ', (size_t)(c - s)))
            break;
        if (hostport(s, (size_t)(c - s), buf, size))
            return buf;
        s = c + 2;
    }
    /* "Connect to ipv4#127.0.0.1:9093 failed" */
    const char *h = strchr(s, '#');
    if (h) {
        size_t n = strcspn(h + 1, " ,)");
        if (hostport(h + 1, n, buf, size))
            return buf;
    }
    buf[0] = '\0';
    return buf;
}

int sf_logthrottle_pass(const char *client, const char *kind, const char *msg,
                        double now_s, uint64_t *suppressed) {
    char broker[128], key[256];
    sf_logthrottle_broker(msg, broker, sizeof(broker));
    if (*broker) /* one line per broker, whatever the kind */
        snprintf(key, sizeof(key), "%s|%s", client ? client : "-", broker);
    else
        snprintf(key, sizeof(key), "%s|%s|%s", client ? client : "-",
                 kind ? kind : "-", msg);
    *suppressed = 0;
    pthread_mutex_lock(&g_lock);
    slot_t *hit = NULL, *old = &g_slots[0];
    for (size_t i = 0; i < SF_LOGTHROTTLE_SLOTS; i++) {
        slot_t *s = &g_slots[i];
        if (s->last > 0 && !strcmp(s->key, key)) {
            hit = s;
            break;
        }
        if (s->last < old->last)
            old = s;
    }
    int pass;
    if (!hit) {
        snprintf(old->key, sizeof(old->key), "%s", key);
        old->last = now_s > 0 ? now_s : 1e-9;
        old->suppressed = 0;
        pass = 1;
    } else if (now_s - hit->last >= SF_LOGTHROTTLE_WINDOW_S) {
        *suppressed = hit->suppressed;
        hit->suppressed = 0;
        hit->last = now_s;
        pass = 1;
    } else {
        hit->suppressed++;
        pass = 0;
    }
    pthread_mutex_unlock(&g_lock);
    return pass;
}
