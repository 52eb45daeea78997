/* healthlog.h - the health log: why each server went down or up, and what was killed. */
#ifndef HEALTHLOG_H
#define HEALTHLOG_H

#include "check.h"

struct server;

/* Open the sink: a file path (appended), or stderr when PATH is empty. 0 or -1. */
int healthlog_open(const char *path);
/* Reopen the file after logrotate moved it (SIGHUP). */
void healthlog_reopen(void);
void healthlog_close(void);

/* Write one line (no trailing newline in FMT), with a timestamp prefix. */
void healthlog_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "reason: Layer4 connection problem, info: \"...\", check duration: 0ms" */
int healthlog_format_result(char *buf, size_t len, const struct check_result *r);

#endif
