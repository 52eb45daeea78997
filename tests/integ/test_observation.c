/* test_observation.c - passive observation (`observe`, `error-limit`, `on-error`) against a real
 * master + 2 replicas and the real router. Every event that counts comes from a real cause: a
 * killed master refuses connects, a full accept queue drops SYNs, a frozen master never greets, a
 * frozen then killed master resets its sessions, a master at max_connections greets with 1040, a
 * read-only master answers writes with 1290, KILL CONNECTION ends a query in flight, and a fake
 * server in this process breaks the packet sequence. Each test asserts the exact health-log line
 * (and the admin port's observed_errors counter), with active checks slow enough (inter 60s, or a
 * check that keeps passing) that they cannot be what took the server down.
 *
 * What must never count is driven the same way: application errors (syntax, duplicate key, lock
 * wait, deadlock, access denied), large result sets, 1290 on a backup, layer-7 errors under
 * `observe layer4`, clients that send garbage instead of a handshake, and sessions that switch to
 * TLS rebound passes through (relayed byte for byte, observed at layer 4 only). Compressed
 * sessions are followed: their errors count as a plain session's do.
 *
 * The master runs with TLS certificates this file generates (harness_dir()/master.opts, written
 * before the cluster starts), so the TLS test needs no restart. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define LOG_WAIT_MS   30000 /* bound for a wait: TSan on a loaded 2-core box is slow */
#define ADMIN_PW      "0bserve-Admin-pw"
#define MAX_HELD      48
#define ERROR_LIMIT   3
#define FAKE_MAX_CONN 32
#define BLOB_LEN      65536 /* bytes of the binary value sent and read back */
#define BIG_ROWS      1000  /* rows of a result set that wraps the sequence id several times */
#define ANY_REPLICA   0     /* expect_clients_on(): replica1 or replica2 */

/* A fake MySQL server on its own thread: greets, accepts any login, quits on COM_QUIT, and
 * answers every other command with an OK packet whose sequence id is 0 where 1 is due (the
 * command itself had 0): a malformed stream. */
struct fake {
    int lfd;
    atomic_bool stop;
    atomic_int answered; /* commands answered with the malformed packet */
    pthread_t thread;
    bool running;
};

/* The router of a test: listen rw (master, replica1 + replica2 as backups) on fx.rw_port, the
 * admin port for observed_errors; the sessions, sockets and undo list of the test. */
static struct router_fixture fx;
static int extra_port;  /* a second listen some tests add (bk, ra, fk, full) */
static int extra_port2; /* and a third */
static struct fake fake_server;

_Static_assert(MAX_HELD <= FIXTURE_MAX_HELD, "fx.held holds the held sessions");

/* ---- the health log ---- */

/* Fail the test (log attached) unless a line holding needle appears after `from` in time. */
static void expect_line(long from, const char *needle)
{
    fixture_expect_line(&fx, from, needle, LOG_WAIT_MS);
}

/* Fail the test unless exactly n lines after `from` hold needle (the lines saying how each
 * server starts are not events: left out). */
static void expect_count(long from, const char *needle, int n)
{
    int got = count_file_lines_unless(fx.health_log, from, needle, " starts UP as ");

    if (got == n)
        return;
    fixture_dump_log(&fx);
    fail_msg("%d health-log lines hold \"%s\", want %d", got, needle, n);
}

/* The DOWN line passive observation writes for server id after ERROR_LIMIT events. */
static void down_line(char *buf, size_t size, const char *id, const char *last)
{
    snprintf(buf, size,
             "Server %s is DOWN, reason: Health analyze, info: \"%d consecutive errors in "
             "traffic, last: %s\", check duration: 0ms.",
             id, ERROR_LIMIT, last);
}

/* ---- the admin port ---- */

/* observed_errors of server listen/name. */
static long long observed_errors(const char *listen, const char *name)
{
    return fixture_admin_int(
        &fx, "SELECT observed_errors FROM servers WHERE listener = '%s' AND name = '%s'", listen,
        name);
}

static void expect_observed(const char *listen, const char *name, long long want)
{
    long long got = observed_errors(listen, name);

    if (got != want) {
        fixture_dump_log(&fx);
        fail_msg("observed_errors of %s/%s is %lld, want %lld", listen, name, got, want);
    }
}

/* ---- the router ---- */

/* Wait (bounded) until every checked server passed its first check. Until then its health
 * counter sits at rise, one failure from DOWN: a check still under way when a test breaks the
 * server would take it DOWN itself, and on-error would not start from the top (3/3 UP). */
static void wait_checked(void)
{
    int64_t deadline = now_ms() + LOG_WAIT_MS;
    long long left;

    for (;;) {
        left = fixture_admin_int(&fx,
                                 "SELECT COUNT(*) FROM servers WHERE health < rise + fall - 1 AND "
                                 "check_info <> 'not checked'");
        if (left == 0)
            return;
        if (now_ms() >= deadline)
            break;
        sleep_ms(50);
    }
    fixture_dump_log(&fx);
    fail_msg("%lld servers have not passed their first check after %d ms", left, LOG_WAIT_MS);
}

/* Write the config and start rebound. `tuning` is appended to the defaults (observe options,
 * timeouts); `extra` (printf format) holds more listen sections. Checks: every 60s while UP, so
 * none runs during a test after the first; 300ms while DOWN, and one pass brings a server back.
 * timeout greeting is 2s unless a test lowers it: a loaded replica must not miss it. */
static void start_router(const char *tuning, const char *extra, ...)
    __attribute__((format(printf, 2, 3)));

static void start_router(const char *tuning, const char *extra, ...)
{
    char body[2048];
    va_list ap;

    va_start(ap, extra);
    vsnprintf(body, sizeof(body), extra, ap);
    va_end(ap);
    assert_int_equal(
        fixture_start(
            &fx, fx.rw_port,
            "# written by test_observation.c\n"
            "global\n"
            "    maxconn 1000\n"
            "    health-log file %s\n"
            "    admin 127.0.0.1:%d user admin password \"%s\"\n"
            "defaults\n"
            "    check mysql user rebound_check password \"check-pass\"\n"
            "    inter 60s  fastinter 60s  downinter 300ms  rise 1  fall 3  timeout check 2s\n"
            "    timeout connect 1s  timeout greeting 2s  timeout client 1m  timeout server 1m\n"
            "    retries 2\n"
            "%s\n"
            "listen rw\n"
            "    bind 127.0.0.1:%d\n"
            "    server master   127.0.0.1:%d check\n"
            "    server replica1 127.0.0.1:%d check backup\n"
            "    server replica2 127.0.0.1:%d check backup\n"
            "%s",
            fx.health_log, fx.admin_port, ADMIN_PW, tuning, fx.rw_port, cluster_port("master"),
            cluster_port("replica1"), cluster_port("replica2"), body),
        0);
    wait_checked();
}

/* ---- clients ---- */

/* n new clients through port; each must succeed and land on want_port, or with ANY_REPLICA on
 * either replica (which one is not the point where a loaded replica may miss timeout greeting). */
static void expect_clients_on(int port, int n, int want_port, const char *what)
{
    int i, got;
    bool ok;

    for (i = 0; i < n; i++) {
        got = client_port_via(port);
        ok = want_port == ANY_REPLICA
                 ? got == cluster_port("replica1") || got == cluster_port("replica2")
                 : got == want_port;
        if (!ok) {
            fixture_dump_log(&fx);
            fail_msg("%s: client %d landed on %d, want %d (0: a replica; client error %u: %s)",
                     what, i, got, want_port, client_errno(), client_error());
        }
    }
}

/* n statements on m, each of which must fail with want_err. */
static void expect_errors(MYSQL *m, const char *sql, int n, int want_err)
{
    int i, err;

    for (i = 0; i < n; i++) {
        err = client_query(m, sql);
        if (err != want_err)
            fail_msg("\"%s\" #%d gave %d (%s), want %d", sql, i, err, err ? client_error() : "ok",
                     want_err);
    }
}

/* A session as app through port with TLS and/or the compressed protocol; NULL on failure. */
static MYSQL *connect_special(int port, bool use_tls, bool compress)
{
    unsigned timeout = 5;
    my_bool on = 1, off = 0;
    MYSQL *m = mysql_init(NULL);

    if (!m)
        return NULL;
    client_options(m, timeout);
    if (use_tls) {
        mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &on);
        mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
    }
    if (compress)
        mysql_options(m, MYSQL_OPT_COMPRESS, NULL);
    if (!mysql_real_connect(m, "127.0.0.1", "app", "app-pass", "appdb", (unsigned)port, NULL, 0)) {
        fprintf(stderr, "special connect (tls %d, compress %d): %u %s\n", use_tls, compress,
                mysql_errno(m), mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* Send BLOB_LEN bytes of every value as a hex literal and read them back: they must come back
 * identical. Then a BIG_ROWS result set must arrive whole. */
static void expect_byte_for_byte(MYSQL *m)
{
    static const char hex[] = "0123456789abcdef";
    size_t sqllen = 16 + 2 * BLOB_LEN, i;
    char *sql = malloc(sqllen + 1);
    unsigned char *blob = malloc(BLOB_LEN);
    MYSQL_RES *res;
    MYSQL_ROW row;
    unsigned long *lens;
    char *p;
    int ok;

    assert_non_null(sql);
    assert_non_null(blob);
    for (i = 0; i < BLOB_LEN; i++)
        blob[i] = (unsigned char)(i * 7 + i / 256);
    p = sql + sprintf(sql, "SELECT x'");
    for (i = 0; i < BLOB_LEN; i++) {
        *p++ = hex[blob[i] >> 4];
        *p++ = hex[blob[i] & 15];
    }
    p += sprintf(p, "'");
    ok = mysql_real_query(m, sql, (unsigned long)(p - sql)) == 0 &&
         (res = mysql_store_result(m)) != NULL;
    free(sql);
    if (!ok) {
        free(blob);
        fail_msg("blob query: %u %s", mysql_errno(m), mysql_error(m));
    }
    row = mysql_fetch_row(res);
    lens = mysql_fetch_lengths(res);
    ok = row && lens && lens[0] == BLOB_LEN && memcmp(row[0], blob, BLOB_LEN) == 0;
    mysql_free_result(res);
    free(blob);
    if (!ok)
        fail_msg("the %d-byte value came back different", BLOB_LEN);
    if (mysql_query(m, "SELECT seq, REPEAT('r', 100) FROM seq_1_to_1000") != 0 ||
        !(res = mysql_store_result(m)))
        fail_msg("big query: %u %s", mysql_errno(m), mysql_error(m));
    i = 0;
    while ((row = mysql_fetch_row(res))) {
        if (!row[0] || atol(row[0]) != (long)i + 1)
            break;
        i++;
    }
    mysql_free_result(res);
    if (i != BIG_ROWS)
        fail_msg("big result: %zu good rows, want %d", i, BIG_ROWS);
}

/* ---- sockets ---- */

static int listen_on(int port, int backlog)
{
    return fixture_keep_fd(&fx, loopback_listen(port, backlog));
}

/* Start a non-blocking connect to 127.0.0.1:port; the socket is kept for teardown. */
static int start_connect(int port)
{
    int fd = loopback_connect(port);

    if (fd < 0)
        fail_msg("connect to %d: %s", port, strerror(errno));
    return fixture_keep_fd(&fx, fd);
}

static bool connect_completes(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t len = sizeof(err);

    if (poll(&p, 1, ms) != 1)
        return false;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

/* ---- the fake server ---- */

static const unsigned char OK_PAYLOAD[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};

static void send_packet(int fd, uint8_t seq, const unsigned char *payload, size_t len)
{
    unsigned char buf[256];

    if (len + 4 > sizeof(buf))
        return;
    buf[0] = (unsigned char)len;
    buf[1] = (unsigned char)(len >> 8);
    buf[2] = (unsigned char)(len >> 16);
    buf[3] = seq;
    memcpy(buf + 4, payload, len);
    if (write(fd, buf, len + 4) < 0)
        return;
}

/* A protocol-10 greeting offering mysql_native_password, without TLS or compression. */
static void send_greeting(int fd)
{
    unsigned char g[128], *p = g;

    *p++ = 0x0a;
    p += sprintf((char *)p, "5.7.99-fake") + 1;
    memcpy(p, "\x01\x00\x00\x00", 4); /* connection id */
    p += 4;
    memcpy(p, "abcdefgh", 8); /* scramble, first part */
    p += 8;
    *p++ = 0;
    /* LONG_PASSWORD LONG_FLAG CONNECT_WITH_DB PROTOCOL_41 TRANSACTIONS SECURE_CONNECTION */
    *p++ = 0x0d;
    *p++ = 0xa2;
    *p++ = 0x21; /* utf8_general_ci */
    *p++ = 0x02; /* autocommit */
    *p++ = 0x00;
    *p++ = 0x0b; /* MULTI_STATEMENTS MULTI_RESULTS PLUGIN_AUTH */
    *p++ = 0x00;
    *p++ = 21;
    memset(p, 0, 10);
    p += 10;
    memcpy(p, "ijklmnopqrst", 13); /* scramble, second part, NUL-terminated */
    p += 13;
    p += sprintf((char *)p, "mysql_native_password") + 1;
    send_packet(fd, 0, g, (size_t)(p - g));
}

struct fake_conn {
    int fd;
    bool authed;
    size_t len;
    unsigned char buf[4096];
};

/* Handle the complete packets in c->buf; false when the connection is done. */
static bool fake_packets(struct fake *f, struct fake_conn *c)
{
    size_t plen;

    while (c->len >= 4) {
        plen = c->buf[0] | c->buf[1] << 8 | (size_t)c->buf[2] << 16;
        if (plen + 4 > sizeof(c->buf))
            return false;
        if (c->len < plen + 4)
            return true;
        if (!c->authed) {
            send_packet(c->fd, (uint8_t)(c->buf[3] + 1), OK_PAYLOAD, sizeof(OK_PAYLOAD));
            c->authed = true;
        } else if (plen >= 1 && c->buf[4] == 0x01) {
            return false; /* COM_QUIT */
        } else {
            send_packet(c->fd, 0, OK_PAYLOAD, sizeof(OK_PAYLOAD));
            atomic_fetch_add(&f->answered, 1);
        }
        c->len -= plen + 4;
        memmove(c->buf, c->buf + plen + 4, c->len);
    }
    return true;
}

static void *fake_run(void *arg)
{
    struct fake *f = arg;
    struct fake_conn *conns = calloc(FAKE_MAX_CONN, sizeof(*conns));
    struct pollfd p[FAKE_MAX_CONN + 1];
    int n, i, c;
    ssize_t r;

    if (!conns)
        return NULL;
    while (!atomic_load(&f->stop)) {
        p[0] = (struct pollfd){.fd = f->lfd, .events = POLLIN};
        for (i = 0; i < FAKE_MAX_CONN; i++)
            p[i + 1] = (struct pollfd){.fd = conns[i].fd > 0 ? conns[i].fd : -1, .events = POLLIN};
        n = poll(p, FAKE_MAX_CONN + 1, 50);
        if (n <= 0)
            continue;
        if (p[0].revents & POLLIN) {
            c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
            for (i = 0; c >= 0 && i < FAKE_MAX_CONN && conns[i].fd > 0; i++)
                ;
            if (c >= 0 && i == FAKE_MAX_CONN) {
                close(c);
            } else if (c >= 0) {
                conns[i] = (struct fake_conn){.fd = c};
                send_greeting(c);
            }
        }
        for (i = 0; i < FAKE_MAX_CONN; i++) {
            struct fake_conn *fc = &conns[i];
            if (fc->fd <= 0 || !(p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            r = read(fc->fd, fc->buf + fc->len, sizeof(fc->buf) - fc->len);
            if (r > 0)
                fc->len += (size_t)r;
            if (r <= 0 || !fake_packets(f, fc)) {
                close(fc->fd);
                fc->fd = 0;
            }
        }
    }
    for (i = 0; i < FAKE_MAX_CONN; i++)
        if (conns[i].fd > 0)
            close(conns[i].fd);
    free(conns);
    return NULL;
}

static void fake_start(int port)
{
    struct fake *f = &fake_server;

    f->lfd = listen_on(port, 64);
    atomic_store(&f->stop, false);
    atomic_store(&f->answered, 0);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_run, f), 0);
    f->running = true;
}

static void fake_stop(void)
{
    struct fake *f = &fake_server;

    if (!f->running)
        return;
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    f->running = false;
}

/* ---- fixture ---- */

static int setup(void **state)
{
    (void)state;
    memset(&fake_server, 0, sizeof(fake_server));
    if (fixture_init(&fx, "observe", ADMIN_PW) != 0)
        return -1;
    fx.stop_peers = fake_stop;
    extra_port = free_port();
    extra_port2 = free_port();
    return extra_port < 0 || extra_port2 < 0 ? -1 : 0;
}

/* Stop the router (clean exit, no sanitizer report) and undo every fault and setting. */
static int teardown(void **state)
{
    (void)state;
    return fixture_teardown(&fx);
}

/* The cluster (master with TLS), and appdb.obs (rows 1 and 2) on every instance. */
static int group_setup(void **state)
{
    const char *replicas[] = {"replica1", "replica2"};
    char n[32];
    int64_t deadline;
    MYSQL *m;
    int i, rc;

    if (cluster_master_tls() != 0 || harness_group_setup(state) != 0)
        return -1;
    m = root_connect("master");
    if (!m)
        return -1;
    rc = root_run(m, "CREATE TABLE appdb.obs (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB",
                  NULL, 0) ||
         root_run(m, "INSERT INTO appdb.obs VALUES (1, 0), (2, 0)", NULL, 0);
    mysql_close(m);
    if (rc)
        return -1;
    /* Replicated: writes to the replicas must fail with 1290, not with "no such table". */
    for (i = 0; i < 2; i++) {
        deadline = now_ms() + 20000;
        for (;;) {
            m = root_connect(replicas[i]);
            rc = m ? root_run(m, "SELECT COUNT(*) FROM appdb.obs", n, sizeof(n)) : -1;
            if (m)
                mysql_close(m);
            if (rc == 0 && strcmp(n, "2") == 0)
                break;
            if (now_ms() >= deadline) {
                fprintf(stderr, "appdb.obs did not reach %s\n", replicas[i]);
                return -1;
            }
            sleep_ms(100);
        }
    }
    return 0;
}

/* ---- layer 4 ---- */

/* kill -9: every connect to the master is refused. Each client is redispatched to replica1 and
 * never sees an error; after error-limit refusals the master is DOWN (mark-down), and later
 * clients go straight to replica1 (observed_errors stops at error-limit). */
static void test_l4_connect_refused(void **state)
{
    char want[512];
    long from;

    (void)state;
    start_router("    observe layer4  error-limit 3  on-error mark-down\n", "%s", "");
    assert_int_equal(cluster_kill9("master"), 0);
    expect_clients_on(fx.rw_port, ERROR_LIMIT + 3, ANY_REPLICA, "master killed");
    down_line(want, sizeof(want), "rw/master", "connect failed (Connection refused)");
    expect_line(0, want);
    expect_count(0, "0 active and 2 backup servers online.", 1);
    expect_count(0, "Health check for server rw/master failed", 0);
    expect_observed("rw", "master", ERROR_LIMIT);
    from = file_size(fx.health_log);
    assert_int_equal(cluster_start_one("master"), 0);
    expect_line(from, "Server rw/master is UP, reason: Layer7 check passed");
    expect_clients_on(fx.rw_port, 1, cluster_port("master"), "master restarted");
}

/* A server whose accept queue is full drops SYNs: connects neither succeed nor fail and end at
 * `timeout connect`. The fake server is unchecked (nothing but traffic can take it down).
 * `timeout connect` is 1s, not less: the same timeout covers the connect to replica1, which a
 * stalled router must not miss. */
static void test_l4_connect_timeout(void **state)
{
    char want[512];
    int port = free_port(), probe, i;

    (void)state;
    listen_on(port, 0);
    for (i = 0; i < 4; i++)
        start_connect(port);
    probe = start_connect(port);
    if (connect_completes(probe, 300))
        fail_msg("the accept queue of port %d is not full: connects still complete", port);
    start_router("    observe layer4  error-limit 3  on-error mark-down\n",
                 "listen full\n"
                 "    bind 127.0.0.1:%d\n"
                 "    timeout connect 1s\n"
                 "    server full     127.0.0.1:%d no-check\n"
                 "    server replica1 127.0.0.1:%d check backup\n",
                 extra_port, port, cluster_port("replica1"));
    expect_clients_on(extra_port, ERROR_LIMIT + 2, cluster_port("replica1"), "full queue");
    down_line(want, sizeof(want), "full/full", "connect timeout (connect timeout)");
    expect_line(0, want);
    expect_observed("full", "full", ERROR_LIMIT);
}

/* SIGSTOP: the kernel completes the TCP connects, the master never greets. Each client moves to
 * replica1 after `timeout greeting`; error-limit of them take the master DOWN. timeout greeting
 * is 1s: the replicas, and the master once thawed, must greet within it on a loaded box. */
static void test_l4_greeting_timeout(void **state)
{
    char want[512];
    long from;

    (void)state;
    start_router("    observe layer4  error-limit 3  on-error mark-down  timeout greeting 1s\n",
                 "%s", "");
    assert_int_equal(cluster_freeze("master"), 0);
    expect_clients_on(fx.rw_port, ERROR_LIMIT + 2, ANY_REPLICA, "master frozen");
    down_line(want, sizeof(want), "rw/master", "no greeting (no greeting in time)");
    expect_line(0, want);
    expect_count(0, "Health check for server rw/master failed", 0);
    expect_observed("rw", "master", ERROR_LIMIT);
    from = file_size(fx.health_log);
    assert_int_equal(cluster_thaw("master"), 0);
    expect_line(from, "Server rw/master is UP, reason: Layer7 check passed");
    expect_clients_on(fx.rw_port, 1, cluster_port("master"), "master thawed");
}

/* Sessions established on the master, which is frozen and sent a query each (left unread in its
 * socket), then killed: the kernel resets every connection that holds unread data. */
static void test_l4_connection_reset(void **state)
{
    enum { N = ERROR_LIMIT };
    int slot[N], i, err;
    long long before, sent;
    int64_t deadline;
    char want[512];
    long from;

    (void)state;
    start_router("    observe layer4  error-limit 3  on-error mark-down\n", "%s", "");
    for (i = 0; i < N; i++) {
        slot[i] = fixture_hold(&fx, fx.rw_port);
        assert_int_equal(client_server_port(fx.held[slot[i]]), cluster_port("master"));
    }
    before =
        fixture_admin_int(&fx, "SELECT SUM(bytes_in) FROM sessions WHERE server = 'rw/master'");
    assert_int_equal(cluster_freeze("master"), 0);
    for (i = 0; i < N; i++)
        assert_int_equal(mysql_send_query(fx.held[slot[i]], "SELECT 1", strlen("SELECT 1")), 0);
    /* Wait until rebound has passed the queries on (they sit unread in the frozen master). */
    deadline = now_ms() + LOG_WAIT_MS;
    do {
        sent = fixture_admin_int(&fx,
                                 "SELECT SUM(bytes_in) FROM sessions WHERE server = 'rw/master'") -
               before;
        if (sent >= N * 13)
            break;
        sleep_ms(20);
    } while (now_ms() < deadline);
    assert_true(sent >= N * 13);
    assert_int_equal(cluster_kill9("master"), 0);
    down_line(want, sizeof(want), "rw/master", "connection reset (Connection reset by peer)");
    expect_line(0, want);
    for (i = 0; i < N; i++) {
        err = mysql_read_query_result(fx.held[slot[i]]) ? (int)mysql_errno(fx.held[slot[i]]) : 0;
        if (err != CLIENT_LOST_ERROR && err != CLIENT_GONE_ERROR)
            fail_msg("session %d: query gave %d, want a lost connection", i, err);
    }
    expect_observed("rw", "master", N);
    expect_clients_on(fx.rw_port, 1, ANY_REPLICA, "master reset its sessions");
    from = file_size(fx.health_log);
    assert_int_equal(cluster_start_one("master"), 0);
    expect_line(from, "Server rw/master is UP, reason: Layer7 check passed");
}

/* ---- layer 7 ---- */

/* max_connections reached on the master, its extra SUPER slot taken by root: every new
 * connection is greeted with ERR 1040. rebound passes no such greeting on while replica1 can take
 * the client, and counts it as a server error. */
static void test_l7_too_many_connections(void **state)
{
    char want[512];
    unsigned char pkt[512];
    long from;
    long len;
    int i, fd, direct = 0;
    int64_t deadline;
    MYSQL *root;
    struct sockaddr_in sa = loopback_addr(cluster_port("master"));

    (void)state;
    start_router("    observe layer7  error-limit 3  on-error mark-down\n", "%s", "");
    fixture_set_global(&fx, "master", "max_connections", "10");
    /* Fill the ordinary slots as app, directly (not through rebound). */
    for (i = 0; i < MAX_HELD - 1; i++) {
        MYSQL *m = client_connect(cluster_port("master"), "app", "app-pass", "appdb", 5);
        if (!m) {
            assert_int_equal(client_errno(), 1040);
            break;
        }
        fx.held[i] = m;
        direct++;
    }
    assert_true(direct > 0 && direct < MAX_HELD - 1);
    /* The extra slot: root (SUPER), held until teardown. The refused app connection holds it
     * until its thread has ended: retry a little. */
    deadline = now_ms() + LOG_WAIT_MS;
    while (!(root = root_connect("master")) && now_ms() < deadline)
        sleep_ms(50);
    assert_non_null(root);
    fx.held[MAX_HELD - 1] = root;
    /* A bare connect now gets the ERR packet instead of a greeting. */
    fd = fixture_keep_fd(&fx, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    len = read_packet(fd, pkt, sizeof(pkt), 5000);
    if (len < 3 || pkt[4] != 0xff || (pkt[5] | pkt[6] << 8) != 1040)
        fail_msg("the master greets (first byte 0x%02x), want ERR 1040", len > 0 ? pkt[4] : 0);
    expect_clients_on(fx.rw_port, ERROR_LIMIT + 2, ANY_REPLICA, "master full");
    down_line(want, sizeof(want), "rw/master", "server error (error 1040 in the greeting)");
    expect_line(0, want);
    expect_observed("rw", "master", ERROR_LIMIT);
    fixture_close_held(&fx);
    from = file_size(fx.health_log);
    assert_int_equal(fixture_run_undo(&fx), 0);
    expect_line(from, "Server rw/master is UP, reason: Layer7 check passed");
}

/* SET GLOBAL read_only=1 on the master while a client writes through rebound: error-limit 1290
 * answers in a row count, with the default on-error (fail-check: one failed check). The active
 * check keeps passing (no `expect read-only`), so only traffic can cause the line. */
static void test_l7_read_only_master_counts(void **state)
{
    int s;

    (void)state;
    start_router("    observe layer7  error-limit 3\n", "%s", "");
    s = fixture_hold(&fx, fx.rw_port);
    assert_int_equal(client_server_port(fx.held[s]), cluster_port("master"));
    fixture_set_global(&fx, "master", "read_only", "1");
    expect_errors(fx.held[s], "INSERT INTO obs VALUES (100, 0)", ERROR_LIMIT, 1290);
    expect_line(0, "Health check for server rw/master failed, reason: Health analyze, info: \"3 "
                   "consecutive errors in traffic, last: server error (error 1290, server is "
                   "read-only)\", check duration: 0ms, status: 2/3 UP.");
    expect_count(0, "Health check for server rw/master", 1);
    expect_observed("rw", "master", ERROR_LIMIT);
}

/* The same 1290 storm on a backup (replica1, read-only by design) counts for nothing; on an
 * active read-only server (replica2 in listen ra) one error is enough to take it DOWN. */
static void test_l7_read_only_backup_not_counted(void **state)
{
    char want[512];
    int s;

    (void)state;
    start_router("    observe layer7  error-limit 1  on-error mark-down\n",
                 "listen bk\n"
                 "    bind 127.0.0.1:%d\n"
                 "    server replica1 127.0.0.1:%d check backup\n"
                 "listen ra\n"
                 "    bind 127.0.0.1:%d\n"
                 "    server replica2 127.0.0.1:%d check\n",
                 extra_port, cluster_port("replica1"), extra_port2, cluster_port("replica2"));
    s = fixture_hold(&fx, extra_port);
    assert_int_equal(client_server_port(fx.held[s]), cluster_port("replica1"));
    expect_errors(fx.held[s], "INSERT INTO obs VALUES (100, 0)", 5, 1290);
    expect_errors(fx.held[s], "UPDATE obs SET v = v + 1", 5, 1290);
    expect_observed("bk", "replica1", 0);
    expect_count(0, "bk/replica1", 0);
    /* Control: the same statement on an active server counts. */
    s = fixture_hold(&fx, extra_port2);
    expect_errors(fx.held[s], "INSERT INTO obs VALUES (100, 0)", 1, 1290);
    snprintf(
        want, sizeof(want),
        "Server ra/replica2 is DOWN, reason: Health analyze, info: \"1 consecutive errors in "
        "traffic, last: server error (error 1290, server is read-only)\", check duration: 0ms");
    expect_line(0, want);
    expect_count(0, "bk/replica1", 0);
}

/* KILL CONNECTION on sessions whose queries are running: the master closes them without an
 * answer, while each client waits for one (it sees 2013). */
static void test_l7_closed_during_response(void **state)
{
    enum { N = ERROR_LIMIT };
    int slot[N], i, err;
    char id[N][32], sql[256], count[32], want[512];
    MYSQL_RES *res;
    MYSQL_ROW row;
    int64_t deadline;

    (void)state;
    start_router("    observe layer7  error-limit 3  on-error mark-down\n", "%s", "");
    for (i = 0; i < N; i++) {
        slot[i] = fixture_hold(&fx, fx.rw_port);
        MYSQL *m = fx.held[slot[i]];
        assert_int_equal(mysql_query(m, "SELECT CONNECTION_ID(), @@port"), 0);
        res = mysql_store_result(m);
        assert_non_null(res);
        row = mysql_fetch_row(res);
        assert_non_null(row);
        snprintf(id[i], sizeof(id[i]), "%s", row[0]);
        assert_int_equal(atoi(row[1]), cluster_port("master"));
        mysql_free_result(res);
    }
    for (i = 0; i < N; i++)
        assert_int_equal(
            mysql_send_query(fx.held[slot[i]], "SELECT SLEEP(30)", strlen("SELECT SLEEP(30)")), 0);
    deadline = now_ms() + LOG_WAIT_MS;
    do {
        root_sql("master", count, sizeof(count),
                 "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN (%s, %s, %s) "
                 "AND INFO = 'SELECT SLEEP(30)'",
                 id[0], id[1], id[2]);
        if (atoi(count) == N)
            break;
        sleep_ms(20);
    } while (now_ms() < deadline);
    assert_int_equal(atoi(count), N);
    for (i = 0; i < N; i++) {
        snprintf(sql, sizeof(sql), "KILL CONNECTION %s", id[i]);
        root_sql("master", NULL, 0, "%s", sql);
    }
    for (i = 0; i < N; i++) {
        err = mysql_read_query_result(fx.held[slot[i]]) ? (int)mysql_errno(fx.held[slot[i]]) : 0;
        if (err != CLIENT_LOST_ERROR)
            fail_msg("session %d: query gave %d, want 2013", i, err);
    }
    down_line(want, sizeof(want), "rw/master", "closed during a response (end of stream)");
    expect_line(0, want);
    expect_observed("rw", "master", N);
    /* Nothing is wrong with the master: its next check brings it back. */
    expect_line(0, "Server rw/master is UP, reason: Layer7 check passed");
}

/* A fake server greets and accepts the login correctly, then answers a query with a packet of
 * sequence id 0. Its check (login + COM_QUIT) keeps passing; the traffic takes it DOWN. */
static void test_l7_malformed_stream(void **state)
{
    int port = free_port(), s;

    (void)state;
    fake_start(port);
    start_router("    observe layer7  error-limit 3  on-error mark-down\n",
                 "listen fk\n"
                 "    bind 127.0.0.1:%d\n"
                 "    error-limit 1\n"
                 "    server fake     127.0.0.1:%d check\n"
                 "    server replica1 127.0.0.1:%d check backup\n",
                 extra_port, port, cluster_port("replica1"));
    s = fixture_hold(&fx, extra_port);
    /* What the client makes of it does not matter (Connector/C takes the packet). */
    client_query(fx.held[s], "SELECT 1");
    /* The fake counts after it sent the answer: give it a moment to get there. */
    for (int64_t end = now_ms() + LOG_WAIT_MS;
         atomic_load(&fake_server.answered) < 1 && now_ms() < end;)
        sleep_ms(10);
    assert_true(atomic_load(&fake_server.answered) >= 1);
    expect_line(0, "Server fk/fake is DOWN, reason: Health analyze, info: \"1 consecutive errors "
                   "in traffic, last: malformed stream (unexpected packet in the server's "
                   "stream)\", check duration: 0ms. 0 active and 1 backup servers online.");
    expect_observed("fk", "fake", 1);
}

/* Wait (bounded) until n transactions on the master wait for a lock. */
static void wait_lock_waits(int n)
{
    static char procs[8192];
    int64_t deadline = now_ms() + LOG_WAIT_MS;
    char count[32];

    for (;;) {
        root_sql(
            "master", count, sizeof(count),
            "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'");
        if (atoi(count) >= n)
            return;
        if (now_ms() >= deadline)
            break;
        sleep_ms(20);
    }
    /* Where did the statement stop: at the client, in rebound, or at the server? */
    root_sql("master", procs, sizeof(procs),
             "SELECT GROUP_CONCAT(CONCAT_WS(' ', ID, USER, COMMAND, TIME, IFNULL(STATE, '-'), "
             "IFNULL(INFO, '-')) SEPARATOR '\\n') FROM information_schema.PROCESSLIST");
    fixture_dump_log(&fx);
    fail_msg("%s transactions wait for a lock on the master after %d ms, want %d; processlist:\n%s",
             count, LOG_WAIT_MS, n, procs);
}

/* Application errors never count, however many in a row: syntax errors, duplicate keys, lock
 * wait timeouts, deadlocks, access denied. The master stays UP and observed_errors stays 0. */
static void test_l7_application_errors_not_counted(void **state)
{
    static const char wait2[] = "UPDATE obs SET v = v + 1 WHERE id = 2";
    int a, b, i, err, deadlocks = 0;
    MYSQL *ma, *mb;

    (void)state;
    start_router("    observe layer7  error-limit 3  on-error mark-down\n", "%s", "");
    a = fixture_hold(&fx, fx.rw_port);
    b = fixture_hold(&fx, fx.rw_port);
    ma = fx.held[a];
    mb = fx.held[b];
    assert_int_equal(client_server_port(ma), cluster_port("master"));
    assert_int_equal(client_server_port(mb), cluster_port("master"));
    assert_int_equal(client_query(mb, "SET SESSION innodb_lock_wait_timeout = 1"), 0);
    expect_errors(mb, "SELEC 1", ERROR_LIMIT + 1, 1064);
    expect_errors(mb, "INSERT INTO obs VALUES (1, 0)", ERROR_LIMIT + 1, 1062);
    /* a holds row 1: b's updates wait for it and time out. */
    assert_int_equal(client_query(ma, "BEGIN"), 0);
    assert_int_equal(client_query(ma, "SELECT * FROM obs WHERE id = 1 FOR UPDATE"), 0);
    expect_errors(mb, "UPDATE obs SET v = v + 1 WHERE id = 1", ERROR_LIMIT + 1, 1205);
    for (i = 0; i < ERROR_LIMIT + 1; i++) {
        if (client_connect(fx.rw_port, "app", "wrong-pass", "appdb", 5))
            fail_msg("a login with a wrong password succeeded");
        assert_int_equal(client_errno(), 1045);
    }
    assert_int_equal(client_query(ma, "ROLLBACK"), 0);
    /* Deadlocks: a locks 1, b locks 2, a waits for 2, b asks for 1. */
    for (i = 0; i < ERROR_LIMIT + 1; i++) {
        assert_int_equal(client_query(ma, "BEGIN"), 0);
        assert_int_equal(client_query(mb, "BEGIN"), 0);
        assert_int_equal(client_query(ma, "UPDATE obs SET v = v + 1 WHERE id = 1"), 0);
        assert_int_equal(client_query(mb, "UPDATE obs SET v = v + 1 WHERE id = 2"), 0);
        assert_int_equal(mysql_send_query(ma, wait2, strlen(wait2)), 0);
        /* b asks for row 1 only once a waits for row 2 (its lock wait timeout is 50 s): b's
         * 1 s one must not run out while a's statement is still on its way. */
        wait_lock_waits(1);
        err = client_query(mb, "UPDATE obs SET v = v + 1 WHERE id = 1");
        deadlocks += err == 1213;
        err = mysql_read_query_result(ma) ? (int)mysql_errno(ma) : 0;
        deadlocks += err == 1213;
        client_query(ma, "ROLLBACK");
        client_query(mb, "ROLLBACK");
    }
    assert_true(deadlocks >= ERROR_LIMIT);
    expect_observed("rw", "master", 0);
    expect_count(0, "rw/master", 0);
    assert_int_equal(client_server_port(mb), cluster_port("master"));
    expect_clients_on(fx.rw_port, 1, cluster_port("master"), "after application errors");
}

/* Result sets of more than 255 packets wrap the sequence id through 0; that is valid MySQL and
 * must not be taken for a malformed stream (error-limit 1: a single count would show). */
static void test_l7_large_result_not_counted(void **state)
{
    int s, i;

    (void)state;
    start_router("    observe layer7  error-limit 1  on-error mark-down\n", "%s", "");
    s = fixture_hold(&fx, fx.rw_port);
    assert_int_equal(client_server_port(fx.held[s]), cluster_port("master"));
    for (i = 0; i < ERROR_LIMIT + 1; i++)
        expect_byte_for_byte(fx.held[s]);
    expect_observed("rw", "master", 0);
    expect_count(0, "rw/master", 0);
}

/* ---- on-error ---- */

/* Make the master read-only and hold a session on it that writes; returns the slot. */
static int read_only_writer(void)
{
    int s = fixture_hold(&fx, fx.rw_port);

    assert_int_equal(client_server_port(fx.held[s]), cluster_port("master"));
    fixture_set_global(&fx, "master", "read_only", "1");
    return s;
}

/* fastinter: error-limit errors only make the next check come at fastinter. The master is frozen
 * (clients move on after timeout greeting); the hurried checks time out and take it DOWN, as
 * checks (Layer7 timeout), long before inter (60s) would have run one. */
static void test_on_error_fastinter(void **state)
{
    int64_t t0;
    long from;

    (void)state;
    /* Unhurried, the master's second check would come 60 s (inter) after its first, at the
     * router's start; hurried, it is DOWN about 3 greeting timeouts + 3 (fastinter + timeout
     * check) = 7 s after the freeze. */
    t0 = now_ms();
    start_router("    observe layer4  error-limit 3  on-error fastinter  timeout greeting 1s\n"
                 "    fastinter 300ms  timeout check 1s\n",
                 "%s", "");
    assert_int_equal(cluster_freeze("master"), 0);
    expect_clients_on(fx.rw_port, ERROR_LIMIT, ANY_REPLICA, "master frozen");
    expect_line(0, "Health check for server rw/master failed, reason: Layer7 timeout, info: \"no "
                   "complete MySQL greeting and login in time\"");
    expect_line(0, "Server rw/master is DOWN, reason: Layer7 timeout");
    if (now_ms() - t0 > 45000)
        fail_msg("the master went DOWN %lld ms after the router started: not hurried",
                 (long long)(now_ms() - t0));
    expect_count(0, "Health analyze", 0);
    from = file_size(fx.health_log);
    assert_int_equal(cluster_thaw("master"), 0);
    expect_line(from, "Server rw/master is UP, reason: Layer7 check passed");
}

/* fail-check: each run of error-limit errors is one failed check, logged with its status;
 * the third takes the master (fall 3) DOWN. */
static void test_on_error_fail_check(void **state)
{
    const char *fmt = "Health check for server rw/master failed, reason: Health analyze, info: "
                      "\"3 consecutive errors in traffic, last: server error (error 1290, server "
                      "is read-only)\", check duration: 0ms, status: %s.";
    char want[512];
    int s;

    (void)state;
    start_router("    observe layer7  error-limit 3  on-error fail-check\n", "%s", "");
    s = read_only_writer();
    expect_errors(fx.held[s], "INSERT INTO obs VALUES (100, 0)", ERROR_LIMIT, 1290);
    snprintf(want, sizeof(want), fmt, "2/3 UP");
    expect_line(0, want);
    expect_count(0, "Health check for server rw/master failed", 1);
    expect_errors(fx.held[s], "INSERT INTO obs VALUES (100, 0)", ERROR_LIMIT, 1290);
    snprintf(want, sizeof(want), fmt, "1/3 UP");
    expect_line(0, want);
    expect_count(0, "Health check for server rw/master failed", 2);
    expect_count(0, "Server rw/master is DOWN", 0);
    expect_errors(fx.held[s], "INSERT INTO obs VALUES (100, 0)", ERROR_LIMIT, 1290);
    down_line(want, sizeof(want), "rw/master", "server error (error 1290, server is read-only)");
    expect_line(0, want);
    expect_count(0, "Health check for server rw/master failed", 2);
}

/* sudden-death: the first run leaves the master one failure from DOWN (1/3 UP), the next one
 * takes it DOWN. */
static void test_on_error_sudden_death(void **state)
{
    char want[512];
    int s;

    (void)state;
    start_router("    observe layer7  error-limit 3  on-error sudden-death\n", "%s", "");
    s = read_only_writer();
    expect_errors(fx.held[s], "INSERT INTO obs VALUES (100, 0)", ERROR_LIMIT, 1290);
    expect_line(0, "Health check for server rw/master failed, reason: Health analyze, info: \"3 "
                   "consecutive errors in traffic, last: server error (error 1290, server is "
                   "read-only)\", check duration: 0ms, status: 1/3 UP.");
    expect_count(0, "Server rw/master is DOWN", 0);
    expect_errors(fx.held[s], "INSERT INTO obs VALUES (100, 0)", ERROR_LIMIT, 1290);
    down_line(want, sizeof(want), "rw/master", "server error (error 1290, server is read-only)");
    expect_line(0, want);
    expect_count(0, "Health check for server rw/master failed", 1);
}

/* mark-down: the first run takes the master DOWN at once, with no failed check before it; a
 * passing check brings it back (rise 1). */
static void test_on_error_mark_down(void **state)
{
    char want[512];
    int s;

    (void)state;
    start_router("    observe layer7  error-limit 3  on-error mark-down\n", "%s", "");
    s = read_only_writer();
    expect_errors(fx.held[s], "INSERT INTO obs VALUES (100, 0)", ERROR_LIMIT - 1, 1290);
    expect_count(0, "rw/master", 0);
    expect_errors(fx.held[s], "INSERT INTO obs VALUES (100, 0)", 1, 1290);
    down_line(want, sizeof(want), "rw/master", "server error (error 1290, server is read-only)");
    snprintf(want + strlen(want), sizeof(want) - strlen(want),
             " 0 active and 2 backup servers online.");
    expect_line(0, want);
    expect_count(0, "Health check for server rw/master failed", 0);
    expect_line(0, "Server rw/master is UP, reason: Layer7 check passed");
}

/* observe layer4 does not read the MySQL stream: a 1290 storm leaves the master UP. */
static void test_layer4_ignores_layer7(void **state)
{
    int s;

    (void)state;
    start_router("    observe layer4  error-limit 1  on-error mark-down\n", "%s", "");
    s = read_only_writer();
    expect_errors(fx.held[s], "INSERT INTO obs VALUES (100, 0)", 10, 1290);
    expect_observed("rw", "master", 0);
    expect_count(0, "rw/master", 0);
}

/* ---- what never counts ---- */

/* Commands the server never answers (COM_STMT_CLOSE), even sent with COM_QUIT in one write,
 * leave nothing awaited: a client that closes its statements and quits is never counted. */
static void test_unanswered_commands_not_counted(void **state)
{
    (void)state;
    start_router("    observe layer7  error-limit 1  on-error mark-down\n", "%s", "");
    for (int i = 0; i < 5; i++) {
        MYSQL *m = client_connect_app(fx.rw_port);
        MYSQL_STMT *st;

        assert_non_null(m);
        st = mysql_stmt_init(m);
        assert_non_null(st);
        assert_int_equal(mysql_stmt_prepare(st, "SELECT 1", strlen("SELECT 1")), 0);
        assert_int_equal(mysql_stmt_execute(st), 0);
        mysql_stmt_close(st);
        mysql_close(m);
    }
    /* A count would come as the master closes a session after COM_QUIT, before rebound lets the
     * session go: once no session is left, every count that was to come is in. */
    for (int64_t end = now_ms() + LOG_WAIT_MS;
         fixture_admin_int(&fx, "SELECT COUNT(*) FROM sessions") != 0 && now_ms() < end;)
        sleep_ms(20);
    assert_int_equal(fixture_admin_int(&fx, "SELECT COUNT(*) FROM sessions"), 0);
    expect_observed("rw", "master", 0);
    assert_int_equal(client_port_via(fx.rw_port), cluster_port("master"));
}

/* Clients that send garbage instead of a handshake response: the master answers (or closes) as
 * it sees fit, and none of it is counted against it. error-limit is high so that every kind
 * reaches the master and the failure message can say which kinds were counted. */
static void test_client_garbage_not_counted(void **state)
{
    static const char *const kinds[] = {"random bytes", "a well-framed packet of random bytes",
                                        "a header announcing 16 MiB", "an HTTP request", "nothing"};
    static const char http[] = "GET / HTTP/1.1\r\nHost: rebound\r\n\r\n";
    unsigned char greeting[1024], junk[256];
    struct sockaddr_in sa;
    char counted[512] = "";
    long long seen = 0, now;
    int round, kind, fd, i;
    long n;

    (void)state;
    start_router("    observe layer7  error-limit 100  on-error mark-down\n", "%s", "");
    sa = loopback_addr(fx.rw_port);
    srand(4242);
    for (round = 0; round < 2; round++) {
        for (kind = 0; kind < 5; kind++) {
            fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            assert_true(fd >= 0);
            if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
                close(fd);
                fail_msg("connect to rebound: %s", strerror(errno));
            }
            n = read_packet(fd, greeting, sizeof(greeting), LOG_WAIT_MS);
            if (n < 1 || greeting[4] != 0x0a) {
                close(fd);
                fixture_dump_log(&fx);
                fail_msg("no greeting through rebound (%s, round %d): %ld bytes, %.60s",
                         kinds[kind], round, n, n > 3 ? (char *)greeting + 7 : "");
            }
            for (i = 0; i < (int)sizeof(junk); i++)
                junk[i] = (unsigned char)rand();
            switch (kind) {
            case 0:
                n = write(fd, junk, 64);
                break;
            case 1:
                junk[0] = 100;
                junk[1] = junk[2] = 0;
                junk[3] = 1;
                n = write(fd, junk, 104);
                break;
            case 2:
                memcpy(junk, "\xff\xff\xff\x01", 4);
                n = write(fd, junk, 14);
                break;
            case 3:
                n = write(fd, http, sizeof(http) - 1);
                break;
            default:
                n = 0;
                break;
            }
            (void)n;
            shutdown(fd, SHUT_WR);
            /* The master closes at once (garbage, or the half-close passed on); a session
             * left open for good fails at the bound. */
            n = read_until_eof(fd, LOG_WAIT_MS);
            close(fd);
            if (n < 0)
                fail_msg("%s: the session was not closed within %d ms", kinds[kind], LOG_WAIT_MS);
            /* Which kinds were counted, for the failure message. */
            now = fixture_admin_int(
                &fx, "SELECT SUM(observed_errors) FROM servers WHERE listener = 'rw'");
            if (now != seen && strlen(counted) < sizeof(counted) - 80)
                snprintf(counted + strlen(counted), sizeof(counted) - strlen(counted),
                         "%s\"%s\" (round %d)", counted[0] ? ", " : "", kinds[kind], round);
            seen = now;
        }
    }
    if (seen != 0 || count_file_lines(fx.health_log, 0, "Health analyze") != 0) {
        fixture_dump_log(&fx);
        fail_msg("%lld errors counted for clients sending garbage: %s", seen, counted);
    }
    expect_clients_on(fx.rw_port, 1, cluster_port("master"), "after garbage");
}

/* Check that a session is what we asked for: TLS (a cipher) or compressed. */
static void expect_session_kind(MYSQL *m, bool use_tls)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    bool ok;

    if (use_tls) {
        if (!mysql_get_ssl_cipher(m))
            fail_msg("the session through rebound did not switch to TLS");
        return;
    }
    assert_int_equal(mysql_query(m, "SHOW SESSION STATUS LIKE 'Compression'"), 0);
    res = mysql_store_result(m);
    assert_non_null(res);
    row = mysql_fetch_row(res);
    ok = row && row[1] && strcmp(row[1], "ON") == 0;
    mysql_free_result(res);
    if (!ok)
        fail_msg("the session through rebound is not compressed");
}

/* A TLS session rebound passes through works byte for byte and is observed at layer 4 only:
 * its 1290 answers (inside the TLS stream) do not count, though error-limit is 1. A plain
 * session's single 1290 then does: the counter was armed. */
static void test_tls_session_layer4_only(void **state)
{
    char want[512];
    MYSQL *m;
    int s, i;

    (void)state;
    start_router("    observe layer7  error-limit 1  on-error mark-down\n", "%s", "");
    m = connect_special(fx.rw_port, true, false);
    assert_non_null(m);
    fx.held[0] = m;
    expect_session_kind(m, true);
    assert_int_equal(client_server_port(m), cluster_port("master"));
    for (i = 0; i < 3; i++)
        expect_byte_for_byte(m);
    fixture_set_global(&fx, "master", "read_only", "1");
    expect_errors(m, "INSERT INTO obs VALUES (100, 0)", 5, 1290);
    expect_byte_for_byte(m);
    expect_observed("rw", "master", 0);
    expect_count(0, "rw/master", 0);
    s = fixture_hold(&fx, fx.rw_port);
    expect_errors(fx.held[s], "INSERT INTO obs VALUES (100, 0)", 1, 1290);
    snprintf(want, sizeof(want),
             "Server rw/master is DOWN, reason: Health analyze, info: \"1 consecutive errors in "
             "traffic, last: server error (error 1290, server is read-only)\"");
    expect_line(0, want);
}

/* A compressed session works byte for byte (large statements and results: many compressed
 * packets each way) and is followed like a plain one: its 1290 answers count at layer 7, as in
 * test_l7_read_only_master_counts. */
static void test_compressed_session_followed(void **state)
{
    MYSQL *m;
    int i;

    (void)state;
    start_router("    observe layer7  error-limit 3\n", "%s", "");
    m = connect_special(fx.rw_port, false, true);
    assert_non_null(m);
    fx.held[0] = m;
    expect_session_kind(m, false);
    assert_int_equal(client_server_port(m), cluster_port("master"));
    for (i = 0; i < 3; i++)
        expect_byte_for_byte(m);
    expect_observed("rw", "master", 0);
    fixture_set_global(&fx, "master", "read_only", "1");
    expect_errors(m, "INSERT INTO obs VALUES (100, 0)", ERROR_LIMIT, 1290);
    expect_line(0, "Health check for server rw/master failed, reason: Health analyze, info: \"3 "
                   "consecutive errors in traffic, last: server error (error 1290, server is "
                   "read-only)\", check duration: 0ms, status: 2/3 UP.");
    expect_count(0, "Health check for server rw/master", 1);
    expect_observed("rw", "master", ERROR_LIMIT);
    expect_byte_for_byte(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_l4_connect_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l4_connect_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l4_greeting_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l4_connection_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7_too_many_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7_read_only_master_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7_read_only_backup_not_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7_closed_during_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7_malformed_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7_application_errors_not_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7_large_result_not_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_error_fastinter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_error_fail_check, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_error_sudden_death, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_error_mark_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layer4_ignores_layer7, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_garbage_not_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unanswered_commands_not_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_session_layer4_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_compressed_session_followed, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, harness_group_teardown);
}
