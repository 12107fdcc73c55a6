/* redis_conn.c - reaching Redis: socket or TCP, TLS, AUTH, SELECT (see
 * redis_conn.h). */
#include "redis_conn.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/hiredis.h>
#include <hiredis/hiredis_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util.h"

void sf_redis_conf_clear(sf_redis_conf_t *c) {
    free(c->host);
    free(c->socket);
    free(c->username);
    if (c->password) /* do not leave the secret in freed memory */
        memset(c->password, 0, strlen(c->password));
    free(c->password);
    free(c->tls.ca);
    free(c->tls.ca_dir);
    free(c->tls.cert);
    free(c->tls.key);
    free(c->tls.server_name);
    memset(c, 0, sizeof(*c));
}

sf_err_t sf_redis_conf_copy(sf_redis_conf_t *d, const sf_redis_conf_t *s) {
    *d = *s;
    d->host = sf_strdup0(s->host);
    d->socket = sf_strdup0(s->socket);
    d->username = sf_strdup0(s->username);
    d->password = sf_strdup0(s->password);
    d->tls.ca = sf_strdup0(s->tls.ca);
    d->tls.ca_dir = sf_strdup0(s->tls.ca_dir);
    d->tls.cert = sf_strdup0(s->tls.cert);
    d->tls.key = sf_strdup0(s->tls.key);
    d->tls.server_name = sf_strdup0(s->tls.server_name);
    if ((s->host && !d->host) || (s->socket && !d->socket) ||
        (s->username && !d->username) || (s->password && !d->password) ||
        (s->tls.ca && !d->tls.ca) || (s->tls.ca_dir && !d->tls.ca_dir) ||
        (s->tls.cert && !d->tls.cert) || (s->tls.key && !d->tls.key) ||
        (s->tls.server_name && !d->tls.server_name)) {
        sf_redis_conf_clear(d);
        return SF_ERR_NOMEM;
    }
    return SF_OK;
}

const char *sf_redis_conf_where(const sf_redis_conf_t *c, char *buf,
                                size_t size) {
    if (c->socket)
        snprintf(buf, size, "unix:%s", c->socket);
    else
        snprintf(buf, size, "%s:%d", c->host ? c->host : "127.0.0.1",
                 c->port ? c->port : 6379);
    return buf;
}

/* ---- TLS -------------------------------------------------------------
 * hiredis_ssl's own context (redisCreateSSLContext) checks the server's
 * certificate chain but not that the certificate names the server we
 * meant to reach: any certificate the CA signed would do.  So the client
 * context is built here with OpenSSL and each connection's SSL object gets
 * the expected host name (SSL_set1_host) or IP address before hiredis_ssl
 * takes it over (redisInitiateSSL). */

struct sf_redis_tlsctx {
    SSL_CTX *ctx;
    char *name; /* expected server name, or NULL: no name check */
    int verify;
};

static const char *ssl_reason(void) {
    unsigned long e = ERR_get_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : "unknown OpenSSL error";
}

sf_err_t sf_redis_tlsctx_new(const sf_redis_conf_t *conf,
                             sf_redis_tlsctx_t **out, char *errstr,
                             size_t errstr_size) {
    const sf_redis_tls_t *t = &conf->tls;
    char where[300];
    sf_redis_conf_where(conf, where, sizeof(where));
    *out = NULL;
    if (!t->enabled)
        return SF_OK;
    if (conf->socket)
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "redis %s: tls over a Unix socket is not supported "
                         "(use host/port)",
                         where);
    if (!t->cert != !t->key)
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "redis %s: tls.cert and tls.key go together", where);
    OPENSSL_init_ssl(0, NULL);
    sf_redis_tlsctx_t *x = calloc(1, sizeof(*x));
    if (!x)
        return SF_ERR_NOMEM;
    x->verify = t->verify;
    const char *name = t->server_name ? t->server_name : conf->host;
    if (name && !(x->name = strdup(name))) {
        free(x);
        return SF_ERR_NOMEM;
    }
    sf_err_t e = SF_OK;
    if (!(x->ctx = SSL_CTX_new(TLS_client_method()))) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "redis %s: tls: %s",
                      where, ssl_reason());
        goto err;
    }
    SSL_CTX_set_min_proto_version(x->ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(x->ctx, t->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                       NULL);
    if (t->ca || t->ca_dir) {
        if (SSL_CTX_load_verify_locations(x->ctx, t->ca, t->ca_dir) != 1) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                          "redis %s: tls.%s %s: cannot load: %s", where,
                          t->ca ? "ca" : "ca_dir", t->ca ? t->ca : t->ca_dir,
                          ssl_reason());
            goto err;
        }
    } else if (SSL_CTX_set_default_verify_paths(x->ctx) != 1) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                      "redis %s: tls: cannot load the system's CA "
                      "certificates: %s",
                      where, ssl_reason());
        goto err;
    }
    if (t->cert) {
        if (SSL_CTX_use_certificate_chain_file(x->ctx, t->cert) != 1) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                          "redis %s: tls.cert %s: cannot load: %s", where,
                          t->cert, ssl_reason());
            goto err;
        }
        if (SSL_CTX_use_PrivateKey_file(x->ctx, t->key, SSL_FILETYPE_PEM) !=
                1 ||
            SSL_CTX_check_private_key(x->ctx) != 1) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                          "redis %s: tls.key %s: cannot use: %s", where, t->key,
                          ssl_reason());
            goto err;
        }
    }
    *out = x;
    return SF_OK;
err:
    sf_redis_tlsctx_destroy(x);
    return e;
}

void sf_redis_tlsctx_destroy(sf_redis_tlsctx_t *x) {
    if (!x)
        return;
    SSL_CTX_free(x->ctx);
    free(x->name);
    free(x);
}

static int is_ip(const char *s) {
    unsigned char b[16];
    return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

/* TLS handshake on c.  A certificate that does not verify is permanent
 * (SF_ERR_CONFIG); a connection that broke during the handshake is not. */
static sf_err_t start_tls(redisContext *c, sf_redis_tlsctx_t *x,
                          const char *where, char *errstr, size_t errstr_size) {
    SSL *ssl = SSL_new(x->ctx);
    if (!ssl)
        return sf_seterr(errstr, errstr_size, SF_ERR_NOMEM, "redis %s: tls: %s",
                         where, ssl_reason());
    if (x->name) {
        int ip = is_ip(x->name);
        if (!ip)
            SSL_set_tlsext_host_name(ssl, x->name);
        if (x->verify &&
            (ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), x->name)
                : SSL_set1_host(ssl, x->name)) != 1) {
            SSL_free(ssl);
            return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                             "redis %s: tls: cannot check for server name "
                             "\"%s\"",
                             where, x->name);
        }
    }
    if (redisInitiateSSL(c, ssl) == REDIS_OK)
        return SF_OK; /* hiredis owns ssl now */
    long vr = SSL_get_verify_result(ssl);
    SSL_free(ssl);
    if (vr != X509_V_OK)
        return sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                         "redis %s: tls: server certificate does not verify: "
                         "%s (check redis.tls.ca and redis.tls.server_name)",
                         where, X509_verify_cert_error_string(vr));
    return sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                     "redis %s: tls handshake: %s", where, c->errstr);
}

/* A command whose arguments must not appear in messages (AUTH). */
static sf_err_t quiet_cmd(redisContext *c, int argc, const char **argv,
                          redisReply **out) {
    redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
    *out = rep;
    if (!rep)
        return SF_ERR_REDIS;
    return rep->type == REDIS_REPLY_ERROR ? SF_ERR_REDIS_REPLY : SF_OK;
}

sf_err_t sf_redis_open(const sf_redis_conf_t *conf, sf_redis_tlsctx_t *tls,
                       int timeout_ms, redisContext **out, char *errstr,
                       size_t errstr_size) {
    char where[300];
    sf_redis_conf_where(conf, where, sizeof(where));
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    redisContext *c =
        conf->socket
            ? redisConnectUnixWithTimeout(conf->socket, tv)
            : redisConnectWithTimeout(conf->host ? conf->host : "127.0.0.1",
                                      conf->port ? conf->port : 6379, tv);
    sf_err_t e = SF_OK;
    *out = NULL;
    if (!c || c->err) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                      "redis %s: connect: %s", where,
                      c ? c->errstr : "out of memory");
        goto err;
    }
    redisSetTimeout(c, tv);
    if (tls && (e = start_tls(c, tls, where, errstr, errstr_size)))
        goto err;
    if (conf->password && *conf->password) {
        const char *argv[3] = {"AUTH", conf->username, conf->password};
        redisReply *rep;
        int argc = 3;
        if (!conf->username) {
            argv[1] = conf->password;
            argc = 2;
        }
        e = quiet_cmd(c, argc, argv, &rep);
        if (e == SF_ERR_REDIS) {
            sf_seterr(errstr, errstr_size, e, "redis %s: AUTH: %s", where,
                      c->errstr[0] ? c->errstr : "connection lost");
        } else if (e) {
            /* WRONGPASS for a bad user or password alike (Redis does not
             * say which, on purpose); the reply never holds the secret. */
            e = SF_ERR_CONFIG;
            sf_seterr(errstr, errstr_size, e,
                      "redis %s: AUTH as user \"%s\" refused: %s (check "
                      "redis.username and redis.password)",
                      where, conf->username ? conf->username : "default",
                      rep->str);
        }
        freeReplyObject(rep);
        if (e)
            goto err;
    } else if (conf->username) {
        e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                      "redis %s: redis.username \"%s\" needs a password "
                      "(redis.password or redis.password_file)",
                      where, conf->username);
        goto err;
    }
    if (conf->db) {
        redisReply *rep = redisCommand(c, "SELECT %d", conf->db);
        if (!rep) {
            e = sf_seterr(errstr, errstr_size, SF_ERR_REDIS,
                          "redis %s: SELECT: %s", where,
                          c->errstr[0] ? c->errstr : "connection lost");
        } else if (rep->type == REDIS_REPLY_ERROR) {
            /* NOAUTH, NOPERM, DB index out of range: none heal by waiting */
            e = sf_seterr(errstr, errstr_size, SF_ERR_CONFIG,
                          "redis %s: SELECT %d: %s", where, conf->db, rep->str);
        }
        freeReplyObject(rep);
        if (e)
            goto err;
    }
    *out = c;
    return SF_OK;
err:
    if (c)
        redisFree(c);
    return e;
}
