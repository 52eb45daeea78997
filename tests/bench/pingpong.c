/*
 * pingpong — C connections through a proxy, each doing one small request/response round trip
 * after another for T seconds; counts the round trips.  Used by tests/bench/run.sh for the relay
 * measurement, against tests/bench/tinyserver.c, which accepts any login.
 *
 *   pingpong -P PORT [-h HOST] [-c CONNS] [-t SECONDS] [-k query|ping] [-l LOGIN_TIMEOUT_S]
 *
 * The MySQL protocol is spoken by hand (the backend checks no password): read the greeting,
 * send a handshake response for user `bench` with an empty password, wait for the OK.  Once
 * every connection is logged in (or LOGIN_TIMEOUT_S, default 10, has passed), the measured
 * window starts: each connection sends a COM_QUERY `DO 1` (-k query, the default) or a COM_PING
 * (-k ping), waits for the whole answer, counts the round trip and sends the next one at once,
 * until SECONDS (default 10) have passed.  A connection whose answer is an ERR packet, or that
 * breaks, is counted as an error and closed.  Output is `key=value` lines: connections logged
 * in, round trips, the window's length, the rate, the median and 99th percentile round trip in
 * µs, errors, and this process's own CPU seconds (user+sys, getrusage).
 *
 * One thread, epoll, level-triggered, one request in flight per connection.
 *
 * Exit status: 0 when every connection logged in and none failed, 1 otherwise, 2 on bad usage.
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

#define IN_BUF    4096   /* largest answer accepted, header included */
#define HIST_US   100000 /* latency histogram: 1 µs buckets up to 100 ms, then one overflow */
#define MAX_CONNS 10000
#define CLIENT_CAP                                                                                 \
    (0x00000001u /* LONG_PASSWORD */ | 0x00000200u /* PROTOCOL_41 */ |                             \
     0x00002000u /* TRANSACTIONS */ | 0x00008000u /* SECURE_CONNECTION */ |                        \
     0x00020000u /* MULTI_RESULTS */ | 0x00080000u /* PLUGIN_AUTH */)

static const uint8_t req_query[] = {5, 0, 0, 0, 0x03, 'D', 'O', ' ', '1'}; /* COM_QUERY */
static const uint8_t req_ping[] = {1, 0, 0, 0, 0x0e};                      /* COM_PING */

/* Where a connection stands; each value names what it waits for. */
enum conn_state {
    C_CONNECT,  /* the TCP connect to complete */
    C_GREETING, /* the server's greeting */
    C_LOGIN,    /* the answer to its handshake response */
    C_READY,    /* logged in, waiting for the window to start */
    C_WAIT,     /* the answer to its request */
    C_DEAD,     /* closed after an error */
};

/* One client connection. */
struct conn {
    int fd;
    enum conn_state state;
    double sent; /* monotonic time of the request in flight */
    size_t in_len;
    uint8_t in[IN_BUF];
};

/* Command-line settings. */
struct opts {
    const char *host;
    unsigned port;
    unsigned conns;
    double seconds;
    double login_timeout;
    const uint8_t *req;
    size_t req_len;
};

/* What the run counted. */
struct tally {
    unsigned logged_in, errors;
    unsigned long long round_trips;
    unsigned *hist; /* HIST_US + 1 buckets of round-trip µs */
};

static double now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: pingpong -P PORT [-h HOST] [-c CONNS] [-t SECONDS] [-k query|ping] "
                    "[-l LOGIN_TIMEOUT_S]\n");
    exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    int c;

    *o = (struct opts){"127.0.0.1", 0, 64, 10, 10, req_query, sizeof req_query};
    while ((c = getopt(argc, argv, "h:P:c:t:k:l:")) != -1) {
        switch (c) {
        case 'h':
            o->host = optarg;
            break;
        case 'P':
            o->port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'c':
            o->conns = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 't':
            o->seconds = strtod(optarg, NULL);
            break;
        case 'k':
            if (strcmp(optarg, "ping") == 0) {
                o->req = req_ping;
                o->req_len = sizeof req_ping;
            } else if (strcmp(optarg, "query") != 0) {
                usage();
            }
            break;
        case 'l':
            o->login_timeout = strtod(optarg, NULL);
            break;
        default:
            usage();
        }
    }
    if (o->port == 0 || o->port > 65535 || o->conns == 0 || o->conns > MAX_CONNS ||
        o->seconds <= 0 || o->seconds > 3600 || o->login_timeout <= 0 || o->login_timeout > 600)
        usage();
}

static void put_le(uint8_t *p, uint32_t v, int n)
{
    int i;

    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Send all of B or fail: requests are tiny and one at a time, so a short write means trouble. */
static int send_all(int fd, const uint8_t *b, size_t len)
{
    return send(fd, b, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Handshake response (seq 1) for user `bench`, empty password, mysql_native_password. */
static int send_login(int fd)
{
    static const char plugin[] = "mysql_native_password";
    uint8_t b[128] = {0}, *p = b + 4;

    put_le(p, CLIENT_CAP, 4);
    put_le(p + 4, 16u << 20, 4); /* max packet */
    p[8] = 33;                   /* utf8_general_ci; 23 bytes of filler follow */
    p += 32;
    memcpy(p, "bench", 6);
    p += 6;
    *p++ = 0; /* auth response length */
    memcpy(p, plugin, sizeof plugin);
    p += sizeof plugin;
    put_le(b, (uint32_t)(p - b - 4), 3);
    b[3] = 1;
    return send_all(fd, b, (size_t)(p - b));
}

static void fail(int ep, struct conn *c, struct tally *t, const char *why)
{
    if (t->errors++ == 0)
        fprintf(stderr, "pingpong: first error: %s\n", why);
    (void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->state = C_DEAD;
}

static int start_conn(int ep, struct conn *c, const struct opts *o, unsigned idx)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = idx};
    int one = 1;

    if (inet_pton(AF_INET, o->host, &sa.sin_addr) != 1)
        return -1;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return -1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
        close(c->fd);
        return -1;
    }
    c->state = C_CONNECT;
    return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* Length of the whole packet at the start of C's input, 0 while it is incomplete. */
static size_t whole_packet(const struct conn *c)
{
    size_t len;

    if (c->in_len < 4)
        return 0;
    len = 4 + (c->in[0] | (size_t)c->in[1] << 8 | (size_t)c->in[2] << 16);
    return c->in_len >= len ? len : 0;
}

static void send_request(int ep, struct conn *c, struct tally *t, const struct opts *o)
{
    c->sent = now_mono();
    c->state = C_WAIT;
    if (send_all(c->fd, o->req, o->req_len) < 0)
        fail(ep, c, t, "send failed");
}

/* A whole packet of LEN bytes is at the start of C's input: act on it.  MEASURING: the window
 * is open, so an answer counts and the next request goes out. */
static void on_packet(int ep, struct conn *c, struct tally *t, const struct opts *o, size_t len,
                      int measuring)
{
    uint8_t first = len > 4 ? c->in[4] : 0xff;
    unsigned us;

    switch (c->state) {
    case C_GREETING:
        if (first != 10 || send_login(c->fd) < 0) {
            fail(ep, c, t, "bad greeting or login not sent");
            return;
        }
        c->state = C_LOGIN;
        return;
    case C_LOGIN:
        if (first != 0x00) {
            fail(ep, c, t, "login refused");
            return;
        }
        c->state = C_READY;
        t->logged_in++;
        return;
    case C_WAIT:
        if (first != 0x00) {
            fail(ep, c, t, "ERR or unexpected answer");
            return;
        }
        if (!measuring) {
            c->state = C_READY;
            return;
        }
        us = (unsigned)((now_mono() - c->sent) * 1e6);
        t->hist[us < HIST_US ? us : HIST_US]++;
        t->round_trips++;
        send_request(ep, c, t, o);
        return;
    default:
        fail(ep, c, t, "bytes nobody asked for");
        return;
    }
}

/* C's socket is ready. */
static void serve(int ep, unsigned idx, struct conn *c, struct tally *t, const struct opts *o,
                  int measuring)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = idx};
    int err = 0;
    socklen_t el = sizeof err;
    size_t len;
    ssize_t r;

    if (c->state == C_CONNECT) {
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
            fail(ep, c, t, "connect failed");
            return;
        }
        c->state = C_GREETING;
        (void)epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    r = recv(c->fd, c->in + c->in_len, IN_BUF - c->in_len, 0);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        fail(ep, c, t, r == 0 ? "closed by the peer" : strerror(errno));
        return;
    }
    if (r < 0)
        return;
    c->in_len += (size_t)r;
    while (c->state != C_DEAD && (len = whole_packet(c)) > 0) {
        on_packet(ep, c, t, o, len, measuring);
        memmove(c->in, c->in + len, c->in_len - len);
        c->in_len -= len;
    }
    if (c->state != C_DEAD && c->in_len == IN_BUF)
        fail(ep, c, t, "answer larger than the buffer");
}

/* Serve events until DEADLINE, or (login phase) until every live connection is READY. */
static void loop(int ep, struct conn *cs, struct tally *t, const struct opts *o, double deadline,
                 int measuring)
{
    struct epoll_event evs[256];
    int n, k, ms;

    for (;;) {
        ms = (int)((deadline - now_mono()) * 1000);
        if (ms <= 0 || (!measuring && t->logged_in + t->errors >= o->conns))
            return;
        n = epoll_wait(ep, evs, 256, ms < 100 ? ms : 100);
        for (k = 0; k < n; k++) {
            unsigned i = evs[k].data.u32;

            if (cs[i].state != C_DEAD)
                serve(ep, i, &cs[i], t, o, measuring);
        }
    }
}

/* The Q-quantile of the histogram, in µs. */
static unsigned quantile(const struct tally *t, double q)
{
    unsigned long long want = (unsigned long long)(q * (double)t->round_trips), seen = 0;
    unsigned us;

    for (us = 0; us <= HIST_US; us++) {
        seen += t->hist[us];
        if (seen > want)
            return us;
    }
    return HIST_US;
}

int main(int argc, char **argv)
{
    struct tally t = {0};
    double start, end;
    struct rusage ru;
    struct conn *cs;
    struct opts o;
    unsigned i;
    int ep;

    parse_opts(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    cs = calloc(o.conns, sizeof *cs);
    t.hist = calloc(HIST_US + 1, sizeof *t.hist);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!cs || !t.hist || ep < 0) {
        fprintf(stderr, "pingpong: out of memory\n");
        return 1;
    }
    for (i = 0; i < o.conns; i++) {
        if (start_conn(ep, &cs[i], &o, i) < 0) {
            cs[i].state = C_DEAD;
            if (t.errors++ == 0)
                fprintf(stderr, "pingpong: connect: %s\n", strerror(errno));
        }
    }
    loop(ep, cs, &t, &o, now_mono() + o.login_timeout, 0);

    /* The window: every logged-in connection starts its first round trip at once. */
    start = now_mono();
    for (i = 0; i < o.conns; i++)
        if (cs[i].state == C_READY)
            send_request(ep, &cs[i], &t, &o);
    loop(ep, cs, &t, &o, start + o.seconds, 1);
    end = now_mono();

    getrusage(RUSAGE_SELF, &ru);
    printf("conns=%u\nlogged_in=%u\nround_trips=%llu\nseconds=%.3f\nrate=%.0f\n", o.conns,
           t.logged_in, t.round_trips, end - start, (double)t.round_trips / (end - start));
    printf("p50_us=%u\np99_us=%u\nerrors=%u\ncpu_s=%.3f\n", quantile(&t, 0.5), quantile(&t, 0.99),
           t.errors,
           ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6);
    fflush(stdout);
    for (i = 0; i < o.conns; i++)
        if (cs[i].state != C_DEAD)
            close(cs[i].fd);
    close(ep);
    free(t.hist);
    free(cs);
    return t.logged_in == o.conns && t.errors == 0 ? 0 : 1;
}
