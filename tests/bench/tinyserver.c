/*
 * tinyserver — a fake MySQL server that costs almost nothing per request, so that a proxy in
 * front of it becomes the bottleneck.  Used by tests/bench/run.sh for the relay measurement.
 *
 *   tinyserver -P PORT [-h HOST] [-t MAX_SECONDS]
 *
 * Every accepted client gets a protocol-10 greeting (mysql_native_password, no TLS, no
 * compression); its first packet, the handshake response, is answered with an OK packet whatever
 * user and password it names; every later packet is taken as a command and answered with a
 * prebuilt OK packet (COM_QUIT closes).  Sequence ids follow the protocol (the answer carries the
 * request's id plus one), so a proxy that follows the MySQL stream sees a normal session.  No SQL
 * is parsed: `DO 1`, `SELECT 1` and COM_PING all get the same OK.
 *
 * One thread, epoll, level-triggered.  A connection that sends a packet larger than its buffer,
 * or that lets unsent answers pile up, is closed.  The server exits on SIGTERM or SIGINT, or after
 * MAX_SECONDS (default 3600), and prints `accepted=A requests=R` on the way out.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IN_BUF   16384 /* largest packet accepted, header included */
#define OUT_BUF  4096  /* answers waiting for the socket to drain */
#define COM_QUIT 0x01

/* Capabilities the greeting offers: 4.1 protocol and auth plugins, nothing that changes the
 * framing (no TLS, no compression). */
#define CAPS                                                                                       \
    (0x00000001u /* LONG_PASSWORD */ | 0x00000004u /* LONG_FLAG */ |                               \
     0x00000008u /* CONNECT_WITH_DB */ | 0x00000200u /* PROTOCOL_41 */ |                           \
     0x00002000u /* TRANSACTIONS */ | 0x00008000u /* SECURE_CONNECTION */ |                        \
     0x00010000u /* MULTI_STATEMENTS */ | 0x00020000u /* MULTI_RESULTS */ |                        \
     0x00080000u /* PLUGIN_AUTH */)

/* OK packet: affected rows 0, insert id 0, status AUTOCOMMIT, no warnings; byte 3 = seq id. */
static const uint8_t ok_packet[] = {7, 0, 0, 0, 0x00, 0, 0, 0x02, 0, 0, 0};

/* One client connection: unparsed input and unsent output. */
struct conn {
    int fd;
    int logged_in; /* its handshake response has been answered */
    size_t in_len, out_len;
    uint8_t in[IN_BUF];
    uint8_t out[OUT_BUF];
};

static volatile sig_atomic_t stop;
static uint8_t greeting[128];
static size_t greeting_len;
static unsigned long long accepted, requests;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static double now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: tinyserver -P PORT [-h HOST] [-t MAX_SECONDS]\n");
    exit(2);
}

static void put_le(uint8_t *p, uint32_t v, int n)
{
    int i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Build the protocol-10 greeting once; every client gets the same scramble (nothing checks it). */
static void build_greeting(void)
{
    static const char version[] = "10.11.0-tinyserver";
    static const char plugin[] = "mysql_native_password";
    uint8_t *p = greeting + 4;

    *p++ = 10;
    memcpy(p, version, sizeof version); /* with its NUL */
    p += sizeof version;
    put_le(p, 1, 4); /* thread id */
    p += 4;
    memcpy(p, "abcdefgh", 8); /* scramble, first part */
    p += 8;
    *p++ = 0;
    put_le(p, CAPS & 0xffff, 2);
    p += 2;
    *p++ = 33; /* utf8_general_ci */
    put_le(p, 0x0002, 2);
    p += 2;
    put_le(p, CAPS >> 16, 2);
    p += 2;
    *p++ = 21; /* scramble length, NUL included */
    memset(p, 0, 10);
    p += 10;
    memcpy(p, "ijklmnopqrst", 13); /* scramble, second part, with its NUL */
    p += 13;
    memcpy(p, plugin, sizeof plugin);
    p += sizeof plugin;
    greeting_len = (size_t)(p - greeting);
    put_le(greeting, (uint32_t)(greeting_len - 4), 3);
    greeting[3] = 0;
}

/* Queue LEN bytes for C and send what the socket takes; -1 when C must be closed. */
static int send_bytes(struct conn *c, const uint8_t *b, size_t len)
{
    ssize_t w;

    if (c->out_len + len > OUT_BUF)
        return -1;
    memcpy(c->out + c->out_len, b, len);
    c->out_len += len;
    w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
    if (w < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
    return 0;
}

/* Answer every whole packet in C's input; -1 when C must be closed. */
static int answer(struct conn *c)
{
    uint8_t ok[sizeof ok_packet];
    size_t off = 0, len;

    while (c->in_len - off >= 4) {
        len = 4 + (c->in[off] | (size_t)c->in[off + 1] << 8 | (size_t)c->in[off + 2] << 16);
        if (len > IN_BUF)
            return -1;
        if (c->in_len - off < len)
            break;
        if (c->logged_in && len > 4 && c->in[off + 4] == COM_QUIT)
            return -1;
        memcpy(ok, ok_packet, sizeof ok);
        ok[3] = (uint8_t)(c->in[off + 3] + 1);
        if (send_bytes(c, ok, sizeof ok) < 0)
            return -1;
        requests += c->logged_in;
        c->logged_in = 1;
        off += len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return 0;
}

static void close_conn(int ep, struct conn *c)
{
    (void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* Interest for C: always input; output too while answers wait. */
static void set_interest(int ep, struct conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | (c->out_len ? EPOLLOUT : 0), .data.ptr = c};

    (void)epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* C's socket is ready: read and answer, or flush. */
static void serve(int ep, struct conn *c, uint32_t events)
{
    size_t had = c->out_len;
    ssize_t r;

    if (events & EPOLLOUT && send_bytes(c, (const uint8_t *)"", 0) < 0)
        goto bad;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        r = recv(c->fd, c->in + c->in_len, IN_BUF - c->in_len, 0);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            goto bad;
        if (r > 0) {
            c->in_len += (size_t)r;
            if (answer(c) < 0)
                goto bad;
        }
    }
    if ((had == 0) != (c->out_len == 0))
        set_interest(ep, c);
    return;
bad:
    close_conn(ep, c);
}

/* Accept what the listening socket has; each new client gets the greeting at once. */
static void accept_all(int ep, int lfd)
{
    struct epoll_event ev;
    struct conn *c;
    int fd, one = 1;

    while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        accepted++;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
            continue;
        }
        if (send_bytes(c, greeting, greeting_len) < 0)
            close_conn(ep, c);
        else if (c->out_len)
            set_interest(ep, c);
    }
}

static int listen_on(const char *host, unsigned port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd, one = 1;

    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        fprintf(stderr, "tinyserver: bad address %s\n", host);
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0) {
        perror("tinyserver: bind/listen");
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    double max_seconds = 3600, deadline;
    struct epoll_event ev, evs[256];
    unsigned port = 0;
    int c, ep, lfd, n, k;
    struct rlimit rl;

    while ((c = getopt(argc, argv, "h:P:t:")) != -1) {
        switch (c) {
        case 'h':
            host = optarg;
            break;
        case 'P':
            port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 't':
            max_seconds = strtod(optarg, NULL);
            break;
        default:
            usage();
        }
    }
    if (port == 0 || port > 65535 || max_seconds <= 0)
        usage();
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    build_greeting();
    lfd = listen_on(host, port);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (lfd < 0 || ep < 0)
        return 1;
    ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        return 1;

    deadline = now_mono() + max_seconds;
    while (!stop && now_mono() < deadline) {
        n = epoll_wait(ep, evs, 256, 1000);
        for (k = 0; k < n; k++) {
            if (evs[k].data.ptr == NULL)
                accept_all(ep, lfd);
            else
                serve(ep, evs[k].data.ptr, evs[k].events);
        }
    }
    printf("accepted=%llu requests=%llu\n", accepted, requests);
    return 0;
}
