/* check.h - active health checks (L4 connect, L7 MySQL login) and their statuses. */
#ifndef CHECK_H
#define CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "gtid.h"

/* Every way a check can end; described in check_statuses[]. */
enum check_status {
    CHK_UNK,
    CHK_INI,
    CHK_SOCKERR,
    CHK_L4OK,
    CHK_L4TOUT,
    CHK_L4CON,
    CHK_L6OK,
    CHK_L6TOUT,
    CHK_L6RSP,
    CHK_L7OK,
    CHK_L7OKC,
    CHK_L7TOUT,
    CHK_L7RSP,
    CHK_L7STS,
    CHK_L7GTID, /* the GTID guard: a backup holds transactions the returning master lacks */
    CHK_HANA,
    CHK__COUNT
};

/* What a status means for the server's health counter. */
enum check_class {
    CHK_NEUTRAL, /* no verdict (UNK, INI) */
    CHK_PASSED,
    CHK_FAILED,
    CHK_CONDITIONAL, /* passed, but the server should take no new sessions */
};

/* One row of the status table: the single source for logs and the admin side. */
struct check_status_info {
    const char *name; /* "L4CON" */
    const char *desc; /* "Layer4 connection problem" */
    enum check_class cls;
    bool has_code; /* the log shows "code: N" */
};

extern const struct check_status_info check_statuses[CHK__COUNT];

/* The outcome of one check. */
struct check_result {
    enum check_status status;
    int code;             /* MySQL errno for L7STS, client errno for L7RSP, 0 otherwise */
    unsigned duration_ms; /* from start to verdict */
    char info[160];       /* server version, error message, ... */
};

struct server;
typedef struct st_mysql MYSQL;
typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

/* The GTID position a check read, for the GTID guard (server.c): asked when the server's
 * listen has a master with `expect gtid-covers backups` (conf read_gtid). */
struct check_gtid {
    bool asked;              /* the latest check got as far as asking */
    bool ok;                 /* and was answered: POS holds the position, else WHY says why not */
    enum gtid_flavor flavor; /* MariaDB @@gtid_current_pos or MySQL @@gtid_executed */
    char pos[GTID_POS_MAX];
    char why[128];
};

/* Where a running check is; a timeout's status depends on it. */
enum check_phase {
    PH_IDLE,
    PH_TCP,   /* L4: TCP connect in progress */
    PH_TLS,   /* L6: raw TLS handshake (check tcp + check-ssl) */
    PH_LOGIN, /* L7: connect, greeting, TLS upgrade, login (MariaDB Connector/C) */
    PH_QUERY, /* L7: an expectation's query sent */
    PH_STORE, /* L7: reading its result set */
    PH_QUIT,  /* L7: verdict reached, COM_QUIT in flight */
};

/* A server's check: embedded in struct server, found back with container_of. */
struct check {
    ev_timer next;    /* when to start the next check */
    ev_timer timeout; /* bounds the running check (timeout check) */
    ev_io io;         /* the check's socket */
    bool running;
    enum check_phase phase;
    int fd;                     /* L4/L6 check socket, -1 if none */
    MYSQL *mysql;               /* L7 check connection, NULL if none */
    SSL_CTX *ssl_ctx;           /* made on first use when check-ssl is set */
    SSL *ssl;                   /* L6 handshake in progress */
    int step;                   /* L7: index of the expectation being checked */
    bool legacy_replica_status; /* server wants SHOW SLAVE STATUS */
    struct check_gtid gtid;     /* the GTID position the running or latest check read */
    uint64_t started_us;
    struct check_result result; /* verdict so far (conditional pass, or final) */
};

const char *check_status_name(enum check_status st);
enum check_class check_status_class(enum check_status st);

/* Map a failed MySQL connect to a status: errno from mysql_errno(), whether the TCP
 * connection was established, and the library's message (for the OS error). */
void check_classify_mysql_error(unsigned err, const char *msg, struct check_result *r);

/* The GTID position SRV's latest check read (asked false: it read none). Valid until the next
 * check starts; server.c keeps what it needs of it when the check reports. */
const struct check_gtid *check_gtid_read(const struct server *srv);

/* When checks run is server.c's to decide (rise, fall and the intervals); these carry it out
 * on SRV's check. */
void check_init(struct server *srv);
/* The next check in AFTER seconds (0: at once). Nothing while a check runs: its end reports
 * to server.c, which schedules the one after it. */
void check_schedule(struct server *srv, double after);
/* Stop, closing any check in flight; nothing runs until check_schedule(). */
void check_stop(struct server *srv);
/* Stop and free what the check keeps between runs (TLS context). */
void check_fini(struct server *srv);
/* Bring the next check forward to AFTER seconds from now, if it was due later (on-error). */
void check_hurry(struct server *srv, double after);
/* Move the next check to AFTER seconds from now, after a change of interval (a change of
 * state). Nothing while a check runs or when none is scheduled. */
void check_reschedule(struct server *srv, double after);

#endif
