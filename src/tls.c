/* tls.c - OpenSSL contexts: clients for TLS health checks, the server for the admin port. */
#include "tls.h"

#include <stdio.h>

#include <openssl/err.h>
#include <openssl/x509.h>

/* A context for METHOD accepting TLS 1.2 and later, or NULL with a message in err. */
static SSL_CTX *new_ctx(const SSL_METHOD *method, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(method);
    char msg[256];

    if (!ctx) {
        snprintf(err, errlen, "cannot create a TLS context: %s",
                 tls_error(msg, sizeof(msg), "unknown error"));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    return ctx;
}

SSL_CTX *tls_client_ctx(const char *ca_file, bool verify, char *err, size_t errlen)
{
    SSL_CTX *ctx = new_ctx(TLS_client_method(), err, errlen);
    char msg[256];

    if (!ctx)
        return NULL;
    if (ca_file && *ca_file && !SSL_CTX_load_verify_locations(ctx, ca_file, NULL)) {
        snprintf(err, errlen, "cannot load CA file %s: %s", ca_file,
                 tls_error(msg, sizeof(msg), "unknown error"));
        SSL_CTX_free(ctx);
        return NULL;
    }
    if ((!ca_file || !*ca_file) && verify)
        SSL_CTX_set_default_verify_paths(ctx);
    SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    return ctx;
}

SSL_CTX *tls_server_ctx(const char *crt, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = new_ctx(TLS_server_method(), err, errlen);
    char msg[256];

    if (!ctx)
        return NULL;
    /* Non-blocking writes from a buffer that moves between retries. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1) {
        snprintf(err, errlen, "cannot load certificate %s: %s", crt,
                 tls_error(msg, sizeof(msg), "unknown error"));
        goto bad;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "cannot load key %s: %s", key,
                 tls_error(msg, sizeof(msg), "unknown error"));
        goto bad;
    }
    return ctx;
bad:
    SSL_CTX_free(ctx);
    return NULL;
}

bool tls_same_certificate(const SSL_CTX *a, const SSL_CTX *b)
{
    X509 *x = SSL_CTX_get0_certificate(a), *y = SSL_CTX_get0_certificate(b);

    return x && y && X509_cmp(x, y) == 0;
}

const char *tls_error(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_get_error();

    if (!e) {
        snprintf(buf, len, "%s", fallback);
        return buf;
    }
    ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}
