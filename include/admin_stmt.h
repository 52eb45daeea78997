/* admin_stmt.h - prepared statements on the admin port: COM_STMT_PREPARE, _EXECUTE,
 * _SEND_LONG_DATA, _RESET, _CLOSE and _FETCH in the binary protocol, over the statements
 * admin_sql.c compiles and runs. */
#ifndef ADMIN_STMT_H
#define ADMIN_STMT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "admin_sql.h"

#define ADMIN_STMT_MAX           256           /* open statements per connection (1461 past it) */
#define ADMIN_STMT_MAX_LONG_DATA (1024 * 1024) /* long data bytes a connection holds at once */

struct admin_proto;
struct admin_stmt;

/* One connection's prepared statements, and the sink that answers their executions: column
 * definitions, end and errors as a text result set has them, rows in the binary format, into
 * the output or, for an execution that opens a cursor, into the cursor. */
struct admin_stmts {
    LIST_HEAD(, admin_stmt) list;
    unsigned count;
    uint32_t next_id;
    size_t long_data;    /* bytes COM_STMT_SEND_LONG_DATA left in all of them */
    size_t cursor_bytes; /* rows held by their open cursors (ADMIN_RESULT_MAX in all) */
    struct admin_proto *ap;
    struct admin_sink sink;
    struct admin_stmt *filling; /* the statement whose execution fills its cursor now */
    int ncols;                  /* the result being sent: its columns and their types */
    enum admin_type types[ADMIN_SQL_MAX_COLUMNS];
};

/* Start with no statement, for the connection AP. */
void admin_stmts_init(struct admin_stmts *s, struct admin_proto *ap);
/* Close every statement: the connection ends, or COM_RESET_CONNECTION. Never while one of
 * their executions is under way (abort it first). */
void admin_stmts_close_all(struct admin_stmts *s);
/* One COM_STMT_* packet P of LEN >= 1 bytes, the command byte first. Its answer, if the
 * command has one, goes to the connection's output. Returns the execution that goes on in
 * later pieces of work (admin_sql_resume()), or NULL. */
struct admin_sql_run *admin_stmt_command(struct admin_stmts *s, const uint8_t *p, size_t len);

#endif
