/* mailbox.h - messages between threads: a lock-free queue any thread may post to, drained by
 * the one thread that owns it, woken by an ev_async at top priority. A message carries its
 * own handler and its own clean-up, so the mailbox delivers without knowing any kind. */
#ifndef MAILBOX_H
#define MAILBOX_H

#include <stdatomic.h>

#include <ev.h>

/* The head of every message: embed it in the message's struct and recover that with
 * container_of in RUN and DROP. Exactly one of them is called for each posting. */
struct mail {
    _Atomic(struct mail *) next;
    /* On the receiving thread: do what the message says, then release what it holds (free
     * it, or post it on: the node is free again when RUN is called). */
    void (*run)(struct mail *m);
    /* The receiver stopped before delivering it (shutdown): release what it holds only. */
    void (*drop)(struct mail *m);
};

/* A multi-producer, single-consumer queue (an intrusive linked list with a stub node:
 * posting is one atomic exchange, no lock) plus the ev_async that wakes its owner. */
struct mailbox {
    _Alignas(64) _Atomic(struct mail *) head; /* last posted: producers swap themselves in */
    _Alignas(64) struct mail *tail;           /* next to deliver: the owner's alone */
    struct mail stub;
    ev_async wake;
    struct ev_loop *loop;
};

/* Set MB up for the thread running LOOP; messages are run in posting order. */
void mailbox_init(struct mailbox *mb, struct ev_loop *loop);
/* Start / stop watching for messages (on the owner's thread, or before it runs). */
void mailbox_start(struct mailbox *mb);
void mailbox_stop(struct mailbox *mb);
/* From any thread: queue M (run and drop set by the caller) and wake the owner. Never blocks,
 * never allocates. */
void mailbox_post(struct mailbox *mb, struct mail *m);
/* On the owner's thread: the next message, or NULL when none is (completely) posted. */
struct mail *mailbox_take(struct mailbox *mb);
/* On the owner's thread: run everything queued now. */
void mailbox_drain(struct mailbox *mb);
/* On the owner's thread, once it has stopped for good: drop everything still queued. */
void mailbox_discard(struct mailbox *mb);

#endif
