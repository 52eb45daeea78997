/* log.c - the process log on stderr: one line per event, timestamped, with a level. */
#include "log.h"

#include <stdio.h>
#include <sys/time.h>
#include <time.h>

#include "rebound.h"

enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    char line[1024], stamp[32];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    if (lvl > log_threshold)
        return;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s.%03dZ rebound %s: %s\n", stamp, (int)(tv.tv_usec / 1000), level_names[lvl],
            line);
}

bool log_rate_allow(struct log_rate *r, unsigned *suppressed)
{
    uint64_t now = mono_ms();

    if (now < r->next_ms) {
        r->suppressed++;
        return false;
    }
    r->next_ms = now + 1000;
    *suppressed = r->suppressed;
    r->suppressed = 0;
    return true;
}
