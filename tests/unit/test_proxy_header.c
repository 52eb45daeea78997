/* test_proxy_header.c - the PROXY protocol header rebound sends with send-proxy(-v2): the
 * exact bytes for IPv4, IPv6 and an unknown origin, in both versions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy_header.h"
#include "unit_addr.h"

static void test_v1(void **state)
{
    struct sockaddr_in c = v4("192.168.0.1", 56324), r = v4("192.168.0.11", 3306);
    struct sockaddr_in6 c6 = v6("2001:db8::1", 40000), r6 = v6("2001:db8::2", 3306);
    struct sockaddr un = {.sa_family = AF_UNIX};
    uint8_t buf[PROXY_HEADER_MAX + 1];
    size_t n;
    (void)state;

    n = proxy_header(buf, 1, (struct sockaddr *)&c, (struct sockaddr *)&r);
    buf[n] = 0;
    assert_string_equal((char *)buf, "PROXY TCP4 192.168.0.1 192.168.0.11 56324 3306\r\n");
    n = proxy_header(buf, 1, (struct sockaddr *)&c6, (struct sockaddr *)&r6);
    buf[n] = 0;
    assert_string_equal((char *)buf, "PROXY TCP6 2001:db8::1 2001:db8::2 40000 3306\r\n");
    /* Not IP, or two families: where the client came from is unknown. */
    n = proxy_header(buf, 1, &un, &un);
    buf[n] = 0;
    assert_string_equal((char *)buf, "PROXY UNKNOWN\r\n");
    n = proxy_header(buf, 1, (struct sockaddr *)&c, (struct sockaddr *)&r6);
    buf[n] = 0;
    assert_string_equal((char *)buf, "PROXY UNKNOWN\r\n");
    /* The longest line fits. */
    c6 = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
    r6 = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
    n = proxy_header(buf, 1, (struct sockaddr *)&c6, (struct sockaddr *)&r6);
    assert_int_equal(n, 104);
}

static void test_v2(void **state)
{
    static const uint8_t sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
    static const uint8_t ipv4[] = {0x21, 0x11, 0x00, 0x0c, 192,  168,  0,    1,
                                   192,  168,  0,    11,   0xdb, 0xc4, 0x0c, 0xea};
    struct sockaddr_in c = v4("192.168.0.1", 56260), r = v4("192.168.0.11", 3306);
    struct sockaddr_in6 c6 = v6("::1", 1), r6 = v6("::2", 2);
    struct sockaddr un = {.sa_family = AF_UNIX};
    uint8_t buf[PROXY_HEADER_MAX];
    size_t n;
    (void)state;

    n = proxy_header(buf, 2, (struct sockaddr *)&c, (struct sockaddr *)&r);
    assert_int_equal(n, 28);
    assert_memory_equal(buf, sig, 12);
    assert_memory_equal(buf + 12, ipv4, sizeof(ipv4));
    n = proxy_header(buf, 2, (struct sockaddr *)&c6, (struct sockaddr *)&r6);
    assert_int_equal(n, 52);
    assert_int_equal(buf[12], 0x21);
    assert_int_equal(buf[13], 0x21);
    assert_int_equal(buf[15], 36);
    assert_int_equal(buf[16 + 15], 1);
    assert_int_equal(buf[16 + 31], 2);
    assert_int_equal(buf[16 + 33], 1); /* source port, big-endian */
    assert_int_equal(buf[16 + 35], 2);
    /* LOCAL: no address block. */
    n = proxy_header(buf, 2, &un, &un);
    assert_int_equal(n, 16);
    assert_int_equal(buf[12], 0x20);
    assert_int_equal(buf[13], 0x00);
    assert_int_equal(buf[14] | buf[15], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_v1),
        cmocka_unit_test(test_v2),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
