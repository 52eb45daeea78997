/* test_admin_engine.c - the admin SQL engine over tables of its own, without the router
 * (the Makefile links this test with the engine's objects only): what the authorizer lets
 * tables take (an UPDATE of their writable column, a DELETE where they take one), that a
 * write's effect waits for its statement to complete and a failed one has none, the OK an
 * UPDATE answers, SHOW GRANTS and information_schema from the tables given, and nothing but
 * them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "admin_sql.h"
#include "admin_vtab.h"
#include "rebound.h"

/* ---- two tables: lamps (its state writable, rows deletable) and colors (read-only) ---- */

#define NLAMPS 4

static const struct admin_vcol lamp_cols[] = {
    {"id", "INTEGER"},
    {"state", "TEXT"},
    {"watts", "REAL"},
};

static char lamp_state[NLAMPS][8];
static int removed_now;   /* rows the statement under way deleted */
static int removed_total; /* rows deleted by statements that completed */

static void fill_lamps(struct admin_snap *s)
{
    for (int i = 0; i < NLAMPS; i++) {
        admin_snap_row(s, i);
        admin_snap_int(s, i);
        admin_snap_text(s, lamp_state[i]);
        admin_snap_real(s, 7.5 * i);
    }
}

static int update_lamp(sqlite3_vtab *vt, sqlite3_int64 rowid, sqlite3_value **argv)
{
    const char *v = (const char *)sqlite3_value_text(argv[1]);

    if (!v || (strcmp(v, "on") && strcmp(v, "off")))
        return admin_vtab_error(vt, SQLITE_CONSTRAINT, "a lamp is 'on' or 'off', not '%s'",
                                v ? v : "NULL");
    if (strcmp(lamp_state[rowid], v))
        admin_sql_row_changed();
    snprintf(lamp_state[rowid], sizeof(lamp_state[rowid]), "%s", v);
    return SQLITE_OK;
}

static int remove_lamp(sqlite3_vtab *vt, sqlite3_int64 rowid)
{
    (void)vt;
    (void)rowid;
    removed_now++;
    return SQLITE_OK;
}

static void lamps_discard(void)
{
    removed_now = 0;
}

static int lamps_commit(void)
{
    removed_total += removed_now;
    removed_now = 0;
    return 0;
}

static const struct admin_vcol color_cols[] = {
    {"name", "TEXT"},
};

static void fill_colors(struct admin_snap *s)
{
    admin_snap_row(s, 1);
    admin_snap_text(s, "red");
    admin_snap_row(s, 2);
    admin_snap_text(s, "blue");
}

static const struct admin_vtable test_tables[] = {
    {"lamps", lamp_cols, ARRAY_SIZE(lamp_cols), fill_lamps, update_lamp, remove_lamp, "state",
     "id"},
    {"colors", color_cols, ARRAY_SIZE(color_cols), fill_colors, NULL, NULL, NULL, "name"},
};

static const struct admin_tables tables = {
    test_tables, ARRAY_SIZE(test_tables), NULL, lamps_discard, lamps_commit, NULL,
};

/* ---- an answer, as text ---- */

/* "ok N info", "err CODE message", or "rows" and the rows ("a|b;c|d"). */
struct answer {
    struct admin_sink sink;
    char text[2048];
};

static void add(struct answer *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct answer *a, const char *fmt, ...)
{
    size_t l = strlen(a->text);
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(a->text + l, sizeof(a->text) - l, fmt, ap);
    va_end(ap);
}

static int a_columns(struct admin_sink *k, int n, const char *const *names,
                     const enum admin_type *types)
{
    (void)n;
    (void)names;
    (void)types;
    add((struct answer *)k, "rows ");
    return 0;
}

static int a_row(struct admin_sink *k, int n, const char *const *vals, const size_t *lens)
{
    struct answer *a = (struct answer *)k;

    if (a->text[strlen(a->text) - 1] != ' ')
        add(a, ";");
    for (int i = 0; i < n; i++)
        add(a, "%s%.*s", i ? "|" : "", vals[i] ? (int)lens[i] : 4, vals[i] ? vals[i] : "NULL");
    return 0;
}

static void a_end(struct admin_sink *k)
{
    (void)k;
}

static void a_ok(struct admin_sink *k, uint64_t affected, const char *info)
{
    add((struct answer *)k, "ok %llu%s%s", (unsigned long long)affected, info ? " " : "",
        info ? info : "");
}

static void a_error(struct admin_sink *k, uint16_t code, const char *state, const char *msg)
{
    struct answer *a = (struct answer *)k;
    (void)state;

    a->text[0] = '\0'; /* a result half sent is dropped */
    add(a, "err %u %s", code, msg);
}

static struct admin_client admin = {.id = 1, .user = "admin", .peer = "127.0.0.1:5"};
static struct admin_client viewer = {
    .id = 2, .user = "viewer", .peer = "127.0.0.1:6", .readonly = true};

static const char *answer(struct admin_client *c, const char *sql)
{
    static struct answer a;

    memset(&a, 0, sizeof(a));
    a.sink = (struct admin_sink){a_columns, a_row, a_end, a_ok, a_error, NULL, NULL};
    admin_sql_exec(c, sql, strlen(sql), &a.sink);
    return a.text;
}

static void expect(struct admin_client *c, const char *sql, const char *want)
{
    const char *got = answer(c, sql);

    if (strncmp(got, want, strlen(want)))
        fail_msg("%s: got \"%s\", expected \"%s...\"", sql, got, want);
}

static int setup(void **state)
{
    (void)state;
    for (int i = 0; i < NLAMPS; i++)
        snprintf(lamp_state[i], sizeof(lamp_state[i]), "off");
    return admin_sql_open(NULL, &tables);
}

static int teardown(void **state)
{
    (void)state;
    admin_sql_close();
    return 0;
}

/* ---- the tests ---- */

/* Scans read the snapshots the tables fill; the tables given are the only ones. */
static void test_reads(void **state)
{
    (void)state;
    expect(&viewer, "SELECT id, state, watts FROM lamps WHERE id < 2", "rows 0|off|0.0;1|off|7.5");
    expect(&viewer, "SELECT group_concat(name) FROM colors", "rows red,blue");
    expect(&viewer, "SELECT * FROM servers", "err 1146 no such table: servers");
    expect(&viewer, "SHOW TABLES", "rows colors;lamps");
    expect(&viewer, "SHOW INDEX FROM lamps WHERE Key_name = 'PRIMARY'",
           "rows lamps|0|PRIMARY|1|id");
    expect(&viewer,
           "SELECT COLUMN_NAME, DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_NAME = "
           "'lamps' ORDER BY ORDINAL_POSITION",
           "rows id|bigint;state|text;watts|double");
}

/* An UPDATE of the writable column goes through the table and answers as MySQL does: rows
 * matched and really changed. Anything else is refused by the authorizer. */
static void test_update(void **state)
{
    struct admin_client found = admin;
    (void)state;

    found.found_rows = true;
    expect(&admin, "UPDATE lamps SET state = 'on' WHERE id <= 1",
           "ok 2 Rows matched: 2  Changed: 2  Warnings: 0");
    expect(&admin, "UPDATE lamps SET state = 'on' WHERE id <= 1",
           "ok 0 Rows matched: 2  Changed: 0  Warnings: 0");
    expect(&found, "UPDATE lamps SET state = 'on' WHERE id <= 1",
           "ok 2 Rows matched: 2  Changed: 0  Warnings: 0");
    assert_string_equal(lamp_state[1], "on");
    expect(&admin, "UPDATE lamps SET state = 'dim'", "err 1367 a lamp is 'on' or 'off', not 'dim'");
    expect(&admin, "UPDATE lamps SET watts = 1", "err 1142 column lamps.watts cannot be changed");
    expect(&admin, "UPDATE colors SET name = 'x'", "err 1142 column colors.name cannot be changed");
    expect(&viewer, "UPDATE lamps SET state = 'off'",
           "err 1142 UPDATE command denied to user 'viewer' for table 'lamps': this user is "
           "read-only");
    expect(&admin, "INSERT INTO lamps VALUES (9, 'on', 1)",
           "err 1142 rows cannot be inserted into lamps");
    assert_string_equal(lamp_state[2], "off");
}

/* A DELETE's rows take effect once the statement completes; a DELETE that fails, none. */
static void test_delete(void **state)
{
    (void)state;
    removed_total = 0;
    expect(&admin, "DELETE FROM lamps WHERE id >= 2", "ok 2");
    assert_int_equal(removed_total, 2);
    expect(&admin, "DELETE FROM lamps WHERE id = 0 OR abs(-9223372036854775807 - 1)",
           "err 1105 integer overflow");
    assert_int_equal(removed_total, 2);
    assert_int_equal(removed_now, 0);
    expect(&admin, "DELETE FROM colors", "err 1142 rows of colors cannot be deleted");
    expect(&viewer, "DELETE FROM lamps", "err 1142 DELETE command denied to user 'viewer'");
    assert_int_equal(removed_total, 2);
}

/* SHOW GRANTS and DESCRIBE tell the writes the tables given take. */
static void test_grants(void **state)
{
    (void)state;
    expect(&admin, "SHOW GRANTS",
           "rows GRANT USAGE ON *.* TO `admin`@`%`;GRANT SELECT ON `rebound`.* TO "
           "`admin`@`%`;GRANT UPDATE (`state`) ON `rebound`.`lamps` TO `admin`@`%`;GRANT DELETE "
           "ON `rebound`.`lamps` TO `admin`@`%`");
    expect(&viewer, "SHOW GRANTS",
           "rows GRANT USAGE ON *.* TO `viewer`@`%`;GRANT SELECT ON `rebound`.* TO `viewer`@`%`");
    expect(&admin, "DESCRIBE lamps state", "rows state|text|YES||NULL|writable");
    assert_string_equal(answer(&viewer, "DESCRIBE lamps state"), "rows state|text|YES||NULL|");
}

/* COM_FIELD_LIST's columns come from the table's declaration. */
static void column(void *arg, const char *name, enum admin_type type)
{
    char *out = arg;

    snprintf(out + strlen(out), 64, "%s:%d ", name, (int)type);
}

static void test_table_columns(void **state)
{
    char out[256] = "";
    (void)state;

    assert_int_equal(admin_sql_table_columns("LAMPS", column, out), 0);
    assert_string_equal(out, "id:0 state:2 watts:1 ");
    assert_int_equal(admin_sql_table_columns("servers", column, out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads),         cmocka_unit_test(test_update),
        cmocka_unit_test(test_delete),        cmocka_unit_test(test_grants),
        cmocka_unit_test(test_table_columns),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
