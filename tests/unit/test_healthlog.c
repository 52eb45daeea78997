/* test_healthlog.c - unit tests for the health log: the text and JSON lines, the ring,
 * syslog datagrams (RFC 3164 and RFC 5424, over a unix socket and UDP, their PRI), drops
 * on a full or missing socket, reopening a file after logrotate, and the parsing of the
 * global keywords health-log, health-log-format and health-log-ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <regex.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "conf.h"
#include "healthlog.h"
#include "syslog_sink.h"

#define TS_RE "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"
#define MONTH_RE                                                                                   \
    "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [ 123][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}"

static char dir[64]; /* a fresh directory for the files and sockets of the tests */

/* --- helpers --- */

static void pathf(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", dir, name);
}

/* A configuration with GLOBAL_LINES in its global section and a minimal listen. */
static struct conf *parse_global(const char *global_lines, char *err, size_t errlen)
{
    char text[4096];

    snprintf(text, sizeof(text),
             "global\n%s\nlisten rw\n    bind 127.0.0.1:1\n    server master 127.0.0.1:2\n",
             global_lines);
    return conf_parse(text, "t.conf", err, errlen);
}

/* Parse GLOBAL_LINES and open the health log with them; the conf is freed (the health
 * log keeps what it needs). */
static void open_with(const char *global_lines)
{
    char err[512] = "";
    struct conf *c = parse_global(global_lines, err, sizeof(err));

    if (!c)
        fail_msg("config rejected: %s", err);
    assert_int_equal(healthlog_open(c), 0);
    conf_free(c);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    static char buf[65536];
    size_t n;

    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void assert_matches(const char *s, const char *re)
{
    regex_t rx;

    assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    if (regexec(&rx, s, 0, NULL, 0) != 0) {
        regfree(&rx);
        fail_msg("\"%s\"\ndoes not match\n%s", s, re);
    }
    regfree(&rx);
}

/* A copy of line N (0 = first) of TEXT with its newline, NULL if there is none. */
static char *nth_line(const char *text, int n, char *out, size_t len)
{
    const char *end;

    while (n-- > 0 && text)
        text = (text = strchr(text, '\n')) ? text + 1 : NULL;
    if (!text || !(end = strchr(text, '\n')) || (size_t)(end - text) + 2 > len)
        return NULL;
    memcpy(out, text, (size_t)(end - text) + 1);
    out[end - text + 1] = '\0';
    return out;
}

/* RE with the regex characters of S escaped, appended to BUF. */
static void re_quote(char *buf, size_t len, const char *s)
{
    size_t n = strlen(buf);

    for (; *s && n + 3 < len; s++) {
        if (strchr("\\.[]()*+?{}|^$", *s))
            buf[n++] = '\\';
        buf[n++] = *s;
    }
    buf[n] = '\0';
}

static struct check_result result(enum check_status st, int code, const char *info, unsigned ms)
{
    struct check_result r = {.status = st, .code = code, .duration_ms = ms};

    snprintf(r.info, sizeof(r.info), "%s", info);
    return r;
}

/* Emit the failed-check line of server.c for rw/master, status 1/3 UP. */
static void emit_failed_check(const struct check_result *r)
{
    struct hl_event ev = {
        .kind = HL_CHECK, .server = "rw/master", .listener = "rw", .result = r, .state = "1/3 UP"};
    char res[256];

    healthlog_format_result(res, sizeof(res), r);
    healthlog_emit(&ev, "Health check for server %s failed, %s, status: %s.", "rw/master", res,
                   "1/3 UP");
}

static const char failed_line[] =
    "Health check for server rw/master failed, reason: Layer4 connection problem, info: "
    "\"Connection refused\", check duration: 0ms, status: 1/3 UP.";

/* A unix datagram socket bound at DIR/NAME. */
static int unix_receiver(const char *name, char *path, size_t len)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    pathf(path, len, name);
    unlink(path);
    snprintf(un.sun_path, sizeof(un.sun_path), "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&un, sizeof(un)), 0);
    return fd;
}

/* A UDP socket bound to port 0 of the loopback address; its port in *PORT. */
static int udp_receiver(int family, unsigned *port)
{
    struct sockaddr_storage ss = {.ss_family = (sa_family_t)family};
    socklen_t len = family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
    else
        ((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len)) {
        close(fd);
        return -1;
    }
    *port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                     : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* The next datagram on FD (waiting at most a second), NUL-terminated. */
static char *recv_dgram(int fd)
{
    static char buf[4096];
    struct timeval tv = {.tv_sec = 1};
    ssize_t n;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    if (n < 0)
        fail_msg("no datagram: %s", strerror(errno));
    buf[n] = '\0';
    return buf;
}

/* --- a minimal JSON reader: one flat object of strings, integers and null --- */

/* A value read back: its type and, for strings, the unescaped text. */
struct jval {
    char type; /* 's' string, 'n' number, '0' null */
    char s[2048];
    long long n;
};

/* The character a JSON escape \C stands for (\u aside), -1 if none. */
static int json_unescape(char c)
{
    switch (c) {
    case '"':
    case '\\':
    case '/':
        return c;
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    }
    return -1;
}

/* Read the JSON string at P into OUT (\ufffd back to UTF-8); the byte after it, or
 * NULL if P is not a valid string. */
static const char *json_str(const char *p, char *out, size_t len)
{
    size_t n = 0;
    unsigned cp;
    int c;

    if (*p++ != '"')
        return NULL;
    while (*p != '"') {
        c = (unsigned char)*p++;
        if (c < 0x20)
            return NULL; /* raw control characters are not JSON */
        if (c == '\\' && *p == 'u') {
            if (sscanf(p + 1, "%4x", &cp) != 1 || (cp >= 0x80 && cp != 0xfffd))
                return NULL;
            p += 5;
            if (cp == 0xfffd) {
                if (n + 3 < len) {
                    memcpy(out + n, "\xef\xbf\xbd", 3);
                    n += 3;
                }
                continue;
            }
            c = (int)cp;
        } else if (c == '\\' && (c = json_unescape(*p++)) < 0) {
            return NULL;
        }
        if (n + 1 < len)
            out[n++] = (char)c;
    }
    out[n] = '\0';
    return p + 1;
}

/* Parse LINE ("{...}\n"); fill V[i] for each key of KEYS found. Returns the number of
 * members, or -1 if LINE is not such an object. */
static int json_parse(const char *line, const char *const *keys, size_t nkeys, struct jval *v)
{
    const char *p = line;
    char key[64];
    int members = 0;

    if (*p++ != '{')
        return -1;
    for (;;) {
        struct jval tmp, *dst = &tmp;
        if (!(p = json_str(p, key, sizeof(key))) || *p++ != ':')
            return -1;
        for (size_t i = 0; i < nkeys; i++)
            if (!strcmp(key, keys[i]))
                dst = &v[i];
        if (*p == '"') {
            dst->type = 's';
            if (!(p = json_str(p, dst->s, sizeof(dst->s))))
                return -1;
        } else if (!strncmp(p, "null", 4)) {
            dst->type = '0';
            p += 4;
        } else {
            char *end;
            dst->type = 'n';
            dst->n = strtoll(p, &end, 10);
            if (end == p)
                return -1;
            p = end;
        }
        members++;
        if (*p == '}')
            break;
        if (*p++ != ',')
            return -1;
    }
    return strcmp(p, "}\n") ? -1 : members;
}

static const char *const jkeys[] = {"time", "event", "server", "listener",    "status", "reason",
                                    "code", "info",  "state",  "duration_ms", "line"};
enum {
    J_TIME,
    J_EVENT,
    J_SERVER,
    J_LISTENER,
    J_STATUS,
    J_REASON,
    J_CODE,
    J_INFO,
    J_STATE,
    J_DUR,
    J_LINE,
    J__COUNT
};

/* --- setup --- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/rebound-hl-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    char cmd[128];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int test_teardown(void **state)
{
    (void)state;
    healthlog_close();
    return 0;
}

/* --- lines --- */

static void test_text_line(void **state)
{
    struct check_result r = result(CHK_L4CON, 0, "Connection refused", 0);
    char path[128], cfg[256], re[1024] = "^" TS_RE " ";
    (void)state;

    pathf(path, sizeof(path), "text.log");
    snprintf(cfg, sizeof(cfg), "health-log file %s", path);
    open_with(cfg);
    emit_failed_check(&r);
    re_quote(re, sizeof(re), failed_line);
    strcat(re, "\n$");
    assert_matches(slurp(path), re);
}

/* Text a server controls cannot forge a line: a newline, a quote or a control character in
 * its version or error message comes out escaped, and the line stays one line. */
static void test_text_line_escapes_server_text(void **state)
{
    struct check_result r =
        result(CHK_L7STS, 1045, "denied\"\nServer rw/replica1 is UP, reason: x\r\x1b[2J\\", 3);
    char path[128], cfg[256], *text;
    (void)state;

    pathf(path, sizeof(path), "escape.log");
    snprintf(cfg, sizeof(cfg), "health-log file %s", path);
    open_with(cfg);
    emit_failed_check(&r);
    text = slurp(path);
    assert_non_null(strstr(text, "info: \"denied\\\"\\nServer rw/replica1 is UP, reason: "
                                 "x\\r\\x1b[2J\\\\\", check duration: 3ms"));
    assert_ptr_equal(strchr(text, '\n'), text + strlen(text) - 1);
    assert_null(strchr(text, '\r'));
    assert_null(strchr(text, 0x1b));
}

static void test_json_line(void **state)
{
    struct check_result r = result(CHK_L7STS, 1045, "a\"b\\c\n\t\x01\xff\xc3\xa9\x7f", 3);
    struct hl_event ev = {.kind = HL_TRANSITION,
                          .server = "rw/master",
                          .listener = "rw",
                          .result = &r,
                          .state = "DOWN"};
    struct jval v[J__COUNT] = {0};
    char path[128], cfg[256], *line;
    (void)state;

    pathf(path, sizeof(path), "json.log");
    snprintf(cfg, sizeof(cfg), "health-log file %s\nhealth-log-format json", path);
    open_with(cfg);
    healthlog_emit(&ev, "Server %s is DOWN, info: \"%s\".", "rw/master", r.info);
    line = slurp(path);

    /* The exact escapes: quote, backslash, \n, \t, \u0001, a stray byte, é kept, DEL. */
    assert_non_null(strstr(line, "\"info\":\"a\\\"b\\\\c\\n\\t\\u0001\\ufffd\xc3\xa9\\u007f\","));
    assert_non_null(strstr(line, ",\"code\":1045,"));
    assert_non_null(strstr(line, ",\"duration_ms\":3,"));
    assert_int_equal(strchr(line, '\n') - line, strlen(line) - 1); /* one line */

    assert_int_equal(json_parse(line, jkeys, J__COUNT, v), J__COUNT);
    assert_matches(v[J_TIME].s, "^" TS_RE "$");
    assert_string_equal(v[J_EVENT].s, "transition");
    assert_string_equal(v[J_SERVER].s, "rw/master");
    assert_string_equal(v[J_LISTENER].s, "rw");
    assert_string_equal(v[J_STATUS].s, "L7STS");
    assert_string_equal(v[J_REASON].s, "Layer7 wrong status");
    assert_int_equal(v[J_CODE].type, 'n');
    assert_int_equal(v[J_CODE].n, 1045);
    assert_string_equal(v[J_INFO].s, "a\"b\\c\n\t\x01\xef\xbf\xbd\xc3\xa9\x7f");
    assert_string_equal(v[J_STATE].s, "DOWN");
    assert_int_equal(v[J_DUR].n, 3);
    /* The line itself never holds a control character, in any format. */
    assert_string_equal(
        v[J_LINE].s,
        "Server rw/master is DOWN, info: \"a\"b\\c\\n\\t\\x01\xef\xbf\xbd\xc3\xa9\\x7f\".");
}

/* Fields an event does not have are null; a status without a code has a null code. */
static void test_json_nulls(void **state)
{
    struct check_result r = result(CHK_L4CON, 111, "Connection refused", 0);
    struct hl_event none = {.kind = HL_NO_SERVER, .listener = "rw"};
    struct hl_event kill = {.kind = HL_KILL, .server = "rw/master", .listener = "rw", .pass_ms = 4};
    struct jval v[J__COUNT];
    char path[128], cfg[256], line[4096], *text;
    (void)state;

    pathf(path, sizeof(path), "nulls.log");
    snprintf(cfg, sizeof(cfg), "health-log-format json health-log file %s", path);
    open_with(cfg);
    healthlog_emit(&none, "Listener %s has no server available!", "rw");
    healthlog_emit(&kill, "Killed %u sessions on backup servers of %s after %s came UP, in %u ms.",
                   3u, "rw", "rw/master", 4u);
    emit_failed_check(&r);
    text = slurp(path);
    memset(v, 0, sizeof(v));
    assert_int_equal(json_parse(nth_line(text, 0, line, sizeof(line)), jkeys, J__COUNT, v),
                     J__COUNT);
    assert_string_equal(v[J_EVENT].s, "no-server");
    assert_int_equal(v[J_SERVER].type, '0');
    assert_string_equal(v[J_LISTENER].s, "rw");
    for (int k = J_STATUS; k <= J_DUR; k++)
        assert_int_equal(v[k].type, '0');
    assert_string_equal(v[J_LINE].s, "Listener rw has no server available!");

    memset(v, 0, sizeof(v));
    assert_int_equal(json_parse(nth_line(text, 1, line, sizeof(line)), jkeys, J__COUNT, v),
                     J__COUNT);
    assert_string_equal(v[J_EVENT].s, "kill");
    assert_int_equal(v[J_STATUS].type, '0');
    assert_int_equal(v[J_DUR].n, 4);

    memset(v, 0, sizeof(v));
    assert_int_equal(json_parse(nth_line(text, 2, line, sizeof(line)), jkeys, J__COUNT, v),
                     J__COUNT);
    assert_null(nth_line(text, 3, line, sizeof(line)));
    assert_string_equal(v[J_EVENT].s, "check");
    assert_string_equal(v[J_STATUS].s, "L4CON");
    assert_int_equal(v[J_CODE].type, '0'); /* L4CON shows no code */
    assert_string_equal(v[J_STATE].s, "1/3 UP");
    assert_string_equal(v[J_LINE].s, failed_line);
}

/* Every sink gets the event: two files (one text), and syslog keeps the text form. */
static void test_several_sinks(void **state)
{
    struct check_result r = result(CHK_L4CON, 0, "Connection refused", 0);
    char a[128], b[128], sock[128], cfg[512], *d;
    int fd = unix_receiver("multi.sock", sock, sizeof(sock));
    (void)state;

    pathf(a, sizeof(a), "a.log");
    pathf(b, sizeof(b), "b.log");
    snprintf(cfg, sizeof(cfg),
             "health-log file %s\nhealth-log file %s\nhealth-log syslog %s\n"
             "health-log-format json",
             a, b, sock);
    open_with(cfg);
    emit_failed_check(&r);
    assert_non_null(strstr(slurp(a), "\"line\":\"Health check for server rw/master failed"));
    assert_non_null(strstr(slurp(b), "\"event\":\"check\""));
    d = recv_dgram(fd);
    assert_non_null(strstr(d, failed_line));
    assert_null(strchr(d, '{'));
    close(fd);
}

/* --- ring --- */

static void emit_numbered(int i)
{
    struct check_result r = result(CHK_L7OK, 0, "10.11.6-MariaDB", (unsigned)i);
    struct hl_event ev = {.kind = HL_CHECK,
                          .server = "rw/master",
                          .listener = "rw",
                          .result = &r,
                          .state = "1/2 DOWN"};

    healthlog_emit(&ev, "event %d", i);
}

static void assert_ring(int first, int count)
{
    assert_int_equal(healthlog_ring_count(), count);
    for (int i = 0; i < count; i++) {
        const struct hl_record *rec = healthlog_ring_get((size_t)i);
        char want[32];
        assert_non_null(rec);
        snprintf(want, sizeof(want), "event %d", first + i);
        assert_string_equal(rec->line, want);
        assert_int_equal(rec->duration_ms, first + i);
    }
    assert_null(healthlog_ring_get((size_t)count));
}

static void test_ring_wraps(void **state)
{
    const struct hl_record *rec;
    struct timeval tv;
    (void)state;

    open_with("health-log file /dev/null\nhealth-log-ring 3");
    assert_int_equal(healthlog_ring_count(), 0);
    assert_null(healthlog_ring_get(0));
    emit_numbered(1);
    emit_numbered(2);
    assert_ring(1, 2);
    for (int i = 3; i <= 7; i++)
        emit_numbered(i);
    assert_ring(5, 3); /* the oldest dropped, order kept */

    rec = healthlog_ring_get(2);
    gettimeofday(&tv, NULL);
    assert_true(rec->time_ms <= (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000);
    assert_true(rec->time_ms > ((int64_t)tv.tv_sec - 60) * 1000);
    assert_int_equal(rec->kind, HL_CHECK);
    assert_string_equal(rec->server, "rw/master");
    assert_string_equal(rec->listener, "rw");
    assert_true(rec->has_result);
    assert_int_equal(rec->result.status, CHK_L7OK);
    assert_string_equal(rec->result.info, "10.11.6-MariaDB");
    assert_string_equal(rec->state, "1/2 DOWN");
}

/* Opening again (a reload) resizes the ring and keeps the newest events. */
static void test_ring_resize(void **state)
{
    (void)state;

    open_with("health-log file /dev/null\nhealth-log-ring 4");
    for (int i = 1; i <= 6; i++)
        emit_numbered(i);
    assert_ring(3, 4);
    open_with("health-log file /dev/null\nhealth-log-ring 2");
    assert_ring(5, 2);
    open_with("health-log file /dev/null\nhealth-log-ring 5");
    assert_ring(5, 2);
    emit_numbered(7);
    assert_ring(5, 3);
    open_with("health-log file /dev/null\nhealth-log-ring 0");
    emit_numbered(8);
    assert_ring(0, 0);
}

/* --- syslog --- */

static void test_syslog_unix_rfc3164(void **state)
{
    struct check_result r = result(CHK_L7OK, 0, "10.11.6-MariaDB-log", 3);
    struct hl_event ev = {.kind = HL_TRANSITION,
                          .server = "rw/master",
                          .listener = "rw",
                          .result = &r,
                          .state = "UP"};
    char sock[128], cfg[256], re[1024];
    int fd = unix_receiver("log", sock, sizeof(sock));
    (void)state;

    snprintf(cfg, sizeof(cfg), "health-log syslog %s facility local3 tag my-tag", sock);
    open_with(cfg);
    healthlog_emit(&ev, "Server rw/master is UP, reason: Layer7 check passed.");
    /* local3 = 19, notice = 5; no HOSTNAME over a local socket. */
    snprintf(re, sizeof(re), "^<157>" MONTH_RE " my-tag\\[%d\\]: ", (int)getpid());
    re_quote(re, sizeof(re), "Server rw/master is UP, reason: Layer7 check passed.");
    strcat(re, "$");
    assert_matches(recv_dgram(fd), re);
    close(fd);
}

static void test_syslog_udp_rfc5424(void **state)
{
    struct check_result r = result(CHK_L4CON, 0, "Connection refused", 0);
    char cfg[256], re[1024], host[256];
    unsigned port;
    int fd = udp_receiver(AF_INET, &port);
    (void)state;

    assert_true(fd >= 0);
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    snprintf(cfg, sizeof(cfg), "health-log syslog 127.0.0.1:%u format rfc5424", port);
    open_with(cfg);
    emit_failed_check(&r);
    /* daemon = 3, info = 6 */
    snprintf(re, sizeof(re), "^<30>1 " TS_RE " ");
    re_quote(re, sizeof(re), host);
    snprintf(re + strlen(re), sizeof(re) - strlen(re), " rebound %d health - ", (int)getpid());
    re_quote(re, sizeof(re), failed_line);
    strcat(re, "$");
    assert_matches(recv_dgram(fd), re);
    close(fd);
}

static void test_syslog_udp_rfc3164(void **state)
{
    struct hl_event ev = {.kind = HL_NO_SERVER, .listener = "rw"};
    char cfg[256], re[1024], host[256];
    unsigned port;
    int fd = udp_receiver(AF_INET, &port);
    (void)state;

    assert_true(fd >= 0);
    assert_int_equal(gethostname(host, sizeof(host)), 0);
    host[strcspn(host, ".")] = '\0'; /* RFC 3164: no domain */
    snprintf(cfg, sizeof(cfg), "health-log syslog 127.0.0.1:%u facility user tag rb", port);
    open_with(cfg);
    healthlog_emit(&ev, "Listener %s has no server available!", "rw");
    /* user = 1, alert = 1 */
    snprintf(re, sizeof(re), "^<9>" MONTH_RE " ");
    re_quote(re, sizeof(re), host);
    snprintf(re + strlen(re), sizeof(re) - strlen(re), " rb\\[%d\\]: ", (int)getpid());
    re_quote(re, sizeof(re), "Listener rw has no server available!");
    strcat(re, "$");
    assert_matches(recv_dgram(fd), re);
    close(fd);
}

static void test_syslog_udp_ipv6(void **state)
{
    struct hl_event ev = {.kind = HL_ADMIN, .server = "rw/replica1", .listener = "rw"};
    char cfg[256];
    unsigned port;
    int fd = udp_receiver(AF_INET6, &port);
    (void)state;

    if (fd < 0)
        skip(); /* no IPv6 loopback here */
    snprintf(cfg, sizeof(cfg), "health-log syslog [::1]:%u format rfc5424 facility local7", port);
    open_with(cfg);
    healthlog_emit(&ev, "Server rw/replica1 admin state changed from ready to drain by admin.");
    /* local7 = 23, notice = 5 */
    assert_matches(recv_dgram(fd), "^<189>1 .* health - Server rw/replica1 admin state changed "
                                   "from ready to drain by admin\\.$");
    close(fd);
}

/* Facility * 8 + severity, with the severities of the one table. */
static void test_syslog_pri(void **state)
{
    static const struct {
        enum hl_kind kind;
        int severity;
        const char *name;
    } want[] = {
        {HL_CHECK, 6, "check"},         {HL_TRANSITION, 5, "transition"}, {HL_KILL, 5, "kill"},
        {HL_NO_SERVER, 1, "no-server"}, {HL_ADMIN, 5, "admin"},           {HL_START, 6, "start"},
        {HL_GTID, 4, "gtid"},
    };
    static const struct {
        const char *name;
        int num;
    } facilities[] = {{"kern", 0}, {"daemon", 3}, {"authpriv", 10}, {"local0", 16}, {"local7", 23}};
    char sock[128], cfg[256], pri[16];
    int fd = unix_receiver("pri", sock, sizeof(sock));
    (void)state;

    assert_int_equal(sizeof(want) / sizeof(want[0]), HL__COUNT);
    for (size_t f = 0; f < sizeof(facilities) / sizeof(facilities[0]); f++) {
        snprintf(cfg, sizeof(cfg), "health-log syslog %s facility %s", sock, facilities[f].name);
        open_with(cfg);
        for (size_t i = 0; i < HL__COUNT; i++) {
            struct hl_event ev = {.kind = want[i].kind, .listener = "rw"};
            assert_int_equal(healthlog_severity(want[i].kind), want[i].severity);
            assert_string_equal(healthlog_kind_str(want[i].kind), want[i].name);
            healthlog_emit(&ev, "x");
            snprintf(pri, sizeof(pri), "<%d>", facilities[f].num * 8 + want[i].severity);
            assert_memory_equal(recv_dgram(fd), pri, strlen(pri));
        }
    }
    close(fd);
}

/* A syslog socket that does not exist, or is full, drops the line and counts it. */
static void test_syslog_drops(void **state)
{
    struct hl_event ev = {.kind = HL_CHECK};
    char sock[128], cfg[256];
    uint64_t before = healthlog_drops();
    int fd, got = 0;
    (void)state;

    pathf(sock, sizeof(sock), "missing.sock");
    snprintf(cfg, sizeof(cfg), "health-log syslog %s", sock);
    open_with(cfg);
    healthlog_emit(&ev, "lost");
    assert_int_equal(healthlog_drops(), before + 1);

    /* Never read: the queue fills up, and emitting must neither block nor fail. */
    fd = unix_receiver("full.sock", sock, sizeof(sock));
    snprintf(cfg, sizeof(cfg), "health-log syslog %s", sock);
    open_with(cfg);
    before = healthlog_drops();
    for (int i = 0; i < 2000; i++)
        healthlog_emit(&ev, "line %d", i);
    assert_true(healthlog_drops() > before);
    assert_true(healthlog_drops() < before + 2000);

    /* Drained, it takes lines again. */
    while (recv(fd, cfg, sizeof(cfg), MSG_DONTWAIT) > 0)
        got++;
    assert_true(got > 0);
    before = healthlog_drops();
    healthlog_emit(&ev, "back");
    assert_int_equal(healthlog_drops(), before);
    assert_non_null(strstr(recv_dgram(fd), ": back"));
    close(fd);
}

/* The datagram is cut, not overflowed, when the buffer is short. */
static void test_syslog_format_truncates(void **state)
{
    struct conf_health_sink spec = {.type = HEALTH_SINK_SYSLOG, .facility = 3, .tag = "rebound"};
    char buf[16];
    (void)state;

    assert_int_equal(syslog_format(buf, sizeof(buf), &spec, 6, 0, "a long message"), 15);
    assert_int_equal(strlen(buf), 15);
    assert_memory_equal(buf, "<30>", 4);
}

/* --- files --- */

/* logrotate renames the file, then sends SIGHUP: later lines go to the new file. */
static void test_reopen_after_rename(void **state)
{
    struct hl_event ev = {.kind = HL_ADMIN, .server = "rw/master", .listener = "rw"};
    char path[128], old[160], cfg[256], *s;
    (void)state;

    pathf(path, sizeof(path), "rotate.log");
    snprintf(old, sizeof(old), "%s.1", path);
    snprintf(cfg, sizeof(cfg), "health-log file %s", path);
    open_with(cfg);
    healthlog_emit(&ev, "line A");
    assert_int_equal(rename(path, old), 0);
    healthlog_emit(&ev, "line B"); /* still the renamed file, until SIGHUP */
    healthlog_reopen();
    healthlog_emit(&ev, "line C");

    s = slurp(old);
    assert_non_null(strstr(s, " line A\n"));
    assert_non_null(strstr(s, " line B\n"));
    assert_null(strstr(s, "line C"));
    s = slurp(path);
    assert_non_null(s);
    assert_matches(s, "^" TS_RE " line C\n$");
}

/* A sink that cannot be opened fails the open and leaves the old sinks in place. */
static void test_open_failure_keeps_sinks(void **state)
{
    struct hl_event ev = {.kind = HL_ADMIN};
    char path[128], cfg[256], err[256];
    struct conf *c;
    (void)state;

    pathf(path, sizeof(path), "keep.log");
    snprintf(cfg, sizeof(cfg), "health-log file %s", path);
    open_with(cfg);
    snprintf(cfg, sizeof(cfg), "health-log file %s/no/such/dir/x.log", dir);
    c = parse_global(cfg, err, sizeof(err));
    assert_non_null(c);
    assert_int_equal(healthlog_open(c), -1);
    conf_free(c);
    healthlog_emit(&ev, "still here");
    assert_non_null(strstr(slurp(path), " still here\n"));
}

/* --- configuration --- */

static void test_conf_defaults(void **state)
{
    char err[256];
    struct conf *c = parse_global("maxconn 5", err, sizeof(err));
    (void)state;

    assert_non_null(c);
    assert_int_equal(c->nhealth_sinks, 0); /* stderr */
    assert_false(c->health_log_json);
    assert_int_equal(c->health_log_ring, 1000);
    conf_free(c);
}

static void test_conf_sinks(void **state)
{
    char err[256] = "";
    struct conf *c = parse_global("health-log stderr\n"
                                  "health-log file /var/log/rebound/health.log\n"
                                  "health-log syslog /dev/log maxconn 7\n"
                                  "health-log syslog 10.0.0.5:514 facility local4 tag rb-1 "
                                  "format rfc5424\n"
                                  "health-log syslog [::1]:5514 format rfc3164 facility kern\n"
                                  "health-log syslog localhost:514\n"
                                  "health-log-format json health-log-ring 0",
                                  err, sizeof(err));
    const struct conf_health_sink *s;
    (void)state;

    if (!c)
        fail_msg("%s", err);
    assert_int_equal(c->nhealth_sinks, 6);
    assert_int_equal(c->maxconn, 7);
    assert_true(c->health_log_json);
    assert_int_equal(c->health_log_ring, 0);
    s = c->health_sinks;
    assert_int_equal(s[0].type, HEALTH_SINK_STDERR);
    assert_int_equal(s[0].line, 2);
    assert_int_equal(s[1].type, HEALTH_SINK_FILE);
    assert_string_equal(s[1].path, "/var/log/rebound/health.log");
    assert_int_equal(s[2].type, HEALTH_SINK_SYSLOG);
    assert_string_equal(s[2].path, "/dev/log");
    assert_int_equal(s[2].facility, 3);
    assert_string_equal(s[2].tag, "rebound");
    assert_int_equal(s[2].format, SYSLOG_RFC3164);
    assert_string_equal(s[3].path, "");
    assert_string_equal(s[3].addr.text, "10.0.0.5:514");
    assert_int_equal(s[3].facility, 20);
    assert_string_equal(s[3].tag, "rb-1");
    assert_int_equal(s[3].format, SYSLOG_RFC5424);
    assert_string_equal(s[4].addr.text, "[::1]:5514");
    assert_int_equal(s[4].addr.sa.ss_family, AF_INET6);
    assert_int_equal(s[4].facility, 0);
    assert_int_equal(s[4].format, SYSLOG_RFC3164);
    assert_int_equal(s[5].addr.port, 514); /* resolved at load */
    conf_free(c);
}

static void assert_conf_error(const char *global_lines, const char *want)
{
    char err[512] = "";
    struct conf *c = parse_global(global_lines, err, sizeof(err));

    if (c) {
        conf_free(c);
        fail_msg("accepted: %s", global_lines);
    }
    if (!strstr(err, want))
        fail_msg("for \"%s\":\n got  \"%s\"\n want \"%s\"", global_lines, err, want);
}

static void test_conf_errors(void **state)
{
    char long_path[200], many[1024] = "";
    (void)state;

    assert_conf_error("health-log", "t.conf:2: 'health-log' expects 'file PATH', 'stderr' or");
    assert_conf_error("health-log journal",
                      "t.conf:2: 'health-log' expects 'file PATH', 'stderr' or 'syslog ADDR', "
                      "got 'journal'");
    assert_conf_error("health-log file", "t.conf:2: 'health-log file' expects a path");
    assert_conf_error("health-log syslog", "t.conf:2: 'health-log syslog' expects HOST:PORT");
    assert_conf_error("health-log syslog loghost",
                      "t.conf:2: health-log syslog: address 'loghost' is not HOST:PORT");
    assert_conf_error("health-log syslog dev/log", "t.conf:2: health-log syslog: address");
    assert_conf_error("health-log syslog 127.0.0.1:70000", "t.conf:2: health-log syslog: port");
    assert_conf_error("health-log syslog no-such-host.invalid:514",
                      "t.conf:2: health-log syslog: cannot resolve 'no-such-host.invalid'");
    snprintf(long_path, sizeof(long_path), "health-log syslog /%0120d", 0);
    assert_conf_error(long_path, "t.conf:2: health-log syslog: socket path");
    assert_conf_error("health-log syslog /dev/log facility",
                      "t.conf:2: 'facility' expects a facility name");
    assert_conf_error("health-log syslog /dev/log facility local8",
                      "t.conf:2: unknown syslog facility 'local8'");
    assert_conf_error("health-log syslog /dev/log format rfc1234",
                      "t.conf:2: unknown syslog format 'rfc1234' (expected rfc3164 or rfc5424)");
    assert_conf_error("health-log syslog /dev/log tag a:b", "t.conf:2: syslog tag 'a:b'");
    assert_conf_error("health-log syslog /dev/log tag 012345678901234567890123456789012",
                      "t.conf:2: syslog tag");
    assert_conf_error("health-log syslog /dev/log tag \"a b\"", "t.conf:2: syslog tag 'a b'");
    assert_conf_error("health-log syslog /dev/log tag", "t.conf:2: 'tag' expects a tag");
    assert_conf_error("health-log-format", "t.conf:2: 'health-log-format' expects text or json");
    assert_conf_error("health-log-format xml",
                      "t.conf:2: 'health-log-format' expects text or json, got 'xml'");
    assert_conf_error("health-log-ring", "t.conf:2: 'health-log-ring' expects a number");
    assert_conf_error("health-log-ring -1", "t.conf:2: 'health-log-ring' expects a whole number");
    assert_conf_error("health-log-ring 10x", "t.conf:2: 'health-log-ring' expects a whole number");
    assert_conf_error("health-log-ring 100001",
                      "t.conf:2: 'health-log-ring' expects a whole number from 0 to 100000, got "
                      "'100001'");
    for (int i = 0; i <= CONF_MAX_HEALTH_SINKS; i++)
        strcat(many, "health-log stderr\n");
    assert_conf_error(many, "t.conf:10: too many health-log sinks (at most 8)");
    assert_conf_error("maxconn 1\nhealth-log syslog /dev/log format",
                      "t.conf:3: 'format' expects rfc3164 or rfc5424");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_text_line, test_teardown),
        cmocka_unit_test_teardown(test_text_line_escapes_server_text, test_teardown),
        cmocka_unit_test_teardown(test_json_line, test_teardown),
        cmocka_unit_test_teardown(test_json_nulls, test_teardown),
        cmocka_unit_test_teardown(test_several_sinks, test_teardown),
        cmocka_unit_test_teardown(test_ring_wraps, test_teardown),
        cmocka_unit_test_teardown(test_ring_resize, test_teardown),
        cmocka_unit_test_teardown(test_syslog_unix_rfc3164, test_teardown),
        cmocka_unit_test_teardown(test_syslog_udp_rfc5424, test_teardown),
        cmocka_unit_test_teardown(test_syslog_udp_rfc3164, test_teardown),
        cmocka_unit_test_teardown(test_syslog_udp_ipv6, test_teardown),
        cmocka_unit_test_teardown(test_syslog_pri, test_teardown),
        cmocka_unit_test_teardown(test_syslog_drops, test_teardown),
        cmocka_unit_test(test_syslog_format_truncates),
        cmocka_unit_test_teardown(test_reopen_after_rename, test_teardown),
        cmocka_unit_test_teardown(test_open_failure_keeps_sinks, test_teardown),
        cmocka_unit_test(test_conf_defaults),
        cmocka_unit_test(test_conf_sinks),
        cmocka_unit_test(test_conf_errors),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
