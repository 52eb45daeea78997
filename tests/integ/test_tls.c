/* test_tls.c - TLS termination against a real master (started with a TLS certificate) and the
 * real router: rebound answers a client's SSL request with the certificate of its listener
 * (`bind ... ssl crt FILE`), and speaks TLS to the server when the client did (`as-client`, the
 * default), always (`ssl always`) or never (`no-ssl`).
 *
 * Every certificate comes from a test CA the harness makes (harness_test_ca()); clients verify
 * rebound's certificate against it. What each side of a session is, is asserted from both ends:
 * the client's cipher (mysql_get_ssl_cipher()), the server's own view (its session status
 * Ssl_cipher, empty for a plain link), and rebound's (the admin port's sessions.client_tls and
 * server_tls, and the TLS counters of /metrics).
 *
 * Scenarios: the four plain/TLS combinations with a mysql_native_password and an ed25519 user;
 * passthrough (no `ssl`) untouched; `required` refusing a plain client with 3159; `ssl-min-ver`;
 * `ciphers` and `ciphersuites` choosing what both TLS versions negotiate; rebound resuming its
 * TLS session with the server (and not with `no-ssl-reuse`);
 * the server's certificate verified (`verify required`) and rebound's client certificate
 * (`crt`) proven by a REQUIRE X509 account; `openssl s_client -starttls mysql` seeing rebound's
 * certificate and resuming its session; configurations refused with file:line; a certificate
 * replaced by a reload, and a reload with a missing file refused; passive observation of
 * terminated sessions (a killed query, a killed master, ERR 1290, an out-of-band ERR 1053 from a
 * fake server); hostile TLS clients (garbage for a ClientHello, a stalled handshake ended by
 * `timeout handshake`, an empty login packet, a login in clear after the SSL request, a handshake
 * and login written one byte at a time, closes without close_notify); and the mariadb CLI, PHP
 * mysqli, node mysql2, Connector/J and PyMySQL logging in over TLS. The group's master also trusts
 * the test CA for client certificates. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ADMIN_PW     "Tls-Admin-pw"
#define ED_USER      "tls_ed" /* an ed25519 account made in the group setup */
#define ED_PASS      "Ed-pass-25519"
#define X509_USER    "tls_x509" /* an account that REQUIRE X509, made in the group setup */
#define X509_PASS    "X509-pass"
#define WAIT_MS      30000  /* bound for a log line, a close, a counter */
#define CLIENT_S     15     /* client timeouts: what they bound takes milliseconds */
#define DRIVER_MS    300000 /* one driver run, npm install or javac included */
#define METRICS_SIZE 262144
#define ERROR_LIMIT  3
#define SKIPPED      77 /* exit status of mysql2_install.sh: the npm registry is unreachable */

/* Capability flags of hand-made handshake packets. */
#define CAP_LONG_PASSWORD     0x00000001u
#define CAP_LONG_FLAG         0x00000004u
#define CAP_CONNECT_WITH_DB   0x00000008u
#define CAP_PROTOCOL_41       0x00000200u
#define CAP_SSL               0x00000800u
#define CAP_TRANSACTIONS      0x00002000u
#define CAP_SECURE_CONNECTION 0x00008000u
#define CAP_MULTI_RESULTS     0x00020000u
#define CAP_PLUGIN_AUTH       0x00080000u
#define CAP_BASE                                                                                   \
    (CAP_LONG_PASSWORD | CAP_LONG_FLAG | CAP_CONNECT_WITH_DB | CAP_PROTOCOL_41 |                   \
     CAP_TRANSACTIONS | CAP_SECURE_CONNECTION | CAP_MULTI_RESULTS | CAP_PLUGIN_AUTH)

/* The router of a test: listen rw (plain, for router_start()'s readiness login) on fx.rw_port,
 * the listens under test on the ports below, the admin and stats ports. */
static struct router_fixture fx;
static struct test_ca ca;
static int stats_port;
static int tls_port; /* the listen under test (several tests have more: ports[]) */
static int ports[4]; /* the four combinations */
static char metrics[METRICS_SIZE];

/* Last error of open_session(). */
static unsigned sess_errno;
static char sess_error[512];

/* ---- the router ---- */

/* Write the config and start rebound: listen rw (plain) for the readiness login, the listen
 * sections of the test (a printf format), and `tuning` in defaults. Checks every 60 s while UP,
 * so that after the first one only traffic can change the master's state. */
static void start_router(const char *tuning, const char *sections, ...)
    __attribute__((format(printf, 2, 3)));

static void start_router(const char *tuning, const char *sections, ...)
{
    char body[4096];
    va_list ap;

    va_start(ap, sections);
    vsnprintf(body, sizeof(body), sections, ap);
    va_end(ap);
    assert_int_equal(fixture_start(&fx, fx.rw_port,
                                   "# written by test_tls.c\n"
                                   "global\n"
                                   "    maxconn 1000\n"
                                   "    health-log file %s\n"
                                   "    admin 127.0.0.1:%d user admin password \"%s\"\n"
                                   "    stats 127.0.0.1:%d\n"
                                   "defaults\n"
                                   "    check mysql user rebound_check password \"check-pass\"\n"
                                   "    inter 60s  fastinter 60s  downinter 300ms  rise 1  fall 3\n"
                                   "    timeout check 3s  timeout connect 3s  timeout greeting 3s\n"
                                   "    timeout handshake 30s\n"
                                   "%s"
                                   "listen rw\n"
                                   "    bind 127.0.0.1:%d\n"
                                   "    server master 127.0.0.1:%d check\n"
                                   "%s",
                                   fx.health_log, fx.admin_port, ADMIN_PW, stats_port, tuning,
                                   fx.rw_port, cluster_port("master"), body),
                     0);
}

/* The 1-based line of the router's config that holds needle; fails the test if none does. */
static int conf_line(const char *needle)
{
    char *text = read_file(fx.conf), *hit;
    int line = 1;

    assert_non_null(text);
    hit = strstr(text, needle);
    if (!hit) {
        free(text);
        fail_msg("no \"%s\" in %s", needle, fx.conf);
    }
    for (char *p = text; p < hit; p++)
        line += *p == '\n';
    free(text);
    return line;
}

/* The router still runs, and its output holds no crash or sanitizer report. */
static void expect_router_alive(void)
{
    static const char *const reports[] = {"AddressSanitizer", "LeakSanitizer", "ThreadSanitizer",
                                          "runtime error",    "Segmentation",  "Aborted"};
    char *out;
    int st;

    if (fx.router.pid <= 0 || waitpid(fx.router.pid, &st, WNOHANG) != 0) {
        fixture_dump_log(&fx);
        fx.router.pid = 0;
        fail_msg("rebound is gone");
    }
    out = read_file(fx.router.err);
    for (size_t i = 0; out && i < sizeof(reports) / sizeof(reports[0]); i++) {
        if (strstr(out, reports[i])) {
            fprintf(stderr, "---- %s ----\n%s---- end ----\n", fx.router.err, out);
            free(out);
            fail_msg("rebound's output holds \"%s\"", reports[i]);
        }
    }
    free(out);
}

/* ---- the admin and stats ports ---- */

/* Run SQL (printf format) on the admin port; the first column of its first row into out. */
static void admin_text(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void admin_text(char *out, size_t size, const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    MYSQL *a = client_connect(fx.admin_port, "admin", ADMIN_PW, NULL, CLIENT_S);

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    if (!a)
        fail_msg("admin login: %u %s", client_errno(), client_error());
    client_query_text(a, sql, out, size);
    mysql_close(a);
}

/* What the master of listen `listen` has had counted against it: failed checks, failed
 * connects and errors seen in traffic. */
static long long master_errors(const char *listen)
{
    return fixture_admin_int(&fx,
                             "SELECT check_failures + connect_failures + observed_errors FROM "
                             "servers WHERE listener = '%s' AND name = 'master'",
                             listen);
}

/* Fail unless the master of `listen` still has `before` errors and no DOWN line. */
static void expect_master_clean(const char *listen, long long before)
{
    char down[64];
    long long now = master_errors(listen);

    snprintf(down, sizeof(down), "Server %s/master is DOWN", listen);
    if (now != before || count_file_lines(fx.health_log, 0, down) != 0) {
        fixture_dump_log(&fx);
        fail_msg("errors counted against %s/master: %lld, before %lld", listen, now, before);
    }
}

/* Wait (bounded) until listen `listen` holds no session. */
static void wait_sessions_gone(const char *listen)
{
    int64_t deadline = now_ms() + WAIT_MS;
    long long n;

    while ((n = fixture_admin_int(&fx, "SELECT sessions_current FROM listeners WHERE name = '%s'",
                                  listen)) > 0 &&
           now_ms() < deadline)
        sleep_ms(20);
    if (n > 0) {
        fixture_dump_log(&fx);
        fail_msg("%lld sessions of %s still open after %d ms", n, listen, WAIT_MS);
    }
}

/* Sum of the samples of /metrics series `name` whose labels hold `label`; 0 if there is none
 * yet (a labelled counter may appear with its first event). */
static double metric(const char *name, const char *label)
{
    int st = stats_get(stats_port, "/metrics", metrics, sizeof(metrics), WAIT_MS);
    double v;

    if (st != 200)
        fail_msg("GET /metrics: status %d", st);
    v = metric_sum(metrics, name, label);
    return v < 0 ? 0 : v;
}

/* Fail unless the /metrics series grew past `before` (it may take the event a moment to be
 * counted: bounded wait). */
static void expect_metric_above(const char *name, const char *label, double before)
{
    int64_t deadline = now_ms() + WAIT_MS;
    double v;

    while ((v = metric(name, label)) <= before && now_ms() < deadline)
        sleep_ms(50);
    if (v <= before) {
        fprintf(stderr, "---- /metrics ----\n%s---- end ----\n", metrics);
        fail_msg("%s{%s} is %g, want more than %g", name, label ? label : "", v, before);
    }
}

/* ---- clients ---- */

/* A session as user/pass to appdb through port, over TLS (verifying rebound's certificate
 * against the test CA, and its name: IP 127.0.0.1) or plain; tls_version (NULL: any) limits the
 * TLS versions the client offers. NULL on failure, with sess_errno / sess_error. */
static MYSQL *open_session_v(int port, const char *user, const char *pass, bool tls,
                             const char *tls_version)
{
    MYSQL *m = mysql_init(NULL);
    my_bool on = 1;

    assert_non_null(m);
    client_options(m, CLIENT_S);
    if (tls) {
        mysql_options(m, MYSQL_OPT_SSL_CA, ca.ca);
        mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
        mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &on);
        if (tls_version)
            mysql_options(m, MARIADB_OPT_TLS_VERSION, tls_version);
    }
    if (!mysql_real_connect(m, "127.0.0.1", user, pass, "appdb", (unsigned)port, NULL, 0)) {
        sess_errno = mysql_errno(m);
        snprintf(sess_error, sizeof(sess_error), "%s", mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

static MYSQL *open_session(int port, const char *user, const char *pass, bool tls)
{
    return open_session_v(port, user, pass, tls, NULL);
}

/* open_session() that must succeed; the session is kept in fx.held (closed at teardown). */
static MYSQL *hold_session(int port, const char *user, const char *pass, bool tls)
{
    MYSQL *m = open_session(port, user, pass, tls);
    int i;

    if (!m) {
        fixture_dump_log(&fx);
        fail_msg("%s login as %s through %d: %u %s", tls ? "TLS" : "plain", user, port, sess_errno,
                 sess_error);
    }
    for (i = 0; i < FIXTURE_MAX_HELD && fx.held[i]; i++)
        ;
    assert_true(i < FIXTURE_MAX_HELD);
    fx.held[i] = m;
    return m;
}

/* Close a session hold_session() opened (it leaves fx.held). */
static void release(MYSQL *m)
{
    for (int i = 0; i < FIXTURE_MAX_HELD; i++)
        if (fx.held[i] == m)
            fx.held[i] = NULL;
    mysql_close(m);
}

/* The session's value of a status variable, as the server sees it ("" for an empty one). */
static void server_status(MYSQL *m, const char *var, char *out, size_t size)
{
    char sql[128];
    MYSQL_RES *res;
    MYSQL_ROW row;

    snprintf(sql, sizeof(sql), "SHOW SESSION STATUS LIKE '%s'", var);
    if (mysql_query(m, sql) != 0 || !(res = mysql_store_result(m)))
        fail_msg("%s: %u %s", sql, mysql_errno(m), mysql_error(m));
    row = mysql_fetch_row(res);
    snprintf(out, size, "%s", row && row[1] ? row[1] : "");
    mysql_free_result(res);
}

/* The local port of the session's socket: its `client` in the admin port's sessions. */
static int local_port(MYSQL *m)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    assert_int_equal(getsockname((int)mysql_get_socket(m), (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/* Fail unless a TLS side's description from the sessions table ("TLSv1.3 TLS_AES_...") is
 * there exactly when that side is TLS. */
static void expect_tls_text(const char *text, bool tls, const char *side, const char *what)
{
    bool ok = tls ? strncmp(text, "TLSv1.", 6) == 0 && strchr(text, ' ') : text[0] == '\0';

    if (!ok)
        fail_msg("%s: sessions.%s is \"%s\", want %s", what, side, text,
                 tls ? "\"TLSv1.x CIPHER\"" : "empty");
}

/* The session works, lands on the master, and each side is TLS or plain as wanted: the client
 * side seen by the client and by rebound, the server side by the server and by rebound. */
static void expect_sides(MYSQL *m, bool client_tls, bool server_tls, const char *what)
{
    const char *cipher = mysql_get_ssl_cipher(m);
    char ssl_cipher[128], text[256];
    int port = local_port(m);

    if (!!cipher != client_tls)
        fail_msg("%s: the client side is %s, want %s", what, cipher ? cipher : "plain",
                 client_tls ? "TLS" : "plain");
    assert_int_equal(client_server_port(m), cluster_port("master"));
    server_status(m, "Ssl_cipher", ssl_cipher, sizeof(ssl_cipher));
    if (!!ssl_cipher[0] != server_tls)
        fail_msg("%s: the server sees the link from rebound as %s, want %s", what,
                 ssl_cipher[0] ? ssl_cipher : "plain", server_tls ? "TLS" : "plain");
    admin_text(text, sizeof(text), "SELECT client_tls FROM sessions WHERE client = '127.0.0.1:%d'",
               port);
    expect_tls_text(text, client_tls, "client_tls", what);
    admin_text(text, sizeof(text), "SELECT server_tls FROM sessions WHERE client = '127.0.0.1:%d'",
               port);
    expect_tls_text(text, server_tls, "server_tls", what);
}

/* ---- raw sockets ---- */

/* A blocking TCP connection to port, with send and receive timeouts and TCP_NODELAY, kept for
 * teardown; the greeting is read, and must offer TLS. */
static int raw_greeted(int port)
{
    struct sockaddr_in sa = loopback_addr(port);
    struct timeval tv = {.tv_sec = CLIENT_S};
    unsigned char g[1024];
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    long len;
    size_t vlen;

    fixture_keep_fd(&fx, fd);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        fail_msg("connect to %d: %s", port, strerror(errno));
    len = read_packet(fd, g, sizeof(g), WAIT_MS);
    if (len < 40 || g[4] != 0x0a)
        fail_msg("no greeting through rebound on %d (%ld)", port, len);
    vlen = strnlen((char *)g + 5, (size_t)len - 1);
    /* protocol, version, NUL, connection id, scramble (8), filler: then the low flags */
    if (!(g[4 + 1 + vlen + 1 + 4 + 9 + 1] & (CAP_SSL >> 8)))
        fail_msg("the greeting through rebound on %d does not offer TLS", port);
    return fd;
}

/* A protocol-4.1 handshake response or, with len32, the SSL request (its first 32 bytes), with
 * sequence id seq, into buf; its length. auth: 20 bytes of auth data, or NULL for made-up ones. */
static size_t make_login(unsigned char *buf, size_t size, uint32_t caps, unsigned char seq,
                         const char *user, const unsigned char *auth, bool len32)
{
    unsigned char *p = buf + 4;
    size_t len;

    assert_true(size >= 4 + 32 + (len32 ? 0 : strlen(user) + 1 + 21 + 6 + 22));
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(caps >> (8 * i));
    memcpy(p, "\x00\x00\x00\x01", 4); /* max packet 16 MiB */
    p += 4;
    *p++ = 33; /* utf8_general_ci */
    memset(p, 0, 23);
    p += 23;
    if (!len32) {
        p += sprintf((char *)p, "%s", user) + 1;
        *p++ = 20;
        for (int i = 0; i < 20; i++)
            *p++ = auth ? auth[i] : (unsigned char)(0x41 + i);
        p += sprintf((char *)p, "appdb") + 1;
        p += sprintf((char *)p, "mysql_native_password") + 1;
    }
    len = (size_t)(p - buf - 4);
    buf[0] = (unsigned char)len;
    buf[1] = (unsigned char)(len >> 8);
    buf[2] = (unsigned char)(len >> 16);
    buf[3] = seq;
    return len + 4;
}

/* Send the SSL request on a greeted raw socket. */
static void send_ssl_request(int fd)
{
    unsigned char buf[64];
    size_t n = make_login(buf, sizeof(buf), CAP_BASE | CAP_SSL, 1, "", NULL, true);

    send_all(fd, buf, n);
}

/* Fail unless rebound closes fd (whatever it sends first: a TLS alert) within WAIT_MS. */
static void expect_closed(int fd, const char *what)
{
    if (read_until_eof(fd, WAIT_MS) < 0) {
        fixture_dump_log(&fx);
        fail_msg("%s: rebound did not close the connection within %d ms", what, WAIT_MS);
    }
    fixture_close_fd(&fx, fd);
}

/* After a hostile client: rebound runs, the listen's sessions are gone, nothing was counted
 * against the master, and a plain and a TLS client both get in. */
static void expect_unharmed(const char *listen, long long errors_before, const char *what)
{
    MYSQL *m;

    expect_router_alive();
    wait_sessions_gone(listen);
    expect_master_clean(listen, errors_before);
    m = hold_session(tls_port, "app", "app-pass", false);
    expect_sides(m, false, false, what);
    release(m);
    m = hold_session(tls_port, "app", "app-pass", true);
    expect_sides(m, true, true, what);
    release(m);
    expect_router_alive();
}

/* ---- fixture ---- */

static int setup(void **state)
{
    (void)state;
    if (fixture_init(&fx, "tls", ADMIN_PW) != 0)
        return -1;
    stats_port = free_port();
    tls_port = free_port();
    for (int i = 0; i < 4; i++)
        ports[i] = free_port();
    return stats_port < 0 || tls_port < 0 || ports[3] < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return fixture_teardown(&fx);
}

/* The test CA, the cluster (master with TLS, one replica), an ed25519 account and a REQUIRE
 * X509 account on the master, and appdb.obs (rows 1 and 2) for the write tests. */
static int group_setup(void **state)
{
    char opts[PATH_MAX];
    MYSQL *m;
    FILE *f;
    int rc;

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (access(router_bin(), X_OK) != 0) {
        fprintf(stderr, "router binary %s not found (set REBOUND_BIN or run make)\n", router_bin());
        return -1;
    }
    /* The master trusts the test CA for client certificates (rebound's `crt`). */
    harness_path(opts, sizeof(opts), "master.opts");
    if (harness_test_ca(&ca) != 0 || cluster_master_tls() != 0 || !(f = fopen(opts, "a")))
        return -1;
    fprintf(f, "--ssl-ca=%s\n", ca.ca);
    if (fclose(f) != 0 || cluster_start(1) != 0)
        return -1;
    m = root_connect("master");
    if (!m)
        return -1;
    /* The plugin is not replicated, so neither is the account: the replica never sees it. */
    rc = root_run(m, "INSTALL SONAME 'auth_ed25519'", NULL, 0) ||
         root_run(m, "SET SESSION sql_log_bin = 0", NULL, 0) ||
         root_run(m,
                  "CREATE USER '" ED_USER "'@'127.0.0.1' IDENTIFIED VIA ed25519 USING "
                  "PASSWORD('" ED_PASS "')",
                  NULL, 0) ||
         root_run(m, "GRANT ALL ON appdb.* TO '" ED_USER "'@'127.0.0.1'", NULL, 0) ||
         root_run(m,
                  "CREATE USER '" X509_USER "'@'127.0.0.1' IDENTIFIED BY '" X509_PASS
                  "' REQUIRE X509",
                  NULL, 0) ||
         root_run(m, "GRANT ALL ON appdb.* TO '" X509_USER "'@'127.0.0.1'", NULL, 0) ||
         root_run(m, "SET SESSION sql_log_bin = 1", NULL, 0) ||
         root_run(m, "CREATE TABLE appdb.obs (id INT PRIMARY KEY, v INT NOT NULL)", NULL, 0) ||
         root_run(m, "INSERT INTO appdb.obs VALUES (1, 0), (2, 0)", NULL, 0);
    mysql_close(m);
    return rc ? -1 : 0;
}

/* ---- the four combinations ---- */

/* Four listens, one per combination of a plain or TLS client with a plain or TLS link to the
 * master; for each, a session as user: both sides as they should be, seen from both ends and
 * from rebound, and the handshake counters of both sides moving. */
static void four_combinations(const char *user, const char *pass)
{
    static const struct {
        bool client_tls, server_tls;
        const char *what;
    } combos[4] = {
        {false, false, "plain client, plain server (no-ssl)"},
        {true, true, "TLS client, TLS server (as-client)"},
        {true, false, "TLS client, plain server (no-ssl)"},
        {false, true, "plain client, TLS server (ssl always)"},
    };
    double client_hs, server_hs;
    char what[128];

    start_router("",
                 "listen pp\n"
                 "    bind 127.0.0.1:%d ssl crt %s\n"
                 "    server master 127.0.0.1:%d check no-ssl\n"
                 "listen tt\n"
                 "    bind 127.0.0.1:%d ssl crt %s key %s\n"
                 "    server master 127.0.0.1:%d check\n"
                 "listen tp\n"
                 "    bind 127.0.0.1:%d ssl crt %s\n"
                 "    server master 127.0.0.1:%d check no-ssl\n"
                 "listen pt\n"
                 "    bind 127.0.0.1:%d ssl crt %s\n"
                 "    server master 127.0.0.1:%d check ssl always\n",
                 ports[0], ca.combined, cluster_port("master"), ports[1], ca.cert, ca.key,
                 cluster_port("master"), ports[2], ca.combined, cluster_port("master"), ports[3],
                 ca.combined, cluster_port("master"));
    client_hs = metric("rebound_tls_handshakes_total", "side=\"client\"");
    server_hs = metric("rebound_tls_handshakes_total", "side=\"server\"");
    for (int i = 0; i < 4; i++) {
        MYSQL *m = hold_session(ports[i], user, pass, combos[i].client_tls);
        snprintf(what, sizeof(what), "%s as %s", combos[i].what, user);
        expect_sides(m, combos[i].client_tls, combos[i].server_tls, what);
        assert_int_equal(client_query_int(m, "SELECT 41 + 1"), 42);
        /* COM_CHANGE_USER passes through unchanged, after the login's renumbering is over. */
        if (mysql_change_user(m, user, pass, "appdb"))
            fail_msg("%s: COM_CHANGE_USER failed: %s", what, mysql_error(m));
        expect_sides(m, combos[i].client_tls, combos[i].server_tls, what);
        assert_int_equal(client_query_int(m, "SELECT DATABASE() = 'appdb'"), 1);
        release(m);
    }
    expect_metric_above("rebound_tls_handshakes_total", "side=\"client\"", client_hs + 1);
    expect_metric_above("rebound_tls_handshakes_total", "side=\"server\"", server_hs + 1);
}

/* The four combinations with a mysql_native_password account. */
static void test_combinations_native(void **state)
{
    (void)state;
    four_combinations("app", "app-pass");
}

/* The four combinations with an ed25519 account: its auth switch (to client_ed25519) runs
 * inside rebound's TLS or in clear, as the client chose. */
static void test_combinations_ed25519(void **state)
{
    (void)state;
    four_combinations(ED_USER, ED_PASS);
}

/* A plain listen (no `ssl`) still passes a client's TLS through to the master untouched: the
 * client's TLS peer is the master itself. */
static void test_no_ssl_listen_passes_tls_through(void **state)
{
    MYSQL *m;

    (void)state;
    start_router("", "%s", "");
    m = hold_session(fx.rw_port, "app", "app-pass", false);
    expect_sides(m, false, false, "plain client, passthrough listen");
    release(m);
    /* Verifying against the test CA fails: the certificate is the master's own. */
    assert_null(open_session(fx.rw_port, "app", "app-pass", true));
    assert_int_equal(sess_errno, 2026);
}

/* ---- required, ssl-min-ver ---- */

/* `required`: a plain client is refused with 3159 before anything reaches the master's login,
 * and it is no fault of the master; a TLS client gets in. By hand too: a plain handshake
 * response gets ERR 3159, then the connection closes. */
static void test_required_refuses_plain(void **state)
{
    unsigned char buf[512];
    long long before;
    double refused;
    MYSQL *m;
    long len;
    int fd;

    (void)state;
    start_router("    observe layer7  error-limit 1  on-error mark-down\n",
                 "listen tls\n"
                 "    bind 127.0.0.1:%d ssl crt %s required\n"
                 "    server master 127.0.0.1:%d check\n",
                 tls_port, ca.combined, cluster_port("master"));
    before = master_errors("tls");
    refused = metric("rebound_tls_plain_refused_total", NULL);
    for (int i = 0; i < 3; i++) {
        m = open_session(tls_port, "app", "app-pass", false);
        if (m) {
            mysql_close(m);
            fail_msg("a plain client got through a required listen");
        }
        if (sess_errno != 3159)
            fail_msg("plain client: error %u (%s), want 3159", sess_errno, sess_error);
    }
    fd = raw_greeted(tls_port);
    len = make_login(buf, sizeof(buf), CAP_BASE, 1, "app", NULL, false);
    send_all(fd, buf, (size_t)len);
    len = read_packet(fd, buf, sizeof(buf), WAIT_MS);
    if (len < 3 || buf[4] != 0xff || (buf[5] | buf[6] << 8) != 3159)
        fail_msg("a plain handshake response got %ld bytes, first 0x%02x, want ERR 3159", len,
                 len > 0 ? buf[4] : 0);
    expect_closed(fd, "after ERR 3159");
    expect_metric_above("rebound_tls_plain_refused_total", NULL, refused + 3);
    wait_sessions_gone("tls");
    expect_master_clean("tls", before);
    m = hold_session(tls_port, "app", "app-pass", true);
    expect_sides(m, true, true, "TLS client on a required listen");
    m = hold_session(tls_port, ED_USER, ED_PASS, true);
    expect_sides(m, true, true, "ed25519 TLS client on a required listen");
}

/* `ssl-min-ver TLSv1.3`: a client that offers only TLS 1.2 fails its handshake; one that offers
 * TLS 1.3 gets in, and rebound says TLSv1.3. */
static void test_min_version(void **state)
{
    char text[256];
    MYSQL *m;
    double failures;

    (void)state;
    start_router("",
                 "listen tls\n"
                 "    bind 127.0.0.1:%d ssl crt %s ssl-min-ver TLSv1.3\n"
                 "    server master 127.0.0.1:%d check\n",
                 tls_port, ca.combined, cluster_port("master"));
    failures = metric("rebound_tls_handshake_failures_total", "side=\"client\"");
    m = open_session_v(tls_port, "app", "app-pass", true, "TLSv1.2");
    if (m) {
        mysql_close(m);
        fail_msg("a TLS 1.2 client got through ssl-min-ver TLSv1.3");
    }
    expect_metric_above("rebound_tls_handshake_failures_total", "side=\"client\"", failures);
    m = open_session_v(tls_port, "app", "app-pass", true, "TLSv1.3");
    if (!m)
        fail_msg("TLS 1.3 client: %u %s", sess_errno, sess_error);
    fx.held[0] = m;
    expect_sides(m, true, true, "TLS 1.3 client");
    admin_text(text, sizeof(text), "SELECT client_tls FROM sessions WHERE client = '127.0.0.1:%d'",
               local_port(m));
    if (strncmp(text, "TLSv1.3 ", 8) != 0)
        fail_msg("sessions.client_tls is \"%s\", want TLSv1.3", text);
}

/* `ciphers` limits the TLS 1.2 ciphers and `ciphersuites` the TLS 1.3 suites rebound accepts:
 * with ChaCha20 only, a client that offers its default lists (AES-GCM first) gets ChaCha20 in
 * both versions, in its own view and in sessions.client_tls; a TLS 1.2 client that offers only
 * AES-GCM fails its handshake, counted. */
static void test_ciphers(void **state)
{
    static const struct {
        const char *version, *cipher;
    } want[] = {
        {"TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305"},
        {"TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"},
    };
    char text[256];
    double failures;
    MYSQL *m;

    (void)state;
    start_router("",
                 "listen tls\n"
                 "    bind 127.0.0.1:%d ssl crt %s ciphers ECDHE-ECDSA-CHACHA20-POLY1305 "
                 "ciphersuites TLS_CHACHA20_POLY1305_SHA256\n"
                 "    server master 127.0.0.1:%d check\n",
                 tls_port, ca.combined, cluster_port("master"));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *cipher;

        m = open_session_v(tls_port, "app", "app-pass", true, want[i].version);
        if (!m)
            fail_msg("%s client: %u %s", want[i].version, sess_errno, sess_error);
        cipher = mysql_get_ssl_cipher(m);
        if (!cipher || strcmp(cipher, want[i].cipher) != 0) {
            fail_msg("%s client negotiated %s, want %s", want[i].version, cipher ? cipher : "none",
                     want[i].cipher);
        }
        admin_text(text, sizeof(text),
                   "SELECT client_tls FROM sessions WHERE client = '127.0.0.1:%d'", local_port(m));
        if (!strstr(text, want[i].version) || !strstr(text, want[i].cipher))
            fail_msg("sessions.client_tls is \"%s\", want %s %s", text, want[i].version,
                     want[i].cipher);
        mysql_close(m);
    }
    failures = metric("rebound_tls_handshake_failures_total", "side=\"client\"");
    m = mysql_init(NULL);
    assert_non_null(m);
    client_options(m, CLIENT_S);
    mysql_options(m, MYSQL_OPT_SSL_CA, ca.ca);
    mysql_options(m, MYSQL_OPT_SSL_CIPHER, "ECDHE-ECDSA-AES256-GCM-SHA384");
    mysql_options(m, MARIADB_OPT_TLS_VERSION, "TLSv1.2");
    if (mysql_real_connect(m, "127.0.0.1", "app", "app-pass", "appdb", (unsigned)tls_port, NULL,
                           0)) {
        const char *cipher = mysql_get_ssl_cipher(m);
        fail_msg("a client offering only AES-GCM got through with %s", cipher ? cipher : "plain");
    }
    mysql_close(m);
    expect_metric_above("rebound_tls_handshake_failures_total", "side=\"client\"", failures);
    expect_router_alive();
}

/* ---- the server's certificate, rebound's client certificate ---- */

/* `verify required` with the master's own certificate as CA: the link is TLS, for plain and TLS
 * clients. With `crt`, rebound presents the test CA's client certificate, which the master
 * trusts: an account that REQUIRE X509 gets in, and does not without `crt`. With a CA that did
 * not sign the master's certificate the server handshake fails: no login, and the failure is
 * counted on the server side. */
static void test_server_verify_and_client_certificate(void **state)
{
    char master_ca[PATH_MAX];
    double failures;
    MYSQL *m;

    (void)state;
    harness_path(master_ca, sizeof(master_ca), "master-tls.pem");
    start_router("",
                 "listen good\n"
                 "    bind 127.0.0.1:%d ssl crt %s\n"
                 "    server master 127.0.0.1:%d check ssl always verify required ca-file %s "
                 "crt %s\n"
                 "listen nocrt\n"
                 "    bind 127.0.0.1:%d ssl crt %s\n"
                 "    server master 127.0.0.1:%d check ssl always verify required ca-file %s\n"
                 "listen bad\n"
                 "    bind 127.0.0.1:%d ssl crt %s\n"
                 "    server master 127.0.0.1:%d check ssl always verify required ca-file %s\n",
                 ports[0], ca.combined, cluster_port("master"), master_ca, ca.client_combined,
                 ports[1], ca.combined, cluster_port("master"), master_ca, ports[2], ca.combined,
                 cluster_port("master"), ca.ca);
    m = hold_session(ports[0], "app", "app-pass", false);
    expect_sides(m, false, true, "verified server, plain client");
    m = hold_session(ports[0], "app", "app-pass", true);
    expect_sides(m, true, true, "verified server, TLS client");
    m = hold_session(ports[0], X509_USER, X509_PASS, false);
    expect_sides(m, false, true, "REQUIRE X509 account, rebound's client certificate");
    m = hold_session(ports[1], "app", "app-pass", true);
    expect_sides(m, true, true, "verified server, no client certificate");
    m = open_session(ports[1], X509_USER, X509_PASS, true);
    if (m) {
        mysql_close(m);
        fail_msg("a REQUIRE X509 account got in without a client certificate");
    }
    if (sess_errno != 1045)
        fail_msg("REQUIRE X509 without a certificate: %u %s, want 1045", sess_errno, sess_error);
    failures = metric("rebound_tls_handshake_failures_total", "side=\"server\"");
    m = open_session(ports[2], "app", "app-pass", true);
    if (m) {
        mysql_close(m);
        fail_msg("a session went through a server link whose certificate does not verify");
    }
    expect_metric_above("rebound_tls_handshake_failures_total", "side=\"server\"", failures);
    expect_router_alive();
}

/* rebound offers a server the TLS session it got from it last time: of three sessions in a row
 * over `ssl always`, the second and third resume (TLS 1.3 tickets arrive after the handshake,
 * read with the server's first bytes), and each still works and shows TLS at the server. With
 * `no-ssl-reuse` every handshake is a full one. */
static void test_server_resumption(void **state)
{
    double handshakes, resumed;
    MYSQL *m;

    (void)state;
    start_router("",
                 "listen reuse\n"
                 "    bind 127.0.0.1:%d ssl crt %s\n"
                 "    server master 127.0.0.1:%d check ssl always\n"
                 "listen noreuse\n"
                 "    bind 127.0.0.1:%d ssl crt %s\n"
                 "    server master 127.0.0.1:%d check ssl always no-ssl-reuse\n",
                 ports[0], ca.combined, cluster_port("master"), ports[1], ca.combined,
                 cluster_port("master"));
    for (int l = 1; l >= 0; l--) {
        handshakes = metric("rebound_tls_handshakes_total", "side=\"server\"");
        resumed = metric("rebound_tls_resumptions_total", "side=\"server\"");
        for (int i = 0; i < 3; i++) {
            m = open_session(ports[l], "app", "app-pass", i == 1);
            if (!m)
                fail_msg("login %d through %d: %u %s", i, ports[l], sess_errno, sess_error);
            expect_sides(m, i == 1, true, l ? "no-ssl-reuse" : "ssl reuse");
            mysql_close(m);
        }
        if (metric("rebound_tls_handshakes_total", "side=\"server\"") < handshakes + 3)
            fail_msg("3 sessions over ssl always did not make 3 server handshakes");
        if (l == 1 && metric("rebound_tls_resumptions_total", "side=\"server\"") != resumed)
            fail_msg("a server handshake resumed a session under no-ssl-reuse");
        if (l == 0 && metric("rebound_tls_resumptions_total", "side=\"server\"") < resumed + 2)
            fail_msg("of 3 sessions in a row, %.0f resumed the server's TLS session, want 2",
                     metric("rebound_tls_resumptions_total", "side=\"server\"") - resumed);
    }
    expect_router_alive();
}

/* ---- openssl s_client ---- */

/* `openssl s_client -starttls mysql` through port, verifying against the test CA; its output
 * (both streams) into out. Fails the test unless it ran. */
static void s_client(int port, char *out, size_t size)
{
    char openssl[PATH_MAX], connect[64];
    int rc;

    if (!find_program("openssl", openssl, sizeof(openssl)))
        fail_msg("openssl not found in PATH");
    snprintf(connect, sizeof(connect), "127.0.0.1:%d", port);
    char *argv[] = {openssl, "s_client", "-starttls", "mysql", "-connect",
                    connect, "-CAfile",  ca.ca,       NULL};
    rc = run_command(argv, out, size, WAIT_MS);
    if (rc == HARNESS_TIMED_OUT || rc < 0)
        fail_msg("openssl s_client to %s: %d\n%s", connect, rc, out);
}

/* Fail unless s_client through port sees a certificate for CN=cn that verifies. */
static void expect_certificate(int port, const char *cn)
{
    static char out[65536];
    char subject[128];
    const char *hit;

    s_client(port, out, sizeof(out));
    snprintf(subject, sizeof(subject), "subject=CN = %s\n", cn);
    hit = strstr(out, subject);
    if (!hit || !strstr(out, "Verify return code: 0 (ok)")) {
        fixture_dump_log(&fx);
        fail_msg("s_client through %d: want subject CN = %s, verified; it said:\n%.3000s", port, cn,
                 out);
    }
}

/* Run s_client -sess_out sess through connect with the TLS version flag `version`, and fail
 * unless it saves a session. A TLS 1.3 ticket follows the handshake, so an s_client that ends
 * when its stdin does may leave before the ticket arrives: its stdin is a FIFO this process holds
 * open until the session file is whole. */
static void s_client_save_session(const char *openssl, const char *connect, const char *version,
                                  const char *sess)
{
    char fifo[PATH_MAX], out[PATH_MAX];
    char *argv[] = {"/bin/sh",
                    "-c",
                    "f=$1; shift; exec \"$@\" < \"$f\"",
                    "sh",
                    fifo,
                    (char *)openssl,
                    "s_client",
                    "-starttls",
                    "mysql",
                    "-connect",
                    (char *)connect,
                    "-CAfile",
                    ca.ca,
                    (char *)version,
                    "-sess_out",
                    (char *)sess,
                    NULL};
    bool saved;
    pid_t pid;
    int hold;

    harness_path(fifo, sizeof(fifo), "s_client.stdin");
    harness_path(out, sizeof(out), "s_client.out");
    unlink(fifo);
    unlink(sess);
    if (mkfifo(fifo, 0600) < 0)
        fail_msg("mkfifo %s: %s", fifo, strerror(errno));
    hold = open(fifo, O_RDWR | O_CLOEXEC); /* a writer that never writes: no EOF */
    assert_true(hold >= 0);
    pid = spawn_program(argv, out);
    assert_true(pid > 0);
    saved = wait_for_file_line(sess, "-----END SSL SESSION PARAMETERS-----", WAIT_MS);
    /* End of its stdin: s_client ends by itself, never in the middle of writing the file again
     * for a second ticket. Bounded, then SIGKILL. */
    close(hold);
    wait_program(pid, WAIT_MS);
    unlink(fifo);
    saved = saved && wait_for_file_line(sess, "-----END SSL SESSION PARAMETERS-----", 0);
    if (!saved) {
        char *text = read_file(out);
        fail_msg("s_client %s saved no session within %d ms:\n%.3000s", version, WAIT_MS,
                 text ? text : "");
    }
}

/* A client that saved its TLS session (s_client -sess_out) resumes it on its next connection
 * (-sess_in), with TLS 1.2 (session id or ticket) and TLS 1.3 (ticket): "Reused", and counted. */
static void test_s_client_resumes(void **state)
{
    static const char *const versions[] = {"-tls1_2", "-tls1_3"};
    static char out[65536];
    char openssl[PATH_MAX], connect[64], sess[PATH_MAX], reused[64];
    double before;
    int rc;

    (void)state;
    assert_true(find_program("openssl", openssl, sizeof(openssl)));
    start_router("",
                 "listen tls\n"
                 "    bind 127.0.0.1:%d ssl crt %s\n"
                 "    server master 127.0.0.1:%d check\n",
                 tls_port, ca.combined, cluster_port("master"));
    before = metric("rebound_tls_resumptions_total", "side=\"client\"");
    snprintf(connect, sizeof(connect), "127.0.0.1:%d", tls_port);
    harness_path(sess, sizeof(sess), "s_client.session");
    for (int v = 0; v < 2; v++) {
        s_client_save_session(openssl, connect, versions[v], sess);
        char *argv[] = {openssl,   "s_client", "-starttls",         "mysql",    "-connect", connect,
                        "-CAfile", ca.ca,      (char *)versions[v], "-sess_in", sess,       NULL};
        rc = run_command(argv, out, sizeof(out), WAIT_MS);
        snprintf(reused, sizeof(reused), "\nReused, TLSv1.%c,", versions[v][6]);
        if (rc != 0 || !strstr(out, reused)) {
            const char *line = strstr(out, "\nNew, ");
            fail_msg("s_client %s -sess_in (exit %d) did not resume its session: %.80s",
                     versions[v], rc, line ? line + 1 : out);
        }
        unlink(sess);
    }
    expect_metric_above("rebound_tls_resumptions_total", "side=\"client\"", before + 1);
}

/* s_client, a TLS client that knows nothing of rebound, sees rebound's certificate and
 * verifies it against the test CA. */
static void test_s_client_sees_certificate(void **state)
{
    (void)state;
    start_router("",
                 "listen tls\n"
                 "    bind 127.0.0.1:%d ssl crt %s key %s\n"
                 "    server master 127.0.0.1:%d check\n",
                 tls_port, ca.cert, ca.key, cluster_port("master"));
    expect_certificate(tls_port, "rebound-test");
    expect_router_alive();
}

/* Configurations the TLS keywords refuse, each with the file:line of the bind line: a
 * certificate with `passthrough` (it would never be used), and a key readable by others. */
static void test_config_refusals(void **state)
{
    char conf[PATH_MAX], key[PATH_MAX], want[PATH_MAX + 64], out[4096], *text;

    (void)state;
    harness_path(conf, sizeof(conf), "tls-refused.conf");
    harness_path(key, sizeof(key), "tls-readable.key");
    assert_int_equal(write_file(conf,
                                "global\n"
                                "    maxconn 100\n"
                                "listen tls\n"
                                "    bind 127.0.0.1:%d ssl crt %s passthrough\n"
                                "    server master 127.0.0.1:%d\n",
                                tls_port, ca.combined, cluster_port("master")),
                     0);
    assert_int_not_equal(router_check_config(conf, out, sizeof(out)), 0);
    snprintf(want, sizeof(want), "%s:4: ", conf);
    if (!strstr(out, want) || !strstr(out, "passthrough"))
        fail_msg("passthrough with a certificate: want \"%s...passthrough...\", got: %s", want,
                 out);
    text = read_file(ca.key);
    assert_non_null(text);
    assert_int_equal(write_file(key, "%s", text), 0);
    free(text);
    assert_int_equal(chmod(key, 0644), 0);
    assert_int_equal(write_file(conf,
                                "global\n"
                                "    maxconn 100\n"
                                "listen tls\n"
                                "    bind 127.0.0.1:%d ssl crt %s key %s\n"
                                "    server master 127.0.0.1:%d\n",
                                tls_port, ca.cert, key, cluster_port("master")),
                     0);
    assert_int_not_equal(router_check_config(conf, out, sizeof(out)), 0);
    if (!strstr(out, want) || !strstr(out, "readable by others"))
        fail_msg("a key readable by others: want \"%s...readable by others\", got: %s", want, out);
    for (int i = 0; i < 2; i++) {
        static const char *const kw[] = {"ciphers", "ciphersuites"};
        static const char *const said[] = {"bad cipher list", "bad TLS 1.3 cipher suite list"};

        assert_int_equal(write_file(conf,
                                    "global\n"
                                    "    maxconn 100\n"
                                    "listen tls\n"
                                    "    bind 127.0.0.1:%d ssl crt %s %s NO-SUCH-CIPHER\n"
                                    "    server master 127.0.0.1:%d\n",
                                    tls_port, ca.combined, kw[i], cluster_port("master")),
                         0);
        assert_int_not_equal(router_check_config(conf, out, sizeof(out)), 0);
        if (!strstr(out, want) || !strstr(out, said[i]))
            fail_msg("%s NO-SUCH-CIPHER: want \"%s...%s\", got: %s", kw[i], want, said[i], out);
    }
}

/* ---- reload ---- */

/* Write the config for test_reload_certificate with the listen's `ssl crt` part. */
static void write_reload_conf(const char *crt_part)
{
    assert_int_equal(write_file(fx.conf,
                                "# written by test_tls.c\n"
                                "global\n"
                                "    health-log file %s\n"
                                "    admin 127.0.0.1:%d user admin password \"%s\"\n"
                                "    stats 127.0.0.1:%d\n"
                                "defaults\n"
                                "    check mysql user rebound_check password \"check-pass\"\n"
                                "    inter 60s  rise 1  fall 3  timeout check 3s\n"
                                "listen rw\n"
                                "    bind 127.0.0.1:%d\n"
                                "    server master 127.0.0.1:%d check\n"
                                "listen tls\n"
                                "    bind 127.0.0.1:%d ssl %s\n"
                                "    server master 127.0.0.1:%d check\n",
                                fx.health_log, fx.admin_port, ADMIN_PW, stats_port, fx.rw_port,
                                cluster_port("master"), tls_port, crt_part, cluster_port("master")),
                     0);
}

/* SIGHUP; true once the router's output holds expect (after the signal). */
static bool reload(const char *expect)
{
    long from = file_size(fx.router.err);

    kill(fx.router.pid, SIGHUP);
    return wait_for_file_line_from(fx.router.err, from, expect, WAIT_MS);
}

/* A reload to another certificate: new sessions get it, a session opened before goes on over
 * its TLS. A reload naming a missing certificate is refused with the bind line's file:line, and
 * the certificate in use stays. */
static void test_reload_certificate(void **state)
{
    char part[1200], want[1200];
    MYSQL *old;
    int line;

    (void)state;
    snprintf(part, sizeof(part), "crt %s key %s", ca.cert, ca.key);
    write_reload_conf(part);
    assert_int_equal(router_start(&fx.router, fx.conf, fx.rw_port), 0);
    expect_certificate(tls_port, "rebound-test");
    old = hold_session(tls_port, "app", "app-pass", true);
    expect_sides(old, true, true, "before the reload");

    snprintf(part, sizeof(part), "crt %s", ca.combined2);
    write_reload_conf(part);
    if (!reload("reloaded")) {
        fprintf(stderr, "%s", read_file(fx.router.err));
        fail_msg("no \"reloaded\" in rebound's output");
    }
    expect_certificate(tls_port, "rebound-test-2");
    expect_sides(old, true, true, "the session opened before the reload");
    expect_sides(hold_session(tls_port, "app", "app-pass", true), true, true,
                 "a session after the reload");

    snprintf(part, sizeof(part), "crt %s.missing", ca.combined);
    write_reload_conf(part);
    line = conf_line("ssl crt");
    snprintf(want, sizeof(want),
             "reload failed, keeping the running configuration: %s:%d:", fx.conf, line);
    if (!reload(want)) {
        fprintf(stderr, "%s", read_file(fx.router.err));
        fail_msg("no \"%s\" in rebound's output", want);
    }
    expect_certificate(tls_port, "rebound-test-2");
    expect_sides(old, true, true, "the first session, after the refused reload");
    expect_router_alive();
}

/* ---- passive observation of terminated sessions ---- */

/* Wait (bounded) until the master of listen tls passed its first check (until then one failure
 * takes it DOWN, and on-error would not start from the top). */
static void wait_checked(void)
{
    int64_t deadline = now_ms() + WAIT_MS;

    while (fixture_admin_int(&fx, "SELECT COUNT(*) FROM servers WHERE listener = 'tls' AND "
                                  "check_status <> 'L7OK'") > 0) {
        if (now_ms() >= deadline) {
            fixture_dump_log(&fx);
            fail_msg("tls/master has not passed its first check after %d ms", WAIT_MS);
        }
        sleep_ms(50);
    }
}

/* The observation config: listen tls (TLS clients, server link as given) with observe layer7
 * error-limit 3 on-error `on_error`. */
static void start_observing(const char *server_opts, const char *on_error)
{
    char tuning[128];

    snprintf(tuning, sizeof(tuning), "    observe layer7  error-limit %d  on-error %s\n",
             ERROR_LIMIT, on_error);
    start_router(tuning,
                 "listen tls\n"
                 "    bind 127.0.0.1:%d ssl crt %s\n"
                 "    server master 127.0.0.1:%d check %s\n",
                 tls_port, ca.combined, cluster_port("master"), server_opts);
    wait_checked();
}

/* Open n TLS sessions on the master and start SELECT SLEEP(secs) on each; their connection
 * ids into ids. Returns once the master runs every SLEEP. */
static void start_sleeps(MYSQL **ms, long long *ids, int n, int secs, bool server_tls)
{
    char sql[64], count[32], list[256] = "";
    int64_t deadline = now_ms() + WAIT_MS;

    snprintf(sql, sizeof(sql), "SELECT SLEEP(%d)", secs);
    for (int i = 0; i < n; i++) {
        ms[i] = hold_session(tls_port, "app", "app-pass", true);
        expect_sides(ms[i], true, server_tls, "observed session");
        ids[i] = client_query_int(ms[i], "SELECT CONNECTION_ID()");
        assert_true(ids[i] > 0);
        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%lld", i ? ", " : "", ids[i]);
        assert_int_equal(mysql_send_query(ms[i], sql, strlen(sql)), 0);
    }
    for (;;) {
        root_sql("master", count, sizeof(count),
                 "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID IN (%s) AND "
                 "INFO = '%s' AND STATE = 'User sleep'",
                 list, sql);
        if (atoi(count) == n)
            return;
        if (now_ms() >= deadline)
            fail_msg("%s runs on %s of %d sessions", sql, count, n);
        sleep_ms(20);
    }
}

/* Fail unless the query on m ended as it does in a plain session whose server went away: with
 * a lost connection (2013, or 2006), not a TLS error. A TLS client sees that only if rebound
 * ends its TLS with a close_notify, as it passes the server's end of stream on. */
static void expect_lost(MYSQL *m, int i)
{
    int err = mysql_read_query_result(m) ? (int)mysql_errno(m) : 0;

    if (err != CLIENT_LOST_ERROR && err != CLIENT_GONE_ERROR)
        fail_msg("session %d: query gave %d (%s), want a lost connection (2013) as in a plain "
                 "session%s",
                 i, err, mysql_error(m),
                 err == 2026 ? ": rebound closed the client's TLS without close_notify" : "");
}

/* Fail unless the master went DOWN by traffic (error-limit events), the last of them one of
 * `last` (alternatives separated by '|'), and its observed_errors says so. */
static void expect_down_by_traffic(const char *last)
{
    char want[256], alts[256], *line, *alt, *save = NULL;
    long long observed;
    bool ok = false;

    snprintf(want, sizeof(want),
             "Server tls/master is DOWN, reason: Health analyze, info: \"%d consecutive errors in "
             "traffic, last: ",
             ERROR_LIMIT);
    fixture_expect_line(&fx, 0, want, WAIT_MS);
    line = read_file(fx.health_log);
    assert_non_null(line);
    snprintf(alts, sizeof(alts), "%s", last);
    for (alt = strtok_r(alts, "|", &save); alt && !ok; alt = strtok_r(NULL, "|", &save)) {
        char full[512];
        snprintf(full, sizeof(full), "%s%s", want, alt);
        ok = strstr(line, full) != NULL;
    }
    free(line);
    if (!ok) {
        fixture_dump_log(&fx);
        fail_msg("the DOWN line's last event is none of: %s", last);
    }
    observed = fixture_admin_int(
        &fx, "SELECT observed_errors FROM servers WHERE listener = 'tls' AND name = 'master'");
    if (observed != ERROR_LIMIT) {
        fixture_dump_log(&fx);
        fail_msg("observed_errors of tls/master is %lld, want %d", observed, ERROR_LIMIT);
    }
}

/* KILL CONNECTION on the master of TLS sessions (TLS to the master too) whose query runs: the
 * master closes each without an answer, as in the plain test (test_observation.c), and each
 * counts as "closed during a response". */
static void test_observe_killed_queries(void **state)
{
    MYSQL *ms[ERROR_LIMIT];
    long long ids[ERROR_LIMIT];

    (void)state;
    start_observing("", "mark-down");
    start_sleeps(ms, ids, ERROR_LIMIT, 30, true);
    for (int i = 0; i < ERROR_LIMIT; i++)
        root_sql("master", NULL, 0, "KILL CONNECTION %lld", ids[i]);
    expect_down_by_traffic("closed during a response");
    for (int i = 0; i < ERROR_LIMIT; i++)
        expect_lost(ms[i], i);
}

/* kill -9 of the master under TLS sessions (plain to the master: no-ssl) running SELECT
 * SLEEP(10): the kernel closes the master's sockets, each session sees its answer cut, and the
 * master is DOWN by traffic long before a check would notice. */
static void test_observe_master_killed(void **state)
{
    MYSQL *ms[ERROR_LIMIT];
    long long ids[ERROR_LIMIT];

    (void)state;
    start_observing("no-ssl", "mark-down");
    start_sleeps(ms, ids, ERROR_LIMIT, 10, false);
    assert_int_equal(cluster_kill9("master"), 0);
    expect_down_by_traffic("closed during a response|connection reset");
    for (int i = 0; i < ERROR_LIMIT; i++)
        expect_lost(ms[i], i);
}

/* ERR 1290 (read-only) answers inside terminated TLS sessions count as in a plain one: with
 * the default on-error (one failed check). Unlike passthrough TLS, which is layer 4 only. */
static void test_observe_server_error(void **state)
{
    MYSQL *m;

    (void)state;
    start_observing("", "fail-check");
    m = hold_session(tls_port, "app", "app-pass", true);
    expect_sides(m, true, true, "observed session");
    fixture_set_global(&fx, "master", "read_only", "1");
    for (int i = 0; i < ERROR_LIMIT; i++) {
        int err = client_query(m, "INSERT INTO obs VALUES (100, 0)");
        if (err != 1290)
            fail_msg("INSERT #%d gave %d (%s), want 1290", i, err, err ? client_error() : "ok");
    }
    fixture_expect_line(&fx, 0,
                        "Health check for server tls/master failed, reason: Health analyze, "
                        "info: \"3 consecutive errors in traffic, last: server error (error "
                        "1290, server is read-only)\"",
                        WAIT_MS);
}

/* A fake MySQL server on its own thread: greets (mysql_native_password, no TLS), accepts any
 * login, answers every command with OK, quits on COM_QUIT; when the test sets `fire`, it sends
 * each logged-in connection at rest an ERR 1053 (server shutdown) with sequence id 0, out of
 * band, and closes it: what a server going down says to its clients. */
#define OOB_MAX_CONN 16

struct oob_conn {
    int fd; /* -1: free */
    bool authed;
    size_t len;
    unsigned char buf[1024];
};

struct oob_server {
    int lfd;
    atomic_bool stop;
    atomic_bool fire; /* set by the test: send the ERRs now */
    atomic_int sent;  /* out-of-band ERRs sent */
    pthread_t thread;
    bool running;
    struct oob_conn conns[OOB_MAX_CONN];
};

static struct oob_server oob;

/* One packet (header + payload) on fd. */
static void oob_packet(int fd, uint8_t seq, const void *payload, size_t len)
{
    unsigned char buf[256];

    if (len + 4 > sizeof(buf))
        return;
    buf[0] = (unsigned char)len;
    buf[1] = (unsigned char)(len >> 8);
    buf[2] = (unsigned char)(len >> 16);
    buf[3] = seq;
    memcpy(buf + 4, payload, len);
    send_all(fd, buf, len + 4);
}

static void oob_greet(int fd)
{
    static const unsigned char g[] =
        "\x0a"
        "5.7.99-fake\0"
        "\x01\x00\x00\x00"
        "abcdefgh\0"
        "\x0d\xa2" /* LONG_PASSWORD LONG_FLAG CONNECT_WITH_DB PROTOCOL_41 TRANSACTIONS SECURE */
        "\x21\x02\x00"
        "\x0b\x00" /* MULTI_STATEMENTS MULTI_RESULTS PLUGIN_AUTH */
        "\x15"
        "\0\0\0\0\0\0\0\0\0\0"
        "ijklmnopqrst\0"
        "mysql_native_password";

    oob_packet(fd, 0, g, sizeof(g)); /* the final NUL ends the plugin name */
}

/* Handle the whole packets c holds; false when the connection is done. */
static bool oob_packets(struct oob_conn *c)
{
    static const unsigned char ok[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
    size_t plen;

    while (c->len >= 4 &&
           c->len >= 4 + (plen = c->buf[0] | c->buf[1] << 8 | (size_t)c->buf[2] << 16)) {
        if (!c->authed) {
            oob_packet(c->fd, (uint8_t)(c->buf[3] + 1), ok, sizeof(ok));
            c->authed = true;
        } else if (plen >= 1 && c->buf[4] == 0x01) {
            return false; /* COM_QUIT */
        } else {
            oob_packet(c->fd, 1, ok, sizeof(ok));
        }
        c->len -= plen + 4;
        memmove(c->buf, c->buf + plen + 4, c->len);
    }
    return c->len < sizeof(c->buf);
}

static void oob_close(struct oob_conn *c)
{
    close(c->fd);
    c->fd = -1;
}

/* Send the ERR to every logged-in connection and close it. */
static void oob_fire(struct oob_server *f)
{
    static const unsigned char err[] = "\xff\x1d\x04#08S01Server shutdown in progress";

    for (int i = 0; i < OOB_MAX_CONN; i++) {
        struct oob_conn *c = &f->conns[i];
        if (c->fd < 0 || !c->authed)
            continue;
        oob_packet(c->fd, 0, err, sizeof(err) - 1);
        atomic_fetch_add(&f->sent, 1);
        oob_close(c);
    }
}

static void *oob_run(void *arg)
{
    struct oob_server *f = arg;
    struct pollfd p[OOB_MAX_CONN + 1];
    ssize_t n;

    while (!atomic_load(&f->stop)) {
        if (atomic_exchange(&f->fire, false))
            oob_fire(f);
        p[0] = (struct pollfd){.fd = f->lfd, .events = POLLIN};
        for (int i = 0; i < OOB_MAX_CONN; i++)
            p[i + 1] = (struct pollfd){.fd = f->conns[i].fd, .events = POLLIN};
        if (poll(p, OOB_MAX_CONN + 1, 20) <= 0)
            continue;
        for (int i = 0; i < OOB_MAX_CONN; i++) {
            struct oob_conn *c = &f->conns[i];
            if (c->fd < 0 || !(p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
            if (n > 0)
                c->len += (size_t)n;
            if (n <= 0 || !oob_packets(c))
                oob_close(c);
        }
        if (p[0].revents & POLLIN) {
            int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC), i;
            for (i = 0; fd >= 0 && i < OOB_MAX_CONN && f->conns[i].fd >= 0; i++)
                ;
            if (fd >= 0 && i == OOB_MAX_CONN) {
                close(fd);
            } else if (fd >= 0) {
                f->conns[i] = (struct oob_conn){.fd = fd};
                oob_greet(fd);
            }
        }
    }
    for (int i = 0; i < OOB_MAX_CONN; i++)
        if (f->conns[i].fd >= 0)
            oob_close(&f->conns[i]);
    return NULL;
}

static void oob_stop(void)
{
    if (!oob.running)
        return;
    atomic_store(&oob.stop, true);
    pthread_join(oob.thread, NULL);
    oob.running = false;
}

static void oob_start(int port)
{
    memset(&oob, 0, sizeof(oob));
    for (int i = 0; i < OOB_MAX_CONN; i++)
        oob.conns[i].fd = -1;
    oob.lfd = fixture_keep_fd(&fx, loopback_listen(port, 16));
    fx.stop_peers = oob_stop;
    assert_int_equal(pthread_create(&oob.thread, NULL, oob_run, &oob), 0);
    oob.running = true;
}

/* An ERR 1053 the server sends out of band (sessions at rest, sequence id 0) counts by its
 * number, in terminated TLS sessions as in plain ones: error-limit sessions, all logged in and
 * answered first (a normal answer breaks a run of errors), take a plain listen's and a TLS
 * listen's server DOWN alike. */
static void test_observe_out_of_band_error(void **state)
{
    static const char *const listens[2] = {"plain", "tls"};
    int port = free_port();

    (void)state;
    oob_start(port);
    start_router("",
                 "listen plain\n"
                 "    bind 127.0.0.1:%d\n"
                 "    server fake 127.0.0.1:%d check observe layer7 error-limit %d on-error "
                 "mark-down\n"
                 "listen tls\n"
                 "    bind 127.0.0.1:%d ssl crt %s required\n"
                 "    server fake 127.0.0.1:%d check observe layer7 error-limit %d on-error "
                 "mark-down\n",
                 ports[0], port, ERROR_LIMIT, tls_port, ca.combined, port, ERROR_LIMIT);
    for (int l = 0; l < 2; l++) {
        char want[256];
        int sent = atomic_load(&oob.sent);
        for (int i = 0; i < ERROR_LIMIT; i++) {
            MYSQL *m = hold_session(l ? tls_port : ports[0], "app", "app-pass", l == 1);
            assert_int_equal(!!mysql_get_ssl_cipher(m), l == 1);
            assert_int_equal(client_query(m, "SELECT 1"), 0);
        }
        atomic_store(&oob.fire, true);
        for (int64_t end = now_ms() + WAIT_MS;
             atomic_load(&oob.sent) < sent + ERROR_LIMIT && now_ms() < end;)
            sleep_ms(10);
        /* A health check logged in at that moment gets one too: at least. */
        assert_true(atomic_load(&oob.sent) >= sent + ERROR_LIMIT);
        snprintf(want, sizeof(want),
                 "Server %s/fake is DOWN, reason: Health analyze, info: \"%d consecutive errors in "
                 "traffic, last: server error (error 1053",
                 listens[l], ERROR_LIMIT);
        fixture_expect_line(&fx, 0, want, WAIT_MS);
        assert_int_equal(fixture_admin_int(&fx,
                                           "SELECT observed_errors FROM servers WHERE listener = "
                                           "'%s' AND name = 'fake'",
                                           listens[l]),
                         ERROR_LIMIT);
        fixture_close_held(&fx);
    }
}

/* ---- hostile TLS clients ---- */

/* The hostile tests' router: listen tls (preferred) whose master goes DOWN at the first error
 * counted against it; `handshake` is its timeout handshake. */
static long long start_hostile(const char *handshake)
{
    start_router("    observe layer7  error-limit 1  on-error mark-down\n",
                 "listen tls\n"
                 "    bind 127.0.0.1:%d ssl crt %s\n"
                 "    timeout handshake %s\n"
                 "    server master 127.0.0.1:%d check\n",
                 tls_port, ca.combined, handshake, cluster_port("master"));
    wait_checked();
    return master_errors("tls");
}

/* Garbage instead of a ClientHello after the SSL request: the handshake fails (counted on the
 * client side), rebound closes, nothing counts against the master. */
static void test_hostile_garbage_for_client_hello(void **state)
{
    unsigned char junk[512];
    long long before;
    double failures;
    int fd;

    (void)state;
    before = start_hostile("30s");
    failures = metric("rebound_tls_handshake_failures_total", "side=\"client\"");
    for (int round = 0; round < 3; round++) {
        fd = raw_greeted(tls_port);
        send_ssl_request(fd);
        for (size_t i = 0; i < sizeof(junk); i++)
            junk[i] = (unsigned char)(i * 37 + round * 11 + 5);
        junk[0] = round == 0 ? 0x16 : junk[0]; /* once as a handshake record of nonsense */
        send_all(fd, junk, sizeof(junk));
        expect_closed(fd, "garbage for a ClientHello");
    }
    expect_metric_above("rebound_tls_handshake_failures_total", "side=\"client\"", failures);
    expect_unharmed("tls", before, "after garbage for a ClientHello");
}

/* An empty packet (a header saying 0 bytes) where the login starts: rebound closes at once, and
 * nothing counts against the master. Every other bound is an hour away (`timeout handshake`, the
 * master's connect_timeout, which would otherwise end a session left waiting after 10 s), so
 * a session rebound left waiting for more would outlive the test's wait. */
static void test_hostile_empty_login_packet(void **state)
{
    static const unsigned char empty[4] = {0, 0, 0, 1};
    long long before;
    int fd;

    (void)state;
    before = start_hostile("1h");
    fixture_set_global(&fx, "master", "connect_timeout", "3600");
    fd = raw_greeted(tls_port);
    send_all(fd, empty, sizeof(empty));
    expect_closed(fd, "an empty login packet");
    expect_unharmed("tls", before, "after an empty login packet");
}

/* The SSL request, then nothing: `timeout handshake` (1s) closes the connection; a client
 * timeout is never the master's fault. */
static void test_hostile_stalled_handshake(void **state)
{
    long long before;
    int fd[3];

    (void)state;
    before = start_hostile("1s");
    for (int i = 0; i < 3; i++) {
        fd[i] = raw_greeted(tls_port);
        send_ssl_request(fd[i]);
    }
    for (int i = 0; i < 3; i++)
        expect_closed(fd[i], "stalled after the SSL request");
    /* Half a ClientHello, then silence: the same. */
    fd[0] = raw_greeted(tls_port);
    send_ssl_request(fd[0]);
    send_all(fd[0], "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
    expect_closed(fd[0], "stalled in the middle of the ClientHello");
    expect_unharmed("tls", before, "after stalled handshakes");
}

/* The SSL request, then the whole handshake response in clear, as a confused client would:
 * no TLS record, the handshake fails and rebound closes; not the master's fault. */
static void test_hostile_clear_login_after_ssl_request(void **state)
{
    unsigned char buf[512];
    long long before;
    size_t n;
    int fd;

    (void)state;
    before = start_hostile("30s");
    for (int i = 0; i < 3; i++) {
        fd = raw_greeted(tls_port);
        send_ssl_request(fd);
        n = make_login(buf, sizeof(buf), CAP_BASE | CAP_SSL, 2, "app", NULL, false);
        send_all(fd, buf, n);
        expect_closed(fd, "a login in clear after the SSL request");
    }
    expect_unharmed("tls", before, "after logins in clear");
}

/* A TLS client over a socket whose output leaves one byte per send() (TCP_NODELAY, a pause
 * between bytes): rebound sees every TLS record in pieces. */
struct slow_tls {
    int fd;
    SSL *ssl;
    BIO *in, *out; /* memory BIOs: what came from rebound, what goes to it */
};

/* Send what OpenSSL wrote, one byte at a time. */
static void slow_flush(struct slow_tls *t)
{
    unsigned char buf[4096];
    int n;

    while ((n = BIO_read(t->out, buf, sizeof(buf))) > 0) {
        for (int i = 0; i < n; i++) {
            send_all(t->fd, buf + i, 1);
            sleep_ms(1);
        }
    }
}

/* Read what rebound sent into the input BIO; false on EOF, error or WAIT_MS of silence. */
static bool slow_fill(struct slow_tls *t)
{
    unsigned char buf[4096];
    struct pollfd p = {.fd = t->fd, .events = POLLIN};
    ssize_t n;

    if (poll(&p, 1, WAIT_MS) != 1)
        return false;
    n = recv(t->fd, buf, sizeof(buf), 0);
    if (n <= 0)
        return false;
    return BIO_write(t->in, buf, (int)n) == (int)n;
}

/* One whole MySQL packet from the TLS stream into buf; its payload length, -1 on failure. */
static long slow_read_packet(struct slow_tls *t, unsigned char *buf, size_t size)
{
    size_t have = 0, want = 4;
    int n;

    while (have < want) {
        n = SSL_read(t->ssl, buf + have, (int)(want - have));
        if (n > 0) {
            have += (size_t)n;
            if (have == 4)
                want = 4 + (buf[0] | buf[1] << 8 | (size_t)buf[2] << 16);
            if (want > size)
                return -1;
            continue;
        }
        if (SSL_get_error(t->ssl, n) != SSL_ERROR_WANT_READ)
            return -1;
        slow_flush(t); /* a key update or the like */
        if (!slow_fill(t))
            return -1;
    }
    return (long)(want - 4);
}

static void slow_write(struct slow_tls *t, const void *buf, size_t len)
{
    assert_int_equal(SSL_write(t->ssl, buf, (int)len), (int)len);
    slow_flush(t);
}

/* mysql_native_password's answer to scramble for password. */
static void native_auth(const char *password, const unsigned char scramble[20],
                        unsigned char out[20])
{
    unsigned char h1[20], h2[20], h3[20], both[40];

    SHA1((const unsigned char *)password, strlen(password), h1);
    SHA1(h1, 20, h2);
    memcpy(both, scramble, 20);
    memcpy(both + 20, h2, 20);
    SHA1(both, 40, h3);
    for (int i = 0; i < 20; i++)
        out[i] = h1[i] ^ h3[i];
}

/* The whole TLS handshake, the login and a query, each written one byte at a time, with the
 * TLS 1.2 and TLS 1.3 handshakes: rebound reassembles every record. */
static void test_hostile_byte_by_byte(void **state)
{
    static const char *const versions[] = {"TLSv1.2", "TLSv1.3"};
    unsigned char g[1024], scramble[20], auth[20], buf[1024];
    struct sockaddr_in sa;
    struct timeval tv = {.tv_sec = CLIENT_S};
    long long before;
    long len;
    size_t vlen, n;
    int one = 1;

    (void)state;
    before = start_hostile("30s");
    for (int v = 0; v < 2; v++) {
        struct slow_tls t = {.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        int ver = v == 0 ? TLS1_2_VERSION : TLS1_3_VERSION;
        bool found = false;

        fixture_keep_fd(&fx, t.fd);
        assert_non_null(ctx);
        SSL_CTX_set_min_proto_version(ctx, ver);
        SSL_CTX_set_max_proto_version(ctx, ver);
        assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca.ca, NULL), 1);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        t.ssl = SSL_new(ctx);
        t.in = BIO_new(BIO_s_mem());
        t.out = BIO_new(BIO_s_mem());
        SSL_set_bio(t.ssl, t.in, t.out);
        SSL_set_connect_state(t.ssl);
        setsockopt(t.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(t.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        sa = loopback_addr(tls_port);
        assert_int_equal(connect(t.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        len = read_packet(t.fd, g, sizeof(g), WAIT_MS);
        assert_true(len > 40 && g[4] == 0x0a);
        /* protocol, version NUL, connection id, scramble 1 (8), filler, flags, charset, status,
         * flags, auth length, 10 reserved, scramble 2 (12 + NUL) */
        vlen = strlen((char *)g + 5);
        memcpy(scramble, g + 5 + vlen + 1 + 4, 8);
        memcpy(scramble + 8, g + 5 + vlen + 1 + 4 + 9 + 2 + 1 + 2 + 2 + 1 + 10, 12);
        n = make_login(buf, sizeof(buf), CAP_BASE | CAP_SSL, 1, "", NULL, true);
        for (size_t i = 0; i < n; i++) {
            send_all(t.fd, buf + i, 1);
            sleep_ms(1);
        }
        for (;;) {
            int r = SSL_do_handshake(t.ssl);
            slow_flush(&t);
            if (r == 1)
                break;
            if (SSL_get_error(t.ssl, r) != SSL_ERROR_WANT_READ || !slow_fill(&t)) {
                ERR_print_errors_fp(stderr);
                fail_msg("%s handshake byte by byte failed", versions[v]);
            }
        }
        assert_string_equal(SSL_get_version(t.ssl), versions[v]);
        native_auth("app-pass", scramble, auth);
        n = make_login(buf, sizeof(buf), CAP_BASE | CAP_SSL, 2, "app", auth, false);
        slow_write(&t, buf, n);
        len = slow_read_packet(&t, buf, sizeof(buf));
        if (len < 1 || buf[4] != 0x00)
            fail_msg("%s login byte by byte: %ld bytes, first 0x%02x (ERR %d: %.80s)", versions[v],
                     len, len > 0 ? buf[4] : 0, len > 2 ? buf[5] | buf[6] << 8 : 0,
                     len > 9 ? (char *)buf + 13 : "");
        n = 4 + 1 + strlen("SELECT 12345");
        memcpy(buf, "\x0d\x00\x00\x00\x03SELECT 12345", n);
        slow_write(&t, buf, n);
        for (int i = 0; i < 8 && !found; i++) {
            len = slow_read_packet(&t, buf, sizeof(buf));
            assert_true(len > 0);
            found = len == 6 && memcmp(buf + 4,
                                       "\x05"
                                       "12345",
                                       6) == 0;
        }
        if (!found)
            fail_msg("%s: no row 12345 in the answer to a query written byte by byte", versions[v]);
        memcpy(buf, "\x01\x00\x00\x00\x01", 5); /* COM_QUIT */
        slow_write(&t, buf, 5);
        SSL_free(t.ssl);
        SSL_CTX_free(ctx);
        fixture_close_fd(&fx, t.fd);
    }
    expect_unharmed("tls", before, "after logins byte by byte");
}

/* Replace the socket under m by an unconnected one, so that the real one closes (FIN) with no
 * TLS close_notify and no COM_QUIT, and mysql_close() later touches nothing real. */
static void close_under(MYSQL *m)
{
    int fd = (int)mysql_get_socket(m), spare = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(spare >= 0);
    assert_true(dup2(spare, fd) == fd);
    close(spare);
}

/* TLS sessions that end without close_notify: one idle, one while its query runs, one with a
 * TCP reset. Not the master's fault; rebound closes both sides. */
static void test_hostile_close_without_close_notify(void **state)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    long long before;
    MYSQL *idle, *busy, *reset;

    (void)state;
    before = start_hostile("30s");
    idle = hold_session(tls_port, "app", "app-pass", true);
    busy = hold_session(tls_port, "app", "app-pass", true);
    reset = hold_session(tls_port, "app", "app-pass", true);
    expect_sides(idle, true, true, "idle session");
    assert_int_equal(client_query(busy, "SELECT 1"), 0);
    assert_int_equal(mysql_send_query(busy, "SELECT SLEEP(3)", 15), 0);
    assert_int_equal(mysql_send_query(reset, "SELECT SLEEP(3)", 15), 0);
    close_under(idle);
    close_under(busy);
    setsockopt((int)mysql_get_socket(reset), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close_under(reset);
    expect_unharmed("tls", before, "after closes without close_notify");
}

/* ---- drivers ---- */

/* The drivers' router: listen tls requires TLS, TLS to the master as the client did. */
static void start_required(void)
{
    start_router("",
                 "listen tls\n"
                 "    bind 127.0.0.1:%d ssl crt %s required\n"
                 "    server master 127.0.0.1:%d check\n",
                 tls_port, ca.combined, cluster_port("master"));
}

/* Run a driver (argv[0] a path); its exit status, its output printed and in out. */
static int run_driver(char *const argv[], char *out, size_t size)
{
    int rc = run_command(argv, out, size, DRIVER_MS);

    printf("    %s: exit %d\n%s", argv[0], rc, out);
    return rc;
}

/* Skip (cmocka) the running test when program is missing: the runtime of a driver. */
static void need_program(const char *program)
{
    if (access(program, X_OK) != 0) {
        printf("    SKIPPED: %s is missing (scripts/deps.sh installs it)\n", program);
        skip();
    }
}

/* A driver script of tests/drivers, as an absolute path into buf. */
static char *driver_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/tests/drivers/%s", harness_root(), name);
    return buf;
}

/* The mariadb command-line client, verifying rebound's certificate (--ssl-verify-server-cert). */
static void test_driver_mariadb_cli(void **state)
{
    char port[32], ca_arg[600], out[8192];
    char *argv[] = {"/usr/bin/mariadb",
                    "-h127.0.0.1",
                    port,
                    "-uapp",
                    "-papp-pass",
                    ca_arg,
                    "--ssl-verify-server-cert",
                    "-N",
                    "-B",
                    "-e",
                    "SELECT CONCAT('one=', 1); SHOW STATUS LIKE 'Ssl_version'",
                    NULL};

    (void)state;
    need_program(argv[0]);
    start_required();
    snprintf(port, sizeof(port), "-P%d", tls_port);
    snprintf(ca_arg, sizeof(ca_arg), "--ssl-ca=%s", ca.ca);
    assert_int_equal(run_driver(argv, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "one=1"));
    assert_non_null(strstr(out, "Ssl_version\tTLSv1."));
}

/* PHP mysqli (mysqlnd): tests/drivers/tls_select.php. */
static void test_driver_php_mysqli(void **state)
{
    char script[PATH_MAX], port[16], out[8192];
    char *argv[] = {"/usr/bin/php", script, port, "app", "app-pass", ca.ca, NULL};

    (void)state;
    need_program(argv[0]);
    start_required();
    driver_path(script, sizeof(script), "tls_select.php");
    snprintf(port, sizeof(port), "%d", tls_port);
    assert_int_equal(run_driver(argv, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "mysqli tls: ok"));
}

/* node mysql2 (node's TLS): tests/drivers/tls_select.js, mysql2 installed into the build
 * directory now (tests/drivers/mysql2_install.sh). */
static void test_driver_node_mysql2(void **state)
{
    char bin[PATH_MAX], dir[PATH_MAX + 16], env[PATH_MAX + 48], port[16], out[16384];
    char install[PATH_MAX], script[PATH_MAX], node[PATH_MAX];
    char *inst_argv[] = {install, dir, NULL};
    char *argv[] = {"/usr/bin/env", env, node, script, port, "app", "app-pass", ca.ca, NULL};
    int rc;

    (void)state;
    if (!find_program("node", node, sizeof(node))) {
        printf("    SKIPPED: node is missing (scripts/deps.sh installs nodejs)\n");
        skip();
    }
    if (!realpath(router_bin(), bin))
        fail_msg("no router binary at %s", router_bin());
    snprintf(dir, sizeof(dir), "%s/drivers", dirname(bin));
    driver_path(install, sizeof(install), "mysql2_install.sh");
    rc = run_driver(inst_argv, out, sizeof(out));
    if (rc == SKIPPED) {
        printf("    SKIPPED: the npm registry cannot be reached to install mysql2\n");
        skip();
    }
    assert_int_equal(rc, 0);
    start_required();
    driver_path(script, sizeof(script), "tls_select.js");
    snprintf(env, sizeof(env), "NODE_PATH=%s/node_modules", dir);
    snprintf(port, sizeof(port), "%d", tls_port);
    assert_int_equal(run_driver(argv, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "mysql2 tls: ok"));
}

/* MariaDB Connector/J (Java's TLS): tests/drivers/TlsSelect.java, compiled next to this test
 * binary. */
static void test_driver_connector_j(void **state)
{
    static const char jar[] = "/usr/share/java/mariadb-java-client.jar";
    char self[PATH_MAX], classes[PATH_MAX + 16], source[PATH_MAX], cp[2 * PATH_MAX + 64];
    char port[16], out[16384];
    char *javac[] = {"/usr/bin/javac", "-d", classes, source, NULL};
    char *java[] = {"/usr/bin/java", "-cp", cp, "TlsSelect", port, "app", "app-pass", ca.ca, NULL};

    (void)state;
    need_program(javac[0]);
    need_program(java[0]);
    if (access(jar, R_OK) != 0) {
        printf("    SKIPPED: %s is missing (scripts/deps.sh installs libmariadb-java)\n", jar);
        skip();
    }
    assert_non_null(realpath("/proc/self/exe", self));
    snprintf(classes, sizeof(classes), "%s/drivers", dirname(self));
    driver_path(source, sizeof(source), "TlsSelect.java");
    assert_int_equal(run_driver(javac, out, sizeof(out)), 0);
    start_required();
    snprintf(cp, sizeof(cp), "%s:%s", classes, jar);
    snprintf(port, sizeof(port), "%d", tls_port);
    assert_int_equal(run_driver(java, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "connector/j tls: ok"));
}

/* PyMySQL (Python's ssl module): tests/drivers/tls_select.py, with the system's python3 (where
 * scripts/deps.sh installs python3-pymysql). */
static void test_driver_pymysql(void **state)
{
    char script[PATH_MAX], port[16], out[8192];
    char *probe[] = {"/usr/bin/python3", "-c", "import pymysql", NULL};
    char *argv[] = {"/usr/bin/python3", script, port, "app", "app-pass", ca.ca, NULL};

    (void)state;
    need_program(argv[0]);
    if (run_command(probe, out, sizeof(out), DRIVER_MS) != 0) {
        printf("    SKIPPED: PyMySQL is missing (scripts/deps.sh installs python3-pymysql)\n");
        skip();
    }
    start_required();
    driver_path(script, sizeof(script), "tls_select.py");
    snprintf(port, sizeof(port), "%d", tls_port);
    assert_int_equal(run_driver(argv, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "pymysql tls: ok"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_combinations_native, setup, teardown),
        cmocka_unit_test_setup_teardown(test_combinations_ed25519, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_ssl_listen_passes_tls_through, setup, teardown),
        cmocka_unit_test_setup_teardown(test_required_refuses_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_min_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ciphers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_resumption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_verify_and_client_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s_client_sees_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s_client_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_certificate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observe_killed_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observe_master_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observe_server_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observe_out_of_band_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_garbage_for_client_hello, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_empty_login_packet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_stalled_handshake, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_clear_login_after_ssl_request, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hostile_byte_by_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_close_without_close_notify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_mariadb_cli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_php_mysqli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_node_mysql2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_connector_j, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_pymysql, setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, harness_group_teardown);
}
