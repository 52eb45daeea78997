/* acceptor.h - the one accept path of every port (router listens, admin, stats). */
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
    int burst;          /* accepts per wakeup */
    double delay;       /* the next backoff, seconds */
    bool held;          /* the owner holds it (maxconn, a connection cap) */
    const char *name;   /* for the log: "rw", "admin", "stats" */
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
