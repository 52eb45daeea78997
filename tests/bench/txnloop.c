/*
 * txnloop — sessions on a backup, half idle and half running short transactions in a loop, and
 * what a failback does to them: how many transactions it cuts, and when every session is back
 * on the master.  Used by tests/bench/run.sh (section failback-graceful).
 *
 *   txnloop -P PORT -m MASTER_PORT -i N_IDLE -b N_BUSY [-h HOST] [-u USER] [-p PASS]
 *           [-d DB] [-s MIN_MS] [-S MAX_MS] [-w WAIT_S]
 *
 * One thread per session (blocking Connector/C).  Phase 1: every session logs in through the
 * proxy and asks `SELECT @@port`; all must sit on a server other than MASTER_PORT.  Then
 * `ready` is printed and phase 2 starts at once:
 *   - a busy session loops over `BEGIN; SELECT SLEEP(x); COMMIT` with x drawn between MIN_MS
 *     and MAX_MS (default 100-300 ms);
 *   - an idle session waits for its socket to become readable (the proxy closed it, or sent
 *     an error first).
 * A session whose connection fails logs in again at once (every RETRY_MS while that fails),
 * asks `SELECT @@port` and, once on the master, notes the CLOCK_REALTIME time (ms); a busy one
 * goes on with its transactions there.  A transaction is "cut" when its BEGIN was answered and
 * an error came before its COMMIT's answer; an error on BEGIN (the proxy closed the session
 * between two transactions) cuts nothing.
 *
 * Phase 2 ends when every session is on the master, or after WAIT_S (default 60).  Output
 * (`key=value` lines): committed, cut, begin_errors, back (sessions on the master), first_master
 * and all_master (ms since the epoch; all_master 0 on a timeout), reconnects, failures (logins
 * that failed), longest_txn_ms.  Exit status 0 when all sessions are back, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#define RETRY_MS   50 /* pause before a failed login is tried again */
#define STACK_SIZE (256 * 1024)

static const char *host = "127.0.0.1", *user = "app", *pass = "app-pass", *db = "appdb";
static unsigned port, master_port, min_ms = 100, max_ms = 300, wait_s = 60;

static atomic_int stop;          /* phase 2 is over: every thread ends */
static atomic_int ready_count;   /* sessions that finished phase 1 */
static atomic_int phase1_failed; /* a session that could not log in, or sat on the master */
static atomic_int go;            /* phase 2 started */
static atomic_int back;          /* sessions on the master in phase 2 */
static atomic_long committed, cut, begin_errors, reconnects, failures, longest_txn_ms;
static atomic_llong first_master, all_master;

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

/* Log in through the proxy; the server's port, or 0 on failure (M closed). */
static unsigned login(MYSQL **m)
{
    unsigned timeout = 2, where = 0;
    MYSQL_RES *res;
    MYSQL_ROW row;

    if (!(*m = mysql_init(NULL)))
        return 0;
    mysql_options(*m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(*m, MYSQL_OPT_READ_TIMEOUT, &(unsigned){10});
    if (!mysql_real_connect(*m, host, user, pass, db, port, NULL, 0) ||
        mysql_query(*m, "SELECT @@port") || !(res = mysql_store_result(*m))) {
        mysql_close(*m);
        *m = NULL;
        return 0;
    }
    if ((row = mysql_fetch_row(res)) && row[0])
        where = (unsigned)strtoul(row[0], NULL, 10);
    mysql_free_result(res);
    return where;
}

/* The session fell: log in again until it is on the master (or phase 2 is over). */
static void come_back(MYSQL **m)
{
    unsigned where;

    if (*m)
        mysql_close(*m);
    *m = NULL;
    while (!atomic_load(&stop)) {
        atomic_fetch_add(&reconnects, 1);
        where = login(m);
        if (where == master_port) {
            long long t = now_ms(), zero = 0, cur;
            atomic_compare_exchange_strong(&first_master, &zero, t);
            cur = atomic_load(&all_master);
            while (t > cur && !atomic_compare_exchange_weak(&all_master, &cur, t))
                ;
            atomic_fetch_add(&back, 1);
            return;
        }
        if (where == 0)
            atomic_fetch_add(&failures, 1);
        if (*m)
            mysql_close(*m);
        *m = NULL;
        sleep_ms(RETRY_MS);
    }
}

/* One transaction: 0 committed; 1 failed on BEGIN (nothing cut); 2 cut. */
static int transaction(MYSQL *m, unsigned *seed)
{
    unsigned ms = min_ms + (max_ms > min_ms ? (unsigned)rand_r(seed) % (max_ms - min_ms + 1) : 0);
    long long t0 = now_ms(), took, cur;
    char sql[64];
    MYSQL_RES *res;

    if (mysql_query(m, "BEGIN"))
        return 1;
    snprintf(sql, sizeof(sql), "SELECT SLEEP(%u.%03u)", ms / 1000, ms % 1000);
    if (mysql_query(m, sql))
        return 2;
    if ((res = mysql_store_result(m)))
        mysql_free_result(res);
    else if (mysql_errno(m))
        return 2;
    if (mysql_query(m, "COMMIT"))
        return 2;
    took = now_ms() - t0;
    cur = atomic_load(&longest_txn_ms);
    while (took > cur && !atomic_compare_exchange_weak(&longest_txn_ms, &cur, took))
        ;
    return 0;
}

/* One session's thread; ARG is non-NULL for a busy one. */
static void *session(void *arg)
{
    bool busy = arg != NULL, on_master = false;
    unsigned seed = (unsigned)(uintptr_t)&busy ^ (unsigned)now_ms();
    MYSQL *m = NULL;
    unsigned where;

    mysql_thread_init();
    /* A login may time out while a thousand others go on: a few more tries before giving up. */
    for (int tries = 0; (where = login(&m)) == 0 && tries < 5; tries++)
        sleep_ms(RETRY_MS);
    if (where == 0 || where == master_port)
        atomic_store(&phase1_failed, 1);
    atomic_fetch_add(&ready_count, 1);
    while (!atomic_load(&go) && !atomic_load(&stop))
        sleep_ms(5);
    while (!atomic_load(&stop) && m) {
        if (busy) {
            int r = transaction(m, &seed);
            if (r == 0) {
                atomic_fetch_add(&committed, 1);
                continue;
            }
            atomic_fetch_add(r == 1 ? &begin_errors : &cut, 1);
        } else if (!on_master) {
            struct pollfd p = {.fd = mysql_get_socket(m), .events = POLLIN};
            if (poll(&p, 1, 50) == 0)
                continue;
        } else {
            sleep_ms(50); /* back and idle: stays so until the end */
            continue;
        }
        come_back(&m);
        on_master = m != NULL;
    }
    if (m)
        mysql_close(m);
    mysql_thread_end();
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned n_idle = 0, n_busy = 0, n;
    pthread_attr_t attr;
    pthread_t *tid;
    long long deadline;
    int c;

    while ((c = getopt(argc, argv, "P:m:i:b:h:u:p:d:s:S:w:")) != -1) {
        switch (c) {
        case 'P':
            port = (unsigned)atoi(optarg);
            break;
        case 'm':
            master_port = (unsigned)atoi(optarg);
            break;
        case 'i':
            n_idle = (unsigned)atoi(optarg);
            break;
        case 'b':
            n_busy = (unsigned)atoi(optarg);
            break;
        case 'h':
            host = optarg;
            break;
        case 'u':
            user = optarg;
            break;
        case 'p':
            pass = optarg;
            break;
        case 'd':
            db = optarg;
            break;
        case 's':
            min_ms = (unsigned)atoi(optarg);
            break;
        case 'S':
            max_ms = (unsigned)atoi(optarg);
            break;
        case 'w':
            wait_s = (unsigned)atoi(optarg);
            break;
        default:
            fprintf(stderr, "usage: txnloop -P PORT -m MASTER_PORT -i N_IDLE -b N_BUSY [-h HOST] "
                            "[-u USER] [-p PASS] [-d DB] [-s MIN_MS] [-S MAX_MS] [-w WAIT_S]\n");
            return 2;
        }
    }
    n = n_idle + n_busy;
    if (!port || !master_port || !n || max_ms < min_ms) {
        fprintf(stderr, "txnloop: -P, -m and at least one session are needed\n");
        return 2;
    }
    if (mysql_library_init(0, NULL, NULL) || !(tid = calloc(n, sizeof(*tid))))
        return 1;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, STACK_SIZE);
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&tid[i], &attr, session, i < n_busy ? (void *)1 : NULL)) {
            fprintf(stderr, "txnloop: cannot start thread %u\n", i);
            atomic_store(&stop, 1);
            n = i;
            break;
        }
        if (i % 50 == 49) /* logins in waves: the proxy's and the server's accept queues */
            sleep_ms(20);
    }
    deadline = now_ms() + 180 * 1000LL;
    while (atomic_load(&ready_count) < (int)n && now_ms() < deadline)
        sleep_ms(10);
    if (atomic_load(&ready_count) < (int)n || atomic_load(&phase1_failed)) {
        fprintf(stderr, "txnloop: not every session logged in on a backup\n");
        atomic_store(&stop, 1);
    } else {
        printf("ready\n");
        fflush(stdout);
        atomic_store(&go, 1);
        deadline = now_ms() + (long long)wait_s * 1000;
        while (atomic_load(&back) < (int)n && now_ms() < deadline)
            sleep_ms(10);
        atomic_store(&stop, 1);
    }
    for (unsigned i = 0; i < n; i++)
        pthread_join(tid[i], NULL);
    printf("committed=%ld\ncut=%ld\nbegin_errors=%ld\nback=%d\nfirst_master=%lld\n"
           "all_master=%lld\nreconnects=%ld\nfailures=%ld\nlongest_txn_ms=%ld\n",
           atomic_load(&committed), atomic_load(&cut), atomic_load(&begin_errors),
           atomic_load(&back), atomic_load(&first_master),
           atomic_load(&back) == (int)n ? atomic_load(&all_master) : 0LL, atomic_load(&reconnects),
           atomic_load(&failures), atomic_load(&longest_txn_ms));
    free(tid);
    mysql_library_end();
    return atomic_load(&back) == (int)n ? 0 : 1;
}
