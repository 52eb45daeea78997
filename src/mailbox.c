/* mailbox.c - messages between threads (see mailbox.h).
 *
 * The queue is the classic intrusive MPSC list: producers exchange the head pointer and
 * then link the previous head to their node; the consumer walks from the tail. Between a
 * producer's exchange and its link the list is briefly cut: the consumer then stops and
 * waits for the ev_async that producer sends once its message is linked. The stub node
 * keeps the list non-empty so neither side ever needs a lock.
 *
 * Threads: mailbox_post from any thread; everything else on the owner's thread.
 */
#include "mailbox.h"

#include <stddef.h>

#include "rebound.h"

static void wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct mailbox *mb = container_of(w, struct mailbox, wake);
    (void)loop;
    (void)revents;

    mailbox_drain(mb);
}

void mailbox_init(struct mailbox *mb, struct ev_loop *loop)
{
    atomic_init(&mb->stub.next, NULL);
    atomic_init(&mb->head, &mb->stub);
    mb->tail = &mb->stub;
    mb->loop = loop;
    ev_async_init(&mb->wake, wake_cb);
    ev_set_priority(&mb->wake, EV_MAXPRI);
}

void mailbox_start(struct mailbox *mb)
{
    ev_async_start(mb->loop, &mb->wake);
}

void mailbox_stop(struct mailbox *mb)
{
    ev_async_stop(mb->loop, &mb->wake);
}

static void push(struct mailbox *mb, struct mail *m)
{
    struct mail *prev;

    atomic_store_explicit(&m->next, NULL, memory_order_relaxed);
    prev = atomic_exchange_explicit(&mb->head, m, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, m, memory_order_release);
}

void mailbox_post(struct mailbox *mb, struct mail *m)
{
    push(mb, m);
    ev_async_send(mb->loop, &mb->wake);
}

struct mail *mailbox_take(struct mailbox *mb)
{
    struct mail *tail = mb->tail;
    struct mail *next = atomic_load_explicit(&tail->next, memory_order_acquire);

    if (tail == &mb->stub) {
        if (!next)
            return NULL;
        mb->tail = tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next) {
        mb->tail = next;
        return tail;
    }
    /* TAIL is the last linked node: unless a producer is mid-post, put the stub behind it
     * so TAIL can be handed out. */
    if (tail != atomic_load_explicit(&mb->head, memory_order_acquire))
        return NULL; /* its producer will wake us once linked */
    push(mb, &mb->stub);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (!next)
        return NULL;
    mb->tail = next;
    return tail;
}

void mailbox_drain(struct mailbox *mb)
{
    struct mail *m;

    while ((m = mailbox_take(mb)))
        m->run(m);
}

void mailbox_discard(struct mailbox *mb)
{
    struct mail *m;

    while ((m = mailbox_take(mb)))
        m->drop(m);
}
