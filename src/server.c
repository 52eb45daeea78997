/* server.c - the server state machine and the whole health policy: health counter,
 * transitions and their actions, when checks run, and the run of errors seen in traffic
 * with its on-error.
 *
 * The health counter follows HAProxy: it runs from 0 to rise+fall-1; a DOWN server
 * comes UP when it reaches rise (and jumps to the top), an UP server goes DOWN when it
 * drops below rise (and falls to 0). A server starts UP at exactly rise, so the first
 * failed check at start-up marks it DOWN at once.
 *
 * server_set_state() is the only writer of srv->state, and this file the only writer of a
 * server's health: checks (check.c reports, server_check_report acts and schedules the next
 * one), traffic errors (a session reports what observe.c saw, server_traffic_error counts,
 * server_on_error acts), the operator and reload all come through here.
 *
 * Threads: the state machine, transitions, check scheduling and the log run on the control
 * thread. What the workers need to route (is the server usable?) is published in
 * srv->usable with an atomic store after every change (publish()); server_pick() reads only
 * that, the immutable configuration and the per-thread session counts, so it runs on any
 * thread without a lock. The run of traffic errors (srv->obs_consecutive) is the one field
 * every worker writes: an atomic, counted with compare-and-swap so that one run posts
 * on-error once (server_traffic_error, on the worker that saw the error); the control thread
 * applies it. The kill passes a transition triggers are pass.c's: posted to every worker and
 * run there in parallel at top priority. A server's session lists are walked
 * (server_each_session) by the list's own worker, or by the control thread with the workers
 * parked.
 */
#include "server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gtid.h"
#include "healthlog.h"
#include "listener.h"
#include "log.h"
#include "pass.h"
#include "rebound.h"
#include "session.h"
#include "worker.h"

const char *server_state_str(enum server_state st)
{
    static const char *const names[] = {"DOWN", "UP", "DRAIN"};
    return names[st];
}

bool server_shown(const struct server *srv)
{
    return !srv->retired || server_nsessions(srv) > 0;
}

const char *server_shown_state(const struct server *srv)
{
    return srv->admin == ADMIN_MAINT ? "MAINT" : server_state_str(srv->state);
}

const char *admin_state_str(enum admin_state st)
{
    static const char *const names[] = {"ready", "drain", "maint"};
    return names[st];
}

/* Make what routing needs of SRV visible to the workers; after every change of state,
 * admin state or retirement. */
static void publish(struct server *srv)
{
    bool usable = srv->state == SRV_UP && srv->admin == ADMIN_READY && !srv->retired;

    atomic_store_explicit(&srv->usable, usable, memory_order_release);
}

struct srv_tally *server_tally(struct server *srv)
{
    int slot = workers_my_slot();

    return &srv->tally[slot < srv->ntally ? slot : srv->ntally - 1];
}

unsigned server_nsessions(const struct server *srv)
{
    unsigned n = 0;

    for (int i = 0; i < srv->ntally; i++)
        n += atomic_load_explicit(&srv->tally[i].nsessions, memory_order_relaxed);
    return n;
}

void server_totals(const struct server *srv, struct srv_totals *t)
{
    memset(t, 0, sizeof(*t));
    for (int i = 0; i < srv->ntally; i++) {
        const struct srv_tally *y = &srv->tally[i];
        t->sessions += atomic_load_explicit(&y->nsessions, memory_order_relaxed);
        t->sessions_total += tally_get(&y->sessions_total);
        t->sessions_killed += tally_get(&y->sessions_killed);
        t->connect_failures += tally_get(&y->connect_failures);
        t->observed_errors += tally_get(&y->observed_errors);
        t->connecting += atomic_load_explicit(&y->connecting, memory_order_relaxed);
        t->queued += atomic_load_explicit(&y->nqueued, memory_order_relaxed);
        t->queue_timeouts += tally_get(&y->queue_timeouts);
        t->bytes_in += tally_get(&y->bytes_in);
        t->bytes_out += tally_get(&y->bytes_out);
    }
}

uint64_t server_last_greeting(const struct server *srv)
{
    uint64_t last = 0;

    for (int i = 0; i < srv->ntally; i++) {
        uint64_t t = tally_get(&srv->tally[i].greeted_us);
        if (t > last)
            last = t;
    }
    return last;
}

/* ---- server selection (any thread) ---- */

static bool candidate(const struct server *srv, uint64_t exclude)
{
    return server_usable(srv) && !(exclude & (UINT64_C(1) << srv->index));
}

/* The usable server of the given role to use next, per the balance algorithm (backups
 * rotate only with allbackups, else the first one is used). */
static struct server *pick_role(struct listener *l, bool backup, enum balance how, uint64_t exclude)
{
    struct server *best = NULL;
    unsigned best_n = 0;
    int n = 0, k;

    for (int i = 0; i < l->nservers; i++) {
        struct server *srv = &l->servers[i];
        if (srv->conf->backup != backup || !candidate(srv, exclude))
            continue;
        if (how == BALANCE_FIRST)
            return srv;
        if (how == BALANCE_LEASTCONN) {
            unsigned ns = server_nsessions(srv);
            if (!best || ns < best_n)
                best = srv, best_n = ns;
        } else if (!best) {
            best = srv;
        }
        n++;
    }
    if (how != BALANCE_ROUNDROBIN || n < 2)
        return best;
    k = (int)(atomic_fetch_add_explicit(&l->rr, 1, memory_order_relaxed) % (unsigned)n);
    for (int i = 0; i < l->nservers; i++) {
        struct server *srv = &l->servers[i];
        if (srv->conf->backup == backup && candidate(srv, exclude) && k-- == 0)
            return srv;
    }
    return best;
}

struct server *server_pick(struct listener *l, uint64_t exclude)
{
    struct server *srv = pick_role(l, false, l->conf->balance, exclude);

    if (srv)
        return srv;
    return pick_role(l, true, l->conf->allbackups ? BALANCE_ROUNDROBIN : BALANCE_FIRST, exclude);
}

bool server_takes_new(const struct server *srv)
{
    const struct listener *l = srv->listener;
    int active, backup;

    if (!server_usable(srv))
        return false;
    if (!srv->conf->backup)
        return true; /* every usable active server, per the balance */
    server_count_usable(l, &active, &backup);
    if (active > 0)
        return false;
    if (l->conf->allbackups)
        return true;
    for (int i = 0; i < l->nservers; i++) /* the first usable backup */
        if (l->servers[i].conf->backup && server_usable(&l->servers[i]))
            return &l->servers[i] == srv;
    return false;
}

void server_count_usable(const struct listener *l, int *active, int *backup)
{
    *active = *backup = 0;
    for (int i = 0; i < l->nservers; i++) {
        if (!server_usable(&l->servers[i]))
            continue;
        if (l->servers[i].conf->backup)
            (*backup)++;
        else
            (*active)++;
    }
}

static int health_max(const struct server *srv)
{
    return srv->conf->rise + srv->conf->fall - 1;
}

/* ---- when checks run ---- */

static double fastinter_s(const struct server *srv)
{
    return conf_fastinter(srv->conf) / 1000.0;
}

/* The interval before the next check: fastinter while the health counter is between its
 * ends (a transition in progress), downinter at the bottom, inter at the top. */
static double check_interval(const struct server *srv)
{
    const struct conf_server *c = srv->conf;
    unsigned ms = conf_fastinter(c);

    if (srv->state != SRV_DOWN && srv->health == health_max(srv))
        ms = c->inter;
    else if (srv->state == SRV_DOWN && srv->health == 0)
        ms = conf_downinter(c);
    return ms / 1000.0;
}

/* ---- the GTID guard ----
 *
 * A master with `expect gtid-covers backups` comes UP only when it holds every transaction
 * each backup of its listen holds. Every server of that listen reads its GTID position in its
 * own check (check.c, one query); the guard compares the master's fresh position with the
 * positions of the round: each backup that is UP (or draining), not in maintenance, and whose
 * latest position was read no longer ago than twice its check interval plus `timeout check`
 * (a backup whose first check has not ended yet is left out).
 * While the master is DOWN, a backup ahead of it turns its passed check into L7GTID (it stays
 * DOWN, no failback pass runs); while it is UP the same finding is only reported. A position
 * that cannot be read or compared never blocks: the guard says so once, in the health log.
 */

/* Keep what SRV's check read of its GTID position, if it asked. */
static void keep_gtid(struct server *srv)
{
    const struct check_gtid *g = check_gtid_read(srv);

    if (!g->asked)
        return;
    srv->gtid.ok = g->ok;
    srv->gtid.flavor = g->flavor;
    snprintf(srv->gtid.pos, sizeof(srv->gtid.pos), "%s", g->ok ? g->pos : "");
    snprintf(srv->gtid.why, sizeof(srv->gtid.why), "%s", g->ok ? "" : g->why);
    srv->gtid.at = ev_now(rb_loop);
}

/* Is backup B's position one of the current round? */
static bool gtid_fresh(const struct server *b)
{
    double window = 2 * (check_interval(b) + b->listener->conf->timeout_check / 1000.0);

    return b->gtid.at > 0 && ev_now(rb_loop) - b->gtid.at <= window;
}

/* What one round of the guard found. */
struct guard_round {
    bool lacks;        /* a backup holds transactions the master lacks */
    char missing[160]; /* the first such backup and what it holds ("replica1 has 0-2-9, ...") */
    char note[200];    /* the first position that could not be compared, and why; "" if none */
};

static void guard_note(struct guard_round *g, const char *name, const char *why)
{
    if (!g->note[0])
        snprintf(g->note, sizeof(g->note), "%.63s: %.130s", name, why);
}

/* Compare master SRV's fresh position with the position of each backup of the round. */
static void guard_compare(const struct server *srv, struct guard_round *g)
{
    const struct listener *l = srv->listener;
    char what[160];

    memset(g, 0, sizeof(*g));
    if (!srv->gtid.ok) {
        guard_note(g, srv->conf->name, srv->gtid.why);
        return;
    }
    for (int i = 0; i < l->nservers; i++) {
        const struct server *b = &l->servers[i];
        if (!b->conf->backup || b->retired || b->admin == ADMIN_MAINT || b->state == SRV_DOWN)
            continue;
        if (!b->conf->check || !b->conf->read_gtid) {
            guard_note(g, b->conf->name, "its check reads no GTID position (check tcp or none)");
        } else if (b->gtid.at == 0) {
            continue; /* its first check has not ended yet: nothing known */
        } else if (!gtid_fresh(b)) {
            guard_note(g, b->conf->name, "no GTID position read in this round");
        } else if (!b->gtid.ok) {
            guard_note(g, b->conf->name, b->gtid.why);
        } else if (b->gtid.flavor != srv->gtid.flavor) {
            guard_note(g, b->conf->name, "a MariaDB and a MySQL position cannot be compared");
        } else {
            switch (
                gtid_compare(srv->gtid.flavor, srv->gtid.pos, b->gtid.pos, what, sizeof(what))) {
            case GTID_COVERS:
                break;
            case GTID_LACKS:
                if (!g->lacks)
                    snprintf(g->missing, sizeof(g->missing), "%.63s %.95s", b->conf->name, what);
                g->lacks = true;
                break;
            case GTID_INVALID:
                guard_note(g, b->conf->name, what);
                break;
            }
        }
    }
}

static void guard_emit(const struct server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One health-log line of the guard of SRV. */
static void guard_emit(const struct server *srv, const char *fmt, ...)
{
    struct hl_event ev = {.kind = HL_GTID,
                          .server = srv->id,
                          .listener = srv->listener->conf->name,
                          .state = server_state_str(srv->state)};
    char line[HL_LINE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    healthlog_emit(&ev, "%s", line);
}

/* A position that could not be compared: said once, until every position compares again. */
static void guard_unreadable(struct server *srv, const struct guard_round *g)
{
    if (!g->note[0]) {
        srv->guard.noted = false;
        return;
    }
    if (srv->guard.noted)
        return;
    srv->guard.noted = true;
    guard_emit(srv, "GTID guard of server %s does not block: %s.", srv->id, g->note);
}

/* While SRV is UP: a backup ahead of it is reported when it starts and when it ends. */
static void guard_report(struct server *srv, const struct guard_round *g)
{
    if (g->lacks && !srv->guard.behind)
        guard_emit(srv,
                   "Server %s lacks transactions a backup holds: %s (reported; the server "
                   "stays UP).",
                   srv->id, g->missing);
    else if (!g->lacks && srv->guard.behind)
        guard_emit(srv, "Server %s holds every transaction of its backups again.", srv->id);
}

/* The GTID guard on a passed check R of SRV: returns the result to count, R itself or OUT,
 * an L7GTID failure naming what is missing while SRV is DOWN and a backup is ahead of it. */
static const struct check_result *gtid_guard(struct server *srv, const struct check_result *r,
                                             struct check_result *out)
{
    struct guard_round g;

    guard_compare(srv, &g);
    guard_unreadable(srv, &g);
    if (srv->state != SRV_DOWN)
        guard_report(srv, &g);
    srv->guard.behind = g.lacks;
    snprintf(srv->guard.missing, sizeof(srv->guard.missing), "%s", g.lacks ? g.missing : "");
    if (srv->state != SRV_DOWN || !g.lacks)
        return r;
    *out = *r;
    if (srv->guard.override) {
        snprintf(out->info, sizeof(out->info), "%.30s, GTID guard overridden (%.100s)", r->info,
                 g.missing);
        return out;
    }
    out->status = CHK_L7GTID;
    out->code = 0;
    snprintf(out->info, sizeof(out->info), "%s", g.missing);
    srv->guard.blocks++;
    return out;
}

const char *server_gtid_guard_str(const struct server *srv)
{
    if (!srv->conf->gtid_guard)
        return "off";
    return srv->guard.override ? "override" : "on";
}

int server_gtid_override(struct server *srv, bool on, const char *who, char *err, size_t errlen)
{
    struct hl_event ev = {.kind = HL_ADMIN,
                          .server = srv->id,
                          .listener = srv->listener->conf->name,
                          .state = on ? "override" : "on"};

    if (!srv->conf->gtid_guard) {
        snprintf(err, errlen, "server %s has no GTID guard (expect gtid-covers backups)", srv->id);
        return -1;
    }
    if (on && srv->state != SRV_DOWN) {
        snprintf(err, errlen, "server %s is %s: the GTID guard only holds back a DOWN server",
                 srv->id, server_state_str(srv->state));
        return -1;
    }
    if (srv->guard.override == on)
        return 0;
    srv->guard.override = on;
    if (on)
        healthlog_emit(&ev,
                       "GTID guard of server %s overridden by %s: it may come UP as it is%s%s.",
                       srv->id, who, srv->guard.behind ? ", although " : "",
                       srv->guard.behind ? srv->guard.missing : "");
    else
        healthlog_emit(&ev, "GTID guard of server %s restored by %s.", srv->id, who);
    if (on)
        check_hurry(srv, fastinter_s(srv));
    return 0;
}

void server_check_start(struct server *srv)
{
    if (srv->conf->check && srv->admin != ADMIN_MAINT)
        check_schedule(srv, 0);
}

void server_check_report(struct server *srv, const struct check_result *r)
{
    struct check_result guarded;

    keep_gtid(srv);
    if (srv->conf->gtid_guard && check_status_class(r->status) != CHK_FAILED &&
        check_status_class(r->status) != CHK_NEUTRAL)
        r = gtid_guard(srv, r, &guarded);
    /* The verdict first: the next interval depends on where it leaves the counter. */
    server_check_done(srv, r);
    if (srv->admin == ADMIN_MAINT || srv->retired)
        return;
    /* A check that could not run (SOCKERR: rebound's own shortage) is tried again soon. */
    check_schedule(srv, r->status == CHK_SOCKERR ? fastinter_s(srv) : check_interval(srv));
}

int server_init(struct server *srv, struct listener *l, const struct conf_server *conf, int index)
{
    srv->ntally = workers_slots();
    srv->tally = aligned_alloc(64, (size_t)srv->ntally * sizeof(*srv->tally));
    if (!srv->tally)
        return -1;
    memset(srv->tally, 0, (size_t)srv->ntally * sizeof(*srv->tally));
    for (int i = 0; i < srv->ntally; i++) {
        TAILQ_INIT(&srv->tally[i].sessions);
        TAILQ_INIT(&srv->tally[i].queue);
    }
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
    srv->last_change = srv->down_since = ev_now(rb_loop);
    publish(srv);
    check_init(srv);
    return 0;
}

void server_fini(struct server *srv)
{
    if (!srv->tally)
        return; /* never initialised */
    check_fini(srv);
    server_kill_sessions(srv, "shutting down");
    free(srv->tally);
    srv->tally = NULL;
}

/* ---- the run of errors seen in traffic, and on-error ---- */

/* Does SRV observe the layer EV belongs to? */
static bool observes(const struct server *srv, enum obs_event ev)
{
    enum observe_layer need = ev <= OBS_SERVER_RESET ? OBSERVE_LAYER4 : OBSERVE_LAYER7;

    return srv->conf->observe >= need;
}

void server_traffic_ok(struct server *srv)
{
    if (atomic_load_explicit(&srv->obs_consecutive, memory_order_relaxed))
        atomic_store_explicit(&srv->obs_consecutive, 0, memory_order_relaxed);
}

/* error-limit reached on a server: on-error, to be applied by the control thread. */
struct on_error_mail {
    struct mail mail;
    struct server *srv;
    struct check_result r;
    uint64_t seen_us; /* mono_us() when the worker counted the error */
};

static void on_error_run(struct mail *m)
{
    struct on_error_mail *e = container_of(m, struct on_error_mail, mail);

    server_on_error(e->srv, &e->r);
    log_debug("%s: on-error applied %llu us after a worker counted the error", e->srv->id,
              (unsigned long long)(mono_us() - e->seen_us));
    free(e);
}

static void on_error_drop(struct mail *m)
{
    free(container_of(m, struct on_error_mail, mail));
}

/* Count one more error in SRV's run; true for exactly one caller each time the run reaches
 * LIMIT (which starts the next run), however many workers count at once. */
static bool run_reaches_limit(struct server *srv, unsigned limit)
{
    unsigned old = atomic_load_explicit(&srv->obs_consecutive, memory_order_relaxed), next;

    do {
        TEST_HOOK(observe_counting);
        next = old + 1 >= limit ? 0 : old + 1;
    } while (!atomic_compare_exchange_weak_explicit(&srv->obs_consecutive, &old, next,
                                                    memory_order_relaxed, memory_order_relaxed));
    return next == 0;
}

void server_traffic_error(struct server *srv, enum obs_event ev, const char *detail)
{
    struct on_error_mail *e;

    if (!observes(srv, ev))
        return;
    tally_add(&server_tally(srv)->observed_errors, 1);
    if (!run_reaches_limit(srv, (unsigned)srv->conf->error_limit))
        return;
    if (!(e = calloc(1, sizeof(*e)))) {
        srv_log(LOG_ERR, srv, "out of memory: on-error not applied (%s, %s)", observe_event_str(ev),
                detail);
        return;
    }
    e->mail = (struct mail){.run = on_error_run, .drop = on_error_drop};
    e->srv = srv;
    e->r.status = CHK_HANA;
    snprintf(e->r.info, sizeof(e->r.info), "%d consecutive errors in traffic, last: %s (%s)",
             srv->conf->error_limit, observe_event_str(ev), detail);
    e->seen_us = mono_us();
    control_post(&e->mail);
}

/* error-limit reached: act as on-error says, through the check result path so the log
 * and the server's last status show HANA and why. */
void server_on_error(struct server *srv, const struct check_result *r)
{
    const struct conf_server *c = srv->conf;

    if (srv->retired)
        return; /* a reload removed it meanwhile: nothing to act on */
    switch (c->on_error) {
    case ON_ERROR_FASTINTER:
        check_hurry(srv, fastinter_s(srv));
        return;
    case ON_ERROR_SUDDEN_DEATH:
        /* After this failure one more takes it DOWN. */
        if (srv->health > c->rise)
            srv->health = c->rise + 1;
        break;
    case ON_ERROR_MARK_DOWN:
        /* This failure takes it DOWN. */
        if (srv->health > 1)
            srv->health = 1;
        break;
    case ON_ERROR_FAIL_CHECK:
        break;
    }
    server_check_done(srv, r);
    check_hurry(srv, fastinter_s(srv));
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
    enum check_status prev_status = srv->last.status;
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
        /* Logged while UP, or while DOWN but rising: what led to a change; and the GTID
         * guard holding a DOWN server back, when it starts to. */
        if (srv->state != SRV_DOWN || prev == CHK_PASSED || prev == CHK_CONDITIONAL ||
            (r->status == CHK_L7GTID && prev_status != CHK_L7GTID))
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
static void log_transition(const struct server *srv, const struct check_result *why,
                           const char *text)
{
    char res[256];
    const char *lname = srv->listener->conf->name;
    struct hl_event ev = {.kind = HL_TRANSITION,
                          .server = srv->id,
                          .listener = lname,
                          .result = why,
                          .state = server_shown_state(srv)};
    struct hl_event none = {.kind = HL_NO_SERVER, .listener = lname};
    int active, backup;

    if (why)
        healthlog_format_result(res, sizeof(res), why);
    else /* no check behind it */
        snprintf(res, sizeof(res), "%s", text);
    server_count_usable(srv->listener, &active, &backup);
    healthlog_emit(&ev, "Server %s is %s%s, %s. %d active and %d backup servers online.", srv->id,
                   srv->admin == ADMIN_MAINT ? "in " : "", server_shown_state(srv), res, active,
                   backup);
    if (active + backup == 0)
        healthlog_emit(&none, "Listener %s has no server available!", lname);
}

void server_announce(const struct server *srv, bool added)
{
    struct hl_event ev = {.kind = HL_START,
                          .server = srv->id,
                          .listener = srv->listener->conf->name,
                          .state = server_state_str(srv->state)};

    healthlog_emit(&ev, "Server %s %sstarts %s as %s server; %s.", srv->id,
                   added ? "added by a reload " : "", server_state_str(srv->state),
                   srv->conf->backup ? "a backup" : "an active",
                   srv->conf->check ? "its first check decides (a failure takes it DOWN)"
                                    : "it is not checked");
}

/* An active server became usable: with on-marked-up shutdown-backup-sessions, move
 * every client off the backups of its listener. */
static void became_usable(struct server *srv, const char *trigger)
{
    if (!srv->conf->shutdown_backup_sessions || srv->conf->backup)
        return;
    pass_start(srv, true, trigger);
}

/* server_set_state(), where a change with no check behind it (WHY NULL) has TEXT for its
 * reason. */
/* Does SRV's time now count as downtime? DOWN, and not in maintenance (an operator's choice,
 * not an outage). */
static bool counts_down(const struct server *srv)
{
    return srv->state == SRV_DOWN && srv->admin != ADMIN_MAINT;
}

double server_downtime(const struct server *srv)
{
    double now = ev_now(rb_loop);

    return srv->downtime + (counts_down(srv) && now > srv->down_since ? now - srv->down_since : 0);
}

/* Around any change of state or admin state: close the outage counted so far (before), open
 * a new one if the server now counts as down (after). */
static void downtime_before(struct server *srv)
{
    srv->downtime = server_downtime(srv);
}

static void downtime_after(struct server *srv)
{
    srv->down_since = ev_now(rb_loop);
}

static void set_state(struct server *srv, enum server_state st, const struct check_result *why,
                      const char *text)
{
    bool was_usable = server_usable(srv);

    if (srv->state == st)
        return;
    downtime_before(srv);
    /* Routable first: sessions redispatched by the kill below can land here. */
    srv->state = st;
    if (st != SRV_DOWN)
        srv->guard.override = false; /* used: the next return is guarded again */
    publish(srv);
    srv->last_change = ev_now(rb_loop);
    downtime_after(srv);
    log_transition(srv, why, text);
    check_reschedule(srv, check_interval(srv));
    if (!was_usable && server_usable(srv))
        became_usable(srv, "came UP");
    if (st == SRV_DOWN && srv->conf->shutdown_sessions)
        pass_start(srv, false, "went DOWN");
}

void server_set_state(struct server *srv, enum server_state st, const struct check_result *why)
{
    set_state(srv, st, why,
              st == SRV_DOWN ? "reason: maintenance mode entered by the operator"
                             : "reason: maintenance mode left by the operator");
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
    downtime_before(srv);
    srv->admin = st;
    publish(srv);
    downtime_after(srv);
    /* last_change is the health state's: not touched here. */
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
            server_check_start(srv);
        else
            server_set_state(srv, SRV_UP, NULL);
        return;
    }
    if (server_usable(srv))
        became_usable(srv, "was set ready");
}

/* A session of a server taken over by TO (a reload) now belongs to TO. */
static void follow(struct session *s, struct srv_tally *t, void *to)
{
    (void)t;
    s->server = to;
    s->listener = s->server->listener;
}

void server_take_over(struct server *to, struct server *from)
{
    struct server fresh = *to;

    check_fini(from);
    /* Everything that describes its life so far (state, last check, counters, sessions)... */
    *to = *from;
    /* ...but its identity and check come from the new configuration. */
    to->conf = fresh.conf;
    to->listener = fresh.listener;
    to->index = fresh.index;
    memcpy(to->id, fresh.id, sizeof(to->id));
    to->check = fresh.check;
    atomic_init(&to->obs_consecutive, atomic_load(&from->obs_consecutive));
    /* FROM keeps the new, empty counters. The workers are parked (listeners_reload), so
     * the sessions can be pointed at their new server. */
    from->tally = fresh.tally;
    from->retired = true;
    from->successor = to;
    publish(from);
    server_each_session(to, -1, follow, to);
    /* Keep the health counter within the new rise/fall. */
    to->health = to->state == SRV_DOWN ? 0 : health_max(to);
    publish(to);
    /* No check any more: nothing can keep it DOWN. It comes UP as any server does, logged
     * and with its failback (which starts once the reload has released the workers). */
    if (!to->conf->check && to->state != SRV_UP && to->admin != ADMIN_MAINT) {
        to->health = health_max(to);
        set_state(to, SRV_UP, NULL, "reason: not checked, so UP after a reload");
    }
}

void server_retire(struct server *srv)
{
    unsigned n = server_nsessions(srv);

    if (srv->retired)
        return;
    srv->retired = true;
    publish(srv);
    check_stop(srv);
    if (n)
        srv_log(LOG_INFO, srv, "removed from the configuration; %u sessions drain", n);
}

/* Walk one list, T's: FN on each of the N sessions on it when the walk starts. */
static unsigned walk(struct srv_tally *t, server_session_fn *fn, void *arg)
{
    unsigned n = atomic_load_explicit(&t->nsessions, memory_order_relaxed), k = 0;
    struct session *s, *next;

    /* NEXT is taken before FN runs: FN may take S off the list or put it back at its end,
     * behind those still to come, where the count N stops the walk. */
    for (s = TAILQ_FIRST(&t->sessions); s && k < n; s = next, k++) {
        next = TAILQ_NEXT(s, srv_link);
        fn(s, t, arg);
    }
    return k;
}

/* Walk SRV's list of worker slot I, then hand the connect slots the walk freed to the queue. */
static unsigned walk_slot(struct server *srv, int i, server_session_fn *fn, void *arg)
{
    unsigned n;

    session_walk(1);
    n = walk(&srv->tally[i], fn, arg);
    session_walk(-1);
    session_serve_queue(srv, i);
    return n;
}

unsigned server_each_session(struct server *srv, int slot, server_session_fn *fn, void *arg)
{
    unsigned n = 0;

    if (slot >= 0)
        return slot < srv->ntally ? walk_slot(srv, slot, fn, arg) : 0;
    for (int i = 0; i < srv->ntally; i++)
        n += walk_slot(srv, i, fn, arg);
    return n;
}

unsigned servers_each_session(struct listener *l, uint64_t servers, int slot, server_session_fn *fn,
                              void *arg)
{
    unsigned n = 0;

    for (int i = 0; i < l->nservers; i++)
        if (servers & (UINT64_C(1) << i))
            n += server_each_session(&l->servers[i], slot, fn, arg);
    return n;
}

/* A session of a server whose sessions all go: closed, and counted as killed there. */
static void kill_one(struct session *s, struct srv_tally *t, void *reason)
{
    session_close(s, reason);
    tally_add(&t->sessions_killed, 1);
}

unsigned server_kill_sessions(struct server *srv, const char *reason)
{
    return server_each_session(srv, -1, kill_one, (void *)reason);
}
