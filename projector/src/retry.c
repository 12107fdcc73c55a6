/* retry.c - capped exponential back-off with jitter (see retry.h). */
#include "retry.h"

#include <time.h>

#include "sf_assert.h"

void sf_backoff_init(sf_backoff_t *b, int base_ms, int cap_ms) {
    SF_ASSERT(base_ms > 0 && cap_ms >= base_ms);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    b->base_ms = base_ms;
    b->cap_ms = cap_ms;
    b->attempt = 0;
    b->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)b ^
             0x9e3779b97f4a7c15ULL;
}

int sf_backoff_next(sf_backoff_t *b) {
    int64_t d = b->base_ms;
    for (unsigned i = 0; i < b->attempt && d < b->cap_ms; i++)
        d *= 2;
    if (d > b->cap_ms)
        d = b->cap_ms;
    b->attempt++;
    b->rng ^= b->rng << 13;
    b->rng ^= b->rng >> 7;
    b->rng ^= b->rng << 17;
    int64_t half = d / 2;
    return (int)(d - half + (int64_t)(b->rng % (uint64_t)(half + 1)));
}

void sf_backoff_reset(sf_backoff_t *b) {
    b->attempt = 0;
}

unsigned sf_backoff_attempts(const sf_backoff_t *b) {
    return b->attempt;
}
