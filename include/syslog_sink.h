/* syslog_sink.h - a syslog destination: RFC 3164 or RFC 5424 datagrams over UDP or a
 * unix socket (/dev/log), sent without ever waiting. */
#ifndef SYSLOG_SINK_H
#define SYSLOG_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf.h"

/* An open syslog destination; its settings stay in the `health-log` line (SPEC below)
 * that the owner keeps. Each datagram is sent with sendto(), so a log daemon that
 * restarts with a new /dev/log is found again without reconnecting. */
struct syslog_sink {
    int fd; /* non-blocking datagram socket */
    struct sockaddr_storage to;
    socklen_t tolen;
    bool failing; /* dropping datagrams: warned once, until one gets through */
};

/* Open a socket for SPEC. 0, or -1 (logged). */
int syslog_sink_open(struct syslog_sink *k, const struct conf_health_sink *spec)
    __attribute__((warn_unused_result));
void syslog_sink_close(struct syslog_sink *k);

/* The datagram for MSG (one line, no newline) at wall-clock TIME_MS (ms since the
 * epoch) with SEVERITY (0 emerg .. 7 debug), in SPEC's format. Returns its length, cut
 * to LEN - 1 and NUL-terminated. */
size_t syslog_format(char *buf, size_t len, const struct conf_health_sink *spec, int severity,
                     int64_t time_ms, const char *msg);

/* Send MSG as one datagram. 0, or -1 when it was dropped (socket full, missing,
 * refused); the first drop of a run and the recovery are logged. */
int syslog_sink_send(struct syslog_sink *k, const struct conf_health_sink *spec, int severity,
                     int64_t time_ms, const char *msg);

#endif
