/* admin_exec.h - the admin SQL engine's internals that its own files share (admin_sql.c runs
 * statements; admin_vtab.c scans tables for them). Nothing outside the engine includes it. */
#ifndef ADMIN_EXEC_H
#define ADMIN_EXEC_H

#include <stdbool.h>
#include <stdint.h>

/* Has the step running now taken too long? Then the statement is interrupted (3024). */
bool admin_sql_slice_over(void);
/* A scan of the statement running now took its snapshot, from mono_us() T0 until now: the
 * first one of a statement is the price of reading the table at all, and does not count
 * against its step. */
void admin_sql_snapshot_taken(uint64_t t0);

#endif
