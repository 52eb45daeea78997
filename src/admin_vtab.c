/* admin_vtab.c - the virtual table module behind every table of the admin port, and the
 * snapshots its scans read (admin_vtab.h).
 *
 * Every table is a snapshot: xFilter copies the rows it will return, so a DELETE that
 * closes sessions while the scan runs never touches freed memory, and a statement sees
 * one consistent picture. The first snapshot of a statement does not count against its
 * step (admin_sql_snapshot_taken()); a scan begun once the step is over ends it.
 *
 * Thread: rb_loop (the control thread) only, like the engine that runs the scans. */
#include "admin_vtab.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "admin_exec.h"
#include "log.h"
#include "rebound.h"

/* ---- snapshots: the rows one scan returns ---- */

static void snap_free(struct admin_snap *s)
{
    for (size_t i = 0; i < s->nrows * (size_t)s->ncols; i++)
        free(s->cells[i].s);
    free(s->cells);
    free(s->rowids);
    memset(s, 0, sizeof(*s));
}

void admin_snap_row(struct admin_snap *s, sqlite3_int64 rowid)
{
    if (s->oom)
        return;
    if (s->nrows == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        sqlite3_int64 *r = realloc(s->rowids, cap * sizeof(*r));
        struct admin_cell *c;

        if (r)
            s->rowids = r;
        c = r ? realloc(s->cells, cap * (size_t)s->ncols * sizeof(*c)) : NULL;
        if (!c) {
            s->oom = true;
            return;
        }
        s->cells = c;
        s->cap = cap;
    }
    memset(&s->cells[s->nrows * (size_t)s->ncols], 0, (size_t)s->ncols * sizeof(struct admin_cell));
    for (int i = 0; i < s->ncols; i++)
        s->cells[s->nrows * (size_t)s->ncols + (size_t)i].type = SQLITE_NULL;
    s->rowids[s->nrows++] = rowid;
    s->col = 0;
}

/* The next cell of the current row, NULL if there is none. */
static struct admin_cell *snap_next(struct admin_snap *s)
{
    if (s->oom || s->nrows == 0 || s->col >= s->ncols)
        return NULL;
    return &s->cells[(s->nrows - 1) * (size_t)s->ncols + (size_t)s->col++];
}

void admin_snap_int(struct admin_snap *s, int64_t v)
{
    struct admin_cell *c = snap_next(s);

    if (c) {
        c->type = SQLITE_INTEGER;
        c->i = v;
    }
}

void admin_snap_real(struct admin_snap *s, double v)
{
    struct admin_cell *c = snap_next(s);

    if (c) {
        c->type = SQLITE_FLOAT;
        c->d = v;
    }
}

void admin_snap_null(struct admin_snap *s)
{
    snap_next(s);
}

void admin_snap_text(struct admin_snap *s, const char *v)
{
    struct admin_cell *c = snap_next(s);

    if (!c || !v)
        return;
    if (!(c->s = strdup(v))) {
        s->oom = true;
        return;
    }
    c->type = SQLITE_TEXT;
}

void admin_snap_textf(struct admin_snap *s, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    admin_snap_text(s, buf);
}

void admin_snap_time(struct admin_snap *s, double t)
{
    char buf[40];
    time_t sec = (time_t)t;
    struct tm tm;

    if (t <= 0) {
        admin_snap_null(s);
        return;
    }
    gmtime_r(&sec, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), ".%03d",
             (int)((t - (double)sec) * 1000) % 1000);
    admin_snap_text(s, buf);
}

/* ---- errors of the tables' writes ---- */

int admin_vtab_error(sqlite3_vtab *vt, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sqlite3_free(vt->zErrMsg);
    vt->zErrMsg = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- the module (one for all tables; pAux is the admin_vtable) ---- */

/* A table instance. */
struct vtab {
    sqlite3_vtab base;
    const struct admin_vtable *def;
};

/* A scan: the snapshot and the position in it. */
struct vcursor {
    sqlite3_vtab_cursor base;
    struct admin_snap snap;
    size_t pos;
};

static int vt_connect(sqlite3 *h, void *aux, int argc, const char *const *argv, sqlite3_vtab **out,
                      char **err)
{
    const struct admin_vtable *def = aux;
    struct vtab *vt;
    sqlite3_str *sql = sqlite3_str_new(h);
    char *text;
    int rc;
    (void)argc;
    (void)argv;

    sqlite3_str_appendf(sql, "CREATE TABLE x(");
    for (int i = 0; i < def->ncols; i++)
        sqlite3_str_appendf(sql, "%s\"%w\" %s", i ? ", " : "", def->cols[i].name,
                            def->cols[i].type);
    if (def->primary_key)
        sqlite3_str_appendf(sql, ", PRIMARY KEY (%s)", def->primary_key);
    sqlite3_str_appendf(sql, ")");
    if (!(text = sqlite3_str_finish(sql)))
        return SQLITE_NOMEM;
    rc = sqlite3_declare_vtab(h, text);
    sqlite3_free(text);
    if (rc != SQLITE_OK) {
        *err = sqlite3_mprintf("cannot declare table %s", def->name);
        return rc;
    }
    if (!(vt = sqlite3_malloc(sizeof(*vt))))
        return SQLITE_NOMEM;
    memset(vt, 0, sizeof(*vt));
    vt->def = def;
    *out = &vt->base;
    return SQLITE_OK;
}

static int vt_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

static int vt_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    (void)vt;
    info->estimatedCost = 1000;
    info->estimatedRows = 1000;
    return SQLITE_OK;
}

static int vt_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    struct vcursor *c = calloc(1, sizeof(*c));
    (void)vt;

    if (!c)
        return SQLITE_NOMEM;
    *out = &c->base;
    return SQLITE_OK;
}

static int vt_close(sqlite3_vtab_cursor *cur_)
{
    struct vcursor *c = (struct vcursor *)cur_;

    snap_free(&c->snap);
    free(c);
    return SQLITE_OK;
}

static int vt_filter(sqlite3_vtab_cursor *cur_, int idx, const char *idxstr, int argc,
                     sqlite3_value **argv)
{
    struct vcursor *c = (struct vcursor *)cur_;
    const struct admin_vtable *def = ((struct vtab *)cur_->pVtab)->def;
    uint64_t t0 = mono_us();
    (void)idx;
    (void)idxstr;
    (void)argc;
    (void)argv;

    snap_free(&c->snap);
    c->snap.ncols = def->ncols;
    c->pos = 0;
    if (admin_sql_slice_over()) /* a join scanning this table again and again */
        return SQLITE_INTERRUPT;
    def->fill(&c->snap);
    /* The first snapshot is the price of reading the table at all (it grows with maxconn):
     * it does not count against the statement's slice; every further one does. */
    admin_sql_snapshot_taken(t0);
    return c->snap.oom ? SQLITE_NOMEM : SQLITE_OK;
}

static int vt_next(sqlite3_vtab_cursor *cur_)
{
    ((struct vcursor *)cur_)->pos++;
    return SQLITE_OK;
}

static int vt_eof(sqlite3_vtab_cursor *cur_)
{
    struct vcursor *c = (struct vcursor *)cur_;
    return c->pos >= c->snap.nrows;
}

static int vt_column(sqlite3_vtab_cursor *cur_, sqlite3_context *ctx, int i)
{
    struct vcursor *c = (struct vcursor *)cur_;
    const struct admin_cell *v;

    if (i < 0 || i >= c->snap.ncols || c->pos >= c->snap.nrows)
        return SQLITE_OK;
    v = &c->snap.cells[c->pos * (size_t)c->snap.ncols + (size_t)i];
    switch (v->type) {
    case SQLITE_INTEGER:
        sqlite3_result_int64(ctx, v->i);
        break;
    case SQLITE_FLOAT:
        sqlite3_result_double(ctx, v->d);
        break;
    case SQLITE_TEXT:
        sqlite3_result_text(ctx, v->s, -1, SQLITE_TRANSIENT);
        break;
    default:
        sqlite3_result_null(ctx);
    }
    return SQLITE_OK;
}

static int vt_rowid(sqlite3_vtab_cursor *cur_, sqlite3_int64 *rowid)
{
    struct vcursor *c = (struct vcursor *)cur_;

    *rowid = c->pos < c->snap.nrows ? c->snap.rowids[c->pos] : 0;
    return SQLITE_OK;
}

/* INSERT (argv[0] NULL), DELETE (argc 1) or UPDATE (argv[0] the old rowid). */
static int vt_update(sqlite3_vtab *vt_, int argc, sqlite3_value **argv, sqlite3_int64 *rowid)
{
    struct vtab *vt = (struct vtab *)vt_;
    const struct admin_vtable *def = vt->def;
    (void)rowid;

    if (argc == 1) {
        if (!def->remove)
            return admin_vtab_error(vt_, SQLITE_READONLY, "rows of %s cannot be deleted",
                                    def->name);
        return def->remove(vt_, sqlite3_value_int64(argv[0]));
    }
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
        return admin_vtab_error(vt_, SQLITE_READONLY, "rows cannot be inserted into %s", def->name);
    if (!def->update)
        return admin_vtab_error(vt_, SQLITE_READONLY, "table %s is read-only", def->name);
    if (sqlite3_value_int64(argv[0]) != sqlite3_value_int64(argv[1]))
        return admin_vtab_error(vt_, SQLITE_READONLY, "the rowid of %s cannot change", def->name);
    return def->update(vt_, sqlite3_value_int64(argv[0]), argv + 2);
}

static const sqlite3_module vmodule = {
    .iVersion = 1,
    .xCreate = vt_connect,
    .xConnect = vt_connect,
    .xBestIndex = vt_best_index,
    .xDisconnect = vt_disconnect,
    .xDestroy = vt_disconnect,
    .xOpen = vt_open,
    .xClose = vt_close,
    .xFilter = vt_filter,
    .xNext = vt_next,
    .xEof = vt_eof,
    .xColumn = vt_column,
    .xRowid = vt_rowid,
    .xUpdate = vt_update,
};

bool admin_vtab_writable(const struct admin_vtable *t, const char *column)
{
    size_t len = strlen(column);

    for (const char *w = t->update ? t->writable : NULL; w && *w; w += strcspn(w, ",")) {
        w += *w == ',';
        if (!strncmp(w, column, len) && (w[len] == ',' || !w[len]))
            return true;
    }
    return false;
}

const struct admin_vtable *admin_vtab_find(const struct admin_tables *t, const char *name)
{
    for (size_t i = 0; t && i < t->ntables; i++)
        if (!strcasecmp(t->tables[i].name, name))
            return &t->tables[i];
    return NULL;
}

int admin_vtab_create(sqlite3 *db, const struct admin_tables *t)
{
    char *err = NULL, name[64], sql[160];

    for (size_t i = 0; t && i < t->ntables; i++) {
        snprintf(name, sizeof(name), "rb_%s", t->tables[i].name);
        snprintf(sql, sizeof(sql), "CREATE VIRTUAL TABLE %s USING %s", t->tables[i].name, name);
        if (sqlite3_create_module(db, name, &vmodule, (void *)&t->tables[i]) != SQLITE_OK ||
            sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
            log_err("admin: cannot create table %s: %s", t->tables[i].name,
                    err ? err : sqlite3_errmsg(db));
            sqlite3_free(err);
            return -1;
        }
    }
    return 0;
}
