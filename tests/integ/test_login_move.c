/* test_login_move.c - a server that goes away in the middle of a client's login does not cost
 * the client its connection: rebound moves the login to the next server and asks the client
 * (an AuthSwitchRequest with that server's scramble) to answer again. The client sees a slower
 * login, then a working session on the backup.
 *
 * The "master" is a fake that greets and closes as soon as the client's login response arrives:
 * the exact moment a crashed server leaves a login, which a real server cannot be made to hit
 * on purpose. The backup is a real MariaDB replica. Real clients: libmysqlclient. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define LOG_WAIT_MS 30000

/* The router of the group; its undo list drops the user the group setup made. */
static struct router_fixture fx;
static struct fake_peer master; /* the fake master */

static int group_setup(void **state)
{
    if (harness_group_setup(state) != 0 || fixture_init(&fx, "login-move", NULL) != 0)
        return -1;
    /* A user that logs in with another plugin on the replica: the replica then asks for it
     * itself (its own AuthSwitchRequest), which the client must get with the right sequence. */
    root_sql("master", NULL, 0, "INSTALL SONAME 'auth_ed25519'");
    root_sql("replica1", NULL, 0, "INSTALL SONAME 'auth_ed25519'");
    fixture_push_undo(&fx, "master", "DROP USER IF EXISTS 'ed'@'127.0.0.1'");
    root_sql("master", NULL, 0,
             "CREATE USER 'ed'@'127.0.0.1' IDENTIFIED VIA ed25519 USING PASSWORD('ed-pass')");
    root_sql("master", NULL, 0, "GRANT ALL ON appdb.* TO 'ed'@'127.0.0.1'");
    master.kind = FAKE_PEER_GREETING;
    master.close_after = 1; /* the first byte of the login response: gone */
    /* A master of the replicas' kind: a client answers the capabilities it was offered, and
     * the replica must accept that answer (a MySQL-flavoured one it refuses: 1043). */
    master.mariadb = true;
    master.version = "5.5.5-10.11.6-MariaDB-fake";
    if (fake_peer_start(&master, free_port()) != 0)
        return -1;
    /* Every login through rw moves, so the readiness login proves the basic case already. */
    return fixture_start(&fx, fx.rw_port,
                         "global\n"
                         "    health-log file %s\n"
                         "defaults\n"
                         "    timeout connect 5s  timeout greeting 5s\n"
                         "listen rw\n"
                         "    bind 127.0.0.1:%d\n"
                         "    retries 2\n"
                         "    server master   127.0.0.1:%d\n"
                         "    server replica1 127.0.0.1:%d backup\n",
                         fx.health_log, fx.rw_port, master.port, cluster_port("replica1"));
}

static int group_teardown(void **state)
{
    fixture_run_undo(&fx); /* as before: a user left behind does not fail the group */
    fake_peer_stop(&master);
    return harness_group_teardown_router(&fx.router, state);
}

/* The logins from connection BEFORE on (N of them) started on the master: their response
 * reached it, and it hung up. */
static void expect_started_on_master(int before, int n)
{
    assert_int_equal(fake_peer_accepted(&master), before + n);
    for (int i = before; i < before + n; i++)
        if (fake_peer_received(&master, i, NULL, 0, NULL) <= 0)
            fail_msg("login %d never reached the master", i - before);
}

/* A login the master leaves half-way ends on the replica, with a session that works. */
static void test_login_moves(void **state)
{
    int before = fake_peer_accepted(&master);
    char user[128];
    MYSQL *m;
    (void)state;

    m = client_connect_app(fx.rw_port);
    if (!m)
        fail_msg("the login was lost: %u %s", client_errno(), client_error());
    assert_int_equal(client_server_port(m), cluster_port("replica1"));
    client_query_text(m, "SELECT CURRENT_USER()", user, sizeof(user));
    assert_string_equal(user, "app@127.0.0.1");
    assert_int_equal(client_query(m, "SELECT COUNT(*) FROM information_schema.tables"), 0);
    mysql_close(m);
    expect_started_on_master(before, 1);
}

/* A wrong password stays a wrong password: the replica's refusal reaches the client as the
 * answer to its login (1045), not as a broken connection. */
static void test_wrong_password_refused(void **state)
{
    int before = fake_peer_accepted(&master);
    MYSQL *m = client_connect(fx.rw_port, "app", "not-the-password", "appdb", 10);
    (void)state;

    expect_started_on_master(before, 1);
    if (m) {
        mysql_close(m);
        fail_msg("logged in with a wrong password");
    }
    assert_int_equal(client_errno(), 1045);
}

/* A user of another plugin on the replica: the replica's own switch request and the client's
 * answer pass with their sequence ids kept in step. */
static void test_other_plugin_on_the_backup(void **state)
{
    char user[128];
    int before = fake_peer_accepted(&master);
    MYSQL *m = client_connect(fx.rw_port, "ed", "ed-pass", "appdb", 10);
    (void)state;

    expect_started_on_master(before, 1);
    if (!m)
        fail_msg("ed25519 login through a moved login: %u %s", client_errno(), client_error());
    client_query_text(m, "SELECT CURRENT_USER()", user, sizeof(user));
    assert_string_equal(user, "ed@127.0.0.1");
    mysql_close(m);
}

/* A client that asked for the compressed protocol: its login (never compressed) moves like any
 * other, and the session on the backup is compressed at both ends and carries a result of many
 * packets intact. */
static void test_compressed_login_moves(void **state)
{
    int before = fake_peer_accepted(&master);
    char compression[16];
    MYSQL_RES *res;
    MYSQL_ROW row;
    unsigned long *len;
    MYSQL *m = mysql_init(NULL);
    (void)state;

    assert_non_null(m);
    client_options(m, 10);
    mysql_options(m, MYSQL_OPT_COMPRESS, NULL);
    if (!mysql_real_connect(m, "127.0.0.1", "app", "app-pass", "appdb", (unsigned)fx.rw_port, NULL,
                            0)) {
        fail_msg("compressed login through a moved login: %u %s", mysql_errno(m), mysql_error(m));
    }
    expect_started_on_master(before, 1);
    assert_int_equal(client_server_port(m), cluster_port("replica1"));
    client_query_text(m,
                      "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                      "WHERE VARIABLE_NAME = 'COMPRESSION'",
                      compression, sizeof(compression));
    assert_string_equal(compression, "ON");
    assert_int_equal(mysql_query(m, "SELECT REPEAT('ab', 100000) FROM seq_1_to_50"), 0);
    res = mysql_store_result(m);
    assert_non_null(res);
    assert_int_equal(mysql_num_rows(res), 50);
    while ((row = mysql_fetch_row(res))) {
        len = mysql_fetch_lengths(res);
        assert_int_equal(len[0], 200000);
        assert_true(row[0][0] == 'a' && row[0][199999] == 'b');
    }
    mysql_free_result(res);
    mysql_close(m);
}

/* Many at once, each its own move. */
static void test_many_logins_move(void **state)
{
    MYSQL *m[20];
    int before = fake_peer_accepted(&master);
    (void)state;

    for (int i = 0; i < 20; i++) {
        m[i] = client_connect_app(fx.rw_port);
        if (!m[i])
            fail_msg("login %d was lost: %u %s", i, client_errno(), client_error());
    }
    for (int i = 0; i < 20; i++) {
        assert_int_equal(client_server_port(m[i]), cluster_port("replica1"));
        mysql_close(m[i]);
    }
    expect_started_on_master(before, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_moves),
        cmocka_unit_test(test_wrong_password_refused),
        cmocka_unit_test(test_other_plugin_on_the_backup),
        cmocka_unit_test(test_compressed_login_moves),
        cmocka_unit_test(test_many_logins_move),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
