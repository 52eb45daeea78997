/* test_checks.c - every check status rebound logs comes from a real cause: a closed port, a full
 * accept queue, a silent or lying peer, a real TLS server, a frozen, lagging, read-only, full or
 * misconfigured MariaDB, and rebound itself out of descriptors. Each test asserts the health-log
 * line the cause produces (reason text, code, info) and undoes what it changed.
 *
 * Fake peers live in this process: a listening socket that is never accepted from (the kernel
 * completes the TCP handshake, then nothing is said), one with a full accept queue (SYNs are
 * dropped), and a thread that greets every client with bytes of the test's choosing. The real TLS
 * peers are `openssl s_server` and replica2 restarted with certificates this file generates. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prlimit, close_range */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* A loaded 2-core machine has been seen to stall every process for 5-9 s: bounds are wide, and
 * where a real server must answer `timeout check` is far above such a stall, so that a stall can
 * never pass for a server timeout. */
#define LOG_WAIT_MS      20000 /* bound for a health-log line */
#define CHECK_TIMEOUT_MS 10000 /* timeout check where a real server must answer */
#define SHORT_TIMEOUT_MS 1000  /* timeout check where only a timeout can end the check */
#define THAW_TIMEOUT_MS  3000  /* timeout check for a frozen server that must pass once thawed */
#define PEER_WAIT_MS     10000 /* bound for a spawned peer to listen, or to exit */
#define QUIET_MS         1500  /* how long a server must be seen staying DOWN */
#define MAX_HELD         16    /* sessions of fx.held the too-many-connections test uses */
#define MAX_GREETER_CONN 256

/* A fake server on its own thread: sends `data` to every client it accepts, then closes the
 * connection or keeps it open (and says nothing more). */
struct greeter {
    int lfd;
    const char *data;
    size_t len;
    bool close_after;
    int conns[MAX_GREETER_CONN];
    int nconns;
    atomic_bool stop;
    pthread_t thread;
    bool running;
};

/* Certificates made once per process with the openssl CLI. */
struct certs {
    bool made;
    char ca[PATH_MAX];       /* CA that signed server.pem */
    char other_ca[PATH_MAX]; /* an unrelated CA: verification against it fails */
    char cert[PATH_MAX];     /* server certificate for 127.0.0.1 */
    char key[PATH_MAX];      /* its key */
    char openssl[PATH_MAX];  /* the openssl binary, from PATH */
};

/* What a test started or changed besides the router fixture; teardown undoes it. */
struct checks_state {
    struct greeter greeter;
    pid_t tls_peer;    /* openssl s_server, 0 if none */
    bool replica2_tls; /* replica2.opts written: restart replica2 without it */
    bool nofile_set;   /* router's RLIMIT_NOFILE lowered: restore before stopping it */
    struct rlimit nofile;
};

/* The router of a test, with the sessions and sockets it holds and its undo list. */
static struct router_fixture fx;
static int app_port; /* listen app: replica1 unchecked, for router_start's readiness login */
static int chk_port; /* listen chk: the servers under test */
static struct checks_state ts;
static struct certs certs;

/* ---- the health log ---- */

/* The first line of the health log at or after offset `from` holding needle (malloc'd, without
 * its newline), NULL if none. */
static char *find_line(long from, const char *needle)
{
    char *log = read_file(fx.health_log), *hit, *start, *end, *line = NULL;

    if (!log)
        return NULL;
    if ((long)strlen(log) >= from && (hit = strstr(log + from, needle))) {
        for (start = hit; start > log + from && start[-1] != '\n'; start--)
            ;
        end = strchr(hit, '\n');
        line = strndup(start, end ? (size_t)(end - start) : strlen(start));
    }
    free(log);
    return line;
}

/* Wait for a line holding needle after `from` and return it (caller frees); fails the test with
 * the log attached if none comes within LOG_WAIT_MS. */
static char *wait_line(long from, const char *needle)
{
    fixture_expect_line(&fx, from, needle, LOG_WAIT_MS);
    return find_line(from, needle);
}

static void expect_line(long from, const char *needle)
{
    free(wait_line(from, needle));
}

/* Fail unless line holds what (line is freed then). */
static void expect_in_line(char *line, const char *what)
{
    char copy[1024];

    if (line && strstr(line, what))
        return;
    snprintf(copy, sizeof(copy), "%s", line ? line : "(none)");
    free(line);
    fixture_dump_log(&fx);
    fail_msg("line \"%s\" lacks \"%s\"", copy, what);
}

/* The "check duration: Nms" of a line, -1 if it has none. */
static int line_duration(const char *line)
{
    const char *p = strstr(line, "check duration: ");
    int ms;

    return p && sscanf(p, "check duration: %dms", &ms) == 1 ? ms : -1;
}

/* Wait for the line holding needle after `from`, a timeout's: it must show the check lasted
 * about `timeout check`, not cut short by another cause. (Longer is allowed: the machine may
 * stall.) */
static void expect_timeout_line(long from, const char *needle, int timeout_ms)
{
    char *line = wait_line(from, needle), copy[1024];
    int ms = line ? line_duration(line) : -1;

    snprintf(copy, sizeof(copy), "%s", line ? line : "(none)");
    free(line);
    /* The timer runs from libev's cached loop time, the duration from the clock when the check
     * starts: a router stalled in between (a busy core) reports that much less. A timeout
     * taken from another setting (fastinter 100 ms, a unit slip) is still far below half. */
    if (ms < timeout_ms / 2 || ms > timeout_ms + LOG_WAIT_MS)
        fail_msg("check duration %d ms in \"%s\", want about %d ms", ms, copy, timeout_ms);
}

/* ---- root on an instance, over its unix socket ---- */

/* A global status counter (SHOW GLOBAL STATUS) read through m; -1 on error. */
static long status_counter(MYSQL *m, const char *name)
{
    char sql[128], val[64];

    snprintf(sql, sizeof(sql), "SHOW GLOBAL STATUS LIKE '%s'", name);
    if (root_run(m, sql, val, sizeof(val)) != 0 || !val[0])
        return -1;
    return atol(val);
}

/* SELECT VERSION() of inst, into buf. */
static void server_version(const char *inst, char *buf, size_t size)
{
    root_sql(inst, buf, size, "SELECT VERSION()");
    assert_true(buf[0] != '\0');
}

/* ---- the router ---- */

/* Write a config whose listen chk holds `body` (server lines, listen options) and start rebound
 * on it. Checks every 200 ms, 100 ms while a change is in progress, rise 2, fall 2, and
 * CHECK_TIMEOUT_MS unless `body` sets its own `timeout check`. */
static void start_router(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void start_router(const char *fmt, ...)
{
    char body[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    assert_int_equal(
        fixture_start(
            &fx, app_port,
            "# written by test_checks.c\n"
            "global\n"
            "    maxconn 1000\n"
            "    health-log file %s\n"
            "defaults\n"
            "    check mysql user rebound_check password \"check-pass\"\n"
            "    inter 200ms  fastinter 100ms  downinter 200ms  rise 2  fall 2\n"
            "    timeout check %dms  timeout connect 1s  timeout client 1m  timeout server 1m\n"
            "listen app\n"
            "    bind 127.0.0.1:%d\n"
            "    server replica1 127.0.0.1:%d no-check\n"
            "listen chk\n"
            "    bind 127.0.0.1:%d\n"
            "%s",
            fx.health_log, CHECK_TIMEOUT_MS, app_port, cluster_port("replica1"), chk_port, body),
        0);
}

/* ---- sessions ---- */

/* Assert a new client through listen chk lands on the server listening on want_port. */
static void expect_new_client_on(int want_port, const char *what)
{
    int port = client_port_via(chk_port);

    if (port != want_port)
        fail_msg("new client landed on port %d, want %d (%s); client error %u: %s", port, want_port,
                 what, client_errno(), client_error());
}

/* ---- fake peers ---- */

/* A socket listening on 127.0.0.1:port with the given backlog, never accepted from by itself:
 * the kernel completes handshakes into its queue and nothing is ever said. */
static int silent_listener(int port, int backlog)
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

/* Connect to 127.0.0.1:port and close at once, saying nothing (what a TCP check does). */
static void bare_connect(int port)
{
    struct sockaddr_in sa = loopback_addr(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fail_msg("connect to %d: %s", port, strerror(errno));
    }
    close(fd);
}

/* True if the connect on fd completed within ms. */
static bool connect_completes(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int err = 0;
    socklen_t len = sizeof(err);

    if (poll(&p, 1, ms) != 1)
        return false;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

static void *greeter_run(void *arg)
{
    struct greeter *g = arg;
    struct pollfd p = {.fd = g->lfd, .events = POLLIN};
    int c;

    while (!atomic_load(&g->stop)) {
        if (poll(&p, 1, 50) != 1)
            continue;
        c = accept4(g->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        if (send(c, g->data, g->len, MSG_NOSIGNAL) < 0 || g->close_after ||
            g->nconns == MAX_GREETER_CONN)
            close(c);
        else
            g->conns[g->nconns++] = c;
    }
    return NULL;
}

/* Serve `len` bytes of data to every client of 127.0.0.1:port from a thread. */
static void greeter_start(int port, const char *data, size_t len, bool close_after)
{
    struct greeter *g = &ts.greeter;

    g->lfd = silent_listener(port, 16);
    g->data = data;
    g->len = len;
    g->close_after = close_after;
    atomic_store(&g->stop, false);
    assert_int_equal(pthread_create(&g->thread, NULL, greeter_run, g), 0);
    g->running = true;
}

static void greeter_stop(void)
{
    struct greeter *g = &ts.greeter;

    if (!g->running)
        return;
    atomic_store(&g->stop, true);
    pthread_join(g->thread, NULL);
    while (g->nconns > 0)
        close(g->conns[--g->nconns]);
    g->running = false;
}

/* ---- TLS: certificates and openssl s_server ---- */

/* Run the openssl CLI with args (NULL-terminated); fails the test on error. */
static void openssl_run(const char *first, ...)
{
    char *argv[32], out[4096];
    va_list ap;
    int n = 0, rc;

    argv[n++] = certs.openssl;
    argv[n++] = (char *)first;
    va_start(ap, first);
    while (n < 31 && (argv[n] = va_arg(ap, char *)))
        n++;
    va_end(ap);
    argv[n] = NULL;
    rc = run_command(argv, out, sizeof(out), 30000);
    if (rc != 0)
        fail_msg("openssl %s failed (%d): %s", first, rc, out);
}

/* A CA, a server certificate for 127.0.0.1 it signed, and an unrelated CA, in harness_dir(). */
static void make_certs(void)
{
    char csr[PATH_MAX], ca_key[PATH_MAX], other_key[PATH_MAX], ext[PATH_MAX];

    if (certs.made)
        return;
    if (!find_program("openssl", certs.openssl, sizeof(certs.openssl)))
        fail_msg("openssl not found in PATH");
    harness_path(certs.ca, sizeof(certs.ca), "tls-ca.pem");
    harness_path(ca_key, sizeof(ca_key), "tls-ca.key");
    harness_path(certs.other_ca, sizeof(certs.other_ca), "tls-other-ca.pem");
    harness_path(other_key, sizeof(other_key), "tls-other-ca.key");
    harness_path(certs.cert, sizeof(certs.cert), "tls-server.pem");
    harness_path(certs.key, sizeof(certs.key), "tls-server.key");
    harness_path(csr, sizeof(csr), "tls-server.csr");
    harness_path(ext, sizeof(ext), "tls-server.ext");
    /* EC keys: generated in milliseconds, unlike RSA. */
    openssl_run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", ca_key, "-out", certs.ca, "-days", "2", "-subj",
                "/CN=rebound test CA", NULL);
    openssl_run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", other_key, "-out", certs.other_ca, "-days", "2", "-subj",
                "/CN=rebound unrelated CA", NULL);
    openssl_run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", certs.key, "-out", csr, "-subj", "/CN=127.0.0.1", NULL);
    assert_int_equal(write_file(ext, "subjectAltName = IP:127.0.0.1, DNS:localhost\n"), 0);
    openssl_run("x509", "-req", "-in", csr, "-CA", certs.ca, "-CAkey", ca_key, "-set_serial", "2",
                "-days", "2", "-extfile", ext, "-out", certs.cert, NULL);
    certs.made = true;
}

/* Start `openssl s_server` with the test certificate on 127.0.0.1:port and wait (bounded) until
 * it accepts. It dies with this process. */
static void tls_peer_start(int port)
{
    char accept_arg[64], out[PATH_MAX];
    char *argv[] = {
        certs.openssl, (char *)"s_server", (char *)"-quiet", (char *)"-www", (char *)"-accept",
        accept_arg,    (char *)"-cert",    certs.cert,       (char *)"-key", certs.key,
        NULL};
    int64_t deadline = now_ms() + PEER_WAIT_MS;
    pid_t pid;
    int fd;

    snprintf(accept_arg, sizeof(accept_arg), "127.0.0.1:%d", port);
    harness_path(out, sizeof(out), "s_server.out");
    pid = spawn_program(argv, out);
    assert_true(pid > 0);
    ts.tls_peer = pid;
    for (;;) {
        struct sockaddr_in sa = loopback_addr(port);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            close(fd);
            return;
        }
        if (fd >= 0)
            close(fd);
        if (now_ms() >= deadline || waitpid(pid, NULL, WNOHANG) == pid)
            fail_msg("openssl s_server not listening on %d (see %s)", port, out);
        sleep_ms(20);
    }
}

/* SIGTERM our s_server and reap it (bounded, then SIGKILL). */
static void tls_peer_stop(void)
{
    if (ts.tls_peer <= 0)
        return;
    stop_program(ts.tls_peer, PEER_WAIT_MS);
    ts.tls_peer = 0;
}

/* Stop replica2, have cluster.sh start it with (tls) or without the test certificates from now
 * on (harness_dir()/replica2.opts), and start it again unless `leave_stopped`. */
static int replica2_set_tls(bool tls, bool leave_stopped)
{
    char opts[PATH_MAX];

    harness_path(opts, sizeof(opts), "replica2.opts");
    if (cluster_stop_one("replica2") != 0)
        return -1;
    if (tls) {
        ts.replica2_tls = true;
        if (write_file(opts, "--ssl-ca=%s\n--ssl-cert=%s\n--ssl-key=%s\n", certs.ca, certs.cert,
                       certs.key) != 0)
            return -1;
    } else {
        unlink(opts);
        ts.replica2_tls = false;
    }
    return leave_stopped ? 0 : cluster_start_one("replica2");
}

/* ---- descriptors of the router ---- */

/* Open descriptors of pid as a bitmap below `size`; the number of them. */
static int open_fds(pid_t pid, bool *open, int size)
{
    char path[64];
    struct dirent *e;
    DIR *d;
    int n = 0, fd;

    memset(open, 0, (size_t)size * sizeof(*open));
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        fd = atoi(e->d_name);
        if (fd >= 0 && fd < size) {
            open[fd] = true;
            n++;
        }
    }
    closedir(d);
    return n;
}

/* The RLIMIT_NOFILE under which pid has exactly `slots` free descriptors. A check holds a
 * descriptor only for part of each interval: the fewest seen over samples spread across five
 * check intervals are the steady ones. */
static int nofile_leaving(pid_t pid, int slots)
{
    enum { SIZE = 1024, SAMPLES = 40 };
    static bool open[SIZE], best[SIZE];
    int i, limit, used = 0, fewest = SIZE + 1, n;

    for (i = 0; i < SAMPLES; i++) {
        n = open_fds(pid, open, SIZE);
        assert_true(n > 0);
        if (n < fewest) {
            fewest = n;
            memcpy(best, open, sizeof(best));
        }
        sleep_ms(25);
    }
    /* The kernel hands out the lowest free number: free = limit - open descriptors below it. */
    for (limit = 1; limit < SIZE; limit++) {
        used += best[limit - 1];
        if (limit - used == slots)
            return limit;
    }
    fail_msg("router holds too many descriptors");
    return -1;
}

/* ---- fixture ---- */

/* Stop the greeter and the TLS peer (those not running are left alone). */
static void stop_peers(void)
{
    greeter_stop();
    tls_peer_stop();
}

static int setup(void **state)
{
    (void)state;
    memset(&ts, 0, sizeof(ts));
    if (fixture_init(&fx, "checks", NULL) != 0)
        return -1;
    fx.stop_peers = stop_peers;
    app_port = free_port();
    chk_port = free_port();
    return app_port < 0 || chk_port < 0 ? -1 : 0;
}

/* Undo everything a test may have changed, whatever point it failed at. */
static int teardown(void **state)
{
    int rc = 0;

    (void)state;
    if (ts.nofile_set && fx.router.pid > 0 &&
        prlimit(fx.router.pid, RLIMIT_NOFILE, &ts.nofile, NULL) != 0)
        rc = -1;
    if (fixture_teardown(&fx) != 0)
        rc = -1;
    if (ts.replica2_tls && replica2_set_tls(false, false) != 0)
        rc = -1;
    return rc;
}

/* ---- layer 4 ---- */

/* Nothing listens: the connect is refused, for the TCP check and the MySQL check alike. */
static void test_l4con_closed_port(void **state)
{
    int dead = free_port();

    (void)state;
    start_router("    server gone_tcp 127.0.0.1:%d check tcp\n"
                 "    server gone_mysql 127.0.0.1:%d check\n",
                 dead, dead);
    expect_line(0, "Server chk/gone_tcp is DOWN, reason: Layer4 connection problem, info: "
                   "\"Connection refused\", check duration: ");
    expect_line(0, "Server chk/gone_mysql is DOWN, reason: Layer4 connection problem, info: "
                   "\"Connection refused\", check duration: ");
}

/* A listener whose accept queue is full drops SYNs: the connect neither succeeds nor fails, and
 * `timeout check` ends it as a layer-4 timeout, for both check methods. */
static void test_l4tout_full_accept_queue(void **state)
{
    int port = free_port(), probe;

    (void)state;
    silent_listener(port, 0);
    /* backlog 0 queues one connection; later SYNs are dropped. */
    start_connect(port);
    start_connect(port);
    probe = start_connect(port);
    if (connect_completes(probe, 300))
        fail_msg("the accept queue of port %d is not full: connects still complete", port);
    start_router("    timeout check %dms\n"
                 "    server full_tcp 127.0.0.1:%d check tcp\n"
                 "    server full_mysql 127.0.0.1:%d check\n",
                 SHORT_TIMEOUT_MS, port, port);
    expect_timeout_line(0,
                        "Server chk/full_tcp is DOWN, reason: Layer4 timeout, info: \"TCP connect "
                        "timed out\", check duration: ",
                        SHORT_TIMEOUT_MS);
    expect_timeout_line(0,
                        "Server chk/full_mysql is DOWN, reason: Layer4 timeout, info: \"TCP "
                        "connect timed out\", check duration: ",
                        SHORT_TIMEOUT_MS);
}

/* The master comes back after a stop: the TCP check passes at layer 4 (empty info), the MySQL
 * check at layer 7 with the server's version as info and code 0. */
static void test_l4ok_l7ok_master_comes_back(void **state)
{
    char version[128], want[256];
    long from;
    int m = cluster_port("master");

    (void)state;
    assert_int_equal(cluster_stop_one("master"), 0);
    start_router("    server tcp 127.0.0.1:%d check tcp\n"
                 "    server mysql 127.0.0.1:%d check\n",
                 m, m);
    expect_line(0, "Server chk/tcp is DOWN, reason: Layer4 connection problem");
    expect_line(0, "Server chk/mysql is DOWN, reason: Layer4 connection problem");
    from = file_size(fx.health_log);
    assert_int_equal(cluster_start_one("master"), 0);
    server_version("master", version, sizeof(version));
    expect_line(from, "Server chk/tcp is UP, reason: Layer4 check passed, info: \"\", check "
                      "duration: ");
    snprintf(want, sizeof(want),
             "Server chk/mysql is UP, reason: Layer7 check passed, code: 0, info: \"%s\", check "
             "duration: ",
             version);
    expect_line(from, want);
}

/* ---- layer 6 ---- */

/* A real TLS server (openssl s_server) whose certificate chains to the configured CA: the
 * handshake passes with verification, and the info names protocol and cipher. */
static void test_l6ok_tls_peer(void **state)
{
    int port = free_port();
    long from;
    char *line;

    (void)state;
    make_certs();
    start_router("    server tls 127.0.0.1:%d check tcp check-ssl ca-file %s verify required\n",
                 port, certs.ca);
    expect_line(0, "Server chk/tls is DOWN, reason: Layer4 connection problem");
    from = file_size(fx.health_log);
    tls_peer_start(port);
    line = wait_line(from, "Server chk/tls is UP, reason: Layer6 check passed, info: \"TLSv1.");
    expect_in_line(line, " TLS_"); /* a TLS 1.3 cipher suite name follows the version */
    free(line);
}

/* `verify required` against a CA that did not sign the server's certificate fails the
 * handshake. */
static void test_l6rsp_wrong_ca(void **state)
{
    int port = free_port();
    char *line;

    (void)state;
    make_certs();
    tls_peer_start(port);
    start_router("    server tls 127.0.0.1:%d check tcp check-ssl ca-file %s verify required\n",
                 port, certs.other_ca);
    line = wait_line(0, "Server chk/tls is DOWN, reason: Layer6 invalid response, info: \"");
    expect_in_line(line, "certificate verify failed");
    free(line);
}

/* A raw TLS handshake against a MySQL port: the server's plain-text greeting is no TLS
 * record. */
static void test_l6rsp_plain_mysql_port(void **state)
{
    char *line;

    (void)state;
    start_router("    server master 127.0.0.1:%d check tcp check-ssl\n", cluster_port("master"));
    line = wait_line(0, "Server chk/master is DOWN, reason: Layer6 invalid response, info: \"");
    expect_in_line(line, "wrong version number");
    free(line);
}

/* The MySQL check with check-ssl against a MariaDB that offers no TLS. */
static void test_l6rsp_mysql_without_tls(void **state)
{
    (void)state;
    start_router("    server master 127.0.0.1:%d check check-ssl\n", cluster_port("master"));
    expect_line(0,
                "Server chk/master is DOWN, reason: Layer6 invalid response, info: \"server does "
                "not offer TLS\", check duration: ");
}

/* A peer that accepts and never answers the ClientHello. */
static void test_l6tout_silent_peer(void **state)
{
    int port = free_port();

    (void)state;
    silent_listener(port, 16);
    start_router("    timeout check %dms\n"
                 "    server silent 127.0.0.1:%d check tcp check-ssl\n",
                 SHORT_TIMEOUT_MS, port);
    expect_timeout_line(0,
                        "Server chk/silent is DOWN, reason: Layer6 timeout, info: \"TLS handshake "
                        "timed out\", check duration: ",
                        SHORT_TIMEOUT_MS);
}

/* replica2 restarted with TLS: the MySQL check with check-ssl and the right CA logs in over TLS
 * (L7OK, the cipher in the info); with an unrelated CA the TLS upgrade fails (L6RSP). */
static void test_tls_mariadb(void **state)
{
    char version[128], want[256], *line;
    int r2 = cluster_port("replica2");
    long from;

    (void)state;
    make_certs();
    assert_int_equal(replica2_set_tls(true, true), 0);
    start_router("    server r2 127.0.0.1:%d check check-ssl ca-file %s verify required\n", r2,
                 certs.ca);
    expect_line(0, "Server chk/r2 is DOWN, reason: Layer4 connection problem");
    from = file_size(fx.health_log);
    assert_int_equal(cluster_start_one("replica2"), 0);
    server_version("replica2", version, sizeof(version));
    snprintf(want, sizeof(want),
             "Server chk/r2 is UP, reason: Layer7 check passed, code: 0, info: \"%s, TLS TLS_",
             version);
    expect_line(from, want);

    /* Same server, a CA that did not sign its certificate. */
    assert_int_equal(router_stop(&fx.router), 0);
    from = file_size(fx.health_log);
    start_router("    server r2 127.0.0.1:%d check check-ssl ca-file %s verify required\n", r2,
                 certs.other_ca);
    line = wait_line(from, "Server chk/r2 is DOWN, reason: Layer6 invalid response, info: \"");
    expect_in_line(line, "certificate");
    free(line);
}

/* ---- layer 7 ---- */

/* A replica whose replication runs MASTER_DELAY behind lags beyond max-lag: it drains (no new
 * sessions, existing ones keep working) and comes back UP once the delay is gone. */
static void test_l7okc_lagging_replica(void **state)
{
    char version[128], want[256], *line;
    int r1 = cluster_port("replica1"), r2 = cluster_port("replica2"), s;
    long from;

    (void)state;
    root_sql("replica1", NULL, 0, "GRANT SLAVE MONITOR ON *.* TO 'rebound_check'@'127.0.0.1'");
    fixture_push_undo(&fx, "replica1",
                      "REVOKE SLAVE MONITOR ON *.* FROM 'rebound_check'@'127.0.0.1'");
    /* STOP SLAVE below fails checks ("replication is not running") until START SLAVE, however
     * long a loaded box takes for it: fall 100 (10 s at fastinter) keeps replica1 from DOWN. */
    start_router("    server replica1 127.0.0.1:%d check expect max-lag 1 fall 100\n"
                 "    server replica2 127.0.0.1:%d no-check\n",
                 r1, r2);
    s = fixture_hold(&fx, chk_port);
    assert_int_equal(client_server_port(fx.held[s]), r1);

    from = file_size(fx.health_log);
    fixture_push_undo(&fx, "replica1", "START SLAVE");
    fixture_push_undo(&fx, "replica1", "CHANGE MASTER TO MASTER_DELAY = 0");
    fixture_push_undo(&fx, "replica1", "STOP SLAVE");
    root_sql("replica1", NULL, 0, "STOP SLAVE");
    root_sql("replica1", NULL, 0, "CHANGE MASTER TO MASTER_DELAY = 120");
    root_sql("replica1", NULL, 0, "START SLAVE");
    fixture_push_undo(&fx, "master", "DROP TABLE IF EXISTS appdb.rebound_lag");
    root_sql("master", NULL, 0, "CREATE TABLE appdb.rebound_lag (id INT PRIMARY KEY)");
    root_sql("master", NULL, 0, "INSERT INTO appdb.rebound_lag VALUES (1)");

    line = wait_line(from, "Server chk/replica1 is DRAIN, reason: Layer7 check conditionally "
                           "passed, code: 0, info: \"replication lag ");
    expect_in_line(line, "s exceeds max-lag 1s\", check duration: ");
    free(line);
    expect_new_client_on(r2, "replica1 drains");
    if (client_server_port(fx.held[s]) != r1)
        fail_msg("the session on draining replica1 stopped working: %u %s", client_errno(),
                 client_error());

    from = file_size(fx.health_log);
    root_sql("replica1", NULL, 0, "STOP SLAVE");
    root_sql("replica1", NULL, 0, "CHANGE MASTER TO MASTER_DELAY = 0");
    root_sql("replica1", NULL, 0, "START SLAVE");
    server_version("replica1", version, sizeof(version));
    snprintf(want, sizeof(want),
             "Server chk/replica1 is UP, reason: Layer7 check passed, code: 0, info: \"%s\"",
             version);
    expect_line(from, want);
    expect_new_client_on(r1, "replica1 caught up");
}

/* A real server frozen with SIGSTOP: the kernel still completes the TCP handshake, but no
 * greeting ever comes. Thawed, it passes again (within THAW_TIMEOUT_MS, which a frozen server
 * exceeds whatever its length). */
static void test_l7tout_frozen_server(void **state)
{
    long from;

    (void)state;
    start_router("    timeout check %dms\n"
                 "    server replica2 127.0.0.1:%d check\n",
                 THAW_TIMEOUT_MS, cluster_port("replica2"));
    assert_int_equal(cluster_freeze("replica2"), 0);
    expect_timeout_line(0,
                        "Server chk/replica2 is DOWN, reason: Layer7 timeout, info: \"no complete "
                        "MySQL greeting and login in time\", check duration: ",
                        THAW_TIMEOUT_MS);
    from = file_size(fx.health_log);
    assert_int_equal(cluster_thaw("replica2"), 0);
    expect_line(from, "Server chk/replica2 is UP, reason: Layer7 check passed, code: 0");
}

/* A fake server that accepts and never greets. */
static void test_l7tout_silent_peer(void **state)
{
    int port = free_port();

    (void)state;
    silent_listener(port, 16);
    start_router("    timeout check %dms\n"
                 "    server silent 127.0.0.1:%d check\n",
                 SHORT_TIMEOUT_MS, port);
    expect_timeout_line(0,
                        "Server chk/silent is DOWN, reason: Layer7 timeout, info: \"no complete "
                        "MySQL greeting and login in time\", check duration: ",
                        SHORT_TIMEOUT_MS);
}

/* A well-framed greeting packet whose protocol version is not MySQL's 10; the peer keeps the
 * connection open, so only the content can fail the check. */
static void test_l7rsp_bad_greeting(void **state)
{
    static const char greeting[] = "\x1b\x00\x00\x00"              /* 27 bytes, sequence 0 */
                                   "\x01"                          /* protocol version 1 */
                                   "not a MySQL server\x00"        /* server version */
                                   "\x01\x00\x00\x00\x00\x00\x00"; /* filler */
    int port = free_port();

    (void)state;
    greeter_start(port, greeting, sizeof(greeting) - 1, false);
    start_router("    server fake 127.0.0.1:%d check\n", port);
    expect_line(0, "Server chk/fake is DOWN, reason: Layer7 invalid response, code: 2007, info: "
                   "\"Protocol mismatch. Server Version = 1 Client Version = 10\", check "
                   "duration: ");
}

/* A peer that is not a MySQL server (an SSH banner) and hangs up: the greeting never
 * completes. */
static void test_l7rsp_garbage_then_close(void **state)
{
    static const char banner[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
    int port = free_port();

    (void)state;
    greeter_start(port, banner, sizeof(banner) - 1, true);
    start_router("    server fake 127.0.0.1:%d check\n", port);
    expect_line(0, "Server chk/fake is DOWN, reason: Layer7 invalid response, code: 2013, info: "
                   "\"Lost connection to server at 'handshake: reading initial communication "
                   "packet'");
}

/* An ERR packet instead of a greeting, as MariaDB sends to a blocked host (which a loopback
 * client can never be: the server keeps no host cache for 127.0.0.1). */
static void test_l7sts_err_greeting_host_blocked(void **state)
{
    static const char err[] = "\x5c\x00\x00\x00"
                              "\xff\x69\x04" /* ERR, errno 1129 */
                              "Host '127.0.0.1' is blocked because of many connection errors; "
                              "unblock with 'flush hosts'";
    int port = free_port();

    (void)state;
    assert_int_equal(sizeof(err) - 1, 4 + 0x5c);
    greeter_start(port, err, sizeof(err) - 1, true);
    start_router("    server fake 127.0.0.1:%d check\n", port);
    expect_line(0, "Server chk/fake is DOWN, reason: Layer7 wrong status, code: 1129, info: \"Host "
                   "'127.0.0.1' is blocked because of many connection errors; unblock with 'flush "
                   "hosts'\", check duration: ");
}

/* The check user with a wrong password. */
static void test_l7sts_wrong_password(void **state)
{
    (void)state;
    start_router("    server master 127.0.0.1:%d check mysql user rebound_check password "
                 "\"wrong-pass\"\n",
                 cluster_port("master"));
    expect_line(0, "Server chk/master is DOWN, reason: Layer7 wrong status, code: 1045, info: "
                   "\"Access denied for user 'rebound_check'@'127.0.0.1' (using password: YES)\", "
                   "check duration: ");
}

/* max_connections reached by real sessions: the check user (no SUPER) is turned away with
 * 1040; once they close, the server comes back. */
static void test_l7sts_too_many_connections(void **state)
{
    enum { ROOT = MAX_HELD - 1 };
    int m = cluster_port("master"), napp = 0;
    int64_t deadline;
    long from, counted = -1, dumps = -1, max_conn;
    char old[64], val[64];
    MYSQL *root;

    (void)state;
    /* Filled before rebound starts, so that no check competes for the last slot. A session
     * that closed keeps its slot until the server is done with it, a moment later: full means
     * the server counts max_connections sessions (Threads_connected) and all are live ones of
     * ours: one root session, which does all the work, the replicas' dump threads and app
     * sessions. MariaDB raises max_connections to its minimum, 10. */
    root = fx.held[ROOT] = root_connect("master");
    assert_non_null(root);
    assert_int_equal(root_run(root, "SELECT @@GLOBAL.max_connections", old, sizeof(old)), 0);
    fixture_push_undo(&fx, "master", "SET GLOBAL max_connections = %s", old);
    assert_int_equal(root_run(root, "SET GLOBAL max_connections = 8", NULL, 0), 0);
    assert_int_equal(root_run(root, "SELECT @@GLOBAL.max_connections", val, sizeof(val)), 0);
    max_conn = atol(val);
    assert_true(max_conn >= 8 && max_conn < 8 + ROOT);
    deadline = now_ms() + LOG_WAIT_MS;
    for (;;) {
        counted = status_counter(root, "Threads_connected");
        assert_int_equal(root_run(root,
                                  "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                  "WHERE COMMAND LIKE 'Binlog Dump%'",
                                  val, sizeof(val)),
                         0);
        dumps = atol(val);
        assert_true(counted >= 0);
        if (counted >= max_conn && counted == 1 + dumps + napp)
            break;
        if (now_ms() >= deadline || napp == ROOT)
            fail_msg("max_connections %ld: the server counts %ld sessions, ours are 1 + %ld "
                     "dump threads + %d app sessions",
                     max_conn, counted, dumps, napp);
        if (counted < max_conn) {
            if ((fx.held[napp] = client_connect(m, "app", "app-pass", "appdb", 5))) {
                napp++;
                continue;
            }
            if (client_errno() != 1040)
                fail_msg("filling max_connections: %u %s", client_errno(), client_error());
        }
        sleep_ms(50); /* a session the server is still closing */
    }
    start_router("    server master 127.0.0.1:%d check\n", m);
    expect_line(0, "Server chk/master is DOWN, reason: Layer7 wrong status, code: 1040, info: "
                   "\"Too many connections\", check duration: ");
    from = file_size(fx.health_log);
    fixture_close_held(&fx);
    expect_line(from, "Server chk/master is UP, reason: Layer7 check passed, code: 0");
}

/* `expect read-only off` on a replica, which runs read-only. */
static void test_l7sts_replica_read_only(void **state)
{
    (void)state;
    start_router("    server replica1 127.0.0.1:%d check expect read-only off\n",
                 cluster_port("replica1"));
    expect_line(0, "Server chk/replica1 is DOWN, reason: Layer7 wrong status, code: 0, info: "
                   "\"read_only is ON, expected OFF\", check duration: ");
}

/* Fail if a line after `from` reports killed sessions (a count other than 0). */
static void expect_no_kills(long from)
{
    char *log = read_file(fx.health_log), *p;

    assert_non_null(log);
    for (p = log + from; (p = strstr(p, "Killed ")); p++) {
        if (strncmp(p, "Killed 0 ", 9) != 0) {
            free(log);
            fixture_dump_log(&fx);
            fail_msg("sessions were killed while the master stayed read-only");
        }
    }
    free(log);
}

/* A master that comes back read-only stays DOWN: clients go to the backup and, although the
 * master has on-marked-up shutdown-backup-sessions, nobody is killed until it is writable again
 * and UP. */
static void test_l7sts_read_only_master_kills_nothing(void **state)
{
    enum { N = 5 };
    int m = cluster_port("master"), r2 = cluster_port("replica2"), i;
    char killed[128];
    long from;

    (void)state;
    start_router("    server master 127.0.0.1:%d check expect read-only off "
                 "on-marked-up shutdown-backup-sessions\n"
                 "    server replica2 127.0.0.1:%d check backup\n",
                 m, r2);
    from = file_size(fx.health_log);
    fixture_set_global(&fx, "master", "read_only", "1");
    expect_line(from, "Server chk/master is DOWN, reason: Layer7 wrong status, code: 0, info: "
                      "\"read_only is ON, expected OFF\", check duration: ");
    for (i = 0; i < N; i++)
        assert_int_equal(client_server_port(fx.held[fixture_hold(&fx, chk_port)]), r2);

    /* Several checks fail on the read-only master meanwhile: still DOWN, nobody killed. */
    sleep_ms(QUIET_MS);
    if (count_file_lines(fx.health_log, from, "Server chk/master is UP") != 0) {
        fixture_dump_log(&fx);
        fail_msg("the read-only master came UP");
    }
    expect_no_kills(from);
    for (i = 0; i < N; i++)
        if (client_server_port(fx.held[i]) != r2)
            fail_msg("backup session %d broke: %u %s", i, client_errno(), client_error());

    from = file_size(fx.health_log);
    root_sql("master", NULL, 0, "SET GLOBAL read_only = 0");
    expect_line(from, "Server chk/master is UP, reason: Layer7 check passed, code: 0");
    snprintf(killed, sizeof(killed),
             "Killed %d sessions on backup servers of chk after chk/master came UP", N);
    expect_line(from, killed);
    for (i = 0; i < N; i++) {
        int err = client_query(fx.held[i], "SELECT 1");
        if (!closed_by_router(err))
            fail_msg("backup session %d survived the master's return: %d", i, err);
    }
}

/* ---- local errors ---- */

/* rebound out of descriptors: with RLIMIT_NOFILE lowered so that the sessions it relays take
 * the last free ones, the check cannot create its socket. That is rebound's shortage, not the
 * server's: the check ends SOCKERR, the server stays UP and keeps its sessions, and rebound's
 * own log says so (rate-limited). Once the sessions close, the check passes again. */
static void test_sockerr_out_of_descriptors(void **state)
{
    enum { N = 3 };
    struct rlimit lim;
    int m = cluster_port("master"), i;
    int64_t deadline;
    long from, err_from;

    (void)state;
    start_router("    server master 127.0.0.1:%d check\n", m);
    assert_int_equal(prlimit(fx.router.pid, RLIMIT_NOFILE, NULL, &ts.nofile), 0);
    lim = ts.nofile;
    lim.rlim_cur = (rlim_t)nofile_leaving(fx.router.pid, 2 * N); /* a session takes two */
    from = file_size(fx.health_log);
    err_from = file_size(fx.router.err);
    assert_int_equal(prlimit(fx.router.pid, RLIMIT_NOFILE, &lim, NULL), 0);
    ts.nofile_set = true;
    for (i = 0; i < N; i++) {
        /* A check in flight holds a descriptor for a moment: retry such a refusal. */
        deadline = now_ms() + LOG_WAIT_MS;
        while (!(fx.held[i] = client_connect_app(chk_port)) && now_ms() < deadline)
            sleep_ms(50);
        if (!fx.held[i])
            fail_msg("session %d: %u %s", i, client_errno(), client_error());
        assert_int_equal(client_server_port(fx.held[i]), m);
    }
    if (!wait_for_file_line_from(fx.router.err, err_from,
                                 "chk/master: check could not run: Too many open files; state kept",
                                 LOG_WAIT_MS))
        fail_msg("no 'check could not run' line in %s", fx.router.err);
    /* Several more checks at fastinter, none of them a verdict. */
    sleep_ms(1500);
    if (count_file_lines(fx.health_log, from, "chk/master is DOWN") != 0) {
        fixture_dump_log(&fx);
        fail_msg("the master was marked DOWN for rebound's own shortage");
    }
    for (i = 0; i < N; i++)
        assert_int_equal(client_server_port(fx.held[i]), m);
    /* rebound releases the sessions' descriptors a moment after they close. */
    fixture_close_held(&fx);
    deadline = now_ms() + LOG_WAIT_MS;
    while ((i = client_port_via(chk_port)) != m && now_ms() < deadline)
        sleep_ms(100);
    if (i != m)
        fail_msg("after the sessions closed a new client landed on %d, want the master (%d): "
                 "%u %s",
                 i, m, client_errno(), client_error());
}

/* The value of counter `name` once it moved from `from` (bounded: the server counts an aborted
 * connection a moment after it ends); `from` if it did not. */
static long counter_moved(MYSQL *root, const char *name, long from)
{
    int64_t deadline = now_ms() + LOG_WAIT_MS;
    long v;

    while ((v = status_counter(root, name)) == from && now_ms() < deadline)
        sleep_ms(20);
    return v;
}

/* Log in as the check user on port and hang up without COM_QUIT. */
static void hang_up_after_login(int port)
{
    MYSQL *m = client_connect(port, "rebound_check", "check-pass", NULL, 5);

    if (!m)
        fail_msg("check user login: %u %s", client_errno(), client_error());
    shutdown(mysql_get_socket(m), SHUT_RDWR); /* the COM_QUIT of mysql_close goes nowhere */
    mysql_close(m);
}

/* Every MySQL check logs in and ends with COM_QUIT: 1,000 checks leave Aborted_connects (failed
 * logins, what max_connect_errors counts) and Aborted_clients (sessions gone without COM_QUIT)
 * where they were, and the check user still gets in with max_connect_errors at 10. First the
 * counters are shown not to be blind: a bare connect (what a TCP check does) and a login that
 * hangs up without COM_QUIT each move one. (MariaDB keeps no host cache for 127.0.0.1, so on
 * loopback "Host is blocked" itself cannot happen: the counters are the proof.) */
static void test_checks_end_with_com_quit(void **state)
{
    /* A bound on the wait only: 1,000 checks take about 8 s on a loaded 2-core box (inter 5ms
     * sets the pace), a slower one may need several times that. */
    enum { CHECKS = 1000, BOUND_MS = 300000 };
    int m = cluster_port("master");
    int64_t t0, deadline;
    long aborted0, aborted, clients0, clients, conns0, conns = 0;
    MYSQL *root, *check;

    (void)state;
    fixture_set_global(&fx, "master", "max_connect_errors", "10");
    root_sql("master", NULL, 0, "FLUSH HOSTS");
    root = root_connect("master");
    assert_non_null(root);
    fx.held[0] = root; /* closed at teardown */
    aborted0 = status_counter(root, "Aborted_connects");
    bare_connect(m);
    aborted = counter_moved(root, "Aborted_connects", aborted0);
    if (aborted != aborted0 + 1)
        fail_msg("a bare connect moved Aborted_connects from %ld to %ld, want +1", aborted0,
                 aborted);
    clients0 = status_counter(root, "Aborted_clients");
    hang_up_after_login(m);
    clients = counter_moved(root, "Aborted_clients", clients0);
    if (clients != clients0 + 1)
        fail_msg("a login without COM_QUIT moved Aborted_clients from %ld to %ld, want +1",
                 clients0, clients);

    aborted0 = aborted;
    clients0 = clients;
    conns0 = status_counter(root, "Connections");
    /* A generous timeout: a check cut short cannot say COM_QUIT. */
    start_router("    timeout check 30s\n"
                 "    server master 127.0.0.1:%d check inter 5ms fastinter 5ms downinter 5ms\n",
                 m);
    t0 = now_ms();
    deadline = t0 + BOUND_MS;
    while ((conns = status_counter(root, "Connections") - conns0) < CHECKS && now_ms() < deadline)
        sleep_ms(100);
    if (conns < CHECKS)
        fail_msg("only %ld checks reached the master in %d ms", conns, BOUND_MS);
    fprintf(stderr, "note: %ld checks in %lld ms\n", conns, (long long)(now_ms() - t0));
    aborted = status_counter(root, "Aborted_connects");
    if (aborted != aborted0)
        fail_msg("%ld checks moved Aborted_connects from %ld to %ld", conns, aborted0, aborted);
    clients = status_counter(root, "Aborted_clients");
    if (clients != clients0)
        fail_msg("%ld checks moved Aborted_clients from %ld to %ld", conns, clients0, clients);
    check = client_connect(m, "rebound_check", "check-pass", NULL, 5);
    if (!check)
        fail_msg("the check user cannot log in after %ld checks: %u %s", conns, client_errno(),
                 client_error());
    mysql_close(check);
    /* Nothing about the master but the line of its start. */
    if (count_file_lines(fx.health_log, 0, "chk/master") !=
        count_file_lines(fx.health_log, 0, "Server chk/master starts UP")) {
        fixture_dump_log(&fx);
        fail_msg("a check of the master failed");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First, while no other test has made bare connects to the master. */
        cmocka_unit_test_setup_teardown(test_checks_end_with_com_quit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l4con_closed_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l4tout_full_accept_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l4ok_l7ok_master_comes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l6ok_tls_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l6rsp_wrong_ca, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l6rsp_plain_mysql_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l6rsp_mysql_without_tls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l6tout_silent_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_mariadb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7okc_lagging_replica, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7tout_frozen_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7tout_silent_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7rsp_bad_greeting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7rsp_garbage_then_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7sts_err_greeting_host_blocked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7sts_wrong_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7sts_too_many_connections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7sts_replica_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_l7sts_read_only_master_kills_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sockerr_out_of_descriptors, setup, teardown),
    };

    /* CHECKS_ONLY=pattern runs only the tests whose names match (cmocka's * and ? wildcards). */
    if (getenv("CHECKS_ONLY"))
        cmocka_set_test_filter(getenv("CHECKS_ONLY"));
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
