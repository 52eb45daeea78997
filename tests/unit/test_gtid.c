/* test_gtid.c - unit tests for the GTID guard's comparison: MariaDB positions (per domain, the
 * master's sequence at least the backup's), MySQL sets (GTID_SUBSET), what the text names as
 * missing, and garbage from a server refused with a reason. The positions are values recorded
 * from MariaDB 10.11 (@@gtid_current_pos, @@gtid_binlog_pos) and from MySQL's documentation of
 * GTID_SUBSET and @@gtid_executed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gtid.h"

#define U1 "3E11FA47-71CA-11E1-9E33-C80AA9429562"
#define U2 "4f6d62ad-7c53-11ee-b7a2-0242ac120002"

static enum gtid_verdict cmp(enum gtid_flavor f, const char *master, const char *backup, char *what)
{
    what[0] = '\0';
    return gtid_compare(f, master, backup, what, 200);
}

/* A master at or beyond the backup in every domain covers it, whichever server wrote last. */
static void test_mariadb_covers(void **state)
{
    char what[200];
    (void)state;

    assert_int_equal(cmp(GTID_MARIADB, "0-1-1040", "0-1-1040", what), GTID_COVERS);
    assert_int_equal(cmp(GTID_MARIADB, "0-1-1041", "0-1-1040", what), GTID_COVERS);
    /* the master caught up from the backup: its position names the backup's server */
    assert_int_equal(cmp(GTID_MARIADB, "0-2-1044", "0-2-1044", what), GTID_COVERS);
    assert_int_equal(cmp(GTID_MARIADB, "0-1-1045", "0-2-1044", what), GTID_COVERS);
    /* both empty: no transactions anywhere */
    assert_int_equal(cmp(GTID_MARIADB, "", "", what), GTID_COVERS);
    /* a backup with nothing is covered by anything */
    assert_int_equal(cmp(GTID_MARIADB, "0-1-3", "", what), GTID_COVERS);
    /* gtid_binlog_pos form: several servers in one domain, the highest sequence counts */
    assert_int_equal(cmp(GTID_MARIADB, "0-1-1040,0-2-1044", "0-2-1043,0-1-1040", what),
                     GTID_COVERS);
}

/* A domain only the master has is its own: it never blocks. */
static void test_mariadb_master_only_domain(void **state)
{
    char what[200];
    (void)state;

    assert_int_equal(cmp(GTID_MARIADB, "0-1-1040,7-1-3", "0-1-1040", what), GTID_COVERS);
    assert_int_equal(cmp(GTID_MARIADB, "7-1-3", "", what), GTID_COVERS);
}

/* Behind in a domain: lacks, and the text names the backup's GTID and where the master stops. */
static void test_mariadb_lacks(void **state)
{
    char what[200];
    (void)state;

    assert_int_equal(cmp(GTID_MARIADB, "0-1-1040", "0-2-1044", what), GTID_LACKS);
    assert_string_equal(what, "has 0-2-1044, master stops at 0-1-1040");
    assert_int_equal(cmp(GTID_MARIADB, "0-1-1040", "0-1-1041", what), GTID_LACKS);
    assert_string_equal(what, "has 0-1-1041, master stops at 0-1-1040");
}

/* A domain only the backup has: the master lacks all of it. */
static void test_mariadb_backup_only_domain(void **state)
{
    char what[200];
    (void)state;

    assert_int_equal(cmp(GTID_MARIADB, "0-1-1040", "0-1-1040,3-2-12", what), GTID_LACKS);
    assert_string_equal(what, "has 3-2-12, master has nothing in domain 3");
    assert_int_equal(cmp(GTID_MARIADB, "", "0-2-1", what), GTID_LACKS);
    assert_string_equal(what, "has 0-2-1, master has nothing in domain 0");
}

/* Several domains behind: the first one is named, the others counted. */
static void test_mariadb_several_behind(void **state)
{
    char what[200];
    (void)state;

    assert_int_equal(cmp(GTID_MARIADB, "0-1-10,1-1-5,2-1-9", "0-2-11,1-1-5,2-3-10,4-3-1", what),
                     GTID_LACKS);
    assert_string_equal(what, "has 0-2-11, master stops at 0-1-10 (and 2 more domains behind)");
}

/* Spaces and newlines around entries are allowed, as servers and people print them. */
static void test_mariadb_spacing(void **state)
{
    char what[200];
    (void)state;

    assert_int_equal(cmp(GTID_MARIADB, " 0-1-1040 ,\n1-1-2 ", "0-1-1040,1-1-2", what), GTID_COVERS);
}

/* Garbage is refused with the side and the item at fault, never guessed at. */
static void test_mariadb_garbage(void **state)
{
    static const char *const bad[] = {
        "0-1",
        "0-1-",
        "-1-2",
        "a-b-c",
        "0-1-2,",
        "0-1-2,,0-1-3",
        "0-1-2 0-1-3",
        "0--1-2",
        "0-1-2-3",
        "4294967296-1-1",
        "0-1-99999999999999999999",
        "0-1-1040;DROP",
        "\xff\xfe",
        "0-1-+5",
    };
    char what[200];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cmp(GTID_MARIADB, "0-1-1040", bad[i], what), GTID_INVALID);
        assert_non_null(strstr(what, "position unreadable: "));
        assert_int_equal(cmp(GTID_MARIADB, bad[i], "0-1-1040", what), GTID_INVALID);
        assert_non_null(strstr(what, "master position unreadable: "));
        assert_int_equal(gtid_check(GTID_MARIADB, bad[i], what, sizeof(what)), -1);
    }
    assert_int_equal(cmp(GTID_MARIADB, "0-1-1040", "0-1-x", what), GTID_INVALID);
    assert_string_equal(what, "position unreadable: '0-1-x' is not DOMAIN-SERVER-SEQUENCE");
    assert_int_equal(gtid_check(GTID_MARIADB, "0-1-1040,1-3-7", what, sizeof(what)), 0);
}

/* Longer than a position may be: refused, not cut. */
static void test_too_long(void **state)
{
    char pos[GTID_POS_MAX + 16], what[200];
    size_t n = 0;
    (void)state;

    while (n + 12 < sizeof(pos) - 1)
        n += (size_t)snprintf(pos + n, sizeof(pos) - n, "%s0-1-%zu", n ? "," : "", n);
    assert_true(strlen(pos) >= GTID_POS_MAX);
    assert_int_equal(cmp(GTID_MARIADB, pos, "0-1-1", what), GTID_INVALID);
    assert_non_null(strstr(what, "longer than"));
}

/* MySQL's documented GTID_SUBSET examples: GTID_SUBSET(backup, master). */
static void test_mysql_subset_examples(void **state)
{
    char what[200];
    (void)state;

    assert_int_equal(cmp(GTID_MYSQL, U1 ":21-57", U1 ":23", what), GTID_COVERS);
    assert_int_equal(cmp(GTID_MYSQL, U1 ":21-57", U1 ":23-25", what), GTID_COVERS);
    assert_int_equal(cmp(GTID_MYSQL, U1 ":20-22", U1 ":23-25", what), GTID_LACKS);
    assert_int_equal(cmp(GTID_MYSQL, U1 ":21-57", U1 ":20-25", what), GTID_LACKS);
    assert_string_equal(what, "has 3e11fa47-71ca-11e1-9e33-c80aa9429562:20, which the master "
                              "lacks");
}

/* @@gtid_executed as a server prints it: several uuids, a newline after each comma, gaps;
 * the uuid compares without regard to case. */
static void test_mysql_executed(void **state)
{
    const char *master = U1 ":1-1040,\n" U2 ":1-3:5-9";
    char what[200];
    (void)state;

    assert_int_equal(cmp(GTID_MYSQL, master, "4F6D62AD-7C53-11EE-B7A2-0242AC120002:1-3:6", what),
                     GTID_COVERS);
    assert_int_equal(cmp(GTID_MYSQL, master, U1 ":1-1040", what), GTID_COVERS);
    assert_int_equal(cmp(GTID_MYSQL, master, "", what), GTID_COVERS);
    assert_int_equal(cmp(GTID_MYSQL, master, U2 ":1-9", what), GTID_LACKS);
    assert_string_equal(what, "has 4f6d62ad-7c53-11ee-b7a2-0242ac120002:4, which the master lacks");
    assert_int_equal(cmp(GTID_MYSQL, master, U1 ":1-1044,\n" U2 ":1-12", what), GTID_LACKS);
    assert_string_equal(what, "has 3e11fa47-71ca-11e1-9e33-c80aa9429562:1041-1044, which the "
                              "master lacks (and 2 more ranges)");
    /* a source only the backup has: all of it is missing */
    assert_int_equal(cmp(GTID_MYSQL, U1 ":1-5", U2 ":1-2", what), GTID_LACKS);
    assert_string_equal(what, "has 4f6d62ad-7c53-11ee-b7a2-0242ac120002:1-2, which the master "
                              "lacks");
    /* a source only the master has never blocks */
    assert_int_equal(cmp(GTID_MYSQL, U1 ":1-5," U2 ":1-2", U1 ":1-5", what), GTID_COVERS);
    /* adjacent intervals of the master together cover one of the backup */
    assert_int_equal(cmp(GTID_MYSQL, U1 ":1-5:6-9", U1 ":3-8", what), GTID_COVERS);
}

/* MySQL 8.3 tagged GTIDs: a tag names a separate series of the same uuid. */
static void test_mysql_tags(void **state)
{
    char what[200];
    (void)state;

    assert_int_equal(cmp(GTID_MYSQL, U1 ":1-5:Batch:1-3", U1 ":2:batch:3", what), GTID_COVERS);
    assert_int_equal(cmp(GTID_MYSQL, U1 ":1-5", U1 ":batch:1", what), GTID_LACKS);
    assert_string_equal(what, "has 3e11fa47-71ca-11e1-9e33-c80aa9429562:batch:1, which the "
                              "master lacks");
}

static void test_mysql_garbage(void **state)
{
    static const char *const bad[] = {
        U1,
        U1 ":",
        U1 ":0",
        U1 ":5-3",
        U1 ":1-",
        U1 ":tag",
        U1 ":1-5,",
        "3E11FA47-71CA-11E1-9E33-C80AA942956:1-5",
        "3E11FA4771CA-11E1-9E33-C80AA9429562A:1-5",
        "0-1-1040",
        U1 ":1-9223372036854775808",
        U1 ":1-5:waytoolongatagwaytoolongatagwaytoolong:1",
        U1 ":1-5 x",
    };
    char what[200];
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cmp(GTID_MYSQL, U1 ":1-5", bad[i], what), GTID_INVALID);
        assert_int_equal(cmp(GTID_MYSQL, bad[i], U1 ":1-5", what), GTID_INVALID);
        assert_int_equal(gtid_check(GTID_MYSQL, bad[i], what, sizeof(what)), -1);
    }
    assert_int_equal(gtid_check(GTID_MYSQL, U1 ":1-9223372036854775807", what, sizeof(what)), 0);
}

/* A text too small for what is missing is cut, still terminated. */
static void test_small_buffer(void **state)
{
    char what[8];
    (void)state;

    memset(what, 'x', sizeof(what));
    assert_int_equal(gtid_compare(GTID_MARIADB, "0-1-1040", "0-2-1044", what, sizeof(what)),
                     GTID_LACKS);
    assert_int_equal(strlen(what), sizeof(what) - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mariadb_covers),
        cmocka_unit_test(test_mariadb_master_only_domain),
        cmocka_unit_test(test_mariadb_lacks),
        cmocka_unit_test(test_mariadb_backup_only_domain),
        cmocka_unit_test(test_mariadb_several_behind),
        cmocka_unit_test(test_mariadb_spacing),
        cmocka_unit_test(test_mariadb_garbage),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_mysql_subset_examples),
        cmocka_unit_test(test_mysql_executed),
        cmocka_unit_test(test_mysql_tags),
        cmocka_unit_test(test_mysql_garbage),
        cmocka_unit_test(test_small_buffer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
