/*
 * holdconns — open N idle MySQL sessions through a proxy, then time how long the proxy takes to
 * close them all (and, with -r, how long the clients take to get back on the master).  Used by
 * tests/bench/run.sh for the memory, failback and failback-reconnect measurements.
 *
 *   holdconns -P PORT -n N [-h HOST] [-u USER] [-p PASS] [-o OPEN_TIMEOUT_S] [-w WAIT_TIMEOUT_S]
 *             [-r MASTER_PORT [-c TIMEOUT_S]] [-s CA_FILE]
 *
 * Phase 1 opens N authenticated sessions one after another and asks each `SELECT @@port`, so the
 * caller learns on which server every session landed.  It then prints `ready` and flushes stdout:
 * the caller waits for that line before restarting the master.  Phase 2 watches every session's
 * socket until each shows EOF (a proxy-closed session becomes readable with 0 bytes, or reports
 * HUP/RDHUP) or WAIT_TIMEOUT_S passes, and prints the CLOCK_REALTIME time of the first and the
 * last observed close, and its own CPU seconds in phase 2 (phase2_cpu_s).  Output is `key=value`
 * lines, easy to parse from a shell script.
 *
 * With -r MASTER_PORT, phase 2 behaves like an application: every session the proxy closes is
 * opened again at once, as a real login through the proxy followed by `SELECT @@port`.  The
 * reconnects use Connector/C's non-blocking API (mysql_real_connect_start/_cont,
 * mysql_real_query_start/_cont, mysql_store_result_start/_cont) on the same epoll set, so
 * thousands of them proceed at once from this one thread.  Like a driver, each reconnect has a
 * connect and read timeout (-c, default 2 s): a login that stalls, for instance because the
 * proxy's accept queue overflowed and the connection the client believes open was never
 * accepted (a server-speaks-first protocol never notices that by itself), fails after it.  A
 * reconnect that fails (timeouts counted apart as well), or that lands on a server other than
 * MASTER_PORT, is counted, closed and tried again RETRY_MS later; a session back on the master
 * stays open and idle (and is reopened should the proxy close it).
 * Phase 2 then ends when all sessions sit on the master, or after WAIT_TIMEOUT_S, and also prints
 * the time of the first reconnect that landed on the master (first_master), the time the last
 * one did (all_master, 0 on a timeout), and counts of reconnect attempts and failures.  Idle
 * sockets sit in an epoll set of their own, read before every slice of SLICE reconnect steps, so
 * a close is stamped when the kernel reports it rather than after the logins queued before it.
 *
 * With -s every login, in both phases, asks for TLS and fails if the server (or the proxy that
 * answers for it) does not offer it: Connector/C's MYSQL_OPT_SSL_ENFORCE, with CA_FILE as the CA
 * (without one, Connector/C loads the system's whole CA bundle for every connection, about 20 ms
 * of CPU per login here, and this one thread would be what the run measures) and no check of the
 * host name.  The output
 * then says how many sessions of phase 1 (tls_opened) and of the reconnects that reached the
 * master (tls_back) really were TLS.  Connector/C gives every connection a fresh TLS context and
 * has no option to reuse a session, so each login is a full handshake (no resumption).
 *
 * Phase 2 uses epoll rather than poll(): during a kill storm poll() would rescan all N sockets
 * per wakeup, and on a 2-core machine that observer CPU is taken from the proxy being measured.
 *
 * Exit status: 0 when all N sessions were opened and all of them closed in time (with -r: and
 * all of them were back on the master in time), 1 otherwise.
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
#define RETRY_MS  50  /* pause before trying a failed or misrouted reconnect again */
#define SLICE     64  /* reconnect steps between two looks for closes */
#define SWEEP_MS  100 /* how often expired reconnect timeouts are looked for */
#define BATCH     256 /* epoll events per call */
#define QUERY     "SELECT @@port"

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
    unsigned master;     /* -r: reconnect until every session is on this port; 0: do not */
    unsigned timeout;    /* -c: connect and read timeout of a reconnect, seconds */
    const char *ca;      /* -s: every login asks for TLS, requires it, checks with this CA */
};

/*
 * Where a session stands.  Phase 1 leaves every session HELD or NONE; only -r moves a session
 * through the rest.  The socket of a HELD or MASTER session is in the idle epoll set, watched for
 * EOF; the socket of a session in CONNECT, QUERY or STORE is in the busy set, watched for what
 * Connector/C last asked for.
 */
enum sess_state {
    S_NONE,    /* phase 1 could not open it: not part of the run */
    S_HELD,    /* open since phase 1, idle, waiting for the proxy to close it */
    S_CLOSED,  /* seen closed by the proxy, on the closed queue until its reconnect starts */
    S_CONNECT, /* mysql_real_connect_start/_cont in progress */
    S_QUERY,   /* mysql_real_query_start/_cont for QUERY in progress */
    S_STORE,   /* mysql_store_result_start/_cont in progress */
    S_RETRY,   /* closed, on the retry queue until retry_at */
    S_MASTER,  /* reconnected and on the master: done, idle */
};

/* One session: the library's handle and what this program knows about its socket. */
struct sess {
    MYSQL m;
    enum sess_state state;
    int inited;      /* m needs mysql_close() */
    int fd;          /* socket registered in an epoll set, -1 when none */
    int waiting;     /* MYSQL_WAIT_* bits Connector/C asked for (CONNECT, QUERY, STORE) */
    double retry_at; /* S_RETRY: monotonic time of the next attempt */
    double due;      /* CONNECT, QUERY, STORE: when the library's timeout expires (0: none) */
};

/* A FIFO of session indices; a session sits in a given queue at most once, so N slots do. */
struct fifo {
    unsigned *q;
    unsigned head, len, cap;
};

/*
 * Everything phase 2 counts, and the tools it works with.  Closes are looked for in their own
 * epoll set (idle) before every slice of reconnect work (busy): a close is stamped when the
 * kernel has it, not after this one thread has worked through thousands of logins.
 */
struct run {
    struct opts o;
    struct sess *s;
    unsigned opened; /* sessions phase 1 opened */
    unsigned closed; /* phase-1 sessions seen closed by the proxy */
    double first_close, last_close;
    unsigned on_master; /* -r: sessions currently back on the master */
    unsigned reconnects, reconnect_failed, reconnect_timeouts, landed_other, master_closed;
    unsigned tls_opened, tls_back; /* -s: phase-1 sessions / reconnects on the master with TLS */
    double first_master, all_master;
    double cpu0;          /* this process's CPU seconds when phase 2 started */
    struct fifo closed_q; /* S_CLOSED sessions, in the order their closes were seen */
    struct fifo retry_q;  /* S_RETRY sessions (one delay for all, so sorted by retry_at) */
    int ep_idle, ep_busy; /* the two epoll sets */
    int ep;               /* holds both sets: what phase 2 sleeps on */
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
                    "[-o OPEN_TIMEOUT_S] [-w WAIT_TIMEOUT_S] [-r MASTER_PORT [-c TIMEOUT_S]] "
                    "[-s CA_FILE]\n");
    exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    int c;

    *o = (struct opts){"127.0.0.1", "app", "app-pass", 0, 0, 120, 60, 0, 2, NULL};
    while ((c = getopt(argc, argv, "h:P:u:p:n:o:w:r:c:s:")) != -1) {
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
        case 'r':
            o->master = (unsigned)strtoul(optarg, NULL, 10);
            if (o->master == 0)
                usage();
            break;
        case 'c':
            o->timeout = (unsigned)strtoul(optarg, NULL, 10);
            if (o->timeout == 0 || o->timeout > 600)
                usage();
            break;
        case 's':
            o->ca = optarg;
            break;
        default:
            usage();
        }
    }
    if (o->port == 0 || o->n == 0 || o->n > 100000 || o->wait_timeout <= 0 ||
        o->wait_timeout > 3600)
        usage();
}

/* Each session needs one fd; raise the soft limit to the hard one so 9,000 sessions fit. */
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

/* The port in the one-row answer to QUERY, or 0. */
static unsigned answer_port(MYSQL_RES *res)
{
    MYSQL_ROW row = mysql_fetch_row(res);
    unsigned port = 0;

    if (row && row[0])
        port = (unsigned)strtoul(row[0], NULL, 10);
    mysql_free_result(res);
    return port;
}

/* -s: ask for TLS, refuse a server without it, no host name check. */
static void want_tls(MYSQL *m, const struct opts *o)
{
    my_bool on = 1, off = 0;

    if (!o->ca)
        return;
    mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &on);
    mysql_optionsv(m, MYSQL_OPT_SSL_CA, o->ca);
    mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
}

/* True when session M's connection is encrypted. */
static int is_tls(MYSQL *m)
{
    return mysql_get_ssl_cipher(m) != NULL;
}

/* Open one session (blocking) and return the port of the server it reached, or 0 on failure. */
static unsigned open_one(MYSQL *m, const struct opts *o)
{
    unsigned timeout = 10;
    MYSQL_RES *res;

    mysql_init(m);
    want_tls(m, o);
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    if (!mysql_real_connect(m, o->host, o->user, o->pass, NULL, o->port, NULL, 0))
        return 0;
    if (mysql_query(m, QUERY) != 0 || !(res = mysql_store_result(m)))
        return 0;
    return answer_port(res);
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

static void fifo_push(struct fifo *f, unsigned i)
{
    f->q[(f->head + f->len++) % f->cap] = i;
}

static unsigned fifo_pop(struct fifo *f)
{
    unsigned i = f->q[f->head];

    f->head = (f->head + 1) % f->cap;
    f->len--;
    return i;
}

/*
 * Watch session I's socket FD for EVENTS in epoll set EP.  A socket number the set already
 * holds can only be this session's (a closed socket leaves every set by itself), hence MOD on
 * EEXIST.
 */
static int watch_fd(struct run *r, int ep, unsigned i, int fd, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.u32 = i};

    r->s[i].fd = fd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0)
        return 0;
    if (errno == EEXIST && epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == 0)
        return 0;
    perror("holdconns: epoll_ctl");
    return -1;
}

/* Phase 1: open the sessions one after another, bounded by open_timeout. */
static void open_all(struct run *r, struct port_count *pc, unsigned *npc)
{
    double deadline = now_mono() + r->o.open_timeout;
    unsigned failed = 0, i, port;
    double t0 = now_mono();

    for (i = 0; i < r->o.n && now_mono() < deadline; i++) {
        struct sess *s = &r->s[i];

        port = open_one(&s->m, &r->o);
        s->inited = 1;
        if (port == 0) {
            if (failed++ == 0)
                fprintf(stderr, "holdconns: session %u: %s\n", i, mysql_error(&s->m));
            continue;
        }
        count_port(pc, npc, port);
        if (watch_fd(r, r->ep_idle, i, (int)mysql_get_socket(&s->m), EPOLLIN | EPOLLRDHUP) < 0)
            break;
        s->state = S_HELD;
        r->opened++;
        r->tls_opened += is_tls(&s->m);
    }
    printf("opened=%u\nfailed=%u\nopen_seconds=%.3f\n", r->opened, failed, now_mono() - t0);
    if (r->o.ca)
        printf("tls_opened=%u\n", r->tls_opened);
    for (i = 0; i < *npc; i++)
        printf("port_%u=%u\n", pc[i].port, pc[i].count);
    printf("ready\n");
    fflush(stdout);
}

/* Close session S's handle; its socket leaves the epoll sets with it. */
static void drop(struct sess *s)
{
    mysql_close(&s->m);
    s->inited = 0;
    s->fd = -1;
}

static void retry_later(struct run *r, unsigned i)
{
    struct sess *s = &r->s[i];

    drop(s);
    s->state = S_RETRY;
    s->retry_at = now_mono() + RETRY_MS / 1000.0;
    fifo_push(&r->retry_q, i);
}

static void attempt_failed(struct run *r, unsigned i)
{
    if (r->reconnect_failed++ == 0)
        fprintf(stderr, "holdconns: first failed reconnect (session %u): %u %s\n", i,
                mysql_errno(&r->s[i].m), mysql_error(&r->s[i].m));
    retry_later(r, i);
}

/* A reconnect answered QUERY with PORT: done if that is the master, else try again later. */
static void landed(struct run *r, unsigned i, unsigned port)
{
    struct sess *s = &r->s[i];

    if (port != r->o.master) {
        r->landed_other++;
        retry_later(r, i);
        return;
    }
    (void)epoll_ctl(r->ep_busy, EPOLL_CTL_DEL, s->fd, NULL);
    if (watch_fd(r, r->ep_idle, i, (int)mysql_get_socket(&s->m), EPOLLIN | EPOLLRDHUP) < 0) {
        retry_later(r, i);
        return;
    }
    s->state = S_MASTER;
    r->tls_back += is_tls(&s->m);
    if (r->on_master++ == 0)
        r->first_master = now_real();
    if (r->on_master == r->opened)
        r->all_master = now_real();
}

/* Connector/C wants STATUS (MYSQL_WAIT_* bits) before it can go on with session I. */
static void wait_for(struct run *r, unsigned i, int status)
{
    struct sess *s = &r->s[i];
    uint32_t events = 0;
    int fd = (int)mysql_get_socket(&s->m);

    if (status & MYSQL_WAIT_READ)
        events |= EPOLLIN;
    if (status & MYSQL_WAIT_WRITE)
        events |= EPOLLOUT;
    if (status & MYSQL_WAIT_EXCEPT)
        events |= EPOLLPRI;
    s->waiting = status;
    s->due = 0;
    if (status & MYSQL_WAIT_TIMEOUT)
        s->due = now_mono() + mysql_get_timeout_value_ms(&s->m) / 1000.0;
    if (events == 0) { /* a bare timeout: only the sweep can wake this session */
        if (fd >= 0)
            (void)epoll_ctl(r->ep_busy, EPOLL_CTL_DEL, fd, NULL);
        if (s->due > 0)
            return;
    }
    if (events == 0 || fd < 0 || watch_fd(r, r->ep_busy, i, fd, events) < 0)
        attempt_failed(r, i);
}

/*
 * Take session I through connect, QUERY and its result as far as it goes without blocking.
 * READY is the MYSQL_WAIT_* bits its socket reported, 0 to start the current step.
 */
static void drive(struct run *r, unsigned i, int ready)
{
    struct sess *s = &r->s[i];
    MYSQL_RES *res;
    MYSQL *ret;
    int st, err;

    for (;;) {
        switch (s->state) {
        case S_CONNECT:
            st = ready ? mysql_real_connect_cont(&ret, &s->m, ready)
                       : mysql_real_connect_start(&ret, &s->m, r->o.host, r->o.user, r->o.pass,
                                                  NULL, r->o.port, NULL, 0);
            if (st) {
                wait_for(r, i, st);
                return;
            }
            if (!ret) {
                attempt_failed(r, i);
                return;
            }
            s->state = S_QUERY;
            break;
        case S_QUERY:
            st = ready ? mysql_real_query_cont(&err, &s->m, ready)
                       : mysql_real_query_start(&err, &s->m, QUERY, strlen(QUERY));
            if (st) {
                wait_for(r, i, st);
                return;
            }
            if (err) {
                attempt_failed(r, i);
                return;
            }
            s->state = S_STORE;
            break;
        case S_STORE:
            st = ready ? mysql_store_result_cont(&res, &s->m, ready)
                       : mysql_store_result_start(&res, &s->m);
            if (st) {
                wait_for(r, i, st);
                return;
            }
            if (!res) {
                attempt_failed(r, i);
                return;
            }
            landed(r, i, answer_port(res));
            return;
        default:
            return;
        }
        ready = 0;
    }
}

/* Start a fresh non-blocking login for session I (its handle is closed). */
static void reconnect(struct run *r, unsigned i)
{
    struct sess *s = &r->s[i];

    r->reconnects++;
    mysql_init(&s->m);
    s->inited = 1;
    s->fd = -1;
    mysql_options(&s->m, MYSQL_OPT_NONBLOCK, 0);
    want_tls(&s->m, &r->o);
    mysql_options(&s->m, MYSQL_OPT_CONNECT_TIMEOUT, &r->o.timeout);
    mysql_options(&s->m, MYSQL_OPT_READ_TIMEOUT, &r->o.timeout);
    mysql_options(&s->m, MYSQL_OPT_WRITE_TIMEOUT, &r->o.timeout);
    s->state = S_CONNECT;
    drive(r, i, 0);
}

/* The proxy closed idle session I (HELD or MASTER): stamp and count the close.  With -r the
 * session goes on the closed queue, to reconnect once every close at hand has been stamped. */
static void on_close(struct run *r, unsigned i)
{
    struct sess *s = &r->s[i];

    if (s->state == S_HELD) {
        r->last_close = now_real();
        if (r->closed++ == 0)
            r->first_close = r->last_close;
    } else {
        r->master_closed++;
        r->on_master--;
    }
    (void)epoll_ctl(r->ep_idle, EPOLL_CTL_DEL, s->fd, NULL);
    if (!r->o.master) {
        s->state = S_NONE; /* without -r the handle stays open until the end, as before */
        return;
    }
    drop(s);
    s->state = S_CLOSED;
    fifo_push(&r->closed_q, i);
}

/* The MYSQL_WAIT_* bits that epoll EVENTS satisfy among what session S waits for. */
static int ready_bits(const struct sess *s, uint32_t events)
{
    int st = 0;

    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        st |= MYSQL_WAIT_READ;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        st |= MYSQL_WAIT_WRITE;
    if (events & EPOLLPRI)
        st |= MYSQL_WAIT_EXCEPT;
    st &= s->waiting;
    return st ? st : s->waiting;
}

/* Start the retries that are due; returns the ms until the next one (-1: none queued). */
static int run_retries(struct run *r)
{
    while (r->retry_q.len > 0) {
        double left = r->s[r->retry_q.q[r->retry_q.head]].retry_at - now_mono();

        if (left > 0)
            return (int)(left * 1000) + 1;
        reconnect(r, fifo_pop(&r->retry_q));
    }
    return -1;
}

/* Stamp every close the idle set holds (bounded: each close leaves the set); 1 if any event. */
static int take_closes(struct run *r)
{
    struct epoll_event evs[BATCH];
    unsigned rounds = r->o.n / BATCH + 2;
    int k, n, any = 0;

    while (rounds-- > 0) {
        n = epoll_wait(r->ep_idle, evs, BATCH, 0);
        for (k = 0; k < n; k++) {
            unsigned i = evs[k].data.u32;

            if (is_closed(r->s[i].fd, evs[k].events))
                on_close(r, i);
        }
        any |= n > 0;
        if (n < BATCH)
            break;
    }
    return any;
}

/* One slice of reconnect work: start queued reconnects, then drive ready ones; 1 if any. */
static int do_slice(struct run *r)
{
    struct epoll_event evs[SLICE];
    int k, n, any = r->closed_q.len > 0;

    for (k = 0; k < SLICE && r->closed_q.len > 0; k++)
        reconnect(r, fifo_pop(&r->closed_q));
    n = epoll_wait(r->ep_busy, evs, SLICE, 0);
    for (k = 0; k < n; k++) {
        unsigned i = evs[k].data.u32;
        struct sess *s = &r->s[i];

        if (s->state == S_CONNECT || s->state == S_QUERY || s->state == S_STORE)
            drive(r, i, ready_bits(s, evs[k].events));
    }
    return any || n > 0;
}

/* True once phase 2 has nothing left to wait for. */
static int finished(const struct run *r)
{
    if (r->o.master)
        return r->on_master == r->opened;
    return r->closed == r->opened;
}

/* Tell the library about every expired timeout (a scan: cheap next to the logins themselves). */
static void expire(struct run *r)
{
    double now = now_mono();
    unsigned i;

    for (i = 0; i < r->o.n; i++) {
        struct sess *s = &r->s[i];

        if ((s->state != S_CONNECT && s->state != S_QUERY && s->state != S_STORE) || s->due == 0 ||
            s->due > now)
            continue;
        s->due = 0;
        r->reconnect_timeouts++;
        drive(r, i, MYSQL_WAIT_TIMEOUT);
    }
}

/*
 * Phase 2: wait for the closes (and, with -r, the reconnects), bounded by wait_timeout.  Each
 * turn stamps the closes at hand first, then does one slice of reconnect work; it sleeps only
 * when neither had anything to do.  Timeouts are looked for every SWEEP_MS.
 */
static void watch(struct run *r)
{
    double deadline = now_mono() + r->o.wait_timeout, sweep = 0;
    struct epoll_event ev;
    int wait_ms, retry_ms, busy;

    while (!finished(r)) {
        wait_ms = (int)((deadline - now_mono()) * 1000);
        if (wait_ms <= 0)
            break;
        busy = take_closes(r);
        busy |= do_slice(r);
        retry_ms = run_retries(r);
        if (r->o.master && now_mono() >= sweep) {
            expire(r);
            sweep = now_mono() + SWEEP_MS / 1000.0;
        }
        if (busy)
            continue;
        if (wait_ms > SWEEP_MS)
            wait_ms = SWEEP_MS;
        if (retry_ms >= 0 && retry_ms < wait_ms)
            wait_ms = retry_ms;
        if (epoll_wait(r->ep, &ev, 1, wait_ms) < 0 && errno != EINTR) {
            perror("holdconns: epoll_wait");
            break;
        }
    }
}

/* CPU seconds (user + system) this process has used so far. */
static double cpu_self(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* With -r: how many sessions were left in each unfinished state (all 0 when all came back). */
static void print_left(const struct run *r)
{
    unsigned i, left[S_MASTER + 1] = {0};

    for (i = 0; i < r->o.n; i++)
        left[r->s[i].state]++;
    printf("left_held=%u\nleft_connect=%u\nleft_query=%u\nleft_store=%u\nleft_retry=%u\n",
           left[S_HELD], left[S_CONNECT], left[S_QUERY], left[S_STORE],
           left[S_RETRY] + left[S_CLOSED]);
}

static void print_results(const struct run *r)
{
    printf("closed=%u\nfirst_close=%.6f\nlast_close=%.6f\n", r->closed, r->first_close,
           r->last_close);
    printf("phase2_cpu_s=%.3f\n", cpu_self() - r->cpu0);
    if (r->o.master) {
        printf("on_master=%u\nfirst_master=%.6f\nall_master=%.6f\n", r->on_master, r->first_master,
               r->all_master);
        printf("reconnects=%u\nreconnect_failed=%u\nreconnect_timeouts=%u\nlanded_other=%u\n"
               "master_closed=%u\n",
               r->reconnects, r->reconnect_failed, r->reconnect_timeouts, r->landed_other,
               r->master_closed);
        if (r->o.ca)
            printf("tls_back=%u\n", r->tls_back);
        print_left(r);
    }
    fflush(stdout);
}

/*
 * Close the handles of idle sessions.  A session still in the middle of a non-blocking step is
 * left to exit(): its handle cannot be closed while the library is suspended inside it.
 */
static void close_all(struct run *r)
{
    unsigned i;

    for (i = 0; i < r->o.n; i++) {
        struct sess *s = &r->s[i];

        if (s->inited && s->state != S_CONNECT && s->state != S_QUERY && s->state != S_STORE)
            mysql_close(&s->m);
    }
}

/* The idle and busy epoll sets, and the set that holds both. */
static int open_sets(struct run *r)
{
    struct epoll_event ev = {.events = EPOLLIN};

    r->ep_idle = epoll_create1(EPOLL_CLOEXEC);
    r->ep_busy = epoll_create1(EPOLL_CLOEXEC);
    r->ep = epoll_create1(EPOLL_CLOEXEC);
    if (r->ep_idle < 0 || r->ep_busy < 0 || r->ep < 0)
        return -1;
    if (epoll_ctl(r->ep, EPOLL_CTL_ADD, r->ep_idle, &ev) < 0 ||
        epoll_ctl(r->ep, EPOLL_CTL_ADD, r->ep_busy, &ev) < 0)
        return -1;
    return 0;
}

int main(int argc, char **argv)
{
    struct port_count pc[MAX_PORTS];
    struct run r = {0};
    unsigned npc = 0, i;
    int ok;

    parse_opts(argc, argv, &r.o);
    signal(SIGPIPE, SIG_IGN); /* mysql_close() on a proxy-closed socket must not kill us */
    raise_nofile();
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "holdconns: mysql_library_init failed\n");
        return 1;
    }
    r.s = calloc(r.o.n, sizeof *r.s);
    r.closed_q = (struct fifo){calloc(r.o.n, sizeof(unsigned)), 0, 0, r.o.n};
    r.retry_q = (struct fifo){calloc(r.o.n, sizeof(unsigned)), 0, 0, r.o.n};
    if (!r.s || !r.closed_q.q || !r.retry_q.q || open_sets(&r) < 0) {
        fprintf(stderr, "holdconns: out of memory or descriptors\n");
        return 1;
    }
    for (i = 0; i < r.o.n; i++)
        r.s[i].fd = -1;

    open_all(&r, pc, &npc);
    r.cpu0 = cpu_self();
    watch(&r);
    print_results(&r);
    ok = r.opened == r.o.n && r.closed == r.opened && (!r.o.master || r.on_master == r.opened);

    close_all(&r);
    close(r.ep);
    close(r.ep_busy);
    close(r.ep_idle);
    free(r.retry_q.q);
    free(r.closed_q.q);
    free(r.s);
    mysql_library_end();
    return ok ? 0 : 1;
}
