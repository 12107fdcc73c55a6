/* sf_assert.c - see sf_assert.h. */
#include "sf_assert.h"

#include <stdio.h>
#include <stdlib.h>

void sf_assert_fail(const char *expr, const char *file, int line) {
    fprintf(stderr, "sf-projector: invariant broken at %s:%d: %s\n", file, line,
            expr);
    fflush(stderr);
    abort();
}
