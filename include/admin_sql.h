/* admin_sql.h - the SQL side of the admin port: an in-memory SQLite database whose
 * virtual tables show the router's live state, the writes it allows, and the few
 * MySQL statements SQLite cannot parse (SHOW ..., KILL, SET, USE, @@variables).
 *
 * admin.c speaks the wire protocol; the engine never sees a packet. A statement's outcome
 * goes to a struct admin_sink, so the same code answers the socket, the unit tests and
 * the fuzzer. Nor does the engine know the router: its tables come in at admin_sql_open()
 * (admin_vtab.h; the router's are admin_views.h's).
 *
 * The engine's files: admin_sql.c (the authorizer, the limits, the run loop, prepared
 * statements), admin_vtab.c (the virtual-table module), admin_funcs.c (the SQL functions),
 * admin_show.c (SHOW and the other statements SQLite cannot parse), admin_dialect.c
 * (information_schema and MySQL's syntax), admin_lex.c (the lexer they share). */
#ifndef ADMIN_SQL_H
#define ADMIN_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "rebound.h"

/* The version the port announces. The 8.0 prefix makes MySQL 8 clients offer
 * caching_sha2_password; "rebound-admin" tells a human where they are. */
#define ADMIN_SERVER_VERSION "8.0.36-rebound-admin-" REBOUND_VERSION
/* The same version as a number, as versioned comments (slash-star-bang 80036) compare it. */
#define ADMIN_VERSION_ID 80036

/* Bounds on one statement: a hostile query gets an error, never a stall of the loop. */
#define ADMIN_SQL_SLICE_MS     5    /* one step (CPU), and a slice before pausing between rows */
#define ADMIN_SQL_WORK_MS      1000 /* SQLite CPU time of a statement, all slices */
#define ADMIN_SQL_PROGRESS_OPS 10   /* instructions between two clock checks */
#define ADMIN_SQL_MAX_STEPS    20000000           /* instructions of a statement */
#define ADMIN_SQL_MAX_ROWS     100000             /* rows in one result */
#define ADMIN_SQL_MAX_TEXT     (64 * 1024)        /* statement length */
#define ADMIN_SQL_MAX_VALUE    (64 * 1024)        /* a string or blob (SQLITE_LIMIT_LENGTH) */
#define ADMIN_SQL_MAX_PATTERN  1000               /* a LIKE or GLOB pattern */
#define ADMIN_SQL_MATCH_COST   1000000            /* LIKE, GLOB, trim(X,Y): bytes x bytes */
#define ADMIN_SQL_HEAP_LIMIT   (64 * 1024 * 1024) /* SQLite's hard heap limit */
#define ADMIN_SQL_MAX_COLUMNS  200                /* result columns (SQLITE_LIMIT_COLUMN) */
#define ADMIN_SQL_MAX_PARAMS   100                /* ? of one statement (..._VARIABLE_NUMBER) */

/* How a result column is typed on the wire. */
enum admin_type {
    ADMIN_T_INT,  /* MYSQL_TYPE_LONGLONG */
    ADMIN_T_REAL, /* MYSQL_TYPE_DOUBLE */
    ADMIN_T_TEXT, /* MYSQL_TYPE_VAR_STRING */
};

/* A value with its type, between the wire and SQLite: a parameter of a prepared statement,
 * or a value of a result row for a sink that takes numbers as numbers. */
struct admin_value {
    enum {
        ADMIN_V_NULL,
        ADMIN_V_INT,  /* I */
        ADMIN_V_REAL, /* D */
        ADMIN_V_TEXT, /* S, LEN */
        ADMIN_V_BLOB, /* S, LEN */
    } type;
    int64_t i;
    double d;
    const char *s;
    size_t len;
};

/* The client a statement runs for. */
struct admin_client {
    uint32_t id; /* connection id (CONNECTION_ID()) */
    char user[CONF_NAME_MAX];
    char peer[80];          /* "127.0.0.1:50312" */
    bool readonly;          /* the admin-ro user: SELECT and the read shortcuts only */
    bool found_rows;        /* CLIENT_FOUND_ROWS: an UPDATE counts the rows it matched */
    char db[CONF_NAME_MAX]; /* current database: "", "rebound" or "information_schema" */
};

/* Where one statement's outcome goes: exactly one ok(), or one error(), or columns()
 * then row()s then end(). error() may also come after columns() and some rows (the
 * statement failed half way, e.g. the deadline): the sink drops the partial result.
 * columns() and row() return 0, or -1 when the result grew too large. */
struct admin_sink {
    int (*columns)(struct admin_sink *k, int n, const char *const *names,
                   const enum admin_type *types);
    /* VALS[i] NULL for SQL NULL. */
    int (*row)(struct admin_sink *k, int n, const char *const *vals, const size_t *lens);
    void (*end)(struct admin_sink *k);
    void (*ok)(struct admin_sink *k, uint64_t affected, const char *info);
    void (*error)(struct admin_sink *k, uint16_t code, const char *sqlstate, const char *msg);
    /* Optional: true while the client has enough unsent output. A statement then pauses
     * between two rows, until admin_sql_resume(). */
    bool (*full)(struct admin_sink *k);
    /* Optional: takes the rows SQLite computes in place of row(), each value in the type
     * columns() declared for its column (INT: I, REAL: D, TEXT: S; ADMIN_V_NULL for NULL),
     * so that numbers reach the binary protocol exactly. Rows a statement builds itself as
     * text (DESCRIBE) still come through row(). */
    int (*typed_row)(struct admin_sink *k, int n, const struct admin_value *vals);
};

/* A statement that goes on in later loop iterations. */
struct admin_sql_run;

/* The tables a statement may read and write (admin_vtab.h): the router's are admin_views. */
struct admin_tables;

/* Open the database with TABLES, for CONF (its accounts for SHOW GRANTS; the tables may read
 * it through admin_sql_conf()). 0 or -1. */
int admin_sql_open(const struct conf *conf, const struct admin_tables *tables)
    __attribute__((warn_unused_result));
void admin_sql_close(void);

/* Start one statement of LEN bytes (not NUL-terminated) for C, answering through K; C and K
 * must stay until it is answered. It runs for one slice (ADMIN_SQL_SLICE_MS) at most. Returns
 * NULL once the statement is answered entirely, else the run to go on with, a slice per loop
 * iteration, by admin_sql_resume() until it returns true (answered; the run is freed then).
 * A run waits between two rows, so other statements may run meanwhile. */
struct admin_sql_run *admin_sql_start(struct admin_client *c, const char *sql, size_t len,
                                      struct admin_sink *k);
bool admin_sql_resume(struct admin_sql_run *r);
/* The client is gone: drop R (NULL is fine) without answering. */
void admin_sql_abort(struct admin_sql_run *r);
/* All of one statement at once (start, then resume until answered): tests and the fuzzer. */
void admin_sql_exec(struct admin_client *c, const char *sql, size_t len, struct admin_sink *k);
/* COM_INIT_DB / USE: "rebound" (or "main") and "information_schema". */
void admin_sql_use(struct admin_client *c, const char *db, size_t len, struct admin_sink *k);
/* The columns of TABLE for COM_FIELD_LIST: CB once per column. -1 if no such table. */
int admin_sql_table_columns(const char *table,
                            void (*cb)(void *arg, const char *name, enum admin_type type),
                            void *arg);

/* ---- prepared statements (COM_STMT_PREPARE, COM_STMT_EXECUTE) ----
 *
 * A statement is compiled once, the way admin_sql_start() would run it (the same shortcuts,
 * @@variables, authorizer and limits), and run by each execution with its parameters bound.
 * Shortcuts that translate to SQL (SHOW SERVERS LIKE ?, ...) are that SQL, parameters
 * included; those that answer by themselves (DESCRIBE, KILL, SET, USE, BEGIN, ...) have no
 * parameters and run at each execution, their result's shape known only then. */
struct admin_sql_stmt;

/* Compile LEN bytes of SQL for C. NULL once an error is answered through K, else the
 * statement, which runs nothing until admin_sql_execute(). */
struct admin_sql_stmt *admin_sql_prepare(struct admin_client *c, const char *sql, size_t len,
                                         struct admin_sink *k);
/* Its parameters and its result columns as known before it runs (0: none, or a statement
 * whose result only its execution tells). */
int admin_sql_stmt_params(const struct admin_sql_stmt *p);
int admin_sql_stmt_columns(const struct admin_sql_stmt *p);
/* Result column I's name, and its type in *TYPE. */
const char *admin_sql_stmt_column(const struct admin_sql_stmt *p, int i, enum admin_type *type);
/* Run P for C with its admin_sql_stmt_params() values VALS, answering through K: like
 * admin_sql_start() (NULL once answered, else a run for admin_sql_resume()). P must stay,
 * and not run again, until the run is answered or aborted. */
struct admin_sql_run *admin_sql_execute(struct admin_client *c, struct admin_sql_stmt *p,
                                        const struct admin_value *vals, struct admin_sink *k);
void admin_sql_stmt_free(struct admin_sql_stmt *p);

/* Statements run, for the status table. */
uint64_t admin_sql_queries(void);

/* After a reload: SHOW GRANTS and the tables read CONF from now on. */
void admin_sql_reconf(const struct conf *conf);

#endif
