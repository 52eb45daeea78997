/* test_acceptor.c - the one peer-address formatter every port uses: IPv4, IPv6, an IPv4 client
 * of an IPv6 socket, with and without the port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "acceptor.h"
#include "unit_addr.h"

/* With its port: what the admin port logs and the sessions table shows. */
static void test_with_port(void **state)
{
    struct sockaddr_in a = v4("10.0.0.5", 51234);
    struct sockaddr_in6 b = v6("2001:db8::1", 3306), m = v6("::ffff:10.0.0.5", 40000);
    struct sockaddr un = {.sa_family = AF_UNIX};
    char buf[80];
    (void)state;

    acceptor_peer_str((struct sockaddr *)&a, true, buf, sizeof(buf));
    assert_string_equal(buf, "10.0.0.5:51234");
    acceptor_peer_str((struct sockaddr *)&b, true, buf, sizeof(buf));
    assert_string_equal(buf, "[2001:db8::1]:3306");
    acceptor_peer_str((struct sockaddr *)&m, true, buf, sizeof(buf));
    assert_string_equal(buf, "[::ffff:10.0.0.5]:40000");
    acceptor_peer_str(&un, true, buf, sizeof(buf));
    assert_string_equal(buf, "?");
}

/* The address alone: what the pre-auth caps log, an IPv4 client of an IPv6 socket as IPv4. */
static void test_address_alone(void **state)
{
    struct sockaddr_in a = v4("10.0.0.5", 51234);
    struct sockaddr_in6 b = v6("2001:db8::1", 3306), m = v6("::ffff:10.0.0.5", 40000);
    char buf[80], small[6];
    (void)state;

    acceptor_peer_str((struct sockaddr *)&a, false, buf, sizeof(buf));
    assert_string_equal(buf, "10.0.0.5");
    acceptor_peer_str((struct sockaddr *)&b, false, buf, sizeof(buf));
    assert_string_equal(buf, "2001:db8::1");
    acceptor_peer_str((struct sockaddr *)&m, false, buf, sizeof(buf));
    assert_string_equal(buf, "10.0.0.5");
    /* Cut to the buffer, never past it. */
    acceptor_peer_str((struct sockaddr *)&a, true, small, sizeof(small));
    assert_string_equal(small, "10.0.");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_with_port),
        cmocka_unit_test(test_address_alone),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
