/* listener.h - bound sockets, accepting clients (and maxconn), the running listener set. */
#ifndef LISTENER_H
#define LISTENER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include <ev.h>

#include "acceptor.h"
#include "conf.h"
#include "server.h"

/* One `listen` section at run time: its socket and its servers in config order. */
struct listener {
    const struct conf *owner; /* the configuration CONF belongs to */
    const struct conf_listen *conf;
    int fd;
    struct acceptor acc;
    struct server *servers;
    int nservers;
    _Atomic unsigned rr; /* round-robin cursor (balance roundrobin, option allbackups) */
    uint64_t sessions_total;
    TAILQ_ENTRY(listener) retired_link; /* on the retired list after a reload */
};

/* Sessions alive (accepted, not yet ended) and the limit (global maxconn). A killed session
 * ends when its client is reset; its server side then waits for its worker's close batches,
 * counted in server_sides_closing: one descriptor each, no session. */
extern _Atomic unsigned sessions_alive;
extern _Atomic unsigned sessions_max;
extern _Atomic unsigned server_sides_closing;

/* Any thread: N sessions ended; with room again, the control thread resumes accepting. */
void listeners_sessions_ended(unsigned n);
/* Any thread: N killed sessions' server sides were queued for closing (N > 0) or closed
 * (N < 0); they count against the descriptor room, not against maxconn. */
void listeners_closing(int n);
/* The descriptors sessions may use (two each, one per server side being closed): the
 * descriptor limit minus what the ports, checks and logs keep. Unlimited until set. */
void listeners_fd_room(unsigned room);
/* Control thread: accept again if there is room under maxconn. */
void listeners_room(void);

/* The running listeners, in config order, for the admin and stats views. */
int listeners_count(void);
struct listener *listener_at(int i);
/* The running listeners, then those a reload replaced that still hold sessions, for the
 * views that must see every live session; NULL past the end. */
struct listener *listener_at_all(int i);

/* Build listeners and servers from CONF, bind, start checks. 0 or -1 (logged). The
 * listeners own CONF from then on (freed by listeners_stop). */
int listeners_start(struct conf *conf);
/* Switch to CONF (SIGHUP): unchanged sockets and servers carry over with their state
 * and sessions, added servers start checking, removed ones retire with their sessions
 * (drained: no new sessions), changed addresses are bound anew. On failure (a socket
 * cannot be bound) nothing changes and -1 is returned; CONF stays the caller's. */
int listeners_reload(struct conf *conf);
/* Stop accepting, close every session, stop checks, free. */
void listeners_stop(void);
/* Pause or resume accepting on every listener (maxconn, fd exhaustion). */
void listeners_pause(bool pause);

#endif
