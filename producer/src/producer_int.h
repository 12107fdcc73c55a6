/*
 * producer_int.h - internals of libsfproducer shared by its source files
 * and its unit tests.  Not installed.
 */
#ifndef SF_PRODUCER_INT_H
#define SF_PRODUCER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "sf_producer.h"

struct sf_producer_conf_s {
    rd_kafka_conf_t *rk;     /* librdkafka properties (owned) */
    char *schema_dir;        /* sf.schema.dir */
    char *source;            /* sf.source */
    char *topic;             /* sf.topic */
    char *aggtype;           /* sf.aggregate.type */
    const sf_catalog_t *cat; /* borrowed catalog, or NULL */
    sf_producer_dr_cb dr_cb;
    sf_producer_error_cb error_cb;
    sf_producer_log_cb log_cb;
    void *opaque;
    int timeout_set; /* the application set message.timeout.ms */
};

/* One application header (traceparent, a tenant id ...). */
typedef struct sf_xheader {
    char *name;
    char *value; /* NUL-terminated copy of len bytes */
    size_t len;
} sf_xheader_t;

typedef enum sf_payload_kind {
    SF_PAYLOAD_NONE,
    SF_PAYLOAD_VALUE,
    SF_PAYLOAD_JSON,
    SF_PAYLOAD_TEXT
} sf_payload_kind_t;

struct sf_producer_event_s {
    char *type;
    char *aggregate_id;
    char *id;
    char *correlation_id;
    char *causation_id;
    char *topic;
    char *aggregate_type;
    int64_t version; /* 0 = no ce_sequence */
    int64_t time_ms;
    int has_time;
    int schema_version; /* 0 = newest */
    sf_payload_kind_t kind;
    avro_value_t value; /* SF_PAYLOAD_VALUE: a reference we hold */
    json_t *json;       /* SF_PAYLOAD_JSON: a reference we hold */
    char *text;         /* SF_PAYLOAD_TEXT */
    size_t text_len;
    sf_xheader_t *xhdrs; /* application headers, in order set */
    size_t nxhdrs, xhdrs_cap;
};

/* What publish_sync() waits for; filled by the delivery report.  Its
 * address is the record's librdkafka opaque and it sits in the producer's
 * list of pending syncs, which tells it apart from the application's own
 * msg_opaque values (those go to librdkafka unchanged, so the hot path
 * allocates nothing per record). */
typedef struct sf_sync {
    struct sf_sync *next;
    atomic_int done;
    sf_err_t err;
    sf_producer_persisted_t persisted;
    int32_t partition;
    int64_t offset;
    char errstr[512];
} sf_sync_t;

/* A validated, encoded record ready for rd_kafka_producev(). */
typedef struct sf_record {
    const char *topic; /* borrowed from the event or the producer */
    const char *key;   /* borrowed from the event */
    void *value;       /* malloc()ed single-object bytes */
    size_t value_len;
    rd_kafka_headers_t *hdrs; /* owned until handed to librdkafka */
} sf_record_t;

struct sf_producer_dr_s {
    const rd_kafka_message_t *msg;
    int filled; /* event_id/type/aggregate_id looked up */
    sf_err_t err;
    sf_producer_persisted_t persisted;
    const char *errstr;
    const char *topic;
    int32_t partition;
    int64_t offset;
    char event_id[128];
    char type[256];
    char aggregate_id[256];
    void *opaque;
};

struct sf_producer_s {
    rd_kafka_t *rk;
    const sf_catalog_t *cat;
    sf_catalog_t *own_cat; /* loaded from sf.schema.dir, or NULL */
    char *source;
    char *topic;
    char *aggtype;
    sf_producer_dr_cb dr_cb;
    sf_producer_error_cb error_cb;
    sf_producer_log_cb log_cb;
    void *opaque;
    int timeout_ms; /* message.timeout.ms in force */
    int transactional;
    int txn_inited;
    atomic_int in_txn;
    /* the abort of the open transaction timed out: the next commit or
     * abort call resumes it (librdkafka only resumes the same API call) */
    int abort_pending;
    atomic_int syncs; /* number of entries in sync_list */
    pthread_mutex_t sync_lock;
    sf_sync_t *sync_list;
};

/* conf.c */
/* Aggregate type from a topic name "<type>-events", or NULL; malloc()ed. */
char *sf__aggtype_from_topic(const char *topic);
/* "<type>-events", malloc()ed. */
char *sf__topic_from_aggtype(const char *aggtype);

/* cloudevents.c */
/* 0 when s is a URI-reference (RFC 3986 4.1), else -1 with the reason
 * (what and at which offset) in why. */
int sf__ce_check_uri_reference(const char *s, char *why, size_t size);
/* 0 when v is a W3C Trace Context traceparent, else -1 and why. */
int sf__ce_check_traceparent(const char *v, size_t len, char *why, size_t size);
/* 0 when an application header may be added (not one the library writes;
 * ce_* names follow CloudEvents' attribute naming; traceparent well
 * formed), else -1 and why (naming the header). */
int sf__ce_check_header(const char *name, const char *value, size_t len,
                        char *why, size_t size);
/* ce_dataschema of a writer schema into buf (SF_DATASCHEMA_PREFIX and 16
 * hex digits: 54 bytes with the NUL). */
void sf__ce_dataschema(const sf_schema_t *s, char *buf, size_t size);

/* producer.c */
/* A random (version 4) UUID, lower-case text (RFC 9562). */
void sf__uuid_v4(char out[37]);
/* Builds the CloudEvents headers of one event.  Every pointer except
 * correlation/causation ids must be non-NULL; version 0 leaves out
 * ce_sequence. */
rd_kafka_headers_t *
sf__headers_build(const char *id, const char *source, const char *type,
                  const char *time, const char *subject, const char *aggtype,
                  int64_t version, const char *correlation_id,
                  const char *causation_id, const char *dataschema);
/* Validates and encodes ev into rec (nothing sent).  On error rec holds
 * nothing that needs freeing. */
sf_err_t sf__record_prepare(sf_producer_t *p, const sf_producer_event_t *ev,
                            sf_record_t *rec, char *errstr, size_t errstr_size);
void sf__record_release(sf_record_t *rec);
/* Hands rec to librdkafka (ownership of value and headers moves on
 * success; on failure rec is released). */
sf_err_t sf__record_send(sf_producer_t *p, sf_record_t *rec, void *opaque,
                         char *errstr, size_t errstr_size);
/* SF_ERR_KAFKA_FATAL with the reason when the producer hit a fatal error. */
sf_err_t sf__fatal_check(sf_producer_t *p, char *errstr, size_t errstr_size);

#endif /* SF_PRODUCER_INT_H */
