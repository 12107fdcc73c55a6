/*
 * log.h - structured log lines (key=value) handed to the callback set with
 * sf_projector_set_log_cb(); nothing is printed when none is set.
 */
#ifndef SF_PROJ_LOG_H
#define SF_PROJ_LOG_H

#include <stddef.h>
#include <stdint.h>

/* sf_log("warn", "projection=%s topic=%s msg=\"...\"", ...) */
void sf_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int sf_log_enabled(void);

/* Copies s into dst as a log value with quotes and escapes removed of
 * newlines / quotes, so one record stays one line. */
const char *sf_log_q(char *dst, size_t size, const char *s);

#endif
