/* test_failover.c - failover under a steady stream of new client connections, the way an
 * application sees it. rebound runs with `observe layer4 error-limit 3 on-error mark-down`,
 * `timeout greeting 1s`, `retries 2` and `on-marked-up shutdown-backup-sessions`; a loop makes
 * sequential connects + `SELECT @@port` through it while the master is killed (kill -9) or frozen
 * (SIGSTOP). Every connect must succeed: until passive observation takes the master DOWN, each
 * failed attempt is redispatched to a replica before the client has seen a byte. The test prints
 * how long after the fault new clients landed on a replica and when the master was marked DOWN,
 * then brings the master back and waits until new clients land on it again.
 *
 * The configuration the README recommends (`observe layer7 error-limit 10`, replicas with
 * `expect max-lag 30`) goes through the same kill -9: the replicas, whose master is gone, must
 * keep passing their checks (L7OK, "master unreachable") instead of going DOWN for replication
 * that cannot run; a replica whose SQL thread stopped must still go DOWN.
 *
 * With `error-limit 1` a burst of concurrent clients (one thread each, a new one every 20 ms)
 * runs across the fault: the clients that were waiting for the master's greeting when it was
 * marked DOWN must be redispatched to a replica, not reset. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* timegm */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"

#define LOG_WAIT_MS        20000 /* bound for a health-log line: a loaded 2-core box is slow */
#define WARM_CONNECTS      5     /* connects that must land on the master before the fault */
#define AFTER_DOWN         20    /* connects after the DOWN line before the stream stops */
#define STREAM_MAX_CONNECT 2000  /* bounds of the stream */
#define STREAM_MAX_MS      20000
#define STREAM_MAX_PRINT   10    /* failed connects of a stream printed one by one */
#define UP_WAIT_MS         20000 /* master back UP after a restart or a thaw */
#define REPL_WAIT_MS       30000 /* replication running again after a test (as cluster.sh) */
#define ADMIN_PW           "Fail0ver-Admin-pw"
#define README_STREAM_MS   6000 /* the README stream: several replica check intervals */
#define README_PACE_MS     10   /* between its connects, so the connect bound is not hit first */
#define BURST_EVERY_MS     20   /* a new client thread this often */
#define BURST_BEFORE_MS    500  /* from the first client to the fault */
#define BURST_AFTER_MS     2500 /* from the fault to the last client */
#define BURST_MAX          150
#define BURST_TIMEOUT_S    5 /* connect, read and write timeouts of a burst client */
#define BURST_STACK        (512 * 1024)
#define BURST_JOIN_MS      30000 /* bound for joining every burst client */

/* What a stream of connects saw after a fault. */
struct stream {
    int connects, failed, on_master, on_replica;
    int64_t first_replica_ms; /* from the fault to the first client served by a replica */
    int64_t down_ms;          /* from the fault to the DOWN line (its timestamp) */
    int64_t slowest_ms;       /* the slowest connect + query */
    int64_t slowest_after_down_ms;
    int64_t fault_ms; /* how long injecting the fault took (until the kernel said it was done) */
};

/* One client of a burst, on its own thread (harness clients keep their last error in a global
 * and are not for threads: these use the client library directly). */
struct burst_client {
    pthread_t thread;
    bool running;    /* the thread was created and not joined yet */
    int64_t start;   /* now_ms() when it was started */
    int64_t took_ms; /* connect + SELECT @@port + close */
    int port;        /* @@port of the server it landed on, -1 if it failed */
    bool greeted;    /* it failed after the greeting: bound to the server that greeted */
    unsigned err;
    char error[160];
};

/* A burst of clients across a fault. */
struct burst {
    struct burst_client c[BURST_MAX];
    int n;
    int64_t fault;      /* now_ms() just before the signal */
    int64_t fault_wall; /* wall_ms() just before the signal */
    int fault_rc;       /* what injecting the fault returned */
    int64_t fault_ms;   /* how long injecting it took */
    int spawn_failed;   /* threads that could not be created */
    int unjoined;       /* threads still running after BURST_JOIN_MS */
    int failed, bound, misplaced, on_master, on_replica;
    int64_t first_replica_ms, down_ms, slowest_ms;
};

/* The router of a test and its undo list. */
static struct router_fixture fx;
static struct burst burst;

/* Wall-clock milliseconds since the epoch (the health log's timestamps are UTC wall time). */
static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Timestamp (epoch ms) of the first line after `from` holding needle, -1 if none. */
static int64_t line_time_ms(long from, const char *needle)
{
    char *log = read_file(fx.health_log), *hit, *start;
    struct tm tm;
    int ms = 0;
    int64_t t = -1;

    if (!log)
        return -1;
    if ((long)strlen(log) >= from && (hit = strstr(log + from, needle))) {
        for (start = hit; start > log + from && start[-1] != '\n'; start--)
            ;
        memset(&tm, 0, sizeof(tm));
        if (sscanf(start, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) == 7) {
            tm.tm_year -= 1900;
            tm.tm_mon -= 1;
            t = (int64_t)timegm(&tm) * 1000 + ms;
        }
    }
    free(log);
    return t;
}

/* ---- root on an instance ---- */

/* Run sql as root on inst now and undo_sql at teardown (registered first, so a change that
 * half-happened is undone too); 0 or -1. */
static int root_change(const char *inst, const char *sql, const char *undo_sql)
{
    MYSQL *m;
    int rc;

    fixture_push_undo(&fx, inst, "%s", undo_sql);
    m = root_connect(inst);
    if (!m)
        return -1;
    rc = root_run(m, sql, NULL, 0);
    mysql_close(m);
    return rc == 0 ? 0 : -1;
}

/* The check user may read the replica status (`expect max-lag`): scripts/cluster.sh gives it
 * USAGE only, so grant SLAVE MONITOR on the replicas until teardown. 0 or -1. */
static int grant_slave_monitor(void)
{
    static const char *const replicas[] = {"replica1", "replica2"};
    size_t i;

    for (i = 0; i < sizeof(replicas) / sizeof(replicas[0]); i++)
        if (root_change(replicas[i], "GRANT SLAVE MONITOR ON *.* TO 'rebound_check'@'127.0.0.1'",
                        "REVOKE SLAVE MONITOR ON *.* FROM 'rebound_check'@'127.0.0.1'") != 0)
            return -1;
    return 0;
}

/* Slave_IO_Running and Slave_SQL_Running of replica inst ("?" when unknown). */
static void replica_threads(const char *inst, char *io, char *sql, size_t size)
{
    MYSQL *m = root_connect(inst);
    MYSQL_RES *res = NULL;
    MYSQL_FIELD *f;
    MYSQL_ROW row;
    unsigned i;

    snprintf(io, size, "?");
    snprintf(sql, size, "?");
    if (m && mysql_query(m, "SHOW SLAVE STATUS") == 0 && (res = mysql_store_result(m)) &&
        (row = mysql_fetch_row(res))) {
        f = mysql_fetch_fields(res);
        for (i = 0; i < mysql_num_fields(res); i++) {
            if (!strcmp(f[i].name, "Slave_IO_Running") && row[i])
                snprintf(io, size, "%s", row[i]);
            else if (!strcmp(f[i].name, "Slave_SQL_Running") && row[i])
                snprintf(sql, size, "%s", row[i]);
        }
    }
    if (res)
        mysql_free_result(res);
    if (m)
        mysql_close(m);
}

/* Wait (bounded) until both replication threads of every replica run again, so that the next
 * test starts with healthy replicas; 0 or -1 after saying which does not. */
static int wait_replicating(void)
{
    static const char *const replicas[] = {"replica1", "replica2"};
    int64_t deadline = now_ms() + REPL_WAIT_MS;
    char io[32], sql[32];
    size_t i;

    for (i = 0; i < sizeof(replicas) / sizeof(replicas[0]); i++) {
        for (;;) {
            replica_threads(replicas[i], io, sql, sizeof(io));
            if (!strcmp(io, "Yes") && !strcmp(sql, "Yes"))
                break;
            if (now_ms() >= deadline) {
                fprintf(stderr, "%s: replication not running after %d ms (IO %s, SQL %s)\n",
                        replicas[i], REPL_WAIT_MS, io, sql);
                return -1;
            }
            sleep_ms(200);
        }
    }
    return 0;
}

/* ---- the router ---- */

/* Write the config and start rebound: checks every 2s (500ms in transition and while DOWN),
 * rise 2, fall 3, timeout check 2s, retries 2. `observe` is the observe line, greeting_ms the
 * greeting timeout (1s everywhere: a frozen master misses it, while a greeting that a stalled
 * router or master on a loaded box is late with does not move a client off a healthy master),
 * master_opts and replica_opts the options after `check` of the master and of both replicas
 * (backups). 0 or -1. */
static int start_router(const char *observe, int greeting_ms, const char *master_opts,
                        const char *replica_opts)
{
    return fixture_start(&fx, fx.rw_port,
                         "# written by test_failover.c\n"
                         "global\n"
                         "    maxconn 1000\n"
                         "    health-log file %s\n"
                         "    admin 127.0.0.1:%d user admin password \"%s\"\n"
                         "defaults\n"
                         "    check mysql user rebound_check password \"check-pass\"\n"
                         "    inter 2s  fastinter 500ms  downinter 500ms  rise 2  fall 3\n"
                         "    timeout check 2s  timeout connect 1s  timeout greeting %dms\n"
                         "    timeout client 1m  timeout server 1m\n"
                         "    %s\n"
                         "    retries 2\n"
                         "listen rw\n"
                         "    bind 127.0.0.1:%d\n"
                         "    server master   127.0.0.1:%d check %s\n"
                         "    server replica1 127.0.0.1:%d check backup %s\n"
                         "    server replica2 127.0.0.1:%d check backup %s\n",
                         fx.health_log, fx.admin_port, ADMIN_PW, greeting_ms, observe, fx.rw_port,
                         cluster_port("master"), master_opts, cluster_port("replica1"),
                         replica_opts, cluster_port("replica2"), replica_opts);
}

/* The layer-4 setup of the first tests. The master's `fall 50` keeps its own checks out of the
 * race: it takes 50 failed checks 500 ms apart (over 24 s, longer than a stream may run) to take
 * it DOWN that way, so only passive observation can do it during the stream. */
static int setup(void **state)
{
    (void)state;
    if (fixture_init(&fx, "failover", ADMIN_PW) != 0)
        return -1;
    return start_router("observe layer4  error-limit 3  on-error mark-down", 1000,
                        "fall 50 on-marked-up shutdown-backup-sessions", "");
}

/* The configuration the README recommends. */
static int setup_readme(void **state)
{
    (void)state;
    if (fixture_init(&fx, "failover", ADMIN_PW) != 0)
        return -1;
    if (grant_slave_monitor() != 0 ||
        start_router("observe layer7  error-limit 10  on-error mark-down", 1000,
                     "expect read-only off on-marked-up shutdown-backup-sessions "
                     "on-marked-down shutdown-sessions",
                     "expect max-lag 30") != 0) {
        fixture_run_undo(&fx); /* cmocka may skip the teardown of a failed setup */
        return -1;
    }
    return 0;
}

/* The first traffic error takes the master DOWN and kills its sessions. */
static int setup_redispatch(void **state)
{
    (void)state;
    if (fixture_init(&fx, "failover", ADMIN_PW) != 0)
        return -1;
    return start_router("observe layer7  error-limit 1  on-error mark-down", 1000,
                        "on-marked-up shutdown-backup-sessions on-marked-down shutdown-sessions",
                        "");
}

static int teardown(void **state)
{
    int rc = 0;

    (void)state;
    if (fixture_teardown(&fx) != 0)
        rc = -1;
    if (wait_replicating() != 0)
        rc = -1;
    return rc;
}

/* ---- the admin port ---- */

/* First two columns of the first row of an admin query; fails the test on error. */
static void admin_row(const char *sql, char *a, char *b, size_t size)
{
    MYSQL *m = client_connect(fx.admin_port, "admin", ADMIN_PW, NULL, 5);
    MYSQL_RES *res = NULL;
    MYSQL_ROW row = NULL;
    char err[256];

    if (!m)
        fail_msg("admin login failed: %u %s", client_errno(), client_error());
    if (mysql_query(m, sql) == 0 && (res = mysql_store_result(m)) && mysql_num_fields(res) >= 2 &&
        (row = mysql_fetch_row(res))) {
        snprintf(a, size, "%s", row[0] ? row[0] : "NULL");
        snprintf(b, size, "%s", row[1] ? row[1] : "NULL");
    }
    snprintf(err, sizeof(err), "%u %s", mysql_errno(m), mysql_error(m));
    if (res)
        mysql_free_result(res);
    mysql_close(m);
    if (!row)
        fail_msg("admin query \"%s\" gave no row: %s", sql, err);
}

/* Wait (bounded) until the admin port shows status want_status for server rw/name's last check
 * and an info holding want_info; fails the test with what it showed last. */
static void expect_last_check(const char *name, const char *want_status, const char *want_info)
{
    char sql[256], status[256], info[256];
    int64_t deadline = now_ms() + LOG_WAIT_MS;

    snprintf(sql, sizeof(sql),
             "SELECT check_status, check_info FROM servers WHERE listener = 'rw' AND name = '%s'",
             name);
    for (;;) {
        admin_row(sql, status, info, sizeof(info));
        if (!strcmp(status, want_status) && strstr(info, want_info))
            return;
        if (now_ms() >= deadline)
            break;
        sleep_ms(200);
    }
    fixture_dump_log(&fx);
    fail_msg("rw/%s: check_status %s, check_info \"%s\"; want %s with \"%s\"", name, status, info,
             want_status, want_info);
}

/* ---- clients ---- */

/* Connects that must all land on want_port. */
static void expect_clients_on(int n, int want_port, const char *what)
{
    int i, got;

    for (i = 0; i < n; i++) {
        got = client_port_via(fx.rw_port);
        if (got != want_port) {
            fixture_dump_log(&fx);
            fail_msg("%s: client %d landed on %d, want %d (client error %u: %s)", what, i, got,
                     want_port, client_errno(), client_error());
        }
    }
}

/* Sequential connects + SELECT @@port from the fault (t0, t0_wall) on, pace_ms apart, until
 * AFTER_DOWN connects after the DOWN line holding down_needle and at least min_ms after the
 * fault, within STREAM_MAX_CONNECT connects / STREAM_MAX_MS. */
static void run_stream(struct stream *st, int64_t t0, int64_t t0_wall, long from,
                       const char *down_needle, int min_ms, int pace_ms)
{
    int r1 = cluster_port("replica1"), r2 = cluster_port("replica2"), m = cluster_port("master");
    int port, after_down = -1;
    int64_t t, took, down_wall;

    memset(st, 0, sizeof(*st));
    st->fault_ms = now_ms() - t0;
    st->first_replica_ms = st->down_ms = -1;
    while (st->connects < STREAM_MAX_CONNECT && now_ms() - t0 < STREAM_MAX_MS) {
        t = now_ms();
        port = client_port_via(fx.rw_port);
        took = now_ms() - t;
        st->connects++;
        if (took > st->slowest_ms)
            st->slowest_ms = took;
        if (after_down >= 0 && took > st->slowest_after_down_ms)
            st->slowest_after_down_ms = took;
        if (port == r1 || port == r2) {
            st->on_replica++;
            if (st->first_replica_ms < 0)
                st->first_replica_ms = now_ms() - t0;
        } else if (port == m) {
            st->on_master++;
        } else {
            if (++st->failed <= STREAM_MAX_PRINT)
                fprintf(stderr, "connect %d failed after %lld ms: %u %s\n", st->connects,
                        (long long)took, client_errno(), client_error());
        }
        if (after_down < 0 && count_file_lines(fx.health_log, from, down_needle) > 0)
            after_down = 0;
        else if (after_down >= 0 && ++after_down >= AFTER_DOWN && now_ms() - t0 >= min_ms)
            break;
        if (pace_ms > 0)
            sleep_ms(pace_ms);
    }
    down_wall = line_time_ms(from, down_needle);
    if (down_wall >= 0)
        st->down_ms = down_wall - t0_wall;
}

static void report(const char *fault, const struct stream *st)
{
    printf("failover (%s): %d connects, %d failed; first client on a replica %lld ms after the "
           "signal (the signal took %lld ms to take effect); master marked DOWN by passive "
           "observation %lld ms after the signal; slowest connect %lld ms (%lld ms once DOWN)\n",
           fault, st->connects, st->failed, (long long)st->first_replica_ms,
           (long long)st->fault_ms, (long long)st->down_ms, (long long)st->slowest_ms,
           (long long)st->slowest_after_down_ms);
    fflush(stdout);
}

static void expect_stream_ok(const struct stream *st)
{
    if (st->failed != 0 || st->on_master != 0 || st->first_replica_ms < 0 || st->down_ms < 0) {
        fixture_dump_log(&fx);
        fail_msg("%d of %d connects failed, %d landed on the dead master, first on a replica "
                 "after %lld ms, DOWN after %lld ms",
                 st->failed, st->connects, st->on_master, (long long)st->first_replica_ms,
                 (long long)st->down_ms);
    }
}

/* The master came back: it is UP, rebound killed the sessions on the backups (none are held,
 * so 0), and new clients land on it again. */
static void expect_master_back(long from)
{
    fixture_expect_line(&fx, from, "Server rw/master is UP, reason: Layer7 check passed",
                        UP_WAIT_MS);
    fixture_expect_line(&fx, from, "sessions on backup servers of rw after rw/master came UP",
                        LOG_WAIT_MS);
    expect_clients_on(3, cluster_port("master"), "master back UP");
}

/* kill -9: connects to the master are refused at once and redispatched. */
static void test_failover_kill9(void **state)
{
    const char *down = "Server rw/master is DOWN, reason: Health analyze, info: \"3 consecutive "
                       "errors in traffic, last: connect failed (Connection refused)\"";
    struct stream st;
    int64_t t0, t0_wall;
    long from;

    (void)state;
    /* A server that has not passed its first check yet is one failed check from DOWN. */
    expect_last_check("master", "L7OK", "");
    expect_clients_on(WARM_CONNECTS, cluster_port("master"), "before the kill");
    from = file_size(fx.health_log);
    t0_wall = wall_ms();
    t0 = now_ms();
    assert_int_equal(cluster_kill9("master"), 0);
    run_stream(&st, t0, t0_wall, from, down, 0, 0);
    report("kill -9", &st);
    expect_stream_ok(&st);
    from = file_size(fx.health_log);
    assert_int_equal(cluster_start_one("master"), 0);
    expect_master_back(from);
}

/* SIGSTOP: connects to the master complete in the kernel but nothing is said; each waits
 * `timeout greeting` before it is redispatched, until the master is DOWN. */
static void test_failover_freeze(void **state)
{
    const char *down = "Server rw/master is DOWN, reason: Health analyze, info: \"3 consecutive "
                       "errors in traffic, last: no greeting (no greeting in time)\"";
    struct stream st;
    int64_t t0, t0_wall;
    long from;

    (void)state;
    /* A server that has not passed its first check yet is one failed check from DOWN. */
    expect_last_check("master", "L7OK", "");
    expect_clients_on(WARM_CONNECTS, cluster_port("master"), "before the freeze");
    from = file_size(fx.health_log);
    t0_wall = wall_ms();
    t0 = now_ms();
    assert_int_equal(cluster_freeze("master"), 0);
    run_stream(&st, t0, t0_wall, from, down, 0, 0);
    report("SIGSTOP", &st);
    expect_stream_ok(&st);
    from = file_size(fx.health_log);
    assert_int_equal(cluster_thaw("master"), 0);
    expect_master_back(from);
}

/* Fail the test (log attached) if a line after `from` holds needle. */
static void expect_no_line(long from, const char *needle)
{
    int n = count_file_lines(fx.health_log, from, needle);

    if (n == 0)
        return;
    fixture_dump_log(&fx);
    fail_msg("%d health-log lines hold \"%s\", want none", n, needle);
}

/* The line after `from` holding needle, waited for (bounded), with the log attached on failure;
 * the caller frees it. */
static char *wait_line(long from, const char *needle)
{
    char *log, *hit, *start, *end, *line;

    fixture_expect_line(&fx, from, needle, LOG_WAIT_MS);
    log = read_file(fx.health_log);
    if (!log || (long)strlen(log) < from || !(hit = strstr(log + from, needle)))
        fail_msg("health-log line \"%s\" vanished", needle);
    for (start = hit; start > log + from && start[-1] != '\n'; start--)
        ;
    end = strchr(hit, '\n');
    line = strndup(start, end ? (size_t)(end - start) : strlen(start));
    free(log);
    assert_non_null(line);
    return line;
}

/* Fail the test (log attached) unless line holds needle. */
static void expect_in_line(const char *line, const char *needle)
{
    if (strstr(line, needle))
        return;
    fixture_dump_log(&fx);
    fail_msg("health-log line \"%s\" does not hold \"%s\"", line, needle);
}

/* The README configuration (observe layer7, error-limit 10, replicas with expect max-lag 30)
 * through a kill -9 of the master: every client lands on a replica, and the replicas, whose
 * replication cannot run without a master, keep passing their checks (L7OK, "master
 * unreachable") for several check intervals instead of going DOWN and leaving no server. */
static void test_failover_readme_config_kill9(void **state)
{
    struct stream st;
    int64_t t0, t0_wall;
    long from;

    (void)state;
    /* Both replicas passed a first check (the SLAVE MONITOR grant works) and are UP. */
    expect_last_check("replica1", "L7OK", "");
    expect_last_check("replica2", "L7OK", "");
    expect_clients_on(WARM_CONNECTS, cluster_port("master"), "before the kill");
    from = file_size(fx.health_log);
    t0_wall = wall_ms();
    t0 = now_ms();
    assert_int_equal(cluster_kill9("master"), 0);
    run_stream(&st, t0, t0_wall, from, "Server rw/master is DOWN", README_STREAM_MS,
               README_PACE_MS);
    report("kill -9, README config", &st);
    printf("failover (kill -9, README config): stream ran %lld ms; failed replica checks in it: "
           "replica1 %d, replica2 %d\n",
           (long long)(now_ms() - t0),
           count_file_lines(fx.health_log, from, "Health check for server rw/replica1 failed"),
           count_file_lines(fx.health_log, from, "Health check for server rw/replica2 failed"));
    fflush(stdout);
    expect_stream_ok(&st);
    expect_no_line(from, "Server rw/replica1 is DOWN");
    expect_no_line(from, "Server rw/replica2 is DOWN");
    expect_no_line(from, "has no server available");
    /* The master is still dead: the replicas' last checks say why they pass. */
    expect_last_check("replica1", "L7OK", "master unreachable");
    expect_last_check("replica2", "L7OK", "master unreachable");
    from = file_size(fx.health_log);
    assert_int_equal(cluster_start_one("master"), 0);
    expect_master_back(from);
}

/* With the master alive, a replica whose SQL thread stopped is broken, not cut off from its
 * master: `expect max-lag` still takes it DOWN, and it comes back once the thread runs. */
static void test_replica_sql_thread_stopped_fails(void **state)
{
    char *line;
    long from;

    (void)state;
    expect_last_check("replica1", "L7OK", "");
    from = file_size(fx.health_log);
    assert_int_equal(root_change("replica1", "STOP SLAVE SQL_THREAD", "START SLAVE SQL_THREAD"), 0);
    line = wait_line(from, "Server rw/replica1 is DOWN");
    expect_in_line(line, "replication is not running");
    expect_in_line(line, "SQL thread: No");
    free(line);
    expect_no_line(from, "Server rw/replica2 is DOWN");
    from = file_size(fx.health_log);
    root_sql("replica1", NULL, 0, "START SLAVE SQL_THREAD");
    fixture_expect_line(&fx, from, "Server rw/replica1 is UP, reason: Layer7 check passed",
                        UP_WAIT_MS);
}

/* A burst client: connect as app, SELECT @@port, close; records the outcome in c. */
static void *burst_client_run(void *arg)
{
    struct burst_client *c = arg;
    unsigned timeout = BURST_TIMEOUT_S;
    MYSQL_RES *res;
    MYSQL_ROW row;
    MYSQL *m;

    mysql_thread_init();
    c->port = -1;
    m = mysql_init(NULL);
    if (!m) {
        snprintf(c->error, sizeof(c->error), "mysql_init failed");
        goto out;
    }
    client_options(m, timeout);
    if (!mysql_real_connect(m, "127.0.0.1", "app", "app-pass", "appdb", (unsigned)fx.rw_port, NULL,
                            0)) {
        c->err = mysql_errno(m);
        snprintf(c->error, sizeof(c->error), "connect: %s", mysql_error(m));
        /* Lost after the greeting (during the login): Connector/C names the step it was in. */
        c->greeted = c->err == CLIENT_LOST_ERROR &&
                     !strstr(c->error, "reading initial communication packet");
    } else if (mysql_query(m, "SELECT @@port") != 0 || !(res = mysql_store_result(m))) {
        c->err = mysql_errno(m);
        snprintf(c->error, sizeof(c->error), "SELECT @@port: %s", mysql_error(m));
        c->greeted = c->err == CLIENT_LOST_ERROR || c->err == CLIENT_GONE_ERROR;
    } else {
        row = mysql_fetch_row(res);
        if (row && row[0])
            c->port = atoi(row[0]);
        else
            snprintf(c->error, sizeof(c->error), "SELECT @@port returned no row");
        mysql_free_result(res);
    }
    mysql_close(m);
out:
    c->took_ms = now_ms() - c->start;
    mysql_thread_end();
    return NULL;
}

/* Start a new client thread every BURST_EVERY_MS for BURST_BEFORE_MS, inject(master), go on for
 * BURST_AFTER_MS, then join them all (bounded). Nothing here fails the test: threads must be
 * joined first. The client library was initialised by earlier harness connects in this (the
 * main) thread, as mysql_init() in threads requires. */
static void run_burst(struct burst *b, int (*inject)(const char *))
{
    int64_t start = now_ms(), next = start, fault_at = start + BURST_BEFORE_MS;
    int64_t end = fault_at + BURST_AFTER_MS, deadline, left;
    pthread_attr_t attr;
    struct timespec ts;
    int i;

    memset(b, 0, sizeof(*b));
    b->fault = -1;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, BURST_STACK);
    while (b->n < BURST_MAX && now_ms() < end) {
        if (b->fault < 0 && now_ms() >= fault_at) {
            b->fault_wall = wall_ms();
            b->fault = now_ms();
            b->fault_rc = inject("master");
            b->fault_ms = now_ms() - b->fault;
        }
        b->c[b->n].start = now_ms();
        if (pthread_create(&b->c[b->n].thread, &attr, burst_client_run, &b->c[b->n]) == 0)
            b->c[b->n].running = true;
        else
            b->spawn_failed++;
        b->n++;
        next += BURST_EVERY_MS;
        if (next > now_ms())
            sleep_ms((int)(next - now_ms()));
    }
    pthread_attr_destroy(&attr);
    deadline = wall_ms() + BURST_JOIN_MS;
    for (i = 0; i < b->n; i++) {
        if (!b->c[i].running)
            continue;
        left = deadline - wall_ms();
        if (left < 0)
            left = 0;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += left / 1000;
        ts.tv_nsec += (long)(left % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        if (pthread_timedjoin_np(b->c[i].thread, NULL, &ts) == 0)
            b->c[i].running = false;
        else
            b->unjoined++;
    }
}

/* Sort out what the burst's clients saw. A client that started before the fault and lost its
 * session after the greeting was bound to the master (the greeting was passed on): rebound
 * cannot hide that, so it is reported, not counted as failed. Every other failure counts, and
 * so does a client that landed on the master although it started after the fault. */
static void tally_burst(struct burst *b, long from)
{
    int r1 = cluster_port("replica1"), r2 = cluster_port("replica2"), m = cluster_port("master");
    struct burst_client *c;
    int64_t rel, down_wall;
    int i;

    b->first_replica_ms = b->down_ms = -1;
    for (i = 0; i < b->n; i++) {
        c = &b->c[i];
        rel = c->start - b->fault;
        if (c->running)
            continue; /* counted in unjoined */
        if (c->took_ms > b->slowest_ms)
            b->slowest_ms = c->took_ms;
        if (c->port == r1 || c->port == r2) {
            b->on_replica++;
            if (rel >= 0 && (b->first_replica_ms < 0 || rel + c->took_ms < b->first_replica_ms))
                b->first_replica_ms = rel + c->took_ms;
        } else if (c->port == m) {
            b->on_master++;
            if (rel >= 0) {
                b->misplaced++;
                fprintf(stderr,
                        "client %d (started %+lld ms from the fault) landed on the master\n", i,
                        (long long)rel);
            }
        } else if (c->greeted && rel < 0) {
            b->bound++;
            fprintf(stderr,
                    "client %d (started %+lld ms from the fault) lost its master session after "
                    "%lld ms: %u %s\n",
                    i, (long long)rel, (long long)c->took_ms, c->err, c->error);
        } else {
            b->failed++;
            fprintf(stderr,
                    "client %d (started %+lld ms from the fault) failed after %lld ms: %u %s\n", i,
                    (long long)rel, (long long)c->took_ms, c->err, c->error);
        }
    }
    down_wall = line_time_ms(from, "Server rw/master is DOWN");
    if (down_wall >= 0)
        b->down_ms = down_wall - b->fault_wall;
}

static void report_burst(const char *fault, const struct burst *b)
{
    printf("burst (%s): %d clients, one every %d ms; %d failed, %d bound to the master at the "
           "fault, %d on the master, %d on a replica; first client on a replica done %lld ms after "
           "the signal (took %lld ms to take effect); master DOWN %lld ms after the signal; "
           "slowest client %lld ms\n",
           fault, b->n, BURST_EVERY_MS, b->failed, b->bound, b->on_master, b->on_replica,
           (long long)b->first_replica_ms, (long long)b->fault_ms, (long long)b->down_ms,
           (long long)b->slowest_ms);
    fflush(stdout);
}

/* The burst across a fault: inject(master), then undo(master) and the master is back. */
static void burst_failover(const char *fault, int (*inject)(const char *),
                           int (*undo)(const char *))
{
    struct burst *b = &burst;
    long from;

    expect_last_check("replica1", "L7OK", "");
    expect_last_check("replica2", "L7OK", "");
    expect_clients_on(WARM_CONNECTS, cluster_port("master"), "before the fault");
    from = file_size(fx.health_log);
    run_burst(b, inject);
    assert_int_equal(b->unjoined, 0);
    assert_int_equal(b->spawn_failed, 0);
    assert_true(b->fault >= 0);
    assert_int_equal(b->fault_rc, 0);
    fixture_expect_line(&fx, from, "Server rw/master is DOWN", LOG_WAIT_MS);
    tally_burst(b, from);
    report_burst(fault, b);
    if (b->failed != 0 || b->misplaced != 0 || b->first_replica_ms < 0) {
        fixture_dump_log(&fx);
        fail_msg("%s: %d of %d clients failed, %d started after the fault landed on the master, "
                 "first on a replica after %lld ms",
                 fault, b->failed, b->n, b->misplaced, (long long)b->first_replica_ms);
    }
    from = file_size(fx.health_log);
    assert_int_equal(undo("master"), 0);
    expect_master_back(from);
}

/* error-limit 1 + on-marked-down shutdown-sessions, kill -9: a client every 20 ms, each on its
 * own thread, across the kill; none may fail. */
static void test_failover_redispatch_connecting_kill9(void **state)
{
    (void)state;
    burst_failover("kill -9", cluster_kill9, cluster_start_one);
}

/* Same with SIGSTOP: the first missing greeting takes the master DOWN, and the clients still
 * waiting for its greeting then must be redispatched to a replica, not reset. */
static void test_failover_redispatch_connecting_freeze(void **state)
{
    (void)state;
    burst_failover("SIGSTOP", cluster_freeze, cluster_thaw);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failover_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failover_freeze, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failover_readme_config_kill9, setup_readme, teardown),
        cmocka_unit_test_setup_teardown(test_replica_sql_thread_stopped_fails, setup_readme,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failover_redispatch_connecting_kill9, setup_redispatch,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failover_redispatch_connecting_freeze,
                                        setup_redispatch, teardown),
    };

    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
