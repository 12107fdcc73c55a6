/*
 * sf_assert.h - invariants of the apply path, checked in every build type
 * (unlike assert(3), NDEBUG does not remove them), the way redis'
 * serverAssert does: a broken invariant means a view may already be wrong,
 * and going on would hide where.  SF_ASSERT writes one line naming the
 * expression and the place to stderr and aborts; that is the one thing
 * this library prints, for the one case nothing can be returned.
 */
#ifndef SF_PROJ_ASSERT_H
#define SF_PROJ_ASSERT_H

void sf_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

#define SF_ASSERT(e) ((e) ? (void)0 : sf_assert_fail(#e, __FILE__, __LINE__))

#endif
