/* tls.c - OpenSSL contexts: clients for TLS health checks and for servers, the server side
 * for listeners that terminate TLS and for the admin port. Contexts are made once, by
 * conf_load (or the admin port's reload), and only read afterwards: each session takes its
 * own reference with SSL_new, so a reload may free the context it replaces. */
#include "tls.h"

#include <stdio.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509.h>

/* Resumed sessions are accepted only from a context with this id (any fixed string will do). */
static const unsigned char session_id_ctx[] = "rebound";

/* A context for METHOD accepting TLS 1.2 and later, or NULL with a message in err. Both
 * sides write from buffers that move between retries without blocking, hold no buffers
 * while idle (many idle sessions are the normal case), and refuse renegotiation. */
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
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

/* Load the certificate chain CRT and the private key KEY (PEM) into CTX. */
static int use_certificate(SSL_CTX *ctx, const char *crt, const char *key, char *err, size_t errlen)
{
    char msg[256];

    if (SSL_CTX_use_certificate_chain_file(ctx, crt) != 1) {
        snprintf(err, errlen, "cannot load certificate %s: %s", crt,
                 tls_error(msg, sizeof(msg), "unknown error"));
        return -1;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "cannot load key %s: %s", key,
                 tls_error(msg, sizeof(msg), "unknown error"));
        return -1;
    }
    return 0;
}

SSL_CTX *tls_client_ctx(const char *ca_file, bool verify, const char *crt, char *err, size_t errlen)
{
    SSL_CTX *ctx = new_ctx(TLS_client_method(), err, errlen);
    char msg[256];

    if (!ctx)
        return NULL;
    if (ca_file && *ca_file && !SSL_CTX_load_verify_locations(ctx, ca_file, NULL)) {
        snprintf(err, errlen, "cannot load CA file %s: %s", ca_file,
                 tls_error(msg, sizeof(msg), "unknown error"));
        goto bad;
    }
    if ((!ca_file || !*ca_file) && verify)
        SSL_CTX_set_default_verify_paths(ctx);
    SSL_CTX_set_verify(ctx, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (crt && *crt && use_certificate(ctx, crt, crt, err, errlen) < 0)
        goto bad;
    return ctx;
bad:
    SSL_CTX_free(ctx);
    return NULL;
}

SSL_CTX *tls_server_ctx(const char *crt, const char *key, char *err, size_t errlen)
{
    SSL_CTX *ctx = new_ctx(TLS_server_method(), err, errlen);

    if (!ctx)
        return NULL;
    if (use_certificate(ctx, crt, key, err, errlen) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* Resumption: a client may come back with a session id (server cache) or a ticket
     * (OpenSSL's default, left on); either needs the id context set. */
    SSL_CTX_set_session_id_context(ctx, session_id_ctx, sizeof(session_id_ctx) - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    return ctx;
}

int tls_ctx_protocols(SSL_CTX *ctx, int min_ver, const char *ciphers, const char *ciphersuites,
                      char *err, size_t errlen)
{
    char msg[256];

    if (SSL_CTX_set_min_proto_version(ctx, min_ver) != 1) {
        snprintf(err, errlen, "cannot set the oldest TLS version: %s",
                 tls_error(msg, sizeof(msg), "unknown error"));
        return -1;
    }
    if (ciphers && *ciphers && SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
        snprintf(err, errlen, "bad cipher list '%s': %s", ciphers,
                 tls_error(msg, sizeof(msg), "no cipher matches"));
        return -1;
    }
    if (ciphersuites && *ciphersuites && SSL_CTX_set_ciphersuites(ctx, ciphersuites) != 1) {
        snprintf(err, errlen, "bad TLS 1.3 cipher suite list '%s': %s", ciphersuites,
                 tls_error(msg, sizeof(msg), "no cipher suite matches"));
        return -1;
    }
    return 0;
}

int tls_key_file_private(const char *path, char *err, size_t errlen)
{
    struct stat st;

    /* A file that cannot be read is told by the loader, with OpenSSL's reason. */
    if (stat(path, &st) < 0 || !(st.st_mode & S_IROTH))
        return 0;
    snprintf(err, errlen, "key file %s is readable by others: chmod o-r %s", path, path);
    return -1;
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
