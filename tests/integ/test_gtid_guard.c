/* test_gtid_guard.c - `expect gtid-covers backups` on the master, with real replication (a
 * master and two replicas). The master is stopped; clients move to replica1, which is made
 * writable and takes a write through rebound; the master is started again. It must stay DOWN
 * with status L7GTID and an info naming the GTID it lacks, the clients must stay on the replica
 * and no failback pass may run. Once the master has caught up from replica1 (it replicates from
 * it), it comes UP and the failback pass runs. An operator's override lets it up as it is, with
 * the admin's name in the health log. A master whose only extra transactions are in a domain no
 * backup has comes UP at once. A master restored from an older copy of its data directory
 * stays DOWN.
 *
 * Every wait is bounded and polls for a state; nothing asserts how fast the machine is. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "harness.h"

#define LOG_WAIT_MS                                                                                \
    30000             /* bound for a health-log line: a loaded 2-core box under TSan is slow       \
                       */
#define QUIET_MS 2000 /* how long the blocked master must be seen staying DOWN (many rounds) */
#define POLL_MS  100
#define HELD     4 /* client sessions on the backup across the master's return */
#define ADMIN_PW "Gtid-Guard-Admin-pw"

static struct router_fixture fx;
static int stats_port; /* the router's HTTP stats port */

/* Start rebound with listen rw: the guarded master and two backups, checked every 200 ms. */
static void start_router(void)
{
    assert_int_equal(
        fixture_start(&fx, fx.rw_port,
                      "# written by test_gtid_guard.c\n"
                      "global\n"
                      "    maxconn 1000\n"
                      "    health-log file %s\n"
                      "    admin 127.0.0.1:%d user admin password \"%s\"\n"
                      "    stats 127.0.0.1:%d\n"
                      "defaults\n"
                      "    check mysql user rebound_check password \"check-pass\"\n"
                      "    inter 200ms  fastinter 100ms  downinter 200ms  rise 2  fall 2\n"
                      "    timeout check 10s  timeout connect 1s\n"
                      "    timeout client 1m  timeout server 1m\n"
                      "listen rw\n"
                      "    bind 127.0.0.1:%d\n"
                      "    server master   127.0.0.1:%d check expect read-only off "
                      "expect gtid-covers backups on-marked-up shutdown-backup-sessions\n"
                      "    server replica1 127.0.0.1:%d check backup\n"
                      "    server replica2 127.0.0.1:%d check backup\n",
                      fx.health_log, fx.admin_port, ADMIN_PW, stats_port, fx.rw_port,
                      cluster_port("master"), cluster_port("replica1"), cluster_port("replica2")),
        0);
}

static int setup(void **state)
{
    (void)state;
    if (fixture_init(&fx, "gtid", ADMIN_PW) != 0)
        return -1;
    stats_port = free_port();
    return stats_port < 0 ? -1 : 0;
}

/* GET /metrics from the stats port: the value of the sample SERIES ("name{labels}"), -1 when
 * there is none or the request failed. */
static double metric(const char *series)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    static char resp[256 * 1024];
    struct sockaddr_in sa = loopback_addr(stats_port);
    struct timeval tv = {.tv_sec = 10};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    size_t n = 0, len = strlen(series);
    ssize_t r = 0;
    const char *at;

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1))
        while (n < sizeof(resp) - 1 && (r = read(fd, resp + n, sizeof(resp) - 1 - n)) > 0)
            n += (size_t)r; /* the port closes after the answer */
    close(fd);
    resp[n] = '\0';
    for (at = resp; (at = strstr(at, series)); at += len)
        if (at > resp && at[-1] == '\n' && at[len] == ' ')
            return strtod(at + len + 1, NULL);
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_teardown(&fx);
}

/* Wait (bounded) until a new client through rw lands on the server listening on PORT. */
static void expect_clients_on(int port, const char *what)
{
    int64_t deadline = now_ms() + LOG_WAIT_MS;
    int got;

    while ((got = client_port_via(fx.rw_port)) != port && now_ms() < deadline)
        sleep_ms(POLL_MS);
    if (got != port) {
        fixture_dump_log(&fx);
        fail_msg("new clients land on port %d, want %d (%s)", got, port, what);
    }
}

/* Run SQL as root on INST, failing the test on error. */
static void root(const char *inst, const char *sql)
{
    root_sql(inst, NULL, 0, "%s", sql);
}

/* Print INST's replication status to stderr, for a failure's diagnosis. */
static void print_replication(const char *inst)
{
    MYSQL *m = root_connect(inst);
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;

    if (m && !mysql_query(m, "SHOW SLAVE STATUS") && (res = mysql_store_result(m)) &&
        (row = mysql_fetch_row(res))) {
        MYSQL_FIELD *f = mysql_fetch_fields(res);
        for (unsigned i = 0; i < mysql_num_fields(res); i++)
            fprintf(stderr, "%s %s: %s\n", inst, f[i].name, row[i] ? row[i] : "NULL");
    }
    if (res)
        mysql_free_result(res);
    if (m)
        mysql_close(m);
}

/* The binlog file INST writes to now (SHOW MASTER STATUS, first column), into BUF. */
static void binlog_file(const char *inst, char *buf, size_t size)
{
    MYSQL *m = root_connect(inst);
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;

    assert_non_null(m);
    buf[0] = '\0';
    if (!mysql_query(m, "SHOW MASTER STATUS") && (res = mysql_store_result(m)) &&
        (row = mysql_fetch_row(res)) && row[0])
        snprintf(buf, size, "%s", row[0]);
    if (res)
        mysql_free_result(res);
    mysql_close(m);
    if (!buf[0])
        fail_msg("%s: SHOW MASTER STATUS gave no binlog file", inst);
}

/* Wait (bounded) until SQL run as root on INST gives "1". */
static void wait_root_true(const char *inst, const char *sql)
{
    int64_t deadline = now_ms() + LOG_WAIT_MS;
    char v[256] = "";

    while (now_ms() < deadline) {
        root_sql(inst, v, sizeof(v), "%s", sql);
        if (!strcmp(v, "1"))
            return;
        sleep_ms(POLL_MS);
    }
    root_sql("master", v, sizeof(v), "SELECT @@gtid_current_pos");
    fprintf(stderr, "master at %s\n", v);
    root_sql("replica1", v, sizeof(v), "SELECT @@gtid_current_pos");
    fprintf(stderr, "replica1 at %s\n", v);
    print_replication("master");
    fixture_dump_log(&fx);
    fail_msg("%s: '%s' never became true", inst, sql);
}

/* Run SQL on the admin port as admin: 0, or the MySQL error number. */
static unsigned admin_exec(const char *sql, char *err, size_t errlen)
{
    MYSQL *m = client_connect(fx.admin_port, "admin", ADMIN_PW, NULL, 5);
    unsigned rc;

    assert_non_null(m);
    rc = (unsigned)client_query(m, sql);
    snprintf(err, errlen, "%s", rc ? mysql_error(m) : "");
    mysql_close(m);
    return rc;
}

/* Fail if the health log after FROM holds NEEDLE. */
static void expect_no_line(long from, const char *needle, const char *why)
{
    if (count_file_lines(fx.health_log, from, needle) != 0) {
        fixture_dump_log(&fx);
        fail_msg("%s: found \"%s\"", why, needle);
    }
}

/* The table the scenarios write to, created on the master and replicated to both replicas. */
static void make_table(void)
{
    root("master", "CREATE TABLE IF NOT EXISTS appdb.gtid_guard (id INT PRIMARY KEY)");
    wait_root_true("replica1", "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                               "TABLE_SCHEMA = 'appdb' AND TABLE_NAME = 'gtid_guard'");
    wait_root_true("replica2", "SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                               "TABLE_SCHEMA = 'appdb' AND TABLE_NAME = 'gtid_guard'");
}

/* The failover: the master stops, clients move to replica1, which is made writable and takes
 * row ID through rebound (a transaction the master will lack). HELD sessions stay open on it.
 * Returns the binlog file replica1 wrote that row to (from its start). */
static void master_loses_write(int id, char *binlog, size_t size)
{
    int r1 = cluster_port("replica1");
    char sql[128];
    long from = file_size(fx.health_log);
    MYSQL *c;

    assert_int_equal(cluster_stop_one("master"), 0);
    fixture_expect_line(&fx, from, "Server rw/master is DOWN", LOG_WAIT_MS);
    expect_clients_on(r1, "the master is down");
    fixture_set_global(&fx, "replica1", "read_only", "0");
    /* A fresh binlog file: the master can replay it from its start to catch up. */
    root("replica1", "FLUSH BINARY LOGS");
    binlog_file("replica1", binlog, size);
    c = client_connect_app(fx.rw_port);
    assert_non_null(c);
    assert_int_equal(client_server_port(c), r1);
    snprintf(sql, sizeof(sql), "INSERT INTO appdb.gtid_guard VALUES (%d)", id);
    assert_int_equal(client_query(c, sql), 0);
    mysql_close(c);
    for (int i = 0; i < HELD; i++)
        assert_int_equal(client_server_port(fx.held[fixture_hold(&fx, fx.rw_port)]), r1);
}

/* The master is started again and must be held back: DOWN, L7GTID whose info starts with
 * MISSING ("replica1 has 0-2-"), clients (and the sessions held, if any) still on replica1, no
 * failback pass, for QUIET_MS of checks. */
static void master_held_back(long from, const char *missing)
{
    int r1 = cluster_port("replica1");
    char line[256];

    assert_int_equal(cluster_start_one("master"), 0);
    snprintf(line, sizeof(line),
             "Health check for server rw/master failed, reason: Layer7 missing transactions, "
             "info: \"%s",
             missing);
    fixture_expect_line(&fx, from, line, LOG_WAIT_MS);
    fixture_expect_line(&fx, from, ", master stops at 0-", LOG_WAIT_MS);
    sleep_ms(QUIET_MS);
    expect_no_line(from, "Server rw/master is UP", "the master came UP lacking a write");
    expect_no_line(from, "Killed ", "a failback pass ran");
    assert_int_equal(client_port_via(fx.rw_port), r1);
    for (int i = 0; i < HELD; i++)
        if (fx.held[i])
            assert_int_equal(client_server_port(fx.held[i]), r1);
    assert_int_equal(fixture_admin_int(&fx,
                                       "SELECT state = 'DOWN' AND check_status = 'L7GTID' "
                                       "AND check_info LIKE '%s%%' FROM servers "
                                       "WHERE listener = 'rw' AND name = 'master'",
                                       missing),
                     1);
    if (metric("rebound_server_gtid_behind{listener=\"rw\",server=\"master\"}") != 1 ||
        metric("rebound_server_gtid_guard_blocks_total{listener=\"rw\",server=\"master\"}") < 1 ||
        metric(
            "rebound_server_check_status{listener=\"rw\",server=\"master\",status=\"L7GTID\"}") !=
            1)
        fail_msg("/metrics does not show the master held back by the GTID guard");
    assert_int_equal(fixture_admin_int(&fx, "SELECT gtid_guard = 'on' AND gtid_position IS NOT "
                                            "NULL FROM servers WHERE listener = 'rw' AND name = "
                                            "'master'"),
                     1);
}

/* The failback pass ran: every held session on replica1 was closed (the count may include a
 * probe session the router had not yet seen close), new clients go to the master. */
static void failback_ran(long from)
{
    if (!wait_for_file_line_from(fx.health_log, from, "Server rw/master is UP", LOG_WAIT_MS)) {
        char m[256], r1[256];
        root_sql("master", m, sizeof(m), "SELECT @@gtid_current_pos");
        root_sql("replica1", r1, sizeof(r1), "SELECT @@gtid_current_pos");
        fixture_dump_log(&fx);
        fail_msg("the master did not come UP (master at %s, replica1 at %s)", m, r1);
    }
    fixture_expect_line(&fx, from, "sessions on backup servers of rw after rw/master came UP",
                        LOG_WAIT_MS);
    for (int i = 0; i < HELD; i++) {
        int err = client_query(fx.held[i], "SELECT 1");
        if (!closed_by_router(err))
            fail_msg("backup session %d survived the master's return: %d", i, err);
    }
    expect_clients_on(cluster_port("master"), "the master is back");
    assert_true(metric("rebound_server_up{listener=\"rw\",server=\"master\"}") == 1);
}

/* The runbook: the master replicates from replica1's binlog file BINLOG (from its start) until
 * it holds row ID, which it lacked; the replication is stopped and forgotten at teardown. */
static void catch_up(const char *binlog, int id)
{
    char sql[512];

    fixture_push_undo(&fx, "master", "RESET SLAVE ALL");
    fixture_push_undo(&fx, "master", "STOP SLAVE");
    snprintf(sql, sizeof(sql),
             "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %d, MASTER_USER = 'repl', "
             "MASTER_PASSWORD = 'repl-pass', MASTER_LOG_FILE = '%s', MASTER_LOG_POS = 4, "
             "MASTER_USE_GTID = no, MASTER_CONNECT_RETRY = 1",
             cluster_port("replica1"), binlog);
    root("master", sql);
    root("master", "START SLAVE");
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM appdb.gtid_guard WHERE id = %d", id);
    wait_root_true("master", sql);
}

/* A master that lost a write stays DOWN; once it caught up from the replica it comes UP. */
static void test_master_lacking_a_write_stays_down_until_caught_up(void **state)
{
    char binlog[128];
    long from;

    (void)state;
    make_table();
    start_router();
    expect_clients_on(cluster_port("master"), "at start");
    master_loses_write(1, binlog, sizeof(binlog));
    from = file_size(fx.health_log);
    master_held_back(from, "replica1 has 0-2-");

    catch_up(binlog, 1);
    failback_ran(from);
    expect_no_line(from, "does not block", "a position could not be compared");
    assert_int_equal(fixture_admin_int(&fx, "SELECT COUNT(*) FROM servers WHERE listener = 'rw' "
                                            "AND gtid_position IS NOT NULL"),
                     3);
}

/* The operator accepts the master as it is: it comes UP lacking the write, the failback pass
 * runs, and the health log names the admin. */
static void test_override_lets_the_master_up(void **state)
{
    char binlog[128], err[256];
    long from;

    (void)state;
    make_table();
    start_router();
    expect_clients_on(cluster_port("master"), "at start");
    master_loses_write(2, binlog, sizeof(binlog));
    from = file_size(fx.health_log);
    master_held_back(from, "replica1 has 0-2-");

    /* Not on a backup, not with a value it does not take. */
    assert_int_not_equal(admin_exec("UPDATE servers SET gtid_guard = 'override' WHERE listener = "
                                    "'rw' AND name = 'replica1'",
                                    err, sizeof(err)),
                         0);
    assert_non_null(strstr(err, "has no GTID guard"));
    assert_int_not_equal(admin_exec("UPDATE servers SET gtid_guard = 'off' WHERE listener = 'rw' "
                                    "AND name = 'master'",
                                    err, sizeof(err)),
                         0);
    assert_non_null(strstr(err, "gtid_guard may be set to 'override'"));
    expect_no_line(from, "Server rw/master is UP", "a refused override let the master up");

    assert_int_equal(admin_exec("UPDATE servers SET gtid_guard = 'override' WHERE listener = 'rw' "
                                "AND name = 'master'",
                                err, sizeof(err)),
                     0);
    fixture_expect_line(&fx, from,
                        "GTID guard of server rw/master overridden by admin admin@127.0.0.1",
                        LOG_WAIT_MS);
    fixture_expect_line(&fx, from, "it may come UP as it is, although replica1 has 0-2-",
                        LOG_WAIT_MS);
    failback_ran(from);
    fixture_expect_line(&fx, from, "GTID guard overridden (replica1 has 0-2-", LOG_WAIT_MS);
    /* Used once: the guard is on again for the next return. */
    assert_int_equal(fixture_admin_int(&fx, "SELECT gtid_guard = 'on' FROM servers WHERE "
                                            "listener = 'rw' AND name = 'master'"),
                     1);
    /* An override of an UP master is refused, and with it the whole row's update. */
    assert_int_not_equal(admin_exec("UPDATE servers SET admin_state = 'drain', gtid_guard = "
                                    "'override' WHERE listener = 'rw' AND name = 'master'",
                                    err, sizeof(err)),
                         0);
    assert_non_null(strstr(err, "only holds back a DOWN server"));
    assert_int_equal(fixture_admin_int(&fx, "SELECT admin_state = 'ready' FROM servers WHERE "
                                            "listener = 'rw' AND name = 'master'"),
                     1);
    /* While UP the master still lacks replica1's write: reported, not acted on. */
    assert_int_equal(fixture_admin_int(&fx, "SELECT state = 'UP' FROM servers WHERE listener = "
                                            "'rw' AND name = 'master'"),
                     1);
    /* Then it catches up, as the runbook says, and the report ends. */
    catch_up(binlog, 2);
    fixture_expect_line(&fx, from, "Server rw/master holds every transaction of its backups again",
                        LOG_WAIT_MS);
}

/* Transactions in a domain no backup has are the master's own: it comes UP at once. */
static void test_master_with_own_domain_comes_up(void **state)
{
    MYSQL *m;
    long from;

    (void)state;
    make_table();
    /* The replicas do not receive the master's domain 7 while their replication is stopped. */
    fixture_push_undo(&fx, "replica1", "START SLAVE");
    root("replica1", "STOP SLAVE");
    fixture_push_undo(&fx, "replica2", "START SLAVE");
    root("replica2", "STOP SLAVE");
    m = root_connect("master");
    assert_non_null(m);
    assert_int_equal(root_run(m, "SET SESSION gtid_domain_id = 7", NULL, 0), 0);
    assert_int_equal(root_run(m, "INSERT INTO appdb.gtid_guard VALUES (700)", NULL, 0), 0);
    mysql_close(m);

    start_router();
    expect_clients_on(cluster_port("master"), "at start");
    from = file_size(fx.health_log);
    assert_int_equal(cluster_stop_one("master"), 0);
    fixture_expect_line(&fx, from, "Server rw/master is DOWN", LOG_WAIT_MS);
    assert_int_equal(cluster_start_one("master"), 0);
    fixture_expect_line(&fx, from, "Server rw/master is UP", LOG_WAIT_MS);
    expect_no_line(from, "Layer7 missing transactions", "the master's own domain blocked it");
    expect_no_line(from, "does not block", "a position could not be compared");
    assert_int_equal(fixture_admin_int(&fx, "SELECT gtid_position LIKE '%%7-1-%%' FROM servers "
                                            "WHERE listener = 'rw' AND name = 'master'"),
                     1);
}

/* Run ARGV (a command and its arguments, NULL-ended), failing the test unless it exits 0. */
static void run_ok(char *const argv[])
{
    char out[1024];
    int rc = run_command(argv, out, sizeof(out), LOG_WAIT_MS);

    if (rc != 0)
        fail_msg("%s exited with %d: %s", argv[0], rc, out);
}

/* A master restored from an older copy of its own data directory lacks its own latest
 * transaction, which both replicas hold: it stays DOWN, naming what it lacks. (Last in the
 * file: the replicas then fail to replicate from the restored master, as they would.) */
static void test_master_restored_from_older_copy_stays_down(void **state)
{
    char dir[512], copy[600];
    long from;
    MYSQL *c;

    (void)state;
    make_table();
    start_router();
    expect_clients_on(cluster_port("master"), "at start");
    harness_path(dir, sizeof(dir), "master");
    snprintf(copy, sizeof(copy), "%s.copy", dir);

    /* The copy, taken while the master is stopped. */
    from = file_size(fx.health_log);
    assert_int_equal(cluster_stop_one("master"), 0);
    fixture_expect_line(&fx, from, "Server rw/master is DOWN", LOG_WAIT_MS);
    run_ok((char *const[]){"/bin/cp", "-a", dir, copy, NULL});
    from = file_size(fx.health_log);
    assert_int_equal(cluster_start_one("master"), 0);
    fixture_expect_line(&fx, from, "Server rw/master is UP", LOG_WAIT_MS);
    expect_clients_on(cluster_port("master"), "the master is back");

    /* A write through rebound that the master makes and both replicas receive. */
    c = client_connect_app(fx.rw_port);
    assert_non_null(c);
    assert_int_equal(client_server_port(c), cluster_port("master"));
    assert_int_equal(client_query(c, "INSERT INTO appdb.gtid_guard VALUES (900)"), 0);
    mysql_close(c);
    wait_root_true("replica1", "SELECT COUNT(*) FROM appdb.gtid_guard WHERE id = 900");
    wait_root_true("replica2", "SELECT COUNT(*) FROM appdb.gtid_guard WHERE id = 900");

    /* The master comes back from the copy, without that write. */
    from = file_size(fx.health_log);
    assert_int_equal(cluster_stop_one("master"), 0);
    fixture_expect_line(&fx, from, "Server rw/master is DOWN", LOG_WAIT_MS);
    run_ok((char *const[]){"/bin/rm", "-rf", dir, NULL});
    run_ok((char *const[]){"/bin/mv", copy, dir, NULL});
    master_held_back(from, "replica1 has 0-1-");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* In this order: the restored copy, last, leaves the replicas unable to replicate. */
        cmocka_unit_test_setup_teardown(test_master_with_own_domain_comes_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_lacking_a_write_stays_down_until_caught_up,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_override_lets_the_master_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_restored_from_older_copy_stays_down, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
