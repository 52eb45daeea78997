/* test_config.c - `rebound -c -f FILE` accepts a valid config and rejects broken ones with
 * FILE:LINE: pointing at the offending line. No database needed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "harness.h"

/* A valid config; the broken cases below each change one line of a copy of it. Line numbers
 * are 1-based and given next to the lines the cases break. */
static const char *const valid_config[] = {
    "# a valid rebound config",                                                       /* 1 */
    "global",                                                                         /* 2 */
    "    maxconn 100",                                                                /* 3 */
    "    health-log stderr",                                                          /* 4 */
    "defaults",                                                                       /* 5 */
    "    check mysql user rebound_check password \"check-pass\"",                     /* 6 */
    "    inter 2s  fastinter 500ms  downinter 5s  rise 2  fall 3",                    /* 7 */
    "    timeout connect 2s  timeout client 8h  timeout server 8h",                   /* 8 */
    "    timeout check 1s  retries 2",                                                /* 9 */
    "",                                                                               /* 10 */
    "listen rw",                                                                      /* 11 */
    "    bind 127.0.0.1:13306",                                                       /* 12 */
    "    server master   127.0.0.1:3310 check on-marked-up shutdown-backup-sessions", /* 13 */
    "    server replica1 127.0.0.1:3311 check backup",                                /* 14 */
    "",                                                                               /* 15 */
    "listen ro",                                                                      /* 16 */
    "    bind 127.0.0.1:13307",                                                       /* 17 */
    "    option allbackups",                                                          /* 18 */
    "    server replica1 127.0.0.1:3311 check backup",                                /* 19 */
    NULL,
};

/* Write valid_config to a fresh file in the scratch dir, with line `line` (1-based) replaced by
 * `replacement` (NULL: keep it), into path. */
static void write_variant(char *path, size_t size, int line, const char *replacement)
{
    static int seq;
    char name[64];
    FILE *f;
    int i;

    snprintf(name, sizeof(name), "config-%d.conf", ++seq);
    harness_path(path, size, name);
    f = fopen(path, "w");
    assert_non_null(f);
    for (i = 0; valid_config[i]; i++)
        fprintf(f, "%s\n", i + 1 == line && replacement ? replacement : valid_config[i]);
    assert_int_equal(fclose(f), 0);
}

/* Check the variant with line `line` replaced; expect a clean failure naming FILE:want_line:. */
static void expect_error_at(int line, const char *replacement, int want_line)
{
    char path[512], out[8192], where[600];
    int status;

    write_variant(path, sizeof(path), line, replacement);
    status = router_check_config(path, out, sizeof(out));
    snprintf(where, sizeof(where), "%s:%d:", path, want_line);
    if (status == 0 || status > 127 || status < 0)
        fail_msg("rebound -c on '%s' at line %d: exit status %d (want 1..127), output:\n%s",
                 replacement, line, status, out);
    if (!strstr(out, where))
        fail_msg("rebound -c on '%s' at line %d: output lacks '%s':\n%s", replacement, line, where,
                 out);
    if (strstr(out, "Sanitizer") || strstr(out, "runtime error"))
        fail_msg("sanitizer report from rebound -c:\n%s", out);
}

/* The unmodified config passes the check. */
static void test_valid_config_passes(void **state)
{
    char path[512], out[8192];
    int status;

    (void)state;
    write_variant(path, sizeof(path), 0, NULL);
    status = router_check_config(path, out, sizeof(out));
    if (status != 0)
        fail_msg("rebound -c -f %s: exit status %d, output:\n%s", path, status, out);
}

/* A keyword nobody knows, inside a listen section. */
static void test_unknown_keyword(void **state)
{
    (void)state;
    expect_error_at(18, "    frobnicate 3", 18);
}

/* A duration with a unit that does not exist. */
static void test_bad_duration(void **state)
{
    (void)state;
    expect_error_at(7, "    inter 2s  fastinter 5x  downinter 5s  rise 2  fall 3", 7);
}

/* A server line in the defaults section. */
static void test_server_outside_listen(void **state)
{
    (void)state;
    expect_error_at(9, "    server stray 127.0.0.1:3312 check", 9);
}

/* A server line before any section. */
static void test_server_before_any_section(void **state)
{
    (void)state;
    expect_error_at(1, "server stray 127.0.0.1:3312", 1);
}

/* A listen section without bind: the error names the listen line. */
static void test_missing_bind(void **state)
{
    (void)state;
    expect_error_at(17, "    # bind removed", 16);
}

/* A port outside 1..65535. */
static void test_bad_port(void **state)
{
    (void)state;
    expect_error_at(14, "    server replica1 127.0.0.1:99999 check backup", 14);
}

/* A server option that does not exist. */
static void test_unknown_server_option(void **state)
{
    (void)state;
    expect_error_at(14, "    server replica1 127.0.0.1:3311 check backup frobnicate", 14);
}

/* A config file that does not exist: non-zero exit, and the message names the file. */
static void test_missing_file(void **state)
{
    char path[512], out[8192];
    int status;

    (void)state;
    harness_path(path, sizeof(path), "no-such.conf");
    status = router_check_config(path, out, sizeof(out));
    if (status == 0 || status > 127 || status < 0 || !strstr(out, path))
        fail_msg("rebound -c -f %s: exit status %d, output:\n%s", path, status, out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_config_passes),
        cmocka_unit_test(test_unknown_keyword),
        cmocka_unit_test(test_bad_duration),
        cmocka_unit_test(test_server_outside_listen),
        cmocka_unit_test(test_server_before_any_section),
        cmocka_unit_test(test_missing_bind),
        cmocka_unit_test(test_bad_port),
        cmocka_unit_test(test_unknown_server_option),
        cmocka_unit_test(test_missing_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
