/* admin_stmt.c - prepared statements on the admin port: the binary protocol's commands over
 * the statements admin_sql.c compiles.
 *
 * A prepared statement is the text query's path cut in two. COM_STMT_PREPARE compiles the
 * statement with admin_sql_prepare() (the same shortcuts, @@variables, authorizer, write
 * check and limits as COM_QUERY) and answers with its id, its `?` parameters and its
 * columns. COM_STMT_EXECUTE decodes the parameters (mysql_bin_decode()) and runs it with
 * admin_sql_execute(): the run goes on in ap->run a slice at a time, exactly as a text
 * query's, under the same output cap. Its answer goes through this file's sink, which
 * leaves everything but the rows to the connection's text sink: column definitions, EOF,
 * OK and errors are the same packets, only rows are binary (0x00, a NULL bitmap at offset 2,
 * each value in its column's declared type).
 *
 * COM_STMT_SEND_LONG_DATA appends to a parameter and, like COM_STMT_CLOSE, has no answer:
 * what goes wrong there (an unknown parameter, too much data) is told by the next execution.
 *
 * An execution that asks for a read-only cursor (libmysqlclient's STMT_ATTR_CURSOR_TYPE,
 * mysqli's MYSQLI_CURSOR_TYPE_READ_ONLY) answers with the column definitions and an EOF
 * saying SERVER_STATUS_CURSOR_EXISTS; its rows go, still a slice at a time, into the cursor,
 * and COM_STMT_FETCH hands them out. A cursor holds the whole result (ADMIN_RESULT_MAX for all
 * the cursors of a connection); an error that comes after the columns is answered by the fetch
 * that reaches it. A client that deprecated EOF gets the whole result instead, which is how
 * MySQL answers a statement it opens no cursor for.
 *
 * Statements belong to their connection (struct admin_stmts in struct admin_proto) and are
 * freed with it. Thread: rb_loop (the control thread) only. */
#include "admin_stmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "admin_wire.h"
#include "mysql_packet.h"
#include "rebound.h"

#define COM_STMT_PREPARE        0x16
#define COM_STMT_EXECUTE        0x17
#define COM_STMT_SEND_LONG_DATA 0x18
#define COM_STMT_CLOSE          0x19
#define COM_STMT_RESET          0x1a
#define COM_STMT_FETCH          0x1c

#define ER_OUT_OF_RESOURCES        1041
#define ER_WRONG_ARGUMENTS         1210
#define ER_UNKNOWN_STMT_HANDLER    1243
#define ER_STMT_HAS_NO_OPEN_CURSOR 1421
#define ER_MAX_PREPARED_STMT_COUNT 1461
#define ER_MALFORMED_PACKET        1835

#define PARAM_UNSIGNED 0x8000u /* in a parameter's type: the flag byte's unsigned bit */

#define CURSOR_TYPE_READ_ONLY       0x01   /* COM_STMT_EXECUTE's flags */
#define SERVER_STATUS_CURSOR_EXISTS 0x0040 /* the EOF after the columns of an open cursor */
#define SERVER_STATUS_LAST_ROW_SENT 0x0080 /* the EOF of the fetch that ends a cursor */

/* COM_STMT_SEND_LONG_DATA's bytes for one parameter. */
struct long_data {
    char *data;
    size_t len;
    bool used; /* sent, perhaps empty: the execution takes it instead of a value */
};

/* The result of an execution that opened a cursor, waiting to be fetched. */
struct cursor {
    struct mysql_wbuf rows; /* binary row packets; their sequence ids are set as they go out */
    size_t complete;        /* bytes of whole rows in ROWS (a failed write may leave a part) */
    size_t pos;             /* where the next row to fetch starts */
    bool columns_sent;      /* the execution's answer (the column definitions) is out */
    uint16_t error;         /* the execution failed after that: the last fetch answers this */
    char sqlstate[6];
    char error_msg[300];
};

/* One prepared statement of a connection. */
struct admin_stmt {
    LIST_ENTRY(admin_stmt) link;
    uint32_t id;
    struct admin_sql_stmt *sql;
    int nparams;
    uint16_t *types;      /* the parameters' types (with PARAM_UNSIGNED), as last sent; NULL
                           * until an execution sends them */
    struct long_data *ld; /* per parameter, NULL until long data comes */
    uint16_t error;       /* long data went wrong: the next execution answers this error */
    char error_msg[160];
    struct cursor *cursor; /* open, NULL if none */
};

/* ---- errors ---- */

static void stmt_error(struct admin_stmts *s, uint16_t code, const char *sqlstate, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));
static void stmt_error(struct admin_stmts *s, uint16_t code, const char *sqlstate, const char *fmt,
                       ...)
{
    struct admin_proto *ap = s->ap;
    char msg[300];
    va_list va;

    va_start(va, fmt);
    vsnprintf(msg, sizeof(msg), fmt, va);
    va_end(va);
    ap->sink.error(&ap->sink, code, sqlstate, msg);
}

/* A packet that does not hold what its command needs. */
static void malformed(struct admin_stmts *s, const char *what)
{
    stmt_error(s, ER_MALFORMED_PACKET, "HY000", "Malformed communication packet: %s", what);
}

/* ---- the statements ---- */

static struct admin_stmt *find(struct admin_stmts *s, uint32_t id)
{
    struct admin_stmt *st;

    LIST_FOREACH(st, &s->list, link)
    if (st->id == id)
        return st;
    return NULL;
}

/* Forget ST's long data (after an execution, on COM_STMT_RESET, when it closes). */
static void clear_long_data(struct admin_stmts *s, struct admin_stmt *st)
{
    for (int i = 0; st->ld && i < st->nparams; i++) {
        s->long_data -= st->ld[i].len;
        free(st->ld[i].data);
        st->ld[i] = (struct long_data){0};
    }
    st->error = 0;
}

/* Close ST's cursor, if it has one. */
static void cursor_close(struct admin_stmts *s, struct admin_stmt *st)
{
    if (!st->cursor)
        return;
    if (s->filling == st)
        s->filling = NULL;
    else
        s->cursor_bytes -= st->cursor->complete;
    mysql_wbuf_free(&st->cursor->rows);
    free(st->cursor);
    st->cursor = NULL;
}

/* The next execution of ST fills a new cursor; false if out of memory. */
static bool cursor_open(struct admin_stmts *s, struct admin_stmt *st)
{
    cursor_close(s, st);
    if (!(st->cursor = calloc(1, sizeof(*st->cursor))))
        return false;
    mysql_wbuf_init(&st->cursor->rows, ADMIN_RESULT_MAX - s->cursor_bytes);
    s->filling = st;
    return true;
}

/* The execution filling a cursor has ended: its rows count against the connection's budget. */
static void cursor_filled(struct admin_stmts *s)
{
    struct cursor *c = s->filling->cursor;

    mysql_wbuf_truncate(&c->rows, c->complete);
    s->cursor_bytes += c->complete;
    s->filling = NULL;
}

/* The one teardown of a statement. */
static void stmt_close(struct admin_stmts *s, struct admin_stmt *st)
{
    cursor_close(s, st);
    clear_long_data(s, st);
    LIST_REMOVE(st, link);
    s->count--;
    admin_sql_stmt_free(st->sql);
    free(st->types);
    free(st->ld);
    free(st);
}

void admin_stmts_close_all(struct admin_stmts *s)
{
    while (!LIST_EMPTY(&s->list))
        stmt_close(s, LIST_FIRST(&s->list));
    s->filling = NULL;
}

/* ---- COM_STMT_PREPARE ---- */

/* COM_STMT_PREPARE_OK for ST: then its parameters' definitions (all "?") and its columns',
 * each list ended by an EOF unless the client deprecated it. */
static void prepare_ok(struct admin_stmts *s, const struct admin_stmt *st)
{
    struct admin_proto *ap = s->ap;
    int ncols = admin_sql_stmt_columns(st->sql);
    enum admin_type type;

    mysql_prepare_ok(&ap->out, ap->seq++, st->id, (uint16_t)ncols, (uint16_t)st->nparams, 0);
    for (int i = 0; i < st->nparams; i++)
        mysql_column_def(&ap->out, ap->seq++, "", "", "?", MYSQL_TYPE_VAR_STRING,
                         MYSQL_CHARSET_BINARY, 0, MYSQL_BINARY_FLAG, 0);
    if (st->nparams && !admin_wire_deprecate_eof(ap->caps))
        mysql_eof_packet(&ap->out, ap->seq++, MYSQL_SERVER_STATUS_AUTOCOMMIT, false);
    for (int i = 0; i < ncols; i++) {
        const char *name = admin_sql_stmt_column(st->sql, i, &type);
        admin_wire_column_def(&ap->out, ap->seq++, name, type);
    }
    if (ncols && !admin_wire_deprecate_eof(ap->caps))
        mysql_eof_packet(&ap->out, ap->seq++, MYSQL_SERVER_STATUS_AUTOCOMMIT, false);
}

static void prepare(struct admin_stmts *s, const uint8_t *sql, size_t len)
{
    struct admin_proto *ap = s->ap;
    struct admin_sql_stmt *q;
    struct admin_stmt *st;

    if (s->count >= ADMIN_STMT_MAX) {
        stmt_error(s, ER_MAX_PREPARED_STMT_COUNT, "42000",
                   "Can't create more than max_prepared_stmt_count statements (current value: "
                   "%d): the admin port keeps %d per connection; close some",
                   ADMIN_STMT_MAX, ADMIN_STMT_MAX);
        return;
    }
    if (!(q = admin_sql_prepare(&ap->client, (const char *)sql, len, &ap->sink)))
        return; /* the error is answered */
    if (!(st = calloc(1, sizeof(*st)))) {
        admin_sql_stmt_free(q);
        stmt_error(s, ER_OUT_OF_RESOURCES, "HY000", "Out of memory on the admin port");
        return;
    }
    st->sql = q;
    st->nparams = admin_sql_stmt_params(q);
    do { /* never 0, nor the id of an open statement after a wrap */
        if (++s->next_id == 0)
            s->next_id = 1;
    } while (find(s, s->next_id));
    st->id = s->next_id;
    LIST_INSERT_HEAD(&s->list, st, link);
    s->count++;
    prepare_ok(s, st);
}

/* ---- COM_STMT_EXECUTE ---- */

/* A decoded parameter as admin_sql binds it: numbers as numbers, unsigned ones past INT64_MAX
 * as doubles (as SQLite reads such a literal), blobs as blobs, everything else as text. */
static void to_value(const struct mysql_bin_value *b, struct admin_value *v)
{
    memset(v, 0, sizeof(*v));
    switch (b->kind) {
    case MYSQL_BIN_INT:
        v->type = ADMIN_V_INT;
        v->i = b->i;
        break;
    case MYSQL_BIN_UINT:
        if (b->u <= INT64_MAX) {
            v->type = ADMIN_V_INT;
            v->i = (int64_t)b->u;
        } else {
            v->type = ADMIN_V_REAL;
            v->d = (double)b->u;
        }
        break;
    case MYSQL_BIN_DOUBLE:
        v->type = ADMIN_V_REAL;
        v->d = b->d;
        break;
    case MYSQL_BIN_DECIMAL:
    case MYSQL_BIN_STRING:
    case MYSQL_BIN_TEMPORAL:
    case MYSQL_BIN_BLOB:
        v->type = b->kind == MYSQL_BIN_BLOB ? ADMIN_V_BLOB : ADMIN_V_TEXT;
        v->s = (const char *)b->s;
        v->len = b->len;
        break;
    default:
        v->type = ADMIN_V_NULL;
    }
}

/* The parameter types of an execution: sent now (new-params-bound flag), else the ones the
 * statement's last execution sent. *OFF moves past them. 0, or -1 once an error is answered. */
static int param_types(struct admin_stmts *s, struct admin_stmt *st, const uint8_t *p, size_t n,
                       size_t *off)
{
    bool bound = p[(*off)++] != 0;

    if (!bound && !st->types) {
        stmt_error(s, ER_WRONG_ARGUMENTS, "HY000",
                   "Incorrect arguments to mysqld_stmt_execute: no parameter types came with "
                   "the first execution of statement %u",
                   st->id);
        return -1;
    }
    if (!bound)
        return 0;
    if (n - *off < 2 * (size_t)st->nparams) {
        stmt_error(s, ER_MALFORMED_PACKET, "HY000",
                   "Malformed communication packet: COM_STMT_EXECUTE ends inside the parameter "
                   "types of statement %u, which takes %d: does the client bind as many?",
                   st->id, st->nparams);
        return -1;
    }
    if (!st->types && !(st->types = calloc((size_t)st->nparams, sizeof(*st->types)))) {
        stmt_error(s, ER_OUT_OF_RESOURCES, "HY000", "Out of memory on the admin port");
        return -1;
    }
    for (int i = 0; i < st->nparams; i++)
        st->types[i] = mysql_get_u16(p + *off + 2 * (size_t)i);
    *off += 2 * (size_t)st->nparams;
    return 0;
}

/* Parameter I of an execution, from its long data, its NULL bit or its value at P + *OFF
 * (moving *OFF past it). 0, or -1 once an error is answered. */
static int param_value(struct admin_stmts *s, struct admin_stmt *st, int i, const uint8_t *bitmap,
                       const uint8_t *p, size_t n, size_t *off, struct mysql_bin_value *b)
{
    uint8_t type = (uint8_t)st->types[i];
    size_t used;

    memset(b, 0, sizeof(*b));
    if (st->ld && st->ld[i].used) { /* long data: no value in the packet, NULL bit or not */
        b->kind = mysql_bin_kind(type) == MYSQL_BIN_BLOB ? MYSQL_BIN_BLOB : MYSQL_BIN_STRING;
        b->s = (const uint8_t *)st->ld[i].data;
        b->len = st->ld[i].len;
        return 0;
    }
    if (mysql_null_bit(bitmap, (size_t)i, 0)) {
        b->kind = MYSQL_BIN_NULL;
        return 0;
    }
    switch (mysql_bin_decode(p + *off, n - *off, type, st->types[i] & PARAM_UNSIGNED, b, &used)) {
    case MYSQL_BIN_OK:
        *off += used;
        return 0;
    case MYSQL_BIN_BAD_TYPE:
        stmt_error(s, ER_WRONG_ARGUMENTS, "HY000",
                   "Incorrect arguments to mysqld_stmt_execute: parameter %d has type %u, which "
                   "is not a parameter type",
                   i + 1, type);
        return -1;
    default:
        stmt_error(s, ER_MALFORMED_PACKET, "HY000",
                   "Malformed communication packet: COM_STMT_EXECUTE ends inside parameter %d "
                   "(type %u) of statement %u, which takes %d: does the client bind as many?",
                   i + 1, type, st->id, st->nparams);
        return -1;
    }
}

/* The parameters of an execution of ST from the N bytes after its header (NULL bitmap,
 * new-params-bound flag, types, values) and its long data, into VALS; B keeps what they point
 * to. 0, or -1 once an error is answered. */
static int params(struct admin_stmts *s, struct admin_stmt *st, const uint8_t *p, size_t n,
                  struct admin_value *vals, struct mysql_bin_value *b)
{
    size_t nbitmap = MYSQL_NULL_BITMAP_LEN(st->nparams, 0), off = nbitmap;

    if (st->nparams == 0 && n == 0)
        return 0;
    if (st->nparams > 0 && n == 0) {
        stmt_error(s, ER_WRONG_ARGUMENTS, "HY000",
                   "Incorrect arguments to mysqld_stmt_execute: statement %u takes %d "
                   "parameters and none came",
                   st->id, st->nparams);
        return -1;
    }
    if (st->nparams > 0) {
        if (n < nbitmap + 1) {
            stmt_error(s, ER_MALFORMED_PACKET, "HY000",
                       "Malformed communication packet: COM_STMT_EXECUTE ends inside the NULL "
                       "bitmap of statement %u, which takes %d parameters",
                       st->id, st->nparams);
            return -1;
        }
        if (param_types(s, st, p, n, &off) < 0)
            return -1;
    }
    for (int i = 0; i < st->nparams; i++) {
        if (param_value(s, st, i, p, p, n, &off, &b[i]) < 0)
            return -1;
        to_value(&b[i], &vals[i]);
    }
    return 0; /* bytes after the last value are ignored, as MySQL does: some clients send one
               * for each NULL parameter */
}

static struct admin_sql_run *execute(struct admin_stmts *s, const uint8_t *p, size_t n)
{
    struct admin_proto *ap = s->ap;
    struct admin_sql_run *run = NULL;
    struct admin_value *vals = NULL;
    struct mysql_bin_value *b = NULL;
    struct admin_stmt *st;

    /* statement id (4), flags (1: the cursor asked for, ignored), iteration count (4) */
    if (n < 9) {
        malformed(s, "COM_STMT_EXECUTE is shorter than its header");
        return NULL;
    }
    if (!(st = find(s, mysql_get_u32(p)))) {
        stmt_error(s, ER_UNKNOWN_STMT_HANDLER, "HY000",
                   "Unknown prepared statement handler (%u) given to mysqld_stmt_execute",
                   mysql_get_u32(p));
        return NULL;
    }
    if (st->error) {
        stmt_error(s, st->error, "HY000", "%s", st->error_msg);
        goto out;
    }
    if (st->nparams && (!(vals = calloc((size_t)st->nparams, sizeof(*vals))) ||
                        !(b = calloc((size_t)st->nparams, sizeof(*b))))) {
        stmt_error(s, ER_OUT_OF_RESOURCES, "HY000", "Out of memory on the admin port");
        goto out;
    }
    if (params(s, st, p + 9, n - 9, vals, b) < 0)
        goto out;
    cursor_close(s, st); /* a new execution ends the last one's cursor */
    if ((p[4] & CURSOR_TYPE_READ_ONLY) && !admin_wire_deprecate_eof(ap->caps) &&
        !cursor_open(s, st)) {
        stmt_error(s, ER_OUT_OF_RESOURCES, "HY000", "Out of memory on the admin port");
        goto out;
    }
    run = admin_sql_execute(&ap->client, st->sql, vals, &s->sink); /* values are copied */
out:
    clear_long_data(s, st); /* long data serves one execution, as in MySQL */
    free(vals);
    free(b);
    return run;
}

/* ---- COM_STMT_SEND_LONG_DATA, _RESET, _CLOSE, _FETCH ---- */

/* Remember why long data for ST failed: its next execution answers that. */
static void long_data_error(struct admin_stmt *st, uint16_t code, const char *msg)
{
    st->error = code;
    snprintf(st->error_msg, sizeof(st->error_msg), "%s", msg);
}

/* Statement id (4), parameter (2), bytes to append. No answer, whatever happens. */
static void send_long_data(struct admin_stmts *s, const uint8_t *p, size_t n)
{
    struct admin_stmt *st = n >= 6 ? find(s, mysql_get_u32(p)) : NULL;
    unsigned param = n >= 6 ? mysql_get_u16(p + 4) : 0;
    size_t add = n >= 6 ? n - 6 : 0;
    struct long_data *ld;
    char *grown;

    if (!st || st->error)
        return;
    if (param >= (unsigned)st->nparams) {
        long_data_error(st, ER_WRONG_ARGUMENTS,
                        "Incorrect arguments to mysqld_stmt_send_long_data: no such parameter");
        return;
    }
    if (!st->ld && !(st->ld = calloc((size_t)st->nparams, sizeof(*st->ld)))) {
        long_data_error(st, ER_OUT_OF_RESOURCES, "Out of memory on the admin port");
        return;
    }
    ld = &st->ld[param];
    if (ld->len + add > ADMIN_SQL_MAX_VALUE || s->long_data + add > ADMIN_STMT_MAX_LONG_DATA) {
        long_data_error(st, ER_OUT_OF_RESOURCES,
                        "Out of resources on the admin port: long data of a parameter is at "
                        "most 64 KiB, and of a connection 1 MiB");
        return;
    }
    if (add && !(grown = realloc(ld->data, ld->len + add))) {
        long_data_error(st, ER_OUT_OF_RESOURCES, "Out of memory on the admin port");
        return;
    }
    if (add) {
        ld->data = grown;
        memcpy(ld->data + ld->len, p + 6, add);
        ld->len += add;
        s->long_data += add;
    }
    ld->used = true;
}

/* The error a cursor's execution ended in, answered now; the cursor closes. */
static void cursor_error(struct admin_stmts *s, struct admin_stmt *st)
{
    struct cursor *c = st->cursor;
    char state[sizeof(c->sqlstate)], msg[sizeof(c->error_msg)];
    uint16_t code = c->error;

    memcpy(state, c->sqlstate, sizeof(state));
    memcpy(msg, c->error_msg, sizeof(msg));
    cursor_close(s, st);
    s->ap->sink.error(&s->ap->sink, code, state, msg);
}

/* COM_STMT_FETCH: up to NROWS rows of ST's cursor, then an EOF saying whether more remain;
 * past the last row, the error its execution ended in, if it did. */
static void fetch(struct admin_stmts *s, struct admin_stmt *st, uint32_t nrows)
{
    struct admin_proto *ap = s->ap;
    struct cursor *c = st->cursor;

    if (!c) {
        stmt_error(s, ER_STMT_HAS_NO_OPEN_CURSOR, "HY000", "The statement (%u) has no open cursor",
                   st->id);
        return;
    }
    if (c->pos == c->rows.len && c->error) {
        cursor_error(s, st);
        return;
    }
    for (uint32_t i = 0; i < nrows && c->pos < c->rows.len; i++) {
        size_t n = MYSQL_HEADER_LEN + mysql_payload_len(c->rows.data + c->pos);
        size_t at = ap->out.len;

        mysql_put_bytes(&ap->out, c->rows.data + c->pos, n);
        if (!ap->out.failed)
            ap->out.data[at + 3] = ap->seq++;
        c->pos += n;
    }
    if (c->pos < c->rows.len || c->error) {
        mysql_eof_packet(&ap->out, ap->seq++,
                         MYSQL_SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_CURSOR_EXISTS, false);
        return;
    }
    cursor_close(s, st);
    mysql_eof_packet(&ap->out, ap->seq++,
                     MYSQL_SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_LAST_ROW_SENT, false);
}

/* The statement a COM_STMT_RESET or _FETCH names, NULL once the error is answered. */
static struct admin_stmt *named(struct admin_stmts *s, const uint8_t *p, size_t n, size_t need,
                                const char *cmd)
{
    struct admin_stmt *st;
    char what[80];

    if (n < need) {
        snprintf(what, sizeof(what), "%s is shorter than its header", cmd);
        malformed(s, what);
        return NULL;
    }
    if (!(st = find(s, mysql_get_u32(p))))
        stmt_error(s, ER_UNKNOWN_STMT_HANDLER, "HY000",
                   "Unknown prepared statement handler (%u) given to %s", mysql_get_u32(p), cmd);
    return st;
}

struct admin_sql_run *admin_stmt_command(struct admin_stmts *s, const uint8_t *p, size_t len)
{
    struct admin_stmt *st;

    switch (p[0]) {
    case COM_STMT_PREPARE:
        prepare(s, p + 1, len - 1);
        break;
    case COM_STMT_EXECUTE:
        return execute(s, p + 1, len - 1);
    case COM_STMT_SEND_LONG_DATA:
        send_long_data(s, p + 1, len - 1);
        break;
    case COM_STMT_CLOSE: /* no answer; an unknown id is nothing to close */
        if (len >= 5 && (st = find(s, mysql_get_u32(p + 1))))
            stmt_close(s, st);
        break;
    case COM_STMT_RESET:
        if ((st = named(s, p + 1, len - 1, 4, "mysqld_stmt_reset"))) {
            clear_long_data(s, st);
            cursor_close(s, st);
            s->ap->sink.ok(&s->ap->sink, 0, NULL);
        }
        break;
    case COM_STMT_FETCH: /* statement id (4), rows (4) */
        if ((st = named(s, p + 1, len - 1, 8, "mysqld_stmt_fetch")))
            fetch(s, st, mysql_get_u32(p + 5));
        break;
    }
    return NULL;
}

/* ---- the sink of executions: binary rows ---- */

static struct admin_stmts *sink_stmts(struct admin_sink *k)
{
    return container_of(k, struct admin_stmts, sink);
}

/* The column definitions are a text result set's; their types say how rows are encoded. An
 * execution that opens a cursor ends its answer there, with an EOF that says so. */
static int bin_columns(struct admin_sink *k, int n, const char *const *names,
                       const enum admin_type *types)
{
    struct admin_stmts *s = sink_stmts(k);
    struct admin_proto *ap = s->ap;

    if (n > ADMIN_SQL_MAX_COLUMNS)
        return -1;
    s->ncols = n;
    memcpy(s->types, types, (size_t)n * sizeof(*types));
    if (!s->filling)
        return ap->sink.columns(&ap->sink, n, names, types);
    mysql_pkt_begin(&ap->out, ap->seq++);
    mysql_put_lenenc(&ap->out, (uint64_t)n);
    mysql_pkt_end(&ap->out);
    for (int i = 0; i < n; i++)
        admin_wire_column_def(&ap->out, ap->seq++, names[i], types[i]);
    mysql_eof_packet(&ap->out, ap->seq++,
                     MYSQL_SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_CURSOR_EXISTS, false);
    s->filling->cursor->columns_sent = true;
    return admin_wire_too_large(&ap->out, ap->result_start, ap->result_sent) ? -1 : 0;
}

/* A binary row into W with sequence id SEQ: 0x00, the NULL bitmap (offset 2), then each value
 * that is not NULL in its column's type: LONGLONG and DOUBLE in 8 bytes, text length-encoded. */
static void binary_row(const struct admin_stmts *s, struct mysql_wbuf *w, uint8_t seq, int n,
                       const struct admin_value *vals)
{
    uint8_t bitmap[MYSQL_NULL_BITMAP_LEN(ADMIN_SQL_MAX_COLUMNS, 2)] = {0};

    for (int i = 0; i < n; i++)
        if (vals[i].type == ADMIN_V_NULL)
            mysql_set_null_bit(bitmap, (size_t)i, 2);
    mysql_pkt_begin(w, seq);
    mysql_put_u8(w, 0x00);
    mysql_put_bytes(w, bitmap, MYSQL_NULL_BITMAP_LEN(n, 2));
    for (int i = 0; i < n; i++) {
        if (vals[i].type == ADMIN_V_NULL)
            continue;
        if (s->types[i] == ADMIN_T_INT)
            mysql_put_u64(w, (uint64_t)vals[i].i);
        else if (s->types[i] == ADMIN_T_REAL)
            mysql_put_double(w, vals[i].d);
        else
            mysql_put_lenenc_str(w, vals[i].s, vals[i].len);
    }
    mysql_pkt_end(w);
}

/* A row goes out, or into the cursor being filled (its sequence id set when fetched). */
static int bin_typed_row(struct admin_sink *k, int n, const struct admin_value *vals)
{
    struct admin_stmts *s = sink_stmts(k);
    struct admin_proto *ap = s->ap;
    struct cursor *c = s->filling ? s->filling->cursor : NULL;

    if (n != s->ncols)
        return -1;
    if (!c) {
        binary_row(s, &ap->out, ap->seq++, n, vals);
        return admin_wire_too_large(&ap->out, ap->result_start, ap->result_sent) ? -1 : 0;
    }
    binary_row(s, &c->rows, 0, n, vals);
    if (c->rows.failed)
        return -1;
    c->complete = c->rows.len;
    return 0;
}

/* A row a statement built as text (DESCRIBE): each value read as its column's type. */
static int bin_row(struct admin_sink *k, int n, const char *const *vals, const size_t *lens)
{
    struct admin_stmts *s = sink_stmts(k);
    struct admin_value typed[n > 0 ? n : 1];
    char num[64];

    if (n != s->ncols)
        return -1;
    for (int i = 0; i < n; i++) {
        typed[i] = (struct admin_value){
            .type = vals[i] ? ADMIN_V_TEXT : ADMIN_V_NULL, .s = vals[i], .len = lens[i]};
        if (!vals[i] || s->types[i] == ADMIN_T_TEXT)
            continue;
        snprintf(num, sizeof(num), "%.*s", (int)(lens[i] < 63 ? lens[i] : 63), vals[i]);
        if (s->types[i] == ADMIN_T_INT) {
            typed[i].type = ADMIN_V_INT;
            typed[i].i = strtoll(num, NULL, 10);
        } else {
            typed[i].type = ADMIN_V_REAL;
            typed[i].d = strtod(num, NULL);
        }
    }
    return bin_typed_row(k, n, typed);
}

/* The result is complete: in the output, or in the cursor (its answer went out already). */
static void bin_end(struct admin_sink *k)
{
    struct admin_stmts *s = sink_stmts(k);
    struct admin_sink *text = &s->ap->sink;

    if (s->filling)
        cursor_filled(s);
    else
        text->end(text);
}

/* No result set: no cursor either. */
static void bin_ok(struct admin_sink *k, uint64_t affected, const char *info)
{
    struct admin_stmts *s = sink_stmts(k);
    struct admin_sink *text = &s->ap->sink;

    if (s->filling)
        cursor_close(s, s->filling);
    text->ok(text, affected, info);
}

/* An error answers the execution, unless a cursor's columns went out already: then the fetch
 * that reaches it answers it, after the rows that came before it. */
static void bin_error(struct admin_sink *k, uint16_t code, const char *sqlstate, const char *msg)
{
    struct admin_stmts *s = sink_stmts(k);
    struct admin_sink *text = &s->ap->sink;
    struct cursor *c = s->filling ? s->filling->cursor : NULL;

    if (c && c->columns_sent) {
        c->error = code;
        snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", sqlstate);
        snprintf(c->error_msg, sizeof(c->error_msg), "%s", msg);
        cursor_filled(s);
        return;
    }
    if (c)
        cursor_close(s, s->filling);
    text->error(text, code, sqlstate, msg);
}

/* Rows going into a cursor wait for no client. */
static bool bin_full(struct admin_sink *k)
{
    struct admin_stmts *s = sink_stmts(k);
    struct admin_sink *text = &s->ap->sink;

    return !s->filling && text->full && text->full(text);
}

void admin_stmts_init(struct admin_stmts *s, struct admin_proto *ap)
{
    memset(s, 0, sizeof(*s));
    LIST_INIT(&s->list);
    s->ap = ap;
    s->sink = (struct admin_sink){
        .columns = bin_columns,
        .row = bin_row,
        .end = bin_end,
        .ok = bin_ok,
        .error = bin_error,
        .full = bin_full,
        .typed_row = bin_typed_row,
    };
}
