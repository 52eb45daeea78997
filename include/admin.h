/* admin.h - the admin port: a MySQL-protocol server (handshake, auth, TLS, commands)
 * whose statements run in admin_sql.c.
 *
 * The protocol itself (struct admin_proto) knows no socket: bytes in, bytes out, one piece
 * of work (a packet, or a slice of a statement) at a time. The connection layer in admin.c
 * moves those bytes over a non-blocking socket (or TLS) at the lowest event priority, and
 * does one piece of work of one connection per loop iteration, so client traffic is always
 * served first and never waits long. */
#ifndef ADMIN_H
#define ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin_sql.h"
#include "admin_stmt.h"
#include "admin_wire.h"
#include "conf.h"
#include "mysql_packet.h"
#include "rebound.h"

#define ADMIN_MAX_PACKET         (ADMIN_SQL_MAX_TEXT + 1024) /* larger client packets: ERR, close */
#define ADMIN_OUT_CAP            (256 * 1024) /* unsent output at which a connection pauses */
#define ADMIN_OUT_LIMIT          (ADMIN_RESULT_MAX + ADMIN_OUT_CAP) /* its output buffer, at most */
#define ADMIN_MAX_LOGGED_IN      32 /* logged-in connections; the next login gets 1040 */
#define ADMIN_MAX_PENDING        32 /* connections not logged in yet (preauth.h) */
#define ADMIN_PENDING_PER_SOURCE 8  /* ... from one address */
#define ADMIN_MAX_CONNS          (ADMIN_MAX_LOGGED_IN + ADMIN_MAX_PENDING) /* admin sockets at once */
#define ADMIN_AUTH_TIMEOUT       5.0    /* seconds from accept to log in */
#define ADMIN_IDLE_TIMEOUT       3600.0 /* seconds without a command */
#define ADMIN_BACKLOG            1024   /* the listening socket's accept queue */

/* Where a connection is in the protocol. */
enum admin_phase {
    AP_HANDSHAKE,   /* greeting sent, waiting for the handshake response (or SSL request) */
    AP_AUTH_SWITCH, /* auth switch request sent, waiting for the native scramble */
    AP_SHA2_FULL,   /* caching_sha2 full authentication: waiting for the password (TLS) */
    AP_COMMAND,     /* logged in: commands */
    AP_CLOSED,      /* done: flush the output, then close */
};

/* One admin connection's protocol state, without the socket. */
struct admin_proto {
    enum admin_phase phase;
    uint32_t caps;           /* capabilities both sides have */
    uint8_t scramble[20];    /* the nonce of the greeting */
    uint8_t seq;             /* sequence id of the next packet we send */
    bool tls_offered;        /* admin-ssl is configured */
    bool tls;                /* the connection runs over TLS */
    bool want_tls;           /* out: start the TLS handshake before reading more */
    const char *switched_to; /* AP_AUTH_SWITCH: the plugin we asked for */
    struct admin_client client;
    struct admin_sink sink;    /* where statements answer: result sets into OUT */
    struct admin_sql_run *run; /* the statement under way, NULL if none */
    struct admin_stmts stmts;  /* prepared statements (admin_stmt.c) */
    struct mysql_wbuf out;     /* bytes to send */
    uint8_t *in;               /* bytes received, not yet handled */
    size_t in_len;
    size_t result_start; /* where the unsent part of the current answer begins in OUT */
    size_t result_sent;  /* bytes of the current answer already sent (0: an error undoes it) */
    uint8_t result_seq;
};

/* Start a connection: ID is its connection id, PEER its address text. Writes the
 * greeting into ap->out. 0 or -1 (out of memory). */
int admin_proto_init(struct admin_proto *ap, uint32_t id, const char *peer, bool tls_offered);
void admin_proto_fini(struct admin_proto *ap);
/* Room for received bytes, and taking N <= that many (split anywhere). Until TLS may have
 * started, the room ends with the first packet: what follows an SSL request is TLS. */
size_t admin_proto_room(const struct admin_proto *ap);
void admin_proto_feed(struct admin_proto *ap, const uint8_t *data, size_t n);
/* Is there work to do: a whole packet received, or a statement under way? */
bool admin_proto_pending(const struct admin_proto *ap);
/* Do one piece of work: answer one packet, or run one slice of the statement under way;
 * answers go to ap->out. Returns 0, or -1 when the connection must close once ap->out is
 * sent. Once ap->want_tls is set, start TLS before feeding more. */
int admin_proto_work(struct admin_proto *ap);
/* N bytes of ap->out went to the client. */
void admin_proto_sent(struct admin_proto *ap, size_t n);
/* Feed N bytes and do all the work they bring, statements to the end (the unit tests and
 * the fuzzer, not the socket). 0, or -1 when the connection must close. */
int admin_proto_input(struct admin_proto *ap, const uint8_t *data, size_t n);
/* The TLS handshake asked for by want_tls is done. */
void admin_proto_tls_started(struct admin_proto *ap);

/* Keep CONF for the accounts and open the SQL side; no socket. 0 or -1. */
int admin_init(const struct conf *conf) __attribute__((warn_unused_result));
/* admin_init, then listen on the admin address if one is configured. 0 or -1 (logged, with
 * the file:line of the keyword at fault). */
int admin_start(const struct conf *conf) __attribute__((warn_unused_result));
/* Close every admin connection and the port; free the SQL side. */
void admin_stop(void);

/* Admin connections open now / since start, for the status table. */
unsigned admin_connections(void);
uint64_t admin_connections_total(void);
/* Connections closed before logging in: at the login deadline / to make room. */
uint64_t admin_login_timeouts(void);
uint64_t admin_login_evictions(void);

/* The auth plugins' checks, exposed for the unit tests. SCRAMBLE is the 20-byte nonce. */
bool admin_native_ok(const char *password, const uint8_t *scramble, const uint8_t *resp,
                     size_t len);
bool admin_sha2_ok(const char *password, const uint8_t *scramble, const uint8_t *resp, size_t len);

/* A reload, in two steps, so that nothing changes unless everything can.
 * admin_reconf_prepare: get ready to run as CONF says without touching the running port: read
 * the admin-ssl files again, bind the new address if the port moves or is switched on. 0, or
 * -1 with "FILE:LINE: message" in err (a certificate that does not load, an address that
 * cannot be bound) and nothing prepared.
 * admin_reconf_commit: switch to it: new connections get the new TLS context, the port moves
 * (or opens, or closes), logins check CONF's accounts and the views show CONF. Connections
 * already open go on untouched, logged in as they are, over the TLS they started with.
 * admin_reconf_cancel: drop what was prepared (the reload failed elsewhere). */
int admin_reconf_prepare(const struct conf *conf, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void admin_reconf_commit(void);
void admin_reconf_cancel(void);

#endif
