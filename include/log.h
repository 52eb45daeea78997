/* log.h - process log (stderr): levels and prefixes for servers and sessions. */
#ifndef LOG_H
#define LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

/* Log levels, most severe first. */
enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_threshold;

void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)  log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_threshold >= LOG_DEBUG)                                                            \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                                       \
    } while (0)

/* One kind of recurring trouble (out of descriptors, say): logged at most once a second,
 * with how many like it went unlogged in between. */
struct log_rate {
    uint64_t next_ms;    /* mono_ms() before which nothing more is logged */
    unsigned suppressed; /* lines not logged since the last one */
};

/* May a line of kind R be logged now? If so, *SUPPRESSED gets how many were not since
 * the last one; if not, this one is counted. */
bool log_rate_allow(struct log_rate *r, unsigned *suppressed);

/* Prefix a line with the server ("rw/master: ...") or the session ("sess 42 rw/master: ..."). */
#define srv_log(lvl, srv, fmt, ...) log_msg(lvl, "%s: " fmt, (srv)->id, ##__VA_ARGS__)
#define sess_debug(s, fmt, ...)                                                                    \
    log_debug("sess %llu %s: " fmt, (unsigned long long)(s)->id, session_where(s), ##__VA_ARGS__)

#endif
