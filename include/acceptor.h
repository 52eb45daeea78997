/* acceptor.h - the one accept path of every port (router listens, admin, stats), and the one
 * way a peer's address is written in the log and the admin views. */
#ifndef ACCEPTOR_H
#define ACCEPTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <ev.h>

#include "log.h"

/* A listening socket being accepted from: a burst of accepts per wakeup; when the process
 * runs out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the watcher stops and a
 * backoff timer (doubling up to a second, back to the start after an accept) brings it back,
 * with one log line a second at most. Embedded in its owner (container_of). */
struct acceptor {
    ev_io io;
    ev_timer backoff;
    int fd;
    int burst;        /* accepts per wakeup */
    double delay;     /* the next backoff, seconds */
    bool held;        /* the owner holds it (maxconn, a connection cap) */
    const char *name; /* for the log: "rw", "admin", "stats" */
    struct log_rate rate;
    /* Take over accepted socket FD (non-blocking, close-on-exec) from PEER. Returns false
     * when the owner wants no more in this burst (it held the acceptor). */
    bool (*on_accept)(struct acceptor *a, int fd, const struct sockaddr *peer, socklen_t len);
};

/* A new non-blocking, close-on-exec listening socket on address SA (SO_REUSEADDR) with an
 * accept queue of BACKLOG, for an acceptor to watch. The socket, or -1 with the reason
 * (strerror) in err. */
int acceptor_listen(const struct sockaddr *sa, socklen_t len, int backlog, char *err,
                    size_t errlen);
/* SA (an IPv4 or IPv6 address) as text into BUF: "10.0.0.5:51234", "[::1]:51234", or with
 * !PORT the address alone, an IPv4-mapped IPv6 one as IPv4 ("10.0.0.5"). "?" for any other
 * family. Any thread. */
void acceptor_peer_str(const struct sockaddr *sa, bool port, char *buf, size_t len);
/* Set A up on listening socket FD; nothing is watched until acceptor_start(). */
void acceptor_init(struct acceptor *a, int fd, int priority, int burst, const char *name,
                   bool (*on_accept)(struct acceptor *, int, const struct sockaddr *, socklen_t));
/* Watch for connections (unless held or backing off). */
void acceptor_start(struct acceptor *a);
/* Stop watching and forget any backoff (before the socket is closed or handed over). */
void acceptor_stop(struct acceptor *a);
/* The owner stops (HOLD) or lets go (!HOLD) accepting, e.g. at maxconn. */
void acceptor_hold(struct acceptor *a, bool hold);

#endif
