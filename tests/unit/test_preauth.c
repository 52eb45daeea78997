/* test_preauth.c - the rules for connections that have proven nothing yet (preauth.c): the cap
 * per source address and the cap per port, where the oldest makes room for the newest, and the
 * deadline from accept, on the real event loop. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "preauth.h"
#include "rebound.h"

/* A fake connection: its pre-auth link and how it was closed. */
struct conn {
    struct preauth pa;
    bool closed;
    enum preauth_reason why;
};

static struct conn conns[16];

static void conn_close(struct preauth *p, enum preauth_reason why)
{
    struct conn *c = container_of(p, struct conn, pa);

    c->closed = true;
    c->why = why;
    preauth_leave(p);
}

static struct sockaddr_in addr(const char *ip)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(4000)};

    inet_pton(AF_INET, ip, &sin.sin_addr);
    return sin;
}

static void join(struct preauth_port *pp, int i, const char *ip)
{
    struct sockaddr_in sin = addr(ip);

    memset(&conns[i], 0, sizeof(conns[i]));
    preauth_join(pp, &conns[i].pa, (struct sockaddr *)&sin, conn_close);
}

static int setup(void **state)
{
    (void)state;
    rb_loop = ev_default_loop(0);
    return 0;
}

/* One address at its cap: its oldest goes for its newest; others are untouched. */
static void test_source_cap(void **state)
{
    struct preauth_port pp;
    (void)state;

    preauth_port_init(&pp, "t", "logged in", 8, 3, 60, 0);
    join(&pp, 0, "10.0.0.1");
    join(&pp, 1, "10.0.0.2");
    join(&pp, 2, "10.0.0.2");
    join(&pp, 3, "10.0.0.2");
    assert_int_equal(pp.n, 4);
    join(&pp, 4, "10.0.0.2"); /* the fourth from .2: the oldest from .2 goes */
    assert_true(conns[1].closed);
    assert_int_equal(conns[1].why, PREAUTH_SOURCE_CAP);
    assert_false(conns[0].closed);
    assert_false(conns[2].closed);
    assert_true(preauth_pending(&conns[4].pa));
    assert_int_equal(pp.n, 4);
    assert_int_equal(pp.evictions, 1);
    /* Proven: it leaves, and its place is free. */
    preauth_leave(&conns[2].pa);
    assert_false(preauth_pending(&conns[2].pa));
    join(&pp, 5, "10.0.0.2");
    assert_false(conns[3].closed);
    for (int i = 0; i < 6; i++)
        preauth_leave(&conns[i].pa);
    assert_int_equal(pp.n, 0);
    preauth_port_stop(&pp);
}

/* The port at its cap: the oldest of all goes, whatever its address; an IPv6 peer counts on
 * its own. */
static void test_port_cap(void **state)
{
    struct preauth_port pp;
    struct sockaddr_in6 six = {.sin6_family = AF_INET6};
    (void)state;

    preauth_port_init(&pp, "t", "logged in", 3, 2, 60, 0);
    join(&pp, 0, "10.0.0.1");
    join(&pp, 1, "10.0.0.2");
    join(&pp, 2, "10.0.0.3");
    join(&pp, 3, "10.0.0.4");
    assert_true(conns[0].closed);
    assert_int_equal(conns[0].why, PREAUTH_PORT_CAP);
    assert_int_equal(pp.n, 3);
    inet_pton(AF_INET6, "::1", &six.sin6_addr);
    memset(&conns[4], 0, sizeof(conns[4]));
    preauth_join(&pp, &conns[4].pa, (struct sockaddr *)&six, conn_close);
    assert_true(conns[1].closed);
    assert_false(conns[2].closed);
    for (int i = 0; i < 5; i++)
        preauth_leave(&conns[i].pa);
    preauth_port_stop(&pp);
}

/* The deadline counts from accept; those that left are not touched. */
static void test_deadline(void **state)
{
    struct preauth_port pp;
    uint64_t t0 = mono_ms();
    (void)state;

    preauth_port_init(&pp, "t", "logged in", 8, 8, 0.2, 0);
    join(&pp, 0, "10.0.0.1");
    join(&pp, 1, "10.0.0.1");
    join(&pp, 2, "10.0.0.2");
    preauth_leave(&conns[1].pa);
    while (pp.n && mono_ms() - t0 < 30000) /* a bound for a slow machine, not the expectation */
        ev_run(rb_loop, EVRUN_ONCE);
    assert_int_equal(pp.n, 0);
    assert_true(mono_ms() - t0 >= 190);
    assert_true(conns[0].closed && conns[2].closed);
    assert_int_equal(conns[0].why, PREAUTH_TIMEOUT);
    assert_false(conns[1].closed);
    assert_int_equal(pp.timeouts, 2);
    preauth_port_stop(&pp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_cap),
        cmocka_unit_test(test_port_cap),
        cmocka_unit_test(test_deadline),
    };

    return cmocka_run_group_tests(tests, setup, NULL);
}
