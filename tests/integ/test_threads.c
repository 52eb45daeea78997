/* test_threads.c - worker threads against a real master + 2 replicas: sessions spread over the
 * workers and every admin view, KILL and counter sees all of them exactly; maxconn holds across
 * workers; a failback pass kills the backup sessions of every worker and one log line counts
 * them all; leastconn counts every worker's sessions; a reload carries sessions of every worker
 * over, and refuses to change the number of threads. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

#define ADMIN_PW    "Threads-admin-pw"
#define LOG_WAIT_MS 30000 /* bound for a wait: TSan on a loaded 2-core box is slow */
#define NSESS       40    /* sessions a test holds */
#define NMANY       900   /* sessions one DELETE kills */

/* The router of one test: listen rw (master, replicas as backups), listen lc (the two replicas
 * as actives, balance leastconn), the admin port; fx.held holds the test's sessions. */
static struct router_fixture fx;
static int lc_port;           /* listen lc */
static int nthreads, maxconn; /* the router's threads and maxconn */

_Static_assert(NSESS <= FIXTURE_MAX_HELD, "fx.held holds a test's sessions");

/* No test expects `timeout check` or `timeout connect` to run out: they are long enough that a
 * check or connect slowed down by a loaded box never takes a server DOWN (fall 2). */
static int write_conf(int threads)
{
    return write_file(
        fx.conf,
        "# written by test_threads.c\n"
        "global\n"
        "    threads %d\n"
        "    maxconn %d\n"
        "    health-log file %s\n"
        "    admin 127.0.0.1:%d user admin password \"" ADMIN_PW "\"\n"
        "defaults\n"
        "    check mysql user rebound_check password \"check-pass\"\n"
        "    inter 200ms  fastinter 100ms  downinter 200ms  rise 2  fall 2  timeout check 3s\n"
        "    timeout connect 3s  timeout client 1m  timeout server 1m\n"
        "listen rw\n"
        "    bind 127.0.0.1:%d\n"
        "    server master   127.0.0.1:%d check on-marked-up shutdown-backup-sessions\n"
        "    server replica1 127.0.0.1:%d check backup\n"
        "    server replica2 127.0.0.1:%d check backup\n"
        "listen lc\n"
        "    bind 127.0.0.1:%d\n"
        "    balance leastconn\n"
        "    server replica1 127.0.0.1:%d check\n"
        "    server replica2 127.0.0.1:%d check\n",
        threads, maxconn, fx.health_log, fx.admin_port, fx.rw_port, cluster_port("master"),
        cluster_port("replica1"), cluster_port("replica2"), lc_port, cluster_port("replica1"),
        cluster_port("replica2"));
}

/* Wait (bounded) until every server passed a check and sits at the top of its health counter:
 * until then one slow check would take it DOWN and route the sessions elsewhere. 0 or -1. */
static int wait_all_checked(void)
{
    int64_t deadline = now_ms() + LOG_WAIT_MS;
    char err[256] = "";
    long long v = -1;

    for (;;) {
        if (admin_number(fx.admin_port, "admin", ADMIN_PW,
                         "SELECT COUNT(*) FROM servers WHERE health < rise + fall - 1", &v, err,
                         sizeof(err)) == 0 &&
            v == 0)
            return 0;
        if (now_ms() >= deadline)
            break;
        sleep_ms(50);
    }
    fprintf(stderr, "servers not all checked UP after %d ms: %lld left, %s\n", LOG_WAIT_MS, v, err);
    return -1;
}

/* A router with THREADS workers and MAXCONN on fresh ports. */
static int start(int threads, int max)
{
    if (fixture_init(&fx, "threads", ADMIN_PW) != 0)
        return -1;
    lc_port = free_port();
    nthreads = threads;
    maxconn = max;
    if (lc_port < 0 || write_conf(threads) != 0)
        return -1;
    if (router_start(&fx.router, fx.conf, fx.rw_port) != 0)
        return -1;
    return wait_all_checked();
}

static int setup2(void **state)
{
    (void)state;
    return start(2, 1000);
}

static int setup1(void **state)
{
    (void)state;
    return start(1, 1000);
}

static int setup_maxconn(void **state)
{
    (void)state;
    return start(2, 6);
}

static int teardown(void **state)
{
    (void)state;
    return fixture_teardown(&fx);
}

/* Fail unless a health-log line after FROM holds NEEDLE within LOG_WAIT_MS. */
static void expect_log_line(long from, const char *needle)
{
    expect_file_line(fx.health_log, from, needle, LOG_WAIT_MS);
}

/* First column of the first row of an admin statement. */
static long long admin(const char *sql)
{
    return fixture_admin_int(&fx, "%s", sql);
}

/* Run an admin statement that returns no rows. */
static void admin_exec(const char *sql)
{
    MYSQL *m = client_connect(fx.admin_port, "admin", ADMIN_PW, NULL, 5);

    if (!m)
        fail_msg("admin login: %u %s", client_errno(), client_error());
    if (client_query(m, sql) != 0)
        fail_msg("admin: %s: %u %s", sql, client_errno(), client_error());
    mysql_close(m);
}

/* How many workers hold sessions (matching WHERE, "" for all): a session id names its worker,
 * (id - 1) % threads. */
static long long workers_seen(const char *where)
{
    char sql[200];

    snprintf(sql, sizeof(sql), "SELECT COUNT(DISTINCT (id - 1) %% %d) FROM sessions %s", nthreads,
             where);
    return admin(sql);
}

/* Open N sessions through PORT, each with a query; keep them in fx.held. */
static void hold(int port, int n)
{
    for (int i = 0; i < n; i++) {
        fx.held[i] = client_connect_app(port);
        if (!fx.held[i])
            fail_msg("session %d: %u %s", i, client_errno(), client_error());
        assert_int_equal(client_query(fx.held[i], "SELECT 1"), 0);
    }
}

/* Sessions are spread over both workers (the id says which), every admin view sees all of
 * them, the servers' counters are the exact sum of the sessions', and KILL / DELETE reach
 * sessions of either worker. */
static void test_sessions_of_every_worker(void **state)
{
    long long bytes_before, bytes_after, killed_before;
    char sql[160];
    (void)state;

    bytes_before = admin("SELECT bytes_in FROM servers WHERE listener = 'rw' AND name = 'master'");
    killed_before = admin("SELECT value FROM status WHERE name = 'sessions_killed'");
    hold(fx.rw_port, NSESS);
    assert_int_equal(admin("SELECT COUNT(*) FROM sessions"), NSESS);
    assert_int_equal(workers_seen(""), nthreads);
    assert_int_equal(admin("SELECT sessions_current FROM servers WHERE listener = 'rw' AND "
                           "name = 'master'"),
                     NSESS);
    assert_int_equal(admin("SELECT value FROM status WHERE name = 'sessions_alive'"), NSESS);
    /* Bytes: every byte a live session passed is in its server's counter, and nothing else
     * passed since the first reading. */
    bytes_after = admin("SELECT bytes_in FROM servers WHERE listener = 'rw' AND name = 'master'");
    assert_int_equal(bytes_after - bytes_before, admin("SELECT SUM(bytes_in) FROM sessions"));

    /* KILL the newest session of each worker: its client loses the connection. */
    for (int w = 0; w < nthreads; w++) {
        long long id;
        snprintf(sql, sizeof(sql), "SELECT MAX(id) FROM sessions WHERE (id - 1) %% %d = %d",
                 nthreads, w);
        id = admin(sql);
        assert_true(id > 0);
        snprintf(sql, sizeof(sql), "KILL %lld", id);
        admin_exec(sql);
        snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM sessions WHERE id = %lld", id);
        assert_int_equal(admin(sql), 0);
    }
    assert_int_equal(admin("SELECT COUNT(*) FROM sessions"), NSESS - nthreads);
    admin_exec("DELETE FROM sessions");
    assert_int_equal(admin("SELECT COUNT(*) FROM sessions"), 0);
    assert_int_equal(
        admin("SELECT value FROM status WHERE name = 'sessions_killed'") - killed_before, NSESS);
    /* Every held client lost its session. */
    for (int i = 0; i < NSESS; i++)
        assert_int_not_equal(client_query(fx.held[i], "SELECT 1"), 0);
    assert_int_equal(admin("SELECT sessions_current FROM servers WHERE listener = 'rw' AND "
                           "name = 'master'"),
                     0);
}

/* One DELETE kills every session of every worker, however many: the kills come after the
 * statement's budgeted SQLite work, under one barrier, so hundreds of them fit. (Each used to
 * park the workers in turn inside the statement, and 38 of them ran out of its 5 ms step
 * under ThreadSanitizer.) The clients are plain sockets that got the master's greeting. */
static void test_delete_many_sessions(void **state)
{
    static int fds[NMANY];
    unsigned char buf[256];
    long long killed_before;
    struct rlimit rl;
    MYSQL *m;
    (void)state;

    /* Room for the sockets under a soft limit of 1024. */
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2 * NMANY && rl.rlim_max >= 2 * NMANY) {
        rl.rlim_cur = 2 * NMANY;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    killed_before = admin("SELECT value FROM status WHERE name = 'sessions_killed'");
    for (int i = 0; i < NMANY; i++) {
        fds[i] = loopback_connect(fx.rw_port);
        assert_true(fds[i] >= 0);
    }
    for (int i = 0; i < NMANY; i++)
        assert_true(read_packet(fds[i], buf, sizeof(buf), LOG_WAIT_MS) > 0);
    assert_int_equal(admin("SELECT COUNT(*) FROM sessions"), NMANY);
    assert_int_equal(workers_seen(""), nthreads);

    /* A generous read timeout: the statement waits for every kill (a DELETE that hangs still
     * fails). */
    m = client_connect(fx.admin_port, "admin", ADMIN_PW, NULL, LOG_WAIT_MS / 1000);
    assert_non_null(m);
    if (client_query(m, "DELETE FROM sessions") != 0)
        fail_msg("DELETE FROM sessions: %u %s", client_errno(), client_error());
    assert_int_equal(mysql_affected_rows(m), NMANY);
    mysql_close(m);

    assert_int_equal(admin("SELECT COUNT(*) FROM sessions"), 0);
    assert_int_equal(
        admin("SELECT value FROM status WHERE name = 'sessions_killed'") - killed_before, NMANY);
    for (int i = 0; i < NMANY; i++) {
        assert_true(read_until_eof(fds[i], LOG_WAIT_MS) >= 0); /* the client lost its session */
        close(fds[i]);
    }
}

/* maxconn counts the sessions of every worker: at the limit nothing more is accepted (the
 * client waits without a greeting), and one session ending lets the waiting client in. */
static void test_maxconn_across_workers(void **state)
{
    unsigned char buf[256];
    int fd;
    (void)state;

    hold(fx.rw_port, maxconn);
    assert_int_equal(workers_seen(""), 2);
    fd = loopback_connect(fx.rw_port);
    assert_true(fd >= 0);
    /* A quiet window: a slow machine can only hide a greeting that should not come. */
    assert_true(read_packet(fd, buf, sizeof(buf), 700) < 0); /* no greeting: not accepted */
    mysql_close(fx.held[0]);
    fx.held[0] = NULL;
    /* Accepted once there was room; a client left waiting for good fails at the bound. */
    assert_true(read_packet(fd, buf, sizeof(buf), LOG_WAIT_MS) > 0);
    close(fd);
}

/* The failback pass runs in every worker: each worker's sessions on the backups go, and one
 * log line counts them all. */
static void test_failback_in_every_worker(void **state)
{
    long from;
    char line[160];
    (void)state;

    from = file_size(fx.health_log);
    assert_int_equal(cluster_stop_one("master"), 0);
    expect_log_line(from, "Server rw/master is DOWN");
    hold(fx.rw_port, NSESS);
    for (int i = 0; i < NSESS; i++)
        assert_int_equal(client_server_port(fx.held[i]), cluster_port("replica1"));
    assert_int_equal(workers_seen("WHERE server = 'rw/replica1'"), nthreads);
    from = file_size(fx.health_log);
    assert_int_equal(cluster_start_one("master"), 0);
    expect_log_line(from, "Server rw/master is UP");
    snprintf(line, sizeof(line),
             "Killed %d sessions on backup servers of rw after rw/master came UP", NSESS);
    expect_log_line(from, line);
    for (int i = 0; i < NSESS; i++)
        assert_int_not_equal(client_query(fx.held[i], "SELECT 1"), 0);
    assert_int_equal(admin("SELECT sessions_current FROM servers WHERE listener = 'rw' AND "
                           "name = 'replica1'"),
                     0);
    assert_int_equal(client_port_via(fx.rw_port), cluster_port("master"));
}

/* leastconn compares every worker's sessions: sessions alternate between the two replicas. */
static void test_leastconn_across_workers(void **state)
{
    int on1 = 0, on2 = 0;
    (void)state;

    hold(lc_port, 10);
    for (int i = 0; i < 10; i++) {
        int port = client_server_port(fx.held[i]);
        on1 += port == cluster_port("replica1");
        on2 += port == cluster_port("replica2");
    }
    assert_int_equal(on1, 5);
    assert_int_equal(on2, 5);
    assert_int_equal(admin("SELECT SUM(sessions_current) FROM servers WHERE listener = 'lc'"), 10);
}

/* A reload carries the sessions of every worker over to the new configuration; a reload that
 * changes `threads` is refused with file:line and changes nothing. */
static void test_reload_across_workers(void **state)
{
    long from;
    (void)state;

    hold(fx.rw_port, 10);
    assert_int_equal(workers_seen(""), 2);
    /* Same threads: sessions carry over. */
    from = file_size(fx.router.err);
    assert_int_equal(kill(fx.router.pid, SIGHUP), 0);
    assert_true(wait_for_file_line_from(fx.router.err, from, "reloaded", LOG_WAIT_MS));
    for (int i = 0; i < 10; i++)
        assert_int_equal(client_query(fx.held[i], "SELECT 1"), 0);
    assert_int_equal(admin("SELECT sessions_current FROM servers WHERE listener = 'rw' AND "
                           "name = 'master'"),
                     10);
    /* Another number of threads: refused, pointing at the line. */
    assert_int_equal(write_conf(1), 0);
    from = file_size(fx.router.err);
    assert_int_equal(kill(fx.router.pid, SIGHUP), 0);
    assert_true(wait_for_file_line_from(fx.router.err, from,
                                        ":3: 'threads' changed from 2 to 1; the worker threads are "
                                        "set at start, restart rebound to change them",
                                        LOG_WAIT_MS));
    for (int i = 0; i < 10; i++)
        assert_int_equal(client_query(fx.held[i], "SELECT 1"), 0);
    assert_int_equal(workers_seen(""), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sessions_of_every_worker, setup2, teardown),
        cmocka_unit_test_setup_teardown(test_sessions_of_every_worker, setup1, teardown),
        cmocka_unit_test_setup_teardown(test_delete_many_sessions, setup2, teardown),
        cmocka_unit_test_setup_teardown(test_maxconn_across_workers, setup_maxconn, teardown),
        cmocka_unit_test_setup_teardown(test_failback_in_every_worker, setup2, teardown),
        cmocka_unit_test_setup_teardown(test_leastconn_across_workers, setup2, teardown),
        cmocka_unit_test_setup_teardown(test_reload_across_workers, setup2, teardown),
    };

    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
