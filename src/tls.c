/* tls.c - OpenSSL contexts: clients for TLS health checks and for servers, the server side
 * for listeners that terminate TLS and for the admin port. Contexts are made once, by
 * conf_load (or the admin port's reload), and only read afterwards (but for a client
 * context's last session, kept under its own lock): each session takes its own reference
 * with SSL_new, so a reload may free the context it replaces. */
#include "tls.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The last TLS session a server gave a client context (one per server line; checks have none),
 * offered by the next connection made with that context: a resumed handshake
 * spares the server its certificate and key exchange work, which counts when every client
 * reconnects at once. Worker threads share a context, hence the lock. */
struct resume_slot {
    pthread_mutex_t lock;
    SSL_SESSION *last; /* a reference, or NULL */
};

static int resume_index = -1; /* the contexts' ex_data slot for their struct resume_slot */
static pthread_once_t resume_once = PTHREAD_ONCE_INIT;

/* OpenSSL frees a context: free its slot and the session it kept. */
static void resume_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    struct resume_slot *r = ptr;
    (void)parent;
    (void)ad;
    (void)idx;
    (void)argl;
    (void)argp;

    if (!r)
        return;
    SSL_SESSION_free(r->last);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static void resume_index_new(void)
{
    resume_index =
        CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_SSL_CTX, 0, NULL, NULL, NULL, resume_free);
}

static struct resume_slot *resume_slot(SSL *ssl)
{
    return resume_index < 0 ? NULL : SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), resume_index);
}

/* OpenSSL's new-session callback on a client context: at the end of a TLS 1.2 handshake, and
 * for each TLS 1.3 ticket (they come after the handshake, read with the first bytes). The
 * slot keeps a copy of the newest: OpenSSL marks a connection's own session not resumable
 * when that connection is freed without close_notify, which says nothing of the server. */
static int keep_session(SSL *ssl, SSL_SESSION *sess)
{
    struct resume_slot *r = resume_slot(ssl);
    SSL_SESSION *copy, *old;

    if (!r || !SSL_SESSION_is_resumable(sess) || !(copy = SSL_SESSION_dup(sess)))
        return 0;
    pthread_mutex_lock(&r->lock);
    old = r->last;
    r->last = copy;
    pthread_mutex_unlock(&r->lock);
    SSL_SESSION_free(old);
    return 0; /* SESS stays the connection's */
}

/* Give CTX a slot for the session to resume and the callback that fills it. 0 or -1. */
static int resume_init(SSL_CTX *ctx)
{
    struct resume_slot *r;

    if (pthread_once(&resume_once, resume_index_new) != 0 || resume_index < 0 ||
        !(r = calloc(1, sizeof(*r))))
        return -1;
    pthread_mutex_init(&r->lock, NULL);
    if (!SSL_CTX_set_ex_data(ctx, resume_index, r)) {
        resume_free(NULL, r, NULL, 0, 0, NULL);
        return -1;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, keep_session);
    return 0;
}

void tls_offer_session(SSL *ssl)
{
    struct resume_slot *r = resume_slot(ssl);
    SSL_SESSION *copy = NULL;

    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    if (r->last)
        copy = SSL_SESSION_dup(r->last); /* the kept one is never a connection's (see above) */
    pthread_mutex_unlock(&r->lock);
    if (copy) {
        SSL_set_session(ssl, copy);
        SSL_SESSION_free(copy); /* SSL holds its own reference */
    }
}

void tls_forget_session(SSL *ssl)
{
    struct resume_slot *r = resume_slot(ssl);
    SSL_SESSION *gone;

    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    gone = r->last;
    r->last = NULL;
    pthread_mutex_unlock(&r->lock);
    SSL_SESSION_free(gone);
}

SSL_CTX *tls_client_ctx(const char *ca_file, bool verify, const char *crt, bool reuse, char *err,
                        size_t errlen)
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
    if (reuse && resume_init(ctx) < 0) {
        snprintf(err, errlen, "out of memory for a TLS context");
        goto bad;
    }
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
