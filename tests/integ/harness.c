/* harness.c - integration-test helpers: cluster via scripts/cluster.sh, router process, the
 * router fixture around it, clients, fake peers.
 *
 * Ownership: one scratch directory per test process (harness_dir()) holds the cluster, configs
 * and logs. Three things make sure no mariadbd or rebound outlives the test process, however it
 * ends: an atexit handler (normal exit, failed group setup), a guardian child that stops the
 * cluster when the pipe from this process closes without a "done" byte (crash, signal, SIGKILL),
 * and PR_SET_PDEATHSIG on every router child. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, close_range */
#endif
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stddef.h>
#include <cmocka.h> /* root_sql() fails the running test */

/* cluster.sh bounds its own waits; this is only a backstop. */
#define CLUSTER_TIMEOUT_MS 120000
#define ROUTER_READY_MS    20000 /* router start-up, generous for the ASan build */
#define ROUTER_STOP_MS     20000 /* SIGTERM to exit, LeakSanitizer included */
#define MAX_ROUTERS        8
#define MAX_GIVEN_PORTS    256

/* Everything the harness knows about the current process's cluster and children. */
struct harness_state {
    char dir[PATH_MAX];                  /* scratch directory, "" until harness_dir() */
    char root[PATH_MAX];                 /* repository root (holds scripts/cluster.sh) */
    char bin[PATH_MAX + 32];             /* router binary */
    int nreplicas;                       /* -1 while no cluster runs */
    int ports[1 + HARNESS_MAX_REPLICAS]; /* master, replica1, ... */
    pid_t guard_pid;                     /* guardian child, 0 if none */
    int guard_fd;                        /* write end of the guardian's pipe, -1 if none */
    pid_t routers[MAX_ROUTERS];          /* routers started and not yet stopped */
    int given_ports[MAX_GIVEN_PORTS];    /* ports free_port() handed out */
    int ngiven;
    unsigned err_no; /* last client error */
    char err_msg[512];
    bool mysql_inited;
};

static struct harness_state H = {.nreplicas = -1, .guard_fd = -1};

/* ---- time and files ---- */

int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void harness_atexit(void);

const char *harness_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    char tmpl[PATH_MAX];

    if (H.dir[0])
        return H.dir;
    snprintf(tmpl, sizeof(tmpl), "%s/rebound-integ.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    /* realpath: cluster.sh matches instances by their --datadir, which it canonicalizes. */
    if (!mkdtemp(tmpl) || !realpath(tmpl, H.dir)) {
        fprintf(stderr, "harness: cannot create %s: %s\n", tmpl, strerror(errno));
        exit(1);
    }
    atexit(harness_atexit);
    return H.dir;
}

void harness_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", harness_dir(), name);
}

long file_size(const char *path)
{
    FILE *f = fopen(path, "r");
    long n;

    if (!f)
        return 0;
    n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
    fclose(f);
    return n < 0 ? 0 : n;
}

/* Scan the lines of path from offset `from`: the number of lines containing needle, and in
 * *first the index of the first of them (-1 if none). */
static int scan_file_lines(const char *path, long from, const char *needle, const char *unless,
                           int *first)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    int n = 0, i = 0;

    *first = -1;
    if (!f)
        return 0;
    if (fseek(f, from, SEEK_SET) == 0) {
        for (; getline(&line, &cap, f) >= 0; i++) {
            if (!strstr(line, needle) || (unless && strstr(line, unless)))
                continue;
            if (n++ == 0)
                *first = i;
        }
    }
    free(line);
    fclose(f);
    return n;
}

int count_file_lines(const char *path, long from, const char *needle)
{
    int first;

    return scan_file_lines(path, from, needle, NULL, &first);
}

int count_file_lines_unless(const char *path, long from, const char *needle, const char *unless)
{
    int first;

    return scan_file_lines(path, from, needle, unless, &first);
}

int file_line_index(const char *path, long from, const char *needle)
{
    int first;

    scan_file_lines(path, from, needle, NULL, &first);
    return first;
}

bool wait_for_file_line_from(const char *path, long from, const char *needle, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    for (;;) {
        if (count_file_lines(path, from, needle) > 0)
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(20);
    }
}

void expect_file_line(const char *path, long from, const char *needle, int timeout_ms)
{
    char *text;

    if (wait_for_file_line_from(path, from, needle, timeout_ms))
        return;
    text = read_file(path);
    fprintf(stderr, "---- %s ----\n%s---- end ----\n", path, text ? text : "(missing)\n");
    free(text);
    fail_msg("no line \"%s\" in %s within %d ms", needle, path, timeout_ms);
}

bool wait_for_file_line(const char *path, const char *needle, int timeout_ms)
{
    return wait_for_file_line_from(path, 0, needle, timeout_ms);
}

char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (!f)
        return NULL;
    do {
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap + 65536);
            if (!nb)
                break;
            buf = nb;
            cap += 65536;
        }
        n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
    } while (n > 0);
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/* write_file() with a va_list. */
static int vwrite_file(const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static int vwrite_file(const char *path, const char *fmt, va_list ap)
{
    FILE *f = fopen(path, "w");
    int rc;

    if (!f)
        return -1;
    rc = vfprintf(f, fmt, ap);
    if (fclose(f) != 0 || rc < 0)
        return -1;
    return 0;
}

int write_file(const char *path, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vwrite_file(path, fmt, ap);
    va_end(ap);
    return rc;
}

/* True if port is taken by the cluster or was already handed out. */
static bool port_reserved(int port)
{
    int i;

    for (i = 0; i <= H.nreplicas; i++)
        if (H.ports[i] == port)
            return true;
    for (i = 0; i < H.ngiven; i++)
        if (H.given_ports[i] == port)
            return true;
    return false;
}

/* True if nothing holds 127.0.0.1:port (bound without SO_REUSEADDR: TIME_WAIT counts as held). */
static bool port_bindable(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0)
        return false;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

int free_port(void)
{
    static bool seeded;
    int lo = 32768, hi, base, attempt, port;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

    if (f) {
        if (fscanf(f, "%d", &lo) != 1)
            lo = 32768;
        fclose(f);
    }
    /* Below the ephemeral range: an outgoing connection can never squat on it later. */
    hi = lo > 2048 ? lo : 65535;
    base = lo > 2048 ? (lo - 12000 > 1024 ? lo - 12000 : 1024) : 40000;
    if (!seeded) {
        srand((unsigned)(getpid() ^ now_ms()));
        seeded = true;
    }
    for (attempt = 0; attempt < 1000 && H.ngiven < MAX_GIVEN_PORTS; attempt++) {
        port = base + rand() % (hi - base);
        if (port_reserved(port) || !port_bindable(port))
            continue;
        H.given_ports[H.ngiven++] = port;
        return port;
    }
    fprintf(stderr, "harness: no free port found\n");
    return -1;
}

/* ---- commands ---- */

/* In a fresh child: stdin from /dev/null, stdout+stderr to out_fd (if >= 0), every other fd
 * closed so no client socket or pipe end leaks into mariadbd or rebound. */
static void child_prepare(int out_fd)
{
    int fd = open("/dev/null", O_RDONLY);
    long max, i;

    if (fd >= 0 && fd != STDIN_FILENO) {
        dup2(fd, STDIN_FILENO);
        close(fd);
    }
    if (out_fd >= 0) {
        dup2(out_fd, STDOUT_FILENO);
        dup2(out_fd, STDERR_FILENO);
    }
    signal(SIGPIPE, SIG_DFL); /* an ignored signal would stay ignored across exec */
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
        return;
#endif
    max = sysconf(_SC_OPEN_MAX);
    for (i = 3; i < (max > 0 ? max : 4096); i++)
        close((int)i);
}

/* Wait for pid until deadline (ms, monotonic); SIGKILL it then. Returns the exit status,
 * 128+signal, or HARNESS_TIMED_OUT. */
static int wait_child(pid_t pid, int64_t deadline)
{
    int st;
    pid_t r;

    for (;;) {
        r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_ms() >= deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return HARNESS_TIMED_OUT;
        }
        sleep_ms(10);
    }
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

/* Read fd into out until EOF or deadline; always NUL-terminates. */
static void drain_fd(int fd, char *out, size_t outsz, int64_t deadline)
{
    size_t len = 0;
    char sink[4096];
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ssize_t n;

    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0 || poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) < 0) {
            if (left <= 0 || errno != EINTR)
                break;
            continue;
        }
        if (!pfd.revents)
            continue;
        if (len + 1 < outsz)
            n = read(fd, out + len, outsz - len - 1);
        else
            n = read(fd, sink, sizeof(sink));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (len + 1 < outsz)
            len += (size_t)n;
    }
    if (outsz)
        out[len] = '\0';
}

int run_command(char *const argv[], char *out, size_t outsz, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int pfd[2] = {-1, -1};
    pid_t pid;

    if (out && pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        if (out) {
            close(pfd[0]);
            close(pfd[1]);
        }
        return -1;
    }
    if (pid == 0) {
        child_prepare(out ? pfd[1] : -1);
        execv(argv[0], argv);
        _exit(127);
    }
    if (out) {
        close(pfd[1]);
        drain_fd(pfd[0], out, outsz, deadline);
        close(pfd[0]);
    }
    return wait_child(pid, deadline);
}

/* ---- repository and binaries ---- */

bool find_program(const char *name, char *buf, size_t size)
{
    const char *path = getenv("PATH");
    char dirs[4096], *dir, *save = NULL;

    snprintf(dirs, sizeof(dirs), "%s", path && path[0] ? path : "/usr/bin:/bin");
    for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        snprintf(buf, size, "%s/%s", dir[0] ? dir : ".", name);
        if (access(buf, X_OK) == 0)
            return true;
    }
    return false;
}

/* If the directory `levels` components above path (after realpath) holds scripts/cluster.sh,
 * store it in H.root and return true. */
static bool root_above(const char *path, int levels)
{
    char real[PATH_MAX], script[PATH_MAX + 32], *slash;
    int i;

    if (!path || !realpath(path, real))
        return false;
    for (i = 0; i < levels; i++) {
        slash = strrchr(real, '/');
        if (!slash || slash == real)
            return false;
        *slash = '\0';
    }
    snprintf(script, sizeof(script), "%s/scripts/cluster.sh", real);
    if (access(script, X_OK) != 0)
        return false;
    snprintf(H.root, sizeof(H.root), "%s", real);
    return true;
}

/* Repository root: the cwd when tests run from it (make does), else derived from $REBOUND_BIN
 * (REPO/build/rebound) or from this binary (REPO/build/tests/test_x); "." as a last guess. */
static const char *repo_root(void)
{
    if (H.root[0])
        return H.root;
    if (root_above(".", 0) || root_above(getenv("REBOUND_BIN"), 2) ||
        root_above("/proc/self/exe", 3))
        return H.root;
    snprintf(H.root, sizeof(H.root), ".");
    return H.root;
}

const char *harness_root(void)
{
    return repo_root();
}

const char *router_bin(void)
{
    const char *env = getenv("REBOUND_BIN");

    if (!H.bin[0]) {
        if (env && env[0])
            snprintf(H.bin, sizeof(H.bin), "%s", env);
        else
            snprintf(H.bin, sizeof(H.bin), "%s/build/rebound", repo_root());
    }
    return H.bin;
}

/* ---- the cluster ---- */

/* Run scripts/cluster.sh CMD DIR [ARG]; its errors go to our stderr. Exit status or < 0. */
static int cluster_sh(const char *cmd, const char *arg)
{
    char script[PATH_MAX + 32];
    char *argv[7];
    int n = 0;

    snprintf(script, sizeof(script), "%s/scripts/cluster.sh", repo_root());
    argv[n++] = script;
    if (getenv("HARNESS_VERBOSE"))
        argv[n++] = (char *)"-v";
    argv[n++] = (char *)cmd;
    argv[n++] = H.dir;
    if (arg)
        argv[n++] = (char *)arg;
    argv[n] = NULL;
    return run_command(argv, NULL, 0, CLUSTER_TIMEOUT_MS);
}

/* Remove the scratch directory unless HARNESS_KEEP is set (then say where it is). */
static void remove_dir(void)
{
    char *argv[] = {(char *)"/bin/rm", (char *)"-rf", H.dir, NULL};

    if (!H.dir[0])
        return;
    if (getenv("HARNESS_KEEP")) {
        fprintf(stderr, "harness: keeping %s\n", H.dir);
        return;
    }
    run_command(argv, NULL, 0, 60000);
}

/* Guardian child: blocks on the pipe; EOF without a 'D' (done) byte first means the test process
 * died, so stop the cluster and remove the directory on its behalf. */
static void guardian_run(int fd)
{
    bool done = false;
    char c;
    ssize_t n;

    for (;;) {
        n = read(fd, &c, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (c == 'D')
            done = true;
    }
    if (!done) {
        cluster_sh("stop", NULL);
        remove_dir();
    }
    _exit(0);
}

/* Fork the guardian in its own session (a Ctrl-C to the test must not reach it). */
static void guardian_start(void)
{
    int p[2];
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) < 0)
        return;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        close(p[1]);
        setsid();
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        guardian_run(p[0]);
    }
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return;
    }
    H.guard_pid = pid;
    H.guard_fd = p[1];
}

/* Tell the guardian all is cleaned up and reap it. */
static void guardian_done(void)
{
    if (H.guard_fd < 0)
        return;
    if (write(H.guard_fd, "D", 1) != 1)
        perror("harness: guardian");
    close(H.guard_fd);
    H.guard_fd = -1;
    wait_child(H.guard_pid, now_ms() + 5000);
    H.guard_pid = 0;
}

/* Index of instance name (master 0, replicaN N), -1 if the cluster has no such instance. */
static int instance_index(const char *name)
{
    int n;

    if (strcmp(name, "master") == 0)
        return 0;
    if (sscanf(name, "replica%d", &n) == 1 && n >= 1 && n <= H.nreplicas)
        return n;
    return -1;
}

/* Load ports from DIR/cluster.env (KEY=VALUE lines written by cluster.sh). */
static int load_cluster_env(void)
{
    char path[PATH_MAX + 16], line[512], key[64];
    FILE *f;
    int i, port, found = 0;

    harness_path(path, sizeof(path), "cluster.env");
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "MASTER_PORT=%d", &port) == 1) {
            H.ports[0] = port;
            found++;
            continue;
        }
        for (i = 1; i <= H.nreplicas; i++) {
            snprintf(key, sizeof(key), "REPLICA%d_PORT=%%d", i);
            if (sscanf(line, key, &port) == 1) {
                H.ports[i] = port;
                found++;
            }
        }
    }
    fclose(f);
    return found == H.nreplicas + 1 ? 0 : -1;
}

int cluster_master_tls(void)
{
    char openssl[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], opts[PATH_MAX], out[4096];

    if (!find_program("openssl", openssl, sizeof(openssl))) {
        fprintf(stderr, "openssl not found in PATH\n");
        return -1;
    }
    harness_path(cert, sizeof(cert), "master-tls.pem");
    harness_path(key, sizeof(key), "master-tls.key");
    char *argv[] = {openssl,
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    key,
                    "-out",
                    cert,
                    "-days",
                    "2",
                    "-subj",
                    "/CN=127.0.0.1",
                    NULL};
    if (run_command(argv, out, sizeof(out), 30000) != 0) {
        fprintf(stderr, "openssl req failed: %s\n", out);
        return -1;
    }
    harness_path(opts, sizeof(opts), "master.opts");
    return write_file(opts, "--ssl-cert=%s\n--ssl-key=%s\n", cert, key);
}

/* Run the openssl CLI (path in openssl) with args, NULL-terminated; 0, or -1 after printing
 * its output. */
static int openssl_cli(const char *openssl, const char *first, ...)
{
    char *argv[40], out[4096];
    va_list ap;
    int n = 0, rc;

    argv[n++] = (char *)openssl;
    argv[n++] = (char *)first;
    va_start(ap, first);
    while (n < 39 && (argv[n] = va_arg(ap, char *)))
        n++;
    va_end(ap);
    argv[n] = NULL;
    rc = run_command(argv, out, sizeof(out), 30000);
    if (rc != 0)
        fprintf(stderr, "harness: openssl %s failed (%d): %s\n", first, rc, out);
    return rc == 0 ? 0 : -1;
}

/* Concatenate the files of parts (NULL-terminated) into path; 0 or -1. */
static int concat_files(const char *path, const char *const parts[])
{
    FILE *out = fopen(path, "w");
    int rc = 0;

    if (!out)
        return -1;
    for (; *parts; parts++) {
        char *text = read_file(*parts);
        if (!text || fputs(text, out) < 0)
            rc = -1;
        free(text);
    }
    if (fclose(out) != 0)
        rc = -1;
    return rc;
}

/* A key and a certificate for cn signed by the CA (ca, ca_key), with the extensions of ext
 * (written to a file beside it); the key mode 0600, and the combined file (cert, CA, key). */
static int make_signed(const char *openssl, const char *ca, const char *ca_key, const char *name,
                       const char *cn, const char *ext, char *cert, char *key, char *combined,
                       int serial)
{
    char csr[PATH_MAX], extf[PATH_MAX], subj[128], file[128], serial_s[16];

    snprintf(file, sizeof(file), "%s.pem", name);
    harness_path(cert, TEST_CA_PATH, file);
    snprintf(file, sizeof(file), "%s.key", name);
    harness_path(key, TEST_CA_PATH, file);
    snprintf(file, sizeof(file), "%s-combined.pem", name);
    harness_path(combined, TEST_CA_PATH, file);
    snprintf(file, sizeof(file), "%s.csr", name);
    harness_path(csr, sizeof(csr), file);
    snprintf(file, sizeof(file), "%s.ext", name);
    harness_path(extf, sizeof(extf), file);
    snprintf(subj, sizeof(subj), "/CN=%s", cn);
    snprintf(serial_s, sizeof(serial_s), "%d", serial);
    if (write_file(extf, "%s\n", ext) != 0 ||
        openssl_cli(openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", csr, "-subj", subj, NULL) != 0 ||
        chmod(key, 0600) != 0 ||
        openssl_cli(openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial",
                    serial_s, "-days", "2", "-extfile", extf, "-out", cert, NULL) != 0)
        return -1;
    const char *parts[] = {cert, ca, key, NULL};
    if (concat_files(combined, parts) != 0 || chmod(combined, 0600) != 0)
        return -1;
    return 0;
}

int harness_test_ca(struct test_ca *ca)
{
    static const char server_ext[] = "subjectAltName = IP:127.0.0.1\n"
                                     "extendedKeyUsage = serverAuth\n"
                                     "basicConstraints = CA:FALSE";
    static const char client_ext[] = "extendedKeyUsage = clientAuth\n"
                                     "basicConstraints = CA:FALSE";
    static struct test_ca made;
    static bool done;
    char openssl[PATH_MAX], ca_key[PATH_MAX];

    if (done) {
        *ca = made;
        return 0;
    }
    if (!find_program("openssl", openssl, sizeof(openssl))) {
        fprintf(stderr, "harness: openssl not found in PATH\n");
        return -1;
    }
    harness_path(made.ca, sizeof(made.ca), "test-ca.pem");
    harness_path(ca_key, sizeof(ca_key), "test-ca.key");
    if (openssl_cli(openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key, "-out", made.ca,
                    "-days", "2", "-subj", "/CN=rebound test CA", NULL) != 0 ||
        chmod(ca_key, 0600) != 0 ||
        make_signed(openssl, made.ca, ca_key, "test-server", "rebound-test", server_ext, made.cert,
                    made.key, made.combined, 2) != 0 ||
        make_signed(openssl, made.ca, ca_key, "test-server2", "rebound-test-2", server_ext,
                    made.cert2, made.key2, made.combined2, 3) != 0 ||
        make_signed(openssl, made.ca, ca_key, "test-client", "rebound-test-client", client_ext,
                    made.client_cert, made.client_key, made.client_combined, 4) != 0)
        return -1;
    done = true;
    *ca = made;
    return 0;
}

int cluster_start(int nreplicas)
{
    char n[16];

    if (H.nreplicas >= 0 || nreplicas < 0 || nreplicas > HARNESS_MAX_REPLICAS)
        return -1;
    harness_dir();
    guardian_start();
    H.nreplicas = nreplicas;
    snprintf(n, sizeof(n), "%d", nreplicas);
    if (cluster_sh("start", n) != 0 || load_cluster_env() != 0) {
        fprintf(stderr, "harness: cluster start failed in %s\n", H.dir);
        cluster_stop();
        return -1;
    }
    if (getenv("HARNESS_VERBOSE"))
        fprintf(stderr, "harness: cluster in %s, master on port %d\n", H.dir, H.ports[0]);
    return 0;
}

void cluster_stop(void)
{
    if (H.nreplicas < 0)
        return;
    if (cluster_sh("stop", NULL) != 0)
        fprintf(stderr, "harness: cluster stop failed in %s\n", H.dir);
    H.nreplicas = -1;
    guardian_done();
}

int cluster_start_one(const char *name)
{
    if (instance_index(name) < 0)
        return -1;
    return cluster_sh("start-one", name) == 0 ? 0 : -1;
}

int cluster_stop_one(const char *name)
{
    if (instance_index(name) < 0)
        return -1;
    return cluster_sh("stop-one", name) == 0 ? 0 : -1;
}

int cluster_port(const char *name)
{
    int i = instance_index(name);

    return i < 0 ? -1 : H.ports[i];
}

/* Scheduler state letter of pid from /proc (R, S, T, Z, ...), 0 if there is no such process. */
static char proc_state(pid_t pid)
{
    char path[64], buf[512], *paren;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    paren = strrchr(buf, ')');
    return paren && paren[1] == ' ' ? paren[2] : 0;
}

/* True if pid is a live (not zombie) mariadbd of instance name; guards against stale pid files
 * (kill -9 leaves them behind) pointing at a recycled pid. */
static bool instance_alive(pid_t pid, const char *name)
{
    char path[64], cmd[8192], want[PATH_MAX + 64];
    char state = proc_state(pid);
    FILE *f;
    size_t n, i;

    if (state == 0 || state == 'Z' || state == 'X')
        return false;
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return false;
    n = fread(cmd, 1, sizeof(cmd) - 1, f);
    fclose(f);
    for (i = 0; i < n; i++)
        if (cmd[i] == '\0')
            cmd[i] = ' ';
    cmd[n] = '\0';
    snprintf(want, sizeof(want), "--datadir=%s/%s ", H.dir, name);
    return strstr(cmd, want) != NULL;
}

pid_t cluster_pid(const char *name)
{
    char path[PATH_MAX + 32];
    FILE *f;
    int pid = -1;

    if (instance_index(name) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s/%s.pid", H.dir, name);
    f = fopen(path, "r");
    if (!f)
        return -1;
    if (fscanf(f, "%d", &pid) != 1)
        pid = -1;
    fclose(f);
    return pid > 0 && instance_alive(pid, name) ? pid : -1;
}

/* True once instance name (pid) is gone: the wait of cluster_kill9(). */
static bool instance_gone(pid_t pid, const char *name)
{
    return !instance_alive(pid, name);
}

/* True once pid is stopped: the wait of cluster_freeze(). */
static bool instance_stopped(pid_t pid, const char *name)
{
    (void)name;
    return proc_state(pid) == 'T';
}

/* Send sig to instance name and wait, polling every poll_ms, until done() says the kernel did
 * it. 30 s is a bound, not an expectation: it returns as soon as done() holds. 0 or -1. */
static int signal_instance(const char *name, int sig, bool (*done)(pid_t, const char *),
                           int poll_ms)
{
    pid_t pid = cluster_pid(name);
    int64_t deadline = now_ms() + 30000;

    if (pid < 0 || kill(pid, sig) < 0)
        return -1;
    while (!done(pid, name)) {
        if (now_ms() >= deadline)
            return -1;
        sleep_ms(poll_ms);
    }
    return 0;
}

int cluster_kill9(const char *name)
{
    return signal_instance(name, SIGKILL, instance_gone, 10);
}

int cluster_freeze(const char *name)
{
    return signal_instance(name, SIGSTOP, instance_stopped, 5);
}

int cluster_thaw(const char *name)
{
    pid_t pid = cluster_pid(name);

    return pid < 0 || kill(pid, SIGCONT) < 0 ? -1 : 0;
}

int cluster_restore(void)
{
    char name[32];
    int i, rc = 0;
    pid_t pid;

    for (i = 0; i <= H.nreplicas; i++) {
        if (i == 0)
            snprintf(name, sizeof(name), "master");
        else
            snprintf(name, sizeof(name), "replica%d", i);
        pid = cluster_pid(name);
        if (pid > 0)
            kill(pid, SIGCONT);
        else if (cluster_start_one(name) != 0)
            rc = -1;
    }
    return rc;
}

int harness_group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (access(router_bin(), X_OK) != 0) {
        fprintf(stderr, "harness: router binary %s not found (set REBOUND_BIN or run make)\n",
                router_bin());
        return -1;
    }
    return cluster_start(2);
}

int harness_group_teardown(void **state)
{
    (void)state;
    cluster_stop();
    if (H.mysql_inited) {
        mysql_library_end();
        H.mysql_inited = false;
    }
    return 0;
}

int harness_group_teardown_router(struct router *r, void **state)
{
    int rc = 0;

    if (r->pid > 0 && router_stop(r) != 0)
        rc = -1;
    if (harness_group_teardown(state) != 0)
        rc = -1;
    return rc;
}

/* Last resort at exit: kill leftover routers, stop the cluster, remove the directory. */
static void harness_atexit(void)
{
    int i;

    for (i = 0; i < MAX_ROUTERS; i++) {
        if (H.routers[i] > 0) {
            kill(H.routers[i], SIGKILL);
            waitpid(H.routers[i], NULL, 0);
            H.routers[i] = 0;
        }
    }
    cluster_stop();
    remove_dir();
    if (H.mysql_inited) {
        mysql_library_end();
        H.mysql_inited = false;
    }
}

/* ---- the router ---- */

/* Remember (pid > 0) or forget (pid < 0: forget -pid) a running router for harness_atexit. */
static void track_router(pid_t pid)
{
    int i;

    for (i = 0; i < MAX_ROUTERS; i++) {
        if (pid > 0 && H.routers[i] == 0) {
            H.routers[i] = pid;
            return;
        }
        if (pid < 0 && H.routers[i] == -pid) {
            H.routers[i] = 0;
            return;
        }
    }
}

/* Print the router's output file to stderr, at most its last 8 KiB. */
static void dump_router_output(const struct router *r)
{
    char *out = read_file(r->err);
    size_t len;

    if (!out)
        return;
    len = strlen(out);
    fprintf(stderr, "---- %s ----\n%s%s---- end ----\n", r->err,
            len > 8192 ? out + len - 8192 : out, len && out[len - 1] != '\n' ? "\n" : "");
    free(out);
}

/* Resource limits of a router child before exec; defined with router_start_nofile() below. */
static void router_child_limits(void);

/* Fork and exec argv in the background with output to out_fd (see child_prepare()), killed
 * with this process; before_exec (if not NULL) runs in the child just before the exec. The
 * child's pid, or -1. */
static pid_t spawn_child(char *const argv[], int out_fd, void (*before_exec)(void))
{
    pid_t parent = getpid(), pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        /* Die with the test process, whatever kills it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        child_prepare(out_fd);
        if (before_exec)
            before_exec();
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

pid_t spawn_program(char *const argv[], const char *out_path)
{
    int fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    pid_t pid;

    if (fd < 0)
        return -1;
    pid = spawn_child(argv, fd, NULL);
    close(fd);
    return pid;
}

/* TEST_ONLY=pattern runs only the tests of a binary whose names match it (cmocka's * and ?
 * wildcards): set before main() runs its group. */
__attribute__((constructor)) static void test_only(void)
{
    const char *only = getenv("TEST_ONLY");

    if (only && only[0])
        cmocka_set_test_filter(only);
}

int wait_program(pid_t pid, int timeout_ms)
{
    return wait_child(pid, now_ms() + timeout_ms);
}

int stop_program(pid_t pid, int timeout_ms)
{
    kill(pid, SIGTERM);
    return wait_child(pid, now_ms() + timeout_ms);
}

int router_start(struct router *r, const char *conf, int login_port)
{
    static int seq;
    int64_t deadline = now_ms() + ROUTER_READY_MS;
    char *argv[] = {(char *)router_bin(), (char *)"-f", (char *)conf, NULL};
    pid_t pid;
    MYSQL *m;
    int fd, st;
    char name[64];

    memset(r, 0, sizeof(*r));
    snprintf(r->conf, sizeof(r->conf), "%s", conf);
    snprintf(name, sizeof(name), "router-%d.err", ++seq);
    harness_path(r->err, sizeof(r->err), name);
    r->login_port = login_port;
    fd = open(r->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    pid = spawn_child(argv, fd, router_child_limits);
    close(fd);
    if (pid < 0)
        return -1;
    r->pid = pid;
    track_router(pid);
    while (now_ms() < deadline) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "harness: %s exited during start-up (%s %d)\n", router_bin(),
                    WIFEXITED(st) ? "exit status" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            dump_router_output(r);
            track_router(-pid);
            r->pid = 0;
            return -1;
        }
        m = client_connect(login_port, "app", "app-pass", "appdb", 2);
        if (m) {
            mysql_close(m);
            return 0;
        }
        sleep_ms(50);
    }
    fprintf(stderr, "harness: no login through rebound on port %d after %d ms: %u %s\n", login_port,
            ROUTER_READY_MS, client_errno(), client_error());
    router_stop(r);
    return -1;
}

int router_stop(struct router *r)
{
    static const char *const reports[] = {"AddressSanitizer", "LeakSanitizer", "ThreadSanitizer",
                                          "runtime error"};
    char *out;
    int rc = 0, status;
    size_t i;

    if (r->pid <= 0) {
        fprintf(stderr, "harness: router_stop: no router running\n");
        return -1;
    }
    kill(r->pid, SIGTERM);
    status = wait_child(r->pid, now_ms() + ROUTER_STOP_MS);
    track_router(-r->pid);
    r->pid = 0;
    if (status != 0) {
        fprintf(stderr, "harness: rebound did not exit cleanly on SIGTERM: %s %d\n",
                status == HARNESS_TIMED_OUT ? "timed out, killed;" : "status", status);
        rc = -1;
    }
    out = read_file(r->err);
    for (i = 0; out && i < sizeof(reports) / sizeof(reports[0]); i++) {
        if (strstr(out, reports[i])) {
            fprintf(stderr, "harness: rebound's output holds a %s report\n", reports[i]);
            rc = -1;
        }
    }
    free(out);
    if (rc != 0)
        dump_router_output(r);
    return rc;
}

int router_check_config(const char *conf, char *out, size_t outsz)
{
    char *argv[] = {(char *)router_bin(), (char *)"-c", (char *)"-f", (char *)conf, NULL};

    return run_command(argv, out, outsz, 20000);
}

/* ---- clients ---- */

/* Record a client error for client_errno() / client_error(). */
static void set_client_error(unsigned no, const char *msg)
{
    H.err_no = no;
    snprintf(H.err_msg, sizeof(H.err_msg), "%s", msg ? msg : "");
}

void client_options(MYSQL *m, unsigned timeout_s)
{
    unsigned proto = MYSQL_PROTOCOL_TCP;
    my_bool off = 0;

    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout_s);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout_s);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout_s);
    mysql_options(m, MYSQL_OPT_PROTOCOL, &proto);
    mysql_options(m, MYSQL_OPT_RECONNECT, &off);
}

MYSQL *client_connect(int port, const char *user, const char *pass, const char *db,
                      unsigned timeout_s)
{
    MYSQL *m;

    if (!H.mysql_inited) {
        if (mysql_library_init(0, NULL, NULL) != 0) {
            set_client_error(0, "mysql_library_init failed");
            return NULL;
        }
        H.mysql_inited = true;
    }
    m = mysql_init(NULL);
    if (!m) {
        set_client_error(0, "mysql_init failed");
        return NULL;
    }
    client_options(m, timeout_s);
    if (!mysql_real_connect(m, "127.0.0.1", user, pass, db, (unsigned)port, NULL, 0)) {
        set_client_error(mysql_errno(m), mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

void client_query_text(MYSQL *m, const char *sql, char *out, size_t outsz)
{
    MYSQL_RES *res;
    MYSQL_ROW row;

    if (mysql_query(m, sql) != 0 || !(res = mysql_store_result(m)))
        fail_msg("%s: %u %s", sql, mysql_errno(m), mysql_error(m));
    if (!(row = mysql_fetch_row(res))) {
        mysql_free_result(res);
        fail_msg("%s: no row", sql);
    }
    snprintf(out, outsz, "%s", row[0] ? row[0] : "NULL");
    mysql_free_result(res);
}

MYSQL *client_connect_app(int port)
{
    return client_connect(port, "app", "app-pass", "appdb", 5);
}

int client_query(MYSQL *m, const char *sql)
{
    MYSQL_RES *res;

    if (mysql_query(m, sql) != 0) {
        set_client_error(mysql_errno(m), mysql_error(m));
        return (int)H.err_no;
    }
    res = mysql_store_result(m);
    if (res) {
        mysql_free_result(res);
    } else if (mysql_field_count(m) != 0) {
        set_client_error(mysql_errno(m), mysql_error(m));
        return (int)H.err_no;
    }
    return 0;
}

long long client_query_int(MYSQL *m, const char *sql)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    long long v = -1;

    if (mysql_query(m, sql) || !(res = mysql_store_result(m)))
        return -1;
    if ((row = mysql_fetch_row(res)) && row[0])
        v = atoll(row[0]);
    mysql_free_result(res);
    return v;
}

int client_server_port(MYSQL *m)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    int port = -1;

    if (mysql_query(m, "SELECT @@port") != 0 || !(res = mysql_store_result(m))) {
        set_client_error(mysql_errno(m), mysql_error(m));
        return -1;
    }
    row = mysql_fetch_row(res);
    if (row && row[0])
        port = atoi(row[0]);
    else
        set_client_error(0, "SELECT @@port returned no row");
    mysql_free_result(res);
    return port;
}

int client_port_via(int port)
{
    MYSQL *m = client_connect_app(port);
    int p;

    if (!m)
        return -1;
    p = client_server_port(m);
    mysql_close(m);
    return p;
}

int admin_number(int port, const char *user, const char *pass, const char *sql, long long *v,
                 char *err, size_t errlen)
{
    MYSQL *m = client_connect(port, user, pass, NULL, 5);
    MYSQL_RES *res = NULL;
    MYSQL_ROW row;
    int rc = -1;

    if (!m) {
        snprintf(err, errlen, "admin login failed: %u %s", client_errno(), client_error());
        return -1;
    }
    if (mysql_query(m, sql) == 0 && (res = mysql_store_result(m)) && (row = mysql_fetch_row(res)) &&
        row[0]) {
        *v = atoll(row[0]);
        rc = 0;
    } else {
        snprintf(err, errlen, "admin query \"%s\" gave no number: %u %s", sql, mysql_errno(m),
                 mysql_error(m));
    }
    if (res)
        mysql_free_result(res);
    mysql_close(m);
    return rc;
}

int admin_cli(int port, const char *user, const char *pass, const char *sql, char *out,
              size_t outsz)
{
    char portarg[32], userarg[160], passarg[160];
    char *argv[] = {
        "/usr/bin/mariadb", "-h127.0.0.1", portarg,     userarg, passarg, "--skip-ssl", "-vv",
        "--table",          "-e",          (char *)sql, NULL};

    snprintf(portarg, sizeof(portarg), "-P%d", port);
    snprintf(userarg, sizeof(userarg), "-u%s", user);
    snprintf(passarg, sizeof(passarg), "-p%s", pass);
    return run_command(argv, out, outsz, 20000);
}

unsigned client_errno(void)
{
    return H.err_no;
}

const char *client_error(void)
{
    return H.err_msg;
}

/* ---- root on an instance, over its unix socket ---- */

/* Root session on instance inst. On a replica the session's writes (grants) stay out of its
 * binary log. NULL (after printing why) on failure. */
MYSQL *root_connect(const char *inst)
{
    char sock[PATH_MAX], name[64];
    unsigned proto = MYSQL_PROTOCOL_SOCKET, timeout = 10;
    MYSQL *m = mysql_init(NULL);

    if (!m)
        return NULL;
    snprintf(name, sizeof(name), "%s.sock", inst);
    harness_path(sock, sizeof(sock), name);
    mysql_options(m, MYSQL_OPT_PROTOCOL, &proto);
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    if (!mysql_real_connect(m, "localhost", "root", NULL, NULL, 0, sock, 0) ||
        (strcmp(inst, "master") != 0 && mysql_query(m, "SET SESSION sql_log_bin = 0") != 0)) {
        fprintf(stderr, "root on %s: %u %s\n", inst, mysql_errno(m), mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* Run sql on m; the first value of its first row goes to out (if not NULL, "" if none).
 * 0, or the MySQL error number after printing it. */
int root_run(MYSQL *m, const char *sql, char *out, size_t outsz)
{
    MYSQL_RES *res;
    MYSQL_ROW row;
    unsigned col;

    if (out && outsz)
        out[0] = '\0';
    if (mysql_query(m, sql) != 0) {
        fprintf(stderr, "root: \"%s\": %u %s\n", sql, mysql_errno(m), mysql_error(m));
        return (int)mysql_errno(m);
    }
    /* SHOW STATUS / SHOW VARIABLES rows are name, value: take the value. */
    res = mysql_store_result(m);
    col = res && mysql_num_fields(res) > 1 ? 1 : 0;
    if (res && out && (row = mysql_fetch_row(res)) && row[col])
        snprintf(out, outsz, "%s", row[col]);
    mysql_free_result(res);
    return 0;
}

/* root_run() on a fresh root session of inst; fails the test on error. */
void root_sql(const char *inst, char *out, size_t outsz, const char *fmt, ...)
{
    char sql[1024];
    MYSQL *m = root_connect(inst);
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    if (!m)
        fail_msg("no root session on %s", inst);
    rc = root_run(m, sql, out, outsz);
    mysql_close(m);
    if (rc != 0)
        fail_msg("root on %s: \"%s\" failed with %d", inst, sql, rc);
}

/* ---- the router fixture ---- */

int fixture_init(struct router_fixture *f, const char *name, const char *admin_pw)
{
    static int seq;
    char file[128];

    memset(f, 0, sizeof(*f));
    seq++;
    snprintf(file, sizeof(file), "%s-%d.conf", name, seq);
    harness_path(f->conf, sizeof(f->conf), file);
    snprintf(file, sizeof(file), "%s-health-%d.log", name, seq);
    harness_path(f->health_log, sizeof(f->health_log), file);
    f->admin_pw = admin_pw;
    f->rw_port = free_port();
    f->admin_port = free_port();
    return f->rw_port < 0 || f->admin_port < 0 ? -1 : 0;
}

int fixture_start(struct router_fixture *f, int login_port, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = vwrite_file(f->conf, fmt, ap);
    va_end(ap);
    return rc != 0 ? -1 : router_start_nofile(&f->router, f->conf, login_port, f->nofile);
}

int fixture_stop(struct router_fixture *f)
{
    fixture_close_held(f);
    if (f->router.pid > 0 && router_stop(&f->router) != 0)
        return -1;
    return 0;
}

int fixture_restore(struct router_fixture *f)
{
    int rc = 0;

    while (f->nfds > 0)
        close(f->fds[--f->nfds]);
    if (cluster_restore() != 0)
        rc = -1;
    if (fixture_run_undo(f) != 0)
        rc = -1;
    return rc;
}

int fixture_teardown(struct router_fixture *f)
{
    int rc = fixture_stop(f);

    if (f->stop_peers)
        f->stop_peers();
    return fixture_restore(f) != 0 ? -1 : rc;
}

void fixture_dump_log(const struct router_fixture *f)
{
    char *log = read_file(f->health_log);

    fprintf(stderr, "---- %s ----\n%s---- end ----\n", f->health_log, log ? log : "(missing)\n");
    free(log);
}

void fixture_expect_line(const struct router_fixture *f, long from, const char *needle,
                         int timeout_ms)
{
    if (wait_for_file_line_from(f->health_log, from, needle, timeout_ms))
        return;
    fixture_dump_log(f);
    fail_msg("no health-log line \"%s\" within %d ms", needle, timeout_ms);
}

int fixture_hold(struct router_fixture *f, int port)
{
    int i;

    for (i = 0; i < FIXTURE_MAX_HELD && f->held[i]; i++)
        ;
    assert_true(i < FIXTURE_MAX_HELD);
    f->held[i] = client_connect_app(port);
    if (!f->held[i])
        fail_msg("session through port %d: %u %s", port, client_errno(), client_error());
    return i;
}

void fixture_close_held(struct router_fixture *f)
{
    int i;

    for (i = 0; i < FIXTURE_MAX_HELD; i++) {
        if (f->held[i])
            mysql_close(f->held[i]);
        f->held[i] = NULL;
    }
}

int fixture_keep_fd(struct router_fixture *f, int fd)
{
    assert_true(fd >= 0);
    assert_true(f->nfds < FIXTURE_MAX_FDS);
    f->fds[f->nfds++] = fd;
    return fd;
}

void fixture_close_fd(struct router_fixture *f, int fd)
{
    int i;

    for (i = 0; i < f->nfds; i++) {
        if (f->fds[i] == fd) {
            f->fds[i] = f->fds[--f->nfds];
            break;
        }
    }
    close(fd);
}

void fixture_push_undo(struct router_fixture *f, const char *inst, const char *fmt, ...)
{
    struct fixture_undo *u;
    va_list ap;

    assert_true(f->nundo < FIXTURE_MAX_UNDO);
    u = &f->undo[f->nundo++];
    snprintf(u->inst, sizeof(u->inst), "%s", inst);
    va_start(ap, fmt);
    vsnprintf(u->sql, sizeof(u->sql), fmt, ap);
    va_end(ap);
}

void fixture_set_global(struct router_fixture *f, const char *inst, const char *var,
                        const char *value)
{
    char old[128];

    root_sql(inst, old, sizeof(old), "SELECT @@GLOBAL.%s", var);
    fixture_push_undo(f, inst, "SET GLOBAL %s = %s", var, old);
    root_sql(inst, NULL, 0, "SET GLOBAL %s = %s", var, value);
}

int fixture_run_undo(struct router_fixture *f)
{
    int rc = 0;
    MYSQL *m;

    while (f->nundo > 0) {
        struct fixture_undo *u = &f->undo[--f->nundo];
        m = root_connect(u->inst);
        if (!m || root_run(m, u->sql, NULL, 0) != 0)
            rc = -1;
        if (m)
            mysql_close(m);
    }
    return rc;
}

long long fixture_admin_int(const struct router_fixture *f, const char *fmt, ...)
{
    char sql[512], err[768];
    long long v = -1;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(sql, sizeof(sql), fmt, ap);
    va_end(ap);
    if (admin_number(f->admin_port, "admin", f->admin_pw, sql, &v, err, sizeof(err)) < 0) {
        fixture_dump_log(f);
        fail_msg("%s", err);
    }
    return v;
}

/* ---- sockets for fake peers ---- */

struct sockaddr_in loopback_addr(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

int loopback_listen(int port, int backlog)
{
    struct sockaddr_in sa = loopback_addr(port);
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, backlog) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int loopback_connect(int port)
{
    struct sockaddr_in sa = loopback_addr(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

long read_until_eof(int fd, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    char buf[4096];
    long total = 0;
    ssize_t n;

    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -1;
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return total;
        total += n;
    }
}

long read_packet(int fd, unsigned char *buf, size_t size, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    size_t have = 0, want = 4;
    ssize_t n;

    while (have < want) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        n = read(fd, buf + have, want - have);
        if (n <= 0)
            return -1;
        have += (size_t)n;
        if (have == 4) {
            want = 4 + (buf[0] | buf[1] << 8 | (size_t)buf[2] << 16);
            if (want > size)
                return -1;
        }
    }
    return (long)(want - 4);
}

int stats_get(int port, const char *path, char *buf, size_t size, int timeout_ms)
{
    struct sockaddr_in sa = loopback_addr(port);
    int64_t deadline = now_ms() + timeout_ms;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), status = -1;
    char *resp = malloc(size + 4096), req[512], *body;
    size_t len = 0, cap = size + 4096;
    ssize_t n;

    if (size)
        buf[0] = '\0';
    if (fd < 0 || !resp || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        goto done;
    snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    send_all(fd, req, strlen(req));
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int64_t left = deadline - now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            goto done;
        n = read(fd, resp + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (len += (size_t)n) == cap - 1)
            break;
    }
    resp[len] = '\0';
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
        status = -1;
    body = strstr(resp, "\r\n\r\n");
    if (body && size)
        snprintf(buf, size, "%s", body + 4);
done:
    if (fd >= 0)
        close(fd);
    free(resp);
    return status;
}

double metric_sum(const char *body, const char *name, const char *label)
{
    size_t nlen = strlen(name);
    const char *l, *end, *val;
    double sum = 0;
    bool found = false;

    for (l = body; l && *l; l = end ? end + 1 : NULL) {
        end = strchr(l, '\n');
        if (strncmp(l, name, nlen) != 0 || (l[nlen] != '{' && l[nlen] != ' '))
            continue;
        val = l[nlen] == '{' ? strchr(l + nlen, '}') : l + nlen;
        if (!val || (end && val > end))
            continue;
        if (label) {
            const char *hit = strstr(l + nlen, label);
            if (!hit || hit > val)
                continue;
        }
        sum += strtod(val + 1, NULL);
        found = true;
    }
    return found ? sum : -1;
}

/* ==== fake MySQL peers and resource limits ==== */

#include <sys/resource.h>

/* RLIMIT_NOFILE for the next router child, 0 to leave the limit alone. Set only for the duration
 * of one router_start_nofile() call. */
static int spawn_nofile;

/* In the router child, before exec: apply spawn_nofile. */
static void router_child_limits(void)
{
    struct rlimit rl;

    if (spawn_nofile <= 0)
        return;
    rl.rlim_cur = rl.rlim_max = (rlim_t)spawn_nofile;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        _exit(126);
}

int router_start_nofile(struct router *r, const char *conf, int login_port, int nofile)
{
    int rc;

    spawn_nofile = nofile;
    rc = router_start(r, conf, login_port);
    spawn_nofile = 0;
    return rc;
}

const char *fake_peer_kind_name(enum fake_peer_kind kind)
{
    switch (kind) {
    case FAKE_PEER_GREETING:
        return "valid greeting";
    case FAKE_PEER_PROTOCOL9:
        return "protocol-9 greeting";
    case FAKE_PEER_GARBAGE:
        return "HTTP response";
    case FAKE_PEER_TRUNCATED:
        return "truncated greeting";
    case FAKE_PEER_SILENT:
        return "silence";
    }
    return "?";
}

/* A whole greeting packet (4-byte header, sequence id 0) with protocol byte `protocol`, server
 * version `version`, mysql_native_password and no TLS or compression; its length in bytes. */
static size_t fake_peer_greeting(unsigned char *buf, size_t size, uint8_t protocol,
                                 const char *version, bool mariadb)
{
    unsigned char *p = buf + 4;
    size_t vlen = strlen(version), len;

    if (size < 4 + 1 + vlen + 1 + 4 + 9 + 2 + 1 + 2 + 2 + 1 + 10 + 13 + 22)
        return 0;
    *p++ = protocol;
    memcpy(p, version, vlen + 1);
    p += vlen + 1;
    memcpy(p, "\x01\x00\x00\x00", 4); /* connection id */
    p += 4;
    memcpy(p, "abcdefgh", 9); /* scramble, first part, and its filler byte */
    p += 9;
    /* LONG_PASSWORD LONG_FLAG CONNECT_WITH_DB PROTOCOL_41 TRANSACTIONS SECURE_CONNECTION, or
     * the flags MariaDB 10.11 announces (what a client then answers with differs) */
    *p++ = mariadb ? 0xfe : 0x0d;
    *p++ = mariadb ? 0xf7 : 0xa2;
    *p++ = 0x21; /* utf8_general_ci */
    *p++ = 0x02; /* status: autocommit */
    *p++ = 0x00;
    *p++ = mariadb ? 0xff : 0x0b; /* MULTI_STATEMENTS MULTI_RESULTS PLUGIN_AUTH (+ more) */
    *p++ = mariadb ? 0x81 : 0x00;
    *p++ = 21; /* scramble length */
    memset(p, 0, 10);
    if (mariadb)
        p[6] = 0x1d; /* MariaDB's own capabilities */
    p += 10;
    memcpy(p, "ijklmnopqrst", 13); /* scramble, second part, NUL-terminated */
    p += 13;
    memcpy(p, "mysql_native_password", 22);
    p += 22;
    len = (size_t)(p - buf) - 4;
    buf[0] = (unsigned char)len;
    buf[1] = (unsigned char)(len >> 8);
    buf[2] = (unsigned char)(len >> 16);
    buf[3] = 0;
    return len + 4;
}

void send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    ssize_t n;

    while (len > 0) {
        n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/* Read what c has waiting (without blocking), counting and with record keeping it. False when
 * the other side closed or the read failed. Called with f->lock held. */
static bool fake_peer_read(struct fake_peer *f, struct fake_peer_conn *c)
{
    unsigned char buf[4096];
    ssize_t n;
    int i;

    for (i = 0; i < 64; i++) {
        n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0)
            return false;
        if (f->record && c->nin < FAKE_PEER_RX_MAX) {
            size_t keep =
                (size_t)n < FAKE_PEER_RX_MAX - c->nin ? (size_t)n : FAKE_PEER_RX_MAX - c->nin;
            memcpy(c->rx + c->nin, buf, keep);
        }
        c->nin += (size_t)n;
    }
    return true;
}

/* Send what f's kind sends on c. Whatever arrived before is read first, so nbefore is exact.
 * Called with f->lock held. */
static void fake_peer_greet(struct fake_peer *f, struct fake_peer_conn *c)
{
    static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                               "Content-Length: 11\r\n\r\nBad Request";
    unsigned char g[256];
    size_t n;

    c->greeted = true;
    if (f->kind == FAKE_PEER_SILENT)
        return; /* nothing to send: all input counts as received after it */
    if (!fake_peer_read(f, c)) {
        close(c->fd);
        c->fd = -1;
        return;
    }
    c->nbefore = c->nin;
    n = fake_peer_greeting(g, sizeof(g), f->kind == FAKE_PEER_PROTOCOL9 ? 9 : 10,
                           f->version ? f->version : "5.7.99-fake", f->mariadb);
    switch (f->kind) {
    case FAKE_PEER_GREETING:
    case FAKE_PEER_PROTOCOL9:
        send_all(c->fd, g, n);
        break;
    case FAKE_PEER_GARBAGE:
        send_all(c->fd, http, sizeof(http) - 1);
        break;
    case FAKE_PEER_TRUNCATED:
        send_all(c->fd, g, n / 2);
        break;
    case FAKE_PEER_SILENT:
        break;
    }
}

/* Accept one connection into a free slot (closing it if there is none). Called with f->lock
 * held. */
static void fake_peer_accept(struct fake_peer *f)
{
    struct fake_peer_conn *c;
    int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
    int64_t now;

    if (fd < 0)
        return;
    if (f->nconns >= FAKE_PEER_MAX_CONN) {
        f->nconns++;
        close(fd);
        return;
    }
    c = &f->conns[f->nconns++];
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    now = now_ms();
    c->greet_at = now + (f->greet_delay_ms > 0 ? f->greet_delay_ms : 0);
    if (f->greet_interval_ms > 0) {
        if (c->greet_at < f->next_greet_at)
            c->greet_at = f->next_greet_at;
        f->next_greet_at = c->greet_at + f->greet_interval_ms;
    }
    if (f->silent_conn == f->nconns)
        c->greeted = true; /* nothing goes out, ever */
    else if (c->greet_at <= now)
        fake_peer_greet(f, c);
}

/* The peer's thread: one poll loop (50 ms ticks, so a stop request is seen quickly) over the
 * listening socket and every open connection. */
static void *fake_peer_run(void *arg)
{
    struct fake_peer *f = arg;
    struct pollfd p[FAKE_PEER_MAX_CONN + 1];
    int i, n, nc, timeout;
    int64_t now;

    while (!atomic_load(&f->stop)) {
        pthread_mutex_lock(&f->lock);
        nc = f->nconns < FAKE_PEER_MAX_CONN ? f->nconns : FAKE_PEER_MAX_CONN;
        timeout = 50;
        now = now_ms();
        p[0] = (struct pollfd){.fd = f->lfd, .events = POLLIN};
        for (i = 0; i < nc; i++) {
            struct fake_peer_conn *c = &f->conns[i];
            p[i + 1] = (struct pollfd){.fd = c->fd, .events = POLLIN};
            if (c->fd >= 0 && !c->greeted && c->greet_at - now < timeout)
                timeout = c->greet_at > now ? (int)(c->greet_at - now) : 0;
        }
        pthread_mutex_unlock(&f->lock);
        n = poll(p, (nfds_t)nc + 1, timeout);
        if (n < 0 && errno != EINTR)
            break;
        pthread_mutex_lock(&f->lock);
        now = now_ms();
        for (i = 0; i < nc; i++) {
            struct fake_peer_conn *c = &f->conns[i];
            if (c->fd < 0)
                continue;
            if (n > 0 && (p[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) &&
                (!fake_peer_read(f, c) || (f->close_after > 0 && c->greeted &&
                                           c->nin - c->nbefore >= (size_t)f->close_after))) {
                close(c->fd);
                c->fd = -1;
                continue;
            }
            if (!c->greeted && now >= c->greet_at)
                fake_peer_greet(f, c);
        }
        if (n > 0 && (p[0].revents & POLLIN))
            fake_peer_accept(f);
        pthread_mutex_unlock(&f->lock);
    }
    return NULL;
}

int fake_peer_start(struct fake_peer *f, int port)
{
    f->port = port;
    f->running = false;
    f->nconns = 0;
    f->next_greet_at = 0;
    atomic_store(&f->stop, false);
    f->lfd = loopback_listen(port, 64);
    if (f->lfd < 0)
        return -1;
    /* poll() says a connection is there; a non-blocking accept cannot hang if it went away. */
    fcntl(f->lfd, F_SETFL, fcntl(f->lfd, F_GETFL) | O_NONBLOCK);
    if (pthread_mutex_init(&f->lock, NULL) != 0) {
        close(f->lfd);
        f->lfd = -1;
        return -1;
    }
    if (pthread_create(&f->thread, NULL, fake_peer_run, f) != 0) {
        pthread_mutex_destroy(&f->lock);
        close(f->lfd);
        f->lfd = -1;
        return -1;
    }
    f->running = true;
    return 0;
}

void fake_peer_stop(struct fake_peer *f)
{
    int i;

    if (!f->running)
        return;
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    f->running = false;
    for (i = 0; i < f->nconns && i < FAKE_PEER_MAX_CONN; i++) {
        if (f->conns[i].fd >= 0)
            close(f->conns[i].fd);
        f->conns[i].fd = -1;
    }
    close(f->lfd);
    f->lfd = -1;
    pthread_mutex_destroy(&f->lock);
}

int fake_peer_accepted(struct fake_peer *f)
{
    int n;

    if (!f->running)
        return f->nconns;
    pthread_mutex_lock(&f->lock);
    n = f->nconns;
    pthread_mutex_unlock(&f->lock);
    return n;
}

long fake_peer_received(struct fake_peer *f, int conn, char *buf, size_t size, long *before)
{
    const struct fake_peer_conn *c;
    long got = -1;
    size_t keep;

    if (buf && size)
        buf[0] = '\0';
    if (before)
        *before = 0;
    if (f->running)
        pthread_mutex_lock(&f->lock);
    if (conn >= 0 && conn < f->nconns && conn < FAKE_PEER_MAX_CONN) {
        c = &f->conns[conn];
        got = (long)(c->nin - (c->greeted ? c->nbefore : c->nin));
        if (before)
            *before = (long)(c->greeted ? c->nbefore : c->nin);
        if (buf && size && f->record && c->greeted && c->nbefore < FAKE_PEER_RX_MAX) {
            keep = (c->nin < FAKE_PEER_RX_MAX ? c->nin : FAKE_PEER_RX_MAX) - c->nbefore;
            if (keep > size - 1)
                keep = size - 1;
            memcpy(buf, c->rx + c->nbefore, keep);
            buf[keep] = '\0';
        }
    }
    if (f->running)
        pthread_mutex_unlock(&f->lock);
    return got;
}

bool fake_peer_wait_received(struct fake_peer *f, int conn, long n, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    for (;;) {
        if (fake_peer_received(f, conn, NULL, 0, NULL) >= n)
            return true;
        if (now_ms() >= deadline)
            return false;
        sleep_ms(10);
    }
}

/* ---- a query loop ---- */

/* The thread of a query loop. */
static void *query_loop_run(void *arg)
{
    struct query_loop *q = arg;
    MYSQL *m = client_connect_app(q->port);

    if (!m) {
        q->failed++;
        return NULL;
    }
    do {
        int64_t t0 = now_ms(), dt;
        bool stressed = atomic_load(&q->stressed);

        if (client_query(m, "SELECT 1") == 0)
            q->ok++;
        else
            q->failed++;
        dt = now_ms() - t0;
        if (!stressed) {
            if (dt > q->quiet_ms)
                q->quiet_ms = dt;
            atomic_fetch_add(&q->nquiet, 1);
        } else if (dt > q->max_ms) {
            q->max_ms = dt;
        }
        sleep_ms(q->pause_ms);
    } while (!atomic_load(&q->stop));
    mysql_close(m);
    return NULL;
}

void query_loop_start(struct query_loop *q, int port, int pause_ms)
{
    query_loop_stop(q);
    memset(q, 0, sizeof(*q));
    q->port = port;
    q->pause_ms = pause_ms;
    assert_int_equal(pthread_create(&q->th, NULL, query_loop_run, q), 0);
    q->running = true;
}

void query_loop_stop(struct query_loop *q)
{
    if (!q->running)
        return;
    atomic_store(&q->stop, true);
    pthread_join(q->th, NULL);
    q->running = false;
}
