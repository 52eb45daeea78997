/* worker.c - worker threads, the mail between them and the control thread, and the barrier.
 *
 * Threads and what they own:
 *   control (main thread, rb_loop): configuration, listeners and accept, checks, every
 *     server's state, the health log, the admin and stats ports, reload. It hands each
 *     accepted client to the worker with the fewest sessions (workers_least_loaded).
 *   worker i (its own loop): the sessions handed to it, from routing to close, its slot of
 *     every server's counters (server.h, struct srv_tally), and its close batches.
 * Data crosses threads only as mail (each kind owned by the module that sends it: worker.h),
 * as the routing state server.c publishes with atomics, and through the barrier:
 * workers_isolate() parks every worker inside a message, so that the control thread alone
 * may touch sessions until workers_release() (reload, reaping, the admin port's session
 * views). A worker never waits for anything else.
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

/* Mail to run once the workers are released (workers_after_release), in order. */
static struct mail **after_release;
static size_t nafter, after_cap;

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

void worker_post(struct worker *w, struct mail *m)
{
    mailbox_post(&w->inbox, m);
}

void control_post(struct mail *m)
{
    mailbox_post(&control_inbox, m);
}

struct worker *workers_least_loaded(void)
{
    struct worker *best = NULL;
    unsigned best_live = 0;

    /* Fewest live sessions (handed over minus ended), ties in turn. */
    for (int k = 0; k < nworkers; k++) {
        struct worker *w = workers[(hand_rr + (unsigned)k) % (unsigned)nworkers];
        unsigned live = w->assigned - atomic_load_explicit(&w->ended, memory_order_relaxed);
        if (!best || live < best_live)
            best = w, best_live = live;
    }
    hand_rr++;
    best->assigned++;
    return best;
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

static void post_after_closes(struct after_closes *a)
{
    if (a->stamp)
        *a->stamp = mono_us();
    control_post(a->m);
}

/* Send what waited for closes that are all done now. */
static void send_waiting(struct worker *w)
{
    struct closing *c = &w->closing;
    size_t i = 0;

    while (i < c->nwaiting && c->waiting[i].at <= c->closed)
        post_after_closes(&c->waiting[i++]);
    if (i == 0)
        return;
    memmove(c->waiting, c->waiting + i, (c->nwaiting - i) * sizeof(*c->waiting));
    c->nwaiting -= i;
}

/* One batch per tick (a repeating timer, stopped when the queue is empty): between batches,
 * accepts and every session's I/O run. */
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
    listeners_closing(-(int)n);
    send_waiting(w);
    if (c->head == c->tail) {
        c->head = c->tail = 0;
        ev_timer_stop(loop, t);
    }
}

void worker_close_later(struct worker *w, int fd)
{
    struct closing *c = &w->closing;

    if (!grow((void **)&c->fds, &c->cap, c->tail + 1, sizeof(*c->fds))) {
        close(fd); /* no memory for the queue: close it now */
        c->closed++;
        return;
    }
    c->fds[c->tail++] = fd;
    listeners_closing(1);
    /* The first batch at the next loop iteration, then one a period until the queue is empty. */
    if (!ev_is_active(&w->batch)) {
        ev_timer_set(&w->batch, 0, CLOSE_PERIOD_S);
        ev_timer_start(w->loop, &w->batch);
    }
}

void worker_after_closes(struct worker *w, struct mail *m, uint64_t *stamp)
{
    struct closing *c = &w->closing;
    struct after_closes a = {.m = m, .stamp = stamp, .at = c->closed + (c->tail - c->head)};

    if (c->head == c->tail ||
        !grow((void **)&c->waiting, &c->waiting_cap, c->nwaiting + 1, sizeof(*c->waiting))) {
        post_after_closes(&a); /* nothing left to close (or no memory to wait): now */
        return;
    }
    c->waiting[c->nwaiting++] = a;
}

/* ---- the barrier and shutdown ---- */

/* Park mail: wait at the barrier until the control thread releases this generation. */
static void park_run(struct mail *m)
{
    (void)m;
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

/* Stop mail: leave the loop, the process is stopping. */
static void stop_run(struct mail *m)
{
    struct worker *w = container_of(m, struct worker, stop);

    ev_break(w->loop, EVBREAK_ALL);
}

/* Park and stop mail are part of the worker: nothing to release. */
static void embedded_drop(struct mail *m)
{
    (void)m;
}

void workers_isolate(void)
{
    if (isolated || worker_self)
        return;
    for (int i = 0; i < nworkers; i++)
        worker_post(workers[i], &workers[i]->park);
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
    size_t i;

    if (!isolated)
        return;
    pthread_mutex_lock(&park_mu);
    park_gen++;
    pthread_cond_broadcast(&park_cv);
    while (parked > 0) /* all gone before the next barrier can count them */
        pthread_cond_wait(&park_cv, &park_mu);
    pthread_mutex_unlock(&park_mu);
    isolated = false;
    /* Each may isolate again (and so add to the list): take them one at a time. */
    for (i = 0; i < nafter; i++)
        after_release[i]->run(after_release[i]);
    nafter = 0;
}

void workers_after_release(struct mail *m)
{
    if (!isolated) {
        m->run(m);
        return;
    }
    if (!grow((void **)&after_release, &after_cap, nafter + 1, sizeof(*after_release))) {
        /* No memory to wait: run it now, on the sessions as they are before the release. */
        log_err("out of memory: work meant for after the barrier runs inside it");
        m->run(m);
        return;
    }
    after_release[nafter++] = m;
}

/* ---- the threads ---- */

static void *worker_main(void *arg)
{
    struct worker *w = arg;

    worker_self = w;
    ev_run(w->loop, 0);
    worker_self = NULL;
    return NULL;
}

/* Close what W still holds and free it; its mailbox was discarded before. */
static void worker_free(struct worker *w)
{
    struct closing *c = &w->closing;

    while (c->head < c->tail)
        close(c->fds[c->head++]);
    /* Mail still waiting for closes goes now: a kill pass still ends and logs. */
    for (size_t i = 0; i < c->nwaiting; i++)
        post_after_closes(&c->waiting[i]);
    free(c->fds);
    free(c->waiting);
    if (w->loop)
        ev_loop_destroy(w->loop);
    free(w);
}

/* A worker with its loop and mailbox, no thread yet. */
static struct worker *worker_new(int index)
{
    struct worker *w = NULL;

    if (posix_memalign((void **)&w, CACHE_LINE, sizeof(*w)) != 0)
        return NULL;
    memset(w, 0, sizeof(*w));
    if (!(w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK))) {
        free(w);
        return NULL;
    }
    w->index = index;
    TAILQ_INIT(&w->sessions);
    w->park = (struct mail){.run = park_run, .drop = embedded_drop};
    w->stop = (struct mail){.run = stop_run, .drop = embedded_drop};
    mailbox_init(&w->inbox, w->loop);
    mailbox_start(&w->inbox);
    ev_init(&w->batch, batch_cb);
    ev_set_priority(&w->batch, EV_MINPRI);
    return w;
}

int workers_create(int n)
{
    mailbox_init(&control_inbox, rb_loop);
    mailbox_start(&control_inbox);
    if (!(workers = calloc((size_t)n, sizeof(*workers))))
        return -1;
    for (int i = 0; i < n; i++) {
        if (!(workers[i] = worker_new(i))) {
            log_err("cannot create worker %d: out of memory", i);
            workers_free();
            return -1;
        }
        nworkers++;
    }
    return 0;
}

int workers_start(int n)
{
    sigset_t all, old;
    int err = 0, i;

    if (workers_create(n) < 0)
        return -1;
    /* Signals are the control thread's: the workers start with every one blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (i = 0; i < n && !err; i++) {
        struct worker *w = workers[i];
        if ((err = pthread_create(&w->thread, NULL, worker_main, w)))
            log_err("cannot start worker %d: %s", i, strerror(err));
        else
            w->running = true;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        workers_stop();
        workers_free();
        return -1;
    }
    log_info("%d worker thread%s started", n, n == 1 ? "" : "s");
    return 0;
}

void workers_stop(void)
{
    for (int i = 0; i < nworkers; i++)
        if (workers[i]->running)
            worker_post(workers[i], &workers[i]->stop);
    for (int i = 0; i < nworkers; i++) {
        if (workers[i]->running)
            pthread_join(workers[i]->thread, NULL);
        workers[i]->running = false;
    }
    /* Anything posted to the control thread meanwhile (its loop has stopped). */
    mailbox_drain(&control_inbox);
}

void workers_free(void)
{
    for (int i = 0; i < nworkers; i++) {
        /* Mail never delivered (clients handed over but not taken, pass shares) is dropped;
         * what that posts to the control thread is run below. */
        mailbox_discard(&workers[i]->inbox);
        worker_free(workers[i]);
    }
    mailbox_drain(&control_inbox);
    mailbox_stop(&control_inbox);
    free(workers);
    workers = NULL;
    nworkers = 0;
    free(after_release);
    after_release = NULL;
    nafter = after_cap = 0;
}
