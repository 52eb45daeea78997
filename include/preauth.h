/* preauth.h - connections that have proven nothing yet, on the admin and stats ports (admin:
 * not logged in; stats: request head not complete), so that no crowd of silent or slow
 * clients can lock a real operator out.
 *
 * Each port keeps its pre-auth connections in one list, oldest first, and applies three rules:
 *  - a deadline counted from accept, which bytes trickling in do not extend;
 *  - at most max_per_source from one address: a newcomer from an address at its cap makes
 *    the oldest from that address go;
 *  - at most max on the port: a newcomer on a full port makes the oldest of all go.
 * A newcomer is never refused, so a real operator always gets in. The owner of a connection
 * embeds a struct preauth in it, joins at accept, leaves once the client has proven itself
 * (or on close), and closes the connection when asked (the close callback).
 *
 * Everything here runs on rb_loop (the control thread). */
#ifndef PREAUTH_H
#define PREAUTH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <ev.h>

#include "log.h"

/* Why a pre-auth connection is being closed. */
enum preauth_reason {
    PREAUTH_TIMEOUT,    /* its deadline passed */
    PREAUTH_SOURCE_CAP, /* a newer one came from the same address, which was at its cap */
    PREAUTH_PORT_CAP,   /* a newer one came while the port was at its cap */
};

struct preauth;

/* The pre-auth connections of one port and its rules. */
struct preauth_port {
    const char *name;           /* "admin", "stats": for the log */
    const char *proof;          /* what the clients have not done yet: "logged in" */
    unsigned max;               /* pre-auth connections at once */
    unsigned max_per_source;    /* ... from one address */
    double timeout;             /* seconds from accept */
    TAILQ_HEAD(, preauth) list; /* oldest first */
    unsigned n;
    ev_timer timer; /* the deadline of the oldest */
    uint64_t timeouts, evictions;
    struct log_rate timeout_rate, evict_rate;
};

/* One pre-auth connection, embedded in its owner's connection. */
struct preauth {
    TAILQ_ENTRY(preauth) link;
    struct preauth_port *port; /* NULL when not (or no longer) pre-auth */
    uint8_t addr[16];          /* the source address; IPv4 as ::ffff:a.b.c.d */
    double since;              /* accepted at, seconds on the monotonic clock */
    /* The owner closes the connection, through its one teardown (which calls
     * preauth_leave()); it may tell the client why first. */
    void (*close)(struct preauth *p, enum preauth_reason why);
};

/* Set up port PP with its rules; its timer runs at PRIORITY. */
void preauth_port_init(struct preauth_port *pp, const char *name, const char *proof, unsigned max,
                       unsigned max_per_source, double timeout, int priority);
/* Stop PP's timer (its connections must be closed by their owners). */
void preauth_port_stop(struct preauth_port *pp);

/* A connection from PEER was accepted: P joins PP, after making room for it if needed (which
 * closes an older connection through its close callback). */
void preauth_join(struct preauth_port *pp, struct preauth *p, const struct sockaddr *peer,
                  void (*close)(struct preauth *, enum preauth_reason));
/* P has proven itself, or is being closed: it leaves its port. Harmless if it is not in one. */
void preauth_leave(struct preauth *p);

/* Is P still pre-auth? */
bool preauth_pending(const struct preauth *p);

#endif
