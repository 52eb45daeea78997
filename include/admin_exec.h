/* admin_exec.h - the admin SQL engine's internals that its own files share (admin_sql.c runs
 * statements; admin_vtab.c scans tables for them; admin_funcs.c holds the SQL functions
 * they call). Nothing outside the engine includes it. */
#ifndef ADMIN_EXEC_H
#define ADMIN_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "admin_vtab.h"

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
