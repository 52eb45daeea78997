/* admin_views.c - the router as the admin port's SQL sees it: the tables servers,
 * sessions, listeners, status, variables and health_log, their snapshots of live state,
 * and the writes an operator may make through them.
 *
 * This is the only file of the admin SQL side that knows the router: the engine
 * (admin_sql.c) runs over whatever tables it is opened with (admin_vtab.h), and admin.c
 * opens it with these. Writes go through the owners' own functions: server_set_admin() for
 * admin_state, server_gtid_override() for gtid_guard, sessions_kill_ids() for the sessions a DELETE
 * (or KILL) removed, once the statement completes.
 *
 * Thread: rb_loop (the control thread) only. Server state is the control thread's own; the
 * counters are per-worker slots summed here; the sessions live in the workers, which are
 * parked (workers_isolate) while their rows are copied. */
#include "admin_views.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admin.h"
#include "admin_sql.h"
#include "conn.h"
#include "healthlog.h"
#include "listener.h"
#include "rebound.h"
#include "server.h"
#include "session.h"
#include "stats_http.h"
#include "worker.h"

/* "admin NAME@ADDR", as the health log names the operator. */
static void who(char *buf, size_t len)
{
    const struct admin_client *c = admin_sql_client();

    snprintf(buf, len, "admin %s@%s", c ? c->user : "?", c ? c->peer : "?");
}

/* servers */

static const struct admin_vcol server_cols[] = {
    {"listener", "TEXT"},
    {"name", "TEXT"},
    {"address", "TEXT"},
    {"role", "TEXT"},
    {"state", "TEXT"},
    {"admin_state", "TEXT"},
    {"health", "INTEGER"},
    {"rise", "INTEGER"},
    {"fall", "INTEGER"},
    {"check_status", "TEXT"},
    {"check_code", "INTEGER"},
    {"check_duration_ms", "INTEGER"},
    {"check_info", "TEXT"},
    {"last_check", "TEXT"},
    {"last_change", "TEXT"},
    {"downtime_s", "INTEGER"},
    {"sessions_current", "INTEGER"},
    {"sessions_total", "INTEGER"},
    {"bytes_in", "INTEGER"},
    {"bytes_out", "INTEGER"},
    {"check_failures", "INTEGER"},
    {"connect_failures", "INTEGER"},
    {"observed_errors", "INTEGER"},
    {"sessions_killed", "INTEGER"},
    {"retired", "INTEGER"},
    {"connecting", "INTEGER"},
    {"queued", "INTEGER"},
    {"queue_timeouts", "INTEGER"},
    {"gtid_guard", "TEXT"},
    {"gtid_position", "TEXT"},
    {"gtid_read", "TEXT"},
};
#define SERVER_COL_ADMIN_STATE 5
#define SERVER_COL_GTID_GUARD  28

static void fill_servers(struct admin_snap *s)
{
    struct listener *l;

    for (int i = 0; (l = listener_at_all(i)); i++) {
        for (int j = 0; j < l->nservers; j++) {
            struct server *srv = &l->servers[j];
            double down = server_downtime(srv);
            struct srv_totals t;

            if (!server_shown(srv))
                continue;
            server_totals(srv, &t);
            admin_snap_row(s, (sqlite3_int64)i * CONF_MAX_SERVERS + j);
            admin_snap_text(s, l->conf->name);
            admin_snap_text(s, srv->conf->name);
            admin_snap_text(s, srv->conf->addr.text);
            admin_snap_text(s, srv->conf->backup ? "backup" : "active");
            admin_snap_text(s, server_state_str(srv->state));
            admin_snap_text(s, admin_state_str(srv->admin));
            admin_snap_int(s, srv->health);
            admin_snap_int(s, srv->conf->rise);
            admin_snap_int(s, srv->conf->fall);
            admin_snap_text(s, check_status_name(srv->last.status));
            admin_snap_int(s, srv->last.code);
            admin_snap_int(s, srv->last.duration_ms);
            admin_snap_text(s, srv->last.info);
            admin_snap_time(s, srv->last_check);
            admin_snap_time(s, srv->last_change);
            admin_snap_int(s, (int64_t)down);
            admin_snap_int(s, t.sessions);
            admin_snap_int(s, (int64_t)t.sessions_total);
            admin_snap_int(s, (int64_t)t.bytes_in);
            admin_snap_int(s, (int64_t)t.bytes_out);
            admin_snap_int(s, (int64_t)srv->check_failures);
            admin_snap_int(s, (int64_t)t.connect_failures);
            admin_snap_int(s, (int64_t)t.observed_errors);
            admin_snap_int(s, (int64_t)t.sessions_killed);
            admin_snap_int(s, srv->retired);
            admin_snap_int(s, t.connecting);
            admin_snap_int(s, t.queued);
            admin_snap_int(s, (int64_t)t.queue_timeouts);
            admin_snap_text(s, server_gtid_guard_str(srv));
            admin_snap_text(s, srv->gtid.ok ? srv->gtid.pos : NULL);
            admin_snap_time(s, srv->gtid.ok ? srv->gtid.at : 0);
        }
    }
}

/* The server a servers rowid names, NULL if gone. */
static struct server *server_by_rowid(sqlite3_int64 rowid)
{
    struct listener *l;

    if (rowid < 0)
        return NULL;
    l = listener_at_all((int)(rowid / CONF_MAX_SERVERS));
    if (!l || rowid % CONF_MAX_SERVERS >= l->nservers)
        return NULL;
    return &l->servers[rowid % CONF_MAX_SERVERS];
}

/* The admin state V names, -1 if none. */
static int admin_state_of(const char *v)
{
    static const char *const names[] = {"ready", "drain", "maint"};

    for (size_t i = 0; v && i < ARRAY_SIZE(names); i++)
        if (!strcasecmp(v, names[i]))
            return (int)i;
    return -1;
}

/* gtid_guard = V on SRV: 'override' accepts the server as it is, 'on' withdraws that; the
 * value it has already changes nothing. COUNTED: the row's change is counted by its admin
 * state, which changes too. */
static int update_gtid_guard(sqlite3_vtab *vt, struct server *srv, const char *v, const char *by,
                             bool counted)
{
    char err[200];

    if (!strcasecmp(v, server_gtid_guard_str(srv)))
        return SQLITE_OK;
    if (server_gtid_override(srv, !strcasecmp(v, "override"), by, err, sizeof(err)) < 0)
        return admin_vtab_error(vt, SQLITE_CONSTRAINT, "%s", err);
    if (!counted)
        admin_sql_row_changed();
    return SQLITE_OK;
}

/* An UPDATE of servers: admin_state and gtid_guard, both checked before either changes. */
static int update_server(sqlite3_vtab *vt, sqlite3_int64 rowid, sqlite3_value **argv)
{
    const char *v = (const char *)sqlite3_value_text(argv[SERVER_COL_ADMIN_STATE]);
    const char *g = (const char *)sqlite3_value_text(argv[SERVER_COL_GTID_GUARD]);
    struct server *srv = server_by_rowid(rowid);
    int st = admin_state_of(v), rc;
    bool changed;
    char by[160];

    if (!srv)
        return admin_vtab_error(vt, SQLITE_CONSTRAINT, "the server is gone");
    if (srv->retired)
        return admin_vtab_error(vt, SQLITE_CONSTRAINT,
                                "the server was removed by a reload: its sessions only drain");
    if (st < 0)
        return admin_vtab_error(vt, SQLITE_CONSTRAINT,
                                "admin_state must be 'ready', 'drain' or 'maint', not '%s'",
                                v ? v : "NULL");
    if (!g || (strcasecmp(g, server_gtid_guard_str(srv)) && strcasecmp(g, "override") &&
               strcasecmp(g, "on")))
        return admin_vtab_error(vt, SQLITE_CONSTRAINT,
                                "gtid_guard may be set to 'override' (accept the server as it is) "
                                "or 'on' (guard it again), not '%s'",
                                g ? g : "NULL");
    who(by, sizeof(by));
    changed = srv->admin != (enum admin_state)st;
    /* The guard first: it may still refuse (no guard, not DOWN), the admin state cannot. */
    rc = update_gtid_guard(vt, srv, g, by, changed);
    if (rc != SQLITE_OK)
        return rc;
    if (changed)
        admin_sql_row_changed();
    server_set_admin(srv, (enum admin_state)st, by);
    return SQLITE_OK;
}

/* sessions */

static const struct admin_vcol session_cols[] = {
    {"id", "INTEGER"},        {"listener", "TEXT"},
    {"server", "TEXT"},       {"client", "TEXT"},
    {"state", "TEXT"},        {"age_s", "REAL"},
    {"idle_s", "REAL"},       {"bytes_in", "INTEGER"},
    {"bytes_out", "INTEGER"}, {"in_transaction", "INTEGER"},
    {"client_tls", "TEXT"},   {"server_tls", "TEXT"},
};

static const char *session_state_name(enum session_state st)
{
    switch (st) {
    case SESS_QUEUED:
        return "queued";
    case SESS_CONNECTING:
        return "connecting";
    case SESS_GREETING:
        return "greeting";
    case SESS_RELAY:
        return "relay";
    case SESS_TLS:
        return "tls handshake";
    }
    return "?";
}

/* The state column: the connection phase until the relay, then what the stream shows the
 * session doing (observe_state). */
static const char *session_state_str(const struct session *se)
{
    if (se->state != SESS_RELAY)
        return session_state_name(se->state);
    return observe_state_str(observe_state(&se->obs));
}

/* Seconds rounded to the millisecond. */
static double ms_round(double s)
{
    return (double)(int64_t)(s * 1000 + 0.5) / 1000;
}

/* Every live session, over every worker: call FN on each. The workers must be parked
 * (workers_isolate). */
static void each_session(void (*fn)(struct session *, void *), void *arg)
{
    struct worker *w;

    for (int i = 0; (w = worker_at(i)); i++) {
        struct session *se;
        TAILQ_FOREACH(se, &w->sessions, w_link)
        fn(se, arg);
    }
}

/* One row of the sessions table. Its times come from its worker's loop (ev_now there), which
 * can be ahead of the control thread's: "now" is read from the clock itself, never behind
 * either loop, so no age is negative. */
static void session_row(struct session *se, void *arg)
{
    struct admin_snap *s = arg;
    double now = ev_time();
    double last = se->c_last > se->s_last ? se->c_last : se->s_last;
    char peer[80];
    int in_trans;

    session_peer_str(se, peer, sizeof(peer));
    admin_snap_row(s, (sqlite3_int64)se->id);
    admin_snap_int(s, (int64_t)se->id);
    admin_snap_text(s, se->listener->conf->name);
    admin_snap_text(s, se->server->id);
    admin_snap_text(s, peer);
    admin_snap_text(s, session_state_str(se));
    admin_snap_real(s, ms_round(now - se->started));
    admin_snap_real(s, ms_round(now - last));
    admin_snap_int(s, (int64_t)se->up.bytes);
    admin_snap_int(s, (int64_t)se->down.bytes);
    in_trans = se->state == SESS_RELAY ? observe_in_transaction(&se->obs) : -1;
    if (in_trans < 0)
        admin_snap_null(s);
    else
        admin_snap_int(s, in_trans);
    admin_snap_text(s, conn_tls_str(&se->cli, peer, sizeof(peer)));
    admin_snap_text(s, conn_tls_str(&se->back, peer, sizeof(peer)));
}

/* The sessions live in the workers: they are parked while the rows are copied. */
static void fill_sessions(struct admin_snap *s)
{
    workers_isolate();
    each_session(session_row, s);
    workers_release();
}

/* The sessions a DELETE removed from the table, killed when the statement completes
 * (kill_deleted()), so the time the kills take never counts against the statement and a
 * DELETE that fails kills nothing. One statement writes at a time, and a write never pauses
 * between slices. */
static struct {
    uint64_t *ids;
    size_t n, cap;
} deleted;

static int remove_session(sqlite3_vtab *vt, sqlite3_int64 rowid)
{
    (void)vt;
    if (deleted.n == deleted.cap) {
        size_t cap = deleted.cap ? deleted.cap * 2 : 64;
        uint64_t *ids = realloc(deleted.ids, cap * sizeof(*ids));

        if (!ids)
            return SQLITE_NOMEM;
        deleted.ids = ids;
        deleted.cap = cap;
    }
    deleted.ids[deleted.n++] = (uint64_t)rowid;
    return SQLITE_OK;
}

/* Kill the sessions the completed DELETE removed: one message to each worker concerned, no
 * barrier (the snapshot the DELETE read took the only one). As in a kill pass, each client
 * is reset and the server side is left to its worker's close batches. A later statement's
 * snapshot parks the workers behind those messages, so it finds the sessions gone. */
static int kill_deleted(void)
{
    char reason[200], by[160];
    int rc;

    if (deleted.n == 0)
        return 0;
    who(by, sizeof(by));
    snprintf(reason, sizeof(reason), "killed by %s", by);
    rc = sessions_kill_ids(deleted.ids, deleted.n, reason);
    deleted.n = 0;
    return rc;
}

/* listeners */

static const struct admin_vcol listener_cols[] = {
    {"name", "TEXT"},
    {"bind", "TEXT"},
    {"balance", "TEXT"},
    {"allbackups", "INTEGER"},
    {"retries", "INTEGER"},
    {"servers", "INTEGER"},
    {"active_usable", "INTEGER"},
    {"backup_usable", "INTEGER"},
    {"sessions_current", "INTEGER"},
    {"sessions_total", "INTEGER"},
    {"timeout_connect_ms", "INTEGER"},
    {"timeout_client_ms", "INTEGER"},
    {"timeout_server_ms", "INTEGER"},
    {"timeout_check_ms", "INTEGER"},
};

static const char *balance_str(enum balance b)
{
    static const char *const names[] = {"first", "roundrobin", "leastconn"};
    return names[b];
}

static void fill_listeners(struct admin_snap *s)
{
    for (int i = 0; i < listeners_count(); i++) {
        struct listener *l = listener_at(i);
        const struct conf_listen *c = l->conf;
        int active, backup;
        unsigned cur_sessions = 0;

        server_count_usable(l, &active, &backup);
        for (int j = 0; j < l->nservers; j++)
            cur_sessions += server_nsessions(&l->servers[j]);
        admin_snap_row(s, i);
        admin_snap_text(s, c->name);
        admin_snap_text(s, c->bind.text);
        admin_snap_text(s, balance_str(c->balance));
        admin_snap_int(s, c->allbackups);
        admin_snap_int(s, c->retries);
        admin_snap_int(s, l->nservers);
        admin_snap_int(s, active);
        admin_snap_int(s, backup);
        admin_snap_int(s, cur_sessions);
        admin_snap_int(s, (int64_t)l->sessions_total);
        admin_snap_int(s, c->timeout_connect);
        admin_snap_int(s, c->timeout_client);
        admin_snap_int(s, c->timeout_server);
        admin_snap_int(s, c->timeout_check);
    }
}

/* status */

static double started_at; /* when the views opened: uptime_s */

static const struct admin_vcol status_cols[] = {
    {"name", "TEXT"},
    {"value", "INTEGER"},
};

static void status_row(struct admin_snap *s, const char *name, int64_t v)
{
    admin_snap_row(s, (sqlite3_int64)s->nrows + 1);
    admin_snap_text(s, name);
    admin_snap_int(s, v);
}

static void fill_status(struct admin_snap *s)
{
    int64_t total = 0, killed = 0, failures = 0, nsrv = 0, by_state[3] = {0}, by_admin[3] = {0};

    for (int i = 0; i < listeners_count(); i++) {
        struct listener *l = listener_at(i);
        total += (int64_t)l->sessions_total;
        for (int j = 0; j < l->nservers; j++) {
            const struct server *srv = &l->servers[j];
            struct srv_totals t;
            server_totals(srv, &t);
            nsrv++;
            killed += (int64_t)t.sessions_killed;
            failures += (int64_t)srv->check_failures;
            by_state[srv->state]++;
            by_admin[srv->admin]++;
        }
    }
    status_row(s, "uptime_s", (int64_t)(ev_now(rb_loop) - started_at));
    status_row(s, "sessions_alive", atomic_load(&sessions_alive));
    status_row(s, "maxconn", atomic_load(&sessions_max));
    status_row(s, "server_sides_closing", atomic_load(&server_sides_closing));
    for (int side = 0; side < CONN_SIDE__COUNT; side++) {
        const char *name = side == CONN_SIDE_CLIENT ? "client" : "server";
        char row[64];
        int64_t failed = 0;
        for (int why = 0; why < CONN_FAIL__COUNT; why++)
            failed += (int64_t)atomic_load(&conn_tally.failures[side][why]);
        snprintf(row, sizeof(row), "tls_%s_handshakes", name);
        status_row(s, row, (int64_t)atomic_load(&conn_tally.handshakes[side]));
        snprintf(row, sizeof(row), "tls_%s_resumptions", name);
        status_row(s, row, (int64_t)atomic_load(&conn_tally.resumptions[side]));
        snprintf(row, sizeof(row), "tls_%s_handshake_failures", name);
        status_row(s, row, failed);
    }
    status_row(s, "tls_plain_refused", (int64_t)atomic_load(&conn_tally.plain_refused));
    status_row(s, "sessions_total", total);
    status_row(s, "sessions_killed", killed);
    status_row(s, "listeners", listeners_count());
    status_row(s, "servers", nsrv);
    status_row(s, "servers_up", by_state[SRV_UP]);
    status_row(s, "servers_down", by_state[SRV_DOWN]);
    status_row(s, "servers_drain", by_state[SRV_DRAIN]);
    status_row(s, "servers_admin_drain", by_admin[ADMIN_DRAIN]);
    status_row(s, "servers_admin_maint", by_admin[ADMIN_MAINT]);
    status_row(s, "check_failures", failures);
    status_row(s, "admin_connections", admin_connections());
    status_row(s, "admin_connections_total", (int64_t)admin_connections_total());
    status_row(s, "admin_queries", (int64_t)admin_sql_queries());
    status_row(s, "admin_login_timeouts", (int64_t)admin_login_timeouts());
    status_row(s, "admin_login_evictions", (int64_t)admin_login_evictions());
    status_row(s, "stats_request_timeouts", (int64_t)stats_http_request_timeouts());
    status_row(s, "stats_evictions", (int64_t)stats_http_evictions());
    status_row(s, "health_log_events", (int64_t)healthlog_ring_count());
    status_row(s, "health_log_drops", (int64_t)healthlog_drops());
}

/* variables: the effective configuration, one "scope.keyword" per row */

static const struct admin_vcol variable_cols[] = {
    {"name", "TEXT"},
    {"value", "TEXT"},
};

static void var_row(struct admin_snap *s, const char *scope, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void var_row(struct admin_snap *s, const char *scope, const char *name, const char *fmt, ...)
{
    char val[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    admin_snap_row(s, (sqlite3_int64)s->nrows + 1);
    admin_snap_textf(s, "%s.%s", scope, name);
    admin_snap_text(s, val);
}

static void fill_server_vars(struct admin_snap *s, const struct conf_listen *l,
                             const struct conf_server *c)
{
    char scope[2 * CONF_NAME_MAX + 2];

    snprintf(scope, sizeof(scope), "%s/%s", l->name, c->name);
    var_row(s, scope, "address", "%s", c->addr.text);
    var_row(s, scope, "role", "%s", c->backup ? "backup" : "active");
    if (!c->check)
        var_row(s, scope, "check", "off");
    else if (c->method == CHECK_METHOD_TCP)
        var_row(s, scope, "check", "tcp");
    else
        var_row(s, scope, "check", "mysql user %s%s", c->check_user,
                c->check_has_password ? " password ***" : "");
    var_row(s, scope, "inter", "%ums", c->inter);
    var_row(s, scope, "fastinter", "%ums", conf_fastinter(c));
    var_row(s, scope, "downinter", "%ums", conf_downinter(c));
    var_row(s, scope, "rise", "%d", c->rise);
    var_row(s, scope, "fall", "%d", c->fall);
    var_row(s, scope, "on-marked-up", "%s",
            c->shutdown_backup_sessions ? "shutdown-backup-sessions" : "");
    var_row(s, scope, "on-marked-down", "%s", c->shutdown_sessions ? "shutdown-sessions" : "");
    var_row(s, scope, "check-ssl", "%s", c->check_ssl ? "on" : "off");
    if (c->no_ssl_reuse)
        var_row(s, scope, "no-ssl-reuse", "on");
    if (c->expect_read_only != EXPECT_ANY)
        var_row(s, scope, "expect read-only", "%s", c->expect_read_only ? "on" : "off");
    if (c->max_lag != EXPECT_ANY)
        var_row(s, scope, "expect max-lag", "%d", c->max_lag);
    if (c->gtid_guard)
        var_row(s, scope, "expect gtid-covers", "backups");
    if (c->check_query[0])
        var_row(s, scope, "check-query", "%s", c->check_query);
}

static void fill_variables(struct admin_snap *s)
{
    const struct conf *aconf = admin_sql_conf();
    const struct conf_admin *a;

    var_row(s, "global", "version", "%s", REBOUND_VERSION);
    if (!aconf)
        return;
    a = &aconf->admin;
    var_row(s, "global", "config-file", "%s", aconf->file);
    var_row(s, "global", "maxconn", "%d", aconf->maxconn);
    var_row(s, "global", "health-log-ring", "%d", aconf->health_log_ring);
    var_row(s, "global", "health-log-format", "%s", aconf->health_log_json ? "json" : "text");
    for (int i = 0; i < aconf->nhealth_sinks; i++) {
        const struct conf_health_sink *h = &aconf->health_sinks[i];
        if (h->type == HEALTH_SINK_STDERR)
            var_row(s, "global", "health-log", "stderr");
        else
            var_row(s, "global", "health-log", "%s %s",
                    h->type == HEALTH_SINK_FILE ? "file" : "syslog",
                    h->type == HEALTH_SINK_SYSLOG && !h->path[0] ? h->addr.text : h->path);
    }
    var_row(s, "global", "admin", "%s user %s", a->addr.text, a->user.name);
    if (a->has_ro)
        var_row(s, "global", "admin-ro", "user %s", a->ro.name);
    var_row(s, "global", "admin-ssl", "%s", a->ssl_crt[0] ? a->ssl_crt : "off");
    for (int i = 0; i < aconf->nlistens; i++) {
        const struct conf_listen *l = &aconf->listens[i];
        var_row(s, l->name, "bind", "%s", l->bind.text);
        var_row(s, l->name, "balance", "%s", balance_str(l->balance));
        var_row(s, l->name, "option allbackups", "%s", l->allbackups ? "on" : "off");
        var_row(s, l->name, "retries", "%d", l->retries);
        var_row(s, l->name, "timeout connect", "%ums", l->timeout_connect);
        var_row(s, l->name, "timeout client", "%ums", l->timeout_client);
        var_row(s, l->name, "timeout server", "%ums", l->timeout_server);
        var_row(s, l->name, "timeout check", "%ums", l->timeout_check);
        for (int j = 0; j < l->nservers; j++)
            fill_server_vars(s, l, &l->servers[j]);
    }
}

/* health_log: the ring of recent events */

static const struct admin_vcol health_cols[] = {
    {"id", "INTEGER"},          {"time", "TEXT"},   {"kind", "TEXT"},    {"listener", "TEXT"},
    {"server", "TEXT"},         {"status", "TEXT"}, {"code", "INTEGER"}, {"info", "TEXT"},
    {"duration_ms", "INTEGER"}, {"state", "TEXT"},  {"line", "TEXT"},
};

static void fill_health_log(struct admin_snap *s)
{
    size_t n = healthlog_ring_count();

    for (size_t i = 0; i < n; i++) {
        const struct hl_record *r = healthlog_ring_get(i);
        if (!r)
            break;
        admin_snap_row(s, (sqlite3_int64)i + 1);
        admin_snap_int(s, (int64_t)i + 1);
        admin_snap_time(s, (double)r->time_ms / 1000.0);
        admin_snap_text(s, healthlog_kind_str(r->kind));
        admin_snap_text(s, r->listener[0] ? r->listener : NULL);
        admin_snap_text(s, r->server[0] ? r->server : NULL);
        if (r->has_result) {
            admin_snap_text(s, check_status_name(r->result.status));
            admin_snap_int(s, r->result.code);
            admin_snap_text(s, r->result.info);
        } else {
            admin_snap_null(s);
            admin_snap_null(s);
            admin_snap_null(s);
        }
        if (r->duration_ms >= 0)
            admin_snap_int(s, r->duration_ms);
        else
            admin_snap_null(s);
        admin_snap_text(s, r->state[0] ? r->state : NULL);
        admin_snap_text(s, r->line);
    }
}

/* variables has no key: a scope may repeat a keyword (several health-log sinks). The servers
 * of a listener have distinct names, but for a while after a reload a removed server still
 * holding sessions (retired = 1) may share its name with its successor. */
static const struct admin_vtable tables[] = {
    {"servers", server_cols, ARRAY_SIZE(server_cols), fill_servers, update_server, NULL,
     "admin_state,gtid_guard", "listener, name"},
    {"sessions", session_cols, ARRAY_SIZE(session_cols), fill_sessions, NULL, remove_session, NULL,
     "id"},
    {"health_log", health_cols, ARRAY_SIZE(health_cols), fill_health_log, NULL, NULL, NULL, "id"},
    {"listeners", listener_cols, ARRAY_SIZE(listener_cols), fill_listeners, NULL, NULL, NULL,
     "name"},
    {"status", status_cols, ARRAY_SIZE(status_cols), fill_status, NULL, NULL, NULL, "name"},
    {"variables", variable_cols, ARRAY_SIZE(variable_cols), fill_variables, NULL, NULL, NULL, NULL},
};

/* The views start: the uptime counts from now. */
static void views_open(void)
{
    started_at = ev_now(rb_loop);
}

/* A statement starts, or failed: its DELETE kills nothing. */
static void views_discard(void)
{
    deleted.n = 0;
}

static void views_close(void)
{
    free(deleted.ids);
    memset(&deleted, 0, sizeof(deleted));
}

const struct admin_tables admin_views = {
    tables, ARRAY_SIZE(tables), views_open, views_discard, kill_deleted, views_close,
};
