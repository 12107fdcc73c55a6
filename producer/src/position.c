/* position.c - position tokens from delivery reports and synchronous
 * publishes, for read-your-own-writes (sf_position.h). */
#include "producer_int.h"
#include "sf_position.h"
#include "sf_producer.h"

size_t sf_producer_dr_position(const sf_producer_dr_t *dr, char *out,
                               size_t out_size) {
    if (dr->err != SF_OK || dr->partition < 0 || dr->offset < 0) {
        if (out && out_size)
            out[0] = '\0';
        return 0;
    }
    return sf_position_format(out, out_size, dr->topic, dr->partition,
                              dr->offset);
}

sf_err_t sf_producer_publish_sync_position(sf_producer_t *p,
                                           const sf_producer_event_t *ev,
                                           char *token, size_t token_size,
                                           char *errstr, size_t errstr_size) {
    int32_t partition = -1;
    int64_t offset = -1;
    sf_err_t e = sf_producer_publish_sync(p, ev, &partition, &offset, errstr,
                                          errstr_size);
    if (e)
        return e;
    /* the topic sf__record_prepare() chose: the event's, else the
     * producer's */
    const char *topic = ev->topic ? ev->topic : p->topic;
    size_t n = sf_position_format(token, token_size, topic, partition, offset);
    if (n == 0 || n >= token_size)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "published to %s [%d] at %lld, but the position "
                         "token does not fit %zu bytes (use "
                         "SF_POSITION_TOKEN_MAX)",
                         topic, (int)partition, (long long)offset, token_size);
    return SF_OK;
}
