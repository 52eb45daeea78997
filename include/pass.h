/* pass.h - kill passes: the sessions a server's transition sends away (failback: every
 * session on its listener's backups; on-marked-down: its own), swept by every worker in
 * parallel at top priority. */
#ifndef PASS_H
#define PASS_H

#include <stdbool.h>

struct server;

/* Control thread: start the kill pass of WHO's transition (TRIGGER, a static string for the
 * log: "came UP", "was set ready", "went DOWN"): FAILBACK (WHO became usable, with
 * on-marked-up shutdown-backup-sessions) or on-marked-down (WHO went DOWN). Each worker resets
 * the clients of its sessions there at once, moves the untouched ones to another server and
 * closes the server sides in batches; the health-log line is written when the last worker
 * has reported. While the workers are parked (a reload) the pass starts once they are
 * released, on the servers and sessions as they are then. A failback a worker reaches after
 * WHO stopped being usable kills nothing there. */
void pass_start(struct server *who, bool failback, const char *trigger);

struct session;

/* A graceful failback (`shutdown-backup-sessions graceful TIME`) closes idle backup sessions at
 * once, telling their clients why, and marks the busy ones (session->graceful): session.c
 * calls pass_graceful_boundary() when a marked session is idle again (its answer complete,
 * outside a transaction), and pass_graceful_ended() when one ends otherwise. At TIME the
 * marked sessions left are killed as the immediate pass kills. Worker threads. */
void pass_graceful_boundary(struct session *s);
void pass_graceful_ended(struct session *s);

#endif
