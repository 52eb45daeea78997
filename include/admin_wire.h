/* admin_wire.h - the pieces of a result set that both of the admin port's protocols send
 * alike: the text protocol (admin.c) and the binary one of prepared statements
 * (admin_stmt.c) declare their columns the same way and cap an answer at the same size. */
#ifndef ADMIN_WIRE_H
#define ADMIN_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin_sql.h"
#include "mysql_packet.h"

#define ADMIN_RESULT_MAX (4 * 1024 * 1024) /* one result set on the wire */

/* One column definition of a result into OUT with sequence id SEQ, as text result sets
 * declare it: TYPE decides the MySQL type, charset, length and flags. */
void admin_wire_column_def(struct mysql_wbuf *out, uint8_t seq, const char *name,
                           enum admin_type type);

/* Has the answer that began at START in OUT, SENT bytes of which are sent already, grown
 * larger than one answer may be (ADMIN_RESULT_MAX), or has a write into OUT failed? */
bool admin_wire_too_large(const struct mysql_wbuf *out, size_t start, size_t sent);

/* Did a client with capabilities CAPS deprecate the EOF packets (an OK in their place)? */
static inline bool admin_wire_deprecate_eof(uint32_t caps)
{
    return caps & MYSQL_CLIENT_DEPRECATE_EOF;
}

#endif
