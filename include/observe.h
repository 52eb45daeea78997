/* observe.h - passive observation: errors seen in real traffic, and on-error actions. */
#ifndef OBSERVE_H
#define OBSERVE_H

#include <stdbool.h>
#include <stdint.h>

struct server;

/* What real traffic can tell about a server. The first four are layer-4 events,
 * the rest come from reading the MySQL stream (layer 7). */
enum obs_event {
    OBS_CONNECT_FAILED,   /* refused, unreachable, reset during connect */
    OBS_CONNECT_TIMEOUT,  /* TCP connect longer than timeout connect */
    OBS_GREETING_TIMEOUT, /* connected, but no greeting within timeout greeting */
    OBS_SERVER_RESET,     /* the server reset or dropped an established session */
    OBS_SERVER_ERROR,     /* an ERR packet whose errno says the server is unhealthy */
    OBS_MID_RESPONSE,     /* the server closed while a client waited for an answer */
    OBS_MALFORMED,        /* the server's stream is not valid MySQL framing */
    OBS__COUNT
};

/* Is ERR (from a server that is ACTIVE or a backup) a sign of an unhealthy server?
 * Returns a short description, or NULL for errors that are the application's business
 * (lock waits, deadlocks, syntax errors, duplicate keys...). */
const char *observe_unhealthy_errno(uint16_t err, bool active);

/* Count one event seen on SRV; after error-limit in a row, apply on-error. DETAIL says
 * what happened ("Connection refused", "1040 Too many connections"). No-op when the
 * server does not observe that layer. */
void observe_error(struct server *srv, enum obs_event ev, const char *detail);
/* A server answered normally: the run of consecutive errors is broken. */
static inline void observe_ok(unsigned *consecutive)
{
    *consecutive = 0;
}

const char *observe_event_str(enum obs_event ev);

#endif
