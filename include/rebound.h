/* rebound.h - process-wide pieces: the event loop, version, small helpers. */
#ifndef REBOUND_H
#define REBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#define REBOUND_VERSION "0.1.0"

/* Event priorities. Health checks and the state changes they trigger (session
 * kills) run before any client I/O pending in the same loop iteration. */
#define PRI_CHECK EV_MAXPRI
#define PRI_IO    0

/* The one event loop of the process. */
extern struct ev_loop *rb_loop;

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define ARRAY_SIZE(a)                   (sizeof(a) / sizeof((a)[0]))

/* Is ERR (an errno) rebound's own shortage rather than the peer's doing: out of
 * descriptors, memory, buffers or local ports? Such a failure never counts against a
 * server. */
bool local_shortage(int err);

/* A point where a unit test may force an interleaving of threads (STYLE: hooks for tests
 * only). Compiled in only with -DREBOUND_TEST_HOOKS, as the unit tests' copy of the objects
 * is: in the product TEST_HOOK() is nothing at all. */
#ifdef REBOUND_TEST_HOOKS
extern void (*rebound_test_hook)(const char *where);
#define TEST_HOOK(where)                                                                           \
    do {                                                                                           \
        if (rebound_test_hook)                                                                     \
            rebound_test_hook(#where);                                                             \
    } while (0)
#else
#define TEST_HOOK(where)                                                                           \
    do {                                                                                           \
    } while (0)
#endif

/* Monotonic clock in milliseconds, for measuring durations. */
uint64_t mono_ms(void);
/* Monotonic clock in microseconds. */
uint64_t mono_us(void);

#endif
