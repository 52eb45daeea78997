/* session.h - a client<->server pair: connect, relay, timeouts, the one close path. */
#ifndef SESSION_H
#define SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <netinet/in.h>
#include <stddef.h>

#include <ev.h>

#include "conn.h"
#include "mysql_packet.h"
#include "observe.h"

struct listener;
struct server;
struct pending;
struct worker;
struct relogin;
struct pass_share;

/* One direction of the relay. RD watches the source, WR the destination, each for the event
 * its conn waits for (EV_READ and EV_WRITE, crossed while TLS needs it).
 * PENDING holds bytes the destination would not take yet; NULL while none, so an
 * idle session holds no buffer. */
struct flow {
    ev_io rd;
    ev_io wr;
    struct pending *pending;
    bool eof; /* source said EOF; destination was (or will be) shut for writing */
    uint64_t bytes;
};

/* Session states. */
enum session_state {
    SESS_CONNECTING, /* waiting for the server's TCP connect; on its server's list */
    SESS_GREETING,   /* connected, waiting for the server's whole greeting (timeout greeting);
                        the client is not read yet, down.pending holds a partial greeting */
    SESS_RELAY,      /* the greeting passed on; bytes flowing both ways; on its server's list */
    SESS_TLS,        /* rebound runs a TLS handshake with the client (after its SSLRequest) or
                        with the server (before passing the login response on); nothing flows */
    SESS_QUEUED,     /* waiting for a connect slot of its server (max-connecting), at most
                        `timeout queue`; on its server's list and queue, no server socket */
};

/* A client connection and the server connection made for it. Belongs to worker W. */
struct session {
    uint64_t id; /* (id - 1) % threads is its worker's index */
    struct worker *w;
    enum session_state state;
    struct listener *listener;
    struct server *server;         /* never NULL while the session lives */
    TAILQ_ENTRY(session) srv_link; /* on server->tally[w->index].sessions */
    TAILQ_ENTRY(session) w_link;   /* on w->sessions, from session_new() to the close */
    TAILQ_ENTRY(session) q_link;   /* on server->tally[w->index].queue while SESS_QUEUED */
    struct conn cli;  /* the client's connection (TLS once the client switched, if terminated) */
    struct conn back; /* the server connection (-1 while none; TLS when rebound talks TLS) */
    struct flow up;   /* client -> server */
    struct flow down; /* server -> client */
    ev_timer timer;   /* connect timeout, then idle timeouts */
    double c_last, s_last; /* last byte read from client / server (ev_now) */
    double started;
    double queued_at;       /* ev_now() when it last joined a server's queue */
    uint64_t greet_wait_us; /* mono_us() when the server connection was made */
    uint64_t tried;         /* bit per server index already tried */
    int attempts;
    struct obs_stream obs; /* the MySQL conversation, followed for observe */
    bool logged_in;     /* the client's MySQL login is over (timeout handshake no longer applies) */
    bool connect_slot;  /* holds one of its server's connect slots (connect until greeting) */
    bool fresh_tried;   /* a second connection to a busy server was made (wait_on_busy_server) */
    bool greeting_late; /* the greeting timeout found bytes waiting and gave them a moment */
    bool login_seen;    /* the client's first packet after the greeting was looked at */
    bool server_lost;   /* the server went away after the client got its greeting, before the
                         * client's login response: the login moves once that response is in */
    bool offers_tls;    /* the server's greeting offered TLS */
    bool client_tls;    /* the client switched to TLS with rebound, which terminates it */
    int8_t shift;       /* while the login runs: the client's sequence ids minus the server's
                         * (a moved login's AuthSwitchRequest, TLS on one side only) */
    size_t srv_left;    /* shifting: bytes of the server packet being relayed still to come */
    size_t cli_left;    /* the same for the client's packets */
    struct pending *held;        /* the client's login response while rebound's TLS handshake with
                                  * the server runs */
    size_t greeting_len;         /* bytes of the greeting the client got */
    struct relogin *relogin;     /* while the login may still move to another server: its state */
    struct pass_share *graceful; /* a graceful failback closes it at its next safe boundary */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } peer; /* the client's address */
};

/* Control thread: hand accepted client FD of L (PEER: its address) to the least loaded
 * worker, which routes it (session_new). */
void session_hand_over(struct listener *l, int fd, const struct sockaddr *peer, socklen_t len);
/* Worker W takes over an accepted client socket of L (PEER: its address) and routes it. */
void session_new(struct worker *w, struct listener *l, int cfd, const struct sockaddr *peer,
                 socklen_t len);
/* "10.0.0.5:51234", "[::1]:51234": acceptor_peer_str(), as every port writes a peer. */
void session_peer_str(const struct session *s, char *buf, size_t len);
/* Is S idle between commands: logged in, no command pending, no transaction open, no byte
 * in flight either way (as far as its stream can be read)? */
bool session_idle(const struct session *s);
/* Close S, idle, the way a server ends a session: MSG in an ERR packet, then the close. */
void session_close_told(struct session *s, const char *msg, const char *reason);
/* The client learns now that S ends, ahead of session_condemn(): an idle one reads MSG in an
 * ERR packet, then the end of the stream (a reset would discard the ERR before the client
 * read it); any other gets a reset. */
void session_drop_client(struct session *s, const char *msg);
/* The one teardown: unlink, stop watchers, close sockets, free. */
void session_close(struct session *s, const char *reason);
/* The same for a kill pass, its client already reset: everything goes now except the
 * server socket, which the worker closes in a later batch (worker_close_later). */
void session_condemn(struct session *s, const char *reason);
/* Move a session through which no byte has passed yet to another server, avoiding servers
 * set in EXCLUDE unless no other one can take it. It starts afresh: the listener's full
 * retries, no server counted as tried (a later retry may go back to an excluded server).
 * Returns false if impossible: the client was then refused with an ERR packet and the
 * session is closed. */
bool session_redispatch(struct session *s, uint64_t exclude, const char *reason);
/* Walks of a server's session list (server.c) bracket themselves with session_walk(1) and
 * session_walk(-1), then call session_serve_queue(): connect slots freed during a walk are
 * handed to the server's queue only after it, since serving the queue moves sessions
 * between lists. SLOT is the worker's index. */
void session_walk(int delta);
void session_serve_queue(struct server *srv, int slot);
/* Control thread: kill the sessions whose ids are in IDS (N of them; a session that ended
 * meanwhile is skipped) as a kill pass does: each worker resets the client of its own and
 * leaves the server side to its close batches. Every worker gets its ids in one message,
 * posted now (no barrier); a barrier taken later finds them gone. REASON is logged for each.
 * 0, or -1 (logged, nothing killed) when out of memory. */
int sessions_kill_ids(const uint64_t *ids, size_t n, const char *reason);
/* Is S in the middle of its MySQL login, in a state that can move to another server without
 * the client noticing more than a slower login (session.c: move_login)? */
bool session_login_movable(const struct session *s);
/* Move S's login to another server (not one set in EXCLUDE, unless no other can take it): the
 * client is asked to answer the new server's scramble. false if impossible: the client got an
 * error and the session is closed. */
bool session_move_login(struct session *s, uint64_t exclude, const char *reason);
/* Has any byte reached the client? Until then the session can move to another server
 * without the client noticing (the client is not even read before the greeting). */
bool session_has_traffic(const struct session *s);
/* "rw/master" or "rw" while not yet placed, for log prefixes. */
const char *session_where(const struct session *s);

#endif
