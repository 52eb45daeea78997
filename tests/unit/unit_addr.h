/* unit_addr.h - for the unit tests that need a client's or a server's address: IPv4 and IPv6
 * socket addresses from text. */
#ifndef UNIT_ADDR_H
#define UNIT_ADDR_H

#include <stdint.h>

#include <arpa/inet.h>
#include <netinet/in.h>

static inline struct sockaddr_in v4(const char *ip, uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static inline struct sockaddr_in6 v6(const char *ip, uint16_t port)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};

    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

#endif
