/* server.h - a backend server of one listener: health and admin state, its sessions,
 * server selection and the state machine. */
#ifndef SERVER_H
#define SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "check.h"
#include "conf.h"
#include "observe.h"

struct listener;
struct session;
struct worker;
TAILQ_HEAD(session_list, session);

/* What one thread counts for one server: its sessions there and their traffic. Each slot is
 * written by its own thread only (a worker, or the control thread's slot), or by the control
 * thread while the workers are parked; any thread may read it (relaxed atomics: counters
 * need no order). One cache line each, so workers never write to a shared line. */
struct srv_tally {
    struct session_list sessions; /* this worker's sessions routed here */
    _Atomic unsigned nsessions;
    _Atomic uint64_t sessions_total;
    _Atomic uint64_t sessions_killed;
    _Atomic uint64_t connect_failures;
    _Atomic uint64_t observed_errors;
    _Atomic uint64_t bytes_in;   /* client->server */
    _Atomic uint64_t bytes_out;  /* server->client */
    _Atomic uint64_t greeted_us; /* mono_us() of the latest greeting from the server, 0: none */
    struct session_list queue;   /* this worker's sessions waiting for a connect slot, oldest
                                    first (also on SESSIONS) */
    _Atomic unsigned connecting; /* this worker's connects in flight (connect to greeting) */
    _Atomic unsigned nqueued;
    _Atomic uint64_t queue_timeouts;
} __attribute__((aligned(64)));

/* Add N to a counter that only the calling thread writes: a plain load and store, no
 * locked instruction on the relay path. */
static inline void tally_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t tally_get(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* A server's counters summed over every thread. */
struct srv_totals {
    unsigned sessions, connecting, queued;
    uint64_t sessions_total, sessions_killed, connect_failures, observed_errors, queue_timeouts;
    uint64_t bytes_in, bytes_out;
};

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

/* The latest GTID position read of a server, kept by server.c from each check that asked. */
struct srv_gtid {
    bool ok; /* POS holds the position the check at AT read */
    enum gtid_flavor flavor;
    char pos[GTID_POS_MAX];
    char why[128]; /* !ok: why the latest check brought no position */
    double at;     /* ev_now() of the check that asked, 0: none asked yet */
};

/* The GTID guard of a server with `expect gtid-covers backups`, written by server.c only. */
struct srv_guard {
    bool override;     /* an operator accepted the server as it is: its next rise is let
                          through, whatever it lacks (cleared once it is UP) */
    bool noted;        /* "the guard does not block" was logged for the current reason */
    bool behind;       /* at the latest round, a backup held transactions it lacks */
    uint64_t blocks;   /* checks the guard turned into L7GTID */
    char missing[160]; /* while behind: what is missing, as the info says it */
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
    bool retired;             /* removed by a reload: no checks, no new sessions, drains */
    struct server *successor; /* the server of the next configuration that took it over */
    bool announce;            /* new in a configuration being committed: log its start */
    int health;               /* 0..rise+fall-1; UP needs >= rise (HAProxy's counter) */
    struct check check;
    struct check_result last;    /* last check verdict */
    enum check_class last_class; /* its class, for "rising"/"falling" */
    _Atomic bool usable;         /* published for the workers: UP, ready and not retired */
    struct srv_tally *tally;     /* one slot per worker, then the control thread's */
    int ntally;
    double last_change; /* ev_now() of the last state change */
    uint64_t check_failures;
    double downtime;   /* seconds DOWN outside maint, up to down_since (server_downtime()) */
    double down_since; /* ev_now() of the last change of state or admin state */
    double last_check; /* wall clock (ev_now) of the last check verdict, 0 before any */
    _Atomic unsigned obs_consecutive; /* traffic errors in a row, every worker's (server.c) */
    struct srv_gtid gtid;             /* its latest GTID position (read_gtid) */
    struct srv_guard guard;           /* its GTID guard (gtid_guard) */
};

/* May a new session be sent here? Any thread. */
static inline bool server_usable(const struct server *srv)
{
    return atomic_load_explicit(&srv->usable, memory_order_acquire);
}

/* The calling thread's counters for SRV. */
struct srv_tally *server_tally(struct server *srv);
/* Sessions on SRV now, over every thread. */
unsigned server_nsessions(const struct server *srv);
/* Every counter of SRV summed over the threads. */
void server_totals(const struct server *srv, struct srv_totals *t);
/* mono_us() of SRV's latest greeting to any session of any thread, 0 if none yet. */
uint64_t server_last_greeting(const struct server *srv);

/* Choose a server of listener L for a new session: a usable active server (the first one,
 * or per `balance`), else the first usable backup (or each in turn with allbackups),
 * skipping servers whose bit is set in EXCLUDE. NULL when none. Any thread. */
struct server *server_pick(struct listener *l, uint64_t exclude);
/* Would SRV get new sessions now (server_pick's rules, without taking a turn): a usable
 * active server, or the backup in use while no active one is usable? Any thread. */
bool server_takes_new(const struct server *srv);
/* Usable servers of L, as counted in the health log. */
void server_count_usable(const struct listener *l, int *active, int *backup);

int server_init(struct server *srv, struct listener *l, const struct conf_server *conf, int index);
void server_fini(struct server *srv);

/* Any thread (a worker, as its session's traffic shows it): one error seen in SRV's traffic,
 * EV, DETAIL saying what ("Connection refused", "error 1040, too many connections"). Counted
 * when SRV observes that layer; the error that brings the run to error-limit posts on-error
 * to the control thread, once per run however many workers count at once. */
void server_traffic_error(struct server *srv, enum obs_event ev, const char *detail);
/* Any thread: SRV answered normally, which breaks a run of errors. Reads first, so that the
 * relay path of a healthy server never writes to the shared line. */
void server_traffic_ok(struct server *srv);
/* Control thread: error-limit was reached in traffic (R says what was seen, status HANA):
 * apply the server's on-error action. */
void server_on_error(struct server *srv, const struct check_result *r);

/* Control thread: start checking SRV, the first check at once, unless it is not checked or in
 * maintenance. */
void server_check_start(struct server *srv);
/* Control thread, from check.c: a check of SRV ended with R. Its verdict goes to the health
 * counter (server_check_done), then the next check is scheduled at the interval the counter
 * now calls for. */
void server_check_report(struct server *srv, const struct check_result *r);
/* Feed one check verdict into the health counter; logs and changes state as needed. */
void server_check_done(struct server *srv, const struct check_result *r);
/* The one place the health state changes, with every side effect (log, kills). */
void server_set_state(struct server *srv, enum server_state st, const struct check_result *why);
/* The operator accepts SRV as it is: the GTID guard lets its next rise through (ON true), or
 * guards it again (ON false). WHO names the operator for the log. 0, or -1 with why in ERR
 * (no guard on SRV, or already UP). */
int server_gtid_override(struct server *srv, bool on, const char *who, char *err, size_t errlen);
/* "off" (no guard), "on" or "override": the guard as the admin port shows it. */
const char *server_gtid_guard_str(const struct server *srv);
/* The one place the admin state changes. WHO names the operator for the log. */
void server_set_admin(struct server *srv, enum admin_state st, const char *who);

/* Control thread: the health-log line of SRV entering service, at start or ADDED by a reload:
 * the state it starts in and what decides the rest. */
void server_announce(const struct server *srv, bool added);
/* Reload: TO (initialised from the new configuration) takes over FROM's state,
 * counters and sessions; FROM is left empty and unchecked. */
void server_take_over(struct server *to, struct server *from);
/* Reload: SRV is gone from the configuration. It stops being checked and routed to;
 * its sessions go on until they end. */
void server_retire(struct server *srv);

/* What a walk over sessions does with each one, T being the counter slot whose list it is on:
 * it may close S, or move it to another server or even back onto the list being walked. */
typedef void server_session_fn(struct session *s, struct srv_tally *t, void *arg);
/* The one walk over a server's sessions: FN on each session on SRV's list for counter slot
 * SLOT (a worker's index; -1: every slot), each one there when its list's walk starts exactly
 * once. Returns how many. Run by the slot's own worker, or by the control thread with the
 * workers parked or stopped. */
unsigned server_each_session(struct server *srv, int slot, server_session_fn *fn, void *arg);
/* The same over the servers of L whose bit (1 << index) is set in SERVERS, in their order. */
unsigned servers_each_session(struct listener *l, uint64_t servers, int slot, server_session_fn *fn,
                              void *arg);

/* Control thread, workers stopped or parked: close every session on SRV; returns how many. */
unsigned server_kill_sessions(struct server *srv, const char *reason);

const char *server_state_str(enum server_state st);
/* Does the admin and stats side show SRV? Every server of the configuration, and a server a
 * reload removed (retired) until its last session ends. */
bool server_shown(const struct server *srv);
/* The state as shown to people: "MAINT" in maintenance, else UP, DOWN or DRAIN. */
const char *server_shown_state(const struct server *srv);
/* Seconds SRV spent DOWN since start-up, outside maintenance, the current outage included. */
double server_downtime(const struct server *srv);
const char *admin_state_str(enum admin_state st);

#endif
