/* test_pass_reload.c - a kill pass that starts while a reload holds the workers at the barrier
 * applies to the sessions as they are after the reload. One real worker thread and the real
 * listeners: the on-error message that starts the pass is queued before the reload, so the
 * reload's barrier is what runs it - the interleaving is forced, not hoped for. Also: the
 * messages that keep the process going (room under maxconn, stop) need no memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf.h"
#include "healthlog.h"
#include "listener.h"
#include "observe.h"
#include "rebound.h"
#include "server.h"
#include "worker.h"

#include "unit_alloc.h"
#include "unit_greeting.h"

#define WAIT_MS 10000 /* bound for what the loops must get done: generous, costs nothing */

/* A loopback socket bound to a free port, not listening: connects to it are refused, and while
 * it is open no other socket (the router's, say) can get its port. */
static int bound_any(int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

/* A loopback listening socket on a free port. */
static int listen_any(int *port)
{
    int fd = bound_any(port);

    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

/* Is FD readable within WAIT_MS, the control loop turning meanwhile? */
static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    uint64_t end = mono_ms() + WAIT_MS;

    do {
        ev_run(rb_loop, EVRUN_NOWAIT);
        if (poll(&p, 1, 1) == 1)
            return true;
    } while (mono_ms() < end);
    return false;
}

static bool logged(const char *needle)
{
    for (size_t i = 0; i < healthlog_ring_count(); i++)
        if (strstr(healthlog_ring_get(i)->line, needle))
            return true;
    return false;
}

/* Turn the control loop until a health-log line contains NEEDLE (WAIT_MS at most). */
static bool wait_logged(const char *needle)
{
    uint64_t end = mono_ms() + WAIT_MS;

    while (!logged(needle) && mono_ms() < end) {
        ev_run(rb_loop, EVRUN_NOWAIT);
        poll(NULL, 0, 1);
    }
    return logged(needle);
}

static struct conf *config(int router_port, int master_port, int replica_port)
{
    char text[1024], err[256];
    struct conf *c;

    snprintf(text, sizeof(text),
             "global\n health-log-ring 100\n"
             "listen rw\n bind 127.0.0.1:%d\n"
             " server master 127.0.0.1:%d observe layer4 error-limit 1 on-error mark-down "
             "on-marked-down shutdown-sessions\n"
             " server replica 127.0.0.1:%d backup\n",
             router_port, master_port, replica_port);
    if (!(c = conf_parse(text, "t.conf", err, sizeof(err))))
        fail_msg("%s", err);
    return c;
}

/* Greet on FD as a MariaDB server does. */
static void send_greeting(int fd)
{
    uint8_t buf[UNIT_GREETING_MAX];
    size_t n = unit_greeting(buf);

    assert_int_equal(write(fd, buf, n), (ssize_t)n);
}

/* A client of the router on ROUTER_PORT that got its greeting from the server listening on
 * LFD (its end of that connection in *SERVER). */
static int greeted_client(int router_port, int lfd, int *server)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)router_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char buf[128];

    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_true(readable(lfd));
    assert_true((*server = accept(lfd, NULL, NULL)) >= 0);
    send_greeting(*server);
    assert_true(readable(c));
    assert_true(read(c, buf, sizeof(buf)) > 0);
    return c;
}

/* The router of a test: C's health log, one real worker thread, C's listeners. */
static void router_start(struct conf *c)
{
    assert_int_equal(healthlog_open(c), 0);
    assert_int_equal(workers_start(1), 0);
    assert_int_equal(listeners_start(c), 0);
}

/* What router_start() set up, once workers_stop() has stopped the worker. */
static void router_free(void)
{
    listeners_stop();
    workers_free();
    healthlog_close();
}

static void test_pass_during_reload(void **state)
{
    int router_port, master_port, replica_port, mfd, rfd, client, server;
    struct conf *c;
    char buf[128];
    (void)state;

    mfd = listen_any(&master_port);
    rfd = listen_any(&replica_port);
    close(listen_any(&router_port)); /* a free port for the router */
    c = config(router_port, master_port, replica_port);
    router_start(c);

    /* A client in session with the master. */
    client = greeted_client(router_port, mfd, &server);

    /* An error run reaches the limit (the message waits for the control loop), then a
     * reload that keeps the master: its barrier runs the message, the master goes DOWN, and
     * on-marked-down must reach the session the reload hands to the new master object. */
    server_traffic_error(&listener_at(0)->servers[0], OBS_CONNECT_FAILED, "test");
    assert_int_equal(listeners_reload(config(router_port, master_port, replica_port)), 0);
    wait_logged("after it went DOWN");
    if (!logged("Killed 1 sessions on rw/master after it went DOWN"))
        fail_msg("the pass missed the session: %s",
                 healthlog_ring_count() ? healthlog_ring_get(healthlog_ring_count() - 1)->line
                                        : "(no line)");
    assert_true(readable(client));
    assert_true(read(client, buf, sizeof(buf)) < 0 && errno == ECONNRESET);

    close(client);
    close(server);
    close(mfd);
    close(rfd);
    workers_stop();
    router_free();
}

/* The listen of the second test: a checked master (DOWN once its check is refused) with
 * failback, and a backup; MASTER_CHECK says whether the master is checked. */
static struct conf *config_checked(int router_port, int master_port, int replica_port,
                                   bool master_check)
{
    char text[1024], err[256];
    struct conf *c;

    snprintf(text, sizeof(text),
             "global\n health-log-ring 100\n"
             "listen rw\n bind 127.0.0.1:%d\n inter 100ms downinter 100ms rise 1 fall 1\n"
             " server master 127.0.0.1:%d %s on-marked-up shutdown-backup-sessions\n"
             " server replica 127.0.0.1:%d backup\n",
             router_port, master_port, master_check ? "check tcp" : "", replica_port);
    if (!(c = conf_parse(text, "t.conf", err, sizeof(err))))
        fail_msg("%s", err);
    return c;
}

/* A reload that drops the check of a DOWN master brings it UP as any transition does: with its
 * line in the health log and its failback, so the backup's clients come back to it. */
static void test_reload_drops_check(void **state)
{
    int router_port, master_port, replica_port, mfd, rfd, client, server;
    struct conf *c;
    char buf[128];
    (void)state;

    /* Nothing listens: the master's check is refused. Held bound, so that the router's port
     * cannot be the same one (the router would then check and serve itself). */
    mfd = bound_any(&master_port);
    rfd = listen_any(&replica_port);
    close(listen_any(&router_port));
    c = config_checked(router_port, master_port, replica_port, true);
    router_start(c);
    assert_true(wait_logged("rw/master is DOWN"));

    /* A client on the backup. */
    client = greeted_client(router_port, rfd, &server);

    assert_int_equal(
        listeners_reload(config_checked(router_port, master_port, replica_port, false)), 0);
    wait_logged("came UP");
    assert_true(logged("Server rw/master is UP, reason: not checked, so UP after a reload."));
    assert_true(logged("Killed 1 sessions on backup servers of rw after rw/master came UP"));
    assert_true(readable(client));
    assert_true(read(client, buf, sizeof(buf)) < 0 && errno == ECONNRESET);

    close(client);
    close(server);
    close(rfd);
    close(mfd);
    workers_stop();
    router_free();
}

/* Every server says how it enters service: at start, and when a reload adds it (the servers
 * it keeps say nothing). */
static void test_start_lines(void **state)
{
    int router_port, master_port, replica_port, mfd, rfd;
    char text[1024], err[256];
    struct conf *c, *c2;
    (void)state;

    mfd = bound_any(&master_port);
    rfd = bound_any(&replica_port);
    close(listen_any(&router_port));
    c = config(router_port, master_port, replica_port);
    router_start(c);
    assert_true(logged("Server rw/master starts UP as an active server; it is not checked."));
    assert_true(logged("Server rw/replica starts UP as a backup server; it is not checked."));
    snprintf(text, sizeof(text),
             "global\n health-log-ring 100\n"
             "listen rw\n bind 127.0.0.1:%d\n"
             " server master 127.0.0.1:%d\n"
             " server replica 127.0.0.1:%d backup\n"
             " server replica2 127.0.0.1:%d backup check tcp\n",
             router_port, master_port, replica_port, replica_port);
    assert_non_null(c2 = conf_parse(text, "t.conf", err, sizeof(err)));
    assert_int_equal(listeners_reload(c2), 0);
    assert_true(logged("Server rw/replica2 added by a reload starts UP as a backup server; its "
                       "first check decides (a failure takes it DOWN)."));
    assert_int_equal(healthlog_ring_count(), 3);
    close(mfd);
    close(rfd);
    workers_stop();
    router_free();
}

/* With no memory at all, a client refused under maxconn still makes room again (the room
 * message is preallocated), so the next client is served once memory is back; and shutdown
 * still stops the worker (the stop message is part of it). Without that, accept stayed paused
 * until a reload, and shutdown hung in pthread_join: an alarm fails the test instead. */
static void test_no_memory_loses_no_message(void **state)
{
    int router_port, master_port, replica_port, mfd, rfd, a_fd, b_fd, server;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char text[1024], err[256], buf[128];
    struct conf *c;
    (void)state;

    mfd = listen_any(&master_port);
    rfd = bound_any(&replica_port);
    close(listen_any(&router_port));
    snprintf(text, sizeof(text),
             "global\n health-log-ring 100\n maxconn 1\n"
             "listen rw\n bind 127.0.0.1:%d\n"
             " server master 127.0.0.1:%d\n"
             " server replica 127.0.0.1:%d backup\n",
             router_port, master_port, replica_port);
    assert_non_null(c = conf_parse(text, "t.conf", err, sizeof(err)));
    router_start(c);
    alarm(300); /* a lost message hangs: fail instead (minutes, for the slowest machine) */

    /* Client A fills maxconn and cannot get a session: refused, room made again. */
    a.sin_port = htons((uint16_t)router_port);
    atomic_store(&unit_alloc_fail, true);
    a_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(a_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_true(readable(a_fd));
    assert_true(read(a_fd, buf, sizeof(buf)) <= 0);
    assert_true(atomic_load(&unit_alloc_failed) > 0);
    atomic_store(&unit_alloc_fail, false);

    /* Client B is accepted and reaches the master. */
    b_fd = greeted_client(router_port, mfd, &server);

    /* Shutdown with no memory. */
    atomic_store(&unit_alloc_fail, true);
    workers_stop();
    atomic_store(&unit_alloc_fail, false);
    alarm(0);
    close(a_fd);
    close(b_fd);
    close(server);
    close(mfd);
    close(rfd);
    router_free();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pass_during_reload),
        cmocka_unit_test(test_reload_drops_check),
        cmocka_unit_test(test_start_lines),
        cmocka_unit_test(test_no_memory_loses_no_message),
    };

    rb_loop = ev_default_loop(0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
