/* stats_http.c - the HTTP stats port: accept, read one request, answer, close.
 *
 * A stats connection lives through three states (enum sc_state) and always ends in
 * sc_close(). Its watchers run at EV_MINPRI, below client traffic (PRI_IO), so a scrape
 * never delays a relayed byte in the same loop iteration. Defences: the request head
 * must fit in HTTP_HEAD_MAX bytes; until it is complete the connection is pre-auth
 * (preauth.c): a deadline from accept that trickled bytes do not extend, a cap per source
 * address and one for the port, at which the oldest such connection makes room for the
 * newest, so slow or silent clients never lock a scraper out. Then a second deadline bounds
 * the answer; at most STATS_MAX_CONNS connections exist at once, the oldest answered one
 * making room for a newcomer at the cap; responses are written without blocking, the rest
 * kept for EV_WRITE.
 *
 * Ownership: conns (the list) owns every struct stats_conn; each conn owns its socket (a
 * struct conn, conn.h), its watchers and its output buffer; the pre-auth list only links them.
 */
#include "stats_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "acceptor.h"
#include "conn.h"
#include "http_parse.h"
#include "log.h"
#include "preauth.h"
#include "rebound.h"
#include "sbuf.h"
#include "stats_pages.h"

#define PRI_STATS    EV_MINPRI /* below PRI_IO: the data path goes first */
#define ACCEPT_BURST 8

/* Where a stats connection is; each state names what its io watcher waits for (the event
 * the conn's last operation named: for a plain socket, EV_READ to read, EV_WRITE to write). */
enum sc_state {
    SC_READING,  /* reading: collecting the request head in IN; pre-auth */
    SC_WRITING,  /* writing: the rest of OUT waits for room in the socket */
    SC_DRAINING, /* reading: answered and shut for writing; discarding until EOF, so
                  * closing with unread bytes does not reset the answer away */
};

/* One client of the stats port. */
struct stats_conn {
    struct conn conn;
    enum sc_state state;
    ev_io io;
    ev_timer deadline; /* STATS_TIMEOUT_S from the request, then STATS_LINGER_S to drain */
    struct preauth pa; /* while SC_READING: the request deadline and caps */
    char in[HTTP_HEAD_MAX];
    size_t inlen;
    struct sbuf out;              /* the whole response */
    size_t sent;                  /* bytes of OUT already written */
    TAILQ_ENTRY(stats_conn) link; /* in conns, oldest first */
};

/* A page the server knows: its path, content type and renderer. */
struct page {
    const char *path;
    const char *type;
    void (*render)(struct sbuf *b);
};

static const struct page pages[] = {
    {"/", STATS_CT_HTML, stats_render_html},
    {"/metrics", STATS_CT_METRICS, stats_render_metrics},
    {"/stats.csv", STATS_CT_CSV, stats_render_csv},
};

static int listen_fd = -1;
static struct acceptor acc;
static char listen_text[sizeof(((struct conf_addr *)0)->text)]; /* the address it is bound to */

/* What a start or a reload brings, prepared beside the running port, then switched to or
 * dropped as a whole. */
static struct {
    bool prepared;
    bool enabled;                                     /* the configuration has a stats port */
    int fd;                                           /* a socket on a new address; -1: none */
    char text[sizeof(((struct conf_addr *)0)->text)]; /* that address */
} staged = {.fd = -1};

static TAILQ_HEAD(, stats_conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static int nconns;
static struct log_rate full_rate;   /* answered connections closed at STATS_MAX_CONNS */
static struct preauth_port pending; /* connections whose request head is not complete */

static void sc_io_cb(struct ev_loop *loop, ev_io *w, int revents);

/* The one teardown of a stats connection. */
static void sc_close(struct stats_conn *c)
{
    ev_io_stop(rb_loop, &c->io);
    ev_timer_stop(rb_loop, &c->deadline);
    preauth_leave(&c->pa);
    conn_close(&c->conn);
    sbuf_free(&c->out);
    TAILQ_REMOVE(&conns, c, link);
    free(c);
    nconns--;
}

/* Point the io watcher at EVENTS, and start it. */
static void sc_watch(struct stats_conn *c, int events)
{
    if (ev_is_active(&c->io) && (c->io.events & (EV_READ | EV_WRITE)) == events)
        return;
    ev_io_stop(rb_loop, &c->io);
    ev_io_set(&c->io, c->conn.fd, events);
    ev_io_start(rb_loop, &c->io);
}

/* All written: half-close and drain the client until it closes too (bounded). */
static void sc_drain(struct stats_conn *c)
{
    conn_shutdown_write(&c->conn);
    sbuf_free(&c->out);
    c->state = SC_DRAINING;
    sc_watch(c, EV_READ);
    ev_timer_stop(rb_loop, &c->deadline);
    ev_timer_set(&c->deadline, STATS_LINGER_S, 0);
    ev_timer_start(rb_loop, &c->deadline);
}

/* Write as much of the response as the socket takes; keep the rest for EV_WRITE. */
static void sc_flush(struct stats_conn *c)
{
    while (c->sent < c->out.len) {
        ssize_t n = conn_write(&c->conn, c->out.data + c->sent, c->out.len - c->sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && conn_again()) {
            c->state = SC_WRITING;
            sc_watch(c, c->conn.want);
            return;
        }
        if (n <= 0) {
            sc_close(c);
            return;
        }
        c->sent += (size_t)n;
    }
    sc_drain(c);
}

/* Build the response: status line, headers and (unless HEAD_ONLY) BODY. */
static void sc_respond(struct stats_conn *c, int status, const char *type, const struct sbuf *body,
                       bool head_only)
{
    struct sbuf *o = &c->out;

    sbuf_printf(o, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
    sbuf_printf(o, "Content-Type: %s\r\nContent-Length: %zu\r\n", type, body->len);
    if (status == 405)
        sbuf_puts(o, "Allow: GET, HEAD\r\n");
    sbuf_puts(o, "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                 "Connection: close\r\n\r\n");
    if (!head_only && body->len)
        sbuf_add(o, body->data, body->len);
    if (o->failed) {
        log_warn("stats: out of memory building a %d response", status);
        sc_close(c);
        return;
    }
    sc_flush(c);
}

/* Answer STATUS with a one-line text body naming it. */
static void sc_error(struct stats_conn *c, int status, bool head_only)
{
    struct sbuf body = {0};

    sbuf_printf(&body, "%d %s\n", status, http_reason(status));
    sc_respond(c, status, "text/plain; charset=utf-8", &body, head_only);
    sbuf_free(&body);
}

/* Route a parsed request: unknown path 404, a method other than GET and HEAD 405. */
static void sc_dispatch(struct stats_conn *c, const struct http_request *req)
{
    bool head = !strcmp(req->method, "HEAD");
    const struct page *pg = NULL;
    struct sbuf body = {0};

    for (size_t i = 0; i < ARRAY_SIZE(pages); i++)
        if (strlen(pages[i].path) == req->path_len &&
            !memcmp(pages[i].path, req->target, req->path_len))
            pg = &pages[i];
    log_debug("stats: %s %s", req->method, req->target);
    if (!pg) {
        sc_error(c, 404, head);
        return;
    }
    if (!head && strcmp(req->method, "GET")) {
        sc_error(c, 405, false);
        return;
    }
    pg->render(&body);
    if (body.failed)
        sc_error(c, 500, head);
    else
        sc_respond(c, 200, pg->type, &body, head);
    sbuf_free(&body);
}

/* Read what the client sent and answer once the head is complete or wrong. */
static void sc_read(struct stats_conn *c)
{
    struct http_request req;
    ssize_t n = conn_read(&c->conn, c->in + c->inlen, sizeof(c->in) - c->inlen);
    int rc;

    if (n < 0 && conn_again()) {
        sc_watch(c, c->conn.want);
        return;
    }
    if (n <= 0) {
        sc_close(c); /* gone, or EOF before a complete head: nobody to answer */
        return;
    }
    c->inlen += (size_t)n;
    rc = http_parse_request(c->in, c->inlen, &req);
    if (rc == HTTP_PARSE_MORE)
        return;
    ev_io_stop(rb_loop, &c->io); /* one request per connection: stop reading */
    preauth_leave(&c->pa);
    ev_timer_start(rb_loop, &c->deadline); /* now the answer has STATS_TIMEOUT_S */
    if (rc == HTTP_PARSE_OK)
        sc_dispatch(c, &req);
    else
        sc_error(c, rc, false);
}

/* Drop whatever the client still sends after the answer, until it closes. */
static void sc_discard(struct stats_conn *c)
{
    ssize_t n = conn_read(&c->conn, c->in, sizeof(c->in));

    if (n < 0 && conn_again()) {
        sc_watch(c, c->conn.want);
        return;
    }
    if (n <= 0)
        sc_close(c);
}

static void sc_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct stats_conn *c = container_of(w, struct stats_conn, io);
    (void)loop;
    (void)revents;

    switch (c->state) {
    case SC_READING:
        sc_read(c);
        break;
    case SC_WRITING:
        sc_flush(c);
        break;
    case SC_DRAINING:
        sc_discard(c);
        break;
    }
}

/* Too slow taking the answer (or done draining): close, whatever the state. */
static void sc_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct stats_conn *c = container_of(w, struct stats_conn, deadline);
    (void)loop;
    (void)revents;

    if (c->state != SC_DRAINING)
        log_debug("stats: closing a connection that did not take its answer within %.0f s",
                  STATS_TIMEOUT_S);
    sc_close(c);
}

/* No complete request in time, or room needed for a newer client: say so if the socket
 * takes it at once (408 or 503), and close. */
static void sc_preauth_close(struct preauth *p, enum preauth_reason why)
{
    static const char timeout[] = "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
    static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                               "Retry-After: 1\r\nConnection: close\r\n\r\n";
    struct stats_conn *c = container_of(p, struct stats_conn, pa);
    const char *r = why == PREAUTH_TIMEOUT ? timeout : busy;
    size_t n = why == PREAUTH_TIMEOUT ? sizeof(timeout) - 1 : sizeof(busy) - 1;

    if (conn_write(&c->conn, r, n) < 0)
        log_debug("stats: cannot answer a connection being closed: %s", strerror(errno));
    sc_close(c);
}

/* Take over an accepted socket from PEER: pre-auth until its request head is complete. */
static void sc_new(int fd, const struct sockaddr *peer)
{
    struct stats_conn *c = calloc(1, sizeof(*c));

    if (!c) {
        close(fd);
        return;
    }
    conn_init(&c->conn, fd);
    c->state = SC_READING;
    ev_io_init(&c->io, sc_io_cb, fd, EV_READ);
    ev_set_priority(&c->io, PRI_STATS);
    ev_timer_init(&c->deadline, sc_deadline_cb, STATS_TIMEOUT_S, 0);
    ev_set_priority(&c->deadline, PRI_STATS);
    TAILQ_INSERT_TAIL(&conns, c, link);
    nconns++;
    preauth_join(&pending, &c->pa, peer, sc_preauth_close);
    ev_io_start(rb_loop, &c->io);
}

/* At STATS_MAX_CONNS: the oldest connection that has had its request answered (it is
 * taking the answer slowly, or lingering) makes room for a newcomer. */
static void make_room(void)
{
    struct stats_conn *c;
    unsigned quiet;

    TAILQ_FOREACH(c, &conns, link)
    {
        if (c->state == SC_READING)
            continue;
        if (log_rate_allow(&full_rate, &quiet))
            log_warn("stats: closed an answered connection still open, to make room for a newer "
                     "one (%d connections at most); %u similar not logged",
                     STATS_MAX_CONNS, quiet);
        sc_close(c);
        return;
    }
}

/* A scraper connected: never refused. Connections still sending a request make room for
 * newcomers (preauth.c), and answered ones do at STATS_MAX_CONNS. */
static bool on_accept(struct acceptor *a, int fd, const struct sockaddr *peer, socklen_t len)
{
    struct sockaddr_storage ss = {0};
    (void)a;

    memcpy(&ss, peer, len < sizeof(ss) ? len : sizeof(ss));
    if (nconns >= STATS_MAX_CONNS && pending.n < pending.max) /* else preauth_join() makes it */
        make_room();
    if (nconns >= STATS_MAX_CONNS) { /* all pending: cannot be, STATS_MAX_PENDING is lower */
        close(fd);
        return true;
    }
    sc_new(fd, (const struct sockaddr *)&ss);
    return true;
}

int stats_http_reconf_prepare(const struct conf *conf, char *err, size_t errlen)
{
    const struct conf_addr *a = &conf->stats;
    char msg[256];

    stats_http_reconf_cancel();
    staged.prepared = true;
    staged.enabled = conf->has_stats;
    snprintf(staged.text, sizeof(staged.text), "%s", a->text);
    if (!conf->has_stats || (listen_fd >= 0 && !strcmp(listen_text, a->text)))
        return 0; /* nothing to bind: off, or the running socket carries over */
    staged.fd =
        acceptor_listen((const struct sockaddr *)&a->sa, a->len, STATS_BACKLOG, msg, sizeof(msg));
    if (staged.fd < 0) {
        stats_http_reconf_cancel();
        return conf_fail(conf, conf->stats_line, err, errlen, "stats: cannot bind %s: %s", a->text,
                         msg);
    }
    return 0;
}

void stats_http_reconf_cancel(void)
{
    if (staged.fd >= 0)
        close(staged.fd);
    staged.fd = -1;
    staged.prepared = false;
}

void stats_http_reconf_commit(void)
{
    if (!staged.prepared)
        return;
    staged.prepared = false;
    if (listen_fd >= 0 && (staged.fd >= 0 || !staged.enabled)) {
        acceptor_stop(&acc);
        close(listen_fd);
        listen_fd = -1;
        log_info("stats: no longer serving HTTP on %s", listen_text);
    }
    if (staged.fd < 0)
        return;
    listen_fd = staged.fd;
    staged.fd = -1;
    snprintf(listen_text, sizeof(listen_text), "%s", staged.text);
    acceptor_init(&acc, listen_fd, PRI_STATS, ACCEPT_BURST, "stats", on_accept);
    acceptor_start(&acc);
    log_info("stats: serving HTTP on %s", listen_text);
}

int stats_http_start(const struct conf *conf)
{
    char err[1024];

    preauth_port_init(&pending, "stats", "sent a complete request", STATS_MAX_PENDING,
                      STATS_PENDING_PER_SOURCE, STATS_REQUEST_TIMEOUT_S, PRI_STATS);
    if (stats_http_reconf_prepare(conf, err, sizeof(err)) < 0) {
        log_err("%s", err);
        return -1;
    }
    stats_http_reconf_commit();
    return 0;
}

void stats_http_stop(void)
{
    struct stats_conn *c;

    stats_http_reconf_cancel();
    if (listen_fd >= 0) {
        acceptor_stop(&acc);
        close(listen_fd);
        listen_fd = -1;
    }
    /* Connections of a port a reload moved or switched off may still be open. */
    while ((c = TAILQ_FIRST(&conns)))
        sc_close(c);
    preauth_port_stop(&pending);
}

uint64_t stats_http_request_timeouts(void)
{
    return pending.timeouts;
}

uint64_t stats_http_evictions(void)
{
    return pending.evictions;
}
