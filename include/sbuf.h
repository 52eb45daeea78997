/* sbuf.h - a growing byte buffer for building responses (HTTP pages) in memory. */
#ifndef SBUF_H
#define SBUF_H

#include <stdbool.h>
#include <stddef.h>

/* A heap buffer that grows as text is appended. After an allocation failure it stops
 * growing and sets FAILED, so callers append freely and check once at the end. */
struct sbuf {
    char *data; /* NUL-terminated while not failed; NULL until the first append */
    size_t len;
    size_t cap;
    bool failed;
};

/* Append N bytes of S. */
void sbuf_add(struct sbuf *b, const char *s, size_t n);
/* Append a NUL-terminated string. */
void sbuf_puts(struct sbuf *b, const char *s);
/* Append formatted text. */
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free the memory and make B empty again. */
void sbuf_free(struct sbuf *b);

#endif
