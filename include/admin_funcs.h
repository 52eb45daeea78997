/* admin_funcs.h - the SQL functions the admin port defines (MySQL's that clients call, and
 * SQLite's own whose cost grows faster than their input, bounded), and which functions a
 * statement may call at all. */
#ifndef ADMIN_FUNCS_H
#define ADMIN_FUNCS_H

#include <stdbool.h>

#include <sqlite3.h>

/* Create the functions in DB. 0, or -1 (logged). */
int admin_funcs_open(sqlite3 *db) __attribute__((warn_unused_result));

/* May a statement call the function NAME (any case)? Those above, and SQLite's that read and
 * format values and nothing else. */
bool admin_funcs_allowed(const char *name);

#endif
