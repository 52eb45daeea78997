/* test_reload.c - SIGHUP reload against a real master + 2 replicas, under load: sessions on
 * unchanged servers, on a removed server and on a listen whose address moved all survive;
 * added servers and the new address take clients; health state carries over; a broken
 * file is rejected with file:line and the running configuration keeps routing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define HELD       8     /* sessions held per listen across the reload */
#define WAIT_MS    30000 /* bound for a log line or the load to get somewhere */
#define LOAD_MAX   5000  /* connects of the background load, at most */
#define LOAD_MSEC  60000 /* and for at most this long: the test stops it well before */
#define LOAD_AFTER 20    /* sessions the load makes after the reload before it stops */

#define ADMIN_PW "Reload-admin-pw"

/* The router, its config and ports before (rw, ro) and after (ro2) the reload. */
static struct router_fixture fx;
static int ro_port, ro2_port;

/* A steady stream of new sessions through rw while the reload happens. */
struct load {
    pthread_t thread;
    atomic_bool stop;
    atomic_int ok; /* read by the test while the load runs */
    int failed;    /* the thread's own until it is joined */
    char last_error[256];
};

static void *load_run(void *arg)
{
    struct load *ld = arg;
    int64_t end = now_ms() + LOAD_MSEC;

    for (int i = 0; i < LOAD_MAX && !atomic_load(&ld->stop) && now_ms() < end; i++) {
        if (client_port_via(fx.rw_port) == cluster_port("master")) {
            atomic_fetch_add(&ld->ok, 1);
            continue;
        }
        ld->failed++;
        snprintf(ld->last_error, sizeof(ld->last_error), "%u %s", client_errno(), client_error());
    }
    return NULL;
}

/* Write the configuration: before (AFTER false) or after the reload. Nothing here is to time
 * out: the timeouts leave a slow router room to see healthy servers pass (a spurious DOWN or
 * redispatch would show as a health transition or a failed load session). */
static int write_conf(bool after)
{
    char extra[128] = "";

    if (after)
        snprintf(extra, sizeof(extra), "    server replica2 127.0.0.1:%d check backup\n",
                 cluster_port("replica2"));
    return write_file(
        fx.conf,
        "global\n"
        "    health-log file %s\n"
        "    admin 127.0.0.1:%d user admin password \"" ADMIN_PW "\"\n"
        "defaults\n"
        "    check mysql user rebound_check password \"check-pass\"\n"
        "    inter 300ms fastinter 150ms downinter 300ms rise 2 fall 2 timeout check 3s\n"
        "    timeout connect 3s  timeout greeting 3s\n"
        "listen rw\n"
        "    bind 127.0.0.1:%d\n"
        "    server master 127.0.0.1:%d check on-marked-up shutdown-backup-sessions\n"
        "    server replica1 127.0.0.1:%d check backup\n"
        "%s"
        "listen ro\n"
        "    bind 127.0.0.1:%d\n"
        "    server %s 127.0.0.1:%d check\n",
        fx.health_log, fx.admin_port, fx.rw_port, cluster_port("master"), cluster_port("replica1"),
        extra, after ? ro2_port : ro_port, after ? "replica2" : "replica1",
        cluster_port(after ? "replica2" : "replica1"));
}

static int setup(void **state)
{
    (void)state;
    if (fixture_init(&fx, "reload", ADMIN_PW) != 0)
        return -1;
    ro_port = free_port();
    ro2_port = free_port();
    if (ro_port < 0 || ro2_port < 0 || write_conf(false) < 0)
        return -1;
    return router_start(&fx.router, fx.conf, fx.rw_port);
}

static int teardown(void **state)
{
    (void)state;
    return fixture_stop(&fx);
}

/* Stop the load and wait for its thread. */
static void load_stop(struct load *ld)
{
    atomic_store(&ld->stop, true);
    pthread_join(ld->thread, NULL);
}

/* Wait (bounded) until the load has made at least n sessions that landed on the master; on
 * failure the load is stopped first, so that no thread outlives the test. */
static void wait_load(struct load *ld, int n)
{
    int64_t deadline = now_ms() + WAIT_MS;

    while (atomic_load(&ld->ok) < n && now_ms() < deadline)
        sleep_ms(10);
    if (atomic_load(&ld->ok) >= n)
        return;
    load_stop(ld);
    fail_msg("the load made %d sessions on the master, want %d (%d failed, last: %s)",
             atomic_load(&ld->ok), n, ld->failed, ld->last_error);
}

/* SIGHUP the router and wait for its log to say how the reload went. */
static bool reload(long from, const char *expect)
{
    kill(fx.router.pid, SIGHUP);
    return wait_for_file_line_from(fx.router.err, from, expect, WAIT_MS);
}

static void hold(MYSQL **m, int port, int want_port)
{
    for (int i = 0; i < HELD; i++) {
        m[i] = client_connect_app(port);
        assert_non_null(m[i]);
        assert_int_equal(client_server_port(m[i]), want_port);
    }
}

static void still_alive(MYSQL **m, int want_port)
{
    for (int i = 0; i < HELD; i++) {
        assert_int_equal(client_server_port(m[i]), want_port);
        mysql_close(m[i]);
    }
}

static void test_reload_keeps_sessions_under_load(void **state)
{
    MYSQL *rw[HELD], *ro[HELD];
    struct load ld = {0};
    long log_from = file_size(fx.router.err), health_from;
    (void)state;

    /* Both servers have settled UP before the reload. */
    assert_true(wait_for_file_line(fx.router.err, "accepting on", WAIT_MS));
    hold(rw, fx.rw_port, cluster_port("master"));
    hold(ro, ro_port, cluster_port("replica1"));
    health_from = file_size(fx.health_log);

    assert_int_equal(pthread_create(&ld.thread, NULL, load_run, &ld), 0);
    /* The load is under way before the reload and goes on for a while after it. */
    wait_load(&ld, 1);
    assert_int_equal(write_conf(true), 0);
    if (!reload(log_from, "reloaded")) {
        load_stop(&ld);
        fail_msg("no \"reloaded\" in %s", fx.router.err);
    }
    wait_load(&ld, atomic_load(&ld.ok) + LOAD_AFTER);
    load_stop(&ld);
    printf("load during reload: %d sessions, %d failed%s%s\n", atomic_load(&ld.ok) + ld.failed,
           ld.failed, ld.failed ? ", last: " : "", ld.last_error);
    assert_int_equal(ld.failed, 0);

    /* Unchanged server, removed server, moved listen: every session goes on. */
    still_alive(rw, cluster_port("master"));
    still_alive(ro, cluster_port("replica1"));
    assert_true(wait_for_file_line_from(fx.router.err, log_from,
                                        "ro/replica1: removed from the configuration", WAIT_MS));
    /* The new address takes clients, the old one no longer accepts. */
    assert_int_equal(client_port_via(ro2_port), cluster_port("replica2"));
    assert_int_equal(client_port_via(ro_port), -1);
    /* The unchanged master kept its health: no transition was logged for it. */
    assert_int_equal(count_file_lines(fx.health_log, health_from, "Server rw/master is"), 0);
}

/* First column of the first row of an admin statement as a number; -1 on error or no row. */
static long long admin_value(const char *sql)
{
    MYSQL *m = client_connect(fx.admin_port, "admin", ADMIN_PW, NULL, 5);
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    long long v = -1;

    if (!m)
        fail_msg("admin login: %u %s", client_errno(), client_error());
    if (mysql_query(m, sql) == 0 && (res = mysql_store_result(m)) && (row = mysql_fetch_row(res)))
        v = row[0] ? atoll(row[0]) : -1;
    else if (!mysql_errno(m) && !res)
        v = (long long)mysql_affected_rows(m);
    if (res)
        mysql_free_result(res);
    mysql_close(m);
    return v;
}

/* A server a reload removed keeps its sessions until they end; until then it and they stay
 * in the admin views (marked retired), and the operator can still close them. */
static void test_removed_server_sessions_visible(void **state)
{
    MYSQL *ro[HELD];
    long log_from = file_size(fx.router.err);
    (void)state;

    hold(ro, ro_port, cluster_port("replica1"));
    assert_int_equal(admin_value("SELECT COUNT(*) FROM sessions WHERE server = 'ro/replica1'"),
                     HELD);
    assert_int_equal(write_conf(true), 0);
    assert_true(reload(log_from, "reloaded"));
    assert_int_equal(admin_value("SELECT COUNT(*) FROM sessions WHERE server = 'ro/replica1'"),
                     HELD);
    assert_int_equal(
        admin_value("SELECT retired FROM servers WHERE listener = 'ro' AND name = 'replica1'"), 1);
    assert_int_equal(admin_value("SELECT sessions_current FROM servers WHERE listener = 'ro' AND "
                                 "name = 'replica1'"),
                     HELD);
    assert_int_equal(
        admin_value("SELECT retired FROM servers WHERE listener = 'ro' AND name = 'replica2'"), 0);
    admin_value("DELETE FROM sessions WHERE server = 'ro/replica1'");
    for (int i = 0; i < HELD; i++) {
        if (client_query(ro[i], "SELECT 1") == 0)
            fail_msg("session %d on the removed server survived DELETE FROM sessions", i);
        mysql_close(ro[i]);
    }
    assert_int_equal(admin_value("SELECT COUNT(*) FROM sessions WHERE server = 'ro/replica1'"), 0);
    /* Its last session gone, the removed server leaves the views. */
    assert_int_equal(admin_value("SELECT COUNT(*) FROM servers WHERE name = 'replica1' AND "
                                 "listener = 'ro'"),
                     0);
}

static void test_bad_config_keeps_running_one(void **state)
{
    long from = file_size(fx.router.err);
    char want[600];
    (void)state;

    assert_int_equal(write_file(fx.conf,
                                "global\n"
                                "    health-log file %s\n"
                                "listen rw\n"
                                "    bind 127.0.0.1:%d\n"
                                "    inter 2x\n",
                                fx.health_log, fx.rw_port),
                     0);
    snprintf(want, sizeof(want),
             "reload failed, keeping the running configuration: %s:5: 'inter' expects", fx.conf);
    assert_true(reload(from, want));
    /* Still routing with the configuration it had, both listens. */
    assert_int_equal(client_port_via(fx.rw_port), cluster_port("master"));
    assert_int_equal(client_port_via(ro_port), cluster_port("replica1"));
}

static void test_unbindable_address_keeps_running_one(void **state)
{
    long from = file_size(fx.router.err);
    (void)state;

    /* ro moves onto rw's address, which is taken: the reload must not half-apply. */
    ro2_port = fx.rw_port;
    assert_int_equal(write_conf(true), 0);
    assert_true(reload(from, "reload failed, keeping the running configuration"));
    assert_int_equal(client_port_via(ro_port), cluster_port("replica1"));
    assert_int_equal(client_port_via(fx.rw_port), cluster_port("master"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reload_keeps_sessions_under_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_server_sessions_visible, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_config_keeps_running_one, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unbindable_address_keeps_running_one, setup, teardown),
    };

    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
