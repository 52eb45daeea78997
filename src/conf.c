/* conf.c - the configuration grammar: sections, table-driven keywords, file:line errors.
 *
 * A line is a section header (`global`, `defaults`, `listen NAME`), a `server NAME
 * ADDR [options]` line, or a run of keywords each followed by its arguments, so
 * `inter 2s fastinter 500ms rise 2` is three keywords on one line. Server options
 * may stand in `defaults` and `listen` too, as defaults for the servers after them.
 */
#include "conf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#include <openssl/ssl.h>

#include "rebound.h"
#include "tls.h"

#define MAX_TOKENS 64
#define MAX_LINE   4096

enum section { SEC_NONE, SEC_GLOBAL, SEC_DEFAULTS, SEC_LISTEN };

/* Parsing state: where we are, the tokens of the current line, and the error. */
struct parser {
    const char *file;
    int line;
    enum section sec;
    struct conf *conf;
    struct conf_listen defaults; /* template copied into every new listen */
    struct conf_listen *cur;     /* current listen section */
    char *tok[MAX_TOKENS];
    int ntok;
    int pos; /* next token to consume */
    char *err;
    size_t errlen;
};

/* A keyword: its parser writes into OBJ at offset OFF. */
struct keyword {
    const char *name;
    int (*parse)(struct parser *p, const char *kw, void *obj, size_t off);
    size_t off;
};

static int fail(struct parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static const struct keyword *find_kw(const struct keyword *t, size_t n, const char *name);

/* Record "file:line: message"; always returns -1. */
static int fail(struct parser *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s:%d: %s", p->file, p->line, msg);
    return -1;
}

int conf_fail(const struct conf *c, int line, char *err, size_t errlen, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%d: %s", c->file, line, msg);
    return -1;
}

/* Next argument of keyword KW, or NULL after recording "KW expects WHAT". */
static const char *arg(struct parser *p, const char *kw, const char *what)
{
    if (p->pos >= p->ntok) {
        fail(p, "'%s' expects %s", kw, what);
        return NULL;
    }
    return p->tok[p->pos++];
}

static const char *peek(const struct parser *p)
{
    return p->pos < p->ntok ? p->tok[p->pos] : NULL;
}

int conf_parse_duration(const char *s, unsigned *ms)
{
    char *end;
    unsigned long long v, mult = 1;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    if (!strcmp(end, "") || !strcmp(end, "ms"))
        mult = 1;
    else if (!strcmp(end, "s"))
        mult = 1000;
    else if (!strcmp(end, "m"))
        mult = 60 * 1000;
    else if (!strcmp(end, "h"))
        mult = 3600 * 1000;
    else if (!strcmp(end, "d"))
        mult = 86400 * 1000;
    else
        return -1;
    if (v > UINT_MAX / mult)
        return -1;
    *ms = (unsigned)(v * mult);
    return 0;
}

/* Split "host:port" / "[host]:port" into its parts, in place. */
static int split_host_port(char *buf, char **host, char **port)
{
    char *colon;

    if (buf[0] == '[') {
        char *close = strchr(buf, ']');
        if (!close || close[1] != ':')
            return -1;
        *close = '\0';
        *host = buf + 1;
        *port = close + 2;
        return 0;
    }
    colon = strrchr(buf, ':');
    if (!colon || strchr(buf, ':') != colon)
        return -1;
    *colon = '\0';
    *host = buf;
    *port = colon + 1;
    return 0;
}

int conf_parse_addr(const char *s, struct conf_addr *a, char *err, size_t errlen)
{
    char buf[128], *host, *port, *end;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    unsigned long pnum;
    int rc;

    if (strlen(s) >= sizeof(buf) || snprintf(buf, sizeof(buf), "%s", s) < 0 ||
        split_host_port(buf, &host, &port) < 0) {
        snprintf(err, errlen, "address '%s' is not HOST:PORT", s);
        return -1;
    }
    errno = 0;
    pnum = strtoul(port, &end, 10);
    if (errno || *end || *port < '0' || *port > '9' || pnum < 1 || pnum > 65535) {
        snprintf(err, errlen, "port '%s' of '%s' is not a number between 1 and 65535", port, s);
        return -1;
    }
    if (!strcmp(host, "*") || !*host)
        host = "0.0.0.0";
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc) {
        snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
        return -1;
    }
    memset(a, 0, sizeof(*a));
    memcpy(&a->sa, res->ai_addr, res->ai_addrlen);
    a->len = res->ai_addrlen;
    a->port = (unsigned)pnum;
    freeaddrinfo(res);
    if (a->sa.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&a->sa)->sin6_addr, a->host, sizeof(a->host));
        snprintf(a->text, sizeof(a->text), "[%s]:%u", a->host, a->port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&a->sa)->sin_addr, a->host, sizeof(a->host));
        snprintf(a->text, sizeof(a->text), "%s:%u", a->host, a->port);
    }
    return 0;
}

unsigned conf_fastinter(const struct conf_server *s)
{
    return s->fastinter ? s->fastinter : s->inter;
}

unsigned conf_downinter(const struct conf_server *s)
{
    return s->downinter ? s->downinter : s->inter;
}

/* --- generic keyword parsers, writing at an offset --- */

static int parse_int(struct parser *p, const char *kw, int min, int max, int *out)
{
    const char *v = arg(p, kw, "a number");
    char *end;
    long n;

    if (!v)
        return -1;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || *end || end == v || *v < '0' || *v > '9' || n < min || n > max)
        return fail(p, "'%s' expects a whole number from %d to %d, got '%s'", kw, min, max, v);
    *out = (int)n;
    return 0;
}

#define MAX_COUNT 1000000

static int kw_count(struct parser *p, const char *kw, void *obj, size_t off)
{
    return parse_int(p, kw, 1, MAX_COUNT, (int *)((char *)obj + off));
}

static int kw_count0(struct parser *p, const char *kw, void *obj, size_t off)
{
    return parse_int(p, kw, 0, MAX_COUNT, (int *)((char *)obj + off));
}

/* rise and fall: small enough that rise + fall never overflows. */
static int kw_health(struct parser *p, const char *kw, void *obj, size_t off)
{
    return parse_int(p, kw, 1, 1000, (int *)((char *)obj + off));
}

static int kw_duration(struct parser *p, const char *kw, void *obj, size_t off)
{
    const char *v = arg(p, kw, "a duration");

    if (!v)
        return -1;
    if (conf_parse_duration(v, (unsigned *)((char *)obj + off)) < 0 ||
        *(unsigned *)((char *)obj + off) == 0)
        return fail(p, "'%s' expects a duration above zero like 500ms, 2s, 5m or 1h, got '%s'", kw,
                    v);
    return 0;
}

static int kw_flag(struct parser *p, const char *kw, void *obj, size_t off)
{
    (void)p;
    (void)kw;
    *(bool *)((char *)obj + off) = true;
    return 0;
}

static int kw_unflag(struct parser *p, const char *kw, void *obj, size_t off)
{
    (void)p;
    (void)kw;
    *(bool *)((char *)obj + off) = false;
    return 0;
}

/* "KW WORD": the single accepted WORD is the keyword's table entry name suffix. */
static int expect_word(struct parser *p, const char *kw, const char *word)
{
    const char *v = arg(p, kw, word);

    if (!v)
        return -1;
    if (strcmp(v, word))
        return fail(p, "'%s' expects '%s', got '%s'", kw, word, v);
    return 0;
}

/* --- server options --- */

/* check [mysql user U [password P] | tcp] */
static int kw_check(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf_server *s = obj;
    const char *v = peek(p);
    (void)off;

    s->check = true;
    if (v && !strcmp(v, "tcp")) {
        p->pos++;
        s->method = CHECK_METHOD_TCP;
        return 0;
    }
    if (!v || strcmp(v, "mysql"))
        return 0;
    p->pos++;
    s->method = CHECK_METHOD_MYSQL;
    if (expect_word(p, "check mysql", "user") < 0 || !(v = arg(p, "check mysql user", "a name")))
        return -1;
    if (strlen(v) >= sizeof(s->check_user))
        return fail(p, "check user name '%s' is too long", v);
    snprintf(s->check_user, sizeof(s->check_user), "%s", v);
    s->check_has_password = false;
    s->check_password[0] = '\0';
    v = peek(p);
    if (!v || strcmp(v, "password"))
        return 0;
    p->pos++;
    if (!(v = arg(p, "password", "a password")))
        return -1;
    if (strlen(v) >= sizeof(s->check_password))
        return fail(p, "check password is too long");
    snprintf(s->check_password, sizeof(s->check_password), "%s", v);
    s->check_has_password = true;
    (void)kw;
    return 0;
}

static int kw_on_marked_up(struct parser *p, const char *kw, void *obj, size_t off)
{
    (void)off;
    if (expect_word(p, kw, "shutdown-backup-sessions") < 0)
        return -1;
    ((struct conf_server *)obj)->shutdown_backup_sessions = true;
    ((struct conf_server *)obj)->graceful_ms = 0;
    if (peek(p) && !strcmp(peek(p), "graceful")) {
        p->pos++;
        return kw_duration(p, "graceful", obj, offsetof(struct conf_server, graceful_ms));
    }
    return 0;
}

static int kw_on_marked_down(struct parser *p, const char *kw, void *obj, size_t off)
{
    (void)off;
    if (expect_word(p, kw, "shutdown-sessions") < 0)
        return -1;
    ((struct conf_server *)obj)->shutdown_sessions = true;
    return 0;
}

/* send-proxy / send-proxy-v2: the PROXY protocol header's version. */
static int kw_send_proxy(struct parser *p, const char *kw, void *obj, size_t off)
{
    (void)p;
    (void)off;
    ((struct conf_server *)obj)->send_proxy = strcmp(kw, "send-proxy-v2") ? 1 : 2;
    return 0;
}

/* expect read-only on|off | max-lag SECONDS | rows N | value V | gtid-covers backups */
static int kw_expect(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf_server *s = obj;
    const char *what = arg(p, kw, "read-only, max-lag, rows, value or gtid-covers");
    const char *v;
    unsigned ms;
    (void)off;

    if (!what)
        return -1;
    if (!strcmp(what, "read-only")) {
        if (!(v = arg(p, "expect read-only", "on or off")))
            return -1;
        if (strcmp(v, "on") && strcmp(v, "off"))
            return fail(p, "'expect read-only' expects on or off, got '%s'", v);
        s->expect_read_only = !strcmp(v, "on");
        return 0;
    }
    if (!strcmp(what, "max-lag")) {
        if (!(v = arg(p, "expect max-lag", "a number of seconds")))
            return -1;
        /* A bare number is seconds here, as replicas report lag in seconds. */
        if (conf_parse_duration(v, &ms) < 0)
            return fail(p, "'expect max-lag' expects a number of seconds, got '%s'", v);
        if (v[strspn(v, "0123456789")] != '\0')
            ms /= 1000;
        if (ms > 86400u * 365)
            return fail(p, "'expect max-lag' is more than a year: '%s'", v);
        s->max_lag = (int)ms;
        return 0;
    }
    if (!strcmp(what, "rows"))
        return parse_int(p, "expect rows", 0, INT_MAX, &s->expect_rows);
    if (!strcmp(what, "value")) {
        if (!(v = arg(p, "expect value", "a value")))
            return -1;
        if (strlen(v) >= sizeof(s->expect_value))
            return fail(p, "'expect value' is too long");
        snprintf(s->expect_value, sizeof(s->expect_value), "%s", v);
        s->has_expect_value = true;
        return 0;
    }
    if (!strcmp(what, "gtid-covers")) {
        if (expect_word(p, "expect gtid-covers", "backups") < 0)
            return -1;
        s->gtid_guard = true;
        return 0;
    }
    return fail(p,
                "unknown expectation '%s' (expected read-only, max-lag, rows, value or "
                "gtid-covers)",
                what);
}

/* verify none|required */
static int kw_verify(struct parser *p, const char *kw, void *obj, size_t off)
{
    const char *v = arg(p, kw, "none or required");
    (void)off;

    if (!v)
        return -1;
    if (strcmp(v, "none") && strcmp(v, "required"))
        return fail(p, "'verify' expects none or required, got '%s'", v);
    ((struct conf_server *)obj)->check_verify = !strcmp(v, "required");
    return 0;
}

/* A word argument copied into a char array of SIZE bytes at OFF. */
static int parse_string(struct parser *p, const char *kw, void *obj, size_t off, size_t size)
{
    const char *v = arg(p, kw, "a value");

    if (!v)
        return -1;
    if (strlen(v) >= size)
        return fail(p, "'%s' value is too long (at most %zu bytes)", kw, size - 1);
    snprintf((char *)obj + off, size, "%s", v);
    return 0;
}

static int kw_ca_file(struct parser *p, const char *kw, void *obj, size_t off)
{
    return parse_string(p, kw, obj, off, sizeof(((struct conf_server *)0)->ca_file));
}

static int kw_check_query(struct parser *p, const char *kw, void *obj, size_t off)
{
    return parse_string(p, kw, obj, off, sizeof(((struct conf_server *)0)->check_query));
}

/* ssl [always|as-client|never]: a bare `ssl` is always; the word is taken only if it is one
 * of the three, so `ssl check` reads as two keywords. */
static int kw_ssl(struct parser *p, const char *kw, void *obj, size_t off)
{
    static const struct {
        const char *name;
        enum server_tls tls;
    } words[] = {
        {"always", SERVER_TLS_ALWAYS},
        {"as-client", SERVER_TLS_AS_CLIENT},
        {"never", SERVER_TLS_NEVER},
    };
    struct conf_server *s = obj;
    const char *v = peek(p);
    (void)kw;
    (void)off;

    s->ssl = SERVER_TLS_ALWAYS;
    for (size_t i = 0; v && i < ARRAY_SIZE(words); i++) {
        if (!strcmp(v, words[i].name)) {
            p->pos++;
            s->ssl = words[i].tls;
            break;
        }
    }
    return 0;
}

/* no-ssl: the same as `ssl never`. */
static int kw_no_ssl(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf_server *s = obj;
    (void)p;
    (void)kw;
    (void)off;

    s->ssl = SERVER_TLS_NEVER;
    return 0;
}

/* crt FILE: the client certificate chain and its key, in one PEM file. */
static int kw_crt(struct parser *p, const char *kw, void *obj, size_t off)
{
    return parse_string(p, kw, obj, off, sizeof(((struct conf_server *)0)->ssl_crt));
}

/* One word out of NAMES (NULL-terminated), stored as an int enum at OFF. */
static int parse_enum(struct parser *p, const char *kw, void *obj, size_t off,
                      const char *const *names, const char *expected)
{
    const char *v = arg(p, kw, expected);

    if (!v)
        return -1;
    for (int i = 0; names[i]; i++) {
        if (!strcmp(v, names[i])) {
            *(int *)((char *)obj + off) = i;
            return 0;
        }
    }
    return fail(p, "'%s' expects %s, got '%s'", kw, expected, v);
}

static int kw_observe(struct parser *p, const char *kw, void *obj, size_t off)
{
    static const char *const names[] = {"none", "layer4", "layer7", NULL};
    return parse_enum(p, kw, obj, off, names, "layer4 or layer7");
}

static int kw_on_error(struct parser *p, const char *kw, void *obj, size_t off)
{
    static const char *const names[] = {"fastinter", "fail-check", "sudden-death", "mark-down",
                                        NULL};
    return parse_enum(p, kw, obj, off, names, "fastinter, fail-check, sudden-death or mark-down");
}

#define SRV(f) offsetof(struct conf_server, f)
static const struct keyword server_keywords[] = {
    {"check", kw_check, 0},
    {"no-check", kw_unflag, SRV(check)},
    {"backup", kw_flag, SRV(backup)},
    {"inter", kw_duration, SRV(inter)},
    {"fastinter", kw_duration, SRV(fastinter)},
    {"downinter", kw_duration, SRV(downinter)},
    {"rise", kw_health, SRV(rise)},
    {"fall", kw_health, SRV(fall)},
    {"on-marked-up", kw_on_marked_up, 0},
    {"on-marked-down", kw_on_marked_down, 0},
    {"check-ssl", kw_flag, SRV(check_ssl)},
    {"send-proxy", kw_send_proxy, 0},
    {"send-proxy-v2", kw_send_proxy, 0},
    {"ca-file", kw_ca_file, SRV(ca_file)},
    {"verify", kw_verify, 0},
    {"expect", kw_expect, 0},
    {"check-query", kw_check_query, SRV(check_query)},
    {"observe", kw_observe, SRV(observe)},
    {"error-limit", kw_count, SRV(error_limit)},
    {"on-error", kw_on_error, SRV(on_error)},
    {"max-connecting", kw_count0, SRV(max_connecting)},
    {"ssl", kw_ssl, 0},
    {"no-ssl", kw_no_ssl, 0},
    {"no-ssl-reuse", kw_flag, SRV(no_ssl_reuse)},
    {"crt", kw_crt, SRV(ssl_crt)},
};

/* --- listen / defaults keywords --- */

#define LST(f) offsetof(struct conf_listen, f)

/* A file name of a bind option, into a char array of SIZE bytes at OFF. */
static int kw_bind_file(struct parser *p, const char *kw, void *obj, size_t off)
{
    return parse_string(p, kw, obj, off, sizeof(((struct conf_listen *)0)->ssl_crt));
}

/* ciphers LIST / ciphersuites LIST: checked by OpenSSL when conf_load builds the context. */
static int kw_bind_ciphers(struct parser *p, const char *kw, void *obj, size_t off)
{
    return parse_string(p, kw, obj, off, sizeof(((struct conf_listen *)0)->ciphers));
}

/* ssl-min-ver TLSv1.2|TLSv1.3 */
static int kw_bind_min_ver(struct parser *p, const char *kw, void *obj, size_t off)
{
    const char *v = arg(p, kw, "TLSv1.2 or TLSv1.3");
    int *ver = (int *)((char *)obj + off);

    if (!v)
        return -1;
    if (!strcmp(v, "TLSv1.2"))
        *ver = TLS1_2_VERSION;
    else if (!strcmp(v, "TLSv1.3"))
        *ver = TLS1_3_VERSION;
    else
        return fail(p, "'%s' expects TLSv1.2 or TLSv1.3, got '%s'", kw, v);
    return 0;
}

/* passthrough|preferred|required: the mode words, by name. */
static int kw_bind_mode(struct parser *p, const char *kw, void *obj, size_t off)
{
    static const char *const names[] = {"passthrough", "preferred", "required"};
    struct conf_listen *l = obj;
    (void)p;
    (void)off;

    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (!strcmp(kw, names[i]))
            l->tls_mode = (enum tls_mode)i;
    return 0;
}

/* The options that may follow `ssl` on a bind line, in any order. */
static const struct keyword bind_options[] = {
    {"crt", kw_bind_file, LST(ssl_crt)},
    {"key", kw_bind_file, LST(ssl_key)},
    {"passthrough", kw_bind_mode, 0},
    {"preferred", kw_bind_mode, 0},
    {"required", kw_bind_mode, 0},
    {"ssl-min-ver", kw_bind_min_ver, LST(ssl_min_ver)},
    {"ciphers", kw_bind_ciphers, LST(ciphers)},
    {"ciphersuites", kw_bind_ciphers, LST(ciphersuites)},
};

/* [ssl crt FILE [options]] after bind's address. Without a mode, a certificate means
 * preferred; a mode given twice, or passthrough with a certificate it would never use,
 * is an error. */
static int bind_ssl(struct parser *p, struct conf_listen *l)
{
    const struct keyword *k;
    const char *mode = NULL;

    if (peek(p) && !strcmp(peek(p), "ssl")) {
        p->pos++;
        l->ssl_line = p->line;
    }
    while (peek(p) && (k = find_kw(bind_options, ARRAY_SIZE(bind_options), peek(p)))) {
        p->pos++;
        if (!l->ssl_line)
            return fail(p, "'%s' on a bind line needs 'ssl' before it (bind ADDR ssl crt FILE)",
                        k->name);
        if (k->parse == kw_bind_mode && mode)
            return fail(p, "bind: '%s' and '%s': give one mode only", mode, k->name);
        if (k->parse == kw_bind_mode)
            mode = k->name;
        if (k->parse(p, k->name, l, k->off) < 0)
            return -1;
    }
    if (!l->ssl_line)
        return 0;
    if (!l->ssl_crt[0])
        return fail(p, "'ssl' on a bind line needs 'crt FILE' (the certificate to present)");
    if (!mode)
        l->tls_mode = TLS_PREFERRED;
    else if (l->tls_mode == TLS_PASSTHROUGH)
        return fail(p, "bind: 'passthrough' relays the client's TLS untouched and would never use "
                       "the certificate; drop 'ssl crt FILE' or choose preferred or required");
    return 0;
}

/* bind ADDR [ssl crt FILE [key FILE] [passthrough|preferred|required] [ssl-min-ver V]
 *           [ciphers LIST] [ciphersuites LIST]] */
static int kw_bind(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf_listen *l = obj;
    const char *v = arg(p, kw, "an address like 127.0.0.1:3306");
    char msg[256];
    (void)off;

    if (!v)
        return -1;
    if (p->sec != SEC_LISTEN)
        return fail(p, "'bind' is only allowed in a listen section");
    if (l->has_bind)
        return fail(p, "listen '%s' already has a bind address (%s)", l->name, l->bind.text);
    if (conf_parse_addr(v, &l->bind, msg, sizeof(msg)) < 0)
        return fail(p, "bind: %s", msg);
    l->has_bind = true;
    return bind_ssl(p, l);
}

/* timeout connect|client|server|check|greeting|handshake DURATION */
static int kw_timeout(struct parser *p, const char *kw, void *obj, size_t off)
{
    static const struct keyword kinds[] = {
        {"connect", kw_duration, offsetof(struct conf_listen, timeout_connect)},
        {"client", kw_duration, offsetof(struct conf_listen, timeout_client)},
        {"server", kw_duration, offsetof(struct conf_listen, timeout_server)},
        {"check", kw_duration, offsetof(struct conf_listen, timeout_check)},
        {"greeting", kw_duration, offsetof(struct conf_listen, timeout_greeting)},
        {"handshake", kw_duration, offsetof(struct conf_listen, timeout_handshake)},
        {"queue", kw_duration, offsetof(struct conf_listen, timeout_queue)},
    };
    const char *v = arg(p, kw, "connect, client, server, check, greeting, handshake or queue");
    char name[32];
    (void)off;

    if (!v)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (strcmp(v, kinds[i].name))
            continue;
        snprintf(name, sizeof(name), "timeout %s", v);
        return kinds[i].parse(p, name, obj, kinds[i].off);
    }
    return fail(p,
                "unknown timeout '%s' (expected connect, client, server, check, greeting, "
                "handshake or queue)",
                v);
}

static int kw_option(struct parser *p, const char *kw, void *obj, size_t off)
{
    const char *v = arg(p, kw, "an option name");
    (void)off;

    if (!v)
        return -1;
    if (!strcmp(v, "allbackups")) {
        ((struct conf_listen *)obj)->allbackups = true;
        return 0;
    }
    return fail(p, "unknown option '%s'", v);
}

/* balance first|roundrobin|leastconn */
static int kw_balance(struct parser *p, const char *kw, void *obj, size_t off)
{
    static const char *const names[] = {"first", "roundrobin", "leastconn"};
    const char *v = arg(p, kw, "first, roundrobin or leastconn");
    (void)off;

    if (!v)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (!strcmp(v, names[i])) {
            ((struct conf_listen *)obj)->balance = (enum balance)i;
            return 0;
        }
    }
    return fail(p, "unknown balance algorithm '%s' (expected first, roundrobin or leastconn)", v);
}

static const struct keyword listen_keywords[] = {
    {"bind", kw_bind, 0},     {"retries", kw_count0, LST(retries)}, {"timeout", kw_timeout, 0},
    {"option", kw_option, 0}, {"balance", kw_balance, 0},
};

/* --- global keywords --- */

/* Syslog facility numbers by name (RFC 5424 section 6.2.1); 12-15 have no usual name. */
static const char *const syslog_facilities[] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    NULL,     NULL,     NULL,     NULL,
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7",
};

static int kw_syslog_facility(struct parser *p, const char *kw, void *obj, size_t off)
{
    const char *v = arg(p, kw, "a facility name");
    (void)off;

    if (!v)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(syslog_facilities); i++) {
        if (syslog_facilities[i] && !strcmp(v, syslog_facilities[i])) {
            ((struct conf_health_sink *)obj)->facility = (int)i;
            return 0;
        }
    }
    return fail(p,
                "unknown syslog facility '%s' (expected kern, user, mail, daemon, auth, syslog, "
                "lpr, news, uucp, cron, authpriv, ftp or local0 to local7)",
                v);
}

/* A TAG / APP-NAME: printable ASCII without blanks or the characters that end a TAG. */
static int kw_syslog_tag(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf_health_sink *s = obj;
    const char *v = arg(p, kw, "a tag");
    (void)off;

    if (!v)
        return -1;
    if (!*v || strlen(v) >= sizeof(s->tag) || strcspn(v, ":[]") != strlen(v))
        return fail(p, "syslog tag '%s' must be 1 to %zu characters without ':', '[' or ']'", v,
                    sizeof(s->tag) - 1);
    for (const char *c = v; *c; c++)
        if (*c < 0x21 || *c > 0x7e)
            return fail(p, "syslog tag '%s' must be printable ASCII without blanks", v);
    snprintf(s->tag, sizeof(s->tag), "%s", v);
    return 0;
}

static int kw_syslog_format(struct parser *p, const char *kw, void *obj, size_t off)
{
    const char *v = arg(p, kw, "rfc3164 or rfc5424");
    (void)off;

    if (!v)
        return -1;
    if (!strcmp(v, "rfc3164"))
        ((struct conf_health_sink *)obj)->format = SYSLOG_RFC3164;
    else if (!strcmp(v, "rfc5424"))
        ((struct conf_health_sink *)obj)->format = SYSLOG_RFC5424;
    else
        return fail(p, "unknown syslog format '%s' (expected rfc3164 or rfc5424)", v);
    return 0;
}

/* syslog ADDR [facility NAME] [tag TAG] [format rfc3164|rfc5424]; ADDR is HOST:PORT
 * (UDP) or the absolute path of a unix datagram socket. */
static int health_sink_syslog(struct parser *p, struct conf_health_sink *s)
{
    static const struct keyword options[] = {
        {"facility", kw_syslog_facility, 0},
        {"tag", kw_syslog_tag, 0},
        {"format", kw_syslog_format, 0},
    };
    const char *v = arg(p, "health-log syslog", "HOST:PORT or the path of a unix socket");
    const struct keyword *k;
    char msg[256];

    if (!v)
        return -1;
    s->type = HEALTH_SINK_SYSLOG;
    s->facility = 3; /* daemon */
    snprintf(s->tag, sizeof(s->tag), "rebound");
    s->format = SYSLOG_RFC3164;
    if (v[0] == '/') {
        if (strlen(v) >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
            return fail(p, "health-log syslog: socket path '%s' is too long", v);
        snprintf(s->path, sizeof(s->path), "%s", v);
    } else if (conf_parse_addr(v, &s->addr, msg, sizeof(msg)) < 0) {
        return fail(p, "health-log syslog: %s (expected HOST:PORT or an absolute socket path)",
                    msg);
    }
    while (peek(p) && (k = find_kw(options, ARRAY_SIZE(options), peek(p)))) {
        p->pos++;
        if (k->parse(p, k->name, s, k->off) < 0)
            return -1;
    }
    return 0;
}

/* health-log file PATH | stderr | syslog ADDR [options]; each line adds a sink. */
static int kw_health_log(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf *c = obj;
    struct conf_health_sink *s;
    const char *v = arg(p, kw, "'file PATH', 'stderr' or 'syslog ADDR'");
    (void)off;

    if (!v)
        return -1;
    if (c->nhealth_sinks == CONF_MAX_HEALTH_SINKS)
        return fail(p, "too many health-log sinks (at most %d)", CONF_MAX_HEALTH_SINKS);
    s = &c->health_sinks[c->nhealth_sinks];
    memset(s, 0, sizeof(*s));
    s->line = p->line;
    if (!strcmp(v, "stderr")) {
        s->type = HEALTH_SINK_STDERR;
    } else if (!strcmp(v, "file")) {
        if (!(v = arg(p, "health-log file", "a path")))
            return -1;
        if (!*v || strlen(v) >= sizeof(s->path))
            return fail(p, "health-log file path is empty or too long");
        s->type = HEALTH_SINK_FILE;
        snprintf(s->path, sizeof(s->path), "%s", v);
    } else if (!strcmp(v, "syslog")) {
        if (health_sink_syslog(p, s) < 0)
            return -1;
    } else {
        return fail(p, "'health-log' expects 'file PATH', 'stderr' or 'syslog ADDR', got '%s'", v);
    }
    c->nhealth_sinks++;
    return 0;
}

/* health-log-format text|json */
static int kw_health_log_format(struct parser *p, const char *kw, void *obj, size_t off)
{
    const char *v = arg(p, kw, "text or json");
    (void)off;

    if (!v)
        return -1;
    if (strcmp(v, "text") && strcmp(v, "json"))
        return fail(p, "'health-log-format' expects text or json, got '%s'", v);
    ((struct conf *)obj)->health_log_json = !strcmp(v, "json");
    return 0;
}

/* health-log-ring N: 0 keeps no events in memory. */
static int kw_health_log_ring(struct parser *p, const char *kw, void *obj, size_t off)
{
    int *n = (int *)((char *)obj + off);

    return parse_int(p, kw, 0, CONF_MAX_HEALTH_RING, n);
}

/* threads N|auto: worker threads; auto (stored as 0) is decided at start-up: the CPUs the
 * process may run on. */
static int kw_threads(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf *c = obj;
    const char *v = p->pos < p->ntok ? p->tok[p->pos] : NULL;
    (void)off;

    c->threads_line = p->line;
    if (v && !strcmp(v, "auto")) {
        p->pos++;
        c->threads = 0;
        return 0;
    }
    if (v && strspn(v, "0123456789") == strlen(v) && strlen(v) <= 3 && atoi(v) >= 1 &&
        atoi(v) <= CONF_MAX_THREADS) {
        p->pos++;
        c->threads = atoi(v);
        return 0;
    }
    if (!v)
        return fail(p, "'%s' expects 'auto' or a whole number from 1 to %d, got nothing", kw,
                    CONF_MAX_THREADS);
    return fail(p, "'%s' expects 'auto' or a whole number from 1 to %d, got '%s'", kw,
                CONF_MAX_THREADS, v);
}

/* --- the admin port --- */

const char *conf_admin_password_problem(const char *password)
{
    static const char *const weak[] = {"admin",     "password",      "change-me", "changeme",
                                       "secret",    "rebound",       "12345678",  "123456789",
                                       "password1", "administrator", "adminadmin"};

    if (!*password)
        return "is empty";
    for (size_t i = 0; i < ARRAY_SIZE(weak); i++)
        if (!strcasecmp(password, weak[i]))
            return "is a well-known default";
    if (strlen(password) < 8)
        return "is shorter than 8 characters";
    return NULL;
}

/* user NAME password PASS, as it follows `admin ADDR` and `admin-ro`. */
static int admin_account(struct parser *p, const char *kw, struct conf_admin_user *u)
{
    const char *v, *why;

    if (expect_word(p, kw, "user") < 0 || !(v = arg(p, kw, "a user name")))
        return -1;
    if (!*v || strlen(v) >= sizeof(u->name))
        return fail(p, "'%s': user name '%s' is empty or too long", kw, v);
    snprintf(u->name, sizeof(u->name), "%s", v);
    if (expect_word(p, kw, "password") < 0 || !(v = arg(p, kw, "a password")))
        return -1;
    if (strlen(v) >= sizeof(u->password))
        return fail(p, "'%s': password is too long (at most %zu bytes)", kw,
                    sizeof(u->password) - 1);
    if ((why = conf_admin_password_problem(v)))
        return fail(p, "'%s': the password of user '%s' %s; choose a strong one", kw, u->name, why);
    snprintf(u->password, sizeof(u->password), "%s", v);
    u->line = p->line;
    return 0;
}

/* admin [HOST:]PORT user NAME password PASS */
static int kw_admin(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf_admin *a = &((struct conf *)obj)->admin;
    const char *v = arg(p, kw, "an address like 127.0.0.1:6032");
    char addr[160], msg[256];
    (void)off;

    if (!v)
        return -1;
    if (a->enabled)
        return fail(p, "'admin' already given at line %d", a->line);
    /* A bare port listens on loopback only. */
    snprintf(addr, sizeof(addr), "%s%s", v[strspn(v, "0123456789")] ? "" : "127.0.0.1:", v);
    if (conf_parse_addr(addr, &a->addr, msg, sizeof(msg)) < 0)
        return fail(p, "admin: %s", msg);
    a->enabled = true;
    a->line = p->line;
    return admin_account(p, kw, &a->user);
}

/* admin-ro user NAME password PASS */
static int kw_admin_ro(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf_admin *a = &((struct conf *)obj)->admin;
    (void)off;

    if (a->has_ro)
        return fail(p, "'admin-ro' already given at line %d", a->ro_line);
    a->has_ro = true;
    a->ro_line = p->line;
    return admin_account(p, kw, &a->ro);
}

/* admin-ssl crt FILE key FILE */
static int kw_admin_ssl(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf_admin *a = &((struct conf *)obj)->admin;
    (void)off;

    if (expect_word(p, kw, "crt") < 0 ||
        parse_string(p, "admin-ssl crt", a, offsetof(struct conf_admin, ssl_crt),
                     sizeof(a->ssl_crt)) < 0 ||
        expect_word(p, kw, "key") < 0 ||
        parse_string(p, "admin-ssl key", a, offsetof(struct conf_admin, ssl_key),
                     sizeof(a->ssl_key)) < 0)
        return -1;
    a->ssl_line = p->line;
    return 0;
}

/* The admin lines that only make sense together. */
static int finish_admin(struct parser *p)
{
    struct conf_admin *a = &p->conf->admin;

    p->line = a->ro_line ? a->ro_line : a->ssl_line;
    if (!a->enabled && (a->has_ro || a->ssl_line))
        return fail(p, "'admin-ro' and 'admin-ssl' need an 'admin ADDR user NAME password PASS' "
                       "line");
    p->line = a->ro_line;
    if (a->has_ro && !strcmp(a->ro.name, a->user.name))
        return fail(p, "'admin-ro' user '%s' is already the admin user", a->ro.name);
    return 0;
}

/* stats ADDR:PORT - the HTTP stats port (stats_http.c). */
static int kw_stats(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf *c = obj;
    const char *v = arg(p, kw, "an address like 127.0.0.1:8404");
    char msg[256];
    (void)off;

    if (!v)
        return -1;
    if (conf_parse_addr(v, &c->stats, msg, sizeof(msg)) < 0)
        return fail(p, "stats: %s", msg);
    c->has_stats = true;
    c->stats_line = p->line;
    return 0;
}

static const struct keyword global_keywords[] = {
    {"stats", kw_stats, 0},
    {"admin", kw_admin, 0},
    {"admin-ro", kw_admin_ro, 0},
    {"admin-ssl", kw_admin_ssl, 0},
    {"maxconn", kw_count, offsetof(struct conf, maxconn)},
    {"threads", kw_threads, 0},
    {"health-log", kw_health_log, 0},
    {"health-log-format", kw_health_log_format, 0},
    {"health-log-ring", kw_health_log_ring, offsetof(struct conf, health_log_ring)},
};

static const struct keyword *find_kw(const struct keyword *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(t[i].name, name))
            return &t[i];
    return NULL;
}

/* --- lines --- */

/* Split LINE in place into p->tok: words, "double" (with \ escapes) or 'single'
 * quoted strings; # starts a comment outside quotes. */
static int tokenize(struct parser *p, char *line)
{
    char *r = line, *w;

    p->ntok = 0;
    p->pos = 0;
    for (;;) {
        while (*r == ' ' || *r == '\t' || *r == '\r' || *r == '\n')
            r++;
        if (!*r || *r == '#')
            return 0;
        if (p->ntok == MAX_TOKENS)
            return fail(p, "too many words on one line (at most %d)", MAX_TOKENS);
        w = r;
        p->tok[p->ntok++] = w;
        while (*r && *r != ' ' && *r != '\t' && *r != '\r' && *r != '\n') {
            char q = *r;
            if (q != '"' && q != '\'') {
                *w++ = *r++;
                continue;
            }
            for (r++; *r && *r != q; r++) {
                if (q == '"' && *r == '\\' && r[1])
                    r++;
                *w++ = *r;
            }
            if (!*r)
                return fail(p, "unterminated quoted string");
            r++;
        }
        if (*r)
            r++;
        *w = '\0';
    }
}

static void set_listen_defaults(struct conf_listen *l)
{
    memset(l, 0, sizeof(*l));
    l->retries = 2;
    l->timeout_connect = 2000;
    l->timeout_client = 8 * 3600 * 1000;
    l->timeout_server = 8 * 3600 * 1000;
    l->timeout_check = 1000;
    l->timeout_greeting = 500;
    l->timeout_handshake = 5000;
    l->ssl_min_ver = TLS1_2_VERSION;
    l->defsrv.method = CHECK_METHOD_MYSQL;
    l->defsrv.inter = 2000;
    l->defsrv.rise = 2;
    l->defsrv.fall = 3;
    l->defsrv.expect_read_only = EXPECT_ANY;
    l->defsrv.max_lag = EXPECT_ANY;
    l->defsrv.expect_rows = EXPECT_ANY;
    l->defsrv.error_limit = 10;
    l->defsrv.on_error = ON_ERROR_FAIL_CHECK;
    l->defsrv.max_connecting = 0;
}

/* A run of keywords; in defaults/listen both listen and server keywords. */
static int parse_keywords(struct parser *p, const char *where)
{
    while (p->pos < p->ntok) {
        const char *name = p->tok[p->pos++];
        const struct keyword *k = NULL;
        void *obj = NULL;

        if (p->sec == SEC_GLOBAL) {
            k = find_kw(global_keywords, ARRAY_SIZE(global_keywords), name);
            obj = p->conf;
        } else {
            struct conf_listen *l = p->sec == SEC_LISTEN ? p->cur : &p->defaults;
            if ((k = find_kw(listen_keywords, ARRAY_SIZE(listen_keywords), name)))
                obj = l;
            else if ((k = find_kw(server_keywords, ARRAY_SIZE(server_keywords), name)))
                obj = &l->defsrv;
        }
        if (!k)
            return fail(p, "unknown keyword '%s' in %s", name, where);
        if (k->parse(p, name, obj, k->off) < 0)
            return -1;
    }
    return 0;
}

/* server NAME ADDR [options] */
static int parse_server(struct parser *p)
{
    struct conf_listen *l = p->cur;
    struct conf_server *s, *grown;
    const char *name, *addr;
    char msg[256];

    if (p->sec != SEC_LISTEN)
        return fail(p, "'server' is only allowed in a listen section");
    if (!(name = arg(p, "server", "a name and an address")) ||
        !(addr = arg(p, "server", "an address like 10.0.0.10:3306")))
        return -1;
    if (!*name || strlen(name) >= CONF_NAME_MAX || strchr(name, '/'))
        return fail(p, "server name '%s' is empty, too long or contains '/'", name);
    for (int i = 0; i < l->nservers; i++)
        if (!strcmp(l->servers[i].name, name))
            return fail(p, "server '%s' already defined in listen '%s' at line %d", name, l->name,
                        l->servers[i].line);
    if (l->nservers == CONF_MAX_SERVERS)
        return fail(p, "too many servers in listen '%s' (at most %d)", l->name, CONF_MAX_SERVERS);
    grown = realloc(l->servers, (size_t)(l->nservers + 1) * sizeof(*s));
    if (!grown)
        return fail(p, "out of memory");
    l->servers = grown;
    s = &l->servers[l->nservers++];
    *s = l->defsrv;
    s->line = p->line;
    snprintf(s->name, sizeof(s->name), "%s", name);
    if (conf_parse_addr(addr, &s->addr, msg, sizeof(msg)) < 0)
        return fail(p, "server '%s': %s", name, msg);
    while (p->pos < p->ntok) {
        const char *kw = p->tok[p->pos++];
        const struct keyword *k = find_kw(server_keywords, ARRAY_SIZE(server_keywords), kw);
        if (!k)
            return fail(p, "unknown server option '%s'", kw);
        if (k->parse(p, kw, s, k->off) < 0)
            return -1;
    }
    return 0;
}

/* Settle a server's TLS once its listen's bind is known: at run time a server's ssl is
 * never, always or as-client. */
static int finish_server_tls(struct parser *p, const struct conf_listen *l, struct conf_server *s)
{
    if (s->ssl == SERVER_TLS_DEFAULT)
        s->ssl = l->tls_mode != TLS_PASSTHROUGH ? SERVER_TLS_AS_CLIENT : SERVER_TLS_NEVER;
    if (s->ssl == SERVER_TLS_AS_CLIENT && l->tls_mode == TLS_PASSTHROUGH)
        return fail(p,
                    "'ssl as-client' needs a listener that terminates TLS (bind ... ssl crt FILE)");
    if (s->ssl == SERVER_TLS_NEVER && s->ssl_crt[0])
        return fail(p,
                    "server '%s': 'crt %s' is a client certificate for TLS to the server, but "
                    "this server gets no TLS (add 'ssl', or terminate TLS on the bind line)",
                    s->name, s->ssl_crt);
    return 0;
}

/* Checks that need the whole section: run when the section ends. */
static int finish_listen(struct parser *p, struct conf_listen *l)
{
    int line = p->line;

    p->line = l->line;
    if (!l->has_bind)
        return fail(p, "listen '%s' has no 'bind' address", l->name);
    if (l->nservers == 0)
        return fail(p, "listen '%s' has no server", l->name);
    for (int i = 0; i < l->nservers; i++) {
        struct conf_server *s = &l->servers[i];
        p->line = s->line;
        if (s->check && s->method == CHECK_METHOD_MYSQL && !s->check_user[0])
            return fail(p,
                        "server '%s' has a MySQL check but no check user "
                        "(add 'check mysql user NAME [password PASS]' or use 'check tcp')",
                        s->name);
        if ((s->expect_rows != EXPECT_ANY || s->has_expect_value) && !s->check_query[0])
            return fail(p, "server '%s': 'expect rows' and 'expect value' need a 'check-query'",
                        s->name);
        if (s->method == CHECK_METHOD_TCP &&
            (s->expect_read_only != EXPECT_ANY || s->max_lag != EXPECT_ANY || s->check_query[0] ||
             s->gtid_guard))
            return fail(p, "server '%s': expectations need a MySQL check, not 'check tcp'",
                        s->name);
        if (s->gtid_guard && s->backup)
            return fail(p,
                        "server '%s': 'expect gtid-covers backups' is for an active server "
                        "(the master), not a backup",
                        s->name);
        if (s->gtid_guard && !s->check)
            return fail(p, "server '%s': 'expect gtid-covers backups' needs 'check'", s->name);
        if (finish_server_tls(p, l, s) < 0)
            return -1;
    }
    /* A guard compares positions that the checks of the listen's servers read. */
    for (int i = 0; i < l->nservers; i++)
        if (l->servers[i].gtid_guard)
            for (int j = 0; j < l->nservers; j++)
                l->servers[j].read_gtid = l->servers[j].method == CHECK_METHOD_MYSQL;
    p->line = line;
    return 0;
}

static int start_section(struct parser *p)
{
    const char *kw = p->tok[p->pos++];

    if (p->sec == SEC_LISTEN && finish_listen(p, p->cur) < 0)
        return -1;
    if (!strcmp(kw, "global")) {
        p->sec = SEC_GLOBAL;
    } else if (!strcmp(kw, "defaults")) {
        p->sec = SEC_DEFAULTS;
    } else {
        struct conf *c = p->conf;
        struct conf_listen *grown;
        const char *name = arg(p, "listen", "a name");

        if (!name)
            return -1;
        if (!*name || strlen(name) >= CONF_NAME_MAX || strchr(name, '/'))
            return fail(p, "listen name '%s' is empty, too long or contains '/'", name);
        for (int i = 0; i < c->nlistens; i++)
            if (!strcmp(c->listens[i].name, name))
                return fail(p, "listen '%s' already defined at line %d", name, c->listens[i].line);
        grown = realloc(c->listens, (size_t)(c->nlistens + 1) * sizeof(*grown));
        if (!grown)
            return fail(p, "out of memory");
        c->listens = grown;
        p->cur = &c->listens[c->nlistens++];
        *p->cur = p->defaults;
        p->cur->servers = NULL;
        p->cur->nservers = 0;
        p->cur->has_bind = false;
        p->cur->line = p->line;
        snprintf(p->cur->name, sizeof(p->cur->name), "%s", name);
        p->sec = SEC_LISTEN;
    }
    return 0;
}

static int parse_line(struct parser *p, char *line)
{
    const char *kw;

    if (tokenize(p, line) < 0)
        return -1;
    if (p->ntok == 0)
        return 0;
    kw = p->tok[0];
    if (!strcmp(kw, "global") || !strcmp(kw, "defaults") || !strcmp(kw, "listen")) {
        if (start_section(p) < 0)
            return -1;
        return parse_keywords(p, kw);
    }
    if (p->sec == SEC_NONE)
        return fail(p, "'%s' outside of any section (start with global, defaults or listen)", kw);
    if (!strcmp(kw, "server")) {
        p->pos++;
        return parse_server(p);
    }
    return parse_keywords(p, p->sec == SEC_GLOBAL     ? "global section"
                             : p->sec == SEC_DEFAULTS ? "defaults section"
                                                      : "listen section");
}

struct conf *conf_parse(const char *text, const char *name, char *err, size_t errlen)
{
    struct parser p = {.file = name, .err = err, .errlen = errlen};
    char line[MAX_LINE];
    const char *s = text;

    if (!(p.conf = calloc(1, sizeof(*p.conf)))) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    snprintf(p.conf->file, sizeof(p.conf->file), "%s", name);
    p.conf->maxconn = 10000;
    p.conf->health_log_ring = 1000;
    set_listen_defaults(&p.defaults);
    while (*s) {
        size_t n = strcspn(s, "\n");
        p.line++;
        if (n >= sizeof(line)) {
            fail(&p, "line too long (at most %d bytes)", MAX_LINE - 1);
            goto bad;
        }
        memcpy(line, s, n);
        line[n] = '\0';
        s += n + (s[n] == '\n');
        if (parse_line(&p, line) < 0)
            goto bad;
    }
    if (p.sec == SEC_LISTEN && finish_listen(&p, p.cur) < 0)
        goto bad;
    if (p.conf->nlistens == 0) {
        p.line = p.line ? p.line : 1;
        fail(&p, "no listen section: nothing to route");
        goto bad;
    }
    if (finish_admin(&p) < 0)
        goto bad;
    return p.conf;
bad:
    conf_free(p.conf);
    return NULL;
}

/* The TLS server context of a listener that terminates TLS. */
static int listen_tls(const struct conf *c, struct conf_listen *l, char *err, size_t errlen)
{
    const char *key = l->ssl_key[0] ? l->ssl_key : l->ssl_crt;
    char msg[512];

    if (tls_key_file_private(key, msg, sizeof(msg)) < 0 ||
        !(l->ssl_ctx = tls_server_ctx(l->ssl_crt, key, msg, sizeof(msg))) ||
        tls_ctx_protocols(l->ssl_ctx, l->ssl_min_ver, l->ciphers, l->ciphersuites, msg,
                          sizeof(msg)) < 0)
        return conf_fail(c, l->ssl_line, err, errlen, "%s", msg);
    return 0;
}

/* The TLS client context rebound uses towards server S for client sessions. */
static int server_tls(const struct conf *c, struct conf_server *s, char *err, size_t errlen)
{
    char msg[512];

    if ((s->ssl_crt[0] && tls_key_file_private(s->ssl_crt, msg, sizeof(msg)) < 0) ||
        !(s->ssl_ctx = tls_client_ctx(s->ca_file, s->check_verify, s->ssl_crt, !s->no_ssl_reuse,
                                      msg, sizeof(msg))))
        return conf_fail(c, s->line, err, errlen, "%s", msg);
    return 0;
}

/* Load every certificate and key of the listeners and servers, so that `rebound -c` and a
 * reload refuse a file that does not load, with its line. (The admin port builds its own
 * context, in admin.c.) */
static int conf_load_tls(struct conf *c, char *err, size_t errlen)
{
    for (int i = 0; i < c->nlistens; i++) {
        struct conf_listen *l = &c->listens[i];
        if (l->tls_mode != TLS_PASSTHROUGH && listen_tls(c, l, err, errlen) < 0)
            return -1;
        for (int j = 0; j < l->nservers; j++)
            if (l->servers[j].ssl != SERVER_TLS_NEVER &&
                server_tls(c, &l->servers[j], err, errlen) < 0)
                return -1;
    }
    return 0;
}

struct conf *conf_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t len = 0;
    struct conf *c = NULL;

    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (len = (size_t)ftell(f)) < 16 * 1024 * 1024 &&
        fseek(f, 0, SEEK_SET) == 0 && (text = malloc(len + 1)) && fread(text, 1, len, f) == len) {
        text[len] = '\0';
        if (strlen(text) != len)
            snprintf(err, errlen, "%s: contains a NUL byte", path);
        else
            c = conf_parse(text, path, err, errlen);
    } else {
        snprintf(err, errlen, "%s: cannot read (or larger than 16 MiB)", path);
    }
    free(text);
    fclose(f);
    if (c && conf_load_tls(c, err, errlen) < 0) {
        conf_free(c);
        return NULL;
    }
    return c;
}

void conf_free(struct conf *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nlistens; i++) {
        struct conf_listen *l = &c->listens[i];
        for (int j = 0; j < l->nservers; j++)
            SSL_CTX_free(l->servers[j].ssl_ctx);
        SSL_CTX_free(l->ssl_ctx);
        free(l->servers);
    }
    free(c->listens);
    free(c);
}
