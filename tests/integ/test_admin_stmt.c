/* test_admin_stmt.c - prepared statements on the admin port, against a real cluster and the real
 * router, through real drivers: libmysqlclient's mysql_stmt_* (integer, double, string, NULL and
 * datetime parameters on the servers, sessions and health_log tables; an UPDATE of admin_state
 * that changes routing; a DELETE that kills a session; cursors, long data, shortcuts; unknown
 * statements, a wrong parameter count, the read-only user, hostile SQL and the statement cap),
 * PHP mysqli (tests/drivers/mysqli_stmt.php) and node mysql2's execute()
 * (tests/drivers/mysql2_execute.js, mysql2 installed into the build directory at test time). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define ADMIN_PW    "st4tement-Admin-pw"
#define VIEWER_PW   "st4tement-Viewer-pw"
#define LOG_WAIT_MS 10000
#define SKIPPED     77 /* exit status of mysql2_install.sh: the npm registry is unreachable */

/* The router of the whole group: one rw listen (master, replica1 backup) and the admin port. */
static struct router_fixture fx;

/* ---- helpers ---- */

static MYSQL *admin_as(const char *user, const char *pw)
{
    MYSQL *m = client_connect(fx.admin_port, user, pw, NULL, 10);

    if (!m)
        fail_msg("admin login as %s failed: %u %s", user, client_errno(), client_error());
    return m;
}

/* A statement prepared on M; the test fails if it cannot be. */
static MYSQL_STMT *prepare(MYSQL *m, const char *sql)
{
    MYSQL_STMT *st = mysql_stmt_init(m);

    assert_non_null(st);
    if (mysql_stmt_prepare(st, sql, strlen(sql)))
        fail_msg("prepare %s: %u %s", sql, mysql_stmt_errno(st), mysql_stmt_error(st));
    return st;
}

/* The error number of preparing SQL on M (0 if it prepares). */
static unsigned prepare_err(MYSQL *m, const char *sql)
{
    MYSQL_STMT *st = mysql_stmt_init(m);
    unsigned err;

    assert_non_null(st);
    err = mysql_stmt_prepare(st, sql, strlen(sql)) ? mysql_stmt_errno(st) : 0;
    mysql_stmt_close(st);
    return err;
}

/* Parameter bindings. */
static MYSQL_BIND bind_i64(long long *v)
{
    return (MYSQL_BIND){.buffer_type = MYSQL_TYPE_LONGLONG, .buffer = v};
}

static MYSQL_BIND bind_double(double *v)
{
    return (MYSQL_BIND){.buffer_type = MYSQL_TYPE_DOUBLE, .buffer = v};
}

static MYSQL_BIND bind_str(const char *s)
{
    return (MYSQL_BIND){.buffer_type = MYSQL_TYPE_STRING,
                        .buffer = (void *)s,
                        .buffer_length = (unsigned long)strlen(s)};
}

static MYSQL_BIND bind_datetime(MYSQL_TIME *t)
{
    return (MYSQL_BIND){.buffer_type = MYSQL_TYPE_DATETIME, .buffer = t};
}

static MYSQL_BIND bind_null(void)
{
    return (MYSQL_BIND){.buffer_type = MYSQL_TYPE_NULL};
}

/* Execute ST with its parameters bound to PARAMS; the test fails on an error. */
static void execute(MYSQL_STMT *st, MYSQL_BIND *params)
{
    if (params && mysql_stmt_bind_param(st, params))
        fail_msg("bind: %s", mysql_stmt_error(st));
    if (mysql_stmt_execute(st))
        fail_msg("execute: %u %s", mysql_stmt_errno(st), mysql_stmt_error(st));
}

/* One result column fetched as text (or as a number, for the typed columns a test asks for). */
struct col {
    char s[256];
    unsigned long len;
    my_bool null;
    long long i;
    double d;
};

/* Bind N result columns of ST: column I as a LONGLONG if TYPES[I] is 'i', a DOUBLE if 'd', else
 * text; then buffer the whole result. Returns its row count. */
static long long bind_result(MYSQL_STMT *st, int n, const char *types, struct col *cols)
{
    MYSQL_BIND b[16];

    assert_true(n <= 16);
    memset(b, 0, sizeof(b));
    memset(cols, 0, (size_t)n * sizeof(*cols));
    for (int i = 0; i < n; i++) {
        b[i].is_null = &cols[i].null;
        b[i].length = &cols[i].len;
        if (types[i] == 'i') {
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            b[i].buffer = &cols[i].i;
        } else if (types[i] == 'd') {
            b[i].buffer_type = MYSQL_TYPE_DOUBLE;
            b[i].buffer = &cols[i].d;
        } else {
            b[i].buffer_type = MYSQL_TYPE_STRING;
            b[i].buffer = cols[i].s;
            b[i].buffer_length = sizeof(cols[i].s) - 1;
        }
    }
    if (mysql_stmt_bind_result(st, b) || mysql_stmt_store_result(st))
        fail_msg("result: %s", mysql_stmt_error(st));
    return (long long)mysql_stmt_num_rows(st);
}

/* Fetch the next row into the columns bound; false at the end. */
static bool fetch(MYSQL_STMT *st, int n, struct col *cols)
{
    int rc = mysql_stmt_fetch(st);

    if (rc == MYSQL_NO_DATA)
        return false;
    if (rc != 0)
        fail_msg("fetch: %d %s", rc, mysql_stmt_error(st));
    for (int i = 0; i < n; i++)
        cols[i].s[cols[i].len < sizeof(cols[i].s) ? cols[i].len : sizeof(cols[i].s) - 1] = '\0';
    return true;
}

/* Run ARGV (a driver script); its output goes to OUT. Its exit status. */
static int run_driver(char *const argv[], char *out, size_t outsz)
{
    int rc = run_command(argv, out, outsz, 300000);

    printf("    %s: exit %d\n%s", argv[0], rc, out);
    return rc;
}

/* ---- the group's router ---- */

static int group_setup(void **state)
{
    if (harness_group_setup(state) != 0)
        return -1;
    if (fixture_init(&fx, "admin-stmt", ADMIN_PW) != 0)
        return -1;
    return fixture_start(&fx, fx.rw_port,
                         "global\n"
                         "    health-log file %s\n"
                         "    admin 127.0.0.1:%d user admin password \"%s\"\n"
                         "    admin-ro user viewer password \"%s\"\n"
                         "defaults\n"
                         "    check mysql user rebound_check password \"check-pass\"\n"
                         /* generous: a healthy server's check must pass on a slow machine */
                         "    inter 300ms  rise 2  fall 2  timeout check 3s\n"
                         "    timeout connect 1s\n"
                         "listen rw\n"
                         "    bind 127.0.0.1:%d\n"
                         "    server master   127.0.0.1:%d check\n"
                         "    server replica1 127.0.0.1:%d check backup\n",
                         fx.health_log, fx.admin_port, ADMIN_PW, VIEWER_PW, fx.rw_port,
                         cluster_port("master"), cluster_port("replica1"));
}

static int group_teardown(void **state)
{
    return harness_group_teardown_router(&fx.router, state);
}

/* ---- libmysqlclient ---- */

/* servers: integer, double, NULL, datetime and string parameters in; typed values out. */
static void test_servers_params(void **state)
{
    MYSQL *m = admin_as("admin", ADMIN_PW);
    MYSQL_STMT *st = prepare(m, "SELECT name, health, ? AS i, ? AS d, ? AS n, ? AS t "
                                "FROM servers WHERE name = ?");
    MYSQL_TIME t = {.year = 2024,
                    .month = 5,
                    .day = 1,
                    .hour = 12,
                    .minute = 34,
                    .second = 56,
                    .time_type = MYSQL_TIMESTAMP_DATETIME};
    long long i = 42;
    double d = 2.5;
    MYSQL_BIND p[5] = {bind_i64(&i), bind_double(&d), bind_null(), bind_datetime(&t),
                       bind_str("master")};
    struct col c[6];
    MYSQL_RES *meta;
    MYSQL_FIELD *f;
    (void)state;

    assert_int_equal(mysql_stmt_param_count(st), 5);
    assert_int_equal(mysql_stmt_field_count(st), 6);
    execute(st, p);
    assert_int_equal(bind_result(st, 6, "siidss", c), 1);
    assert_true(fetch(st, 6, c));
    assert_string_equal(c[0].s, "master");
    assert_true(c[1].i > 0);
    assert_int_equal(c[2].i, 42);
    assert_true(c[3].d == 2.5);
    assert_true(c[4].null);
    assert_string_equal(c[5].s, "2024-05-01 12:34:56");
    assert_false(fetch(st, 6, c));
    /* The types declared are those of the text protocol for the same query. */
    assert_non_null(meta = mysql_stmt_result_metadata(st));
    f = mysql_fetch_fields(meta);
    assert_int_equal(f[0].type, MYSQL_TYPE_VAR_STRING);
    assert_int_equal(f[1].type, MYSQL_TYPE_LONGLONG);
    assert_int_equal(f[2].type, MYSQL_TYPE_LONGLONG);
    assert_int_equal(f[3].type, MYSQL_TYPE_DOUBLE);
    mysql_free_result(meta);
    /* Again with other values: the other server. */
    i = -1;
    p[4] = bind_str("replica1");
    execute(st, p);
    assert_int_equal(bind_result(st, 6, "siidss", c), 1);
    assert_true(fetch(st, 6, c));
    assert_string_equal(c[0].s, "replica1");
    assert_int_equal(c[2].i, -1);
    mysql_stmt_close(st);
    mysql_close(m);
}

/* sessions: find the session of a client by server and age, then DELETE it by id. */
static void test_sessions_and_kill(void **state)
{
    MYSQL *m = admin_as("admin", ADMIN_PW), *app = client_connect_app(fx.rw_port);
    MYSQL_STMT *st = prepare(m, "SELECT id, server, age_s FROM sessions "
                                "WHERE server = ? AND age_s >= ? ORDER BY id DESC");
    MYSQL_STMT *del = prepare(m, "DELETE FROM sessions WHERE id = ?");
    double age = 0.0;
    long long id;
    MYSQL_BIND p[2] = {bind_str("rw/master"), bind_double(&age)}, q[1] = {bind_i64(&id)};
    struct col c[3];
    (void)state;

    assert_non_null(app);
    assert_int_equal(client_query(app, "SELECT 1"), 0);
    execute(st, p);
    assert_true(bind_result(st, 3, "isd", c) >= 1);
    assert_true(fetch(st, 3, c));
    assert_string_equal(c[1].s, "rw/master");
    assert_true(c[2].d >= 0);
    id = c[0].i;
    assert_int_equal(
        id, client_query_int(m, "SELECT MAX(id) FROM sessions WHERE server = 'rw/master'"));
    execute(del, q);
    assert_int_equal(mysql_stmt_affected_rows(del), 1);
    assert_int_not_equal(client_query(app, "SELECT 1"), 0); /* killed */
    execute(del, q);
    assert_int_equal(mysql_stmt_affected_rows(del), 0); /* gone */
    mysql_close(app);
    mysql_stmt_close(del);
    mysql_stmt_close(st);
    mysql_close(m);
}

/* health_log: a datetime parameter against the time column, and a LIMIT parameter. */
static void test_health_log(void **state)
{
    MYSQL *a = admin_as("admin", ADMIN_PW), *m = admin_as("viewer", VIEWER_PW);
    MYSQL_STMT *st = prepare(m, "SELECT COUNT(*) FROM health_log WHERE time >= ?");
    MYSQL_STMT *last = prepare(m, "SELECT id, kind, line FROM health_log "
                                  "WHERE kind = ? ORDER BY id DESC LIMIT ?");
    MYSQL_TIME past = {.year = 2000, .month = 1, .day = 1, .time_type = MYSQL_TIMESTAMP_DATETIME};
    MYSQL_TIME future = {.year = 2999, .month = 1, .day = 1, .time_type = MYSQL_TIMESTAMP_DATETIME};
    long long all, limit = 1;
    MYSQL_BIND p[1] = {bind_datetime(&past)}, q[2] = {bind_str("admin"), bind_i64(&limit)};
    struct col c[3];
    (void)state;

    /* Two events: the log is empty until something changes. */
    assert_int_equal(client_query(a, "UPDATE servers SET admin_state = 'drain' WHERE name = "
                                     "'replica1'"),
                     0);
    assert_int_equal(client_query(a, "UPDATE servers SET admin_state = 'ready' WHERE name = "
                                     "'replica1'"),
                     0);
    mysql_close(a);
    all = client_query_int(m, "SELECT COUNT(*) FROM health_log");
    assert_true(all >= 2);
    execute(st, p);
    assert_int_equal(bind_result(st, 1, "i", c), 1);
    assert_true(fetch(st, 1, c));
    assert_int_equal(c[0].i, all);
    p[0] = bind_datetime(&future);
    execute(st, p);
    bind_result(st, 1, "i", c);
    assert_true(fetch(st, 1, c));
    assert_int_equal(c[0].i, 0);
    execute(last, q);
    assert_int_equal(bind_result(last, 3, "iss", c), 1);
    assert_true(fetch(last, 3, c));
    assert_string_equal(c[1].s, "admin");
    assert_non_null(strstr(c[2].s, "Server rw/replica1 admin state changed from drain to ready"));
    mysql_stmt_close(last);
    mysql_stmt_close(st);
    mysql_close(m);
}

/* UPDATE servers SET admin_state=? WHERE name=?: maint sends new sessions to the backup,
 * ready brings them back, with the operator in the health log. */
static void test_update_changes_routing(void **state)
{
    MYSQL *m = admin_as("admin", ADMIN_PW);
    MYSQL_STMT *st = prepare(m, "UPDATE servers SET admin_state = ? WHERE name = ?");
    int master = cluster_port("master"), replica = cluster_port("replica1");
    MYSQL_BIND p[2] = {bind_str("maint"), bind_str("master")};
    long from = file_size(fx.health_log);
    int64_t deadline;
    (void)state;

    assert_int_equal(client_port_via(fx.rw_port), master);
    execute(st, p);
    assert_int_equal(mysql_stmt_affected_rows(st), 1);
    if (!wait_for_file_line_from(fx.health_log, from,
                                 "admin state changed from ready to maint by admin admin@",
                                 LOG_WAIT_MS))
        fail_msg("no health-log line for the change");
    assert_int_equal(client_port_via(fx.rw_port), replica);
    p[0] = bind_str("ready");
    execute(st, p);
    assert_int_equal(mysql_stmt_affected_rows(st), 1);
    deadline = now_ms() + LOG_WAIT_MS; /* out of maint, routable once its checks pass */
    while (client_port_via(fx.rw_port) != master && now_ms() < deadline)
        sleep_ms(100);
    assert_int_equal(client_port_via(fx.rw_port), master);
    /* A value that is not an admin state: the text query's error. */
    p[0] = bind_str("bogus");
    assert_int_equal(mysql_stmt_bind_param(st, p), 0);
    assert_int_not_equal(mysql_stmt_execute(st), 0);
    assert_int_equal(mysql_stmt_errno(st), 1367);
    mysql_stmt_close(st);
    mysql_close(m);
}

/* A read-only cursor gets the whole result (no cursor is opened); long data, reset, and
 * shortcuts prepared like any statement. */
static void test_cursor_long_data_shortcuts(void **state)
{
    MYSQL *m = admin_as("admin", ADMIN_PW);
    MYSQL_STMT *st = mysql_stmt_init(m);
    unsigned long cursor = CURSOR_TYPE_READ_ONLY, prefetch = 1;
    const char *sql = "SELECT name FROM servers ORDER BY name";
    char chunk[1000];
    struct col c[6];
    int rows = 0;
    (void)state;

    mysql_stmt_attr_set(st, STMT_ATTR_CURSOR_TYPE, &cursor);
    mysql_stmt_attr_set(st, STMT_ATTR_PREFETCH_ROWS, &prefetch);
    assert_int_equal(mysql_stmt_prepare(st, sql, strlen(sql)), 0);
    for (int run = 0; run < 2; run++) {
        execute(st, NULL);
        bind_result(st, 1, "s", c);
        for (rows = 0; fetch(st, 1, c); rows++)
            assert_string_equal(c[0].s, rows ? "replica1" : "master");
        assert_int_equal(rows, 2);
    }
    mysql_stmt_close(st);

    /* Long data: three pieces make one value, for one execution. */
    st = prepare(m, "SELECT length(?), ?");
    MYSQL_BIND p[2] = {{.buffer_type = MYSQL_TYPE_BLOB}, bind_str("x")};
    memset(chunk, 'a', sizeof(chunk));
    assert_int_equal(mysql_stmt_bind_param(st, p), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(mysql_stmt_send_long_data(st, 0, chunk, sizeof(chunk)), 0);
    assert_int_equal(mysql_stmt_execute(st), 0);
    bind_result(st, 2, "is", c);
    assert_true(fetch(st, 2, c));
    assert_int_equal(c[0].i, 3000);
    assert_string_equal(c[1].s, "x");
    assert_int_equal(mysql_stmt_reset(st), 0);
    mysql_stmt_close(st);

    /* Shortcuts: SQL ones take parameters and declare their columns at prepare (DESCRIBE reads
     * information_schema.COLUMNS); the others (KILL, SET...) run at each execution. */
    st = prepare(m, "SHOW FULL SERVERS LIKE ?");
    MYSQL_BIND like[1] = {bind_str("mast%")};
    execute(st, like);
    assert_int_equal(mysql_stmt_field_count(st), 31);
    mysql_stmt_store_result(st);
    assert_int_equal(mysql_stmt_num_rows(st), 1);
    mysql_stmt_close(st);
    st = prepare(m, "DESCRIBE servers");
    assert_int_equal(mysql_stmt_field_count(st), 6);
    execute(st, NULL);
    assert_int_equal(mysql_stmt_field_count(st), 6);
    assert_int_equal(bind_result(st, 6, "ssssss", c), 31);
    assert_true(fetch(st, 6, c));
    assert_string_equal(c[0].s, "listener");
    mysql_stmt_close(st);
    st = prepare(m, "select @@version_comment limit 1");
    execute(st, NULL);
    bind_result(st, 1, "s", c);
    assert_true(fetch(st, 1, c));
    assert_string_equal(c[0].s, "rebound admin port");
    mysql_stmt_close(st);
    st = prepare(m, "SET NAMES utf8mb4");
    execute(st, NULL);
    mysql_stmt_close(st);
    mysql_close(m);
}

/* Errors: an unknown statement, a wrong parameter count, the read-only user's writes, hostile
 * SQL, too much long data, the statement cap; the connection works after each. */
static void test_errors(void **state)
{
    static const struct {
        const char *sql;
        unsigned err;
    } refused[] = {
        {"CREATE TABLE t(a)", 1227},
        {"DROP TABLE servers", 1227},
        {"PRAGMA table_info(servers)", 1227},
        {"ATTACH DATABASE ? AS x", 1227},
        {"VACUUM", 1227},
        {"INSERT INTO servers(name) VALUES (?)", 1142},
        {"SELECT load_extension(?)", 1305},
        {"SELECT printf('%.*c', ?, 'a')", 1305},
        {"SELECT * FROM nosuchtable WHERE x = ?", 1146},
        {"SELECT ?; SELECT ?", 1064},
        {"SELECT :named", 1064},
    };
    MYSQL *m = admin_as("admin", ADMIN_PW), *v = admin_as("viewer", VIEWER_PW);
    MYSQL_STMT *st, *many[257];
    long long n = 2;
    MYSQL_BIND p[2] = {bind_i64(&n), bind_i64(&n)};
    char *big;
    (void)state;

    /* An id the server never gave (libmysqlclient keeps it in the handle). */
    st = prepare(m, "SELECT 1");
    st->stmt_id += 1000;
    assert_int_not_equal(mysql_stmt_execute(st), 0);
    assert_int_equal(mysql_stmt_errno(st), 1243);
    st->stmt_id -= 1000;
    mysql_stmt_close(st);
    /* One parameter sent for two: libmysqlclient never does it by itself, so it is told the
     * statement takes one. */
    st = prepare(m, "SELECT ? + ?");
    assert_int_equal(mysql_stmt_bind_param(st, p), 0);
    st->param_count = 1;
    assert_int_not_equal(mysql_stmt_execute(st), 0);
    assert_int_equal(mysql_stmt_errno(st), 1835);
    st->param_count = 2;
    mysql_stmt_close(st);
    /* The read-only user prepares reads, not writes. */
    assert_int_equal(prepare_err(v, "UPDATE servers SET admin_state = ? WHERE name = ?"), 1142);
    assert_int_equal(prepare_err(v, "DELETE FROM sessions WHERE id = ?"), 1142);
    assert_int_equal(prepare_err(v, "SELECT COUNT(*) FROM servers WHERE name = ?"), 0);
    /* What a text query may not do, a prepared one may not either. */
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        unsigned e = prepare_err(m, refused[i].sql);
        if (e != refused[i].err)
            fail_msg("%s: error %u, expected %u", refused[i].sql, e, refused[i].err);
    }
    /* Runaway work stops at the statement's bounds, as a text query's does. */
    st = prepare(m, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) "
                    "SELECT COUNT(*) FROM c WHERE x > ?");
    assert_int_equal(mysql_stmt_bind_param(st, p), 0);
    assert_int_not_equal(mysql_stmt_execute(st), 0);
    assert_int_equal(mysql_stmt_errno(st), 3024);
    mysql_stmt_close(st);
    /* A value past 64 KiB, in long data. */
    st = prepare(m, "SELECT length(?)");
    MYSQL_BIND blob[1] = {{.buffer_type = MYSQL_TYPE_BLOB}};
    assert_non_null(big = calloc(1, 40000));
    assert_int_equal(mysql_stmt_bind_param(st, blob), 0);
    assert_int_equal(mysql_stmt_send_long_data(st, 0, big, 40000), 0);
    assert_int_equal(mysql_stmt_send_long_data(st, 0, big, 40000), 0);
    assert_int_not_equal(mysql_stmt_execute(st), 0);
    assert_int_equal(mysql_stmt_errno(st), 1041);
    free(big);
    mysql_stmt_close(st);
    /* 256 statements per connection; a closed one makes room. */
    for (int i = 0; i < 256; i++)
        many[i] = prepare(m, "SELECT 1");
    many[256] = mysql_stmt_init(m);
    assert_int_not_equal(mysql_stmt_prepare(many[256], "SELECT 1", 8), 0);
    assert_int_equal(mysql_stmt_errno(many[256]), 1461);
    mysql_stmt_close(many[0]);
    assert_int_equal(mysql_stmt_prepare(many[256], "SELECT 1", 8), 0);
    for (int i = 1; i <= 256; i++)
        mysql_stmt_close(many[i]);
    /* Both connections still work. */
    assert_int_equal(client_query_int(m, "SELECT COUNT(*) FROM servers"), 2);
    assert_int_equal(client_query_int(v, "SELECT COUNT(*) FROM servers"), 2);
    mysql_close(v);
    mysql_close(m);
}

/* ---- other drivers ---- */

/* PHP mysqli (mysqlnd, its own protocol code). */
static void test_php_mysqli(void **state)
{
    char port[16], out[8192];
    char *argv[] = {
        "/usr/bin/php", "tests/drivers/mysqli_stmt.php", port, ADMIN_PW, VIEWER_PW, NULL};
    MYSQL *app = client_connect_app(fx.rw_port); /* a session for the script to find */
    (void)state;

    assert_non_null(app);
    if (access(argv[0], X_OK) != 0)
        fail_msg("%s is missing: scripts/deps.sh installs php-cli and php-mysql", argv[0]);
    snprintf(port, sizeof(port), "%d", fx.admin_port);
    assert_int_equal(run_driver(argv, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "mysqli: ok"));
    mysql_close(app);
}

/* node mysql2's execute(), mysql2 installed into the build directory now (vendored nowhere). */
static void test_node_mysql2(void **state)
{
    char bin[PATH_MAX], dir[PATH_MAX + 16], env[PATH_MAX + 48], port[16], out[16384];
    char *install[] = {"tests/drivers/mysql2_install.sh", dir, NULL};
    char *argv[] = {"/usr/bin/env", env,      "node",    "tests/drivers/mysql2_execute.js",
                    port,           ADMIN_PW, VIEWER_PW, NULL};
    MYSQL *app = client_connect_app(fx.rw_port);
    int rc;
    (void)state;

    assert_non_null(app);
    if (!realpath(router_bin(), bin))
        fail_msg("no router binary at %s", router_bin());
    snprintf(dir, sizeof(dir), "%s/drivers", dirname(bin));
    rc = run_driver(install, out, sizeof(out));
    if (rc == SKIPPED) {
        mysql_close(app);
        printf("    SKIPPED: the npm registry cannot be reached to install mysql2\n");
        skip();
    }
    assert_int_equal(rc, 0);
    snprintf(env, sizeof(env), "NODE_PATH=%s/node_modules", dir);
    snprintf(port, sizeof(port), "%d", fx.admin_port);
    assert_int_equal(run_driver(argv, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "mysql2: ok"));
    mysql_close(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_servers_params),
        cmocka_unit_test(test_sessions_and_kill),
        cmocka_unit_test(test_health_log),
        cmocka_unit_test(test_update_changes_routing),
        cmocka_unit_test(test_cursor_long_data_shortcuts),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_php_mysqli),
        cmocka_unit_test(test_node_mysql2),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
