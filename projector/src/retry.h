/*
 * retry.h - the one back-off policy of the projector's retry loops:
 * capped exponential with jitter ("equal jitter": half the delay fixed,
 * half random, so waits keep growing and workers that failed together do
 * not retry in lock-step).  The n-th wait (n = 0, 1, ...) lies in
 * [d/2, d] with d = min(cap, base * 2^n).
 *
 * Usage: sf_backoff_t b; sf_backoff_init(&b, 100, 5000); then on each
 * failure wait sf_backoff_next(&b) ms (the caller waits its own way: the
 * worker keeps polling Kafka meanwhile); sf_backoff_reset() after success.
 * Whether to retry at all is the caller's: only retriable errors are.
 *
 * No allocation, no globals; one sf_backoff_t per loop, not shared
 * between threads.
 */
#ifndef SF_PROJ_RETRY_H
#define SF_PROJ_RETRY_H

#include <stdint.h>

typedef struct sf_backoff {
    int base_ms, cap_ms;
    unsigned attempt;
    uint64_t rng; /* xorshift state */
} sf_backoff_t;

void sf_backoff_init(sf_backoff_t *b, int base_ms, int cap_ms);
/* The next wait in ms, and counts the attempt. */
int sf_backoff_next(sf_backoff_t *b);
void sf_backoff_reset(sf_backoff_t *b);
/* Failed attempts since init / reset. */
unsigned sf_backoff_attempts(const sf_backoff_t *b);

#endif
