/* observe.c - passive observation: counting errors that real traffic shows, and the
 * on-error actions, with HAProxy's semantics.
 *
 * Sessions report events (observe_error); after `error-limit` of them in a row the
 * server's `on-error` action runs, as a failed check with status HANA whose info says
 * what was seen. Any normal answer from the server breaks the run (observe_ok).
 */
#include "observe.h"

#include <stdio.h>

#include "check.h"
#include "server.h"

/* Errors that say the server itself is in trouble. Anything else an application can
 * cause (1205 lock wait, 1213 deadlock, 1064 syntax, 1062 duplicate key, 1045 access
 * denied...) never counts. */
static const struct {
    uint16_t err;
    bool active_only; /* expected on a backup (read-only by design) */
    const char *what;
} unhealthy[] = {
    {1021, false, "disk full"},
    {1037, false, "out of memory"},
    {1038, false, "out of sort memory"},
    {1040, false, "too many connections"},
    {1041, false, "out of memory"},
    {1053, false, "server shutdown in progress"},
    {1129, false, "host blocked"},
    {1290, true, "server is read-only"},
    {1792, true, "read-only transaction"},
    {1836, true, "server in read-only mode"},
};

static const char *const event_names[OBS__COUNT] = {
    [OBS_CONNECT_FAILED] = "connect failed", [OBS_CONNECT_TIMEOUT] = "connect timeout",
    [OBS_GREETING_TIMEOUT] = "no greeting",  [OBS_SERVER_RESET] = "connection reset",
    [OBS_SERVER_ERROR] = "server error",     [OBS_MID_RESPONSE] = "closed during a response",
    [OBS_MALFORMED] = "malformed stream",
};

const char *observe_event_str(enum obs_event ev)
{
    return ev < OBS__COUNT ? event_names[ev] : "unknown";
}

const char *observe_unhealthy_errno(uint16_t err, bool active)
{
    for (size_t i = 0; i < sizeof(unhealthy) / sizeof(unhealthy[0]); i++)
        if (unhealthy[i].err == err && (active || !unhealthy[i].active_only))
            return unhealthy[i].what;
    return NULL;
}

static bool observes(const struct server *srv, enum obs_event ev)
{
    enum observe_layer need = ev <= OBS_SERVER_RESET ? OBSERVE_LAYER4 : OBSERVE_LAYER7;

    return srv->conf->observe >= need;
}

/* error-limit reached: act as on-error says, through the check result path so the log
 * and the server's last status show HANA and why. */
static void on_error(struct server *srv, const struct check_result *r)
{
    const struct conf_server *c = srv->conf;

    switch (c->on_error) {
    case ON_ERROR_FASTINTER:
        check_hurry(srv);
        return;
    case ON_ERROR_SUDDEN_DEATH:
        /* After this failure one more takes it DOWN. */
        if (srv->health > c->rise)
            srv->health = c->rise + 1;
        break;
    case ON_ERROR_MARK_DOWN:
        /* This failure takes it DOWN. */
        if (srv->health > 1)
            srv->health = 1;
        break;
    case ON_ERROR_FAIL_CHECK:
        break;
    }
    server_check_done(srv, r);
    check_hurry(srv);
}

void observe_error(struct server *srv, enum obs_event ev, const char *detail)
{
    struct check_result r = {.status = CHK_HANA};

    if (!observes(srv, ev))
        return;
    srv->observed_errors++;
    if (++srv->obs_consecutive < (unsigned)srv->conf->error_limit)
        return;
    srv->obs_consecutive = 0;
    snprintf(r.info, sizeof(r.info), "%d consecutive errors in traffic, last: %s (%s)",
             srv->conf->error_limit, observe_event_str(ev), detail);
    on_error(srv, &r);
}
