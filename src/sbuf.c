/* sbuf.c - a growing byte buffer for building responses in memory. */
#include "sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Make room for N more bytes plus a NUL; false (and FAILED set) if impossible. */
static bool reserve(struct sbuf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 1024;
    char *grown;

    if (b->failed)
        return false;
    if (b->len + n + 1 <= b->cap)
        return true;
    while (cap < b->len + n + 1) {
        if (cap > (size_t)-1 / 2)
            goto bad;
        cap *= 2;
    }
    if (!(grown = realloc(b->data, cap)))
        goto bad;
    b->data = grown;
    b->cap = cap;
    return true;
bad:
    b->failed = true;
    return false;
}

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sbuf_puts(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if (!reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sbuf_free(struct sbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->failed = false;
}
