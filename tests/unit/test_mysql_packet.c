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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_packet_pre41),
        cmocka_unit_test(test_err_packet_sqlstate),
        cmocka_unit_test(test_err_packet_seq_and_errno),
        cmocka_unit_test(test_err_packet_too_small),
        cmocka_unit_test(test_err_packet_long_message),
        cmocka_unit_test(test_payload_len),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
