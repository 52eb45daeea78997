/* preauth.c - deadlines, per-source caps and eviction for the connections of the admin and
 * stats ports that have proven nothing yet. See preauth.h for the rules.
 *
 * Ownership: a struct preauth lives in its owner's connection; this file only links it into
 * its port's list and asks the owner to close it. Every port has the same timeout for all its
 * connections, so the list (in accept order) is also in deadline order and one timer, set for
 * the oldest, serves them all. The lists are short (the port's cap), so a per-source count is
 * a walk of the list. Runs on rb_loop only. */
#include "preauth.h"

#include <netinet/in.h>
#include <string.h>

#include "acceptor.h"
#include "rebound.h"

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* Seconds on the monotonic clock: deadlines do not move when the wall clock does. */
static double now_s(void)
{
    return (double)mono_us() / 1e6;
}

void preauth_port_init(struct preauth_port *pp, const char *name, const char *proof, unsigned max,
                       unsigned max_per_source, double timeout, int priority)
{
    memset(pp, 0, sizeof(*pp));
    pp->name = name;
    pp->proof = proof;
    pp->max = max;
    pp->max_per_source = max_per_source;
    pp->timeout = timeout;
    TAILQ_INIT(&pp->list);
    ev_init(&pp->timer, timer_cb);
    ev_set_priority(&pp->timer, priority);
}

void preauth_port_stop(struct preauth_port *pp)
{
    ev_timer_stop(rb_loop, &pp->timer);
}

bool preauth_pending(const struct preauth *p)
{
    return p->port != NULL;
}

/* The address of PEER as 16 bytes (IPv4 mapped into IPv6), zeros for anything else. */
static void addr_key(const struct sockaddr *peer, uint8_t key[16])
{
    memset(key, 0, 16);
    if (peer->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
    } else if (peer->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    }
}

/* KEY as text, for the log: the address without its port. */
static const char *addr_str(const uint8_t key[16], char *buf, size_t len)
{
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};

    memcpy(&in6.sin6_addr, key, 16);
    acceptor_peer_str((const struct sockaddr *)&in6, false, buf, len);
    return buf;
}

/* (Re)arm the timer for the oldest connection's deadline, or stop it. */
static void arm(struct preauth_port *pp)
{
    struct preauth *oldest = TAILQ_FIRST(&pp->list);
    double left;

    ev_timer_stop(rb_loop, &pp->timer);
    if (!oldest)
        return;
    left = oldest->since + pp->timeout - now_s();
    ev_timer_set(&pp->timer, left > 0 ? left : 0, 0);
    ev_timer_start(rb_loop, &pp->timer);
}

/* Close P to make room, with one log line a second at most. */
static void evict(struct preauth_port *pp, struct preauth *p, enum preauth_reason why)
{
    char addr[INET6_ADDRSTRLEN];
    unsigned quiet;

    pp->evictions++;
    if (log_rate_allow(&pp->evict_rate, &quiet))
        log_warn("%s: closed a connection from %s that had not %s after %.1f s, to make room for "
                 "a newer one (%s: %u at most); %u similar not logged",
                 pp->name, addr_str(p->addr, addr, sizeof(addr)), pp->proof, now_s() - p->since,
                 why == PREAUTH_SOURCE_CAP ? "from one address" : "waiting on the port",
                 why == PREAUTH_SOURCE_CAP ? pp->max_per_source : pp->max, quiet);
    p->close(p, why);
}

void preauth_join(struct preauth_port *pp, struct preauth *p, const struct sockaddr *peer,
                  void (*close)(struct preauth *, enum preauth_reason))
{
    struct preauth *q, *oldest_here = NULL;
    unsigned here = 0;

    addr_key(peer, p->addr);
    TAILQ_FOREACH(q, &pp->list, link)
    {
        if (memcmp(q->addr, p->addr, sizeof(p->addr)))
            continue;
        if (!oldest_here)
            oldest_here = q;
        here++;
    }
    if (oldest_here && here >= pp->max_per_source)
        evict(pp, oldest_here, PREAUTH_SOURCE_CAP);
    else if (pp->n >= pp->max && !TAILQ_EMPTY(&pp->list))
        evict(pp, TAILQ_FIRST(&pp->list), PREAUTH_PORT_CAP);
    p->port = pp;
    p->since = now_s();
    p->close = close;
    TAILQ_INSERT_TAIL(&pp->list, p, link);
    if (++pp->n == 1)
        arm(pp);
}

void preauth_leave(struct preauth *p)
{
    struct preauth_port *pp = p->port;
    bool was_oldest;

    if (!pp)
        return;
    was_oldest = TAILQ_FIRST(&pp->list) == p;
    TAILQ_REMOVE(&pp->list, p, link);
    pp->n--;
    p->port = NULL;
    if (was_oldest)
        arm(pp);
}

/* The oldest connections' time is up: close every one whose deadline has passed. */
static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct preauth_port *pp = container_of(w, struct preauth_port, timer);
    double now = now_s();
    struct preauth *p;
    (void)loop;
    (void)revents;

    while ((p = TAILQ_FIRST(&pp->list)) && p->since + pp->timeout <= now) {
        char addr[INET6_ADDRSTRLEN];
        unsigned quiet;

        pp->timeouts++;
        if (log_rate_allow(&pp->timeout_rate, &quiet))
            log_info("%s: closed a connection from %s that had not %s within %g s; %u similar "
                     "not logged",
                     pp->name, addr_str(p->addr, addr, sizeof(addr)), pp->proof, pp->timeout,
                     quiet);
        p->close(p, PREAUTH_TIMEOUT); /* leaves the list, re-arms when it was the oldest */
    }
    arm(pp);
}
