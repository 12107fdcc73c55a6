/*
 * groups.h - who is in a projection's consumer group, from the Kafka admin
 * API's DescribeConsumerGroups (KIP-429 cooperative rebalancing keeps a
 * classic group; its members are the live workers).  Used by `status`
 * (is any worker running?) and by `pause`/`resume` (whose acknowledgement
 * to wait for).
 *
 * Ownership: *members is malloc()ed with its strings; free it with
 * sf_group_members_free().  Nothing here prints.
 */
#ifndef SF_PROJ_GROUPS_H
#define SF_PROJ_GROUPS_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "sf_core.h"

typedef struct sf_member {
    char *member_id; /* the consumer id the broker gave the worker */
    char *client_id;
    char *host;
} sf_member_t;

/* The group's state ("Stable", "Empty", "Dead", ...) and members.  A group
 * that does not exist reports state "Dead" and no members.
 * SF_ERR_KAFKA when the broker does not answer within timeout_ms. */
sf_err_t sf_group_describe(rd_kafka_t *rk, const char *group, int timeout_ms,
                           char *state, size_t state_size,
                           sf_member_t **members, size_t *n, char *errstr,
                           size_t errstr_size);
void sf_group_members_free(sf_member_t *members, size_t n);

#endif
