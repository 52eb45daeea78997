/* stats_pages.c - render /metrics, /stats.csv and the HTML page from live state.
 *
 * Every page is built from the same per-server snapshot (struct srv_row), so the three
 * formats always agree. Rendering only reads listeners and servers; it never changes
 * them. Names and info texts come from the config and from servers, so every string
 * goes through the escaper of its format.
 */
#include "stats_pages.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "conn.h"
#include "healthlog.h"
#include "listener.h"
#include "rebound.h"
#include "server.h"
#include "session.h"

/* One server's figures, taken once per page. Counters and gauges are int64_t so one
 * table (srv_metrics[]) can describe the Prometheus families by offset. */
struct srv_row {
    const struct listener *l;
    const struct server *srv;
    int64_t up;                /* health state UP or DRAIN: checks pass */
    int64_t usable;            /* takes new sessions */
    int64_t maint;             /* in maintenance: out of checks and routing on purpose */
    int64_t check_running;     /* a check is in flight */
    int64_t check_code;        /* MySQL errno or 0 */
    int64_t check_duration_ms; /* of the last completed check */
    int64_t last_change_s;     /* seconds since the last health state change */
    int64_t sessions;          /* open now */
    int64_t sessions_total;
    int64_t sessions_killed;
    int64_t check_failures;
    int64_t connect_failures;
    int64_t observed_errors; /* errors seen in client traffic (observe) */
    int64_t downtime_s;      /* seconds DOWN since start-up, the current outage included */
    int64_t bytes_in;        /* client -> server, closed and open sessions */
    int64_t bytes_out;       /* server -> client */
    int64_t connecting;      /* connects in flight (max-connecting) */
    int64_t queued;          /* sessions waiting for a connect slot */
    int64_t queue_timeouts;  /* sessions refused at `timeout queue` */
    int64_t gtid_behind;     /* GTID guard: a backup held transactions it lacks, last round */
    int64_t gtid_blocks;     /* GTID guard: checks it turned into L7GTID */
};

static void take_row(struct srv_row *r, const struct listener *l, const struct server *srv)
{
    double ago = ev_now(rb_loop) - srv->last_change;
    double down = server_downtime(srv);
    struct srv_totals t;

    server_totals(srv, &t);
    memset(r, 0, sizeof(*r));
    r->l = l;
    r->srv = srv;
    r->up = srv->state != SRV_DOWN;
    r->usable = server_usable(srv);
    r->maint = srv->admin == ADMIN_MAINT;
    r->check_running = srv->check.running;
    r->check_code = srv->last.code;
    r->check_duration_ms = srv->last.duration_ms;
    r->last_change_s = ago > 0 ? (int64_t)ago : 0;
    r->sessions = t.sessions;
    r->sessions_total = (int64_t)t.sessions_total;
    r->sessions_killed = (int64_t)t.sessions_killed;
    r->check_failures = (int64_t)srv->check_failures;
    r->connect_failures = (int64_t)t.connect_failures;
    r->observed_errors = (int64_t)t.observed_errors;
    r->downtime_s = (int64_t)down;
    /* Bytes are counted as they pass, open sessions included, by every worker. */
    r->bytes_in = (int64_t)t.bytes_in;
    r->bytes_out = (int64_t)t.bytes_out;
    r->connecting = t.connecting;
    r->queued = t.queued;
    r->queue_timeouts = (int64_t)t.queue_timeouts;
    r->gtid_behind = srv->conf->gtid_guard && srv->guard.behind;
    r->gtid_blocks = (int64_t)srv->guard.blocks;
}

/* --- escaping --- */

/* Length of the valid UTF-8 sequence at S (1..4), or 0 if the bytes there are not one
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_len(const unsigned char *s)
{
    uint32_t cp;
    size_t n;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

/* Append S, passing each character to ESC (which returns the replacement text or NULL
 * to keep it); invalid UTF-8 and control characters other than those ESC replaces
 * become '?'. */
static void escape(struct sbuf *b, const char *s, const char *(*esc)(char c))
{
    const unsigned char *p = (const unsigned char *)s;

    while (*p) {
        size_t n = utf8_len(p);
        const char *rep = n == 1 ? esc((char)*p) : NULL;

        if (rep)
            sbuf_puts(b, rep);
        else if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f)))
            sbuf_add(b, "?", 1);
        else
            sbuf_add(b, (const char *)p, n);
        p += n ? n : 1;
    }
}

static const char *csv_esc(char c)
{
    if (c == '"')
        return "\"\"";
    if (c == '\n')
        return "\n";
    if (c == '\r')
        return "\r";
    return NULL;
}

void stats_csv_field(struct sbuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        escape(b, s, csv_esc);
        return;
    }
    sbuf_add(b, "\"", 1);
    escape(b, s, csv_esc);
    sbuf_add(b, "\"", 1);
}

static const char *html_esc(char c)
{
    switch (c) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\'':
        return "&#39;";
    default:
        return NULL;
    }
}

void stats_html_text(struct sbuf *b, const char *s)
{
    escape(b, s, html_esc);
}

static const char *prom_esc(char c)
{
    if (c == '\\')
        return "\\\\";
    if (c == '"')
        return "\\\"";
    if (c == '\n')
        return "\\n";
    return NULL;
}

void stats_prom_label(struct sbuf *b, const char *s)
{
    escape(b, s, prom_esc);
}

/* --- /metrics --- */

/* A per-server metric family whose value is a field of struct srv_row. */
struct srv_metric {
    const char *name;
    const char *type;
    const char *help;
    size_t off;    /* int64_t field of struct srv_row */
    double divide; /* 1000 to turn milliseconds into seconds, else 1 */
};

#define ROW(f) offsetof(struct srv_row, f)
static const struct srv_metric srv_metrics[] = {
    {"rebound_server_up", "gauge",
     "1 when the server's checks pass (state UP or DRAIN), 0 when DOWN.", ROW(up), 1},
    {"rebound_server_usable", "gauge",
     "1 when new sessions may be routed to the server (UP and admin state ready).", ROW(usable), 1},
    {"rebound_server_maint", "gauge",
     "1 while an operator keeps the server in maintenance (not checked, not routed to, its "
     "time not counted as downtime).",
     ROW(maint), 1},
    {"rebound_server_check_running", "gauge", "1 while a health check of the server is in flight.",
     ROW(check_running), 1},
    {"rebound_server_check_code", "gauge",
     "Code of the last check: the MySQL error number for L7STS, 0 when none.", ROW(check_code), 1},
    {"rebound_server_check_duration_seconds", "gauge", "Duration of the last completed check.",
     ROW(check_duration_ms), 1000},
    {"rebound_server_last_change_seconds", "gauge",
     "Seconds since the server's health state last changed (or since start-up).",
     ROW(last_change_s), 1},
    {"rebound_server_sessions", "gauge", "Sessions open on the server now.", ROW(sessions), 1},
    {"rebound_server_sessions_total", "counter", "Sessions routed to the server since start-up.",
     ROW(sessions_total), 1},
    {"rebound_server_sessions_killed_total", "counter",
     "Sessions rebound closed because of a state change (failback or server DOWN).",
     ROW(sessions_killed), 1},
    {"rebound_server_check_failures_total", "counter", "Failed health checks.", ROW(check_failures),
     1},
    {"rebound_server_connect_failures_total", "counter",
     "Failed connects to the server on behalf of client sessions.", ROW(connect_failures), 1},
    {"rebound_server_observed_errors_total", "counter",
     "Errors seen in client traffic to the server (observe layer4 or layer7).",
     ROW(observed_errors), 1},
    {"rebound_server_downtime_seconds_total", "counter",
     "Time the server spent DOWN since start-up, the current outage included.", ROW(downtime_s), 1},
    {"rebound_server_bytes_in_total", "counter",
     "Bytes relayed from clients to the server (closed and open sessions).", ROW(bytes_in), 1},
    {"rebound_server_bytes_out_total", "counter",
     "Bytes relayed from the server to clients (closed and open sessions).", ROW(bytes_out), 1},
    {"rebound_server_connecting", "gauge",
     "Connects to the server in flight for client sessions (bounded by max-connecting).",
     ROW(connecting), 1},
    {"rebound_server_queued", "gauge", "Client sessions waiting for a connect slot of the server.",
     ROW(queued), 1},
    {"rebound_server_queue_timeouts_total", "counter",
     "Client sessions refused after waiting timeout queue for a connect slot.", ROW(queue_timeouts),
     1},
    {"rebound_server_gtid_behind", "gauge",
     "1 when, at the GTID guard's latest round, a backup held transactions this server lacks "
     "(expect gtid-covers backups); 0 otherwise.",
     ROW(gtid_behind), 1},
    {"rebound_server_gtid_guard_blocks_total", "counter",
     "Passed checks the GTID guard turned into L7GTID, keeping the server DOWN.", ROW(gtid_blocks),
     1},
};

static void family(struct sbuf *b, const char *name, const char *type, const char *help)
{
    sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `name{listener="rw",server="master"` — the caller adds more labels and the value. */
static void srv_labels(struct sbuf *b, const char *name, const struct srv_row *r)
{
    sbuf_printf(b, "%s{listener=\"", name);
    stats_prom_label(b, r->l->conf->name);
    sbuf_puts(b, "\",server=\"");
    stats_prom_label(b, r->srv->conf->name);
    sbuf_puts(b, "\"");
}

/* Callback of the loops below: render something for one server's snapshot. */
typedef void row_fn(struct sbuf *b, const struct srv_row *r, const void *arg);

/* Call FN for every server of L, in config order, with its snapshot. */
static void listener_servers(const struct listener *l, row_fn *fn, struct sbuf *b, const void *arg)
{
    struct srv_row row;

    for (int j = 0; j < l->nservers; j++) {
        if (!server_shown(&l->servers[j]))
            continue;
        take_row(&row, l, &l->servers[j]);
        fn(b, &row, arg);
    }
}

/* Call FN for every server of every listener, and for servers a reload removed while they
 * still hold sessions. */
static void each_server(row_fn *fn, struct sbuf *b, const void *arg)
{
    const struct listener *l;

    for (int i = 0; (l = listener_at_all(i)); i++)
        listener_servers(l, fn, b, arg);
}

static void metric_sample(struct sbuf *b, const struct srv_row *r, const void *arg)
{
    const struct srv_metric *m = arg;
    int64_t v = *(const int64_t *)((const char *)r + m->off);

    srv_labels(b, m->name, r);
    if (m->divide == 1)
        sbuf_printf(b, "} %lld\n", (long long)v);
    else
        sbuf_printf(b, "} %.3f\n", (double)v / m->divide);
}

static void info_sample(struct sbuf *b, const struct srv_row *r, const void *arg)
{
    (void)arg;
    srv_labels(b, "rebound_server_info", r);
    sbuf_puts(b, ",address=\"");
    stats_prom_label(b, r->srv->conf->addr.text);
    sbuf_printf(b, "\",role=\"%s\"} 1\n", r->srv->conf->backup ? "backup" : "active");
}

static void state_samples(struct sbuf *b, const struct srv_row *r, const void *arg)
{
    static const enum server_state states[] = {SRV_UP, SRV_DOWN, SRV_DRAIN};
    (void)arg;

    for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
        srv_labels(b, "rebound_server_state", r);
        sbuf_printf(b, ",state=\"%s\"} %d\n", server_state_str(states[i]),
                    r->srv->state == states[i]);
    }
}

static void admin_samples(struct sbuf *b, const struct srv_row *r, const void *arg)
{
    static const enum admin_state states[] = {ADMIN_READY, ADMIN_DRAIN, ADMIN_MAINT};
    (void)arg;

    for (size_t i = 0; i < ARRAY_SIZE(states); i++) {
        srv_labels(b, "rebound_server_admin_state", r);
        sbuf_printf(b, ",state=\"%s\"} %d\n", admin_state_str(states[i]),
                    r->srv->admin == states[i]);
    }
}

static void check_samples(struct sbuf *b, const struct srv_row *r, const void *arg)
{
    (void)arg;
    for (int st = 0; st < CHK__COUNT; st++) {
        srv_labels(b, "rebound_server_check_status", r);
        sbuf_printf(b, ",status=\"%s\"} %d\n", check_statuses[st].name,
                    r->srv->last.status == (enum check_status)st);
    }
}

static void listener_metrics(struct sbuf *b)
{
    family(b, "rebound_listener_sessions_total", "counter",
           "Client connections accepted by the listener since start-up.");
    for (int i = 0; i < listeners_count(); i++) {
        sbuf_puts(b, "rebound_listener_sessions_total{listener=\"");
        stats_prom_label(b, listener_at(i)->conf->name);
        sbuf_printf(b, "\"} %llu\n", (unsigned long long)listener_at(i)->sessions_total);
    }
    family(b, "rebound_listener_servers_usable", "gauge",
           "Servers that take new sessions, by role (active or backup).");
    for (int i = 0; i < listeners_count(); i++) {
        int active, backup;
        server_count_usable(listener_at(i), &active, &backup);
        for (int k = 0; k < 2; k++) {
            sbuf_puts(b, "rebound_listener_servers_usable{listener=\"");
            stats_prom_label(b, listener_at(i)->conf->name);
            sbuf_printf(b, "\",role=\"%s\"} %d\n", k ? "backup" : "active", k ? backup : active);
        }
    }
}

/* Fields 14 (utime) .. 22 (starttime) of /proc/self/stat; 0 or -1. */
static int proc_stat_starttime(unsigned long long *starttime)
{
    char buf[1024], *p;
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n;

    if (!f)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: skip to the last ')'. */
    if (!(p = strrchr(buf, ')')))
        return -1;
    /* After ") " comes field 3 (state); starttime is field 22, the 20th from there. */
    return sscanf(p + 2,
                  "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
                  "%*d %llu",
                  starttime) == 1
               ? 0
               : -1;
}

/* Start of the process, in seconds since the epoch; -1 if /proc does not tell. */
static double process_start_time(void)
{
    unsigned long long start, btime = 0;
    char line[256];
    FILE *f;
    long hz = sysconf(_SC_CLK_TCK);

    if (hz <= 0 || proc_stat_starttime(&start) < 0 || !(f = fopen("/proc/stat", "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "btime %llu", &btime) == 1)
            break;
    fclose(f);
    return btime ? (double)btime + (double)start / (double)hz : -1;
}

/* Resident set size in bytes from /proc/self/statm; -1 if unknown. */
static long long resident_bytes(void)
{
    unsigned long long size, rss;
    FILE *f = fopen("/proc/self/statm", "r");
    int ok;

    if (!f)
        return -1;
    ok = fscanf(f, "%llu %llu", &size, &rss) == 2;
    fclose(f);
    return ok ? (long long)(rss * (unsigned long long)sysconf(_SC_PAGESIZE)) : -1;
}

/* Open descriptors, counted in /proc/self/fd (without the one used to count). */
static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    long n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

static void process_metrics(struct sbuf *b)
{
    struct rusage ru;
    struct rlimit rl;
    double start = process_start_time();
    long long rss = resident_bytes();
    long fds = open_fds();

    if (start > 0) {
        family(b, "process_start_time_seconds", "gauge",
               "Start time of the process since unix epoch in seconds.");
        sbuf_printf(b, "process_start_time_seconds %.2f\n", start);
    }
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        family(b, "process_cpu_seconds_total", "counter",
               "Total user and system CPU time spent in seconds.");
        sbuf_printf(b, "process_cpu_seconds_total %.6f\n",
                    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                        (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    }
    if (rss >= 0) {
        family(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        sbuf_printf(b, "process_resident_memory_bytes %lld\n", rss);
    }
    if (fds >= 0) {
        family(b, "process_open_fds", "gauge", "Number of open file descriptors.");
        sbuf_printf(b, "process_open_fds %ld\n", fds);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        family(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
        if (rl.rlim_cur == RLIM_INFINITY)
            sbuf_puts(b, "process_max_fds +Inf\n");
        else
            sbuf_printf(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
    }
}

/* Sessions' TLS: handshakes, resumptions and failures on each side, plain clients refused. */
static void tls_metrics(struct sbuf *b)
{
    static const char *const sides[CONN_SIDE__COUNT] = {"client", "server"};
    int side, why;

    family(b, "rebound_tls_handshakes_total", "counter",
           "TLS handshakes finished: side=client where rebound terminates, server to servers.");
    for (side = 0; side < CONN_SIDE__COUNT; side++)
        sbuf_printf(b, "rebound_tls_handshakes_total{side=\"%s\"} %llu\n", sides[side],
                    (unsigned long long)atomic_load(&conn_tally.handshakes[side]));
    family(b, "rebound_tls_resumptions_total", "counter",
           "TLS handshakes that resumed an earlier TLS session.");
    for (side = 0; side < CONN_SIDE__COUNT; side++)
        sbuf_printf(b, "rebound_tls_resumptions_total{side=\"%s\"} %llu\n", sides[side],
                    (unsigned long long)atomic_load(&conn_tally.resumptions[side]));
    family(b, "rebound_tls_handshake_failures_total", "counter",
           "TLS handshakes that failed, by side and reason (protocol, verify, closed, timeout, "
           "other).");
    for (side = 0; side < CONN_SIDE__COUNT; side++)
        for (why = 0; why < CONN_FAIL__COUNT; why++)
            sbuf_printf(b, "rebound_tls_handshake_failures_total{side=\"%s\",reason=\"%s\"} %llu\n",
                        sides[side], conn_fail_str((enum conn_fail)why),
                        (unsigned long long)atomic_load(&conn_tally.failures[side][why]));
    family(b, "rebound_tls_plain_refused_total", "counter",
           "Clients refused for not switching to TLS on a listener with ssl required.");
    sbuf_printf(b, "rebound_tls_plain_refused_total %llu\n",
                (unsigned long long)atomic_load(&conn_tally.plain_refused));
}

void stats_render_metrics(struct sbuf *b)
{
    family(b, "rebound_build_info", "gauge",
           "Always 1; the version label says which rebound runs.");
    sbuf_printf(b, "rebound_build_info{version=\"%s\"} 1\n", REBOUND_VERSION);
    family(b, "rebound_sessions", "gauge", "Client sessions open now, over all listeners.");
    sbuf_printf(b, "rebound_sessions %u\n", atomic_load(&sessions_alive));
    family(b, "rebound_sessions_max", "gauge", "Most client sessions at once (global maxconn).");
    sbuf_printf(b, "rebound_sessions_max %u\n", atomic_load(&sessions_max));
    family(b, "rebound_server_sides_closing", "gauge",
           "Server sides of killed sessions waiting to be closed (one descriptor each).");
    sbuf_printf(b, "rebound_server_sides_closing %u\n", atomic_load(&server_sides_closing));
    tls_metrics(b);
    listener_metrics(b);

    family(b, "rebound_server_info", "gauge",
           "Always 1; labels give the server's address and role (active or backup).");
    each_server(info_sample, b, NULL);
    family(b, "rebound_server_state", "gauge",
           "Health state: 1 for the current state (UP, DOWN or DRAIN), 0 for the others.");
    each_server(state_samples, b, NULL);
    family(b, "rebound_server_admin_state", "gauge",
           "Admin state: 1 for the current one (ready, drain or maint), 0 for the others.");
    each_server(admin_samples, b, NULL);
    family(b, "rebound_server_check_status", "gauge",
           "Status of the last check: 1 for the current status, 0 for the others.");
    each_server(check_samples, b, NULL);
    for (size_t i = 0; i < ARRAY_SIZE(srv_metrics); i++) {
        family(b, srv_metrics[i].name, srv_metrics[i].type, srv_metrics[i].help);
        each_server(metric_sample, b, &srv_metrics[i]);
    }
    process_metrics(b);
}

/* --- /stats.csv --- */

/* The first CSV columns, in order: text, or numbers that need no table; then come the
 * columns of csv_numbers[]. docs/monitoring.md describes each. */
static const char *const csv_columns[] = {
    "listener",    "server", "address",      "role",       "state",
    "admin_state", "usable", "check_status", "check_code", "check_duration_ms",
    "check_info",
};

/* The numeric CSV columns after check_info, as fields of struct srv_row. */
static const struct {
    const char *name;
    size_t off;
} csv_numbers[] = {
    {"check_running", ROW(check_running)},
    {"last_change_s", ROW(last_change_s)},
    {"downtime_s", ROW(downtime_s)},
    {"sessions_current", ROW(sessions)},
    {"sessions_total", ROW(sessions_total)},
    {"check_failures", ROW(check_failures)},
    {"connect_failures", ROW(connect_failures)},
    {"sessions_killed", ROW(sessions_killed)},
    {"observed_errors", ROW(observed_errors)},
    {"bytes_in", ROW(bytes_in)},
    {"bytes_out", ROW(bytes_out)},
    {"connecting", ROW(connecting)},
    {"queued", ROW(queued)},
    {"queue_timeouts", ROW(queue_timeouts)},
};

static void csv_row(struct sbuf *b, const struct srv_row *r, const void *arg)
{
    const struct server *srv = r->srv;
    (void)arg;

    stats_csv_field(b, r->l->conf->name);
    sbuf_add(b, ",", 1);
    stats_csv_field(b, srv->conf->name);
    sbuf_add(b, ",", 1);
    stats_csv_field(b, srv->conf->addr.text);
    sbuf_printf(b, ",%s,%s,%s,%lld,%s,%lld,%lld,", srv->conf->backup ? "backup" : "active",
                server_state_str(srv->state), admin_state_str(srv->admin), (long long)r->usable,
                check_status_name(srv->last.status), (long long)r->check_code,
                (long long)r->check_duration_ms);
    stats_csv_field(b, srv->last.info);
    for (size_t i = 0; i < ARRAY_SIZE(csv_numbers); i++)
        sbuf_printf(b, ",%lld",
                    (long long)*(const int64_t *)((const char *)r + csv_numbers[i].off));
    sbuf_puts(b, "\r\n");
}

void stats_render_csv(struct sbuf *b)
{
    for (size_t i = 0; i < ARRAY_SIZE(csv_columns); i++)
        sbuf_printf(b, "%s%s", i ? "," : "", csv_columns[i]);
    for (size_t i = 0; i < ARRAY_SIZE(csv_numbers); i++)
        sbuf_printf(b, ",%s", csv_numbers[i].name);
    sbuf_puts(b, "\r\n");
    each_server(csv_row, b, NULL);
}

/* --- / (HTML) --- */

#define HTML_EVENTS 15 /* health-log events the page shows */

static const char html_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta http-equiv=\"refresh\" content=\"5\">\n"
    "<title>rebound stats</title>\n"
    "<style>\n"
    "body{font-family:sans-serif;font-size:14px;margin:1em}\n"
    "table{border-collapse:collapse;margin-bottom:1.5em}\n"
    "th,td{border:1px solid #999;padding:2px 6px;text-align:left}\n"
    "th{background:#ddd}\n"
    "tr.up{background:#c6efc6}tr.down{background:#f4b6b6}tr.drain{background:#f7e3a1}\n"
    "tr.maint{background:#c9c9f2}tr.admin-drain{background:#f2d1a8}\n"
    ".checking{font-weight:bold;color:#036}\n"
    ".banner{background:#c00;color:#fff;font-weight:bold;padding:8px 12px;margin:0 0 1em}\n"
    ".routes{margin:0 0 .5em}.new{font-weight:bold}\n"
    ".events td{font-family:monospace;font-size:12px}\n"
    "</style></head><body>\n";

/* The row's CSS class: health state, overridden by an admin state other than ready. */
static const char *row_class(const struct server *srv)
{
    if (srv->admin == ADMIN_MAINT)
        return "maint";
    if (srv->admin == ADMIN_DRAIN)
        return "admin-drain";
    return srv->state == SRV_DOWN ? "down" : srv->state == SRV_UP ? "up" : "drain";
}

static void html_cell(struct sbuf *b, const char *text)
{
    sbuf_puts(b, "<td>");
    stats_html_text(b, text);
    sbuf_puts(b, "</td>");
}

static void html_row(struct sbuf *b, const struct srv_row *r, const void *arg)
{
    const struct server *srv = r->srv;
    (void)arg;

    sbuf_printf(b, "<tr class=\"srv %s\"><td class=\"new\">%s</td><td>", row_class(srv),
                server_takes_new(srv) ? "&#10148;" : "");
    stats_html_text(b, srv->conf->name);
    sbuf_puts(b, "</td>");
    html_cell(b, srv->conf->addr.text);
    sbuf_printf(b, "<td>%s</td><td>%s</td><td>%s</td><td>%s",
                srv->conf->backup ? "backup" : "active", server_shown_state(srv),
                admin_state_str(srv->admin),
                /* A maint server is not checked: its last result would be stale. */
                srv->admin == ADMIN_MAINT ? "not checked" : check_status_name(srv->last.status));
    if (srv->check.running)
        sbuf_puts(b,
                  " <span class=\"checking\" title=\"check in progress\">&#8635; checking</span>");
    sbuf_printf(b, "</td><td>%lld</td><td>%lld ms</td>", (long long)r->check_code,
                (long long)r->check_duration_ms);
    html_cell(b, srv->last.info);
    sbuf_printf(
        b,
        "<td>%llds ago</td><td>%llds</td><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td>"
        "<td>%lld</td><td>%lld</td><td>%lld</td></tr>\n",
        (long long)r->last_change_s, (long long)r->downtime_s, (long long)r->sessions,
        (long long)r->queued, (long long)r->sessions_total, (long long)r->sessions_killed,
        (long long)r->check_failures, (long long)r->connect_failures,
        (long long)r->observed_errors);
}

/* The first thing on the page: a red line for each listen no server can take a client of. */
static void html_banners(struct sbuf *b)
{
    for (int i = 0; i < listeners_count(); i++) {
        const struct listener *l = listener_at(i);
        int active, backup;
        server_count_usable(l, &active, &backup);
        if (active + backup > 0)
            continue;
        sbuf_puts(b, "<p class=\"banner\">");
        stats_html_text(b, l->conf->name);
        sbuf_puts(b, ": no server available &mdash; new clients get error 1105</p>\n");
    }
}

/* Which servers of L take new sessions now, in words. */
static void html_routes(struct sbuf *b, const struct listener *l)
{
    int n = 0;

    sbuf_puts(b, "<p class=\"routes\">New sessions go to: ");
    for (int j = 0; j < l->nservers; j++) {
        const struct server *srv = &l->servers[j];
        if (!server_takes_new(srv))
            continue;
        sbuf_puts(b, n++ ? ", <b>" : "<b>");
        stats_html_text(b, srv->conf->name);
        sbuf_printf(b, "</b> (%s)", srv->conf->backup ? "backup" : "active");
    }
    sbuf_puts(b, n ? "</p>\n" : "<b>no server</b></p>\n");
}

/* The newest health-log events, newest first: why the servers are where they are. */
static void html_events(struct sbuf *b)
{
    size_t n = healthlog_ring_count(), shown = 0;
    char when[32];

    sbuf_puts(b, "<h2>Recent events</h2>\n<table class=\"events\">\n"
                 "<tr><th>time (UTC)</th><th>event</th></tr>\n");
    for (size_t i = n; i > 0 && shown < HTML_EVENTS; i--, shown++) {
        const struct hl_record *rec = healthlog_ring_get(i - 1);
        time_t t = (time_t)(rec->time_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
        sbuf_printf(b, "<tr><td>%s</td>", when);
        html_cell(b, rec->line);
        sbuf_puts(b, "</tr>\n");
    }
    if (shown == 0)
        sbuf_puts(b, "<tr><td colspan=\"2\">none kept (health-log-ring 0)</td></tr>\n");
    sbuf_puts(b, "</table>\n");
}

void stats_render_html(struct sbuf *b)
{
    sbuf_puts(b, html_head);
    sbuf_printf(b, "<h1>rebound %s</h1>\n<p>pid %ld &middot; %u of %u sessions open &middot; ",
                REBOUND_VERSION, (long)getpid(), atomic_load(&sessions_alive),
                atomic_load(&sessions_max));
    sbuf_puts(b, "&#10148; takes new sessions &middot; &#8635; marks a check in progress "
                 "&middot; refreshes every 5 s</p>\n");
    html_banners(b);
    for (int i = 0; i < listeners_count(); i++) {
        const struct listener *l = listener_at(i);
        sbuf_puts(b, "<h2>listen ");
        stats_html_text(b, l->conf->name);
        sbuf_puts(b, " on ");
        stats_html_text(b, l->conf->bind.text);
        sbuf_printf(b, " &middot; %llu sessions since start</h2>\n",
                    (unsigned long long)l->sessions_total);
        html_routes(b, l);
        sbuf_puts(
            b, "<table>\n<tr><th title=\"takes new "
               "sessions\"></th><th>server</th><th>address</th><th>role</th><th>state</th>"
               "<th>admin</th><th>check</th><th>code</th><th>duration</th><th>info</th>"
               "<th>last change</th><th>downtime</th><th>sessions</th><th>queued</th><th>total</th>"
               "<th>killed</th>"
               "<th>check failures</th><th>connect failures</th><th>errors seen</th></tr>\n");
        listener_servers(l, html_row, b, NULL);
        sbuf_puts(b, "</table>\n");
    }
    html_events(b);
    sbuf_puts(b, "</body></html>\n");
}
