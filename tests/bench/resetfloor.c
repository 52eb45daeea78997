/* resetfloor.c - the kernel's floor for a failback's client resets on this machine: how long
 * one thread takes to reset N idle loopback TCP connections (SO_LINGER 0, then close), and when
 * the peer, one process holding the other ends on epoll, has seen the last reset. No proxy and
 * no MariaDB: what is left is the loopback stack itself, the part of a failback sweep that no
 * proxy can do without.
 *
 * usage: resetfloor N [REPEATS]   (prints one line per repeat, times in ms) */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

/* The peer: connect N clients, wait for "go" and the start time on PIPE_FD, then write to
 * BACK_FD when it saw the last reset (ms after the start; negative if not all came). */
static void peer(const struct sockaddr_in *a, int n, int pipe_fd, int back_fd)
{
    int ep = epoll_create1(0), seen = 0;
    struct epoll_event ev[256];
    double t0;
    char b;

    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct epoll_event e = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = fd};
        if (fd < 0 || connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0)
            die("connect");
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
    }
    if (read(pipe_fd, &b, 1) != 1 || read(pipe_fd, &t0, sizeof(t0)) != sizeof(t0))
        die("pipe");
    while (seen < n) {
        int k = epoll_wait(ep, ev, 256, 10000);
        if (k <= 0)
            break;
        for (int i = 0; i < k; i++) {
            epoll_ctl(ep, EPOLL_CTL_DEL, ev[i].data.fd, NULL);
            close(ev[i].data.fd);
            seen++;
        }
    }
    t0 = seen == n ? now_ms() - t0 : -1.0;
    _exit(write(back_fd, &t0, sizeof(t0)) == sizeof(t0) ? 0 : 1); /* not the parent's stdio */
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 5000, repeats = argc > 2 ? atoi(argv[2]) : 1, rc = 0;
    struct rlimit rl;

    if (n <= 0 || repeats <= 0) {
        fprintf(stderr, "usage: resetfloor N [REPEATS]\n");
        return 2;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    for (int r = 0; r < repeats; r++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        int ls = socket(AF_INET, SOCK_STREAM, 0), p[2], back[2], status;
        int *fds = calloc((size_t)n, sizeof(*fds));
        double t0, resets, seen = -1.0;
        pid_t pid;

        if (ls < 0 || !fds || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, n) < 0 ||
            getsockname(ls, (struct sockaddr *)&a, &len) < 0 || pipe(p) < 0 || pipe(back) < 0)
            die("setup");
        fflush(stdout);
        if ((pid = fork()) < 0)
            die("fork");
        if (pid == 0)
            peer(&a, n, p[0], back[1]);
        for (int i = 0; i < n; i++)
            if ((fds[i] = accept(ls, NULL, NULL)) < 0)
                die("accept");
        usleep(200000); /* the peer's last connects settle */
        t0 = now_ms();
        if (write(p[1], "g", 1) != 1 || write(p[1], &t0, sizeof(t0)) != sizeof(t0))
            die("pipe");
        for (int i = 0; i < n; i++) {
            setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            close(fds[i]);
        }
        resets = now_ms() - t0;
        if (read(back[0], &seen, sizeof(seen)) != sizeof(seen) || seen < 0)
            rc = 1;
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
            rc = 1;
        printf("resetfloor N=%d run=%d resets_ms=%.1f peer_last_ms=%.1f\n", n, r + 1, resets, seen);
        close(ls);
        close(p[0]);
        close(p[1]);
        close(back[0]);
        close(back[1]);
        free(fds);
    }
    return rc;
}
