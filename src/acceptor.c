/* acceptor.c - the one accept path of every port: bursts, the owner's hold (maxconn, caps),
 * and a real backoff when rebound runs out of descriptors, so that a full fd table never
 * makes a port spin or flood the log; and the one way a peer's address is written.
 *
 * Threads: an acceptor and its watchers belong to the control thread (rb_loop), which runs
 * every port's accept. acceptor_peer_str() keeps no state: any thread may call it. */
#include "acceptor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rebound.h"

#define BACKOFF_FIRST_S 0.05
#define BACKOFF_MAX_S   1.0

static void io_cb(struct ev_loop *loop, ev_io *w, int revents);
static void backoff_cb(struct ev_loop *loop, ev_timer *w, int revents);

int acceptor_listen(const struct sockaddr *sa, socklen_t len, int backlog, char *err, size_t errlen)
{
    int one = 1, fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, sa, len) < 0 || listen(fd, backlog) < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void acceptor_peer_str(const struct sockaddr *sa, bool port, char *buf, size_t len)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    const uint8_t *a6 = in6->sin6_addr.s6_addr;
    char host[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        if (port) {
            snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
            return;
        }
    } else if (sa->sa_family == AF_INET6) {
        /* Without its port, an IPv4 client of an IPv6 socket is shown as the IPv4 address. */
        if (!port && !memcmp(a6, mapped, sizeof(mapped)))
            inet_ntop(AF_INET, a6 + sizeof(mapped), host, sizeof(host));
        else
            inet_ntop(AF_INET6, a6, host, sizeof(host));
        if (port) {
            snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
            return;
        }
    } else {
        snprintf(buf, len, "?");
        return;
    }
    snprintf(buf, len, "%s", host);
}

void acceptor_init(struct acceptor *a, int fd, int priority, int burst, const char *name,
                   bool (*on_accept)(struct acceptor *, int, const struct sockaddr *, socklen_t))
{
    memset(a, 0, sizeof(*a));
    a->fd = fd;
    a->burst = burst;
    a->name = name;
    a->delay = BACKOFF_FIRST_S;
    a->on_accept = on_accept;
    ev_io_init(&a->io, io_cb, fd, EV_READ);
    ev_set_priority(&a->io, priority);
    ev_init(&a->backoff, backoff_cb);
    ev_set_priority(&a->backoff, priority);
}

void acceptor_start(struct acceptor *a)
{
    if (a->fd >= 0 && !a->held && !ev_is_active(&a->backoff))
        ev_io_start(rb_loop, &a->io);
}

void acceptor_stop(struct acceptor *a)
{
    ev_io_stop(rb_loop, &a->io);
    ev_timer_stop(rb_loop, &a->backoff);
}

void acceptor_hold(struct acceptor *a, bool hold)
{
    a->held = hold;
    if (hold)
        ev_io_stop(rb_loop, &a->io);
    else
        acceptor_start(a);
}

/* Out of descriptors or memory: stop, and try again after a growing delay. */
static void back_off(struct acceptor *a, int err)
{
    unsigned quiet;

    ev_io_stop(rb_loop, &a->io);
    ev_timer_set(&a->backoff, a->delay, 0);
    ev_timer_start(rb_loop, &a->backoff);
    if (log_rate_allow(&a->rate, &quiet))
        log_warn("%s: accept: %s; pausing accept for %.0f ms (%u similar not logged)", a->name,
                 strerror(err), a->delay * 1000, quiet);
    a->delay = a->delay * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : a->delay * 2;
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct acceptor *a = container_of(w, struct acceptor, io);
    (void)loop;
    (void)revents;

    for (int i = 0; i < a->burst; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(a->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                back_off(a, errno);
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                     errno != ECONNABORTED && errno != EPROTO)
                log_warn("%s: accept: %s", a->name, strerror(errno));
            return;
        }
        a->delay = BACKOFF_FIRST_S;
        if (!a->on_accept(a, fd, (struct sockaddr *)&peer, len))
            return;
    }
}

static void backoff_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct acceptor *a = container_of(w, struct acceptor, backoff);
    (void)loop;
    (void)revents;

    acceptor_start(a);
}
