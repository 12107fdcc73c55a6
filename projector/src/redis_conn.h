/*
 * redis_conn.h - how the projector reaches Redis: TCP or a Unix socket,
 * optionally TLS, then AUTH and SELECT.  Every Redis connection the
 * projector makes (worker, status, rebuild, journey, pause/resume/skip)
 * goes through sf_redis_open(), so a setting configured once applies to all.
 *
 * Configuration (the config file's redis: map, parsed by config.c):
 *   host, port      TCP address (default 127.0.0.1:6379)
 *   socket          Unix socket path; replaces host/port (no TLS over it)
 *   db              SELECT db (default 0)
 *   username        ACL user: AUTH username password (Redis 6+, ACL
 *                   users; https://redis.io/docs/latest/commands/auth/)
 *   password        without username: AUTH password (the "default" user)
 *   tls             TLS (Redis 6+ tls-port): ca (PEM file), ca_dir,
 *                   cert + key (client certificate, both or neither),
 *                   server_name (name expected in the server certificate
 *                   and sent as SNI; default host), verify (default true:
 *                   chain AND host name are checked)
 *
 * Ownership: sf_redis_conf_t owns its strings (sf_redis_conf_clear frees
 * them; sf_redis_conf_copy makes an independent copy).
 * Errors: one line naming the address and what failed; secrets never
 * appear in it (AUTH is reported as "AUTH as user NAME", never the
 * password).  Not thread-safe per connection; sf_redis_tls_t contexts are
 * created per sf_redis_open caller and may be shared read-only.
 */
#ifndef SF_PROJ_REDIS_CONN_H
#define SF_PROJ_REDIS_CONN_H

#include <stddef.h>

#include "sf_core.h"

typedef struct sf_redis_tls {
    int enabled;       /* a tls: map was given */
    char *ca, *ca_dir; /* trust anchors; none: the system's store */
    char *cert, *key;  /* client certificate (mutual TLS) */
    char *server_name; /* expected name; default: host */
    int verify;        /* 1 (default): chain and host name */
} sf_redis_tls_t;

typedef struct sf_redis_conf {
    char *host;   /* default 127.0.0.1 */
    int port;     /* default 6379 */
    char *socket; /* Unix socket path or NULL */
    int db;
    char *username, *password;
    sf_redis_tls_t tls;
} sf_redis_conf_t;

void sf_redis_conf_clear(sf_redis_conf_t *c);
sf_err_t sf_redis_conf_copy(sf_redis_conf_t *dst, const sf_redis_conf_t *src);
/* "host:port" or "unix:/path", for messages. */
const char *sf_redis_conf_where(const sf_redis_conf_t *c, char *buf,
                                size_t size);

/* An opaque TLS client context built from conf->tls (NULL when TLS is
 * off).  Loads the CA, certificate and key once; SF_ERR_CONFIG naming the
 * file that could not be used. */
typedef struct sf_redis_tlsctx sf_redis_tlsctx_t;
sf_err_t sf_redis_tlsctx_new(const sf_redis_conf_t *conf,
                             sf_redis_tlsctx_t **out, char *errstr,
                             size_t errstr_size);
void sf_redis_tlsctx_destroy(sf_redis_tlsctx_t *t);

/* Connects (TCP or socket, TLS when tls is not NULL), AUTH, SELECT.
 * *out receives the hiredis context (free with redisFree) on SF_OK.
 * Errors: SF_ERR_REDIS when Redis is unreachable or the connection broke
 * (retriable: the caller waits and tries again); SF_ERR_CONFIG when
 * Redis or TLS refused us for good - credentials refused (WRONGPASS,
 * NOPERM), a certificate that does not verify, a db out of range -
 * because retrying cannot help.  timeout_ms bounds the connect and each
 * reply. */
struct redisContext;
sf_err_t sf_redis_open(const sf_redis_conf_t *conf, sf_redis_tlsctx_t *tls,
                       int timeout_ms, struct redisContext **out, char *errstr,
                       size_t errstr_size);

#endif
