/* tls.h - OpenSSL contexts: TLS health checks (client) and the admin port (server). */
#ifndef TLS_H
#define TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

/* A client context; CA_FILE may be empty (system store). With VERIFY the peer's
 * certificate must chain to a trusted CA. NULL on error, with a message in err. */
SSL_CTX *tls_client_ctx(const char *ca_file, bool verify, char *err, size_t errlen);

/* A server context with the certificate chain CRT and private key KEY (PEM), TLS 1.2
 * or later. NULL on error, with a message in err. */
SSL_CTX *tls_server_ctx(const char *crt, const char *key, char *err, size_t errlen);

/* Do server contexts A and B present the same certificate? (A reload that reads the same
 * files again changes nothing a client can see.) */
bool tls_same_certificate(const SSL_CTX *a, const SSL_CTX *b);

/* The oldest queued OpenSSL error as text (and clear the queue), or FALLBACK. */
const char *tls_error(char *buf, size_t len, const char *fallback);

#endif
