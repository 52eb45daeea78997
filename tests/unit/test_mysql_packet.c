/* test_mysql_packet.c - unit tests for the MySQL wire helpers: the ERR packet builder
 * (both the pre-4.1 form a server sends before the handshake and the 4.1 form with a
 * '#SQLSTATE' marker, byte for byte) and the 3-byte payload length of a header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mysql_packet.h"

/* Pre-4.1 form: header, 0xff, errno little-endian, message; no '#', no SQLSTATE. */
static void test_err_packet_pre41(void **state)
{
    static const uint8_t want[] = {
        0x0c, 0x00, 0x00, 0x00,                          /* payload 12, seq 0 */
        0xff, 0xd3, 0x07,                                /* ERR, 2003 */
        'n',  'o',  ' ',  's',  'e', 'r', 'v', 'e', 'r', /* message */
    };
    uint8_t buf[64];
    size_t n;
    (void)state;

    memset(buf, 0xaa, sizeof(buf));
    n = mysql_err_packet(buf, sizeof(buf), 0, 2003, NULL, "no server");
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    assert_int_equal(mysql_payload_len(buf), 12);
    assert_int_equal(buf[sizeof(want)], 0xaa); /* nothing written past the packet */
}

/* 4.1 form: '#' and the five SQLSTATE characters between errno and message. */
static void test_err_packet_sqlstate(void **state)
{
    static const uint8_t want[] = {
        0x10, 0x00, 0x00, 0x02,               /* payload 16, seq 2 */
        0xff, 0x15, 0x04,                     /* ERR, 1045 */
        '#',  'H',  'Y',  '0',  '0', '0',     /* SQLSTATE */
        'd',  'e',  'n',  'i',  'e', 'd', '!' /* message */
    };
    uint8_t buf[64];
    size_t n;
    (void)state;

    memset(buf, 0xaa, sizeof(buf));
    n = mysql_err_packet(buf, sizeof(buf), 2, 1045, "HY000", "denied!");
    assert_int_equal(n, sizeof(want));
    assert_memory_equal(buf, want, sizeof(want));
    assert_int_equal(mysql_payload_len(buf), 16);
    assert_int_equal(buf[sizeof(want)], 0xaa);
}

/* The sequence id goes into byte 3 as given; errno bytes are little-endian. */
static void test_err_packet_seq_and_errno(void **state)
{
    uint8_t buf[32];
    size_t n;
    (void)state;

    n = mysql_err_packet(buf, sizeof(buf), 255, 0xabcd, NULL, "");
    assert_int_equal(n, MYSQL_HEADER_LEN + 3);
    assert_int_equal(mysql_payload_len(buf), 3);
    assert_int_equal(buf[3], 255);
    assert_int_equal(buf[4], 0xff);
    assert_int_equal(buf[5], 0xcd);
    assert_int_equal(buf[6], 0xab);
}

/* A buffer one byte short gets nothing; exactly the right size is enough. */
static void test_err_packet_too_small(void **state)
{
    uint8_t buf[64];
    size_t need = MYSQL_HEADER_LEN + 1 + 2 + 6 + strlen("too long");
    (void)state;

    memset(buf, 0xaa, sizeof(buf));
    assert_int_equal(mysql_err_packet(buf, need - 1, 1, 1040, "08004", "too long"), 0);
    assert_int_equal(mysql_err_packet(buf, 0, 1, 1040, NULL, "x"), 0);
    assert_int_equal(mysql_err_packet(buf, MYSQL_HEADER_LEN + 3, 1, 1040, NULL, "x"), 0);
    assert_int_equal(mysql_err_packet(buf, need, 1, 1040, "08004", "too long"), need);
    assert_memory_equal(buf + 7, "#08004too long", 14);
}

/* A message long enough to need the second length byte. */
static void test_err_packet_long_message(void **state)
{
    static uint8_t buf[1024];
    char msg[600];
    size_t n;
    (void)state;

    memset(msg, 'm', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    n = mysql_err_packet(buf, sizeof(buf), 1, 2003, "HY000", msg);
    assert_int_equal(n, MYSQL_HEADER_LEN + 9 + 599);
    assert_int_equal(buf[0], (9 + 599) & 0xff);
    assert_int_equal(buf[1], (9 + 599) >> 8);
    assert_int_equal(buf[2], 0);
    assert_int_equal(mysql_payload_len(buf), 9 + 599);
    assert_int_equal(buf[n - 1], 'm');
}

static void test_payload_len(void **state)
{
    static const uint8_t zero[] = {0x00, 0x00, 0x00, 0x07};
    static const uint8_t one[] = {0x01, 0x00, 0x00, 0xff};
    static const uint8_t mixed[] = {0x56, 0x34, 0x12, 0x00};
    static const uint8_t max[] = {0xff, 0xff, 0xff, 0x00};
    static const uint8_t hi[] = {0x00, 0x00, 0x80, 0x01};
    (void)state;

    assert_int_equal(mysql_payload_len(zero), 0);
    assert_int_equal(mysql_payload_len(one), 1); /* the sequence id is not part of it */
    assert_int_equal(mysql_payload_len(mixed), 0x123456);
    assert_int_equal(mysql_payload_len(max), MYSQL_MAX_PAYLOAD);
    assert_int_equal(mysql_payload_len(hi), 0x800000);
}

/* A protocol-10 greeting as MariaDB sends it (version, thread id, scramble, capabilities...). */
static size_t greeting(uint8_t *buf, uint8_t proto)
{
    static const char version[] = "10.11.6-MariaDB-log";
    size_t n = 4;

    buf[n++] = proto;
    memcpy(buf + n, version, sizeof(version)); /* NUL included */
    n += sizeof(version);
    memset(buf + n, 0x41, 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 13); /* the rest, any bytes */
    n += 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 13;
    buf[0] = (uint8_t)(n - 4);
    buf[1] = buf[2] = buf[3] = 0;
    return n;
}

static void test_greeting_parse(void **state)
{
    uint8_t buf[256], err_pkt[64];
    const char *why = NULL;
    uint16_t err = 0;
    size_t n = greeting(buf, 0x0a), e;
    (void)state;

    assert_int_equal(mysql_greeting_parse(buf, n, &err, &why), MYSQL_GREETING_OK);
    /* Every cut short of the whole packet waits for more. */
    for (size_t cut = 0; cut < n; cut++)
        assert_int_equal(mysql_greeting_parse(buf, cut, &err, &why), MYSQL_GREETING_PARTIAL);
    /* A byte after it: not a server that waits for the client. */
    buf[n] = 0;
    assert_int_equal(mysql_greeting_parse(buf, n + 1, &err, &why), MYSQL_GREETING_BAD);
    assert_string_equal(why, "bytes after the greeting");
    /* Another protocol version is known at its first byte. */
    n = greeting(buf, 9);
    assert_int_equal(mysql_greeting_parse(buf, 5, &err, &why), MYSQL_GREETING_BAD);
    assert_string_equal(why, "unsupported protocol version");
    /* An ERR packet in place of a greeting. */
    e = mysql_err_packet(err_pkt, sizeof(err_pkt), 0, 1040, NULL, "Too many connections");
    assert_int_equal(mysql_greeting_parse(err_pkt, e, &err, &why), MYSQL_GREETING_ERR);
    assert_int_equal(err, 1040);
    assert_int_equal(mysql_greeting_parse(err_pkt, e - 1, &err, &why), MYSQL_GREETING_PARTIAL);
}

static void test_greeting_garbage(void **state)
{
    static const char http[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0x00, 0x0a};
    static const uint8_t seq1[] = {0x05, 0x00, 0x00, 0x01, 0x0a, 'x', 0, 0, 0};
    static const uint8_t short10[] = {0x04, 0x00, 0x00, 0x00, 0x0a, '5', '.', 0};
    const char *why = NULL;
    uint16_t err = 0;
    (void)state;

    assert_int_equal(mysql_greeting_parse((const uint8_t *)http, sizeof(http) - 1, &err, &why),
                     MYSQL_GREETING_BAD);
    assert_int_equal(mysql_greeting_parse(huge, sizeof(huge), &err, &why), MYSQL_GREETING_BAD);
    assert_int_equal(mysql_greeting_parse(seq1, sizeof(seq1), &err, &why), MYSQL_GREETING_BAD);
    assert_int_equal(mysql_greeting_parse(short10, sizeof(short10), &err, &why),
                     MYSQL_GREETING_BAD);
    assert_string_equal(why, "truncated greeting");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_packet_pre41),
        cmocka_unit_test(test_err_packet_sqlstate),
        cmocka_unit_test(test_err_packet_seq_and_errno),
        cmocka_unit_test(test_err_packet_too_small),
        cmocka_unit_test(test_err_packet_long_message),
        cmocka_unit_test(test_payload_len),
        cmocka_unit_test(test_greeting_parse),
        cmocka_unit_test(test_greeting_garbage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
