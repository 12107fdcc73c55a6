/*
 * test_event.c - envelope values with a NUL byte are named, never cut:
 * sf_event_nul_field() over every value the projector reads from the
 * CloudEvents headers (and the record key standing in for ce_subject).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"

typedef struct vals {
    char subject[8], type[8], id[8], time[8], seq[8];
} vals_t;

/* An event whose five envelope values are "v" + one letter, of length 2,
 * with the value at index nul (0..4) given a NUL inside: "v\0x". */
static void make(sf_event_t *ev, vals_t *v, int nul, int from_key) {
    char *f[5] = {v->subject, v->type, v->id, v->time, v->seq};
    size_t len[5];
    for (int i = 0; i < 5; i++) {
        memset(f[i], 0, 8);
        f[i][0] = 'v';
        f[i][1] = (char)('a' + i);
        len[i] = 2;
        if (i == nul) {
            f[i][1] = '\0';
            f[i][2] = 'x';
            len[i] = 3;
        }
    }
    memset(ev, 0, sizeof *ev);
    ev->aggregate_id = v->subject;
    ev->aggregate_id_len = len[0];
    ev->type = v->type;
    ev->type_len = len[1];
    ev->id = v->id;
    ev->id_len = len[2];
    ev->time = v->time;
    ev->time_len = len[3];
    ev->version = v->seq;
    ev->version_len = len[4];
    ev->id_from_key = from_key;
}

static void nul_in_each_envelope_value_is_named(void **state) {
    (void)state;
    static const char *const want[5] = {SF_HDR_SUBJECT, SF_HDR_TYPE, SF_HDR_ID,
                                        SF_HDR_TIME, SF_HDR_SEQUENCE};
    sf_event_t ev;
    vals_t v;
    make(&ev, &v, -1, 0);
    assert_null(sf_event_nul_field(&ev));
    for (int i = 0; i < 5; i++) {
        make(&ev, &v, i, 0);
        const char *got = sf_event_nul_field(&ev);
        assert_non_null(got);
        assert_string_equal(got, want[i]);
    }
    make(&ev, &v, 0, 1);
    assert_string_equal(sf_event_nul_field(&ev), "record key");
    /* a trailing NUL counts too: "v\0" is not "v" */
    make(&ev, &v, -1, 0);
    ev.id_len = 2;
    v.id[1] = '\0';
    assert_string_equal(sf_event_nul_field(&ev), SF_HDR_ID);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nul_in_each_envelope_value_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
