/* check.c - active health checks and their status codes.
 *
 * A check is a chain of one-step callbacks on the check's own watchers (all at the
 * highest priority), bounded by `timeout check`, and every path ends in check_done(), which
 * reports the result to server.c (server_check_report). When checks run is server.c's
 * policy (rise, fall, inter, fastinter, downinter): it schedules the next check only when the
 * previous one is done, so a slow check is never started twice. This file reads a server's
 * configuration, never its state.
 *
 * Threads: the control thread only (rb_loop).
 *
 *   check tcp:              PH_TCP -> L4OK | L4CON | L4TOUT | SOCKERR
 *   check tcp + check-ssl:  PH_TCP -> PH_TLS -> L6OK | L6RSP | L6TOUT
 *   MySQL (the default):    PH_LOGIN (connect, greeting, optional TLS upgrade, login as
 *                           the check user, with MariaDB Connector/C's non-blocking API)
 *                           -> for each expectation PH_QUERY -> PH_STORE
 *                           -> the GTID position (when the listen has a GTID guard)
 *                              PH_QUERY -> PH_STORE, never a verdict of its own
 *                           -> PH_QUIT (COM_QUIT) -> L7OK | L7OKC | L7STS | L7RSP | ...
 *
 * Ending with COM_QUIT matters: a server counts a connection that closes without it as
 * aborted, and blocks the host after max_connect_errors of them.
 */
#include "check.h"

#include <errno.h>
#include <errmsg.h>
#include <mysql.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "rebound.h"
#include "server.h"
#include "tls.h"

#define ABORT_SPINS 16 /* _cont calls allowed to unwind an aborted L7 check */

const struct check_status_info check_statuses[CHK__COUNT] = {
    [CHK_UNK] = {"UNK", "Unknown", CHK_NEUTRAL, false},
    [CHK_INI] = {"INI", "Initializing", CHK_NEUTRAL, false},
    /* rebound's own shortage (descriptors, memory, ports): no verdict on the server. */
    [CHK_SOCKERR] = {"SOCKERR", "Socket error", CHK_NEUTRAL, false},
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
    /* Set by the GTID guard (server.c), never by a check itself. */
    [CHK_L7GTID] = {"L7GTID", "Layer7 missing transactions", CHK_FAILED, false},
    [CHK_HANA] = {"HANA", "Health analyze", CHK_FAILED, false},
};

/* What an L7 check asks after logging in, in this order: the expectations, then the GTID
 * position the guard compares (one more query, once the expectations passed). */
enum step { STEP_READ_ONLY, STEP_LAG, STEP_QUERY, STEP_GTID, STEP__COUNT };

const char *check_status_name(enum check_status st)
{
    return st < CHK__COUNT ? check_statuses[st].name : "UNK";
}

enum check_class check_status_class(enum check_status st)
{
    return st < CHK__COUNT ? check_statuses[st].cls : CHK_NEUTRAL;
}

static void set_result(struct check_result *r, enum check_status st, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_result(struct check_result *r, enum check_status st, int code, const char *fmt, ...)
{
    va_list ap;

    r->status = st;
    r->code = code;
    va_start(ap, fmt);
    vsnprintf(r->info, sizeof(r->info), fmt, ap);
    va_end(ap);
}

void check_classify_mysql_error(unsigned err, const char *msg, struct check_result *r)
{
    const char *paren = strrchr(msg, '(');
    int oserr = 0;

    if (paren && sscanf(paren, "(%d)", &oserr) != 1)
        oserr = 0;
    switch (err) {
    case CR_SOCKET_CREATE_ERROR:
    case CR_IPSOCK_ERROR:
        set_result(r, CHK_SOCKERR, 0, "%s", oserr > 0 ? strerror(oserr) : msg);
        return;
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_UNKNOWN_HOST:
        /* "Can't connect to server on '10.0.0.1' (111)": report the OS error. */
        set_result(r, local_shortage(oserr) ? CHK_SOCKERR : CHK_L4CON, 0, "%s",
                   oserr > 0 ? strerror(oserr) : msg);
        return;
    case CR_SSL_CONNECTION_ERROR:
        set_result(r, CHK_L6RSP, 0, "%s", msg);
        return;
    default:
        break;
    }
    /* Below 2000 the server itself answered with an error (1045 access denied, 1040
     * too many connections, 1129 host blocked...); above, the client library could
     * not make sense of what it got. */
    set_result(r, err < 2000 ? CHK_L7STS : CHK_L7RSP, (int)err, "%s", msg);
}

static struct server *srv_of(struct check *c)
{
    return container_of(c, struct server, check);
}

static void schedule(struct server *srv, double after)
{
    ev_timer_stop(rb_loop, &srv->check.next);
    ev_timer_set(&srv->check.next, after, 0);
    ev_timer_start(rb_loop, &srv->check.next);
}

/* A check that could not run for want of descriptors, memory or ports says nothing about
 * the server: its state stays, the line is rate-limited, the check is tried again soon. */
static void check_not_run(struct server *srv, const struct check_result *r)
{
    static struct log_rate rate;
    unsigned quiet;

    if (log_rate_allow(&rate, &quiet))
        srv_log(LOG_WARN, srv, "check could not run: %s; state kept (%u similar not logged)",
                r->info, quiet);
}

/* Every check ends here, exactly once, with its sockets already released: the result goes
 * to server.c, which also schedules the next check. */
static void check_done(struct check *c, struct check_result *r)
{
    struct server *srv = srv_of(c);

    r->duration_ms = (unsigned)((mono_us() - c->started_us) / 1000);
    c->running = false;
    c->phase = PH_IDLE;
    ev_timer_stop(rb_loop, &c->timeout);
    ev_io_stop(rb_loop, &c->io);
    if (r->status == CHK_SOCKERR)
        check_not_run(srv, r);
    server_check_report(srv, r);
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

/* The server's TLS context, made once. NULL (with R set to L6RSP) on error. */
static SSL_CTX *ssl_ctx(struct check *c, struct check_result *r)
{
    const struct conf_server *conf = srv_of(c)->conf;
    char err[256];

    if (!c->ssl_ctx && !(c->ssl_ctx = tls_client_ctx(conf->ca_file, conf->check_verify, NULL, false,
                                                     err, sizeof(err))))
        set_result(r, CHK_L6RSP, 0, "%s", err);
    return c->ssl_ctx;
}

/* --- L4 and L6: TCP connect, then an optional raw TLS handshake --- */

static void sock_close(struct check *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl); /* one try, non-blocking: a close_notify if it fits */
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

static void sock_verdict(struct check *c, struct check_result *r)
{
    sock_close(c);
    check_done(c, r);
}

/* One step of the TLS handshake; reports or waits for the socket. */
static void tls_step(struct check *c)
{
    struct check_result r = {0};
    char err[256];
    int rc = SSL_do_handshake(c->ssl);

    if (rc == 1) {
        set_result(&r, CHK_L6OK, 0, "%s %s", SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
        sock_verdict(c, &r);
        return;
    }
    switch (SSL_get_error(c->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        watch(c, c->fd, MYSQL_WAIT_READ);
        return;
    case SSL_ERROR_WANT_WRITE:
        watch(c, c->fd, MYSQL_WAIT_WRITE);
        return;
    default:
        set_result(&r, CHK_L6RSP, 0, "%s", tls_error(err, sizeof(err), "TLS handshake failed"));
        sock_verdict(c, &r);
    }
}

/* TCP connect finished with ERR (0 = connected). */
static void tcp_connected(struct check *c, int err)
{
    struct check_result r = {0};

    if (err) {
        set_result(&r, CHK_L4CON, 0, "%s", strerror(err));
        sock_verdict(c, &r);
        return;
    }
    if (!srv_of(c)->conf->check_ssl) {
        set_result(&r, CHK_L4OK, 0, "%s", "");
        sock_verdict(c, &r);
        return;
    }
    if (!ssl_ctx(c, &r) || !(c->ssl = SSL_new(c->ssl_ctx)) || !SSL_set_fd(c->ssl, c->fd)) {
        if (r.status != CHK_L6RSP)
            set_result(&r, CHK_SOCKERR, 0, "cannot create a TLS session");
        sock_verdict(c, &r);
        return;
    }
    SSL_set_connect_state(c->ssl);
    c->phase = PH_TLS;
    tls_step(c);
}

static void tcp_start(struct check *c, const struct conf_addr *a)
{
    struct check_result r = {0};

    c->phase = PH_TCP;
    c->fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        set_result(&r, CHK_SOCKERR, 0, "%s", strerror(errno));
        check_done(c, &r);
        return;
    }
    if (connect(c->fd, (const struct sockaddr *)&a->sa, a->len) == 0) {
        tcp_connected(c, 0);
    } else if (local_shortage(errno)) {
        set_result(&r, CHK_SOCKERR, 0, "%s", strerror(errno));
        sock_verdict(c, &r);
    } else if (errno != EINPROGRESS) {
        tcp_connected(c, errno);
    } else {
        watch(c, c->fd, MYSQL_WAIT_WRITE);
    }
}

static void tcp_io(struct check *c)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    tcp_connected(c, err);
}

/* --- L7: MySQL login, expectations, COM_QUIT --- */

static void l7_quit(struct check *c)
{
    int st;

    c->phase = PH_QUIT;
    st = mysql_close_start(c->mysql);
    if (st) {
        watch(c, mysql_get_socket(c->mysql), st);
        return;
    }
    c->mysql = NULL; /* freed by the library */
    check_done(c, &c->result);
}

/* The query of STEP, or NULL when the server has no such expectation. */
static const char *step_sql(const struct check *c, const struct conf_server *conf, int step)
{
    switch (step) {
    case STEP_READ_ONLY:
        return conf->expect_read_only == EXPECT_ANY ? NULL : "SELECT @@global.read_only";
    case STEP_LAG:
        if (conf->max_lag == EXPECT_ANY)
            return NULL;
        return c->legacy_replica_status ? "SHOW SLAVE STATUS" : "SHOW REPLICA STATUS";
    case STEP_QUERY:
        return conf->check_query[0] ? conf->check_query : NULL;
    case STEP_GTID:
        if (!conf->read_gtid)
            return NULL;
        return c->gtid.flavor == GTID_MARIADB ? "SELECT @@global.gtid_current_pos"
                                              : "SELECT @@global.gtid_executed";
    default:
        return NULL;
    }
}

static void query_sent(struct check *c, int err);

/* Send the query of the next expectation, or say COM_QUIT when none is left. */
static void next_step(struct check *c)
{
    const struct conf_server *conf = srv_of(c)->conf;
    const char *sql = NULL;
    int st, err = 0;

    while (c->step < STEP__COUNT && !(sql = step_sql(c, conf, c->step)))
        c->step++;
    if (!sql) {
        l7_quit(c);
        return;
    }
    c->phase = PH_QUERY;
    c->gtid.asked = c->step == STEP_GTID;
    st = mysql_real_query_start(&err, c->mysql, sql, strlen(sql));
    if (st) {
        watch(c, mysql_get_socket(c->mysql), st);
        return;
    }
    query_sent(c, err);
}

static int column(MYSQL_RES *res, const char *a, const char *b)
{
    MYSQL_FIELD *f = mysql_fetch_fields(res);

    for (unsigned i = 0; i < mysql_num_fields(res); i++)
        if (!strcasecmp(f[i].name, a) || !strcasecmp(f[i].name, b))
            return (int)i;
    return -1;
}

static bool is_on(const char *v)
{
    return v && (!strcmp(v, "1") || !strcasecmp(v, "ON"));
}

static void eval_read_only(struct check *c, MYSQL_RES *res)
{
    const struct conf_server *conf = srv_of(c)->conf;
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    bool on;

    if (!row) {
        set_result(&c->result, CHK_L7RSP, 0, "no answer to SELECT @@global.read_only");
        return;
    }
    on = is_on(row[0]);
    if (on != (conf->expect_read_only == 1))
        set_result(&c->result, CHK_L7STS, 0, "read_only is %s, expected %s", on ? "ON" : "OFF",
                   on ? "OFF" : "ON");
}

/* The columns of SHOW REPLICA STATUS the lag expectation reads (-1: absent). */
struct replica_cols {
    int lag, io, sql, io_errno, io_error, sql_errno, sql_error;
    int read_file, read_pos, exec_file, exec_pos;
};

/* Client errors a replica's IO thread reports while its master cannot be reached (refused,
 * unreachable, lost, shutting down, too busy to let it in). */
static bool master_unreachable(long io_errno)
{
    static const long codes[] = {0, 1040, 1053, 1129, 2002, 2003, 2005, 2006, 2013};

    for (size_t i = 0; i < ARRAY_SIZE(codes); i++)
        if (io_errno == codes[i])
            return true;
    return false;
}

static const char *field(MYSQL_ROW row, int col)
{
    return col >= 0 && row[col] ? row[col] : "";
}

/* One replication channel's verdict, written to C->result unless it passes; *LAG gets
 * its lag (-1 when the master is unreachable). Returns false when the check fails.
 *
 *   SQL thread not running (stopped or failed)     -> fail: replication is broken
 *   IO thread stopped (by an operator or an error)  -> fail
 *   IO thread connecting with an error other than
 *   "master unreachable" (denied, missing binlog)   -> fail
 *   IO and SQL threads running                      -> lag compared with max-lag
 *   IO thread connecting to an unreachable master,
 *   SQL thread running                              -> pass: this replica holds all it
 *                                                      could get and applies it; it is the
 *                                                      failover target, lag unknown
 */
static bool channel_verdict(struct check *c, MYSQL_ROW row, const struct replica_cols *k, long *lag,
                            char *note, size_t notesz)
{
    const char *io = field(row, k->io), *sql = field(row, k->sql);
    long io_errno = atol(field(row, k->io_errno));

    *lag = -1;
    if (strcasecmp(sql, "Yes")) {
        long sql_errno = atol(field(row, k->sql_errno));
        if (sql_errno)
            set_result(&c->result, CHK_L7STS, 0,
                       "replication is not running (IO thread: %s, SQL thread: %s, SQL error "
                       "%ld: %.60s)",
                       io[0] ? io : "NULL", sql[0] ? sql : "NULL", sql_errno,
                       field(row, k->sql_error));
        else
            set_result(&c->result, CHK_L7STS, 0,
                       "replication is not running (IO thread: %s, SQL thread: %s)",
                       io[0] ? io : "NULL", sql[0] ? sql : "NULL");
        return false;
    }
    if (!strcasecmp(io, "Yes")) { /* lag NULL only for a moment, while the IO thread rejoins */
        *lag = row[k->lag] ? atol(row[k->lag]) : -1;
        return true;
    }
    if (strcasecmp(io, "Connecting") || !master_unreachable(io_errno)) {
        set_result(&c->result, CHK_L7STS, 0,
                   "replication is not running (IO thread: %s, SQL thread: %s, IO error %ld: "
                   "%.60s)",
                   io[0] ? io : "NULL", sql, io_errno, field(row, k->io_error));
        return false;
    }
    /* Master unreachable: how much of what arrived is still to apply? */
    if (!strcmp(field(row, k->read_file), field(row, k->exec_file)) &&
        atoll(field(row, k->exec_pos)) >= atoll(field(row, k->read_pos)))
        snprintf(note, notesz, "master unreachable, relay log applied");
    else if (!strcmp(field(row, k->read_file), field(row, k->exec_file)))
        snprintf(note, notesz, "master unreachable, applying relay log (%lld bytes left)",
                 atoll(field(row, k->read_pos)) - atoll(field(row, k->exec_pos)));
    else
        snprintf(note, notesz, "master unreachable, applying relay log (from %.40s)",
                 field(row, k->exec_file));
    return true;
}

/* Replication lag: broken or stopped replication fails the check, lag beyond max-lag
 * passes it conditionally (the server drains), and a replica whose master is gone passes
 * (see channel_verdict). Several rows = multi-source: the worst one counts. */
static void eval_lag(struct check *c, MYSQL_RES *res)
{
    const struct conf_server *conf = srv_of(c)->conf;
    struct replica_cols k;
    char note[96] = "";
    long worst = -1, lag;
    MYSQL_ROW row;
    size_t len;

    if (!res || mysql_num_rows(res) == 0) {
        set_result(&c->result, CHK_L7STS, 0, "not a replica: replica status is empty");
        return;
    }
    k = (struct replica_cols){
        .lag = column(res, "Seconds_Behind_Master", "Seconds_Behind_Source"),
        .io = column(res, "Slave_IO_Running", "Replica_IO_Running"),
        .sql = column(res, "Slave_SQL_Running", "Replica_SQL_Running"),
        .io_errno = column(res, "Last_IO_Errno", "Last_IO_Errno"),
        .io_error = column(res, "Last_IO_Error", "Last_IO_Error"),
        .sql_errno = column(res, "Last_SQL_Errno", "Last_SQL_Errno"),
        .sql_error = column(res, "Last_SQL_Error", "Last_SQL_Error"),
        .read_file = column(res, "Master_Log_File", "Source_Log_File"),
        .read_pos = column(res, "Read_Master_Log_Pos", "Read_Source_Log_Pos"),
        .exec_file = column(res, "Relay_Master_Log_File", "Relay_Source_Log_File"),
        .exec_pos = column(res, "Exec_Master_Log_Pos", "Exec_Source_Log_Pos"),
    };
    if (k.lag < 0 || k.io < 0 || k.sql < 0) {
        set_result(&c->result, CHK_L7RSP, 0, "replica status has no Seconds_Behind_Master");
        return;
    }
    while ((row = mysql_fetch_row(res))) {
        if (!channel_verdict(c, row, &k, &lag, note, sizeof(note)))
            return;
        if (lag > worst)
            worst = lag;
    }
    if (worst > conf->max_lag) {
        set_result(&c->result, CHK_L7OKC, 0, "replication lag %lds exceeds max-lag %ds", worst,
                   conf->max_lag);
        return;
    }
    len = strlen(c->result.info);
    if (note[0] && len < sizeof(c->result.info))
        snprintf(c->result.info + len, sizeof(c->result.info) - len, ", %s", note);
}

static void eval_query(struct check *c, MYSQL_RES *res)
{
    const struct conf_server *conf = srv_of(c)->conf;
    unsigned long long rows = res ? mysql_num_rows(res) : 0;
    MYSQL_ROW row;

    if (conf->expect_rows != EXPECT_ANY && rows != (unsigned long long)conf->expect_rows) {
        set_result(&c->result, CHK_L7STS, 0, "check-query returned %llu rows, expected %d", rows,
                   conf->expect_rows);
        return;
    }
    if (!conf->has_expect_value)
        return;
    row = res ? mysql_fetch_row(res) : NULL;
    if (!row || mysql_num_fields(res) == 0) {
        set_result(&c->result, CHK_L7STS, 0, "check-query returned no value, expected '%s'",
                   conf->expect_value);
        return;
    }
    if (strcmp(row[0] ? row[0] : "NULL", conf->expect_value))
        set_result(&c->result, CHK_L7STS, 0, "check-query returned '%.60s', expected '%s'",
                   row[0] ? row[0] : "NULL", conf->expect_value);
}

/* The GTID position: kept as the server printed it; the guard parses it. */
static void eval_gtid(struct check *c, MYSQL_RES *res)
{
    MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
    unsigned long *len = row ? mysql_fetch_lengths(res) : NULL;

    if (!row || !row[0])
        snprintf(c->gtid.why, sizeof(c->gtid.why), "the server returned no GTID position");
    else if (len[0] >= sizeof(c->gtid.pos))
        snprintf(c->gtid.why, sizeof(c->gtid.why), "GTID position longer than %zu characters",
                 sizeof(c->gtid.pos) - 1);
    else if (memchr(row[0], '\0', len[0]))
        snprintf(c->gtid.why, sizeof(c->gtid.why), "GTID position holds a NUL byte");
    else
        c->gtid.ok = snprintf(c->gtid.pos, sizeof(c->gtid.pos), "%s", row[0]) >= 0;
}

/* The result set of the current step arrived (RES may be NULL: no result set). */
static void result_stored(struct check *c, MYSQL_RES *res)
{
    static void (*const eval[STEP__COUNT])(struct check *, MYSQL_RES *) = {
        [STEP_READ_ONLY] = eval_read_only,
        [STEP_LAG] = eval_lag,
        [STEP_QUERY] = eval_query,
        [STEP_GTID] = eval_gtid,
    };

    if (!res && mysql_errno(c->mysql))
        check_classify_mysql_error(mysql_errno(c->mysql), mysql_error(c->mysql), &c->result);
    else
        eval[c->step](c, res);
    mysql_free_result(res);
    if (check_status_class(c->result.status) == CHK_FAILED) {
        l7_quit(c);
        return;
    }
    c->step++;
    next_step(c);
}

static void store_result(struct check *c)
{
    MYSQL_RES *res = NULL;
    int st;

    c->phase = PH_STORE;
    st = mysql_store_result_start(&res, c->mysql);
    if (st) {
        watch(c, mysql_get_socket(c->mysql), st);
        return;
    }
    result_stored(c, res);
}

/* The current step's query was answered (ERR non-zero: with an error). */
static void query_sent(struct check *c, int err)
{
    unsigned e = mysql_errno(c->mysql);

    if (!err) {
        store_result(c);
        return;
    }
    /* The server cannot tell its GTID position (no such variable, no privilege): the check
     * goes on, and the guard knows why it has no position. A client error (the connection
     * lost) ends the check as any query's would. */
    if (c->step == STEP_GTID && e < 2000) {
        snprintf(c->gtid.why, sizeof(c->gtid.why), "error %u: %.100s", e, mysql_error(c->mysql));
        c->step++;
        next_step(c);
        return;
    }
    /* Servers older than MySQL 8.0.22 / MariaDB 10.5 only know SHOW SLAVE STATUS. */
    if (c->step == STEP_LAG && e == 1064 && !c->legacy_replica_status) {
        c->legacy_replica_status = true;
        next_step(c);
        return;
    }
    check_classify_mysql_error(e, mysql_error(c->mysql), &c->result);
    l7_quit(c);
}

/* Login finished: RET is the handle, or NULL on error. */
static void logged_in(struct check *c, MYSQL *ret)
{
    const char *cipher;

    if (!ret) {
        check_classify_mysql_error(mysql_errno(c->mysql), mysql_error(c->mysql), &c->result);
        mysql_close(c->mysql); /* the library already dropped the socket: no I/O */
        c->mysql = NULL;
        check_done(c, &c->result);
        return;
    }
    cipher = mysql_get_ssl_cipher(c->mysql);
    if (srv_of(c)->conf->check_ssl && !cipher) {
        /* The library may fall back to plain text when the server offers no TLS. */
        set_result(&c->result, CHK_L6RSP, 0, "server does not offer TLS");
        l7_quit(c);
        return;
    }
    set_result(&c->result, CHK_L7OK, 0, "%s%s%s", mysql_get_server_info(c->mysql),
               cipher ? ", TLS " : "", cipher ? cipher : "");
    c->gtid.flavor = strstr(mysql_get_server_info(c->mysql), "MariaDB") ? GTID_MARIADB : GTID_MYSQL;
    c->step = 0;
    next_step(c);
}

static void login_start(struct check *c, const struct conf_server *conf)
{
    struct check_result r = {0};
    MYSQL *ret = NULL;
    my_bool on = 1, verify = conf->check_verify;
    int st;

    c->phase = PH_LOGIN;
    if (!(c->mysql = mysql_init(NULL))) {
        set_result(&r, CHK_SOCKERR, 0, "out of memory");
        check_done(c, &r);
        return;
    }
    mysql_options(c->mysql, MYSQL_OPT_NONBLOCK, 0);
    if (conf->check_ssl) {
        mysql_optionsv(c->mysql, MYSQL_OPT_SSL_ENFORCE, &on);
        mysql_optionsv(c->mysql, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
        if (conf->ca_file[0])
            mysql_optionsv(c->mysql, MYSQL_OPT_SSL_CA, conf->ca_file);
    }
    st = mysql_real_connect_start(&ret, c->mysql, conf->addr.host, conf->check_user,
                                  conf->check_has_password ? conf->check_password : NULL, NULL,
                                  conf->addr.port, NULL, 0);
    if (st == 0) {
        logged_in(c, ret);
        return;
    }
    watch(c, mysql_get_socket(c->mysql), st);
}

/* Continue the library call of the current phase with READY events; its result goes to
 * RET, ERR or RES. Returns what the library waits for next, 0 when the call is done. */
static int mysql_continue(struct check *c, int ready, MYSQL **ret, int *err, MYSQL_RES **res)
{
    switch (c->phase) {
    case PH_LOGIN:
        return mysql_real_connect_cont(ret, c->mysql, ready);
    case PH_QUERY:
        return mysql_real_query_cont(err, c->mysql, ready);
    case PH_STORE:
        return mysql_store_result_cont(res, c->mysql, ready);
    case PH_QUIT:
        return mysql_close_cont(c->mysql, ready);
    default:
        return 0;
    }
}

/* The socket is ready: continue whatever non-blocking call is in progress. */
static void mysql_io(struct check *c, int revents)
{
    int ready =
        (revents & EV_READ ? MYSQL_WAIT_READ : 0) | (revents & EV_WRITE ? MYSQL_WAIT_WRITE : 0);
    MYSQL *ret = NULL;
    MYSQL_RES *res = NULL;
    int err = 0, st = mysql_continue(c, ready, &ret, &err, &res);

    if (st) {
        watch(c, mysql_get_socket(c->mysql), st);
        return;
    }
    switch (c->phase) {
    case PH_LOGIN:
        logged_in(c, ret);
        break;
    case PH_QUERY:
        query_sent(c, err);
        break;
    case PH_STORE:
        result_stored(c, res);
        break;
    case PH_QUIT: /* the library freed the handle */
        c->mysql = NULL;
        check_done(c, &c->result);
        break;
    default:
        break;
    }
}

/* Abandon an L7 check in flight without blocking: shut the socket so every pending
 * read or write fails at once, let the library unwind, then free the handle. */
static void mysql_abort(struct check *c)
{
    int fd = mysql_get_socket(c->mysql), st = 1, err;

    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
    for (int spins = 0; st && spins < ABORT_SPINS; spins++) {
        MYSQL *ret = NULL;
        MYSQL_RES *res = NULL;
        st = mysql_continue(c, MYSQL_WAIT_READ | MYSQL_WAIT_WRITE, &ret, &err, &res);
        mysql_free_result(res);
        if (!st && c->phase == PH_QUIT)
            c->mysql = NULL; /* freed by the library */
    }
    if (c->mysql)
        mysql_close(c->mysql); /* the socket is shut: this cannot block */
    c->mysql = NULL;
}

/* --- driving --- */

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct check *c = container_of(w, struct check, io);
    (void)loop;

    if (c->phase == PH_TCP)
        tcp_io(c);
    else if (c->phase == PH_TLS)
        tls_step(c);
    else
        mysql_io(c, revents);
}

/* What a timeout means depends on how far the check got. */
static void timeout_status(struct check *c, struct check_result *r)
{
    int fd;

    switch (c->phase) {
    case PH_TCP:
        set_result(r, CHK_L4TOUT, 0, "TCP connect timed out");
        return;
    case PH_TLS:
        set_result(r, CHK_L6TOUT, 0, "TLS handshake timed out");
        return;
    case PH_LOGIN:
        fd = mysql_get_socket(c->mysql);
        if (!connected(fd))
            set_result(r, CHK_L4TOUT, 0, "TCP connect timed out");
        else if (srv_of(c)->conf->check_ssl && mysql_get_server_info(c->mysql) &&
                 !mysql_get_ssl_cipher(c->mysql))
            set_result(r, CHK_L6TOUT, 0, "TLS upgrade timed out");
        else
            set_result(r, CHK_L7TOUT, 0, "no complete MySQL greeting and login in time");
        return;
    case PH_QUIT:
        *r = c->result; /* the verdict was in; only COM_QUIT did not go out in time */
        return;
    default:
        set_result(r, CHK_L7TOUT, 0, "no answer to the check query in time");
    }
}

static void timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct check *c = container_of(w, struct check, timeout);
    struct check_result r = {0};
    (void)loop;
    (void)revents;

    timeout_status(c, &r);
    if (c->mysql)
        mysql_abort(c);
    sock_close(c);
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
    memset(&c->result, 0, sizeof(c->result));
    c->gtid.asked = c->gtid.ok = false;
    c->gtid.pos[0] = c->gtid.why[0] = '\0';
    /* The timeout counts from now, not from the start of this loop turn (which a slow turn
     * would take out of the check's time). */
    ev_now_update(loop);
    ev_timer_set(&c->timeout, srv->listener->conf->timeout_check / 1000.0, 0);
    ev_timer_start(loop, &c->timeout);
    if (srv->conf->method == CHECK_METHOD_TCP)
        tcp_start(c, &srv->conf->addr);
    else
        login_start(c, srv->conf);
}

void check_init(struct server *srv)
{
    struct check *c = &srv->check;

    memset(c, 0, sizeof(*c));
    c->fd = -1;
    ev_init(&c->next, next_cb);
    ev_init(&c->timeout, timeout_cb);
    ev_init(&c->io, io_cb);
    ev_set_priority(&c->next, PRI_CHECK);
    ev_set_priority(&c->timeout, PRI_CHECK);
    ev_set_priority(&c->io, PRI_CHECK);
}

const struct check_gtid *check_gtid_read(const struct server *srv)
{
    return &srv->check.gtid;
}

void check_schedule(struct server *srv, double after)
{
    if (!srv->check.running)
        schedule(srv, after);
}

void check_stop(struct server *srv)
{
    struct check *c = &srv->check;

    ev_timer_stop(rb_loop, &c->next);
    ev_timer_stop(rb_loop, &c->timeout);
    ev_io_stop(rb_loop, &c->io);
    if (c->mysql)
        mysql_abort(c);
    sock_close(c);
    c->running = false;
    c->phase = PH_IDLE;
}

void check_fini(struct server *srv)
{
    check_stop(srv);
    SSL_CTX_free(srv->check.ssl_ctx);
    srv->check.ssl_ctx = NULL;
}

void check_hurry(struct server *srv, double after)
{
    if (srv->check.running || !ev_is_active(&srv->check.next) ||
        ev_timer_remaining(rb_loop, &srv->check.next) <= after)
        return;
    schedule(srv, after);
}

void check_reschedule(struct server *srv, double after)
{
    if (srv->check.running || !ev_is_active(&srv->check.next))
        return;
    schedule(srv, after);
}
