/* test_stats.c - the HTTP stats port against a real master + 2 replicas: /metrics passes
 * `promtool check metrics` and follows a replica going DOWN and back UP, /stats.csv reads
 * cleanly with Python's csv module, the HTML page refreshes, lists and escapes every
 * server and marks checks in progress, and bad, oversized, unsupported or stalled requests
 * get their error status (or the timeout) and a close, while client queries keep flowing; slow
 * clients never keep a scrape out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define HTTP_WAIT_MS  3000           /* bound for one ordinary request/response */
#define STATE_WAIT_MS 10000          /* bound for a server state change to show */
#define RESP_MAX      262144         /* largest response the tests read */
#define ODD_NAME      "x<i>&\"y\",z" /* a server name every format must escape */
#define PER_SOURCE    4              /* STATS_PENDING_PER_SOURCE of stats_http.h */
#define STALLED       18             /* slow clients at once: more than PER_SOURCE */
#define REQ_TIMEOUT   3000           /* STATS_REQUEST_TIMEOUT_S of stats_http.h, in ms */
#define MAX_CONNS     16             /* STATS_MAX_CONNS of stats_http.h */

/* The CSV header docs/monitoring.md documents, in order. */
#define CSV_COLUMNS                                                                                \
    "listener,server,address,role,state,admin_state,usable,check_status,check_code,"               \
    "check_duration_ms,check_info,check_running,last_change_s,downtime_s,sessions_current,"        \
    "sessions_total,check_failures,connect_failures,sessions_killed,observed_errors,bytes_in,"     \
    "bytes_out,connecting,queued,queue_timeouts"

/* The router of a test, the ports of its stats page and of listen odd, and a response buffer. */
static struct router_fixture fx;
static int odd_port;   /* listen odd: one server with a hostile name on a closed port */
static int stats_port; /* the HTTP stats port */
static char http_resp[RESP_MAX];

static int setup(void **state)
{
    (void)state;
    if (fixture_init(&fx, "stats", NULL) != 0)
        return -1;
    memset(http_resp, 0, sizeof(http_resp));
    odd_port = free_port();
    stats_port = free_port();
    if (odd_port < 0 || stats_port < 0)
        return -1;
    return fixture_start(&fx, fx.rw_port,
                         "# written by test_stats.c\n"
                         "global\n"
                         "    maxconn 1000\n"
                         "    health-log file %s\n"
                         "    stats 127.0.0.1:%d\n"
                         "defaults\n"
                         "    check mysql user rebound_check password \"check-pass\"\n"
                         "    inter 200ms  fastinter 100ms  downinter 200ms  rise 2  fall 2\n"
                         /* Generous: a healthy server's check must pass on a slow machine (one
                          * failed check shows in the counters the tests read). */
                         "    timeout check 2s  timeout connect 500ms\n"
                         "listen rw\n"
                         "    bind 127.0.0.1:%d\n"
                         "    server master   127.0.0.1:%d check\n"
                         "    server replica1 127.0.0.1:%d check backup\n"
                         "    server replica2 127.0.0.1:%d check backup\n"
                         "listen odd\n"
                         "    bind 127.0.0.1:%d\n"
                         "    server \"x<i>&\\\"y\\\",z\" 127.0.0.1:%d check tcp\n",
                         fx.health_log, stats_port, fx.rw_port, cluster_port("master"),
                         cluster_port("replica1"), cluster_port("replica2"), odd_port, free_port());
}

static int teardown(void **state)
{
    (void)state;
    return fixture_teardown(&fx);
}

/* ---- a tiny HTTP client ---- */

/* A non-blocking TCP connection to the stats port; -1 on failure. */
static int stats_connect(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)stats_port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Read from FD into http_resp until the peer closes; the length, or -1 if it did not
 * close within TIMEOUT_MS. A reset after some bytes counts as a close. */
static int read_to_eof(int fd, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    size_t len = 0;

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        ssize_t n;

        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        n = recv(fd, http_resp + len, sizeof(http_resp) - 1 - len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || len + (size_t)n == sizeof(http_resp) - 1) {
            if (n > 0)
                len += (size_t)n;
            http_resp[len] = '\0';
            return (int)len;
        }
        len += (size_t)n;
    }
}

/* Send REQ (LEN bytes; the server may stop reading early), half-close, and read the
 * answer into http_resp until the server closes. Returns the HTTP status, or -1. */
static int http_raw(const char *req, size_t len, int timeout_ms)
{
    int fd = stats_connect(), status = -1;
    size_t off = 0;

    if (fd < 0)
        return -1;
    while (off < len) {
        ssize_t n = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server answered and closed early: read its answer */
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    if (read_to_eof(fd, timeout_ms) > 0)
        sscanf(http_resp, "HTTP/1.1 %d ", &status);
    close(fd);
    return status;
}

/* METHOD PATH over HTTP/1.1; the status, or -1. */
static int http_req(const char *method, const char *path)
{
    char req[512];
    int n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", method, path);

    return http_raw(req, (size_t)n, HTTP_WAIT_MS);
}

/* The body of the response in http_resp ("" if none). */
static const char *body(void)
{
    const char *b = strstr(http_resp, "\r\n\r\n");

    return b ? b + 4 : "";
}

/* Does the head of http_resp hold the header line LINE ("Name: value")? */
static bool has_header(const char *line)
{
    const char *end = strstr(http_resp, "\r\n\r\n");
    const char *at = strstr(http_resp, line);

    return at && end && at < end && at[-1] == '\n' && at[strlen(line)] == '\r';
}

/* Assert the response is complete: Connection: close and a Content-Length matching
 * the body (WITH_BODY) or any length and no body (HEAD). */
static void expect_framed(bool with_body)
{
    const char *cl = strstr(http_resp, "\r\nContent-Length: ");
    size_t want;

    assert_true(has_header("Connection: close"));
    assert_non_null(cl);
    want = strtoul(cl + 18, NULL, 10);
    if (with_body)
        assert_int_equal(strlen(body()), want);
    else
        assert_int_equal(strlen(body()), 0);
}

/* GET PATH and assert 200 with a complete body. */
static void get_ok(const char *path)
{
    int status = http_req("GET", path);

    if (status != 200)
        fail_msg("GET %s: status %d, response:\n%.400s", path, status, http_resp);
    expect_framed(true);
}

/* The value of the sample whose line starts with SERIES ("name{labels}"), or -1. */
static double metric(const char *series)
{
    const char *b = body();
    size_t n = strlen(series);

    for (const char *l = b; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
        if (!strncmp(l, series, n) && l[n] == ' ')
            return strtod(l + n + 1, NULL);
    return -1;
}

/* Poll /metrics until SERIES has value WANT; false after STATE_WAIT_MS. */
static bool wait_metric(const char *series, double want)
{
    int64_t deadline = now_ms() + STATE_WAIT_MS;

    do {
        if (http_req("GET", "/metrics") == 200 && metric(series) == want)
            return true;
        sleep_ms(100);
    } while (now_ms() < deadline);
    return false;
}

/* How many times NEEDLE occurs in TEXT. */
static int count_of(const char *text, const char *needle)
{
    int n = 0;

    for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* Write fx's response body to harness_dir()/NAME; the path in PATH. */
static void save_body(const char *name, char *path, size_t size)
{
    harness_path(path, size, name);
    assert_int_equal(write_file(path, "%s", body()), 0);
}

/* ---- tests ---- */

/* /metrics: the content type, the exposition format (promtool), the families. */
static void test_metrics_promtool(void **state)
{
    char path[512], cmd[1024], out[8192];
    char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};
    int rc;

    (void)state;
    assert_true(wait_metric("rebound_server_up{listener=\"rw\",server=\"master\"}", 1));
    /* A server starts UP before its first check: wait for that check, however slow the
     * machine, before reading its status. */
    assert_true(wait_metric("rebound_server_check_status{listener=\"rw\",server=\"master\","
                            "status=\"L7OK\"}",
                            1));
    get_ok("/metrics");
    assert_true(has_header("Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    save_body("metrics.txt", path, sizeof(path));
    if (access("/usr/bin/promtool", X_OK) != 0)
        fail_msg("/usr/bin/promtool is missing: run scripts/deps.sh (package prometheus)");
    snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < '%s'", path);
    rc = run_command(argv, out, sizeof(out), 20000);
    if (rc != 0)
        fail_msg("promtool check metrics: exit %d\n%s", rc, out);

    assert_true(metric("rebound_build_info{version=\"0.1.0\"}") == 1);
    assert_true(metric("rebound_server_state{listener=\"rw\",server=\"master\",state=\"UP\"}") ==
                1);
    assert_true(metric("rebound_server_check_status{listener=\"rw\",server=\"master\","
                       "status=\"L7OK\"}") == 1);
    assert_true(metric("rebound_server_admin_state{listener=\"rw\",server=\"replica1\","
                       "state=\"ready\"}") == 1);
    snprintf(cmd, sizeof(cmd),
             "rebound_server_info{listener=\"rw\",server=\"replica2\",address=\"127.0.0.1:%d\","
             "role=\"backup\"}",
             cluster_port("replica2"));
    assert_true(metric(cmd) == 1);
    assert_true(metric("rebound_server_sessions_total{listener=\"rw\",server=\"master\"}") >= 1);
    assert_true(metric("rebound_listener_sessions_total{listener=\"rw\"}") >= 1);
    /* The router's readiness login went through the master, and has been closed. */
    assert_true(metric("rebound_server_bytes_in_total{listener=\"rw\",server=\"master\"}") > 0);
    assert_true(metric("rebound_server_bytes_out_total{listener=\"rw\",server=\"master\"}") > 0);
    assert_true(
        metric("rebound_server_downtime_seconds_total{listener=\"rw\",server=\"master\"}") == 0);
    assert_true(metric("process_open_fds") > 0);
    assert_true(metric("process_max_fds") > 0);
    assert_true(metric("process_resident_memory_bytes") > 0);
    assert_true(metric("process_start_time_seconds") > 1.6e9);
    assert_true(metric("process_cpu_seconds_total") >= 0);
    /* The hostile name, escaped as a label value. */
    assert_non_null(strstr(body(), "server=\"x<i>&\\\"y\\\",z\""));
}

/* HEAD gives the GET headers without a body. */
static void test_head(void **state)
{
    (void)state;
    assert_int_equal(http_req("HEAD", "/stats.csv"), 200);
    expect_framed(false);
    assert_true(has_header("Content-Type: text/csv; charset=utf-8; header=present"));
}

/* A replica stopped: /metrics shows it DOWN with a failed check; restarted: UP again. */
static void test_metrics_follow_down(void **state)
{
    const char *up = "rebound_server_up{listener=\"rw\",server=\"replica2\"}";
    const char *down = "rebound_server_state{listener=\"rw\",server=\"replica2\",state=\"DOWN\"}";
    const char *l7ok = "rebound_server_check_status{listener=\"rw\",server=\"replica2\","
                       "status=\"L7OK\"}";

    (void)state;
    assert_true(wait_metric(up, 1));
    assert_true(metric(down) == 0);
    assert_true(
        metric("rebound_server_check_failures_total{listener=\"rw\",server=\"replica2\"}") == 0);
    assert_int_equal(cluster_stop_one("replica2"), 0);
    if (!wait_metric(up, 0))
        fail_msg("replica2 not DOWN in /metrics within %d ms:\n%.3000s", STATE_WAIT_MS, body());
    assert_true(metric(down) == 1);
    assert_true(metric(l7ok) == 0);
    assert_true(
        metric("rebound_server_check_failures_total{listener=\"rw\",server=\"replica2\"}") >= 2);
    assert_true(metric("rebound_server_usable{listener=\"rw\",server=\"replica2\"}") == 0);
    assert_true(metric("rebound_listener_servers_usable{listener=\"rw\",role=\"backup\"}") == 1);
    sleep_ms(1100); /* downtime counts whole seconds */
    get_ok("/metrics");
    assert_true(
        metric("rebound_server_downtime_seconds_total{listener=\"rw\",server=\"replica2\"}") >= 1);

    assert_int_equal(cluster_start_one("replica2"), 0);
    if (!wait_metric(up, 1))
        fail_msg("replica2 not UP again in /metrics within %d ms", STATE_WAIT_MS);
    assert_true(metric(l7ok) == 1);
    assert_true(metric("rebound_listener_servers_usable{listener=\"rw\",role=\"backup\"}") == 2);
}

/* /stats.csv read by Python's csv module: the documented header, one row per server,
 * the hostile name intact, a held session counted. */
static void test_csv(void **state)
{
    static const char script[] =
        "import csv, sys\n"
        "want = sys.argv[2].split(',')\n"
        "with open(sys.argv[1], newline='') as f:\n"
        "    rows = list(csv.reader(f, strict=True))\n"
        "assert rows[0] == want, rows[0]\n"
        "assert len(rows) == 5, len(rows)\n"
        "d = {}\n"
        "for r in rows[1:]:\n"
        "    assert len(r) == len(want), r\n"
        "    d[(r[0], r[1])] = dict(zip(want, r))\n"
        "odd = d[('odd', sys.argv[3])]\n"
        "assert odd['check_status'] == 'L4CON' and odd['state'] == 'DOWN', odd\n"
        "assert odd['check_info'] != '' and int(odd['downtime_s']) >= 0, odd\n"
        "m = d[('rw', 'master')]\n"
        "assert m['role'] == 'active' and m['state'] == 'UP' and m['usable'] == '1', m\n"
        "assert m['check_status'] == 'L7OK' and m['admin_state'] == 'ready', m\n"
        "assert int(m['sessions_current']) >= 1 and int(m['sessions_total']) >= 1, m\n"
        "assert int(m['bytes_in']) > 0 and int(m['bytes_out']) > 0, m\n"
        "assert d[('rw', 'replica1')]['role'] == 'backup'\n"
        "for r in d.values():\n"
        "    for k in ('check_code', 'check_duration_ms', 'last_change_s', 'downtime_s',\n"
        "              'sessions_current', 'sessions_total', 'check_failures',\n"
        "              'connect_failures', 'sessions_killed', 'check_running', 'usable',\n"
        "              'observed_errors', 'bytes_in', 'bytes_out', 'connecting',\n"
        "              'queued', 'queue_timeouts'):\n"
        "        int(r[k])\n"
        "print('CSV-OK')\n";
    char path[512], out[8192];
    char *argv[] = {
        (char *)"/usr/bin/python3", (char *)"-c", (char *)script, path, (char *)CSV_COLUMNS,
        (char *)ODD_NAME,           NULL};
    int64_t deadline = now_ms() + STATE_WAIT_MS;
    MYSQL *m = client_connect_app(fx.rw_port);
    int rc;

    (void)state;
    assert_non_null(m);
    assert_int_equal(client_query(m, "SELECT 1"), 0);
    do { /* until every server's first check is done: odd's failed, rw's three passed */
        get_ok("/stats.csv");
    } while (!(strstr(body(), "L4CON") && count_of(body(), ",L7OK,") == 3) && now_ms() < deadline &&
             (sleep_ms(100), 1));
    assert_true(has_header("Content-Type: text/csv; charset=utf-8; header=present"));
    assert_non_null(strstr(body(), "\r\n")); /* RFC 4180 line ends */
    save_body("stats.csv", path, sizeof(path));
    rc = run_command(argv, out, sizeof(out), 20000);
    mysql_close(m);
    if (rc != 0 || !strstr(out, "CSV-OK"))
        fail_msg("csv check: exit %d\n%s\n---- csv ----\n%s", rc, out, body());
}

/* The text between the server cell NAME_CELL and the end of its row, or NULL. */
static const char *html_row(const char *name_cell, char *row, size_t size)
{
    const char *s = strstr(body(), name_cell), *e;

    if (!s || !(e = strstr(s, "</tr>")))
        return NULL;
    snprintf(row, size, "%.*s", (int)(e - s), s);
    return row;
}

/* The HTML page: refresh, a row per server, escaping, a mark on running checks. */
static void test_html(void **state)
{
    int64_t deadline;
    char row[2048];
    int rows = 0;
    bool marked = false;

    (void)state;
    get_ok("/");
    assert_true(has_header("Content-Type: text/html; charset=utf-8"));
    assert_non_null(strstr(body(), "<meta http-equiv=\"refresh\" content=\"5\">"));
    for (const char *p = body(); (p = strstr(p, "<tr class=\"srv ")); p++)
        rows++;
    assert_int_equal(rows, 4);
    assert_non_null(strstr(body(), "<td>x&lt;i&gt;&amp;&quot;y&quot;,z</td>"));
    assert_null(strstr(body(), "x<i>"));
    assert_null(strstr(body(), "src=")); /* no external resources */
    assert_null(strstr(body(), "href="));

    /* A frozen replica's checks hang until `timeout check`: catch one in flight. */
    assert_int_equal(cluster_freeze("replica2"), 0);
    deadline = now_ms() + STATE_WAIT_MS;
    while (!marked && now_ms() < deadline) {
        if (http_req("GET", "/") == 200 && html_row("<td>replica2</td>", row, sizeof(row)))
            marked = strstr(row, "checking") != NULL;
        sleep_ms(20);
    }
    assert_int_equal(cluster_thaw("replica2"), 0);
    if (!marked)
        fail_msg("no check-in-progress mark on replica2 within %d ms", STATE_WAIT_MS);
    assert_non_null(html_row("<td>master</td>", row, sizeof(row)));
}

/* Run headless Chromium on the page with ARG (--dump-dom, --screenshot=FILE) into OUT; its
 * exit status. Its profile lives in the scratch directory. */
static int chromium(const char *arg, char *out, size_t outsz)
{
    char url[64], profile[600], profile_arg[700];

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", stats_port);
    harness_path(profile, sizeof(profile), "chromium-profile");
    snprintf(profile_arg, sizeof(profile_arg), "--user-data-dir=%s", profile);
    char *const argv[] = {"/usr/bin/chromium", "--headless", "--no-sandbox",
                          "--disable-gpu",     profile_arg,  "--window-size=1400,900",
                          (char *)arg,         url,          NULL};
    return run_command(argv, out, outsz, 120000);
}

/* The page as a real browser makes it: Chromium parses it into what the operator reads first
 * (a red line for the listen no server can serve, which server takes new sessions, the
 * recent events with their reasons), keeps a hostile server name as text, and draws it. */
static void test_html_in_browser(void **state)
{
    static char dom[262144];
    char png[600], *shot;
    (void)state;

    /* The odd listen's only server is on a closed port: DOWN once its first check failed. */
    expect_file_line(fx.health_log, 0, "Listener odd has no server available!", STATE_WAIT_MS);
    if (chromium("--dump-dom", dom, sizeof(dom)) != 0)
        fail_msg("chromium --dump-dom failed:\n%.2000s", dom);
    if (!strstr(dom, "<p class=\"banner\">odd: no server available"))
        fail_msg("no banner for listen odd in the browser's page:\n%.4000s", dom);
    assert_null(strstr(dom, "<p class=\"banner\">rw:"));
    assert_non_null(strstr(dom, "New sessions go to: <b>master</b> (active)"));
    assert_non_null(strstr(dom, "<h2>Recent events</h2>"));
    assert_non_null(strstr(dom, "Server rw/master starts UP as an active server"));
    /* The hostile name is text in the browser's document, not markup. */
    assert_non_null(strstr(dom, "x&lt;i&gt;&amp;\"y\",z"));
    assert_null(strstr(dom, "<i>&amp;"));
    harness_path(png, sizeof(png), "stats.png");
    char arg[700];
    snprintf(arg, sizeof(arg), "--screenshot=%s", png);
    if (chromium(arg, dom, sizeof(dom)) != 0)
        fail_msg("chromium --screenshot failed:\n%.2000s", dom);
    shot = read_file(png);
    assert_non_null(shot);
    assert_memory_equal(shot, "\x89PNG", 4);
    free(shot);
    assert_true(file_size(png) > 10000); /* a drawn page, not a blank one */
}

/* One bad request: its status, a complete answer, a close; and client queries still run. */
static void expect_rejected(MYSQL *m, const char *req, size_t len, int want)
{
    int status = http_raw(req, len, HTTP_WAIT_MS);

    if (status != want)
        fail_msg("want %d, got %d for %.60s...; response:\n%.300s", want, status, req, http_resp);
    expect_framed(true);
    assert_int_equal(client_query(m, "SELECT 1"), 0);
}

/* Malformed, oversized and unsupported requests are answered and closed. */
static void test_bad_requests(void **state)
{
    static char big[16384];
    MYSQL *m = client_connect_app(fx.rw_port);
    size_t n;
    int status;

    (void)state;
    assert_non_null(m);
#define REJECT(s, want) expect_rejected(m, s, sizeof(s) - 1, want)
    REJECT("GARBAGE\r\n\r\n", 400);
    REJECT("GET /metrics HTTP/1.1\r\n\r\n", 400);                /* no Host */
    REJECT("GET /metrics HTTP/1.0\n\n", 400);                    /* bare LF */
    REJECT("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400); /* a TLS hello */
    REJECT("GET /metrics HTTP/2.0\r\n\r\n", 505);
    REJECT("GET /nope HTTP/1.0\r\n\r\n", 404);
    REJECT("GET /metrics HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
    REJECT("DELETE /metrics HTTP/1.0\r\n\r\n", 405);
    assert_true(has_header("Allow: GET, HEAD"));
    REJECT("POST /stats.csv HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 405);
#undef REJECT
    /* A target of 3000 bytes: 414. */
    n = (size_t)snprintf(big, sizeof(big), "GET /");
    memset(big + n, 'a', 3000);
    n += 3000;
    n += (size_t)snprintf(big + n, sizeof(big) - n, " HTTP/1.0\r\n\r\n");
    expect_rejected(m, big, n, 414);
    /* A head of 16 KiB: 431, even though the server stops reading half way. */
    n = (size_t)snprintf(big, sizeof(big), "GET /metrics HTTP/1.1\r\nHost: a\r\nX-Pad: ");
    memset(big + n, 'p', sizeof(big) - n - 4);
    memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
    expect_rejected(m, big, sizeof(big), 431);
    /* And the port still serves. */
    status = http_req("GET", "/metrics?after=bad");
    assert_int_equal(status, 200);
    mysql_close(m);
}

/* Read what FD holds without waiting: its first SIZE - 1 bytes into BUF (NUL-terminated; *GOT
 * so far), the rest dropped. True once the peer has closed it (EOF, or a reset after some
 * bytes). */
static bool drained_closed(int fd, char *buf, size_t size, size_t *got)
{
    for (;;) {
        char skip[512];
        bool keep = *got < size - 1;
        ssize_t n = keep ? recv(fd, buf + *got, size - 1 - *got, MSG_DONTWAIT)
                         : recv(fd, skip, sizeof(skip), MSG_DONTWAIT);

        if (n > 0) {
            if (keep)
                *got += (size_t)n;
            continue;
        }
        buf[*got] = '\0';
        return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
    }
}

/* Stalled clients (slowloris) never keep a scrape out: the oldest beyond the per-source cap
 * make room at once (503), the rest are closed at the request deadline (408), counted from
 * accept although they keep sending; the data path never waits. */
static void test_stalled_clients(void **state)
{
    int fds[STALLED];
    char resp[STALLED][64];
    size_t got[STALLED];
    int64_t closed_at[STALLED];
    MYSQL *m = client_connect_app(fx.rw_port);
    int64_t t0, t, q_calib = 0, q_max = 0, q_bound, deadline;
    int i, open, timeouts = 0, evicted = 0, early = 0;

    (void)state;
    assert_non_null(m);
    /* The latency of a query without stalled clients: what the machine takes. */
    for (i = 0; i < 20; i++) {
        int64_t q0 = now_ms();
        assert_int_equal(client_query(m, "SELECT 1"), 0);
        if (now_ms() - q0 > q_calib)
            q_calib = now_ms() - q0;
    }
    t0 = now_ms();
    for (i = 0; i < STALLED; i++) {
        fds[i] = stats_connect();
        assert_true(fds[i] >= 0);
        assert_int_equal(send(fds[i], "GET / HTTP/1.1\r\nHost:", 21, MSG_NOSIGNAL), 21);
        got[i] = 0;
        closed_at[i] = -1;
    }
    /* A scrape gets through at once, however many stall: before any of them reached its
     * deadline (a scrape that waited for a slot would come after their 408s). */
    t = now_ms();
    assert_int_equal(http_req("GET", "/metrics"), 200);
    t = now_ms() - t;
    for (i = 0; i < STALLED; i++) {
        char b[64];
        ssize_t n = recv(fds[i], b, sizeof(b) - 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) {
            b[n] = '\0';
            early += strstr(b, "HTTP/1.1 408 ") != NULL;
        }
    }
    printf("    scrape next to %d stalled clients: %lld ms, %d of them timed out before\n", STALLED,
           (long long)t, early);
    assert_int_equal(early, 0);
    /* They keep trickling a byte every 50 ms until the router closes them; queries go through
     * meanwhile. A deadline the trickle pushed back would keep them open to the end of the
     * loop (REQ_TIMEOUT + 10 s). */
    q_bound = q_calib * 5 > REQ_TIMEOUT / 2 ? q_calib * 5 : REQ_TIMEOUT / 2;
    deadline = t0 + REQ_TIMEOUT + 10000;
    do {
        int64_t q0 = now_ms();
        assert_int_equal(client_query(m, "SELECT 1"), 0);
        if (now_ms() - q0 > q_max)
            q_max = now_ms() - q0;
        open = 0;
        for (i = 0; i < STALLED; i++) {
            if (closed_at[i] >= 0)
                continue;
            (void)send(fds[i], "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (drained_closed(fds[i], resp[i], sizeof(resp[i]), &got[i]))
                closed_at[i] = now_ms();
            else
                open++;
        }
        sleep_ms(50);
    } while (open > 0 && now_ms() < deadline);
    /* All closed, with 503 or 408 when the answer got through. */
    for (i = 0; i < STALLED; i++) {
        if (closed_at[i] < 0)
            fail_msg("stalled client %d still open %d ms after it connected, trickling", i,
                     REQ_TIMEOUT + 10000);
        if (strstr(resp[i], "HTTP/1.1 408 ")) {
            timeouts++;
            /* not closed before the deadline: accept came after t0 */
            if (closed_at[i] - t0 < REQ_TIMEOUT - 500)
                fail_msg("stalled client %d timed out after %lld ms", i,
                         (long long)(closed_at[i] - t0));
        } else if (strstr(resp[i], "HTTP/1.1 503 ")) {
            evicted++;
        } else if (got[i] > 0) {
            fail_msg("stalled client %d got:\n%.60s", i, resp[i]);
        }
        close(fds[i]);
    }
    printf("    %d stalled clients: %d made room, %d timed out, all closed after %lld ms; "
           "query max %lld ms (%lld ms before)\n",
           STALLED, evicted, timeouts, (long long)(now_ms() - t0), (long long)q_max,
           (long long)q_calib);
    assert_true(timeouts >= 1 && timeouts <= PER_SOURCE);
    /* The data path did not wait for them: a query that did would wait for their deadline
     * (3 s); the bound is half that, or five times the calibration on a slow machine. */
    if (q_max >= q_bound)
        fail_msg("a query waited %lld ms next to stalled clients (bound %lld ms)", (long long)q_max,
                 (long long)q_bound);
    assert_int_equal(http_req("GET", "/stats.csv"), 200);
    assert_int_equal(client_query(m, "SELECT 1"), 0);
    mysql_close(m);
}

/* Clients that send a whole request and then neither read nor close hold their connection
 * until the linger ends; at the connection cap the oldest of them makes room, so a scrape is
 * answered at once. */
static void test_answered_clients_make_room(void **state)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n";
    int fds[MAX_CONNS + 4];
    int64_t t, calib = 0, bound, deadline;
    int status;

    (void)state;
    /* What a scrape takes on this machine with no other client. */
    for (int i = 0; i < 3; i++) {
        t = now_ms();
        assert_int_equal(http_req("GET", "/metrics"), 200);
        if (now_ms() - t > calib)
            calib = now_ms() - t;
    }
    for (int i = 0; i < MAX_CONNS + 4; i++) {
        fds[i] = stats_connect();
        assert_true(fds[i] >= 0);
        assert_int_equal(send(fds[i], req, sizeof(req) - 1, MSG_NOSIGNAL),
                         (ssize_t)sizeof(req) - 1);
    }
    /* Until each has its answer (they do not read it: it is only peeked at). */
    deadline = now_ms() + STATE_WAIT_MS;
    for (int i = 0; i < MAX_CONNS + 4; i++) {
        char b[16];
        struct pollfd p = {.fd = fds[i], .events = POLLIN};
        int64_t left = deadline - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0 ||
            recv(fds[i], b, sizeof(b), MSG_PEEK | MSG_DONTWAIT) <= 0)
            fail_msg("client %d got no answer within %d ms", i, STATE_WAIT_MS);
    }
    t = now_ms();
    status = http_req("GET", "/metrics");
    t = now_ms() - t;
    printf("    scrape next to %d answered clients that linger: HTTP %d in %lld ms (%lld ms "
           "alone)\n",
           MAX_CONNS + 4, status, (long long)t, (long long)calib);
    assert_int_equal(status, 200);
    /* Not after the linger: a scrape that waited for a slot would take about the linger (1 s
     * from the answers); the bound is half that, or four times a lone scrape on a slow
     * machine. */
    bound = calib * 4 > 500 ? calib * 4 : 500;
    if (t >= bound)
        fail_msg("the scrape took %lld ms (bound %lld ms)", (long long)t, (long long)bound);
    for (int i = 0; i < MAX_CONNS + 4; i++)
        close(fds[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_promtool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_follow_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html, setup, teardown),
        cmocka_unit_test_setup_teardown(test_html_in_browser, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stalled_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answered_clients_make_room, setup, teardown),
    };

    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
