/* conn.h - one end of a connection as every port sees it: a descriptor and, once switched,
 * TLS over it. Reads and writes return bytes, end of stream, "again" (with the event the
 * operation waits for) or an error; TLS's crossings (a read that must write first, a write
 * that must read) and its buffered bytes are handled here and nowhere else. */
#ifndef CONN_H
#define CONN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

/* One connection's transport. Plain until conn_tls_start(). */
struct conn {
    int fd;   /* -1 when closed */
    SSL *ssl; /* NULL while plain */
    int want; /* after an operation returned -1/EAGAIN: EV_READ or EV_WRITE, the event that
                 lets it go on (a TLS read may wait for EV_WRITE, a TLS write for EV_READ) */
};

/* Which end of the TLS handshake rebound plays. */
enum conn_role {
    CONN_ACCEPT,  /* rebound is the TLS server (a client's side of a session, the admin port) */
    CONN_CONNECT, /* rebound is the TLS client (a session's server side) */
};

/* Why a TLS handshake failed, for the metrics (conn_fail_reason). */
enum conn_fail {
    CONN_FAIL_PROTOCOL, /* not TLS, or TLS rebound does not speak (version, ciphers, record) */
    CONN_FAIL_VERIFY,   /* the peer's certificate did not check out */
    CONN_FAIL_CLOSED,   /* the peer closed or reset during the handshake */
    CONN_FAIL_TIMEOUT,  /* the handshake did not end in time (counted by its owner) */
    CONN_FAIL_OTHER,    /* out of memory, and the like */
    CONN_FAIL__COUNT
};

/* Which side of a client session a TLS handshake was on. */
enum conn_side {
    CONN_SIDE_CLIENT, /* rebound terminated the client's TLS */
    CONN_SIDE_SERVER, /* rebound talked TLS to the server */
    CONN_SIDE__COUNT
};

/* Sessions' TLS since start, for the status table and /metrics (any thread adds). */
struct conn_tally {
    _Atomic uint64_t handshakes[CONN_SIDE__COUNT];  /* finished */
    _Atomic uint64_t resumptions[CONN_SIDE__COUNT]; /* ... of which resumed a TLS session */
    _Atomic uint64_t failures[CONN_SIDE__COUNT][CONN_FAIL__COUNT];
    _Atomic uint64_t plain_refused; /* clients refused by `required` for not switching */
};
extern struct conn_tally conn_tally;

/* Count a handshake on SIDE of C: finished (OK, resumed or not) or failed for WHY. */
void conn_count(enum conn_side side, const struct conn *c, bool ok, enum conn_fail why);

/* C wraps FD, plain. */
void conn_init(struct conn *c, int fd);

/* Read up to N bytes into BUF: the count, 0 at the end of the stream (FIN, or the peer's
 * close_notify, or a TLS peer that just closed: MySQL's framing says what was cut), or -1
 * with errno: EAGAIN (c->want says what to wait for) or the error (EPROTO for a TLS error). */
ssize_t conn_read(struct conn *c, void *buf, size_t n);
/* Write up to N bytes of BUF: the count taken (maybe fewer), or -1 as conn_read. After EAGAIN
 * the same bytes must be offered again (a pending buffer does that). */
ssize_t conn_write(struct conn *c, const void *buf, size_t n);
/* After -1 from conn_read/conn_write (or read/write): did the operation only have to wait
 * (EAGAIN and the like), rather than fail? */
bool conn_again(void);
/* Write the last N bytes of BUF before conn_shutdown_write(): held back by the kernel so that
 * they leave with the FIN, in one segment (a kill pass telling thousands of clients why sends
 * no more packets than resetting them). The count taken, or -1 as conn_write. */
ssize_t conn_write_last(struct conn *c, const void *buf, size_t n);
/* Does TLS hold decrypted bytes no readiness event will announce? */
bool conn_pending(const struct conn *c);

/* Switch C to TLS with CTX, playing ROLE; the handshake is driven by conn_handshake(). 0, or
 * -1 (out of memory). */
int conn_tls_start(struct conn *c, SSL_CTX *ctx, enum conn_role role);
/* One step of the handshake: 1 when done, 0 when it waits (c->want says for what), -1 when it
 * failed (*WHY says why). */
int conn_handshake(struct conn *c, enum conn_fail *why);
/* Is C's TLS handshake under way (started, not finished)? */
bool conn_handshaking(const struct conn *c);
/* Did the finished handshake resume an earlier TLS session? */
bool conn_resumed(const struct conn *c);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384", or "" for a plain connection, into BUF. */
const char *conn_tls_str(const struct conn *c, char *buf, size_t len);
const char *conn_fail_str(enum conn_fail why);

/* No more bytes will be written: close_notify for TLS (best effort), then the TCP half-close. */
void conn_shutdown_write(struct conn *c);
/* Close C and forget its TLS state (a reset one: only the TLS state). C is closed (fd -1)
 * afterwards; closing a closed conn does nothing. */
void conn_close(struct conn *c);
/* Reset C's connection now (the peer learns at once) but keep its TLS state, for conn_close()
 * to free later: a kill pass resets thousands of clients before it frees anything. */
void conn_reset(struct conn *c);
/* Forget C's descriptor without closing it (it is handed to someone else); TLS state goes. */
int conn_release(struct conn *c);

#endif
