/* test_admin_sql.c - the admin port's statement dispatch without a socket: which statements
 * are shortcuts, what SQLite answers, what is refused and how, through a recording sink; the
 * functions allowed and the bounded replacements of SQLite's own; statements that go on a
 * slice at a time; VACUUM and friends leave the schema alone. Also the admin password rules
 * of the config. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "admin_sql.h"
#include "conf.h"
#include "rebound.h"

/* A sink that remembers the outcome: "ok", "err CODE", or "rows N" with the first row's
 * first value and the column names and types. */
struct rec {
    struct admin_sink base;
    char kind[8];
    unsigned code;
    char msg[300];
    int ncols, nrows;
    char cols[512];
    enum admin_type types[16];
    char first[256];
};

static int rec_columns(struct admin_sink *k, int n, const char *const *names,
                       const enum admin_type *types)
{
    struct rec *r = (struct rec *)k;

    r->ncols = n;
    for (int i = 0; i < n; i++) {
        size_t l = strlen(r->cols);
        snprintf(r->cols + l, sizeof(r->cols) - l, "%s%s", i ? "," : "", names[i]);
        if (i < 16)
            r->types[i] = types[i];
    }
    return 0;
}

static int rec_row(struct admin_sink *k, int n, const char *const *vals, const size_t *lens)
{
    struct rec *r = (struct rec *)k;

    if (r->nrows++ == 0 && n > 0)
        snprintf(r->first, sizeof(r->first), "%.*s", vals[0] ? (int)lens[0] : 4,
                 vals[0] ? vals[0] : "NULL");
    return 0;
}

static void rec_end(struct admin_sink *k)
{
    snprintf(((struct rec *)k)->kind, 8, "rows");
}

static void rec_ok(struct admin_sink *k, uint64_t affected, const char *info)
{
    (void)affected;
    (void)info;
    snprintf(((struct rec *)k)->kind, 8, "ok");
}

static void rec_error(struct admin_sink *k, uint16_t code, const char *state, const char *msg)
{
    struct rec *r = (struct rec *)k;
    (void)state;
    snprintf(r->kind, 8, "err");
    r->code = code;
    snprintf(r->msg, sizeof(r->msg), "%s", msg);
}

static struct admin_client admin = {.id = 1, .user = "admin", .peer = "127.0.0.1:5"};
static struct admin_client viewer = {
    .id = 2, .user = "viewer", .peer = "127.0.0.1:6", .readonly = true};

static struct rec run(struct admin_client *c, const char *sql)
{
    struct rec r;

    memset(&r, 0, sizeof(r));
    r.base = (struct admin_sink){rec_columns, rec_row, rec_end, rec_ok, rec_error, NULL, NULL};

    admin_sql_exec(c, sql, strlen(sql), &r.base);
    return r;
}

static int setup(void **state)
{
    (void)state;
    rb_loop = ev_default_loop(0);
    return admin_sql_open(NULL);
}

static int teardown(void **state)
{
    (void)state;
    admin_sql_close();
    return 0;
}

/* Each shortcut answers with the expected shape. */
static void test_shortcuts(void **state)
{
    static const struct {
        const char *sql, *kind, *cols;
    } cases[] = {
        {"show databases", "rows", "Database"},
        {"  SHOW   TABLES ;", "rows", "Tables_in_rebound"},
        {"show full tables", "rows", "Tables_in_rebound,Table_type"},
        {"SHOW SERVERS", "rows", NULL},
        {"show sessions", "rows",
         "id,listener,server,client,state,age_s,idle_s,bytes_in,bytes_out"},
        {"SHOW PROCESSLIST", "rows", "Id,User,Host,db,Command,Time,State,Info"},
        {"show full processlist", "rows", "Id,User,Host,db,Command,Time,State,Info"},
        {"SHOW HEALTH LOG", "rows", NULL},
        {"SHOW HEALTH LOG LIMIT 5", "rows", NULL},
        {"SHOW STATUS LIKE 'sessions%'", "rows", "Variable_name,Value"},
        {"show variables where Variable_name = 'global.version'", "rows", "Variable_name,Value"},
        {"DESCRIBE servers", "rows", "Field,Type,Null,Key,Default,Extra"},
        {"show columns from `rebound`.`sessions`", "rows", "Field,Type,Null,Key,Default,Extra"},
        {"SHOW WARNINGS", "rows", "Level,Code,Message"},
        {"SET NAMES utf8mb4", "ok", NULL},
        {"set autocommit=0", "ok", NULL},
        {"SET character_set_results = NULL", "ok", NULL},
        {"use rebound", "ok", NULL},
        {"BEGIN", "ok", NULL},
        {"/* comment */ select @@version_comment limit 1", "rows", "@@version_comment"},
        {"SELECT @@session.tx_isolation AS iso, @@unknown_thing", "rows", "iso,@@unknown_thing"},
        {"select database()", "rows", "database()"},
        {"-- just a comment", "err", NULL},
    };
    (void)state;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct rec r = run(&admin, cases[i].sql);
        if (strcmp(r.kind, cases[i].kind))
            fail_msg("%s: %s (%u %s), expected %s", cases[i].sql, r.kind, r.code, r.msg,
                     cases[i].kind);
        if (cases[i].cols)
            assert_string_equal(r.cols, cases[i].cols);
    }
    struct rec r = run(&admin, "select @@version_comment limit 1");
    assert_string_equal(r.first, "rebound admin port");
    r = run(&admin, "SHOW DATABASES");
    assert_string_equal(r.first, "rebound");
    assert_int_equal(r.nrows, 1);
    r = run(&admin, "SHOW TABLES");
    assert_int_equal(r.nrows, 6);
}

static void test_types(void **state)
{
    struct rec r = run(&admin, "SELECT 1, 1.5, 'x', NULL");
    (void)state;

    assert_string_equal(r.kind, "rows");
    assert_int_equal(r.types[0], ADMIN_T_INT);
    assert_int_equal(r.types[1], ADMIN_T_REAL);
    assert_int_equal(r.types[2], ADMIN_T_TEXT);
    assert_int_equal(r.types[3], ADMIN_T_TEXT);
    r = run(&admin, "SELECT * FROM status");
    assert_int_equal(r.types[0], ADMIN_T_TEXT);
    assert_int_equal(r.types[1], ADMIN_T_INT);
}

static void test_refused(void **state)
{
    static const struct {
        struct admin_client *who;
        const char *sql;
        unsigned code;
    } cases[] = {
        {&admin, "", 1065},
        {&admin, "   ;  ", 1065},
        {&admin, "CREATE TABLE t(a)", 1227},
        {&admin, "DROP TABLE servers", 1227},
        {&admin, "CREATE VIRTUAL TABLE x USING rb_servers", 1227},
        {&admin, "PRAGMA writable_schema = 1", 1227},
        {&admin, "ATTACH ':memory:' AS x", 1227},
        {&admin, "SAVEPOINT a", 1227},
        {&admin, "INSERT INTO servers(name) VALUES ('x')", 1142},
        {&admin, "UPDATE servers SET name = 'x'", 1142},
        {&admin, "DELETE FROM listeners", 1142},
        {&viewer, "UPDATE servers SET admin_state = 'drain'", 1142},
        {&viewer, "DELETE FROM sessions", 1142},
        {&viewer, "KILL 1", 1094},
        {&admin, "KILL", 1064},
        {&admin, "KILL abc", 1064},
        {&admin, "KILL QUERY 1", 1235},
        {&admin, "SHOW HEALTH LOG LIMIT x", 1064},
        {&admin, "SHOW STATUS BOGUS", 1064},
        {&admin, "SELECT 1; SELECT 2", 1064},
        {&admin, "USE mysql", 1049},
        {&admin, "DESCRIBE nosuch", 1146},
        {&admin, "SELECT * FROM nosuch", 1146},
        {&admin, "SELECT nosuch FROM servers", 1054},
        {&admin,
         "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) "
         "SELECT count(*) FROM c",
         3024},
        {&admin,
         "SELECT length(x || x) FROM (WITH RECURSIVE d(x) AS (SELECT 'a' UNION ALL "
         "SELECT x || x FROM d WHERE length(x) < 40000) SELECT max(x) AS x FROM d)",
         1041},
        /* Functions outside the allow-list, and tables that are not ours. */
        {&admin, "SELECT zeroblob(100000000)", 1305},
        {&admin, "SELECT load_extension('x')", 1305},
        {&viewer, "SELECT fts3_tokenizer('simple')", 1305},
        {&viewer, "SELECT printf('%.*c', 999999, 'a')", 1305},
        {&viewer, "SELECT format('%d', 1)", 1305},
        {&viewer, "SELECT randomblob(10)", 1305},
        {&viewer, "SELECT nosuchfunction(1)", 1305},
        {&viewer, "SELECT * FROM pragma_function_list", 1227},
        {&viewer, "SELECT * FROM json_each('[1]')", 1227},
        /* Whatever changes the database, for every user. */
        {&viewer, "VACUUM", 1227},
        {&admin, "VACUUM", 1227},
        {&admin, "VACUUM INTO '/tmp/rebound-vacuum.db'", 1227},
        {&admin, "ANALYZE", 1227},
        {&admin, "PRAGMA schema_version = 1", 1227},
        {&admin, "ALTER TABLE servers RENAME TO x", 1227},
        {&admin, "CREATE TEMP TABLE t(a)", 1227},
        /* Costly calls. */
        {&viewer,
         "SELECT x LIKE '%' || substr(x, 1, 900) || 'b' FROM (WITH RECURSIVE d(x) AS (SELECT "
         "'a' UNION ALL SELECT x || x FROM d WHERE length(x) < 30000) SELECT max(x) AS x FROM d)",
         1041},
        {&viewer, "SELECT 'abc' LIKE 'a' || hex(substr('x', 1, 0)) ESCAPE 'ab'", 1105},
    };
    (void)state;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct rec r = run(cases[i].who, cases[i].sql);
        if (strcmp(r.kind, "err") || r.code != cases[i].code)
            fail_msg("%s: %s %u (%s), expected error %u", cases[i].sql, r.kind, r.code, r.msg,
                     cases[i].code);
    }
    /* Writes allowed to the admin user match no row here: OK, nothing changed. */
    struct rec r = run(&admin, "UPDATE servers SET admin_state = 'drain'");
    assert_string_equal(r.kind, "ok");
    r = run(&admin, "DELETE FROM sessions WHERE id = 42");
    assert_string_equal(r.kind, "ok");
}

/* VACUUM (any user) is refused before it runs, and every statement works afterwards: the
 * schema is untouched. */
static void test_vacuum_keeps_schema(void **state)
{
    static const char *const after[] = {"SELECT COUNT(*) FROM servers",
                                        "SHOW SERVERS",
                                        "SHOW TABLES",
                                        "SELECT * FROM sessions",
                                        "SHOW CREATE TABLE servers",
                                        "DESCRIBE health_log"};
    struct admin_client *who[] = {&viewer, &admin};
    (void)state;

    for (size_t u = 0; u < ARRAY_SIZE(who); u++) {
        struct rec r = run(who[u], "VACUUM");
        assert_string_equal(r.kind, "err");
        assert_int_equal(r.code, 1227);
        for (size_t i = 0; i < ARRAY_SIZE(after); i++) {
            r = run(&viewer, after[i]);
            if (strcmp(r.kind, "rows"))
                fail_msg("%s after VACUUM: %s %u %s", after[i], r.kind, r.code, r.msg);
        }
    }
}

/* The first column of the first row of SQL on a plain SQLite connection. */
static void builtin_value(sqlite3 *h, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *st;

    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(out, size, "%s",
             sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0) : "NULL");
    sqlite3_finalize(st);
}

/* The bounded LIKE, GLOB, instr, replace and trim answer what SQLite's own do, and the
 * allowed functions work. */
static void test_functions_match_sqlite(void **state)
{
    static const char *const exprs[] = {
        "'abc' LIKE 'A%'",
        "'abc' LIKE 'a_c'",
        "'ABC' NOT LIKE '%b%'",
        "'a_c' LIKE 'a!_c' ESCAPE '!'",
        "'abc' LIKE 'a!_c' ESCAPE '!'",
        "'rw/master' LIKE 'rw/%'",
        "'héllo' LIKE 'H_llo'",
        "'x' LIKE NULL",
        "NULL LIKE 'x'",
        "'abc' GLOB 'a*'",
        "'abc' GLOB 'A*'",
        "'abc' GLOB '[a-b]?c'",
        "instr('hello', 'll')",
        "instr('héllo wörld', 'wö')",
        "instr('abc', '')",
        "instr('abc', 'z')",
        "instr('', 'a')",
        "instr(NULL, 'a')",
        "instr(x'00616263', x'63')",
        "instr(x'616263', 'bc')",
        "instr(12345, 34)",
        "replace('aXbXc', 'X', '--')",
        "replace('aaaa', 'aa', 'b')",
        "replace('abc', '', 'z')",
        "replace('abc', 'b', '')",
        "replace(NULL, 'a', 'b')",
        "replace('abc', 'b', NULL)",
        "replace(123, 2, 9)",
        "replace('héllo', 'é', 'e')",
        "trim('xxhixx', 'x')",
        "ltrim('xxhixx', 'x')",
        "rtrim('xxhixx', 'x')",
        "trim('abcba', 'ab')",
        "trim('éaé', 'é')",
        "trim('abc', '')",
        "trim(NULL, 'a')",
        "trim('abc', NULL)",
        "trim('  hi  ')",
        "typeof(replace('a', 'a', 'b'))",
        "length('héllo') || lower('AB') || upper('ab') || substr('abcdef', 2, 3)",
        "abs(-2) + round(2.5)",
        "coalesce(NULL, ifnull(NULL, nullif(1, 2)))",
        "iif(1, 'y', 'n') || hex('A') || quote('a''b') || char(65) || unicode('A')",
        "strftime('%Y', '2024-05-01') || date('2024-05-01', '+1 day')",
    };
    sqlite3 *h;
    char want[256], sql[512];
    (void)state;

    assert_int_equal(sqlite3_open(":memory:", &h), SQLITE_OK);
    for (size_t i = 0; i < ARRAY_SIZE(exprs); i++) {
        snprintf(sql, sizeof(sql), "SELECT %s", exprs[i]);
        builtin_value(h, sql, want, sizeof(want));
        struct rec r = run(&viewer, sql);
        if (strcmp(r.kind, "rows") || strcmp(r.first, want))
            fail_msg("%s: %s %u %s \"%s\", SQLite says \"%s\"", exprs[i], r.kind, r.code, r.msg,
                     r.first, want);
    }
    sqlite3_close(h);
    struct rec r = run(&viewer, "SELECT count(*), sum(1), total(1), avg(1), min(1), max(1), "
                                "group_concat(name), datetime('now'), julianday('now'), "
                                "unixepoch() FROM servers");
    assert_string_equal(r.kind, "rows");
    r = run(&viewer, "SELECT row_number() OVER (), rank() OVER (), dense_rank() OVER () FROM "
                     "status");
    assert_string_equal(r.kind, "rows");
}

/* A sink whose client never takes its output: statements pause after every row. */
static bool always_full(struct admin_sink *k)
{
    (void)k;
    return true;
}

/* A statement with many rows goes on a row at a time while the output is full, and is
 * complete in the end; an abandoned one is dropped cleanly. */
static void test_statement_in_slices(void **state)
{
    const char *sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 50) "
                      "SELECT x FROM c";
    struct rec r;
    struct admin_sql_run *run_;
    int resumes = 0;
    (void)state;

    memset(&r, 0, sizeof(r));
    r.base =
        (struct admin_sink){rec_columns, rec_row, rec_end, rec_ok, rec_error, always_full, NULL};
    run_ = admin_sql_start(&viewer, sql, strlen(sql), &r.base);
    assert_non_null(run_);
    assert_int_equal(r.nrows, 1);
    while (!admin_sql_resume(run_)) {
        resumes++;
        assert_int_equal(r.nrows, resumes + 1);
        /* Meanwhile another statement runs to the end. */
        struct rec o = run(&viewer, "SELECT COUNT(*) FROM servers");
        assert_string_equal(o.kind, "rows");
    }
    assert_int_equal(r.nrows, 50);
    assert_string_equal(r.kind, "rows");
    memset(&r, 0, sizeof(r));
    r.base =
        (struct admin_sink){rec_columns, rec_row, rec_end, rec_ok, rec_error, always_full, NULL};
    run_ = admin_sql_start(&viewer, sql, strlen(sql), &r.base);
    assert_non_null(run_);
    admin_sql_abort(run_);
    assert_string_equal(r.kind, "");
}

static void test_password_rules(void **state)
{
    (void)state;
    assert_non_null(conf_admin_password_problem(""));
    assert_non_null(conf_admin_password_problem("admin"));
    assert_non_null(conf_admin_password_problem("Change-Me"));
    assert_non_null(conf_admin_password_problem("secret"));
    assert_non_null(conf_admin_password_problem("rebound"));
    assert_non_null(conf_admin_password_problem("short1"));
    assert_null(conf_admin_password_problem("a-long-and-fine-one"));
}

static void test_admin_config(void **state)
{
    static const struct {
        const char *text, *err; /* err NULL: valid */
    } cases[] = {
        {"global\n admin 6032 user admin password \"a-good-password\"\n", NULL},
        {"global\n admin 127.0.0.1:6032 user admin password admin\n", "well-known default"},
        {"global\n admin 6032 user admin password \"\"\n", "is empty"},
        {"global\n admin 6032 user admin password short\n", "shorter than 8"},
        {"global\n admin-ro user ro password a-good-password\n", "need an 'admin"},
        {"global\n admin 6032 user a password a-good-password\n admin-ro user a password "
         "b-good-password\n",
         "already the admin user"},
        {"global\n admin 6032 user a password a-good-password\n admin-ssl crt x.pem\n",
         "'admin-ssl' expects key"},
    };
    char text[512], err[512];
    (void)state;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct conf *c;
        snprintf(text, sizeof(text), "%slisten rw\n bind 127.0.0.1:2\n server a 127.0.0.1:3\n",
                 cases[i].text);
        c = conf_parse(text, "t.conf", err, sizeof(err));
        if (!cases[i].err) {
            assert_non_null(c);
            assert_true(c->admin.enabled);
            assert_string_equal(c->admin.addr.text, "127.0.0.1:6032");
        } else {
            assert_null(c);
            if (!strstr(err, cases[i].err) || strncmp(err, "t.conf:", 7))
                fail_msg("got \"%s\", expected \"%s\"", err, cases[i].err);
        }
        conf_free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shortcuts),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_vacuum_keeps_schema),
        cmocka_unit_test(test_functions_match_sqlite),
        cmocka_unit_test(test_statement_in_slices),
        cmocka_unit_test(test_password_rules),
        cmocka_unit_test(test_admin_config),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
