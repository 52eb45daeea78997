/* unit_alloc.h - the router's own allocations fail on demand. A test binary that includes this
 * (once) is linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc (see the Makefile), so
 * every call from the router's objects and the test comes here; the libraries' own
 * allocations (libev, libc's stdio) are untouched. While unit_alloc_fail is set, each call
 * fails and is counted, from any thread. */
#ifndef UNIT_ALLOC_H
#define UNIT_ALLOC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static _Atomic bool unit_alloc_fail;
static atomic_uint unit_alloc_failed; /* calls refused while unit_alloc_fail was set */

/* True when this call must fail (and counts it). */
static bool unit_alloc_refuse(void)
{
    if (!atomic_load(&unit_alloc_fail))
        return false;
    atomic_fetch_add(&unit_alloc_failed, 1);
    return true;
}

void *__wrap_malloc(size_t n)
{
    return unit_alloc_refuse() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return unit_alloc_refuse() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return unit_alloc_refuse() ? NULL : __real_realloc(p, n);
}

#endif
