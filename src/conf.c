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

#include "rebound.h"

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
    if (errno || *end || end == port || pnum < 1 || pnum > 65535) {
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

static int parse_int(struct parser *p, const char *kw, int min, int *out)
{
    const char *v = arg(p, kw, "a number");
    char *end;
    long n;

    if (!v)
        return -1;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < min || n > INT_MAX)
        return fail(p, "'%s' expects a whole number of at least %d, got '%s'", kw, min, v);
    *out = (int)n;
    return 0;
}

static int kw_count(struct parser *p, const char *kw, void *obj, size_t off)
{
    return parse_int(p, kw, 1, (int *)((char *)obj + off));
}

static int kw_count0(struct parser *p, const char *kw, void *obj, size_t off)
{
    return parse_int(p, kw, 0, (int *)((char *)obj + off));
}

static int kw_duration(struct parser *p, const char *kw, void *obj, size_t off)
{
    const char *v = arg(p, kw, "a duration");

    if (!v)
        return -1;
    if (conf_parse_duration(v, (unsigned *)((char *)obj + off)) < 0)
        return fail(p, "'%s' expects a duration like 500ms, 2s, 5m or 1h, got '%s'", kw, v);
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

/* expect read-only on|off | max-lag SECONDS | rows N | value V */
static int kw_expect(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf_server *s = obj;
    const char *what = arg(p, kw, "read-only, max-lag, rows or value");
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
        if (v[strspn(v, "0123456789")] == '\0' && conf_parse_duration(v, &ms) == 0 &&
            ms <= 86400u * 365)
            s->max_lag = (int)ms;
        else if (conf_parse_duration(v, &ms) == 0)
            s->max_lag = (int)(ms / 1000);
        else
            return fail(p, "'expect max-lag' expects a number of seconds, got '%s'", v);
        return 0;
    }
    if (!strcmp(what, "rows"))
        return parse_int(p, "expect rows", 0, &s->expect_rows);
    if (!strcmp(what, "value")) {
        if (!(v = arg(p, "expect value", "a value")))
            return -1;
        if (strlen(v) >= sizeof(s->expect_value))
            return fail(p, "'expect value' is too long");
        snprintf(s->expect_value, sizeof(s->expect_value), "%s", v);
        s->has_expect_value = true;
        return 0;
    }
    return fail(p, "unknown expectation '%s' (expected read-only, max-lag, rows or value)", what);
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

#define SRV(f) offsetof(struct conf_server, f)
static const struct keyword server_keywords[] = {
    {"check", kw_check, 0},
    {"no-check", kw_unflag, SRV(check)},
    {"backup", kw_flag, SRV(backup)},
    {"inter", kw_duration, SRV(inter)},
    {"fastinter", kw_duration, SRV(fastinter)},
    {"downinter", kw_duration, SRV(downinter)},
    {"rise", kw_count, SRV(rise)},
    {"fall", kw_count, SRV(fall)},
    {"on-marked-up", kw_on_marked_up, 0},
    {"on-marked-down", kw_on_marked_down, 0},
    {"check-ssl", kw_flag, SRV(check_ssl)},
    {"ca-file", kw_ca_file, SRV(ca_file)},
    {"verify", kw_verify, 0},
    {"expect", kw_expect, 0},
    {"check-query", kw_check_query, SRV(check_query)},
};

/* --- listen / defaults keywords --- */

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
    if (conf_parse_addr(v, &l->bind, msg, sizeof(msg)) < 0)
        return fail(p, "bind: %s", msg);
    l->has_bind = true;
    return 0;
}

/* timeout connect|client|server|check DURATION */
static int kw_timeout(struct parser *p, const char *kw, void *obj, size_t off)
{
    static const struct keyword kinds[] = {
        {"connect", kw_duration, offsetof(struct conf_listen, timeout_connect)},
        {"client", kw_duration, offsetof(struct conf_listen, timeout_client)},
        {"server", kw_duration, offsetof(struct conf_listen, timeout_server)},
        {"check", kw_duration, offsetof(struct conf_listen, timeout_check)},
    };
    const char *v = arg(p, kw, "connect, client, server or check");
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
    return fail(p, "unknown timeout '%s' (expected connect, client, server or check)", v);
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

#define LST(f) offsetof(struct conf_listen, f)
static const struct keyword listen_keywords[] = {
    {"bind", kw_bind, 0},     {"retries", kw_count0, LST(retries)}, {"timeout", kw_timeout, 0},
    {"option", kw_option, 0}, {"balance", kw_balance, 0},
};

/* --- global keywords --- */

/* health-log file PATH | stderr */
static int kw_health_log(struct parser *p, const char *kw, void *obj, size_t off)
{
    struct conf *c = obj;
    const char *v = arg(p, kw, "'file PATH' or 'stderr'");
    (void)off;

    if (!v)
        return -1;
    if (!strcmp(v, "stderr")) {
        c->health_log[0] = '\0';
        return 0;
    }
    if (strcmp(v, "file"))
        return fail(p, "'health-log' expects 'file PATH' or 'stderr', got '%s'", v);
    if (!(v = arg(p, "health-log file", "a path")))
        return -1;
    if (strlen(v) >= sizeof(c->health_log))
        return fail(p, "health-log path is too long");
    snprintf(c->health_log, sizeof(c->health_log), "%s", v);
    return 0;
}

static const struct keyword global_keywords[] = {
    {"maxconn", kw_count, offsetof(struct conf, maxconn)},
    {"health-log", kw_health_log, 0},
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
    l->defsrv.method = CHECK_METHOD_MYSQL;
    l->defsrv.inter = 2000;
    l->defsrv.rise = 2;
    l->defsrv.fall = 3;
    l->defsrv.expect_read_only = EXPECT_ANY;
    l->defsrv.max_lag = EXPECT_ANY;
    l->defsrv.expect_rows = EXPECT_ANY;
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
    if (strlen(name) >= CONF_NAME_MAX || strchr(name, '/'))
        return fail(p, "server name '%s' is too long or contains '/'", name);
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
            (s->expect_read_only != EXPECT_ANY || s->max_lag != EXPECT_ANY || s->check_query[0]))
            return fail(p, "server '%s': expectations need a MySQL check, not 'check tcp'",
                        s->name);
    }
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
        if (strlen(name) >= CONF_NAME_MAX || strchr(name, '/'))
            return fail(p, "listen name '%s' is too long or contains '/'", name);
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
        fail(&p, "no listen section: nothing to route");
        goto bad;
    }
    return p.conf;
bad:
    conf_free(p.conf);
    return NULL;
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
    return c;
}

void conf_free(struct conf *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nlistens; i++)
        free(c->listens[i].servers);
    free(c->listens);
    free(c);
}
