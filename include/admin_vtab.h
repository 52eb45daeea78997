/* admin_vtab.h - the admin port's virtual tables: one SQLite module serves every table, each
 * scan reading a snapshot of the rows its table copies out when the scan starts; and the
 * interface a set of tables implements to be handed to the engine (admin_sql_open()): the
 * router's views (admin_views.c), or a test's own.
 *
 * A table declares its columns, fills a snapshot, and may take an UPDATE of one column or
 * a DELETE of rows; the authorizer (admin_sql.c) lets only those writes through. */
#ifndef ADMIN_VTAB_H
#define ADMIN_VTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "admin_sql.h"
#include "conf.h"

/* One value of a snapshot row. */
struct admin_cell {
    int type; /* SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT or SQLITE_NULL */
    sqlite3_int64 i;
    double d;
    char *s;
};

/* Rows copied at xFilter: NROWS rows of NCOLS cells, and each row's rowid. */
struct admin_snap {
    int ncols;
    size_t nrows, cap;
    sqlite3_int64 *rowids;
    struct admin_cell *cells;
    int col;  /* next column of the row being filled */
    bool oom; /* a copy failed: the scan reports SQLITE_NOMEM */
};

/* Start a row: its cells start as NULL, filled left to right by admin_snap_*(). */
void admin_snap_row(struct admin_snap *s, sqlite3_int64 rowid);
void admin_snap_int(struct admin_snap *s, int64_t v);
void admin_snap_real(struct admin_snap *s, double v);
void admin_snap_null(struct admin_snap *s);
/* Text; NULL stores SQL NULL. */
void admin_snap_text(struct admin_snap *s, const char *v);
void admin_snap_textf(struct admin_snap *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Wall-clock seconds as "2024-05-01 12:00:00.123" (UTC), NULL when 0. */
void admin_snap_time(struct admin_snap *s, double t);

/* A column of a virtual table: its name and SQL type ("INTEGER", "REAL", "TEXT"). */
struct admin_vcol {
    const char *name;
    const char *type;
};

/* A virtual table: its columns, how to snapshot its rows, and the writes it takes. */
struct admin_vtable {
    const char *name;
    const struct admin_vcol *cols;
    int ncols;
    void (*fill)(struct admin_snap *s);
    /* UPDATE of row ROWID with new values ARGV (one per column); NULL: read-only. */
    int (*update)(sqlite3_vtab *vt, sqlite3_int64 rowid, sqlite3_value **argv);
    /* DELETE of row ROWID; NULL: rows cannot be deleted. */
    int (*remove)(sqlite3_vtab *vt, sqlite3_int64 rowid);
    /* The columns an UPDATE may set (with update), ',' between them ("admin_state,x"); NULL
     * if none. */
    const char *writable;
    /* The columns that name a row, for the declaration ("listener, name"); NULL if none
     * do. information_schema shows them as the table's primary key. */
    const char *primary_key;
};

/* The tables the engine opens with, and the hooks around their writes. A DELETE's rows may
 * be acted on only once the statement completes (the sessions it removed are killed then),
 * so that a statement that fails changes nothing. Every hook may be NULL. */
struct admin_tables {
    const struct admin_vtable *tables;
    size_t ntables;
    void (*open)(void);    /* admin_sql_open() */
    void (*discard)(void); /* a statement starts, or failed: forget what its writes noted */
    int (*commit)(void);   /* it completed: act on what they noted; 0, or -1 if that failed */
    void (*close)(void);   /* admin_sql_close(): free what the hooks hold */
};

/* Set vt's error message to FMT ...; returns RC, for a table's update or remove. */
int admin_vtab_error(sqlite3_vtab *vt, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Is COLUMN one of the columns an UPDATE of T may set? */
bool admin_vtab_writable(const struct admin_vtable *t, const char *column);

/* The table of T called NAME (any case), NULL if none. */
const struct admin_vtable *admin_vtab_find(const struct admin_tables *t, const char *name);

/* Create T's tables in DB, one module (rb_NAME) each. 0, or -1 (logged). */
int admin_vtab_create(sqlite3 *db, const struct admin_tables *t)
    __attribute__((warn_unused_result));

/* ---- what a table's fill and writes may ask of the engine (admin_sql.c) ---- */

/* The client whose statement runs now, NULL between statements. */
const struct admin_client *admin_sql_client(void);
/* An UPDATE running now really changed a row's value (MySQL's OK counts those). */
void admin_sql_row_changed(void);
/* The configuration the engine was opened with, or reloaded to; NULL if none. */
const struct conf *admin_sql_conf(void);

#endif
