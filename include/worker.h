/* worker.h - worker threads: each runs its own libev loop with its own sessions. The control
 * thread (the main one: configuration, checks, server states, admin, stats, accept) talks to
 * them, and they to it, only through mail (mailbox.h). Each kind of message belongs to the
 * module that sends it and carries its own handler; this file only delivers:
 *   session.c  an accepted client, handed to a worker
 *   pass.c     a kill pass's share, to each worker, and its report back
 *   server.c   a run of traffic errors reaching error-limit, to the control thread
 *   listener.c room under maxconn again, to the control thread
 *   worker.c   the barrier (park) and the shutdown (stop), preallocated in each worker */
#ifndef WORKER_H
#define WORKER_H

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <ev.h>

#include "mailbox.h"

#define WORKERS_MAX  64
#define SCRATCH_SIZE (64 * 1024)
#define CACHE_LINE   64

struct session;
TAILQ_HEAD(worker_sessions, session);

/* A message that goes to the control thread once the fds queued before it are closed. */
struct after_closes {
    struct mail *m;
    uint64_t *stamp; /* gets mono_us() when M is posted */
    size_t at;       /* M goes once `closed` reaches this */
};

/* Server sides of killed sessions waiting to be closed, a batch per tick, and the messages
 * to send once the closes queued before them are done. */
struct closing {
    int *fds;
    size_t head, tail, cap;       /* fds[head..tail) wait; a ring would buy nothing here */
    struct after_closes *waiting; /* in order of `at` */
    size_t nwaiting, waiting_cap;
    size_t closed; /* fds closed so far (position in the queue, never reset) */
};

/* One worker thread. Everything in it belongs to that thread, except `assigned` (the control
 * thread's count of clients handed over), `ended` (read by the control thread) and the
 * inbox's head (every poster's); each of those has a cache line of its own. While the
 * worker is parked at the barrier, the control thread may touch its sessions. */
struct worker {
    int index;
    bool running; /* its thread was started (workers_start) */
    pthread_t thread;
    struct ev_loop *loop;
    struct mail park, stop; /* preallocated: the barrier and the shutdown never lack memory */
    uint64_t next_id;       /* session ids: next_id * nworkers + index + 1 */
    struct worker_sessions sessions; /* every live session of this worker */
    struct closing closing;
    ev_timer batch; /* closes the next batch of killed sessions' server sides */
    alignas(CACHE_LINE) unsigned assigned;          /* control thread only */
    alignas(CACHE_LINE) _Atomic unsigned ended;     /* sessions of this worker that ended */
    struct mailbox inbox;                           /* aligns its own producer and consumer sides */
    alignas(CACHE_LINE) char scratch[SCRATCH_SIZE]; /* the relay's read buffer */
};

/* The worker running this code; NULL on the control thread. */
extern _Thread_local struct worker *worker_self;

/* `threads auto`: the CPUs this process may run on (at least 1, at most WORKERS_MAX). */
int workers_auto(void);
/* Create N workers (loops, mailboxes) and the control thread's mailbox on rb_loop, without
 * starting their threads: unit tests run a worker's loop themselves, one step at a time
 * (worker_self set to it). 0 or -1 (logged). */
int workers_create(int n);
/* workers_create(), then a thread for each (before the listeners: servers size their
 * counters by the count). 0 or -1 (logged). */
int workers_start(int n);
/* Stop and join every worker thread. Their sessions stay for listeners_stop() to close;
 * workers_free() after that drops what was never delivered and frees the workers. */
void workers_stop(void);
void workers_free(void);
/* Workers created. */
int workers_count(void);
/* Slots in a server's per-thread counters: one per worker and one for the control thread. */
int workers_slots(void);
/* The counter slot of the calling thread. */
int workers_my_slot(void);
struct worker *worker_at(int i);

/* Control thread: the worker with the fewest live sessions (ties in turn), counted as given
 * one more. */
struct worker *workers_least_loaded(void);
/* Any thread: post M to worker W / to the control thread. */
void worker_post(struct worker *w, struct mail *m);
void control_post(struct mail *m);
/* Control thread: stop every worker at a barrier, so that the control thread alone touches
 * sessions and servers (reload, reaping, the admin port's session views and KILL); release
 * lets them go on. Not nested. What the workers posted before parking is run before
 * workers_isolate() returns. */
void workers_isolate(void);
void workers_release(void);
/* Control thread: run M now, or, while the workers are parked, right after
 * workers_release() (a kill pass started during a reload applies to the sessions as they are
 * after it). */
void workers_after_release(struct mail *m);

/* Worker W: N of its sessions ended (their last socket closed): for maxconn and for handing
 * new clients to the least loaded worker. */
void worker_sessions_ended(struct worker *w, unsigned n);
/* Worker: close FD (a killed session's server side) in a later batch. */
void worker_close_later(struct worker *w, int fd);
/* Worker W: post M to the control thread once every fd queued so far is closed, writing
 * mono_us() into *STAMP (if not NULL) as it goes. */
void worker_after_closes(struct worker *w, struct mail *m, uint64_t *stamp);

#endif
