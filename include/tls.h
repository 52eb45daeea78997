/* tls.h - OpenSSL contexts: TLS health checks and servers (client), listeners that terminate
 * TLS and the admin port (server). */
#ifndef TLS_H
#define TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* A client context, TLS 1.2 or later; CA_FILE may be empty (system store). With VERIFY the
 * peer's certificate must chain to a trusted CA (the host name is not checked). CRT, if
 * neither NULL nor empty, is a PEM file holding the client certificate chain and its key,
 * sent to a server that asks for one. With REUSE it keeps the last session a server gave it,
 * for tls_offer_session(); without, every handshake is a full one (health checks, which
 * must see the server's certificate and key at work each time). NULL on error, with a
 * message in err. */
SSL_CTX *tls_client_ctx(const char *ca_file, bool verify, const char *crt, bool reuse, char *err,
                        size_t errlen);

/* Before a client handshake: offer the last session SSL's context kept, if any, so that the
 * server may resume it (it falls back to a full handshake by itself). Any thread. */
void tls_offer_session(SSL *ssl);

/* A client handshake with SSL's context failed: drop the session it keeps (the next handshake
 * is a full one, and keeps a new session). */
void tls_forget_session(SSL *ssl);

/* A server context with the certificate chain CRT and private key KEY (PEM), TLS 1.2
 * or later, with session resumption. NULL on error, with a message in err. */
SSL_CTX *tls_server_ctx(const char *crt, const char *key, char *err, size_t errlen);

/* Narrow CTX to MIN_VER (TLS1_2_VERSION, TLS1_3_VERSION) and later, and to the TLS 1.2
 * CIPHERS and TLS 1.3 CIPHERSUITES lists when not empty (OpenSSL's syntax). 0, or -1 with
 * a message in err. */
int tls_ctx_protocols(SSL_CTX *ctx, int min_ver, const char *ciphers, const char *ciphersuites,
                      char *err, size_t errlen) __attribute__((warn_unused_result));

/* Is the private key file PATH kept from other users? 0 if so (or if it cannot be looked
 * at: loading it will tell why), -1 with a message in err if anyone may read it. A key
 * readable by its group is accepted, for keys owned by a group the service is in. */
int tls_key_file_private(const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Do server contexts A and B present the same certificate? (A reload that reads the same
 * files again changes nothing a client can see.) */
bool tls_same_certificate(const SSL_CTX *a, const SSL_CTX *b);

/* The oldest queued OpenSSL error as text (and clear the queue), or FALLBACK. */
const char *tls_error(char *buf, size_t len, const char *fallback);

#endif
