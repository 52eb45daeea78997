/* pass.c - kill passes: one object shared by every worker's share of the work.
 *
 * A pass is started by server.c on the control thread (pass_start). Once the workers run
 * freely (at once, or after the barrier a reload holds) it is posted: each worker gets its
 * share (a mail embedded in the pass, so posting needs no memory), sweeps its own sessions on
 * the victim servers and, once the server sides it queued are closed, posts the same share
 * back to the control thread with what it did. The pass is reference-counted (the starter's
 * reference, plus one per share out); every path ends in pass_release(), and the last release
 * writes the health-log line and frees it.
 *
 * Threads: a share's sweep runs on its worker; everything else on the control thread. The
 * fields a sweep reads (victims, exclude, who, l, t0) are set before the shares are posted
 * and never change after; refs and the totals are the control thread's.
 */
#include "pass.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "healthlog.h"
#include "listener.h"
#include "log.h"
#include "rebound.h"
#include "server.h"
#include "session.h"
#include "worker.h"

struct kill_pass;

/* One worker's part of a pass and, on its way back, that worker's report. */
struct pass_share {
    struct mail mail;
    struct kill_pass *p;
    struct worker *w;
    unsigned killed, moved;
    /* graceful failback: */
    ev_timer deadline;    /* at TIME, what is still marked is killed */
    unsigned marked;      /* sessions marked and not yet closed */
    unsigned idle;        /* closed at once, idle */
    unsigned boundary;    /* closed at a safe boundary */
    unsigned at_deadline; /* killed at TIME */
    unsigned ended;       /* ended otherwise (the client left, an error...) meanwhile */
    unsigned kept;        /* left alone: WHO was no longer usable when they were due */
    uint64_t slowest_us;  /* the latest boundary, from the pass's start */
    bool skipped;         /* a failback whose server was no longer usable: nothing done */
    uint64_t started_us;  /* posting to the worker running the share */
    uint64_t clients_us;  /* posting to every client reset */
    uint64_t done_us;     /* mono_us() when the share's closes were all done */
};

/* A kill pass (see the top of the file). */
struct kill_pass {
    struct mail start; /* run after the barrier: posts the shares */
    int refs;
    bool failback;        /* failback, else on-marked-down */
    struct server *who;   /* whose transition started it */
    struct listener *l;   /* WHO's listener when posted */
    uint64_t victims;     /* bit per server index of L whose sessions go */
    uint64_t exclude;     /* servers moved sessions may not go to */
    const char *reason;   /* for each session's close */
    const char *trigger;  /* what WHO did, for the log: "came UP", "was set ready", "went DOWN" */
    uint64_t t0;          /* mono_us() when posted */
    unsigned graceful_ms; /* WHO's shutdown-backup-sessions graceful TIME, 0: immediate */
    unsigned killed, moved, skipped;
    unsigned idle, boundary, at_deadline, ended, kept; /* graceful: the shares' sums */
    uint64_t slowest_us;
    uint64_t clients_us, total_us; /* the slowest worker's */
    char who_id[2 * CONF_NAME_MAX + 2];
    char lname[CONF_NAME_MAX + 1];
    char client_msg[2 * CONF_NAME_MAX + 80]; /* what idle clients read before the close */
    int nshares;
    struct pass_share shares[];
};

static void log_moved(const struct kill_pass *p, const char *from)
{
    struct hl_event ev = {.kind = HL_KILL, .server = p->who_id, .listener = p->lname};

    if (p->moved)
        healthlog_emit(&ev, "Redispatched %u connecting sessions of %s away from %s.", p->moved,
                       p->lname, from);
}

/* The health-log lines of a finished pass. */
static void log_pass(const struct kill_pass *p)
{
    struct hl_event ev = {.kind = HL_KILL,
                          .server = p->who_id,
                          .listener = p->lname,
                          .pass_ms = (unsigned)(p->total_us / 1000)};

    if (!p->failback) {
        healthlog_emit(&ev, "Killed %u sessions on %s after it %s, in %u ms.", p->killed, p->who_id,
                       p->trigger, ev.pass_ms);
        log_moved(p, p->who_id);
        return;
    }
    if (p->nshares > 0 && p->skipped == (unsigned)p->nshares) {
        healthlog_emit(&ev,
                       "Failback of %s after %s %s not applied: %s was no longer usable "
                       "when the workers reached its backups' sessions.",
                       p->lname, p->who_id, p->trigger, p->who_id);
        return;
    }
    if (p->graceful_ms)
        healthlog_emit(&ev,
                       "Closed %u sessions on backup servers of %s after %s %s, gracefully "
                       "within %u ms: %u idle at once, %u at the end of a command or "
                       "transaction (the last after %u ms), %u at the deadline; %u ended by "
                       "themselves, %u kept; in %u ms.",
                       p->idle + p->boundary + p->killed, p->lname, p->who_id, p->trigger,
                       p->graceful_ms, p->idle, p->boundary, (unsigned)(p->slowest_us / 1000),
                       p->at_deadline, p->ended, p->kept, ev.pass_ms);
    else
        healthlog_emit(&ev,
                       "Killed %u sessions on backup servers of %s after %s %s, in %u ms "
                       "(clients disconnected in %u ms).",
                       p->killed, p->lname, p->who_id, p->trigger, ev.pass_ms,
                       (unsigned)(p->clients_us / 1000));
    if (p->skipped)
        healthlog_emit(&ev,
                       "%u of %d workers found %s no longer usable and left their backup "
                       "sessions alone.",
                       p->skipped, p->nshares, p->who_id);
    log_moved(p, "backup servers");
}

/* The one release path: the last reference writes the log line and frees the pass. */
static void pass_release(struct kill_pass *p)
{
    if (--p->refs > 0)
        return;
    log_pass(p);
    free(p);
}

/* Control thread: a worker's report is in. */
static void share_report(struct mail *m)
{
    struct pass_share *sh = container_of(m, struct pass_share, mail);
    struct kill_pass *p = sh->p;

    log_debug("pass of %s after %s %s: worker %d started %.1f ms after posting, reset its "
              "clients by %.1f ms, its closes done by %.1f ms (%u killed, %u moved)",
              p->lname, p->who_id, p->trigger, sh->w->index, sh->started_us / 1000.0,
              sh->clients_us / 1000.0, sh->done_us > p->t0 ? (sh->done_us - p->t0) / 1000.0 : 0.0,
              sh->killed, sh->moved);
    p->killed += sh->killed;
    p->moved += sh->moved;
    p->skipped += sh->skipped;
    p->idle += sh->idle;
    p->boundary += sh->boundary;
    p->at_deadline += sh->at_deadline;
    p->ended += sh->ended;
    p->kept += sh->kept;
    if (sh->slowest_us > p->slowest_us)
        p->slowest_us = sh->slowest_us;
    if (sh->clients_us > p->clients_us)
        p->clients_us = sh->clients_us;
    if (sh->done_us > p->t0 && sh->done_us - p->t0 > p->total_us)
        p->total_us = sh->done_us - p->t0;
    pass_release(p);
}

/* Control thread: the share never reached its worker (shutdown). */
static void share_drop(struct mail *m)
{
    pass_release(container_of(m, struct pass_share, mail)->p);
}

/* Can S move to another server without its client noticing more than a slower login? */
static bool movable(const struct session *s)
{
    return !session_has_traffic(s) || session_login_movable(s);
}

/* The sweep's first step, for one session: its client learns now (an idle one why), unless
 * the session can move. */
static void reset_client(struct session *s, struct srv_tally *t, void *arg)
{
    struct pass_share *sh = arg;
    (void)t;

    if (movable(s))
        return;
    session_drop_client(s, sh->p->client_msg);
}

/* The sweep's second step, for one session of share SH: it moves (never to a victim while
 * another server can take it: EXCLUDE covers them; moved back onto a victim's list, the
 * pass's servers being the last resort, it is not met again) or is condemned. */
static void send_away(struct session *s, struct srv_tally *t, void *arg)
{
    struct pass_share *sh = arg;
    struct kill_pass *p = sh->p;
    bool moved;

    if (!session_has_traffic(s))
        moved = session_redispatch(s, p->exclude, p->reason);
    else if (session_login_movable(s))
        moved = session_move_login(s, p->exclude, p->reason);
    else
        moved = (session_condemn(s, p->reason), false);
    if (moved) {
        sh->moved++;
        return;
    }
    sh->killed++; /* condemned, or refused and closed */
    tally_add(&t->sessions_killed, 1);
}

/* Worker SH->w's sweep over its sessions on the victims: every client learns first (they
 * are what waits to reconnect), then each session goes: those that can move (no byte reached
 * their client yet, or their login can restart on another server) move there, the rest leave
 * their server side to the close batches. */
static void sweep(struct pass_share *sh)
{
    struct kill_pass *p = sh->p;

    servers_each_session(p->l, p->victims, sh->w->index, reset_client, sh);
    sh->clients_us = mono_us() - p->t0;
    servers_each_session(p->l, p->victims, sh->w->index, send_away, sh);
}

/* ---- graceful failback ---- */

static void share_done(struct pass_share *sh);

/* The graceful sweep, for one session: those that can move, move; idle ones close now,
 * telling their client why; the others are marked for their next safe boundary. */
static void graceful_one(struct session *s, struct srv_tally *t, void *arg)
{
    struct pass_share *sh = arg;

    if (movable(s)) {
        send_away(s, t, sh);
        return;
    }
    if (session_idle(s)) {
        sh->idle++;
        tally_add(&t->sessions_killed, 1);
        session_close_told(s, sh->p->client_msg, sh->p->reason);
        return;
    }
    s->graceful = sh;
    sh->marked++;
}

/* One marked session less (or the sweep's or the deadline's hold released): the share ends
 * with the last. The caller must not touch SH or its pass afterwards. */
static void share_unhold(struct pass_share *sh)
{
    if (--sh->marked > 0)
        return;
    ev_timer_stop(sh->w->loop, &sh->deadline);
    share_done(sh);
}

void pass_graceful_boundary(struct session *s)
{
    struct pass_share *sh = s->graceful;
    struct kill_pass *p = sh->p;
    uint64_t at = mono_us() - p->t0;

    s->graceful = NULL; /* ending it below does not count it again */
    if (!server_usable(p->who)) {
        sh->kept++; /* no longer back: the session stays where it is */
    } else {
        sh->boundary++;
        if (at > sh->slowest_us)
            sh->slowest_us = at;
        tally_add(&s->server->tally[sh->w->index].sessions_killed, 1);
        session_close_told(s, p->client_msg, p->reason);
    }
    share_unhold(sh);
}

void pass_graceful_ended(struct session *s)
{
    struct pass_share *sh = s->graceful;

    s->graceful = NULL;
    sh->ended++;
    share_unhold(sh);
}

/* TIME is up: the marked sessions still open are killed as the immediate pass kills (every
 * client reset first), unless WHO is no longer usable. They are found on the worker's own list:
 * a reload may have moved them to other server objects meanwhile. */
static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pass_share *sh = container_of(w, struct pass_share, deadline);
    struct kill_pass *p = sh->p;
    bool usable = server_usable(p->who);
    struct session *s, *next;
    (void)loop;
    (void)revents;

    sh->marked++; /* held while the list is walked */
    TAILQ_FOREACH(s, &sh->w->sessions, w_link)
    {
        if (s->graceful == sh && usable)
            session_drop_client(s, p->client_msg);
    }
    for (s = TAILQ_FIRST(&sh->w->sessions); s; s = next) {
        next = TAILQ_NEXT(s, w_link);
        if (s->graceful != sh)
            continue;
        s->graceful = NULL;
        sh->marked--;
        if (!usable) {
            sh->kept++;
            continue;
        }
        sh->at_deadline++;
        sh->killed++;
        tally_add(&s->server->tally[sh->w->index].sessions_killed, 1);
        session_condemn(s, p->reason);
    }
    share_unhold(sh);
}

/* Worker SH->w's graceful sweep: idle sessions close now, busy ones are marked; the share ends
 * when the last marked one is closed, or at TIME. */
static void sweep_gracefully(struct pass_share *sh)
{
    struct kill_pass *p = sh->p;

    ev_timer_init(&sh->deadline, deadline_cb, p->graceful_ms / 1000.0, 0);
    sh->marked = 1; /* held during the sweep */
    servers_each_session(p->l, p->victims, sh->w->index, graceful_one, sh);
    sh->clients_us = mono_us() - p->t0;
    if (sh->marked > 1)
        ev_timer_start(sh->w->loop, &sh->deadline);
    share_unhold(sh);
}

/* Worker: SH's share of the pass, at the top priority of its loop (mail is woken at
 * EV_MAXPRI); reported once its closes are done. */
static void share_run(struct mail *m)
{
    struct pass_share *sh = container_of(m, struct pass_share, mail);

    sh->started_us = mono_us() - sh->p->t0;
    /* A failback is for a server that takes sessions: one that went DOWN, into maint or
     * drain meanwhile would only see the clients come back to the backups. */
    if (sh->p->failback && !server_usable(sh->p->who)) {
        sh->skipped = true;
    } else if (sh->p->graceful_ms) {
        sweep_gracefully(sh); /* ends the share when its sessions are all closed */
        return;
    } else {
        sweep(sh);
    }
    share_done(sh);
}

/* SH's work is over: reported once its closes are done. */
static void share_done(struct pass_share *sh)
{
    sh->mail = (struct mail){.run = share_report, .drop = share_report};
    worker_after_closes(sh->w, &sh->mail, &sh->done_us);
}

/* The server WHO is now: a reload may have handed its sessions to a successor. */
static struct server *current(struct server *who)
{
    while (who->successor)
        who = who->successor;
    return who;
}

/* After the barrier: resolve the servers, then post every share. */
static void pass_post(struct mail *m)
{
    struct kill_pass *p = container_of(m, struct kill_pass, start);
    struct server *who = current(p->who);
    struct listener *l = who->listener;

    p->who = who;
    p->l = l;
    if (p->failback) {
        for (int i = 0; i < l->nservers; i++)
            if (l->servers[i].conf->backup)
                p->victims |= UINT64_C(1) << i;
    } else {
        p->victims = UINT64_C(1) << who->index;
    }
    p->exclude = p->victims;
    snprintf(p->who_id, sizeof(p->who_id), "%s", who->id);
    snprintf(p->lname, sizeof(p->lname), "%s", l->conf->name);
    if (p->failback)
        snprintf(p->client_msg, sizeof(p->client_msg),
                 "rebound: the master '%s' is back; reconnect", who->id);
    else
        snprintf(p->client_msg, sizeof(p->client_msg), "rebound: server '%s' went down; reconnect",
                 who->id);
    p->t0 = mono_us();
    for (int i = 0; i < p->nshares; i++) {
        struct pass_share *sh = &p->shares[i];
        sh->p = p;
        sh->w = worker_at(i);
        sh->mail = (struct mail){.run = share_run, .drop = share_drop};
        p->refs++;
        worker_post(sh->w, &sh->mail);
    }
    pass_release(p); /* the starter's reference */
}

void pass_start(struct server *who, bool failback, const char *trigger)
{
    int n = workers_count();
    struct kill_pass *p = calloc(1, sizeof(*p) + (size_t)n * sizeof(p->shares[0]));

    if (!p) {
        srv_log(LOG_ERR, who, "out of memory: sessions not killed");
        return;
    }
    p->start = (struct mail){.run = pass_post, .drop = NULL};
    p->refs = 1;
    p->failback = failback;
    p->who = who;
    p->reason = failback ? "failback: active server came UP" : "server marked DOWN";
    p->graceful_ms = failback ? who->conf->graceful_ms : 0;
    p->trigger = trigger;
    p->nshares = n;
    workers_after_release(&p->start);
}
