/* log.c - structured log lines through a user callback. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sf_projector.h"

static sf_projector_log_fn log_cb;

void sf_projector_set_log_cb(sf_projector_log_fn fn) {
    log_cb = fn;
}

int sf_log_enabled(void) {
    return log_cb != NULL;
}

void sf_log(const char *level, const char *fmt, ...) {
    if (!log_cb)
        return;
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    log_cb(level, line);
}

const char *sf_log_q(char *dst, size_t size, const char *s) {
    size_t j = 0;
    if (size < 3)
        return "";
    dst[j++] = '"';
    for (; s && *s && j + 3 < size; s++) {
        char c = *s;
        if (c == '"' || c == '\\') {
            dst[j++] = '\\';
            dst[j++] = c;
        } else if (c == '\n' || c == '\r') {
            dst[j++] = ' ';
        } else {
            dst[j++] = c;
        }
    }
    dst[j++] = '"';
    dst[j] = '\0';
    return dst;
}
