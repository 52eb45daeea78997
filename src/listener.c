/* listener.c - bound sockets, accept, server selection for new sessions, and the
 * failback pass that closes backup sessions when an active server returns. */
#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "healthlog.h"
#include "log.h"
#include "rebound.h"
#include "session.h"

#define ACCEPT_BURST   64
#define ACCEPT_RETRY_S 0.1 /* pause after running out of descriptors */

static struct listener *listeners;
static int nlisteners;
static ev_timer resume_timer; /* re-enables accept after EMFILE */
static bool paused;

int listeners_count(void)
{
    return nlisteners;
}

struct listener *listener_at(int i)
{
    return i >= 0 && i < nlisteners ? &listeners[i] : NULL;
}

static bool candidate(const struct server *srv, uint64_t exclude)
{
    return server_usable(srv) && !(exclude & (UINT64_C(1) << srv->index));
}

/* The usable server of the given role to use next, per the balance algorithm (backups
 * rotate only with allbackups, else the first one is used). */
static struct server *pick_role(struct listener *l, bool backup, enum balance how, uint64_t exclude)
{
    struct server *best = NULL;
    int n = 0, k;

    for (int i = 0; i < l->nservers; i++) {
        struct server *srv = &l->servers[i];
        if (srv->conf->backup != backup || !candidate(srv, exclude))
            continue;
        if (how == BALANCE_FIRST)
            return srv;
        if (!best || (how == BALANCE_LEASTCONN && srv->nsessions < best->nsessions))
            best = srv;
        n++;
    }
    if (how != BALANCE_ROUNDROBIN || n < 2)
        return best;
    k = (int)(l->rr++ % (unsigned)n);
    for (int i = 0; i < l->nservers; i++) {
        struct server *srv = &l->servers[i];
        if (srv->conf->backup == backup && candidate(srv, exclude) && k-- == 0)
            return srv;
    }
    return best;
}

struct server *listener_pick(struct listener *l, uint64_t exclude)
{
    struct server *srv = pick_role(l, false, l->conf->balance, exclude);

    if (srv)
        return srv;
    return pick_role(l, true, l->conf->allbackups ? BALANCE_ROUNDROBIN : BALANCE_FIRST, exclude);
}

void listener_count_usable(const struct listener *l, int *active, int *backup)
{
    *active = *backup = 0;
    for (int i = 0; i < l->nservers; i++) {
        if (!server_usable(&l->servers[i]))
            continue;
        if (l->servers[i].conf->backup)
            (*backup)++;
        else
            (*active)++;
    }
}

void listener_kill_backup_sessions(struct listener *l, const struct server *srv)
{
    uint64_t t0 = mono_us(), backups = 0;
    unsigned killed = 0, moved = 0;
    struct hl_event ev = {.kind = HL_KILL, .server = srv->id, .listener = l->conf->name};

    for (int i = 0; i < l->nservers; i++)
        if (l->servers[i].conf->backup)
            backups |= UINT64_C(1) << i;
    for (int i = 0; i < l->nservers; i++) {
        struct server *b = &l->servers[i];
        struct session *s;
        unsigned n = 0;

        if (!b->conf->backup)
            continue;
        /* Each turn removes the head: it is either closed or moved off the backups. */
        while ((s = TAILQ_FIRST(&b->sessions))) {
            if (!session_has_traffic(s) && session_redispatch(s, backups, "failback")) {
                moved++;
                continue;
            }
            session_close(s, "failback: active server came UP");
            n++;
        }
        b->sessions_killed += n;
        killed += n;
    }
    ev.pass_ms = (unsigned)((mono_us() - t0) / 1000);
    healthlog_emit(&ev, "Killed %u sessions on backup servers of %s after %s came UP, in %u ms.",
                   killed, l->conf->name, srv->id, ev.pass_ms);
    if (moved)
        healthlog_emit(&ev, "Redispatched %u connecting sessions of %s away from backup servers.",
                       moved, l->conf->name);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct listener *l = container_of(w, struct listener, accept_w);
    (void)loop;
    (void)revents;

    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage peer;
        socklen_t plen = sizeof(peer);
        int one = 1,
            fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn("%s: accept: %s; pausing accept for %.0f ms", l->conf->name,
                         strerror(errno), ACCEPT_RETRY_S * 1000);
                listeners_pause(true);
                ev_timer_set(&resume_timer, ACCEPT_RETRY_S, 0);
                ev_timer_start(rb_loop, &resume_timer);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                       errno != ECONNABORTED) {
                log_warn("%s: accept: %s", l->conf->name, strerror(errno));
            }
            return;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        l->sessions_total++;
        session_new(l, fd, (struct sockaddr *)&peer, plen);
        if (paused)
            return;
    }
}

static void resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    if (sessions_alive < sessions_max)
        listeners_pause(false);
}

void listeners_pause(bool pause)
{
    if (pause == paused)
        return;
    paused = pause;
    for (int i = 0; i < nlisteners; i++) {
        if (listeners[i].fd < 0)
            continue;
        if (pause)
            ev_io_stop(rb_loop, &listeners[i].accept_w);
        else
            ev_io_start(rb_loop, &listeners[i].accept_w);
    }
}

static int bind_listener(struct listener *l)
{
    const struct conf_addr *a = &l->conf->bind;
    int one = 1;

    l->fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        log_err("listen %s: socket: %s", l->conf->name, strerror(errno));
        return -1;
    }
    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l->fd, (const struct sockaddr *)&a->sa, a->len) < 0 || listen(l->fd, 1024) < 0) {
        log_err("listen %s: cannot bind %s: %s", l->conf->name, a->text, strerror(errno));
        return -1;
    }
    ev_io_init(&l->accept_w, accept_cb, l->fd, EV_READ);
    ev_set_priority(&l->accept_w, PRI_IO);
    ev_io_start(rb_loop, &l->accept_w);
    log_info("listen %s: accepting on %s", l->conf->name, a->text);
    return 0;
}

int listeners_start(const struct conf *conf)
{
    sessions_max = (unsigned)conf->maxconn;
    ev_init(&resume_timer, resume_cb);
    listeners = calloc((size_t)conf->nlistens, sizeof(*listeners));
    if (!listeners)
        return -1;
    for (int i = 0; i < conf->nlistens; i++) {
        struct listener *l = &listeners[i];
        l->conf = &conf->listens[i];
        l->fd = -1;
        l->servers = calloc((size_t)l->conf->nservers, sizeof(*l->servers));
        if (!l->servers)
            return -1;
        nlisteners = i + 1;
        l->nservers = l->conf->nservers;
        for (int j = 0; j < l->nservers; j++)
            server_init(&l->servers[j], l, &l->conf->servers[j], j);
        if (bind_listener(l) < 0)
            return -1;
    }
    for (int i = 0; i < nlisteners; i++)
        for (int j = 0; j < listeners[i].nservers; j++)
            check_start(&listeners[i].servers[j]);
    return 0;
}

void listeners_stop(void)
{
    ev_timer_stop(rb_loop, &resume_timer);
    /* Close every socket first: closing sessions below may try to resume accepting. */
    for (int i = 0; i < nlisteners; i++) {
        struct listener *l = &listeners[i];
        if (l->fd < 0)
            continue;
        ev_io_stop(rb_loop, &l->accept_w);
        close(l->fd);
        l->fd = -1;
    }
    for (int i = 0; i < nlisteners; i++) {
        struct listener *l = &listeners[i];
        for (int j = 0; j < l->nservers; j++)
            server_fini(&l->servers[j]);
        free(l->servers);
    }
    free(listeners);
    listeners = NULL;
    nlisteners = 0;
    paused = false;
}
