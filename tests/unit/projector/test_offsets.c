/* test_offsets.c - the offset reset policy (offsets.h): which committed
 * offsets are ours, which foreign ones ask for a rebuild and which are
 * refused; no broker, no Redis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "offsets.h"

/* part(committed, ours, ckpt, lo, hi) on topic t, partition i */
static sf_offsets_part_t part(int32_t i, int64_t committed, int ours,
                              int64_t ckpt, int64_t lo, int64_t hi) {
    sf_offsets_part_t p = {"t", i, committed, ours, ckpt, lo, hi};
    return p;
}

static void metadata_marks_ours(void **state) {
    (void)state;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_t *tp =
        rd_kafka_topic_partition_list_add(l, "t", 0);
    assert_int_equal(sf_offsets_mark(tp, "carts", 41), SF_OK);
    assert_true(sf_offsets_is_ours(tp->metadata, tp->metadata_size));
    assert_int_equal(tp->metadata_size, strlen("sf1:carts:41"));
    assert_memory_equal(tp->metadata, "sf1:carts:41", tp->metadata_size);
    /* a very long name is cut: the metadata stays short */
    char longname[1000];
    memset(longname, 'p', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(sf_offsets_mark(tp, longname, 7), SF_OK);
    assert_true(tp->metadata_size < SF_OFFSETS_MD_MAX);
    assert_true(sf_offsets_is_ours(tp->metadata, tp->metadata_size));
    rd_kafka_topic_partition_list_destroy(l);
    /* Kafka's tools commit empty metadata; other text is not ours */
    assert_false(sf_offsets_is_ours("", 0));
    assert_false(sf_offsets_is_ours(NULL, 0));
    assert_false(sf_offsets_is_ours("sf1", 3));
    assert_false(sf_offsets_is_ours("xsf1:carts:1", 12));
}

static void judge_policy(void **state) {
    (void)state;
    size_t first = 99;
    /* ours, whatever the offset (async commits lag): no reset */
    sf_offsets_part_t a[] = {part(0, 10, 1, 50, 0, 60),
                             part(1, 0, 1, 9, 0, 10)};
    assert_int_equal(sf_offsets_judge(a, 2, &first), SF_RESET_NONE);
    /* foreign but where the worker resumes anyway (an upgrade from
     * commits without metadata): no reset */
    sf_offsets_part_t b[] = {part(0, 51, 0, 50, 0, 60),
                             part(1, 0, 0, -1, 0, 0)};
    assert_int_equal(sf_offsets_judge(b, 2, NULL), SF_RESET_NONE);
    /* no commit at all (new or deleted group): no reset */
    sf_offsets_part_t c[] = {part(0, -1, 0, 50, 0, 60)};
    assert_int_equal(sf_offsets_judge(c, 1, NULL), SF_RESET_NONE);
    /* every partition at the earliest: rebuild */
    sf_offsets_part_t d[] = {part(0, 0, 0, 50, 0, 60), part(1, 3, 0, 9, 3, 10)};
    assert_int_equal(sf_offsets_judge(d, 2, NULL), SF_RESET_EARLIEST);
    /* ... an empty partition without a commit does not spoil it */
    sf_offsets_part_t e[] = {part(0, 0, 0, 50, 0, 60),
                             part(1, -1, 0, -1, 0, 0)};
    assert_int_equal(sf_offsets_judge(e, 2, NULL), SF_RESET_EARLIEST);
    /* only some partitions at the earliest: refused, the first named */
    sf_offsets_part_t f[] = {part(0, 51, 1, 50, 0, 60),
                             part(1, 0, 0, 9, 0, 10)};
    assert_int_equal(sf_offsets_judge(f, 2, &first), SF_RESET_OTHER);
    assert_int_equal(first, 1);
    /* shift-by backward, forward, to an offset: refused */
    sf_offsets_part_t g[] = {part(0, 20, 0, 50, 0, 60)};
    assert_int_equal(sf_offsets_judge(g, 1, &first), SF_RESET_OTHER);
    assert_int_equal(first, 0);
    sf_offsets_part_t h[] = {part(0, 60, 0, 50, 0, 60)};
    assert_int_equal(sf_offsets_judge(h, 1, NULL), SF_RESET_OTHER);
    /* to the earliest where there is no checkpoint yet: nothing to do */
    sf_offsets_part_t k[] = {part(0, 0, 0, -1, 0, 60)};
    assert_int_equal(sf_offsets_judge(k, 1, NULL), SF_RESET_NONE);
}

static void refusal_names_everything(void **state) {
    (void)state;
    sf_offsets_part_t p = part(2, 700, 0, 1199, 0, 1200);
    p.topic = "cart-events";
    char line[1024];
    sf_offsets_refusal(line, sizeof(line), "carts", "/etc/sf.yaml", &p);
    assert_non_null(strstr(line, "topic cart-events partition 2"));
    assert_non_null(strstr(line, "reset outside sf-projector to 700"));
    assert_non_null(strstr(line, "checkpoint is 1199"));
    assert_non_null(strstr(line, "sf-projector offsets -c /etc/sf.yaml carts "
                                 "--commit-checkpoints"));
    assert_non_null(strstr(line, "sf-projector rebuild -c /etc/sf.yaml carts"));
    assert_null(strchr(line, '\n'));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(metadata_marks_ours),
        cmocka_unit_test(judge_policy),
        cmocka_unit_test(refusal_names_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
