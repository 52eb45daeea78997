/* unit_greeting.h - for the unit tests that play a MySQL server: a protocol-10 greeting as
 * MariaDB sends one (its scramble and flags are filler bytes, which rebound only passes on). */
#ifndef UNIT_GREETING_H
#define UNIT_GREETING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define UNIT_GREETING_MAX 128

/* Write the greeting packet into BUF (UNIT_GREETING_MAX bytes); its length. */
static inline size_t unit_greeting(uint8_t *buf)
{
    static const char version[] = "10.11.6-MariaDB-log";
    const size_t rest = 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 13; /* thread id .. scramble */
    size_t n = 4;

    buf[n++] = 0x0a;
    memcpy(buf + n, version, sizeof(version));
    n += sizeof(version);
    memset(buf + n, 0x41, rest);
    n += rest;
    buf[0] = (uint8_t)(n - 4);
    buf[1] = buf[2] = buf[3] = 0;
    return n;
}

#endif
