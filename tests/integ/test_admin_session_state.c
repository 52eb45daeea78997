/* test_admin_session_state.c - the sessions table shows what each session is doing, read from
 * its stream: a real client through rebound to a real master opens a transaction, and the
 * admin port shows `idle in transaction` with in_transaction 1, then `idle` / 0 once it
 * commits; XA, a read-only transaction and autocommit off show what the server's status flags
 * told the client at each step; a compressed session shows the same as a plain one. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"

#define ADMIN_PW  "adm1n-Secret-pw"
#define SETTLE_MS 20000 /* bound for the admin port to show a state the client caused */

/* The router of the group (one listen on the master, the admin port). */
static struct router_fixture fx;

/* The sessions table's filter for M's session: its client port. */
static void session_filter(MYSQL *m, char *buf, size_t len)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);

    assert_int_equal(getsockname((int)mysql_get_socket(m), (struct sockaddr *)&sin, &sl), 0);
    snprintf(buf, len, "client LIKE '%%:%u'", (unsigned)ntohs(sin.sin_port));
}

/* Poll until M's session shows STATE and IN_TRANS ("1", "0" or "NULL"). The client's answer
 * has arrived before this is called, but the worker may not have followed the bytes yet. */
static void expect_state(MYSQL *m, const char *state, const char *in_trans)
{
    char where[64];
    long long n = 0;
    int64_t end = now_ms() + SETTLE_MS;

    session_filter(m, where, sizeof(where));
    do {
        n = fixture_admin_int(&fx,
                              "SELECT COUNT(*) FROM sessions WHERE %s AND state = '%s' AND "
                              "in_transaction IS %s",
                              where, state, in_trans);
        if (n == 1)
            return;
        sleep_ms(50);
    } while (now_ms() < end);
    fail_msg("session %s never showed state '%s', in_transaction %s", where, state, in_trans);
}

static int group_setup(void **state)
{
    if (harness_group_setup(state) != 0 || fixture_init(&fx, "session-state", ADMIN_PW) != 0)
        return -1;
    fixture_push_undo(&fx, "master", "DROP TABLE IF EXISTS appdb.sstate");
    root_sql("master", NULL, 0,
             "CREATE TABLE IF NOT EXISTS appdb.sstate (id INT PRIMARY KEY) ENGINE=InnoDB");
    return fixture_start(&fx, fx.rw_port,
                         "global\n"
                         "    health-log file %s\n"
                         "    admin 127.0.0.1:%d user admin password \"%s\"\n"
                         "defaults\n"
                         "    check mysql user rebound_check password \"check-pass\"\n"
                         "    inter 1s  rise 1  fall 3  timeout check 5s  timeout greeting 5s\n"
                         "listen rw\n"
                         "    bind 127.0.0.1:%d\n"
                         "    server master 127.0.0.1:%d check\n",
                         fx.health_log, fx.admin_port, ADMIN_PW, fx.rw_port,
                         cluster_port("master"));
}

static int group_teardown(void **state)
{
    fixture_run_undo(&fx);
    return harness_group_teardown_router(&fx.router, state);
}

/* BEGIN and an INSERT: idle in transaction; COMMIT: idle. Then autocommit off: the INSERT
 * opens a transaction, ROLLBACK closes it. */
static void test_transaction_shown(void **state)
{
    MYSQL *m = client_connect_app(fx.rw_port);
    (void)state;

    if (!m)
        fail_msg("app login through rebound failed: %u %s", client_errno(), client_error());
    assert_int_equal(client_query(m, "DELETE FROM sstate"), 0);
    expect_state(m, "idle", "0");
    assert_int_equal(client_query(m, "BEGIN"), 0);
    assert_int_equal(client_query(m, "INSERT INTO sstate VALUES (1)"), 0);
    expect_state(m, "idle in transaction", "1");
    assert_int_equal(client_query(m, "COMMIT"), 0);
    expect_state(m, "idle", "0");
    assert_int_equal(client_query(m, "SET autocommit = 0"), 0);
    expect_state(m, "idle", "0");
    assert_int_equal(client_query(m, "INSERT INTO sstate VALUES (2)"), 0);
    expect_state(m, "idle in transaction", "1");
    assert_int_equal(client_query(m, "ROLLBACK"), 0);
    expect_state(m, "idle", "0");
    /* An error inside a transaction leaves it open. */
    assert_int_equal(client_query(m, "START TRANSACTION"), 0);
    assert_int_equal(client_query(m, "INSERT INTO sstate VALUES (1)"), 1062);
    expect_state(m, "idle in transaction", "1");
    assert_int_equal(client_query(m, "ROLLBACK"), 0);
    expect_state(m, "idle", "0");
    mysql_close(m);
}

/* A session as app through rebound with client FLAGS, compressed if COMPRESS; fails the test
 * if the login fails. */
static MYSQL *app_session(unsigned long flags, bool compress)
{
    MYSQL *m = mysql_init(NULL);

    assert_non_null(m);
    client_options(m, 5);
    if (compress)
        mysql_options(m, MYSQL_OPT_COMPRESS, NULL);
    if (!mysql_real_connect(m, "127.0.0.1", "app", "app-pass", "appdb", (unsigned)fx.rw_port, NULL,
                            flags))
        fail_msg("app login through rebound failed: %u %s", mysql_errno(m), mysql_error(m));
    return m;
}

/* A multi-statement ending inside a transaction: the last result's status is what counts. */
static void test_multi_statement(void **state)
{
    MYSQL *m = app_session(CLIENT_MULTI_STATEMENTS, false);
    (void)state;

    assert_int_equal(mysql_query(m, "SELECT 1; BEGIN; SELECT id FROM sstate"), 0);
    do {
        MYSQL_RES *res = mysql_store_result(m);
        if (res)
            mysql_free_result(res);
    } while (mysql_next_result(m) == 0);
    expect_state(m, "idle in transaction", "1");
    assert_int_equal(client_query(m, "COMMIT"), 0);
    expect_state(m, "idle", "0");
    mysql_close(m);
}

/* XA, read-only transactions and SET autocommit, statement by statement: the admin port
 * agrees with the status flags the client library received (whatever the server chose to
 * report at each step). */
static void test_agrees_with_client(void **state)
{
    static const char *const stmts[] = {
        "XA START 'sx'",
        "INSERT INTO sstate VALUES (10)",
        "XA END 'sx'",
        "XA PREPARE 'sx'",
        "XA COMMIT 'sx'",
        "START TRANSACTION READ ONLY",
        "SELECT COUNT(*) FROM sstate",
        "COMMIT",
        "SET autocommit = 0",
        "SELECT 1",
        "DELETE FROM sstate",
        "COMMIT",
        "SET autocommit = 1",
    };
    MYSQL *m = client_connect_app(fx.rw_port);
    (void)state;

    if (!m)
        fail_msg("app login through rebound failed: %u %s", client_errno(), client_error());
    for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
        assert_int_equal(client_query(m, stmts[i]), 0);
        bool open = m->server_status & SERVER_STATUS_IN_TRANS;
        expect_state(m, open ? "idle in transaction" : "idle", open ? "1" : "0");
    }
    mysql_close(m);
}

/* A cursor in a transaction: COM_STMT_EXECUTE opens it, COM_STMT_FETCH reads its rows (binary
 * rows begin with 0x00, like an OK packet); the session is idle in its transaction between them. */
static void test_cursor(void **state)
{
    MYSQL *m = client_connect_app(fx.rw_port);
    MYSQL_STMT *st;
    MYSQL_BIND out;
    unsigned long type = CURSOR_TYPE_READ_ONLY, rows = 1;
    long long v = 0;
    (void)state;

    if (!m)
        fail_msg("app login through rebound failed: %u %s", client_errno(), client_error());
    assert_int_equal(client_query(m, "BEGIN"), 0);
    st = mysql_stmt_init(m);
    assert_non_null(st);
    assert_int_equal(mysql_stmt_attr_set(st, STMT_ATTR_CURSOR_TYPE, &type), 0);
    assert_int_equal(mysql_stmt_attr_set(st, STMT_ATTR_PREFETCH_ROWS, &rows), 0);
    assert_int_equal(mysql_stmt_prepare(st, "SELECT seq FROM seq_1_to_5", 26), 0);
    assert_int_equal(mysql_stmt_execute(st), 0);
    expect_state(m, "idle in transaction", "1");
    memset(&out, 0, sizeof(out));
    out.buffer_type = MYSQL_TYPE_LONGLONG;
    out.buffer = &v;
    assert_int_equal(mysql_stmt_bind_result(st, &out), 0);
    assert_int_equal(mysql_stmt_fetch(st), 0);
    assert_int_equal(v, 1);
    expect_state(m, "idle in transaction", "1");
    while (mysql_stmt_fetch(st) == 0)
        ;
    assert_int_equal(v, 5);
    expect_state(m, "idle in transaction", "1");
    mysql_stmt_close(st);
    assert_int_equal(client_query(m, "COMMIT"), 0);
    expect_state(m, "idle", "0");
    mysql_close(m);
}

/* Result sets around 256 packets, one of which ends with sequence id 0: the next answer is
 * still seen to begin, the session is idle after each, never left at `command`. */
static void test_sequence_wrap(void **state)
{
    MYSQL *m = client_connect_app(fx.rw_port);
    char sql[64];
    (void)state;

    if (!m)
        fail_msg("app login through rebound failed: %u %s", client_errno(), client_error());
    for (int n = 249; n <= 256; n++) {
        snprintf(sql, sizeof(sql), "SELECT seq FROM seq_1_to_%d", n);
        assert_int_equal(client_query(m, sql), 0);
        assert_int_equal(client_query(m, "DO 1"), 0);
        expect_state(m, "idle", "0");
    }
    mysql_close(m);
}

/* Read the rows of M's result as they come (mysql_use_result); returns how many. */
static long long fetch_all(MYSQL *m)
{
    MYSQL_RES *res = mysql_use_result(m);
    long long rows = 0;

    assert_non_null(res);
    while (mysql_fetch_row(res))
        rows++;
    mysql_free_result(res);
    return rows;
}

/* While the server works on a command (an UPDATE waiting for a row lock another session
 * holds) the session is at `command`; while a large result waits for a client that does not
 * read it, at `result`. */
static void test_command_and_result(void **state)
{
    static const char wait[] = "UPDATE sstate SET id = 21 WHERE id = 20";
    static const char big[] = "SELECT REPEAT('x', 1000) FROM seq_1_to_100000";
    MYSQL *holder = client_connect_app(fx.rw_port), *m = client_connect_app(fx.rw_port);
    (void)state;

    if (!holder || !m)
        fail_msg("app login through rebound failed: %u %s", client_errno(), client_error());
    assert_int_equal(client_query(holder, "INSERT INTO sstate VALUES (20)"), 0);
    assert_int_equal(client_query(holder, "BEGIN"), 0);
    assert_int_equal(client_query(holder, "SELECT * FROM sstate WHERE id = 20 FOR UPDATE"), 0);
    assert_int_equal(client_query(m, "BEGIN"), 0);
    assert_int_equal(mysql_send_query(m, wait, sizeof(wait) - 1), 0);
    expect_state(m, "command", "1");
    assert_int_equal(client_query(holder, "ROLLBACK"), 0);
    assert_int_equal(mysql_read_query_result(m), 0);
    expect_state(m, "idle in transaction", "1");
    assert_int_equal(client_query(m, "ROLLBACK"), 0);

    assert_int_equal(mysql_send_query(m, big, sizeof(big) - 1), 0);
    expect_state(m, "result", "0");
    assert_int_equal(mysql_read_query_result(m), 0);
    assert_int_equal(fetch_all(m), 100000);
    expect_state(m, "idle", "0");
    assert_int_equal(client_query(holder, "DELETE FROM sstate WHERE id = 20"), 0);
    mysql_close(m);
    mysql_close(holder);
}

/* A compressed session is followed like a plain one: a transaction, a result set of many
 * compressed packets, a statement too long for one compressed packet (the server then numbers
 * its answer after the compressed packets), an error inside a transaction. */
static void test_compressed_followed(void **state)
{
    static const char big[] = "SELECT REPEAT('x', 1000) FROM seq_1_to_20000";
    MYSQL *m = app_session(0, true);
    char sql[80000];
    MYSQL_RES *res;
    int n;
    (void)state;

    expect_state(m, "idle", "0");
    assert_int_equal(client_query(m, "BEGIN"), 0);
    assert_int_equal(client_query(m, "INSERT INTO sstate VALUES (30)"), 0);
    expect_state(m, "idle in transaction", "1");
    assert_int_equal(client_query(m, "INSERT INTO sstate VALUES (30)"), 1062);
    expect_state(m, "idle in transaction", "1");
    assert_int_equal(client_query(m, "ROLLBACK"), 0);
    expect_state(m, "idle", "0");

    assert_int_equal(mysql_query(m, big), 0);
    assert_int_equal(fetch_all(m), 20000);
    expect_state(m, "idle", "0");

    /* Random-looking text compresses badly: the statement takes several compressed packets. */
    n = snprintf(sql, sizeof(sql), "SELECT LENGTH('");
    for (unsigned x = 12345; n < (int)sizeof(sql) - 8; n++) {
        x = x * 1103515245u + 12345u;
        sql[n] = (char)('a' + (x >> 16) % 26);
    }
    memcpy(sql + n, "') AS l", 8);
    assert_int_equal(mysql_query(m, sql), 0);
    res = mysql_store_result(m);
    assert_non_null(res);
    mysql_free_result(res);
    assert_int_equal(client_query(m, "START TRANSACTION READ ONLY"), 0);
    expect_state(m, "idle in transaction", "1");
    assert_int_equal(client_query(m, "COMMIT"), 0);
    expect_state(m, "idle", "0");
    mysql_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transaction_shown),   cmocka_unit_test(test_multi_statement),
        cmocka_unit_test(test_agrees_with_client),  cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_sequence_wrap),       cmocka_unit_test(test_command_and_result),
        cmocka_unit_test(test_compressed_followed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
