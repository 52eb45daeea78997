/*
 * connloop — a client that makes new MySQL connections one after another, the way an application
 * sees a failover.  Used by tests/bench/run.sh for the failover measurement.
 *
 *   connloop -P PORT [-h HOST] [-u USER] [-p PASS] [-c CONNECT_TIMEOUT_S] [-r READ_TIMEOUT_S]
 *            [-t MAX_SECONDS] [-n MAX_ATTEMPTS] [-m MASTER_PORT -a AFTER_S] [-i INTERVAL_MS]
 *
 * Each attempt is a fresh authenticated session that asks `SELECT @@port` and quits.  By default
 * the attempts follow one another; with -i a new attempt starts every INTERVAL_MS milliseconds
 * whatever the earlier ones are doing (each in a thread of its own, at most MAX_INFLIGHT at once),
 * the way independent application requests arrive, so that one hung attempt does not hide what
 * the next ones see.  Per attempt it prints one line, flushed at once so the caller can follow it
 * while the loop runs:
 *
 *   START END ok PORT MS                  the session answered; PORT = the server it reached
 *   START END fail ERRNO MS STAGE TEXT    it failed (ERRNO = client error number); STAGE is
 *                                         `connect` (connect or login) or `query`
 *
 * START and END are CLOCK_REALTIME seconds (microseconds) at the start and the end of the attempt,
 * MS its duration.  An attempt that hangs is cut by the connect or read timeout (2 s by default).
 *
 * The loop stops starting attempts after MAX_SECONDS (default 20) or MAX_ATTEMPTS (default 20000),
 * whichever comes first; with -m and -a also AFTER_S seconds after the first success on a port
 * other than MASTER_PORT (a backup), so the caller gets a short tail of post-failover attempts and
 * no more.  With -i it then waits for the attempts in flight (each bounded by its timeouts).  The
 * last line is `attempts=A ok=O fail=F`.
 *
 * Exit status: 0 when the loop ran to one of its limits, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

/* Command-line settings. */
struct opts {
    const char *host;
    const char *user;
    const char *pass;
    unsigned port;
    unsigned connect_timeout; /* seconds, per attempt */
    unsigned read_timeout;    /* seconds, per read or write of an attempt */
    double max_seconds;       /* for the whole loop */
    unsigned max_attempts;
    unsigned master_port; /* 0: never stop on a backup */
    double after;         /* seconds to go on after the first success on a backup */
    unsigned interval_ms; /* 0: one attempt after another; else a new attempt every N ms */
};

#define MAX_INFLIGHT 1000 /* attempts at once with -i: 2 s timeouts x 50/s is 100 */

/* What the attempts share (paced mode: several threads). */
struct loop {
    const struct opts *o;
    pthread_mutex_t lock; /* guards everything below and stdout */
    pthread_cond_t done;  /* signalled when an attempt ends */
    unsigned attempts, ok, fail, inflight;
    double t_backup; /* monotonic time of the first answer from a backup, 0 before */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static double now_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_real(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: connloop -P PORT [-h HOST] [-u USER] [-p PASS] [-c CONNECT_TIMEOUT_S] "
                    "[-r READ_TIMEOUT_S] [-t MAX_SECONDS] [-n MAX_ATTEMPTS] "
                    "[-m MASTER_PORT -a AFTER_S] [-i INTERVAL_MS]\n");
    exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    int c;

    *o = (struct opts){"127.0.0.1", "app", "app-pass", 0, 2, 2, 20, 20000, 0, 2, 0};
    while ((c = getopt(argc, argv, "h:P:u:p:c:r:t:n:m:a:i:")) != -1) {
        switch (c) {
        case 'h':
            o->host = optarg;
            break;
        case 'P':
            o->port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'u':
            o->user = optarg;
            break;
        case 'p':
            o->pass = optarg;
            break;
        case 'c':
            o->connect_timeout = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'r':
            o->read_timeout = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 't':
            o->max_seconds = strtod(optarg, NULL);
            break;
        case 'n':
            o->max_attempts = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'm':
            o->master_port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'a':
            o->after = strtod(optarg, NULL);
            break;
        case 'i':
            o->interval_ms = (unsigned)strtoul(optarg, NULL, 10);
            break;
        default:
            usage();
        }
    }
    if (o->port == 0 || o->connect_timeout == 0 || o->read_timeout == 0 || o->max_seconds <= 0 ||
        o->max_seconds > 3600 || o->max_attempts == 0 || o->after < 0 || o->interval_ms > 60000)
        usage();
}

/*
 * One attempt: connect, log in, SELECT @@port, quit.  Returns the server's port, or 0 on failure
 * with the client error number and text in *err and msg, and the stage that failed in *stage.
 */
static unsigned attempt(const struct opts *o, unsigned *err, const char **stage, char *msg,
                        size_t msglen)
{
    unsigned port = 0;
    MYSQL_RES *res;
    MYSQL_ROW row;
    MYSQL m;

    *err = 0;
    *stage = "connect";
    msg[0] = '\0';
    if (!mysql_init(&m)) {
        snprintf(msg, msglen, "mysql_init failed");
        return 0;
    }
    mysql_options(&m, MYSQL_OPT_CONNECT_TIMEOUT, &o->connect_timeout);
    mysql_options(&m, MYSQL_OPT_READ_TIMEOUT, &o->read_timeout);
    mysql_options(&m, MYSQL_OPT_WRITE_TIMEOUT, &o->read_timeout);
    if (mysql_real_connect(&m, o->host, o->user, o->pass, NULL, o->port, NULL, 0) &&
        (*stage = "query", mysql_query(&m, "SELECT @@port") == 0) &&
        (res = mysql_store_result(&m))) {
        row = mysql_fetch_row(res);
        if (row && row[0])
            port = (unsigned)strtoul(row[0], NULL, 10);
        mysql_free_result(res);
        if (port == 0)
            snprintf(msg, msglen, "no port in the answer");
    }
    if (port == 0 && msg[0] == '\0') {
        *err = mysql_errno(&m);
        snprintf(msg, msglen, "%s", mysql_error(&m));
    }
    mysql_close(&m);
    return port;
}

/* Run one attempt and print its line; counts in L. */
static void attempt_report(struct loop *l)
{
    const char *stage;
    double start, end;
    unsigned port, err;
    char msg[256], *p;

    start = now_real();
    port = attempt(l->o, &err, &stage, msg, sizeof msg);
    end = now_real();
    for (p = msg; *p; p++) /* one line per attempt */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    pthread_mutex_lock(&l->lock);
    if (port) {
        l->ok++;
        printf("%.6f %.6f ok %u %.1f\n", start, end, port, (end - start) * 1000);
        if (l->o->master_port && port != l->o->master_port && l->t_backup == 0)
            l->t_backup = now_mono();
    } else {
        l->fail++;
        printf("%.6f %.6f fail %u %.1f %s %s\n", start, end, err, (end - start) * 1000, stage, msg);
    }
    fflush(stdout);
    pthread_mutex_unlock(&l->lock);
}

/* A paced attempt's thread. */
static void *attempt_thread(void *arg)
{
    struct loop *l = arg;

    mysql_thread_init();
    attempt_report(l);
    mysql_thread_end();
    pthread_mutex_lock(&l->lock);
    l->inflight--;
    pthread_cond_signal(&l->done);
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

/* True while the loop may start another attempt. */
static bool go_on(struct loop *l, double t0)
{
    bool go;

    pthread_mutex_lock(&l->lock);
    go = !stop && l->attempts < l->o->max_attempts && now_mono() - t0 < l->o->max_seconds &&
         !(l->t_backup > 0 && now_mono() - l->t_backup >= l->o->after);
    pthread_mutex_unlock(&l->lock);
    return go;
}

/* Start an attempt every interval_ms on its own thread, then wait for those in flight. */
static void run_paced(struct loop *l, double t0)
{
    struct timespec next;
    pthread_attr_t attr;
    pthread_t t;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (go_on(l, t0)) {
        pthread_mutex_lock(&l->lock);
        if (l->inflight < MAX_INFLIGHT) {
            l->attempts++;
            l->inflight++;
            if (pthread_create(&t, &attr, attempt_thread, l) != 0) {
                l->attempts--;
                l->inflight--;
                fprintf(stderr, "connloop: pthread_create failed\n");
            }
        }
        pthread_mutex_unlock(&l->lock);
        next.tv_nsec += (long)l->o->interval_ms * 1000000L;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR && !stop)
            ;
    }
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&l->lock); /* every attempt ends within its timeouts */
    while (l->inflight > 0)
        pthread_cond_wait(&l->done, &l->lock);
    pthread_mutex_unlock(&l->lock);
}

int main(int argc, char **argv)
{
    struct loop l = {.lock = PTHREAD_MUTEX_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};
    struct opts o;
    double t0;

    parse_opts(argc, argv, &o);
    l.o = &o;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "connloop: mysql_library_init failed\n");
        return 1;
    }

    t0 = now_mono();
    if (o.interval_ms) {
        run_paced(&l, t0);
    } else {
        while (go_on(&l, t0)) {
            l.attempts++;
            attempt_report(&l);
        }
    }
    printf("attempts=%u ok=%u fail=%u\n", l.attempts, l.ok, l.fail);
    fflush(stdout);
    mysql_library_end();
    return 0;
}
