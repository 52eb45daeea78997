/* session.c - a client<->server pair: connect (with redispatch), relay, timeouts, and
 * the one close path.
 *
 * Ownership: a session belongs to exactly one server list (server->sessions) from the
 * moment it is routed until session_close(). Bytes are read into one shared scratch
 * buffer and written on at once; only what the destination refuses is copied into a
 * per-direction pending buffer, and reading that direction stops until it drains.
 * So an idle session owns no buffer, and a slow reader holds at most one read's worth
 * of bytes in rebound (back-pressure).
 *
 *   client --cfd--> [up.rd]  --scratch-->  [up.wr]  --sfd--> server
 *   client <--cfd-- [down.wr] <--scratch-- [down.rd] <--sfd-- server
 */
#include "session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "mysql_packet.h"
#include "rebound.h"
#include "server.h"

#define SCRATCH_SIZE         (64 * 1024)
#define ERR_NO_SERVER        1105 /* ER_UNKNOWN_ERROR: clients reject client-range codes from a server */
#define CLIENT_SSL_FLAG      0x0800u /* handshake response capability bits */
#define CLIENT_COMPRESS_FLAG 0x0020u
#define COM_QUIT_BYTE        0x01

/* Bytes the destination did not accept yet. */
struct pending {
    size_t len, off;
    char data[];
};

unsigned sessions_alive;
unsigned sessions_max = 10000;
static uint64_t next_id = 1;
static char scratch[SCRATCH_SIZE];

static void connect_cb(struct ev_loop *loop, ev_io *w, int revents);
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void up_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void up_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void down_read_cb(struct ev_loop *loop, ev_io *w, int revents);
static void down_write_cb(struct ev_loop *loop, ev_io *w, int revents);
static void server_packet(struct mysql_tracker *t, int first, uint8_t seq, uint16_t err);
static bool dispatch(struct session *s);

const char *session_where(const struct session *s)
{
    return s->server ? s->server->id : s->listener->conf->name;
}

bool session_has_traffic(const struct session *s)
{
    return s->down.bytes > 0 || s->up.bytes > 0;
}

/* Send an ERR packet in place of a greeting and close: the client sees a MySQL error
 * with our message instead of a bare disconnect. */
static void refuse(struct session *s, const char *msg)
{
    uint8_t pkt[512];
    size_t n = mysql_err_packet(pkt, sizeof(pkt), 0, ERR_NO_SERVER, NULL, msg);

    if (n && write(s->cfd, pkt, n) < 0)
        sess_debug(s, "cannot send error to client: %s", strerror(errno));
    shutdown(s->cfd, SHUT_WR);
    session_close(s, msg);
}

void session_peer_str(const struct session *s, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (s->peer.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &s->peer.in.sin_addr, host, sizeof(host));
        port = ntohs(s->peer.in.sin_port);
        snprintf(buf, len, "%s:%u", host, port);
    } else if (s->peer.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &s->peer.in6.sin6_addr, host, sizeof(host));
        port = ntohs(s->peer.in6.sin6_port);
        snprintf(buf, len, "[%s]:%u", host, port);
    } else {
        snprintf(buf, len, "?");
    }
}

void session_new(struct listener *l, int cfd, const struct sockaddr *peer, socklen_t len)
{
    struct session *s = calloc(1, sizeof(*s));

    if (!s) {
        log_err("%s: out of memory for a new session", l->conf->name);
        close(cfd);
        return;
    }
    s->id = next_id++;
    s->listener = l;
    if (peer && len <= sizeof(s->peer))
        memcpy(&s->peer, peer, len);
    s->cfd = cfd;
    s->sfd = -1;
    s->started = s->c_last = s->s_last = ev_now(rb_loop);
    s->obs_event = -1;
    ev_init(&s->up.rd, up_read_cb);
    ev_init(&s->up.wr, connect_cb);
    ev_init(&s->down.rd, down_read_cb);
    ev_init(&s->down.wr, down_write_cb);
    ev_init(&s->timer, timer_cb);
    if (++sessions_alive >= sessions_max)
        listeners_pause(true);
    dispatch(s);
}

/* Stop every watcher and forget the server side; the client socket stays open. */
static void drop_server(struct session *s)
{
    ev_io_stop(rb_loop, &s->up.rd);
    ev_io_stop(rb_loop, &s->up.wr);
    ev_io_stop(rb_loop, &s->down.rd);
    ev_io_stop(rb_loop, &s->down.wr);
    ev_timer_stop(rb_loop, &s->timer);
    if (s->sfd >= 0)
        close(s->sfd);
    s->sfd = -1;
    if (s->server) {
        TAILQ_REMOVE(&s->server->sessions, s, srv_link);
        s->server->nsessions--;
        /* Keep the server's byte counts whole (sessions only move before any byte). */
        s->server->bytes_in += s->up.bytes;
        s->server->bytes_out += s->down.bytes;
        s->server = NULL;
    }
}

void session_abort_client(struct session *s)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    if (s->cfd < 0)
        return;
    setsockopt(s->cfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(s->cfd);
    s->cfd = -1;
}

void session_close(struct session *s, const char *reason)
{
    sess_debug(s, "closed after %.3f s: %s (in %llu, out %llu bytes)", ev_now(rb_loop) - s->started,
               reason, (unsigned long long)s->up.bytes, (unsigned long long)s->down.bytes);
    drop_server(s);
    if (s->cfd >= 0)
        close(s->cfd);
    free(s->up.pending);
    free(s->down.pending);
    free(s);
    if (sessions_alive-- == sessions_max)
        listeners_pause(false);
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
        log_warn("%s: socket: %s", srv->id, strerror(errno));
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&a->sa, a->len) < 0 && errno != EINPROGRESS) {
        int err = errno;
        sess_debug(s, "connect to %s: %s", srv->id, strerror(err));
        srv->connect_failures++;
        close(fd);
        /* S is not on the server's list yet: on-error cannot close it. */
        observe_error(srv, OBS_CONNECT_FAILED, strerror(err));
        return -1;
    }
    s->sfd = fd;
    s->server = srv;
    s->state = SESS_CONNECTING;
    TAILQ_INSERT_TAIL(&srv->sessions, s, srv_link);
    srv->nsessions++;
    srv->sessions_total++;
    ev_set_cb(&s->up.wr, connect_cb);
    ev_io_set(&s->up.wr, fd, EV_WRITE);
    ev_io_start(rb_loop, &s->up.wr);
    ev_timer_set(&s->timer, s->listener->conf->timeout_connect / 1000.0, 0);
    ev_timer_start(rb_loop, &s->timer);
    return 0;
}

/* Route S to the best server it has not tried, within its retries. Returns false when
 * the session was refused (and closed). */
static bool dispatch(struct session *s)
{
    const struct conf_listen *lc = s->listener->conf;
    struct server *srv;

    while (s->attempts <= lc->retries) {
        srv = listener_pick(s->listener, s->tried);
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
    s->tried |= exclude;
    return dispatch(s);
}

/* Connecting to the server failed before any byte reached the client: count it against
 * the server as EV (after unlinking, since on-error may kill the server's sessions; not at
 * all with OBS__COUNT), then try the next candidate. */
static void connect_failed(struct session *s, enum obs_event ev, const char *why)
{
    struct server *srv = s->server;

    sess_debug(s, "connect failed: %s", why);
    srv->connect_failures++;
    drop_server(s);
    if (ev < OBS__COUNT)
        observe_error(srv, ev, why);
    dispatch(s);
}

/* Would another attempt be allowed, with a server to try? */
static bool can_retry(struct session *s)
{
    return s->attempts <= s->listener->conf->retries &&
           listener_pick(s->listener, s->tried) != NULL;
}

static void connect_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, up.wr);
    int err = 0;
    socklen_t len = sizeof(err);
    (void)revents;

    if (getsockopt(s->sfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err) {
        connect_failed(s, OBS_CONNECT_FAILED, strerror(err));
        return;
    }
    ev_io_stop(loop, w);
    ev_set_cb(&s->up.wr, up_write_cb);
    ev_io_set(&s->up.wr, s->sfd, EV_WRITE);
    ev_io_set(&s->up.rd, s->cfd, EV_READ);
    ev_io_set(&s->down.rd, s->sfd, EV_READ);
    ev_io_set(&s->down.wr, s->cfd, EV_WRITE);
    ev_io_start(loop, &s->up.rd);
    ev_io_start(loop, &s->down.rd);
    s->state = SESS_GREETING;
    s->c_last = s->s_last = ev_now(loop);
    memset(&s->trk, 0, sizeof(s->trk));
    s->trk.on_packet = server_packet;
    s->l7 = s->server->conf->observe == OBSERVE_LAYER7;
    s->authed = s->last_err = false;
    /* The server speaks first; then the same timer enforces idle timeouts (timer_cb). */
    ev_timer_stop(loop, &s->timer);
    ev_timer_set(&s->timer, s->listener->conf->timeout_greeting / 1000.0, 0);
    ev_timer_start(loop, &s->timer);
    sess_debug(s, "connected");
}

/* Idle timeouts without touching the timer on every read: activity only stamps
 * c_last/s_last; when the timer fires it either closes or re-arms for what is left. */
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct session *s = container_of(w, struct session, timer);
    const struct conf_listen *lc = s->listener->conf;
    double now = ev_now(loop), left_c, left_s;
    (void)revents;

    if (s->state == SESS_CONNECTING) {
        connect_failed(s, OBS_CONNECT_TIMEOUT, "connect timeout");
        return;
    }
    if (s->state == SESS_GREETING) {
        connect_failed(s, OBS_GREETING_TIMEOUT, "no greeting in time");
        return;
    }
    left_c = s->c_last + lc->timeout_client / 1000.0 - now;
    left_s = s->s_last + lc->timeout_server / 1000.0 - now;
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

/* Keep what DST refused: it is written by the flow's write watcher, and reading
 * stops until then. */
static int keep_pending(struct session *s, struct flow *f, const char *buf, size_t n)
{
    f->pending = malloc(sizeof(*f->pending) + n);
    if (!f->pending) {
        session_close(s, "out of memory");
        return -1;
    }
    f->pending->len = n;
    f->pending->off = 0;
    memcpy(f->pending->data, buf, n);
    ev_io_stop(rb_loop, &f->rd);
    ev_io_start(rb_loop, &f->wr);
    return 0;
}

/* Source side said EOF: pass the half-close on, close when both sides are done. */
static void flow_eof(struct session *s, struct flow *f, int dst)
{
    f->eof = true;
    ev_io_stop(rb_loop, &f->rd);
    if (!f->pending)
        shutdown(dst, SHUT_WR);
    if (s->up.eof && s->down.eof && !s->up.pending && !s->down.pending)
        session_close(s, "both sides closed");
}

/* The tracker saw a packet start in the server's stream (observe layer7). Errors are
 * only noted here and reported by report_observed() once the bytes are passed on. */
static void server_packet(struct mysql_tracker *t, int first, uint8_t seq, uint16_t err)
{
    struct session *s = container_of(t, struct session, trk);
    struct server *srv = s->server;

    uint8_t prev = s->last_seq;

    s->last_seq = seq;
    s->last_err = first == 0xff;
    if (t->packets == 1) { /* the greeting: protocol 10, or an ERR */
        if (first != 0x0a && first != 0xff)
            s->obs_event = OBS_MALFORMED;
        return;
    }
    /* A server answers a client packet, so never with sequence id 0 - unless the ids of a
     * long response wrapped round after 255. */
    if (seq == 0 && prev != 255) {
        s->obs_event = OBS_MALFORMED;
        return;
    }
    if (first == 0x00 && !s->authed) /* the OK that ends the login */
        s->authed = true;
    if (first != 0xff) {
        observe_ok(&srv->obs_consecutive);
        return;
    }
    if (observe_unhealthy_errno(err, !srv->conf->backup)) {
        s->obs_event = OBS_SERVER_ERROR;
        s->obs_errno = err;
    }
}

/* Report what the tracker noted. Last thing a relay step does: on-error may close S. */
static void report_observed(struct session *s)
{
    struct server *srv = s->server;
    enum obs_event ev = (enum obs_event)s->obs_event;
    char detail[96];

    s->obs_event = -1;
    if (ev == OBS_SERVER_ERROR)
        snprintf(detail, sizeof(detail), "error %u, %s", s->obs_errno,
                 observe_unhealthy_errno(s->obs_errno, true));
    else
        snprintf(detail, sizeof(detail), "%s", "unexpected packet in the server's stream");
    observe_error(srv, ev, detail);
}

/* Does the server answer command CMD? Not COM_QUIT, COM_STMT_SEND_LONG_DATA, COM_STMT_CLOSE. */
static bool answered(uint8_t cmd)
{
    return cmd != COM_QUIT_BYTE && cmd != 0x18 && cmd != 0x19;
}

/* What the client sends: its first packet says whether the stream will switch to TLS
 * or compression, after which it can no longer be followed (layer 4 only) - the
 * capability flags are the first payload bytes of the handshake response. Later, each
 * command packet (sequence id 0) a read starts or holds whole is looked at: most await
 * an answer, COM_QUIT ends the session. Only headers and command bytes are read. */
static void client_packet(struct session *s, const uint8_t *p, ssize_t n)
{
    size_t off = 0;

    if (s->up.bytes == 0) {
        uint32_t caps = n >= 8 ? (uint32_t)p[4] | (uint32_t)p[5] << 8 : 0;
        if (n < 8 || caps & (CLIENT_SSL_FLAG | CLIENT_COMPRESS_FLAG))
            s->l7 = false;
        return;
    }
    while (off + MYSQL_HEADER_LEN < (size_t)n) {
        const uint8_t *h = p + off;
        if (h[3] == 0) {
            s->quitting = s->quitting || h[4] == COM_QUIT_BYTE;
            s->awaiting = s->awaiting || answered(h[4]);
        }
        off += MYSQL_HEADER_LEN + mysql_payload_len(h);
    }
}

/* Can the server's going away be blamed on the server? Not while the login is still
 * going on, nor right after the server answered with an ERR: a client that sends garbage
 * gets an error and a closed (often reset) connection, and must never count against the
 * server. Where the stream is followed (layer 7) this is exact; elsewhere the session
 * must have gone past the login: two client reads, and an answer to the second. */
static bool server_to_blame(const struct session *s)
{
    if (s->l7)
        return s->authed && !s->last_err;
    return s->up_reads >= 2 && s->down_reads >= 3;
}

/* The server went away (end of stream, or read error ERR) from an established session. */
static void server_gone(struct session *s, struct flow *f, int dst, int err)
{
    struct server *srv = s->server;
    bool mid = s->l7 && !s->quitting && (s->awaiting || !mysql_track_at_boundary(&s->trk));
    bool blame = server_to_blame(s);

    if (!err && !mid) { /* a clean close, e.g. wait_timeout: pass it on */
        flow_eof(s, f, dst);
        return;
    }
    session_close(s, err ? "server read error" : "server closed during a response");
    /* After the close: on-error may kill every session of the server. */
    if (blame)
        observe_error(srv, mid ? OBS_MID_RESPONSE : OBS_SERVER_RESET,
                      err ? strerror(err) : "end of stream");
}

/* The server's first bytes. An ERR greeting (too many connections, host blocked...) is
 * not passed on while another server may take the client. Returns -1 if S moved on. */
static int greeting(struct session *s, const uint8_t *p, ssize_t n)
{
    struct server *srv = s->server;
    char why[80];

    s->state = SESS_RELAY;
    if (n >= 7 && p[4] == 0xff && can_retry(s)) {
        uint16_t err = (uint16_t)(p[5] | p[6] << 8);
        snprintf(why, sizeof(why), "error %u in the greeting", err);
        /* Only errors that say the server is unwell count against it. */
        connect_failed(s, observe_unhealthy_errno(err, true) ? OBS_SERVER_ERROR : OBS__COUNT, why);
        return -1;
    }
    observe_ok(&srv->obs_consecutive);
    return 0;
}

/* Read once from SRC, write on to DST. Returns -1 if the session was closed. */
static int relay(struct session *s, struct flow *f, int src, int dst, bool from_server)
{
    ssize_t n = read(src, scratch, sizeof(scratch)), w;

    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        if (!from_server)
            session_close(s, "client read error");
        else if (!session_has_traffic(s))
            connect_failed(s, OBS_CONNECT_FAILED, strerror(errno));
        else
            server_gone(s, f, dst, errno);
        return -1;
    }
    if (n == 0) {
        if (!from_server) {
            flow_eof(s, f, dst);
            return 0;
        }
        if (!session_has_traffic(s)) {
            connect_failed(s, OBS_GREETING_TIMEOUT, "closed without a greeting");
            return -1;
        }
        server_gone(s, f, dst, 0);
        return -1;
    }
    if (from_server && s->state == SESS_GREETING && greeting(s, (uint8_t *)scratch, n) < 0)
        return -1;
    if (s->l7 && from_server) {
        mysql_track(&s->trk, (uint8_t *)scratch, (size_t)n);
        if (mysql_track_at_boundary(&s->trk))
            s->awaiting = false;
    } else if (s->l7) {
        client_packet(s, (uint8_t *)scratch, n);
    }
    f->bytes += (uint64_t)n;
    if (from_server && s->down_reads < UINT8_MAX)
        s->down_reads++;
    else if (!from_server && s->up_reads < UINT8_MAX)
        s->up_reads++;
    w = write(dst, scratch, (size_t)n);
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            session_close(s, from_server ? "client write error" : "server write error");
            return -1;
        }
        w = 0;
    }
    if (w < n && keep_pending(s, f, scratch + w, (size_t)(n - w)) < 0)
        return -1;
    if (s->obs_event >= 0)
        report_observed(s);
    return 0;
}

/* DST became writable: drain the pending bytes, then resume reading. */
static void drain(struct session *s, struct flow *f, int dst, const char *side)
{
    struct pending *p = f->pending;
    ssize_t w = write(dst, p->data + p->off, p->len - p->off);

    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            session_close(s, side);
        return;
    }
    p->off += (size_t)w;
    if (p->off < p->len)
        return;
    free(p);
    f->pending = NULL;
    ev_io_stop(rb_loop, &f->wr);
    if (!f->eof) {
        ev_io_start(rb_loop, &f->rd);
        return;
    }
    shutdown(dst, SHUT_WR);
    if (s->up.eof && s->down.eof && !s->up.pending && !s->down.pending)
        session_close(s, "both sides closed");
}

static void up_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, up.rd);
    (void)revents;

    s->c_last = ev_now(loop);
    relay(s, &s->up, s->cfd, s->sfd, false);
}

static void down_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, down.rd);
    (void)revents;

    s->s_last = ev_now(loop);
    relay(s, &s->down, s->sfd, s->cfd, true);
}

static void up_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, up.wr);
    (void)loop;
    (void)revents;

    drain(s, &s->up, s->sfd, "server write error");
}

static void down_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, down.wr);
    (void)loop;
    (void)revents;

    drain(s, &s->down, s->cfd, "client write error");
}
