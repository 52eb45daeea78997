/* test_pass.c - kill passes, moved sessions and the close batches, on one real worker loop
 * that the test steps itself (no worker thread): every interleaving of the control thread and
 * the worker is the one the test writes. Servers are listening sockets of the test; clients
 * are socket pairs whose far end the test holds. Also: one run of traffic errors applies
 * on-error once, with the interleaving forced through a test hook; and a pass that meets no
 * memory still kills, moves and reports. */
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
#include "session.h"
#include "worker.h"

#include "unit_alloc.h"
#include "unit_greeting.h"

#define WAIT_MS 10000 /* bound for anything the loops must get done: generous, costs nothing */

/* A fake server: a listening socket and the connections the test accepted from it. */
struct fake {
    int lfd, port;
    int conns[16];
    int nconns;
};

/* A listen "rw" built by hand from a parsed config, with fake servers. */
struct fixture {
    struct conf *conf;
    struct listener l;
    struct fake fakes[2]; /* master, replica */
};

static struct worker *w;

/* One turn of the worker's loop (as its thread would run it), then one of the control
 * thread's. */
static void step(void)
{
    worker_self = w;
    ev_run(w->loop, EVRUN_NOWAIT);
    worker_self = NULL;
    ev_run(rb_loop, EVRUN_NOWAIT);
}

static void fake_listen(struct fake *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);

    memset(f, 0, sizeof(*f));
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 16), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
}

/* Is FD readable (data, EOF or an error) within MS, the loops turning meanwhile? */
static bool readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    uint64_t end = mono_ms() + (uint64_t)ms;

    do {
        step();
        if (poll(&p, 1, 1) == 1)
            return true;
    } while (mono_ms() < end);
    return false;
}

/* Accept the router's next connection to fake F (the loops turn until it comes). */
static int fake_accept(struct fake *f)
{
    int fd;

    assert_true(readable(f->lfd, WAIT_MS));
    fd = accept(f->lfd, NULL, NULL);
    assert_true(fd >= 0);
    f->conns[f->nconns++] = fd;
    return fd;
}

/* Greet on FD as a MariaDB server does. */
static void send_greeting(int fd)
{
    uint8_t buf[UNIT_GREETING_MAX];
    size_t n = unit_greeting(buf);

    assert_int_equal(write(fd, buf, n), (ssize_t)n);
}

/* What the far end of a client sees next: 1 bytes, 0 end of stream, -1 a reset. */
static int client_sees(int fd)
{
    char buf[256];
    ssize_t n;

    assert_true(readable(fd, WAIT_MS));
    n = read(fd, buf, sizeof(buf));
    return n > 0 ? 1 : n == 0 ? 0 : (errno == ECONNRESET ? -1 : -2);
}

static struct fixture *make_with(const char *listen_opts, const char *failback);

static struct fixture *make(const char *listen_opts)
{
    return make_with(listen_opts, "");
}

/* The fixture with FAILBACK after the master's shutdown-backup-sessions ("graceful 1s"). */
static struct fixture *make_with(const char *listen_opts, const char *failback)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char text[1024], err[256];

    fake_listen(&f->fakes[0]);
    fake_listen(&f->fakes[1]);
    snprintf(text, sizeof(text),
             "global\n health-log-ring 100\n"
             "listen rw\n bind 127.0.0.1:1\n %s\n"
             " server master 127.0.0.1:%d on-marked-up shutdown-backup-sessions %s "
             "on-marked-down shutdown-sessions observe layer4 error-limit 2 on-error fail-check\n"
             " server replica 127.0.0.1:%d backup\n",
             listen_opts, f->fakes[0].port, failback, f->fakes[1].port);
    f->conf = conf_parse(text, "t.conf", err, sizeof(err));
    if (!f->conf)
        fail_msg("%s", err);
    assert_int_equal(healthlog_open(f->conf), 0);
    f->l.conf = &f->conf->listens[0];
    f->l.fd = -1;
    f->l.nservers = f->l.conf->nservers;
    f->l.servers = calloc((size_t)f->l.nservers, sizeof(struct server));
    for (int i = 0; i < f->l.nservers; i++)
        assert_int_equal(server_init(&f->l.servers[i], &f->l, &f->l.conf->servers[i], i), 0);
    return f;
}

static void destroy(struct fixture *f)
{
    for (int i = 0; i < f->l.nservers; i++)
        server_fini(&f->l.servers[i]);
    free(f->l.servers);
    /* What the passes left for the batches, and their reports. */
    for (int i = 0; i < 100 && w->closing.head < w->closing.tail; i++)
        step();
    for (int i = 0; i < 2; i++) {
        for (int k = 0; k < f->fakes[i].nconns; k++)
            close(f->fakes[i].conns[k]);
        if (f->fakes[i].lfd >= 0)
            close(f->fakes[i].lfd);
    }
    healthlog_close();
    conf_free(f->conf);
    free(f);
}

/* A connected pair of loopback TCP sockets (a reset shows as one, unlike a socket pair's). */
static void tcp_pair(int sv[2])
{
    struct fake l;

    fake_listen(&l);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)l.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(sv[1] >= 0);
    assert_int_equal(connect(sv[1], (struct sockaddr *)&a, sizeof(a)), 0);
    sv[0] = accept4(l.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    assert_true(sv[0] >= 0);
    close(l.lfd);
}

/* A client session of F's listener on the worker; returns the far end of its client socket. */
static int new_client(struct fixture *f)
{
    int sv[2];

    tcp_pair(sv);
    worker_self = w;
    session_new(w, &f->l, sv[0], NULL, 0);
    worker_self = NULL;
    return sv[1];
}

/* A client that has its greeting from fake I: bytes reached it, so a pass kills it. */
static int greeted_client(struct fixture *f, int i)
{
    int c = new_client(f);

    send_greeting(fake_accept(&f->fakes[i]));
    assert_int_equal(client_sees(c), 1);
    return c;
}

/* Did any health-log line contain NEEDLE? */
static bool logged(const char *needle)
{
    for (size_t i = 0; i < healthlog_ring_count(); i++)
        if (strstr(healthlog_ring_get(i)->line, needle))
            return true;
    return false;
}

/* Turn the loops until the log has NEEDLE. */
static void expect_logged(const char *needle)
{
    uint64_t end = mono_ms() + WAIT_MS;

    while (!logged(needle) && mono_ms() < end) {
        step();
        poll(NULL, 0, 1);
    }
    if (!logged(needle))
        fail_msg("no health-log line with \"%s\"", needle);
}

static const struct check_result failed = {.status = CHK_L4CON, .info = "Connection refused"};
static const struct check_result passed = {.status = CHK_L4OK};

/* Failback: greeted clients on the backup are reset, their server sides closed in batches;
 * a session still waiting for the backup's greeting moves to the master, even with retries 0
 * (a pass's move is a fresh start, not a retry). */
static void test_failback_kills_and_moves(void **state)
{
    struct fixture *f = make("retries 0");
    struct server *master = &f->l.servers[0];
    int c1, c2, waiting;
    char byte;
    (void)state;

    server_set_state(master, SRV_DOWN, &failed);
    c1 = greeted_client(f, 1);
    c2 = greeted_client(f, 1);
    waiting = new_client(f);
    fake_accept(&f->fakes[1]); /* connected to the replica, never greeted */

    server_set_state(master, SRV_UP, &passed);
    assert_true(client_sees(c1) < 0); /* reset, not a clean close */
    assert_true(client_sees(c2) < 0);
    /* The waiting one is now the master's, and the master greets it. */
    send_greeting(fake_accept(&f->fakes[0]));
    assert_int_equal(client_sees(waiting), 1);
    expect_logged("Killed 2 sessions on backup servers of rw after rw/master came UP");
    expect_logged("Redispatched 1 connecting sessions of rw away from backup servers.");
    /* The replica's three connections were closed: two by the batches, one by the move. */
    for (int k = 0; k < 3; k++)
        assert_int_equal(read(f->fakes[1].conns[k], &byte, 1), 0);
    assert_int_equal(server_nsessions(&f->l.servers[1]), 0);
    assert_int_equal(server_nsessions(master), 1);
    close(c1);
    close(c2);
    close(waiting);
    destroy(f);
}

/* A killed session is over for maxconn as soon as its client is reset, not once the batches
 * reach its server side: a client that reconnects at once does not wait for them. Until it is
 * closed, the server side counts against the descriptor room (server_sides_closing). */
static void test_killed_session_frees_its_slot_at_once(void **state)
{
    struct fixture *f = make("retries 0");
    struct server *master = &f->l.servers[0];
    struct pollfd cl[2], sv[2];
    uint64_t end = mono_ms() + WAIT_MS;
    unsigned alive, closing;
    char byte;
    (void)state;

    server_set_state(master, SRV_DOWN, &failed);
    cl[0] = (struct pollfd){.fd = greeted_client(f, 1), .events = POLLIN};
    cl[1] = (struct pollfd){.fd = greeted_client(f, 1), .events = POLLIN};
    for (int k = 0; k < 2; k++)
        sv[k] = (struct pollfd){.fd = f->fakes[1].conns[k], .events = POLLIN};
    alive = atomic_load(&sessions_alive); /* relative: this harness hands sessions over itself */
    closing = atomic_load(&server_sides_closing);
    server_set_state(master, SRV_UP, &passed);
    /* One step at a time until the sweep has reset both clients (it resets them in one turn). */
    do
        step();
    while (poll(cl, 2, 1) < 2 && mono_ms() < end);
    assert_int_equal(poll(cl, 2, 0), 2);
    /* The premise: no batch ran yet, both server sides are open. */
    assert_int_equal(poll(sv, 2, 0), 0);
    assert_int_equal(atomic_load(&sessions_alive), alive - 2);
    assert_int_equal(atomic_load(&server_sides_closing), closing + 2);
    /* The batches close them; then they no longer count. */
    expect_logged("Killed 2 sessions on backup servers of rw after rw/master came UP");
    for (int k = 0; k < 2; k++)
        assert_int_equal(read(sv[k].fd, &byte, 1), 0);
    assert_int_equal(atomic_load(&server_sides_closing), closing);
    assert_int_equal(atomic_load(&sessions_alive), alive - 2);
    close(cl[0].fd);
    close(cl[1].fd);
    destroy(f);
}

/* The connects in flight and the sessions queued of SRV on the test's worker. */
static unsigned connecting(const struct server *srv)
{
    return atomic_load(&srv->tally[w->index].connecting);
}

static unsigned queued(const struct server *srv)
{
    return atomic_load(&srv->tally[w->index].nqueued);
}

/* Turn the loops until SRV has Q sessions queued. */
static void expect_queued(const struct server *srv, unsigned q)
{
    uint64_t end = mono_ms() + WAIT_MS;

    while (queued(srv) != q && mono_ms() < end) {
        step();
        poll(NULL, 0, 1);
    }
    assert_int_equal(queued(srv), q);
}

/* max-connecting bounds the connects in flight to a server (connect until greeting): the
 * next session waits inside rebound, not in the server's accept queue, and gets its slot,
 * in arrival order, as soon as a greeting frees one. */
static void test_connects_in_flight_bounded(void **state)
{
    struct fixture *f = make("max-connecting 1\n timeout greeting 60s");
    struct server *master = &f->l.servers[0];
    int a, b, c, ma, mb;
    (void)state;

    a = new_client(f);
    ma = fake_accept(&f->fakes[0]);
    b = new_client(f);
    c = new_client(f);
    expect_queued(master, 2);
    assert_int_equal(connecting(master), 1);
    assert_int_equal(server_nsessions(master), 3); /* queued sessions are the master's */
    assert_false(readable(f->fakes[0].lfd, 50));   /* no second connect */
    /* A's greeting frees the slot: B, the older of the two, connects. */
    send_greeting(ma);
    assert_int_equal(client_sees(a), 1);
    mb = fake_accept(&f->fakes[0]);
    assert_int_equal(queued(master), 1);
    assert_int_equal(connecting(master), 1);
    send_greeting(mb);
    assert_int_equal(client_sees(b), 1);
    send_greeting(fake_accept(&f->fakes[0]));
    assert_int_equal(client_sees(c), 1);
    assert_int_equal(queued(master), 0);
    assert_int_equal(connecting(master), 0);
    close(a);
    close(b);
    close(c);
    destroy(f);
}

/* A session that gets no slot within `timeout queue` gets a MySQL error that says so; one
 * whose client leaves while it waits leaves the queue and costs the server no connect. */
static void test_queue_timeout_and_client_leaving(void **state)
{
    struct fixture *f = make("max-connecting 1\n timeout greeting 60s\n timeout queue 100ms");
    struct server *master = &f->l.servers[0];
    char buf[512];
    ssize_t n;
    int a, b, gone;
    (void)state;

    a = new_client(f);
    fake_accept(&f->fakes[0]); /* never greets: A keeps the one slot */
    gone = new_client(f);
    expect_queued(master, 1);
    close(gone);
    expect_queued(master, 0);
    assert_int_equal(server_nsessions(master), 1);
    assert_int_equal(connecting(master), 1); /* still A's alone */
    b = new_client(f);
    assert_true(readable(b, WAIT_MS));
    n = read(b, buf, sizeof(buf) - 1);
    assert_true(n > 7);
    buf[n] = '\0';
    assert_int_equal((uint8_t)buf[4], 0xff); /* an ERR packet */
    assert_non_null(strstr(buf + 7, "no connection to rw/master within timeout queue (100 ms)"));
    assert_int_equal(atomic_load(&master->tally[w->index].queue_timeouts), 1);
    assert_int_equal(queued(master), 0);
    close(a);
    close(b);
    destroy(f);
}

/* A failback that reaches the worker after its master went into maintenance kills nothing:
 * the backup's clients would only have come back to it. */
static void test_failback_rechecks_master(void **state)
{
    struct fixture *f = make("retries 1");
    struct server *master = &f->l.servers[0];
    int c;
    (void)state;

    server_set_state(master, SRV_DOWN, &failed);
    c = greeted_client(f, 1);
    server_set_state(master, SRV_UP, &passed); /* posted to the worker, not run yet */
    server_set_admin(master, ADMIN_MAINT, "test");
    expect_logged("Failback of rw after rw/master came UP not applied: rw/master was no longer "
                  "usable");
    /* The client is still served by the replica. */
    assert_int_equal(write(c, "x", 1), 1);
    assert_true(readable(f->fakes[1].conns[0], WAIT_MS));
    assert_int_equal(server_nsessions(&f->l.servers[1]), 1);
    close(c);
    destroy(f);
}

/* A session the failback moved, whose master then fails to connect, goes back to a backup:
 * the pass excludes the backups for its own dispatch only, not for the session's retries. */
static void test_moved_session_may_fall_back(void **state)
{
    struct fixture *f = make("retries 1");
    struct server *master = &f->l.servers[0];
    int waiting;
    (void)state;

    server_set_state(master, SRV_DOWN, &failed);
    waiting = new_client(f);
    fake_accept(&f->fakes[1]); /* connected to the replica, never greeted */
    close(f->fakes[0].lfd);    /* the master refuses connections from now on */
    f->fakes[0].lfd = -1;
    server_set_state(master, SRV_UP, &passed);
    /* Moved to the master, refused there, back to the replica, which greets it. */
    send_greeting(fake_accept(&f->fakes[1]));
    assert_int_equal(client_sees(waiting), 1);
    assert_int_equal(server_nsessions(&f->l.servers[1]), 1);
    close(waiting);
    destroy(f);
}

/* on-marked-down: the server's own greeted sessions go, its waiting ones move to the backup. */
static void test_marked_down_kills(void **state)
{
    struct fixture *f = make("retries 0");
    struct server *master = &f->l.servers[0];
    int c, waiting;
    (void)state;

    c = greeted_client(f, 0);
    waiting = new_client(f);
    fake_accept(&f->fakes[0]);
    server_set_state(master, SRV_DOWN, &failed);
    assert_true(client_sees(c) < 0);
    send_greeting(fake_accept(&f->fakes[1]));
    assert_int_equal(client_sees(waiting), 1);
    expect_logged("Killed 1 sessions on rw/master after it went DOWN");
    expect_logged("Redispatched 1 connecting sessions of rw away from rw/master.");
    close(c);
    close(waiting);
    destroy(f);
}

/* A session waiting for the greeting of a server that greets other sessions all the while
 * waits on (a busy server): but not once the server was drained meanwhile. It goes to the
 * next candidate, not back to the drained server for a second connection. */
static void test_busy_server_wait_checks_usable(void **state)
{
    struct fixture *f = make("timeout greeting 300ms\n retries 1");
    struct server *master = &f->l.servers[0];
    _Atomic uint64_t *greeted = &master->tally[w->index].greeted_us;
    struct pollfd p[2] = {{.fd = f->fakes[0].lfd, .events = POLLIN},
                          {.fd = f->fakes[1].lfd, .events = POLLIN}};
    uint64_t end = mono_ms() + WAIT_MS;
    int waiting;
    (void)state;

    waiting = new_client(f);
    fake_accept(&f->fakes[0]); /* connected to the master, which never greets it */
    server_set_admin(master, ADMIN_DRAIN, "test");
    /* The master greets others all the time; where does the waiting session go? */
    while (poll(p, 2, 1) == 0 && mono_ms() < end) {
        atomic_store(greeted, mono_us());
        step();
    }
    assert_true(p[1].revents & POLLIN);  /* to the replica */
    assert_false(p[0].revents & POLLIN); /* not a second connection to the master */
    send_greeting(fake_accept(&f->fakes[1]));
    assert_int_equal(client_sees(waiting), 1);
    close(waiting);
    destroy(f);
}

/* A HandshakeResponse41 (sequence id 1) for user app with a 20-byte mysql_native_password
 * answer of byte FILL, into BUF; its length. */
static size_t login_response_caps(uint8_t *buf, uint8_t fill, uint32_t extra);

static size_t login_response(uint8_t *buf, uint8_t fill)
{
    return login_response_caps(buf, fill, 0);
}

/* The same with the capability flags EXTRA added (0x20: CLIENT_COMPRESS). */
static size_t login_response_caps(uint8_t *buf, uint8_t fill, uint32_t extra)
{
    static const char plugin[] = "mysql_native_password";
    uint32_t caps = 0x00000200 | 0x00008000 | 0x00080000 | extra; /* PROTOCOL_41 SECURE
                                                                     PLUGIN_AUTH */
    size_t n = 4;

    memcpy(buf + n, &caps, 4); /* little-endian here */
    n += 4;
    memset(buf + n, 0, 4 + 1 + 23);
    buf[n + 3] = 1; /* max packet 16 MiB */
    buf[n + 4] = 45;
    n += 4 + 1 + 23;
    memcpy(buf + n, "app", 4);
    n += 4;
    buf[n++] = 20;
    memset(buf + n, fill, 20);
    n += 20;
    memcpy(buf + n, plugin, sizeof(plugin));
    n += sizeof(plugin);
    buf[0] = (uint8_t)(n - 4);
    buf[1] = buf[2] = 0;
    buf[3] = 1;
    return n;
}

/* Client C's login response RESP (N bytes) moves to the replica: the replica greets, the
 * client is asked to answer its scramble (AuthSwitchRequest, sequence id 2), and the replica
 * gets the first response with that answer in it, as sequence id 1. */
static void login_lands_on_replica(struct fixture *f, int c, const uint8_t *resp, size_t n)
{
    uint8_t got[256], answer[24] = {20, 0, 0, 3};
    int r = fake_accept(&f->fakes[1]);
    ssize_t k;

    send_greeting(r);
    assert_true(readable(c, WAIT_MS));
    k = read(c, got, sizeof(got));
    assert_true(k > 5);
    assert_int_equal(got[3], 2);    /* the answer to the client's response */
    assert_int_equal(got[4], 0xfe); /* an AuthSwitchRequest */
    assert_string_equal((char *)got + 5, "mysql_native_password");
    memset(answer + 4, 0x22, 20); /* the client's answer (sequence id 3) */
    assert_int_equal(write(c, answer, sizeof(answer)), (ssize_t)sizeof(answer));
    assert_true(readable(r, WAIT_MS));
    k = read(r, got, sizeof(got));
    assert_int_equal(k, (ssize_t)n);
    assert_int_equal(got[3], 1);
    assert_memory_equal(got + 4, resp + 4, 32 + 4 + 1);        /* capabilities ... user, length */
    assert_memory_equal(got + 4 + 32 + 4 + 1, answer + 4, 20); /* the new answer */
    assert_memory_equal(got + 4 + 32 + 4 + 1 + 20, "mysql_native_password", 22);
}

/* A session whose login is under way when its server goes DOWN is not killed: its login
 * moves to the next server, whose scramble the client is asked to answer (AuthSwitchRequest,
 * sequence id 2); the client's answer reaches that server inside its first response. */
static void test_pass_moves_a_login(void **state)
{
    struct fixture *f = make("retries 0");
    struct server *master = &f->l.servers[0];
    uint8_t resp[128], got[256];
    size_t n = login_response(resp, 0x11);
    int c, m;
    (void)state;

    c = greeted_client(f, 0);
    m = f->fakes[0].conns[0];
    assert_int_equal(write(c, resp, n), (ssize_t)n);
    assert_true(readable(m, WAIT_MS)); /* the master has the response, and says nothing */
    assert_int_equal(read(m, got, sizeof(got)), (ssize_t)n);
    server_set_state(master, SRV_DOWN, &failed);
    login_lands_on_replica(f, c, resp, n);
    expect_logged("Killed 0 sessions on rw/master after it went DOWN");
    expect_logged("Redispatched 1 connecting sessions of rw away from rw/master.");
    close(c);
    destroy(f);
}

/* A server that goes away after the client got its greeting but before the client's login
 * response reached it: once that response is in, the login moves to the next server as it does
 * when the server goes away after it (the client is asked to answer the new scramble). */
static void test_login_moves_when_server_leaves_before_response(void **state)
{
    struct fixture *f = make("retries 0");
    uint8_t resp[128];
    size_t n = login_response(resp, 0x11);
    int c;
    (void)state;

    c = greeted_client(f, 0);
    close(f->fakes[0].conns[0]); /* the master goes away */
    f->fakes[0].nconns = 0;
    /* Until rebound has seen it: only then does the response come (the order this tests). */
    for (uint64_t end = mono_ms() + WAIT_MS; !TAILQ_FIRST(&w->sessions)->server_lost;) {
        assert_true(mono_ms() < end);
        step();
        poll(NULL, 0, 1);
    }
    assert_false(readable(c, 50)); /* the client hears nothing of it */
    assert_int_equal(write(c, resp, n), (ssize_t)n);
    login_lands_on_replica(f, c, resp, n);
    assert_int_equal(server_nsessions(&f->l.servers[0]), 0);
    assert_int_equal(server_nsessions(&f->l.servers[1]), 1);
    close(c);
    destroy(f);
}

/* A greeting that arrives in the loop turn in which its timeout also runs out (the worker was
 * busy for longer than `timeout greeting`) is read, not taken for a silent server: libev runs
 * the timer first, so the timeout itself must look. */
static void test_greeting_in_the_timeouts_turn(void **state)
{
    struct fixture *f = make("timeout greeting 200ms\n retries 1");
    struct pollfd replica = {.fd = f->fakes[1].lfd, .events = POLLIN};
    int c, server;
    (void)state;

    c = new_client(f);
    server = fake_accept(&f->fakes[0]);
    /* Turn the loops until the session is connected and its greeting timer runs; not one turn
     * more, so that the timer can only be run in the turn that also finds the greeting. */
    for (uint64_t end = mono_ms() + WAIT_MS;
         TAILQ_FIRST(&w->sessions)->state != SESS_GREETING && mono_ms() < end;)
        step();
    assert_int_equal(TAILQ_FIRST(&w->sessions)->state, SESS_GREETING);
    /* The worker is held up past the timeout; meanwhile the master greets. */
    poll(NULL, 0, 300);
    send_greeting(server);
    step();
    assert_int_equal(client_sees(c), 1);
    assert_int_equal(poll(&replica, 1, 0), 0); /* not sent on to the replica */
    assert_int_equal(server_nsessions(&f->l.servers[0]), 1);
    close(c);
    destroy(f);
}

/* The hook below runs a second worker's whole count inside the first one's, between its read
 * of the run and its update: the interleaving in which both saw the run reach the limit. */
static struct server *hooked;
static int hook_calls;

static void count_inside(const char *where)
{
    if (strcmp(where, "observe_counting") || hooked == NULL || hook_calls++ > 0)
        return;
    server_traffic_error(hooked, OBS_CONNECT_FAILED, "from the other worker");
}

/* error-limit 2, one error counted, then two at once: one run reaches the limit, so
 * fail-check counts one failed check, not two. */
static void test_on_error_once_per_run(void **state)
{
    struct fixture *f = make("retries 0");
    struct server *master = &f->l.servers[0];
    (void)state;

    server_traffic_error(master, OBS_CONNECT_FAILED, "first");
    hooked = master;
    hook_calls = 0;
    rebound_test_hook = count_inside;
    server_traffic_error(master, OBS_CONNECT_FAILED, "second");
    rebound_test_hook = NULL;
    hooked = NULL;
    for (int i = 0; i < 5; i++)
        step();
    assert_int_equal(master->check_failures, 1);
    assert_int_equal(atomic_load(&master->obs_consecutive), 1); /* the third error of three */
    destroy(f);
}

/* A failback that finds no memory once started still resets the backup's clients, closes
 * their server sides and writes its line: the pass's per-worker shares and its report are
 * part of the pass, and the close queue closes at once when it cannot grow. */
static void test_failback_needs_no_memory(void **state)
{
    struct fixture *f = make("retries 0");
    struct server *master = &f->l.servers[0];
    int c1, c2;
    char byte;
    (void)state;

    server_set_state(master, SRV_DOWN, &failed);
    c1 = greeted_client(f, 1);
    c2 = greeted_client(f, 1);
    server_set_state(master, SRV_UP, &passed);
    atomic_store(&unit_alloc_fail, true);
    assert_true(client_sees(c1) < 0);
    assert_true(client_sees(c2) < 0);
    expect_logged("Killed 2 sessions on backup servers of rw after rw/master came UP");
    for (int k = 0; k < 2; k++)
        assert_int_equal(read(f->fakes[1].conns[k], &byte, 1), 0);
    atomic_store(&unit_alloc_fail, false);
    assert_int_equal(server_nsessions(&f->l.servers[1]), 0);
    close(c1);
    close(c2);
    destroy(f);
}

/* An OK packet with sequence id SEQ and status flags STATUS (0x0001: in a transaction, 0x0002:
 * autocommit) into BUF; its length. */
static size_t ok_packet(uint8_t *buf, uint8_t seq, uint16_t status)
{
    const uint8_t ok[] = {7, 0, 0, seq, 0, 0, 0, (uint8_t)status, (uint8_t)(status >> 8), 0, 0};

    memcpy(buf, ok, sizeof(ok));
    return sizeof(ok);
}

/* A client logged in through the replica (fake 1), the stream followed: its far end in *C,
 * the replica's side in *SRV. */
static void logged_in_client_caps(struct fixture *f, int *c, int *srv, uint32_t caps);

static void logged_in_client(struct fixture *f, int *c, int *srv)
{
    logged_in_client_caps(f, c, srv, 0);
}

/* The same, the client asking for the capabilities CAPS besides the usual ones. */
static void logged_in_client_caps(struct fixture *f, int *c, int *srv, uint32_t caps)
{
    uint8_t buf[256];
    size_t n;

    *c = greeted_client(f, 1);
    *srv = f->fakes[1].conns[f->fakes[1].nconns - 1];
    n = login_response_caps(buf, 0x11, caps);
    assert_int_equal(write(*c, buf, n), (ssize_t)n);
    assert_true(readable(*srv, WAIT_MS));
    assert_true(read(*srv, buf, sizeof(buf)) > 0);
    n = ok_packet(buf, 2, 0x0002);
    assert_int_equal(write(*srv, buf, n), (ssize_t)n);
    assert_true(readable(*c, WAIT_MS));
    assert_int_equal(read(*c, buf, sizeof(buf)), (ssize_t)n);
}

/* Client C sends the query SQL; server side SRV answers with an OK whose status is STATUS; the
 * OK reaches C. */
static void query_ok(int c, int srv, const char *sql, uint16_t status)
{
    uint8_t buf[256];
    size_t len = strlen(sql), n;

    buf[0] = (uint8_t)(len + 1);
    buf[1] = buf[2] = buf[3] = 0;
    buf[4] = 0x03; /* COM_QUERY */
    memcpy(buf + 5, sql, len);
    assert_int_equal(write(c, buf, len + 5), (ssize_t)(len + 5));
    assert_true(readable(srv, WAIT_MS));
    assert_true(read(srv, buf, sizeof(buf)) > 0);
    n = ok_packet(buf, 1, status);
    assert_int_equal(write(srv, buf, n), (ssize_t)n);
    assert_true(readable(c, WAIT_MS));
    assert_int_equal(read(c, buf, n), (ssize_t)n); /* what rebound may send next stays */
}

/* A client logged in through the replica (logged_in_client) whose transaction is open: its
 * BEGIN answered with SERVER_STATUS_IN_TRANS. */
static void client_in_transaction(struct fixture *f, int *c, int *srv)
{
    logged_in_client(f, c, srv);
    query_ok(*c, *srv, "BEGIN", 0x0003);
}

/* What an idle client reads when rebound closes it: an ERR packet (1927, sequence id 1) whose
 * message has NEEDLE, then the end of the stream (not a reset). */
static void expect_told(int c, const char *needle)
{
    char buf[512];
    ssize_t n;

    assert_true(readable(c, WAIT_MS));
    n = read(c, buf, sizeof(buf) - 1);
    assert_true(n > 13);
    buf[n] = '\0';
    assert_int_equal((uint8_t)buf[3], 1);
    assert_int_equal((uint8_t)buf[4], 0xff);
    assert_int_equal((uint8_t)buf[5] | (uint8_t)buf[6] << 8, 1927);
    if (!strstr(buf + 13, needle))
        fail_msg("ERR message \"%s\" lacks \"%s\"", buf + 13, needle);
    assert_int_equal(client_sees(c), 0);
}

/* Graceful failback: the idle session is told and closed at once; the one inside a
 * transaction stays until its COMMIT is answered, and is told and closed then; the log line
 * counts one of each. The immediate pass would have reset both. */
static void test_graceful_failback_waits_for_commit(void **state)
{
    struct fixture *f = make_with("retries 0", "graceful 10s");
    struct server *master = &f->l.servers[0];
    int idle, idle_srv, trans, trans_srv;
    (void)state;

    server_set_state(master, SRV_DOWN, &failed);
    logged_in_client(f, &idle, &idle_srv);
    client_in_transaction(f, &trans, &trans_srv);

    server_set_state(master, SRV_UP, &passed);
    expect_told(idle, "is back; reconnect");
    /* The transaction goes on on the replica, and ends there. */
    query_ok(trans, trans_srv, "INSERT INTO t VALUES (1)", 0x0003);
    assert_int_equal(server_nsessions(&f->l.servers[1]), 1);
    query_ok(trans, trans_srv, "COMMIT", 0x0002);
    expect_told(trans, "is back; reconnect");
    expect_logged("Closed 2 sessions on backup servers of rw after rw/master came UP, gracefully "
                  "within 10000 ms: 1 idle at once, 1 at the end of a command or transaction");
    expect_logged("0 at the deadline; 0 ended by themselves, 0 kept");
    assert_int_equal(server_nsessions(&f->l.servers[1]), 0);
    close(idle);
    close(trans);
    destroy(f);
}

/* Graceful failback: a transaction still open at TIME is cut then (its client reset), and the
 * log line says so. */
static void test_graceful_failback_deadline(void **state)
{
    struct fixture *f = make_with("retries 0", "graceful 300ms");
    struct server *master = &f->l.servers[0];
    int stuck, stuck_srv;
    (void)state;

    server_set_state(master, SRV_DOWN, &failed);
    client_in_transaction(f, &stuck, &stuck_srv);

    server_set_state(master, SRV_UP, &passed);
    assert_true(client_sees(stuck) < 0); /* reset at TIME, mid-transaction */
    expect_logged("0 idle at once, 0 at the end of a command or transaction");
    expect_logged("1 at the deadline; 0 ended by themselves, 0 kept");
    assert_int_equal(server_nsessions(&f->l.servers[1]), 0);
    close(stuck);
    destroy(f);
}

/* Graceful failback: a marked session whose client leaves (and its server with it) counts as
 * ended, and the pass is over with its last marked session, long before TIME. */
static void test_graceful_failback_session_ends_first(void **state)
{
    struct fixture *f = make_with("retries 0", "graceful 1h");
    struct server *master = &f->l.servers[0];
    int leaving, leaving_srv;
    (void)state;

    server_set_state(master, SRV_DOWN, &failed);
    client_in_transaction(f, &leaving, &leaving_srv);

    server_set_state(master, SRV_UP, &passed);
    close(leaving); /* the server closes when its client does */
    assert_true(readable(leaving_srv, WAIT_MS));
    shutdown(leaving_srv, SHUT_RDWR);
    expect_logged("0 idle at once, 0 at the end of a command or transaction");
    expect_logged("0 at the deadline; 1 ended by themselves, 0 kept");
    assert_int_equal(server_nsessions(&f->l.servers[1]), 0);
    destroy(f);
}

/* The immediate failback tells an idle client why, then closes its connection; a client inside
 * a transaction only gets the reset. */
static void test_immediate_failback_tells_idle_clients(void **state)
{
    struct fixture *f = make("retries 0");
    struct server *master = &f->l.servers[0];
    int idle, idle_srv, trans, trans_srv;
    char buf[512];
    ssize_t n;
    (void)state;

    server_set_state(master, SRV_DOWN, &failed);
    logged_in_client(f, &idle, &idle_srv);
    client_in_transaction(f, &trans, &trans_srv);

    server_set_state(master, SRV_UP, &passed);
    assert_true(readable(idle, WAIT_MS));
    n = read(idle, buf, sizeof(buf));
    if (n <= 13)
        fail_msg("read %zd: %s", n, strerror(errno));
    assert_true((uint8_t)buf[4] == 0xff && (uint8_t)buf[3] == 1);
    assert_int_equal(client_sees(idle), 0); /* then the end (a reset would discard the ERR) */
    assert_true(client_sees(trans) < 0);
    expect_logged("Killed 2 sessions on backup servers of rw after rw/master came UP");
    close(idle);
    close(trans);
    destroy(f);
}

/* An idle compressed session is told why in a compressed packet of its own (stored as is,
 * compressed sequence id 1), the ERR inside: a plain ERR would be garbage to its client. */
static void test_idle_compressed_client_told_compressed(void **state)
{
    struct fixture *f = make("retries 0");
    struct server *master = &f->l.servers[0];
    int c, srv;
    uint8_t buf[512];
    ssize_t n;
    (void)state;

    server_set_state(master, SRV_DOWN, &failed);
    logged_in_client_caps(f, &c, &srv, 0x20);
    server_set_state(master, SRV_UP, &passed);
    assert_true(readable(c, WAIT_MS));
    n = read(c, buf, sizeof(buf));
    assert_true(n > 7 + 13);
    assert_int_equal(buf[0] | buf[1] << 8 | buf[2] << 16, n - 7); /* one compressed packet */
    assert_int_equal(buf[3], 1);
    assert_int_equal(buf[4] | buf[5] | buf[6], 0); /* stored as is */
    assert_int_equal(buf[7 + 3], 1);
    assert_int_equal(buf[7 + 4], 0xff);
    assert_int_equal(buf[7 + 5] | buf[7 + 6] << 8, 1927);
    assert_int_equal(client_sees(c), 0);
    close(c);
    destroy(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failback_kills_and_moves),
        cmocka_unit_test(test_killed_session_frees_its_slot_at_once),
        cmocka_unit_test(test_connects_in_flight_bounded),
        cmocka_unit_test(test_queue_timeout_and_client_leaving),
        cmocka_unit_test(test_failback_rechecks_master),
        cmocka_unit_test(test_moved_session_may_fall_back),
        cmocka_unit_test(test_marked_down_kills),
        cmocka_unit_test(test_busy_server_wait_checks_usable),
        cmocka_unit_test(test_pass_moves_a_login),
        cmocka_unit_test(test_login_moves_when_server_leaves_before_response),
        cmocka_unit_test(test_greeting_in_the_timeouts_turn),
        cmocka_unit_test(test_on_error_once_per_run),
        cmocka_unit_test(test_failback_needs_no_memory),
        cmocka_unit_test(test_graceful_failback_waits_for_commit),
        cmocka_unit_test(test_graceful_failback_deadline),
        cmocka_unit_test(test_graceful_failback_session_ends_first),
        cmocka_unit_test(test_immediate_failback_tells_idle_clients),
        cmocka_unit_test(test_idle_compressed_client_told_compressed),
    };

    rb_loop = ev_default_loop(0);
    if (workers_create(1) < 0) /* one worker, whose loop the tests step */
        return 1;
    w = worker_at(0);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
