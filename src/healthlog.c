/* healthlog.c - the health log sink: a file (reopened on SIGHUP) or stderr.
 *
 * Every line is written with one write(2) on an O_APPEND descriptor, so lines from a
 * rotated file are never split and a crash loses at most the line being written. */
#include "healthlog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int hl_fd = STDERR_FILENO;
static char hl_path[256];

static int open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);

    if (fd < 0)
        log_err("health log: cannot open %s: %s", path, strerror(errno));
    return fd;
}

int healthlog_open(const char *path)
{
    int fd = STDERR_FILENO;

    if (path && *path && (fd = open_file(path)) < 0)
        return -1;
    healthlog_close();
    hl_fd = fd;
    snprintf(hl_path, sizeof(hl_path), "%s", path ? path : "");
    return 0;
}

void healthlog_reopen(void)
{
    int fd;

    if (!hl_path[0] || (fd = open_file(hl_path)) < 0)
        return;
    close(hl_fd);
    hl_fd = fd;
    log_info("health log %s reopened", hl_path);
}

void healthlog_close(void)
{
    if (hl_fd != STDERR_FILENO)
        close(hl_fd);
    hl_fd = STDERR_FILENO;
    hl_path[0] = '\0';
}

void healthlog_printf(const char *fmt, ...)
{
    char line[1024];
    struct timeval tv;
    struct tm tm;
    va_list ap;
    size_t n;
    int k;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03dZ ", (int)(tv.tv_usec / 1000));
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        return;
    n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k : sizeof(line) - n - 2;
    line[n++] = '\n';
    if (write(hl_fd, line, n) < 0 && hl_fd != STDERR_FILENO)
        log_warn("health log: write failed: %s", strerror(errno));
}

int healthlog_format_result(char *buf, size_t len, const struct check_result *r)
{
    const struct check_status_info *st = &check_statuses[r->status];
    char code[32] = "";

    if (st->has_code)
        snprintf(code, sizeof(code), ", code: %d", r->code);
    return snprintf(buf, len, "reason: %s%s, info: \"%s\", check duration: %ums", st->desc, code,
                    r->info, r->duration_ms);
}
