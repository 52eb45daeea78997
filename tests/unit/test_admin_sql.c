/* test_admin_sql.c - the admin port's statement dispatch without a socket: which statements
 * are shortcuts, what SQLite answers, what is refused and how, through a recording sink. Also
 * the admin password rules of the config. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

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
    r.base = (struct admin_sink){rec_columns, rec_row, rec_end, rec_ok, rec_error};

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
        {&admin, "SELECT zeroblob(100000000)", 1041},
        {&admin, "SELECT load_extension('x')", 1105},
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
        cmocka_unit_test(test_shortcuts),    cmocka_unit_test(test_types),
        cmocka_unit_test(test_refused),      cmocka_unit_test(test_password_rules),
        cmocka_unit_test(test_admin_config),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
