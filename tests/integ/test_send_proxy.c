/* test_send_proxy.c - `send-proxy` and `send-proxy-v2` on a server line: a real MariaDB master
 * with `proxy_protocol_networks` sees the client's own address, so a grant limited to that
 * address works through rebound (and does not without the header), USER() and the processlist
 * name the client, and rebound's checks (which send no header) keep the master UP.
 * The client comes from 127.0.0.2, rebound from 127.0.0.1: loopback addresses that differ. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define LOG_WAIT_MS 30000       /* bound for a health-log line */
#define FAR_ADDR    "127.0.0.2" /* where the test's client connects from */

/* The router of the group, and one listen section per way of sending; its undo list takes back
 * what the group setup changed on the master. */
static struct router_fixture fx;
static int v1_port, v2_port, plain_port;

/* A login as far@127.0.0.2 through PORT, from FAR_ADDR; NULL on failure, with the error
 * number in *ERR. */
static MYSQL *far_connect(int port, unsigned *err)
{
    MYSQL *m = mysql_init(NULL);
    unsigned timeout = 10;

    assert_non_null(m);
    mysql_options(m, MYSQL_OPT_BIND, FAR_ADDR);
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
    if (!mysql_real_connect(m, "127.0.0.1", "far", "far-pass", "appdb", (unsigned)port, NULL, 0)) {
        fprintf(stderr, "far@%s through %d: %u %s\n", FAR_ADDR, port, mysql_errno(m),
                mysql_error(m));
        *err = mysql_errno(m);
        mysql_close(m);
        return NULL;
    }
    return m;
}

static int group_setup(void **state)
{
    if (harness_group_setup(state) != 0 || fixture_init(&fx, "send-proxy", NULL) != 0)
        return -1;
    /* The master takes PROXY headers from loopback; a user exists for the far address only. */
    fixture_push_undo(&fx, "master", "SET GLOBAL proxy_protocol_networks = ''");
    root_sql("master", NULL, 0, "SET GLOBAL proxy_protocol_networks = '127.0.0.0/8'");
    fixture_push_undo(&fx, "master", "DROP USER IF EXISTS 'far'@'" FAR_ADDR "'");
    root_sql("master", NULL, 0, "CREATE USER 'far'@'" FAR_ADDR "' IDENTIFIED BY 'far-pass'");
    root_sql("master", NULL, 0, "GRANT ALL ON appdb.* TO 'far'@'" FAR_ADDR "'");
    v1_port = free_port();
    v2_port = free_port();
    plain_port = free_port();
    return fixture_start(&fx, plain_port,
                         "global\n"
                         "    health-log file %s\n"
                         "defaults\n"
                         "    check mysql user rebound_check password \"check-pass\"\n"
                         "    inter 200ms  rise 1  fall 1  timeout check 5s  timeout greeting 5s\n"
                         "listen v1\n"
                         "    bind 127.0.0.1:%d\n"
                         "    server master 127.0.0.1:%d check send-proxy\n"
                         "listen v2\n"
                         "    bind 127.0.0.1:%d\n"
                         "    server master 127.0.0.1:%d check send-proxy-v2\n"
                         "listen plain\n"
                         "    bind 127.0.0.1:%d\n"
                         "    server master 127.0.0.1:%d check\n",
                         fx.health_log, v1_port, cluster_port("master"), v2_port,
                         cluster_port("master"), plain_port, cluster_port("master"));
}

static int group_teardown(void **state)
{
    fixture_run_undo(&fx); /* as before: what is left behind does not fail the group */
    return harness_group_teardown_router(&fx.router, state);
}

/* Through PORT the master sees the client's own address: the grant for it works, USER() and
 * the processlist say so. */
static void expect_far_seen(int port)
{
    char user[128], host[128];
    unsigned err = 0;
    MYSQL *m = far_connect(port, &err);

    if (!m)
        fail_msg("far@" FAR_ADDR " cannot log in through a send-proxy listen: %u", err);
    client_query_text(m, "SELECT USER()", user, sizeof(user));
    assert_string_equal(user, "far@" FAR_ADDR);
    client_query_text(m,
                      "SELECT host FROM information_schema.processlist WHERE id = CONNECTION_ID()",
                      host, sizeof(host));
    if (strncmp(host, FAR_ADDR ":", strlen(FAR_ADDR) + 1))
        fail_msg("processlist host %s, want " FAR_ADDR ":port", host);
    mysql_close(m);
}

static void test_send_proxy_v1(void **state)
{
    (void)state;
    expect_far_seen(v1_port);
}

static void test_send_proxy_v2(void **state)
{
    (void)state;
    expect_far_seen(v2_port);
}

/* Without the header the master sees rebound's address, for which 'far' has no grant: the
 * test above is the header's doing. */
static void test_without_header_denied(void **state)
{
    unsigned err = 0;
    MYSQL *m = far_connect(plain_port, &err);
    (void)state;

    if (m) {
        mysql_close(m);
        fail_msg("far logged in without the PROXY header");
    }
    assert_int_equal(err, 1045); /* access denied: the grant is for the far address */
}

/* rebound's checks send no header and still pass: the master is UP in every listen, and the
 * app user (granted for 127.0.0.1) still logs in where no header is sent. */
static void test_checks_unaffected(void **state)
{
    static const char *const listens[] = {"v1", "v2", "plain"};
    char line[128];
    (void)state;

    for (size_t i = 0; i < sizeof(listens) / sizeof(listens[0]); i++) {
        snprintf(line, sizeof(line), "Server %s/master is DOWN", listens[i]);
        if (count_file_lines(fx.health_log, 0, line) != 0)
            fail_msg("%s went DOWN", line);
    }
    assert_int_equal(client_port_via(plain_port), cluster_port("master"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_proxy_v1),
        cmocka_unit_test(test_send_proxy_v2),
        cmocka_unit_test(test_without_header_denied),
        cmocka_unit_test(test_checks_unaffected),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
