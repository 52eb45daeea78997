/* mailbox.h - messages between threads: a lock-free queue any thread may post to, drained by
 * the one thread that owns it, woken by an ev_async at top priority. */
#ifndef MAILBOX_H
#define MAILBOX_H

#include <stdatomic.h>

#include <ev.h>

/* The head of every message; embed it first in a message struct and recover the message
 * with container_of in the owner's deliver callback, which also frees it. */
struct mail {
    _Atomic(struct mail *) next;
    int kind; /* the owner's enum */
};

/* A multi-producer, single-consumer queue (an intrusive linked list with a stub node:
 * posting is one atomic exchange, no lock) plus the ev_async that wakes its owner. */
struct mailbox {
    _Atomic(struct mail *) head; /* last posted: producers swap themselves in here */
    struct mail *tail;           /* next to deliver: the owner's alone */
    struct mail stub;
    ev_async wake;
    struct ev_loop *loop;
    void (*deliver)(struct mailbox *mb, struct mail *m);
};

/* Set MB up for the thread running LOOP; DELIVER gets each message, in posting order. */
void mailbox_init(struct mailbox *mb, struct ev_loop *loop,
                  void (*deliver)(struct mailbox *, struct mail *));
/* Start / stop watching for messages (on the owner's thread, or before it runs). */
void mailbox_start(struct mailbox *mb);
void mailbox_stop(struct mailbox *mb);
/* From any thread: queue M (kind set by the caller) and wake the owner. Never blocks. */
void mailbox_post(struct mailbox *mb, struct mail *m);
/* On the owner's thread: the next message, or NULL when none is (completely) posted. */
struct mail *mailbox_take(struct mailbox *mb);
/* On the owner's thread: deliver everything queued now. */
void mailbox_drain(struct mailbox *mb);

#endif
