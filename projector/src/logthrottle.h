/*
 * logthrottle.h - at most one log line per broker and kind per window.
 *
 * While a broker is unreachable librdkafka reports every failed connect
 * (its log callback and its error callback, once per reconnect backoff,
 * per client): with a worker's consumer, its dead-letter producer and a
 * few projections, one broker down made hundreds of identical lines per
 * outage.  The projector's log_cb / error_cb (kconf.c) ask here first:
 * a line whose key (client and broker) was logged less than the window
 * ago is suppressed and counted; the next line of that key that passes
 * carries the number suppressed since.  The log callback's FAIL line and
 * the error callback's _TRANSPORT for one failed connect share the key, so
 * one broker down costs one line per client per window.
 *
 * The broker is its address, host:port, wherever librdkafka puts it
 * (rdkafka_broker.c): after the "[thrd:NAME]: " prefix of its log lines,
 * as a leading "[proto://]host:port/id: " or "GroupCoordinator:
 * host:port: ", else in "Connect to ipv4#host:port".  So the bootstrap
 * connection, the broker by id and the coordinator connection to one
 * broker share one key.  A message that names no broker is keyed by its
 * kind and its own text, so different messages of that sort never hide
 * each other.
 *
 * Threading: thread-safe (librdkafka calls the callbacks from its broker
 * threads).  Memory: a fixed table of SF_LOGTHROTTLE_SLOTS keys; when
 * full, the least recently logged key is reused (a line may then pass
 * early; none is ever lost without being counted in a later line of the
 * same key, except for evicted keys).
 */
#ifndef SF_PROJ_LOGTHROTTLE_H
#define SF_PROJ_LOGTHROTTLE_H

#include <stdint.h>

#define SF_LOGTHROTTLE_SLOTS 128
/* Window in seconds: one line per broker and kind per window. */
#define SF_LOGTHROTTLE_WINDOW_S 30.0

/* 1: log the line now, with *suppressed lines of the same key hidden
 * since the last one (0 for a first line); 0: suppress (counted).
 * now_s: a monotonic clock in seconds. */
int sf_logthrottle_pass(const char *client, const char *kind, const char *msg,
                        double now_s, uint64_t *suppressed);

/* The broker msg is about (host:port) copied into buf, "" when msg names
 * none.  For tests. */
const char *sf_logthrottle_broker(const char *msg, char *buf, size_t size);

#endif
