/* healthlog.c - the health log: each event as a text or JSON line to files and stderr,
 * as a datagram to syslog (syslog_sink.c), and as a record in a ring of the last events
 * kept for the admin port.
 *
 * Every line goes out with one write(2) (files are O_APPEND) or one datagram, so a line
 * is never split, even across a logrotate, and a crash loses at most the line being
 * written.
 */
#include "healthlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "syslog_sink.h"

/* Syslog severities (RFC 5424 section 6.2.1) used here. */
enum { SEV_ALERT = 1, SEV_WARNING = 4, SEV_NOTICE = 5, SEV_INFO = 6 };

/* Every kind of event: its name in JSON and the admin table, and its syslog severity. */
static const struct {
    const char *name;
    int severity;
} kinds[HL__COUNT] = {
    [HL_CHECK] = {"check", SEV_INFO},   [HL_TRANSITION] = {"transition", SEV_NOTICE},
    [HL_KILL] = {"kill", SEV_NOTICE},   [HL_NO_SERVER] = {"no-server", SEV_ALERT},
    [HL_ADMIN] = {"admin", SEV_NOTICE}, [HL_START] = {"start", SEV_INFO},
    [HL_GTID] = {"gtid", SEV_WARNING},
};

/* An open sink: its `health-log` line and what it writes to. */
struct sink {
    struct conf_health_sink spec;
    int fd;                 /* file or stderr; stderr's is not ours to close */
    struct syslog_sink sys; /* syslog */
};

static struct sink sinks[CONF_MAX_HEALTH_SINKS] = {
    {.spec.type = HEALTH_SINK_STDERR, .fd = STDERR_FILENO},
};
static int nsinks = 1;
static bool json;      /* health-log-format json */
static uint64_t drops; /* syslog datagrams dropped */

/* The ring: CAP records, the oldest at HEAD, LEN of them held. */
static struct hl_record *ring;
static size_t ring_cap, ring_head, ring_len;

const char *healthlog_kind_str(enum hl_kind kind)
{
    return kinds[kind].name;
}

int healthlog_severity(enum hl_kind kind)
{
    return kinds[kind].severity;
}

uint64_t healthlog_drops(void)
{
    return drops;
}

/* --- sinks --- */

static int open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

    if (fd < 0)
        log_err("health log: cannot open %s: %s", path, strerror(errno));
    return fd;
}

static int open_sink(struct sink *k, const struct conf_health_sink *spec)
{
    memset(k, 0, sizeof(*k));
    k->spec = *spec;
    if (spec->type == HEALTH_SINK_FILE)
        k->fd = open_file(spec->path);
    else if (spec->type == HEALTH_SINK_SYSLOG)
        return syslog_sink_open(&k->sys, spec);
    else
        k->fd = STDERR_FILENO;
    return k->fd < 0 ? -1 : 0;
}

static void close_sink(struct sink *k)
{
    if (k->spec.type == HEALTH_SINK_SYSLOG)
        syslog_sink_close(&k->sys);
    else if (k->spec.type == HEALTH_SINK_FILE)
        close(k->fd);
    k->fd = -1;
}

/* Resize the ring to CAP records, keeping the newest ones. */
static int ring_resize(size_t cap)
{
    struct hl_record *r = NULL;
    size_t keep = ring_len < cap ? ring_len : cap;

    if (cap == ring_cap)
        return 0;
    if (cap && !(r = calloc(cap, sizeof(*r)))) {
        log_err("health log: no memory for a ring of %zu events", cap);
        return -1;
    }
    for (size_t i = 0; i < keep; i++)
        r[i] = ring[(ring_head + ring_len - keep + i) % ring_cap];
    free(ring);
    ring = r;
    ring_cap = cap;
    ring_head = 0;
    ring_len = keep;
    return 0;
}

int healthlog_open(const struct conf *conf)
{
    static const struct conf_health_sink stderr_spec = {.type = HEALTH_SINK_STDERR};
    struct sink next[CONF_MAX_HEALTH_SINKS];
    int n = conf->nhealth_sinks ? conf->nhealth_sinks : 1;
    int i;

    for (i = 0; i < n; i++)
        if (open_sink(&next[i], conf->nhealth_sinks ? &conf->health_sinks[i] : &stderr_spec) < 0)
            goto bad;
    if (ring_resize((size_t)conf->health_log_ring) < 0)
        goto bad;
    for (int j = 0; j < nsinks; j++)
        close_sink(&sinks[j]);
    memcpy(sinks, next, (size_t)n * sizeof(*next));
    nsinks = n;
    json = conf->health_log_json;
    return 0;
bad:
    while (i-- > 0)
        close_sink(&next[i]);
    return -1;
}

void healthlog_reopen(void)
{
    for (int i = 0; i < nsinks; i++) {
        struct sink *k = &sinks[i];
        int fd;

        if (k->spec.type != HEALTH_SINK_FILE || (fd = open_file(k->spec.path)) < 0)
            continue;
        close(k->fd);
        k->fd = fd;
        log_info("health log %s reopened", k->spec.path);
    }
}

void healthlog_close(void)
{
    for (int i = 0; i < nsinks; i++)
        close_sink(&sinks[i]);
    memset(sinks, 0, sizeof(sinks));
    sinks[0].spec.type = HEALTH_SINK_STDERR;
    sinks[0].fd = STDERR_FILENO;
    nsinks = 1;
    json = false;
    ring_resize(0);
}

/* --- formats --- */

/* A line built in a fixed buffer; what does not fit is cut. */
struct out {
    char *buf;
    size_t len, cap;
};

static void out_add(struct out *o, const char *s, size_t n)
{
    if (n > o->cap - o->len)
        n = o->cap - o->len;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
    char tmp[HL_LINE_MAX + 512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0)
        out_add(o, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* "2026-11-23T20:00:20.744Z" */
static void format_time(char *buf, size_t len, int64_t ms)
{
    time_t sec = (time_t)(ms / 1000);
    struct tm tm;
    size_t n;

    gmtime_r(&sec, &tm);
    n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03dZ", (int)(ms % 1000));
}

/* Length of the valid UTF-8 sequence at P (a byte >= 0x80), 0 if it is not one:
 * overlong forms, surrogates and code points past U+10FFFF are rejected. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned cp, min;
    size_t n;

    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2, cp = p[0] & 0x1fu, min = 0x80;
    else if ((p[0] & 0xf0) == 0xe0)
        n = 3, cp = p[0] & 0x0fu, min = 0x800;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4, cp = p[0] & 0x07u, min = 0x10000;
    else
        return 0;
    for (size_t i = 1; i < n; i++) { /* stops at the NUL: it is no continuation byte */
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* The JSON escape of the ASCII byte C into E, and its length; 0 when C needs none. */
static size_t json_escape(unsigned char c, char e[6])
{
    static const char hex[] = "0123456789abcdef";

    switch (c) {
    case '"':
    case '\\':
        e[0] = '\\';
        e[1] = (char)c;
        return 2;
    case '\n':
        memcpy(e, "\\n", 2);
        return 2;
    case '\r':
        memcpy(e, "\\r", 2);
        return 2;
    case '\t':
        memcpy(e, "\\t", 2);
        return 2;
    }
    if (c >= 0x20 && c != 0x7f)
        return 0;
    memcpy(e, "\\u00", 4);
    e[4] = hex[c >> 4];
    e[5] = hex[c & 15];
    return 6;
}

/* S as a JSON string: quotes, backslashes and control characters escaped, bytes that
 * are not UTF-8 replaced by U+FFFD. */
static void json_string(struct out *o, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    char e[6];
    size_t n;

    out_add(o, "\"", 1);
    while (*p) {
        if (*p >= 0x80) {
            n = utf8_len(p);
            out_add(o, n ? (const char *)p : "\\ufffd", n ? n : 6);
            p += n ? n : 1;
            continue;
        }
        n = json_escape(*p, e);
        out_add(o, n ? e : (const char *)p, n ? n : 1);
        p++;
    }
    out_add(o, "\"", 1);
}

/* ,"KEY":"VALUE" or ,"KEY":null when VALUE is NULL or empty. */
static void json_field(struct out *o, const char *key, const char *value)
{
    out_printf(o, ",\"%s\":", key);
    if (value && *value)
        json_string(o, value);
    else
        out_add(o, "null", 4);
}

/* Every string of a record, each escaped to at most 6 bytes per byte, plus the keys. */
#define JSON_MAX (6 * sizeof(struct hl_record) + 512)

static size_t json_line(char *buf, size_t len, const struct hl_record *rec)
{
    const struct check_status_info *st =
        rec->has_result ? &check_statuses[rec->result.status] : NULL;
    struct out o = {buf, 0, len};
    char ts[40];

    format_time(ts, sizeof(ts), rec->time_ms);
    out_printf(&o, "{\"time\":\"%s\",\"event\":\"%s\"", ts, kinds[rec->kind].name);
    json_field(&o, "server", rec->server);
    json_field(&o, "listener", rec->listener);
    json_field(&o, "status", st ? st->name : NULL);
    json_field(&o, "reason", st ? st->desc : NULL);
    if (st && st->has_code)
        out_printf(&o, ",\"code\":%d", rec->result.code);
    else
        out_add(&o, ",\"code\":null", 12);
    json_field(&o, "info", st ? rec->result.info : NULL);
    if (rec->duration_ms >= 0)
        out_printf(&o, ",\"duration_ms\":%lld", (long long)rec->duration_ms);
    else
        out_add(&o, ",\"duration_ms\":null", 19);
    json_field(&o, "state", rec->state);
    json_field(&o, "line", rec->line);
    out_add(&o, "}\n", 2);
    return o.len;
}

static size_t text_line(char *buf, size_t len, const struct hl_record *rec)
{
    struct out o = {buf, 0, len};
    char ts[40];

    format_time(ts, sizeof(ts), rec->time_ms);
    out_printf(&o, "%s %s\n", ts, rec->line);
    return o.len;
}

/* --- events --- */

static void write_sink(struct sink *k, const struct hl_record *rec)
{
    char buf[JSON_MAX];
    size_t n;

    if (k->spec.type == HEALTH_SINK_SYSLOG) {
        if (syslog_sink_send(&k->sys, &k->spec, kinds[rec->kind].severity, rec->time_ms,
                             rec->line) < 0)
            drops++;
        return;
    }
    n = json ? json_line(buf, sizeof(buf), rec) : text_line(buf, sizeof(buf), rec);
    if (write(k->fd, buf, n) < 0 && k->spec.type == HEALTH_SINK_FILE)
        log_warn("health log: write to %s failed: %s", k->spec.path, strerror(errno));
}

/* SRC into DST (LEN bytes) with every control character escaped (\n, \r, \t, \xNN) and,
 * with QUOTES, backslashes and double quotes too: text a server controls (its version, its
 * error messages) can then neither end a line nor fake a field of one. Truncates whole
 * escapes only. */
static void escape_text(char *dst, size_t len, const char *src, bool quotes)
{
    size_t o = 0;

    for (const unsigned char *p = (const unsigned char *)src; *p && len; p++) {
        char e[8];
        int n;
        if (*p == '\n' || *p == '\r' || *p == '\t')
            n = snprintf(e, sizeof(e), "\\%c", *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't');
        else if (*p < 0x20 || *p == 0x7f)
            n = snprintf(e, sizeof(e), "\\x%02x", *p);
        else if (quotes && (*p == '"' || *p == '\\'))
            n = snprintf(e, sizeof(e), "\\%c", *p);
        else
            n = snprintf(e, sizeof(e), "%c", *p);
        if (o + (size_t)n >= len)
            break;
        memcpy(dst + o, e, (size_t)n);
        o += (size_t)n;
    }
    if (len)
        dst[o] = '\0';
}

static void make_record(struct hl_record *rec, const struct hl_event *ev, const char *fmt,
                        va_list ap)
{
    char line[sizeof(rec->line)];
    struct timeval tv;

    memset(rec, 0, sizeof(*rec));
    gettimeofday(&tv, NULL);
    rec->time_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    rec->kind = ev->kind;
    snprintf(rec->server, sizeof(rec->server), "%s", ev->server ? ev->server : "");
    snprintf(rec->listener, sizeof(rec->listener), "%s", ev->listener ? ev->listener : "");
    snprintf(rec->state, sizeof(rec->state), "%s", ev->state ? ev->state : "");
    rec->has_result = ev->result != NULL;
    if (ev->result)
        rec->result = *ev->result;
    rec->duration_ms = ev->result            ? (int64_t)ev->result->duration_ms
                       : ev->kind == HL_KILL ? (int64_t)ev->pass_ms
                                             : -1;
    vsnprintf(line, sizeof(line), fmt, ap);
    escape_text(rec->line, sizeof(rec->line), line, false);
}

void healthlog_emit(const struct hl_event *ev, const char *fmt, ...)
{
    struct hl_record rec;
    va_list ap;

    va_start(ap, fmt);
    make_record(&rec, ev, fmt, ap);
    va_end(ap);
    for (int i = 0; i < nsinks; i++)
        write_sink(&sinks[i], &rec);
    if (!ring_cap)
        return;
    if (ring_len < ring_cap) {
        ring[(ring_head + ring_len++) % ring_cap] = rec;
        return;
    }
    ring[ring_head] = rec;
    ring_head = (ring_head + 1) % ring_cap;
}

size_t healthlog_ring_count(void)
{
    return ring_len;
}

const struct hl_record *healthlog_ring_get(size_t i)
{
    return i < ring_len ? &ring[(ring_head + i) % ring_cap] : NULL;
}

int healthlog_format_result(char *buf, size_t len, const struct check_result *r)
{
    const struct check_status_info *st = &check_statuses[r->status];
    char code[32] = "", info[2 * sizeof(r->info)];

    if (st->has_code)
        snprintf(code, sizeof(code), ", code: %d", r->code);
    escape_text(info, sizeof(info), r->info, true);
    return snprintf(buf, len, "reason: %s%s, info: \"%s\", check duration: %ums", st->desc, code,
                    info, r->duration_ms);
}
