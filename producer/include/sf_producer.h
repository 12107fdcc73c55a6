/*
 * sf_producer.h - publish events from C command services (libsfproducer).
 *
 * One event becomes one Kafka record (docs/design.md, "One event on the wire"):
 *   topic   <aggregate-type>-events unless configured otherwise,
 *   key     the aggregate id (partitioner murmur2_random, the same partition
 *           a Java producer with the default partitioner picks),
 *   value   Avro single-object bytes of the payload (sf_encode()),
 *   headers CloudEvents 1.0 Kafka binding, binary mode (sf_core.h names),
 *           including ce_dataschema (SF_DATASCHEMA_PREFIX + the writer
 *           schema's CRC-64-AVRO fingerprint), then the application's own
 *           headers (sf_producer_event_set_header()).
 *
 * CloudEvents attributes are checked before anything is sent (CloudEvents
 * 1.0 core spec, "Context Attributes"): source is a URI-reference (RFC 3986
 * 4.1; checked by sf_producer_conf_set("sf.source") and sf_producer_new()),
 * id, type and subject are non-empty, time is RFC 3339 (written by the
 * library from milliseconds since the epoch, in UTC).
 *
 * Life cycle (every create has a matching destroy):
 *
 *   sf_producer_conf_t *conf = sf_producer_conf_new();
 *   sf_producer_conf_set(conf, "bootstrap.servers", "127.0.0.1:9092", ...);
 *   sf_producer_conf_set(conf, "sf.schema.dir", "schemas/domains", ...);
 *   sf_producer_conf_set(conf, "sf.aggregate.type", "cart", ...);
 *   sf_producer_conf_set_dr_cb(conf, on_delivery);
 *   sf_producer_t *p = sf_producer_new(conf, errstr, sizeof(errstr));
 *   ... sf_producer_publish(p, ev, my_opaque, errstr, sizeof(errstr));
 *   ... sf_producer_poll(p, 0);           (serves delivery callbacks)
 *   sf_producer_flush(p, 30000, ...);
 *   sf_producer_destroy(p);
 *
 * Guarantees.  Nothing wrong is sent: an unknown type, a missing aggregate
 * id or a payload that does not match its schema is refused by the publish
 * call itself (a clear error, nothing enqueued).  Nothing accepted is lost
 * silently: every event a publish call accepted (returned SF_OK) gets
 * exactly one delivery report, either delivered (partition, offset) or
 * failed (reason), at the latest after message.timeout.ms (default here
 * 120000 ms, bounded retries while the broker is unreachable).  The
 * producer is idempotent (enable.idempotence=true, acks=all), so its own
 * retries neither duplicate nor reorder records of one partition.
 *
 * Retries by the service.  A failed report also says whether the event is
 * in the log anyway (sf_producer_dr_persisted(), librdkafka's
 * rd_kafka_message_status()): NOT_PERSISTED events may be published again
 * without risk of a duplicate; POSSIBLY_PERSISTED ones (sent, no answer
 * before the timeout) may already be in the log.  Two ways to retry
 * without duplicates (docs/producer-delivery.md):
 *   - transactions: a transaction that failed is aborted, so none of its
 *     events is visible to read_committed consumers, whatever reached the
 *     log; publish the whole transaction again;
 *   - the event id: give the event a fixed ce_id before the first publish
 *     (sf_producer_event_set_id() or sf_producer_event_generate_id()) and
 *     publish the same builder again; the copy carries the same ce_id (and
 *     ce_sequence), which consumers deduplicate on.  Keep each aggregate's
 *     order: publish its next event only after the previous one's report,
 *     or the retry lands behind a later version and the projector's
 *     version rule drops it as stale.
 * Without transactions the log can hold copies even when the service never
 * retries: after a message timeout librdkafka bumps the producer epoch and
 * may write a batch that was in flight a second time (librdkafka
 * INTRODUCTION.md, "Message timeout considerations"; confluentinc/
 * librdkafka#4953).  Measured with two brokers of three down:
 * docs/producer-delivery.md.
 *
 * Errors: every fallible call returns sf_err_t (sf_core.h) and writes one
 * line into the caller's errstr buffer (errstr, errstr_size; may be NULL/0).
 * Nothing here prints or exits.  librdkafka's own log lines go to its
 * default logger (stderr) unless the application takes them with
 * sf_producer_conf_set_log_cb() or lowers "log_level".
 *
 * Threading: sf_producer_publish(), sf_producer_publish_sync() and
 * sf_producer_poll() may be called from any number of threads at once.
 * Delivery and error callbacks run on the application's thread that calls
 * sf_producer_poll(), sf_producer_flush(), sf_producer_publish_sync(), or
 * sf_producer_publish() when the local queue is full (it then polls while it
 * waits for room) - never on a hidden librdkafka thread.  Records of one
 * aggregate keep the order of the publish calls that enqueued them.
 * Transactions (begin/commit/abort, publish_batch) belong to one thread at
 * a time.  Configuration objects and events are not thread-safe.
 */
#ifndef SF_PRODUCER_H
#define SF_PRODUCER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* ssize_t */

#include <avro.h>

#include "sf_core.h"
#include "sf_position.h"
#include "sf_schema.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The library is built with -fvisibility=hidden: what this header declares
 * is exactly what it exports (tests/unit/core/test_exports.sh checks). */
#pragma GCC visibility push(default)

struct json_t; /* jansson */

typedef struct sf_producer_s sf_producer_t;
typedef struct sf_producer_conf_s sf_producer_conf_t;
typedef struct sf_producer_event_s sf_producer_event_t;
typedef struct sf_producer_dr_s sf_producer_dr_t;

/* Whether an event is in the topic's log: librdkafka's
 * rd_kafka_msg_status_t, same values.  Trust PERSISTED only with acks=all
 * (the default here). */
typedef enum sf_producer_persisted {
    /* never sent, or refused by the broker: not in the log; publishing
     * it again cannot duplicate it */
    SF_PRODUCER_NOT_PERSISTED = 0,
    /* sent but not acknowledged (timed out, connection lost): it may be
     * in the log; publishing it again may duplicate it */
    SF_PRODUCER_POSSIBLY_PERSISTED = 1,
    /* written and acknowledged by all in-sync replicas */
    SF_PRODUCER_PERSISTED = 2
} sf_producer_persisted_t;

/* Default message.timeout.ms (librdkafka's alias: delivery.timeout.ms):
 * how long an accepted event may wait for the brokers before its delivery
 * report says failed.  120 s rides out a broker restart (including log
 * recovery after a crash) and a controller or partition-leader failover in
 * a three-broker cluster, the outages a Streamfold deployment must survive
 * without its services retrying; why not more or less:
 * docs/producer-delivery.md.  A transactional producer that does not set
 * message.timeout.ms itself uses transaction.timeout.ms instead (librdkafka
 * requires message.timeout.ms <= transaction.timeout.ms). */
#define SF_PRODUCER_DEFAULT_TIMEOUT_MS 120000
/* ce_dataschema of every record: this prefix and the 16 lower-case hex
 * digits of the writer schema's CRC-64-AVRO fingerprint (Avro spec,
 * "Schema Fingerprints"), the 64-bit integer most significant digit first
 * - as `sf-schema fingerprint` prints it; the value's bytes 2..9 hold the
 * same integer little-endian.  A reader resolves it against the .avsc
 * files it has (producer/README.md shows Java and Python). */
#define SF_DATASCHEMA_PREFIX "urn:avro:fingerprint:crc-64-avro:"

/* Default number of partitions sf_producer_ensure_topic() creates. */
#define SF_PRODUCER_DEFAULT_PARTITIONS 12

/* ---------------------------------------------------------------------
 * Configuration
 * ------------------------------------------------------------------- */

/* A new configuration with Streamfold's defaults already set:
 * enable.idempotence=true, acks=all, partitioner=murmur2_random,
 * message.timeout.ms=120000, max.in.flight.requests.per.connection=5 (the
 * idempotent maximum, KIP-98; safe with librdkafka 2.14, see conf.c).
 * NULL only when out of memory. */
sf_producer_conf_t *sf_producer_conf_new(void);
void sf_producer_conf_destroy(sf_producer_conf_t *conf);
/* A deep copy (callbacks and opaque included), or NULL. */
sf_producer_conf_t *sf_producer_conf_dup(const sf_producer_conf_t *conf);

/* Sets one property (name and value are copied).
 *
 * Names starting with "sf." are Streamfold's own:
 *   sf.schema.dir       directory of .avsc files loaded into a catalog the
 *                       producer owns (alternative: conf_set_catalog()).
 *   sf.source           CloudEvents source (ce_source), default "sf-producer";
 *                       a URI-reference (RFC 3986), e.g. "cart-service",
 *                       "/shop/cart" or "urn:shop:cart-service": "cart
 *                       service" is SF_ERR_CONFIG ("space at offset 4").
 *   sf.topic            default topic of every event.
 *   sf.aggregate.type   default aggregate type (ce_aggregatetype).
 *                       When only one of sf.topic / sf.aggregate.type is
 *                       set the other is derived: "<type>-events" <-> type.
 *                       Without either (or with a topic not named
 *                       "<type>-events"), an event's aggregate type is the
 *                       last namespace component of its Avro type
 *                       ("shop.cart.CartOpened" -> "cart").
 * An unknown sf.* name is SF_ERR_CONFIG.
 *
 * Every other name goes unchanged to librdkafka's rd_kafka_conf_set();
 * unknown or invalid ones are SF_ERR_CONFIG with librdkafka's reason.
 * Setting "transactional.id" enables the transactional API. */
sf_err_t sf_producer_conf_set(sf_producer_conf_t *conf, const char *name,
                              const char *value, char *errstr,
                              size_t errstr_size);

/* Current value of a property into buf (NUL-terminated, truncated safely).
 * SF_ERR_NOT_FOUND when it is not set, SF_ERR_CONFIG when unknown. */
sf_err_t sf_producer_conf_get(const sf_producer_conf_t *conf, const char *name,
                              char *buf, size_t size, char *errstr,
                              size_t errstr_size);

/* Uses an existing catalog instead of sf.schema.dir.  Borrowed: the
 * catalog must outlive the producer and not change while it runs. */
void sf_producer_conf_set_catalog(sf_producer_conf_t *conf,
                                  const sf_catalog_t *cat);

/* Delivery report callback: called exactly once for every event accepted
 * by sf_producer_publish() (not for publish_sync(), which returns the
 * result instead).  dr is valid only during the call.  Runs on a thread
 * calling sf_producer_poll()/flush()/publish_sync() (see top of file).
 * opaque is the one given to sf_producer_conf_set_opaque(). */
typedef void (*sf_producer_dr_cb)(sf_producer_t *p, const sf_producer_dr_t *dr,
                                  void *opaque);
void sf_producer_conf_set_dr_cb(sf_producer_conf_t *conf, sf_producer_dr_cb cb);

/* Error callback for producer-wide trouble that is not tied to one event
 * (all brokers down, authentication failure, fatal idempotence error).
 * err is SF_ERR_KAFKA (librdkafka keeps retrying) or SF_ERR_KAFKA_FATAL
 * (the producer is unusable: destroy it).  Same thread rules as dr_cb. */
typedef void (*sf_producer_error_cb)(sf_producer_t *p, sf_err_t err,
                                     const char *reason, void *opaque);
void sf_producer_conf_set_error_cb(sf_producer_conf_t *conf,
                                   sf_producer_error_cb cb);

/* Log callback: receives librdkafka's log lines (syslog level 0-7,
 * facility such as "FAIL", message) instead of stderr.  Runs on a thread
 * calling sf_producer_poll()/flush()/publish_sync() like the other
 * callbacks (log.queue is enabled for it); lines logged while nobody polls
 * wait in the queue.  NULL restores librdkafka's stderr logger. */
typedef void (*sf_producer_log_cb)(sf_producer_t *p, int level,
                                   const char *facility, const char *message,
                                   void *opaque);
void sf_producer_conf_set_log_cb(sf_producer_conf_t *conf,
                                 sf_producer_log_cb cb);

void sf_producer_conf_set_opaque(sf_producer_conf_t *conf, void *opaque);

/* ---------------------------------------------------------------------
 * Producer
 * ------------------------------------------------------------------- */

/* Creates a producer.  On success it takes ownership of conf (do not use
 * or destroy it afterwards); on failure (NULL, reason in errstr: bad
 * schema dir, no catalog, librdkafka refused the config) conf stays the
 * caller's.  With transactional.id set, the transactions are initialised
 * on the first sf_producer_begin(). */
sf_producer_t *sf_producer_new(sf_producer_conf_t *conf, char *errstr,
                               size_t errstr_size);

/* Waits up to message.timeout.ms (the value in force) for outstanding
 * events (their delivery callbacks run on this thread), then purges what
 * is still queued - those events get a "failed" report with their
 * persistence status, also on this thread - and frees everything.  An
 * open transaction is aborted by the broker. */
void sf_producer_destroy(sf_producer_t *p);

/* The catalog in use (owned by the producer or borrowed from the conf). */
const sf_catalog_t *sf_producer_catalog(const sf_producer_t *p);

/* The underlying librdkafka handle, borrowed, for what this API does not
 * cover (metrics, metadata).  Do not destroy it or poll it directly. */
struct rd_kafka_s *sf_producer_rk(sf_producer_t *p);

/* Serves delivery reports and errors; waits up to timeout_ms (0 = do not
 * wait).  Returns the number of callbacks served. */
int sf_producer_poll(sf_producer_t *p, int timeout_ms);

/* Waits until every accepted event has its delivery report (served on this
 * thread).  SF_ERR_TIMEOUT if some are still pending after timeout_ms
 * (-1 = wait without limit; message.timeout.ms bounds that anyway). */
sf_err_t sf_producer_flush(sf_producer_t *p, int timeout_ms, char *errstr,
                           size_t errstr_size);

/* Number of accepted events (and internal requests) not yet reported. */
int sf_producer_outq_len(sf_producer_t *p);

/* ---------------------------------------------------------------------
 * Events
 * ------------------------------------------------------------------- */

/* An event to publish: a reusable builder.  Every string is copied, so the
 * caller's buffers may be reused right after a setter returns.  Setters
 * only fail with SF_ERR_NOMEM or SF_ERR_INVALID_ARG (stated per setter);
 * everything else is checked when the event is published. */
sf_producer_event_t *sf_producer_event_new(void);
void sf_producer_event_destroy(sf_producer_event_t *ev);
/* Forgets every field, keeping the allocation for the next event. */
void sf_producer_event_clear(sf_producer_event_t *ev);

/* Avro full name of the event ("shop.cart.ItemAddedToCart"). Required. */
sf_err_t sf_producer_event_set_type(sf_producer_event_t *ev, const char *type);
/* Aggregate id: Kafka key and ce_subject.  Required, non-empty. */
sf_err_t sf_producer_event_set_aggregate_id(sf_producer_event_t *ev,
                                            const char *id);
/* Event id (ce_id; CloudEvents 1.0: non-empty, unique per source).
 * Default (NULL): a new random UUID (v4) at every publish, so publishing
 * the same builder twice gives two different events.  A service that may
 * retry an event sets the id once, before the first publish, and keeps it
 * for the retries: then a retry of a possibly persisted event is a copy
 * consumers can recognise by its ce_id. */
sf_err_t sf_producer_event_set_id(sf_producer_event_t *ev, const char *id);
/* Sets a new random UUID (v4) as the event's id now (RFC 9562), so every
 * publish of this builder, the first and any retry, carries the same ce_id.
 * The id is readable with sf_producer_event_id().  SF_ERR_NOMEM only. */
sf_err_t sf_producer_event_generate_id(sf_producer_event_t *ev);
/* The id set with set_id()/generate_id() (owned by ev, valid until the
 * next change of ev), or NULL when the publish will generate one. */
const char *sf_producer_event_id(const sf_producer_event_t *ev);
/* Aggregate version (ce_sequence), >= 1.  0 (default) = no ce_sequence. */
sf_err_t sf_producer_event_set_version(sf_producer_event_t *ev,
                                       int64_t version);
/* When it happened (ce_time), milliseconds since the Unix epoch.
 * Default: the time of the publish call. */
sf_err_t sf_producer_event_set_time_ms(sf_producer_event_t *ev,
                                       int64_t unix_ms);
/* The "why" (ce_correlationid, ce_causationid).  An event that answers
 * another message copies that message's correlation id and takes its id as
 * causation id.  Default, for an event that starts a chain: both are the
 * event's own id, so every record carries both headers. */
sf_err_t sf_producer_event_set_correlation_id(sf_producer_event_t *ev,
                                              const char *id);
sf_err_t sf_producer_event_set_causation_id(sf_producer_event_t *ev,
                                            const char *id);
/* Per-event overrides of sf.topic / sf.aggregate.type (NULL = default). */
sf_err_t sf_producer_event_set_topic(sf_producer_event_t *ev,
                                     const char *topic);
sf_err_t sf_producer_event_set_aggregate_type(sf_producer_event_t *ev,
                                              const char *type);
/* Schema version the JSON payload is written with; 0 (default) = the
 * newest version of the type in the catalog. */
sf_err_t sf_producer_event_set_schema_version(sf_producer_event_t *ev,
                                              int version);

/* Application headers besides the CloudEvents ones, e.g. a W3C
 * "traceparent" or a tenant id; they follow the CloudEvents headers in the
 * record, in the order first set.  name and value are copied (value is
 * len bytes, len < 0: a NUL-terminated string).  Setting a name again
 * replaces its value; value NULL removes the header.  Checked at publish
 * time (SF_ERR_INVALID_ARG naming the header): a name the library writes
 * (ce_id, ce_type, ..., ce_dataschema, content-type) is refused, use the
 * event's own setter; a "ce_" name must be a CloudEvents extension
 * attribute (lower-case letters and digits, CloudEvents 1.0); the value of
 * "traceparent" (or "ce_traceparent", CloudEvents' distributed-tracing
 * extension) must follow W3C Trace Context ("00-<32 hex>-<16 hex>-<2 hex>").
 * Errors here: SF_ERR_INVALID_ARG (NULL name), SF_ERR_NOMEM. */
sf_err_t sf_producer_event_set_header(sf_producer_event_t *ev, const char *name,
                                      const void *value, ssize_t len);

/* Payload, one of the three (the last call wins).  JSON is the route we
 * recommend for hand-built events: a missing field takes its schema
 * default, a union may be given bare ("reason": "broken" for
 * ["null","string"]) or as {"string": ...}, an enum by its symbol, and an
 * error names the field path.  It costs one JSON parse per event (see
 * tests/bench/producer -J for the figure).  The avro-c value route is for
 * code that already holds values (avro-c fills no defaults: every field,
 * every union branch must be set).
 * - an avro-c value: the event keeps a reference (avro_value_incref
 *   semantics via avro_value_copy_ref); its schema must equal one version
 *   of the type in the catalog, which becomes the writer schema.  Do not
 *   modify the value until the event is published or cleared;
 * - jansson JSON (a reference is taken) in the Avro JSON encoding;
 * - JSON text (copied).
 * JSON is converted with sf_value_from_json() at publish time, so schema
 * errors name the field path: "data.quantity: expected int, got string". */
sf_err_t sf_producer_event_set_value(sf_producer_event_t *ev,
                                     avro_value_t *value);
sf_err_t sf_producer_event_set_json(sf_producer_event_t *ev,
                                    struct json_t *json);
sf_err_t sf_producer_event_set_json_text(sf_producer_event_t *ev,
                                         const char *text, size_t len);

/* ---------------------------------------------------------------------
 * Publishing
 * ------------------------------------------------------------------- */

/* Validates, encodes and enqueues one event; returns without waiting for
 * the broker.  The event object may be reused or destroyed right after.
 * msg_opaque comes back in the delivery report (sf_producer_dr_opaque()).
 * Errors, all with nothing enqueued:
 *   SF_ERR_INVALID_ARG   missing type or aggregate id, no topic, bad version
 *   SF_ERR_UNKNOWN_TYPE  type (or requested schema version) not in catalog
 *   SF_ERR_VALUE / SF_ERR_PARSE  payload missing or not matching the schema
 *   SF_ERR_STATE         transactional producer outside begin..commit
 *   SF_ERR_KAFKA         librdkafka refused the record (e.g. queue stayed
 *                        full for message.timeout.ms; unknown partition)
 *   SF_ERR_KAFKA_FATAL   the producer hit a fatal error: destroy it.
 * Events refused here were never sent (nothing to deduplicate). */
sf_err_t sf_producer_publish(sf_producer_t *p, const sf_producer_event_t *ev,
                             void *msg_opaque, char *errstr,
                             size_t errstr_size);

/* Checks ev exactly as sf_producer_publish() would (type known, aggregate
 * id, topic, payload valid and encodable) without sending anything: a dry
 * run.  Same errors as sf_producer_publish() minus the Kafka ones. */
sf_err_t sf_producer_validate(sf_producer_t *p, const sf_producer_event_t *ev,
                              char *errstr, size_t errstr_size);

/* Publishes one event and waits for its delivery report (serving other
 * reports meanwhile on this thread).  On SF_OK *partition and *offset
 * (either may be NULL) say where it landed.  Delivery failures are
 * SF_ERR_KAFKA (retriable: e.g. timed out while the broker was down) or
 * SF_ERR_KAFKA_FATAL, with the reason in errstr (which ends with the
 * persistence status, e.g. "(possibly persisted)").  The delivery callback
 * is not called for this event.  Not for use inside a transaction. */
sf_err_t sf_producer_publish_sync(sf_producer_t *p,
                                  const sf_producer_event_t *ev,
                                  int32_t *partition, int64_t *offset,
                                  char *errstr, size_t errstr_size);
/* The same, and *persisted (may be NULL) receives the event's persistence
 * status (see sf_producer_dr_persisted()): SF_PRODUCER_PERSISTED on SF_OK;
 * on a failure NOT_PERSISTED (safe to publish again) or POSSIBLY_PERSISTED
 * (publish again only with the same event id, see sf_producer_event_set_id).
 * An event refused before sending (validation) is NOT_PERSISTED. */
sf_err_t sf_producer_publish_sync_status(sf_producer_t *p,
                                         const sf_producer_event_t *ev,
                                         int32_t *partition, int64_t *offset,
                                         sf_producer_persisted_t *persisted,
                                         char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------------
 * Transactions (needs transactional.id)
 *
 * begin; publish...; commit -- all of the events become visible to
 * read_committed consumers, or none does.  Error handling follows
 * librdkafka's transactional producer rules:
 *   SF_ERR_KAFKA        abortable: the library already aborted the
 *                       transaction; nothing is visible; begin again.
 *   SF_ERR_KAFKA_FATAL  the producer is fenced or broken: destroy it.
 *   SF_ERR_TIMEOUT      commit/abort outcome unknown after retrying
 *                       until message.timeout.ms; the transaction is
 *                       still open: call the same function again.  When
 *                       the commit had failed and its abort timed out,
 *                       the next sf_producer_commit() finishes the abort
 *                       and returns SF_ERR_KAFKA (nothing visible).
 *                       This is how a service rides out an outage of the
 *                       transaction coordinator (two brokers of three
 *                       down): repeat until the result is not a timeout,
 *                       then publish the whole transaction again if it
 *                       was aborted (docs/producer-delivery.md).
 *   SF_ERR_STATE        call out of order (commit without begin, ...).
 * Delivery reports of transactional events still arrive; a "delivered"
 * report only becomes visible to readers once commit returns SF_OK.
 * ------------------------------------------------------------------- */

sf_err_t sf_producer_begin(sf_producer_t *p, char *errstr, size_t errstr_size);
sf_err_t sf_producer_commit(sf_producer_t *p, char *errstr, size_t errstr_size);
sf_err_t sf_producer_abort(sf_producer_t *p, char *errstr, size_t errstr_size);

/* The common case, one command -> several events: validates and encodes
 * all n events first (any error: nothing is sent, *bad_index = its index
 * if bad_index is not NULL), then begin, publish all, commit.  On a Kafka
 * error the transaction is aborted (see above).  SF_ERR_TIMEOUT: the
 * transaction is still open (its commit, or the abort after a failure,
 * did not finish): call sf_producer_commit() until it returns something
 * else; SF_OK means committed, SF_ERR_KAFKA aborted (publish the batch
 * again).  Delivery reports of the events arrive with msg_opaque NULL. */
sf_err_t sf_producer_publish_batch(sf_producer_t *p,
                                   sf_producer_event_t *const *evs, size_t n,
                                   size_t *bad_index, char *errstr,
                                   size_t errstr_size);

/* ---------------------------------------------------------------------
 * Delivery reports (valid only inside the delivery callback)
 * ------------------------------------------------------------------- */

/* SF_OK (delivered) or SF_ERR_KAFKA / SF_ERR_KAFKA_FATAL (failed). */
sf_err_t sf_producer_dr_err(const sf_producer_dr_t *dr);
/* Is the event in the log?  PERSISTED when delivered; for a failed event
 * NOT_PERSISTED or POSSIBLY_PERSISTED (rd_kafka_message_status()).  A
 * failed report of a transactional event is moot: the transaction is
 * aborted, so nothing of it is visible to read_committed consumers. */
sf_producer_persisted_t sf_producer_dr_persisted(const sf_producer_dr_t *dr);
/* "persisted", "possibly persisted" or "not persisted". */
const char *sf_producer_persisted_name(sf_producer_persisted_t status);
/* Why it failed ("" when delivered). */
const char *sf_producer_dr_errstr(const sf_producer_dr_t *dr);
const char *sf_producer_dr_topic(const sf_producer_dr_t *dr);
/* Partition and offset; -1 when unknown (failed, or acks=0). */
int32_t sf_producer_dr_partition(const sf_producer_dr_t *dr);
int64_t sf_producer_dr_offset(const sf_producer_dr_t *dr);
const char *sf_producer_dr_event_id(const sf_producer_dr_t *dr);
const char *sf_producer_dr_type(const sf_producer_dr_t *dr);
const char *sf_producer_dr_aggregate_id(const sf_producer_dr_t *dr);
void *sf_producer_dr_opaque(const sf_producer_dr_t *dr);

/* Read your own writes: the position token of a delivered event,
 * "<topic>:<partition>:<offset>" (sf_position.h), written into out like
 * snprintf (SF_POSITION_TOKEN_MAX bytes always suffice); returns its
 * length, or 0 (out = "") when the event was not delivered or its offset is
 * unknown (acks=0).  Hand the token to sf_projector_waiter_wait() or
 * `sf-projector wait` to wait until a projection has applied the event.
 * For a transactional event the token is valid once the commit returned
 * SF_OK (read_committed projectors see it only then). */
size_t sf_producer_dr_position(const sf_producer_dr_t *dr, char *out,
                               size_t out_size);

/* sf_producer_publish_sync() that also gives the position token of the
 * event (token_size: SF_POSITION_TOKEN_MAX).  Same errors; SF_ERR_INVALID_ARG
 * when token is too small (the event is published all the same). */
sf_err_t sf_producer_publish_sync_position(sf_producer_t *p,
                                           const sf_producer_event_t *ev,
                                           char *token, size_t token_size,
                                           char *errstr, size_t errstr_size);

/* ---------------------------------------------------------------------
 * Topic provisioning (shared with the deploy tooling)
 * ------------------------------------------------------------------- */

/* Makes sure topic exists as an event-store topic: cleanup.policy=delete,
 * retention.ms=-1, retention.bytes=-1.  Creates it when missing with
 * partitions (<= 0: SF_PRODUCER_DEFAULT_PARTITIONS) and replication_factor
 * (<= 0: min(3, number of brokers)).  An existing topic is never changed:
 * if its configuration could delete history (retention.ms or
 * retention.bytes not -1, cleanup.policy containing compact) the call
 * fails with SF_ERR_CONFIG naming the setting.  *created (may be NULL) is
 * 1 when this call created the topic.  Waits up to timeout_ms (<= 0:
 * SF_PRODUCER_DEFAULT_TIMEOUT_MS) per admin request. */
sf_err_t sf_producer_ensure_topic(sf_producer_t *p, const char *topic,
                                  int partitions, int replication_factor,
                                  int timeout_ms, int *created, char *errstr,
                                  size_t errstr_size);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* SF_PRODUCER_H */
