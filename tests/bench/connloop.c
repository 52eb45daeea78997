/*
 * connloop — a client that makes new MySQL connections one after another, the way an application
 * sees a failover.  Used by tests/bench/run.sh for the failover measurement.
 *
 *   connloop -P PORT [-h HOST] [-u USER] [-p PASS] [-c CONNECT_TIMEOUT_S] [-r READ_TIMEOUT_S]
 *            [-t MAX_SECONDS] [-n MAX_ATTEMPTS] [-m MASTER_PORT -a AFTER_S]
 *
 * Each attempt is a fresh authenticated session that asks `SELECT @@port` and quits.  Per attempt
 * it prints one line, flushed at once so the caller can follow it while the loop runs:
 *
 *   START END ok PORT MS            the session answered; PORT = the server it reached
 *   START END fail ERRNO MS TEXT    connect, login or query failed (ERRNO = client error number)
 *
 * START and END are CLOCK_REALTIME seconds (microseconds) at the start and the end of the attempt,
 * MS its duration.  An attempt that hangs is cut by the connect or read timeout (2 s by default).
 *
 * The loop stops after MAX_SECONDS (default 20) or MAX_ATTEMPTS (default 20000), whichever comes
 * first; with -m and -a also AFTER_S seconds after the first success on a port other than
 * MASTER_PORT (a backup), so the caller gets a short tail of post-failover attempts and no more.
 * The last line is `attempts=A ok=O fail=F`.
 *
 * Exit status: 0 when the loop ran to one of its limits, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <signal.h>
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
                    "[-m MASTER_PORT -a AFTER_S]\n");
    exit(2);
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    int c;

    *o = (struct opts){"127.0.0.1", "app", "app-pass", 0, 2, 2, 20, 20000, 0, 2};
    while ((c = getopt(argc, argv, "h:P:u:p:c:r:t:n:m:a:")) != -1) {
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
        default:
            usage();
        }
    }
    if (o->port == 0 || o->connect_timeout == 0 || o->read_timeout == 0 || o->max_seconds <= 0 ||
        o->max_seconds > 3600 || o->max_attempts == 0 || o->after < 0)
        usage();
}

/*
 * One attempt: connect, log in, SELECT @@port, quit.  Returns the server's port, or 0 on failure
 * with the client error number and text in *err and msg.
 */
static unsigned attempt(const struct opts *o, unsigned *err, char *msg, size_t msglen)
{
    unsigned port = 0;
    MYSQL_RES *res;
    MYSQL_ROW row;
    MYSQL m;

    *err = 0;
    msg[0] = '\0';
    if (!mysql_init(&m)) {
        snprintf(msg, msglen, "mysql_init failed");
        return 0;
    }
    mysql_options(&m, MYSQL_OPT_CONNECT_TIMEOUT, &o->connect_timeout);
    mysql_options(&m, MYSQL_OPT_READ_TIMEOUT, &o->read_timeout);
    mysql_options(&m, MYSQL_OPT_WRITE_TIMEOUT, &o->read_timeout);
    if (mysql_real_connect(&m, o->host, o->user, o->pass, NULL, o->port, NULL, 0) &&
        mysql_query(&m, "SELECT @@port") == 0 && (res = mysql_store_result(&m))) {
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

int main(int argc, char **argv)
{
    unsigned attempts = 0, ok = 0, fail = 0, port, err;
    double t0, t_backup = 0, start, end;
    char msg[256], *p;
    struct opts o;

    parse_opts(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "connloop: mysql_library_init failed\n");
        return 1;
    }

    t0 = now_mono();
    while (!stop && attempts < o.max_attempts && now_mono() - t0 < o.max_seconds) {
        if (t_backup > 0 && now_mono() - t_backup >= o.after)
            break;
        start = now_real();
        port = attempt(&o, &err, msg, sizeof msg);
        end = now_real();
        attempts++;
        if (port) {
            ok++;
            printf("%.6f %.6f ok %u %.1f\n", start, end, port, (end - start) * 1000);
            if (o.master_port && port != o.master_port && t_backup == 0)
                t_backup = now_mono();
        } else {
            fail++;
            for (p = msg; *p; p++) /* one line per attempt */
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
            printf("%.6f %.6f fail %u %.1f %s\n", start, end, err, (end - start) * 1000, msg);
        }
        fflush(stdout);
    }
    printf("attempts=%u ok=%u fail=%u\n", attempts, ok, fail);
    fflush(stdout);
    mysql_library_end();
    return 0;
}
