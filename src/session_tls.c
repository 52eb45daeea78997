/* session_tls.c - the TLS steps of a session's login: a listener that terminates TLS answers
 * the client's SSLRequest and runs the handshake; rebound asks a server for TLS itself when
 * its `ssl` says so; with TLS on one side only, the login's sequence ids are renumbered (see
 * session.c for the relay and the top of it for the whole picture).
 *
 * Until the login response is through, the client's first packet is read exactly (header,
 * then payload): a ClientHello sent right behind an SSLRequest stays in the socket for TLS.
 * Threads: as session.c, everything on the session's worker.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listener.h"
#include "log.h"
#include "login.h"
#include "rebound.h"
#include "server.h"
#include "session.h"
#include "session_int.h"
#include "worker.h"

#define ERR_SECURE_TRANSPORT 3159 /* ER_SECURE_TRANSPORT_REQUIRED: a plain client, TLS required */

/* Does rebound take part in S's TLS: its listener terminates, or its server gets TLS from
 * rebound whatever the client does? Otherwise the client's TLS, if any, passes through. */
bool session_tls_in_play(const struct session *s)
{
    return s->listener->conf->tls_mode != TLS_PASSTHROUGH ||
           (s->server && s->server->conf->ssl == SERVER_TLS_ALWAYS);
}

/* Read the client's next login packet exactly (header, then payload) into s->held: not a
 * byte more, so that a ClientHello sent right behind an SSLRequest stays in the socket for
 * TLS. s->held is as large as what is read so far asks for (the header, then the packet), not
 * a relay buffer: thousands of logins may be under way at once after a failback. 1 once the
 * packet is whole, 0 while it is not, -1 when S was closed. */
static int read_login_packet(struct session *s)
{
    struct pending *h = s->held;
    size_t have = h ? h->len : 0, want = MYSQL_HEADER_LEN;
    ssize_t n;

    if (have >= MYSQL_HEADER_LEN)
        want += mysql_payload_len((const uint8_t *)h->data);
    if (want > SCRATCH_SIZE) {
        session_close(s, "the client's login packet is too large");
        return -1;
    }
    if (!h || have == MYSQL_HEADER_LEN) {
        if (!(h = realloc(h, sizeof(*h) + want))) {
            session_close(s, "out of memory"); /* frees s->held, still the old block */
            return -1;
        }
        if (!s->held)
            h->len = h->off = 0;
        s->held = h;
    }
    n = conn_read(&s->cli, h->data + have, want - have);
    if (n == 0 || (n < 0 && !conn_again())) {
        session_close(s, n == 0 ? "client closed during the login" : "client read error");
        return -1;
    }
    if (n < 0) {
        session_watch(s, &s->up.rd, &s->cli);
        return 0;
    }
    s->c_last = ev_now(s->w->loop);
    h->len += (size_t)n;
    if (h->len == MYSQL_HEADER_LEN) {
        if (mysql_payload_len((const uint8_t *)h->data) == 0) {
            session_close(s, "the client's login packet is empty");
            return -1;
        }
        return read_login_packet(s); /* the payload may be there already */
    }
    return h->len == want ? 1 : 0;
}

static void client_tls_cb(struct ev_loop *loop, ev_io *w, int revents);
static void server_tls_cb(struct ev_loop *loop, ev_io *w, int revents);

/* One step of the TLS handshake on C, S's side SIDE, whose watcher is W: 1 once it is done
 * (counted), 0 while it waits (W armed for what it waits for), -1 when it failed (counted, and
 * S closed: "TLS handshake with PEER failed (why)"). */
static int handshake_step(struct session *s, ev_io *w, struct conn *c, enum conn_side side,
                          const char *peer)
{
    enum conn_fail why = CONN_FAIL_OTHER;
    int r = conn_handshake(c, &why);
    char msg[200];

    if (r == 0) {
        session_watch(s, w, c);
        return 0;
    }
    conn_count(side, c, r > 0, why);
    if (r < 0) {
        snprintf(msg, sizeof(msg), "TLS handshake with %s failed (%s)", peer, conn_fail_str(why));
        session_close(s, msg);
        return -1;
    }
    sess_debug(s, "TLS with %s: %s", peer, conn_tls_str(c, msg, sizeof(msg)));
    return 1;
}

/* The client asked for TLS (its SSLRequest is consumed): rebound answers as the server. */
static void start_client_tls(struct session *s)
{
    SSL_CTX *ctx = s->listener->conf->ssl_ctx;

    free(s->held);
    s->held = NULL;
    if (s->listener->conf->tls_mode == TLS_PASSTHROUGH || !ctx) {
        session_close(s, "the client asked for TLS, which was not offered");
        return;
    }
    if (s->client_tls || conn_tls_start(&s->cli, ctx, CONN_ACCEPT) < 0) {
        session_close(s, s->client_tls ? "a second SSLRequest" : "out of memory");
        return;
    }
    s->client_tls = true;
    s->state = SESS_TLS;
    observe_client_tls(&s->obs);
    ev_set_cb(&s->up.rd, client_tls_cb);
    session_watch(s, &s->up.rd, &s->cli);
}

/* The client's side of the TLS handshake: once done, the login response is read (over TLS). */
static void client_tls_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, up.rd);
    (void)loop;
    (void)revents;

    if (handshake_step(s, w, &s->cli, CONN_SIDE_CLIENT, "the client") <= 0)
        return;
    s->c_last = ev_now(s->w->loop);
    s->state = SESS_RELAY; /* the login, over TLS */
    ev_set_cb(w, session_tls_login_read_cb);
    session_resume_reading(s, &s->up);
}

/* The login response (held, whole) goes to the server: CLIENT_SSL and its sequence id as the
 * server link needs them; the difference to the client's numbering is shifted until the login
 * is over. Reading both ways resumes. */
static void send_login_response(struct session *s)
{
    struct pending *h = s->held;
    size_t n = h->len;
    bool tls = s->back.ssl != NULL;

    memcpy(s->w->scratch, h->data, n);
    free(h);
    s->held = NULL;
    if ((tls || s->client_tls) && login_response_retls((uint8_t *)s->w->scratch, n, tls) < 0) {
        session_close(s, "the client's login response is not one packet");
        return;
    }
    s->shift = (int8_t)((s->client_tls ? 2 : 1) - (tls ? 2 : 1));
    s->state = SESS_RELAY;
    ev_set_cb(&s->up.rd, session_up_read_cb);
    ev_set_cb(&s->down.rd, session_down_read_cb);
    session_resume_reading(s, &s->down);
    session_resume_reading(s, &s->up);
    session_pass_on(s, &s->up, &s->back, n, "server write error");
}

/* Rebound asks the server to switch to TLS (an SSLRequest with the client's flags) and
 * starts the handshake; the login response waits in s->held. */
static void start_server_tls(struct session *s)
{
    uint8_t req[36];
    size_t n = login_ssl_request(req, (const uint8_t *)s->held->data, s->held->len);
    SSL_CTX *ctx = s->server->conf->ssl_ctx;

    /* A fresh connection's socket takes these few bytes at once. */
    if (!ctx || !n || conn_write(&s->back, req, n) != (ssize_t)n ||
        conn_tls_start(&s->back, ctx, CONN_CONNECT) < 0) {
        session_close(s, "cannot ask the server for TLS");
        return;
    }
    ev_io_stop(s->w->loop, &s->up.rd); /* the client waits for the server's answer anyway */
    s->state = SESS_TLS;
    ev_set_cb(&s->down.rd, server_tls_cb);
    server_tls_cb(s->w->loop, &s->down.rd, 0);
}

/* The server's side of the TLS handshake, rebound as the client. A server whose TLS fails is
 * not counted against it (its health checks judge it), but the session cannot go on. */
static void server_tls_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, down.rd);
    (void)loop;
    (void)revents;

    if (handshake_step(s, w, &s->back, CONN_SIDE_SERVER, s->server->id) <= 0)
        return;
    s->s_last = ev_now(s->w->loop);
    send_login_response(s);
}

/* The client's first login packet is whole in s->held: an SSLRequest (rebound terminates),
 * or the login response, which a `required` listener refuses in clear, and which goes to the
 * server after rebound's own TLS handshake with it when the server link is to be TLS. */
static void tls_login(struct session *s)
{
    const struct conf_listen *lc = s->listener->conf;
    const struct conf_server *sc = s->server->conf;
    const uint8_t *p = (const uint8_t *)s->held->data;
    size_t n = s->held->len;
    char msg[200];

    if (login_is_ssl_request(p, n)) {
        start_client_tls(s);
        return;
    }
    if (lc->tls_mode == TLS_REQUIRED && !s->client_tls) {
        atomic_fetch_add_explicit(&conn_tally.plain_refused, 1, memory_order_relaxed);
        snprintf(msg, sizeof(msg),
                 "rebound: '%s' takes TLS connections only (bind ... ssl required); connect "
                 "with TLS",
                 lc->name);
        session_refuse_with(s, (uint8_t)(p[3] + 1), ERR_SECURE_TRANSPORT, "08004", msg);
        return;
    }
    s->login_seen = true;
    session_take_slot(s); /* the server works on the login until it answers */
    observe_client_bytes(&s->obs, p, n);
    ev_io_stop(s->w->loop, &s->up.rd);
    if (sc->ssl == SERVER_TLS_ALWAYS ||
        (sc->ssl == SERVER_TLS_AS_CLIENT && s->client_tls && s->offers_tls))
        start_server_tls(s);
    else
        send_login_response(s);
}

/* The client's side before its login response is through, when rebound takes part in TLS. */
void session_tls_login_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct session *s = container_of(w, struct session, up.rd);
    (void)loop;
    (void)revents;

    if (read_login_packet(s) == 1)
        tls_login(s);
}
