/* check.c - active health checks and their status codes.
 *
 * A check is a chain of one-step callbacks on the check's own watchers (all at the
 * highest priority), bounded by `timeout check`, and every path ends in check_done().
 * The next check is scheduled only when the previous one is done, so a slow check is
 * never started twice.
 *
 *   L4 (check tcp):  connect -> L4OK | L4CON | L4TOUT | SOCKERR
 *   L7 (MySQL):      connect, greeting, login as the check user (MariaDB Connector/C,
 *                    non-blocking API) -> COM_QUIT (mysql_close) -> L7OK
 *                    | L4CON | L4TOUT | L7TOUT | L7RSP | L7STS (code = MySQL errno)
 *
 * Ending with COM_QUIT matters: a server counts a connection that closes without it
 * as aborted, and blocks the host after max_connect_errors of them.
 */
#include "check.h"

#include <errno.h>
#include <errmsg.h>
#include <mysql.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "rebound.h"
#include "server.h"

#define ABORT_SPINS 16 /* _cont calls allowed to unwind an aborted L7 check */

const struct check_status_info check_statuses[CHK__COUNT] = {
    [CHK_UNK] = {"UNK", "Unknown", CHK_NEUTRAL, false},
    [CHK_INI] = {"INI", "Initializing", CHK_NEUTRAL, false},
    [CHK_SOCKERR] = {"SOCKERR", "Socket error", CHK_FAILED, false},
    [CHK_L4OK] = {"L4OK", "Layer4 check passed", CHK_PASSED, false},
    [CHK_L4TOUT] = {"L4TOUT", "Layer4 timeout", CHK_FAILED, false},
    [CHK_L4CON] = {"L4CON", "Layer4 connection problem", CHK_FAILED, false},
    [CHK_L6OK] = {"L6OK", "Layer6 check passed", CHK_PASSED, false},
    [CHK_L6TOUT] = {"L6TOUT", "Layer6 timeout", CHK_FAILED, false},
    [CHK_L6RSP] = {"L6RSP", "Layer6 invalid response", CHK_FAILED, false},
    [CHK_L7OK] = {"L7OK", "Layer7 check passed", CHK_PASSED, true},
    [CHK_L7OKC] = {"L7OKC", "Layer7 check conditionally passed", CHK_CONDITIONAL, true},
    [CHK_L7TOUT] = {"L7TOUT", "Layer7 timeout", CHK_FAILED, false},
    [CHK_L7RSP] = {"L7RSP", "Layer7 invalid response", CHK_FAILED, true},
    [CHK_L7STS] = {"L7STS", "Layer7 wrong status", CHK_FAILED, true},
    [CHK_HANA] = {"HANA", "Health analyze", CHK_FAILED, false},
};

const char *check_status_name(enum check_status st)
{
    return st < CHK__COUNT ? check_statuses[st].name : "UNK";
}

enum check_class check_status_class(enum check_status st)
{
    return st < CHK__COUNT ? check_statuses[st].cls : CHK_NEUTRAL;
}

static void set_result(struct check_result *r, enum check_status st, int code, const char *info)
{
    r->status = st;
    r->code = code;
    snprintf(r->info, sizeof(r->info), "%s", info ? info : "");
}

void check_classify_mysql_error(unsigned err, const char *msg, struct check_result *r)
{
    const char *paren;
    int oserr;

    switch (err) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_UNKNOWN_HOST:
        /* "Can't connect to server on '10.0.0.1' (111)": report the OS error. */
        paren = strrchr(msg, '(');
        if (paren && sscanf(paren, "(%d)", &oserr) == 1 && oserr > 0)
            set_result(r, CHK_L4CON, 0, strerror(oserr));
        else
            set_result(r, CHK_L4CON, 0, msg);
        return;
    default:
        break;
    }
    /* Below 2000 the server itself answered with an error (1045 access denied, 1040
     * too many connections, 1129 host blocked...); above, the client library could
     * not make sense of what it got. */
    set_result(r, err < 2000 ? CHK_L7STS : CHK_L7RSP, (int)err, msg);
}

static struct server *srv_of(struct check *c)
{
    return container_of(c, struct server, check);
}

/* The interval before the next check: fastinter while the health counter is between
 * its ends (a transition in progress), downinter at the bottom, inter at the top. */
static double interval_s(const struct server *srv)
{
    const struct conf_server *c = srv->conf;
    unsigned ms = conf_fastinter(c);

    if (srv->state == SRV_UP && srv->health == c->rise + c->fall - 1)
        ms = c->inter;
    else if (srv->state == SRV_DOWN && srv->health == 0)
        ms = conf_downinter(c);
    return ms / 1000.0;
}

static void schedule(struct server *srv, double after)
{
    ev_timer_stop(rb_loop, &srv->check.next);
    ev_timer_set(&srv->check.next, after, 0);
    ev_timer_start(rb_loop, &srv->check.next);
}

/* Every check ends here, exactly once. */
static void check_done(struct check *c, struct check_result *r)
{
    struct server *srv = srv_of(c);

    r->duration_ms = (unsigned)((mono_us() - c->started_us) / 1000);
    c->running = false;
    c->closing = false;
    ev_timer_stop(rb_loop, &c->timeout);
    ev_io_stop(rb_loop, &c->io);
    if (srv->admin != ADMIN_MAINT)
        schedule(srv, interval_s(srv));
    server_check_done(srv, r);
}

/* Did the TCP connection get established? Tells L4TOUT from L7TOUT. */
static bool connected(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    return fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &len) == 0;
}

static void watch(struct check *c, int fd, int mysql_wait)
{
    int ev = (mysql_wait & MYSQL_WAIT_READ ? EV_READ : 0) |
             (mysql_wait & MYSQL_WAIT_WRITE ? EV_WRITE : 0);

    ev_io_stop(rb_loop, &c->io);
    if (!ev) /* only a library timeout: ours covers it */
        return;
    ev_io_set(&c->io, fd, ev);
    ev_io_start(rb_loop, &c->io);
}

/* --- L4: TCP connect --- */

static void l4_close(struct check *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static void l4_verdict(struct check *c, int err)
{
    struct check_result r = {0};

    if (err)
        set_result(&r, CHK_L4CON, 0, strerror(err));
    else
        set_result(&r, CHK_L4OK, 0, "");
    l4_close(c);
    check_done(c, &r);
}

static void l4_start(struct check *c, const struct conf_addr *a)
{
    struct check_result r = {0};

    c->fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        set_result(&r, CHK_SOCKERR, 0, strerror(errno));
        check_done(c, &r);
        return;
    }
    if (connect(c->fd, (const struct sockaddr *)&a->sa, a->len) == 0) {
        l4_verdict(c, 0);
        return;
    }
    if (errno != EINPROGRESS) {
        l4_verdict(c, errno);
        return;
    }
    watch(c, c->fd, MYSQL_WAIT_WRITE);
}

static void l4_io(struct check *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    l4_verdict(c, err);
}

/* --- L7: MySQL login with the non-blocking client API --- */

/* Login finished (RET is the handle, or NULL on error): keep the verdict, then say
 * COM_QUIT politely before reporting it. */
static void l7_logged_in(struct check *c, MYSQL *ret)
{
    int st;

    if (!ret) {
        check_classify_mysql_error(mysql_errno(c->mysql), mysql_error(c->mysql), &c->result);
        mysql_close(c->mysql); /* the library already dropped the socket: no I/O */
        c->mysql = NULL;
        check_done(c, &c->result);
        return;
    }
    set_result(&c->result, CHK_L7OK, 0, mysql_get_server_info(c->mysql));
    c->closing = true;
    st = mysql_close_start(c->mysql);
    if (st) {
        watch(c, mysql_get_socket(c->mysql), st);
        return;
    }
    c->mysql = NULL;
    check_done(c, &c->result);
}

static void l7_start(struct check *c, const struct conf_server *conf)
{
    struct check_result r = {0};
    MYSQL *ret = NULL;
    int st;

    if (!(c->mysql = mysql_init(NULL))) {
        set_result(&r, CHK_SOCKERR, 0, "out of memory");
        check_done(c, &r);
        return;
    }
    mysql_options(c->mysql, MYSQL_OPT_NONBLOCK, 0);
    st = mysql_real_connect_start(&ret, c->mysql, conf->addr.host, conf->check_user,
                                  conf->check_has_password ? conf->check_password : NULL, NULL,
                                  conf->addr.port, NULL, 0);
    if (st == 0) {
        l7_logged_in(c, ret);
        return;
    }
    watch(c, mysql_get_socket(c->mysql), st);
}

static void l7_io(struct check *c, int revents)
{
    int ready =
        (revents & EV_READ ? MYSQL_WAIT_READ : 0) | (revents & EV_WRITE ? MYSQL_WAIT_WRITE : 0);
    MYSQL *ret = NULL;
    int st;

    if (c->closing) {
        st = mysql_close_cont(c->mysql, ready);
        if (st) {
            watch(c, mysql_get_socket(c->mysql), st);
            return;
        }
        c->mysql = NULL; /* freed by the library */
        check_done(c, &c->result);
        return;
    }
    st = mysql_real_connect_cont(&ret, c->mysql, ready);
    if (st) {
        watch(c, mysql_get_socket(c->mysql), st);
        return;
    }
    l7_logged_in(c, ret);
}

/* Abandon an L7 check in flight without blocking: shut the socket so every pending
 * read or write fails at once, let the library unwind, then free the handle. */
static void l7_abort(struct check *c)
{
    int fd = mysql_get_socket(c->mysql), st = 1, spins = 0;
    MYSQL *ret;

    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    while (st && spins++ < ABORT_SPINS) {
        if (c->closing)
            st = mysql_close_cont(c->mysql, MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
        else
            st = mysql_real_connect_cont(&ret, c->mysql, MYSQL_WAIT_READ | MYSQL_WAIT_WRITE);
    }
    if (st || !c->closing)
        mysql_close(c->mysql); /* the socket is shut: this cannot block */
    c->mysql = NULL;
}

/* --- driving --- */

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct check *c = container_of(w, struct check, io);
    (void)loop;

    if (c->mysql)
        l7_io(c, revents);
    else
        l4_io(c);
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct check *c = container_of(w, struct check, timeout);
    struct check_result r = {0};
    (void)loop;
    (void)revents;

    if (c->closing) {
        /* The verdict was in; only COM_QUIT did not go out in time. */
        r = c->result;
        l7_abort(c);
        check_done(c, &r);
        return;
    }
    if (c->mysql) {
        bool up = connected(mysql_get_socket(c->mysql));
        set_result(&r, up ? CHK_L7TOUT : CHK_L4TOUT, 0,
                   up ? "no complete MySQL answer in time" : "TCP connect timed out");
        l7_abort(c);
    } else {
        set_result(&r, CHK_L4TOUT, 0, "TCP connect timed out");
        l4_close(c);
    }
    check_done(c, &r);
}

static void next_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct check *c = container_of(w, struct check, next);
    struct server *srv = srv_of(c);
    (void)revents;

    if (c->running)
        return;
    c->running = true;
    c->started_us = mono_us();
    ev_timer_set(&c->timeout, srv->listener->conf->timeout_check / 1000.0, 0);
    ev_timer_start(loop, &c->timeout);
    if (srv->conf->method == CHECK_METHOD_TCP)
        l4_start(c, &srv->conf->addr);
    else
        l7_start(c, srv->conf);
}

void check_init(struct server *srv)
{
    struct check *c = &srv->check;

    c->fd = -1;
    c->mysql = NULL;
    ev_init(&c->next, next_cb);
    ev_init(&c->timeout, timeout_cb);
    ev_init(&c->io, io_cb);
    ev_set_priority(&c->next, PRI_CHECK);
    ev_set_priority(&c->timeout, PRI_CHECK);
    ev_set_priority(&c->io, PRI_CHECK);
}

void check_start(struct server *srv)
{
    if (!srv->conf->check || srv->admin == ADMIN_MAINT || srv->check.running)
        return;
    schedule(srv, 0);
}

void check_stop(struct server *srv)
{
    struct check *c = &srv->check;

    ev_timer_stop(rb_loop, &c->next);
    ev_timer_stop(rb_loop, &c->timeout);
    ev_io_stop(rb_loop, &c->io);
    if (c->mysql)
        l7_abort(c);
    l4_close(c);
    c->running = false;
    c->closing = false;
}

void check_reschedule(struct server *srv)
{
    if (srv->check.running || !ev_is_active(&srv->check.next))
        return;
    schedule(srv, interval_s(srv));
}
