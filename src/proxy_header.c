/* proxy_header.c - the PROXY protocol header, versions 1 (text) and 2 (binary), as HAProxy
 * specifies it: the line or block a proxy writes first on a server connection to say where
 * the client came from. Pure formatting, no I/O. */
#include "proxy_header.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* The 12 bytes every version 2 header starts with. */
static const uint8_t v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                   0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* Does the pair say where the client came from (both IPv4 or both IPv6)? */
static int family_of(const struct sockaddr *src, const struct sockaddr *dst)
{
    if (!src || !dst || src->sa_family != dst->sa_family)
        return AF_UNSPEC;
    return src->sa_family == AF_INET || src->sa_family == AF_INET6 ? src->sa_family : AF_UNSPEC;
}

/* Where an IPv4 or IPv6 socket address keeps its address bytes and its port (network order). */
struct endpoint {
    const void *addr;
    size_t alen; /* 4 or 16 */
    const void *port;
};

static struct endpoint endpoint_of(int fam, const struct sockaddr *sa)
{
    const struct sockaddr_in *in = (const void *)sa;
    const struct sockaddr_in6 *in6 = (const void *)sa;

    if (fam == AF_INET)
        return (struct endpoint){&in->sin_addr, 4, &in->sin_port};
    return (struct endpoint){&in6->sin6_addr, 16, &in6->sin6_port};
}

static unsigned port_of(const struct endpoint *e)
{
    const uint8_t *p = e->port;

    return (unsigned)p[0] << 8 | p[1];
}

static size_t v1(uint8_t *buf, int fam, const struct sockaddr *src, const struct sockaddr *dst)
{
    char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
    struct endpoint a, b;
    int n;

    if (fam == AF_UNSPEC) {
        memcpy(buf, "PROXY UNKNOWN\r\n", 15);
        return 15;
    }
    a = endpoint_of(fam, src);
    b = endpoint_of(fam, dst);
    inet_ntop(fam, a.addr, s, sizeof(s));
    inet_ntop(fam, b.addr, d, sizeof(d));
    n = snprintf((char *)buf, PROXY_HEADER_MAX, "PROXY %s %s %s %u %u\r\n",
                 fam == AF_INET ? "TCP4" : "TCP6", s, d, port_of(&a), port_of(&b));
    return n > 0 && n < PROXY_HEADER_MAX ? (size_t)n : 0;
}

static size_t v2(uint8_t *buf, int fam, const struct sockaddr *src, const struct sockaddr *dst)
{
    size_t len = 0;
    uint8_t *p = buf + 16;

    memcpy(buf, v2_sig, sizeof(v2_sig));
    buf[12] = fam == AF_UNSPEC ? 0x20 : 0x21;                        /* version 2, LOCAL or PROXY */
    buf[13] = fam == AF_INET ? 0x11 : fam == AF_INET6 ? 0x21 : 0x00; /* over TCP */
    if (fam != AF_UNSPEC) { /* source and destination addresses, then their ports */
        struct endpoint a = endpoint_of(fam, src), b = endpoint_of(fam, dst);
        memcpy(p, a.addr, a.alen);
        memcpy(p + a.alen, b.addr, b.alen);
        memcpy(p + 2 * a.alen, a.port, 2);
        memcpy(p + 2 * a.alen + 2, b.port, 2);
        len = 2 * a.alen + 4;
    }
    buf[14] = (uint8_t)(len >> 8);
    buf[15] = (uint8_t)len;
    return 16 + len;
}

size_t proxy_header(uint8_t *buf, int version, const struct sockaddr *src,
                    const struct sockaddr *dst)
{
    int fam = family_of(src, dst);

    return version == 2 ? v2(buf, fam, src, dst) : v1(buf, fam, src, dst);
}
