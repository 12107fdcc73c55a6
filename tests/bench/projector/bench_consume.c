/*
 * bench_consume.c - a contender of tests/bench/run.sh: a bare
 * librdkafka consumer that reads a whole topic from offset zero and
 * discards every record.  It joins a fresh consumer group with subscribe()
 * like the projector does (so both pay the group join), reads with
 * isolation.level=read_committed, and stops when every partition reached
 * its end (enable.partition.eof).
 *
 * Usage: bench_consume -b BROKERS -t TOPIC [-X prop=value]...
 * (run.sh passes -X fetch.wait.max.ms=10: librdkafka's 500 would make the
 * last empty fetch of every partition cost up to half a second)
 * Prints one line: "consume events=N bytes=B seconds=S rate=R" where the
 * time covers the whole run from rd_kafka_new() to the last partition EOF.
 */
#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const char *why) {
    fprintf(stderr, "bench_consume: %s: %s\n", what, why);
    exit(1);
}

int main(int argc, char **argv) {
    const char *brokers = getenv("SF_BROKERS");
    const char *topic = NULL;
    char errstr[512];
    if (!brokers)
        brokers = "127.0.0.1:9092";
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int opt;
    while ((opt = getopt(argc, argv, "b:t:X:h")) != -1) {
        switch (opt) {
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq)
                die(optarg, "expected prop=value");
            *eq = '\0';
            if (rd_kafka_conf_set(conf, optarg, eq + 1, errstr,
                                  sizeof errstr) != RD_KAFKA_CONF_OK)
                die(optarg, errstr);
            break;
        }
        default:
            fprintf(stderr, "usage: bench_consume -b BROKERS -t TOPIC "
                            "[-X prop=value]...\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (!topic)
        die("-t", "topic required");
    char group[128];
    snprintf(group, sizeof group, "bench-consume-%d-%ld", (int)getpid(),
             (long)time(NULL));
    const char *props[][2] = {
        {"bootstrap.servers", brokers},
        {"group.id", group},
        {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", "true"},
        {"enable.auto.commit", "false"},
        {"isolation.level", "read_committed"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        /* a generous prefetch: the baseline may use all the memory it
         * likes (the projector bounds its own, projector/src/kconf.c) */
        {"queued.min.messages", "1000000"},
    };
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], errstr,
                              sizeof errstr) != RD_KAFKA_CONF_OK)
            die(props[i][0], errstr);

    double t0 = mono();
    rd_kafka_t *rk =
        rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk)
        die("rd_kafka_new", errstr);
    rd_kafka_poll_set_consumer(rk);

    /* partition count, to know when every partition hit EOF */
    const struct rd_kafka_metadata *md;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        md->topic_cnt != 1 || md->topics[0].err)
        die(topic, "metadata failed or topic missing");
    int nparts = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);

    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (err)
        die("subscribe", rd_kafka_err2str(err));

    char *eof = calloc((size_t)nparts, 1);
    int neof = 0;
    long long events = 0, bytes = 0;
    double first = 0;
    while (neof < nparts) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
        if (!m) {
            if (mono() - t0 > 600)
                die(topic, "no end after 600 s");
            continue;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (m->partition >= 0 && m->partition < nparts &&
                !eof[m->partition]) {
                eof[m->partition] = 1;
                neof++;
            }
        } else if (m->err) {
            die("consume", rd_kafka_message_errstr(m));
        } else {
            if (!first)
                first = mono();
            events++;
            bytes += (long long)m->len + (long long)m->key_len;
        }
        rd_kafka_message_destroy(m);
    }
    double t1 = mono();
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    free(eof);
    double secs = t1 - t0;
    printf("consume events=%lld bytes=%lld seconds=%.3f rate=%.0f "
           "stream_seconds=%.3f\n",
           events, bytes, secs, secs > 0 ? (double)events / secs : 0.0,
           first ? t1 - first : 0.0);
    return events > 0 ? 0 : 1;
}
