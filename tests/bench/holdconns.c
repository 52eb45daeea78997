/*
 * holdconns — open N idle MySQL sessions through a proxy, then time how long the proxy takes to
 * close them all.  Used by tests/bench/run.sh for the failback measurement.
 *
 *   holdconns -P PORT -n N [-h HOST] [-u USER] [-p PASS] [-o OPEN_TIMEOUT_S] [-w WAIT_TIMEOUT_S]
 *
 * Phase 1 opens N authenticated sessions one after another and asks each `SELECT @@port`, so the
 * caller learns on which server every session landed.  It then prints `ready` and flushes stdout:
 * the caller waits for that line before restarting the master.  Phase 2 watches every session's
 * socket until each shows EOF (a proxy-closed session becomes readable with 0 bytes, or reports
 * HUP/RDHUP) or WAIT_TIMEOUT_S passes, and prints the CLOCK_REALTIME time of the first and the
 * last observed close.  Output is `key=value` lines, easy to parse from a shell script.
 *
 * Phase 2 uses epoll rather than poll(): during a kill storm poll() would rescan all N sockets
 * per wakeup, and on a 2-core machine that observer CPU is taken from the proxy being measured.
 *
 * Exit status: 0 when all N sessions were opened and all of them closed in time, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#define MAX_PORTS 16

/* One distinct server port seen in phase 1 and how many sessions landed there. */
struct port_count {
    unsigned port;
    unsigned count;
};

/* Command-line settings. */
struct opts {
    const char *host;
    const char *user;
    const char *pass;
    unsigned port;
    unsigned n;
    double open_timeout; /* seconds for the whole of phase 1 */
    double wait_timeout; /* seconds for phase 2 */
};

static double now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_real(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: holdconns -P PORT -n N [-h HOST] [-u USER] [-p PASS] "
                    "[-o OPEN_TIMEOUT_S] [-w WAIT_TIMEOUT_S]\n");
    exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    int c;

    *o = (struct opts){"127.0.0.1", "app", "app-pass", 0, 0, 120, 60};
    while ((c = getopt(argc, argv, "h:P:u:p:n:o:w:")) != -1) {
        switch (c) {
        case 'h':
            o->host = optarg;
            break;
        case 'P':
            o->port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'u':
            o->user = optarg;
            break;
        case 'p':
            o->pass = optarg;
            break;
        case 'n':
            o->n = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'o':
            o->open_timeout = strtod(optarg, NULL);
            break;
        case 'w':
            o->wait_timeout = strtod(optarg, NULL);
            break;
        default:
            usage();
        }
    }
    if (o->port == 0 || o->n == 0 || o->n > 100000)
        usage();
}

/* Each session needs one fd; raise the soft limit to the hard one so 5,000 sessions fit. */
static void raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void count_port(struct port_count *pc, unsigned *npc, unsigned port)
{
    unsigned i;

    for (i = 0; i < *npc; i++) {
        if (pc[i].port == port) {
            pc[i].count++;
            return;
        }
    }
    if (*npc < MAX_PORTS)
        pc[(*npc)++] = (struct port_count){port, 1};
}

/* Open one session and return the port of the server it reached, or 0 on failure. */
static unsigned open_one(MYSQL *m, const struct opts *o)
{
    unsigned timeout = 10, port = 0;
    MYSQL_RES *res;
    MYSQL_ROW row;

    mysql_init(m);
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    if (!mysql_real_connect(m, o->host, o->user, o->pass, NULL, o->port, NULL, 0))
        return 0;
    if (mysql_query(m, "SELECT @@port") != 0 || !(res = mysql_store_result(m)))
        return 0;
    row = mysql_fetch_row(res);
    if (row && row[0])
        port = (unsigned)strtoul(row[0], NULL, 10);
    mysql_free_result(res);
    return port;
}

/*
 * A readable session socket means EOF (the proxy closed it) unless bytes are actually there;
 * drain such bytes so a stray packet cannot be mistaken for the close.  Returns 1 when closed.
 */
static int is_closed(int fd, uint32_t events)
{
    char buf[4096];
    ssize_t r;

    if (events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))
        return 1;
    r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r == 0)
        return 1;
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return 1;
    return 0;
}

int main(int argc, char **argv)
{
    struct port_count pc[MAX_PORTS];
    unsigned npc = 0, opened = 0, failed = 0, closed = 0, i, port;
    double t0, deadline, first_close = 0, last_close = 0;
    unsigned char *inited; /* conns[i] needs mysql_close() */
    struct epoll_event ev, evs[256];
    int *fds, ep, k;
    struct opts o;
    MYSQL *conns;
    int rc;

    parse_opts(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN); /* mysql_close() on a proxy-closed socket must not kill us */
    raise_nofile();
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "holdconns: mysql_library_init failed\n");
        return 1;
    }
    conns = calloc(o.n, sizeof *conns);
    fds = calloc(o.n, sizeof *fds);
    inited = calloc(o.n, 1);
    ep = epoll_create1(0);
    if (!conns || !fds || !inited || ep < 0) {
        fprintf(stderr, "holdconns: out of memory\n");
        return 1;
    }

    /* Phase 1: open the sessions, bounded by open_timeout. */
    t0 = now_mono();
    deadline = t0 + o.open_timeout;
    for (i = 0; i < o.n && now_mono() < deadline; i++) {
        port = open_one(&conns[i], &o);
        inited[i] = 1;
        if (port == 0) {
            if (failed++ == 0)
                fprintf(stderr, "holdconns: session %u: %s\n", i, mysql_error(&conns[i]));
            continue;
        }
        count_port(pc, &npc, port);
        fds[i] = (int)mysql_get_socket(&conns[i]);
        ev = (struct epoll_event){.events = EPOLLIN | EPOLLRDHUP, .data.u32 = i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0) {
            perror("holdconns: epoll_ctl");
            break;
        }
        opened++;
    }
    printf("opened=%u\nfailed=%u\nopen_seconds=%.3f\n", opened, failed, now_mono() - t0);
    for (i = 0; i < npc; i++)
        printf("port_%u=%u\n", pc[i].port, pc[i].count);
    printf("ready\n");
    fflush(stdout);

    /* Phase 2: wait until every open session is seen closed, bounded by wait_timeout. */
    deadline = now_mono() + o.wait_timeout;
    while (closed < opened) {
        int left_ms = (int)((deadline - now_mono()) * 1000);

        if (left_ms <= 0)
            break;
        rc = epoll_wait(ep, evs, 256, left_ms < 1000 ? left_ms : 1000);
        if (rc < 0 && errno != EINTR) {
            perror("holdconns: epoll_wait");
            break;
        }
        for (k = 0; k < rc; k++) {
            i = evs[k].data.u32;
            if (!is_closed(fds[i], evs[k].events))
                continue;
            last_close = now_real();
            if (closed++ == 0)
                first_close = last_close;
            (void)epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
        }
    }
    printf("closed=%u\nfirst_close=%.6f\nlast_close=%.6f\n", closed, first_close, last_close);
    fflush(stdout);

    for (i = 0; i < o.n; i++)
        if (inited[i])
            mysql_close(&conns[i]);
    close(ep);
    free(inited);
    free(fds);
    free(conns);
    mysql_library_end();
    return opened == o.n && closed == opened ? 0 : 1;
}
