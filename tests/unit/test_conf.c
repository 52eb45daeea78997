/* test_conf.c - unit tests for the config parser: every keyword and the struct field it
 * sets, defaults inheritance (defaults -> listen -> server), default values, durations,
 * addresses, and every error message with its exact "t.conf:LINE:" prefix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "conf.h"

/* The smallest valid listen section, to append after what a test is about. */
#define MIN_LISTEN "listen rw\n    bind 127.0.0.1:3306\n    server a 127.0.0.1:3310\n"

/* Parse TEXT as t.conf; it must succeed (the error is printed if not). */
static struct conf *parse_ok(const char *text)
{
    char err[512] = "";
    struct conf *c = conf_parse(text, "t.conf", err, sizeof(err));

    if (!c)
        print_error("unexpected error: %s\n", err);
    assert_non_null(c);
    assert_string_equal(err, "");
    return c;
}

/* Parse TEXT as t.conf; it must fail with exactly WANT. */
static void parse_fail(const char *text, const char *want_err)
{
    char err[512] = "";
    struct conf *c = conf_parse(text, "t.conf", err, sizeof(err));

    if (c)
        conf_free(c);
    assert_null(c);
    assert_string_equal(err, want_err);
}

/* --- default values --- */

static void test_defaults_values(void **state)
{
    struct conf *c = parse_ok(MIN_LISTEN);
    const struct conf_listen *l;
    const struct conf_server *s;
    (void)state;

    assert_string_equal(c->file, "t.conf");
    assert_int_equal(c->maxconn, 10000);
    assert_int_equal(c->nhealth_sinks, 0);
    assert_int_equal(c->nlistens, 1);
    l = &c->listens[0];
    assert_string_equal(l->name, "rw");
    assert_int_equal(l->line, 1);
    assert_true(l->has_bind);
    assert_int_equal(l->retries, 2);
    assert_int_equal(l->timeout_connect, 2000);
    assert_int_equal(l->timeout_client, 8u * 3600 * 1000);
    assert_int_equal(l->timeout_server, 8u * 3600 * 1000);
    assert_int_equal(l->timeout_check, 1000);
    assert_int_equal(l->timeout_greeting, 500);
    assert_int_equal(l->timeout_handshake, 5000);
    assert_false(l->allbackups);
    assert_int_equal(l->balance, BALANCE_FIRST);
    assert_int_equal(l->nservers, 1);
    s = &l->servers[0];
    assert_string_equal(s->name, "a");
    assert_int_equal(s->line, 3);
    assert_string_equal(s->addr.text, "127.0.0.1:3310");
    assert_false(s->check);
    assert_false(s->backup);
    assert_int_equal(s->method, CHECK_METHOD_MYSQL);
    assert_string_equal(s->check_user, "");
    assert_false(s->check_has_password);
    assert_int_equal(s->inter, 2000);
    assert_int_equal(s->fastinter, 0);
    assert_int_equal(s->downinter, 0);
    assert_int_equal(conf_fastinter(s), 2000);
    assert_int_equal(conf_downinter(s), 2000);
    assert_int_equal(s->rise, 2);
    assert_int_equal(s->fall, 3);
    assert_false(s->shutdown_backup_sessions);
    assert_false(s->shutdown_sessions);
    assert_false(s->check_ssl);
    assert_int_equal(s->expect_read_only, EXPECT_ANY);
    assert_int_equal(s->max_lag, EXPECT_ANY);
    assert_int_equal(s->expect_rows, EXPECT_ANY);
    conf_free(c);
}

/* --- global --- */

static void test_global_keywords(void **state)
{
    struct conf *c = parse_ok("global\n"
                              "    maxconn 20000\n"
                              "    health-log file /var/log/rebound/health.log\n"
                              "    health-log stderr\n" MIN_LISTEN);
    (void)state;

    assert_int_equal(c->maxconn, 20000);
    assert_int_equal(c->threads, 0); /* auto */
    assert_int_equal(c->threads_line, 0);
    assert_int_equal(c->nhealth_sinks, 2);
    assert_int_equal(c->health_sinks[0].type, HEALTH_SINK_FILE);
    assert_string_equal(c->health_sinks[0].path, "/var/log/rebound/health.log");
    assert_int_equal(c->health_sinks[0].line, 3);
    assert_int_equal(c->health_sinks[1].type, HEALTH_SINK_STDERR);
    assert_int_equal(c->health_sinks[1].line, 4);
    conf_free(c);
}

static void test_global_threads(void **state)
{
    struct conf *c = parse_ok("global\n    threads 4\n" MIN_LISTEN);
    (void)state;

    assert_int_equal(c->threads, 4);
    assert_int_equal(c->threads_line, 2);
    conf_free(c);
    c = parse_ok("global threads auto maxconn 9\n" MIN_LISTEN);
    assert_int_equal(c->threads, 0);
    assert_int_equal(c->threads_line, 1);
    assert_int_equal(c->maxconn, 9);
    conf_free(c);
    parse_fail("global\n    threads 0\n" MIN_LISTEN,
               "t.conf:2: 'threads' expects 'auto' or a whole number from 1 to 64, got '0'");
    parse_fail("global\n    threads 65\n" MIN_LISTEN,
               "t.conf:2: 'threads' expects 'auto' or a whole number from 1 to 64, got '65'");
    parse_fail("global\n    threads many\n" MIN_LISTEN,
               "t.conf:2: 'threads' expects 'auto' or a whole number from 1 to 64, got 'many'");
    parse_fail("global\n    threads\n" MIN_LISTEN,
               "t.conf:2: 'threads' expects 'auto' or a whole number from 1 to 64, got nothing");
}

/* The admin and stats keywords remember their lines, for the errors found when binding
 * their addresses or loading the certificate (at start and on reload): conf_fail(). */
static void test_port_keyword_lines(void **state)
{
    struct conf *c = parse_ok("global\n"
                              "    stats 127.0.0.1:8404\n"
                              "    admin 127.0.0.1:6032 user admin password long-enough-pw\n"
                              "    admin-ro user viewer password long-enough-pw2\n"
                              "    admin-ssl crt /etc/c.pem key /etc/k.pem\n" MIN_LISTEN);
    char err[128];
    (void)state;

    assert_int_equal(c->stats_line, 2);
    assert_int_equal(c->admin.line, 3);
    assert_int_equal(c->admin.ro_line, 4);
    assert_int_equal(c->admin.ssl_line, 5);
    assert_int_equal(conf_fail(c, c->admin.ssl_line, err, sizeof(err), "admin-ssl: %s", "no"), -1);
    assert_string_equal(err, "t.conf:5: admin-ssl: no");
    conf_free(c);
}

/* Keywords may follow the section word on the same line. */
static void test_global_on_header_line(void **state)
{
    struct conf *c = parse_ok("global maxconn 7 health-log stderr\n" MIN_LISTEN);
    (void)state;

    assert_int_equal(c->maxconn, 7);
    assert_int_equal(c->nhealth_sinks, 1);
    assert_int_equal(c->health_sinks[0].type, HEALTH_SINK_STDERR);
    conf_free(c);
}

static void test_global_errors(void **state)
{
    (void)state;

    parse_fail("global\n    maxconn 0\n" MIN_LISTEN,
               "t.conf:2: 'maxconn' expects a whole number from 1 to 1000000, got '0'");
    parse_fail("global\n    maxconn lots\n" MIN_LISTEN,
               "t.conf:2: 'maxconn' expects a whole number from 1 to 1000000, got 'lots'");
    parse_fail("global\n    maxconn 99999999999\n" MIN_LISTEN,
               "t.conf:2: 'maxconn' expects a whole number from 1 to 1000000, got '99999999999'");
    parse_fail("global\n    maxconn\n" MIN_LISTEN, "t.conf:2: 'maxconn' expects a number");
    parse_fail("global\n    health-log file\n" MIN_LISTEN,
               "t.conf:2: 'health-log file' expects a path");
    parse_fail("global\n    health-log\n" MIN_LISTEN,
               "t.conf:2: 'health-log' expects 'file PATH', 'stderr' or 'syslog ADDR'");
    parse_fail("global\n    health-log nowhere\n" MIN_LISTEN,
               "t.conf:2: 'health-log' expects 'file PATH', 'stderr' or 'syslog ADDR', got "
               "'nowhere'");
    /* Listen keywords are not global ones. */
    parse_fail("global\n    retries 3\n" MIN_LISTEN,
               "t.conf:2: unknown keyword 'retries' in global section");
    parse_fail("global\n    bind 127.0.0.1:1\n" MIN_LISTEN,
               "t.conf:2: unknown keyword 'bind' in global section");
    parse_fail("global\n    inter 2s\n" MIN_LISTEN,
               "t.conf:2: unknown keyword 'inter' in global section");
}

/* --- listen keywords --- */

static void test_listen_keywords(void **state)
{
    struct conf *c = parse_ok("listen ro\n"
                              "    bind 0.0.0.0:3307\n"
                              "    retries 5\n"
                              "    timeout connect 3s\n"
                              "    timeout client 1h\n"
                              "    timeout server 30m\n"
                              "    timeout check 750ms\n"
                              "    timeout greeting 2s  timeout handshake 3s\n"
                              "    option allbackups\n"
                              "    server r1 127.0.0.1:3311\n");
    const struct conf_listen *l = &c->listens[0];
    (void)state;

    assert_string_equal(l->name, "ro");
    assert_string_equal(l->bind.text, "0.0.0.0:3307");
    assert_int_equal(l->bind.port, 3307);
    assert_int_equal(l->retries, 5);
    assert_int_equal(l->timeout_connect, 3000);
    assert_int_equal(l->timeout_client, 3600000);
    assert_int_equal(l->timeout_server, 1800000);
    assert_int_equal(l->timeout_check, 750);
    assert_int_equal(l->timeout_greeting, 2000);
    assert_int_equal(l->timeout_handshake, 3000);
    assert_true(l->allbackups);
    conf_free(c);
}

/* retries 0 is allowed: no redispatch at all. */
static void test_retries_zero(void **state)
{
    struct conf *c = parse_ok("listen rw bind 127.0.0.1:1 retries 0\nserver a 127.0.0.1:2\n");
    (void)state;

    assert_int_equal(c->listens[0].retries, 0);
    conf_free(c);
}

/* Several keywords, with their arguments, on one line, also on the header line. */
static void test_several_keywords_one_line(void **state)
{
    struct conf *c = parse_ok("defaults\n"
                              "    inter 3s fastinter 500ms downinter 5s rise 4 fall 5 retries 1\n"
                              "listen rw bind 127.0.0.1:3306 timeout connect 1s timeout check 2s\n"
                              "    server a 127.0.0.1:3310 backup rise 1 fall 1 inter 1s\n");
    const struct conf_listen *l = &c->listens[0];
    const struct conf_server *s = &l->servers[0];
    (void)state;

    assert_int_equal(l->retries, 1);
    assert_int_equal(l->timeout_connect, 1000);
    assert_int_equal(l->timeout_check, 2000);
    assert_string_equal(l->bind.text, "127.0.0.1:3306");
    assert_true(s->backup);
    assert_int_equal(s->rise, 1);
    assert_int_equal(s->fall, 1);
    assert_int_equal(s->inter, 1000);
    assert_int_equal(s->fastinter, 500);
    assert_int_equal(s->downinter, 5000);
    assert_int_equal(conf_fastinter(s), 500);
    assert_int_equal(conf_downinter(s), 5000);
    conf_free(c);
}

/* --- server options --- */

static void test_server_options(void **state)
{
    struct conf *c =
        parse_ok("listen rw\n"
                 "    bind 127.0.0.1:3306\n"
                 "    server m 127.0.0.1:3310 check mysql user chk password pw inter 4s "
                 "fastinter 250ms downinter 10s rise 3 fall 4 on-marked-up "
                 "shutdown-backup-sessions on-marked-down shutdown-sessions\n"
                 "    server r 127.0.0.1:3311 check tcp backup\n"
                 "    server n 127.0.0.1:3312 check mysql user only\n");
    const struct conf_listen *l = &c->listens[0];
    const struct conf_server *m = &l->servers[0], *r = &l->servers[1], *n = &l->servers[2];
    (void)state;

    assert_int_equal(l->nservers, 3);
    assert_string_equal(m->name, "m");
    assert_int_equal(m->line, 3);
    assert_true(m->check);
    assert_int_equal(m->method, CHECK_METHOD_MYSQL);
    assert_string_equal(m->check_user, "chk");
    assert_true(m->check_has_password);
    assert_string_equal(m->check_password, "pw");
    assert_int_equal(m->inter, 4000);
    assert_int_equal(m->fastinter, 250);
    assert_int_equal(m->downinter, 10000);
    assert_int_equal(m->rise, 3);
    assert_int_equal(m->fall, 4);
    assert_true(m->shutdown_backup_sessions);
    assert_true(m->shutdown_sessions);
    assert_false(m->backup);

    assert_string_equal(r->name, "r");
    assert_int_equal(r->line, 4);
    assert_true(r->check);
    assert_int_equal(r->method, CHECK_METHOD_TCP);
    assert_true(r->backup);
    assert_false(r->shutdown_backup_sessions);
    assert_false(r->shutdown_sessions);

    assert_true(n->check);
    assert_int_equal(n->method, CHECK_METHOD_MYSQL);
    assert_string_equal(n->check_user, "only");
    assert_false(n->check_has_password);
    assert_string_equal(n->check_password, "");
    conf_free(c);
}

/* Quoted passwords: spaces, escapes in "double" quotes, none in 'single' quotes, '#'
 * inside quotes is not a comment, and quoted pieces join the word around them. */
static void test_quoted_password(void **state)
{
    struct conf *c = parse_ok("listen rw\n"
                              "    bind 127.0.0.1:3306\n"
                              "    server a 127.0.0.1:1 check mysql user u password \"s3 cr#t\"\n"
                              "    server b 127.0.0.1:2 check mysql user u password "
                              "\"q\\\"uo\\\\te\\x\"\n"
                              "    server c 127.0.0.1:3 check mysql user u password 'a\\b \"c'\n"
                              "    server d 127.0.0.1:4 check mysql user \"u 1\" password "
                              "pa\"ss wo\"rd # comment\n"
                              "    server e 127.0.0.1:5 check mysql user u password \"\"\n");
    const struct conf_server *s = c->listens[0].servers;
    (void)state;

    assert_int_equal(c->listens[0].nservers, 5);
    assert_string_equal(s[0].check_password, "s3 cr#t");
    assert_string_equal(s[1].check_password, "q\"uo\\tex");
    assert_string_equal(s[2].check_password, "a\\b \"c");
    assert_string_equal(s[3].check_user, "u 1");
    assert_string_equal(s[3].check_password, "pass word");
    assert_true(s[4].check_has_password);
    assert_string_equal(s[4].check_password, "");
    conf_free(c);
}

/* no-check turns off a check given as a default. */
static void test_no_check(void **state)
{
    struct conf *c = parse_ok("defaults check mysql user u\n"
                              "listen rw\n"
                              "    bind 127.0.0.1:3306\n"
                              "    server a 127.0.0.1:1 no-check\n"
                              "    server b 127.0.0.1:2\n"
                              "    server c 127.0.0.1:3 check no-check check tcp\n");
    const struct conf_server *s = c->listens[0].servers;
    (void)state;

    assert_false(s[0].check);
    assert_true(s[1].check);
    assert_int_equal(s[1].method, CHECK_METHOD_MYSQL);
    assert_true(s[2].check);
    assert_int_equal(s[2].method, CHECK_METHOD_TCP);
    conf_free(c);
}

/* --- inheritance: defaults -> listen -> server --- */

static void test_inheritance(void **state)
{
    struct conf *c = parse_ok("defaults\n"
                              "    check mysql user chk password secret\n"
                              "    inter 3s rise 4 fall 5\n"
                              "    timeout connect 5s retries 7\n"
                              "listen rw\n"
                              "    bind 127.0.0.1:3306\n"
                              "    rise 6 timeout check 3s\n"
                              "    server a 127.0.0.1:1 check\n"
                              "    server b 127.0.0.1:2 check fall 9 check mysql user other\n"
                              "listen ro\n"
                              "    bind 127.0.0.1:3307\n"
                              "    server c 127.0.0.1:3 check\n");
    const struct conf_listen *rw = &c->listens[0], *ro = &c->listens[1];
    const struct conf_server *a = &rw->servers[0], *b = &rw->servers[1], *cc = &ro->servers[0];
    (void)state;

    /* defaults -> listen */
    assert_int_equal(rw->timeout_connect, 5000);
    assert_int_equal(rw->retries, 7);
    assert_int_equal(rw->timeout_check, 3000);
    /* a listen's own settings stay in that listen */
    assert_int_equal(ro->timeout_connect, 5000);
    assert_int_equal(ro->retries, 7);
    assert_int_equal(ro->timeout_check, 1000);

    /* defaults -> listen -> server */
    assert_true(a->check);
    assert_string_equal(a->check_user, "chk");
    assert_true(a->check_has_password);
    assert_string_equal(a->check_password, "secret");
    assert_int_equal(a->inter, 3000);
    assert_int_equal(a->rise, 6);
    assert_int_equal(a->fall, 5);

    /* a server's own options override; a new user drops the inherited password */
    assert_int_equal(b->rise, 6);
    assert_int_equal(b->fall, 9);
    assert_string_equal(b->check_user, "other");
    assert_false(b->check_has_password);
    assert_string_equal(b->check_password, "");

    /* the other listen gets the defaults, not rw's rise 6 */
    assert_int_equal(cc->rise, 4);
    assert_int_equal(cc->fall, 5);
    assert_string_equal(cc->check_user, "chk");
    assert_string_equal(cc->check_password, "secret");
    conf_free(c);
}

/* Server options at listen level apply to the servers after them only. */
static void test_listen_server_options_apply_later(void **state)
{
    struct conf *c = parse_ok("listen rw\n"
                              "    bind 127.0.0.1:3306\n"
                              "    server a 127.0.0.1:1\n"
                              "    inter 5s backup check tcp\n"
                              "    server b 127.0.0.1:2\n"
                              "    server c 127.0.0.1:3 fall 1\n");
    const struct conf_server *s = c->listens[0].servers;
    (void)state;

    assert_int_equal(s[0].inter, 2000);
    assert_false(s[0].backup);
    assert_false(s[0].check);
    assert_int_equal(s[1].inter, 5000);
    assert_true(s[1].backup);
    assert_true(s[1].check);
    assert_int_equal(s[1].method, CHECK_METHOD_TCP);
    assert_int_equal(s[1].fall, 3);
    assert_true(s[2].backup);
    assert_int_equal(s[2].fall, 1);
    conf_free(c);
}

/* A defaults section after a listen changes only the listens that follow it. */
static void test_defaults_after_listen(void **state)
{
    struct conf *c = parse_ok("listen a bind 127.0.0.1:1\n"
                              "    server s 127.0.0.1:2\n"
                              "defaults rise 9 retries 0\n"
                              "listen b bind 127.0.0.1:3\n"
                              "    server s 127.0.0.1:4\n");
    (void)state;

    assert_int_equal(c->nlistens, 2);
    assert_int_equal(c->listens[0].retries, 2);
    assert_int_equal(c->listens[0].servers[0].rise, 2);
    assert_int_equal(c->listens[1].retries, 0);
    assert_int_equal(c->listens[1].servers[0].rise, 9);
    assert_int_equal(c->listens[1].line, 4);
    /* The same server name in two listens is two servers. */
    assert_string_equal(c->listens[1].servers[0].name, "s");
    conf_free(c);
}

/* Comments, blank lines, tabs and CRLF line ends. */
static void test_comments_blanks_crlf(void **state)
{
    struct conf *c = parse_ok("# rebound\r\n"
                              "\r\n"
                              "listen rw # the router\r\n"
                              "\tbind\t127.0.0.1:3306\r\n"
                              "   # server x 127.0.0.1:9\r\n"
                              "\tserver a 127.0.0.1:3310   rise 5\t# five\r\n");
    const struct conf_listen *l = &c->listens[0];
    (void)state;

    assert_int_equal(l->line, 3);
    assert_int_equal(l->nservers, 1);
    assert_int_equal(l->servers[0].line, 6);
    assert_int_equal(l->servers[0].rise, 5);
    conf_free(c);
}

/* --- durations --- */

static void dur_ok(const char *s, unsigned want_ms)
{
    unsigned ms = 12345;

    if (conf_parse_duration(s, &ms) != 0)
        print_error("duration '%s' rejected\n", s);
    assert_int_equal(conf_parse_duration(s, &ms), 0);
    assert_int_equal(ms, want_ms);
}

static void dur_bad(const char *s)
{
    unsigned ms = 12345;

    if (conf_parse_duration(s, &ms) != -1)
        print_error("duration '%s' accepted as %u\n", s, ms);
    assert_int_equal(conf_parse_duration(s, &ms), -1);
}

static void test_durations(void **state)
{
    (void)state;

    dur_ok("0", 0);
    dur_ok("250", 250);
    dur_ok("500ms", 500);
    dur_ok("0ms", 0);
    dur_ok("2s", 2000);
    dur_ok("5m", 300000);
    dur_ok("1h", 3600000);
    dur_ok("8h", 28800000);
    dur_ok("1d", 86400000);
    dur_ok("007s", 7000);
    /* the largest values that fit in an unsigned number of ms */
    dur_ok("4294967295", 4294967295u);
    dur_ok("4294967295ms", 4294967295u);
    dur_ok("4294967s", 4294967000u);
    dur_ok("71582m", 4294920000u);
    dur_ok("1193h", 4294800000u);
    dur_ok("49d", 4233600000u);
}

static void test_durations_bad(void **state)
{
    (void)state;

    /* overflow */
    dur_bad("4294967296");
    dur_bad("4294968s");
    dur_bad("71583m");
    dur_bad("1194h");
    dur_bad("50d");
    dur_bad("99999999999999999999999");
    dur_bad("18446744073709551615s");
    /* garbage */
    dur_bad("");
    dur_bad("s");
    dur_bad("ms");
    dur_bad("2x");
    dur_bad("2S");
    dur_bad("2sec");
    dur_bad("2 s");
    dur_bad(" 2s");
    dur_bad("-1");
    dur_bad("+1");
    dur_bad("1.5s");
    dur_bad("2s5");
    dur_bad("1w");
    dur_bad("0x10");
}

/* --- addresses --- */

static void test_addr_ipv4(void **state)
{
    struct conf_addr a;
    char err[256] = "";
    const struct sockaddr_in *in = (const struct sockaddr_in *)&a.sa;
    (void)state;

    assert_int_equal(conf_parse_addr("127.0.0.1:3306", &a, err, sizeof(err)), 0);
    assert_int_equal(a.sa.ss_family, AF_INET);
    assert_int_equal(a.len, sizeof(struct sockaddr_in));
    assert_int_equal(ntohs(in->sin_port), 3306);
    assert_int_equal(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
    assert_string_equal(a.host, "127.0.0.1");
    assert_int_equal(a.port, 3306);
    assert_string_equal(a.text, "127.0.0.1:3306");

    assert_int_equal(conf_parse_addr("10.0.0.10:1", &a, err, sizeof(err)), 0);
    assert_string_equal(a.text, "10.0.0.10:1");
    assert_int_equal(conf_parse_addr("10.0.0.10:65535", &a, err, sizeof(err)), 0);
    assert_int_equal(a.port, 65535);
    assert_string_equal(err, "");
}

static void test_addr_ipv6(void **state)
{
    struct conf_addr a;
    char err[256] = "";
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a.sa;
    (void)state;

    assert_int_equal(conf_parse_addr("[::1]:3307", &a, err, sizeof(err)), 0);
    assert_int_equal(a.sa.ss_family, AF_INET6);
    assert_int_equal(a.len, sizeof(struct sockaddr_in6));
    assert_int_equal(ntohs(in6->sin6_port), 3307);
    assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
    assert_string_equal(a.host, "::1");
    assert_int_equal(a.port, 3307);
    assert_string_equal(a.text, "[::1]:3307");

    assert_int_equal(conf_parse_addr("[::]:1", &a, err, sizeof(err)), 0);
    assert_string_equal(a.text, "[::]:1");
    assert_string_equal(err, "");
}

static void test_addr_wildcard(void **state)
{
    struct conf_addr a;
    char err[256] = "";
    (void)state;

    assert_int_equal(conf_parse_addr("*:3306", &a, err, sizeof(err)), 0);
    assert_int_equal(a.sa.ss_family, AF_INET);
    assert_string_equal(a.host, "0.0.0.0");
    assert_string_equal(a.text, "0.0.0.0:3306");
    assert_int_equal(conf_parse_addr(":3308", &a, err, sizeof(err)), 0);
    assert_string_equal(a.text, "0.0.0.0:3308");
}

static void addr_bad(const char *s, const char *want_err)
{
    struct conf_addr a;
    char err[256] = "";

    assert_int_equal(conf_parse_addr(s, &a, err, sizeof(err)), -1);
    assert_string_equal(err, want_err);
}

static void test_addr_errors(void **state)
{
    (void)state;

    addr_bad("127.0.0.1:0", "port '0' of '127.0.0.1:0' is not a number between 1 and 65535");
    addr_bad("127.0.0.1:70000",
             "port '70000' of '127.0.0.1:70000' is not a number between 1 and 65535");
    addr_bad("127.0.0.1:65536",
             "port '65536' of '127.0.0.1:65536' is not a number between 1 and 65535");
    addr_bad("127.0.0.1:abc", "port 'abc' of '127.0.0.1:abc' is not a number between 1 and 65535");
    addr_bad("127.0.0.1:33a", "port '33a' of '127.0.0.1:33a' is not a number between 1 and 65535");
    addr_bad("127.0.0.1:", "port '' of '127.0.0.1:' is not a number between 1 and 65535");
    addr_bad("[::1]:0", "port '0' of '[::1]:0' is not a number between 1 and 65535");
    /* missing port, or no way to tell the port from an IPv6 address */
    addr_bad("127.0.0.1", "address '127.0.0.1' is not HOST:PORT");
    addr_bad("", "address '' is not HOST:PORT");
    addr_bad("::1:3306", "address '::1:3306' is not HOST:PORT");
    addr_bad("[::1]", "address '[::1]' is not HOST:PORT");
    addr_bad("[::1]3306", "address '[::1]3306' is not HOST:PORT");
    addr_bad("[::1:3306", "address '[::1:3306' is not HOST:PORT");
}

/* A bad address in a bind or server line is reported with its line. */
static void test_addr_errors_in_config(void **state)
{
    (void)state;

    parse_fail("listen rw\n    bind 127.0.0.1:0\n    server a 127.0.0.1:1\n",
               "t.conf:2: bind: port '0' of '127.0.0.1:0' is not a number between 1 and 65535");
    parse_fail("listen rw\n    bind 127.0.0.1\n    server a 127.0.0.1:1\n",
               "t.conf:2: bind: address '127.0.0.1' is not HOST:PORT");
    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:70000\n",
               "t.conf:3: server 'a': port '70000' of '127.0.0.1:70000' is not a number "
               "between 1 and 65535");
    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a 10.0.0.1\n",
               "t.conf:3: server 'a': address '10.0.0.1' is not HOST:PORT");
}

/* --- errors, each with its file:line --- */

static void test_err_unknown_keyword(void **state)
{
    (void)state;

    parse_fail("listen rw\n    bind 127.0.0.1:1\n    frobnicate 1\n    server a 127.0.0.1:1\n",
               "t.conf:3: unknown keyword 'frobnicate' in listen section");
    parse_fail("defaults\n    inter 1s\n\n    maxconn 5\n" MIN_LISTEN,
               "t.conf:4: unknown keyword 'maxconn' in defaults section");
    parse_fail("global\n    maxconn 5 frob\n" MIN_LISTEN,
               "t.conf:2: unknown keyword 'frob' in global section");
    parse_fail("listen rw frob\n", "t.conf:1: unknown keyword 'frob' in listen");
    parse_fail("defaults frob\n", "t.conf:1: unknown keyword 'frob' in defaults");
}

static void test_err_unknown_server_option(void **state)
{
    (void)state;

    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:1 check weight 10\n",
               "t.conf:3: unknown server option 'weight'");
    /* listen keywords are not server options */
    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:1 retries 1\n",
               "t.conf:3: unknown server option 'retries'");
}

static void test_err_bad_duration(void **state)
{
    (void)state;

    parse_fail(
        "listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:1 inter 2x\n",
        "t.conf:3: 'inter' expects a duration above zero like 500ms, 2s, 5m or 1h, got '2x'");
    parse_fail(
        "defaults\n    fastinter -5\n" MIN_LISTEN,
        "t.conf:2: 'fastinter' expects a duration above zero like 500ms, 2s, 5m or 1h, got '-5'");
    parse_fail(
        "listen rw\n    downinter 50d\n",
        "t.conf:2: 'downinter' expects a duration above zero like 500ms, 2s, 5m or 1h, got '50d'");
    parse_fail(
        "listen rw\n    timeout connect soon\n",
        "t.conf:2: 'timeout connect' expects a duration above zero like 500ms, 2s, 5m or 1h, got "
        "'soon'");
    parse_fail(
        "defaults timeout check 1.5s\n",
        "t.conf:1: 'timeout check' expects a duration above zero like 500ms, 2s, 5m or 1h, got "
        "'1.5s'");
}

static void test_err_bad_number(void **state)
{
    (void)state;

    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:1 rise 0\n",
               "t.conf:3: 'rise' expects a whole number from 1 to 1000, got '0'");
    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:1 fall 0\n",
               "t.conf:3: 'fall' expects a whole number from 1 to 1000, got '0'");
    parse_fail("defaults\n    rise two\n" MIN_LISTEN,
               "t.conf:2: 'rise' expects a whole number from 1 to 1000, got 'two'");
    parse_fail("defaults\n    fall 3x\n" MIN_LISTEN,
               "t.conf:2: 'fall' expects a whole number from 1 to 1000, got '3x'");
    parse_fail("listen rw\n    retries -1\n",
               "t.conf:2: 'retries' expects a whole number from 0 to 1000000, got '-1'");
    parse_fail("listen rw\n    retries 2147483648\n",
               "t.conf:2: 'retries' expects a whole number from 0 to 1000000, got '2147483648'");
}

static void test_err_outside_listen(void **state)
{
    (void)state;

    parse_fail("defaults\n    server a 127.0.0.1:1\n" MIN_LISTEN,
               "t.conf:2: 'server' is only allowed in a listen section");
    parse_fail("global\n    server a 127.0.0.1:1\n" MIN_LISTEN,
               "t.conf:2: 'server' is only allowed in a listen section");
    parse_fail("defaults\n    bind 127.0.0.1:1\n" MIN_LISTEN,
               "t.conf:2: 'bind' is only allowed in a listen section");
}

static void test_err_before_any_section(void **state)
{
    (void)state;

    parse_fail("# comment\n\nmaxconn 5\nglobal\n" MIN_LISTEN,
               "t.conf:3: 'maxconn' outside of any section (start with global, defaults or "
               "listen)");
    parse_fail("server a 127.0.0.1:1\n",
               "t.conf:1: 'server' outside of any section (start with global, defaults or "
               "listen)");
}

/* Section-level errors name the listen's line, wherever they are found. */
static void test_err_listen_without_bind(void **state)
{
    (void)state;

    /* found at the next section */
    parse_fail("# x\n\nlisten rw\n    server a 127.0.0.1:1\n\nlisten ro\n"
               "    bind 127.0.0.1:2\n    server b 127.0.0.1:3\n",
               "t.conf:3: listen 'rw' has no 'bind' address");
    /* found at the end of the file */
    parse_fail(MIN_LISTEN "listen ro\n    server b 127.0.0.1:3\n    retries 1\n",
               "t.conf:4: listen 'ro' has no 'bind' address");
}

static void test_err_listen_without_server(void **state)
{
    (void)state;

    parse_fail("listen rw\n    bind 127.0.0.1:1\n    retries 1\ndefaults\n" MIN_LISTEN,
               "t.conf:1: listen 'rw' has no server");
    parse_fail(MIN_LISTEN "\nlisten ro\n    bind 127.0.0.1:2\n\n",
               "t.conf:5: listen 'ro' has no server");
}

static void test_err_duplicates(void **state)
{
    (void)state;

    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:1\n"
               "    server b 127.0.0.1:2\n    server a 127.0.0.1:3\n",
               "t.conf:5: server 'a' already defined in listen 'rw' at line 3");
    parse_fail(MIN_LISTEN "listen x bind 127.0.0.1:9\n    server a 127.0.0.1:1\n"
                          "listen rw\n",
               "t.conf:6: listen 'rw' already defined at line 1");
}

static void test_err_mysql_check_without_user(void **state)
{
    (void)state;

    /* reported at the server's line, when the section ends */
    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:1 check tcp\n"
               "    server b 127.0.0.1:2 check\n    server c 127.0.0.1:3\n",
               "t.conf:4: server 'b' has a MySQL check but no check user (add 'check mysql "
               "user NAME [password PASS]' or use 'check tcp')");
    /* a check at listen level: the first server that gets it */
    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:1\n    check\n"
               "    server b 127.0.0.1:2\n",
               "t.conf:5: server 'b' has a MySQL check but no check user (add 'check mysql "
               "user NAME [password PASS]' or use 'check tcp')");
    /* found when the next section starts */
    parse_fail("defaults check\nlisten rw bind 127.0.0.1:1\n\n    server a 127.0.0.1:1\n"
               "global\n",
               "t.conf:4: server 'a' has a MySQL check but no check user (add 'check mysql "
               "user NAME [password PASS]' or use 'check tcp')");
}

/* expect gtid-covers backups: on the master; every MySQL-checked server of its listen then
 * reads its GTID position, and only those. */
static void test_gtid_guard(void **state)
{
    struct conf *c = parse_ok("defaults check mysql user u\n"
                              "listen rw\n    bind 127.0.0.1:1\n"
                              "    server m 127.0.0.1:1 check expect read-only off "
                              "expect gtid-covers backups\n"
                              "    server r1 127.0.0.1:2 check backup\n"
                              "    server r2 127.0.0.1:3 check tcp backup\n"
                              "listen ro\n    bind 127.0.0.1:4\n"
                              "    server r1 127.0.0.1:2 check\n");
    const struct conf_server *s = c->listens[0].servers;
    (void)state;

    assert_true(s[0].gtid_guard);
    assert_false(s[1].gtid_guard);
    assert_true(s[0].read_gtid);
    assert_true(s[1].read_gtid);
    assert_false(s[2].read_gtid); /* check tcp: no query to ask */
    assert_int_equal(s[0].expect_read_only, 0);
    assert_false(c->listens[1].servers[0].read_gtid); /* another listen: no guard there */
    conf_free(c);
}

static void test_err_gtid_guard(void **state)
{
    (void)state;

    parse_fail("listen rw\n    bind 127.0.0.1:1\n"
               "    server a 127.0.0.1:1 check mysql user u expect gtid-covers replicas\n",
               "t.conf:3: 'expect gtid-covers' expects 'backups', got 'replicas'");
    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:1 check mysql user u\n"
               "    server b 127.0.0.1:2 check mysql user u backup expect gtid-covers backups\n",
               "t.conf:4: server 'b': 'expect gtid-covers backups' is for an active server (the "
               "master), not a backup");
    parse_fail("listen rw\n    bind 127.0.0.1:1\n"
               "    server a 127.0.0.1:1 check tcp expect gtid-covers backups\n",
               "t.conf:3: server 'a': expectations need a MySQL check, not 'check tcp'");
    parse_fail("listen rw\n    bind 127.0.0.1:1\n"
               "    server a 127.0.0.1:1 expect gtid-covers backups\n",
               "t.conf:3: server 'a': 'expect gtid-covers backups' needs 'check'");
    parse_fail("listen rw\n    bind 127.0.0.1:1\n"
               "    server a 127.0.0.1:1 check mysql user u expect gtid\n",
               "t.conf:3: unknown expectation 'gtid' (expected read-only, max-lag, rows, value "
               "or gtid-covers)");
}

static void test_err_unterminated_quote(void **state)
{
    (void)state;

    parse_fail("listen rw\n    bind 127.0.0.1:1\n"
               "    server a 127.0.0.1:1 check mysql user u password \"secret\n",
               "t.conf:3: unterminated quoted string");
    parse_fail("listen rw\n    bind 127.0.0.1:1\n"
               "    server a 127.0.0.1:1 check mysql user u password 'sec\n",
               "t.conf:3: unterminated quoted string");
    /* an escaped closing quote does not close */
    parse_fail("listen rw\n    bind 127.0.0.1:1\n"
               "    server a 127.0.0.1:1 check mysql user u password \"sec\\\"\n",
               "t.conf:3: unterminated quoted string");
    /* the quote does not continue on the next line */
    parse_fail("listen rw\n    bind \"127.0.0.1:1\n\"\n", "t.conf:2: unterminated quoted string");
}

static void test_err_missing_argument(void **state)
{
    (void)state;

    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:1 inter\n",
               "t.conf:3: 'inter' expects a duration");
    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:1 rise\n",
               "t.conf:3: 'rise' expects a number");
    parse_fail("listen rw\n    bind\n", "t.conf:2: 'bind' expects an address like 127.0.0.1:3306");
    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server\n",
               "t.conf:3: 'server' expects a name and an address");
    parse_fail("listen rw\n    bind 127.0.0.1:1\n    server a\n",
               "t.conf:3: 'server' expects an address like 10.0.0.10:3306");
    parse_fail("listen\n", "t.conf:1: 'listen' expects a name");
    parse_fail(
        "listen rw\n    timeout\n",
        "t.conf:2: 'timeout' expects connect, client, server, check, greeting, handshake or queue");
    parse_fail("listen rw\n    timeout client\n", "t.conf:2: 'timeout client' expects a duration");
    parse_fail("listen rw\n    option\n", "t.conf:2: 'option' expects an option name");
    parse_fail("listen rw\n    retries\n", "t.conf:2: 'retries' expects a number");
    parse_fail("defaults check mysql\n", "t.conf:1: 'check mysql' expects user");
    parse_fail("defaults check mysql user\n", "t.conf:1: 'check mysql user' expects a name");
    parse_fail("defaults check mysql user u password\n", "t.conf:1: 'password' expects a password");
    parse_fail("defaults on-marked-up\n",
               "t.conf:1: 'on-marked-up' expects shutdown-backup-sessions");
    parse_fail("defaults on-marked-down\n", "t.conf:1: 'on-marked-down' expects shutdown-sessions");
}

static void test_err_wrong_word(void **state)
{
    (void)state;

    parse_fail("defaults check mysql login u\n", "t.conf:1: 'check mysql' expects 'user', got "
                                                 "'login'");
    parse_fail("defaults on-marked-up shutdown-sessions\n",
               "t.conf:1: 'on-marked-up' expects 'shutdown-backup-sessions', got "
               "'shutdown-sessions'");
    parse_fail("defaults on-marked-down shutdown-backup-sessions\n",
               "t.conf:1: 'on-marked-down' expects 'shutdown-sessions', got "
               "'shutdown-backup-sessions'");
}

static void test_err_no_listen(void **state)
{
    (void)state;

    parse_fail("global\n    maxconn 5\ndefaults\n    inter 1s\n",
               "t.conf:4: no listen section: nothing to route");
    parse_fail("global\n", "t.conf:1: no listen section: nothing to route");
    parse_fail("# only a comment\n\n\n", "t.conf:3: no listen section: nothing to route");
}

static void test_err_unknown_timeout_and_option(void **state)
{
    (void)state;

    parse_fail("listen rw\n    bind 127.0.0.1:1\n    timeout idle 5s\n",
               "t.conf:3: unknown timeout 'idle' (expected connect, client, server, check, "
               "greeting, handshake or queue)");
    parse_fail("defaults\n    timeout tunnel 5s\n",
               "t.conf:2: unknown timeout 'tunnel' (expected connect, client, server, check, "
               "greeting, handshake or queue)");
    parse_fail("listen rw\n    bind 127.0.0.1:1\n    option httpchk\n",
               "t.conf:3: unknown option 'httpchk'");
}

static void test_err_names(void **state)
{
    (void)state;

    parse_fail("listen a/b\n", "t.conf:1: listen name 'a/b' is empty, too long or contains '/'");
    parse_fail("listen rw bind 127.0.0.1:1\n    server a/b 127.0.0.1:1\n",
               "t.conf:2: server name 'a/b' is empty, too long or contains '/'");
    parse_fail("listen rw bind 127.0.0.1:1\n"
               "    server s123456789012345678901234567890123456789012345678901234567890123 "
               "127.0.0.1:1\n",
               "t.conf:2: server name "
               "'s123456789012345678901234567890123456789012345678901234567890123' is empty, too "
               "long or contains '/'");
    parse_fail("listen \"\"\n", "t.conf:1: listen name '' is empty, too long or contains '/'");
}

/* 64 servers fit in a listen (the tried-set is a 64-bit mask); the 65th does not. */
static void test_err_too_many_servers(void **state)
{
    char *text = malloc(65 * 40 + 64);
    size_t n = 0;
    struct conf *c;
    (void)state;

    assert_non_null(text);
    n += (size_t)sprintf(text + n, "listen rw\n    bind 127.0.0.1:1\n");
    for (int i = 0; i < 64; i++)
        n += (size_t)sprintf(text + n, "    server s%d 127.0.0.1:%d\n", i, 1000 + i);
    c = parse_ok(text);
    assert_int_equal(c->listens[0].nservers, 64);
    assert_string_equal(c->listens[0].servers[63].name, "s63");
    conf_free(c);
    sprintf(text + n, "    server s64 127.0.0.1:2000\n");
    parse_fail(text, "t.conf:67: too many servers in listen 'rw' (at most 64)");
    free(text);
}

/* Lines up to 4095 bytes are read; a longer one is an error, not a silent cut. */
static void test_err_line_too_long(void **state)
{
    char *text = malloc(8192);
    size_t n;
    struct conf *c;
    (void)state;

    assert_non_null(text);
    n = (size_t)sprintf(text, "listen rw bind 127.0.0.1:1 #");
    memset(text + n, 'x', 4095 - n);
    strcpy(text + 4095, "\nserver a 127.0.0.1:1\n");
    c = parse_ok(text);
    conf_free(c);
    n = (size_t)sprintf(text, "global\nlisten rw bind 127.0.0.1:1 #");
    memset(text + n, 'x', 7 + 4096 - n);
    strcpy(text + 7 + 4096, "\nserver a 127.0.0.1:1\n");
    parse_fail(text, "t.conf:2: line too long (at most 4095 bytes)");
    free(text);
}

/* --- conf_load --- */

static void test_load_missing_file(void **state)
{
    char err[512] = "";
    (void)state;

    assert_null(conf_load("/nonexistent/dir/rebound.conf", err, sizeof(err)));
    assert_string_equal(err, "/nonexistent/dir/rebound.conf: cannot open: No such file or "
                             "directory");
}

/* Write TEXT (LEN bytes) to a new temp file; returns its path in PATH. */
static void write_temp(char *path, size_t pathlen, const char *text, size_t len)
{
    int fd;

    snprintf(path, pathlen, "/tmp/rebound-test-conf-XXXXXX");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

static void test_load_file(void **state)
{
    static const char text[] = "global\n    maxconn 42\n"
                               "listen rw\n    bind 127.0.0.1:3306\n"
                               "    server m 127.0.0.1:3310 check tcp rise 1\n";
    char path[64], err[512] = "";
    struct conf *c;
    (void)state;

    write_temp(path, sizeof(path), text, strlen(text));
    c = conf_load(path, err, sizeof(err));
    unlink(path);
    assert_non_null(c);
    assert_string_equal(c->file, path);
    assert_int_equal(c->maxconn, 42);
    assert_int_equal(c->nlistens, 1);
    assert_string_equal(c->listens[0].servers[0].name, "m");
    assert_int_equal(c->listens[0].servers[0].rise, 1);
    assert_int_equal(c->listens[0].servers[0].method, CHECK_METHOD_TCP);
    conf_free(c);
}

/* Errors in a file carry the file's own path. */
static void test_load_file_error(void **state)
{
    static const char text[] = "listen rw\n    bind 127.0.0.1:3306\n    rise 0\n";
    char path[64], err[512] = "", want_err[600];
    (void)state;

    write_temp(path, sizeof(path), text, strlen(text));
    assert_null(conf_load(path, err, sizeof(err)));
    unlink(path);
    snprintf(want_err, sizeof(want_err),
             "%s:3: 'rise' expects a whole number from 1 to 1000, got '0'", path);
    assert_string_equal(err, want_err);
}

static void test_load_file_with_nul(void **state)
{
    static const char text[] = "listen rw\n\0 bind 127.0.0.1:3306\n";
    char path[64], err[512] = "", want_err[600];
    (void)state;

    write_temp(path, sizeof(path), text, sizeof(text) - 1);
    assert_null(conf_load(path, err, sizeof(err)));
    unlink(path);
    snprintf(want_err, sizeof(want_err), "%s: contains a NUL byte", path);
    assert_string_equal(err, want_err);
}

/* --- limits --- */

/* Parse TEXT as t.conf; it must fail, on line LINE (the exact message is not settled). */
static void parse_fail_on_line(const char *text, int line)
{
    char err[512] = "", prefix[32];
    struct conf *c = conf_parse(text, "t.conf", err, sizeof(err));

    if (c)
        conf_free(c);
    assert_null(c);
    snprintf(prefix, sizeof(prefix), "t.conf:%d: ", line);
    assert_memory_equal(err, prefix, strlen(prefix));
}

/* Zero durations would break the router: `inter 0` runs checks back to back,
 * `timeout check 0` times every check out, `timeout connect 0` fails every connect. */
static void test_zero_durations_rejected(void **state)
{
    (void)state;

    parse_fail_on_line("listen rw\n    bind 127.0.0.1:1\n    server a 127.0.0.1:1 inter 0\n", 3);
    parse_fail_on_line("listen rw\n    bind 127.0.0.1:1\n    timeout check 0\n", 3);
    parse_fail_on_line("listen rw\n    bind 127.0.0.1:1\n    timeout connect 0ms\n", 3);
}

/* rise + fall - 1 is computed in int: both are bounded well below overflow. */
static void test_huge_rise_fall_rejected(void **state)
{
    (void)state;

    parse_fail_on_line("listen rw\n    bind 127.0.0.1:1\n"
                       "    server a 127.0.0.1:1 rise 2147483647 fall 2\n",
                       3);
}

/* --- TLS: the grammar --- */

/* One listen with bind line BIND (line 2) and server line SERVER (line 3). */
static struct conf *parse_tls(const char *bind, const char *server)
{
    char text[1024];

    snprintf(text, sizeof(text), "listen rw\n    bind 127.0.0.1:3306 %s\n    server a %s\n", bind,
             server);
    return parse_ok(text);
}

static void parse_tls_fail(const char *bind, const char *server, const char *want_err)
{
    char text[1024];

    snprintf(text, sizeof(text), "listen rw\n    bind 127.0.0.1:3306 %s\n    server a %s\n", bind,
             server);
    parse_fail(text, want_err);
}

static void test_tls_bind_modes(void **state)
{
    struct conf *c;
    const struct conf_listen *l;
    (void)state;

    /* No ssl: passthrough, as before; its servers talk plain. */
    c = parse_tls("", "127.0.0.1:3310");
    l = &c->listens[0];
    assert_int_equal(l->tls_mode, TLS_PASSTHROUGH);
    assert_int_equal(l->ssl_line, 0);
    assert_int_equal(l->ssl_min_ver, TLS1_2_VERSION);
    assert_string_equal(l->ssl_crt, "");
    assert_null(l->ssl_ctx);
    assert_int_equal(l->servers[0].ssl, SERVER_TLS_NEVER);
    conf_free(c);

    /* A certificate without a mode: preferred; its servers follow the client. */
    c = parse_tls("ssl crt /etc/r.pem", "127.0.0.1:3310");
    l = &c->listens[0];
    assert_int_equal(l->tls_mode, TLS_PREFERRED);
    assert_int_equal(l->ssl_line, 2);
    assert_string_equal(l->ssl_crt, "/etc/r.pem");
    assert_string_equal(l->ssl_key, "");
    assert_int_equal(l->ssl_min_ver, TLS1_2_VERSION);
    assert_string_equal(l->ciphers, "");
    assert_string_equal(l->ciphersuites, "");
    assert_null(l->ssl_ctx); /* conf_parse reads no files: contexts are conf_load's */
    assert_int_equal(l->servers[0].ssl, SERVER_TLS_AS_CLIENT);
    assert_null(l->servers[0].ssl_ctx);
    conf_free(c);

    c = parse_tls("ssl crt /etc/r.pem preferred", "127.0.0.1:3310");
    assert_int_equal(c->listens[0].tls_mode, TLS_PREFERRED);
    conf_free(c);

    /* Options in any order after ssl. */
    c = parse_tls("ssl required ciphersuites TLS_AES_256_GCM_SHA384 key /etc/r.key "
                  "ssl-min-ver TLSv1.3 ciphers ECDHE+AESGCM crt /etc/r.crt",
                  "127.0.0.1:3310");
    l = &c->listens[0];
    assert_int_equal(l->tls_mode, TLS_REQUIRED);
    assert_string_equal(l->ssl_crt, "/etc/r.crt");
    assert_string_equal(l->ssl_key, "/etc/r.key");
    assert_int_equal(l->ssl_min_ver, TLS1_3_VERSION);
    assert_string_equal(l->ciphers, "ECDHE+AESGCM");
    assert_string_equal(l->ciphersuites, "TLS_AES_256_GCM_SHA384");
    conf_free(c);

    c = parse_tls("ssl crt /etc/r.pem ssl-min-ver TLSv1.2", "127.0.0.1:3310");
    assert_int_equal(c->listens[0].ssl_min_ver, TLS1_2_VERSION);
    conf_free(c);

    /* Keywords after the bind options on the same line are listen keywords again. */
    c = parse_tls("ssl crt /etc/r.pem required retries 5", "127.0.0.1:3310");
    assert_int_equal(c->listens[0].tls_mode, TLS_REQUIRED);
    assert_int_equal(c->listens[0].retries, 5);
    conf_free(c);
}

static void test_tls_server_ssl(void **state)
{
    struct conf *c;
    const struct conf_listen *l;
    (void)state;

    c = parse_tls("", "127.0.0.1:3310 ssl check tcp");
    l = &c->listens[0];
    assert_int_equal(l->servers[0].ssl, SERVER_TLS_ALWAYS);
    assert_true(l->servers[0].check);
    assert_int_equal(l->servers[0].method, CHECK_METHOD_TCP);
    conf_free(c);

    c = parse_tls("", "127.0.0.1:3310 ssl always verify required ca-file /etc/ca.pem "
                      "crt /etc/client.pem");
    l = &c->listens[0];
    assert_int_equal(l->servers[0].ssl, SERVER_TLS_ALWAYS);
    assert_true(l->servers[0].check_verify);
    assert_string_equal(l->servers[0].ca_file, "/etc/ca.pem");
    assert_string_equal(l->servers[0].ssl_crt, "/etc/client.pem");
    conf_free(c);

    c = parse_tls("", "127.0.0.1:3310 ssl never");
    assert_int_equal(c->listens[0].servers[0].ssl, SERVER_TLS_NEVER);
    conf_free(c);

    c = parse_tls("ssl crt /etc/r.pem", "127.0.0.1:3310 ssl as-client crt /etc/client.pem");
    assert_int_equal(c->listens[0].servers[0].ssl, SERVER_TLS_AS_CLIENT);
    assert_string_equal(c->listens[0].servers[0].ssl_crt, "/etc/client.pem");
    conf_free(c);

    c = parse_tls("ssl crt /etc/r.pem required", "127.0.0.1:3310 no-ssl");
    assert_int_equal(c->listens[0].servers[0].ssl, SERVER_TLS_NEVER);
    conf_free(c);

    c = parse_tls("ssl crt /etc/r.pem", "127.0.0.1:3310 ssl");
    assert_int_equal(c->listens[0].servers[0].ssl, SERVER_TLS_ALWAYS);
    assert_false(c->listens[0].servers[0].no_ssl_reuse);
    conf_free(c);

    c = parse_tls("ssl crt /etc/r.pem", "127.0.0.1:3310 ssl always no-ssl-reuse");
    assert_int_equal(c->listens[0].servers[0].ssl, SERVER_TLS_ALWAYS);
    assert_true(c->listens[0].servers[0].no_ssl_reuse);
    conf_free(c);
}

/* ssl, no-ssl and crt stand in defaults and listen sections like other server options. */
static void test_tls_server_defaults(void **state)
{
    struct conf *c;
    const struct conf_listen *l;
    (void)state;

    c = parse_ok("defaults\n"
                 "    ssl crt /etc/client.pem verify required\n"
                 "listen rw\n"
                 "    bind 127.0.0.1:3306\n"
                 "    server a 127.0.0.1:3310\n"
                 "    no-ssl\n"
                 "    server b 127.0.0.1:3311 crt ''\n"
                 "listen ro\n"
                 "    bind 127.0.0.1:3307 ssl crt /etc/r.pem\n"
                 "    ssl as-client\n"
                 "    server c 127.0.0.1:3312\n");
    l = &c->listens[0];
    assert_int_equal(l->servers[0].ssl, SERVER_TLS_ALWAYS);
    assert_string_equal(l->servers[0].ssl_crt, "/etc/client.pem");
    assert_true(l->servers[0].check_verify);
    assert_int_equal(l->servers[1].ssl, SERVER_TLS_NEVER);
    assert_string_equal(l->servers[1].ssl_crt, "");
    /* The template is not resolved: each server is. */
    assert_int_equal(l->defsrv.ssl, SERVER_TLS_NEVER);
    l = &c->listens[1];
    assert_int_equal(l->servers[0].ssl, SERVER_TLS_AS_CLIENT);
    assert_string_equal(l->servers[0].ssl_crt, "/etc/client.pem");
    conf_free(c);

    /* No ssl anywhere: resolved per listen from its bind line. */
    c = parse_ok("listen rw\n"
                 "    bind 127.0.0.1:3306\n"
                 "    server a 127.0.0.1:3310\n"
                 "listen tls\n"
                 "    bind 127.0.0.1:3307 ssl crt /etc/r.pem required\n"
                 "    server a 127.0.0.1:3310\n");
    assert_int_equal(c->listens[0].servers[0].ssl, SERVER_TLS_NEVER);
    assert_int_equal(c->listens[0].defsrv.ssl, SERVER_TLS_DEFAULT);
    assert_int_equal(c->listens[1].servers[0].ssl, SERVER_TLS_AS_CLIENT);
    conf_free(c);
}

static void test_tls_errors(void **state)
{
    (void)state;

    parse_tls_fail("ssl", "127.0.0.1:3310",
                   "t.conf:2: 'ssl' on a bind line needs 'crt FILE' (the certificate to present)");
    parse_tls_fail("ssl required", "127.0.0.1:3310",
                   "t.conf:2: 'ssl' on a bind line needs 'crt FILE' (the certificate to present)");
    parse_tls_fail("ssl crt /etc/r.pem passthrough", "127.0.0.1:3310",
                   "t.conf:2: bind: 'passthrough' relays the client's TLS untouched and would "
                   "never use the certificate; drop 'ssl crt FILE' or choose preferred or "
                   "required");
    parse_tls_fail("ssl crt /etc/r.pem preferred required", "127.0.0.1:3310",
                   "t.conf:2: bind: 'preferred' and 'required': give one mode only");
    parse_tls_fail("crt /etc/r.pem", "127.0.0.1:3310",
                   "t.conf:2: 'crt' on a bind line needs 'ssl' before it "
                   "(bind ADDR ssl crt FILE)");
    parse_tls_fail("key /etc/r.key", "127.0.0.1:3310",
                   "t.conf:2: 'key' on a bind line needs 'ssl' before it "
                   "(bind ADDR ssl crt FILE)");
    parse_tls_fail("required", "127.0.0.1:3310",
                   "t.conf:2: 'required' on a bind line needs 'ssl' before it "
                   "(bind ADDR ssl crt FILE)");
    parse_tls_fail("passthrough", "127.0.0.1:3310",
                   "t.conf:2: 'passthrough' on a bind line needs 'ssl' before it "
                   "(bind ADDR ssl crt FILE)");
    parse_tls_fail("ssl-min-ver TLSv1.3", "127.0.0.1:3310",
                   "t.conf:2: 'ssl-min-ver' on a bind line needs 'ssl' before it "
                   "(bind ADDR ssl crt FILE)");
    parse_tls_fail("ciphers HIGH", "127.0.0.1:3310",
                   "t.conf:2: 'ciphers' on a bind line needs 'ssl' before it "
                   "(bind ADDR ssl crt FILE)");
    parse_tls_fail("ciphersuites TLS_AES_128_GCM_SHA256", "127.0.0.1:3310",
                   "t.conf:2: 'ciphersuites' on a bind line needs 'ssl' before it "
                   "(bind ADDR ssl crt FILE)");
    parse_tls_fail("ssl crt /etc/r.pem ssl-min-ver TLSv1.1", "127.0.0.1:3310",
                   "t.conf:2: 'ssl-min-ver' expects TLSv1.2 or TLSv1.3, got 'TLSv1.1'");
    parse_tls_fail("ssl crt", "127.0.0.1:3310", "t.conf:2: 'crt' expects a value");
    parse_tls_fail("", "127.0.0.1:3310 ssl as-client",
                   "t.conf:3: 'ssl as-client' needs a listener that terminates TLS "
                   "(bind ... ssl crt FILE)");
    parse_tls_fail("", "127.0.0.1:3310 crt /etc/client.pem",
                   "t.conf:3: server 'a': 'crt /etc/client.pem' is a client certificate for TLS "
                   "to the server, but this server gets no TLS (add 'ssl', or terminate TLS on "
                   "the bind line)");
    parse_tls_fail("ssl crt /etc/r.pem", "127.0.0.1:3310 no-ssl crt /etc/client.pem",
                   "t.conf:3: server 'a': 'crt /etc/client.pem' is a client certificate for TLS "
                   "to the server, but this server gets no TLS (add 'ssl', or terminate TLS on "
                   "the bind line)");
    /* An as-client default reaches a server behind a passthrough listener: the server's line. */
    parse_fail("defaults\n    ssl as-client\nlisten rw\n    bind 127.0.0.1:3306\n"
               "    server a 127.0.0.1:3310\n",
               "t.conf:5: 'ssl as-client' needs a listener that terminates TLS "
               "(bind ... ssl crt FILE)");
}

/* --- TLS: contexts built by conf_load from real files --- */

/* A temp dir with a certificate (crt.pem), its key (key.pem, 0600), both in one file
 * (both.pem, 0600), and the same with other modes (group.pem 0640, open.pem 0644). */
static char tls_dir[64];

static int tls_files_setup(void **state)
{
    char cmd[1024];
    (void)state;

    snprintf(tls_dir, sizeof(tls_dir), "/tmp/rebound-test-tls-XXXXXX");
    if (!mkdtemp(tls_dir))
        return -1;
    snprintf(cmd, sizeof(cmd),
             "cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out crt.pem "
             "-days 2 -subj /CN=127.0.0.1 2>/dev/null && cat crt.pem key.pem > both.pem && "
             "cp both.pem group.pem && cp both.pem open.pem && chmod 600 key.pem both.pem && "
             "chmod 640 group.pem && chmod 644 open.pem",
             tls_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int tls_files_teardown(void **state)
{
    char cmd[128];
    (void)state;

    if (!tls_dir[0])
        return 0;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tls_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Load TEXT from a temp file (its printf-format %1$s is the TLS dir); NULL with err on error. */
static struct conf *load_tls(const char *fmt, char *path, size_t pathlen, char *err, size_t errlen)
{
    char text[2048];
    struct conf *c;
    int n = snprintf(text, sizeof(text), fmt, tls_dir, tls_dir, tls_dir);

    assert_true(n > 0 && (size_t)n < sizeof(text));
    write_temp(path, pathlen, text, (size_t)n);
    c = conf_load(path, err, errlen);
    unlink(path);
    return c;
}

static void test_tls_load_contexts(void **state)
{
    char path[64], err[1024] = "";
    struct conf *c;
    const struct conf_listen *l;
    SSL_CTX *ctx;
    (void)state;

    c = load_tls("listen tls\n"
                 "    bind 127.0.0.1:3306 ssl crt %s/crt.pem key %s/key.pem required "
                 "ssl-min-ver TLSv1.3 ciphers ECDHE+AESGCM ciphersuites TLS_AES_128_GCM_SHA256\n"
                 "    server a 127.0.0.1:3310\n"
                 "    server b 127.0.0.1:3311 ssl crt %s/group.pem verify required\n"
                 "    server c 127.0.0.1:3312 no-ssl\n",
                 path, sizeof(path), err, sizeof(err));
    if (!c)
        print_error("unexpected error: %s\n", err);
    assert_non_null(c);
    l = &c->listens[0];
    ctx = l->ssl_ctx;
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
    assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
    assert_int_equal(SSL_CTX_get_mode(ctx) &
                         (SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                          SSL_MODE_RELEASE_BUFFERS),
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                         SSL_MODE_RELEASE_BUFFERS);
    assert_true(SSL_CTX_get_session_cache_mode(ctx) & SSL_SESS_CACHE_SERVER);
    assert_non_null(SSL_CTX_get0_certificate(ctx));
    /* as-client (resolved) and always get a client context, never gets none. */
    assert_int_equal(l->servers[0].ssl, SERVER_TLS_AS_CLIENT);
    assert_non_null(l->servers[0].ssl_ctx);
    assert_int_equal(SSL_CTX_get_verify_mode(l->servers[0].ssl_ctx), SSL_VERIFY_NONE);
    assert_null(SSL_CTX_get0_certificate(l->servers[0].ssl_ctx));
    ctx = l->servers[1].ssl_ctx;
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
    assert_non_null(SSL_CTX_get0_certificate(ctx)); /* the client certificate */
    assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
    assert_true(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION);
    assert_true(SSL_CTX_get_mode(ctx) & SSL_MODE_RELEASE_BUFFERS);
    assert_null(l->servers[2].ssl_ctx);
    conf_free(c);

    /* Passthrough: no context; a key readable by its group is fine. */
    c = load_tls("listen a\n    bind 127.0.0.1:3306\n    server a 127.0.0.1:3310\n"
                 "listen b\n    bind 127.0.0.1:3307 ssl crt %s/group.pem\n"
                 "    server a 127.0.0.1:3310\n",
                 path, sizeof(path), err, sizeof(err));
    if (!c)
        print_error("unexpected error: %s\n", err);
    assert_non_null(c);
    assert_null(c->listens[0].ssl_ctx);
    assert_null(c->listens[0].servers[0].ssl_ctx);
    assert_non_null(c->listens[1].ssl_ctx);
    assert_int_equal(SSL_CTX_get_min_proto_version(c->listens[1].ssl_ctx), TLS1_2_VERSION);
    conf_free(c);
}

/* Load FMT (see load_tls); it must fail with an error that starts "PATH:" + WANT, where
 * WANT's %1$s is the TLS dir. */
static void load_tls_fail(const char *fmt, const char *want_fmt)
{
    char path[64], err[1024] = "", want[1024], full[1200];
    struct conf *c = load_tls(fmt, path, sizeof(path), err, sizeof(err));

    if (c)
        conf_free(c);
    assert_null(c);
    snprintf(want, sizeof(want), want_fmt, tls_dir, tls_dir, tls_dir);
    snprintf(full, sizeof(full), "%s:%s", path, want);
    if (strncmp(err, full, strlen(full)))
        print_error("got  %s\nwant %s...\n", err, full);
    assert_memory_equal(err, full, strlen(full));
}

static void test_tls_load_errors(void **state)
{
    (void)state;

    load_tls_fail("listen a\n    bind 127.0.0.1:3306 ssl crt %s/missing.pem\n"
                  "    server a 127.0.0.1:3310\n",
                  "2: cannot load certificate %s/missing.pem: ");
    load_tls_fail("listen a\n    bind 127.0.0.1:3306 ssl crt %s/crt.pem key %s/missing.pem\n"
                  "    server a 127.0.0.1:3310\n",
                  "2: cannot load key %s/missing.pem: ");
    /* A certificate without its key in the file. */
    load_tls_fail("listen a\n    bind 127.0.0.1:3306 ssl crt %s/key.pem\n"
                  "    server a 127.0.0.1:3310\n",
                  "2: cannot load certificate %s/key.pem: ");
    load_tls_fail("listen a\n    bind 127.0.0.1:3306 ssl crt %s/open.pem\n"
                  "    server a 127.0.0.1:3310\n",
                  "2: key file %s/open.pem is readable by others: chmod o-r %s/open.pem");
    load_tls_fail("listen a\n    bind 127.0.0.1:3306 ssl crt %s/crt.pem key %s/open.pem\n"
                  "    server a 127.0.0.1:3310\n",
                  "2: key file %s/open.pem is readable by others: chmod o-r %s/open.pem");
    load_tls_fail("listen a\n    bind 127.0.0.1:3306 ssl crt %s/both.pem ciphers NO-SUCH-CIPHER\n"
                  "    server a 127.0.0.1:3310\n",
                  "2: bad cipher list 'NO-SUCH-CIPHER': ");
    load_tls_fail("listen a\n    bind 127.0.0.1:3306 ssl crt %s/both.pem ciphersuites NOPE\n"
                  "    server a 127.0.0.1:3310\n",
                  "2: bad TLS 1.3 cipher suite list 'NOPE': ");
    load_tls_fail("listen a\n    bind 127.0.0.1:3306\n"
                  "    server a 127.0.0.1:3310 ssl crt %s/missing.pem\n",
                  "3: cannot load certificate %s/missing.pem: ");
    load_tls_fail("listen a\n    bind 127.0.0.1:3306\n"
                  "    server a 127.0.0.1:3310 ssl crt %s/open.pem\n",
                  "3: key file %s/open.pem is readable by others: chmod o-r %s/open.pem");
    load_tls_fail("listen a\n    bind 127.0.0.1:3306\n"
                  "    server a 127.0.0.1:3310 ssl verify required ca-file %s/missing.pem\n",
                  "3: cannot load CA file %s/missing.pem: ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_values),
        cmocka_unit_test(test_global_keywords),
        cmocka_unit_test(test_global_threads),
        cmocka_unit_test(test_port_keyword_lines),
        cmocka_unit_test(test_global_on_header_line),
        cmocka_unit_test(test_global_errors),
        cmocka_unit_test(test_listen_keywords),
        cmocka_unit_test(test_retries_zero),
        cmocka_unit_test(test_several_keywords_one_line),
        cmocka_unit_test(test_server_options),
        cmocka_unit_test(test_quoted_password),
        cmocka_unit_test(test_no_check),
        cmocka_unit_test(test_inheritance),
        cmocka_unit_test(test_listen_server_options_apply_later),
        cmocka_unit_test(test_defaults_after_listen),
        cmocka_unit_test(test_comments_blanks_crlf),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_durations_bad),
        cmocka_unit_test(test_addr_ipv4),
        cmocka_unit_test(test_addr_ipv6),
        cmocka_unit_test(test_addr_wildcard),
        cmocka_unit_test(test_addr_errors),
        cmocka_unit_test(test_addr_errors_in_config),
        cmocka_unit_test(test_err_unknown_keyword),
        cmocka_unit_test(test_err_unknown_server_option),
        cmocka_unit_test(test_err_bad_duration),
        cmocka_unit_test(test_err_bad_number),
        cmocka_unit_test(test_err_outside_listen),
        cmocka_unit_test(test_err_before_any_section),
        cmocka_unit_test(test_err_listen_without_bind),
        cmocka_unit_test(test_err_listen_without_server),
        cmocka_unit_test(test_err_duplicates),
        cmocka_unit_test(test_err_mysql_check_without_user),
        cmocka_unit_test(test_gtid_guard),
        cmocka_unit_test(test_err_gtid_guard),
        cmocka_unit_test(test_err_unterminated_quote),
        cmocka_unit_test(test_err_missing_argument),
        cmocka_unit_test(test_err_wrong_word),
        cmocka_unit_test(test_err_no_listen),
        cmocka_unit_test(test_err_unknown_timeout_and_option),
        cmocka_unit_test(test_err_names),
        cmocka_unit_test(test_err_too_many_servers),
        cmocka_unit_test(test_err_line_too_long),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_load_file_error),
        cmocka_unit_test(test_load_file_with_nul),
        cmocka_unit_test(test_zero_durations_rejected),
        cmocka_unit_test(test_huge_rise_fall_rejected),
        cmocka_unit_test(test_tls_bind_modes),
        cmocka_unit_test(test_tls_server_ssl),
        cmocka_unit_test(test_tls_server_defaults),
        cmocka_unit_test(test_tls_errors),
        cmocka_unit_test_setup_teardown(test_tls_load_contexts, tls_files_setup,
                                        tls_files_teardown),
        cmocka_unit_test_setup_teardown(test_tls_load_errors, tls_files_setup, tls_files_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
