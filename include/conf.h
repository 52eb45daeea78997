/* conf.h - the configuration: grammar in conf.c, immutable structs here. */
#ifndef CONF_H
#define CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define CONF_NAME_MAX    64
#define CONF_MAX_THREADS 64
#define CONF_MAX_SERVERS 64 /* per listen: a session's tried-set is a 64-bit mask */

/* How a server is health-checked. */
enum check_method {
    CHECK_METHOD_MYSQL, /* L7: greeting, login as the check user, COM_QUIT */
    CHECK_METHOD_TCP,   /* L4: TCP connect only */
};

/* How a new session chooses among several usable active servers. */
enum balance {
    BALANCE_FIRST,      /* the first in config order (master first) */
    BALANCE_ROUNDROBIN, /* each in turn */
    BALANCE_LEASTCONN,  /* the one with the fewest sessions */
};

/* Which traffic errors count against a server (observe). */
enum observe_layer {
    OBSERVE_NONE,
    OBSERVE_LAYER4, /* connect failures, timeouts, resets, missing greetings */
    OBSERVE_LAYER7, /* layer 4, plus ERR packets and breaks in the MySQL stream */
};

/* What to do after error-limit consecutive traffic errors (on-error). */
enum on_error {
    ON_ERROR_FASTINTER,    /* check at fastinter now */
    ON_ERROR_FAIL_CHECK,   /* count as one failed check */
    ON_ERROR_SUDDEN_DEATH, /* one failed check short of DOWN */
    ON_ERROR_MARK_DOWN,    /* DOWN now */
};

/* What a listener does with a client that asks for TLS (`bind ... ssl crt FILE [MODE]`). */
enum tls_mode {
    TLS_PASSTHROUGH, /* relay the client's TLS to the server untouched (no certificate given) */
    TLS_PREFERRED,   /* offer TLS and terminate it; plain clients are welcome too */
    TLS_REQUIRED,    /* terminate TLS; a client that does not switch gets error 3159 */
};

/* When rebound talks TLS to a server for client sessions (`ssl` on a server line). */
enum server_tls {
    SERVER_TLS_DEFAULT,   /* not given: as-client behind a terminating listener, else never */
    SERVER_TLS_NEVER,     /* plain (in passthrough, the client's own TLS still passes) */
    SERVER_TLS_ALWAYS,    /* TLS whatever the client did */
    SERVER_TLS_AS_CLIENT, /* TLS exactly when the client switched to TLS with rebound */
};

/* A resolved socket address with its text form ("127.0.0.1:3306"). */
struct conf_addr {
    struct sockaddr_storage sa;
    socklen_t len;
    char host[64]; /* numeric host, without brackets */
    unsigned port;
    char text[80];
};

/* One `server` line. Also used, unnamed, as the defaults that `defaults` and
 * `listen` sections give to the servers that follow them. Durations in ms. */
struct conf_server {
    char name[CONF_NAME_MAX];
    struct conf_addr addr;
    bool check;  /* health checks enabled */
    bool backup; /* used only when no active server is usable */
    enum check_method method;
    char check_user[CONF_NAME_MAX];
    char check_password[128];
    bool check_has_password;
    unsigned inter, fastinter, downinter; /* 0 for fast/down = same as inter */
    int rise, fall;
    bool shutdown_backup_sessions; /* on-marked-up shutdown-backup-sessions */
    unsigned graceful_ms;   /* ... graceful TIME: busy sessions close at their next safe boundary,
                               all by TIME; 0: every session at once */
    bool shutdown_sessions; /* on-marked-down shutdown-sessions */
    bool check_ssl;         /* TLS in the check (MySQL SSL upgrade, or raw TLS) */
    int send_proxy;         /* PROXY protocol header to send first: 0 none, 1 or 2 */
    bool check_verify;      /* verify required: the certificate must check out */
    char ca_file[256];
    int expect_read_only; /* EXPECT_ANY, 0 (off) or 1 (on) */
    int max_lag;          /* seconds; EXPECT_ANY for no limit */
    bool gtid_guard;      /* expect gtid-covers backups: UP only holding all the backups hold */
    bool read_gtid;       /* not parsed: the check reads the GTID position, set on every server
                             of a listen with a GTID guard */
    char check_query[512];
    int expect_rows; /* EXPECT_ANY, or the row count check-query must return */
    bool has_expect_value;
    char expect_value[128]; /* first column of check-query's first row */
    enum observe_layer observe;
    int error_limit;
    enum on_error on_error;
    int max_connecting;  /* connects in flight at once from client sessions, 0: no bound */
    enum server_tls ssl; /* ssl [always|as-client|never] */
    char ssl_crt[256];   /* crt FILE: a client certificate (chain and key) for the server */
    bool no_ssl_reuse;   /* no-ssl-reuse: every TLS handshake with the server is a full one */
    struct ssl_ctx_st *ssl_ctx; /* not parsed: the client context built from ssl, verify,
                                   ca-file and crt by conf_load (NULL: no TLS to the server) */
    int line;
};

#define EXPECT_ANY (-1)

/* One `listen` section (and the `defaults` template it starts from). */
struct conf_listen {
    char name[CONF_NAME_MAX];
    struct conf_addr bind;
    bool has_bind;
    int retries;
    unsigned timeout_connect, timeout_client, timeout_server, timeout_check;
    unsigned timeout_greeting;  /* connected, but no greeting: try the next server */
    unsigned timeout_handshake; /* from accept to the end of the client's MySQL login */
    unsigned timeout_queue; /* waiting for a connect slot (max-connecting); 0: timeout connect */
    bool allbackups;
    enum balance balance;
    enum tls_mode tls_mode;     /* bind ... ssl crt FILE [passthrough|preferred|required] */
    char ssl_crt[256];          /* the certificate chain, and the key unless ssl_key is given */
    char ssl_key[256];          /* key FILE, "" for the key in ssl_crt */
    int ssl_min_ver;            /* ssl-min-ver: TLS1_2_VERSION (default) or TLS1_3_VERSION */
    char ciphers[512];          /* ciphers LIST (TLS 1.2), "" for OpenSSL's default */
    char ciphersuites[512];     /* ciphersuites LIST (TLS 1.3), "" for OpenSSL's default */
    int ssl_line;               /* the bind line that gave `ssl`, 0 if none */
    struct ssl_ctx_st *ssl_ctx; /* not parsed: the server context conf_load built from the
                                   above (NULL in passthrough); sessions hold their own
                                   references, so a reload may free it */
    struct conf_server defsrv;  /* server defaults for the lines that follow */
    struct conf_server *servers;
    int nservers;
    int line;
};

/* Where a `health-log` line sends the health log. */
enum health_sink_type {
    HEALTH_SINK_STDERR,
    HEALTH_SINK_FILE,   /* appended; reopened on SIGHUP */
    HEALTH_SINK_SYSLOG, /* one datagram per line, over UDP or a unix socket */
};

/* The two syslog header formats. */
enum syslog_format {
    SYSLOG_RFC3164, /* <PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG */
    SYSLOG_RFC5424, /* <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG */
};

#define CONF_MAX_HEALTH_SINKS 8
#define CONF_MAX_HEALTH_RING  100000

/* One `health-log` line of the global section. */
struct conf_health_sink {
    enum health_sink_type type;
    char path[256];        /* the file, or the syslog unix socket ("" for UDP) */
    struct conf_addr addr; /* syslog over UDP */
    int facility;          /* syslog facility number: daemon = 3, local0 = 16 */
    char tag[33];          /* syslog TAG (RFC 3164) / APP-NAME (RFC 5424) */
    enum syslog_format format;
    int line;
};

/* An account of the admin port. The password is kept in clear: both auth plugins
 * (mysql_native_password, caching_sha2_password) are checked against it. */
struct conf_admin_user {
    char name[CONF_NAME_MAX];
    char password[128];
    int line;
};

/* The `admin`, `admin-ro` and `admin-ssl` lines: the SQL admin port. */
struct conf_admin {
    bool enabled;
    struct conf_addr addr;       /* a bare port means 127.0.0.1:PORT */
    struct conf_admin_user user; /* may read and write */
    bool has_ro;
    struct conf_admin_user ro; /* may only read */
    char ssl_crt[256];         /* admin-ssl: offer TLS with this certificate... */
    char ssl_key[256];         /* ...and key; "" when TLS is not offered */
    int line, ro_line, ssl_line;
};

/* The whole configuration; never changed once loaded. */
struct conf {
    char file[256];
    int maxconn;
    unsigned fd_room; /* not parsed: the descriptors sessions may use, set at start and reload
                         from the descriptor limit (0: unknown, no limit) */
    int threads;      /* worker threads; 0 = auto (the CPUs the process may run on) */
    int threads_line; /* where `threads` was given, 0 if not */
    struct conf_health_sink health_sinks[CONF_MAX_HEALTH_SINKS]; /* none given = stderr */
    int nhealth_sinks;
    bool health_log_json; /* health-log-format json: JSON lines to files and stderr */
    int health_log_ring;  /* events kept in memory for the admin port */
    struct conf_listen *listens;
    int nlistens;
    struct conf_admin admin;
    bool has_stats;         /* `stats ADDR:PORT` given: serve HTTP stats there */
    struct conf_addr stats; /* no default: no stats port unless configured */
    int stats_line;         /* the `stats` line, for errors found when binding it */
};

/* Why PASSWORD is unfit for the admin port (empty, short, a well-known default), or
 * NULL when it will do. */
const char *conf_admin_password_problem(const char *password);

/* An error found after parsing (an address that cannot be bound, a certificate that does not
 * load), told like a parse error: "FILE:LINE: message" of configuration C into err, where LINE
 * is the line of the keyword at fault. Always returns -1. */
int conf_fail(const struct conf *c, int line, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Parse FILE. On error returns NULL and writes "file:line: message" to err. */
struct conf *conf_load(const char *path, char *err, size_t errlen);
/* Parse text already in memory; NAME is used in error messages. */
struct conf *conf_parse(const char *text, const char *name, char *err, size_t errlen);
void conf_free(struct conf *c);

/* "500ms", "2s", "5m", "1h", "250" (ms). Returns 0, or -1 if malformed or too large. */
int conf_parse_duration(const char *s, unsigned *ms);
/* "host:port", "[v6]:port", "*:port". Numeric hosts are not looked up; names are
 * resolved once, here, at load time. Returns 0 or -1 with a message in err. */
int conf_parse_addr(const char *s, struct conf_addr *a, char *err, size_t errlen);

/* Effective check intervals of a server (fastinter/downinter default to inter). */
unsigned conf_fastinter(const struct conf_server *s);
unsigned conf_downinter(const struct conf_server *s);

#endif
