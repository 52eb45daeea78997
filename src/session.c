/* session.c - a client<->server pair: connect (with redispatch), relay, timeouts, and
 * the one close path.
 *
 * Ownership: a session sits on exactly one server's list for its worker
 * (server->tally[w->index].sessions) from the moment it is routed until session_close().
 * Bytes are read into the worker's scratch buffer and written on at once; only what the
 * destination refuses is copied into a per-direction pending buffer, and reading that
 * direction stops until it drains. So an idle session owns no buffer, and a slow reader holds at
 * most one read's worth of bytes in rebound (back-pressure).
 *
 * The client is not read until the server's whole greeting has been checked and passed
 * on: until then nothing has passed either way, and a server that fails (refuses, stays
 * silent, greets with garbage or an ERR) is replaced by the next candidate without the
 * client noticing or losing a byte.
 *
 *   client --cli--> [up.rd]  --scratch-->  [up.wr]  --back--> server
 *   client <--cli-- [down.wr] <--scratch-- [down.rd] <--back-- server
 *
 * TLS: cli and back are conns (conn.c), each plain or TLS. A listener that terminates TLS
 * offers it in the greeting it relays, answers the client's SSLRequest itself and runs the
 * handshake; rebound talks TLS to a server when its `ssl` says so, sending the SSLRequest
 * itself (session_tls.c). Until then the login's first packet is read exactly, so no
 * byte of a ClientHello is taken for MySQL. When only one side is TLS, the login's sequence ids
 * differ by one between the two sides (the SSLRequest), renumbered until the login is over.
 * The stream follower always sees the client's side, decrypted.
 *
 * Threads: a session belongs to the worker it was handed to (s->w): every watcher is on that
 * worker's loop, the scratch buffer is that worker's, and the session sits in that worker's
 * slot of its server's counters (srv_tally). The control thread touches a session only while
 * the workers are parked (reload, the admin port's views and KILL).
 */
#include "session.h"
#include "session_int.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "listener.h"
#include "log.h"
#include "login.h"
#include "mysql_packet.h"
#include "pass.h"
#include "proxy_header.h"
#include "rebound.h"
#include "server.h"
#include "worker.h"

#define ERR_NO_SERVER         1105 /* ER_UNKNOWN_ERROR: clients reject client-range codes from a server */
#define ERR_CONNECTION_KILLED 1927 /* ER_CONNECTION_KILLED: "Connection was killed" */
/* How many times `timeout greeting` a session waits for a server that greets others meanwhile. */
#define GREETING_PATIENCE 4

/* A login that may still move to another server: from the client's first response (kept
 * here) until the login ends. The new server's scramble goes to the client in an
 * AuthSwitchRequest; its answer replaces the old one in the kept response; after that each
 * packet's sequence id is off by 2 between the two sides until the login is over (s->shift). */
struct relogin {
    struct login_response r;
    bool moving; /* connecting to the next server: its greeting is not passed on */
    bool asked;  /* the AuthSwitchRequest went out: the client's answer is awaited */
    size_t len;  /* the kept response packet, header included */
    uint8_t response[];
};

static void connect_cb(struct ev_loop *loop, ev_io *w, int revents);
static void greeting_cb(struct ev_loop *loop, ev_io *w, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void up_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void down_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void boundary_check(struct session *s);
static bool dispatch(struct session *s, uint64_t exclude);

const char *session_where(const struct session *s)
{
    return s->server ? s->server->id : s->listener ? s->listener->conf->name : "-";
}

bool session_has_traffic(const struct session *s)
{
    return s->down.bytes > 0;
}

/* Send the client an ERR packet (sequence id SEQ, error CODE, SQLSTATE or NULL) and close: the
 * client sees a MySQL error with our message instead of a bare disconnect. */
void session_refuse_with(struct session *s, uint8_t seq, uint16_t code, const char *sqlstate,
                         const char *msg)
{
    uint8_t pkt[512];
    size_t n = mysql_err_packet(pkt, sizeof(pkt), seq, code, sqlstate, msg);

    if (n && conn_write(&s->cli, pkt, n) < 0)
        sess_debug(s, "cannot send error to client: %s", strerror(errno));
    conn_shutdown_write(&s->cli);
    session_close(s, msg);
}

/* Refuse S in place of a greeting: no server can take it. */
static void refuse(struct session *s, const char *msg)
{
    /* A client whose login was being moved waits for the answer to its response (seq 2). */
    session_refuse_with(s, s->relogin && s->relogin->moving ? 2 : 0, ERR_NO_SERVER, NULL, msg);
}

void session_peer_str(const struct session *s, char *buf, size_t len)
{
    acceptor_peer_str(&s->peer.sa, true, buf, len);
}

/* An accepted client on its way from the control thread to worker W. */
struct handoff {
    struct mail mail;
    struct worker *w;
    struct listener *l;
    int fd;
    socklen_t len;
    struct sockaddr_storage peer;
};

static void handoff_run(struct mail *m)
{
    struct handoff *h = container_of(m, struct handoff, mail);

    session_new(h->w, h->l, h->fd, (struct sockaddr *)&h->peer, h->len);
    free(h);
}

/* The worker stopped before taking the client: it was never served. */
static void handoff_drop(struct mail *m)
{
    struct handoff *h = container_of(m, struct handoff, mail);

    close(h->fd);
    worker_sessions_ended(h->w, 1);
    free(h);
}

void session_hand_over(struct listener *l, int fd, const struct sockaddr *peer, socklen_t len)
{
    struct handoff *h = calloc(1, sizeof(*h));

    if (!h) {
        log_err("%s: out of memory for a new session", l->conf->name);
        close(fd);
        listeners_sessions_ended(1);
        return;
    }
    h->mail = (struct mail){.run = handoff_run, .drop = handoff_drop};
    h->l = l;
    h->fd = fd;
    h->len = peer && len <= sizeof(h->peer) ? len : 0;
    if (h->len)
        memcpy(&h->peer, peer, h->len);
    h->w = workers_least_loaded();
    worker_post(h->w, &h->mail);
}

void session_new(struct worker *w, struct listener *l, int cfd, const struct sockaddr *peer,
                 socklen_t len)
{
    struct session *s = calloc(1, sizeof(*s));

    if (!s) {
        log_err("%s: out of memory for a new session", l->conf->name);
        close(cfd);
        worker_sessions_ended(w, 1);
        return;
    }
    /* The id says which worker: (id - 1) % threads. */
    s->id = w->next_id++ * (uint64_t)workers_count() + (uint64_t)w->index + 1;
    s->w = w;
    s->listener = l;
    if (peer && len <= sizeof(s->peer))
        memcpy(&s->peer, peer, len);
    conn_init(&s->cli, cfd);
    conn_init(&s->back, -1);
    s->started = s->c_last = s->s_last = ev_now(w->loop);
    TAILQ_INSERT_TAIL(&w->sessions, s, w_link);
    ev_init(&s->up.rd, session_up_read_cb);
    ev_init(&s->up.wr, connect_cb);
    ev_init(&s->down.rd, greeting_cb);
    ev_init(&s->down.wr, down_write_cb);
    ev_init(&s->timer, timer_cb);
    dispatch(s, 0);
}

/* Add DELTA to a count of a server's tally that only its worker writes (sessions on the list,
 * connects in flight, sessions queued): a plain load and store, read by the views. */
static void bump(_Atomic unsigned *c, int delta)
{
    unsigned n = atomic_load_explicit(c, memory_order_relaxed);

    atomic_store_explicit(c, n + (unsigned)delta, memory_order_relaxed);
}

/* The one place a session joins or leaves a server's list for its worker: S leaves the
 * server it is on (if any) for SRV (if not NULL). */
static void seat(struct session *s, struct server *srv)
{
    struct srv_tally *t;

    if (s->server) {
        t = &s->server->tally[s->w->index];
        TAILQ_REMOVE(&t->sessions, s, srv_link);
        bump(&t->nsessions, -1);
    }
    s->server = srv;
    if (srv) {
        t = &srv->tally[s->w->index];
        TAILQ_INSERT_TAIL(&t->sessions, s, srv_link);
        bump(&t->nsessions, 1);
    }
}

/* ---- connect slots: a bound on connects in flight to one server, and its queue ----
 *
 * A connect holds one of its server's slots from connect() until the greeting is in (or the
 * attempt ends): that is the part of a login a server pays for most (accept, a thread), and
 * what overflows its accept queue when thousands of clients come back at once. Each worker
 * has its share of the server's max-connecting; a session that finds them all taken waits on
 * the server's queue of its worker, oldest first, at most `timeout queue`. */

/* How many connects to SRV one worker may have in flight: its share of max-connecting. */
static unsigned connect_share(const struct server *srv)
{
    unsigned max = (unsigned)srv->conf->max_connecting, n = (unsigned)workers_count();

    if (max == 0)
        return UINT_MAX;
    n = n ? n : 1;
    return (max + n - 1) / n;
}

/* Are all of SRV's slots on worker W taken? Never without max-connecting. */
static bool slots_taken(const struct worker *w, const struct server *srv)
{
    return srv->conf->max_connecting &&
           atomic_load_explicit(&srv->tally[w->index].connecting, memory_order_relaxed) >=
               connect_share(srv);
}

/* The servers of S's listener whose slots on S's worker are all taken. */
static uint64_t busy_servers(const struct session *s)
{
    const struct listener *l = s->listener;
    uint64_t mask = 0;

    for (int i = 0; i < l->nservers; i++)
        if (slots_taken(s->w, &l->servers[i]))
            mask |= UINT64_C(1) << i;
    return mask;
}

/* The client of a queued session S is readable: a MySQL client says nothing before the
 * greeting, so it most likely left (gave up waiting). Then S leaves the queue and costs the
 * server no login. Bytes sent early stay where they are, for the server. */
static void queued_client_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, up.rd);
    char c;
    ssize_t n = recv(s->cli.fd, &c, 1, MSG_PEEK);
    (void)revents;

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        session_close(s, "the client left while queued");
        return;
    }
    if (n > 0)
        ev_io_stop(loop, w);
}

/* S waits for a slot of SRV. It is on SRV's list meanwhile: passes move it and the views
 * show it, as any session still connecting. Its client is watched for leaving. */
static void enqueue(struct session *s, struct server *srv)
{
    const struct conf_listen *lc = s->listener->conf;
    struct srv_tally *t = &srv->tally[s->w->index];
    unsigned ms = lc->timeout_queue ? lc->timeout_queue : lc->timeout_connect;

    seat(s, srv);
    s->state = SESS_QUEUED;
    s->queued_at = ev_now(s->w->loop);
    TAILQ_INSERT_TAIL(&t->queue, s, q_link);
    bump(&t->nqueued, 1);
    ev_timer_set(&s->timer, ms / 1000.0, 0);
    ev_timer_start(s->w->loop, &s->timer);
    ev_set_cb(&s->up.rd, queued_client_cb);
    ev_io_set(&s->up.rd, s->cli.fd, EV_READ);
    ev_io_start(s->w->loop, &s->up.rd);
    sess_debug(s, "queued for %s: %u connects in flight", srv->id,
               atomic_load_explicit(&t->connecting, memory_order_relaxed));
}

/* S leaves its server's queue (its slot came, or it goes elsewhere or ends). */
static void unqueue(struct session *s)
{
    struct srv_tally *t = &s->server->tally[s->w->index];

    TAILQ_REMOVE(&t->queue, s, q_link);
    bump(&t->nqueued, -1);
    ev_timer_stop(s->w->loop, &s->timer);
    ev_io_stop(s->w->loop, &s->up.rd);
    ev_set_cb(&s->up.rd, session_up_read_cb);
    s->state = SESS_CONNECTING;
}

static int start_connect(struct session *s, struct server *srv);

/* The queued session to serve next: the oldest, unless the oldest has waited a quarter of
 * `timeout queue` or more. The server is then overloaded, and its clients' own timeouts are
 * running out: served in arrival order, each would get its slot just when its client gives
 * up, and the server's logins would all be wasted. The newest is served first then, its
 * client still waiting for it; the oldest still get theirs as soon as the queue shortens,
 * or an error at `timeout queue`. */
static struct session *next_queued(struct srv_tally *t, const struct server *srv)
{
    const struct conf_listen *lc = srv->listener->conf;
    struct session *oldest = TAILQ_FIRST(&t->queue);
    unsigned ms = lc->timeout_queue ? lc->timeout_queue : lc->timeout_connect;

    if (!oldest || (ev_now(oldest->w->loop) - oldest->queued_at) * 4000.0 < ms)
        return oldest;
    return TAILQ_LAST(&t->queue, session_list);
}

/* Walks of a server's list under way on this thread (session_walk). */
static _Thread_local int walks;

void session_walk(int delta)
{
    walks += delta;
}

/* A slot of SRV on worker W was freed: the oldest queued sessions get the free slots. One
 * that SRV no longer takes (DOWN, drained, a backup once an active server is back) is routed
 * afresh instead. Not during a walk of a server's list: that would move sessions under the
 * walker's feet; the walker serves the queue once it is done (session_serve_queue). */
static void serve_queue(struct worker *w, struct server *srv)
{
    struct srv_tally *t = &srv->tally[w->index];
    struct session *q;

    while (walks == 0 && (q = next_queued(t, srv)) && !slots_taken(w, srv)) {
        unqueue(q);
        if (server_takes_new(srv) && start_connect(q, srv) == 0)
            continue;
        seat(q, NULL);
        dispatch(q, 0); /* may queue it again, on another server */
    }
}

/* A slot of SRV on worker W is free again: it goes to the queue. */
static void free_slot(struct worker *w, struct server *srv)
{
    bump(&srv->tally[w->index].connecting, -1);
    serve_queue(w, srv);
}

void session_serve_queue(struct server *srv, int slot)
{
    struct worker *w = worker_at(slot);

    if (w)
        serve_queue(w, srv);
}

/* S's client sent its login response: its server works on S's login again until it answers,
 * and that counts as one of its slots. Taken whether or not one is free (the session is past
 * the queue): it holds back new connects, not this login. */
void session_take_slot(struct session *s)
{
    if (s->connect_slot)
        return;
    s->connect_slot = true;
    bump(&s->server->tally[s->w->index].connecting, 1);
}

/* The server is done with S's login for now (greeting sent, login response answered): the
 * slot goes to the queue. */
static void release_slot(struct session *s)
{
    if (!s->connect_slot)
        return;
    s->connect_slot = false;
    free_slot(s->w, s->server);
}

static void unseat_server(struct session *s);

/* Stop every watcher and forget the server side; the client socket stays open. A slot S
 * held goes to the queue once S is off the server. */
static void drop_server(struct session *s)
{
    struct server *srv = s->server;
    bool slot = s->connect_slot;

    if (s->state == SESS_QUEUED)
        unqueue(s);
    s->connect_slot = false;
    unseat_server(s);
    if (slot)
        free_slot(s->w, srv);
}

/* drop_server() but the slot. Before the greeting passed, down.pending holds only a
 * partial greeting: it goes too. */
static void unseat_server(struct session *s)
{
    free(s->down.pending);
    s->down.pending = NULL;
    free(s->held);
    s->held = NULL;
    ev_io_stop(s->w->loop, &s->up.rd);
    ev_io_stop(s->w->loop, &s->up.wr);
    ev_io_stop(s->w->loop, &s->down.rd);
    ev_io_stop(s->w->loop, &s->down.wr);
    ev_timer_stop(s->w->loop, &s->timer);
    conn_close(&s->back);
    observe_stream_end(&s->obs);
    s->offers_tls = false;
    s->shift = 0;
    s->srv_left = s->cli_left = 0;
    seat(s, NULL);
}

/* The ids of worker W's sessions to kill (sessions_kill_ids). */
struct kill_ids {
    struct mail mail;
    struct worker *w;
    size_t n;
    char reason[200];
    uint64_t ids[];
};

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Worker: reset every client first (each kill counted before its client can see it), then
 * condemn, as a kill pass does. */
static void kill_ids_run(struct mail *m)
{
    struct kill_ids *k = container_of(m, struct kill_ids, mail);
    struct session *s, *next;

    qsort(k->ids, k->n, sizeof(k->ids[0]), cmp_id);
    for (int round = 0; round < 2; round++) {
        for (s = TAILQ_FIRST(&k->w->sessions); s; s = next) {
            next = TAILQ_NEXT(s, w_link);
            if (!bsearch(&s->id, k->ids, k->n, sizeof(k->ids[0]), cmp_id))
                continue;
            if (round == 0) {
                tally_add(&s->server->tally[k->w->index].sessions_killed, 1);
                session_drop_client(s, "rebound: session killed by the admin");
            } else {
                session_condemn(s, k->reason);
            }
        }
    }
    free(k);
}

static void kill_ids_drop(struct mail *m)
{
    free(container_of(m, struct kill_ids, mail));
}

int sessions_kill_ids(const uint64_t *ids, size_t n, const char *reason)
{
    int nw = workers_count();
    struct kill_ids **per = NULL;
    size_t *count = NULL;
    int rc = -1;

    if (n == 0 || nw == 0) /* no worker, no session: nothing to kill */
        return 0;
    per = calloc((size_t)nw, sizeof(*per));
    count = calloc((size_t)nw, sizeof(*count));
    if (!per || !count)
        goto out;
    /* A session's id says its worker: (id - 1) % threads. */
    for (size_t i = 0; i < n; i++)
        count[(ids[i] - 1) % (uint64_t)nw]++;
    for (int w = 0; w < nw; w++) {
        if (count[w] && !(per[w] = malloc(sizeof(*per[w]) + count[w] * sizeof(uint64_t))))
            goto out;
        if (per[w]) {
            per[w]->mail = (struct mail){.run = kill_ids_run, .drop = kill_ids_drop};
            per[w]->w = worker_at(w);
            per[w]->n = 0;
            snprintf(per[w]->reason, sizeof(per[w]->reason), "%s", reason);
        }
    }
    for (size_t i = 0; i < n; i++) {
        struct kill_ids *k = per[(ids[i] - 1) % (uint64_t)nw];
        k->ids[k->n++] = ids[i];
    }
    for (int w = 0; w < nw; w++) {
        if (per[w])
            worker_post(per[w]->w, &per[w]->mail);
        per[w] = NULL;
    }
    rc = 0;
out:
    if (rc < 0)
        log_err("out of memory: %zu sessions not killed (%s)", n, reason);
    for (int w = 0; per && w < nw; w++)
        free(per[w]);
    free(per);
    free(count);
    return rc;
}

bool session_idle(const struct session *s)
{
    return s->state == SESS_RELAY && s->logged_in && observe_state(&s->obs) == OBS_STATE_IDLE &&
           !s->up.pending && !s->down.pending && !s->up.eof && !s->down.eof;
}

/* If S is idle, tell its client why it is about to be closed: an ERR packet (1927, SQLSTATE
 * 70100, MSG) that its next command reads as the answer, held for the FIN the caller sends
 * next (conn_write_last). Best effort; true if it was sent. */
static bool session_tell_client(struct session *s, const char *msg)
{
    uint8_t pkt[400];
    size_t n;

    if (s->cli.fd < 0 || !session_idle(s))
        return false;
    /* Sequence id 1: the client reads it as the answer to its next command (0), which every
     * driver reports as that command's error. */
    n = mysql_err_packet(pkt + OBS_Z_HEADER_LEN, sizeof(pkt) - OBS_Z_HEADER_LEN, 1,
                         ERR_CONNECTION_KILLED, "70100", msg);
    if (!n)
        return false;
    if (s->obs.z.algo == OBS_Z_NONE)
        return conn_write_last(&s->cli, pkt + OBS_Z_HEADER_LEN, n) == (ssize_t)n;
    /* A compressed session: the ERR goes in a compressed packet of its own, stored as is
     * (length before compression 0), the first of the answer (compressed sequence id 1). */
    pkt[0] = (uint8_t)n;
    pkt[1] = (uint8_t)(n >> 8);
    pkt[2] = 0;
    pkt[3] = 1;
    pkt[4] = pkt[5] = pkt[6] = 0;
    n += OBS_Z_HEADER_LEN;
    return conn_write_last(&s->cli, pkt, n) == (ssize_t)n;
}

void session_close_told(struct session *s, const char *msg, const char *reason)
{
    if (session_tell_client(s, msg))
        conn_shutdown_write(&s->cli);
    session_close(s, reason);
}

void session_drop_client(struct session *s, const char *msg)
{
    if (session_tell_client(s, msg)) {
        conn_shutdown_write(&s->cli);
        conn_close(&s->cli);
        return;
    }
    conn_reset(&s->cli); /* the client learns at once; its TLS state goes with the session */
}

/* The one teardown. With LATER, the server socket is left to the worker's close batches (a
 * kill pass: the client was reset already, nobody waits for the server side). */
static void end_session(struct session *s, const char *how, const char *reason, bool later)
{
    struct worker *w = s->w;
    /* Its TLS state goes now; its descriptor, with LATER, to the close batches. */
    int sfd = later ? conn_release(&s->back) : -1;

    sess_debug(s, "%s after %.3f s: %s (in %llu, out %llu bytes)", how,
               ev_now(w->loop) - s->started, reason, (unsigned long long)s->up.bytes,
               (unsigned long long)s->down.bytes);
    if (s->graceful)
        pass_graceful_ended(s);
    drop_server(s);
    TAILQ_REMOVE(&w->sessions, s, w_link);
    /* A TLS client is closed as TLS closes (close_notify first): else its library reports a
     * TLS error ("unexpected eof") where a plain client sees the lost connection it is. */
    if (s->cli.ssl && !conn_handshaking(&s->cli))
        conn_shutdown_write(&s->cli);
    conn_close(&s->cli);
    free(s->up.pending);
    free(s->down.pending);
    free(s->relogin);
    free(s);
    /* The session is over for its client and for maxconn: a reconnecting client need not wait
     * for the batches (its server side counts against the descriptor room only). */
    if (sfd >= 0)
        worker_close_later(w, sfd);
    worker_sessions_ended(w, 1);
}

void session_close(struct session *s, const char *reason)
{
    end_session(s, "closed", reason, false);
}

void session_condemn(struct session *s, const char *reason)
{
    end_session(s, "killed", reason, true);
}

/* rebound itself ran short (descriptors, ports...) while connecting to SRV: not the
 * server's fault, so not counted; logged at most once a second. */
static void local_trouble(const struct server *srv, const char *call, int err)
{
    static _Thread_local struct log_rate rate;
    unsigned quiet;

    if (log_rate_allow(&rate, &quiet))
        srv_log(LOG_WARN, srv, "%s: %s; not counted against the server (%u similar not logged)",
                call, strerror(err), quiet);
}

/* Start a non-blocking connect to SRV. Returns 0 if under way (or done), -1 if the
 * connect failed at once. */
static int start_connect(struct session *s, struct server *srv)
{
    const struct conf_addr *a = &srv->conf->addr;
    int one = 1, fd;

    s->tried |= UINT64_C(1) << srv->index;
    s->attempts++;
    fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        local_trouble(srv, "socket", errno);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&a->sa, a->len) < 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        if (local_shortage(err)) {
            local_trouble(srv, "connect", err);
            return -1;
        }
        sess_debug(s, "connect to %s: %s", srv->id, strerror(err));
        tally_add(&srv->tally[s->w->index].connect_failures, 1);
        server_traffic_error(srv, OBS_CONNECT_FAILED, strerror(err));
        return -1;
    }
    conn_init(&s->back, fd);
    seat(s, srv);
    s->state = SESS_CONNECTING;
    s->connect_slot = true;
    bump(&srv->tally[s->w->index].connecting, 1);
    s->greeting_late = false;
    tally_add(&srv->tally[s->w->index].sessions_total, 1);
    ev_set_cb(&s->up.wr, connect_cb);
    ev_io_set(&s->up.wr, fd, EV_WRITE);
    ev_io_start(s->w->loop, &s->up.wr);
    ev_timer_set(&s->timer, s->listener->conf->timeout_connect / 1000.0, 0);
    ev_timer_start(s->w->loop, &s->timer);
    return 0;
}

/* Route S to the best server it has not tried, within its retries. Servers set in EXCLUDE
 * (a kill pass's) come last: only when every other candidate failed. Returns false when the
 * session was refused (and closed). */
static bool dispatch(struct session *s, uint64_t exclude)
{
    const struct conf_listen *lc = s->listener->conf;
    struct server *srv;

    while (s->attempts <= lc->retries) {
        uint64_t skip = s->tried | exclude;
        struct server *free_srv;

        srv = server_pick(s->listener, skip);
        if (srv && slots_taken(s->w, srv)) {
            /* Its slots are taken: another server of the same role with a free one, else
             * wait for a slot (a busy master is no reason to go to a backup). The mask is
             * worked out only here: without max-connecting, never. */
            free_srv = server_pick(s->listener, skip | busy_servers(s));
            if (!free_srv || free_srv->conf->backup != srv->conf->backup) {
                enqueue(s, srv);
                return true;
            }
            srv = free_srv;
        }
        if (!srv && exclude) {
            exclude = 0; /* better the server the pass left than no server */
            continue;
        }
        if (!srv)
            break;
        if (start_connect(s, srv) == 0)
            return true;
    }
    char msg[160];
    if (s->attempts == 0)
        snprintf(msg, sizeof(msg), "rebound: no server available for '%s'", lc->name);
    else
        snprintf(msg, sizeof(msg), "rebound: no server available for '%s' (%d attempts failed)",
                 lc->name, s->attempts);
    refuse(s, msg);
    return false;
}

bool session_redispatch(struct session *s, uint64_t exclude, const char *reason)
{
    sess_debug(s, "redispatch: %s", reason);
    drop_server(s);
    /* A fresh start: what went before was the old server's doing, not the client's. */
    s->tried = 0;
    s->attempts = 0;
    s->fresh_tried = false;
    return dispatch(s, exclude);
}

/* Connecting to the server failed before any byte reached the client: count it against
 * the server as EV (not at all with OBS__COUNT), then try the next candidate. */
static void connect_failed(struct session *s, enum obs_event ev, const char *why)
{
    struct server *srv = s->server;

    sess_debug(s, "connect failed: %s", why);
    tally_add(&srv->tally[s->w->index].connect_failures, 1);
    drop_server(s);
    if (ev < OBS__COUNT)
        server_traffic_error(srv, ev, why);
    dispatch(s, 0);
}

/* Would another attempt be allowed, with a server to try? */
static bool can_retry(struct session *s)
{
    return s->attempts <= s->listener->conf->retries && server_pick(s->listener, s->tried) != NULL;
}

/* send-proxy: the first bytes to the server say where the client came from (its address,
 * and the one it connected to). Written at once on a fresh connection, whose buffer is empty:
 * 0, or -1 if the socket took less. */
static int send_proxy_header(struct session *s)
{
    uint8_t buf[PROXY_HEADER_MAX];
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);
    size_t n;

    if (getsockname(s->cli.fd, (struct sockaddr *)&local, &len) < 0)
        local.ss_family = AF_UNSPEC;
    n = proxy_header(buf, s->server->conf->send_proxy, &s->peer.sa, (struct sockaddr *)&local);
    return conn_write(&s->back, buf, n) == (ssize_t)n ? 0 : -1;
}

static void connect_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, up.wr);
    int err = 0;
    socklen_t len = sizeof(err);
    (void)revents;

    if (getsockopt(s->back.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        connect_failed(s, OBS_CONNECT_FAILED, strerror(err));
        return;
    }
    if (s->server->conf->send_proxy && send_proxy_header(s) < 0) {
        connect_failed(s, OBS__COUNT, "cannot send the PROXY header");
        return;
    }
    ev_io_stop(loop, w);
    ev_set_cb(&s->up.wr, up_write_cb);
    ev_io_set(&s->up.wr, s->back.fd, EV_WRITE);
    ev_set_cb(&s->up.rd, session_tls_in_play(s) && !s->relogin ? session_tls_login_read_cb
                                                               : session_up_read_cb);
    ev_io_set(&s->up.rd, s->cli.fd, EV_READ);
    ev_set_cb(&s->down.rd, greeting_cb);
    ev_io_set(&s->down.rd, s->back.fd, EV_READ);
    ev_io_set(&s->down.wr, s->cli.fd, EV_WRITE);
    ev_io_start(loop, &s->down.rd);
    s->state = SESS_GREETING;
    s->c_last = s->s_last = ev_now(loop);
    s->greet_wait_us = mono_us();
    /* The server speaks first; then the same timer enforces idle timeouts (timer_cb). */
    ev_timer_stop(loop, &s->timer);
    ev_timer_set(&s->timer, s->listener->conf->timeout_greeting / 1000.0, 0);
    ev_timer_start(loop, &s->timer);
    sess_debug(s, "connected");
}

/* `timeout greeting` ran out for S. A server that greeted another session within the last
 * quarter of it is busy (thousands of clients logging in at once after a failback), not
 * stuck: S waits on, a quarter of `timeout greeting` at a time, up to GREETING_PATIENCE times
 * `timeout greeting` in all, rather than leave a live master for a backup. If the server still
 * greets others but not S, S's connection was most likely lost in the server's full accept
 * queue (the kernel never handed it over, and the server speaks first, so nothing will ever
 * come): S gets one new connection to the same server. A server that greets nobody (frozen,
 * or gone) is given up at `timeout greeting` as before. Returns true while S goes on with
 * the server (or has been dispatched); false: give the server up. */
static bool wait_on_busy_server(struct session *s)
{
    uint64_t period = (uint64_t)s->listener->conf->timeout_greeting * 1000, window = period / 4;
    uint64_t last = server_last_greeting(s->server), now = mono_us(); /* in this order */
    struct server *srv = s->server;

    if (last == 0 || now - last > window || !server_usable(srv))
        return false; /* greets nobody, or meanwhile DOWN, drained, in maint or removed */
    if (now - s->greet_wait_us + window <= GREETING_PATIENCE * period) {
        sess_debug(s, "no greeting after %llu ms, but %s greets other sessions: waiting on",
                   (unsigned long long)((now - s->greet_wait_us) / 1000), srv->id);
        ev_timer_set(&s->timer, (double)window / 1e6, 0);
        ev_timer_start(s->w->loop, &s->timer);
        return true;
    }
    if (s->fresh_tried)
        return false;
    sess_debug(s, "no greeting after %llu ms while %s greets other sessions: connecting again",
               (unsigned long long)((now - s->greet_wait_us) / 1000), srv->id);
    s->fresh_tried = true;
    drop_server(s);
    if (slots_taken(s->w, srv))
        enqueue(s, srv); /* its slot went to the queue: behind those waiting there */
    else if (start_connect(s, srv) != 0)
        dispatch(s, 0); /* counted by start_connect; on to the next candidate */
    return true;
}

/* Is FD ready for EVENTS (POLLIN, POLLOUT) right now? */
static bool ready_now(int fd, short events)
{
    struct pollfd p = {.fd = fd, .events = events};

    return poll(&p, 1, 0) == 1;
}

/* `timeout queue` ran out for S, still waiting for a slot: the client gets an error that says
 * so (not the server's fault: nothing is counted against it). */
static void queue_timeout(struct session *s)
{
    const struct conf_listen *lc = s->listener->conf;
    struct srv_tally *t = &s->server->tally[s->w->index];
    char msg[320];

    tally_add(&t->queue_timeouts, 1);
    snprintf(msg, sizeof(msg),
             "rebound: no connection to %s within timeout queue (%u ms): its %d connect slots "
             "stayed busy",
             s->server->id, lc->timeout_queue ? lc->timeout_queue : lc->timeout_connect,
             s->server->conf->max_connecting);
    refuse(s, msg);
}

/* Idle timeouts without touching the timer on every read: activity only stamps
 * c_last/s_last; when the timer fires it either closes or re-arms for what is left. */
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct session *s = container_of(w, struct session, timer);
    const struct conf_listen *lc = s->listener->conf;
    double now = ev_now(loop), left_c, left_s;
    (void)revents;

    if (s->state == SESS_QUEUED) {
        queue_timeout(s);
        return;
    }
    if (s->state == SESS_CONNECTING) {
        if (ready_now(s->back.fd, POLLOUT)) {      /* done in this loop turn: not a timeout */
            connect_cb(loop, &s->up.wr, EV_WRITE); /* may end S */
            return;
        }
        connect_failed(s, OBS_CONNECT_TIMEOUT, "connect timeout");
        return;
    }
    if (s->state == SESS_GREETING) {
        if (!s->greeting_late && ready_now(s->back.fd, POLLIN)) {
            /* The greeting came in the loop turn the timeout did (libev runs the timer
             * first): read it now. Once only, for a short while: a server that trickles its
             * greeting gets no more time this way. */
            s->greeting_late = true;
            ev_timer_set(w, lc->timeout_greeting / 4000.0, 0);
            ev_timer_start(loop, w);
            greeting_cb(loop, &s->down.rd, EV_READ); /* may end S */
            return;
        }
        if (wait_on_busy_server(s))
            return;
        connect_failed(s, OBS_GREETING_TIMEOUT,
                       s->down.pending ? "incomplete greeting in time" : "no greeting in time");
        return;
    }
    left_c = s->c_last + lc->timeout_client / 1000.0 - now;
    left_s = s->s_last + lc->timeout_server / 1000.0 - now;
    if (!s->logged_in) {
        /* A client that has not logged in after timeout handshake (since accept) holds a
         * server connection for nothing: its own doing, not counted against the server. */
        double left_h = s->started + lc->timeout_handshake / 1000.0 - now;
        if (left_h <= 0) {
            if (conn_handshaking(&s->cli))
                conn_count(CONN_SIDE_CLIENT, &s->cli, false, CONN_FAIL_TIMEOUT);
            if (conn_handshaking(&s->back))
                conn_count(CONN_SIDE_SERVER, &s->back, false, CONN_FAIL_TIMEOUT);
            session_close(s, "handshake timeout");
            return;
        }
        if (left_h < left_c)
            left_c = left_h;
    }
    if (left_c <= 0) {
        session_close(s, "client timeout");
        return;
    }
    if (left_s <= 0) {
        session_close(s, "server timeout");
        return;
    }
    ev_timer_set(w, left_c < left_s ? left_c : left_s, 0);
    ev_timer_start(loop, w);
}

/* Arm W on C's descriptor for the event C waits for: EV_READ or EV_WRITE whatever W is for
 * (a TLS read may have to wait until the socket takes a write, and a TLS write for a read). */
void session_watch(struct session *s, ev_io *w, const struct conn *c)
{
    if (w->fd != c->fd || (w->events & (EV_READ | EV_WRITE)) != c->want) {
        ev_io_stop(s->w->loop, w);
        ev_io_set(w, c->fd, c->want);
    }
    ev_io_start(s->w->loop, w);
}

/* F's source and destination. */
static struct conn *flow_src(struct session *s, const struct flow *f)
{
    return f == &s->up ? &s->cli : &s->back;
}

/* Read F's source again: its watcher waits for what the source waits for, and bytes TLS holds
 * already decrypted (which no readiness event announces) are read in the next loop turn. */
void session_resume_reading(struct session *s, struct flow *f)
{
    struct conn *src = flow_src(s, f);

    session_watch(s, &f->rd, src);
    if (conn_pending(src))
        ev_feed_event(s->w->loop, &f->rd, EV_READ);
}

/* Keep what DST refused: it is written by the flow's write watcher, and reading
 * stops until then. */
static int keep_pending(struct session *s, struct flow *f, const struct conn *dst, const char *buf,
                        size_t n)
{
    f->pending = malloc(sizeof(*f->pending) + n);
    if (!f->pending) {
        session_close(s, "out of memory");
        return -1;
    }
    f->pending->len = n;
    f->pending->off = 0;
    memcpy(f->pending->data, buf, n);
    ev_io_stop(s->w->loop, &f->rd);
    session_watch(s, &f->wr, dst);
    return 0;
}

/* Source side said EOF: pass the half-close on, close when both sides are done. */
static void flow_eof(struct session *s, struct flow *f, struct conn *dst)
{
    f->eof = true;
    ev_io_stop(s->w->loop, &f->rd);
    if (!f->pending)
        conn_shutdown_write(dst);
    if (s->up.eof && s->down.eof && !s->up.pending && !s->down.pending)
        session_close(s, "both sides closed");
}

/* Pass the N bytes just read into scratch on to F's destination DST; what it does not
 * take waits in F's pending buffer. Returns -1 if the session was closed. */
int session_pass_on(struct session *s, struct flow *f, struct conn *dst, size_t n, const char *what)
{
    ssize_t w = conn_write(dst, s->w->scratch, n);

    f->bytes += n;
    if (w < 0) {
        if (!conn_again()) {
            session_close(s, what);
            return -1;
        }
        w = 0;
    }
    if ((size_t)w < n)
        return keep_pending(s, f, dst, s->w->scratch + w, n - (size_t)w);
    if (conn_pending(flow_src(s, f))) /* TLS holds more of the source's bytes */
        ev_feed_event(s->w->loop, &f->rd, EV_READ);
    return 0;
}

/* Did the read fail for a reason worth reporting (not EAGAIN and the like)? */
static bool read_failed(ssize_t n)
{
    return n < 0 && !conn_again();
}

/* The server's greeting is in: relay both ways from now on, under the idle timeouts (and
 * timeout handshake until the login is over). */
static void start_relay(struct session *s, size_t n, enum mysql_greeting_kind kind)
{
    struct server *srv = s->server;
    const struct conf_listen *lc = s->listener->conf;
    double idle =
        (lc->timeout_client < lc->timeout_server ? lc->timeout_client : lc->timeout_server) /
        1000.0;
    double login = s->started + lc->timeout_handshake / 1000.0 - ev_now(s->w->loop);

    free(s->down.pending);
    s->down.pending = NULL;
    s->state = SESS_RELAY;
    release_slot(s);
    ev_set_cb(&s->down.rd, session_down_read_cb);
    ev_io_start(s->w->loop, &s->up.rd);
    ev_timer_stop(s->w->loop, &s->timer);
    ev_timer_set(&s->timer, login < idle ? (login > 0 ? login : 0) : idle, 0);
    ev_timer_start(s->w->loop, &s->timer);
    tally_add(&srv->tally[s->w->index].bytes_out, n);
    if (kind == MYSQL_GREETING_OK) /* taking logins: wait_on_busy_server() */
        atomic_store_explicit(&srv->tally[s->w->index].greeted_us, mono_us(), memory_order_relaxed);
}

/* The next server greeted a session whose login moves to it (its greeting, N bytes, is in the
 * scratch buffer): the client is asked to answer this server's scramble with its own plugin.
 * The client never sees this greeting; its answer goes on in relay_client_answer(). */
static void login_moved(struct session *s, size_t n)
{
    struct relogin *rl = s->relogin;
    uint8_t scramble[LOGIN_SCRAMBLE_LEN];
    size_t len;

    if (login_greeting_scramble((uint8_t *)s->w->scratch, n, scramble) < 0) {
        session_close(s, "moving the login: the next server's greeting has no scramble");
        return;
    }
    start_relay(s, n, MYSQL_GREETING_OK);
    rl->moving = false;
    rl->asked = true;
    /* Sequence id 2: the answer to the client's response (1). */
    len = login_auth_switch((uint8_t *)s->w->scratch, SCRATCH_SIZE, 2, rl->r.plugin, scramble);
    observe_server_bytes(&s->obs, (uint8_t *)s->w->scratch, len); /* what the client sees */
    sess_debug(s, "login moved to %s: the client answers its scramble", s->server->id);
    if (session_pass_on(s, &s->down, &s->cli, len, "client write error") < 0)
        return;
    server_traffic_ok(s->server);
}

/* The greeting checked out (or is an ERR packet no other server can spare the client):
 * pass it on and start relaying both ways. */
static void greeted(struct session *s, size_t n, enum mysql_greeting_kind kind, uint16_t err)
{
    struct server *srv = s->server;

    if (kind == MYSQL_GREETING_OK && s->relogin && s->relogin->moving) {
        if (srv->conf->ssl == SERVER_TLS_ALWAYS) {
            session_close(s, "a login cannot move to a server rebound talks TLS to");
            return;
        }
        login_moved(s, n);
        return;
    }
    if (kind == MYSQL_GREETING_OK) {
        uint8_t *p = (uint8_t *)s->w->scratch;
        s->offers_tls = login_greeting_offers_tls(p, n);
        /* Offered when rebound terminates; not when it talks TLS to the server itself
         * (the client then talks plain to rebound); else as the server says. */
        if (session_tls_in_play(s))
            login_greeting_set_tls(p, n, s->listener->conf->tls_mode != TLS_PASSTHROUGH);
    }
    start_relay(s, n, kind);
    /* Followed even without observe: the end of the login is what timeout handshake needs
     * (and nothing is counted then). */
    observe_stream_start(&s->obs, true, !srv->conf->backup);
    s->greeting_len = n;
    if (session_pass_on(s, &s->down, &s->cli, n, "client write error") < 0)
        return;
    if (kind == MYSQL_GREETING_OK)
        server_traffic_ok(srv);
    else if (observe_unhealthy_errno(err, true))
        server_traffic_error(srv, OBS_SERVER_ERROR, "error in the greeting");
}

/* The server's first bytes. Nothing reaches the client until they make a whole, valid
 * greeting; a partial one waits in down.pending (bounded by MYSQL_GREETING_MAX) under
 * `timeout greeting`. A server that closes, greets with garbage, or with an ERR packet
 * while another server may take the client, is given up for the next candidate. */
static void greeting_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, down.rd);
    struct pending *g = s->down.pending;
    size_t have = g ? g->len : 0;
    const char *why = "";
    uint16_t err = 0;
    char msg[80];
    ssize_t n;
    (void)loop;
    (void)revents;

    if (g)
        memcpy(s->w->scratch, g->data, have);
    /* One byte more than the largest greeting: a server that says more is not one. */
    n = conn_read(&s->back, s->w->scratch + have, MYSQL_HEADER_LEN + MYSQL_GREETING_MAX + 1 - have);
    if (n == 0 || read_failed(n)) {
        connect_failed(s, n == 0 ? OBS_GREETING_TIMEOUT : OBS_CONNECT_FAILED,
                       n == 0 ? "closed without a greeting" : strerror(errno));
        return;
    }
    if (n < 0)
        return;
    s->s_last = ev_now(s->w->loop);
    have += (size_t)n;
    enum mysql_greeting_kind kind =
        mysql_greeting_parse((uint8_t *)s->w->scratch, have, &err, &why);
    switch (kind) {
    case MYSQL_GREETING_PARTIAL:
        if (!(g = realloc(g, sizeof(*g) + have))) {
            session_close(s, "out of memory");
            return;
        }
        memcpy(g->data, s->w->scratch, have);
        g->len = have;
        g->off = 0;
        s->down.pending = g;
        return;
    case MYSQL_GREETING_BAD:
        connect_failed(s, OBS_BAD_GREETING, why);
        return;
    case MYSQL_GREETING_ERR:
        if (!can_retry(s))
            break;
        snprintf(msg, sizeof(msg), "error %u in the greeting", err);
        /* Only errors that say the server is unwell count against it. */
        connect_failed(s, observe_unhealthy_errno(err, true) ? OBS_SERVER_ERROR : OBS__COUNT, msg);
        return;
    case MYSQL_GREETING_OK:
        if (s->server->conf->ssl == SERVER_TLS_ALWAYS &&
            !login_greeting_offers_tls((const uint8_t *)s->w->scratch, have)) {
            connect_failed(s, OBS_BAD_GREETING, "the server offers no TLS, and 'ssl' is set");
            return;
        }
        break;
    }
    greeted(s, have, kind, err);
}

/* Has S's client got its greeting and nothing else, and sent nothing yet (its login response is
 * still to come), on a stream rebound follows? Its login can then move as soon as that
 * response is in, should the server go away now. */
static bool response_awaited(const struct session *s)
{
    return s->state == SESS_RELAY && s->obs.followed && !session_tls_in_play(s) && !s->login_seen &&
           !s->logged_in && s->up.bytes == 0 && s->down.bytes == s->greeting_len &&
           !s->up.pending && !s->down.pending && !s->up.eof && !s->down.eof;
}

/* The server went away from an established session: with ERR a read error, else end of
 * stream. A clean close is passed on to the client; what the server alone can be blamed
 * for (observe.c decides) is counted against it. */
static void server_gone(struct session *s, int err)
{
    struct server *srv = s->server;
    enum obs_event ev = observe_server_gone(&s->obs, err != 0, s->up.eof);

    if (session_login_movable(s)) {
        /* Gone between its greeting and its answer to the login: another server answers. */
        session_move_login(s, UINT64_C(1) << srv->index,
                           err ? strerror(err) : "the server closed during the login");
        if (ev < OBS__COUNT) /* S may be gone (refused): only the server from here on */
            server_traffic_error(srv, ev, err ? strerror(err) : "end of stream");
        return;
    }
    if (response_awaited(s)) {
        /* Gone before the client's login response: it moves once that is in. */
        sess_debug(s, "%s went away before the client's login response: %s", srv->id,
                   err ? strerror(err) : "end of stream");
        ev_io_stop(s->w->loop, &s->down.rd);
        conn_close(&s->back);
        s->server_lost = true;
        if (ev < OBS__COUNT)
            server_traffic_error(srv, ev, err ? strerror(err) : "end of stream");
        return;
    }
    if (!err && ev == OBS__COUNT) {
        flow_eof(s, &s->down, &s->cli);
        return;
    }
    session_close(s, err ? "server read error" : "server closed during a response");
    if (ev < OBS__COUNT)
        server_traffic_error(srv, ev, err ? strerror(err) : "end of stream");
}

/* DST became writable: drain the pending bytes, then resume reading. */
static void drain(struct session *s, struct flow *f, struct conn *dst, const char *side)
{
    struct pending *p = f->pending;
    ssize_t w = conn_write(dst, p->data + p->off, p->len - p->off);

    if (w < 0) {
        if (!conn_again())
            session_close(s, side);
        else if (dst->ssl)
            session_watch(s, &f->wr, dst); /* TLS may wait for a read to go on writing */
        return;
    }
    p->off += (size_t)w;
    if (p->off < p->len)
        return;
    free(p);
    f->pending = NULL;
    ev_io_stop(s->w->loop, &f->wr);
    if (!f->eof) {
        session_resume_reading(s, f);
        if (f == &s->down)
            boundary_check(s); /* the answer's last bytes reached the client */
        return;
    }
    conn_shutdown_write(dst);
    if (s->up.eof && s->down.eof && !s->up.pending && !s->down.pending)
        session_close(s, "both sides closed");
}

/* Add DELTA to the sequence id of every packet that starts in the N bytes at P; *LEFT carries
 * the bytes of a packet still to come from one read to the next. -1 if a header is cut between
 * two reads (not seen in a login's small packets: the session is then closed). */
static int shift_seqs(size_t *left, uint8_t *p, size_t n, int delta)
{
    size_t off = 0, k;

    while (off < n) {
        if (*left) {
            k = *left < n - off ? *left : n - off;
            off += k;
            *left -= k;
            continue;
        }
        if (n - off < MYSQL_HEADER_LEN)
            return -1;
        p[off + 3] = (uint8_t)(p[off + 3] + delta);
        *left = mysql_payload_len(p + off);
        off += MYSQL_HEADER_LEN;
    }
    return 0;
}

/* The client's first packet after the greeting (N bytes in scratch): keep it while the login
 * may have to move, if it is a whole HandshakeResponse41 whose plugin signs a scramble. */
static void keep_login(struct session *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s->w->scratch;
    struct login_response r;
    struct relogin *rl;

    s->login_seen = true;
    if (!s->obs.followed || n < MYSQL_HEADER_LEN || p[3] != 1 ||
        n != MYSQL_HEADER_LEN + mysql_payload_len(p) ||
        login_parse_response(p + MYSQL_HEADER_LEN, n - MYSQL_HEADER_LEN, &r) < 0 ||
        !(r.caps & MYSQL_CLIENT_PLUGIN_AUTH) || !login_plugin_restartable(r.plugin))
        return;
    if (!(rl = calloc(1, sizeof(*rl) + n)))
        return; /* the login just cannot move */
    rl->r = r;
    rl->len = n;
    memcpy(rl->response, p, n);
    s->relogin = rl;
}

/* The client's answer to the new server's scramble (N bytes in scratch): the new server gets the
 * client's first response with that answer in it. From here the two sides' sequence ids differ
 * by 2 (the AuthSwitchRequest and the answer) until the login is over. */
static void relay_client_answer(struct session *s, size_t n)
{
    struct relogin *rl = s->relogin;
    uint8_t *p = (uint8_t *)s->w->scratch;
    struct mysql_wbuf w;
    size_t len;

    if (n < MYSQL_HEADER_LEN || p[3] != 3 || n != MYSQL_HEADER_LEN + mysql_payload_len(p)) {
        session_close(s, "moving the login: the client's answer is not one packet");
        return;
    }
    observe_client_bytes(&s->obs, p, n);
    /* Built beside the scratch buffer (which holds the answer), then relayed from it. */
    mysql_wbuf_init(&w, SCRATCH_SIZE);
    if (login_rebuild_response(&w, 1, rl->response + MYSQL_HEADER_LEN, rl->len - MYSQL_HEADER_LEN,
                               &rl->r, p + MYSQL_HEADER_LEN, n - MYSQL_HEADER_LEN) < 0) {
        mysql_wbuf_free(&w);
        session_close(s, "moving the login: the response does not fit");
        return;
    }
    len = w.len;
    memcpy(p, w.data, len);
    mysql_wbuf_free(&w);
    rl->asked = false;
    s->shift = 2;
    session_pass_on(s, &s->up, &s->back, len, "server write error");
}

bool session_login_movable(const struct session *s)
{
    const struct relogin *rl = s->relogin;

    return rl && !rl->moving && !rl->asked && s->shift == 0 && !s->logged_in &&
           s->state == SESS_RELAY && s->down.bytes == s->greeting_len && s->up.bytes == rl->len &&
           !s->up.pending && !s->down.pending && !s->up.eof && !s->down.eof;
}

bool session_move_login(struct session *s, uint64_t exclude, const char *reason)
{
    sess_debug(s, "moving the login away from %s: %s", s->server->id, reason);
    drop_server(s);
    s->relogin->moving = true;
    s->tried = 0;
    s->attempts = 0;
    s->fresh_tried = false;
    return dispatch(s, exclude);
}

/* The client's login response (N bytes in scratch, 0: the client closed) came after its server
 * went away (server_lost): the login moves to the next server, as if the server had gone
 * after it (server_gone), if the response is one that can move. */
static void login_after_loss(struct session *s, ssize_t n)
{
    uint64_t gone = UINT64_C(1) << s->server->index;

    if (n == 0) {
        session_close(s, "client closed");
        return;
    }
    keep_login(s, (size_t)n);
    if (!s->relogin) {
        session_close(s, "server closed during the login");
        return;
    }
    observe_client_bytes(&s->obs, (uint8_t *)s->w->scratch, (size_t)n);
    s->server_lost = false;
    (void)session_move_login(s, gone, "the server went away before the client's login response");
}

/* The client sent something: follow it (observe), pass it on. */
void session_up_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, up.rd);
    ssize_t n = conn_read(&s->cli, s->w->scratch, SCRATCH_SIZE);
    (void)revents;

    if (n < 0) {
        if (read_failed(n))
            session_close(s, "client read error");
        else if (s->cli.ssl)
            session_watch(s, w, &s->cli); /* TLS may wait for the socket to take a write */
        return;
    }
    if (s->cli.ssl)
        session_watch(s, w, &s->cli); /* back to EV_READ if a TLS read had to wait for EV_WRITE */
    if (s->server_lost) {
        login_after_loss(s, n);
        return;
    }
    if (n == 0) {
        flow_eof(s, &s->up, &s->back);
        return;
    }
    s->c_last = ev_now(loop);
    tally_add(&s->server->tally[s->w->index].bytes_in, (uint64_t)n);
    if (!s->login_seen && !s->logged_in) {
        keep_login(s, (size_t)n);
        session_take_slot(s); /* the server works on the login until it answers */
    }
    if (s->relogin && s->relogin->asked) {
        relay_client_answer(s, (size_t)n);
        return;
    }
    observe_client_bytes(&s->obs, (uint8_t *)s->w->scratch, (size_t)n);
    if (s->shift && shift_seqs(&s->cli_left, (uint8_t *)s->w->scratch, (size_t)n, -s->shift) < 0) {
        session_close(s, "renumbering the login: a packet header cut in two");
        return;
    }
    session_pass_on(s, &s->up, &s->back, (size_t)n, "server write error");
}

/* A session a graceful failback waits for that is idle now (its answer complete, outside a
 * transaction, every byte delivered) is closed by the pass (pass_graceful_boundary). */
static void boundary_check(struct session *s)
{
    if (s->graceful && session_idle(s))
        pass_graceful_boundary(s);
}

/* Tell S's server what the stream follower saw in the bytes just passed on: an error to
 * count, or a normal answer that breaks a run of errors. */
static void report(struct session *s)
{
    enum obs_event ev;
    char detail[96];

    if (!observe_take(&s->obs, &ev, detail, sizeof(detail)))
        return;
    if (ev == OBS__COUNT)
        server_traffic_ok(s->server);
    else
        server_traffic_error(s->server, ev, detail);
}

/* The server sent something after its greeting: follow it, pass it on, then report what
 * it showed (only once the client has the bytes: a session that failed to pass them on is
 * closed, and nothing is reported for it). */
void session_down_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, down.rd);
    ssize_t n = conn_read(&s->back, s->w->scratch, SCRATCH_SIZE);
    (void)revents;

    if (n <= 0) {
        if (n == 0 || read_failed(n))
            server_gone(s, n == 0 ? 0 : errno);
        else if (s->back.ssl)
            session_watch(s, w, &s->back);
        return;
    }
    if (s->back.ssl)
        session_watch(s, w, &s->back);
    s->s_last = ev_now(loop);
    tally_add(&s->server->tally[s->w->index].bytes_out, (uint64_t)n);
    if (s->shift && shift_seqs(&s->srv_left, (uint8_t *)s->w->scratch, (size_t)n, s->shift) < 0) {
        session_close(s, "renumbering the login: a packet header cut in two");
        return;
    }
    release_slot(s); /* the server answered the login response */
    observe_server_bytes(&s->obs, (uint8_t *)s->w->scratch, (size_t)n);
    /* The login is over at the server's OK; in a stream rebound cannot read (TLS passed
     * through), once the server answers what the client sent. */
    if (!s->logged_in)
        s->logged_in = s->obs.authed || (!s->obs.followed && s->up.bytes > 0);
    if (s->logged_in && s->relogin) { /* nothing left to move: every later packet is as is */
        free(s->relogin);
        s->relogin = NULL;
    }
    if (s->logged_in)
        s->shift = 0; /* commands start at sequence id 0 on both sides */
    if (session_pass_on(s, &s->down, &s->cli, (size_t)n, "client write error") < 0)
        return;
    report(s);
    boundary_check(s);
}

static void up_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, up.wr);
    (void)loop;
    (void)revents;

    drain(s, &s->up, &s->back, "server write error");
}

static void down_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, down.wr);
    (void)loop;
    (void)revents;

    drain(s, &s->down, &s->cli, "client write error");
}
