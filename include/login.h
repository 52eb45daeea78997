/* login.h - the MySQL login's packets, as rebound reads and rewrites them to move a login in
 * progress to another server: the client's HandshakeResponse41, the server's greeting
 * (its scramble), and the AuthSwitchRequest that asks the client to answer a new scramble. */
#ifndef LOGIN_H
#define LOGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOGIN_SCRAMBLE_LEN 20 /* the scramble every password plugin here signs */
#define LOGIN_PLUGIN_MAX   64

/* Where a HandshakeResponse41 payload keeps its fields (offsets into the payload). */
struct login_response {
    uint32_t caps;                 /* the client's capability flags */
    size_t auth_at;                /* where the auth response starts, its length prefix included */
    size_t auth_end;               /* where it ends (its NUL included, for the old form) */
    char plugin[LOGIN_PLUGIN_MAX]; /* the client's auth plugin ("" when it named none) */
};

/* Parse the HandshakeResponse41 payload P (N bytes) into R. 0, or -1 when it is not one (an
 * SSL request, a pre-4.1 client, a truncated field). */
int login_parse_response(const uint8_t *p, size_t n, struct login_response *r);

/* Can a login with plugin NAME be answered again for a new scramble by the client alone
 * (the password plugins that sign the server's scramble)? */
bool login_plugin_restartable(const char *name);

/* The scramble (LOGIN_SCRAMBLE_LEN bytes) of the protocol-10 greeting packet P (N bytes,
 * header included) into OUT. 0, or -1 when the greeting has none that long. */
int login_greeting_scramble(const uint8_t *p, size_t n, uint8_t *out);

/* Write into OUT (room for OUTSZ bytes) the AuthSwitchRequest packet with sequence id SEQ
 * asking for PLUGIN's answer to SCRAMBLE. Returns its length, 0 if it does not fit. */
size_t login_auth_switch(uint8_t *out, size_t outsz, uint8_t seq, const char *plugin,
                         const uint8_t *scramble);

struct mysql_wbuf;

/* Append to W the packet (sequence id SEQ) of the response payload P (N bytes, parsed into R)
 * with its auth response replaced by AUTH (ALEN bytes), encoded as the client encoded the old
 * one. 0, or -1 (W failed: over its limit, out of memory, or an answer the old encoding cannot
 * carry). */
int login_rebuild_response(struct mysql_wbuf *w, uint8_t seq, const uint8_t *p, size_t n,
                           const struct login_response *r, const uint8_t *auth, size_t alen);

/* TLS on one side of a login only (session.c): */
/* Does the greeting packet P (N bytes, header included, parsed already) offer TLS? */
bool login_greeting_offers_tls(const uint8_t *p, size_t n);
/* Set (OFFER) or clear CLIENT_SSL in the greeting packet P, in place. */
void login_greeting_set_tls(uint8_t *p, size_t n, bool offer);
/* Is the packet P (N bytes, header included) a whole SSLRequest (sequence id 1)? */
bool login_is_ssl_request(const uint8_t *p, size_t n);
/* Rewrite the whole HandshakeResponse packet P (N bytes) in place for a server link that is
 * TLS (CLIENT_SSL set, sequence id 2, after the SSLRequest) or plain (cleared, id 1). 0, or -1
 * when P is not one whole packet of a response's size. */
int login_response_retls(uint8_t *p, size_t n, bool tls);
/* Write into OUT the SSLRequest (sequence id 1) that asks a server to switch to TLS before
 * the HandshakeResponse packet P (N bytes) follows, its flags taken from it. Its length, 0
 * when P is too short to be a response. */
size_t login_ssl_request(uint8_t out[36], const uint8_t *p, size_t n);

#endif
