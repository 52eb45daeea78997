/* stats_http.h - the HTTP stats port: GET /metrics, /stats.csv and / (HTML).
 *
 * A small, strict HTTP/1.x server on rb_loop at the lowest event priority, so client
 * traffic never waits for it: one request per connection, answered with
 * `Connection: close`, every connection bounded in time and in number. A connection whose
 * request head is not complete yet is pre-auth (preauth.h): slow or silent clients make
 * room for new ones instead of locking them out. */
#ifndef STATS_HTTP_H
#define STATS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"

#define STATS_MAX_CONNS          16   /* stats connections at once; accept pauses at the cap */
#define STATS_MAX_PENDING        8    /* ... of them still sending their request head */
#define STATS_PENDING_PER_SOURCE 4    /* ... from one address */
#define STATS_REQUEST_TIMEOUT_S  3.0  /* from accept to a complete request head */
#define STATS_TIMEOUT_S          5.0  /* from the request to the last byte of the response */
#define STATS_LINGER_S           1.0  /* how long to drain a client after answering */
#define STATS_BACKLOG            1024 /* the listening socket's accept queue */

/* Bind CONF's `stats` address and serve it; nothing to do without one.
 * 0 or -1 (logged, with the file:line of the `stats` line). */
int stats_http_start(const struct conf *conf) __attribute__((warn_unused_result));
/* Close the listening socket and every stats connection. */
void stats_http_stop(void);

/* A reload, in two steps, so that nothing changes unless everything can.
 * stats_http_reconf_prepare: bind CONF's stats address if the port moves or is switched on,
 * without touching the running port. 0, or -1 with "FILE:LINE: message" in err and nothing
 * prepared.
 * stats_http_reconf_commit: switch to it: the running socket closes if the port moved or is
 * switched off, and the new one accepts. Connections already open are answered as usual.
 * stats_http_reconf_cancel: drop what was prepared (the reload failed elsewhere). */
int stats_http_reconf_prepare(const struct conf *conf, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void stats_http_reconf_commit(void);
void stats_http_reconf_cancel(void);

/* Connections closed for not sending a complete request in time / to make room. */
uint64_t stats_http_request_timeouts(void);
uint64_t stats_http_evictions(void);

#endif
