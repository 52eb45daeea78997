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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sqlite3.h>

#include "admin_sql.h"
#include "admin_views.h"
#include "conf.h"
#include "listener.h"
#include "rebound.h"
#include "worker.h"

/* A sink that remembers the outcome: "ok" with the affected rows and info, "err CODE", or
 * "rows N" with the first row's first value, the whole first row ("|" between values) and
 * the column names and types. */
struct rec {
    struct admin_sink base;
    char kind[8];
    unsigned code;
    char msg[300];
    int ncols, nrows;
    char cols[512];
    enum admin_type types[16];
    char first[256];
    char row1[4096];
    uint64_t affected;
    char info[128];
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
    for (int i = 0; r->nrows == 1 && i < n; i++) {
        size_t l = strlen(r->row1);
        snprintf(r->row1 + l, sizeof(r->row1) - l, "%s%.*s", i ? "|" : "",
                 vals[i] ? (int)lens[i] : 4, vals[i] ? vals[i] : "NULL");
    }
    return 0;
}

static void rec_end(struct admin_sink *k)
{
    snprintf(((struct rec *)k)->kind, 8, "rows");
}

static void rec_ok(struct admin_sink *k, uint64_t affected, const char *info)
{
    struct rec *r = (struct rec *)k;

    snprintf(r->kind, 8, "ok");
    r->affected = affected;
    snprintf(r->info, sizeof(r->info), "%s", info ? info : "");
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
    /* A real worker thread: the sessions table parks it at the barrier. */
    if (workers_start(1) < 0)
        return -1;
    return admin_sql_open(NULL, &admin_views);
}

static int teardown(void **state)
{
    (void)state;
    admin_sql_close();
    workers_stop();
    workers_free();
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
        {"SHOW SERVERS", "rows",
         "listener,name,role,state,admin_state,check_status,check_info,sessions,downtime_s"},
        {"show full servers where downtime_s >= 0", "rows", NULL},
        {"SHOW SERVERS WHERE state = 'MAINT'", "rows", NULL},
        {"show sessions", "rows",
         "id,listener,server,client,state,age_s,idle_s,bytes_in,bytes_out,in_transaction,client_"
         "tls,"
         "server_tls"},
        {"SHOW PROCESSLIST", "rows", "Id,User,Host,db,Command,Time,State,Info"},
        {"show full processlist", "rows", "Id,User,Host,db,Command,Time,State,Info"},
        {"SHOW HEALTH LOG", "rows", "time,line"},
        {"show full health log limit 3", "rows", NULL},
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
    assert_string_equal(r.first, "information_schema");
    assert_int_equal(r.nrows, 2);
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

/* A string of N copies of 'a' as an SQL literal, in a static buffer: a value as long as a
 * test needs without a recursive query building it (which costs time, and so could run into
 * the time budget before the limit the test is about). */
static const char *literal_a(size_t n)
{
    static char buf[2][48 * 1024];
    static int which;
    char *b = buf[which ^= 1];

    assert_true(n + 3 <= sizeof(buf[0]));
    b[0] = '\'';
    memset(b + 1, 'a', n);
    b[n + 1] = '\'';
    b[n + 2] = '\0';
    return b;
}

/* The admin port still answers an ordinary query: what a refusal must leave intact. */
static void expect_still_serving(const char *after)
{
    struct rec r = run(&viewer, "SELECT count(*) > 0 FROM status");

    if (strcmp(r.kind, "rows") || strcmp(r.first, "1"))
        fail_msg("after %.80s: the next query gave %s %u (%s)", after, r.kind, r.code, r.msg);
}

/* Each statement is refused with its own error code, and the next one runs as usual. Where a
 * limit is under test the statement reaches it in a few virtual-machine instructions, so no
 * other budget (the 5 ms step, the statement's time, its instruction count) can trip first
 * on a slow machine or under a sanitizer. */
static void test_refused(void **state)
{
    char too_long[64 * 1024], too_long_row[64 * 1024], costly_like[4096];
    /* 40,000 bytes twice over is more than ADMIN_SQL_MAX_VALUE: one concatenation trips it. */
    snprintf(too_long, sizeof(too_long), "SELECT length(x || x) FROM (SELECT %s AS x)",
             literal_a(40000));
    /* The same in the second row, once the first went out: still 1041, not "result too large". */
    snprintf(too_long_row, sizeof(too_long_row),
             "SELECT x || x FROM (SELECT 'a' AS x UNION ALL SELECT %s)", literal_a(40000));
    /* 2,000 x 900 bytes is more than ADMIN_SQL_MATCH_COST: refused before it matches. */
    snprintf(costly_like, sizeof(costly_like),
             "SELECT x LIKE '%%' || substr(x, 1, 900) || 'b' FROM (SELECT %s AS x)",
             literal_a(2000));
    const struct {
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
        {&viewer, "KILL 1", 1142}, /* a DELETE, which the read-only user may not run */
        {&admin, "KILL 999999", 1094},
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
        /* Endless: whichever of the time and instruction budgets ends it, the answer is 3024. */
        {&admin,
         "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) "
         "SELECT count(*) FROM c",
         3024},
        {&admin, too_long, 1041},
        {&admin, too_long_row, 1041},
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
        {&viewer, costly_like, 1041},
        {&viewer, "SELECT 'abc' LIKE 'a' || hex(substr('x', 1, 0)) ESCAPE 'ab'", 1105},
    };
    (void)state;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct rec r = run(cases[i].who, cases[i].sql);
        if (strcmp(r.kind, "err") || r.code != cases[i].code)
            fail_msg("%.200s: %s %u (%s), expected error %u", cases[i].sql, r.kind, r.code, r.msg,
                     cases[i].code);
        expect_still_serving(cases[i].sql);
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

/* What MariaDB Connector/J's DatabaseMetaData.getColumns() sends, as it sends it. */
static const char connectorj_get_columns[] =
    "SELECT TABLE_SCHEMA TABLE_CAT, NULL TABLE_SCHEM, TABLE_NAME, COLUMN_NAME, CASE data_type "
    "WHEN 'bit' THEN -7 WHEN 'tinyblob' THEN -3 WHEN 'mediumblob' THEN -4 WHEN 'longblob' THEN -4 "
    "WHEN 'blob' THEN -4 WHEN 'tinytext' THEN 12 WHEN 'mediumtext' THEN -1 WHEN 'longtext' THEN -1 "
    "WHEN 'text' THEN -1 WHEN 'date' THEN 91 WHEN 'datetime' THEN 93 WHEN 'decimal' THEN 3 WHEN "
    "'double' THEN 8 WHEN 'enum' THEN 12 WHEN 'float' THEN 7 WHEN 'int' THEN IF( COLUMN_TYPE like "
    "'%unsigned%', 4,4) WHEN 'bigint' THEN -5 WHEN 'mediumint' THEN 4 WHEN 'null' THEN 0 WHEN "
    "'set' "
    "THEN 12 WHEN 'smallint' THEN IF( COLUMN_TYPE like '%unsigned%', 5,5) WHEN 'varchar' THEN 12 "
    "WHEN 'varbinary' THEN -3 WHEN 'char' THEN 1 WHEN 'binary' THEN -2 WHEN 'time' THEN 92 WHEN "
    "'timestamp' THEN 93 WHEN 'tinyint' THEN IF(COLUMN_TYPE like 'tinyint(1)%',-7,-6)  WHEN 'year' "
    "THEN 91 ELSE 1111 END  DATA_TYPE, IF(COLUMN_TYPE like 'tinyint(1)%', 'BIT',  UCASE(IF( "
    "COLUMN_TYPE LIKE '%(%)%', CONCAT(SUBSTRING( COLUMN_TYPE,1, LOCATE('(',COLUMN_TYPE) - 1 ), "
    "SUBSTRING(COLUMN_TYPE ,1+locate(')', COLUMN_TYPE))), COLUMN_TYPE))) TYPE_NAME,  CASE "
    "DATA_TYPE  WHEN 'time' THEN IF(DATETIME_PRECISION = 0, 10, CAST(11 + DATETIME_PRECISION as "
    "signed integer))  WHEN 'date' THEN 10  WHEN 'datetime' THEN IF(DATETIME_PRECISION = 0, 19, "
    "CAST(20 + DATETIME_PRECISION as signed integer))  WHEN 'timestamp' THEN IF(DATETIME_PRECISION "
    "= 0, 19, CAST(20 + DATETIME_PRECISION as signed integer))  ELSE   IF(NUMERIC_PRECISION IS "
    "NULL, LEAST(CHARACTER_MAXIMUM_LENGTH,2147483647), NUMERIC_PRECISION)  END COLUMN_SIZE, 65535 "
    "BUFFER_LENGTH,  CONVERT (CASE DATA_TYPE WHEN 'year' THEN NUMERIC_SCALE WHEN 'tinyint' THEN 0 "
    "ELSE NUMERIC_SCALE END, UNSIGNED INTEGER) DECIMAL_DIGITS, 10 NUM_PREC_RADIX, IF(IS_NULLABLE = "
    "'yes',1,0) NULLABLE,COLUMN_COMMENT REMARKS, COLUMN_DEFAULT COLUMN_DEF, 0 SQL_DATA_TYPE, 0 "
    "SQL_DATETIME_SUB,   LEAST(CHARACTER_OCTET_LENGTH,2147483647) CHAR_OCTET_LENGTH, "
    "ORDINAL_POSITION, IS_NULLABLE, NULL SCOPE_CATALOG, NULL SCOPE_SCHEMA, NULL SCOPE_TABLE, NULL "
    "SOURCE_DATA_TYPE, IF(EXTRA = 'auto_increment','YES','NO') IS_AUTOINCREMENT,  IF(EXTRA in "
    "('VIRTUAL', 'PERSISTENT', 'VIRTUAL GENERATED', 'STORED GENERATED') ,'YES','NO') "
    "IS_GENERATEDCOLUMN  FROM INFORMATION_SCHEMA.COLUMNS  WHERE TABLE_SCHEMA='rebound' AND "
    "TABLE_NAME='servers' ORDER BY TABLE_CAT, TABLE_SCHEM, TABLE_NAME, ORDINAL_POSITION";

/* Run SQL for C and expect rows: N of them (-1: any), FIRST the first value (NULL: any). */
static struct rec expect_rows(struct admin_client *c, const char *sql, int n, const char *first)
{
    struct rec r = run(c, sql);

    if (strcmp(r.kind, "rows"))
        fail_msg("%s: %s %u %s, expected rows", sql, r.kind, r.code, r.msg);
    if (n >= 0 && r.nrows != n)
        fail_msg("%s: %d rows, expected %d", sql, r.nrows, n);
    if (first && strcmp(r.first, first))
        fail_msg("%s: first value \"%s\", expected \"%s\"", sql, r.first, first);
    return r;
}

/* information_schema describes the tables as they are declared, in MySQL's terms; names
 * compare in any case; DUAL and the MySQL functions metadata queries use work. */
static void test_information_schema(void **state)
{
    struct rec r, all = run(&admin, "SELECT * FROM servers");
    char sql[256];
    (void)state;

    expect_rows(&viewer, "SELECT 1 FROM DUAL", 1, "1");
    expect_rows(&viewer, "SELECT NOW() FROM dual", 1, NULL);
    expect_rows(&viewer, "SELECT '' TABLE_SCHEM, '' TABLE_catalog  FROM DUAL WHERE 1=0", 0, NULL);
    r = expect_rows(&viewer, "SELECT * FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME", 2,
                    "def");
    assert_string_equal(r.row1, "def|information_schema|utf8mb4|utf8mb4_general_ci|NULL|NO");
    expect_rows(&viewer,
                "select table_name from information_schema.tables where table_schema = 'REBOUND' "
                "and table_type = 'base table' order by 1",
                6, "health_log");
    /* Every column of servers, in order, the key first. */
    r = expect_rows(&viewer,
                    "SELECT COLUMN_NAME, ORDINAL_POSITION, IS_NULLABLE, DATA_TYPE, COLUMN_TYPE, "
                    "COLUMN_KEY FROM INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA = 'rebound' AND "
                    "TABLE_NAME = 'SERVERS' ORDER BY ORDINAL_POSITION",
                    all.ncols, "listener");
    assert_string_equal(r.row1, "listener|1|NO|text|text|PRI");
    expect_rows(&viewer,
                "SELECT DATA_TYPE, NUMERIC_PRECISION FROM information_schema.columns WHERE "
                "table_name = 'servers' AND column_name = 'health'",
                1, "bigint");
    expect_rows(&viewer,
                "SELECT DATA_TYPE FROM information_schema.columns WHERE table_name = 'sessions' "
                "AND column_name = 'age_s'",
                1, "double");
    expect_rows(&viewer,
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE COLUMN_KEY = 'pri' AND "
                "TABLE_NAME = 'servers' ORDER BY ORDINAL_POSITION",
                2, "listener");
    expect_rows(&viewer,
                "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_NAME = 'variables' "
                "AND COLUMN_KEY = 'PRI'",
                1, "0");
    /* The keys, as Connector/J's getPrimaryKeys() joins them. */
    expect_rows(&viewer,
                "SELECT A.TABLE_SCHEMA TABLE_CAT, NULL TABLE_SCHEM, A.TABLE_NAME, A.COLUMN_NAME, "
                "B.SEQ_IN_INDEX KEY_SEQ, B.INDEX_NAME PK_NAME  FROM INFORMATION_SCHEMA.COLUMNS A, "
                "INFORMATION_SCHEMA.STATISTICS B WHERE A.COLUMN_KEY in ('PRI','pri') AND "
                "B.INDEX_NAME='PRIMARY'  AND A.TABLE_SCHEMA='rebound' AND "
                "B.TABLE_SCHEMA='rebound' AND A.TABLE_NAME='servers' AND B.TABLE_NAME='servers' "
                "AND A.TABLE_SCHEMA = B.TABLE_SCHEMA AND A.TABLE_NAME = B.TABLE_NAME AND "
                "A.COLUMN_NAME = B.COLUMN_NAME ORDER BY A.COLUMN_NAME",
                2, "rebound");
    expect_rows(&viewer,
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_NAME = "
                "'sessions' AND CONSTRAINT_NAME = 'PRIMARY'",
                1, "id");
    expect_rows(&viewer,
                "SELECT TABLE_NAME FROM information_schema.TABLE_CONSTRAINTS WHERE "
                "CONSTRAINT_TYPE = 'PRIMARY KEY' ORDER BY 1",
                5, "health_log");
    /* Connector/J's getColumns(), verbatim: IF, UCASE, CONCAT, LOCATE, LEAST, CONVERT. */
    r = expect_rows(&admin, connectorj_get_columns, all.ncols, "rebound");
    assert_non_null(strstr(r.row1, "|servers|listener|-1|TEXT|65535|"));
    /* information_schema describes itself, and is a database to USE. */
    expect_rows(&viewer,
                "SELECT COUNT(*) > 10 FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                "'information_schema' AND TABLE_TYPE = 'SYSTEM VIEW'",
                1, "1");
    for (const char *v = "ROUTINES\0PARAMETERS\0VIEWS\0TRIGGERS\0FILES\0PARTITIONS\0"; *v;
         v += strlen(v) + 1) {
        snprintf(sql, sizeof(sql), "SELECT * FROM information_schema.%s", v);
        expect_rows(&viewer, sql, 0, NULL);
    }
    expect_rows(&viewer, "SELECT ENGINE FROM information_schema.ENGINES", 1, "rebound");
    expect_rows(&viewer, "SELECT * FROM information_schema.COLLATIONS", 1, "utf8mb4_general_ci");
    expect_rows(&viewer, "SELECT * FROM information_schema.CHARACTER_SETS", 1, "utf8mb4");
    struct admin_client c = viewer;
    assert_string_equal(run(&c, "USE information_schema").kind, "ok");
    r = expect_rows(&c, "SHOW TABLES", -1, "CHARACTER_SETS");
    assert_string_equal(r.cols, "Tables_in_information_schema");
    expect_rows(&c, "SELECT DATABASE()", 1, "information_schema");
    expect_rows(&c, "SELECT COUNT(*) FROM tables WHERE table_schema = 'rebound'", 1, "6");
    /* The MySQL functions, on their own. */
    r = expect_rows(&viewer,
                    "SELECT IF(0, 'a', 'b'), IF(NULL, 1, 2), UCASE('aé'), LCASE('AB'), "
                    "CONCAT('a', 1, 'b'), CONCAT('a', NULL), CONCAT_WS('-', 'a', NULL, 'c'), "
                    "LOCATE('B', 'abcb'), LOCATE('b', 'abcb', 3), LOCATE('z', 'ab'), "
                    "LOCATE('', 'ab', 2), LEAST(3, 1, 2), GREATEST('a', 'B'), LEAST(1, NULL), "
                    "CONVERT('7', SIGNED) + 1, CONVERT('x' USING utf8mb4)",
                    1, "b");
    assert_string_equal(r.row1, "b|2|Aé|ab|a1b|NULL|a-c|2|4|0|2|1|B|NULL|8|x");
    /* MySQL's executable comments run, newer ones do not; SELECT modifiers are dropped. */
    expect_rows(&viewer, "/*!40100 SELECT 5 */", 1, "5");
    expect_rows(&viewer, "SELECT /*!99999 nosuch, */ 6", 1, "6");
    expect_rows(&viewer, "SELECT /*!00000 7 + */ 1", 1, "8");
    r = expect_rows(&viewer, "SELECT /*! 9 + */ 1, '/*!40100 x */'", 1, "10");
    assert_string_equal(r.row1, "10|/*!40100 x */");
    expect_rows(&viewer, "SELECT /*!40001 SQL_NO_CACHE */ SQL_CALC_FOUND_ROWS 'SQL_NO_CACHE'", 1,
                "SQL_NO_CACHE");
    assert_string_equal(run(&viewer, "/*M!100101 SET x = 1 */").kind, "err");
}

/* The SHOW statements tools send about the schema, and those refused. */
static void test_show_meta(void **state)
{
    struct rec r;
    (void)state;

    r = expect_rows(&admin, "SHOW TABLE STATUS", 6, "health_log");
    assert_true(!strncmp(r.cols, "Name,Engine,Version,Row_format,Rows,", 36));
    expect_rows(&admin, "SHOW TABLE STATUS LIKE 'se%'", 2, "servers");
    expect_rows(&admin, "show table status from rebound where Name = 'status'", 1, "status");
    r = expect_rows(&admin, "SHOW CREATE TABLE servers", 1, "servers");
    assert_string_equal(r.cols, "Table,Create Table");
    assert_non_null(strstr(r.row1, "|CREATE TABLE `servers` (\n  `listener` text NOT NULL,\n"));
    assert_non_null(strstr(r.row1, "  `health` bigint,\n"));
    assert_non_null(strstr(r.row1, "  PRIMARY KEY (`listener`,`name`)\n) ENGINE=rebound"));
    r = expect_rows(&admin, "SHOW CREATE TABLE `rebound`.`variables`", 1, "variables");
    assert_null(strstr(r.row1, "PRIMARY KEY"));
    r = expect_rows(&admin, "SHOW FULL COLUMNS FROM servers LIKE 'admin%'", 1, "admin_state");
    assert_string_equal(r.cols, "Field,Type,Collation,Null,Key,Default,Extra,Privileges,Comment");
    assert_string_equal(r.row1, "admin_state|text|utf8mb4_general_ci|YES||NULL|writable|"
                                "select,update|");
    r = expect_rows(&viewer, "SHOW FULL COLUMNS FROM servers LIKE 'admin%'", 1, "admin_state");
    assert_string_equal(r.row1, "admin_state|text|utf8mb4_general_ci|YES||NULL||select|");
    r = expect_rows(&admin, "SHOW COLUMNS FROM sessions FROM rebound WHERE `Key` = 'PRI'", 1, "id");
    assert_string_equal(r.row1, "id|bigint|NO|PRI|NULL|");
    expect_rows(&admin, "DESCRIBE servers admin_state", 1, "admin_state");
    expect_rows(&admin, "SHOW FIELDS IN SCHEMATA IN information_schema", 6, "CATALOG_NAME");
    r = expect_rows(&admin, "SHOW INDEX FROM servers", 2, "servers");
    assert_string_equal(r.row1, "servers|0|PRIMARY|1|listener|A|NULL|NULL|NULL||BTREE|||YES|NULL");
    expect_rows(&admin, "SHOW KEYS IN variables", 0, NULL);
    expect_rows(&admin, "SHOW INDEXES FROM rebound.health_log WHERE Column_name = 'id'", 1,
                "health_log");
    expect_rows(&admin, "SHOW DATABASES LIKE 'reb%'", 1, "rebound");
    expect_rows(&admin, "SHOW SCHEMAS WHERE `Database` = 'information_schema'", 1,
                "information_schema");
    expect_rows(&admin, "SHOW TABLES FROM information_schema LIKE 'KEY%'", 1, "KEY_COLUMN_USAGE");
    r = expect_rows(&admin, "SHOW CREATE DATABASE rebound", 1, "rebound");
    assert_non_null(strstr(r.row1, "CREATE DATABASE `rebound`"));
    expect_rows(&admin, "SHOW ENGINES", 1, "rebound");
    expect_rows(&admin, "SHOW STORAGE ENGINES", 1, "rebound");
    expect_rows(&admin, "SHOW COLLATION LIKE 'utf8mb4%'", 1, "utf8mb4_general_ci");
    expect_rows(&admin, "SHOW CHARACTER SET", 1, "utf8mb4");
    expect_rows(&admin, "SHOW CHARSET WHERE Maxlen = 4", 1, "utf8mb4");
    /* SHOW GRANTS: the writes the tables take, for the admin user only. */
    r = expect_rows(&admin, "SHOW GRANTS", 4, "GRANT USAGE ON *.* TO `admin`@`%`");
    assert_string_equal(r.cols, "Grants for admin@%");
    expect_rows(&admin, "SHOW GRANTS FOR CURRENT_USER", 4, NULL);
    expect_rows(&admin, "show grants for current_user()", 4, NULL);
    expect_rows(&admin, "SHOW GRANTS FOR 'admin'@'%'", 4, NULL);
    r = expect_rows(&viewer, "SHOW GRANTS FOR CURRENT_USER()", 2,
                    "GRANT USAGE ON *.* TO `viewer`@`%`");
    assert_string_equal(r.cols, "Grants for viewer@%");
    struct {
        struct admin_client *who;
        const char *sql;
        unsigned code;
    } refused[] = {
        {&admin, "SHOW GRANTS FOR nobody", 1141},
        {&viewer, "SHOW GRANTS FOR admin", 1044},
        {&admin, "SHOW GRANTS FOR CURRENT_USER extra", 1064},
        {&admin, "SHOW CREATE TABLE nosuch", 1146},
        {&admin, "SHOW CREATE TABLE sqlite_schema", 1146},
        {&admin, "SHOW COLUMNS FROM servers FROM nosuchdb", 1049},
        {&admin, "SHOW TABLES FROM mysql", 1049},
        {&admin, "SHOW TABLE STATUS FROM mysql", 1049},
        {&admin, "SHOW INDEX FROM nosuch", 1146},
        {&admin, "SHOW INDEX FROM servers LIKE 'x'", 1064},
        {&admin, "SHOW COLUMNS FROM servers FROM information_schema", 1146},
        {&admin, "PREPARE s FROM 'SELECT 1'", 1235},
        {&admin, "EXECUTE s", 1235},
        {&admin, "DEALLOCATE PREPARE s", 1235},
        {&admin, "DROP PREPARE s", 1235},
        /* information_schema is read-only, its views reachable only through it. */
        {&admin, "CREATE VIEW information_schema.x AS SELECT 1", 1227},
        {&admin, "DROP VIEW information_schema.TABLES", 1227},
        {&admin, "DELETE FROM information_schema.SCHEMATA", 1044},
        {&admin, "UPDATE information_schema.COLUMNS SET COLUMN_KEY = ''", 1044},
        {&viewer, "INSERT INTO information_schema.TABLES (TABLE_NAME) VALUES ('x')", 1044},
        {&admin, "DETACH information_schema", 1227},
        {&viewer, "PRAGMA table_info(servers)", 1227},
        {&viewer, "SELECT * FROM pragma_table_info('servers')", 1142},
        {&viewer, "SELECT * FROM pragma_function_list", 1227},
    };
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        r = run(refused[i].who, refused[i].sql);
        if (strcmp(r.kind, "err") || r.code != refused[i].code)
            fail_msg("%s: %s %u (%s), expected error %u", refused[i].sql, r.kind, r.code, r.msg,
                     refused[i].code);
    }
    r = run(&admin, "PREPARE s FROM 'SELECT 1'");
    assert_non_null(strstr(r.msg, "not supported on the admin port"));
}

/* A port nothing listens on, for a listener that binds it. */
static int unused_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* An UPDATE counts the rows it changed (0 when the value was already there), or for a
 * CLIENT_FOUND_ROWS client those it matched, and says both as MySQL does; DELETE counts. */
static void test_affected_rows(void **state)
{
    char text[256], err[256];
    struct admin_client found = admin;
    struct conf *c;
    struct rec r;
    (void)state;

    snprintf(text, sizeof(text),
             "listen rw\n bind 127.0.0.1:%d\n server a 127.0.0.1:1\n server b 127.0.0.1:2 "
             "backup\n",
             unused_port());
    assert_non_null(c = conf_parse(text, "t.conf", err, sizeof(err)));
    assert_int_equal(listeners_start(c), 0);
    found.found_rows = true;

    r = run(&admin, "UPDATE servers SET admin_state = 'ready' WHERE name = 'a'");
    assert_string_equal(r.kind, "ok");
    assert_int_equal(r.affected, 0);
    assert_string_equal(r.info, "Rows matched: 1  Changed: 0  Warnings: 0");
    r = run(&found, "UPDATE servers SET admin_state = 'ready' WHERE name = 'a'");
    assert_int_equal(r.affected, 1);
    assert_string_equal(r.info, "Rows matched: 1  Changed: 0  Warnings: 0");
    r = run(&admin, "UPDATE servers SET admin_state = 'drain'");
    assert_int_equal(r.affected, 2);
    assert_string_equal(r.info, "Rows matched: 2  Changed: 2  Warnings: 0");
    r = run(&admin, "UPDATE servers SET admin_state = 'ready' WHERE name = 'b'");
    assert_int_equal(r.affected, 1);
    assert_string_equal(r.info, "Rows matched: 1  Changed: 1  Warnings: 0");
    r = run(&admin, "UPDATE servers SET admin_state = 'READY'");
    assert_int_equal(r.affected, 1);
    assert_string_equal(r.info, "Rows matched: 2  Changed: 1  Warnings: 0");
    r = run(&admin, "UPDATE servers SET admin_state = 'ready' WHERE 0");
    assert_int_equal(r.affected, 0);
    assert_string_equal(r.info, "Rows matched: 0  Changed: 0  Warnings: 0");
    /* A failed UPDATE is an error, not a count. */
    assert_int_equal(run(&admin, "UPDATE servers SET admin_state = 'bogus'").code, 1367);
    /* DELETE (no sessions here) and other statements carry no info. */
    r = run(&admin, "DELETE FROM sessions");
    assert_string_equal(r.kind, "ok");
    assert_int_equal(r.affected, 0);
    assert_string_equal(r.info, "");
    r = run(&admin, "SET NAMES utf8mb4");
    assert_string_equal(r.info, "");
    listeners_stop();
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
        cmocka_unit_test(test_information_schema),
        cmocka_unit_test(test_show_meta),
        cmocka_unit_test(test_affected_rows),
        cmocka_unit_test(test_password_rules),
        cmocka_unit_test(test_admin_config),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
