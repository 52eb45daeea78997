/* syslog_sink.c - syslog datagrams for the health log, RFC 3164 or RFC 5424, over UDP
 * or a unix datagram socket.
 *
 * The socket is non-blocking and never connected: every datagram goes out with one
 * sendto(MSG_DONTWAIT). A full queue, a missing /dev/log or a stopped daemon makes the
 * send fail at once; the caller counts the drop and the event loop never waits.
 */
#include "syslog_sink.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char host[256];  /* this host's name (RFC 5424 HOSTNAME) */
static char shost[256]; /* the same without its domain (RFC 3164 HOSTNAME) */

static void set_hostname(void)
{
    if (gethostname(host, sizeof(host)) < 0 || !host[0])
        snprintf(host, sizeof(host), "localhost");
    host[sizeof(host) - 1] = '\0';
    for (char *c = host; *c; c++) /* the header is space-separated printable ASCII */
        if (*c <= ' ' || *c > '~')
            *c = '-';
    snprintf(shost, sizeof(shost), "%.*s", (int)strcspn(host, "."), host);
}

static const char *sink_name(const struct conf_health_sink *spec)
{
    return spec->path[0] ? spec->path : spec->addr.text;
}

int syslog_sink_open(struct syslog_sink *k, const struct conf_health_sink *spec)
{
    struct sockaddr_un *un = (struct sockaddr_un *)&k->to;

    memset(k, 0, sizeof(*k));
    if (spec->path[0]) {
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, spec->path, strlen(spec->path) + 1); /* conf.c checked the length */
        k->tolen = (socklen_t)sizeof(*un);
    } else {
        memcpy(&k->to, &spec->addr.sa, spec->addr.len);
        k->tolen = spec->addr.len;
    }
    k->fd = socket(k->to.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (k->fd < 0) {
        log_err("health log: syslog %s: socket: %s", sink_name(spec), strerror(errno));
        return -1;
    }
    set_hostname();
    return 0;
}

void syslog_sink_close(struct syslog_sink *k)
{
    if (k->fd >= 0)
        close(k->fd);
    k->fd = -1;
}

/* RFC 3164: "<PRI>Mmm dd hh:mm:ss HOSTNAME TAG[PID]: MSG" in local time. Over a unix
 * socket the HOSTNAME is left out, as syslog(3) does: the local daemon adds its own and
 * would read ours as the TAG. RFC 5424: "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID
 * MSGID - MSG" with a UTC timestamp to the millisecond and no structured data. */
size_t syslog_format(char *buf, size_t len, const struct conf_health_sink *spec, int severity,
                     int64_t time_ms, const char *msg)
{
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int pri = spec->facility * 8 + severity, pid = (int)getpid(), n;
    time_t sec = (time_t)(time_ms / 1000);
    bool local = spec->path[0] != '\0';
    struct tm tm;
    char ts[32];

    if (spec->format == SYSLOG_RFC5424) {
        gmtime_r(&sec, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(buf, len, "<%d>1 %s.%03dZ %s %s %d health - %s", pri, ts,
                     (int)(time_ms % 1000), host, spec->tag, pid, msg);
    } else {
        localtime_r(&sec, &tm);
        n = snprintf(buf, len, "<%d>%s %2d %02d:%02d:%02d %s%s%s[%d]: %s", pri, months[tm.tm_mon],
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, local ? "" : shost,
                     local ? "" : " ", spec->tag, pid, msg);
    }
    if (n < 0)
        return 0;
    return (size_t)n < len ? (size_t)n : len - 1;
}

int syslog_sink_send(struct syslog_sink *k, const struct conf_health_sink *spec, int severity,
                     int64_t time_ms, const char *msg)
{
    char buf[2048];
    size_t n = syslog_format(buf, sizeof(buf), spec, severity, time_ms, msg);

    if (sendto(k->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&k->to, k->tolen) <
        0) {
        if (!k->failing)
            log_warn("health log: syslog %s: %s; dropping lines until it takes them again",
                     sink_name(spec), strerror(errno));
        k->failing = true;
        return -1;
    }
    if (k->failing)
        log_info("health log: syslog %s takes lines again", sink_name(spec));
    k->failing = false;
    return 0;
}
