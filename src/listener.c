/* listener.c - bound sockets, accept and maxconn, and the set of listeners a reload swaps.
 *
 * Threads: everything here runs on the control thread, which accepts every client and hands
 * it to a worker (session_hand_over). The one exception is listeners_sessions_ended(),
 * called by the workers as sessions end: sessions_alive is an atomic, and the control thread
 * learns that there is room again through one preallocated message (room_mail). Swapping the
 * listener set on reload, and freeing what a reload retired, happen with the workers parked
 * (workers_isolate), since their sessions point into both. */
#include "listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "rebound.h"
#include "session.h"
#include "worker.h"

#define ACCEPT_BURST 64

static struct listener **listeners; /* the live set, in config order */
static int nlisteners;
static TAILQ_HEAD(, listener) retired; /* replaced by a reload, still holding sessions */
static struct conf **confs;            /* the live configuration and any still referenced */
static int nconfs;
static const struct conf *live_conf;
static ev_timer reap_timer; /* frees retired listeners and configurations */
static _Atomic bool paused; /* maxconn or the descriptor room reached (read by workers) */

_Atomic unsigned sessions_alive;
_Atomic unsigned sessions_max = 10000;
_Atomic unsigned server_sides_closing;
static _Atomic unsigned fd_room = UINT_MAX;

/* No room for one more session: maxconn sessions alive, or their descriptors plus the killed
 * sessions' server sides still waiting for the close batches fill the descriptor room. (Every
 * access sequentially consistent: a worker that frees room and the control thread that pauses
 * cannot both miss the other; see room_if_paused.) */
static bool full(void)
{
    unsigned alive = atomic_load(&sessions_alive);

    return alive >= atomic_load(&sessions_max) ||
           2ull * alive + atomic_load(&server_sides_closing) + 2 > atomic_load(&fd_room);
}

int listeners_count(void)
{
    return nlisteners;
}

struct listener *listener_at(int i)
{
    return i >= 0 && i < nlisteners ? listeners[i] : NULL;
}

struct listener *listener_at_all(int i)
{
    struct listener *l;

    if (i < nlisteners)
        return listener_at(i);
    i -= nlisteners;
    TAILQ_FOREACH(l, &retired, retired_link)
    if (i-- == 0)
        return l;
    return NULL;
}

/* A client connected: count it against maxconn (holding every acceptor once full) and hand
 * it to a worker. */
static bool on_accept(struct acceptor *a, int fd, const struct sockaddr *peer, socklen_t len)
{
    struct listener *l = container_of(a, struct listener, acc);
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    l->sessions_total++;
    atomic_fetch_add(&sessions_alive, 1);
    if (full())
        listeners_pause(true);
    session_hand_over(l, fd, peer, len);
    return !atomic_load(&paused);
}

/* "Room under maxconn again", to the control thread: one preallocated message, posted at most
 * once at a time (room_posted), so accepting never stays paused for want of memory. */
static _Atomic bool room_posted;

static void room_run(struct mail *m)
{
    (void)m;
    atomic_store_explicit(&room_posted, false, memory_order_relaxed);
    listeners_room();
}

static void room_drop(struct mail *m)
{
    (void)m;
    atomic_store_explicit(&room_posted, false, memory_order_relaxed);
}

static struct mail room_mail = {.run = room_run, .drop = room_drop};

/* Room was freed: if accepting is paused and there is room now, tell the control thread. */
static void room_if_paused(void)
{
    if (atomic_load(&paused) && !full() && !atomic_exchange(&room_posted, true))
        control_post(&room_mail);
}

void listeners_sessions_ended(unsigned n)
{
    if (n == 0)
        return;
    atomic_fetch_sub(&sessions_alive, n);
    room_if_paused();
}

void listeners_closing(int n)
{
    if (n == 0)
        return;
    atomic_fetch_add(&server_sides_closing, (unsigned)n); /* wraps back for n < 0 */
    if (n < 0)
        room_if_paused();
}

void listeners_fd_room(unsigned room)
{
    atomic_store(&fd_room, room);
}

void listeners_room(void)
{
    if (!full())
        listeners_pause(false);
}

void listeners_pause(bool pause)
{
    if (pause == atomic_load(&paused))
        return;
    atomic_store(&paused, pause);
    for (int i = 0; i < nlisteners; i++) {
        if (listeners[i]->fd >= 0)
            acceptor_hold(&listeners[i]->acc, pause);
    }
    /* Room freed by a worker between full() and the store above: it saw no pause. */
    if (pause)
        room_if_paused();
}

/* Open, bind and listen on L's address (acceptor_listen, as every port does); the accept
 * watcher is started later. The backlog is maxconn, as HAProxy's (the kernel caps it at
 * net.core.somaxconn): after a failback every killed client reconnects within a fraction of
 * a second, and a connection the full accept queue drops waits a second or more for the
 * retransmission. */
static int bind_listener(struct listener *l, int maxconn)
{
    const struct conf_addr *a = &l->conf->bind;
    char err[128];

    l->fd = acceptor_listen((const struct sockaddr *)&a->sa, a->len, maxconn, err, sizeof(err));
    if (l->fd < 0) {
        log_err("listen %s: cannot bind %s: %s", l->conf->name, a->text, err);
        return -1;
    }
    log_info("listen %s: accepting on %s", l->conf->name, a->text);
    return 0;
}

static void accept_start(struct listener *l)
{
    acceptor_init(&l->acc, l->fd, PRI_IO, ACCEPT_BURST, l->conf->name, on_accept);
    acceptor_hold(&l->acc, paused);
}

static void listener_free(struct listener *l);

/* A listener for section C of configuration OWNER, with its servers, no socket yet. */
static struct listener *listener_new(const struct conf *owner, const struct conf_listen *c)
{
    struct listener *l = calloc(1, sizeof(*l));

    if (!l)
        return NULL;
    l->owner = owner;
    l->conf = c;
    l->fd = -1;
    l->nservers = c->nservers;
    if (!(l->servers = calloc((size_t)c->nservers, sizeof(*l->servers)))) {
        free(l);
        return NULL;
    }
    for (int j = 0; j < l->nservers; j++) {
        if (server_init(&l->servers[j], l, &c->servers[j], j) < 0) {
            listener_free(l);
            return NULL;
        }
    }
    return l;
}

/* The one teardown of a listener: its socket, its servers (closing their sessions). */
static void listener_free(struct listener *l)
{
    if (l->fd >= 0) {
        acceptor_stop(&l->acc);
        close(l->fd);
    }
    for (int j = 0; j < l->nservers; j++)
        server_fini(&l->servers[j]);
    free(l->servers);
    free(l);
}

static struct listener *find_listener(const char *name)
{
    for (int i = 0; i < nlisteners; i++)
        if (!strcmp(listeners[i]->conf->name, name))
            return listeners[i];
    return NULL;
}

static struct server *find_server(struct listener *l, const struct conf_server *c)
{
    for (int j = 0; l && j < l->nservers; j++) {
        struct server *srv = &l->servers[j];
        if (!srv->retired && !strcmp(srv->conf->name, c->name) &&
            !strcmp(srv->conf->addr.text, c->addr.text))
            return srv;
    }
    return NULL;
}

/* Retired listeners hold the sessions of removed servers (and listens) until those end;
 * the configurations they point into are kept as long as one of them does. */
static bool listener_empty(const struct listener *l)
{
    for (int j = 0; j < l->nservers; j++)
        if (server_nsessions(&l->servers[j]) > 0)
            return false;
    return true;
}

static void reap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct listener *l, *next;
    bool any = false;
    (void)loop;
    (void)revents;

    TAILQ_FOREACH(l, &retired, retired_link)
    any = any || listener_empty(l);
    if (!any)
        return;
    /* No worker may be reaching into what is freed: park them, and let what they sent
     * about these servers be handled first (workers_isolate drains it). */
    workers_isolate();
    for (l = TAILQ_FIRST(&retired); l; l = next) {
        next = TAILQ_NEXT(l, retired_link);
        if (!listener_empty(l))
            continue;
        TAILQ_REMOVE(&retired, l, retired_link);
        listener_free(l);
    }
    workers_release();
    for (int i = 0; i < nconfs; i++) {
        bool used = confs[i] == live_conf;
        TAILQ_FOREACH(l, &retired, retired_link)
        used = used || l->owner == confs[i];
        if (used)
            continue;
        conf_free(confs[i]);
        confs[i--] = confs[--nconfs];
    }
    if (TAILQ_EMPTY(&retired))
        ev_timer_stop(rb_loop, w);
}

/* Build the listeners of CONF, reusing from the running set (OLD) what did not change:
 * bound sockets of unchanged addresses, and servers (state, counters, sessions) of the
 * same name and address. Nothing running is touched before every new socket is bound,
 * so a failure leaves the old set as it was. */
static struct listener **build(const struct conf *conf)
{
    struct listener **set = calloc((size_t)conf->nlistens, sizeof(*set));
    int i;

    if (!set)
        return NULL;
    for (i = 0; i < conf->nlistens; i++) {
        struct listener *l = listener_new(conf, &conf->listens[i]);
        struct listener *old = find_listener(conf->listens[i].name);
        if (!(set[i] = l))
            goto bad;
        if (old && old->fd >= 0 && !strcmp(old->conf->bind.text, l->conf->bind.text))
            continue; /* takes over the socket at commit */
        if (bind_listener(l, conf->maxconn) < 0)
            goto bad;
    }
    return set;
bad:
    for (int k = 0; k < conf->nlistens; k++)
        if (set[k])
            listener_free(set[k]);
    free(set);
    return NULL;
}

/* Switch from the running listeners to SET: sockets and servers that carry over move,
 * the rest of the old set retires. */
static void commit(struct listener **set, int n)
{
    bool first = nlisteners == 0 && TAILQ_EMPTY(&retired); /* the start, not a reload */

    for (int i = 0; i < n; i++) {
        struct listener *l = set[i], *old = find_listener(l->conf->name);
        if (old && l->fd < 0) {
            acceptor_stop(&old->acc);
            l->fd = old->fd;
            old->fd = -1;
        }
        if (old) {
            atomic_store(&l->rr, atomic_load(&old->rr));
            l->sessions_total = old->sessions_total;
        }
        for (int j = 0; j < l->nservers; j++) {
            struct server *from = find_server(old, l->servers[j].conf);
            if (from)
                server_take_over(&l->servers[j], from);
            else
                l->servers[j].announce = true;
        }
    }
    for (int i = 0; i < nlisteners; i++) {
        struct listener *old = listeners[i];
        if (old->fd >= 0) {
            log_info("listen %s: no longer accepting on %s", old->conf->name, old->conf->bind.text);
            acceptor_stop(&old->acc);
            close(old->fd);
            old->fd = -1;
        }
        for (int j = 0; j < old->nservers; j++)
            server_retire(&old->servers[j]);
        TAILQ_INSERT_TAIL(&retired, old, retired_link);
    }
    free(listeners);
    listeners = set;
    nlisteners = n;
    for (int i = 0; i < n; i++) {
        accept_start(set[i]);
        for (int j = 0; j < set[i]->nservers; j++) {
            struct server *srv = &set[i]->servers[j];
            if (srv->announce) /* new in this configuration */
                server_announce(srv, !first);
            srv->announce = false;
            server_check_start(srv);
        }
    }
    if (!ev_is_active(&reap_timer))
        ev_timer_start(rb_loop, &reap_timer);
}

static int keep_conf(struct conf *conf)
{
    struct conf **grown = realloc(confs, (size_t)(nconfs + 1) * sizeof(*confs));

    if (!grown)
        return -1;
    confs = grown;
    confs[nconfs++] = conf;
    return 0;
}

int listeners_start(struct conf *conf)
{
    struct listener **set;

    sessions_max = (unsigned)conf->maxconn;
    listeners_fd_room(conf->fd_room ? conf->fd_room : UINT_MAX);
    ev_init(&reap_timer, reap_cb);
    ev_timer_set(&reap_timer, 1.0, 1.0);
    TAILQ_INIT(&retired);
    if (!(set = build(conf)) || keep_conf(conf) < 0) {
        free(set);
        return -1;
    }
    live_conf = conf;
    commit(set, conf->nlistens);
    return 0;
}

int listeners_reload(struct conf *conf)
{
    struct listener **set = build(conf);

    if (!set || keep_conf(conf) < 0) {
        free(set);
        return -1;
    }
    sessions_max = (unsigned)conf->maxconn;
    listeners_fd_room(conf->fd_room ? conf->fd_room : UINT_MAX);
    live_conf = conf;
    /* Sessions move to the new servers: the workers wait meanwhile. */
    workers_isolate();
    commit(set, conf->nlistens);
    workers_release();
    listeners_room();
    return 0;
}

void listeners_stop(void)
{
    struct listener *l;

    ev_timer_stop(rb_loop, &reap_timer);
    /* Close every socket first: closing sessions below may try to resume accepting. */
    for (int i = 0; i < nlisteners; i++) {
        l = listeners[i];
        if (l->fd < 0)
            continue;
        acceptor_stop(&l->acc);
        close(l->fd);
        l->fd = -1;
    }
    /* Forget the set before freeing it: closing sessions may resume accepting. */
    struct listener **set = listeners;
    int n = nlisteners;
    listeners = NULL;
    nlisteners = 0;
    for (int i = 0; i < n; i++)
        listener_free(set[i]);
    free(set);
    while ((l = TAILQ_FIRST(&retired))) {
        TAILQ_REMOVE(&retired, l, retired_link);
        listener_free(l);
    }
    while (nconfs > 0)
        conf_free(confs[--nconfs]);
    free(confs);
    confs = NULL;
    live_conf = NULL;
    atomic_store(&paused, false);
}
