/*
 * txn.c - Kafka transactions: several events of one command become visible
 * together or not at all.
 *
 * librdkafka's transactional error model (rdkafka.h, "Transactional
 * producer API"): an rd_kafka_error_t is either retriable (call the same
 * function again), txn_requires_abort (abort, then start over: nothing was
 * made visible), or fatal (the producer is fenced/broken and must be
 * destroyed).  We map these to SF_ERR_TIMEOUT/SF_ERR_KAFKA (after retrying
 * ourselves until message.timeout.ms), SF_ERR_KAFKA (after aborting) and
 * SF_ERR_KAFKA_FATAL.
 */
#include "producer_int.h"

#include <stdlib.h>
#include <string.h>

/* Fills errstr from a transactional error and destroys it. */
static sf_err_t txn_fail(rd_kafka_error_t *e, sf_err_t code, const char *what,
                         char *errstr, size_t errstr_size) {
    sf_seterr(errstr, errstr_size, code, "%s: %s (%s)", what,
              rd_kafka_error_string(e), rd_kafka_error_name(e));
    rd_kafka_error_destroy(e);
    return code;
}

/* Aborts the current transaction, retrying retriable errors until the
 * deadline.  Leaves in_txn cleared unless the outcome is unknown; then
 * abort_pending says that the abort, not a commit, must be resumed: a
 * transaction whose commit failed with "abort required" can only be
 * aborted (librdkafka refuses a commit_transaction() while an abort is
 * unfinished), so the caller's next commit or abort call resumes it. */
static sf_err_t do_abort(sf_producer_t *p, char *errstr, size_t errstr_size) {
    int64_t deadline = sf_time_now_ms() + p->timeout_ms;
    rd_kafka_error_t *e;

    for (;;) {
        e = rd_kafka_abort_transaction(p->rk, p->timeout_ms);
        if (!e) {
            atomic_store(&p->in_txn, 0);
            p->abort_pending = 0;
            return SF_OK;
        }
        if (rd_kafka_error_is_fatal(e))
            return txn_fail(e, SF_ERR_KAFKA_FATAL, "abort transaction", errstr,
                            errstr_size);
        if (!rd_kafka_error_is_retriable(e))
            return txn_fail(e, SF_ERR_KAFKA, "abort transaction", errstr,
                            errstr_size);
        if (sf_time_now_ms() >= deadline) {
            p->abort_pending = 1;
            return txn_fail(e, SF_ERR_TIMEOUT, "abort transaction", errstr,
                            errstr_size);
        }
        rd_kafka_error_destroy(e);
    }
}

sf_err_t sf_producer_begin(sf_producer_t *p, char *errstr, size_t errstr_size) {
    rd_kafka_error_t *e;
    sf_err_t err;

    if (!p->transactional)
        return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                         "begin transaction: producer has no "
                         "transactional.id");
    if (atomic_load(&p->in_txn))
        return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                         "begin transaction: a transaction is already open");
    if ((err = sf__fatal_check(p, errstr, errstr_size)))
        return err;
    if (!p->txn_inited) {
        int64_t deadline = sf_time_now_ms() + p->timeout_ms;

        for (;;) {
            e = rd_kafka_init_transactions(p->rk, p->timeout_ms);
            if (!e)
                break;
            if (rd_kafka_error_is_fatal(e))
                return txn_fail(e, SF_ERR_KAFKA_FATAL, "init transactions",
                                errstr, errstr_size);
            if (!rd_kafka_error_is_retriable(e) || sf_time_now_ms() >= deadline)
                return txn_fail(e,
                                rd_kafka_error_code(e) ==
                                        RD_KAFKA_RESP_ERR__TIMED_OUT
                                    ? SF_ERR_TIMEOUT
                                    : SF_ERR_KAFKA,
                                "init transactions", errstr, errstr_size);
            rd_kafka_error_destroy(e);
        }
        p->txn_inited = 1;
    }
    e = rd_kafka_begin_transaction(p->rk);
    if (e)
        return txn_fail(
            e, rd_kafka_error_is_fatal(e) ? SF_ERR_KAFKA_FATAL : SF_ERR_STATE,
            "begin transaction", errstr, errstr_size);
    atomic_store(&p->in_txn, 1);
    return SF_OK;
}

sf_err_t sf_producer_commit(sf_producer_t *p, char *errstr,
                            size_t errstr_size) {
    int64_t deadline = sf_time_now_ms() + p->timeout_ms;
    rd_kafka_error_t *e;

    if (!atomic_load(&p->in_txn))
        return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                         "commit transaction: no open transaction");
    if (p->abort_pending) { /* an earlier commit failed; its abort timed out */
        sf_err_t aerr = do_abort(p, errstr, errstr_size);
        if (aerr)
            return aerr;
        return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                         "commit transaction failed, transaction aborted "
                         "(nothing visible)");
    }
    for (;;) {
        e = rd_kafka_commit_transaction(p->rk, p->timeout_ms);
        if (!e) {
            atomic_store(&p->in_txn, 0);
            return SF_OK;
        }
        if (rd_kafka_error_is_fatal(e))
            return txn_fail(e, SF_ERR_KAFKA_FATAL, "commit transaction", errstr,
                            errstr_size);
        if (rd_kafka_error_txn_requires_abort(e)) {
            char why[512];
            sf_err_t aerr;

            snprintf(why, sizeof(why), "%s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            aerr = do_abort(p, errstr, errstr_size);
            if (aerr)
                return aerr;
            return sf_seterr(errstr, errstr_size, SF_ERR_KAFKA,
                             "commit transaction failed, transaction "
                             "aborted (nothing visible): %s",
                             why);
        }
        if (!rd_kafka_error_is_retriable(e))
            return txn_fail(e, SF_ERR_KAFKA, "commit transaction", errstr,
                            errstr_size);
        if (sf_time_now_ms() >= deadline)
            return txn_fail(e, SF_ERR_TIMEOUT, "commit transaction", errstr,
                            errstr_size);
        rd_kafka_error_destroy(e);
    }
}

sf_err_t sf_producer_abort(sf_producer_t *p, char *errstr, size_t errstr_size) {
    if (!atomic_load(&p->in_txn))
        return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                         "abort transaction: no open transaction");
    return do_abort(p, errstr, errstr_size);
}

sf_err_t sf_producer_publish_batch(sf_producer_t *p,
                                   sf_producer_event_t *const *evs, size_t n,
                                   size_t *bad_index, char *errstr,
                                   size_t errstr_size) {
    sf_record_t *recs;
    sf_err_t err = SF_OK;
    size_t i, sent;
    char emsg[512];

    if (!p->transactional)
        return sf_seterr(errstr, errstr_size, SF_ERR_STATE,
                         "publish batch: producer has no transactional.id");
    recs = calloc(n ? n : 1, sizeof(*recs));
    if (!recs)
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                         "publish batch: out of memory");
    /* Everything is validated and encoded before anything is sent. */
    for (i = 0; i < n; i++) {
        if ((err =
                 sf__record_prepare(p, evs[i], &recs[i], emsg, sizeof(emsg)))) {
            if (bad_index)
                *bad_index = i;
            sf_seterr(errstr, errstr_size, err, "event %zu: %s", i, emsg);
            goto out;
        }
    }
    if ((err = sf_producer_begin(p, errstr, errstr_size)))
        goto out;
    for (sent = 0; sent < n; sent++) {
        if ((err = sf__record_send(p, &recs[sent], NULL, emsg, sizeof(emsg))))
            sf_seterr(errstr, errstr_size, err, "event %zu: %s", sent, emsg);
        if (err) {
            /* Keep the first error; the abort makes the partial batch
             * invisible.  A fatal error already disqualifies abort.  An
             * abort that timed out leaves the transaction open: say so
             * (SF_ERR_TIMEOUT), the next commit call resumes the abort. */
            if (err != SF_ERR_KAFKA_FATAL) {
                char aerrstr[512];
                sf_err_t aerr = do_abort(p, aerrstr, sizeof(aerrstr));
                if (aerr)
                    err = sf_seterr(errstr, errstr_size, aerr,
                                    "event %zu not sent (%s), and the "
                                    "abort failed: %s",
                                    sent, emsg, aerrstr);
            }
            goto out;
        }
    }
    err = sf_producer_commit(p, errstr, errstr_size);
out:
    for (i = 0; i < n; i++)
        sf__record_release(&recs[i]);
    free(recs);
    return err;
}
