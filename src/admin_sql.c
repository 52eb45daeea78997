/* admin_sql.c - the SQL engine of the admin port: SQLite in memory over the tables it is
 * opened with (the router's views: admin_views.c), the authorizer and the limits that bound
 * every statement, the run loop that answers a statement a slice at a time, and prepared
 * statements. It knows no router object: the tables come in through admin_vtab.h.
 *
 * What may run is decided by SQLite's authorizer (reads of these tables; an allow-list of
 * SQL functions; UPDATE of servers.admin_state and DELETE FROM sessions for the admin user;
 * nothing else) and, once prepared, by sqlite3_stmt_readonly(): a statement that would change
 * the database without being one of those writes (VACUUM, say) never runs.
 *
 * How long one call into SQLite may run is bounded, because the whole process waits for it:
 * a progress handler every few virtual-machine instructions ends the call once it has used
 * ADMIN_SQL_SLICE_MS of CPU; values are short (ADMIN_SQL_MAX_VALUE), so no instruction
 * takes long; the functions whose cost grows faster than their input (LIKE, GLOB, instr,
 * replace, trim with a character set) are replaced by versions that refuse a too costly call
 * and stop at the end of the slice. A statement with many rows is not one call: its rows go
 * out a slice at a time (admin_sql_resume()), in later loop iterations, and it pauses while
 * its client has enough unsent output. The ADMIN_SQL_WORK_MS of SQLite time a statement gets
 * in all, a step budget, a row limit and a hard heap limit end the rest in an error.
 *
 * Thread: rb_loop (the control thread) only. Several statements may be under way at once
 * (one per admin connection); `cur` names the one running now. */
#include "admin_sql.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sqlite3.h>

#include "admin_dialect.h"
#include "admin_exec.h"
#include "admin_funcs.h"
#include "admin_lex.h"
#include "admin_show.h"
#include "admin_vtab.h"
#include "log.h"
#include "rebound.h"

/* ---- the statement being run ---- */

/* A compiled statement (admin_sql.h): SQLite's, or a shortcut that answers by itself at each
 * execution, or neither (only a comment: each execution answers OK). */
struct admin_sql_stmt {
    sqlite3_stmt *st;
    const struct admin_shortcut *sc; /* runs with what follows its words: TEXT + REST */
    char *text;
    size_t rest;
    bool busy; /* an execution has st under way */
};

/* A statement that goes on in later loop iterations (admin_sql.h). */
struct admin_sql_run {
    struct admin_exec x;
};

static sqlite3 *db;
static const struct conf *aconf;
static struct admin_exec *cur; /* the statement running now, NULL between slices */
static uint64_t nqueries;

uint64_t admin_sql_queries(void)
{
    return nqueries;
}

/* CPU time of this thread, in microseconds. */
static uint64_t thread_cpu_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- asked by the engine's other files and by the tables (admin_exec.h, admin_vtab.h) ---- */

const struct admin_client *admin_sql_client(void)
{
    return cur ? cur->client : NULL;
}

void admin_sql_row_changed(void)
{
    if (cur)
        cur->changed++;
}

void admin_sql_refuse(uint16_t code, const char *sqlstate, const char *msg)
{
    if (cur && !cur->deny_code) {
        cur->deny_code = code;
        cur->deny_state = sqlstate;
        snprintf(cur->deny_msg, sizeof(cur->deny_msg), "%s", msg);
    }
}

const struct conf *admin_sql_conf(void)
{
    return aconf;
}

/* Has the step running now taken too long? Then the statement is interrupted (3024).
 * The wall clock is looked at first (cheap); once the step's budget has passed on it, the
 * thread's CPU time decides, so that time the process spent preempted does not count
 * against a statement. (CPU used earlier in the slice can only make this more lenient, by
 * what was preempted then.) */
bool admin_sql_slice_over(void)
{
    uint64_t now, used, allowed;

    if (!cur || (now = mono_us()) <= cur->step_end)
        return false;
    used = thread_cpu_us() - cur->slice_cpu;
    allowed = (cur->step_start - cur->slice_start) + cur->step_budget;
    if (used < allowed) { /* preempted meanwhile: look again when it may be over */
        cur->step_end = now + (allowed - used > 200 ? allowed - used : 200);
        return false;
    }
    cur->timed_out = true;
    return true;
}

void admin_sql_snapshot_taken(uint64_t t0)
{
    if (cur && !cur->snapshot_taken) {
        cur->snapshot_taken = true;
        cur->step_budget += mono_us() - t0;
        cur->step_end += mono_us() - t0;
    }
}

/* The tables the engine runs over (admin_sql_open()), NULL while it is closed. */
static const struct admin_tables *tabs;

const struct admin_tables *admin_sql_tables(void)
{
    return tabs;
}

const struct admin_vtable *admin_sql_table(const char *name)
{
    return admin_vtab_find(tabs, name);
}

/* ---- limits ---- */

/* Begin a slice of X's work: it pauses between two rows after ADMIN_SQL_SLICE_MS. */
static void slice_begin(struct admin_exec *x)
{
    x->slice_start = mono_us();
    x->slice_cpu = thread_cpu_us();
    x->yield_at = x->slice_start + ADMIN_SQL_SLICE_MS * 1000u;
    cur = x;
}

static void slice_finish(struct admin_exec *x)
{
    x->work_us += thread_cpu_us() - x->slice_cpu;
    cur = NULL;
}

/* One sqlite3_step() of ST for X: it may run ADMIN_SQL_SLICE_MS, or what is left of the
 * statement's ADMIN_SQL_WORK_MS if that is less. Both count the CPU the control thread spent,
 * as admin_sql_slice_over() does: time the process was preempted, on a loaded machine, is not the
 * statement's. */
static int step(struct admin_exec *x, sqlite3_stmt *st)
{
    uint64_t now = mono_us(), used = x->work_us + (thread_cpu_us() - x->slice_cpu);
    uint64_t left = (uint64_t)ADMIN_SQL_WORK_MS * 1000;

    left = used < left ? left - used : 0;
    x->step_start = now;
    x->step_budget = left < ADMIN_SQL_SLICE_MS * 1000u ? left : ADMIN_SQL_SLICE_MS * 1000u;
    x->step_end = now + x->step_budget;
    return sqlite3_step(st);
}

/* Called every ADMIN_SQL_PROGRESS_OPS instructions: end the step when it has run too long or
 * the statement has used its instruction budget. */
static int progress(void *arg)
{
    (void)arg;
    if (!cur)
        return 0;
    cur->steps += ADMIN_SQL_PROGRESS_OPS;
    if (cur->steps > ADMIN_SQL_MAX_STEPS) {
        cur->timed_out = true;
        return 1;
    }
    return admin_sql_slice_over();
}

/* Record why the authorizer refused; returns SQLITE_DENY. */
static int deny(uint16_t code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int deny(uint16_t code, const char *fmt, ...)
{
    char msg[sizeof(cur->deny_msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    admin_sql_refuse(code, "42000", msg);
    return SQLITE_DENY;
}

static const char ddl_refused[] = "statement not allowed on the admin port: tables, views, "
                                  "triggers and indexes cannot be created, dropped or altered";
static const char writes_are[] = "the only writes are UPDATE servers SET admin_state=... and "
                                 "DELETE FROM sessions";

/* May a statement read table NAME of the main database? Ours, and its schema table. */
static bool readable(const char *name)
{
    return admin_sql_table(name) || !strcmp(name, "sqlite_master") ||
           !strcmp(name, "sqlite_schema");
}

/* The writes the tables take (UPDATE servers.admin_state and DELETE FROM sessions), for the
 * admin user. */
static int authorize_write(const struct admin_client *c, int action, const char *table,
                           const char *column)
{
    const struct admin_vtable *t = admin_sql_table(table);

    if (!strncmp(table, "sqlite_", 7)) /* DDL writing the schema */
        return deny(ER_SPECIFIC_ACCESS, "%s", ddl_refused);
    if (!c || c->readonly)
        return deny(ER_TABLEACCESS_DENIED,
                    "%s command denied to user '%s' for table '%s': this user is read-only",
                    action == SQLITE_UPDATE ? "UPDATE" : "DELETE", c ? c->user : "?", table);
    if (t && ((action == SQLITE_UPDATE && column && admin_vtab_writable(t, column)) ||
              (action == SQLITE_DELETE && t->remove))) {
        cur->write_ok = true;
        cur->updating = action == SQLITE_UPDATE;
        return SQLITE_OK;
    }
    if (action == SQLITE_UPDATE)
        return deny(ER_TABLEACCESS_DENIED, "column %s.%s cannot be changed: %s", table,
                    column ? column : "?", writes_are);
    return deny(ER_TABLEACCESS_DENIED, "rows of %s cannot be deleted: %s", table, writes_are);
}

/* Reads of our tables, the allowed functions, and the writes above; nothing else (no DDL,
 * PRAGMA, ATTACH, transactions, inserts, other functions or tables). */
static int authorize(void *arg, int action, const char *a, const char *b, const char *dbname,
                     const char *trigger)
{
    const struct admin_client *c = cur ? cur->client : NULL;
    (void)arg;
    (void)trigger;

    if ((action == SQLITE_INSERT || action == SQLITE_UPDATE || action == SQLITE_DELETE) && dbname &&
        !strcmp(dbname, ADMIN_INFO_DB) && strncmp(a, "sqlite_", 7))
        return deny(ER_DBACCESS_DENIED,
                    "Access denied for user '%s'@'%%' to database '" ADMIN_INFO_DB "'",
                    c ? c->user : "?");
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_RECURSIVE:
        return SQLITE_OK;
    case SQLITE_READ: /* DBNAME NULL: a CTE or subquery, not a table; TEMP holds DUAL */
        if (!dbname || !strcmp(dbname, ADMIN_INFO_DB) || !strcmp(dbname, "temp") || readable(a))
            return SQLITE_OK;
        return deny(ER_TABLEACCESS_DENIED, "SELECT command denied to user '%s' for table '%s'",
                    c ? c->user : "?", a);
    case SQLITE_FUNCTION:
        if (admin_funcs_allowed(b))
            return SQLITE_OK;
        return deny(ER_SP_DOES_NOT_EXIST,
                    "FUNCTION %s does not exist on the admin port (docs/admin.md lists the "
                    "functions it has)",
                    b);
    case SQLITE_UPDATE:
    case SQLITE_DELETE:
        return authorize_write(c, action, a, b);
    case SQLITE_PRAGMA:
        return deny(ER_SPECIFIC_ACCESS, "PRAGMA is not allowed on the admin port");
    case SQLITE_ATTACH:
    case SQLITE_DETACH:
        return deny(ER_SPECIFIC_ACCESS, "ATTACH and DETACH are not allowed on the admin port");
    case SQLITE_TRANSACTION:
    case SQLITE_SAVEPOINT:
        return deny(ER_SPECIFIC_ACCESS, "transactions are not supported on the admin port");
    case SQLITE_INSERT:
        if (strncmp(a, "sqlite_", 7)) /* else it is DDL writing the schema: see default */
            return deny(ER_TABLEACCESS_DENIED, "rows cannot be inserted into %s", a);
        /* fall through */
    default:
        return deny(ER_SPECIFIC_ACCESS, "%s", ddl_refused);
    }
}

/* ---- running a statement ---- */

/* The writes of the statement that starts, or failed, are forgotten. */
static void writes_discard(void)
{
    if (tabs && tabs->discard)
        tabs->discard();
}

/* The statement completed: its writes take effect. 0 or -1. */
static int writes_commit(void)
{
    return tabs && tabs->commit ? tabs->commit() : 0;
}

/* X is done with its statement: a prepared one is reset (and its parameters cleared) for the
 * next execution, any other finalized. */
static void release_st(struct admin_exec *x)
{
    if (x->prep) {
        sqlite3_reset(x->st);
        sqlite3_clear_bindings(x->st);
        x->prep->busy = false;
    } else {
        sqlite3_finalize(x->st);
    }
    x->st = NULL;
}

/* The wire type of result column I: its declared type, else the first row's value. */
static enum admin_type column_type(sqlite3_stmt *st, int i, bool have_row)
{
    const char *decl = sqlite3_column_decltype(st, i);

    if (decl) {
        if (!strcasecmp(decl, "INTEGER"))
            return ADMIN_T_INT;
        if (!strcasecmp(decl, "REAL"))
            return ADMIN_T_REAL;
        return ADMIN_T_TEXT;
    }
    if (!have_row)
        return ADMIN_T_TEXT;
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        return ADMIN_T_INT;
    case SQLITE_FLOAT:
        return ADMIN_T_REAL;
    default:
        return ADMIN_T_TEXT;
    }
}

/* Tell the client why SQLite failed (RC from prepare or step). */
static void sql_error(struct admin_exec *x, int rc)
{
    const char *msg = sqlite3_errmsg(db);
    char buf[600];

    if (x->deny_code) {
        x->sink->error(x->sink, x->deny_code, x->deny_state, x->deny_msg);
        return;
    }
    if (x->timed_out || rc == SQLITE_INTERRUPT) {
        snprintf(buf, sizeof(buf),
                 "Query execution was interrupted: the admin port runs a statement %d ms at a "
                 "time (one step may not take longer), %d ms and %d million instructions in all",
                 ADMIN_SQL_SLICE_MS, ADMIN_SQL_WORK_MS, ADMIN_SQL_MAX_STEPS / 1000000);
        x->sink->error(x->sink, ER_QUERY_TIMEOUT, "HY000", buf);
        return;
    }
    if (rc == SQLITE_NOMEM || rc == SQLITE_TOOBIG) {
        snprintf(buf, sizeof(buf), "Out of resources on the admin port: %s", msg);
        x->sink->error(x->sink, ER_OUT_OF_RESOURCES, "HY000", buf);
        return;
    }
    if (!strncmp(msg, "no such table", 13)) {
        x->sink->error(x->sink, ER_NO_SUCH_TABLE, "42S02", msg);
        return;
    }
    if (!strncmp(msg, "no such column", 14)) {
        x->sink->error(x->sink, ER_BAD_FIELD, "42S22", msg);
        return;
    }
    if (!strncmp(msg, "no such function", 16) || strstr(msg, "wrong number of arguments")) {
        x->sink->error(x->sink, ER_SP_DOES_NOT_EXIST, "42000", msg);
        return;
    }
    if (strstr(msg, "syntax error") || strstr(msg, "incomplete input")) {
        snprintf(buf, sizeof(buf), "You have an error in your SQL syntax: %s", msg);
        x->sink->error(x->sink, ER_PARSE_ERROR, "42000", buf);
        return;
    }
    if (rc == SQLITE_CONSTRAINT || rc == SQLITE_READONLY) {
        x->sink->error(x->sink, ER_WRONG_VALUE_FOR_TYPE, "HY000", msg);
        return;
    }
    x->sink->error(x->sink, ER_UNKNOWN_ERROR, "HY000", msg);
}

/* Value I of the row X's statement holds, in the type declared for its column. -1 if out of
 * memory. */
static int typed_value(struct admin_exec *x, int i, struct admin_value *v)
{
    memset(v, 0, sizeof(*v));
    if (sqlite3_column_type(x->st, i) == SQLITE_NULL) {
        v->type = ADMIN_V_NULL;
    } else if (x->types[i] == ADMIN_T_INT) {
        v->type = ADMIN_V_INT;
        v->i = sqlite3_column_int64(x->st, i);
    } else if (x->types[i] == ADMIN_T_REAL) {
        v->type = ADMIN_V_REAL;
        v->d = sqlite3_column_double(x->st, i);
    } else {
        v->type = ADMIN_V_TEXT;
        v->s = (const char *)sqlite3_column_text(x->st, i);
        v->len = (size_t)sqlite3_column_bytes(x->st, i);
        if (!v->s)
            return -1;
    }
    return 0;
}

/* Hand the row X's statement holds (N columns) to the sink: each value in its column's type
 * to a sink that takes them so (the binary protocol), as text to the others. SQLITE_ROW, or
 * the code that ends the statement. */
static int send_row(struct admin_exec *x, int n)
{
    const char *vals[n > 0 ? n : 1];
    size_t lens[n > 0 ? n : 1];
    struct admin_value typed[n > 0 ? n : 1];

    if (x->sink->typed_row) {
        for (int i = 0; i < n; i++)
            if (typed_value(x, i, &typed[i]) < 0)
                return SQLITE_NOMEM;
        return x->sink->typed_row(x->sink, n, typed) < 0 ? SQLITE_TOOBIG : SQLITE_ROW;
    }
    for (int i = 0; i < n; i++) {
        vals[i] = (const char *)sqlite3_column_text(x->st, i);
        lens[i] = (size_t)sqlite3_column_bytes(x->st, i);
        if (!vals[i] && sqlite3_column_type(x->st, i) != SQLITE_NULL)
            return SQLITE_NOMEM;
    }
    return x->sink->row(x->sink, n, vals, lens) < 0 ? SQLITE_TOOBIG : SQLITE_ROW;
}

/* Send X's rows from the one held (x->rc == SQLITE_ROW) on, until the statement is done or
 * fails, or the slice is over or the client has enough unsent output. True when the
 * statement is finished (answered, st released); false when it waits for the next slice,
 * holding a row. */
static bool step_rows(struct admin_exec *x)
{
    int n = sqlite3_column_count(x->st);
    bool too_large = false; /* the result, not a value in it (SQLite's own TOOBIG: 1041) */

    while (x->rc == SQLITE_ROW) {
        if (++x->rows > ADMIN_SQL_MAX_ROWS) {
            too_large = true;
            break;
        }
        x->rc = send_row(x, n);
        if (x->rc == SQLITE_TOOBIG) {
            too_large = true;
            break;
        }
        if (x->rc != SQLITE_ROW)
            break;
        x->rc = step(x, x->st);
        if (x->rc == SQLITE_ROW &&
            (mono_us() >= x->yield_at || (x->sink->full && x->sink->full(x->sink))))
            return false;
    }
    if (too_large) {
        char buf[160];
        snprintf(buf, sizeof(buf),
                 "The result is too large for the admin port (at most %d rows or the output "
                 "buffer): add a WHERE or LIMIT",
                 ADMIN_SQL_MAX_ROWS);
        x->sink->error(x->sink, ER_TOO_BIG_SELECT, "42000", buf);
    } else if (x->rc != SQLITE_DONE) {
        sql_error(x, x->rc);
    } else {
        x->sink->end(x->sink);
    }
    release_st(x);
    return true;
}

/* A statement that only ran: OK with the rows it changed, or its error. An UPDATE counts,
 * as MySQL does, the rows whose value really changed (or, for a client that asked for
 * CLIENT_FOUND_ROWS, those it matched), and tells both in the info text. */
static void run_done(struct admin_exec *x, sqlite3_stmt *st, int rc)
{
    uint64_t matched;
    char info[96];

    while (rc == SQLITE_ROW)
        rc = step(x, st);
    if (rc != SQLITE_DONE) {
        writes_discard();
        sql_error(x, rc);
        return;
    }
    if (writes_commit() < 0) {
        x->sink->error(x->sink, ER_OUT_OF_RESOURCES, "HY000",
                       "Out of resources on the admin port: the sessions were not killed");
        return;
    }
    matched = (uint64_t)sqlite3_changes64(db);
    if (x->kill_id && matched == 0) {
        snprintf(info, sizeof(info), "Unknown thread id: %" PRIu64, x->kill_id);
        x->sink->error(x->sink, ER_NO_SUCH_THREAD, "HY000", info);
        return;
    }
    if (!x->updating) {
        x->sink->ok(x->sink, matched, NULL);
        return;
    }
    snprintf(info, sizeof(info), "Rows matched: %" PRIu64 "  Changed: %" PRIu64 "  Warnings: 0",
             matched, x->changed);
    x->sink->ok(x->sink, x->client->found_rows ? matched : x->changed, info);
}

/* Compile one SQL statement for X into x->st (NULL if it is only a comment); the authorizer
 * and the write check decide here what may run. 0, or -1 once an error is answered. */
static int compile_sql(struct admin_exec *x, const char *sql)
{
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc;

    x->write_ok = false;
    x->updating = false;
    x->changed = 0;
    rc = sqlite3_prepare_v2(db, sql, -1, &st, &tail);
    if (rc != SQLITE_OK) {
        sql_error(x, rc);
        goto bad;
    }
    while (tail && isspace((unsigned char)*tail))
        tail++;
    if (tail && *tail && strspn(tail, ";") != strlen(tail)) {
        x->sink->error(x->sink, ER_PARSE_ERROR, "42000",
                       "one statement at a time: multi-statements are not supported");
        goto bad;
    }
    /* Whatever would change the database other than the writes the authorizer let through
     * (VACUUM, VACUUM INTO) never runs: the schema stays as admin_sql_open() made it. */
    if (st && !sqlite3_stmt_readonly(st) && !x->write_ok) {
        x->sink->error(x->sink, ER_SPECIFIC_ACCESS, "42000",
                       "statement not allowed on the admin port: it would change the database "
                       "(VACUUM, for one); the only writes are UPDATE servers SET "
                       "admin_state=... and DELETE FROM sessions");
        goto bad;
    }
    x->st = st;
    x->compiled = true;
    return 0;
bad:
    sqlite3_finalize(st);
    return -1;
}

/* Run X's compiled statement and answer through the sink: an OK or an error at once, or the
 * columns, the rows following from step_rows() (x->st). */
static void start_sql(struct admin_exec *x)
{
    int rc, n;

    if (!x->st) { /* only a comment */
        x->sink->ok(x->sink, 0, NULL);
        return;
    }
    writes_discard();
    n = sqlite3_column_count(x->st);
    rc = step(x, x->st);
    if (n == 0) {
        run_done(x, x->st, rc);
        release_st(x);
        return;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        sql_error(x, rc);
        release_st(x);
        return;
    }
    {
        const char *names[n];

        for (int i = 0; i < n && i < ADMIN_SQL_MAX_COLUMNS; i++) {
            names[i] = sqlite3_column_name(x->st, i);
            if (!names[i])
                names[i] = "?";
            x->types[i] = column_type(x->st, i, rc == SQLITE_ROW);
        }
        if (n > ADMIN_SQL_MAX_COLUMNS || x->sink->columns(x->sink, n, names, x->types) < 0) {
            x->sink->error(x->sink, ER_TOO_BIG_SELECT, "42000", "result too large");
            release_st(x);
            return;
        }
    }
    x->rc = rc; /* the rows: step_rows() */
}

/* Compile one SQL statement and, unless X only compiles (COM_STMT_PREPARE), run it. */
void admin_sql_run(struct admin_exec *x, const char *sql)
{
    if (compile_sql(x, sql) < 0 || x->compile_only)
        return;
    start_sql(x);
}

/* Run SQL built with sqlite3_mprintf (NULL means out of memory), then free it. */
void admin_sql_run_built(struct admin_exec *x, char *sql)
{
    if (!sql) {
        x->sink->error(x->sink, ER_OUT_OF_RESOURCES, "HY000", "out of memory");
        return;
    }
    admin_sql_run(x, sql);
    sqlite3_free(sql);
}

/* ---- entry points ---- */

/* Strip trailing blanks and semicolons in place. */
static void trim_end(char *s)
{
    size_t n = strlen(s);

    while (n && (isspace((unsigned char)s[n - 1]) || s[n - 1] == ';'))
        s[--n] = '\0';
}

/* Answer the statement in X's text: a shortcut, or SQL in MySQL's dialect. */
static void dispatch(struct admin_exec *x)
{
    const struct admin_shortcut *sc;
    const char *s, *rest;

    admin_dialect_open_comments(x->text);
    s = admin_lex_space(x->text);
    if (!*s) {
        x->sink->error(x->sink, ER_EMPTY_QUERY, "42000", "Query was empty");
        return;
    }
    if ((sc = admin_show_find(s, &rest))) {
        if (x->compile_only && sc->kind == ADMIN_SC_RUNS) {
            x->deferred = sc;
            x->deferred_rest = rest;
            return;
        }
        sc->run(x, rest);
        return;
    }
    admin_sql_run_built(x, admin_dialect_to_sqlite(db, s));
}

static void run_free(struct admin_sql_run *r)
{
    if (r->x.st)
        release_st(&r->x);
    free(r->x.text);
    free(r);
}

/* Send rows until the slice is over, and end it. R, or NULL once R is answered (freed). */
static struct admin_sql_run *run_slice(struct admin_sql_run *r)
{
    bool done = !r->x.st || step_rows(&r->x);

    slice_finish(&r->x);
    if (!done)
        return r;
    run_free(r);
    return NULL;
}

/* Our copy of a statement of LEN bytes, trailing blanks and semicolons cut; NULL once an
 * error is answered through K. */
static char *statement_text(const char *sql, size_t len, struct admin_sink *k)
{
    char *text;

    if (len > ADMIN_SQL_MAX_TEXT) {
        k->error(k, ER_OUT_OF_RESOURCES, "HY000", "statement too long for the admin port");
        return NULL;
    }
    if (memchr(sql, '\0', len)) {
        k->error(k, ER_PARSE_ERROR, "42000", "statement contains a NUL byte");
        return NULL;
    }
    if (!db || !(text = malloc(len + 1))) {
        k->error(k, ER_OUT_OF_RESOURCES, "HY000", "the admin database is not available");
        return NULL;
    }
    memcpy(text, sql, len);
    text[len] = '\0';
    trim_end(text);
    return text;
}

/* A new run for C answering through K, its slice begun; NULL once an error is answered. */
static struct admin_sql_run *run_new(struct admin_client *c, struct admin_sink *k)
{
    struct admin_sql_run *r = calloc(1, sizeof(*r));

    if (!r) {
        k->error(k, ER_OUT_OF_RESOURCES, "HY000", "out of memory");
        return NULL;
    }
    r->x.client = c;
    r->x.sink = k;
    slice_begin(&r->x);
    return r;
}

struct admin_sql_run *admin_sql_start(struct admin_client *c, const char *sql, size_t len,
                                      struct admin_sink *k)
{
    struct admin_sql_run *r;
    char *text;

    nqueries++;
    if (!(text = statement_text(sql, len, k)))
        return NULL;
    if (!(r = run_new(c, k))) {
        free(text);
        return NULL;
    }
    r->x.text = text;
    dispatch(&r->x);
    return run_slice(r);
}

bool admin_sql_resume(struct admin_sql_run *r)
{
    slice_begin(&r->x);
    return run_slice(r) == NULL;
}

void admin_sql_abort(struct admin_sql_run *r)
{
    if (r)
        run_free(r);
}

void admin_sql_exec(struct admin_client *c, const char *sql, size_t len, struct admin_sink *k)
{
    struct admin_sql_run *r = admin_sql_start(c, sql, len, k);

    while (r && !admin_sql_resume(r))
        ;
}

/* ---- prepared statements ---- */

/* MySQL clients bind parameters by position, and `?` is the only placeholder they know:
 * SQLite's named ones (:x, @x, $x, ?NNN) are refused rather than left unbound. 0 or -1 once
 * the error is answered. */
static int check_params(struct admin_exec *x)
{
    int n = x->st ? sqlite3_bind_parameter_count(x->st) : 0;
    char msg[200];

    for (int i = 1; i <= n; i++) {
        const char *name = sqlite3_bind_parameter_name(x->st, i);
        if (!name)
            continue;
        snprintf(msg, sizeof(msg),
                 "You have an error in your SQL syntax: prepared statements on the admin port "
                 "take ? placeholders only, not %.40s",
                 name);
        x->sink->error(x->sink, ER_PARSE_ERROR, "42000", msg);
        return -1;
    }
    return 0;
}

struct admin_sql_stmt *admin_sql_prepare(struct admin_client *c, const char *sql, size_t len,
                                         struct admin_sink *k)
{
    struct admin_sql_stmt *p;
    struct admin_exec x;

    if (!(p = calloc(1, sizeof(*p)))) {
        k->error(k, ER_OUT_OF_RESOURCES, "HY000", "out of memory");
        return NULL;
    }
    if (!(p->text = statement_text(sql, len, k))) {
        free(p);
        return NULL;
    }
    memset(&x, 0, sizeof(x));
    x.client = c;
    x.sink = k;
    x.text = p->text;
    x.compile_only = true;
    slice_begin(&x);
    dispatch(&x); /* SQL is compiled into x.st; a shortcut that runs by itself is noted */
    if (x.compiled && check_params(&x) < 0) {
        sqlite3_finalize(x.st);
        x.compiled = false;
    }
    slice_finish(&x);
    if (!x.compiled && !x.deferred) { /* the error is answered */
        free(p->text);
        free(p);
        return NULL;
    }
    p->st = x.compiled ? x.st : NULL;
    p->sc = x.deferred;
    p->rest = x.deferred ? (size_t)(x.deferred_rest - p->text) : 0;
    if (!p->sc) { /* SQLite keeps what it needs */
        free(p->text);
        p->text = NULL;
    }
    return p;
}

int admin_sql_stmt_params(const struct admin_sql_stmt *p)
{
    return p->st ? sqlite3_bind_parameter_count(p->st) : 0;
}

int admin_sql_stmt_columns(const struct admin_sql_stmt *p)
{
    return p->st ? sqlite3_column_count(p->st) : 0;
}

const char *admin_sql_stmt_column(const struct admin_sql_stmt *p, int i, enum admin_type *type)
{
    const char *name = sqlite3_column_name(p->st, i);

    /* Before it runs, only a declared type is known: expressions are text until the
     * execution's column definitions tell, from the first row, as a text query would. */
    *type = column_type(p->st, i, false);
    return name ? name : "?";
}

/* Bind the N values VALS to ST's parameters. SQLITE_OK, or SQLite's refusal (a value longer
 * than SQLITE_LIMIT_LENGTH). */
static int bind_values(sqlite3_stmt *st, int n, const struct admin_value *vals)
{
    for (int i = 0; i < n; i++) {
        const struct admin_value *v = &vals[i];
        const char *s = v->s ? v->s : "";
        int rc;

        switch (v->type) {
        case ADMIN_V_INT:
            rc = sqlite3_bind_int64(st, i + 1, v->i);
            break;
        case ADMIN_V_REAL:
            rc = sqlite3_bind_double(st, i + 1, v->d);
            break;
        case ADMIN_V_TEXT:
            rc = sqlite3_bind_text64(st, i + 1, s, v->len, SQLITE_TRANSIENT, SQLITE_UTF8);
            break;
        case ADMIN_V_BLOB:
            rc = sqlite3_bind_blob64(st, i + 1, s, v->len, SQLITE_TRANSIENT);
            break;
        default:
            rc = sqlite3_bind_null(st, i + 1);
        }
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

struct admin_sql_run *admin_sql_execute(struct admin_client *c, struct admin_sql_stmt *p,
                                        const struct admin_value *vals, struct admin_sink *k)
{
    struct admin_sql_run *r;
    int rc;

    nqueries++;
    if (p->busy) {
        k->error(k, ER_UNKNOWN_ERROR, "HY000", "the prepared statement is running already");
        return NULL;
    }
    if (!(r = run_new(c, k)))
        return NULL;
    if (p->sc) {
        p->sc->run(&r->x, p->text + p->rest);
        return run_slice(r);
    }
    r->x.st = p->st;
    r->x.prep = p;
    p->busy = p->st != NULL;
    rc = p->st ? bind_values(p->st, admin_sql_stmt_params(p), vals) : SQLITE_OK;
    if (rc != SQLITE_OK) {
        sql_error(&r->x, rc);
        release_st(&r->x);
    } else {
        start_sql(&r->x);
    }
    return run_slice(r);
}

void admin_sql_stmt_free(struct admin_sql_stmt *p)
{
    if (!p)
        return;
    sqlite3_finalize(p->st);
    free(p->text);
    free(p);
}

void admin_sql_use(struct admin_client *c, const char *name, size_t len, struct admin_sink *k)
{
    const char *known = admin_dialect_database(name, len);
    char msg[CONF_NAME_MAX + 40];

    if (known) {
        snprintf(c->db, sizeof(c->db), "%s", known);
        k->ok(k, 0, NULL);
        return;
    }
    snprintf(msg, sizeof(msg), "Unknown database '%.*s'", (int)(len > 64 ? 64 : len), name);
    k->error(k, ER_BAD_DB, "42000", msg);
}

int admin_sql_table_columns(const char *table,
                            void (*cb)(void *arg, const char *name, enum admin_type type),
                            void *arg)
{
    const struct admin_vtable *t = admin_sql_table(table);

    if (!t)
        return -1;
    for (int i = 0; i < t->ncols; i++)
        cb(arg, t->cols[i].name,
           !strcmp(t->cols[i].type, "INTEGER") ? ADMIN_T_INT
           : !strcmp(t->cols[i].type, "REAL")  ? ADMIN_T_REAL
                                               : ADMIN_T_TEXT);
    return 0;
}

/* Length and shape limits: a statement cannot build long values, which would make single
 * instructions slow, nor deep trees. */
static void set_limits(void)
{
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, ADMIN_SQL_MAX_VALUE);
    sqlite3_limit(db, SQLITE_LIMIT_SQL_LENGTH, ADMIN_SQL_MAX_TEXT + 4096);
    sqlite3_limit(db, SQLITE_LIMIT_COLUMN, ADMIN_SQL_MAX_COLUMNS);
    sqlite3_limit(db, SQLITE_LIMIT_EXPR_DEPTH, 100);
    sqlite3_limit(db, SQLITE_LIMIT_COMPOUND_SELECT, 50);
    sqlite3_limit(db, SQLITE_LIMIT_VDBE_OP, 25000);
    sqlite3_limit(db, SQLITE_LIMIT_FUNCTION_ARG, 16);
    sqlite3_limit(db, SQLITE_LIMIT_ATTACHED, 0);
    sqlite3_limit(db, SQLITE_LIMIT_LIKE_PATTERN_LENGTH, ADMIN_SQL_MAX_PATTERN);
    sqlite3_limit(db, SQLITE_LIMIT_VARIABLE_NUMBER, ADMIN_SQL_MAX_PARAMS);
    sqlite3_limit(db, SQLITE_LIMIT_TRIGGER_DEPTH, 1);
    sqlite3_limit(db, SQLITE_LIMIT_WORKER_THREADS, 0);
    sqlite3_hard_heap_limit64(ADMIN_SQL_HEAP_LIMIT);
}

int admin_sql_open(const struct conf *conf, const struct admin_tables *tables)
{
    aconf = conf;
    tabs = tables;
    if (tabs && tabs->open)
        tabs->open();
    if (db)
        return 0;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, NULL) !=
        SQLITE_OK) {
        log_err("admin: cannot open the in-memory database: %s", db ? sqlite3_errmsg(db) : "?");
        goto bad;
    }
    sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
    if (admin_vtab_create(db, tabs) < 0)
        goto bad;
    if (admin_dialect_open(db) < 0 || admin_funcs_open(db) < 0)
        goto bad;
    set_limits();
    sqlite3_progress_handler(db, ADMIN_SQL_PROGRESS_OPS, progress, NULL);
    sqlite3_set_authorizer(db, authorize, NULL);
    return 0;
bad:
    admin_sql_close();
    return -1;
}

void admin_sql_close(void)
{
    if (db)
        sqlite3_close(db);
    db = NULL;
    if (tabs && tabs->close)
        tabs->close();
}

void admin_sql_reconf(const struct conf *conf)
{
    aconf = conf;
}
