/* admin_wire.c - the column definitions and the answer size cap that the admin port's text
 * and binary protocols share (admin_wire.h). A leaf: MySQL packets in, nothing else.
 *
 * Thread: no state of its own; its callers run on rb_loop (the control thread). */
#include "admin_wire.h"

bool admin_wire_too_large(const struct mysql_wbuf *out, size_t start, size_t sent)
{
    return out->failed || sent + (out->len - start) > ADMIN_RESULT_MAX;
}

void admin_wire_column_def(struct mysql_wbuf *out, uint8_t seq, const char *name,
                           enum admin_type type)
{
    if (type == ADMIN_T_INT)
        mysql_column_def(out, seq, "rebound", "", name, MYSQL_TYPE_LONGLONG, MYSQL_CHARSET_BINARY,
                         21, MYSQL_NUM_FLAG | MYSQL_BINARY_FLAG, 0);
    else if (type == ADMIN_T_REAL)
        mysql_column_def(out, seq, "rebound", "", name, MYSQL_TYPE_DOUBLE, MYSQL_CHARSET_BINARY, 22,
                         MYSQL_NUM_FLAG | MYSQL_BINARY_FLAG, 31);
    else
        mysql_column_def(out, seq, "rebound", "", name, MYSQL_TYPE_VAR_STRING,
                         MYSQL_CHARSET_UTF8MB4, 1024, 0, 0);
}
