/*
 * errpath.c - one error line about a value deep inside a message:
 * "<head><path>: <reason>".
 *
 * The reason is what a reader needs; the path only says where.  A path can
 * be as long as the data is deep (200 levels of nesting are legal), while
 * the caller's errstr is a fixed buffer, so the path -- never the reason --
 * gives way: its middle is replaced by "...", keeping the root (which
 * field of the event) and the leaf (the value that failed).
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

void sf_err_path(char *out, size_t size, const char *head, const char *path,
                 const char *reason) {
    static const char dots[] = "...";
    if (!out || size == 0)
        return;
    if (!head)
        head = "";
    if (!path)
        path = "";
    size_t hl = strlen(head), pl = strlen(path), rl = strlen(reason);
    size_t sep = pl ? 2 : 0; /* ": " */
    if (hl + pl + sep + rl < size) {
        snprintf(out, size, "%s%s%s%s", head, path, sep ? ": " : "", reason);
        return;
    }
    /* Room left for the path once head, separator and reason are in. */
    size_t fixed = hl + 2 + rl;
    size_t room = fixed < size - 1 ? size - 1 - fixed : 0;
    if (room >= 2 * 4 + sizeof dots - 1) {
        size_t keep = room - (sizeof dots - 1);
        size_t front = keep / 3, back = keep - front;
        snprintf(out, size, "%s%.*s%s%s: %s", head, (int)front, path, dots,
                 path + pl - back, reason);
    } else {
        /* Not even a shortened path fits: drop it and, if need be, the
         * head; the reason goes first and is cut only as a last resort. */
        size_t rest = size - 1 > rl + 5 ? size - 1 - rl - 5 : 0;
        snprintf(out, size, "%.*s%s: %s", (int)(hl < rest ? hl : rest), head,
                 dots, reason);
    }
}
