/* worker.c - worker threads and the messages between them and the control thread.
 *
 * Threads and what they own:
 *   control (main thread, rb_loop): configuration, listeners and accept, checks, every
 *     server's state, the health log, the admin and stats ports, reload. It hands each
 *     accepted client to the worker with the fewest sessions (MSG_CLIENT).
 *   worker i (its own loop): the sessions handed to it, from routing to close, and its slot
 *     of every server's counters (server.h, struct srv_tally).
 * Data crosses threads only as the messages of worker.h (a mailbox each, woken by an
 * ev_async at EV_MAXPRI), as the routing state server.c publishes with atomics, and through
 * the barrier: workers_isolate() parks every worker inside a message callback, so that the
 * control thread alone may touch sessions until workers_release() (reload, reaping, the
 * admin port's session views and KILL). A worker never waits for anything else.
 */
#include "worker.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "rebound.h"
#include "server.h"
#include "session.h"

/* Killed sessions' server sides are closed CLOSE_BATCH at a time, one batch every
 * CLOSE_PERIOD_S (8,000 a second per worker). Each close makes the backup tear a connection
 * down, and that work competes for the CPUs with the master's new logins: paced, the
 * reconnecting clients reach the master sooner (measured in docs/performance.md). */
#define CLOSE_BATCH    16
#define CLOSE_PERIOD_S 0.002

_Thread_local struct worker *worker_self;

static struct worker **workers;
static int nworkers;
static struct mailbox control_inbox;
static unsigned hand_rr; /* tie-break among equally loaded workers */

/* The barrier: workers parked, and the generation that releases them. */
static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static int parked;
static unsigned park_gen;
static bool isolated;

int workers_auto(void)
{
    cpu_set_t set;
    int n;

    if (sched_getaffinity(0, sizeof(set), &set) < 0)
        return 1;
    n = CPU_COUNT(&set);
    return n < 1 ? 1 : n > WORKERS_MAX ? WORKERS_MAX : n;
}

int workers_count(void)
{
    return nworkers;
}

int workers_slots(void)
{
    return nworkers + 1;
}

int workers_my_slot(void)
{
    return worker_self ? worker_self->index : nworkers;
}

struct worker *worker_at(int i)
{
    return i >= 0 && i < nworkers ? workers[i] : NULL;
}

void worker_sessions_ended(struct worker *w, unsigned n)
{
    atomic_fetch_add_explicit(&w->ended, n, memory_order_relaxed);
    listeners_sessions_ended(n);
}

/* ---- closing killed sessions' server sides in batches ---- */

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    size_t n = *cap ? *cap : 64;
    void *q;

    if (need <= *cap)
        return true;
    while (n < need)
        n *= 2;
    if (!(q = realloc(*p, n * size)))
        return false;
    *p = q;
    *cap = n;
    return true;
}

/* Send the reports whose closes are all done. */
static void send_reports(struct worker *w)
{
    struct closing *c = &w->closing;
    size_t i = 0;

    while (i < c->nreports && c->reports[i].at <= c->closed) {
        struct msg *m = c->reports[i++].m;
        m->done.total_us = mono_us() - m->done.pass->t0;
        control_post(m);
    }
    if (i == 0)
        return;
    memmove(c->reports, c->reports + i, (c->nreports - i) * sizeof(*c->reports));
    c->nreports -= i;
}

/* One batch per tick: between batches, accepts and every session's I/O run. */
static void batch_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = container_of(t, struct worker, batch);
    struct closing *c = &w->closing;
    unsigned n = 0;
    (void)revents;

    while (c->head < c->tail && n < CLOSE_BATCH) {
        close(c->fds[c->head++]);
        n++;
    }
    c->closed += n;
    worker_sessions_ended(w, n);
    send_reports(w);
    if (c->head == c->tail) {
        c->head = c->tail = 0;
        return;
    }
    ev_timer_set(t, CLOSE_PERIOD_S, 0);
    ev_timer_start(loop, t);
}

void worker_close_later(struct worker *w, int fd)
{
    struct closing *c = &w->closing;

    if (!grow((void **)&c->fds, &c->cap, c->tail + 1, sizeof(*c->fds))) {
        close(fd); /* no memory for the queue: close it now */
        worker_sessions_ended(w, 1);
        c->closed++;
        return;
    }
    c->fds[c->tail++] = fd;
    if (!ev_is_active(&w->batch)) {
        ev_timer_set(&w->batch, 0, 0);
        ev_timer_start(w->loop, &w->batch);
    }
}

void worker_report_after_closes(struct worker *w, struct msg *report)
{
    struct closing *c = &w->closing;

    if (c->head == c->tail ||
        !grow((void **)&c->reports, &c->reports_cap, c->nreports + 1, sizeof(*c->reports))) {
        /* Nothing left to close (or no memory to wait): report now. */
        report->done.total_us = mono_us() - report->done.pass->t0;
        control_post(report);
        return;
    }
    c->reports[c->nreports].m = report;
    c->reports[c->nreports++].at = c->closed + (c->tail - c->head);
}

/* ---- messages ---- */

/* MSG_PARK: wait at the barrier until the control thread releases this generation. */
static void park(void)
{
    pthread_mutex_lock(&park_mu);
    unsigned gen = park_gen;
    parked++;
    pthread_cond_broadcast(&park_cv);
    while (park_gen == gen)
        pthread_cond_wait(&park_cv, &park_mu);
    parked--;
    pthread_cond_broadcast(&park_cv);
    pthread_mutex_unlock(&park_mu);
}

static void worker_deliver(struct mailbox *mb, struct mail *mail)
{
    struct worker *w = container_of(mb, struct worker, inbox);
    struct msg *m = container_of(mail, struct msg, mail);

    switch ((enum msg_kind)mail->kind) {
    case MSG_CLIENT:
        session_new(w, m->client.l, m->client.fd, (struct sockaddr *)&m->client.peer,
                    m->client.len);
        break;
    case MSG_PASS:
        server_pass_sweep(w, m->pass);
        break;
    case MSG_PARK:
        park();
        break;
    case MSG_STOP:
        ev_break(w->loop, EVBREAK_ALL);
        break;
    default:
        log_err("worker %d: unexpected message %d", w->index, mail->kind);
        break;
    }
    free(m);
}

static void control_deliver(struct mailbox *mb, struct mail *mail)
{
    struct msg *m = container_of(mail, struct msg, mail);
    (void)mb;

    switch ((enum msg_kind)mail->kind) {
    case MSG_ON_ERROR:
        server_on_error(m->error.srv, &m->error.r);
        log_debug("%s: on-error applied %llu us after a worker counted the error", m->error.srv->id,
                  (unsigned long long)(mono_us() - m->error.seen_us));
        break;
    case MSG_PASS_DONE:
        server_pass_done(m->done.pass, m->done.killed, m->done.moved, m->done.clients_us,
                         m->done.total_us);
        break;
    case MSG_ROOM:
        listeners_room();
        break;
    default:
        log_err("control: unexpected message %d", mail->kind);
        break;
    }
    free(m);
}

void control_post(struct msg *m)
{
    if (!worker_self) {
        control_deliver(&control_inbox, &m->mail);
        return;
    }
    mailbox_post(&control_inbox, &m->mail);
}

/* A message of KIND, zeroed; NULL (logged) when out of memory. */
static struct msg *msg_new(enum msg_kind kind)
{
    struct msg *m = calloc(1, sizeof(*m));

    if (!m) {
        log_err("out of memory for a message between threads");
        return NULL;
    }
    m->mail.kind = (int)kind;
    return m;
}

/* ---- the control thread's side ---- */

void workers_hand_client(struct listener *l, int fd, const struct sockaddr *peer, socklen_t len)
{
    struct worker *best = NULL;
    unsigned best_live = 0;
    struct msg *m = msg_new(MSG_CLIENT);

    if (!m || nworkers == 0) {
        free(m);
        close(fd);
        listeners_sessions_ended(1);
        return;
    }
    /* Fewest live sessions (handed over minus ended), ties in turn. */
    for (int k = 0; k < nworkers; k++) {
        struct worker *w = workers[(hand_rr + (unsigned)k) % (unsigned)nworkers];
        unsigned live = w->assigned - atomic_load_explicit(&w->ended, memory_order_relaxed);
        if (!best || live < best_live)
            best = w, best_live = live;
    }
    hand_rr++;
    best->assigned++;
    m->client.l = l;
    m->client.fd = fd;
    m->client.len = len <= sizeof(m->client.peer) ? len : 0;
    if (peer && m->client.len)
        memcpy(&m->client.peer, peer, m->client.len);
    mailbox_post(&best->inbox, &m->mail);
}

void workers_post_pass(struct kill_pass *p)
{
    for (int i = 0; i < nworkers; i++) {
        struct msg *m = msg_new(MSG_PASS);
        if (!m) {
            /* Cannot reach this worker: its share is reported as nothing done. */
            server_pass_done(p, 0, 0, 0, 0);
            continue;
        }
        m->pass = p;
        mailbox_post(&workers[i]->inbox, &m->mail);
    }
}

void workers_isolate(void)
{
    if (isolated || nworkers == 0 || worker_self)
        return;
    for (int i = 0; i < nworkers; i++) {
        struct msg *m;
        while (!(m = msg_new(MSG_PARK)))
            usleep(1000); /* the barrier cannot do without: wait for memory */
        mailbox_post(&workers[i]->inbox, &m->mail);
    }
    pthread_mutex_lock(&park_mu);
    while (parked < nworkers)
        pthread_cond_wait(&park_cv, &park_mu);
    pthread_mutex_unlock(&park_mu);
    isolated = true;
    /* What the workers sent before parking is handled now, so nothing in flight refers to
     * what the caller is about to change or free. */
    mailbox_drain(&control_inbox);
}

void workers_release(void)
{
    if (!isolated)
        return;
    pthread_mutex_lock(&park_mu);
    park_gen++;
    pthread_cond_broadcast(&park_cv);
    while (parked > 0) /* all gone before the next barrier can count them */
        pthread_cond_wait(&park_cv, &park_mu);
    pthread_mutex_unlock(&park_mu);
    isolated = false;
}

/* ---- the threads ---- */

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    worker_self = w;
    ev_run(w->loop, 0);
    return NULL;
}

static void worker_free(struct worker *w)
{
    struct closing *c = &w->closing;

    while (c->head < c->tail)
        close(c->fds[c->head++]);
    /* Passes still waiting for closes: report what was done, so each pass ends. */
    for (size_t i = 0; i < c->nreports; i++) {
        struct msg *m = c->reports[i].m;
        server_pass_done(m->done.pass, m->done.killed, m->done.moved, m->done.clients_us, 0);
        free(m);
    }
    free(c->fds);
    free(c->reports);
    if (w->loop)
        ev_loop_destroy(w->loop);
    free(w);
}

int workers_start(int n)
{
    sigset_t all, old;

    mailbox_init(&control_inbox, rb_loop, control_deliver);
    mailbox_start(&control_inbox);
    if (!(workers = calloc((size_t)n, sizeof(*workers))))
        return -1;
    /* Signals are the control thread's: the workers start with every one blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (int i = 0; i < n; i++) {
        struct worker *w = calloc(1, sizeof(*w));
        int err;
        if (!w || !(w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK))) {
            log_err("cannot create worker %d: out of memory", i);
            if (w)
                free(w);
            goto bad;
        }
        w->index = i;
        mailbox_init(&w->inbox, w->loop, worker_deliver);
        mailbox_start(&w->inbox);
        ev_init(&w->batch, batch_cb);
        ev_set_priority(&w->batch, EV_MINPRI);
        if ((err = pthread_create(&w->thread, NULL, worker_main, w))) {
            log_err("cannot start worker %d: %s", i, strerror(err));
            worker_free(w);
            goto bad;
        }
        workers[nworkers++] = w;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    log_info("%d worker thread%s started", n, n == 1 ? "" : "s");
    return 0;
bad:
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    workers_stop();
    workers_free();
    return -1;
}

void workers_stop(void)
{
    for (int i = 0; i < nworkers; i++) {
        struct msg *m = msg_new(MSG_STOP);
        if (m)
            mailbox_post(&workers[i]->inbox, &m->mail);
        else
            ev_async_send(workers[i]->loop, &workers[i]->inbox.wake); /* best effort */
    }
    for (int i = 0; i < nworkers; i++)
        pthread_join(workers[i]->thread, NULL);
    /* Anything posted to the control thread meanwhile (its loop has stopped). */
    mailbox_drain(&control_inbox);
}

void workers_free(void)
{
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = workers[i];
        worker_self = NULL;
        /* Messages never delivered: clients handed over but not taken, passes. */
        struct mail *mail;
        while ((mail = mailbox_take(&w->inbox))) {
            struct msg *m = container_of(mail, struct msg, mail);
            if (mail->kind == MSG_CLIENT) {
                close(m->client.fd);
                worker_sessions_ended(w, 1);
            } else if (mail->kind == MSG_PASS) {
                server_pass_done(m->pass, 0, 0, 0, 0);
            }
            free(m);
        }
        worker_free(w);
    }
    free(workers);
    workers = NULL;
    nworkers = 0;
    mailbox_stop(&control_inbox);
}
