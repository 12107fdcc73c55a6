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

const char *sf_logthrottle_broker(const char *msg, char *buf, size_t size) {
    buf[0] = '\0';
    const char *s = msg;
    const char *proto = strstr(s, "://");
    const char *colon_sp = strstr(s, ": ");
    if (!colon_sp)
        return buf;
    if (proto && proto < colon_sp)
        s = proto + 3;
    /* host:port/id: host has no space, there is a ':' before the '/', and
     * the id part runs to ": " */
    const char *slash = memchr(s, '/', (size_t)(colon_sp - s));
    if (!slash || memchr(s, ' ', (size_t)(colon_sp - s)) ||
        !memchr(s, ':', (size_t)(slash - s)))
        return buf;
    size_t n = (size_t)(colon_sp - s);
    if (n >= size)
        n = size - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
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
