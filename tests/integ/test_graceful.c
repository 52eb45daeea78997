/* test_graceful.c - failback that cuts no transaction, and a reason for every client a pass
 * closes while it is idle. A real master and one replica (a backup); the master is stopped,
 * clients work on the replica, the master comes back, and `on-marked-up
 * shutdown-backup-sessions graceful TIME` closes each backup session at its next safe boundary:
 * idle ones at once, the others when their answer is complete outside a transaction, the rest at
 * TIME. A session closed while idle first gets an ERR packet (1927, SQLSTATE 70100) saying why,
 * which libmysqlclient, the mariadb CLI, PyMySQL and Connector/J all show; the same goes for an
 * admin KILL and for `on-marked-down shutdown-sessions`.
 *
 * Every test here fails on a rebound without the graceful mode: its failback resets every backup
 * session at once (a bare 2013 "Lost connection", mid-transaction or mid-result), and the config
 * keyword `graceful` does not parse there. Each test says what else would have failed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ADMIN_PW         "Gr4ceful-admin-pw"
#define LOG_WAIT_MS      30000 /* bound for a health-log line or a state: TSan on a busy box */
#define CLIENT_TIMEOUT_S 30    /* connect, read and write timeouts of the test's sessions */
#define CONNECTOR_JAR    "/usr/share/java/mariadb-java-client.jar"
#define JAVA_MS          120000 /* javac, or a JVM's start and login, on a busy 2-core box */
#define CHILD_MS         180000 /* a driver process from start to exit (it waits for GOFILE) */
#define ER_KILLED        1927   /* ER_CONNECTION_KILLED, the code rebound's ERR packet carries */
#define TXN_WARM         3      /* transactions committed on the backup before the failback */
#define TXN_AFTER        2      /* transactions committed on the master after reconnecting */
#define TXN_LOOP_MS      120000 /* bound of the transaction loop */
#define BIG_ROWS         100000
#define BIG_STEP         10000 /* rows read between two pauses */
#define BIG_PAUSE_MS     20
#define MAX_THREADED     24 /* sessions opened at most to put 3 on each of two workers */

#define FAILBACK_MSG "rebound: the master 'rw/master' is back; reconnect"
#define DOWN_MSG     "rebound: server 'rw/master' went down; reconnect"
#define ADMIN_MSG    "rebound: session killed by the admin"
/* 100,000 rows of some 500 bytes: far more than the socket buffers between mariadbd and the
 * client hold, so a client that stops reading leaves the server with rows to send, and the
 * session stays mid-result for as long as it pauses. */
#define BIG_SELECT "SELECT seq, REPEAT('x', 500) FROM seq_1_to_100000"

/* The router of a test (master with the failback under test, replica1 a backup). */
static struct router_fixture fx;

/* The figures of a graceful failback's health-log line. */
struct graceful_line {
    unsigned closed, within_ms, idle, boundary, last_ms, deadline, ended, kept;
};

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (access(router_bin(), X_OK) != 0) {
        fprintf(stderr, "router binary %s not found (set REBOUND_BIN or run make)\n", router_bin());
        return -1;
    }
    return cluster_start(1);
}

static int group_teardown(void **state)
{
    return harness_group_teardown(state);
}

static int setup(void **state)
{
    (void)state;
    return fixture_init(&fx, "graceful", ADMIN_PW);
}

static int teardown(void **state)
{
    (void)state;
    return fixture_teardown(&fx);
}

/* Start rebound with THREADS workers and the master's failback option FAILBACK ("" for the
 * immediate mode, " graceful 5s", ...). Every server has `on-marked-down shutdown-sessions`.
 * The check timings let a frozen master go DOWN within seconds while a healthy server slowed
 * down by a loaded box still passes (fall 3). */
static void start_router(int threads, const char *failback)
{
    int rc = fixture_start(&fx, fx.rw_port,
                           "# written by test_graceful.c\n"
                           "global\n"
                           "    threads %d\n"
                           "    maxconn 1000\n"
                           "    health-log file %s\n"
                           "    admin 127.0.0.1:%d user admin password \"%s\"\n"
                           "defaults\n"
                           "    check mysql user rebound_check password \"check-pass\"\n"
                           "    inter 500ms  fastinter 200ms  downinter 200ms  rise 2  fall 3\n"
                           "    timeout check 2s  timeout connect 3s  timeout greeting 3s\n"
                           "    timeout client 2m  timeout server 2m\n"
                           "    retries 2\n"
                           "listen rw\n"
                           "    bind 127.0.0.1:%d\n"
                           "    server master   127.0.0.1:%d check on-marked-up "
                           "shutdown-backup-sessions%s on-marked-down shutdown-sessions\n"
                           "    server replica1 127.0.0.1:%d check backup on-marked-down "
                           "shutdown-sessions\n",
                           threads, fx.health_log, fx.admin_port, ADMIN_PW, fx.rw_port,
                           cluster_port("master"), failback, cluster_port("replica1"));
    if (rc != 0)
        fail_msg("rebound did not start (failback option \"%s\")", failback);
}

/* Stop the master and wait until rebound has marked it DOWN. */
static void master_down(void)
{
    long from = file_size(fx.health_log);

    assert_int_equal(cluster_stop_one("master"), 0);
    fixture_expect_line(&fx, from, "Server rw/master is DOWN", LOG_WAIT_MS);
}

/* Start the master and wait until rebound has marked it UP; the log offset taken before. */
static long master_up(void)
{
    long from = file_size(fx.health_log);

    assert_int_equal(cluster_start_one("master"), 0);
    fixture_expect_line(&fx, from, "Server rw/master is UP", LOG_WAIT_MS);
    return from;
}

/* Wait for the graceful failback's line after FROM and read its figures. */
static void expect_graceful_line(long from, struct graceful_line *g)
{
    static const char head[] = "Closed ";
    char *log, *hit, *start;
    int n;

    fixture_expect_line(&fx, from, "after rw/master came UP, gracefully within", LOG_WAIT_MS);
    log = read_file(fx.health_log);
    assert_non_null(log);
    hit = (long)strlen(log) >= from ? strstr(log + from, "after rw/master came UP, gracefully")
                                    : NULL;
    assert_non_null(hit);
    for (start = hit; start > log + from && start[-1] != '\n'; start--)
        ;
    start = strstr(start, head);
    n = start ? sscanf(start,
                       "Closed %u sessions on backup servers of rw after rw/master came UP, "
                       "gracefully within %u ms: %u idle at once, %u at the end of a command or "
                       "transaction (the last after %u ms), %u at the deadline; %u ended by "
                       "themselves, %u kept;",
                       &g->closed, &g->within_ms, &g->idle, &g->boundary, &g->last_ms, &g->deadline,
                       &g->ended, &g->kept)
              : 0;
    free(log);
    if (n != 8) {
        fixture_dump_log(&fx);
        fail_msg("the graceful failback's line does not read as expected (%d fields)", n);
    }
    /* Whatever else happened, the counts add up. */
    assert_int_equal(g->idle + g->boundary + g->deadline, g->closed);
}

/* Fail (health log printed) unless the line has exactly these counts. */
static void expect_counts(const struct graceful_line *g, unsigned idle, unsigned boundary,
                          unsigned deadline)
{
    if (g->idle == idle && g->boundary == boundary && g->deadline == deadline && g->ended == 0 &&
        g->kept == 0)
        return;
    fixture_dump_log(&fx);
    fail_msg("graceful failback: %u idle, %u at a boundary, %u at the deadline, %u ended, %u "
             "kept; want %u, %u, %u, 0, 0",
             g->idle, g->boundary, g->deadline, g->ended, g->kept, idle, boundary, deadline);
}

/* A session as app through rw in a free fx.held slot (closed at teardown). */
static MYSQL *hold(void)
{
    for (int i = 0; i < FIXTURE_MAX_HELD; i++) {
        if (fx.held[i])
            continue;
        fx.held[i] = client_connect(fx.rw_port, "app", "app-pass", "appdb", CLIENT_TIMEOUT_S);
        if (!fx.held[i])
            fail_msg("app login through rebound failed: %u %s", client_errno(), client_error());
        return fx.held[i];
    }
    fail_msg("no free slot in fx.held");
    return NULL;
}

/* A session on the replica, asserted. */
static MYSQL *hold_on_replica(void)
{
    MYSQL *m = hold();

    assert_int_equal(client_server_port(m), cluster_port("replica1"));
    return m;
}

/* The client port of M's session: the sessions table's `client` ends with it. */
static unsigned client_port_of(MYSQL *m)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);

    assert_int_equal(getsockname((int)mysql_get_socket(m), (struct sockaddr *)&sin, &sl), 0);
    return ntohs(sin.sin_port);
}

/* rebound's session id of M's session. */
static long long session_id(MYSQL *m)
{
    long long id = fixture_admin_int(&fx, "SELECT id FROM sessions WHERE client LIKE '%%:%u'",
                                     client_port_of(m));

    assert_true(id > 0);
    return id;
}

/* Poll until the admin query SQL (a COUNT) gives WANT; fail after LOG_WAIT_MS. */
static void expect_admin_count(long long want, const char *sql)
{
    int64_t end = now_ms() + LOG_WAIT_MS;
    long long n;

    do {
        n = fixture_admin_int(&fx, "%s", sql);
        if (n == want)
            return;
        sleep_ms(50);
    } while (now_ms() < end);
    fixture_dump_log(&fx);
    fail_msg("%s gave %lld, want %lld", sql, n, want);
}

/* Poll until M's session shows STATE: the client has its answer before rebound's worker may
 * have followed the last bytes. */
static void expect_state(MYSQL *m, const char *state)
{
    char sql[200];

    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM sessions WHERE client LIKE '%%:%u' AND state = '%s'",
             client_port_of(m), state);
    expect_admin_count(1, sql);
}

/* Does M's next query read rebound's ERR packet: 1927, SQLSTATE 70100, a message holding MSG?
 * Says what it got if not. */
static bool got_reason(MYSQL *m, const char *msg, const char *what)
{
    int err = client_query(m, "SELECT 1");

    if (err == ER_KILLED && strstr(client_error(), msg) && !strcmp(mysql_sqlstate(m), "70100"))
        return true;
    fprintf(stderr, "%s: SELECT 1 gave %d (%s) SQLSTATE %s; want %d with \"%s\", SQLSTATE 70100\n",
            what, err, err ? client_error() : "it worked", mysql_sqlstate(m), ER_KILLED, msg);
    return false;
}

/* M's next query reads rebound's ERR packet with MSG; fails the test (log printed) if not. */
static void expect_reason(MYSQL *m, const char *msg, const char *what)
{
    if (got_reason(m, msg, what))
        return;
    fixture_dump_log(&fx);
    fail_msg("%s: no ERR packet with the reason", what);
}

/* M's next query fails as a lost connection (the client was reset, not told). */
static void expect_reset(MYSQL *m, const char *what)
{
    int err = client_query(m, "SELECT 1");

    if (err != CLIENT_LOST_ERROR && err != CLIENT_GONE_ERROR) {
        fixture_dump_log(&fx);
        fail_msg("%s: SELECT 1 gave %d (%s), want a lost connection (2013/2006)", what, err,
                 err ? client_error() : "it worked");
    }
}

/* ---- a client on a thread of its own, looping over short transactions ---- */

/* Where the transaction loop saw its first failure. */
enum txn_step { STEP_NONE, STEP_BEGIN, STEP_INSERT, STEP_SLEEP, STEP_COMMIT, STEP_CONNECT };

static const char *const step_names[] = {"none",         "BEGIN",  "INSERT",
                                         "SELECT SLEEP", "COMMIT", "connect"};
static const char *const step_sql[] = {NULL, "BEGIN", "INSERT INTO txn VALUES (1)",
                                       "SELECT SLEEP(0.2)", "COMMIT"};

/* The loop's own session (the harness's client helpers keep their error in a global, so the
 * thread uses the client library directly) and what it saw. The fields other than the atomics
 * are the thread's until it is joined. */
struct txn_loop {
    int port;
    pthread_t th;
    atomic_bool stop;   /* set by the test: give up (only if no failure came in time) */
    atomic_bool done;   /* the thread is about to end */
    atomic_int commits; /* transactions committed on its first session */
    atomic_int failed;  /* enum txn_step of the first failure, STEP_NONE before it */
    int begun;          /* BEGINs answered OK on its first session */
    int first_port;     /* @@port of its first session */
    unsigned err;       /* the first failure */
    char error[256];
    char sqlstate[8];
    int after_port;    /* @@port after reconnecting, -1 if that failed */
    int after_commits; /* transactions committed after reconnecting */
    char after_error[256];
};

static struct txn_loop txn;

/* Run SQL on M and discard its result; 0 or the error number. */
static unsigned run_sql(MYSQL *m, const char *sql)
{
    MYSQL_RES *res;

    if (mysql_query(m, sql) != 0)
        return mysql_errno(m);
    res = mysql_store_result(m);
    if (res)
        mysql_free_result(res);
    return mysql_field_count(m) && !res ? mysql_errno(m) : 0;
}

/* A session through PORT with a temporary table `txn` (replicas are read-only; temporary tables
 * still work there), its server's @@port in *SERVER. NULL (why in ERRBUF) on failure. */
static MYSQL *txn_session(int port, int *server, char *errbuf, size_t errlen)
{
    MYSQL *m = mysql_init(NULL);
    MYSQL_RES *res;
    MYSQL_ROW row;

    if (!m)
        return NULL;
    client_options(m, CLIENT_TIMEOUT_S);
    if (!mysql_real_connect(m, "127.0.0.1", "app", "app-pass", "appdb", (unsigned)port, NULL, 0) ||
        run_sql(m, "CREATE TEMPORARY TABLE txn (n INT)") != 0 ||
        mysql_query(m, "SELECT @@port") != 0 || !(res = mysql_store_result(m))) {
        snprintf(errbuf, errlen, "%u %s", mysql_errno(m), mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    row = mysql_fetch_row(res);
    *server = row && row[0] ? atoi(row[0]) : -1;
    mysql_free_result(res);
    return m;
}

/* One transaction: BEGIN, INSERT, SELECT SLEEP(0.2), COMMIT. STEP_NONE if all went well, else
 * the step that failed (its error kept in T if FIRST). */
static enum txn_step one_transaction(struct txn_loop *t, MYSQL *m, bool first)
{
    for (int st = STEP_BEGIN; st <= STEP_COMMIT; st++) {
        if (run_sql(m, step_sql[st]) == 0) {
            if (first && st == STEP_BEGIN)
                t->begun++;
            continue;
        }
        if (first) {
            t->err = mysql_errno(m);
            snprintf(t->error, sizeof(t->error), "%s", mysql_error(m));
            snprintf(t->sqlstate, sizeof(t->sqlstate), "%s", mysql_sqlstate(m));
        } else {
            snprintf(t->after_error, sizeof(t->after_error), "%s: %u %s", step_names[st],
                     mysql_errno(m), mysql_error(m));
        }
        return (enum txn_step)st;
    }
    return STEP_NONE;
}

/* Transactions until the first failure (or `stop`, or the loop's bound), then a new session
 * and TXN_AFTER transactions on it. */
static void *txn_loop_run(void *arg)
{
    struct txn_loop *t = arg;
    int64_t end = now_ms() + TXN_LOOP_MS;
    enum txn_step st = STEP_NONE;
    MYSQL *m;

    mysql_thread_init();
    m = txn_session(t->port, &t->first_port, t->error, sizeof(t->error));
    if (!m) {
        atomic_store(&t->failed, STEP_CONNECT);
        goto out;
    }
    while (!atomic_load(&t->stop) && now_ms() < end) {
        st = one_transaction(t, m, true);
        if (st != STEP_NONE)
            break;
        atomic_fetch_add(&t->commits, 1);
    }
    mysql_close(m);
    if (st == STEP_NONE)
        goto out;
    atomic_store(&t->failed, st);
    m = txn_session(t->port, &t->after_port, t->after_error, sizeof(t->after_error));
    if (!m)
        goto out;
    for (int i = 0; i < TXN_AFTER && one_transaction(t, m, false) == STEP_NONE; i++)
        t->after_commits++;
    mysql_close(m);
out:
    atomic_store(&t->done, true);
    mysql_thread_end();
    return NULL;
}

/* Wait (bounded) until the loop committed N transactions, or failed. */
static void txn_wait_commits(struct txn_loop *t, int n)
{
    int64_t end = now_ms() + LOG_WAIT_MS;

    while (atomic_load(&t->commits) < n && atomic_load(&t->failed) == STEP_NONE && now_ms() < end)
        sleep_ms(20);
    if (atomic_load(&t->commits) < n)
        fail_msg("the transaction loop committed %d transactions, want %d (failed at %s: %u %s)",
                 atomic_load(&t->commits), n, step_names[atomic_load(&t->failed)], t->err,
                 t->error);
}

/* Wait (bounded) until the thread ended, then join it. */
static void txn_join(struct txn_loop *t)
{
    int64_t end = now_ms() + LOG_WAIT_MS;

    while (!atomic_load(&t->done) && now_ms() < end)
        sleep_ms(20);
    atomic_store(&t->stop, true); /* its loop and every query are bounded: the join is too */
    pthread_join(t->th, NULL);
}

/* ---- 1. short transactions in a loop lose nothing ---- */

/* With `graceful 60s` (boundaries come every 0.2 s: TIME is never reached), a client looping over
 * short transactions on the backup loses none at failback: the first failure it sees is the ERR
 * with the reason, on the BEGIN of a new transaction; it reconnects and goes on, on the master.
 * Without the graceful mode the pass resets the session at once, almost always inside a transaction
 * (the loop spends its time in SELECT SLEEP): a 2013 on SLEEP, INSERT or COMMIT, never a 1927 on
 * BEGIN. */
static void test_transactions_not_cut(void **state)
{
    struct graceful_line g;
    long from;
    int failed;
    (void)state;

    start_router(1, " graceful 60s");
    master_down();
    memset(&txn, 0, sizeof(txn));
    txn.port = fx.rw_port;
    assert_int_equal(pthread_create(&txn.th, NULL, txn_loop_run, &txn), 0);
    txn_wait_commits(&txn, TXN_WARM);
    from = master_up();
    txn_join(&txn);

    failed = atomic_load(&txn.failed);
    printf("# %d transactions committed on the backup; the first failure: %s, %u (%s) %s; "
           "on the master after reconnecting: %d committed\n",
           atomic_load(&txn.commits), step_names[failed], txn.err, txn.sqlstate, txn.error,
           txn.after_commits);
    assert_int_equal(txn.first_port, cluster_port("replica1"));
    if (failed != STEP_BEGIN || txn.err != ER_KILLED || !strstr(txn.error, FAILBACK_MSG) ||
        strcmp(txn.sqlstate, "70100")) {
        fixture_dump_log(&fx);
        fail_msg("first failure: %s gave %u (%s) %s; want BEGIN to read %d (70100) \"%s\"",
                 step_names[failed], txn.err, txn.sqlstate, txn.error, ER_KILLED, FAILBACK_MSG);
    }
    /* Every BEGIN but the one that read the ERR was followed by its statements and a COMMIT. */
    assert_int_equal(txn.begun, atomic_load(&txn.commits));
    if (txn.after_port != cluster_port("master") || txn.after_commits != TXN_AFTER)
        fail_msg("after reconnecting: on port %d (master %d), %d of %d transactions (%s)",
                 txn.after_port, cluster_port("master"), txn.after_commits, TXN_AFTER,
                 txn.after_error);
    expect_graceful_line(from, &g);
    assert_int_equal(g.closed, 1);
    expect_counts(&g, g.idle, g.boundary, 0); /* idle or at a COMMIT: whichever came first */
}

/* ---- 2. a transaction longer than TIME is cut at TIME ---- */

/* `graceful 2s`, a transaction opened and never committed: the session is left alone until
 * TIME, then reset (no ERR: it is not idle), and the line counts it at the deadline. Without the
 * graceful mode there is no such line (the session is killed at once, in a "Killed" line). */
static void test_long_transaction_cut_at_deadline(void **state)
{
    struct graceful_line g;
    MYSQL *m;
    long from;
    (void)state;

    start_router(1, " graceful 2s");
    master_down();
    m = hold_on_replica();
    assert_int_equal(client_query(m, "BEGIN"), 0);
    assert_int_equal(client_query(m, "SELECT SLEEP(0)"), 0);
    expect_state(m, "idle in transaction");
    from = master_up();
    expect_graceful_line(from, &g);
    assert_int_equal(g.closed, 1);
    assert_int_equal(g.within_ms, 2000);
    expect_counts(&g, 0, 0, 1);
    expect_reset(m, "the transaction past TIME");
}

/* ---- 3. an idle client reads why it was closed ---- */

/* Where the driver programs' classes and scripts are. */
static char java_classes[PATH_MAX + 16];

/* Compile tests/drivers/GracefulReason.java next to this binary, once. */
static void compile_java(void)
{
    char self[PATH_MAX], source[PATH_MAX + 64], out[8192];
    int rc;

    if (java_classes[0])
        return;
    assert_non_null(realpath("/proc/self/exe", self));
    snprintf(java_classes, sizeof(java_classes), "%s/drivers", dirname(self));
    snprintf(source, sizeof(source), "%s/tests/drivers/GracefulReason.java", harness_root());
    char *javac[] = {"/usr/bin/javac", "-d", java_classes, source, NULL};
    rc = run_command(javac, out, sizeof(out), JAVA_MS);
    if (rc != 0) {
        java_classes[0] = '\0';
        fail_msg("javac %s: exit %d:\n%s", source, rc, out);
    }
}

/* A driver program running in the background: it logs in through rw, says which server it is
 * on, waits for the go file, runs SELECT 1, says what it got, and reconnects. */
struct driver {
    const char *name;
    pid_t pid;
    char out[PATH_MAX]; /* its stdout and stderr */
};

#define NDRIVERS 3
static struct driver drivers[NDRIVERS];

/* Stop the drivers still running (a test failed before they ended). */
static void drivers_stop(void)
{
    for (int i = 0; i < NDRIVERS; i++) {
        if (drivers[i].pid > 0) {
            kill(drivers[i].pid, SIGKILL);
            waitpid(drivers[i].pid, NULL, 0);
        }
        drivers[i].pid = 0;
    }
}

static int teardown_drivers(void **state)
{
    drivers_stop();
    return teardown(state);
}

/* Start the mariadb CLI, PyMySQL and Connector/J drivers against rw, waiting for GO; wait until
 * each is logged in on the replica. */
static void drivers_start(const char *go, int round)
{
    char port[16], cli[PATH_MAX], py[PATH_MAX], cp[2 * PATH_MAX + 32], before[64];
    int wait_ms[NDRIVERS] = {LOG_WAIT_MS, LOG_WAIT_MS, JAVA_MS};

    snprintf(port, sizeof(port), "%d", fx.rw_port);
    snprintf(cli, sizeof(cli), "%s/tests/drivers/cli_reason.sh", harness_root());
    snprintf(py, sizeof(py), "%s/tests/drivers/pymysql_reason.py", harness_root());
    snprintf(cp, sizeof(cp), "%s:%s", java_classes, CONNECTOR_JAR);
    char *argv_cli[] = {"/bin/sh", cli, port, (char *)go, NULL};
    char *argv_py[] = {"/usr/bin/python3", py, port, (char *)go, NULL};
    char *argv_java[] = {"/usr/bin/java", "-cp", cp, "GracefulReason", port, (char *)go, NULL};
    char *const *argvs[NDRIVERS] = {argv_cli, argv_py, argv_java};
    static const char *const names[NDRIVERS] = {"mariadb CLI", "PyMySQL", "Connector/J"};

    snprintf(before, sizeof(before), "before port %d", cluster_port("replica1"));
    for (int i = 0; i < NDRIVERS; i++) {
        char file[64];

        drivers[i].name = names[i];
        snprintf(file, sizeof(file), "driver-%d-%d.out", round, i);
        harness_path(drivers[i].out, sizeof(drivers[i].out), file);
        unlink(drivers[i].out);
        drivers[i].pid = spawn_program(argvs[i], drivers[i].out);
        assert_true(drivers[i].pid > 0);
    }
    for (int i = 0; i < NDRIVERS; i++) {
        if (!wait_for_file_line(drivers[i].out, before, wait_ms[i])) {
            char *text = read_file(drivers[i].out);
            fail_msg("%s never said \"%s\":\n%s", drivers[i].name, before, text ? text : "");
        }
    }
}

/* Let the drivers go on, wait for them to end and check what each printed: the ERR (1927 and
 * MSG), then a session on the master. How many did not, each said. */
static int drivers_finish(const char *go, const char *msg)
{
    /* Connector/J 2.x reports a server error that ends the connection as a connection error
     * (code 0, SQLState 08000) with the server's message, as it does for a mariadbd KILL. */
    static const char *const want_err[NDRIVERS][2] = {
        {"ERROR 1927 (70100)", NULL},
        {"error 1927 - ", NULL},
        {"error 1927 70100 - ", "error 0 08000 - "},
    };
    char after[64];
    int bad = 0;

    snprintf(after, sizeof(after), "after port %d", cluster_port("master"));
    assert_int_equal(write_file(go, "go\n"), 0);
    for (int i = 0; i < NDRIVERS; i++) {
        int rc = wait_program(drivers[i].pid, CHILD_MS);
        char *text = read_file(drivers[i].out);
        bool err_ok = text && (strstr(text, want_err[i][0]) ||
                               (want_err[i][1] && strstr(text, want_err[i][1])));

        drivers[i].pid = 0;
        printf("# %s:\n%s", drivers[i].name, text ? text : "");
        if (!err_ok || !strstr(text, msg) || !strstr(text, after)) {
            fprintf(stderr, "%s (exit %d) did not print \"%s\" with \"%s\", then \"%s\"\n",
                    drivers[i].name, rc, want_err[i][0], msg, after);
            bad++;
        }
        free(text);
    }
    return bad;
}

/* An idle session of every client kind on the backup, the master back: each reads the
 * failback's ERR, and those that reconnect land on the master. FAILBACK is the master's option,
 * ROUND names the output files. Returns the log offset before the master's start. */
static long idle_clients_read_reason(const char *failback, int round)
{
    char go[PATH_MAX], file[32], sql[160];
    MYSQL *m;
    long from;
    int bad;

    compile_java();
    start_router(1, failback);
    master_down();
    snprintf(file, sizeof(file), "go-%d", round);
    harness_path(go, sizeof(go), file);
    unlink(go);
    m = hold_on_replica();
    drivers_start(go, round);
    /* Every driver has had its answer: all four sessions are idle on the replica. */
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM sessions WHERE server = 'rw/replica1' AND state = 'idle'");
    expect_admin_count(1 + NDRIVERS, sql);
    from = master_up();
    if (failback[0] == '\0')
        fixture_expect_line(&fx, from,
                            "Killed 4 sessions on backup servers of rw after rw/master came UP",
                            LOG_WAIT_MS);
    else
        fixture_expect_line(&fx, from, "after rw/master came UP, gracefully within", LOG_WAIT_MS);
    /* Every client is heard before the test fails, to show who read what. */
    bad = !got_reason(m, FAILBACK_MSG, "libmysqlclient");
    bad += drivers_finish(go, FAILBACK_MSG);
    if (bad) {
        fixture_dump_log(&fx);
        fail_msg("%d of %d clients did not read the reason", bad, 1 + NDRIVERS);
    }
    assert_int_equal(client_port_via(fx.rw_port), cluster_port("master"));
    return from;
}

/* The immediate mode (plain shutdown-backup-sessions): the idle clients are told too. Without
 * the feature they read a bare reset: 2013 Lost connection (mariadb CLI: ERROR 2013, PyMySQL:
 * 2013, Connector/J: a socket error), no 1927 and no reason. */
static void test_idle_reason_immediate(void **state)
{
    (void)state;
    idle_clients_read_reason("", 1);
}

/* The graceful mode: the four idle sessions close at once, each with the reason. */
static void test_idle_reason_graceful(void **state)
{
    struct graceful_line g;
    (void)state;

    expect_graceful_line(idle_clients_read_reason(" graceful 5s", 2), &g);
    assert_int_equal(g.closed, 1 + NDRIVERS);
    expect_counts(&g, 1 + NDRIVERS, 0, 0);
}

/* The admin closes an idle session with KILL, another with DELETE FROM sessions: each client
 * reads "killed by the admin". Without the feature: a bare reset (2013). */
static void test_admin_kill_reason(void **state)
{
    MYSQL *a, *b, *admin;
    long long ida, idb;
    char sql[160];
    (void)state;

    start_router(1, "");
    a = hold();
    b = hold();
    assert_int_equal(client_server_port(a), cluster_port("master"));
    ida = session_id(a);
    idb = session_id(b);
    expect_state(a, "idle");
    expect_state(b, "idle");
    admin = client_connect(fx.admin_port, "admin", ADMIN_PW, NULL, CLIENT_TIMEOUT_S);
    assert_non_null(admin);
    snprintf(sql, sizeof(sql), "KILL %lld", ida);
    assert_int_equal(client_query(admin, sql), 0);
    snprintf(sql, sizeof(sql), "DELETE FROM sessions WHERE id = %lld", idb);
    assert_int_equal(client_query(admin, sql), 0);
    mysql_close(admin);
    /* Both gone (the ERR went out before the close) before either client asks anything. */
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM sessions WHERE id IN (%lld, %lld)", ida, idb);
    expect_admin_count(0, sql);
    expect_reason(a, ADMIN_MSG, "KILL");
    expect_reason(b, ADMIN_MSG, "DELETE FROM sessions");
}

/* `on-marked-down shutdown-sessions`: the master stops answering (SIGSTOP) with an idle
 * session on it; once it is marked DOWN the client reads "went down". Without the feature: a
 * bare reset (2013). */
static void test_marked_down_reason(void **state)
{
    MYSQL *m;
    long from;
    (void)state;

    start_router(1, "");
    m = hold();
    assert_int_equal(client_server_port(m), cluster_port("master"));
    expect_state(m, "idle");
    from = file_size(fx.health_log);
    assert_int_equal(cluster_freeze("master"), 0);
    fixture_expect_line(&fx, from, "Server rw/master is DOWN", LOG_WAIT_MS);
    fixture_expect_line(&fx, from, "Killed 1 sessions on rw/master after it went DOWN",
                        LOG_WAIT_MS);
    expect_reason(m, DOWN_MSG, "master frozen");
}

/* ---- 4. results in flight are delivered whole ---- */

/* Read up to N rows of RES; how many were read. */
static long read_rows(MYSQL_RES *res, long n)
{
    long i = 0;

    while (i < n && mysql_fetch_row(res))
        i++;
    return i;
}

/* `graceful 300s` (the results' end is the boundary, however slowly they are read: TIME is
 * never reached), two autocommit sessions on the backup each in the middle of a 100,000-row
 * result that they read slowly: the master comes back meanwhile; each receives every row, and
 * its next query reads the ERR. Without the feature both are reset mid-result (2013 while
 * fetching, fewer rows). */
static void test_result_in_flight_delivered(void **state)
{
    struct graceful_line g;
    MYSQL *m[2];
    MYSQL_RES *res[2];
    long rows[2] = {0, 0};
    long from;
    char sql[160];
    (void)state;

    start_router(1, " graceful 300s");
    master_down();
    for (int i = 0; i < 2; i++) {
        m[i] = hold_on_replica();
        assert_int_equal(mysql_send_query(m[i], BIG_SELECT, sizeof(BIG_SELECT) - 1), 0);
        assert_int_equal(mysql_read_query_result(m[i]), 0);
        res[i] = mysql_use_result(m[i]);
        assert_non_null(res[i]);
        rows[i] = read_rows(res[i], BIG_STEP);
        assert_int_equal(rows[i], BIG_STEP);
    }
    /* The server has rows left to send to both: they are mid-result. */
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(*) FROM sessions WHERE server = 'rw/replica1' AND state = 'result'");
    expect_admin_count(2, sql);
    from = master_up();
    expect_admin_count(2, sql); /* still there: not closed while a result is in flight */
    for (int step = 0; step < BIG_ROWS / BIG_STEP; step++) {
        for (int i = 0; i < 2; i++)
            rows[i] += read_rows(res[i], BIG_STEP);
        sleep_ms(BIG_PAUSE_MS);
    }
    for (int i = 0; i < 2; i++) {
        unsigned err = mysql_errno(m[i]);

        if (rows[i] != BIG_ROWS || err)
            fail_msg("session %d: %ld of %d rows, error %u %s", i, rows[i], BIG_ROWS, err,
                     mysql_error(m[i]));
        mysql_free_result(res[i]);
    }
    expect_graceful_line(from, &g);
    assert_int_equal(g.closed, 2);
    expect_counts(&g, 0, 2, 0);
    for (int i = 0; i < 2; i++)
        expect_reason(m[i], FAILBACK_MSG, "after the whole result");
}

/* ---- 5. both workers ---- */

/* `threads 2`: idle and in-transaction sessions on both workers (a session's worker is
 * (id - 1) % 2). The idle ones close at once, each worker's; the ones in a transaction stay on
 * the backup until their COMMIT, then close; the line's counts add up. Without the feature every
 * session is reset at once: the in-transaction ones fail their next query (2013). */
static void test_two_workers(void **state)
{
    struct graceful_line g;
    MYSQL *m[MAX_THREADED];
    bool in_txn[MAX_THREADED];
    int n = 0, per_worker[2] = {0, 0}, ntxn = 0, nidle;
    long from;
    char sql[200];
    (void)state;

    start_router(2, " graceful 60s");
    master_down();
    while ((per_worker[0] < 3 || per_worker[1] < 3) && n < MAX_THREADED) {
        int w;

        m[n] = hold_on_replica();
        w = (int)((session_id(m[n]) - 1) % 2);
        /* In each worker: the first, third... in a transaction, the second, fourth... idle. */
        in_txn[n] = per_worker[w] % 2 == 0;
        per_worker[w]++;
        n++;
    }
    if (per_worker[0] < 3 || per_worker[1] < 3)
        fail_msg("%d sessions, %d and %d on the two workers", n, per_worker[0], per_worker[1]);
    for (int i = 0; i < n; i++) {
        if (!in_txn[i])
            continue;
        assert_int_equal(client_query(m[i], "BEGIN"), 0);
        assert_int_equal(client_query(m[i], "SELECT SLEEP(0)"), 0);
        expect_state(m[i], "idle in transaction");
        ntxn++;
    }
    nidle = n - ntxn;
    for (int i = 0; i < n; i++)
        if (!in_txn[i])
            expect_state(m[i], "idle");
    from = master_up();
    /* The idle ones go at once; the others are still on the backup. */
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM sessions WHERE server = 'rw/replica1'");
    expect_admin_count(ntxn, sql);
    snprintf(sql, sizeof(sql),
             "SELECT COUNT(DISTINCT (id - 1) %% 2) FROM sessions WHERE server = 'rw/replica1'");
    expect_admin_count(2, sql);
    for (int i = 0; i < n; i++)
        if (!in_txn[i])
            expect_reason(m[i], FAILBACK_MSG, "idle session");
    for (int i = 0; i < n; i++) {
        if (!in_txn[i])
            continue;
        assert_int_equal(client_server_port(m[i]), cluster_port("replica1"));
        assert_int_equal(client_query(m[i], "COMMIT"), 0);
        expect_reason(m[i], FAILBACK_MSG, "after its COMMIT");
    }
    expect_graceful_line(from, &g);
    assert_int_equal(g.closed, n);
    expect_counts(&g, (unsigned)nidle, (unsigned)ntxn, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transactions_not_cut, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_transaction_cut_at_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_reason_immediate, setup, teardown_drivers),
        cmocka_unit_test_setup_teardown(test_idle_reason_graceful, setup, teardown_drivers),
        cmocka_unit_test_setup_teardown(test_admin_kill_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marked_down_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_result_in_flight_delivered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_workers, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
