/* main.c - command line, start-up, signals, shutdown. */
#include <errno.h>
#include <getopt.h>
#include <mysql.h>
#include <openssl/opensslv.h>
#include <signal.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "admin.h"
#include "conf.h"
#include "healthlog.h"
#include "listener.h"
#include "log.h"
#include "rebound.h"
#include "stats_http.h"
#include "worker.h"

#define FDS_MARGIN 32 /* stdio, log files, syslog, the event loop's own, and room to spare */

static const char *conf_file; /* re-read on SIGHUP */
static int threads_conf;      /* `threads` as started with (0: auto); fixed until a restart */

/* Descriptors needed besides the sessions' (two each): each listening socket, one check per
 * server, the admin and stats ports at their connection caps, and a margin. These stay
 * free however many clients connect, so checks and the admin port keep working. */
static unsigned fds_reserved(const struct conf *c)
{
    /* Each worker's loop: its epoll and its wake-up descriptors. */
    unsigned n = FDS_MARGIN + 2 * (unsigned)(c->threads ? c->threads : workers_auto());

    for (int i = 0; i < c->nlistens; i++)
        n += 1 + (unsigned)c->listens[i].nservers;
    if (c->admin.enabled)
        n += 1 + ADMIN_MAX_CONNS;
    if (c->has_stats)
        n += 1 + STATS_MAX_CONNS;
    return n;
}

/* Raise the soft descriptor limit to the hard one and make C's maxconn fit in it: a
 * maxconn that does not is lowered (logged). -1 when not even one session would fit. */
static int fit_descriptors(struct conf *c)
{
    struct rlimit rl;
    unsigned reserved = fds_reserved(c), room;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0; /* nothing known: leave it to the accept back-off */
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur > reserved)
        c->fd_room = rl.rlim_cur - reserved < UINT_MAX ? (unsigned)(rl.rlim_cur - reserved) : 0;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)reserved + 2 * (rlim_t)c->maxconn)
        return 0;
    if (rl.rlim_cur < (rlim_t)reserved + 2) {
        log_err("the descriptor limit (%llu) is too low: rebound needs %u for its ports, checks "
                "and logs, plus 2 per session; raise LimitNOFILE / ulimit -n",
                (unsigned long long)rl.rlim_cur, reserved);
        return -1;
    }
    room = (unsigned)((rl.rlim_cur - reserved) / 2);
    log_warn("maxconn %d needs %llu descriptors, the limit is %llu: maxconn lowered to %u (raise "
             "LimitNOFILE / ulimit -n to keep it)",
             c->maxconn, (unsigned long long)reserved + 2ull * (unsigned)c->maxconn,
             (unsigned long long)rl.rlim_cur, room);
    c->maxconn = (int)room;
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: rebound -f FILE [-c] [-d]\n"
                 "  -f FILE  configuration file\n"
                 "  -c       check the configuration and exit (0 if valid)\n"
                 "  -d       debug logging (every session open and close)\n"
                 "  -v       print the version and the libraries' versions\n");
}

static void version(void)
{
    printf("rebound %s\nlibev %d.%d\n%s\nMariaDB Connector/C %s\n", REBOUND_VERSION,
           ev_version_major(), ev_version_minor(), OPENSSL_VERSION_TEXT, mysql_get_client_info());
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)revents;
    log_info("signal %d: stopping", w->signum);
    ev_break(loop, EVBREAK_ALL);
}

/* A reload that cannot be applied: say why, drop C and what was prepared for it, keep the
 * running configuration. Log files are reopened all the same (logrotate). */
static void reload_failed(struct conf *c, const char *why)
{
    log_err("reload failed, keeping the running configuration: %s", why);
    admin_reconf_cancel();
    stats_http_reconf_cancel();
    conf_free(c);
    healthlog_reopen();
}

/* SIGHUP: re-read the configuration file with the same parser as `rebound -c`. What must be
 * bound or loaded (listen, admin and stats addresses, the admin-ssl files) is made ready
 * beside the running configuration first, and the switch happens only once all of it is: a
 * bad file, a socket that cannot be bound or a certificate that does not load leaves the
 * running configuration in place. Either way log files are reopened (logrotate). */
static void hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    char err[1024];
    struct conf *c;
    (void)loop;
    (void)w;
    (void)revents;

    log_info("SIGHUP: reloading %s", conf_file);
    if (!(c = conf_load(conf_file, err, sizeof(err)))) {
        reload_failed(NULL, err);
        return;
    }
    if (c->threads != threads_conf) {
        char was[16], now[16], why[400];
        snprintf(was, sizeof(was), threads_conf ? "%d" : "auto", threads_conf);
        snprintf(now, sizeof(now), c->threads ? "%d" : "auto", c->threads);
        snprintf(why, sizeof(why), c->threads_line ? "%s:%d: " : "%s: ", c->file, c->threads_line);
        snprintf(why + strlen(why), sizeof(why) - strlen(why),
                 "'threads' changed from %s to %s; the worker threads are set at start, restart "
                 "rebound to change them",
                 was, now);
        reload_failed(c, why);
        return;
    }
    if (fit_descriptors(c) < 0) {
        reload_failed(c, "see the errors above");
        return;
    }
    if (admin_reconf_prepare(c, err, sizeof(err)) < 0 ||
        stats_http_reconf_prepare(c, err, sizeof(err)) < 0) {
        reload_failed(c, err);
        return;
    }
    if (listeners_reload(c) < 0) {
        reload_failed(c, "see the errors above");
        return;
    }
    if (healthlog_open(c) < 0)
        log_warn("reload: health log sinks unchanged (see above)");
    admin_reconf_commit();
    stats_http_reconf_commit();
    log_info("reloaded %s", conf_file);
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    bool check_only = false;
    char err[1024];
    struct conf *conf;
    ev_signal sig_term, sig_int, sig_hup;
    int opt;

    while ((opt = getopt(argc, argv, "f:cdvh")) != -1) {
        switch (opt) {
        case 'f':
            file = optarg;
            break;
        case 'c':
            check_only = true;
            break;
        case 'd':
            log_threshold = LOG_DEBUG;
            break;
        case 'v':
            version();
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!file || optind != argc) {
        usage(stderr);
        return 2;
    }
    if (!(conf = conf_load(file, err, sizeof(err)))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (check_only) {
        printf("%s: configuration is valid\n", file);
        conf_free(conf);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    if (mysql_library_init(0, NULL, NULL)) {
        fprintf(stderr, "rebound: cannot initialise the MySQL client library\n");
        return 1;
    }
    rb_loop = ev_default_loop(EVFLAG_AUTO);
    threads_conf = conf->threads;
    /* Workers first: the servers size their per-thread counters by them. */
    if (fit_descriptors(conf) < 0 || healthlog_open(conf) < 0 ||
        workers_start(conf->threads ? conf->threads : workers_auto()) < 0) {
        healthlog_close();
        conf_free(conf);
        return 1;
    }
    if (listeners_start(conf) < 0) {
        workers_stop();
        workers_free();
        healthlog_close();
        conf_free(conf);
        return 1;
    }
    /* From here the listeners own the configuration (and those reloads bring). */
    if (admin_start(conf) < 0 || stats_http_start(conf) < 0) {
        stats_http_stop();
        admin_stop();
        workers_stop();
        listeners_stop();
        workers_free();
        healthlog_close();
        return 1;
    }
    ev_signal_init(&sig_term, stop_cb, SIGTERM);
    ev_signal_init(&sig_int, stop_cb, SIGINT);
    ev_signal_init(&sig_hup, hup_cb, SIGHUP);
    ev_signal_start(rb_loop, &sig_term);
    ev_signal_start(rb_loop, &sig_int);
    ev_signal_start(rb_loop, &sig_hup);
    conf_file = file;
    log_info("rebound %s started with %s", REBOUND_VERSION, file);

    ev_run(rb_loop, 0);

    stats_http_stop();
    admin_stop();
    /* The workers stop first; their sessions are then closed from here. */
    workers_stop();
    listeners_stop();
    workers_free();
    healthlog_close();
    mysql_library_end();
    ev_loop_destroy(rb_loop);
    log_info("stopped");
    return 0;
}
