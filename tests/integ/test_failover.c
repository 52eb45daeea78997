/* test_failover.c - failover under a steady stream of new client connections, the way an
 * application sees it. rebound runs with `observe layer4 error-limit 3 on-error mark-down`,
 * `timeout greeting 300ms`, `retries 2` and `on-marked-up shutdown-backup-sessions`; a loop makes
 * sequential connects + `SELECT @@port` through it while the master is killed (kill -9) or frozen
 * (SIGSTOP). Every connect must succeed: until passive observation takes the master DOWN, each
 * failed attempt is redispatched to a replica before the client has seen a byte. The test prints
 * how long after the fault new clients landed on a replica and when the master was marked DOWN,
 * then brings the master back and waits until new clients land on it again. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* timegm */
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

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
#define UP_WAIT_MS         20000 /* master back UP after a restart or a thaw */

struct fixture {
    struct router router;
    char conf[512];
    char health_log[512];
    int rw_port;
};

/* What a stream of connects saw after a fault. */
struct stream {
    int connects, failed, on_master, on_replica;
    int64_t first_replica_ms; /* from the fault to the first client served by a replica */
    int64_t down_ms;          /* from the fault to the DOWN line (its timestamp) */
    int64_t slowest_ms;       /* the slowest connect + query */
    int64_t slowest_after_down_ms;
    int64_t fault_ms; /* how long injecting the fault took (until the kernel said it was done) */
};

static struct fixture fx;

static void dump_health_log(void)
{
    char *log = read_file(fx.health_log);

    fprintf(stderr, "---- %s ----\n%s---- end ----\n", fx.health_log, log ? log : "(missing)\n");
    free(log);
}

static void expect_line(long from, const char *needle, int timeout_ms)
{
    if (wait_for_file_line_from(fx.health_log, from, needle, timeout_ms))
        return;
    dump_health_log();
    fail_msg("no health-log line \"%s\" within %d ms", needle, timeout_ms);
}

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

static int setup(void **state)
{
    static int seq;
    char name[64];

    (void)state;
    memset(&fx, 0, sizeof(fx));
    seq++;
    snprintf(name, sizeof(name), "failover-%d.conf", seq);
    harness_path(fx.conf, sizeof(fx.conf), name);
    snprintf(name, sizeof(name), "failover-health-%d.log", seq);
    harness_path(fx.health_log, sizeof(fx.health_log), name);
    fx.rw_port = free_port();
    if (fx.rw_port < 0 ||
        write_file(fx.conf,
                   "# written by test_failover.c\n"
                   "global\n"
                   "    maxconn 1000\n"
                   "    health-log file %s\n"
                   "defaults\n"
                   "    check mysql user rebound_check password \"check-pass\"\n"
                   "    inter 2s  fastinter 500ms  downinter 500ms  rise 2  fall 3\n"
                   "    timeout check 1s  timeout connect 1s  timeout greeting 300ms\n"
                   "    timeout client 1m  timeout server 1m\n"
                   "    observe layer4  error-limit 3  on-error mark-down\n"
                   "    retries 2\n"
                   "listen rw\n"
                   "    bind 127.0.0.1:%d\n"
                   "    server master   127.0.0.1:%d check on-marked-up shutdown-backup-sessions\n"
                   "    server replica1 127.0.0.1:%d check backup\n"
                   "    server replica2 127.0.0.1:%d check backup\n",
                   fx.health_log, fx.rw_port, cluster_port("master"), cluster_port("replica1"),
                   cluster_port("replica2")) != 0)
        return -1;
    return router_start(&fx.router, fx.conf, fx.rw_port);
}

static int teardown(void **state)
{
    int rc = 0;

    (void)state;
    if (fx.router.pid > 0 && router_stop(&fx.router) != 0)
        rc = -1;
    if (cluster_restore() != 0)
        rc = -1;
    return rc;
}

/* Connects that must all land on want_port. */
static void expect_clients_on(int n, int want_port, const char *what)
{
    int i, got;

    for (i = 0; i < n; i++) {
        got = client_port_via(fx.rw_port);
        if (got != want_port) {
            dump_health_log();
            fail_msg("%s: client %d landed on %d, want %d (client error %u: %s)", what, i, got,
                     want_port, client_errno(), client_error());
        }
    }
}

/* Sequential connects + SELECT @@port from the fault (t0, t0_wall) on, until AFTER_DOWN connects
 * after the DOWN line holding down_needle, within STREAM_MAX_CONNECT connects / STREAM_MAX_MS. */
static void run_stream(struct stream *st, int64_t t0, int64_t t0_wall, long from,
                       const char *down_needle)
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
            st->failed++;
            fprintf(stderr, "connect %d failed after %lld ms: %u %s\n", st->connects,
                    (long long)took, client_errno(), client_error());
        }
        if (after_down < 0 && count_file_lines(fx.health_log, from, down_needle) > 0)
            after_down = 0;
        else if (after_down >= 0 && ++after_down >= AFTER_DOWN)
            break;
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
        dump_health_log();
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
    expect_line(from, "Server rw/master is UP, reason: Layer7 check passed", UP_WAIT_MS);
    expect_line(from, "sessions on backup servers of rw after rw/master came UP", LOG_WAIT_MS);
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
    expect_clients_on(WARM_CONNECTS, cluster_port("master"), "before the kill");
    from = file_size(fx.health_log);
    t0_wall = wall_ms();
    t0 = now_ms();
    assert_int_equal(cluster_kill9("master"), 0);
    run_stream(&st, t0, t0_wall, from, down);
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
    expect_clients_on(WARM_CONNECTS, cluster_port("master"), "before the freeze");
    from = file_size(fx.health_log);
    t0_wall = wall_ms();
    t0 = now_ms();
    assert_int_equal(cluster_freeze("master"), 0);
    run_stream(&st, t0, t0_wall, from, down);
    report("SIGSTOP", &st);
    expect_stream_ok(&st);
    from = file_size(fx.health_log);
    assert_int_equal(cluster_thaw("master"), 0);
    expect_master_back(from);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failover_kill9, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failover_freeze, setup, teardown),
    };

    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
