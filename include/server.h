/* server.h - a backend server of one listener: health and admin state, its sessions. */
#ifndef SERVER_H
#define SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "check.h"
#include "conf.h"

struct listener;
struct session;
TAILQ_HEAD(session_list, session);

/* Health state, driven by checks through server_set_state(). */
enum server_state {
    SRV_DOWN,
    SRV_UP,
    SRV_DRAIN, /* passed conditionally (L7OKC): keeps its sessions, takes no new ones */
};

/* Administrative state, set by the operator. */
enum admin_state {
    ADMIN_READY, /* normal */
    ADMIN_DRAIN, /* keeps its sessions, takes no new ones */
    ADMIN_MAINT, /* not checked, not routed to */
};

/* A server as one listener sees it. The same host in two listens is two servers,
 * each with its own check, as in HAProxy. */
struct server {
    const struct conf_server *conf;
    struct listener *listener;
    int index;                      /* position in the listener's server list */
    char id[2 * CONF_NAME_MAX + 2]; /* "rw/master" */
    enum server_state state;
    enum admin_state admin;
    bool retired; /* removed by a reload: no checks, no new sessions, drains */
    int health;   /* 0..rise+fall-1; UP needs >= rise (HAProxy's counter) */
    struct check check;
    struct check_result last;     /* last check verdict */
    enum check_class last_class;  /* its class, for "rising"/"falling" */
    struct session_list sessions; /* every session routed here, connecting or relaying */
    unsigned nsessions;
    double last_change; /* ev_now() of the last state change */
    uint64_t sessions_total;
    uint64_t sessions_killed;
    uint64_t check_failures;
    uint64_t connect_failures;
    uint64_t bytes_in;        /* client->server bytes of sessions already gone from here */
    uint64_t bytes_out;       /* server->client bytes of sessions already gone from here */
    double downtime;          /* seconds DOWN, up to the last change (admin view adds the rest) */
    double last_check;        /* wall clock (ev_now) of the last check verdict, 0 before any */
    unsigned obs_consecutive; /* traffic errors in a row (observe) */
    uint64_t observed_errors; /* traffic errors counted, ever */
};

/* May a new session be sent here? */
bool server_usable(const struct server *srv);

void server_init(struct server *srv, struct listener *l, const struct conf_server *conf, int index);
void server_fini(struct server *srv);

/* Feed one check verdict into the health counter; logs and changes state as needed. */
void server_check_done(struct server *srv, const struct check_result *r);
/* The one place the health state changes, with every side effect (log, kills). */
void server_set_state(struct server *srv, enum server_state st, const struct check_result *why);
/* The one place the admin state changes. WHO names the operator for the log. */
void server_set_admin(struct server *srv, enum admin_state st, const char *who);

/* Reload: TO (initialised from the new configuration) takes over FROM's state,
 * counters and sessions; FROM is left empty and unchecked. */
void server_take_over(struct server *to, struct server *from);
/* Reload: SRV is gone from the configuration. It stops being checked and routed to;
 * its sessions go on until they end. */
void server_retire(struct server *srv);

/* First sweep of a kill pass: reset the client connections of SRV's sessions, so every
 * client learns at once, before server_kill_sessions() closes the rest. With
 * SPARE_UNTOUCHED, sessions through which no byte passed yet are left alone (they can
 * still be redispatched). */
void server_abort_clients(struct server *srv, bool spare_untouched);
/* Close every session on SRV; returns how many. */
unsigned server_kill_sessions(struct server *srv, const char *reason);

const char *server_state_str(enum server_state st);
const char *admin_state_str(enum admin_state st);

#endif
