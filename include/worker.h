/* worker.h - worker threads: each runs its own libev loop with its own sessions. The control
 * thread (the main one: configuration, checks, server states, admin, stats, accept) talks to
 * them, and they to it, only through the messages below. */
#ifndef WORKER_H
#define WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "check.h"
#include "mailbox.h"

#define WORKERS_MAX  64
#define SCRATCH_SIZE (64 * 1024)

struct listener;
struct server;
struct kill_pass;

/* Every message that crosses threads. */
enum msg_kind {
    /* control -> worker */
    MSG_CLIENT, /* a new client socket to route: the worker owns it from now on */
    MSG_PASS,   /* a kill pass over some servers' sessions (server.c) */
    MSG_PARK,   /* stop at the barrier until the control thread releases it */
    MSG_STOP,   /* leave the loop: the process is stopping */
    /* worker -> control */
    MSG_ON_ERROR,  /* a server reached its error-limit in traffic: apply on-error */
    MSG_PASS_DONE, /* one worker's share of a kill pass is over */
    MSG_ROOM,      /* sessions ended below maxconn: accept again */
};

/* A message; which member is used depends on the kind. Allocated by the sender, freed by the
 * receiver. */
struct msg {
    struct mail mail;
    union {
        struct {
            struct listener *l;
            int fd;
            socklen_t len;
            struct sockaddr_storage peer;
        } client;
        struct kill_pass *pass;
        struct {
            struct server *srv;
            struct check_result r;
            uint64_t seen_us; /* mono_us() when the worker counted the error */
        } error;
        struct {
            struct kill_pass *pass;
            unsigned killed, moved;
            uint64_t clients_us, total_us; /* since the pass was posted */
        } done;
    };
};

/* A kill pass report that goes out once `closed` reaches AT. */
struct report_wait {
    struct msg *m;
    size_t at;
};

/* Server sides of killed sessions waiting to be closed, a batch per tick, and the
 * pass reports to send once the closes queued before them are done. */
struct closing {
    int *fds;
    size_t head, tail, cap;      /* fds[head..tail) wait; a ring would buy nothing here */
    struct report_wait *reports; /* in order of `at` */
    size_t nreports, reports_cap;
    size_t closed; /* fds closed so far (position in the queue, never reset) */
};

/* One worker thread. Everything in it belongs to that thread, except `assigned` (the control
 * thread's count of clients handed over) and `ended` (read by the control thread). While the
 * worker is parked at the barrier, the control thread may touch its sessions. */
struct worker {
    int index;
    pthread_t thread;
    struct ev_loop *loop;
    struct mailbox inbox;
    unsigned assigned;      /* control thread only */
    _Atomic unsigned ended; /* sessions of this worker that ended */
    uint64_t next_id;       /* session ids: next_id * nworkers + index + 1 */
    struct closing closing;
    ev_timer batch;             /* closes the next batch of killed sessions' server sides */
    char scratch[SCRATCH_SIZE]; /* the relay's read buffer */
};

/* The worker running this code; NULL on the control thread. */
extern _Thread_local struct worker *worker_self;

/* `threads auto`: the CPUs this process may run on (at least 1, at most WORKERS_MAX). */
int workers_auto(void);
/* Create N worker threads (before the listeners: servers size their counters by it). 0 or
 * -1 (logged). Also sets up the control thread's mailbox on rb_loop. */
int workers_start(int n);
/* Stop and join every worker, then close what they still hold (killed sessions' server
 * sides). Their sessions stay for listeners_stop() to close; workers_free() after that. */
void workers_stop(void);
void workers_free(void);
/* Worker threads running (0 in unit tests). */
int workers_count(void);
/* Slots in a server's per-thread counters: one per worker and one for the control thread. */
int workers_slots(void);
/* The counter slot of the calling thread. */
int workers_my_slot(void);
struct worker *worker_at(int i);

/* Control thread: give accepted client FD (from PEER) of listener L to the worker with the
 * fewest sessions. */
void workers_hand_client(struct listener *l, int fd, const struct sockaddr *peer, socklen_t len);
/* Control thread: post kill pass P to every worker. */
void workers_post_pass(struct kill_pass *p);
/* Control thread: stop every worker at a barrier, so that the control thread alone touches
 * sessions and servers (reload, reaping, the admin port's session views and KILL); release
 * lets them go on. Not nested. */
void workers_isolate(void);
void workers_release(void);

/* Any thread: send M (kind set) to the control thread; on the control thread itself it is
 * delivered at once. */
void control_post(struct msg *m);

/* Worker W: N of its sessions ended (their last socket closed): for maxconn and for handing
 * new clients to the least loaded worker. */
void worker_sessions_ended(struct worker *w, unsigned n);
/* Worker: close FD (a killed session's server side) in a later batch. */
void worker_close_later(struct worker *w, int fd);
/* Worker: post REPORT (MSG_PASS_DONE; total_us is filled in then) once every fd queued so
 * far is closed. */
void worker_report_after_closes(struct worker *w, struct msg *report);

#endif
