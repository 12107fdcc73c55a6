/*
 * cart_service.c - a tiny command service for the cart domain: the model to
 * copy into your own service.
 *
 * It reads one command per line on stdin,
 *
 *   open     CART CUSTOMER [SKU QTY PRICE_CENTS]...
 *   add      CART SKU QTY PRICE_CENTS
 *   remove   CART SKU QTY
 *   checkout CART
 *
 * checks it against what it knows about the cart, turns it into one or
 * more events (facts, named in the past tense) and publishes them to the
 * topic cart-events (or -t TOPIC).  All events of one command go out in ONE
 * Kafka transaction: a reader sees all of them or none, so a failed command can
 * simply be published again (an aborted transaction leaves nothing
 * visible: no duplicates).  -T TENANT and the TRACEPARENT environment
 * variable (a W3C trace context, as a request would bring it) become
 * record headers of every event.
 *
 *   ./cart_service -b 127.0.0.1:9092 -s schemas/domains <<'EOF'
 *   open c-1 alice sku-1 2 499
 *   add c-1 sku-2 1 1999
 *   checkout c-1
 *   EOF
 *
 * A real service keeps its aggregates' state in its own store (or rebuilds
 * it from the events); here a small in-memory table is enough to show the
 * one thing every event-sourced service must track: each aggregate's
 * version, which becomes the event's ce_sequence (1, 2, 3, ... per cart).
 */
#define _POSIX_C_SOURCE 200809L /* getopt, getline under -std=c11 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "sf_producer.h"

/* ---- The aggregate state this service keeps -------------------------- */

typedef struct cart {
    char id[64];
    long version; /* number of events of this cart so far */
    int checked_out;
    struct cart *next;
} cart_t;

static cart_t *carts;
static const char *tenant, *traceparent; /* extra headers, or NULL */

static cart_t *cart_find(const char *id) {
    for (cart_t *c = carts; c; c = c->next)
        if (!strcmp(c->id, id))
            return c;
    return NULL;
}

/* ---- Turning a command into events ------------------------------------ */

#define MAX_EVENTS 16

typedef struct command_events {
    sf_producer_event_t *ev[MAX_EVENTS];
    size_t n;
} command_events_t;

/* Appends one event of cart c.  data is the Avro JSON of the event's
 * fields (we give up our reference to it).  The version is the cart's
 * current version + the events already in this command. */
static int emit(command_events_t *out, const cart_t *c, const char *cart_id,
                const char *type, json_t *data) {
    sf_producer_event_t *ev;

    if (!data || out->n == MAX_EVENTS) {
        json_decref(data);
        return -1;
    }
    ev = sf_producer_event_new();
    /* type = the Avro full name of the schema in schemas/domains/cart. */
    sf_producer_event_set_type(ev, type);
    /* The aggregate id is the Kafka key: all events of one cart land on
     * one partition, in order. */
    sf_producer_event_set_aggregate_id(ev, cart_id);
    sf_producer_event_set_version(ev, (c ? c->version : 0) + (long)out->n + 1);
    /* The payload.  JSON is the shortest to write; a service that already
     * holds an avro_value_t passes it with sf_producer_event_set_value().
     * Either way the library checks it against the schema before
     * anything is sent. */
    sf_producer_event_set_json(ev, data);
    json_decref(data);
    /* Extra headers travel with the event (checked at publish: a
     * malformed traceparent is refused, not sent). */
    if (tenant)
        sf_producer_event_set_header(ev, "tenant", tenant, -1);
    if (traceparent)
        sf_producer_event_set_header(ev, "traceparent", traceparent, -1);
    /* Event id (UUID) and ce_time (now) are filled in by the library;
     * set them yourself with set_id()/set_time_ms() when you have them.
     * A correlation id ties together every event caused by one request. */
    out->ev[out->n++] = ev;
    return 0;
}

/* Parses one command line into events.  Returns 0, or -1 with a reason in
 * why (the command is refused, nothing is published). */
static int decide(char *line, command_events_t *out, char **cart_id, char *why,
                  size_t size) {
    char *argv[32];
    int argc = 0;
    long long now = sf_time_now_ms();
    cart_t *c;

    for (char *tok = strtok(line, " \t\r\n"); tok && argc < 32;
         tok = strtok(NULL, " \t\r\n"))
        argv[argc++] = tok;
    if (argc < 2) {
        snprintf(why, size, "expected: COMMAND CART ...");
        return -1;
    }
    *cart_id = argv[1];
    c = cart_find(argv[1]);

    if (!strcmp(argv[0], "open") && argc >= 3 && (argc - 3) % 3 == 0) {
        if (c) {
            snprintf(why, size, "cart %s is already open", argv[1]);
            return -1;
        }
        emit(out, NULL, argv[1], "shop.cart.CartOpened",
             json_pack("{s:s, s:s, s:I}", "cart_id", argv[1], "customer_id",
                       argv[2], "opened_at", now));
        /* Opening with items yields several events: one transaction. */
        for (int i = 3; i + 2 < argc; i += 3)
            emit(out, NULL, argv[1], "shop.cart.ItemAddedToCart",
                 json_pack("{s:s, s:s, s:i, s:I, s:I, s:s}", "cart_id", argv[1],
                           "sku", argv[i], "quantity", atoi(argv[i + 1]),
                           "unit_price_cents", (json_int_t)atoll(argv[i + 2]),
                           "added_at", now, "currency", "EUR"));
        return 0;
    }
    /* Every other command needs an open cart that is not checked out. */
    if (!c || c->checked_out) {
        snprintf(why, size, "cart %s is %s", argv[1],
                 c ? "already checked out" : "not open");
        return -1;
    }
    if (!strcmp(argv[0], "add") && argc == 5)
        return emit(out, c, argv[1], "shop.cart.ItemAddedToCart",
                    json_pack("{s:s, s:s, s:i, s:I, s:I, s:s}", "cart_id",
                              argv[1], "sku", argv[2], "quantity",
                              atoi(argv[3]), "unit_price_cents",
                              (json_int_t)atoll(argv[4]), "added_at", now,
                              "currency", "EUR"));
    if (!strcmp(argv[0], "remove") && argc == 4)
        return emit(out, c, argv[1], "shop.cart.ItemRemovedFromCart",
                    json_pack("{s:s, s:s, s:i, s:I}", "cart_id", argv[1], "sku",
                              argv[2], "quantity", atoi(argv[3]), "removed_at",
                              now));
    if (!strcmp(argv[0], "checkout") && argc == 2)
        return emit(
            out, c, argv[1], "shop.cart.CartCheckedOut",
            json_pack("{s:s, s:I}", "cart_id", argv[1], "checked_out_at", now));
    snprintf(why, size, "unknown command or wrong arguments: %s", argv[0]);
    return -1;
}

/* After the events are safely in Kafka, the service's own state moves on.
 * (Never before: a failed publish must leave the version unchanged.) */
static void apply(const char *cart_id, const command_events_t *evs,
                  const char *cmd) {
    cart_t *c = cart_find(cart_id);

    if (!c) {
        c = calloc(1, sizeof(*c));
        snprintf(c->id, sizeof(c->id), "%s", cart_id);
        c->next = carts;
        carts = c;
    }
    c->version += (long)evs->n;
    if (!strcmp(cmd, "checkout"))
        c->checked_out = 1;
}

int main(int argc, char **argv) {
    const char *brokers = "127.0.0.1:9092", *schema_dir = "schemas/domains";
    const char *topic = "cart-events";
    char errstr[512], txnid[128], *line = NULL;
    size_t cap = 0;
    int opt, failures = 0;

    traceparent = getenv("TRACEPARENT");
    while ((opt = getopt(argc, argv, "b:s:t:T:h")) != -1) {
        if (opt == 'T')
            tenant = optarg;
        else if (opt == 'b')
            brokers = optarg;
        else if (opt == 't')
            topic = optarg;
        else if (opt == 's')
            schema_dir = optarg;
        else {
            fprintf(stderr,
                    "usage: %s [-b BROKERS] [-s SCHEMA_DIR] "
                    "[-t TOPIC] [-T TENANT] < commands\n",
                    argv[0]);
            return opt == 'h' ? 0 : 2;
        }
    }

    /* 1. Configure.  librdkafka properties pass through unchanged; the
     *    library already sets enable.idempotence=true, acks=all and the
     *    murmur2_random partitioner.  sf.aggregate.type=cart alone would
     *    give the topic cart-events; -t overrides it (tests use their own
     *    topics).  The aggregate type is the ce_aggregatetype header. */
    sf_producer_conf_t *conf = sf_producer_conf_new();
    snprintf(txnid, sizeof(txnid), "cart-service-%ld", (long)getpid());
    if (sf_producer_conf_set(conf, "bootstrap.servers", brokers, errstr,
                             sizeof(errstr)) ||
        sf_producer_conf_set(conf, "sf.schema.dir", schema_dir, errstr,
                             sizeof(errstr)) ||
        sf_producer_conf_set(conf, "sf.aggregate.type", "cart", errstr,
                             sizeof(errstr)) ||
        sf_producer_conf_set(conf, "sf.topic", topic, errstr, sizeof(errstr)) ||
        sf_producer_conf_set(conf, "sf.source", "cart-service", errstr,
                             sizeof(errstr)) ||
        /* A transactional.id lets one command's events commit together.
         * In production use a stable id per service instance, so a
         * restarted instance fences its zombie predecessor. */
        sf_producer_conf_set(conf, "transactional.id", txnid, errstr,
                             sizeof(errstr))) {
        fprintf(stderr, "config: %s\n", errstr);
        sf_producer_conf_destroy(conf);
        return 2;
    }

    /* 2. Create the producer; it now owns conf. */
    sf_producer_t *p = sf_producer_new(conf, errstr, sizeof(errstr));
    if (!p) {
        fprintf(stderr, "producer: %s\n", errstr);
        sf_producer_conf_destroy(conf);
        return 2;
    }

    /* 3. Command loop: decide -> publish -> apply. */
    while (getline(&line, &cap, stdin) != -1) {
        command_events_t evs = {{NULL}, 0};
        char cmd[32], why[512], *cart_id = NULL;
        size_t bad = 0;
        sf_err_t err;

        if (line[0] == '\n' || line[0] == '#')
            continue;
        sscanf(line, "%31s", cmd);
        if (decide(line, &evs, &cart_id, why, sizeof(why))) {
            printf("REFUSED %s: %s\n", cmd, why);
            failures++;
        } else {
            /* All events of the command, atomically.  Validation happens
             * first: a payload not matching its schema sends nothing.
             * SF_ERR_KAFKA means the transaction was aborted (nothing
             * visible), so publishing it again cannot duplicate: retry a
             * few times, then give up on the command. */
            int attempt = 0;
            do
                err = sf_producer_publish_batch(p, evs.ev, evs.n, &bad, errstr,
                                                sizeof(errstr));
            while (err == SF_ERR_KAFKA && ++attempt < 3);
            if (err == SF_OK) {
                apply(cart_id, &evs, cmd);
                printf("OK %s %s (version %ld)\n", cmd, cart_id,
                       cart_find(cart_id)->version);
            } else {
                /* Bad event, retries used up, or SF_ERR_KAFKA_FATAL (the
                 * producer is fenced or broken): stop on the last. */
                printf("FAILED %s: %s\n", cmd, errstr);
                failures++;
                if (err == SF_ERR_KAFKA_FATAL)
                    break;
            }
        }
        for (size_t i = 0; i < evs.n; i++)
            sf_producer_event_destroy(evs.ev[i]);
        fflush(stdout);
    }

    /* 4. Shut down: destroy flushes whatever is still in flight. */
    free(line);
    sf_producer_destroy(p);
    while (carts) {
        cart_t *next = carts->next;
        free(carts);
        carts = next;
    }
    return failures ? 1 : 0;
}
