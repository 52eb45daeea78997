/* proxy_header.h - the PROXY protocol header (versions 1 and 2) rebound sends a server with
 * `send-proxy` / `send-proxy-v2`, so that it sees the client's own address. */
#ifndef PROXY_HEADER_H
#define PROXY_HEADER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_HEADER_MAX 108 /* the longest v1 line; a v2 header for IPv6 is 52 bytes */

/* Write into BUF (PROXY_HEADER_MAX bytes at least) the header of VERSION (1 or 2) for a
 * connection from SRC to DST (the client's address and the one it connected to). Addresses of
 * two families, or not IPv4/IPv6, give the header for an unknown origin (v1 UNKNOWN, v2
 * LOCAL), which a server takes as no header at all. Returns the header's length. */
size_t proxy_header(uint8_t *buf, int version, const struct sockaddr *src,
                    const struct sockaddr *dst);

#endif
