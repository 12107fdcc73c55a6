/* groups.c - consumer group members (see groups.h). */
#include "groups.h"

#include <stdlib.h>
#include <string.h>
#include <stdio.h>

void sf_group_members_free(sf_member_t *members, size_t n) {
    for (size_t i = 0; members && i < n; i++) {
        free(members[i].member_id);
        free(members[i].client_id);
        free(members[i].host);
    }
    free(members);
}

static char *dup0(const char *s) {
    return strdup(s ? s : "");
}

sf_err_t sf_group_describe(rd_kafka_t *rk, const char *group, int timeout_ms,
                           char *state, size_t state_size,
                           sf_member_t **members, size_t *n, char *errstr,
                           size_t errstr_size) {
    *members = NULL;
    *n = 0;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *o =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    char e2[256];
    rd_kafka_AdminOptions_set_request_timeout(o, timeout_ms, e2, sizeof(e2));
    const char *groups[] = {group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, o, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 2000);
    sf_err_t e = SF_OK;
    if (!ev) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                      "describe consumer group %s: no answer in %d ms", group,
                      timeout_ms);
    } else if (rd_kafka_event_error(ev)) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                      "describe consumer group %s: %s", group,
                      rd_kafka_event_error_string(ev));
    } else {
        size_t ng = 0;
        const rd_kafka_ConsumerGroupDescription_t **gs =
            rd_kafka_DescribeConsumerGroups_result_groups(
                rd_kafka_event_DescribeConsumerGroups_result(ev), &ng);
        const rd_kafka_error_t *ge =
            ng ? rd_kafka_ConsumerGroupDescription_error(gs[0]) : NULL;
        if (!ng) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                          "describe consumer group %s: empty answer", group);
        } else if (ge && rd_kafka_error_code(ge) !=
                             RD_KAFKA_RESP_ERR_GROUP_ID_NOT_FOUND) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                          "describe consumer group %s: %s", group,
                          rd_kafka_error_string(ge));
        } else if (ge) {
            snprintf(state, state_size, "Dead");
        } else {
            snprintf(state, state_size, "%s",
                     rd_kafka_consumer_group_state_name(
                         rd_kafka_ConsumerGroupDescription_state(gs[0])));
            size_t cnt = rd_kafka_ConsumerGroupDescription_member_count(gs[0]);
            sf_member_t *ms = calloc(cnt ? cnt : 1, sizeof(*ms));
            if (!ms) {
                e = SF_ERR_NOMEM;
            } else {
                for (size_t i = 0; i < cnt; i++) {
                    const rd_kafka_MemberDescription_t *md =
                        rd_kafka_ConsumerGroupDescription_member(gs[0], i);
                    ms[i].member_id =
                        dup0(rd_kafka_MemberDescription_consumer_id(md));
                    ms[i].client_id =
                        dup0(rd_kafka_MemberDescription_client_id(md));
                    ms[i].host = dup0(rd_kafka_MemberDescription_host(md));
                    if (!ms[i].member_id || !ms[i].client_id || !ms[i].host)
                        e = SF_ERR_NOMEM;
                }
                *members = ms;
                *n = cnt;
                if (e) {
                    sf_group_members_free(ms, cnt);
                    *members = NULL;
                    *n = 0;
                }
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(o);
    rd_kafka_queue_destroy(q);
    return e;
}
