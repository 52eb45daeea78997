/* test_peers.c - servers that misbehave before the login, and rebound's own shortage of
 * descriptors, against a real master + 2 replicas and the real router.
 *
 *  - A malformed greeting (protocol byte 9, an HTTP response, half a greeting then silence) is
 *    an error of the server: the client is moved to the next server without seeing it, and the
 *    server is counted (observe layer7 and layer4, error-limit 1, on-error mark-down).
 *  - Bytes a client sends before any greeting survive a redispatch: they reach the server that
 *    finally greets, after its greeting, and nothing leaks (router_stop() fails on any
 *    AddressSanitizer / LeakSanitizer report, which matters under the ASan build).
 *  - rebound short of descriptors is not the servers' fault: at RLIMIT_NOFILE 128 it lowers
 *    maxconn so that checks and the admin port keep descriptors of their own; and when the
 *    limit drops under it at run time, accept backs off instead of spinning and no server goes
 *    DOWN; the sessions live on.
 *
 * The misbehaving servers are harness fake peers (struct fake_peer) on threads of this process.
 * Every listen under test has a second listen `ready` on the master for router_start()'s
 * readiness login, so that login never touches the fakes. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define LOG_WAIT_MS 15000 /* bound for a health-log line: a loaded 2-core box is slow */
#define ADMIN_PW    "Peer5-Admin-pw"
/* timeout greeting where a fake must be given up. It applies to the real backup and to fake b
 * (which greets after 100 ms) too, so it leaves them room on a loaded box under TSan. */
#define GREETING_MS  1000
#define HANG_S       10 /* client timeouts: a client left hanging shows as this */
#define FILL_S       5  /* client timeouts while filling slots: a wait in the kernel for a slot */
#define EARLY        "hello-early-bytes"
#define EARLY_ROUNDS 3
#define NOFILE       128  /* RLIMIT_NOFILE of the router in the descriptor test */
#define MAX_HELD     200  /* sessions (attempts) at most in the descriptor test */
#define HOLD_MS      3000 /* how long the descriptor shortage is held: 10 check intervals */

/* The router of a test: the listen under test on fx.rw_port, the admin port for
 * observed_errors; the sessions and raw sockets a test holds. */
static struct router_fixture fx;
static int ready_port;            /* listen `ready` (master only): the readiness login */
static int fake_port, fake2_port; /* fake peers a and b */
static struct fake_peer fake_a, fake_b;

_Static_assert(MAX_HELD <= FIXTURE_MAX_HELD, "fx.held holds the sessions of a test");

/* ---- the health log and the admin port ---- */

/* Fail the test (log attached) unless a line holding needle appears after `from` in time. */
static void expect_line(long from, const char *needle)
{
    fixture_expect_line(&fx, from, needle, LOG_WAIT_MS);
}

/* ---- the router ---- */

/* Write the config (global and defaults, `tuning` appended to the defaults, listen `ready` on
 * the master, then the listen sections in `listens`, a printf format) and start rebound with
 * RLIMIT_NOFILE nofile (0: unchanged). Checks every 60s unless `tuning` says otherwise. */
static void start_router(int nofile, const char *tuning, const char *listens, ...)
    __attribute__((format(printf, 3, 4)));

static void start_router(int nofile, const char *tuning, const char *listens, ...)
{
    char body[2048];
    va_list ap;

    va_start(ap, listens);
    vsnprintf(body, sizeof(body), listens, ap);
    va_end(ap);
    fx.nofile = nofile;
    assert_int_equal(
        fixture_start(
            &fx, ready_port,
            "# written by test_peers.c\n"
            "global\n"
            "    maxconn 10000\n"
            "    health-log file %s\n"
            "    admin 127.0.0.1:%d user admin password \"%s\"\n"
            "defaults\n"
            "    check mysql user rebound_check password \"check-pass\"\n"
            "    inter 60s  fastinter 60s  downinter 300ms  rise 1  fall 3  timeout check 2s\n"
            "    timeout connect 1s  timeout greeting 2s  timeout client 1m  timeout server 1m\n"
            "    retries 2\n"
            "%s\n"
            "listen ready\n"
            "    bind 127.0.0.1:%d\n"
            "    server master 127.0.0.1:%d check\n"
            "%s",
            fx.health_log, fx.admin_port, ADMIN_PW, tuning, ready_port, cluster_port("master"),
            body),
        0);
}

/* Start fake peer f on port with the given behaviour; fails the test if it cannot listen. */
static void start_fake(struct fake_peer *f, int port, enum fake_peer_kind kind, bool record,
                       int greet_delay_ms, const char *version)
{
    f->kind = kind;
    f->record = record;
    f->greet_delay_ms = greet_delay_ms;
    f->version = version;
    if (fake_peer_start(f, port) != 0)
        fail_msg("fake peer on port %d: %s", port, strerror(errno));
}

/* ---- raw clients ---- */

/* A blocking TCP connection to 127.0.0.1:port, kept for teardown; fails the test on error. */
static int raw_connect(int port)
{
    struct sockaddr_in sa = loopback_addr(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        int err = errno;
        close(fd);
        fail_msg("connect to %d: %s", port, strerror(err));
    }
    return fixture_keep_fd(&fx, fd);
}

/* ---- fixture ---- */

/* Stop both fake peers (those not running are left alone). */
static void stop_fakes(void)
{
    fake_peer_stop(&fake_a);
    fake_peer_stop(&fake_b);
}

static int setup(void **state)
{
    (void)state;
    memset(&fake_a, 0, sizeof(fake_a));
    memset(&fake_b, 0, sizeof(fake_b));
    if (fixture_init(&fx, "peers", ADMIN_PW) != 0)
        return -1;
    fx.stop_peers = stop_fakes;
    ready_port = free_port();
    fake_port = free_port();
    fake2_port = free_port();
    return ready_port < 0 || fake_port < 0 || fake2_port < 0 ? -1 : 0;
}

/* Close the sessions, stop the router (clean exit, no sanitizer report) and the fakes. */
static int teardown(void **state)
{
    (void)state;
    return fixture_teardown(&fx);
}

/* ---- 1. a malformed greeting is the server's error, and the client moves on ---- */

/* The slowest of three plain logins through listen `ready` (the master): what a login costs on
 * this machine, under this build, right now. */
static int64_t login_calibration(void)
{
    int64_t worst = 0, t0, took;
    MYSQL *m;
    int i;

    for (i = 0; i < 3; i++) {
        t0 = now_ms();
        m = client_connect(ready_port, "app", "app-pass", "appdb", HANG_S);
        took = now_ms() - t0;
        if (!m)
            fail_msg("calibration login through listen ready: %u %s", client_errno(),
                     client_error());
        mysql_close(m);
        if (took > worst)
            worst = took;
    }
    return worst;
}

/* listen rw: the fake (active, unchecked: only traffic can take it down) and replica1 as the
 * backup. One client must log in on replica1 quickly, the fake must be counted and DOWN (error
 * limit 1), and the next client must go straight to replica1. */
static void expect_greeting_redispatched(enum fake_peer_kind kind, const char *layer)
{
    const char *what = fake_peer_kind_name(kind);
    char tuning[256];
    int64_t t0, took, calib, limit;
    int port, seen;
    MYSQL *m;

    start_fake(&fake_a, fake_port, kind, false, 0, NULL);
    snprintf(tuning, sizeof(tuning),
             "    observe %s  error-limit 1  on-error mark-down  timeout greeting %dms\n", layer,
             GREETING_MS);
    start_router(0, tuning,
                 "listen rw\n"
                 "    bind 127.0.0.1:%d\n"
                 "    server fake     127.0.0.1:%d no-check\n"
                 "    server replica1 127.0.0.1:%d check backup\n",
                 fx.rw_port, fake_port, cluster_port("replica1"));
    /* A client kept waiting on the fake waits GREETING_PATIENCE (4) times timeout greeting, or
     * until its own timeout (HANG_S): the bound, timeout greeting plus a login measured now with
     * wide room, stays below both unless a plain login takes over a second. */
    calib = login_calibration();
    limit = GREETING_MS + (4 * calib > 1500 ? 4 * calib : 1500);
    t0 = now_ms();
    m = client_connect(fx.rw_port, "app", "app-pass", "appdb", HANG_S);
    took = now_ms() - t0;
    fprintf(stderr, "note: %s (observe %s): login %s after %lld ms (a plain login: %lld ms)\n",
            what, layer, m ? "done" : "failed", (long long)took, (long long)calib);
    if (!m) {
        fixture_dump_log(&fx);
        fail_msg("%s (observe %s): the client failed after %lld ms: %u %s", what, layer,
                 (long long)took, client_errno(), client_error());
    }
    fx.held[0] = m;
    port = client_server_port(m);
    if (port != cluster_port("replica1"))
        fail_msg("%s (observe %s): the client landed on %d, want replica1 (%d)", what, layer, port,
                 cluster_port("replica1"));
    if (fake_peer_accepted(&fake_a) < 1)
        fail_msg("%s (observe %s): the fake was never tried", what, layer);
    if (took > limit)
        fail_msg("%s (observe %s): the login took %lld ms, want at most %lld", what, layer,
                 (long long)took, (long long)limit);
    expect_line(0, "Server rw/fake is DOWN, reason: Health analyze");
    if (fixture_admin_int(
            &fx, "SELECT observed_errors FROM servers WHERE listener = 'rw' AND name = 'fake'") <
        1) {
        fixture_dump_log(&fx);
        fail_msg("%s (observe %s): observed_errors of rw/fake is 0", what, layer);
    }
    /* DOWN: the next client goes straight to replica1. */
    seen = fake_peer_accepted(&fake_a);
    if (client_port_via(fx.rw_port) != cluster_port("replica1"))
        fail_msg("%s (observe %s): the second client did not land on replica1: %u %s", what, layer,
                 client_errno(), client_error());
    assert_int_equal(fake_peer_accepted(&fake_a), seen);
}

static void test_protocol9_layer7(void **state)
{
    (void)state;
    expect_greeting_redispatched(FAKE_PEER_PROTOCOL9, "layer7");
}

static void test_garbage_layer7(void **state)
{
    (void)state;
    expect_greeting_redispatched(FAKE_PEER_GARBAGE, "layer7");
}

static void test_truncated_layer7(void **state)
{
    (void)state;
    expect_greeting_redispatched(FAKE_PEER_TRUNCATED, "layer7");
}

static void test_protocol9_layer4(void **state)
{
    (void)state;
    expect_greeting_redispatched(FAKE_PEER_PROTOCOL9, "layer4");
}

static void test_garbage_layer4(void **state)
{
    (void)state;
    expect_greeting_redispatched(FAKE_PEER_GARBAGE, "layer4");
}

static void test_truncated_layer4(void **state)
{
    (void)state;
    expect_greeting_redispatched(FAKE_PEER_TRUNCATED, "layer4");
}

/* ---- 2. early client bytes survive a redispatch ---- */

/* listen rw: fake a (active) accepts and never greets, fake b (backup) greets as "5.7.99-fake-b"
 * 100 ms after accept and records what it receives. Nothing is observed, so every client tries
 * a first. */
static void start_early_router(void)
{
    char tuning[128];

    start_fake(&fake_a, fake_port, FAKE_PEER_SILENT, true, 0, NULL);
    start_fake(&fake_b, fake2_port, FAKE_PEER_GREETING, true, 100, "5.7.99-fake-b");
    snprintf(tuning, sizeof(tuning), "    timeout greeting %dms\n", GREETING_MS);
    start_router(0, tuning,
                 "listen rw\n"
                 "    bind 127.0.0.1:%d\n"
                 "    server a 127.0.0.1:%d no-check\n"
                 "    server b 127.0.0.1:%d no-check backup\n",
                 fx.rw_port, fake_port, fake2_port);
}

/* Wait until fake f has accepted every connection the kernel queued for it; false if some
 * still wait after timeout_ms. (For a listening socket tcpi_unacked is its accept queue.) */
static bool fake_queue_drained(struct fake_peer *f, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    struct tcp_info ti;
    socklen_t len;

    for (;;) {
        len = sizeof(ti);
        if (getsockopt(f->lfd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_unacked == 0)
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(10);
    }
}

/* Wait until rebound holds no session of listen rw and fakes a and b have accepted every
 * connection it made to them: only then do their accept counts name the next client's
 * connections. */
static void wait_early_sessions_gone(void)
{
    int64_t deadline = now_ms() + LOG_WAIT_MS;
    long long n;

    while ((n = fixture_admin_int(&fx, "SELECT COUNT(*) FROM sessions WHERE listener = 'rw'")) !=
               0 &&
           now_ms() < deadline)
        sleep_ms(20);
    if (n != 0)
        fail_msg("rebound still holds %lld sessions of rw after %d ms", n, LOG_WAIT_MS);
    if (!fake_queue_drained(&fake_a, LOG_WAIT_MS) || !fake_queue_drained(&fake_b, LOG_WAIT_MS))
        fail_msg("a fake peer left connections in its accept queue for %d ms", LOG_WAIT_MS);
}

/* A raw client sends `early` (len bytes) before any greeting, then must get b's greeting; b
 * must then have received exactly those bytes, all after its greeting. */
static void early_round(int round, const char *early, size_t len)
{
    unsigned char g[512];
    char got[FAKE_PEER_RX_MAX + 1], at_a[64];
    int fd, conn, tried_a;
    long n, before, a_got;

    wait_early_sessions_gone();
    conn = fake_peer_accepted(&fake_b);
    tried_a = fake_peer_accepted(&fake_a);
    fd = raw_connect(fx.rw_port);
    if (write(fd, early, len) != (ssize_t)len)
        fail_msg("round %d: write to rebound: %s", round, strerror(errno));
    n = read_packet(fd, g, sizeof(g) - 1, LOG_WAIT_MS);
    if (n < 1 || g[4] != 0x0a) {
        fixture_dump_log(&fx);
        fail_msg("round %d: no protocol-10 greeting through rebound (%ld bytes)", round, n);
    }
    g[4 + n] = '\0';
    if (strcmp((char *)g + 5, "5.7.99-fake-b") != 0)
        fail_msg("round %d: greeted by \"%.40s\", want fake b", round, (char *)g + 5);
    /* rebound is done with a; its thread may not have accepted yet. */
    if (!fake_queue_drained(&fake_a, LOG_WAIT_MS))
        fail_msg("round %d: fake a left connections in its accept queue", round);
    if (fake_peer_accepted(&fake_a) != tried_a + 1)
        fail_msg("round %d: fake a was tried %d times, want once", round,
                 fake_peer_accepted(&fake_a) - tried_a);
    a_got = fake_peer_received(&fake_a, tried_a, NULL, 0, NULL); /* silent: all of it */
    snprintf(at_a, sizeof(at_a), "%ld bytes had been sent to fake a", a_got);
    if (!fake_peer_wait_received(&fake_b, conn, (long)len, LOG_WAIT_MS)) {
        n = fake_peer_received(&fake_b, conn, got, sizeof(got), &before);
        fail_msg("round %d: fake b received %ld bytes after its greeting (%ld before), want %zu; "
                 "%s",
                 round, n, before, len, at_a);
    }
    sleep_ms(100); /* nothing more may follow */
    n = fake_peer_received(&fake_b, conn, got, sizeof(got), &before);
    if (before != 0)
        fail_msg("round %d: %ld bytes reached fake b before its greeting", round, before);
    if (n != (long)len || memcmp(got, early, len) != 0)
        fail_msg("round %d: fake b received %ld bytes \"%.40s\", want %zu bytes \"%.40s\"", round,
                 n, got, len, early);
    fixture_close_fd(&fx, fd);
}

/* The same short early bytes, several clients in a row. */
static void test_early_bytes_redispatched(void **state)
{
    int i;

    (void)state;
    start_early_router();
    for (i = 0; i < EARLY_ROUNDS; i++)
        early_round(i, EARLY, strlen(EARLY));
    assert_int_equal(router_stop(&fx.router), 0);
}

/* Early bytes larger than one small write, and clients that send early bytes and go away
 * before any greeting (while rebound waits on a, and just after it gave a up): nothing is lost,
 * nothing leaks (router_stop() checks the sanitizer reports). */
static void test_early_bytes_large_and_abandoned(void **state)
{
    char big[3000];
    size_t i;
    int fd, round;

    (void)state;
    for (i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 26);
    start_early_router();
    early_round(0, big, sizeof(big));
    for (round = 0; round < 2; round++) {
        fd = raw_connect(fx.rw_port);
        assert_int_equal(write(fd, EARLY, strlen(EARLY)), (ssize_t)strlen(EARLY));
        sleep_ms(round == 0 ? 50 : GREETING_MS + 50);
        fixture_close_fd(&fx, fd);
    }
    early_round(1, EARLY, strlen(EARLY)); /* waits until rebound is done with both */
    assert_int_equal(router_stop(&fx.router), 0);
}

/* ---- 3. rebound's own descriptor shortage is not the servers' fault ---- */

/* Open descriptors of pid, -1 if /proc cannot tell. */
static int count_fds(pid_t pid)
{
    char path[64];
    struct dirent *e;
    DIR *d;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The fewest descriptors pid held over a few samples: a check holds one only for milliseconds. */
static int steady_fds(pid_t pid)
{
    int i, n, fewest = INT_MAX;

    for (i = 0; i < 8; i++) {
        n = count_fds(pid);
        if (n >= 0 && n < fewest)
            fewest = n;
        sleep_ms(25);
    }
    return fewest == INT_MAX ? -1 : fewest;
}

/* The router's RLIMIT_NOFILE soft and hard limits from /proc, -1 if not found. */
static int router_nofile(void)
{
    char path[64], *text, *line;
    long soft = -1, hard = -1;

    snprintf(path, sizeof(path), "/proc/%d/limits", (int)fx.router.pid);
    text = read_file(path);
    if (!text)
        return -1;
    line = strstr(text, "Max open files");
    if (!line || sscanf(line, "Max open files %ld %ld", &soft, &hard) != 2 || soft != hard)
        soft = -1;
    free(text);
    return (int)soft;
}

/* Print the health log's failed-check lines (not an error by themselves; DOWN is). */
static void note_failed_checks(void)
{
    int n = count_file_lines(fx.health_log, 0, "Health check for server");

    if (n > 0)
        fprintf(stderr, "note: %d failed-check lines in the health log during the shortage\n", n);
}

/* The maxconn rebound settled on: the number in its "maxconn lowered to N" line, -1 if none. */
static int lowered_maxconn(void)
{
    char *text = read_file(fx.router.err), *hit;
    int n = -1;

    if (text && (hit = strstr(text, "maxconn lowered to ")))
        n = atoi(hit + strlen("maxconn lowered to "));
    free(text);
    return n;
}

/* CPU time (user + system, in clock ticks) the router has used, from /proc; -1 if unknown. */
static long router_cpu_ticks(void)
{
    char path[64], *text, *p;
    unsigned long ut = 0, st = 0;
    long ticks = -1;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)fx.router.pid);
    text = read_file(path);
    /* Fields 14 and 15, after the command name in parentheses. */
    if (text && (p = strrchr(text, ')')) &&
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
        ticks = (long)(ut + st);
    free(text);
    return ticks;
}

/* Open sessions through rebound (FILL_S timeouts) until two in a row are not served; returns
 * how many are held, the first refusal in FIRST_ERR. */
static int fill_sessions(char *first_err, size_t size)
{
    int64_t deadline = now_ms() + 120000;
    int nheld = 0, attempts, fails = 0;

    for (attempts = 0; attempts < MAX_HELD && fails < 2 && now_ms() < deadline; attempts++) {
        MYSQL *m = client_connect(fx.rw_port, "app", "app-pass", "appdb", FILL_S);
        if (!m) {
            if (!first_err[0])
                snprintf(first_err, size, "%u %s", client_errno(), client_error());
            fails++;
            continue;
        }
        fails = 0;
        fx.held[nheld++] = m;
    }
    if (fails < 2)
        fail_msg("rebound still served sessions after %d attempts (%d held)", attempts, nheld);
    return nheld;
}

/* Held sessions all answer, no server went DOWN; then they close and a new client lands on the
 * master again. */
static void expect_survived(int nheld)
{
    int64_t deadline;
    int i, port;

    if (count_file_lines(fx.health_log, 0, "is DOWN") != 0) {
        fixture_dump_log(&fx);
        fail_msg("a server went DOWN while rebound itself was short of descriptors");
    }
    for (i = 0; i < nheld; i++) {
        if (client_query(fx.held[i], "SELECT 1") != 0)
            fail_msg("held session %d of %d: SELECT 1 failed: %u %s", i, nheld, client_errno(),
                     client_error());
    }
    fixture_close_held(&fx);
    deadline = now_ms() + 3 * LOG_WAIT_MS;
    do {
        port = client_port_via(fx.rw_port);
        if (port == cluster_port("master"))
            break;
        sleep_ms(200);
    } while (now_ms() < deadline);
    if (port != cluster_port("master"))
        fail_msg("after the shortage a new client landed on %d, want the master (%d): %u %s", port,
                 cluster_port("master"), client_errno(), client_error());
}

/* Checks must pass throughout: their timeout is far above a slow check on a loaded box, and a
 * check rebound cannot run for want of a descriptor fails at once, not at the timeout. */
static const char fd_tuning[] =
    "    inter 300ms  fastinter 100ms  downinter 300ms  rise 2  fall 2  timeout check 10s\n"
    "    observe layer4  error-limit 3  on-error mark-down\n";
static const char fd_listen[] =
    "listen rw\n"
    "    bind 127.0.0.1:%d\n"
    "    server master   127.0.0.1:%d check on-marked-down shutdown-sessions\n"
    "    server replica1 127.0.0.1:%d check backup\n"
    "    server replica2 127.0.0.1:%d check backup\n";

/* RLIMIT_NOFILE 128 and the default maxconn (10000, which needs 20000+ descriptors): rebound
 * lowers maxconn to what fits beside the descriptors its ports, checks and logs need, and says
 * so. Filling every session slot leaves those free: while clients wait in the kernel for a slot,
 * fast checks (inter 300ms, fall 2) and observation keep every server UP, an operator still
 * logs in on the admin port, and every held session still answers. */
static void test_fd_limit_fits_maxconn(void **state)
{
    int nheld, want;
    char first_err[256] = "";
    MYSQL *admin;

    (void)state;
    start_router(NOFILE, fd_tuning, fd_listen, fx.rw_port, cluster_port("master"),
                 cluster_port("replica1"), cluster_port("replica2"));
    if (router_nofile() != NOFILE)
        fail_msg("the router's RLIMIT_NOFILE is %d, want %d", router_nofile(), NOFILE);
    want = lowered_maxconn();
    if (want < 4 || want > NOFILE / 2)
        fail_msg("no plausible \"maxconn lowered to N\" line in %s (got %d)", fx.router.err, want);
    nheld = fill_sessions(first_err, sizeof(first_err));
    fprintf(stderr, "note: maxconn lowered to %d; %d sessions held, then: %s\n", want, nheld,
            first_err);
    /* The readiness login's session may still be closing: one slot of slack. */
    if (nheld < want - 1 || nheld > want)
        fail_msg("%d sessions served, maxconn is %d", nheld, want);
    if (!(admin = client_connect(fx.admin_port, "admin", ADMIN_PW, NULL, HANG_S)))
        fail_msg("admin login while every session slot is taken: %u %s", client_errno(),
                 client_error());
    if (client_query(admin, "SHOW SERVERS") != 0)
        fail_msg("SHOW SERVERS: %u %s", client_errno(), client_error());
    mysql_close(admin);
    sleep_ms(HOLD_MS);
    note_failed_checks();
    expect_survived(nheld);
}

/* The descriptor limit drops under a running rebound (prlimit) until the held sessions take
 * every descriptor, while more clients keep connecting: accept backs off instead of spinning
 * (CPU stays low, a few log lines at most), checks that cannot get a socket keep the servers'
 * state (SOCKERR is no verdict), and everything recovers once the sessions close. */
static void test_fd_exhausted_at_run_time(void **state)
{
    struct rlimit lim, orig;
    int nheld, fds, waiting[4], i, lines;
    long cpu0, cpu1, idle, limit, floor_ticks = HOLD_MS / 1000 * sysconf(_SC_CLK_TCK) / 5;

    (void)state;
    start_router(0, fd_tuning, fd_listen, fx.rw_port, cluster_port("master"),
                 cluster_port("replica1"), cluster_port("replica2"));
    for (i = 0; i < 6; i++) /* a few sessions first */
        assert_non_null(fx.held[i] = client_connect_app(fx.rw_port));
    /* What the same router costs over the same time with descriptors to spare: how fast this
     * machine and build run it. */
    cpu0 = router_cpu_ticks();
    sleep_ms(HOLD_MS);
    idle = router_cpu_ticks() - cpu0;
    if (cpu0 < 0 || idle < 0)
        fail_msg("cannot read the router's CPU time");
    fds = steady_fds(fx.router.pid);
    assert_int_equal(prlimit(fx.router.pid, RLIMIT_NOFILE, NULL, &orig), 0);
    lim = orig;
    lim.rlim_cur = (rlim_t)fds + 8; /* room for four more sessions */
    assert_int_equal(prlimit(fx.router.pid, RLIMIT_NOFILE, &lim, NULL), 0);
    nheld = 6;
    for (i = 0; i < MAX_HELD - 6 &&
                (fx.held[nheld] = client_connect(fx.rw_port, "app", "app-pass", "appdb", FILL_S));
         i++)
        nheld++;
    /* Clients waiting in the accept queue keep the listening socket readable. */
    for (i = 0; i < 4; i++)
        waiting[i] = raw_connect(fx.rw_port);
    lines = count_file_lines(fx.router.err, 0, "accept");
    cpu0 = router_cpu_ticks();
    sleep_ms(HOLD_MS);
    cpu1 = router_cpu_ticks();
    lines = count_file_lines(fx.router.err, 0, "accept") - lines;
    /* Spinning on accept takes all the CPU it can get, a whole core when it gets one (100
     * ticks a second). Short of descriptors a sound router costs up to about three times its
     * idle cost (under TSan): the bound, a fifth of a core or three times the idle cost plus a
     * tenth of a core, stays below a spinning core unless the idle router alone takes 30% of
     * one. */
    limit = 3 * idle + floor_ticks / 2 > floor_ticks ? 3 * idle + floor_ticks / 2 : floor_ticks;
    fprintf(stderr,
            "note: %d sessions held at the limit; over %d ms rebound used %ld ticks of CPU "
            "(%ld with descriptors to spare, bound %ld) and wrote %d accept lines\n",
            nheld, HOLD_MS, cpu1 - cpu0, idle, limit, lines);
    for (i = 0; i < 4; i++)
        fixture_close_fd(&fx, waiting[i]);
    if (cpu0 < 0 || cpu1 < 0 || cpu1 - cpu0 > limit)
        fail_msg("rebound used %ld clock ticks in %d ms while out of descriptors (%ld with "
                 "descriptors to spare)",
                 cpu1 - cpu0, HOLD_MS, idle);
    if (lines > 2 * HOLD_MS / 1000 + 2)
        fail_msg("%d accept lines in %d ms while out of descriptors", lines, HOLD_MS);
    assert_int_equal(prlimit(fx.router.pid, RLIMIT_NOFILE, &orig, NULL), 0);
    expect_survived(nheld);
}

/* ---- a busy server is waited for ---- */

/* rebound waits on a server that greeted another session within the last quarter of `timeout
 * greeting`: that quarter (500 ms) is far above the fake's interval, so that neither a slow fake
 * thread nor a stalled router makes the busy server look stuck. */
#define BUSY_GREETING_MS 2000 /* timeout greeting in the busy-server test */
#define BUSY_INTERVAL_MS 100  /* the busy fake greets one connection every 100 ms */
#define BUSY_CLIENTS     30   /* the last is greeted 2.9 s after the first, the last 9 late */

/* Read the greeting on FD (a raw client of the router) and fail unless the busy fake sent it. */
static void expect_fake_greeting(int fd, const char *who)
{
    unsigned char buf[512];
    long n = read_packet(fd, buf, sizeof(buf) - 1, 5000);

    if (n < 2)
        fail_msg("%s got no greeting", who);
    buf[4 + n] = 0;
    if (strcmp((char *)buf + 5, "busy-fake") != 0) /* after the protocol byte */
        fail_msg("%s was greeted by '%s', not by the busy server", who, buf + 5);
}

/* Start the busy fake (as configured in fake_a) and a router whose listen rw has it as the
 * active server, unchecked, and replica1 as the backup, with `timeout greeting` GREETING_MS. */
static void start_busy_router(int greeting_ms)
{
    char tuning[128];

    start_fake(&fake_a, fake_port, FAKE_PEER_GREETING, false, 0, "busy-fake");
    snprintf(tuning, sizeof(tuning), "    timeout greeting %dms\n", greeting_ms);
    start_router(0, tuning,
                 "listen rw\n"
                 "    bind 127.0.0.1:%d\n"
                 "    server fake     127.0.0.1:%d no-check\n"
                 "    server replica1 127.0.0.1:%d check backup\n",
                 fx.rw_port, fake_port, cluster_port("replica1"));
}

/* A server that greets its queue of connections one at a time, as a master does when
 * thousands of clients log in at once after a failback, keeps every client, even those it
 * greets after `timeout greeting`: it greets other sessions meanwhile, so it is busy, not
 * stuck. (Those clients used to be given up at `timeout greeting` and sent to the backup,
 * where an application would have stayed.) A server that greets nobody is still given up at
 * `timeout greeting`: the truncated-greeting tests above. */
static void test_busy_server_waited_for(void **state)
{
    char who[32];
    int fds[BUSY_CLIENTS];
    (void)state;

    fake_a.greet_interval_ms = BUSY_INTERVAL_MS;
    start_busy_router(BUSY_GREETING_MS);
    for (int i = 0; i < BUSY_CLIENTS; i++) {
        fds[i] = loopback_connect(fx.rw_port);
        assert_true(fds[i] >= 0);
    }
    for (int i = 0; i < BUSY_CLIENTS; i++) {
        snprintf(who, sizeof(who), "client %d", i);
        expect_fake_greeting(fds[i], who);
    }
    assert_int_equal(fake_peer_accepted(&fake_a), BUSY_CLIENTS); /* none given up and retried */
    assert_int_equal(
        fixture_admin_int(
            &fx, "SELECT connect_failures FROM servers WHERE listener = 'rw' AND name = 'fake'"),
        0);
    for (int i = 0; i < BUSY_CLIENTS; i++)
        close(fds[i]);
}

/* As above, the quarter of `timeout greeting` (500 ms) is far above the gap between two other
 * clients; rebound gives the lost connection up after 4 times `timeout greeting`, 8 s: the
 * stream (under 128 connections, all a fake peer keeps) lasts until then. */
#define LOST_GREETING_MS 2000 /* timeout greeting in the lost-connection test */
#define STREAM_GAP_MS    100  /* between two other clients */
#define STREAM_MAX       120  /* other clients at most: 12 s at least */

/* A connection the server never greets while it greets everyone else (lost in its full accept
 * queue: the kernel never handed it over, and a MySQL server speaks first) gets one more
 * connection to the same server once waiting on has run out, instead of a backup. */
static void test_lost_connection_to_busy_server(void **state)
{
    char who[32];
    int64_t deadline;
    int lost, k = 0;
    struct pollfd p;
    (void)state;

    fake_a.silent_conn = 1;
    start_busy_router(LOST_GREETING_MS);
    lost = loopback_connect(fx.rw_port);
    assert_true(lost >= 0);
    deadline = now_ms() + LOG_WAIT_MS;
    while (fake_peer_accepted(&fake_a) < 1 && now_ms() < deadline)
        sleep_ms(5);
    if (fake_peer_accepted(&fake_a) < 1)
        fail_msg("rebound did not connect the first client to the fake");
    /* Other clients keep the server greeting while the first one waits, until it is greeted. */
    p = (struct pollfd){.fd = lost, .events = POLLIN};
    for (; k < STREAM_MAX && poll(&p, 1, 0) == 0; k++) {
        int fd = loopback_connect(fx.rw_port);
        assert_true(fd >= 0);
        snprintf(who, sizeof(who), "client %d", k);
        expect_fake_greeting(fd, who);
        close(fd);
        sleep_ms(STREAM_GAP_MS);
    }
    expect_fake_greeting(lost, "the client whose connection was lost");
    close(lost);
    assert_int_equal(fake_peer_accepted(&fake_a), k + 2); /* its second connection */
}

/* A client that connects, reads the greeting and says nothing more (or stops halfway through
 * its login) is closed after `timeout handshake`, not when the server's connect_timeout ends;
 * a client that logged in and then idles is not. */
static void test_handshake_timeout(void **state)
{
    unsigned char g[512], junk[4] = {50, 0, 0, 1};
    int64_t t0, took;
    MYSQL *m;
    int fd, round;
    char c;

    (void)state;
    start_router(0, "    timeout handshake 1s\n", fd_listen, fx.rw_port, cluster_port("master"),
                 cluster_port("replica1"), cluster_port("replica2"));
    m = client_connect_app(fx.rw_port);
    assert_non_null(m);
    for (round = 0; round < 2; round++) {
        t0 = now_ms();
        fd = raw_connect(fx.rw_port);
        if (read_packet(fd, g, sizeof(g), 5000) < 1)
            fail_msg("no greeting through rebound");
        if (round == 1) /* half a handshake response */
            assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
        /* Without the handshake timeout the server's connect_timeout (10 s) ends the client. */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 8000), 1);
        took = now_ms() - t0;
        if (read(fd, &c, 1) > 0)
            fail_msg("round %d: the server sent more instead of a close", round);
        fixture_close_fd(&fx, fd);
        fprintf(stderr, "note: silent client (round %d) closed after %lld ms\n", round,
                (long long)took);
        /* From before the connect: at least the 1 s since accept; at most, room for a slow
         * greeting and close, far below the server's 10 s. */
        if (took < 800 || took > 6000)
            fail_msg("round %d: closed after %lld ms, want about 1000", round, (long long)took);
    }
    /* The logged-in session idled through both rounds (> 1 s) and still answers. */
    assert_int_equal(client_query(m, "SELECT 1"), 0);
    mysql_close(m);
    if (fixture_admin_int(&fx, "SELECT SUM(observed_errors) FROM servers WHERE listener = 'rw'") !=
        0)
        fail_msg("a client's handshake timeout was counted against a server");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_protocol9_layer7, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_layer7, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_layer7, setup, teardown),
        cmocka_unit_test_setup_teardown(test_protocol9_layer4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_garbage_layer4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_layer4, setup, teardown),
        cmocka_unit_test_setup_teardown(test_early_bytes_redispatched, setup, teardown),
        cmocka_unit_test_setup_teardown(test_early_bytes_large_and_abandoned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_limit_fits_maxconn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_exhausted_at_run_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_server_waited_for, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lost_connection_to_busy_server, setup, teardown),
    };

    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
