/* healthlog.h - the health log: why each server went down or up, and what was killed.
 *
 * Each event is written, as one line, to every configured sink (files, stderr, syslog)
 * and kept as a structured record in an in-memory ring for the admin port. */
#ifndef HEALTHLOG_H
#define HEALTHLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "check.h"
#include "conf.h"

#define HL_LINE_MAX 512 /* longest text line, without the timestamp */

/* What an event is about. Each kind has a name (the JSON "event" field) and a syslog
 * severity, both in one table in healthlog.c. */
enum hl_kind {
    HL_CHECK,      /* a check result that may lead to a change (info) */
    HL_TRANSITION, /* a server went DOWN, came UP, started draining (notice) */
    HL_KILL,       /* sessions killed or moved by a transition (notice) */
    HL_NO_SERVER,  /* a listen has no usable server left (alert) */
    HL_ADMIN,      /* an operator changed a server's admin state (notice) */
    HL_START,      /* a server enters service: at start, or added by a reload (info) */
    HL_GTID,       /* the GTID guard: a backup ahead of an UP master, or no comparison (warning) */
    HL__COUNT
};

/* An event as the caller describes it; the text line comes from healthlog_emit's format.
 * Every pointer may be NULL when the event has no such field. */
struct hl_event {
    enum hl_kind kind;
    const char *server;                /* "rw/master" */
    const char *listener;              /* "rw" */
    const struct check_result *result; /* the check behind the event */
    const char *state;                 /* after the event: "1/3 UP", "DOWN", "drain" */
    unsigned pass_ms;                  /* HL_KILL: how long the pass took */
};

/* An event as the ring keeps it, for the admin port's health_log table. */
struct hl_record {
    int64_t time_ms; /* wall clock, milliseconds since the epoch (UTC) */
    enum hl_kind kind;
    char server[2 * CONF_NAME_MAX + 2]; /* "" when none */
    char listener[CONF_NAME_MAX];       /* "" when none */
    bool has_result;                    /* status, code and info below are meaningful */
    struct check_result result;
    int64_t duration_ms; /* check duration, or the kill pass; -1 when none */
    char state[32];      /* "" when none */
    char line[HL_LINE_MAX];
};

/* Open the sinks of CONF (stderr when it names none) and size the ring to
 * health-log-ring, keeping the newest events already held. On failure (logged) the
 * sinks in use stay as they were. 0 or -1. */
int healthlog_open(const struct conf *conf) __attribute__((warn_unused_result));
/* Reopen the files after logrotate moved them (SIGHUP). */
void healthlog_reopen(void);
/* Close the sinks (back to stderr) and free the ring. */
void healthlog_close(void);

/* Write one event: FMT (no trailing newline) makes its text line. */
void healthlog_emit(const struct hl_event *ev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "reason: Layer4 connection problem, info: \"...\", check duration: 0ms" */
int healthlog_format_result(char *buf, size_t len, const struct check_result *r);

/* "check", "transition", "kill", "no-server", "admin". */
const char *healthlog_kind_str(enum hl_kind kind);
/* Syslog severity of a kind: 1 alert, 5 notice, 6 info. */
int healthlog_severity(enum hl_kind kind);

/* Events held in the ring, and the I-th of them (0 = oldest), NULL when out of range.
 * The pointer is valid until the next event. */
size_t healthlog_ring_count(void);
const struct hl_record *healthlog_ring_get(size_t i);

/* Syslog datagrams dropped because the socket was full, missing or refused. */
uint64_t healthlog_drops(void);

#endif
