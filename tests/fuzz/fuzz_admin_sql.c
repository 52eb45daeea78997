/* fuzz_admin_sql.c - libFuzzer target for the admin port's SQL engine alone: no router, no
 * packets. The engine opens over two small tables of its own (a writable one and a
 * read-only one), as admin_vtab.h lets any set of tables in, and runs each line of the input
 * as a statement: through admin_sql_exec(), or prepared and executed with parameters taken
 * from the input. The first byte picks the client (bit 0: the read-only one) and the path
 * (bit 1: prepared). Every answer must be one whole outcome: an OK, or an error, or columns,
 * rows and an end (an error may end a result half way); anything else aborts.
 *
 * Links only the engine's objects (see the Makefile), which proves it needs nothing else. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_sql.h"
#include "admin_vtab.h"
#include "rebound.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NITEMS 20

/* ---- the test tables ---- */

static const struct admin_vcol item_cols[] = {
    {"id", "INTEGER"},
    {"name", "TEXT"},
    {"score", "REAL"},
    {"state", "TEXT"},
};

static char item_state[NITEMS][16];
static bool item_gone[NITEMS];
static size_t pending_removals, commits;

static void fill_items(struct admin_snap *s)
{
    for (int i = 0; i < NITEMS; i++) {
        if (item_gone[i])
            continue;
        admin_snap_row(s, i);
        admin_snap_int(s, i);
        admin_snap_textf(s, "item-%d", i);
        admin_snap_real(s, i * 1.5);
        admin_snap_text(s, item_state[i]);
    }
}

static int update_item(sqlite3_vtab *vt, sqlite3_int64 rowid, sqlite3_value **argv)
{
    const char *v = (const char *)sqlite3_value_text(argv[3]);

    if (rowid < 0 || rowid >= NITEMS || !v || strlen(v) >= sizeof(item_state[0]))
        return admin_vtab_error(vt, SQLITE_CONSTRAINT, "state must be short text");
    if (strcmp(item_state[rowid], v))
        admin_sql_row_changed();
    snprintf(item_state[rowid], sizeof(item_state[rowid]), "%s", v);
    return SQLITE_OK;
}

static int remove_item(sqlite3_vtab *vt, sqlite3_int64 rowid)
{
    (void)vt;
    (void)rowid;
    pending_removals++;
    return SQLITE_OK;
}

static void items_discard(void)
{
    pending_removals = 0;
}

/* The removals take effect (are counted) only once their statement completes. */
static int items_commit(void)
{
    commits += pending_removals;
    pending_removals = 0;
    return 0;
}

static const struct admin_vcol kv_cols[] = {
    {"k", "TEXT"},
    {"v", "INTEGER"},
};

static void fill_kv(struct admin_snap *s)
{
    static const char *const keys[] = {"alpha", "beta", "gamma"};

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        admin_snap_row(s, (sqlite3_int64)i + 1);
        admin_snap_text(s, keys[i]);
        admin_snap_int(s, (int64_t)(i * 1000));
    }
}

static const struct admin_vtable test_tables[] = {
    {"items", item_cols, ARRAY_SIZE(item_cols), fill_items, update_item, remove_item, "state",
     "id"},
    {"kv", kv_cols, ARRAY_SIZE(kv_cols), fill_kv, NULL, NULL, NULL, "k"},
};

static const struct admin_tables tables = {
    test_tables, ARRAY_SIZE(test_tables), NULL, items_discard, items_commit, NULL,
};

/* ---- a sink that checks each answer is one whole outcome ---- */

/* One answer so far: how many columns its result has, and whether it is complete. */
struct check {
    struct admin_sink base;
    int ncols;
    bool in_result; /* columns() came, the end or an error has not */
    bool answered;
};

static struct check *check_of(struct admin_sink *k)
{
    return container_of(k, struct check, base);
}

static void must(bool ok)
{
    if (!ok)
        abort();
}

static int ck_columns(struct admin_sink *k, int n, const char *const *names,
                      const enum admin_type *types)
{
    struct check *c = check_of(k);

    must(!c->answered && !c->in_result && n > 0 && n <= ADMIN_SQL_MAX_COLUMNS);
    for (int i = 0; i < n; i++)
        must(names[i] && types[i] <= ADMIN_T_TEXT);
    c->ncols = n;
    c->in_result = true;
    return 0;
}

static int ck_row(struct admin_sink *k, int n, const char *const *vals, const size_t *lens)
{
    struct check *c = check_of(k);

    must(c->in_result && n == c->ncols);
    for (int i = 0; i < n; i++)
        must(!vals[i] || strlen(vals[i]) <= lens[i]);
    return 0;
}

static int ck_typed_row(struct admin_sink *k, int n, const struct admin_value *vals)
{
    struct check *c = check_of(k);

    must(c->in_result && n == c->ncols);
    for (int i = 0; i < n; i++)
        must(vals[i].type != ADMIN_V_TEXT || vals[i].s);
    return 0;
}

static void ck_end(struct admin_sink *k)
{
    struct check *c = check_of(k);

    must(c->in_result && !c->answered);
    c->in_result = false;
    c->answered = true;
}

static void ck_ok(struct admin_sink *k, uint64_t affected, const char *info)
{
    struct check *c = check_of(k);
    (void)affected;
    (void)info;

    must(!c->in_result && !c->answered);
    c->answered = true;
}

static void ck_error(struct admin_sink *k, uint16_t code, const char *sqlstate, const char *msg)
{
    struct check *c = check_of(k);

    must(!c->answered && code >= 1000 && sqlstate && strlen(sqlstate) == 5 && msg);
    c->in_result = false;
    c->answered = true;
}

static void check_init(struct check *c, bool typed)
{
    memset(c, 0, sizeof(*c));
    c->base = (struct admin_sink){
        ck_columns, ck_row, ck_end, ck_ok, ck_error, NULL, typed ? ck_typed_row : NULL};
}

/* ---- running the lines ---- */

/* Prepare SQL and execute it once, its parameters taken from the bytes of SQL itself. */
static void prepared(struct admin_client *cl, const char *sql, size_t len)
{
    struct admin_value vals[ADMIN_SQL_MAX_PARAMS];
    struct admin_sql_stmt *p;
    struct admin_sql_run *r;
    struct check c;
    int n;

    check_init(&c, false);
    if (!(p = admin_sql_prepare(cl, sql, len, &c.base))) {
        must(c.answered);
        return;
    }
    must(!c.answered);
    n = admin_sql_stmt_params(p);
    must(n >= 0 && n <= ADMIN_SQL_MAX_PARAMS);
    for (int i = 0; i < n; i++) {
        uint8_t b = len ? (uint8_t)sql[(size_t)i % len] : 0;
        memset(&vals[i], 0, sizeof(vals[i]));
        vals[i].type = b % 4 == 0 ? ADMIN_V_NULL : b % 4 == 1 ? ADMIN_V_INT : ADMIN_V_TEXT;
        vals[i].i = b;
        vals[i].s = sql;
        vals[i].len = b % 8 < len ? b % 8 : len;
    }
    check_init(&c, true);
    r = admin_sql_execute(cl, p, vals, &c.base);
    while (r && !admin_sql_resume(r))
        ;
    must(c.answered);
    admin_sql_stmt_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool opened;
    struct admin_client cl = {.id = 7, .user = "admin", .peer = "127.0.0.1:9"};
    const char *p, *end, *nl;

    if (!opened) {
        if (admin_sql_open(NULL, &tables) < 0)
            abort();
        opened = true;
    }
    if (size < 1)
        return 0;
    cl.readonly = data[0] & 1;
    p = (const char *)data + 1;
    end = (const char *)data + size;
    for (; p < end; p = nl + 1) {
        struct check c;

        nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        if (data[0] & 2) {
            prepared(&cl, p, (size_t)(nl - p));
            continue;
        }
        check_init(&c, false);
        admin_sql_exec(&cl, p, (size_t)(nl - p), &c.base);
        must(c.answered);
    }
    return 0;
}
