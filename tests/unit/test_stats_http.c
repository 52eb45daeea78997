/* test_stats_http.c - unit tests for the stats port's pure parts: the HTTP request-head
 * parser (valid requests, each error status, incomplete heads) and the escapers of the
 * three page formats (CSV per RFC 4180, HTML, Prometheus label values). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "conf.h"
#include "http_parse.h"
#include "sbuf.h"
#include "stats_pages.h"

/* Parse a NUL-terminated request. */
static int parse(const char *s, struct http_request *req)
{
    return http_parse_request(s, strlen(s), req);
}

static void test_get_http11(void **state)
{
    struct http_request req;
    const char *s = "GET /metrics?name=x HTTP/1.1\r\nHost: localhost:8404\r\n"
                    "User-Agent: Prometheus/2.42\r\nAccept: */*\r\n\r\ntrailing";
    (void)state;

    assert_int_equal(parse(s, &req), HTTP_PARSE_OK);
    assert_string_equal(req.method, "GET");
    assert_string_equal(req.target, "/metrics?name=x");
    assert_int_equal(req.path_len, strlen("/metrics"));
    assert_int_equal(req.minor, 1);
    assert_int_equal(req.head_len, strlen(s) - strlen("trailing"));
}

/* HTTP/1.0 needs no Host; other methods parse (the server answers 405 for them). */
static void test_http10_and_methods(void **state)
{
    struct http_request req;
    (void)state;

    assert_int_equal(parse("HEAD / HTTP/1.0\r\n\r\n", &req), HTTP_PARSE_OK);
    assert_string_equal(req.method, "HEAD");
    assert_int_equal(req.minor, 0);
    assert_int_equal(parse("POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n", &req),
                     HTTP_PARSE_OK);
    assert_string_equal(req.method, "POST");
    assert_int_equal(parse("get / HTTP/1.0\r\n\r\n", &req), HTTP_PARSE_OK);
    assert_string_equal(req.method, "get"); /* methods are case-sensitive: not GET */
}

/* A head cut anywhere before its end is "more", never an error. */
static void test_incomplete(void **state)
{
    const char *s = "GET /stats.csv HTTP/1.1\r\nHost: a\r\nX-Long: 1 2\t3\r\n\r\n";
    struct http_request req;
    (void)state;

    for (size_t n = 0; n < strlen(s); n++)
        assert_int_equal(http_parse_request(s, n, &req), HTTP_PARSE_MORE);
    assert_int_equal(http_parse_request(s, strlen(s), &req), HTTP_PARSE_OK);
}

static void test_malformed(void **state)
{
    static const char *const bad[] = {
        "GET  / HTTP/1.0\r\n\r\n",                      /* two spaces */
        "GET / HTTP/1.0 \r\n\r\n",                      /* trailing space */
        "GET /\r\n\r\n",                                /* HTTP/0.9 */
        "GET / HTTP/1.0\n\n",                           /* bare LF */
        "GET / HTTP/1.0\r\r\n\r\n",                     /* bare CR */
        "GET http://h/ HTTP/1.0\r\n\r\n",               /* absolute-form */
        "GET * HTTP/1.0\r\n\r\n",                       /* asterisk-form */
        "GET /a#b HTTP/1.0\r\n\r\n",                    /* fragment */
        "GET /a\x01 HTTP/1.0\r\n\r\n",                  /* control byte in target */
        "GET / HTTP/1.1\r\n\r\n",                       /* HTTP/1.1 without Host */
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", /* two Hosts */
        "GET / HTTP/1.0\r\nHost : a\r\n\r\n",           /* space before colon */
        "GET / HTTP/1.0\r\nX: a\r\n b\r\n\r\n",         /* obs-fold */
        "GET / HTTP/1.0\r\nNoColon\r\n\r\n",
        "GET / HTTP/1.0\r\nX: a\x7f\r\n\r\n",           /* DEL in a value */
        "GET / HTTP/1.0\r\nContent-Length: 1x\r\n\r\n", /* bad length */
        "GET / HTTP/1.0\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
        "GET / HTTP/x.1\r\n\r\n",
        "GET / HTTPS/1.1\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01", /* a TLS hello: rejected before any CRLF */
        "G\xc3\xa9T / HTTP/1.0\r\n",
    };
    struct http_request req;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i], &req);
        if (rc != 400)
            fail_msg("case %zu: got %d, want 400", i, rc);
    }
    assert_int_equal(http_parse_request("GET / HTTP/1.0\r\n\0\r\n", 20, &req), 400);
}

static void test_statuses(void **state)
{
    struct http_request req;
    char buf[HTTP_HEAD_MAX + 64];
    size_t n;
    (void)state;

    assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", &req), 505);
    assert_int_equal(parse("GET / HTTP/1.2\r\n\r\n", &req), 505);
    assert_int_equal(parse("GET / HTTP/1.0\r\nContent-Length: 12\r\n\r\n", &req), 501);
    assert_int_equal(parse("GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", &req), 501);
    assert_int_equal(parse("ABCDEFGHIJKLMNOPQ / HTTP/1.0\r\n\r\n", &req), 501);

    /* A target longer than HTTP_TARGET_MAX, complete: 414. */
    n = (size_t)snprintf(buf, sizeof(buf), "GET /");
    memset(buf + n, 'a', HTTP_TARGET_MAX);
    n += HTTP_TARGET_MAX;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, " HTTP/1.0\r\n\r\n");
    assert_int_equal(http_parse_request(buf, n, &req), 414);

    /* A request line that never ends within the head limit: 414. */
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', sizeof(buf) - 5);
    assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX, &req), 414);
    assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX - 1, &req), HTTP_PARSE_MORE);

    /* Headers that never end within the limit: 431. */
    n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.0\r\nX: ");
    memset(buf + n, 'v', sizeof(buf) - n);
    assert_int_equal(http_parse_request(buf, sizeof(buf), &req), 431);

    /* Too many header fields: 431. */
    n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.0\r\n");
    for (int i = 0; i <= HTTP_HEADERS_MAX; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X%d: y\r\n", i);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
    assert_int_equal(http_parse_request(buf, n, &req), 431);
}

/* A head exactly HTTP_HEAD_MAX bytes long is accepted; one more byte is not. */
static void test_head_limit(void **state)
{
    static char buf[HTTP_HEAD_MAX + 1];
    struct http_request req;
    size_t pre, post = 4;
    (void)state;

    pre = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.0\r\nX: ");
    memset(buf + pre, 'v', HTTP_HEAD_MAX - pre - post);
    memcpy(buf + HTTP_HEAD_MAX - post, "\r\n\r\n", post);
    assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX, &req), HTTP_PARSE_OK);
    assert_int_equal(req.head_len, HTTP_HEAD_MAX);
    memmove(buf + pre + 1, buf + pre, HTTP_HEAD_MAX - pre);
    assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX + 1, &req), 431);
}

static void test_reason(void **state)
{
    (void)state;
    assert_string_equal(http_reason(405), "Method Not Allowed");
    assert_string_equal(http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(http_reason(299), "Error");
}

/* Run ESC on S and compare with WANT. */
static void check_escape(void (*esc)(struct sbuf *, const char *), const char *s, const char *want)
{
    struct sbuf b = {0};

    esc(&b, s);
    assert_false(b.failed);
    assert_string_equal(b.data ? b.data : "", want);
    sbuf_free(&b);
}

static void test_escapers(void **state)
{
    (void)state;
    check_escape(stats_csv_field, "plain", "plain");
    check_escape(stats_csv_field, "a,b", "\"a,b\"");
    check_escape(stats_csv_field, "say \"hi\"", "\"say \"\"hi\"\"\"");
    check_escape(stats_csv_field, "two\r\nlines", "\"two\r\nlines\"");
    check_escape(stats_csv_field, "", "");
    check_escape(stats_html_text, "<b>&\"'", "&lt;b&gt;&amp;&quot;&#39;");
    check_escape(stats_prom_label, "a\\b\"c\nd", "a\\\\b\\\"c\\nd");
    /* UTF-8 is kept; invalid bytes and control characters become '?'. */
    check_escape(stats_prom_label, "caf\xc3\xa9", "caf\xc3\xa9");
    check_escape(stats_prom_label, "x\xff\xc3y\x01", "x??y?");
    check_escape(stats_html_text, "\xe0\x80\x80", "???"); /* overlong */
    check_escape(stats_csv_field, "\xed\xa0\x80", "???"); /* surrogate */
}

/* The `stats` keyword: off by default, an address when given, file:line errors. */
static void test_conf_stats(void **state)
{
    static const char tail[] = "listen rw\n    bind 127.0.0.1:3306\n"
                               "    server m 127.0.0.1:3310 check tcp\n";
    char text[512], err[256];
    struct conf *c;
    (void)state;

    snprintf(text, sizeof(text), "global\n    maxconn 10\n%s", tail);
    assert_non_null(c = conf_parse(text, "t.conf", err, sizeof(err)));
    assert_false(c->has_stats);
    conf_free(c);

    snprintf(text, sizeof(text), "global\n    stats 127.0.0.1:8404\n%s", tail);
    assert_non_null(c = conf_parse(text, "t.conf", err, sizeof(err)));
    assert_true(c->has_stats);
    assert_string_equal(c->stats.text, "127.0.0.1:8404");
    conf_free(c);

    snprintf(text, sizeof(text), "global\n    stats 127.0.0.1:99999\n%s", tail);
    assert_null(conf_parse(text, "t.conf", err, sizeof(err)));
    assert_non_null(strstr(err, "t.conf:2: stats: "));
    snprintf(text, sizeof(text), "global\n    stats\n%s", tail);
    assert_null(conf_parse(text, "t.conf", err, sizeof(err)));
    assert_non_null(strstr(err, "t.conf:2: 'stats' expects"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_http11), cmocka_unit_test(test_http10_and_methods),
        cmocka_unit_test(test_incomplete), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_statuses),   cmocka_unit_test(test_head_limit),
        cmocka_unit_test(test_reason),     cmocka_unit_test(test_escapers),
        cmocka_unit_test(test_conf_stats),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
