/*
 * http.c - /metrics, /healthz and /readyz over HTTP with libmicrohttpd.
 *
 * libmicrohttpd runs its own polling thread (MHD_USE_INTERNAL_POLLING_THREAD)
 * so a scrape never waits on, or blocks, the worker's poll loop; the only
 * shared state is the metrics registry, which is mutex-protected.  The
 * server never logs (no MHD_USE_ERROR_LOG): a library does not print.
 *
 * Slow and idle clients: the polling thread is event driven (epoll/poll,
 * MHD_USE_AUTO), so a connection that trickles a byte now and then costs a
 * file descriptor and a little memory, never the thread.  What runs out is
 * the connection limit: with 64 slots, 70 clients sending a byte every
 * 3 s (each byte restarts the inactivity timeout) kept /healthz from ever
 * being accepted.  So the limit is generous (SF_HTTP_MAX_CONNECTIONS,
 * bounded below by the process's file descriptor limit), the inactivity
 * timeout short (a probe's request arrives in one go), and the per
 * connection memory pool small (requests are one GET line and a few
 * headers).  A client that still fills every slot only delays probes
 * until the inactivity timeout frees slots of idle ones.
 *
 * Address: "HOST:PORT"; an empty host binds loopback (127.0.0.1), never
 * every interface: exposing the endpoint is an explicit choice
 * ("0.0.0.0:9464").  Port 0 lets the kernel choose (see sf_http_port), so
 * several workers on one host never clash.
 */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <microhttpd.h>

#if MHD_VERSION >= 0x00097002
typedef enum MHD_Result mhd_ret_t;
#else
typedef int mhd_ret_t;
#endif

/* See the design note above. */
#define SF_HTTP_MAX_CONNECTIONS 1000
#define SF_HTTP_IDLE_TIMEOUT_S  5

#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct sf_http_s {
    struct MHD_Daemon *daemon;
    sf_metrics_t *metrics;
    int port;
};

static mhd_ret_t reply(struct MHD_Connection *conn, unsigned int status,
                       const char *ctype, char *body, size_t len,
                       enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    mhd_ret_t ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static mhd_ret_t reply_text(struct MHD_Connection *conn, unsigned int status,
                            const char *text) {
    size_t n = strlen(text);
    char *body = malloc(n + 2);
    if (!body)
        return MHD_NO;
    memcpy(body, text, n);
    body[n] = '\n';
    body[n + 1] = '\0';
    return reply(conn, status, "text/plain; charset=utf-8", body, n + 1,
                 MHD_RESPMEM_MUST_FREE);
}

static mhd_ret_t on_request(void *cls, struct MHD_Connection *conn,
                            const char *url, const char *method,
                            const char *version, const char *upload_data,
                            size_t *upload_data_size, void **con_cls) {
    sf_http_t *h = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        /* no request bodies are accepted; discard any upload */
        *upload_data_size = 0;
        return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                          "method not allowed");
    }
    if (strcmp(url, "/metrics") == 0) {
        char *out = NULL;
        size_t len = 0;
        char err[256];
        if (sf_metrics_render(h->metrics, &out, &len, err, sizeof err) != SF_OK)
            return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, err);
        return reply(conn, MHD_HTTP_OK, PROM_CONTENT_TYPE, out, len,
                     MHD_RESPMEM_MUST_FREE);
    }
    if (strcmp(url, "/healthz") == 0) {
        if (sf_metrics_is_live(h->metrics))
            return reply_text(conn, MHD_HTTP_OK, "ok");
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "main loop heartbeat too old");
    }
    if (strcmp(url, "/readyz") == 0) {
        char why[256] = "";
        if (sf_metrics_is_ready(h->metrics, why, sizeof why))
            return reply_text(conn, MHD_HTTP_OK, "ready");
        return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, why);
    }
    return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found");
}

/* Splits "HOST:PORT" / "[V6]:PORT" and resolves HOST numerically or via
 * getaddrinfo (for "localhost"). */
static sf_err_t parse_listen(const char *listen, struct sockaddr_storage *ss,
                             socklen_t *sslen, int *is_v6, char *errstr,
                             size_t errstr_size) {
    char host[256];
    const char *port_s;
    if (!listen || !*listen)
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "metrics listen: empty address (want HOST:PORT)");
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (!end || end[1] != ':' || (size_t)(end - listen - 1) >= sizeof host)
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "metrics listen '%s': want [IPV6]:PORT", listen);
        memcpy(host, listen + 1, (size_t)(end - listen - 1));
        host[end - listen - 1] = '\0';
        port_s = end + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (!colon || (size_t)(colon - listen) >= sizeof host)
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "metrics listen '%s': want HOST:PORT", listen);
        memcpy(host, listen, (size_t)(colon - listen));
        host[colon - listen] = '\0';
        port_s = colon + 1;
    }
    char *end;
    errno = 0;
    long port = strtol(port_s, &end, 10);
    if (!*port_s || *end || errno || port < 0 || port > 65535)
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "metrics listen '%s': bad port '%s'", listen, port_s);

    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    /* no host: loopback, not the wildcard address */
    int rc = getaddrinfo(*host ? host : "127.0.0.1", port_s, &hints, &res);
    if (rc != 0 || !res) {
        if (res)
            freeaddrinfo(res);
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "metrics listen '%s': cannot resolve '%s': %s", listen,
                         host, gai_strerror(rc));
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    *is_v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return SF_OK;
}

sf_err_t sf_http_start(sf_metrics_t *m, const char *listen, sf_http_t **httpp,
                       char *errstr, size_t errstr_size) {
    if (!m || !httpp)
        return sf_seterr(errstr, errstr_size, SF_ERR_INVALID_ARG,
                         "sf_http_start: NULL argument");
    *httpp = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    int v6 = 0;
    sf_err_t err = parse_listen(listen, &ss, &sslen, &v6, errstr, errstr_size);
    if (err != SF_OK)
        return err;
    (void)sslen;

    sf_http_t *h = calloc(1, sizeof(*h));
    if (!h)
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM,
                         "sf_http_start: out of memory");
    h->metrics = m;
    uint16_t port = v6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
    unsigned int limit = SF_HTTP_MAX_CONNECTIONS;
    struct rlimit rl;
    /* keep room for the worker's own sockets (Kafka, Redis) */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < (rlim_t)limit * 2)
        limit = rl.rlim_cur > 128 ? (unsigned int)(rl.rlim_cur / 2) : 32;
    if (v6)
        flags |= MHD_USE_IPv6;
    errno = 0;
    h->daemon = MHD_start_daemon(
        flags, port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)SF_HTTP_IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
        limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)128, MHD_OPTION_END);
    if (!h->daemon) {
        int e = errno;
        free(h);
        return sf_seterr(errstr, errstr_size, SF_ERR_IO,
                         "metrics listen '%s': cannot start HTTP server: %s",
                         listen, e ? strerror(e) : "libmicrohttpd failed");
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? (int)info->port : (int)port;
    *httpp = h;
    return SF_OK;
}

int sf_http_port(const sf_http_t *h) {
    return h ? h->port : -1;
}

void sf_http_stop(sf_http_t *h) {
    if (!h)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
