/* test_check.c - unit tests for the check status table (names, descriptions, classes
 * and which statuses carry a code), the mapping of MariaDB Connector/C errors to
 * statuses, and the "reason: ..., info: ..., check duration: ..." text of a result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "healthlog.h"

/* One expected row of check_statuses[]. */
struct want_status {
    enum check_status st;
    const char *name;
    const char *desc;
    enum check_class cls;
    bool has_code;
};

static const struct want_status want[] = {
    {CHK_UNK, "UNK", "Unknown", CHK_NEUTRAL, false},
    {CHK_INI, "INI", "Initializing", CHK_NEUTRAL, false},
    {CHK_SOCKERR, "SOCKERR", "Socket error", CHK_NEUTRAL, false},
    {CHK_L4OK, "L4OK", "Layer4 check passed", CHK_PASSED, false},
    {CHK_L4TOUT, "L4TOUT", "Layer4 timeout", CHK_FAILED, false},
    {CHK_L4CON, "L4CON", "Layer4 connection problem", CHK_FAILED, false},
    {CHK_L6OK, "L6OK", "Layer6 check passed", CHK_PASSED, false},
    {CHK_L6TOUT, "L6TOUT", "Layer6 timeout", CHK_FAILED, false},
    {CHK_L6RSP, "L6RSP", "Layer6 invalid response", CHK_FAILED, false},
    {CHK_L7OK, "L7OK", "Layer7 check passed", CHK_PASSED, true},
    {CHK_L7OKC, "L7OKC", "Layer7 check conditionally passed", CHK_CONDITIONAL, true},
    {CHK_L7TOUT, "L7TOUT", "Layer7 timeout", CHK_FAILED, false},
    {CHK_L7RSP, "L7RSP", "Layer7 invalid response", CHK_FAILED, true},
    {CHK_L7STS, "L7STS", "Layer7 wrong status", CHK_FAILED, true},
    {CHK_L7GTID, "L7GTID", "Layer7 missing transactions", CHK_FAILED, false},
    {CHK_HANA, "HANA", "Health analyze", CHK_FAILED, false},
};

/* The 15 statuses of the design and the GTID guard's, each with its row, in enum order. */
static void test_status_table(void **state)
{
    (void)state;

    assert_int_equal(CHK__COUNT, 16);
    assert_int_equal(sizeof(want) / sizeof(want[0]), CHK__COUNT);
    for (size_t i = 0; i < CHK__COUNT; i++) {
        const struct check_status_info *row = &check_statuses[want[i].st];
        assert_int_equal(want[i].st, i);
        assert_non_null(row->name);
        assert_non_null(row->desc);
        assert_string_equal(row->name, want[i].name);
        assert_string_equal(row->desc, want[i].desc);
        assert_int_equal(row->cls, want[i].cls);
        assert_int_equal(row->has_code, want[i].has_code);
    }
}

/* Names and descriptions are unique: they are what operators grep for. */
static void test_status_names_unique(void **state)
{
    (void)state;

    for (size_t i = 0; i < CHK__COUNT; i++) {
        for (size_t j = i + 1; j < CHK__COUNT; j++) {
            assert_string_not_equal(check_statuses[i].name, check_statuses[j].name);
            assert_string_not_equal(check_statuses[i].desc, check_statuses[j].desc);
        }
    }
}

static void test_status_name_and_class(void **state)
{
    (void)state;

    for (size_t i = 0; i < CHK__COUNT; i++) {
        assert_string_equal(check_status_name((enum check_status)i), want[i].name);
        assert_int_equal(check_status_class((enum check_status)i), want[i].cls);
    }
    /* Out of range: unknown and neutral, never a read past the table. */
    assert_string_equal(check_status_name(CHK__COUNT), "UNK");
    assert_string_equal(check_status_name((enum check_status)1000), "UNK");
    assert_int_equal(check_status_class(CHK__COUNT), CHK_NEUTRAL);
    assert_int_equal(check_status_class((enum check_status)1000), CHK_NEUTRAL);
}

/* Classify ERR/MSG into a fresh result and check status, code and info. */
static void classify(unsigned err, const char *msg, enum check_status st, int code,
                     const char *info)
{
    struct check_result r;

    memset(&r, 0x5a, sizeof(r));
    r.info[sizeof(r.info) - 1] = '\0';
    check_classify_mysql_error(err, msg, &r);
    assert_string_equal(check_status_name(r.status), check_status_name(st));
    assert_int_equal(r.code, code);
    assert_string_equal(r.info, info);
}

/* Connection problems report the OS error in the library's "(N)" suffix. */
static void test_classify_layer4(void **state)
{
    (void)state;

    classify(2003, "Can't connect to server on '127.0.0.1' (111)", CHK_L4CON, 0,
             "Connection refused");
    classify(2003, "Can't connect to MySQL server on '10.1.1.1' (113)", CHK_L4CON, 0,
             "No route to host");
    classify(2002, "Can't connect to local server through socket '/run/x.sock' (2)", CHK_L4CON, 0,
             "No such file or directory");
    /* No OS error in the message: the message itself. */
    classify(2003, "Can't connect to server on 'db'", CHK_L4CON, 0,
             "Can't connect to server on 'db'");
    classify(2005, "Unknown server host 'nohost' (-2)", CHK_L4CON, 0,
             "Unknown server host 'nohost' (-2)");
}

static void test_classify_sockerr(void **state)
{
    (void)state;

    classify(2001, "Can't create UNIX socket (24)", CHK_SOCKERR, 0, "Too many open files");
    classify(2004, "Can't create TCP/IP socket (24)", CHK_SOCKERR, 0, "Too many open files");
    /* Out of local ports: rebound's shortage too, not the server's refusal. */
    classify(2003, "Can't connect to server on '10.0.0.1' (99)", CHK_SOCKERR, 0,
             "Cannot assign requested address");
}

static void test_classify_tls(void **state)
{
    (void)state;

    classify(2026, "TLS/SSL error: unexpected eof", CHK_L6RSP, 0, "TLS/SSL error: unexpected eof");
}

/* Below 2000 the server answered with an error: L7STS with its errno. */
static void test_classify_server_errors(void **state)
{
    (void)state;

    classify(1045, "Access denied for user 'chk'@'localhost' (using password: YES)", CHK_L7STS,
             1045, "Access denied for user 'chk'@'localhost' (using password: YES)");
    classify(1040, "Too many connections", CHK_L7STS, 1040, "Too many connections");
    classify(1129,
             "Host '127.0.0.1' is blocked because of many connection errors; unblock with "
             "'mariadb-admin flush-hosts'",
             CHK_L7STS, 1129,
             "Host '127.0.0.1' is blocked because of many connection errors; unblock with "
             "'mariadb-admin flush-hosts'");
}

/* Client-side protocol trouble: L7RSP with the client errno. */
static void test_classify_protocol_errors(void **state)
{
    (void)state;

    classify(2013,
             "Lost connection to server at 'handshake: reading initial communication packet', "
             "system error: 0",
             CHK_L7RSP, 2013,
             "Lost connection to server at 'handshake: reading initial communication packet', "
             "system error: 0");
    classify(2027, "Malformed packet", CHK_L7RSP, 2027, "Malformed packet");
    classify(2006, "Server has gone away", CHK_L7RSP, 2006, "Server has gone away");
}

/* A message longer than info[] is cut, still NUL-terminated. */
static void test_classify_long_message(void **state)
{
    struct check_result r;
    char msg[400];
    (void)state;

    memset(msg, 'x', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    check_classify_mysql_error(1045, msg, &r);
    assert_int_equal(r.status, CHK_L7STS);
    assert_int_equal(strlen(r.info), sizeof(r.info) - 1);
}

static void test_format_result_without_code(void **state)
{
    struct check_result r = {.status = CHK_L4CON, .code = 0, .duration_ms = 0};
    const char *want_s =
        "reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms";
    char buf[256];
    (void)state;

    strcpy(r.info, "Connection refused");
    assert_int_equal(healthlog_format_result(buf, sizeof(buf), &r), strlen(want_s));
    assert_string_equal(buf, want_s);

    /* has_code is false: a non-zero code is still not shown. */
    r.status = CHK_L4TOUT;
    r.code = 110;
    r.duration_ms = 1001;
    strcpy(r.info, "TCP connect timed out");
    healthlog_format_result(buf, sizeof(buf), &r);
    assert_string_equal(
        buf, "reason: Layer4 timeout, info: \"TCP connect timed out\", check duration: 1001ms");
}

static void test_format_result_with_code(void **state)
{
    struct check_result r = {.status = CHK_L7OK, .code = 0, .duration_ms = 3};
    char buf[256];
    (void)state;

    strcpy(r.info, "10.11.6-MariaDB-log");
    healthlog_format_result(buf, sizeof(buf), &r);
    assert_string_equal(buf, "reason: Layer7 check passed, code: 0, info: \"10.11.6-MariaDB-log\", "
                             "check duration: 3ms");

    r.status = CHK_L7STS;
    r.code = 1045;
    r.duration_ms = 12;
    strcpy(r.info, "Access denied");
    healthlog_format_result(buf, sizeof(buf), &r);
    assert_string_equal(buf, "reason: Layer7 wrong status, code: 1045, info: \"Access denied\", "
                             "check duration: 12ms");
}

/* Like snprintf: the full length is returned, the text is cut and terminated. */
static void test_format_result_truncated(void **state)
{
    struct check_result r = {.status = CHK_L7STS, .code = 1040, .duration_ms = 5};
    char buf[16];
    int n;
    (void)state;

    strcpy(r.info, "Too many connections");
    memset(buf, 'z', sizeof(buf));
    n = healthlog_format_result(buf, sizeof(buf), &r);
    assert_int_equal(n, strlen("reason: Layer7 wrong status, code: 1040, info: \"Too many "
                               "connections\", check duration: 5ms"));
    assert_string_equal(buf, "reason: Layer7 ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_status_names_unique),
        cmocka_unit_test(test_status_name_and_class),
        cmocka_unit_test(test_classify_layer4),
        cmocka_unit_test(test_classify_sockerr),
        cmocka_unit_test(test_classify_tls),
        cmocka_unit_test(test_classify_server_errors),
        cmocka_unit_test(test_classify_protocol_errors),
        cmocka_unit_test(test_classify_long_message),
        cmocka_unit_test(test_format_result_without_code),
        cmocka_unit_test(test_format_result_with_code),
        cmocka_unit_test(test_format_result_truncated),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
