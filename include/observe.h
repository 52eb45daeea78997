/* observe.h - passive observation's stream follower: what real traffic shows about a server,
 * read from a session's bytes. Counting the errors and on-error are server.c's. */
#ifndef OBSERVE_H
#define OBSERVE_H

#include <stdbool.h>
#include <stdint.h>

#include "mysql_packet.h"
#include "observe_compress.h"

/* What real traffic can tell about a server. The first four are layer-4 events,
 * the rest come from reading the MySQL stream (layer 7). */
enum obs_event {
    OBS_CONNECT_FAILED,   /* refused, unreachable, reset during connect */
    OBS_CONNECT_TIMEOUT,  /* TCP connect longer than timeout connect */
    OBS_GREETING_TIMEOUT, /* connected, but no (complete) greeting within timeout greeting */
    OBS_BAD_GREETING,     /* the server's first bytes are not a MySQL greeting */
    OBS_SERVER_RESET,     /* the server reset an established session */
    OBS_SERVER_ERROR,     /* an ERR packet whose errno says the server is unhealthy */
    OBS_MID_RESPONSE,     /* the server closed while a client waited for an answer */
    OBS_MALFORMED,        /* the server's stream is not valid MySQL framing */
    OBS__COUNT
};

/* What the client may send besides a new command (sequence id 0). */
enum obs_client_may {
    OBS_CLIENT_NOTHING,
    OBS_CLIENT_ONE,  /* one packet: a handshake or auth-switch response */
    OBS_CLIENT_DATA, /* LOCAL INFILE contents, up to an empty packet */
};

/* Where the server is in its answer, as far as the follower reads its layout. */
enum obs_answer {
    OBS_ANSWER_NONE,   /* no answer, or the next packet starts one (or the next result) */
    OBS_ANSWER_RESULT, /* inside a result set: column definitions, rows (0x00 is a row here) */
    OBS_ANSWER_OTHER,  /* an answer whose layout is not read (COM_STMT_PREPARE, statistics...) */
};

/* What a session's stream shows it doing (observe_state); observe_state_str names it. */
enum obs_state {
    OBS_STATE_UNREADABLE, /* not followed: TLS passed through, or lost after a protocol error */
    OBS_STATE_LOGIN,      /* the login (or a COM_CHANGE_USER) has not ended yet */
    OBS_STATE_IDLE,       /* logged in, no command pending, no transaction open */
    OBS_STATE_IDLE_TRANS, /* logged in, no command pending, a transaction open */
    OBS_STATE_COMMAND,    /* a command sent, not a byte of its answer yet */
    OBS_STATE_RESULT,     /* the answer is on its way */
    OBS_STATE_INFILE,     /* the client sends a file (LOAD DATA LOCAL INFILE) */
    OBS_STATE__COUNT
};

/* One session's MySQL conversation as rebound follows it, both ways, without copying a
 * byte (see observe.c for the rules). Embedded in the session. */
struct obs_stream {
    struct mysql_tracker srv, cli; /* packet boundaries, server->client and client->server */
    bool followed;                 /* a stream being followed (not TLS passed through) */
    bool tls_terminated;           /* the client's TLS ends in rebound (observe_client_tls) */
    bool active;                   /* the server is an active one (1290 counts) */
    bool authed;                   /* the login ended with the server's OK */
    bool awaiting;     /* the client sent a command the server has not finished answering */
    bool quitting;     /* the client sent COM_QUIT */
    bool last_err;     /* the server's latest packet is an ERR */
    bool in_command;   /* the client's latest packet is a command (its 16 MiB parts follow) */
    bool change_user;  /* a COM_CHANGE_USER exchange is going on (auth switch possible) */
    bool client_fault; /* the client broke the protocol: it can no longer make the server guilty */
    bool answered;     /* the server sent a normal packet since the last report */
    bool in_trans;     /* the server's latest status flags: a transaction is open */
    bool trans_ro;     /* ... and it is a read-only one */
    bool more;         /* ... and more results follow (the answer is not over) */
    bool eof_seen;     /* the result set's column definitions ended with an EOF packet */
    uint8_t answer;    /* enum obs_answer */
    uint16_t kinds;    /* the answer layout of the first 8 queued commands, 2 bits each
                        * (enum obs_answer), the oldest in the lowest bits */
    uint8_t may;       /* enum obs_client_may */
    uint8_t seq;       /* sequence id due on the next packet of the exchange */
    uint8_t start_seq; /* sequence id the answer to the latest command starts with */
    uint8_t queued;    /* commands sent whose answer has not begun (pipelining) */
    int8_t event;      /* an error seen (enum obs_event), reported once the bytes passed on */
    uint16_t err;      /* its MySQL error number (OBS_SERVER_ERROR) */
    struct obs_compress z; /* the compressed protocol, if the login negotiated it */
};

/* The greeting has passed: follow what comes next (FOLLOW false: only record nothing). */
void observe_stream_start(struct obs_stream *st, bool follow, bool active);
/* The stream is over (the server side goes): what it holds is freed. */
void observe_stream_end(struct obs_stream *st);
/* The client's SSLRequest was answered by rebound, which terminates its TLS: the login
 * response (sequence id 2, CLIENT_SSL set) comes next, decrypted, and is followed. */
void observe_client_tls(struct obs_stream *st);
/* Bytes that passed from the client / from the server. */
void observe_client_bytes(struct obs_stream *st, const uint8_t *p, size_t n);
void observe_server_bytes(struct obs_stream *st, const uint8_t *p, size_t n);
/* What the latest bytes showed, each thing once, taken after they passed on: false when
 * nothing new; else *EV is an error (DETAIL, LEN bytes, says what) or OBS__COUNT for a normal
 * answer, which breaks a run of errors. The session reports it to its server. */
bool observe_take(struct obs_stream *st, enum obs_event *ev, char *detail, size_t len);
/* The server went away from an established session (RESET: with a read error, else end of
 * stream; CLIENT_EOF: the client had half-closed). The event to count against it, or
 * OBS__COUNT when the server need not be to blame. */
enum obs_event observe_server_gone(const struct obs_stream *st, bool reset, bool client_eof);

/* What the session's stream shows it doing, and its name ("idle in transaction"...). */
enum obs_state observe_state(const struct obs_stream *st);
const char *observe_state_str(enum obs_state state);
/* Is a transaction open, by the server's latest status flags: 1 or 0, -1 when the stream
 * cannot tell (not followed, not logged in). */
int observe_in_transaction(const struct obs_stream *st);

/* Is ERR (from a server that is ACTIVE or a backup) a sign of an unhealthy server?
 * Returns a short description, or NULL for errors that are the application's business
 * (lock waits, deadlocks, syntax errors, duplicate keys...). */
const char *observe_unhealthy_errno(uint16_t err, bool active);

const char *observe_event_str(enum obs_event ev);

#endif
