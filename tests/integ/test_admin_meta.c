/* test_admin_meta.c - what MySQL drivers and tools ask the admin port about itself, against the
 * real router: MariaDB Connector/J's DatabaseMetaData (tests/drivers/AdminMeta.java, compiled
 * here), and the mariadb and mariadb-dump clients: information_schema, DUAL, SHOW GRANTS,
 * SHOW CREATE TABLE, SHOW TABLE STATUS, and an UPDATE that changes nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define ADMIN_PW      "adm1n-Secret-pw"
#define VIEWER_PW     "v1ewer-Secret-pw"
#define CONNECTOR_JAR "/usr/share/java/mariadb-java-client.jar"
#define JAVA_MS       120000 /* javac or one JVM run, on a busy 2-core machine */

/* The router of the whole group: one rw listen (master, replica1 backup) and the admin port. */
static struct router_fixture fx;

static int group_setup(void **state)
{
    if (harness_group_setup(state) != 0)
        return -1;
    if (fixture_init(&fx, "admin-meta", ADMIN_PW) != 0)
        return -1;
    return fixture_start(&fx, fx.rw_port,
                         "global\n"
                         "    admin 127.0.0.1:%d user admin password \"%s\"\n"
                         "    admin-ro user viewer password \"%s\"\n"
                         "defaults\n"
                         "    check mysql user rebound_check password \"check-pass\"\n"
                         /* generous: a healthy server's check must pass on a slow machine */
                         "    inter 300ms  rise 2  fall 2  timeout check 3s\n"
                         "listen rw\n"
                         "    bind 127.0.0.1:%d\n"
                         "    server master   127.0.0.1:%d check\n"
                         "    server replica1 127.0.0.1:%d check backup\n",
                         fx.admin_port, ADMIN_PW, VIEWER_PW, fx.rw_port, cluster_port("master"),
                         cluster_port("replica1"));
}

static int group_teardown(void **state)
{
    return harness_group_teardown_router(&fx.router, state);
}

/* OUT must hold NEEDLE. */
static void expect_in(const char *out, const char *needle)
{
    if (!strstr(out, needle))
        fail_msg("no \"%s\" in:\n%s", needle, out);
}

/* Run SQL with the mariadb client as USER; it must succeed. */
static void cli_ok(const char *user, const char *pw, const char *sql, char *out, size_t outsz)
{
    int rc = admin_cli(fx.admin_port, user, pw, sql, out, outsz);

    if (rc != 0)
        fail_msg("mariadb -e \"%s\": exit %d:\n%s", sql, rc, out);
}

/* ---- first contact ---- */

/* A schema browser's first question to a router just started: every column of every table.
 * (Working out the views' columns once made SQLite read DUAL, which was refused.) */
static void test_columns_first(void **state)
{
    char err[512];
    long long n = -1;
    (void)state;

    if (admin_number(fx.admin_port, "viewer", VIEWER_PW,
                     "SELECT COUNT(*) FROM information_schema.COLUMNS", &n, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_true(n > 63); /* the six tables have 63 columns; the views' come on top */
}

/* ---- Connector/J ---- */

/* Every DatabaseMetaData call a JDBC tool makes to list the databases, tables, columns and
 * keys, a query on DUAL and a PreparedStatement, in one JVM; then an UPDATE that changes
 * nothing, counted as JDBC does by default (rows matched) and with useAffectedRows (changed). */
static void test_connectorj_metadata(void **state)
{
    static const char *const lines[] = {
        "getCatalogs: information_schema,rebound\n",
        "getTables: health_log,listeners,servers,sessions,status,variables\n",
        "getColumns: listener TEXT NO, name TEXT NO, address TEXT YES,",
        ", health BIGINT YES,",
        "getPrimaryKeys: servers listener,name\n",
        "getPrimaryKeys: sessions id\n",
        "getIndexInfo: servers PRIMARY,PRIMARY\n",
        "dual: 1\n",
        "prepared: master ready\n",
        "update matched: 1\n",
        "update changed: 0\n",
        "ALL OK\n",
    };
    char self[PATH_MAX], classes[PATH_MAX + 16], source[PATH_MAX + 64], cp[2 * PATH_MAX];
    char port[16], out[16384];
    int rc;
    (void)state;

    /* The classes go next to this test binary, in the build directory. */
    assert_non_null(realpath("/proc/self/exe", self));
    snprintf(classes, sizeof(classes), "%s/drivers", dirname(self));
    snprintf(source, sizeof(source), "%s/tests/drivers/AdminMeta.java", harness_root());
    char *javac[] = {"/usr/bin/javac", "-d", classes, source, NULL};
    rc = run_command(javac, out, sizeof(out), JAVA_MS);
    if (rc != 0)
        fail_msg("javac %s: exit %d:\n%s", source, rc, out);

    snprintf(cp, sizeof(cp), "%s:%s", classes, CONNECTOR_JAR);
    snprintf(port, sizeof(port), "%d", fx.admin_port);
    char *java[] = {"/usr/bin/java", "-cp", cp, "AdminMeta", port, "admin", ADMIN_PW, NULL};
    rc = run_command(java, out, sizeof(out), JAVA_MS);
    printf("%s", out);
    if (rc != 0)
        fail_msg("AdminMeta: exit %d", rc);
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        expect_in(out, lines[i]);
}

/* ---- the mariadb client ---- */

/* An UPDATE that sets the value a row has already: 0 rows affected, as MySQL says it. */
static void test_noop_update(void **state)
{
    char out[8192];
    (void)state;

    cli_ok("admin", ADMIN_PW,
           "UPDATE servers SET admin_state = 'ready' WHERE listener = 'rw' AND name = 'master'",
           out, sizeof(out));
    expect_in(out, "Query OK, 0 rows affected");
    expect_in(out, "Rows matched: 1  Changed: 0  Warnings: 0");
    cli_ok("admin", ADMIN_PW,
           "UPDATE servers SET admin_state = 'drain' WHERE name = 'replica1'; "
           "UPDATE servers SET admin_state = 'ready'",
           out, sizeof(out));
    expect_in(out, "Query OK, 1 row affected");
    expect_in(out, "Rows matched: 1  Changed: 1  Warnings: 0");
    expect_in(out, "Rows matched: 2  Changed: 1  Warnings: 0");
    cli_ok("admin", ADMIN_PW, "DELETE FROM sessions WHERE id < 0", out, sizeof(out));
    expect_in(out, "Query OK, 0 rows affected");
}

/* What the account may do, as GRANT statements. */
static void test_show_grants(void **state)
{
    char out[8192];
    (void)state;

    cli_ok("admin", ADMIN_PW, "SHOW GRANTS", out, sizeof(out));
    expect_in(out, "| Grants for admin@% ");
    expect_in(out, "| GRANT USAGE ON *.* TO `admin`@`%` ");
    expect_in(out, "| GRANT SELECT ON `rebound`.* TO `admin`@`%` ");
    expect_in(
        out, "| GRANT UPDATE (`admin_state`, `gtid_guard`) ON `rebound`.`servers` TO `admin`@`%` ");
    expect_in(out, "| GRANT DELETE ON `rebound`.`sessions` TO `admin`@`%` ");
    cli_ok("viewer", VIEWER_PW, "SHOW GRANTS FOR CURRENT_USER()", out, sizeof(out));
    expect_in(out, "| GRANT SELECT ON `rebound`.* TO `viewer`@`%` ");
    expect_in(out, "2 rows in set");
    cli_ok("admin", ADMIN_PW, "SHOW GRANTS FOR viewer", out, sizeof(out));
    expect_in(out, "2 rows in set");
    assert_int_not_equal(
        admin_cli(fx.admin_port, "viewer", VIEWER_PW, "SHOW GRANTS FOR admin", out, sizeof(out)),
        0);
    expect_in(out, "ERROR 1044 (42000)");
}

/* The schema, as SHOW statements, information_schema and DUAL tell it. */
static void test_catalog(void **state)
{
    char out[32768];
    (void)state;

    cli_ok("viewer", VIEWER_PW, "SELECT 1 FROM DUAL; SELECT NOW() FROM DUAL", out, sizeof(out));
    expect_in(out, "|    1 |");
    expect_in(out, "| NOW() ");
    cli_ok("viewer", VIEWER_PW, "SHOW CREATE TABLE servers\\G", out, sizeof(out));
    expect_in(out, "       Table: servers\n");
    expect_in(out, "Create Table: CREATE TABLE `servers` (\n  `listener` text NOT NULL,\n  `name` "
                   "text NOT NULL,\n  `address` text,\n");
    expect_in(out, "  PRIMARY KEY (`listener`,`name`)\n) ENGINE=rebound DEFAULT CHARSET=utf8mb4\n");
    cli_ok("viewer", VIEWER_PW, "SHOW TABLE STATUS", out, sizeof(out));
    expect_in(out, "| Name       | Engine  |");
    expect_in(out, "| servers    | rebound |");
    expect_in(out, "6 rows in set");
    cli_ok("viewer", VIEWER_PW,
           "select table_name, column_name, data_type, column_key from "
           "information_schema.columns where table_schema = 'rebound' and column_key = 'PRI' "
           "order by table_name, ordinal_position",
           out, sizeof(out));
    expect_in(out, "| servers    | listener    | text      | PRI        |");
    expect_in(out, "| servers    | name        | text      | PRI        |");
    expect_in(out, "| sessions   | id          | bigint    | PRI        |");
    expect_in(out, "6 rows in set");
    cli_ok("viewer", VIEWER_PW,
           "SELECT SCHEMA_NAME FROM INFORMATION_SCHEMA.SCHEMATA ORDER BY 1; SHOW DATABASES; "
           "USE information_schema; SHOW TABLES LIKE 'T%'; SELECT DATABASE()",
           out, sizeof(out));
    expect_in(out, "| SCHEMA_NAME        |\n+--------------------+\n| information_schema |\n| "
                   "rebound            |");
    expect_in(out, "| Database           |\n+--------------------+\n| information_schema |\n| "
                   "rebound            |");
    expect_in(out, "| Tables_in_information_schema |\n+------------------------------+\n| "
                   "TABLE_CONSTRAINTS            |\n| TABLES                       |\n| TRIGGERS ");
    expect_in(out, "| DATABASE()         |\n+--------------------+\n| information_schema |");
    cli_ok("admin", ADMIN_PW,
           "SHOW FULL COLUMNS FROM servers LIKE 'admin_state'; SHOW INDEX "
           "FROM sessions",
           out, sizeof(out));
    expect_in(out, "| admin_state | text | utf8mb4_general_ci | YES  |      | NULL    | writable "
                   "| select,update |");
    expect_in(out, "| sessions |          0 | PRIMARY  |            1 | id          |");
}

/* mariadb-dump reads the schema and the rows through what a MySQL server answers it. */
static void test_mariadb_dump(void **state)
{
    char port[16], out[65536];
    char *argv[] = {"/usr/bin/mariadb-dump",
                    "-h127.0.0.1",
                    port,
                    "-uviewer",
                    "-p" VIEWER_PW,
                    "--skip-ssl",
                    "rebound",
                    "servers",
                    "status",
                    NULL};
    int rc;
    (void)state;

    snprintf(port, sizeof(port), "-P%d", fx.admin_port);
    rc = run_command(argv, out, sizeof(out), 20000);
    if (rc != 0)
        fail_msg("mariadb-dump: exit %d:\n%s", rc, out);
    assert_null(strstr(out, "Error"));
    expect_in(out, "CREATE TABLE `servers` (\n  `listener` text NOT NULL,\n");
    expect_in(out, "  PRIMARY KEY (`listener`,`name`)\n) ENGINE=rebound DEFAULT CHARSET=utf8mb4;");
    expect_in(out, "INSERT INTO `servers` VALUES");
    expect_in(out, "('rw','master',");
    expect_in(out, "INSERT INTO `status` VALUES");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columns_first), cmocka_unit_test(test_connectorj_metadata),
        cmocka_unit_test(test_noop_update),   cmocka_unit_test(test_show_grants),
        cmocka_unit_test(test_catalog),       cmocka_unit_test(test_mariadb_dump),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
