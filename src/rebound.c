/* rebound.c - process-wide pieces: the event loop pointer and the monotonic clock. */
#include "rebound.h"

#include <errno.h>
#include <time.h>

struct ev_loop *rb_loop;

#ifdef REBOUND_TEST_HOOKS
void (*rebound_test_hook)(const char *where);
#endif

uint64_t mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t mono_ms(void)
{
    return mono_us() / 1000u;
}

bool local_shortage(int err)
{
    return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM ||
           err == EADDRNOTAVAIL;
}
