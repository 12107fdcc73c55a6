/* test_lifecycle.c - per-partition state (partstate.h) and the topic
 * identity comparison (identity.h); no broker, no Redis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "identity.h"
#include "partstate.h"

static void part_states(void **state) {
    (void)state;
    sf_part_t *p = sf_part_new("cart-events", 3);
    assert_non_null(p);
    assert_string_equal(p->topic, "cart-events");
    assert_int_equal(p->partition, 3);
    /* nothing may be written before the partition is taken */
    assert_int_equal(p->state, SF_PART_REVOKED);
    assert_false(sf_part_writable(p));
    assert_int_equal(p->next, -1);
    sf_part_set_state(p, SF_PART_ACTIVE);
    assert_true(sf_part_writable(p));
    double since = p->since;
    sf_part_set_state(p, SF_PART_ACTIVE); /* same state: time kept */
    assert_true(p->since == since);
    sf_part_state_t others[] = {SF_PART_WAITING, SF_PART_FENCED,
                                SF_PART_REVOKED, SF_PART_STOPPED};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        sf_part_set_state(p, others[i]);
        assert_false(sf_part_writable(p));
        assert_string_not_equal(sf_part_state_name(others[i]), "?");
    }
    assert_int_equal(sf_part_clear(p), 0);
    sf_part_free(p);
}

static sf_topic_identity_t ident(const char *id, const char *cluster,
                                 int32_t partitions) {
    sf_topic_identity_t t;
    memset(&t, 0, sizeof(t));
    strcpy(t.id, id);
    strcpy(t.cluster, cluster);
    t.partitions = partitions;
    return t;
}

static void identity_compare(void **state) {
    (void)state;
    char err[1024];
    sf_topic_identity_t rec = ident("AAAAAAAAAAAAAAAAAAAAAA", "c1", 6);
    sf_topic_identity_t same = ident("AAAAAAAAAAAAAAAAAAAAAA", "c1", 6);
    assert_int_equal(sf_identity_compare("carts", "cart-events", &rec, &same,
                                         err, sizeof(err)),
                     SF_OK);

    sf_topic_identity_t recreated = ident("BBBBBBBBBBBBBBBBBBBBBB", "c1", 6);
    assert_int_equal(sf_identity_compare("carts", "cart-events", &rec,
                                         &recreated, err, sizeof(err)),
                     SF_ERR_STATE);
    /* one line naming topic, recorded and current id, and the remedy */
    assert_non_null(strstr(err, "cart-events"));
    assert_non_null(strstr(err, "AAAAAAAAAAAAAAAAAAAAAA"));
    assert_non_null(strstr(err, "BBBBBBBBBBBBBBBBBBBBBB"));
    assert_non_null(strstr(err, "rebuild"));
    assert_null(strchr(err, '\n'));

    sf_topic_identity_t other_cluster =
        ident("AAAAAAAAAAAAAAAAAAAAAA", "c2", 6);
    assert_int_equal(sf_identity_compare("carts", "cart-events", &rec,
                                         &other_cluster, err, sizeof(err)),
                     SF_ERR_STATE);
    assert_non_null(strstr(err, "c2"));

    sf_topic_identity_t grown = ident("AAAAAAAAAAAAAAAAAAAAAA", "c1", 8);
    assert_int_equal(sf_identity_compare("carts", "cart-events", &rec, &grown,
                                         err, sizeof(err)),
                     SF_ERR_STATE);
    assert_non_null(strstr(err, "had 6 partitions"));
    assert_non_null(strstr(err, "has 8 now"));
    assert_non_null(strstr(err, "--accept-partitions"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(part_states),
        cmocka_unit_test(identity_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
