/* admin_dialect.h - what the admin port adds to SQLite so that MySQL drivers and tools find
 * what they look for: an information_schema database filled from SQLite's own catalog,
 * DUAL, and the pieces of MySQL syntax they send that SQLite cannot parse (CONVERT(expr,
 * type), SELECT modifiers, versioned comments, @@variables). The MySQL functions they call are
 * admin_funcs.h's. */
#ifndef ADMIN_DIALECT_H
#define ADMIN_DIALECT_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

/* The database the router's tables are in, as MySQL clients see it (SQLite's "main"). */
#define ADMIN_DB "rebound"
/* The other one: tables describing both. */
#define ADMIN_INFO_DB "information_schema"

/* Attach information_schema to DB and fill its tables from SQLite's catalog; create DUAL.
 * Run once the router's tables exist and before the authorizer and the limits
 * are set (they forbid ATTACH). 0, or -1 (logged). */
int admin_dialect_open(sqlite3 *db) __attribute__((warn_unused_result));

/* Is NAME (any case) a table of information_schema? */
bool admin_dialect_table(const char *name);

/* The database called NAME (LEN bytes, any case): ADMIN_DB ("main" is another name for it),
 * ADMIN_INFO_DB, or NULL if there is none. */
const char *admin_dialect_database(const char *name, size_t len);

/* The SQLite schema ("main", "information_schema") holding the MySQL database DB, NULL if
 * none. */
const char *admin_dialect_schema(const char *db);

/* Open MySQL's executable comments in place: the text of "/ *!NNNNN ... * /" (without the
 * blanks) runs when NNNNN is at most the version the port announces, the markers becoming
 * blanks; MariaDB's "/ *M!" comments stay comments. Quoted text is left alone. */
void admin_dialect_open_comments(char *sql);

/* SQL with each CONVERT(expr, type) written as CAST(expr AS type), CONVERT(expr USING
 * charset) as CAST(expr AS TEXT), and without the SELECT modifiers that mean nothing here
 * (SQL_NO_CACHE, SQL_CALC_FOUND_ROWS, HIGH_PRIORITY, ...), outside quotes and comments.
 * sqlite3_malloc'd (NULL: out of memory). */
char *admin_dialect_rewrite(sqlite3 *db, const char *sql);

/* SQL in MySQL's dialect as SQLite takes it: admin_dialect_rewrite(), then each
 * @@[session.|global.|local.]name outside quotes replaced by its value (NULL if there is no
 * such variable). sqlite3_malloc'd (NULL: out of memory). */
char *admin_dialect_to_sqlite(sqlite3 *db, const char *sql);

#endif
