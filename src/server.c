/* server.c - the server state machine: health counter, transitions and their actions.
 *
 * The health counter follows HAProxy: it runs from 0 to rise+fall-1; a DOWN server
 * comes UP when it reaches rise (and jumps to the top), an UP server goes DOWN when it
 * drops below rise (and falls to 0). A server starts UP at exactly rise, so the first
 * failed check at start-up marks it DOWN at once.
 *
 * server_set_state() is the only writer of srv->state. It runs from check callbacks,
 * which have the highest event priority, so the kills it triggers happen before any
 * client I/O still pending in the same loop iteration.
 */
#include "server.h"

#include <stdio.h>
#include <string.h>

#include "healthlog.h"
#include "listener.h"
#include "log.h"
#include "rebound.h"
#include "session.h"

const char *server_state_str(enum server_state st)
{
    static const char *const names[] = {"DOWN", "UP", "DRAIN"};
    return names[st];
}

const char *admin_state_str(enum admin_state st)
{
    static const char *const names[] = {"ready", "drain", "maint"};
    return names[st];
}

bool server_usable(const struct server *srv)
{
    return srv->state == SRV_UP && srv->admin == ADMIN_READY && !srv->retired;
}

static int health_max(const struct server *srv)
{
    return srv->conf->rise + srv->conf->fall - 1;
}

void server_init(struct server *srv, struct listener *l, const struct conf_server *conf, int index)
{
    srv->conf = conf;
    srv->listener = l;
    srv->index = index;
    snprintf(srv->id, sizeof(srv->id), "%s/%s", l->conf->name, conf->name);
    srv->state = SRV_UP;
    srv->admin = ADMIN_READY;
    srv->health = conf->rise;
    srv->last.status = CHK_INI;
    snprintf(srv->last.info, sizeof(srv->last.info), "%s", conf->check ? "" : "not checked");
    srv->last_class = CHK_NEUTRAL;
    TAILQ_INIT(&srv->sessions);
    srv->last_change = ev_now(rb_loop);
    check_init(srv);
}

void server_fini(struct server *srv)
{
    check_fini(srv);
    server_kill_sessions(srv, "shutting down");
}

/* "status: 2/3 UP" as HAProxy counts it: UP shows how far from falling, DOWN how far
 * from rising. */
static void format_status(const struct server *srv, char *buf, size_t len)
{
    const struct conf_server *c = srv->conf;

    if (srv->state != SRV_DOWN)
        snprintf(buf, len, "%d/%d %s", srv->health - c->rise + 1, c->fall,
                 srv->admin == ADMIN_DRAIN ? "DRAIN" : server_state_str(srv->state));
    else
        snprintf(buf, len, "%d/%d DOWN", srv->health, c->rise);
}

static void log_check(const struct server *srv, const struct check_result *r, bool passed)
{
    char res[256], st[32];
    struct hl_event ev = {.kind = HL_CHECK,
                          .server = srv->id,
                          .listener = srv->listener->conf->name,
                          .result = r,
                          .state = st};

    healthlog_format_result(res, sizeof(res), r);
    format_status(srv, st, sizeof(st));
    healthlog_emit(&ev, "Health check for server %s %s, %s, status: %s.", srv->id,
                   passed ? "succeeded" : "failed", res, st);
}

void server_check_done(struct server *srv, const struct check_result *r)
{
    enum check_class cls = check_status_class(r->status);
    enum check_class prev = srv->last_class;
    enum server_state target = cls == CHK_CONDITIONAL ? SRV_DRAIN : SRV_UP;

    srv->last = *r;
    srv->last_check = ev_now(rb_loop);
    if (cls == CHK_NEUTRAL)
        return;
    srv->last_class = cls;
    if (cls == CHK_FAILED) {
        srv->check_failures++;
        if (srv->health > 0)
            srv->health--;
        /* Below rise the count starts over: rise passes in a row to come back. */
        if (srv->health < srv->conf->rise)
            srv->health = 0;
        if (srv->state != SRV_DOWN && srv->health == 0) {
            server_set_state(srv, SRV_DOWN, r);
            return;
        }
        /* Logged while UP, or while DOWN but rising: what led to a change. */
        if (srv->state != SRV_DOWN || prev == CHK_PASSED || prev == CHK_CONDITIONAL)
            log_check(srv, r, false);
        return;
    }
    /* Passed, fully or conditionally. At rise or above the count is back at the top:
     * fall failures in a row to go down. */
    if (srv->health < health_max(srv))
        srv->health++;
    if (srv->health >= srv->conf->rise)
        srv->health = health_max(srv);
    if (srv->state == SRV_DOWN && srv->health < srv->conf->rise) {
        log_check(srv, r, true); /* logged while DOWN */
        return;
    }
    if (srv->state != target) {
        server_set_state(srv, target, r);
        return;
    }
    if (prev == CHK_FAILED) /* UP but was falling */
        log_check(srv, r, true);
}

/* The transition line, with the servers left online, as HAProxy writes it. */
static void log_transition(const struct server *srv, const struct check_result *why)
{
    char res[256];
    const char *lname = srv->listener->conf->name;
    struct hl_event ev = {.kind = HL_TRANSITION,
                          .server = srv->id,
                          .listener = lname,
                          .result = why,
                          .state = server_state_str(srv->state)};
    struct hl_event none = {.kind = HL_NO_SERVER, .listener = lname};
    int active, backup;

    if (why)
        healthlog_format_result(res, sizeof(res), why);
    else /* no check behind it: the operator's maintenance mode */
        snprintf(res, sizeof(res), "reason: maintenance mode %s by the operator",
                 srv->state == SRV_DOWN ? "entered" : "left");
    listener_count_usable(srv->listener, &active, &backup);
    healthlog_emit(&ev, "Server %s is %s, %s. %d active and %d backup servers online.", srv->id,
                   server_state_str(srv->state), res, active, backup);
    if (active + backup == 0)
        healthlog_emit(&none, "Listener %s has no server available!", lname);
}

/* Empty SRV of its sessions, their clients already reset (server_abort_clients): a
 * session no byte has reached the client of yet moves to another server (none in
 * EXCLUDE), or is refused with an ERR packet if there is none; the rest are closed.
 * Adds to *MOVED; returns how many were closed. */
static unsigned evict_sessions(struct server *srv, uint64_t exclude, const char *reason,
                               unsigned *moved)
{
    struct session *s;
    unsigned n = 0;

    /* Each turn removes the head: it is closed, or moved to another server's list. */
    while ((s = TAILQ_FIRST(&srv->sessions))) {
        if (!session_has_traffic(s)) {
            if (session_redispatch(s, exclude, reason))
                (*moved)++;
            else
                n++; /* refused and closed */
            continue;
        }
        session_close(s, reason);
        n++;
    }
    srv->sessions_killed += n;
    return n;
}

static void log_moved(const struct server *srv, unsigned moved, const char *from)
{
    struct hl_event ev = {
        .kind = HL_KILL, .server = srv->id, .listener = srv->listener->conf->name};

    if (moved)
        healthlog_emit(&ev, "Redispatched %u connecting sessions of %s away from %s.", moved,
                       srv->listener->conf->name, from);
}

/* on-marked-up shutdown-backup-sessions: ACTIVE came UP; every session on the backups of
 * its listener goes, in one pass at the check's priority. Clients first, all of them:
 * they are what waits to reconnect; then the server sides. */
static void kill_backup_sessions(const struct server *active)
{
    struct listener *l = active->listener;
    uint64_t t0 = mono_us(), t_clients, backups = 0;
    unsigned killed = 0, moved = 0;
    struct hl_event ev = {.kind = HL_KILL, .server = active->id, .listener = l->conf->name};

    for (int i = 0; i < l->nservers; i++)
        if (l->servers[i].conf->backup)
            backups |= UINT64_C(1) << i;
    for (int i = 0; i < l->nservers; i++)
        if (l->servers[i].conf->backup)
            server_abort_clients(&l->servers[i], true);
    t_clients = mono_us();
    for (int i = 0; i < l->nservers; i++)
        if (l->servers[i].conf->backup)
            killed += evict_sessions(&l->servers[i], backups, "failback: active server came UP",
                                     &moved);
    ev.pass_ms = (unsigned)((mono_us() - t0) / 1000);
    healthlog_emit(&ev,
                   "Killed %u sessions on backup servers of %s after %s came UP, in %u ms "
                   "(clients disconnected in %u ms).",
                   killed, l->conf->name, active->id, ev.pass_ms,
                   (unsigned)((t_clients - t0) / 1000));
    log_moved(active, moved, "backup servers");
}

/* An active server became usable: with on-marked-up shutdown-backup-sessions, move
 * every client off the backups. */
static void became_usable(struct server *srv)
{
    if (srv->conf->shutdown_backup_sessions && !srv->conf->backup)
        kill_backup_sessions(srv);
}

/* on-marked-down shutdown-sessions: every session of SRV, clients first (as in the
 * failback pass); sessions still connecting or waiting for the greeting go to another
 * server instead, since their clients have seen nothing yet. */
static void shutdown_sessions(struct server *srv)
{
    uint64_t t0 = mono_us();
    struct hl_event ev = {
        .kind = HL_KILL, .server = srv->id, .listener = srv->listener->conf->name};
    unsigned n, moved = 0;

    server_abort_clients(srv, true);
    n = evict_sessions(srv, UINT64_C(1) << srv->index, "server marked DOWN", &moved);
    ev.pass_ms = (unsigned)((mono_us() - t0) / 1000);
    healthlog_emit(&ev, "Killed %u sessions on %s after it went DOWN, in %u ms.", n, srv->id,
                   ev.pass_ms);
    log_moved(srv, moved, srv->id);
}

void server_set_state(struct server *srv, enum server_state st, const struct check_result *why)
{
    bool was_usable = server_usable(srv);

    if (srv->state == st)
        return;
    if (srv->state == SRV_DOWN)
        srv->downtime += ev_now(rb_loop) - srv->last_change;
    /* Routable first: sessions redispatched by the kill below can land here. */
    srv->state = st;
    srv->last_change = ev_now(rb_loop);
    log_transition(srv, why);
    check_reschedule(srv);
    if (!was_usable && server_usable(srv))
        became_usable(srv);
    if (st == SRV_DOWN && srv->conf->shutdown_sessions)
        shutdown_sessions(srv);
}

void server_set_admin(struct server *srv, enum admin_state st, const char *who)
{
    enum admin_state old = srv->admin;
    struct hl_event ev = {.kind = HL_ADMIN,
                          .server = srv->id,
                          .listener = srv->listener->conf->name,
                          .state = admin_state_str(st)};

    if (old == st)
        return;
    srv->admin = st;
    srv->last_change = ev_now(rb_loop);
    healthlog_emit(&ev, "Server %s admin state changed from %s to %s by %s.", srv->id,
                   admin_state_str(old), admin_state_str(st), who);
    if (st == ADMIN_MAINT) {
        /* Out of checks and routing; DOWN as far as its sessions are concerned. */
        check_stop(srv);
        srv->health = 0;
        server_set_state(srv, SRV_DOWN, NULL);
        return;
    }
    if (old == ADMIN_MAINT) {
        /* Back from maintenance only through rise passed checks (nothing is known
         * about it), or at once when it is not checked. */
        if (srv->conf->check)
            check_start(srv);
        else
            server_set_state(srv, SRV_UP, NULL);
        return;
    }
    if (server_usable(srv))
        became_usable(srv);
}

void server_take_over(struct server *to, struct server *from)
{
    struct server fresh = *to;
    struct session *s;

    check_fini(from);
    /* Everything that describes its life so far (state, last check, counters)... */
    *to = *from;
    /* ...but its identity and check come from the new configuration. */
    to->conf = fresh.conf;
    to->listener = fresh.listener;
    to->index = fresh.index;
    memcpy(to->id, fresh.id, sizeof(to->id));
    to->check = fresh.check;
    TAILQ_INIT(&to->sessions);
    to->nsessions = 0;
    while ((s = TAILQ_FIRST(&from->sessions))) {
        TAILQ_REMOVE(&from->sessions, s, srv_link);
        TAILQ_INSERT_TAIL(&to->sessions, s, srv_link);
        s->server = to;
        s->listener = to->listener;
        to->nsessions++;
    }
    from->nsessions = 0;
    from->retired = true;
    /* Keep the health counter within the new rise/fall. */
    if (!to->conf->check)
        to->state = SRV_UP;
    to->health = to->state == SRV_DOWN ? 0 : health_max(to);
}

void server_retire(struct server *srv)
{
    if (srv->retired)
        return;
    srv->retired = true;
    check_stop(srv);
    if (srv->nsessions)
        srv_log(LOG_INFO, srv, "removed from the configuration; %u sessions drain", srv->nsessions);
}

void server_abort_clients(struct server *srv, bool spare_untouched)
{
    struct session *s;

    TAILQ_FOREACH(s, &srv->sessions, srv_link)
    {
        if (!spare_untouched || session_has_traffic(s))
            session_abort_client(s);
    }
}

unsigned server_kill_sessions(struct server *srv, const char *reason)
{
    struct session *s;
    unsigned n = 0;

    /* session_close() unlinks, so the head moves on each turn. */
    while ((s = TAILQ_FIRST(&srv->sessions))) {
        session_close(s, reason);
        n++;
    }
    srv->sessions_killed += n;
    return n;
}
