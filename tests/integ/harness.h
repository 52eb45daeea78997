/* harness.h - helpers for rebound's integration tests: a real MariaDB cluster, the real router
 * binary and real MySQL clients, with every wait bounded in time. */
#ifndef REBOUND_TESTS_HARNESS_H
#define REBOUND_TESTS_HARNESS_H

#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/types.h>

/* Most replicas a cluster can have (instance names master, replica1 .. replicaN). */
#define HARNESS_MAX_REPLICAS 4

/* Exit status of a command the harness ran that did not finish in time. */
#define HARNESS_TIMED_OUT (-2)

/* Client error numbers the tests look for (errmsg.h of Connector/C). */
#define CLIENT_GONE_ERROR   2006 /* server has gone away */
#define CLIENT_LOST_ERROR   2013 /* lost connection during query */
#define ROUTER_CLOSED_ERROR 1927 /* rebound's ERR to an idle client it closes, with the reason */

/* Did a query fail because rebound closed its session: an idle one reads rebound's ERR 1927
 * saying why, a busy one sees a lost connection (2013/2006)? */
static inline bool closed_by_router(int err)
{
    return err == ROUTER_CLOSED_ERROR || err == CLIENT_LOST_ERROR || err == CLIENT_GONE_ERROR;
}

/* ---- time and files ---- */

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t now_ms(void);

/* Sleep for ms milliseconds. */
void sleep_ms(int ms);

/* Per-process scratch directory (mktemp -d), created on first use and removed at exit; the
 * cluster's instances, configs and logs live in it. */
const char *harness_dir(void);

/* Write "harness_dir()/name" into buf. */
void harness_path(char *buf, size_t size, const char *name);

/* Current size of a file in bytes, 0 if it does not exist: an offset for the wait below. */
long file_size(const char *path);

/* Wait until a line of path at or after byte offset `from` contains `needle`; true if one did
 * within timeout_ms. */
bool wait_for_file_line_from(const char *path, long from, const char *needle, int timeout_ms);

/* Fail the running test unless such a line appears within timeout_ms; the whole file is
 * printed first (cmocka truncates long messages). */
void expect_file_line(const char *path, long from, const char *needle, int timeout_ms);

/* Same, from the start of the file. */
bool wait_for_file_line(const char *path, const char *needle, int timeout_ms);

/* Number of lines of path at or after offset `from` that contain `needle`. */
int count_file_lines(const char *path, long from, const char *needle);

/* The same, leaving out the lines that also contain `unless`. */
int count_file_lines_unless(const char *path, long from, const char *needle, const char *unless);

/* 0-based index of the first line of path at or after offset `from` that contains `needle`,
 * -1 if none: lets a test check the order of two log lines. */
int file_line_index(const char *path, long from, const char *needle);

/* Whole file as a NUL-terminated malloc'd string (caller frees), NULL if unreadable. */
char *read_file(const char *path);

/* Write a file from a printf format; 0 or -1. */
int write_file(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A TCP port on 127.0.0.1 that nothing listens on, below the ephemeral range, never one the
 * cluster uses and never the same twice in a process. Nothing listening there means a connect is
 * refused, so such ports also serve as dead servers. */
int free_port(void);

/* ---- commands ---- */

/* Run argv (argv[0] a path) with fds >= 3 closed and stdin on /dev/null; put its stdout and
 * stderr in out (NUL-terminated, truncated to outsz) if out is not NULL, else inherit them.
 * Returns the exit status, 128+signal if killed, HARNESS_TIMED_OUT (after SIGKILL) if it ran
 * longer than timeout_ms, -1 if it could not be run. */
int run_command(char *const argv[], char *out, size_t outsz, int timeout_ms);

/* Path of program NAME found in $PATH into buf; false if there is none. */
bool find_program(const char *name, char *buf, size_t size);

/* Start argv (argv[0] a path) in the background with stdin on /dev/null, stdout and stderr
 * appended to out_path and fds >= 3 closed; it is killed if this process dies. Its pid (stop it
 * and reap it by that pid), or -1. */
pid_t spawn_program(char *const argv[], const char *out_path);

/* Wait until pid (a child of this process) exits, at most timeout_ms, then SIGKILL it. Its exit
 * status, 128+signal, HARNESS_TIMED_OUT, or -1. */
int wait_program(pid_t pid, int timeout_ms);

/* SIGTERM pid and wait_program() it. */
int stop_program(pid_t pid, int timeout_ms);

/* ---- the MariaDB cluster (scripts/cluster.sh) ---- */

/* Make a self-signed certificate for 127.0.0.1 (master-tls.pem and master-tls.key in
 * harness_dir(), with the openssl CLI) and write master.opts, so that the master starts with TLS:
 * call before cluster_start(). 0 or -1 after printing why. */
int cluster_master_tls(void);

#define TEST_CA_PATH 512 /* size of each path of struct test_ca */

/* Certificates of a test CA, made once per process by harness_test_ca() with the openssl CLI
 * (EC keys: milliseconds to make), in harness_dir(). Server certificates are for IP 127.0.0.1
 * (subjectAltName), so a client that verifies the peer's name accepts them. Keys are mode 0600. */
struct test_ca {
    char ca[TEST_CA_PATH];              /* the CA's certificate: what clients trust */
    char cert[TEST_CA_PATH];            /* server certificate, CN=rebound-test, signed by the CA */
    char key[TEST_CA_PATH];             /* its key */
    char combined[TEST_CA_PATH];        /* cert, the CA's certificate and key in one PEM file */
    char cert2[TEST_CA_PATH];           /* a second server certificate, CN=rebound-test-2 */
    char key2[TEST_CA_PATH];            /* its key */
    char combined2[TEST_CA_PATH];       /* cert2, the CA's certificate and key2 */
    char client_cert[TEST_CA_PATH];     /* client certificate, CN=rebound-test-client */
    char client_key[TEST_CA_PATH];      /* its key */
    char client_combined[TEST_CA_PATH]; /* client_cert, the CA's certificate and client_key */
};

/* Fill ca with the paths of the test CA's files, making them on the first call. 0, or -1 after
 * printing why. */
int harness_test_ca(struct test_ca *ca);

/* Start a master and nreplicas replicas with replication in harness_dir(). A guardian process
 * stops them if this process dies without calling cluster_stop(). 0 or -1. */
int cluster_start(int nreplicas);

/* Stop every instance (also done at exit if the cluster still runs). */
void cluster_stop(void);

/* Restart one stopped instance (same port and datadir) and wait for a login; 0 or -1. */
int cluster_start_one(const char *name);

/* Stop one instance cleanly (SIGTERM) and wait for it to exit; 0 or -1. */
int cluster_stop_one(const char *name);

/* SIGKILL an instance and wait until it is gone; 0 or -1. */
int cluster_kill9(const char *name);

/* SIGSTOP an instance (its sockets stay open, it just stops answering) and wait until the kernel
 * reports it stopped; 0 or -1. */
int cluster_freeze(const char *name);

/* SIGCONT a frozen instance; 0 or -1. */
int cluster_thaw(const char *name);

/* Undo what a test may have left behind: thaw every instance and restart any that is not
 * running. 0 or -1. */
int cluster_restore(void);

/* Port of instance name ("master", "replica1", ...), -1 if unknown. */
int cluster_port(const char *name);

/* Pid of instance name from its pid file, -1 if it is not running. */
pid_t cluster_pid(const char *name);

/* cmocka group setup: ignore SIGPIPE (a write to a session the router closed must fail, not kill
 * the test) and start the cluster with 2 replicas (state unused). */
int harness_group_setup(void **state);

/* cmocka group teardown: stop the cluster and release the client library. */
int harness_group_teardown(void **state);

struct router;
/* The same for a group that shares one router R: stop R (clean exit, no sanitizer report)
 * first. 0 or -1. */
int harness_group_teardown_router(struct router *r, void **state);

/* ---- the router ---- */

/* A rebound process started by router_start(). */
struct router {
    pid_t pid;      /* 0 when not running */
    char conf[512]; /* config file it runs with */
    char err[512];  /* file holding its stdout and stderr */
    int login_port; /* port its readiness login went through */
};

/* The repository's root directory (it holds scripts/ and tests/). */
const char *harness_root(void);

/* Path of the router binary: $REBOUND_BIN, else build/rebound of the repository. */
const char *router_bin(void);

/* Start `rebound -f conf` with output to harness_dir()/NAME.err and wait (bounded) until a real
 * MySQL login as app succeeds through login_port. 0 or -1 (the router is then stopped). */
int router_start(struct router *r, const char *conf, int login_port);

/* SIGTERM the router and wait for it (bounded, then SIGKILL). 0 if it exited with status 0 and
 * its output holds no AddressSanitizer / LeakSanitizer / runtime error report, else -1 after
 * printing why and the output. */
int router_stop(struct router *r);

/* Run `rebound -c -f conf`; returns its exit status and its output in out. */
int router_check_config(const char *conf, char *out, size_t outsz);

/* ---- the router fixture ----
 *
 * What a test (or a group of tests) runs around one router: its config file and health log,
 * the ports it listens on, the sessions and sockets the test holds, and the changes the test
 * made as root on the cluster, each with the statement that undoes it. A test file declares one
 * `static struct router_fixture fx`, calls fixture_init() in its setup, starts the router with its
 * own config through fixture_start(), and ends with fixture_teardown(). */

#define FIXTURE_MAX_HELD 256 /* client sessions a test may hold at once */
#define FIXTURE_MAX_FDS  16  /* raw sockets a test may keep for teardown */
#define FIXTURE_MAX_UNDO 16  /* changes on the cluster a test may make */

/* SQL to run as root on an instance at teardown, to undo what a test changed. */
struct fixture_undo {
    char inst[16];
    char sql[256];
};

/* One router and what a test holds and changed around it; zeroed by fixture_init(). */
struct router_fixture {
    struct router router;
    char conf[512];                /* its config file, NAME-N.conf in harness_dir() */
    char health_log[512];          /* its health log, NAME-health-N.log: name it in the config */
    int rw_port;                   /* a free port for the listen the test routes through */
    int admin_port;                /* a free port for the admin port */
    const char *admin_pw;          /* password of the admin port's user "admin" */
    int nofile;                    /* RLIMIT_NOFILE fixture_start() gives rebound, 0: unchanged */
    MYSQL *held[FIXTURE_MAX_HELD]; /* sessions closed at teardown (NULL: free slot) */
    int fds[FIXTURE_MAX_FDS];      /* sockets closed at teardown */
    int nfds;
    struct fixture_undo undo[FIXTURE_MAX_UNDO]; /* run last first at teardown */
    int nundo;
    void (*stop_peers)(void); /* stops the test's own fake peers: fixture_teardown() calls it
                               * once the router is stopped, before the sockets close (NULL: no
                               * peers) */
};

/* Zero f and give it fresh paths (NAME-N.conf, NAME-health-N.log, N counting the fixtures of
 * this process), a free rw_port and admin_port, and the admin password ADMIN_PW (may be NULL
 * where the config has no admin port). 0, or -1 if no port is free. */
int fixture_init(struct router_fixture *f, const char *name, const char *admin_pw);

/* Write f->conf from a printf format and start the router on it (router_start_nofile() with
 * f->nofile, readiness login through login_port). 0 or -1. */
int fixture_start(struct router_fixture *f, int login_port, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Close the held sessions, then stop the router if it runs (router_stop(): a clean exit with no
 * sanitizer report). 0 or -1. */
int fixture_stop(struct router_fixture *f);

/* Close the kept sockets, thaw or restart every instance of the cluster (cluster_restore()) and
 * run the undo list. 0 or -1 (every step is done even after one failed). */
int fixture_restore(struct router_fixture *f);

/* fixture_stop(), f->stop_peers(), then fixture_restore(): all a test leaves behind. 0 or
 * -1. */
int fixture_teardown(struct router_fixture *f);

/* Print the health log to stderr: cmocka truncates long messages, so a failing test prints it
 * before fail_msg(). */
void fixture_dump_log(const struct router_fixture *f);

/* Fail the test (health log printed) unless a line of the health log at or after offset `from`
 * holds needle within timeout_ms. */
void fixture_expect_line(const struct router_fixture *f, long from, const char *needle,
                         int timeout_ms);

/* Open a session as app through port into a free f->held slot and return the slot; fails the
 * test if the login fails. */
int fixture_hold(struct router_fixture *f, int port);

/* Close every held session. */
void fixture_close_held(struct router_fixture *f);

/* Keep socket fd for teardown to close and return it; fails the test if fd is -1. */
int fixture_keep_fd(struct router_fixture *f, int fd);

/* Close a socket fixture_keep_fd() kept, and forget it. */
void fixture_close_fd(struct router_fixture *f, int fd);

/* Remember SQL (a printf format) to be run as root on INST at teardown, last pushed first run. */
void fixture_push_undo(struct router_fixture *f, const char *inst, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* SET GLOBAL VAR = VALUE as root on INST; the current value is restored at teardown (written
 * back as it reads, unquoted: for numeric variables). */
void fixture_set_global(struct router_fixture *f, const char *inst, const char *var,
                        const char *value);

/* Run the undo list now, last first, and empty it. 0, or -1 if a statement failed. */
int fixture_run_undo(struct router_fixture *f);

/* Run SQL (a printf format) on the admin port as admin and return the first column of its first
 * row as a number; fails the test (health log printed) on error. */
long long fixture_admin_int(const struct router_fixture *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- MySQL clients ---- */

/* Connect as user/pass (pass may be NULL) to db (may be NULL) on 127.0.0.1:port over TCP, with
 * connect, read and write timeouts of timeout_s seconds and no auto-reconnect. NULL on failure;
 * client_errno() and client_error() then tell why. */
MYSQL *client_connect(int port, const char *user, const char *pass, const char *db,
                      unsigned timeout_s);

/* The options of every client of the tests on a fresh MYSQL handle: TCP, connect, read and write
 * timeouts of timeout_s seconds, no auto-reconnect. */
void client_options(MYSQL *m, unsigned timeout_s);

/* client_connect() as app/app-pass to appdb with a 5 s timeout. */
MYSQL *client_connect_app(int port);

/* Run a statement and discard its result; 0 or the MySQL error number (also kept for
 * client_errno() / client_error()). */
int client_query(MYSQL *m, const char *sql);

/* Run sql on m and put the first column of its first row in out ("NULL" for a NULL); fails
 * the test on error. */
void client_query_text(MYSQL *m, const char *sql, char *out, size_t outsz);

/* Run sql on m and return the first column of its first row as a number; -1 on error or when
 * there is no row. */
long long client_query_int(MYSQL *m, const char *sql);

/* SELECT @@port on m: the port of the server the session landed on, -1 on error. */
int client_server_port(MYSQL *m);

/* Connect as app through port, return the server's @@port and disconnect; -1 on error. */
int client_port_via(int port);

/* Run SQL on the admin port (PORT, as USER/PASS) and put the first column of its first row, as a
 * number, in *V. 0, or -1 with why (login failure, error, no number) in ERR. */
int admin_number(int port, const char *user, const char *pass, const char *sql, long long *v,
                 char *err, size_t errlen);

/* Run SQL (one or more statements, ";" between them) with the mariadb command-line client on
 * the admin port (PORT, as USER/PASS, no TLS, verbose, tables drawn): its exit status, and
 * what it printed (both streams) in OUT. */
int admin_cli(int port, const char *user, const char *pass, const char *sql, char *out,
              size_t outsz);

/* Error number and message of the last failed client_* call. */
unsigned client_errno(void);
const char *client_error(void);

/* ---- root on an instance (over its unix socket) ---- */

/* A root session on instance inst; on a replica with sql_log_bin off. NULL on error (printed). */
MYSQL *root_connect(const char *inst);

/* Run sql on m; the first column of its first row (the value column of SHOW STATUS-style
 * rows) goes to out if not NULL. 0, or the MySQL error number after printing it. */
int root_run(MYSQL *m, const char *sql, char *out, size_t outsz);

/* root_run() on a fresh root session of inst; fails the test on error. */
void root_sql(const char *inst, char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- sockets for fake peers ---- */

/* 127.0.0.1:port. */
struct sockaddr_in loopback_addr(int port);

/* A socket listening on 127.0.0.1:port with BACKLOG, nothing accepting from it yet; -1 on
 * error. */
int loopback_listen(int port, int backlog);

/* A non-blocking connect to 127.0.0.1:port, under way or done; -1 (errno set) on error. */
int loopback_connect(int port);

/* Send all of buf on socket fd, stopping quietly at the first error (the other side may have
 * closed: EPIPE, ECONNRESET). */
void send_all(int fd, const void *buf, size_t len);

/* Read from fd until EOF or error, at most timeout_ms; bytes read, -1 on timeout. */
long read_until_eof(int fd, int timeout_ms);

/* Read one whole MySQL packet (header + payload) from a blocking fd within timeout_ms into buf;
 * its payload length, -1 on timeout, EOF, error or a packet larger than size. */
long read_packet(int fd, unsigned char *buf, size_t size, int timeout_ms);

/* GET path from the HTTP stats port on 127.0.0.1:port (HTTP/1.0, read until the server closes,
 * at most timeout_ms): the body, NUL-terminated and truncated to size, goes to buf. The HTTP
 * status, or -1. */
int stats_get(int port, const char *path, char *buf, size_t size, int timeout_ms);

/* The sum of the samples of metric `name` in a /metrics body whose labels hold `label` (e.g.
 * side="client"; NULL: every sample). -1 if there is no such sample. */
double metric_sum(const char *body, const char *name, const char *label);

/* ==== fake MySQL peers and resource limits ====
 *
 * A fake server on its own thread that does one scripted thing on every connection it accepts
 * (greet correctly, greet with a wrong protocol byte, send garbage, send half a greeting, send
 * nothing), keeps each connection open until the other side closes it, and can record what it
 * receives. And a way to start the router with a lower RLIMIT_NOFILE. */

#include <pthread.h>
#include <stdatomic.h>

#define FAKE_PEER_MAX_CONN 128  /* connections a fake peer keeps; later ones are closed at once */
#define FAKE_PEER_RX_MAX   4096 /* bytes of each connection's input kept when recording */

/* What a fake peer sends on each connection it accepts. */
enum fake_peer_kind {
    FAKE_PEER_GREETING,  /* a valid protocol-10 greeting (mysql_native_password, no TLS) */
    FAKE_PEER_PROTOCOL9, /* the same greeting with protocol byte 9 instead of 10 */
    FAKE_PEER_GARBAGE,   /* an HTTP/1.1 400 response: no MySQL packet at all */
    FAKE_PEER_TRUNCATED, /* the first half of a valid greeting packet, then silence */
    FAKE_PEER_SILENT,    /* nothing at all (all input counts as received after the greeting) */
};

/* One connection a fake peer accepted. Input is always counted; with `record` its first
 * FAKE_PEER_RX_MAX bytes are kept, those that came before the greeting was sent first. */
struct fake_peer_conn {
    int fd;                             /* -1 once closed */
    bool greeted;                       /* the greeting (or what the kind sends instead) is out */
    int64_t greet_at;                   /* now_ms() at which to send it */
    size_t nbefore;                     /* bytes received before the greeting was sent */
    size_t nin;                         /* bytes received in all */
    unsigned char rx[FAKE_PEER_RX_MAX]; /* with record: the first bytes received */
};

/* A fake MySQL server. Set the configuration fields (or leave them zero), then call
 * fake_peer_start(); read results with the fake_peer_* accessors (they lock), and release it
 * with fake_peer_stop(). Each connection stays open until the other side closes it (or the peer
 * is stopped); whatever arrives is read. */
struct fake_peer {
    /* configuration */
    enum fake_peer_kind kind; /* what to send on accept */
    bool record;              /* keep the bytes each connection receives */
    int greet_delay_ms;       /* wait this long after accept before sending anything */
    int greet_interval_ms;    /* greet one connection at a time, this far apart (a busy server
                               * working through its queue); 0: each on its own */
    int silent_conn;          /* never greet this connection (1: the first accepted), as if the
                               * kernel had lost it in a full accept queue; 0: none */
    const char *version;      /* server version in the greeting, NULL for "5.7.99-fake" */
    int close_after;          /* close a connection once it sent this many bytes after the
                               * greeting, as a server that dies during a login; 0: never */
    bool mariadb;             /* greet with the capability flags of MariaDB 10.11 */
    /* state, owned by fake_peer_start() / fake_peer_stop() */
    int port;         /* port it listens on */
    int lfd;          /* listening socket, -1 if none */
    bool running;     /* the thread runs */
    atomic_bool stop; /* asks the thread to end */
    pthread_t thread;
    pthread_mutex_t lock;  /* guards nconns and conns against the thread */
    int nconns;            /* connections accepted, including those closed for want of a slot */
    int64_t next_greet_at; /* with greet_interval_ms: when the next greeting may go */
    struct fake_peer_conn conns[FAKE_PEER_MAX_CONN];
};

/* Name of a kind, for messages. */
const char *fake_peer_kind_name(enum fake_peer_kind kind);

/* Listen on 127.0.0.1:port and start serving on a thread with f's configuration. 0, or -1 (f
 * is then not running). */
int fake_peer_start(struct fake_peer *f, int port);

/* Stop the thread and close every socket. Does nothing if f is not running. */
void fake_peer_stop(struct fake_peer *f);

/* Connections f accepted so far. */
int fake_peer_accepted(struct fake_peer *f);

/* What connection conn (0-based, in accept order) received after its greeting was sent: up to
 * size - 1 bytes go to buf (NUL-terminated; only with record), the count (whatever record says)
 * is returned, and *before (if not NULL) gets the bytes received before the greeting was sent.
 * -1 if there is no such connection or it was closed for want of a slot. */
long fake_peer_received(struct fake_peer *f, int conn, char *buf, size_t size, long *before);

/* Wait until connection conn has received at least n bytes after its greeting; true if it did
 * within timeout_ms. */
bool fake_peer_wait_received(struct fake_peer *f, int conn, long n, int timeout_ms);

/* A client on a thread of its own that runs SELECT 1 through a port, over one session, until it
 * is stopped: traffic that must keep flowing while a test does something else. It counts the
 * answers and keeps the slowest, apart for the queries before and after `stressed` is set (a
 * quiet window that measures the machine, then the test's stress). There is at least one query,
 * even when the loop is stopped before its login was through. */
struct query_loop {
    int port;             /* configuration: where the session goes, as app */
    int pause_ms;         /* configuration: the pause after each query */
    pthread_t th;         /* state, owned by query_loop_start() / query_loop_stop() */
    bool running;         /* the thread runs, or ended and was not joined yet */
    atomic_bool stop;     /* asks the thread to end */
    atomic_bool stressed; /* set by the test: the stress has begun */
    atomic_int nquiet;    /* queries done before `stressed` */
    int64_t quiet_ms;     /* the slowest query before `stressed` */
    int64_t max_ms;       /* the slowest query after it */
    int ok, failed;       /* queries answered and failed (a failed login counts) */
};

/* Stop q if it still runs (a test that failed left it), then start it afresh on port, pausing
 * pause_ms after each query; fails the test if the thread cannot be created. The counters and
 * times are the thread's own until query_loop_stop() joined it. */
void query_loop_start(struct query_loop *q, int port, int pause_ms);

/* Ask q to end and join its thread; does nothing if it does not run. */
void query_loop_stop(struct query_loop *q);

/* router_start() with RLIMIT_NOFILE soft and hard limits set to nofile in the router process
 * (before exec), so that rebound runs out of descriptors early. */
int router_start_nofile(struct router *r, const char *conf, int login_port, int nofile);

#endif
