/* test_reload_ports.c - the admin and stats ports across SIGHUP reloads, with the real router
 * and real clients: admin-ssl switched on, renewed and off; admin accounts changed; both ports
 * moved, switched on and off; a certificate that does not load or an address that is taken
 * rejects the whole reload with file:line while the running ports keep working; connections
 * open across a reload finish normally. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 30000 /* bound for a log line to appear */
/* rebound answers 408 to a stats request whose head is not complete this long after accept
 * (STATS_REQUEST_TIMEOUT_S). */
#define STATS_BUDGET_MS 3000
#define ADMIN_PW        "Ports-admin-pw1"
#define OTHER_PW        "Ports-admin-pw2"
#define VIEW_PW         "Ports-viewer-pw"

/* What the configuration file says about the two ports. */
struct ports {
    int admin;             /* admin port, 0 for none */
    const char *pw;        /* the admin user's password, NULL for ADMIN_PW */
    bool viewer;           /* an admin-ro account too */
    const char *crt, *key; /* admin-ssl files, NULL for no TLS */
    int stats;             /* stats port, 0 for none */
};

/* The router of one test and its file, and on which line the file wrote each port keyword. */
static struct router_fixture fx;
static int admin_line, ssl_line, stats_line;

/* Two self-signed certificates for 127.0.0.1, and the files admin-ssl names. */
static char crt1[512], key1[512], crt2[512], key2[512], crt[512], key[512];

/* ---- configuration and reloads ---- */

static int write_conf(const struct ports *p)
{
    char global[2048] = "global\n";
    int line = 1;
    size_t n = strlen(global);

    admin_line = ssl_line = stats_line = 0;
    if (p->admin) {
        n += (size_t)snprintf(global + n, sizeof(global) - n,
                              "    admin 127.0.0.1:%d user admin password \"%s\"\n", p->admin,
                              p->pw ? p->pw : ADMIN_PW);
        admin_line = ++line;
    }
    if (p->viewer) {
        n += (size_t)snprintf(global + n, sizeof(global) - n,
                              "    admin-ro user viewer password \"" VIEW_PW "\"\n");
        ++line;
    }
    if (p->crt) {
        n += (size_t)snprintf(global + n, sizeof(global) - n, "    admin-ssl crt %s key %s\n",
                              p->crt, p->key);
        ssl_line = ++line;
    }
    if (p->stats) {
        n += (size_t)snprintf(global + n, sizeof(global) - n, "    stats 127.0.0.1:%d\n", p->stats);
        stats_line = ++line;
    }
    return write_file(fx.conf,
                      "%s"
                      "listen rw\n"
                      "    bind 127.0.0.1:%d\n"
                      "    server master 127.0.0.1:%d\n",
                      global, fx.rw_port, cluster_port("master"));
}

static void start(const struct ports *p)
{
    assert_int_equal(write_conf(p), 0);
    assert_int_equal(router_start(&fx.router, fx.conf, fx.rw_port), 0);
}

/* Write P and SIGHUP the router; true once its log holds EXPECT (after the signal). */
static bool reload(const struct ports *p, const char *expect)
{
    long from = file_size(fx.router.err);

    assert_int_equal(write_conf(p), 0);
    kill(fx.router.pid, SIGHUP);
    return wait_for_file_line_from(fx.router.err, from, expect, WAIT_MS);
}

/* The reload of P must be refused with "FILE:LINE: WHAT". */
static void reload_refused(const struct ports *p, int line, const char *what)
{
    char want[1024];

    snprintf(want, sizeof(want), "reload failed, keeping the running configuration: %s:%d: %s",
             fx.conf, line, what);
    if (!reload(p, want))
        fail_msg("no log line \"%s\"", want);
}

static void log_has(long from, const char *needle)
{
    if (!wait_for_file_line_from(fx.router.err, from, needle, WAIT_MS))
        fail_msg("no log line \"%s\"", needle);
}

/* ---- clients ---- */

/* Is a TCP connect to 127.0.0.1:PORT refused (nothing listens there)? */
static bool refused(int port)
{
    struct sockaddr_in sa = loopback_addr(port);
    int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

    assert_true(fd >= 0);
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    close(fd);
    return rc < 0 && errno == ECONNREFUSED;
}

/* Does USER/PW log in on PORT (without TLS) and run a statement? */
static bool admin_works(int port, const char *user, const char *pw)
{
    MYSQL *m = client_connect(port, user, pw, NULL, 5);
    bool ok = m && client_query(m, "SELECT COUNT(*) FROM servers") == 0;

    if (m)
        mysql_close(m);
    return ok;
}

/* An admin login that asks for TLS (MYSQL_OPT_SSL_ENFORCE) and, with CA, insists on a
 * certificate that chains to CA and names 127.0.0.1. NULL when the login fails or the session
 * does not run over TLS (this Connector/C goes on without TLS when it verifies nothing). */
static MYSQL *admin_tls(int port, const char *ca)
{
    unsigned timeout = 5;
    my_bool on = 1, off = 0;
    MYSQL *m = mysql_init(NULL);

    assert_non_null(m);
    client_options(m, timeout);
    mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &on);
    if (ca) {
        mysql_options(m, MYSQL_OPT_SSL_CA, ca);
        mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
    } else {
        mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &off);
    }
    if (!mysql_real_connect(m, "127.0.0.1", "admin", ADMIN_PW, NULL, (unsigned)port, NULL, 0)) {
        printf("TLS login on %d: %u %s\n", port, mysql_errno(m), mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    if (!mysql_get_ssl_cipher(m)) {
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* Does a TLS login (see admin_tls) work and run a statement? */
static bool admin_tls_works(int port, const char *ca)
{
    MYSQL *m = admin_tls(port, ca);
    bool ok = m && client_query(m, "SELECT 1") == 0;

    if (m)
        mysql_close(m);
    return ok;
}

/* A connection to the stats port that has sent the first part of a request for /metrics. */
static int stats_begin(int port)
{
    static const char head[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    struct sockaddr_in sa = loopback_addr(port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        send(fd, head, sizeof(head) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(head) - 1) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read the answer to a request on fd and close it: its HTTP status, or -1. */
static int stats_answer(int fd)
{
    char buf[4096];
    size_t len = 0;
    int64_t deadline = now_ms() + 5000;
    int status = -1;

    while (len < sizeof(buf) - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        ssize_t n;

        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    if (sscanf(buf, "HTTP/1.1 %d ", &status) != 1)
        return -1;
    return status;
}

/* End the request stats_begin() started and read the answer: its HTTP status, or -1. */
static int stats_end(int fd)
{
    if (send(fd, "\r\n", 2, MSG_NOSIGNAL) != 2) {
        close(fd);
        return -1;
    }
    return stats_answer(fd);
}

/* End a request that stats_begin() started at BEGAN (now_ms()) and was held across a reload:
 * it must be answered as usual. A 200 proves it; but a slow machine may take longer than the
 * request's own budget to reload, and the 408 rebound then sends is just as much an answer
 * from the port's usual machinery - only not one that can come before the budget ran out.
 * A connection the reload dropped or left unserved gets no answer at all (-1). */
static void stats_end_held(int fd, int64_t began)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    /* Already answered (408, then closed): writing the rest would only draw a reset. */
    int status = poll(&p, 1, 0) == 1 ? stats_answer(fd) : stats_end(fd);
    int64_t took = now_ms() - began;

    if (status == 408 && took >= STATS_BUDGET_MS)
        printf("the reload outlasted the held request's %d ms: answered 408 after %lld ms\n",
               STATS_BUDGET_MS, (long long)took);
    else if (status != 200)
        fail_msg("held stats request: status %d after %lld ms, want 200", status, (long long)took);
}

/* Begin a request on PORT that the router has surely accepted: a second, whole request made
 * after it is answered, and the router accepts the connections of a port in the order they
 * came. (Without this a reload can close the listening socket while the held connection still
 * waits in its backlog: reset, and no answer.) The held connection, or -1. */
static int stats_begin_accepted(int port)
{
    int fd = stats_begin(port);

    if (fd >= 0 && stats_get(port, "/metrics", NULL, 0, WAIT_MS) != 200) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- fixtures ---- */

static int make_cert(const char *cn, const char *c, const char *k)
{
    char cmd[2048], out[4096];

    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=%s "
             "-addext subjectAltName=IP:127.0.0.1 -keyout %s -out %s",
             cn, k, c);
    char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    if (run_command(argv, out, sizeof(out), 30000) != 0) {
        fprintf(stderr, "openssl: %s\n", out);
        return -1;
    }
    return 0;
}

/* Copy FROM over TO (a certificate renewed under the same file name). */
static int copy_file(const char *from, const char *to)
{
    char *text = read_file(from);
    int rc = text ? write_file(to, "%s", text) : -1;

    free(text);
    return rc;
}

static int group_setup(void **state)
{
    if (harness_group_setup(state) != 0)
        return -1;
    harness_path(crt1, sizeof(crt1), "ports-crt1.pem");
    harness_path(key1, sizeof(key1), "ports-key1.pem");
    harness_path(crt2, sizeof(crt2), "ports-crt2.pem");
    harness_path(key2, sizeof(key2), "ports-key2.pem");
    harness_path(crt, sizeof(crt), "ports-crt.pem");
    harness_path(key, sizeof(key), "ports-key.pem");
    if (make_cert("rebound-one", crt1, key1) < 0 || make_cert("rebound-two", crt2, key2) < 0)
        return -1;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    if (fixture_init(&fx, "ports", NULL) != 0)
        return -1;
    return copy_file(crt1, crt) < 0 || copy_file(key1, key) < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&fx);
}

/* ---- scenarios ---- */

/* admin-ssl added on SIGHUP: TLS is offered from then on, to a client that insists on it. */
static void test_admin_ssl_added(void **state)
{
    struct ports p = {.admin = free_port()};
    long from;
    (void)state;

    start(&p);
    assert_false(admin_tls_works(p.admin, NULL)); /* no TLS yet */
    assert_false(admin_tls_works(p.admin, crt1));
    from = file_size(fx.router.err);
    p.crt = crt;
    p.key = key;
    assert_true(reload(&p, "reloaded"));
    assert_true(admin_tls_works(p.admin, NULL));
    assert_true(admin_tls_works(p.admin, crt1));
    log_has(from, "admin: TLS now offered");
    assert_true(admin_works(p.admin, "admin", ADMIN_PW)); /* TLS stays optional */
}

/* A certificate renewed under the same file name is picked up; a TLS session opened before
 * goes on; admin-ssl removed stops offering TLS. */
static void test_admin_ssl_renewed_and_removed(void **state)
{
    struct ports p = {.admin = free_port(), .crt = crt, .key = key};
    MYSQL *before;
    long from;
    (void)state;

    start(&p);
    assert_non_null(before = admin_tls(p.admin, crt1));
    assert_false(admin_tls_works(p.admin, crt2));
    assert_int_equal(copy_file(crt2, crt), 0);
    assert_int_equal(copy_file(key2, key), 0);
    from = file_size(fx.router.err);
    assert_true(reload(&p, "reloaded"));
    assert_true(admin_tls_works(p.admin, crt2));
    assert_false(admin_tls_works(p.admin, crt1));
    log_has(from, "admin: TLS certificate reloaded from");
    assert_int_equal(client_query(before, "SELECT COUNT(*) FROM sessions"), 0);

    from = file_size(fx.router.err);
    p.crt = p.key = NULL;
    assert_true(reload(&p, "reloaded"));
    assert_false(admin_tls_works(p.admin, NULL));
    assert_true(admin_works(p.admin, "admin", ADMIN_PW));
    log_has(from, "admin: TLS no longer offered");
    assert_int_equal(client_query(before, "SELECT 1"), 0);
    mysql_close(before);
}

/* New accounts: the old password no longer logs in, the new one and a new read-only user do,
 * and a session logged in with the old password goes on. */
static void test_admin_accounts_changed(void **state)
{
    struct ports p = {.admin = free_port()};
    MYSQL *before;
    long from;
    (void)state;

    start(&p);
    assert_non_null(before = client_connect(p.admin, "admin", ADMIN_PW, NULL, 5));
    assert_false(admin_works(p.admin, "viewer", VIEW_PW));
    from = file_size(fx.router.err);
    p.pw = OTHER_PW;
    p.viewer = true;
    assert_true(reload(&p, "reloaded"));
    assert_null(client_connect(p.admin, "admin", ADMIN_PW, NULL, 5));
    assert_int_equal(client_errno(), 1045);
    assert_true(admin_works(p.admin, "admin", OTHER_PW));
    assert_true(admin_works(p.admin, "viewer", VIEW_PW));
    assert_int_equal(client_query(before, "SELECT COUNT(*) FROM servers"), 0);
    log_has(from, "admin: accounts changed");
    mysql_close(before);
}

/* Both ports move: they answer on the new ports only, and an admin session and a stats request
 * under way on the old ones finish normally. */
static void test_ports_moved(void **state)
{
    struct ports p = {.admin = free_port(), .stats = free_port()};
    int old_admin = p.admin, old_stats = p.stats, held_stats;
    int64_t held_since;
    MYSQL *held_admin;
    char line[128];
    long from;
    (void)state;

    start(&p);
    assert_int_equal(stats_get(p.stats, "/metrics", NULL, 0, WAIT_MS), 200);
    assert_non_null(held_admin = client_connect(p.admin, "admin", ADMIN_PW, NULL, 5));
    from = file_size(fx.router.err);
    p.admin = free_port();
    p.stats = free_port();
    held_since = now_ms();
    assert_true((held_stats = stats_begin_accepted(old_stats)) >= 0);
    assert_true(reload(&p, "reloaded"));
    /* Under way on the old ports: finished there. */
    stats_end_held(held_stats, held_since);
    assert_int_equal(client_query(held_admin, "SELECT COUNT(*) FROM sessions"), 0);
    mysql_close(held_admin);
    assert_true(admin_works(p.admin, "admin", ADMIN_PW));
    assert_int_equal(stats_get(p.stats, "/metrics", NULL, 0, WAIT_MS), 200);
    assert_true(refused(old_admin));
    assert_true(refused(old_stats));
    snprintf(line, sizeof(line), "admin: accepting on 127.0.0.1:%d", p.admin);
    log_has(from, line);
    snprintf(line, sizeof(line), "admin: no longer accepting on 127.0.0.1:%d", old_admin);
    log_has(from, line);
    snprintf(line, sizeof(line), "stats: serving HTTP on 127.0.0.1:%d", p.stats);
    log_has(from, line);
    snprintf(line, sizeof(line), "stats: no longer serving HTTP on 127.0.0.1:%d", old_stats);
    log_has(from, line);
}

/* Both ports switched on by a reload, then off by another. */
static void test_ports_switched_on_and_off(void **state)
{
    struct ports p = {0};
    int admin = free_port(), stats = free_port();
    (void)state;

    start(&p);
    p.admin = admin;
    p.stats = stats;
    assert_true(reload(&p, "reloaded"));
    assert_true(admin_works(admin, "admin", ADMIN_PW));
    assert_int_equal(stats_get(stats, "/metrics", NULL, 0, WAIT_MS), 200);
    memset(&p, 0, sizeof(p));
    assert_true(reload(&p, "reloaded"));
    assert_true(refused(admin));
    assert_true(refused(stats));
    assert_int_equal(client_port_via(fx.rw_port), cluster_port("master"));
}

/* A new admin or stats address that is taken rejects the whole reload with its file:line;
 * nothing of it is applied (not even the other port's move), and the running ports work on. */
static void test_taken_port_rejects_reload(void **state)
{
    struct ports p = {.admin = free_port(), .stats = free_port()}, q;
    int taken = free_port(), fd = loopback_listen(taken, 4), other = free_port();
    char what[128];
    (void)state;

    assert_true(fd >= 0);
    start(&p);
    q = p;
    q.admin = taken;
    snprintf(what, sizeof(what), "admin: cannot bind 127.0.0.1:%d: Address already in use", taken);
    reload_refused(&q, admin_line, what);
    assert_true(admin_works(p.admin, "admin", ADMIN_PW));

    q = p;
    q.admin = other;
    q.stats = taken;
    snprintf(what, sizeof(what), "stats: cannot bind 127.0.0.1:%d: Address already in use", taken);
    reload_refused(&q, stats_line, what);
    assert_true(refused(other));
    assert_true(admin_works(p.admin, "admin", ADMIN_PW));
    assert_int_equal(stats_get(p.stats, "/metrics", NULL, 0, WAIT_MS), 200);
    close(fd);
}

/* An admin-ssl certificate that does not load rejects the reload with its file:line; the port
 * keeps its address and offers TLS with the certificate it had. */
static void test_bad_certificate_rejects_reload(void **state)
{
    struct ports p = {.admin = free_port(), .crt = crt, .key = key}, q;
    char missing[600];
    (void)state;

    start(&p);
    snprintf(missing, sizeof(missing), "%s.missing", crt);
    q = p;
    q.admin = free_port();
    q.crt = missing;
    reload_refused(&q, ssl_line, "admin-ssl: cannot load certificate");
    assert_true(refused(q.admin));
    assert_true(admin_tls_works(p.admin, crt1));

    q = p;
    q.key = crt2; /* a certificate, not the key of crt */
    reload_refused(&q, ssl_line, "admin-ssl: cannot load key");
    assert_true(admin_tls_works(p.admin, crt1));
}

/* A reload that changes nothing of either port leaves them and their connections alone. */
static void test_other_reload_leaves_ports_alone(void **state)
{
    struct ports p = {.admin = free_port(), .crt = crt, .key = key, .stats = free_port()};
    int held_stats;
    int64_t held_since;
    MYSQL *held_admin;
    long from;
    (void)state;

    start(&p);
    assert_non_null(held_admin = admin_tls(p.admin, crt1));
    from = file_size(fx.router.err);
    held_since = now_ms();
    assert_true((held_stats = stats_begin_accepted(p.stats)) >= 0);
    assert_true(reload(&p, "reloaded"));
    stats_end_held(held_stats, held_since);
    assert_int_equal(count_file_lines(fx.router.err, from, "admin:"), 0);
    /* Nothing but the held request's timeout, if a slow reload made it one (see above). */
    assert_int_equal(count_file_lines(fx.router.err, from, "stats:"),
                     count_file_lines(fx.router.err, from, "stats: closed a connection from"));
    assert_int_equal(client_query(held_admin, "SELECT COUNT(*) FROM servers"), 0);
    mysql_close(held_admin);
    assert_true(admin_tls_works(p.admin, crt1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin_ssl_added, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_ssl_renewed_and_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_accounts_changed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ports_moved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ports_switched_on_and_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_taken_port_rejects_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_certificate_rejects_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_reload_leaves_ports_alone, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, harness_group_teardown);
}
