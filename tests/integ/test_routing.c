/* test_routing.c - routing and failover through rebound against a real master + 2 replicas:
 * where new sessions land, redispatch on refused connects, killing backup sessions when the
 * master comes back, killing sessions of a server that goes DOWN, "no server available", and
 * logins that wait inside rebound for a busy master (max-connecting). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define HELD_SESSIONS  20    /* sessions held on replica1 while the master comes back */
#define BURST_CONNECTS 50    /* connects right after the master stopped */
#define LOG_WAIT_MS    30000 /* bound for any health-log line to appear */
#define HELD_TIMEOUT_S 20    /* read timeout of the sessions a test holds */
/* A query on a killed session fails at once; on a session left open it waits on a frozen
 * master for the whole read timeout (or works, on a live backup). Half of that timeout tells
 * the two apart on however slow a machine. */
#define CLOSED_FAST_MS (HELD_TIMEOUT_S * 1000 / 2)

/* The router of a test; fx.held holds the sessions a test keeps open. */
static struct router_fixture fx;
static int dead_port;      /* listen dead: two checked servers on closed ports */
static int unchecked_port; /* listen unchecked: one unchecked server on a closed port */

_Static_assert(HELD_SESSIONS <= FIXTURE_MAX_HELD, "fx.held holds the held sessions");

/* Fail the test with the health log attached unless a line containing needle appears after
 * offset `from` within LOG_WAIT_MS. */
static void expect_log_line(long from, const char *needle)
{
    expect_file_line(fx.health_log, from, needle, LOG_WAIT_MS);
}

/* Start a router with fast check timings on fresh ports and a fresh health log. The check,
 * connect and greeting timeouts leave a slow router room to see a healthy server pass (a
 * spurious DOWN would move clients to another server); only a frozen master must trip them. */
static int setup(void **state)
{
    (void)state;
    if (fixture_init(&fx, "routing", NULL) != 0)
        return -1;
    dead_port = free_port();
    unchecked_port = free_port();
    if (dead_port < 0 || unchecked_port < 0)
        return -1;
    return fixture_start(
        &fx, fx.rw_port,
        "# written by test_routing.c\n"
        "global\n"
        "    maxconn 1000\n"
        "    health-log file %s\n"
        "defaults\n"
        "    check mysql user rebound_check password \"check-pass\"\n"
        "    inter 200ms  fastinter 100ms  downinter 200ms  rise 2  fall 2  timeout check 2s\n"
        "    timeout connect 2s  timeout greeting 2s  timeout client 1m  timeout server 1m\n"
        "    retries 2\n"
        "listen rw\n"
        "    bind 127.0.0.1:%d\n"
        "    server master   127.0.0.1:%d check on-marked-up shutdown-backup-sessions "
        "on-marked-down shutdown-sessions\n"
        "    server replica1 127.0.0.1:%d check backup\n"
        "    server replica2 127.0.0.1:%d check backup\n"
        "listen dead\n"
        "    bind 127.0.0.1:%d\n"
        "    server gone1 127.0.0.1:%d check\n"
        "    server gone2 127.0.0.1:%d check backup\n"
        "listen unchecked\n"
        "    bind 127.0.0.1:%d\n"
        "    server gone3 127.0.0.1:%d no-check\n",
        fx.health_log, fx.rw_port, cluster_port("master"), cluster_port("replica1"),
        cluster_port("replica2"), dead_port, free_port(), free_port(), unchecked_port, free_port());
}

/* Close the sessions, stop the router (clean exit, no sanitizer report) and undo any fault a
 * test injected. */
static int teardown(void **state)
{
    (void)state;
    return fixture_teardown(&fx);
}

/* Stop the master and wait until rebound has marked it DOWN. */
static void take_master_down(void)
{
    long from = file_size(fx.health_log);

    assert_int_equal(cluster_stop_one("master"), 0);
    expect_log_line(from, "Server rw/master is DOWN");
}

/* Start the master again and wait until rebound has marked it UP; returns the log offset taken
 * before the start, for checks on what followed. */
static long bring_master_up(void)
{
    long from = file_size(fx.health_log);

    assert_int_equal(cluster_start_one("master"), 0);
    expect_log_line(from, "Server rw/master is UP");
    return from;
}

/* Assert a new client through rw lands on the server listening on want_port. */
static void expect_new_client_on(int want_port, const char *what)
{
    int port = client_port_via(fx.rw_port);

    if (port != want_port)
        fail_msg("new client landed on port %d, want %d (%s); client error %u: %s", port, want_port,
                 what, client_errno(), client_error());
}

/* Assert a query on m fails because rebound closed the session (an idle one reads its ERR 1927,
 * a busy one a lost connection, 2013/2006) within CLOSED_FAST_MS. */
static void expect_session_closed(MYSQL *m, int i)
{
    int64_t t0 = now_ms();
    int err = client_query(m, "SELECT 1");
    int64_t took = now_ms() - t0;

    if (!closed_by_router(err))
        fail_msg("session %d: query gave %d (%s), want rebound's 1927 or a lost connection", i, err,
                 err ? client_error() : "it still works");
    if (took >= CLOSED_FAST_MS)
        fail_msg("session %d: query took %lld ms to fail: timed out, was not closed", i,
                 (long long)took);
}

/* Every new client lands on the master while it is UP. */
static void test_clients_land_on_master(void **state)
{
    int i;

    (void)state;
    for (i = 0; i < 10; i++)
        expect_new_client_on(cluster_port("master"), "master UP");
}

/* Make BURST_CONNECTS sequential connects through rw right away and assert that every one
 * succeeds and lands on replica1: while rebound still believes the dead master UP, a refused
 * connect must be redispatched to the next candidate, never reach the client. */
static void expect_burst_lands_on_replica1(void)
{
    int i, port, failed = 0, elsewhere = 0;

    for (i = 0; i < BURST_CONNECTS; i++) {
        port = client_port_via(fx.rw_port);
        if (port < 0) {
            failed++;
            fprintf(stderr, "connect %d failed: %u %s\n", i, client_errno(), client_error());
        } else if (port != cluster_port("replica1")) {
            elsewhere++;
        }
    }
    assert_int_equal(failed, 0);
    assert_int_equal(elsewhere, 0);
}

/* A cleanly stopped master: no connect fails, and it is marked DOWN then UP again. */
static void test_master_stop_redispatches(void **state)
{
    long from = file_size(fx.health_log);

    (void)state;
    assert_int_equal(cluster_stop_one("master"), 0);
    expect_burst_lands_on_replica1();
    expect_log_line(from, "Server rw/master is DOWN");
    bring_master_up();
    expect_new_client_on(cluster_port("master"), "master back UP");
}

/* A master killed with SIGKILL: the kernel closes its sockets, so a session held on it fails
 * at once (not after a timeout), and no new connect fails. */
static void test_master_kill9_redispatches(void **state)
{
    long from = file_size(fx.health_log);

    (void)state;
    fx.held[0] = client_connect(fx.rw_port, "app", "app-pass", "appdb", HELD_TIMEOUT_S);
    assert_non_null(fx.held[0]);
    assert_int_equal(client_server_port(fx.held[0]), cluster_port("master"));
    assert_int_equal(cluster_kill9("master"), 0);
    expect_session_closed(fx.held[0], 0);
    fixture_close_held(&fx);
    expect_burst_lands_on_replica1();
    expect_log_line(from, "Server rw/master is DOWN");
    bring_master_up();
    expect_new_client_on(cluster_port("master"), "master restarted after kill -9");
}

/* Sessions held on replica1 while the master is down are all killed, in one pass logged with
 * their count, once the master is UP again; new clients then land on the master. */
static void test_master_up_kills_backup_sessions(void **state)
{
    MYSQL **held = fx.held;
    char killed[128];
    long from;
    int i, up, kill;

    (void)state;
    take_master_down();
    for (i = 0; i < HELD_SESSIONS; i++) {
        held[i] = client_connect(fx.rw_port, "app", "app-pass", "appdb", HELD_TIMEOUT_S);
        if (!held[i])
            fail_msg("session %d: %u %s", i, client_errno(), client_error());
        assert_int_equal(client_server_port(held[i]), cluster_port("replica1"));
    }
    from = bring_master_up();
    snprintf(killed, sizeof(killed),
             "Killed %d sessions on backup servers of rw after rw/master came UP", HELD_SESSIONS);
    expect_log_line(from, killed);
    up = file_line_index(fx.health_log, from, "Server rw/master is UP");
    kill = file_line_index(fx.health_log, from, killed);
    if (up > kill)
        fail_msg("the Killed line precedes the UP line in %s", fx.health_log);
    for (i = 0; i < HELD_SESSIONS; i++) {
        expect_session_closed(held[i], i);
    }
    fixture_close_held(&fx);
    expect_new_client_on(cluster_port("master"), "after killing backup sessions");
}

/* A master that stops answering (SIGSTOP: its sockets stay open) is marked DOWN and, with
 * on-marked-down shutdown-sessions, its sessions are closed at once instead of hanging. */
static void test_master_down_kills_its_sessions(void **state)
{
    enum { N = 5 };
    MYSQL **held = fx.held;
    char killed[128];
    long from;
    int i, port;

    (void)state;
    for (i = 0; i < N; i++) {
        held[i] = client_connect(fx.rw_port, "app", "app-pass", "appdb", HELD_TIMEOUT_S);
        if (!held[i])
            fail_msg("session %d: %u %s", i, client_errno(), client_error());
        assert_int_equal(client_server_port(held[i]), cluster_port("master"));
    }
    from = file_size(fx.health_log);
    assert_int_equal(cluster_freeze("master"), 0);
    expect_log_line(from, "Server rw/master is DOWN");
    snprintf(killed, sizeof(killed), "Killed %d sessions on rw/master after it went DOWN", N);
    expect_log_line(from, killed);
    for (i = 0; i < N; i++) {
        expect_session_closed(held[i], i);
    }
    fixture_close_held(&fx);
    /* Which backup is not this test's point (and a loaded machine may fail a replica check). */
    port = client_port_via(fx.rw_port);
    if (port != cluster_port("replica1") && port != cluster_port("replica2"))
        fail_msg("master frozen: new client got port %d (%u %s), want a replica", port,
                 client_errno(), client_error());
    from = file_size(fx.health_log);
    assert_int_equal(cluster_thaw("master"), 0);
    expect_log_line(from, "Server rw/master is UP");
    expect_new_client_on(cluster_port("master"), "master thawed");
}

/* Assert a connect through port is refused with rebound's "no server available" ERR packet. */
static void expect_no_server_available(int port, const char *listen)
{
    MYSQL *m = client_connect_app(port);
    char want[128];

    if (m) {
        mysql_close(m);
        fail_msg("connect through listen %s succeeded, want 'no server available'", listen);
    }
    snprintf(want, sizeof(want), "no server available for '%s'", listen);
    if (!strstr(client_error(), want))
        fail_msg("listen %s: client error %u \"%s\", want a message containing \"%s\"", listen,
                 client_errno(), client_error(), want);
    /* A server-range code proves an ERR packet came from rebound: a bare close would give a
     * client-side 2002/2013, and clients reject client-range codes inside an ERR packet. */
    if (client_errno() == 0 || client_errno() >= 2000)
        fail_msg("listen %s: errno %u is not from an ERR packet", listen, client_errno());
}

/* Servers that are never checked stay UP: every connect is refused, every candidate tried, and
 * the client still gets a proper MySQL error, not a bare close. */
static void test_no_server_before_checks(void **state)
{
    (void)state;
    expect_no_server_available(unchecked_port, "unchecked");
}

/* Once checks took every server of a listen DOWN, clients get the same MySQL error at once. */
static void test_no_server_after_checks(void **state)
{
    (void)state;
    expect_log_line(0, "Server dead/gone1 is DOWN");
    expect_log_line(0, "Server dead/gone2 is DOWN");
    expect_log_line(0, "Listener dead has no server available!");
    expect_no_server_available(dead_port, "dead");
}

/* A router whose master takes one login at a time (max-connecting 1) and is not checked, so a
 * frozen master stays UP; generous timeouts, so that only the thaw decides. */
static int setup_queue(void **state)
{
    (void)state;
    if (fixture_init(&fx, "routing-queue", "admin-pw") != 0)
        return -1;
    return fixture_start(&fx, fx.rw_port,
                         "# written by test_routing.c\n"
                         "global\n"
                         "    threads 1\n" /* max-connecting is shared out per worker */
                         "    health-log file %s\n"
                         "    admin 127.0.0.1:%d user admin password \"admin-pw\"\n"
                         "defaults\n"
                         "    timeout connect 60s  timeout greeting 60s  timeout queue 60s\n"
                         "    timeout client 1m  timeout server 1m  timeout handshake 2m\n"
                         "listen rw\n"
                         "    bind 127.0.0.1:%d\n"
                         "    server master   127.0.0.1:%d max-connecting 1\n"
                         "    server replica1 127.0.0.1:%d backup\n",
                         fx.health_log, fx.admin_port, fx.rw_port, cluster_port("master"),
                         cluster_port("replica1"));
}

/* Poll the admin port until SQL gives WANT (bounded); fails the test (log attached) if not. */
static void expect_admin(long long want, const char *sql)
{
    int64_t end = now_ms() + LOG_WAIT_MS;
    long long v = -1;

    while (now_ms() < end) {
        if ((v = fixture_admin_int(&fx, "%s", sql)) == want)
            return;
        sleep_ms(20);
    }
    fixture_dump_log(&fx);
    fail_msg("%s gave %lld, want %lld", sql, v, want);
}

/* With max-connecting 1 and a frozen master: the first client's connect holds the one slot,
 * the next two wait inside rebound (state queued), not in the master's accept queue and not
 * on the backup; once the master thaws, all three get the master's greeting. */
static void test_logins_queue_for_a_busy_master(void **state)
{
    unsigned char buf[1024];
    int c[3];
    (void)state;

    assert_int_equal(cluster_freeze("master"), 0);
    for (int i = 0; i < 3; i++) {
        c[i] = fixture_keep_fd(&fx, loopback_connect(fx.rw_port));
        /* read_packet() below wants a blocking socket. */
        fcntl(c[i], F_SETFL, fcntl(c[i], F_GETFL) & ~O_NONBLOCK);
        if (i == 0)
            expect_admin(1, "SELECT connecting FROM servers WHERE name = 'master'");
    }
    expect_admin(2, "SELECT count(*) FROM sessions WHERE state = 'queued'");
    assert_int_equal(fixture_admin_int(&fx, "SELECT queued FROM servers WHERE name = 'master'"), 2);
    assert_int_equal(fixture_admin_int(&fx, "SELECT connecting FROM servers WHERE name = 'master'"),
                     1);
    assert_int_equal(
        fixture_admin_int(&fx, "SELECT sessions_current FROM servers WHERE name = 'replica1'"), 0);
    assert_int_equal(cluster_thaw("master"), 0);
    for (int i = 0; i < 3; i++) {
        long n = read_packet(c[i], buf, sizeof(buf), LOG_WAIT_MS);
        if (n < 1 || buf[4] != 10)
            fail_msg("client %d: no greeting (%ld bytes, first byte %u)", i, n, n > 0 ? buf[4] : 0);
    }
    expect_admin(0, "SELECT queued FROM servers WHERE name = 'master'");
    assert_int_equal(
        fixture_admin_int(&fx, "SELECT queue_timeouts FROM servers WHERE name = 'master'"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clients_land_on_master, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_stop_redispatches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_kill9_redispatches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_up_kills_backup_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_down_kills_its_sessions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_server_before_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_server_after_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logins_queue_for_a_busy_master, setup_queue, teardown),
    };

    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
