/* test_hostile.c - passive observation must not be fooled by clients, nor by legitimate MySQL
 * traffic, against a real master + 2 replicas and the real router.
 *
 * The rule (src/observe.c): an event counts against a server only when the server alone can have
 * caused it. Two halves:
 *
 *  A. Hostile clients (`observe layer7 error-limit 10 on-error mark-down`). Each attack is fired
 *     12 times in a row, more than error-limit, at sessions prepared beforehand (so that no
 *     greeting or login of the master comes between two attacks and breaks the run). Without
 *     credentials: handshakes with an unknown auth plugin (plain, asking for compression, over
 *     TLS) followed by junk, an SSL request followed by junk. Logged in: half a packet then
 *     SHUT_WR, a query followed by junk, a wrong sequence id, bytes after COM_QUIT, a 16 MiB
 *     header then close, a client-chosen wait_timeout of 1 s, junk under compression or TLS, KILL
 *     of its own connection, resets and closes while the master answers or works, a
 *     COM_CHANGE_USER or a LOCAL INFILE transfer left unfinished. What the master does about such
 *     a client (an ERR, a close, a TCP reset because unread bytes were left) is the client's
 *     doing.
 *
 *  B. Legitimate traffic (`observe layer7 error-limit 1 on-error mark-down`: a single count
 *     shows). Each kind runs 20 times (fewer for the slow ones, as said there): packets of exactly
 *     16 MiB - 1 and bigger both ways, also where their continuation makes the sequence id wrap;
 *     LOAD DATA LOCAL INFILE, also with files whose last answer wraps to sequence id 0;
 *     multi-result sets; prepared statements (long data, binary rows, cursors, bulk,
 *     execute_direct, OUT parameters); change user and reset connection; an auth switch at login;
 *     large and empty results; pipelined commands; the less common commands (stat, field list,
 *     set option, process list...); idle sessions past the server's wait_timeout; KILL from
 *     another session; MariaDB progress reports.
 *
 * After each scenario the same three things are asserted: the health log holds no "Server
 * rw/master is DOWN" line, observed_errors of rw/master is 0, and a new client lands on the master.
 * Active checks run every 60 s (also while DOWN), so only traffic can change a server's state.
 * The master runs with a TLS certificate made in the group setup (TLS attacks). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

#define ADMIN_PW        "H0stile-Admin-pw"
#define HOSTILE_LIMIT   10 /* error-limit for part A */
#define HOSTILE_RUNS    12 /* runs of each attack: more than HOSTILE_LIMIT */
#define LEGIT_RUNS      20 /* runs of each kind of legitimate traffic (part B) */
#define BIG_RUNS        5  /* runs of the 16 MiB scenarios: each moves 100+ MB (about 0.8 s) */
#define MAX_OPEN        48 /* libmariadb sessions a test may hold at once */
#define BIG_PACKET      "67108864" /* max_allowed_packet for the 16 MiB scenarios (64 MiB) */
#define MAX_PAYLOAD     0xffffffu  /* a packet this long is continued by the next one */
#define SHORT_TIMEOUT_S 15 /* client timeouts: generous, what they bound takes milliseconds */
#define LONG_TIMEOUT_S  60
#define EOF_WAIT_MS     15000 /* bound for the server to close an attacked session */
#define IDLE_WAIT_MS    30000 /* bound for wait_timeout 1 s to close the idle sessions */
#define GONE_WAIT_MS    30000 /* bound for rebound to see every session of a scenario end */

/* Capability flags of a hand-made handshake response. */
#define CAP_LONG_PASSWORD     0x00000001u
#define CAP_LONG_FLAG         0x00000004u
#define CAP_COMPRESS          0x00000020u
#define CAP_PROTOCOL_41       0x00000200u
#define CAP_SSL               0x00000800u
#define CAP_TRANSACTIONS      0x00002000u
#define CAP_SECURE_CONNECTION 0x00008000u
#define CAP_MULTI_RESULTS     0x00020000u
#define CAP_PLUGIN_AUTH       0x00080000u
#define CAP_BASE                                                                                   \
    (CAP_LONG_PASSWORD | CAP_LONG_FLAG | CAP_PROTOCOL_41 | CAP_TRANSACTIONS |                      \
     CAP_SECURE_CONNECTION | CAP_MULTI_RESULTS | CAP_PLUGIN_AUTH)
#define DEPRECATE_EOF_FLAG (1UL << 24)

/* A string literal and its length, for the calls that take both. */
#define LIT(s) s, (unsigned long)(sizeof(s) - 1)

/* One session an attack is fired on: a raw socket (maybe with TLS on it) or a libmariadb
 * session. */
struct victim {
    int fd;
    SSL *ssl;
    MYSQL *m;
};

/* The router of a test; fx.held holds the libmariadb sessions not yet released. */
static struct router_fixture fx;
static struct victim *victims;  /* part A: the sessions under attack */
static char first_anomaly[300]; /* part A: the first attack that went otherwise than written */

_Static_assert(MAX_OPEN <= FIXTURE_MAX_HELD, "fx.held holds the open sessions");

/* ---- failing with the health log attached ---- */

static void find_log_line(const char *needle, char *buf, size_t size);

/* Fail the running test with a printf message, after printing the health log; a DOWN line of the
 * log (the likely reason a query failed) is added to the message. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    char msg[1024], down[600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fixture_dump_log(&fx);
    find_log_line("is DOWN", down, sizeof(down));
    if (down[0] && !strstr(msg, "DOWN line"))
        fail_msg("%s; health log: %s", msg, down);
    fail_msg("%s", msg);
    abort(); /* not reached: fail_msg() jumps back to cmocka */
}

/* ---- the verdict after every scenario ---- */

/* The first health-log line holding needle into buf ("" if none). */
static void find_log_line(const char *needle, char *buf, size_t size)
{
    char *log = read_file(fx.health_log), *hit, *end;

    buf[0] = '\0';
    if (log && (hit = strstr(log, needle))) {
        while (hit > log && hit[-1] != '\n')
            hit--;
        end = strchr(hit, '\n');
        snprintf(buf, size, "%.*s", (int)(end ? end - hit : (long)strlen(hit)), hit);
    }
    free(log);
}

/* Wait (bounded) until rebound holds no session of listen rw: every close it is to see from the
 * scenario has been seen, and counted if it were to count. */
static void wait_sessions_gone(void)
{
    int64_t deadline = now_ms() + GONE_WAIT_MS;
    long long n;

    while ((n = fixture_admin_int(
                &fx, "SELECT SUM(sessions_current) FROM servers WHERE listener = 'rw'")) > 0 &&
           now_ms() < deadline)
        sleep_ms(20);
    if (n > 0)
        die("%lld sessions of rw still open %d ms after the scenario", n, GONE_WAIT_MS);
}

/* Master still UP, nothing counted against it, and a new client lands on it. */
static void expect_master_untouched(const char *what, int runs)
{
    char down[600];
    long long observed;
    int port;

    wait_sessions_gone();
    find_log_line("Server rw/master is DOWN", down, sizeof(down));
    observed = fixture_admin_int(
        &fx, "SELECT observed_errors FROM servers WHERE listener = 'rw' AND name = "
             "'master'");
    port = client_port_via(fx.rw_port);
    if (down[0] || observed != 0 || port != cluster_port("master"))
        die("after %d x %s: observed_errors of rw/master %lld (want 0); a new client landed on "
            "port %d (master %d); DOWN line: %s",
            runs, what, observed, port, cluster_port("master"), down[0] ? down : "(none)");
}

/* ---- the router ---- */

/* Config of the brief: listen rw with the master (active, its sessions shut down if it is marked
 * down) and both replicas as backups; checks every 60 s whatever the state, so that after the
 * start-up check only traffic can change a server's state. No scenario is about a timeout: a
 * connect or greeting timeout counts against the master (with error-limit 1, one marks it
 * DOWN), and one of a slow router is no fault of the master, so they are far beyond what a
 * healthy master needs; so is the handshake timeout, which part A's victims, prepared all at
 * once and then fired at in turn, must not run into. */
static void start_router(int error_limit)
{
    assert_int_equal(
        fixture_start(
            &fx, fx.rw_port,
            "# written by test_hostile.c\n"
            "global\n"
            "    maxconn 1000\n"
            "    health-log file %s\n"
            "    admin 127.0.0.1:%d user admin password \"%s\"\n"
            "defaults\n"
            "    check mysql user rebound_check password \"check-pass\"\n"
            "    inter 60s  fastinter 60s  downinter 60s  rise 1  fall 3  timeout check 2s\n"
            "    timeout connect 10s  timeout greeting 10s  timeout handshake 2m\n"
            "    timeout client 2m  timeout server 2m\n"
            "    retries 2\n"
            "    observe layer7  error-limit %d  on-error mark-down\n"
            "listen rw\n"
            "    bind 127.0.0.1:%d\n"
            "    server master   127.0.0.1:%d check on-marked-down shutdown-sessions\n"
            "    server replica1 127.0.0.1:%d check backup\n"
            "    server replica2 127.0.0.1:%d check backup\n",
            fx.health_log, fx.admin_port, ADMIN_PW, error_limit, fx.rw_port, cluster_port("master"),
            cluster_port("replica1"), cluster_port("replica2")),
        0);
}

/* ---- clients ---- */

/* How a libmariadb client connects. */
struct copts {
    const char *user, *pass, *db; /* NULL user: app / app-pass / appdb */
    unsigned long flags;          /* mysql_real_connect client flags */
    unsigned timeout_s;           /* 0: SHORT_TIMEOUT_S */
    bool big;                     /* max_allowed_packet 64 MiB on the client */
    int local_infile; /* MYSQL_OPT_LOCAL_INFILE: 1 on, -1 off, 0 libmariadb's default (on) */
    bool compress;
    bool tls;
    const char *default_auth; /* MYSQL_DEFAULT_AUTH */
    void (*progress)(const MYSQL *, unsigned int, unsigned int, double, const char *,
                     unsigned int); /* MYSQL_PROGRESS_CALLBACK: asks for progress reports */
};

/* A session through rebound as o says; fails the test if the login fails. */
static MYSQL *connect_with(const struct copts *o)
{
    unsigned timeout = o->timeout_s ? o->timeout_s : SHORT_TIMEOUT_S;
    unsigned long big = 64ul << 20;
    my_bool on = 1, off = 0;
    unsigned infile = o->local_infile > 0;
    MYSQL *m = mysql_init(NULL);
    char err[300];
    int i;

    assert_non_null(m);
    client_options(m, timeout);
    if (o->big)
        mysql_options(m, MYSQL_OPT_MAX_ALLOWED_PACKET, &big);
    if (o->local_infile != 0)
        mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &infile);
    if (o->compress)
        mysql_options(m, MYSQL_OPT_COMPRESS, NULL);
    if (o->tls) {
        mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &on);
        mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
    }
    if (o->default_auth)
        mysql_options(m, MYSQL_DEFAULT_AUTH, o->default_auth);
    if (o->progress)
        mysql_optionsv(m, MYSQL_PROGRESS_CALLBACK, o->progress);
    if (!mysql_real_connect(m, "127.0.0.1", o->user ? o->user : "app",
                            o->user ? o->pass : "app-pass", o->user ? o->db : "appdb",
                            (unsigned)fx.rw_port, NULL, o->flags)) {
        snprintf(err, sizeof(err), "%u %s", mysql_errno(m), mysql_error(m));
        mysql_close(m);
        die("login through rebound failed: %s", err);
    }
    for (i = 0; i < MAX_OPEN && fx.held[i]; i++)
        ;
    if (i == MAX_OPEN) {
        mysql_close(m);
        die("more than %d sessions held", MAX_OPEN);
    }
    fx.held[i] = m;
    return m;
}

/* Close a session connect_with() opened (COM_QUIT, unless its socket was taken away). */
static void release(MYSQL *m)
{
    for (int i = 0; i < MAX_OPEN; i++)
        if (fx.held[i] == m)
            fx.held[i] = NULL;
    mysql_close(m);
}

static MYSQL *connect_plain(void)
{
    const struct copts o = {0};

    return connect_with(&o);
}

/* Run sql on m and read every result it gives; the MySQL error number, 0 on success. Rows of the
 * last result set go to *rows if not NULL. */
static unsigned run_sql(MYSQL *m, const char *sql, unsigned long len, unsigned long long *rows)
{
    MYSQL_RES *res;
    int more;

    if (mysql_real_query(m, sql, len) != 0)
        return mysql_errno(m);
    do {
        res = mysql_store_result(m);
        if (res) {
            if (rows)
                *rows = mysql_num_rows(res);
            mysql_free_result(res);
        } else if (mysql_field_count(m) != 0) {
            return mysql_errno(m);
        }
        more = mysql_next_result(m);
        if (more > 0)
            return mysql_errno(m);
    } while (more == 0);
    return 0;
}

/* run_sql() that must succeed. */
static void must_sql(MYSQL *m, const char *sql)
{
    unsigned err = run_sql(m, sql, (unsigned long)strlen(sql), NULL);

    if (err)
        die("\"%.80s\": %u %s", sql, err, mysql_error(m));
}

/* One value of a one-row query as a malloc'd string with its length; fails on error. */
static char *one_value(MYSQL *m, const char *sql, unsigned long sqllen, unsigned long *len)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    unsigned long *lens;
    char *v = NULL;

    if (mysql_real_query(m, sql, sqllen) != 0 || !(res = mysql_store_result(m)))
        die("\"%.60s...\" (%lu bytes): %u %s", sql, sqllen, mysql_errno(m), mysql_error(m));
    row = mysql_fetch_row(res);
    lens = mysql_fetch_lengths(res);
    if (row && row[0] && lens) {
        v = malloc(lens[0] + 1);
        assert_non_null(v);
        memcpy(v, row[0], lens[0]);
        v[lens[0]] = '\0';
        *len = lens[0];
    }
    mysql_free_result(res);
    if (!v)
        die("\"%.60s...\" gave no value", sql);
    return v;
}

/* ---- raw sockets ---- */

/* A blocking TCP connection to rebound with send and receive timeouts of SHORT_TIMEOUT_S. */
static int raw_connect(void)
{
    struct sockaddr_in sa = loopback_addr(fx.rw_port);
    struct timeval tv = {.tv_sec = SHORT_TIMEOUT_S};
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = errno;
        close(fd);
        die("connect to rebound: %s", strerror(err));
    }
    return fd;
}

/* Packet header for a payload of len bytes with sequence id seq. */
static void put_header(unsigned char *h, size_t len, unsigned char seq)
{
    h[0] = (unsigned char)len;
    h[1] = (unsigned char)(len >> 8);
    h[2] = (unsigned char)(len >> 16);
    h[3] = seq;
}

/* A packet (header + payload) at buf; its total length. */
static size_t make_packet(unsigned char *buf, unsigned char seq, const void *payload, size_t len)
{
    put_header(buf, len, seq);
    memcpy(buf + 4, payload, len);
    return len + 4;
}

/* len bytes of deterministic junk whose first 4 bytes, read as a packet header, carry sequence
 * id 0x55: out of turn wherever it lands, so the server rejects it at once. */
static void make_garbage(unsigned char *buf, size_t len, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    size_t i;

    for (i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
    if (len >= 4)
        buf[3] = 0x55;
}

/* A protocol-4.1 handshake response (header included, sequence id seq) as user with 20 bytes of
 * made-up auth data and auth plugin `plugin`; its length. */
static size_t make_handshake(unsigned char *buf, size_t size, uint32_t caps, unsigned char seq,
                             const char *user, const char *plugin)
{
    unsigned char *p = buf + 4;
    int i;

    assert_true(size >= 4 + 32 + strlen(user) + 1 + 21 + strlen(plugin) + 1);
    for (i = 0; i < 4; i++)
        *p++ = (unsigned char)(caps >> (8 * i));
    memcpy(p, "\x00\x00\x00\x01", 4); /* max packet 16 MiB */
    p += 4;
    *p++ = 33; /* utf8_general_ci */
    memset(p, 0, 23);
    p += 23;
    p += sprintf((char *)p, "%s", user) + 1;
    *p++ = 20;
    for (i = 0; i < 20; i++)
        *p++ = (unsigned char)(0x41 + i);
    p += sprintf((char *)p, "%s", plugin) + 1;
    put_header(buf, (size_t)(p - buf - 4), seq);
    return (size_t)(p - buf);
}

/* The socket under a libmariadb session. */
static int session_fd(MYSQL *m)
{
    int fd = (int)mysql_get_socket(m);

    assert_true(fd >= 0);
    return fd;
}

/* Make the socket under m go away with a TCP reset (SO_LINGER 0), and leave m holding an
 * unconnected socket in its place, so that mysql_close() neither sends COM_QUIT on the real
 * connection nor closes a descriptor number that may be reused. */
static void reset_under(MYSQL *m)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    int fd = session_fd(m), spare = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(spare >= 0);
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    assert_true(dup2(spare, fd) == fd); /* closes the real socket: RST */
    close(spare);
}

/* The same with an orderly close (FIN) and no COM_QUIT. */
static void close_under(MYSQL *m)
{
    int fd = session_fd(m), spare = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(spare >= 0);
    assert_true(dup2(spare, fd) == fd);
    close(spare);
}

/* ---- TLS by hand (OpenSSL) ---- */

static SSL_CTX *tls_ctx(void)
{
    static SSL_CTX *ctx;

    if (!ctx) {
        ctx = SSL_CTX_new(TLS_client_method());
        assert_non_null(ctx);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    return ctx;
}

/* ======================================================================================
 * A. Hostile clients
 *
 * Every attack runs in two phases: first HOSTILE_RUNS victims are set up (connected and
 * greeted, or logged in), then the attack is fired on each in a row, each one to its end (the
 * master closed). Any normal answer of the master breaks a run of errors, so an attacker who
 * wants the master DOWN prepares its sessions first: this is that attacker.
 * ====================================================================================== */

struct attack {
    const char *what;
    void (*prepare)(struct victim *v);
    void (*fire)(struct victim *v, int run);
    bool deferred; /* fire leaves the victim open: all are finished together afterwards */
};

static void victim_finish(struct victim *v);

/* An attack did not go as written (an answer missing or unexpected). Noted, not failed at once:
 * once the master is DOWN, rebound shuts its sessions down, and the victims still to be fired at
 * see only that - the verdict, which says why, comes first. */
static void anomaly(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void anomaly(const char *fmt, ...)
{
    va_list ap;

    if (first_anomaly[0])
        return;
    va_start(ap, fmt);
    vsnprintf(first_anomaly, sizeof(first_anomaly), fmt, ap);
    va_end(ap);
}

/* Start the router with error-limit 10; prepare every victim, fire at each in turn; verdict. */
static void run_attack(const struct attack *a)
{
    static struct victim v[HOSTILE_RUNS];
    int i;

    memset(v, 0, sizeof(v));
    for (i = 0; i < HOSTILE_RUNS; i++)
        v[i].fd = -1;
    victims = v;
    /* A victim not logged in is closed by the master after connect_timeout (10 s) whatever the
     * attack did: keep that well past EOF_WAIT_MS, so that only the attack can close it. */
    fixture_set_global(&fx, "master", "connect_timeout", "60");
    start_router(HOSTILE_LIMIT);
    for (i = 0; i < HOSTILE_RUNS; i++)
        a->prepare(&v[i]);
    for (i = 0; i < HOSTILE_RUNS; i++)
        a->fire(&v[i], i);
    for (i = 0; a->deferred && i < HOSTILE_RUNS; i++)
        victim_finish(&v[i]);
    expect_master_untouched(a->what, HOSTILE_RUNS);
    if (first_anomaly[0])
        die("%s", first_anomaly);
}

/* Done with a victim: the socket goes (with an orderly close unless a reset is asked for). */
static void victim_close(struct victim *v)
{
    if (v->ssl)
        SSL_free(v->ssl);
    v->ssl = NULL;
    ERR_clear_error();
    if (v->m) {
        close_under(v->m);
        release(v->m);
        v->m = NULL;
    } else if (v->fd >= 0) {
        close(v->fd);
    }
    v->fd = -1;
}

/* Read what the master still sends until it closes, then let the victim go. Every attack ends
 * with the master closing the session: if it does not within EOF_WAIT_MS, the attack did not do
 * what it says, and the test fails. */
static void victim_finish(struct victim *v)
{
    char buf[16384];
    bool closed;
    int i, n = 1, err, read_errno;

    if (v->fd < 0) /* already let go */
        return;
    if (v->ssl) {
        /* Each read is bounded by the socket's receive timeout, which ends it with EAGAIN: the
         * master did not close. Any other end (close_notify, EOF, reset, a TLS error) is the
         * master closing, or what it sent before: the socket then reaches EOF. */
        for (i = 0; i < 100 && (n = SSL_read(v->ssl, buf, sizeof(buf))) > 0; i++)
            ;
        read_errno = errno;
        err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(v->ssl, n);
        closed =
            err != SSL_ERROR_NONE && err != SSL_ERROR_WANT_READ &&
            !(err == SSL_ERROR_SYSCALL && (read_errno == EAGAIN || read_errno == EWOULDBLOCK)) &&
            read_until_eof(v->fd, EOF_WAIT_MS) >= 0;
    } else {
        closed = read_until_eof(v->fd, EOF_WAIT_MS) >= 0;
    }
    victim_close(v);
    if (!closed)
        anomaly("the master did not close an attacked session within %d ms", EOF_WAIT_MS);
}

/* Write to the victim (through TLS if it has it), errors ignored. */
static void victim_write(struct victim *v, const void *buf, size_t len)
{
    if (v->ssl)
        SSL_write(v->ssl, buf, (int)len);
    else
        send_all(v->fd, buf, len);
}

/* Read one packet from the victim (through TLS: one record's worth); its first payload byte,
 * -1 on failure. */
static int victim_read_packet(struct victim *v)
{
    unsigned char buf[4096];

    if (v->ssl)
        return SSL_read(v->ssl, buf, sizeof(buf)) >= 5 ? buf[4] : -1;
    return read_packet(v->fd, buf, sizeof(buf), EOF_WAIT_MS) >= 1 ? buf[4] : -1;
}

/* ---- preparations ---- */

/* Connected without credentials, greeting read. */
static void prepare_greeted(struct victim *v)
{
    unsigned char buf[1024];
    long len;

    v->fd = raw_connect();
    len = read_packet(v->fd, buf, sizeof(buf), EOF_WAIT_MS);
    if (len < 1 || buf[4] != 0x0a)
        die("no greeting through rebound (%ld)", len);
}

/* Greeted, then an SSL request and the TLS handshake with the master (done by hand). */
static void prepare_tls_greeted(struct victim *v)
{
    unsigned char buf[256];

    prepare_greeted(v);
    /* SSL request: the first 32 bytes of a handshake response. */
    make_handshake(buf, sizeof(buf), CAP_BASE | CAP_SSL, 1, "app", "no_such_plugin");
    put_header(buf, 32, 1);
    send_all(v->fd, buf, 36);
    v->ssl = SSL_new(tls_ctx());
    assert_non_null(v->ssl);
    SSL_set_fd(v->ssl, v->fd);
    if (SSL_connect(v->ssl) != 1) {
        ERR_clear_error();
        die("no TLS handshake with the master through rebound");
    }
}

/* Logged in as app (libmariadb): plain, compressed, or TLS. */
static void prepare_login(struct victim *v)
{
    v->m = connect_plain();
    v->fd = session_fd(v->m);
}

static void prepare_login_compressed(struct victim *v)
{
    const struct copts o = {.compress = true};

    v->m = connect_with(&o);
    v->fd = session_fd(v->m);
}

static void prepare_login_tls(struct victim *v)
{
    const struct copts o = {.tls = true};

    v->m = connect_with(&o);
    if (!mysql_get_ssl_cipher(v->m))
        die("the session did not switch to TLS");
    v->fd = session_fd(v->m);
}

/* ---- A.1: no credentials ---- */

/* The handshake response (sequence id seq) for app with caps and an auth plugin that does not
 * exist: the master answers with an auth switch request to mysql_native_password. Then, once
 * that arrived, 4 KB of junk in a second write: the master rejects it (ERR, packets out of
 * order) and closes with the rest unread - a TCP reset. */
static void bogus_login_then_junk(struct victim *v, int run, uint32_t caps, unsigned char seq)
{
    unsigned char buf[4096];
    size_t n = make_handshake(buf, sizeof(buf), caps, seq, "app", "no_such_plugin");
    int first;

    victim_write(v, buf, n);
    first = victim_read_packet(v);
    if (first != 0xfe) {
        anomaly("run %d: the handshake with an unknown plugin was answered with %d, not an auth "
                "switch request (254)",
                run, first);
        victim_close(v);
        return;
    }
    make_garbage(buf, sizeof(buf), (unsigned)run);
    victim_write(v, buf, sizeof(buf));
    victim_finish(v);
}

/* A.1: the handshake response asks for compression: rebound reads the stream in compressed
 * packets once a login is over, and junk before that is read as plain. */
static void fire_compress_junk_after_switch(struct victim *v, int run)
{
    bogus_login_then_junk(v, run, CAP_BASE | CAP_COMPRESS, 1);
}

static void test_a1_compress_handshake_junk_after_switch(void **state)
{
    static const struct attack a = {
        .what = "handshake with CLIENT_COMPRESS + unknown plugin, junk after the auth switch",
        .prepare = prepare_greeted,
        .fire = fire_compress_junk_after_switch};

    (void)state;
    run_attack(&a);
}

/* A.1': the same, with 1 KB of junk right behind the handshake response in the same write
 * (before any answer), and 4 KB more in the next. */
static void fire_compress_junk_same_write(struct victim *v, int run)
{
    unsigned char buf[8192];
    size_t n =
        make_handshake(buf, sizeof(buf), CAP_BASE | CAP_COMPRESS, 1, "app", "no_such_plugin");

    make_garbage(buf + n, 1024, (unsigned)run);
    send_all(v->fd, buf, n + 1024);
    make_garbage(buf, 4096, (unsigned)run + 100);
    send_all(v->fd, buf, 4096);
    victim_finish(v);
}

static void test_a1_compress_handshake_junk_same_write(void **state)
{
    static const struct attack a = {
        .what = "handshake with CLIENT_COMPRESS + unknown plugin + junk in the same write",
        .prepare = prepare_greeted,
        .fire = fire_compress_junk_same_write};

    (void)state;
    run_attack(&a);
}

/* A.1'': no compression: rebound follows the stream. */
static void fire_plain_junk_after_switch(struct victim *v, int run)
{
    bogus_login_then_junk(v, run, CAP_BASE, 1);
}

static void test_a1_plain_handshake_junk_after_switch(void **state)
{
    static const struct attack a = {
        .what = "plain handshake with an unknown plugin, junk after the auth switch",
        .prepare = prepare_greeted,
        .fire = fire_plain_junk_after_switch};

    (void)state;
    run_attack(&a);
}

/* A.1''': over TLS (the handshake response is then sequence id 2). */
static void fire_tls_junk_after_switch(struct victim *v, int run)
{
    bogus_login_then_junk(v, run, CAP_BASE | CAP_SSL, 2);
}

static void test_a1_tls_handshake_junk_after_switch(void **state)
{
    static const struct attack a = {
        .what = "TLS handshake with an unknown plugin, junk after the auth switch",
        .prepare = prepare_tls_greeted,
        .fire = fire_tls_junk_after_switch};

    (void)state;
    run_attack(&a);
}

/* A.1'''': an SSL request, then junk where the TLS handshake should be. */
static void fire_ssl_request_then_junk(struct victim *v, int run)
{
    unsigned char buf[4096];

    make_handshake(buf, sizeof(buf), CAP_BASE | CAP_SSL, 1, "app", "no_such_plugin");
    put_header(buf, 32, 1);
    send_all(v->fd, buf, 36);
    make_garbage(buf, sizeof(buf), (unsigned)run);
    send_all(v->fd, buf, sizeof(buf));
    victim_finish(v);
}

static void test_a1_ssl_request_then_junk(void **state)
{
    static const struct attack a = {.what = "SSL request, then junk instead of TLS",
                                    .prepare = prepare_greeted,
                                    .fire = fire_ssl_request_then_junk};

    (void)state;
    run_attack(&a);
}

/* ---- A.2 and A.3: logged in ---- */

/* A.2: HALF a COM_QUERY (the header announces 100 bytes, 20 follow), then the client
 * half-closes. The master gives up on the unfinished packet and closes. */
static void fire_half_query_shut_wr(struct victim *v, int run)
{
    static const unsigned char half[] = "\x64\x00\x00\x00\x03SELECT 1 FROM dual "; /* 20 */

    (void)run;
    send_all(v->fd, half, sizeof(half) - 1);
    shutdown(v->fd, SHUT_WR);
    victim_finish(v);
}

static void test_a2_half_query_then_shut_wr(void **state)
{
    static const struct attack a = {.what = "half a COM_QUERY then SHUT_WR",
                                    .prepare = prepare_login,
                                    .fire = fire_half_query_shut_wr};

    (void)state;
    run_attack(&a);
}

/* A.3a: a complete COM_QUERY, then junk, then SHUT_WR. The master answers the query, then
 * rejects the junk (ERR "packets out of order" with sequence id 0) and resets the connection. */
static void fire_query_then_junk(struct victim *v, int run)
{
    unsigned char buf[4096];
    size_t n = make_packet(buf, 0, LIT("\x03SELECT 1"));

    make_garbage(buf + n, 2048, (unsigned)run);
    send_all(v->fd, buf, n + 2048);
    shutdown(v->fd, SHUT_WR);
    victim_finish(v);
}

static void test_a3_query_then_junk(void **state)
{
    static const struct attack a = {.what = "COM_QUERY + junk then SHUT_WR",
                                    .prepare = prepare_login,
                                    .fire = fire_query_then_junk};

    (void)state;
    run_attack(&a);
}

/* A.3b: a COM_QUERY with sequence id 5 instead of 0. The master answers with ERR 1156 (packets
 * out of order) with sequence id 0, and resets. */
static void fire_wrong_seq(struct victim *v, int run)
{
    unsigned char buf[64];
    size_t n = make_packet(buf, 5, LIT("\x03SELECT 1"));

    (void)run;
    send_all(v->fd, buf, n);
    victim_finish(v);
}

static void test_a3_wrong_sequence_id(void **state)
{
    static const struct attack a = {
        .what = "COM_QUERY with sequence id 5", .prepare = prepare_login, .fire = fire_wrong_seq};

    (void)state;
    run_attack(&a);
}

/* A.3c: COM_QUIT with 4 KB behind it in the same write: the master quits with the bytes unread,
 * which resets the connection. */
static void fire_bytes_after_quit(struct victim *v, int run)
{
    unsigned char buf[8192];
    size_t n = make_packet(buf, 0, LIT("\x01"));

    make_garbage(buf + n, 4096, (unsigned)run);
    send_all(v->fd, buf, n + 4096);
    victim_finish(v);
}

static void test_a3_bytes_after_quit(void **state)
{
    static const struct attack a = {
        .what = "COM_QUIT + 4 KB", .prepare = prepare_login, .fire = fire_bytes_after_quit};

    (void)state;
    run_attack(&a);
}

/* A.3d: a header announcing a 16 MiB COM_QUERY, a few bytes of it, then the client closes. */
static void fire_huge_header_close(struct victim *v, int run)
{
    static const unsigned char huge[] = "\xff\xff\xff\x00\x03SELECT ";

    (void)run;
    send_all(v->fd, huge, sizeof(huge) - 1);
    victim_close(v);
}

static void test_a3_huge_header_then_close(void **state)
{
    static const struct attack a = {.what = "16 MiB header then close",
                                    .prepare = prepare_login,
                                    .fire = fire_huge_header_close};

    (void)state;
    run_attack(&a);
}

/* A.3e: each client sets its own wait_timeout to 1 s and idles: the master drops the sessions,
 * all within about a second, each with a TCP reset (MariaDB sets SO_LINGER 0 on a session it
 * times out). Nothing was asked of the master: B.10 is the same seen from a connection pool. */
static void test_a3_client_wait_timeout(void **state)
{
    MYSQL *m[HOSTILE_RUNS];
    int i;
    int64_t deadline;

    (void)state;
    start_router(HOSTILE_LIMIT);
    for (i = 0; i < HOSTILE_RUNS; i++)
        m[i] = connect_plain();
    for (i = 0; i < HOSTILE_RUNS; i++)
        must_sql(m[i], "SET SESSION wait_timeout = 1");
    deadline = now_ms() + IDLE_WAIT_MS;
    for (i = 0; i < HOSTILE_RUNS; i++) {
        if (read_until_eof(session_fd(m[i]), (int)(deadline - now_ms())) < 0)
            die("session %d: not closed by the master within %d ms of wait_timeout 1", i,
                IDLE_WAIT_MS);
        close_under(m[i]);
        release(m[i]);
    }
    expect_master_untouched("SET SESSION wait_timeout = 1 and idle", HOSTILE_RUNS);
}

/* A.3f: a compressed session writes junk under the compression layer. */
static void fire_junk(struct victim *v, int run)
{
    unsigned char buf[4096];

    make_garbage(buf, sizeof(buf), (unsigned)run);
    send_all(v->fd, buf, sizeof(buf));
    victim_finish(v);
}

static void test_a3_compressed_session_junk(void **state)
{
    static const struct attack a = {.what = "logged-in compressed session writes junk",
                                    .prepare = prepare_login_compressed,
                                    .fire = fire_junk};

    (void)state;
    run_attack(&a);
}

/* A.3g: a TLS session writes junk under the TLS layer (straight to the socket). */
static void test_a3_tls_session_junk(void **state)
{
    static const struct attack a = {.what = "logged-in TLS session writes junk under TLS",
                                    .prepare = prepare_login_tls,
                                    .fire = fire_junk};

    (void)state;
    run_attack(&a);
}

/* A.3h: KILL of the client's own connection: the master answers ERR 1927 and closes. */
static void fire_kill_self(struct victim *v, int run)
{
    unsigned err = run_sql(v->m, LIT("KILL CONNECTION_ID()"), NULL);

    if (err != 1927)
        anomaly("run %d: KILL CONNECTION_ID() gave %u, want 1927 (connection killed)", run, err);
    victim_finish(v);
}

static void test_a3_kill_own_connection(void **state)
{
    static const struct attack a = {
        .what = "KILL CONNECTION_ID()", .prepare = prepare_login, .fire = fire_kill_self};

    (void)state;
    run_attack(&a);
}

/* A.3i: the client resets its connection while the master is sending a big result. */
static void fire_reset_mid_result(struct victim *v, int run)
{
    static const char big[] = "SELECT seq, REPEAT('r', 1000) FROM seq_1_to_100000";
    char buf[8192];
    struct pollfd p = {.fd = v->fd, .events = POLLIN};

    (void)run;
    /* Once some of the answer has arrived, the master is busy sending the rest. */
    if (mysql_send_query(v->m, big, (unsigned long)strlen(big)) != 0 ||
        poll(&p, 1, EOF_WAIT_MS) != 1 || read(v->fd, buf, sizeof(buf)) <= 0)
        anomaly("run %d: no answer to the big query", run);
    reset_under(v->m);
    release(v->m);
    v->m = NULL;
    v->fd = -1;
}

static void test_a3_reset_mid_result(void **state)
{
    static const struct attack a = {.what = "client reset in the middle of a big result",
                                    .prepare = prepare_login,
                                    .fire = fire_reset_mid_result};

    (void)state;
    run_attack(&a);
}

/* A.3j: the client closes (FIN, no COM_QUIT) while its query runs. */
static void fire_close_mid_query(struct victim *v, int run)
{
    static const char slow[] = "SELECT SLEEP(0.2)";

    (void)run;
    if (mysql_send_query(v->m, slow, (unsigned long)strlen(slow)) != 0)
        anomaly("run %d: send: %s", run, mysql_error(v->m));
    victim_close(v);
}

static void test_a3_close_while_query_runs(void **state)
{
    static const struct attack a = {.what = "client closes while its query runs",
                                    .prepare = prepare_login,
                                    .fire = fire_close_mid_query};

    (void)state;
    run_attack(&a);
}

/* A.3k: a complete query, and the client half-closes at once: the master answers, then sees
 * the end of the stream and closes. */
static void fire_query_shut_wr(struct victim *v, int run)
{
    unsigned char buf[64];
    size_t n = make_packet(buf, 0, LIT("\x03SELECT SLEEP(0.05)"));

    (void)run;
    send_all(v->fd, buf, n);
    shutdown(v->fd, SHUT_WR);
    victim_finish(v);
}

static void test_a3_query_then_shut_wr(void **state)
{
    static const struct attack a = {.what = "complete COM_QUERY then SHUT_WR",
                                    .prepare = prepare_login,
                                    .fire = fire_query_shut_wr};

    (void)state;
    run_attack(&a);
}

/* A.3l: logged in, a COM_CHANGE_USER naming an unknown auth plugin; the master answers with an
 * auth switch request, the client with junk (out of turn). The master answers ERR 1156 (packets
 * out of order), waits a second, answers the rest of the junk with another ERR 1156 (sequence id
 * 0) and resets. The victims wait out that second together. */
static void fire_change_user_junk(struct victim *v, int run)
{
    static const unsigned char cu[] = "\x11"
                                      "app\0"
                                      "\x14"
                                      "ABCDEFGHIJKLMNOPQRST"
                                      "appdb\0"
                                      "\x21\x00"
                                      "no_such_plugin\0"; /* + the implicit NUL: no attrs */
    unsigned char buf[4096];
    long len;

    send_all(v->fd, buf, make_packet(buf, 0, cu, sizeof(cu)));
    len = read_packet(v->fd, buf, sizeof(buf), EOF_WAIT_MS);
    if (len < 1 || buf[4] != 0xfe) {
        anomaly("run %d: COM_CHANGE_USER with an unknown plugin answered with %d (%ld bytes), not "
                "an auth switch",
                run, len > 0 ? buf[4] : -1, len);
        victim_close(v);
        return;
    }
    make_garbage(buf, sizeof(buf), (unsigned)run);
    send_all(v->fd, buf, sizeof(buf));
}

static void test_a3_change_user_junk_after_switch(void **state)
{
    static const struct attack a = {.what =
                                        "COM_CHANGE_USER with an unknown plugin, junk after the "
                                        "auth switch",
                                    .prepare = prepare_login,
                                    .fire = fire_change_user_junk,
                                    .deferred = true};

    (void)state;
    run_attack(&a);
}

/* Logged in with CLIENT_LOCAL_FILES. */
static void prepare_login_infile(struct victim *v)
{
    const struct copts o = {.local_infile = 1};

    v->m = connect_with(&o);
    v->fd = session_fd(v->m);
}

/* A.3m: LOAD DATA LOCAL INFILE; when the master asks for the file, one packet of it and then
 * SHUT_WR instead of the empty packet that ends a file. */
static void fire_infile_unfinished(struct victim *v, int run)
{
    static const char q[] = "\x03LOAD DATA LOCAL INFILE 'x' INTO TABLE hostile_load (v)";
    unsigned char buf[256];
    long len;

    send_all(v->fd, buf, make_packet(buf, 0, q, sizeof(q) - 1));
    len = read_packet(v->fd, buf, sizeof(buf), EOF_WAIT_MS);
    if (len < 1 || buf[4] != 0xfb) {
        anomaly("run %d: LOAD DATA LOCAL answered with %d, not a file request (251)", run,
                len > 0 ? buf[4] : -1);
        victim_close(v);
        return;
    }
    send_all(v->fd, buf, make_packet(buf, 2, LIT("row\n")));
    shutdown(v->fd, SHUT_WR);
    victim_finish(v);
}

static void test_a3_infile_unfinished(void **state)
{
    static const struct attack a = {.what = "LOCAL INFILE contents without their end, then SHUT_WR",
                                    .prepare = prepare_login_infile,
                                    .fire = fire_infile_unfinished};

    (void)state;
    run_attack(&a);
}

/* ======================================================================================
 * B. Legitimate traffic
 * ====================================================================================== */

/* Start the router with error-limit 1 (a single count shows), run scenario `runs` times, then
 * the verdict. */
static void run_legit(const char *what, int runs, void (*scenario)(int run))
{
    int i;

    start_router(1);
    for (i = 0; i < runs; i++)
        scenario(i);
    expect_master_untouched(what, runs);
}

/* Sequence id of the first row packet of a one-column text result on m: column count 1, column
 * definition 2, EOF 3 (CLIENT_DEPRECATE_EOF drops it). */
static int first_row_seq(MYSQL *m)
{
    return m->client_flag & m->server_capabilities & DEPRECATE_EOF_FLAG ? 3 : 4;
}

/* Length of the value of a one-column row whose packet payload is exactly 0xffffff bytes: the
 * value's length takes 4 of them (0xfd + 3 bytes). */
#define ROW_MAX_VALUE (MAX_PAYLOAD - 4)
#define BIG_VALUE     17000000ul /* a value bigger than 16 MiB: 2 packets */

/* A SELECT whose last row (row k) holds a value of len bytes, after k-1 rows of 'b', with k
 * chosen so that the big row's (first) packet has sequence id want_seq. Expects exactly that
 * value back. */
static void big_row_at_seq(MYSQL *m, unsigned long len, int want_seq)
{
    char sql[256], *v;
    unsigned long got = 0;
    MYSQL_RES *res;
    MYSQL_ROW row;
    unsigned long *lens;
    int k = want_seq - first_row_seq(m) + 1, n = 0;
    bool ok = false;

    snprintf(sql, sizeof(sql), "SELECT IF(seq = %d, REPEAT('a', %lu), 'b') FROM seq_1_to_%d", k,
             len, k);
    if (mysql_query(m, sql) != 0 || !(res = mysql_use_result(m)))
        die("\"%s\": %u %s", sql, mysql_errno(m), mysql_error(m));
    while ((row = mysql_fetch_row(res))) {
        lens = mysql_fetch_lengths(res);
        n++;
        v = row[0];
        if (n == k) {
            got = lens[0];
            ok = got == len && v[0] == 'a' && v[len - 1] == 'a';
        }
    }
    if (mysql_errno(m))
        die("\"%.60s\": row %d: %u %s", sql, n, mysql_errno(m), mysql_error(m));
    mysql_free_result(res);
    if (!ok || n != k)
        die("big row at sequence id %d: %d rows, last %lu bytes, want %d and %lu", want_seq, n, got,
            k, len);
}

/* SELECT LENGTH('qqq...') with a literal of len bytes: a COM_QUERY payload of len + 18 bytes. */
static void big_query(MYSQL *m, size_t len)
{
    static const char head[] = "SELECT LENGTH('", tail[] = "')";
    size_t hl = sizeof(head) - 1, total = hl + len + sizeof(tail) - 1;
    char *sql = malloc(total + 1), *v;
    unsigned long vl;

    assert_non_null(sql);
    memcpy(sql, head, hl);
    memset(sql + hl, 'q', len);
    memcpy(sql + hl + len, tail, sizeof(tail));
    v = one_value(m, sql, (unsigned long)total, &vl);
    free(sql);
    if ((size_t)atol(v) != len)
        die("LENGTH of a %zu-byte literal came back as %s", len, v);
    free(v);
}

/* B.1: packets of 16 MiB and more, both ways. A row whose packet payload is exactly 0xffffff
 * (then an empty packet ends it), a row bigger than 16 MiB (two packets), the same two as the
 * last row of a result in which the big packet has sequence id 254 - its continuation is 255 and
 * the EOF after it wraps to 0 - and a 0xffffff row at 255, whose (empty) continuation has
 * sequence id 0. From the client: a query of more than 16 MiB, and one whose packet is exactly
 * 0xffffff bytes (then an empty packet). A run moves over 100 MB through rebound and takes about
 * 0.8 s here: BIG_RUNS runs, not 20. */
static void legit_big_packets(int run)
{
    const struct copts o = {.big = true, .timeout_s = LONG_TIMEOUT_S};
    MYSQL *m = connect_with(&o);
    unsigned long len;
    char *v;

    (void)run;
    v = one_value(m, LIT("SELECT REPEAT('a', 16777211)"), &len);
    if (len != ROW_MAX_VALUE)
        die("the 16 MiB - 1 row came back with %lu bytes", len);
    free(v);
    v = one_value(m, LIT("SELECT REPEAT('a', 17000000)"), &len);
    if (len != BIG_VALUE)
        die("the 17 MB row came back with %lu bytes", len);
    free(v);
    big_row_at_seq(m, ROW_MAX_VALUE, 254);
    big_row_at_seq(m, BIG_VALUE, 254);
    big_row_at_seq(m, ROW_MAX_VALUE, 255);
    big_query(m, BIG_VALUE);
    big_query(m, MAX_PAYLOAD - 1 - 17); /* COM_QUERY byte + 17 bytes of SQL around the literal */
    release(m);
}

static void test_b1_16mib_packets(void **state)
{
    (void)state;
    fixture_set_global(&fx, "master", "max_allowed_packet", BIG_PACKET);
    run_legit("16 MiB packets both ways", BIG_RUNS, legit_big_packets);
}

/* File harness_dir()/name of `chunks` lines of 4096 bytes (4095 'l' and a newline): libmariadb
 * sends LOCAL INFILE contents in packets of 4096 bytes, one per line here. Returns the path. */
static const char *infile(const char *name, int chunks, char *path, size_t size)
{
    char line[4096];
    FILE *f;
    int i;

    harness_path(path, size, name);
    if (file_size(path) == (long)chunks * 4096)
        return path;
    memset(line, 'l', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\n';
    f = fopen(path, "w");
    assert_non_null(f);
    for (i = 0; i < chunks; i++)
        assert_int_equal(fwrite(line, 1, sizeof(line), f), sizeof(line));
    assert_int_equal(fclose(f), 0);
    return path;
}

/* LOAD DATA LOCAL INFILE path into the emptied table; it must load `rows` rows. */
static void load_file(MYSQL *m, const char *path, unsigned long long rows)
{
    char sql[PATH_MAX + 128];

    must_sql(m, "TRUNCATE TABLE hostile_load");
    snprintf(sql, sizeof(sql), "LOAD DATA LOCAL INFILE '%s' INTO TABLE hostile_load (v)", path);
    if (mysql_query(m, sql) != 0)
        die("\"%s\": %u %s", sql, mysql_errno(m), mysql_error(m));
    if (mysql_affected_rows(m) != rows)
        die("LOAD DATA of %s loaded %llu rows, want %llu", path,
            (unsigned long long)mysql_affected_rows(m), rows);
}

/* 253 chunks: contents in packets 2..254, the empty packet 255, the server's OK wraps to 0. */
#define WRAP_CHUNKS     253
#define WRAP_BIG_CHUNKS (16 * 256 + 253) /* the same wrap with 17.8 MB (> 16 MiB) */

static char small_file[PATH_MAX], wrap_file[PATH_MAX], wrap_big_file[PATH_MAX];

/* B.2: LOAD DATA LOCAL INFILE: a small file (3 rows), a 1 MB file whose packets make the
 * master's final OK carry sequence id 0 (after 255), and a 17.8 MB one (> 16 MiB) likewise; a
 * file the client cannot open, and a client that does not allow LOCAL INFILE (refused). */
static void legit_load_small(int run)
{
    const struct copts o = {.local_infile = 1}, no_infile = {.local_infile = -1};
    MYSQL *m = connect_with(&o);
    char sql[PATH_MAX + 128];

    load_file(m, small_file, 3);
    load_file(m, wrap_file, WRAP_CHUNKS);
    /* A file the client cannot open: it sends the master an empty file, and reports an error. */
    if (run_sql(m, LIT("LOAD DATA LOCAL INFILE '/nonexistent/hostile' INTO TABLE hostile_load (v)"),
                NULL) == 0 ||
        !strstr(mysql_error(m), "not found"))
        die("run %d: LOAD DATA LOCAL of a missing file: %s", run, mysql_error(m));
    must_sql(m, "SELECT 6");
    release(m);
    /* A client that does not allow LOCAL INFILE: refused (an application error), no harm. */
    m = connect_with(&no_infile);
    snprintf(sql, sizeof(sql), "LOAD DATA LOCAL INFILE '%s' INTO TABLE hostile_load (v)",
             small_file);
    if (run_sql(m, sql, (unsigned long)strlen(sql), NULL) == 0 ||
        !strstr(mysql_error(m), "local infile"))
        die("run %d: LOAD DATA LOCAL without MYSQL_OPT_LOCAL_INFILE: %s", run, mysql_error(m));
    must_sql(m, "SELECT 5");
    release(m);
}

static void legit_load_big(int run)
{
    const struct copts o = {.local_infile = 1, .timeout_s = LONG_TIMEOUT_S};
    MYSQL *m = connect_with(&o);

    (void)run;
    load_file(m, wrap_big_file, WRAP_BIG_CHUNKS);
    release(m);
}

static void test_b2_load_data_local(void **state)
{
    char on[16];

    (void)state;
    root_sql("master", on, sizeof(on), "SELECT @@GLOBAL.local_infile");
    if (atoi(on) != 1)
        fixture_set_global(&fx, "master", "local_infile", "1");
    infile("infile-small.txt", 3, small_file, sizeof(small_file));
    infile("infile-wrap.txt", WRAP_CHUNKS, wrap_file, sizeof(wrap_file));
    infile("infile-wrap-big.txt", WRAP_BIG_CHUNKS, wrap_big_file, sizeof(wrap_big_file));
    start_router(1);
    for (int i = 0; i < LEGIT_RUNS; i++)
        legit_load_small(i);
    /* 17.8 MB each, replicated to both replicas: BIG_RUNS runs. */
    for (int i = 0; i < BIG_RUNS; i++)
        legit_load_big(i);
    expect_master_untouched("LOAD DATA LOCAL INFILE (3 rows, 1 MB and 17.8 MB)", LEGIT_RUNS);
}

/* B.3: multi-statements and a procedure returning two result sets, every result read. */
static void legit_multi_results(int run)
{
    const struct copts o = {.flags = CLIENT_MULTI_STATEMENTS};
    MYSQL *m = connect_with(&o);
    static const char *const sqls[] = {"SELECT 1; SELECT 2; DO 1", "CALL hostile_two_results()"};
    static const int want[] = {2, 2}; /* result sets; OK packets are the rest */
    MYSQL_RES *res;
    int i, sets, more;

    (void)run;
    for (i = 0; i < 2; i++) {
        if (mysql_query(m, sqls[i]) != 0)
            die("\"%s\": %s", sqls[i], mysql_error(m));
        sets = 0;
        do {
            res = mysql_store_result(m);
            if (res) {
                sets++;
                mysql_free_result(res);
            } else if (mysql_field_count(m) != 0) {
                die("\"%s\": %s", sqls[i], mysql_error(m));
            }
            more = mysql_next_result(m);
            if (more > 0)
                die("\"%s\": next result: %s", sqls[i], mysql_error(m));
        } while (more == 0);
        if (sets != want[i])
            die("\"%s\" gave %d result sets, want %d", sqls[i], sets, want[i]);
    }
    release(m);
}

static void test_b3_multi_results(void **state)
{
    (void)state;
    run_legit("multi-statements and CALL with two result sets", LEGIT_RUNS, legit_multi_results);
}

/* B.4: prepared statements. COM_STMT_SEND_LONG_DATA (three pieces, never answered) then execute;
 * a SELECT returning 300 binary rows (the sequence id wraps); the same through a read-only cursor
 * (COM_STMT_FETCH, 7 rows at a time); a bulk insert (array binding: COM_STMT_BULK_EXECUTE);
 * mariadb_stmt_execute_direct (prepare and execute pipelined in one write), also of a statement
 * that fails; a CALL with an OUT parameter; reset and close. */
static void legit_prepared(int run)
{
    MYSQL *m = connect_plain();
    MYSQL_STMT *st;
    MYSQL_BIND pb[1], rb[2];
    char piece[65536], text[64];
    int32_t seqv = 0, want_len = 50, vals[50];
    unsigned long tlen = 0, cursor = CURSOR_TYPE_READ_ONLY, prefetch = 7, rows;
    unsigned int array = 50;
    int i, rc;

    (void)run;
    /* Long data. */
    st = mysql_stmt_init(m);
    assert_non_null(st);
    if (mysql_stmt_prepare(st, LIT("INSERT INTO hostile_blob (b) VALUES (?)")) != 0)
        die("prepare: %s", mysql_stmt_error(st));
    memset(pb, 0, sizeof(pb));
    pb[0].buffer_type = MYSQL_TYPE_LONG_BLOB;
    assert_int_equal(mysql_stmt_bind_param(st, pb), 0);
    memset(piece, 'L', sizeof(piece));
    for (i = 0; i < 3; i++)
        if (mysql_stmt_send_long_data(st, 0, piece, sizeof(piece)) != 0)
            die("send_long_data: %s", mysql_stmt_error(st));
    if (mysql_stmt_execute(st) != 0 || mysql_stmt_affected_rows(st) != 1)
        die("execute with long data: %s", mysql_stmt_error(st));
    mysql_stmt_close(st);

    /* Binary rows, then the same through a cursor. */
    for (int pass = 0; pass < 2; pass++) {
        st = mysql_stmt_init(m);
        assert_non_null(st);
        if (pass == 1) {
            mysql_stmt_attr_set(st, STMT_ATTR_CURSOR_TYPE, &cursor);
            mysql_stmt_attr_set(st, STMT_ATTR_PREFETCH_ROWS, &prefetch);
        }
        if (mysql_stmt_prepare(st, LIT("SELECT seq, REPEAT('p', ?) FROM seq_1_to_300")) != 0)
            die("prepare select: %s", mysql_stmt_error(st));
        memset(pb, 0, sizeof(pb));
        pb[0].buffer_type = MYSQL_TYPE_LONG;
        pb[0].buffer = &want_len;
        memset(rb, 0, sizeof(rb));
        rb[0].buffer_type = MYSQL_TYPE_LONG;
        rb[0].buffer = &seqv;
        rb[1].buffer_type = MYSQL_TYPE_STRING;
        rb[1].buffer = text;
        rb[1].buffer_length = sizeof(text);
        rb[1].length = &tlen;
        assert_int_equal(mysql_stmt_bind_param(st, pb), 0);
        if (mysql_stmt_execute(st) != 0)
            die("execute select (pass %d): %s", pass, mysql_stmt_error(st));
        assert_int_equal(mysql_stmt_bind_result(st, rb), 0);
        rows = 0;
        while ((rc = mysql_stmt_fetch(st)) == 0) {
            rows++;
            if (seqv != (int32_t)rows || tlen != 50)
                die("binary row %lu: seq %d, %lu bytes", rows, seqv, tlen);
        }
        if (rc != MYSQL_NO_DATA || rows != 300)
            die("binary rows (pass %d): %lu rows, end %d: %s", pass, rows, rc,
                mysql_stmt_error(st));
        if (mysql_stmt_reset(st) != 0)
            die("stmt reset: %s", mysql_stmt_error(st));
        mysql_stmt_close(st);
    }

    /* Bulk insert: one COM_STMT_BULK_EXECUTE for 50 rows. */
    st = mysql_stmt_init(m);
    assert_non_null(st);
    if (mysql_stmt_prepare(st, LIT("INSERT INTO hostile_bulk (v) VALUES (?)")) != 0)
        die("prepare bulk: %s", mysql_stmt_error(st));
    for (i = 0; i < 50; i++)
        vals[i] = i;
    memset(pb, 0, sizeof(pb));
    pb[0].buffer_type = MYSQL_TYPE_LONG;
    pb[0].buffer = vals;
    mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &array);
    assert_int_equal(mysql_stmt_bind_param(st, pb), 0);
    if (mysql_stmt_execute(st) != 0 || mysql_stmt_affected_rows(st) != 50)
        die("bulk execute: %s (%llu rows)", mysql_stmt_error(st),
            (unsigned long long)mysql_stmt_affected_rows(st));
    mysql_stmt_close(st);

    /* Prepare + execute in one go. */
    st = mysql_stmt_init(m);
    assert_non_null(st);
    if (mariadb_stmt_execute_direct(st, LIT("SELECT seq FROM seq_1_to_20")) != 0)
        die("execute_direct: %s", mysql_stmt_error(st));
    if (mysql_stmt_store_result(st) != 0 || mysql_stmt_num_rows(st) != 20)
        die("execute_direct rows: %s", mysql_stmt_error(st));
    mysql_stmt_close(st);
    /* The same with a statement that does not parse: two ERR packets, one per command. */
    st = mysql_stmt_init(m);
    assert_non_null(st);
    if (mariadb_stmt_execute_direct(st, LIT("SELEC 1")) == 0 || mysql_stmt_errno(st) != 1064)
        die("execute_direct of \"SELEC 1\": %u, want 1064", mysql_stmt_errno(st));
    mysql_stmt_close(st);
    must_sql(m, "SELECT 7");
    /* CALL with an OUT parameter: its value comes as one more (binary) result set. */
    st = mysql_stmt_init(m);
    assert_non_null(st);
    if (mysql_stmt_prepare(st, LIT("CALL hostile_out(?)")) != 0)
        die("prepare CALL: %s", mysql_stmt_error(st));
    seqv = 0;
    memset(pb, 0, sizeof(pb));
    pb[0].buffer_type = MYSQL_TYPE_LONG;
    pb[0].buffer = &seqv;
    assert_int_equal(mysql_stmt_bind_param(st, pb), 0);
    if (mysql_stmt_execute(st) != 0)
        die("execute CALL: %s", mysql_stmt_error(st));
    rows = 0;
    do {
        if (mysql_stmt_field_count(st) == 0)
            continue;
        memset(rb, 0, sizeof(rb));
        rb[0].buffer_type = MYSQL_TYPE_LONG;
        rb[0].buffer = &seqv;
        assert_int_equal(mysql_stmt_bind_result(st, rb), 0);
        while (mysql_stmt_fetch(st) == 0)
            rows += seqv == 42;
    } while ((rc = mysql_stmt_next_result(st)) == 0);
    if (rc != -1 || rows != 1)
        die("CALL with an OUT parameter: %lu rows holding 42, end %d: %s", rows, rc,
            mysql_stmt_error(st));
    mysql_stmt_close(st);
    must_sql(m, "DELETE FROM hostile_blob");
    release(m);
}

static void test_b4_prepared_statements(void **state)
{
    (void)state;
    run_legit("prepared statements (long data, binary rows, cursor, bulk, execute_direct)",
              LEGIT_RUNS, legit_prepared);
}

/* The user of m's session (CURRENT_USER()) must start with want. */
static void expect_user(MYSQL *m, const char *want)
{
    unsigned long len;
    char *v = one_value(m, LIT("SELECT CURRENT_USER()"), &len);

    if (strncmp(v, want, strlen(want)) != 0)
        die("session user is %s, want %s", v, want);
    free(v);
}

/* B.5: COM_CHANGE_USER to another account and back, to the same account, and
 * COM_RESET_CONNECTION, each followed by a query. */
static void legit_change_user(int run)
{
    MYSQL *m = connect_plain();

    (void)run;
    if (mysql_change_user(m, "rebound_nopw", "", NULL) != 0)
        die("change_user to rebound_nopw: %s", mysql_error(m));
    expect_user(m, "rebound_nopw@");
    if (mysql_change_user(m, "app", "app-pass", "appdb") != 0)
        die("change_user back to app: %s", mysql_error(m));
    expect_user(m, "app@");
    if (mysql_change_user(m, "app", "app-pass", "appdb") != 0)
        die("change_user to app again: %s", mysql_error(m));
    expect_user(m, "app@");
    must_sql(m, "SET @x = 1");
    if (mysql_reset_connection(m) != 0)
        die("reset_connection: %s", mysql_error(m));
    expect_user(m, "app@");
    release(m);
}

static void test_b5_change_user_and_reset(void **state)
{
    (void)state;
    run_legit("COM_CHANGE_USER and COM_RESET_CONNECTION", LEGIT_RUNS, legit_change_user);
}

/* B.6: log in with a default auth plugin other than app's (mysql_native_password): the master
 * answers with an auth switch request (checked once by hand), the client answers it. */
static void legit_auth_switch(int run)
{
    static const char *const plugins[] = {"caching_sha2_password", "client_ed25519"};
    const struct copts o = {.default_auth = plugins[run % 2]};
    MYSQL *m = connect_with(&o);

    expect_user(m, "app@");
    release(m);
}

static void test_b6_auth_switch(void **state)
{
    unsigned char buf[1024];
    long len;
    size_t n;
    int fd;

    (void)state;
    start_router(1);
    /* By hand once: the master does answer this with an auth switch request (0xfe). */
    fd = raw_connect();
    len = read_packet(fd, buf, sizeof(buf), EOF_WAIT_MS);
    assert_true(len > 0 && buf[4] == 0x0a);
    n = make_handshake(buf, sizeof(buf), CAP_BASE, 1, "app", "caching_sha2_password");
    send_all(fd, buf, n);
    len = read_packet(fd, buf, sizeof(buf), EOF_WAIT_MS);
    if (len < 1 || buf[4] != 0xfe)
        die("the master answered a caching_sha2_password login with 0x%02x, not an auth switch",
            len > 0 ? buf[4] : 0);
    /* A client that goes away during the login is no one's error. */
    close(fd);
    for (int i = 0; i < LEGIT_RUNS; i++)
        legit_auth_switch(i);
    expect_master_untouched("logins with an auth switch", LEGIT_RUNS);
}

/* B.7: a result of 1000 rows (about 1000 packets: the sequence id wraps through 0 three
 * times), an empty result set, and statements answered by a bare OK. */
static void legit_results(int run)
{
    MYSQL *m = connect_plain();
    unsigned long long rows = 0;

    (void)run;
    if (run_sql(m, LIT("SELECT seq, REPEAT('r', 100) FROM seq_1_to_1000"), &rows) || rows != 1000)
        die("1000 rows: %llu rows, %s", rows, mysql_error(m));
    if (run_sql(m, LIT("SELECT seq FROM seq_1_to_10 WHERE seq > 100"), &rows) || rows != 0)
        die("empty result: %llu rows, %s", rows, mysql_error(m));
    must_sql(m, "DO 1");
    must_sql(m, "SET @y = 2");
    release(m);
}

static void test_b7_large_and_empty_results(void **state)
{
    (void)state;
    run_legit("1000-row and empty results", LEGIT_RUNS, legit_results);
}

/* B.8: pipelining: a COM_QUERY, a COM_STMT_CLOSE of no statement (never answered), a COM_PING
 * and another COM_QUERY in one write, then the three answers are read. */
static void legit_pipelined(int run)
{
    unsigned char buf[4096], pkt[1024];
    MYSQL *m = connect_plain();
    int fd = session_fd(m), i;
    size_t n = 0;
    long len = 0;

    (void)run;
    n += make_packet(buf + n, 0, LIT("\x03SELECT 1"));
    n += make_packet(buf + n, 0, LIT("\x19\xe7\x03\x00\x00")); /* COM_STMT_CLOSE 999 */
    n += make_packet(buf + n, 0, LIT("\x0e"));                 /* COM_PING */
    n += make_packet(buf + n, 0, LIT("\x03SELECT 2"));
    send_all(fd, buf, n);
    /* SELECT: count, column, EOF, row, EOF; PING: OK; SELECT: 5 again. */
    for (i = 0; i < 11; i++) {
        len = read_packet(fd, pkt, sizeof(pkt), EOF_WAIT_MS);
        if (len < 0)
            die("pipelined answers: packet %d missing", i);
        if ((i == 5 && pkt[4] != 0x00) || (i == 9 && (pkt[4] != 1 || pkt[5] != '2')))
            die("pipelined answers: packet %d starts with 0x%02x", i, pkt[4]);
    }
    if (pkt[4] != 0xfe)
        die("pipelined answers end with 0x%02x, not EOF", pkt[4]);
    must_sql(m, "SELECT 3");
    release(m);
}

static void test_b8_pipelined_commands(void **state)
{
    (void)state;
    run_legit("pipelined commands", LEGIT_RUNS, legit_pipelined);
}

/* B.9: the less common commands, whose answers are not the usual OK or result set: COM_STATISTICS
 * (a bare string), COM_FIELD_LIST (column definitions and EOF), COM_SET_OPTION (EOF), COM_PING,
 * COM_INIT_DB, COM_PROCESS_INFO; and denied or failing ones answered by an ERR: COM_REFRESH,
 * COM_DEBUG, COM_PROCESS_KILL of no thread. */
static void legit_odd_commands(int run)
{
    MYSQL *m = connect_plain();
    MYSQL_RES *res;
    const char *stat;

    (void)run;
    if (mysql_ping(m) != 0 || mysql_select_db(m, "appdb") != 0)
        die("ping / init_db: %s", mysql_error(m));
    stat = mysql_stat(m);
    if (!stat || strncmp(stat, LIT("Uptime")) != 0)
        die("COM_STATISTICS: %s", stat ? stat : mysql_error(m));
    res = mysql_list_fields(m, "hostile_bulk", NULL);
    if (!res || mysql_num_fields(res) != 2)
        die("COM_FIELD_LIST: %s", mysql_error(m));
    mysql_free_result(res);
    if (mysql_set_server_option(m, MYSQL_OPTION_MULTI_STATEMENTS_ON) != 0 ||
        mysql_set_server_option(m, MYSQL_OPTION_MULTI_STATEMENTS_OFF) != 0)
        die("COM_SET_OPTION: %s", mysql_error(m));
    res = mysql_list_processes(m);
    if (!res)
        die("COM_PROCESS_INFO: %s", mysql_error(m));
    mysql_free_result(res);
    if (mysql_refresh(m, REFRESH_TABLES) == 0 || mysql_errno(m) != 1227)
        die("COM_REFRESH as app: %u, want 1227 (access denied)", mysql_errno(m));
    if (mysql_dump_debug_info(m) == 0 || mysql_errno(m) != 1227)
        die("COM_DEBUG as app: %u, want 1227 (access denied)", mysql_errno(m));
    if (mysql_kill(m, 999999) == 0 || mysql_errno(m) != 1094)
        die("COM_PROCESS_KILL of thread 999999: %u, want 1094 (unknown thread)", mysql_errno(m));
    must_sql(m, "SELECT 4");
    release(m);
}

static void test_b9_odd_commands(void **state)
{
    (void)state;
    run_legit("stat, field list, set option, process list, refused commands", LEGIT_RUNS,
              legit_odd_commands);
}

/* B.10: a pool's idle sessions outlive the server's wait_timeout (set to 1 s globally, as a DBA
 * would): MariaDB drops each of them - with a TCP reset, as it sets SO_LINGER 0 on sessions it
 * times out. Nothing was asked of the master; that is no fault of it. */
static void test_b10_idle_sessions_reach_wait_timeout(void **state)
{
    MYSQL *m[LEGIT_RUNS];
    int64_t deadline;
    int i;

    (void)state;
    start_router(1);
    fixture_set_global(&fx, "master", "wait_timeout", "1");
    for (i = 0; i < LEGIT_RUNS; i++) {
        m[i] = connect_plain();
        must_sql(m[i], "SELECT 1");
    }
    deadline = now_ms() + IDLE_WAIT_MS;
    for (i = 0; i < LEGIT_RUNS; i++) {
        if (read_until_eof(session_fd(m[i]), (int)(deadline - now_ms())) < 0)
            die("session %d: not closed by the master within %d ms of wait_timeout 1", i,
                IDLE_WAIT_MS);
        close_under(m[i]);
        release(m[i]);
    }
    assert_int_equal(fixture_run_undo(&fx), 0);
    expect_master_untouched("idle sessions past the server's wait_timeout", LEGIT_RUNS);
}

/* B.11: another session (a DBA, a pool reaper) KILLs an idle session - MariaDB closes it without
 * a word - and KILL QUERY interrupts a running SLEEP, which then returns 1 as its result. */
static void legit_killed(int run)
{
    MYSQL *killer = connect_plain(), *victim = connect_plain();
    static const char slow[] = "SELECT SLEEP(5)";
    char sql[160], *id, *v;
    unsigned long len;
    int64_t deadline;
    bool running = false;

    id = one_value(victim, LIT("SELECT CONNECTION_ID()"), &len);
    snprintf(sql, sizeof(sql), "KILL CONNECTION %s", id);
    free(id);
    must_sql(killer, sql);
    if (read_until_eof(session_fd(victim), EOF_WAIT_MS) < 0)
        die("run %d: the killed idle session was not closed", run);
    close_under(victim);
    release(victim);

    victim = connect_plain();
    id = one_value(victim, LIT("SELECT CONNECTION_ID()"), &len);
    if (mysql_send_query(victim, slow, (unsigned long)strlen(slow)) != 0)
        die("send: %s", mysql_error(victim));
    /* "User sleep": the SLEEP itself runs. A KILL QUERY that came while the statement was still
     * being opened (its INFO already shown) would end it with error 1317 instead of SLEEP's 1. */
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s AND INFO = '%s' "
             "AND STATE = 'User sleep'",
             id, slow);
    for (deadline = now_ms() + EOF_WAIT_MS; !running && now_ms() < deadline;) {
        v = one_value(killer, sql, (unsigned long)strlen(sql), &len);
        running = atoi(v) == 1;
        free(v);
        if (!running)
            sleep_ms(10);
    }
    if (!running)
        die("run %d: SLEEP(5) did not show in the process list", run);
    snprintf(sql, sizeof(sql), "KILL QUERY %s", id);
    free(id);
    must_sql(killer, sql);
    if (mysql_read_query_result(victim) != 0)
        die("run %d: the interrupted SLEEP: %s", run, mysql_error(victim));
    mysql_free_result(mysql_store_result(victim));
    must_sql(victim, "SELECT 8");
    release(victim);
    release(killer);
}

static void test_b11_kill_from_another_session(void **state)
{
    (void)state;
    run_legit("KILL of an idle session and KILL QUERY", LEGIT_RUNS, legit_killed);
}

/* LOCAL INFILE contents produced slowly: SLOW_CHUNKS lines of 4 KB, SLOW_CHUNK_MS apart. */
#define SLOW_CHUNKS   30
#define SLOW_CHUNK_MS 50
#define PROGRESS_RUNS 3 /* 1.5 s each */

static int slow_chunks_left;
static int progress_reports;

static int slow_init(void **ptr, const char *name, void *userdata)
{
    (void)name;
    *ptr = userdata;
    slow_chunks_left = SLOW_CHUNKS;
    return 0;
}

static int slow_read(void *ptr, char *buf, unsigned int len)
{
    (void)ptr;
    if (slow_chunks_left == 0 || len < 2)
        return 0;
    slow_chunks_left--;
    sleep_ms(SLOW_CHUNK_MS);
    len = len > 4096 ? 4096 : len;
    memset(buf, 's', len - 1);
    buf[len - 1] = '\n';
    return (int)len;
}

static void slow_end(void *ptr)
{
    (void)ptr;
}

static int slow_error(void *ptr, char *msg, unsigned int len)
{
    (void)ptr;
    snprintf(msg, len, "slow infile");
    return 2000;
}

static void on_progress(const MYSQL *m, unsigned int stage, unsigned int max_stage, double progress,
                        const char *info, unsigned int info_len)
{
    (void)m;
    (void)stage;
    (void)max_stage;
    (void)progress;
    (void)info;
    (void)info_len;
    progress_reports++;
}

/* B.12: progress reports (MariaDB): a client that asks for them (a progress callback) gets ERR
 * packets with error number 0xffff in the middle of an answer, here at the end of a LOAD DATA
 * LOCAL INFILE that took more than progress_report_time (1 s). PROGRESS_RUNS runs, not 20. */
static void legit_progress(int run)
{
    const struct copts o = {.local_infile = 1, .progress = on_progress};
    MYSQL *m = connect_with(&o);
    int dummy = 0;

    must_sql(m, "SET SESSION progress_report_time = 1");
    must_sql(m, "TRUNCATE TABLE hostile_load");
    mysql_set_local_infile_handler(m, slow_init, slow_read, slow_end, slow_error, &dummy);
    if (mysql_query(m, "LOAD DATA LOCAL INFILE 'slow' INTO TABLE hostile_load (v)") != 0)
        die("run %d: slow LOAD DATA: %s", run, mysql_error(m));
    if (mysql_affected_rows(m) != SLOW_CHUNKS)
        die("run %d: slow LOAD DATA loaded %llu rows, want %d", run,
            (unsigned long long)mysql_affected_rows(m), SLOW_CHUNKS);
    must_sql(m, "SELECT 9");
    release(m);
}

static void test_b12_progress_reports(void **state)
{
    (void)state;
    progress_reports = 0;
    run_legit("LOAD DATA with progress reports", PROGRESS_RUNS, legit_progress);
    if (progress_reports == 0)
        die("no progress report arrived: the scenario did not test them");
}

/* ---- fixture ---- */

static int setup(void **state)
{
    (void)state;
    victims = NULL;
    first_anomaly[0] = '\0';
    return fixture_init(&fx, "hostile", ADMIN_PW);
}

/* Close the sessions, stop the router (clean exit, no sanitizer report) and undo every
 * setting. */
static int teardown(void **state)
{
    int i;

    (void)state;
    for (i = 0; victims && i < HOSTILE_RUNS; i++)
        if (!victims[i].m)
            victim_close(&victims[i]);
    return fixture_teardown(&fx);
}

/* The cluster (master with TLS) and the tables and procedure of part B, on the master (and
 * replicated). */
static int group_setup(void **state)
{
    static const char *const ddl[] = {
        "CREATE TABLE appdb.hostile_load (id INT AUTO_INCREMENT PRIMARY KEY, v TEXT) "
        "ENGINE=InnoDB",
        "CREATE TABLE appdb.hostile_blob (id INT AUTO_INCREMENT PRIMARY KEY, b LONGBLOB) "
        "ENGINE=InnoDB",
        "CREATE TABLE appdb.hostile_bulk (id INT AUTO_INCREMENT PRIMARY KEY, v INT) "
        "ENGINE=InnoDB",
        "CREATE PROCEDURE appdb.hostile_two_results() BEGIN SELECT 1 AS a; SELECT 2 AS b, 3 AS c; "
        "END",
        "CREATE PROCEDURE appdb.hostile_out(OUT x INT) SET x = 42",
    };
    MYSQL *m;
    size_t i;
    int rc = 0;

    if (cluster_master_tls() != 0 || harness_group_setup(state) != 0)
        return -1;
    m = root_connect("master");
    if (!m)
        return -1;
    for (i = 0; i < sizeof(ddl) / sizeof(ddl[0]) && rc == 0; i++)
        rc = root_run(m, ddl[i], NULL, 0);
    release(m);
    return rc ? -1 : 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* A. hostile clients */
        cmocka_unit_test_setup_teardown(test_a1_compress_handshake_junk_after_switch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a1_compress_handshake_junk_same_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a1_plain_handshake_junk_after_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a1_tls_handshake_junk_after_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a1_ssl_request_then_junk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a2_half_query_then_shut_wr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_query_then_junk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_wrong_sequence_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_bytes_after_quit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_huge_header_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_client_wait_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_compressed_session_junk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_tls_session_junk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_kill_own_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_reset_mid_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_close_while_query_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_query_then_shut_wr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_change_user_junk_after_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a3_infile_unfinished, setup, teardown),
        /* B. legitimate traffic */
        cmocka_unit_test_setup_teardown(test_b1_16mib_packets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_b2_load_data_local, setup, teardown),
        cmocka_unit_test_setup_teardown(test_b3_multi_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_b4_prepared_statements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_b5_change_user_and_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_b6_auth_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_b7_large_and_empty_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_b8_pipelined_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_b9_odd_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_b10_idle_sessions_reach_wait_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_b11_kill_from_another_session, setup, teardown),
        cmocka_unit_test_setup_teardown(test_b12_progress_reports, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, harness_group_teardown);
}
