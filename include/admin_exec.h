/* admin_exec.h - the admin SQL engine's internals that its own files share (admin_sql.c runs
 * statements; admin_vtab.c scans tables for them; admin_funcs.c holds the SQL functions
 * they call; admin_show.c answers the statements SQLite cannot parse). Nothing outside the engine
 * includes it. */
#ifndef ADMIN_EXEC_H
#define ADMIN_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "admin_sql.h"
#include "admin_vtab.h"

struct admin_shortcut;

/* MySQL error numbers the admin port answers with. */
#define ER_DBACCESS_DENIED      1044
#define ER_BAD_DB               1049
#define ER_EMPTY_QUERY          1065
#define ER_NO_SUCH_THREAD       1094
#define ER_TOO_BIG_SELECT       1104
#define ER_UNKNOWN_ERROR        1105
#define ER_TABLEACCESS_DENIED   1142
#define ER_PARSE_ERROR          1064
#define ER_NO_SUCH_TABLE        1146
#define ER_BAD_FIELD            1054
#define ER_SPECIFIC_ACCESS      1227
#define ER_NOT_SUPPORTED_YET    1235
#define ER_OUT_OF_RESOURCES     1041
#define ER_SP_DOES_NOT_EXIST    1305
#define ER_NONEXISTING_GRANT    1141
#define ER_QUERY_TIMEOUT        3024
#define ER_WRONG_VALUE_FOR_TYPE 1367

/* One statement under way: what the authorizer, the progress handler, the functions and the
 * writes need to know, and the rows still to send. */
struct admin_exec {
    struct admin_client *client;
    struct admin_sink *sink;
    char *text;                  /* our copy of the statement */
    sqlite3_stmt *st;            /* compiled; once started, its rows are being sent; NULL if none */
    struct admin_sql_stmt *prep; /* the prepared statement ST belongs to; NULL: ST is ours */
    bool compile_only;           /* COM_STMT_PREPARE: compile the statement, run nothing */
    bool compiled;               /* compile_sql() succeeded (ST NULL: only a comment) */
    const struct admin_shortcut *deferred; /* compile_only: the shortcut to run at each execution */
    const char *deferred_rest;             /* ... with what follows its words */
    enum admin_type types[ADMIN_SQL_MAX_COLUMNS]; /* the result columns' types, as declared */
    int rc;               /* st's last step: SQLITE_ROW holds a row not sent yet */
    size_t rows;          /* rows sent */
    uint64_t slice_start; /* mono_us() when the current slice began */
    uint64_t slice_cpu;   /* thread_cpu_us() then */
    uint64_t yield_at;    /* when the slice pauses, between two rows */
    uint64_t step_start;  /* mono_us() when the step running now began */
    uint64_t step_budget; /* the time it may run, in microseconds */
    uint64_t step_end;    /* when to look again whether it has run too long */
    uint64_t work_us;     /* SQLite CPU time of the slices before */
    uint64_t steps;       /* virtual-machine instructions, roughly */
    bool timed_out;       /* a slice, the work time or the step budget ran out */
    bool snapshot_taken;  /* the first table snapshot (free of the slice) is taken */
    bool write_ok;        /* the authorizer let an UPDATE or DELETE through */
    bool updating;        /* ... an UPDATE: the OK tells rows matched and changed */
    uint64_t kill_id;     /* KILL id: the DELETE it runs must find that session */
    uint64_t changed;     /* rows whose value an UPDATE really changed */
    uint16_t deny_code;   /* refused (authorizer, a function): our code, SQLSTATE, message */
    const char *deny_state;
    char deny_msg[256];
};

/* Compile one SQL statement for X and, unless X only compiles (COM_STMT_PREPARE), run it:
 * its answer goes to x->sink, or its rows follow a slice at a time. */
void admin_sql_run(struct admin_exec *x, const char *sql);
/* admin_sql_run() on SQL built with sqlite3_mprintf (NULL means out of memory), then free it. */
void admin_sql_run_built(struct admin_exec *x, char *sql);

/* The tables the engine was opened with, and the one called NAME (any case; NULL if none). */
const struct admin_tables *admin_sql_tables(void);
const struct admin_vtable *admin_sql_table(const char *name);

/* Has the step running now taken too long? Then the statement is interrupted (3024). */
bool admin_sql_slice_over(void);
/* A scan of the statement running now took its snapshot, from mono_us() T0 until now: the
 * first one of a statement is the price of reading the table at all, and does not count
 * against its step. */
void admin_sql_snapshot_taken(uint64_t t0);

/* Record why the statement running now fails (a function refused a call): the error the
 * client gets in place of SQLite's, unless a reason is recorded already. */
void admin_sql_refuse(uint16_t code, const char *sqlstate, const char *msg);

#endif
